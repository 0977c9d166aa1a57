#include "hash/hash_job.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "hash/pipelined_read.h"

namespace parasight {

namespace {

bool cancelled(const HashControl& control, uint64_t at, Error* err) {
  if (control.cancel == nullptr || !control.cancel->load(std::memory_order_relaxed)) return false;
  *err = Error::make(Errc::kCancelled, at, "hashing cancelled");
  return true;
}

// Calls progress each time `done` crosses another `progressEvery` bytes.
struct ProgressTicker {
  const HashControl& control;
  uint64_t next;
  explicit ProgressTicker(const HashControl& c) : control(c), next(c.progressEvery) {}
  void tick(uint64_t done) {
    if (!control.progress || done < next) return;
    control.progress(done);
    next = done + control.progressEvery;
  }
};

Errc errnoCode(int e) {
  switch (e) {
    case ENOENT: case ENOTDIR: return Errc::kNotFound;
    case EACCES: case EPERM: return Errc::kPermission;
    default: return Errc::kIo;
  }
}

}  // namespace

std::unique_ptr<HashFile> HashFile::open(const std::string& path, Error* err) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    *err = Error::make(errnoCode(e), 0, path + ": cannot open: " + std::strerror(e));
    return nullptr;
  }
  std::unique_ptr<HashFile> f(new HashFile());  // private constructor
  f->path_ = path;
  f->fd_ = fd;
  struct stat st;
  if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    *err = Error::make(Errc::kBadArgument, 0, path + ": not a file");
    return nullptr;
  }
  f->size_ = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
  // Sequential hint: the kernel reads ahead further, which is most of what an mmap would have bought.
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return f;
}

HashFile::~HashFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool HashFile::hash(HashAlgorithm algorithm, uint64_t seed, const HashControl& control, HashValue* out,
                    uint64_t* bytes, Error* err) {
  Hasher hasher(algorithm, seed);
  ProgressTicker ticker(control);
  uint64_t done = 0;
  // Big files (and those of unknown size: pipes, /proc): read on a helper thread while this one hashes.
  if (size_ == 0 || size_ >= kPipelineMin) {
    auto consume = [&](const uint8_t* data, size_t n) {
      hasher.update(data, n);
      done += n;
      ticker.tick(done);
    };
    uint64_t got = 0;
    if (!pipelinedRead(fd_, consume, control.cancel, &got, path_, err)) return false;
    *out = hasher.digest();
    *bytes = got;
    return true;
  }
  uint8_t* buf = threadHashBuffer();
  for (;;) {
    if (cancelled(control, done, err)) return false;
    ssize_t n = ::read(fd_, buf, kHashBufferSize);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      *err = Error::make(Errc::kIo, done, path_ + ": read failed at offset " + hex(done) + ": " + std::strerror(e));
      return false;
    }
    if (n == 0) break;
    hasher.update(buf, static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
    ticker.tick(done);
  }
  *out = hasher.digest();
  *bytes = done;
  return true;
}

bool hashPhysical(PhysicalMemory& memory, uint64_t pa, uint64_t len, HashAlgorithm algorithm, uint64_t seed,
                  const HashControl& control, HashValue* out, Error* err) {
  if (pa + len < pa) {
    *err = Error::make(Errc::kBadArgument, pa, "range wraps past 2^64");
    return false;
  }
  Hasher hasher(algorithm, seed);
  ProgressTicker ticker(control);
  uint64_t done = 0;
  uint8_t* buf = nullptr;
  while (done < len) {
    if (cancelled(control, pa + done, err)) return false;
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(len - done, kHashBufferSize));
    if (const uint8_t* p = memory.direct(pa + done, chunk)) {
      hasher.update(p, chunk);
    } else {
      if (buf == nullptr) buf = threadHashBuffer();
      size_t got = memory.read(pa + done, buf, chunk, err);
      if (got < chunk) return false;
      hasher.update(buf, chunk);
    }
    done += chunk;
    ticker.tick(done);
  }
  *out = hasher.digest();
  return true;
}

bool hashVirtual(AddressSpace& space, uint64_t va, uint64_t len, HashAlgorithm algorithm, uint64_t seed,
                 const HashControl& control, HashValue* out, Error* err) {
  if (va + len < va) {
    *err = Error::make(Errc::kBadArgument, va, "range wraps past 2^64");
    return false;
  }
  Hasher hasher(algorithm, seed);
  ProgressTicker ticker(control);
  uint8_t* buf = nullptr;
  // Host span waiting to be hashed: virtually contiguous pages that are also contiguous in the host mapping are
  // hashed in one update (large pages, identity-mapped kernel ranges).
  const uint8_t* span = nullptr;
  size_t spanLen = 0;
  auto flush = [&] {
    if (spanLen != 0) hasher.update(span, spanLen);
    span = nullptr;
    spanLen = 0;
  };
  uint64_t done = 0, nextCancelCheck = 0;
  while (done < len) {
    uint64_t at = va + done;
    if (done >= nextCancelCheck) {
      if (cancelled(control, at, err)) return false;
      nextCancelCheck = done + kHashBufferSize;
    }
    size_t avail = 0;
    const uint8_t* p = space.directPage(at, &avail);
    size_t n = static_cast<size_t>(std::min<uint64_t>(len - done, 0x1000 - (at & 0xfff)));
    if (p != nullptr) {
      if (span != nullptr && span + spanLen == p && spanLen < kHashBufferSize) {
        spanLen += n;
      } else {
        flush();
        span = p;
        spanLen = n;
      }
    } else {
      flush();
      if (buf == nullptr) buf = threadHashBuffer();
      if (space.read(at, buf, n, err) < n) return false;
      hasher.update(buf, n);
    }
    done += n;
    ticker.tick(done);
  }
  flush();
  *out = hasher.digest();
  return true;
}

}  // namespace parasight
