#include "memory/pid_watch.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

namespace parasight {

std::unique_ptr<PidWatch> PidWatch::open(int pid, Error* err) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    int e = errno;
    *err = Error::make(e == ESRCH ? Errc::kNotFound : e == EPERM ? Errc::kPermission : Errc::kIo, 0,
                       e == ESRCH ? "no process with pid " + std::to_string(pid)
                                  : "cannot watch pid " + std::to_string(pid) + ": " + std::strerror(e));
    return nullptr;
  }
  std::unique_ptr<PidWatch> w(new PidWatch(pid, fd));  // private constructor
  if (w->exited()) {
    *err = Error::make(Errc::kNotFound, 0, "process " + std::to_string(pid) + " has already exited");
    return nullptr;
  }
  return w;
}

PidWatch::~PidWatch() { ::close(fd_); }

bool PidWatch::exited() const {
  struct pollfd p = {fd_, POLLIN, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP)) != 0;
}

bool PidWatch::exitedThrottled() {
  constexpr int64_t kIntervalNs = 10'000'000;
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch()).count();
  int64_t last = lastCheckNs_.load(std::memory_order_relaxed);
  if (now - last < kIntervalNs) return false;
  lastCheckNs_.store(now, std::memory_order_relaxed);
  return exited();
}

Error PidWatch::goneError(uint64_t pa) const {
  return Error::make(Errc::kSourceGone, pa,
                     "process " + std::to_string(pid_) + " has exited; cannot read physical " + hex(pa));
}

namespace {

class WatchedMemory : public PhysicalMemory {
 public:
  WatchedMemory(std::unique_ptr<PhysicalMemory> inner, std::unique_ptr<PidWatch> watch)
      : inner_(std::move(inner)), watch_(std::move(watch)) {
    ranges_ = inner_->ranges();
  }
  const char* kind() const override { return inner_->kind(); }
  std::string origin() const override { return inner_->origin(); }
  const uint8_t* direct(uint64_t pa, size_t len) const override { return inner_->direct(pa, len); }

  size_t read(uint64_t pa, void* dst, size_t len, Error* err) override {
    if (watch_->exited()) {
      if (err) *err = watch_->goneError(pa);
      return 0;
    }
    return inner_->read(pa, dst, len, err);
  }
  size_t readMany(const uint64_t* addrs, size_t count, size_t itemSize, uint8_t* out, uint8_t* ok) override {
    if (watch_->exited()) {
      std::memset(out, 0, count * itemSize);
      std::memset(ok, 0, count);
      return 0;
    }
    return inner_->readMany(addrs, count, itemSize, out, ok);
  }
  bool residentRanges(uint64_t pa, uint64_t len, std::vector<PhysRange>* out, Error* err) override {
    if (watch_->exited()) {
      if (err) *err = watch_->goneError(pa);
      return false;
    }
    return inner_->residentRanges(pa, len, out, err);
  }

 private:
  std::unique_ptr<PhysicalMemory> inner_;
  std::unique_ptr<PidWatch> watch_;
};

}  // namespace

std::unique_ptr<PhysicalMemory> watchProcess(std::unique_ptr<PhysicalMemory> inner, std::unique_ptr<PidWatch> watch) {
  return std::make_unique<WatchedMemory>(std::move(inner), std::move(watch));
}

}  // namespace parasight
