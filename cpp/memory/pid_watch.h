// Knowing exactly when a process is gone: a pidfd, which (unlike a pid) can never come to mean another process.
// Sources that read a process's memory check it so that an exited QEMU turns into SOURCE_GONE, not stale or,
// after pid reuse, foreign bytes.
#pragma once
#include <atomic>
#include <memory>

#include "memory/physical_memory.h"

namespace parasight {

class PidWatch {
 public:
  // NOT_FOUND when the process does not exist (or already exited).
  static std::unique_ptr<PidWatch> open(int pid, Error* err);
  ~PidWatch();
  PidWatch(const PidWatch&) = delete;
  PidWatch& operator=(const PidWatch&) = delete;

  int pid() const { return pid_; }
  // True once the process has exited (zombie included). One poll(2), no blocking.
  bool exited() const;
  // exited(), but polls at most once per 10 ms (a syscall costs µs here). For paths where an exit already shows
  // up as a failed read, and the check only guards against pid reuse, which cannot happen within 10 ms.
  bool exitedThrottled();
  Error goneError(uint64_t pa) const;

 private:
  PidWatch(int pid, int fd) : pid_(pid), fd_(fd) {}
  int pid_;
  int fd_;
  std::atomic<int64_t> lastCheckNs_{0};
};

// Wraps a source whose bytes belong to a process (QEMU's RAM memfd, mapped by us): every native read first checks
// that the process still runs. Zero-copy views handed out before the exit keep showing the last RAM state.
std::unique_ptr<PhysicalMemory> watchProcess(std::unique_ptr<PhysicalMemory> inner, std::unique_ptr<PidWatch> watch);

}  // namespace parasight
