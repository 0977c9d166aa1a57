// Each binding file registers its functions with a static Registrar, so adding a native function never touches
// addon.cc or another layer's file. Names are flat `object_verb` (e.g. "memory_read"), per the project style.
#pragma once
#include <napi.h>

#include <utility>
#include <vector>

namespace parasight::binding {

using NativeFunction = Napi::Value (*)(const Napi::CallbackInfo&);

struct Registration {
  const char* name;
  NativeFunction fn;
};

std::vector<Registration>& registrations();

struct Registrar {
  Registrar(const char* name, NativeFunction fn) { registrations().push_back({name, fn}); }
};

}  // namespace parasight::binding
