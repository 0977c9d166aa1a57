// Streaming XXH3-64, XXH3-128 and XXH64 behind one small class, so that callers never include xxhash.h: the
// header is compiled (inlined, XXH_INLINE_ALL) into hasher.cc only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace parasight {

enum class HashAlgorithm : uint8_t { kXxh3_64 = 0, kXxh3_128 = 1, kXxh64 = 2 };

// 64-bit algorithms fill `low` only. XXH3-128 fills both (the xxHash XXH128_hash_t halves).
struct HashValue {
  uint64_t low = 0;
  uint64_t high = 0;
};

class Hasher {
 public:
  Hasher(HashAlgorithm algorithm, uint64_t seed);
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void update(const void* data, size_t len);
  HashValue digest() const;
  HashAlgorithm algorithm() const { return algorithm_; }

 private:
  struct State;
  HashAlgorithm algorithm_;
  std::unique_ptr<State> state_;
};

// One-shot hash of a buffer.
HashValue hashBuffer(HashAlgorithm algorithm, uint64_t seed, const void* data, size_t len);

// 1 MiB buffer owned by the calling thread and reused by every file/range hash on it: a fresh buffer per call
// would pay the first-touch cost of its pages again each time.
uint8_t* threadHashBuffer();
constexpr size_t kHashBufferSize = 1u << 20;

}  // namespace parasight
