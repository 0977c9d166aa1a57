// space_* functions: create an address space over a memory handle, translate (one / batch), read virtual memory,
// invalidate the software TLB, close.
#include <algorithm>
#include <cstring>

#include "binding/convert.h"
#include "binding/memory_handle.h"
#include "binding/registry.h"
#include "binding/space_handle.h"

namespace parasight::binding {

namespace {
const napi_type_tag kSpaceTag = {0x7061726173696768ull, 0x7370616365303031ull};

Napi::Uint8Array uint8Arg(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throwBadArgument(v.Env(), std::string(what) + " must be a Uint8Array");
  }
  return v.As<Napi::Uint8Array>();
}

Napi::BigUint64Array bigArg(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array) {
    throwBadArgument(v.Env(), std::string(what) + " must be a BigUint64Array");
  }
  return v.As<Napi::BigUint64Array>();
}
}  // namespace

bool isSpaceHandle(const Napi::Value& value) {
  return value.IsExternal() && value.As<Napi::External<SpaceHandle>>().CheckTypeTag(&kSpaceTag);
}

std::shared_ptr<AddressSpace> spaceOf(const Napi::Value& value) {
  if (!isSpaceHandle(value)) throwBadArgument(value.Env(), "expected an address-space handle");
  SpaceHandle* h = value.As<Napi::External<SpaceHandle>>().Data();
  if (!h->space) throwError(value.Env(), Error::make(Errc::kClosed, 0, "address space is closed"));
  return h->space;
}

namespace {

// space_create(memory, mode 0..3, dtb, windowsTransition, tlbEntries, maxPhysicalBits) → handle
Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto mem = memoryOf(info[0]);
  uint32_t mode = toU32(info[1], "mode");
  if (mode > 3) throwBadArgument(env, "mode must be 0 (x86), 1 (pae), 2 (ia32e) or 3 (la57)");
  AddressSpaceOptions o;
  o.mode = static_cast<PagingMode>(mode);
  o.dtb = toU64(info[2], "dtb");
  o.windowsTransition = info[3].ToBoolean();
  o.tlbEntries = toU32(info[4], "tlbEntries");
  o.maxPhysicalBits = toU32(info[5], "maxPhysicalBits");
  auto handle = std::make_unique<SpaceHandle>();
  handle->space = std::make_shared<AddressSpace>(std::move(mem), o);
  auto ext = Napi::External<SpaceHandle>::New(env, handle.release(),
                                              [](Napi::Env, SpaceHandle* h) { std::unique_ptr<SpaceHandle>{h}; });
  ext.TypeTag(&kSpaceTag);
  return ext;
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  if (!isSpaceHandle(info[0])) throwBadArgument(info.Env(), "expected an address-space handle");
  info[0].As<Napi::External<SpaceHandle>>().Data()->space.reset();
  return info.Env().Undefined();
}

// space_translate(handle, va) → {pa, pageSize, writable, user, noExecute, transition}; throws with level/entry.
Napi::Value Translate(const Napi::CallbackInfo& info) {
  auto space = spaceOf(info[0]);
  uint64_t va = toU64(info[1], "address");
  Translation t;
  Error err;
  if (!space->translate(va, &t, &err)) throwError(info.Env(), err, space->memory().origin());
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("pa", fromU64(env, t.pa));
  out.Set("pageSize", Napi::Number::New(env, static_cast<double>(t.pageSize)));
  out.Set("writable", t.writable);
  out.Set("user", t.user);
  out.Set("noExecute", t.noExecute);
  out.Set("transition", t.transition);
  return out;
}

// space_translate_into(handle, va, out: BigUint64Array(3)) → undefined; out = [pa, pageSize, flags]
// (flags: 1 writable, 2 user, 4 noExecute, 8 transition). Building the result object in JS is several times
// cheaper than setting six properties from C++.
Napi::Value TranslateInto(const Napi::CallbackInfo& info) {
  auto space = spaceOf(info[0]);
  uint64_t va = toU64(info[1], "address");
  auto out = bigArg(info[2], "output");
  if (out.ElementLength() < 3) throwBadArgument(info.Env(), "output must hold 3 elements");
  Translation t;
  Error err;
  if (!space->translate(va, &t, &err)) throwError(info.Env(), err, space->memory().origin());
  out[0] = t.pa;
  out[1] = t.pageSize;
  out[2] = (t.writable ? 1u : 0u) | (t.user ? 2u : 0u) | (t.noExecute ? 4u : 0u) | (t.transition ? 8u : 0u);
  return info.Env().Undefined();
}

// space_resolve(handle, va) → pa (bigint); the light form of translate for read paths.
Napi::Value Resolve(const Napi::CallbackInfo& info) {
  auto space = spaceOf(info[0]);
  uint64_t va = toU64(info[1], "address");
  Translation t;
  Error err;
  if (!space->translate(va, &t, &err)) throwError(info.Env(), err, space->memory().origin());
  return fromU64(info.Env(), t.pa);
}

// space_translate_many(handle, vas: BigUint64Array, out: BigUint64Array, status?: Uint8Array) → count translated
Napi::Value TranslateMany(const Napi::CallbackInfo& info) {
  auto space = spaceOf(info[0]);
  auto vas = bigArg(info[1], "addresses");
  auto out = bigArg(info[2], "output");
  size_t count = vas.ElementLength();
  if (out.ElementLength() < count) throwBadArgument(info.Env(), "output is shorter than addresses");
  uint8_t* status = nullptr;
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    auto st = uint8Arg(info[3], "status");
    if (st.ElementLength() < count) throwBadArgument(info.Env(), "status is shorter than addresses");
    status = st.Data();
  }
  size_t good = space->translateMany(vas.Data(), count, out.Data(), status);
  return Napi::Number::New(info.Env(), static_cast<double>(good));
}

// space_read(handle, va, dst: Uint8Array, partial) → bytes read. Not partial: a failure throws with the virtual
// address and the paging level. Partial: untranslatable/unreadable pages are zeroed and skipped.
Napi::Value Read(const Napi::CallbackInfo& info) {
  auto space = spaceOf(info[0]);
  uint64_t va = toU64(info[1], "address");
  auto dst = uint8Arg(info[2], "destination");
  bool partial = info[3].ToBoolean();
  size_t len = dst.ByteLength();
  if (!partial) {
    Error err;
    size_t got = space->read(va, dst.Data(), len, &err);
    if (got < len) throwError(info.Env(), err, space->memory().origin());
    return Napi::Number::New(info.Env(), static_cast<double>(got));
  }
  size_t total = 0, off = 0;
  while (off < len) {
    uint64_t at = va + off;
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(len - off, 0x1000 - (at & 0xfff)));
    size_t got = space->read(at, dst.Data() + off, chunk, nullptr);
    if (got < chunk) std::memset(dst.Data() + off + got, 0, chunk - got);
    total += got;
    off += chunk;
  }
  return Napi::Number::New(info.Env(), static_cast<double>(total));
}

// space_invalidate(handle[, va]): drop the whole TLB, or the page holding va.
Napi::Value Invalidate(const Napi::CallbackInfo& info) {
  auto space = spaceOf(info[0]);
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    space->invalidate(toU64(info[1], "address"));
  } else {
    space->invalidate();
  }
  return info.Env().Undefined();
}

Registrar r1("space_create", Create);
Registrar r2("space_close", Close);
Registrar r3("space_translate", Translate);
Registrar r4("space_resolve", Resolve);
Registrar r5("space_translate_many", TranslateMany);
Registrar r6("space_read", Read);
Registrar r7("space_invalidate", Invalidate);
Registrar r8("space_translate_into", TranslateInto);

}  // namespace
}  // namespace parasight::binding
