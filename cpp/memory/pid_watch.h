// Knowing exactly when a process is gone: a pidfd, which (unlike a pid) can never come to mean another process.
// Sources that read a process's memory check it so that an exited QEMU turns into SOURCE_GONE, not stale or,
// after pid reuse, foreign bytes.
#pragma once
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
  Error goneError(uint64_t pa) const;

 private:
  PidWatch(int pid, int fd) : pid_(pid), fd_(fd) {}
  int pid_;
  int fd_;
};

// Wraps a source whose bytes belong to a process (QEMU's RAM memfd, mapped by us): every native read first checks
// that the process still runs. Zero-copy views handed out before the exit keep showing the last RAM state.
std::unique_ptr<PhysicalMemory> watchProcess(std::unique_ptr<PhysicalMemory> inner, std::unique_ptr<PidWatch> watch);

}  // namespace parasight
