#include "binding/convert.h"

#include <cmath>

#include "binding/registry.h"

namespace parasight::binding {
namespace {

struct ErrorClassRef {
  Napi::FunctionReference ref;
};

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throwBadArgument(info.Env(), "setErrorClass expects a constructor");
  setErrorClass(info.Env(), info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Registrar reg("setErrorClass", SetErrorClass);

}  // namespace

void setErrorClass(Napi::Env env, Napi::Function cls) {
  auto* holder = env.GetInstanceData<ErrorClassRef>();
  if (holder == nullptr) {
    env.SetInstanceData(std::make_unique<ErrorClassRef>().release());  // owned and freed by the env
    holder = env.GetInstanceData<ErrorClassRef>();
  }
  holder->ref = Napi::Persistent(cls);
}

void throwError(Napi::Env env, const Error& err, const std::string& source) {
  Napi::Object props = Napi::Object::New(env);
  props.Set("code", errcName(err.code));
  if (!source.empty()) props.Set("source", source);
  props.Set("address", fromU64(env, err.address));
  if (err.level >= 0) {
    props.Set("level", err.level);
    props.Set("entry", fromU64(env, err.entry));
    props.Set("entryAddress", fromU64(env, err.entryAddress));
  }
  if (err.fileOffset >= 0) props.Set("offset", Napi::Number::New(env, static_cast<double>(err.fileOffset)));
  std::string message = err.detail.empty() ? errcName(err.code) : err.detail;
  auto* holder = env.GetInstanceData<ErrorClassRef>();
  if (holder != nullptr && !holder->ref.IsEmpty()) {
    Napi::Object e = holder->ref.New({Napi::String::New(env, message), props});
    throw Napi::Error(env, e);
  }
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", errcName(err.code));
  throw e;
}

void throwBadArgument(Napi::Env env, const std::string& message) {
  throwError(env, Error::make(Errc::kBadArgument, 0, message));
}

uint64_t toU64(const Napi::Value& v, const char* what) {
  if (v.IsBigInt()) {
    bool lossless = true;
    uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throwBadArgument(v.Env(), std::string(what) + " must fit in 64 unsigned bits");
    return r;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d >= 0 && d <= 9007199254740991.0 && std::floor(d) == d) return static_cast<uint64_t>(d);
  }
  throwBadArgument(v.Env(), std::string(what) + " must be a bigint or a non-negative safe integer");
}

uint32_t toU32(const Napi::Value& v, const char* what) {
  uint64_t r = toU64(v, what);
  if (r > 0xffffffffull) throwBadArgument(v.Env(), std::string(what) + " must be below 2^32");
  return static_cast<uint32_t>(r);
}

std::string toString(const Napi::Value& v, const char* what) {
  if (!v.IsString()) throwBadArgument(v.Env(), std::string(what) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Napi::BigInt fromU64(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

}  // namespace parasight::binding
