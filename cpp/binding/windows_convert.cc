#include "binding/windows_convert.h"

#include "binding/convert.h"

#include <algorithm>

namespace parasight::binding::win {

uint32_t u32Of(const Napi::Object& o, const char* key, uint32_t def) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? def : toU32(v, key);
}

uint64_t u64Of(const Napi::Object& o, const char* key, uint64_t def) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() || v.IsNull() ? def : toU64(v, key);
}

Napi::Object objectOf(const Napi::Value& v, const char* what) {
  if (!v.IsObject()) throwBadArgument(v.Env(), std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

Napi::String u16(Napi::Env env, const std::u16string& s) { return Napi::String::New(env, s.data(), s.size()); }

Napi::String ip4(Napi::Env env, const uint8_t* b) {
  return Napi::String::New(env, std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
                                    std::to_string(b[3]));
}


windows::VadLayout vadLayoutOf(Napi::Env env, const Napi::Object& o) {
  windows::VadLayout l;
  l.avlTable = o.Get("avlTable").ToBoolean();
  l.vadRoot = toU32(o.Get("vadRoot"), "vadRoot");
  l.balancedRoot = u32Of(o, "balancedRoot", 0);
  l.left = toU32(o.Get("left"), "left");
  l.right = toU32(o.Get("right"), "right");
  l.startVpn = toU32(o.Get("startVpn"), "startVpn");
  l.endVpn = toU32(o.Get("endVpn"), "endVpn");
  l.flags = toU32(o.Get("flags"), "flags");
  l.controlArea = toU32(o.Get("controlArea"), "controlArea");
  l.caFilePointer = u32Of(o, "caFilePointer", l.caFilePointer);
  l.foFileName = u32Of(o, "foFileName", l.foFileName);
  if (std::max({l.vadRoot, l.balancedRoot, l.left, l.right, l.startVpn, l.endVpn, l.flags, l.controlArea, l.caFilePointer,
                l.foFileName}) > 0x1000) {
    throwBadArgument(env, "VAD layout offsets must be below 0x1000");
  }
  return l;
}

}  // namespace parasight::binding::win
