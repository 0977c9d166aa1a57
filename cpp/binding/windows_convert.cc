#include "binding/windows_convert.h"

#include "binding/convert.h"

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


}  // namespace parasight::binding::win
