// Conversions shared by the windows_* binding files (optional numeric fields, strings).
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "binding/problems_binding.h"
#include "windows/vad.h"

namespace parasight::binding::win {

uint32_t u32Of(const Napi::Object& o, const char* key, uint32_t def);
uint64_t u64Of(const Napi::Object& o, const char* key, uint64_t def);
Napi::Object objectOf(const Napi::Value& v, const char* what);
using binding::problemsOf;
Napi::String u16(Napi::Env env, const std::u16string& s);
Napi::String ip4(Napi::Env env, const uint8_t* b);
// Throws a BAD_ARGUMENT error on offsets out of range.
windows::VadLayout vadLayoutOf(Napi::Env env, const Napi::Object& o);

}  // namespace parasight::binding::win
