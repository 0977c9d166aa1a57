// File and guest-range hashing. Each job runs on whatever thread calls it (the binding runs big ones on the libuv
// pool), reports progress through a callback and stops early when its cancel flag is raised.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "hash/hasher.h"
#include "memory/error.h"
#include "memory/physical_memory.h"
#include "paging/address_space.h"

namespace parasight {

struct HashControl {
  std::function<void(uint64_t done)> progress;  // called every `progressEvery` bytes (and not at the end)
  const std::atomic<bool>* cancel = nullptr;
  uint64_t progressEvery = 16u << 20;
};

// An open file to hash: opened (and sized) on the caller's thread, hashed wherever. Closes its fd.
class HashFile {
 public:
  // From this size on, reading and hashing overlap on two threads.
  static constexpr uint64_t kPipelineMin = 4u << 20;
  static std::unique_ptr<HashFile> open(const std::string& path, Error* err);
  ~HashFile();
  HashFile(const HashFile&) = delete;
  HashFile& operator=(const HashFile&) = delete;
  uint64_t size() const { return size_; }  // at open time; the hash covers whatever read() returns until EOF
  const std::string& path() const { return path_; }
  // read() into the thread's reused buffer until EOF. `bytes` = bytes hashed.
  bool hash(HashAlgorithm algorithm, uint64_t seed, const HashControl& control, HashValue* out, uint64_t* bytes,
            Error* err);

 private:
  HashFile() = default;
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Guest-physical range: straight from direct() pointers where the source has them, else read() into a buffer.
bool hashPhysical(PhysicalMemory& memory, uint64_t pa, uint64_t len, HashAlgorithm algorithm, uint64_t seed,
                  const HashControl& control, HashValue* out, Error* err);
// Guest-virtual range: page by page through the address space, coalescing pages that are contiguous in the host.
bool hashVirtual(AddressSpace& space, uint64_t va, uint64_t len, HashAlgorithm algorithm, uint64_t seed,
                 const HashControl& control, HashValue* out, Error* err);

}  // namespace parasight
