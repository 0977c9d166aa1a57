#include "binding/problems_binding.h"

#include <string>

#include "binding/convert.h"

namespace parasight::binding {

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

}  // namespace parasight::binding
