// Module registration only: every binding file adds its functions through binding/registry.h.
#include <napi.h>

#include "binding/registry.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (const auto& r : parasight::binding::registrations()) {
    exports.Set(r.name, Napi::Function::New(env, r.fn, r.name));
  }
  return exports;
}

}  // namespace

NODE_API_MODULE(parasight, Init)
