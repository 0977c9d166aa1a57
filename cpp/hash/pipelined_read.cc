#include "hash/pipelined_read.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "hash/hasher.h"

namespace parasight {
namespace {

constexpr size_t kSlots = 3;

// Free 1 MiB buffers shared by every pipelined read. A few stay cached; their pages were touched once already.
class BufferPool {
 public:
  std::unique_ptr<uint8_t[]> take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return std::unique_ptr<uint8_t[]>(new uint8_t[kHashBufferSize]);
    auto b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void give(std::unique_ptr<uint8_t[]> b) {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < 4 * kSlots) free_.push_back(std::move(b));
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<uint8_t[]>> free_;
};

BufferPool& pool() {
  static BufferPool* p = new BufferPool();  // never destroyed: worker threads may outlive static destruction
  return *p;
}

struct Slot {
  std::unique_ptr<uint8_t[]> data;
  size_t n = 0;
};

}  // namespace

bool pipelinedRead(int fd, const std::function<void(const uint8_t*, size_t)>& consume, const std::atomic<bool>* cancel,
                   uint64_t* bytes, const std::string& what, Error* err) {
  Slot slots[kSlots];
  for (Slot& s : slots) s.data = pool().take();
  std::mutex mu;
  std::condition_variable cv;
  size_t filled = 0, consumed = 0;  // slot i holds chunk number i (mod kSlots); counters only grow
  bool eof = false, stop = false;
  int readErrno = 0;
  // A pipe can block in read() forever: wait for it with poll() so that a cancel can stop the reader.
  struct stat st;
  const bool mayBlock = fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
  auto stopped = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return stop;
  };

  std::thread reader([&] {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stop || filled - consumed < kSlots; });
        if (stop) return;
      }
      Slot& s = slots[filled % kSlots];  // not touched by the consumer until `filled` moves past it
      if (mayBlock) {
        struct pollfd p = {fd, POLLIN, 0};
        while (poll(&p, 1, 50) == 0) {
          if (stopped()) return;
        }
      }
      ssize_t n;
      do n = ::read(fd, s.data.get(), kHashBufferSize);
      while (n < 0 && errno == EINTR);
      std::lock_guard<std::mutex> lock(mu);
      if (n <= 0) {
        if (n < 0) readErrno = errno;
        eof = true;
        cv.notify_all();
        return;
      }
      s.n = static_cast<size_t>(n);
      filled++;
      cv.notify_all();
    }
  });

  bool ok = true;
  uint64_t done = 0;
  for (;;) {
    Slot* s = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return consumed < filled || eof; });
      if (consumed == filled) break;  // eof and everything consumed
      s = &slots[consumed % kSlots];
    }
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      *err = Error::make(Errc::kCancelled, done, "hashing cancelled");
      ok = false;
      break;
    }
    consume(s->data.get(), s->n);
    done += s->n;
    std::lock_guard<std::mutex> lock(mu);
    consumed++;
    cv.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
    cv.notify_all();
  }
  reader.join();
  for (Slot& s : slots) pool().give(std::move(s.data));
  if (ok && readErrno != 0) {
    *err = Error::make(Errc::kIo, done, what + ": read failed at offset " + hex(done) + ": " + std::strerror(readErrno));
    ok = false;
  }
  *bytes = done;
  return ok;
}

}  // namespace parasight
