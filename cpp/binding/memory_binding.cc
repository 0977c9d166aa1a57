// memory_* functions: open/close sources, describe them, read physical memory, hand out views.
#include <algorithm>
#include <cstring>

#include "binding/convert.h"
#include "binding/memory_handle.h"
#include "binding/registry.h"
#include "memory/raw_source.h"

namespace parasight::binding {

namespace {
// Tag so that an External of another type can never be taken for a memory handle.
const napi_type_tag kMemoryTag = {0x7061726173696768ull, 0x6d656d6f72793031ull};
// V8 on Node 20 caps one ArrayBuffer well below guest RAM sizes: views are cut into chunks of this size.
constexpr uint64_t kViewChunk = 1ull << 30;
}  // namespace

Napi::Value wrapMemory(Napi::Env env, std::unique_ptr<PhysicalMemory> memory) {
  auto handle = std::make_unique<MemoryHandle>();
  handle->memory = std::move(memory);
  auto ext = Napi::External<MemoryHandle>::New(env, handle.release(),
                                               [](Napi::Env, MemoryHandle* h) { std::unique_ptr<MemoryHandle>{h}; });
  ext.TypeTag(&kMemoryTag);
  return ext;
}

std::shared_ptr<PhysicalMemory> memoryOf(const Napi::Value& value) {
  if (!value.IsExternal() || !value.As<Napi::External<MemoryHandle>>().CheckTypeTag(&kMemoryTag)) {
    throwBadArgument(value.Env(), "expected a memory handle");
  }
  MemoryHandle* h = value.As<Napi::External<MemoryHandle>>().Data();
  if (!h->memory) throwError(value.Env(), Error::make(Errc::kClosed, 0, "memory source is closed"));
  return h->memory;
}

namespace {

Napi::Value OpenRaw(const Napi::CallbackInfo& info) {
  std::string path = toString(info[0], "path");
  Error err;
  auto mem = openRawImage(path, &err);
  if (!mem) throwError(info.Env(), err, path);
  return wrapMemory(info.Env(), std::move(mem));
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  if (!info[0].IsExternal() || !info[0].As<Napi::External<MemoryHandle>>().CheckTypeTag(&kMemoryTag)) {
    throwBadArgument(info.Env(), "expected a memory handle");
  }
  info[0].As<Napi::External<MemoryHandle>>().Data()->memory.reset();
  return info.Env().Undefined();
}

// {kind, origin, end, ranges: BigUint64Array [start0, length0, start1, length1, ...]}
Napi::Value Info(const Napi::CallbackInfo& info) {
  auto mem = memoryOf(info[0]);
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("kind", mem->kind());
  out.Set("origin", mem->origin());
  out.Set("end", fromU64(env, mem->end()));
  const auto& ranges = mem->ranges();
  auto arr = Napi::BigUint64Array::New(env, ranges.size() * 2);
  for (size_t i = 0; i < ranges.size(); i++) {
    arr[2 * i] = ranges[i].start;
    arr[2 * i + 1] = ranges[i].length;
  }
  out.Set("ranges", arr);
  return out;
}

// memory_read(handle, pa, dst: Uint8Array, partial: boolean) → bytes read.
// Not partial: a short read throws with the failing address. Partial: unreadable bytes are zeroed, count returned.
Napi::Value Read(const Napi::CallbackInfo& info) {
  auto mem = memoryOf(info[0]);
  uint64_t pa = toU64(info[1], "address");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throwBadArgument(info.Env(), "destination must be a Uint8Array");
  }
  auto dst = info[2].As<Napi::Uint8Array>();
  bool partial = info[3].ToBoolean();
  size_t len = dst.ByteLength();
  if (pa + len < pa) throwBadArgument(info.Env(), "address + length wraps past 2^64");
  if (!partial) {
    Error err;
    size_t got = mem->read(pa, dst.Data(), len, &err);
    if (got < len) throwError(info.Env(), err, mem->origin());
    return Napi::Number::New(info.Env(), static_cast<double>(got));
  }
  // Partial: walk page by page so one hole does not hide the readable bytes after it.
  size_t total = 0;
  size_t off = 0;
  while (off < len) {
    uint64_t at = pa + off;
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(len - off, 0x1000 - (at & 0xfff)));
    Error err;
    size_t got = mem->read(at, dst.Data() + off, chunk, &err);
    if (got < chunk) std::memset(dst.Data() + off + got, 0, chunk - got);
    total += got;
    off += chunk;
  }
  return Napi::Number::New(info.Env(), static_cast<double>(total));
}

// memory_read_many(handle, addrs: BigUint64Array, itemSize, out: Uint8Array, ok: Uint8Array) → items read.
Napi::Value ReadMany(const Napi::CallbackInfo& info) {
  auto mem = memoryOf(info[0]);
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
    throwBadArgument(info.Env(), "addresses must be a BigUint64Array");
  }
  auto addrs = info[1].As<Napi::BigUint64Array>();
  uint32_t itemSize = toU32(info[2], "itemSize");
  auto out = info[3].As<Napi::Uint8Array>();
  auto ok = info[4].As<Napi::Uint8Array>();
  size_t count = addrs.ElementLength();
  if (itemSize == 0 || out.ByteLength() < count * itemSize || ok.ByteLength() < count) {
    throwBadArgument(info.Env(), "output buffers are too small for count * itemSize");
  }
  size_t good = mem->readMany(addrs.Data(), count, itemSize, out.Data(), ok.Data());
  return Napi::Number::New(info.Env(), static_cast<double>(good));
}

// Zero-copy views over stable mappings: [[start: bigint, ArrayBuffer], ...]. Empty for live sources.
// Each ArrayBuffer keeps the source alive (its finalizer holds a shared_ptr), so close() never frees bytes a
// view still points at.
Napi::Value Views(const Napi::CallbackInfo& info) {
  auto mem = memoryOf(info[0]);
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (const PhysRange& r : mem->ranges()) {
    for (uint64_t off = 0; off < r.length; off += kViewChunk) {
      size_t len = static_cast<size_t>(std::min(kViewChunk, r.length - off));
      const uint8_t* p = mem->direct(r.start + off, len);
      if (p == nullptr) continue;
      auto keep = std::make_unique<std::shared_ptr<PhysicalMemory>>(mem);
      auto ab = Napi::ArrayBuffer::New(
          env, const_cast<uint8_t*>(p), len,
          [](Napi::Env, void*, std::shared_ptr<PhysicalMemory>* k) { std::unique_ptr<std::shared_ptr<PhysicalMemory>>{k}; },
          keep.release());
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, fromU64(env, r.start + off));
      pair.Set(1u, ab);
      out.Set(n++, pair);
    }
  }
  return out;
}

Registrar r1("memory_open_raw", OpenRaw);
Registrar r2("memory_close", Close);
Registrar r3("memory_info", Info);
Registrar r4("memory_read", Read);
Registrar r5("memory_read_many", ReadMany);
Registrar r6("memory_views", Views);

}  // namespace
}  // namespace parasight::binding
