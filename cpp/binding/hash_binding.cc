// hash_* functions: XXH3-64 / XXH3-128 / XXH64 of JS bytes, files and guest ranges. Small jobs run inline; big ones
// run on the libuv pool (AsyncProgressWorker) with progress callbacks and a cancel token, resolving a Promise.
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>

#include "binding/convert.h"
#include "binding/memory_handle.h"
#include "binding/registry.h"
#include "binding/space_handle.h"
#include "hash/hash_job.h"

namespace parasight::binding {
namespace {

const napi_type_tag kTokenTag = {0x7061726173696768ull, 0x63616e63656c3031ull};
// Below this many bytes a job runs on the calling thread: a thread-pool round trip costs more than the hash.
constexpr uint64_t kInlineLimit = 1u << 20;

struct CancelToken {
  std::shared_ptr<std::atomic<bool>> flag = std::make_shared<std::atomic<bool>>(false);
};

HashAlgorithm algorithmArg(const Napi::Value& v) {
  uint32_t a = toU32(v, "algorithm");
  if (a > 2) throwBadArgument(v.Env(), "algorithm must be 0 (xxh3-64), 1 (xxh3-128) or 2 (xxh64)");
  return static_cast<HashAlgorithm>(a);
}

// 64-bit hashes as bigint; XXH3-128 as 32 hex digits, high half first (xxHash's canonical form, as xxh128sum).
Napi::Value hashValue(Napi::Env env, HashAlgorithm algorithm, const HashValue& h) {
  if (algorithm != HashAlgorithm::kXxh3_128) return fromU64(env, h.low);
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high),
                static_cast<unsigned long long>(h.low));
  return Napi::String::New(env, buf);
}

Napi::Object result(Napi::Env env, HashAlgorithm algorithm, const HashValue& h, uint64_t bytes) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("hash", hashValue(env, algorithm, h));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes)));
  return o;
}

// The JS error object for err (throwError builds the registered ParasightError class; catch it to get the value).
Napi::Value errorValue(Napi::Env env, const Error& err, const std::string& source) {
  try {
    throwError(env, err, source);
  } catch (const Napi::Error& e) {
    return e.Value();
  }
}

using Job = std::function<bool(const HashControl&, HashValue*, uint64_t*, Error*)>;

class HashWorker : public Napi::AsyncProgressWorker<uint64_t> {
 public:
  HashWorker(Napi::Env env, Job job, HashAlgorithm algorithm, uint64_t total, std::string source,
             Napi::Value onProgress, std::shared_ptr<std::atomic<bool>> cancel)
      : Napi::AsyncProgressWorker<uint64_t>(env, "parasight:hash"),
        deferred_(Napi::Promise::Deferred::New(env)),
        job_(std::move(job)),
        algorithm_(algorithm),
        total_(total),
        source_(std::move(source)),
        cancel_(std::move(cancel)) {
    if (onProgress.IsFunction()) progress_ = Napi::Persistent(onProgress.As<Napi::Function>());
  }

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
    HashControl control;
    control.cancel = cancel_.get();
    if (!progress_.IsEmpty()) control.progress = [&progress](uint64_t done) { progress.Send(&done, 1); };
    if (!job_(control, &value_, &bytes_, &error_)) SetError(error_.detail.empty() ? "hash failed" : error_.detail);
  }

  void OnProgress(const uint64_t* done, size_t count) override {
    if (progress_.IsEmpty() || count == 0) return;
    Napi::Env env = Env();
    // A throwing progress callback must not take the process down: swallow it, the promise still settles.
    try {
      progress_.Call({Napi::Number::New(env, static_cast<double>(done[count - 1])),
                      Napi::Number::New(env, static_cast<double>(total_))});
    } catch (const Napi::Error&) {
    }
  }

  void OnOK() override { deferred_.Resolve(result(Env(), algorithm_, value_, bytes_)); }
  void OnError(const Napi::Error&) override { deferred_.Reject(errorValue(Env(), error_, source_)); }

 private:
  Napi::Promise::Deferred deferred_;
  Job job_;
  HashAlgorithm algorithm_;
  uint64_t total_;
  std::string source_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  Napi::FunctionReference progress_;
  HashValue value_;
  uint64_t bytes_ = 0;
  Error error_;
};

std::shared_ptr<std::atomic<bool>> tokenArg(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return std::make_shared<std::atomic<bool>>(false);
  if (!v.IsExternal() || !v.As<Napi::External<CancelToken>>().CheckTypeTag(&kTokenTag)) {
    throwBadArgument(v.Env(), "expected a cancel token");
  }
  return v.As<Napi::External<CancelToken>>().Data()->flag;
}

// Runs inline when small (settling the promise now), else queues a worker.
Napi::Value run(Napi::Env env, Job job, HashAlgorithm algorithm, uint64_t total, const std::string& source,
                Napi::Value onProgress, std::shared_ptr<std::atomic<bool>> cancel, bool inlineOk) {
  if (inlineOk) {
    auto deferred = Napi::Promise::Deferred::New(env);
    HashControl control;
    control.cancel = cancel.get();
    HashValue value;
    uint64_t bytes = 0;
    Error err;
    if (job(control, &value, &bytes, &err)) {
      deferred.Resolve(result(env, algorithm, value, bytes));
    } else {
      deferred.Reject(errorValue(env, err, source));
    }
    return deferred.Promise();
  }
  auto* worker = new HashWorker(env, std::move(job), algorithm, total, source, onProgress, std::move(cancel));
  Napi::Promise p = worker->promise();
  worker->Queue();  // the worker deletes itself after OnOK/OnError
  return p;
}

// hash_bytes(bytes: Uint8Array, algorithm, seed) → bigint | string
Napi::Value Bytes(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throwBadArgument(info.Env(), "data must be a Uint8Array");
  }
  auto data = info[0].As<Napi::Uint8Array>();
  HashAlgorithm algorithm = algorithmArg(info[1]);
  uint64_t seed = toU64(info[2], "seed");
  return hashValue(info.Env(), algorithm, hashBuffer(algorithm, seed, data.Data(), data.ByteLength()));
}

// hash_file(path, algorithm, seed, onProgress?, token?) → Promise<{hash, bytes}>
Napi::Value File(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = toString(info[0], "path");
  HashAlgorithm algorithm = algorithmArg(info[1]);
  uint64_t seed = toU64(info[2], "seed");
  auto cancel = tokenArg(info[4]);
  Error err;
  std::shared_ptr<HashFile> file = HashFile::open(path, &err);
  if (!file) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(errorValue(env, err, path));
    return d.Promise();
  }
  uint64_t size = file->size();
  // size 0 covers /proc-like files whose length is unknown: those go to the pool too.
  bool small = size != 0 && size <= kInlineLimit;
  Job job = [file, algorithm, seed](const HashControl& c, HashValue* v, uint64_t* bytes, Error* e) {
    return file->hash(algorithm, seed, c, v, bytes, e);
  };
  return run(env, std::move(job), algorithm, size, path, info[3], std::move(cancel), small);
}

// hash_file_sync(path, algorithm, seed) → {hash, bytes}
Napi::Value FileSync(const Napi::CallbackInfo& info) {
  std::string path = toString(info[0], "path");
  HashAlgorithm algorithm = algorithmArg(info[1]);
  uint64_t seed = toU64(info[2], "seed");
  Error err;
  auto file = HashFile::open(path, &err);
  HashValue v;
  uint64_t bytes = 0;
  if (!file || !file->hash(algorithm, seed, HashControl{}, &v, &bytes, &err)) throwError(info.Env(), err, path);
  return result(info.Env(), algorithm, v, bytes);
}

// A job over a guest range. A memory handle hashes physical memory; an address-space handle hashes virtual memory
// through a private AddressSpace (its own TLB: the caller's is not thread-safe).
Job rangeJob(const Napi::Value& handle, uint64_t address, uint64_t length, HashAlgorithm algorithm, uint64_t seed,
             std::string* source) {
  if (isSpaceHandle(handle)) {
    auto space = spaceOf(handle);
    *source = space->memory().origin();
    auto memory = space->memoryPtr();
    AddressSpaceOptions options = space->options();
    return [memory, options, address, length, algorithm, seed](const HashControl& c, HashValue* v, uint64_t* bytes,
                                                                Error* e) {
      AddressSpace own(memory, options);
      if (!hashVirtual(own, address, length, algorithm, seed, c, v, e)) return false;
      *bytes = length;
      return true;
    };
  }
  auto memory = memoryOf(handle);
  *source = memory->origin();
  return [memory, address, length, algorithm, seed](const HashControl& c, HashValue* v, uint64_t* bytes, Error* e) {
    if (!hashPhysical(*memory, address, length, algorithm, seed, c, v, e)) return false;
    *bytes = length;
    return true;
  };
}

// hash_range(handle, address, length, algorithm, seed, onProgress?, token?) → Promise<{hash, bytes}>
Napi::Value Range(const Napi::CallbackInfo& info) {
  uint64_t address = toU64(info[1], "address");
  uint64_t length = toU64(info[2], "length");
  HashAlgorithm algorithm = algorithmArg(info[3]);
  uint64_t seed = toU64(info[4], "seed");
  auto cancel = tokenArg(info[6]);
  std::string source;
  Job job = rangeJob(info[0], address, length, algorithm, seed, &source);
  return run(info.Env(), std::move(job), algorithm, length, source, info[5], std::move(cancel), length <= kInlineLimit);
}

// hash_range_sync(handle, address, length, algorithm, seed) → {hash, bytes}
Napi::Value RangeSync(const Napi::CallbackInfo& info) {
  uint64_t address = toU64(info[1], "address");
  uint64_t length = toU64(info[2], "length");
  HashAlgorithm algorithm = algorithmArg(info[3]);
  uint64_t seed = toU64(info[4], "seed");
  HashValue v;
  uint64_t bytes = 0;
  Error err;
  if (isSpaceHandle(info[0])) {
    // Synchronous: the caller's own address space (and its TLB) on the calling thread.
    auto space = spaceOf(info[0]);
    if (!hashVirtual(*space, address, length, algorithm, seed, HashControl{}, &v, &err)) {
      throwError(info.Env(), err, space->memory().origin());
    }
    return result(info.Env(), algorithm, v, length);
  }
  std::string source;
  Job job = rangeJob(info[0], address, length, algorithm, seed, &source);
  if (!job(HashControl{}, &v, &bytes, &err)) throwError(info.Env(), err, source);
  return result(info.Env(), algorithm, v, bytes);
}

Napi::Value Token(const Napi::CallbackInfo& info) {
  auto token = std::make_unique<CancelToken>();
  auto ext = Napi::External<CancelToken>::New(info.Env(), token.release(),
                                              [](Napi::Env, CancelToken* t) { std::unique_ptr<CancelToken>{t}; });
  ext.TypeTag(&kTokenTag);
  return ext;
}

Napi::Value Cancel(const Napi::CallbackInfo& info) {
  tokenArg(info[0])->store(true);
  return info.Env().Undefined();
}

Registrar r1("hash_bytes", Bytes);
Registrar r2("hash_file", File);
Registrar r3("hash_file_sync", FileSync);
Registrar r4("hash_range", Range);
Registrar r5("hash_range_sync", RangeSync);
Registrar r6("hash_token", Token);
Registrar r7("hash_cancel", Cancel);

}  // namespace
}  // namespace parasight::binding
