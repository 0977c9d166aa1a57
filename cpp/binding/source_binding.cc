// memory_open_* for every source kind beyond raw images, and the resident-ranges query scanners use.
#include "binding/convert.h"
#include "binding/memory_handle.h"
#include "binding/registry.h"
#include "memory/image_file.h"

namespace parasight::binding {
namespace {

// memory_open_file(path, format: "auto" | "raw" | "elf" | "lime")
Napi::Value OpenFile(const Napi::CallbackInfo& info) {
  std::string path = toString(info[0], "path");
  std::string formatName = toString(info[1], "format");
  ImageFormat format;
  if (!parseImageFormat(formatName, &format)) throwBadArgument(info.Env(), "unknown image format " + formatName);
  Error err;
  auto mem = openImageFile(path, format, &err);
  if (!mem) throwError(info.Env(), err, path);
  return wrapMemory(info.Env(), std::move(mem));
}

// memory_open_live_file(path, lowRamSize: bigint | undefined, kind: string)
Napi::Value OpenLiveFile(const Napi::CallbackInfo& info) {
  std::string path = toString(info[0], "path");
  uint64_t low = info[1].IsUndefined() ? kDefaultLowRam : toU64(info[1], "lowRamSize");
  std::string kind = toString(info[2], "kind");
  // The kind string must outlive the source: only the two known literals are accepted.
  const char* kindName = kind == "qemu-memfd" ? "qemu-memfd" : kind == "live-file" ? "live-file" : nullptr;
  if (kindName == nullptr) throwBadArgument(info.Env(), "unknown live file kind " + kind);
  Error err;
  auto file = MappedFile::open(path, &err);
  if (!file) throwError(info.Env(), err, path);
  auto mem = openLiveRamFile(std::move(file), low, kindName, &err);
  if (!mem) throwError(info.Env(), err, path);
  return wrapMemory(info.Env(), std::move(mem));
}

// memory_resident(handle, start, length) → BigUint64Array [start0, length0, ...]
Napi::Value Resident(const Napi::CallbackInfo& info) {
  auto mem = memoryOf(info[0]);
  uint64_t start = toU64(info[1], "start");
  uint64_t length = toU64(info[2], "length");
  std::vector<PhysRange> ranges;
  Error err;
  if (!mem->residentRanges(start, length, &ranges, &err)) throwError(info.Env(), err, mem->origin());
  auto arr = Napi::BigUint64Array::New(info.Env(), ranges.size() * 2);
  for (size_t i = 0; i < ranges.size(); i++) {
    arr[2 * i] = ranges[i].start;
    arr[2 * i + 1] = ranges[i].length;
  }
  return arr;
}

Registrar r1("memory_open_file", OpenFile);
Registrar r2("memory_open_live_file", OpenLiveFile);
Registrar r3("memory_resident", Resident);

}  // namespace
}  // namespace parasight::binding
