// Conversions shared by the windows_* binding files (optional numeric fields, strings).
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "binding/convert.h"
#include "binding/problems_binding.h"
#include "windows/vad.h"

namespace parasight::binding::win {

uint32_t u32Of(const Napi::Object& o, const char* key, uint32_t def);
uint64_t u64Of(const Napi::Object& o, const char* key, uint64_t def);
Napi::Object objectOf(const Napi::Value& v, const char* what);
using binding::problemsOf;
Napi::String u16(Napi::Env env, const std::u16string& s);
Napi::String ip4(Napi::Env env, const uint8_t* b);
// The fields a kernel module (PsLoadedModuleList) and a user module (PEB loader lists) both report.
template <typename M>
void setModuleFields(Napi::Env env, Napi::Object& x, const M& m) {
  x.Set("entry", fromU64(env, m.entry));
  x.Set("base", fromU64(env, m.base));
  x.Set("size", m.size);
  x.Set("name", u16(env, m.name));
  x.Set("path", u16(env, m.path));
}
// Throws a BAD_ARGUMENT error on offsets out of range.
windows::VadLayout vadLayoutOf(Napi::Env env, const Napi::Object& o);

}  // namespace parasight::binding::win
