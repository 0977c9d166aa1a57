// Argument conversion and error raising shared by every binding file. TS validates arguments with exact messages;
// these checks are the last line so that a wrong call from JS can never reach C++ with garbage.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "memory/error.h"

namespace parasight::binding {

// Throws a JS ParasightError (the class registered by TS at load) carrying code, source and address fields.
[[noreturn]] void throwError(Napi::Env env, const Error& err, const std::string& source = "");
[[noreturn]] void throwBadArgument(Napi::Env env, const std::string& message);

// BigInt or a safe non-negative integer Number → uint64.
uint64_t toU64(const Napi::Value& v, const char* what);
uint32_t toU32(const Napi::Value& v, const char* what);
std::string toString(const Napi::Value& v, const char* what);
Napi::BigInt fromU64(Napi::Env env, uint64_t v);

// Stores the error class handed over by TS (`setErrorClass`).
void setErrorClass(Napi::Env env, Napi::Function cls);

}  // namespace parasight::binding
