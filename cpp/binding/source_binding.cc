// memory_open_* for every source kind beyond raw images, and the resident-ranges query scanners use.
#include "binding/convert.h"
#include "binding/memory_handle.h"
#include "binding/registry.h"
#include "memory/image_file.h"
#include "memory/libvmi_source.h"
#include "memory/pid_watch.h"
#include "memory/process_memory.h"

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

// memory_open_live_file(path, lowRamSize: bigint, kind: "live-file" | "qemu-memfd", pid?: number)
Napi::Value OpenLiveFile(const Napi::CallbackInfo& info) {
  std::string path = toString(info[0], "path");
  uint64_t low = toU64(info[1], "lowRamSize");
  std::string kind = toString(info[2], "kind");
  // The kind string must outlive the source: only the two known literals are accepted.
  const char* kindName = kind == "qemu-memfd" ? "qemu-memfd" : kind == "live-file" ? "live-file" : nullptr;
  if (kindName == nullptr) throwBadArgument(info.Env(), "unknown live file kind " + kind);
  Error err;
  auto file = MappedFile::open(path, &err);
  if (!file) throwError(info.Env(), err, path);
  auto mem = openLiveRamFile(std::move(file), low, kindName, &err);
  if (!mem) throwError(info.Env(), err, path);
  if (!info[3].IsUndefined()) {
    // The file is a process's RAM (QEMU's memfd): reads end with the process.
    uint32_t pid = toU32(info[3], "pid");
    auto watch = PidWatch::open(static_cast<int>(pid), &err);
    if (!watch) throwError(info.Env(), err, path);
    mem = watchProcess(std::move(mem), std::move(watch));
  }
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

// memory_open_process(pid, blocks: BigUint64Array [physStart, length, hva, ...], access)
Napi::Value OpenProcess(const Napi::CallbackInfo& info) {
  uint32_t pid = toU32(info[0], "pid");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
    throwBadArgument(info.Env(), "blocks must be a BigUint64Array");
  }
  auto flat = info[1].As<Napi::BigUint64Array>();
  if (flat.ElementLength() % 3 != 0) throwBadArgument(info.Env(), "blocks must hold (start, length, hva) triples");
  std::vector<ProcessRamBlock> blocks;
  for (size_t i = 0; i + 2 < flat.ElementLength(); i += 3) blocks.push_back({flat[i], flat[i + 1], flat[i + 2]});
  std::string accessName = toString(info[2], "access");
  ProcessAccess access = ProcessAccess::kAuto;
  if (accessName == "process_vm_readv") access = ProcessAccess::kProcessVmReadv;
  else if (accessName == "proc-mem") access = ProcessAccess::kProcMem;
  else if (accessName != "auto") throwBadArgument(info.Env(), "unknown access method " + accessName);
  Error err;
  auto mem = openProcessMemory(static_cast<int>(pid), std::move(blocks), access, &err);
  if (!mem) throwError(info.Env(), err, "pid " + std::to_string(pid));
  return wrapMemory(info.Env(), std::move(mem));
}

// memory_open_libvmi(domain, mode: "kvm" | "xen" | "file", library: string ("" = libvmi.so))
Napi::Value OpenLibvmi(const Napi::CallbackInfo& info) {
  std::string domain = toString(info[0], "domain");
  std::string modeName = toString(info[1], "mode");
  std::string library = toString(info[2], "library");
  LibvmiMode mode = LibvmiMode::kKvm;
  if (modeName == "xen") mode = LibvmiMode::kXen;
  else if (modeName == "file") mode = LibvmiMode::kFile;
  else if (modeName != "kvm") throwBadArgument(info.Env(), "unknown LibVMI mode " + modeName);
  Error err;
  auto mem = openLibvmi(domain, mode, library, &err);
  if (!mem) throwError(info.Env(), err, "libvmi:" + domain);
  return wrapMemory(info.Env(), std::move(mem));
}

Registrar r1("memory_open_file", OpenFile);
Registrar r2("memory_open_live_file", OpenLiveFile);
Registrar r3("memory_resident", Resident);
Registrar r4("memory_open_process", OpenProcess);
Registrar r5("memory_open_libvmi", OpenLibvmi);

}  // namespace
}  // namespace parasight::binding
