#include "hash/hasher.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace parasight {

struct Hasher::State {
  XXH3_state_t* xxh3 = nullptr;
  XXH64_state_t xxh64;
  ~State() {
    if (xxh3 != nullptr) XXH3_freeState(xxh3);
  }
};

Hasher::Hasher(HashAlgorithm algorithm, uint64_t seed) : algorithm_(algorithm), state_(std::make_unique<State>()) {
  if (algorithm_ == HashAlgorithm::kXxh64) {
    XXH64_reset(&state_->xxh64, seed);
    return;
  }
  state_->xxh3 = XXH3_createState();  // 64-byte aligned allocation, as XXH3 requires
  if (state_->xxh3 == nullptr) throw std::bad_alloc();
  if (algorithm_ == HashAlgorithm::kXxh3_64) {
    XXH3_64bits_reset_withSeed(state_->xxh3, seed);
  } else {
    XXH3_128bits_reset_withSeed(state_->xxh3, seed);
  }
}

Hasher::~Hasher() = default;

void Hasher::update(const void* data, size_t len) {
  if (len == 0) return;
  switch (algorithm_) {
    case HashAlgorithm::kXxh64: XXH64_update(&state_->xxh64, data, len); break;
    case HashAlgorithm::kXxh3_64: XXH3_64bits_update(state_->xxh3, data, len); break;
    case HashAlgorithm::kXxh3_128: XXH3_128bits_update(state_->xxh3, data, len); break;
  }
}

HashValue Hasher::digest() const {
  HashValue v;
  switch (algorithm_) {
    case HashAlgorithm::kXxh64: v.low = XXH64_digest(&state_->xxh64); break;
    case HashAlgorithm::kXxh3_64: v.low = XXH3_64bits_digest(state_->xxh3); break;
    case HashAlgorithm::kXxh3_128: {
      XXH128_hash_t h = XXH3_128bits_digest(state_->xxh3);
      v.low = h.low64;
      v.high = h.high64;
      break;
    }
  }
  return v;
}

HashValue hashBuffer(HashAlgorithm algorithm, uint64_t seed, const void* data, size_t len) {
  HashValue v;
  switch (algorithm) {
    case HashAlgorithm::kXxh64: v.low = XXH64(data, len, seed); break;
    case HashAlgorithm::kXxh3_64: v.low = XXH3_64bits_withSeed(data, len, seed); break;
    case HashAlgorithm::kXxh3_128: {
      XXH128_hash_t h = XXH3_128bits_withSeed(data, len, seed);
      v.low = h.low64;
      v.high = h.high64;
      break;
    }
  }
  return v;
}

uint8_t* threadHashBuffer() {
  thread_local std::unique_ptr<uint8_t[]> buffer;
  if (!buffer) buffer = std::make_unique<uint8_t[]>(kHashBufferSize);  // zeroed once per thread: pages touched once
  return buffer.get();
}

}  // namespace parasight
