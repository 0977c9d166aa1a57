#include "binding/windows_convert.h"

#include "binding/convert.h"

namespace parasight::binding::win {

using windows::Problem;
using windows::Problems;

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

Napi::Array problemsOf(Napi::Env env, const Problems& p) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (const Problem& x : p.list()) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("code", x.code);
    o.Set("message", x.message);
    if (x.address) o.Set("address", fromU64(env, x.address));
    o.Set("walk", x.walk);
    out.Set(i++, o);
  }
  if (p.dropped() > 0) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("code", "LIMIT");
    o.Set("message", std::to_string(p.dropped()) + " further problems not listed");
    out.Set(i++, o);
  }
  return out;
}

Napi::String u16(Napi::Env env, const std::u16string& s) { return Napi::String::New(env, s.data(), s.size()); }

Napi::String ip4(Napi::Env env, const uint8_t* b) {
  return Napi::String::New(env, std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
                                    std::to_string(b[3]));
}


}  // namespace parasight::binding::win
