#include "memory/process_memory.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "memory/pid_watch.h"

namespace parasight {
namespace {

constexpr size_t kMaxIov = 1024;  // IOV_MAX on Linux: the most items one process_vm_readv call can carry
constexpr uint64_t kPage = 4096;
constexpr uint64_t kPagemapPresent = 1ull << 63;
constexpr uint64_t kPagemapSwapped = 1ull << 62;

class ProcessMemory : public PhysicalMemory {
 public:
  ProcessMemory(int pid, std::vector<ProcessRamBlock> blocks, bool useProcMem)
      : pid_(pid), blocks_(std::move(blocks)), useProcMem_(useProcMem) {
    for (const auto& b : blocks_) ranges_.push_back({b.physStart, b.length});
  }
  ~ProcessMemory() override {
    for (int fd : {memFd_, pagemapFd_}) {
      if (fd >= 0) ::close(fd);
    }
  }

  const char* kind() const override { return "qemu-process"; }
  std::string origin() const override { return "pid " + std::to_string(pid_); }

  bool init(ProcessAccess access, Error* err);
  size_t read(uint64_t pa, void* dst, size_t len, Error* err) override;
  size_t readMany(const uint64_t* addrs, size_t count, size_t itemSize, uint8_t* out, uint8_t* ok) override;
  bool residentRanges(uint64_t pa, uint64_t len, std::vector<PhysRange>* out, Error* err) override;

 private:
  // Reads len bytes at host address hva of the target; returns bytes read, sets errno on a short read.
  size_t remote(uint64_t hva, void* dst, size_t len);
  // After an exit the pid may be reused: nothing read by pid is trusted any more.
  bool exited() const { return watch_->exited(); }
  Error failure(uint64_t pa, uint64_t hva, int e) const;

  int pid_;
  std::vector<ProcessRamBlock> blocks_;  // parallel to ranges_
  bool useProcMem_;
  bool autoFallback_ = false;  // kAuto: switch to /proc/PID/mem when process_vm_readv is refused
  std::unique_ptr<PidWatch> watch_;
  int memFd_ = -1;
  int pagemapFd_ = -1;
};

bool ProcessMemory::init(ProcessAccess access, Error* err) {
  autoFallback_ = access == ProcessAccess::kAuto;
  std::string proc = "/proc/" + std::to_string(pid_);
  auto openErr = [&](const std::string& what, int e) {
    Errc code = e == ENOENT || e == ESRCH ? Errc::kNotFound
                : e == EACCES || e == EPERM ? Errc::kPermission
                                            : Errc::kIo;
    std::string why = code == Errc::kNotFound ? "no such process"
                      : code == Errc::kPermission
                          ? "permission denied: reading another process's memory needs root or CAP_SYS_PTRACE over it"
                          : std::strerror(e);
    *err = Error::make(code, 0, "cannot open " + what + ": " + why);
    return false;
  };
  watch_ = PidWatch::open(pid_, err);
  if (!watch_) return false;
  memFd_ = ::open((proc + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (memFd_ < 0) return openErr(proc + "/mem", errno);
  pagemapFd_ = ::open((proc + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC);
  if (pagemapFd_ < 0) return openErr(proc + "/pagemap", errno);
  // Probe one byte of a page the guest has already touched: it picks the access path and turns a wrong RAM address
  // into an error now. Never probe an untouched page: that read alone would make the host commit it.
  std::vector<PhysRange> resident;
  uint64_t firstLen = blocks_.empty() ? 0 : blocks_.front().length;
  if (firstLen == 0 || !residentRanges(blocks_.front().physStart, firstLen, &resident, err)) return firstLen == 0;
  if (resident.empty()) return true;  // nothing to probe: the first read chooses the path (see remote())
  uint64_t pa = resident.front().start;
  const ProcessRamBlock& b = blocks_.front();
  uint64_t hva = b.hva + (pa - b.physStart);
  uint8_t probe;
  if (!useProcMem_) {
    struct iovec local = {&probe, 1};
    struct iovec rem = {reinterpret_cast<void*>(hva), 1};
    if (process_vm_readv(pid_, &local, 1, &rem, 1, 0) == 1) return true;
    int e = errno;
    if (!autoFallback_ || (e != EPERM && e != ENOSYS)) {
      *err = failure(pa, hva, e);
      return false;
    }
    useProcMem_ = true;
  }
  if (pread(memFd_, &probe, 1, static_cast<off_t>(hva)) == 1) return true;
  *err = failure(pa, hva, errno);
  return false;
}

Error ProcessMemory::failure(uint64_t pa, uint64_t hva, int e) const {
  if (e == ESRCH || exited()) return watch_->goneError(pa);
  if (e == EPERM || e == EACCES) {
    return Error::make(Errc::kPermission, pa, "reading pid " + std::to_string(pid_) +
                                                  " needs root or CAP_SYS_PTRACE over it (physical " + hex(pa) + ")");
  }
  return Error::make(Errc::kIo, pa, "cannot read physical " + hex(pa) + " at host address " + hex(hva) + " of pid " +
                                        std::to_string(pid_) + ": " + std::strerror(e) +
                                        (e == EFAULT || e == EIO ? " (RAM block no longer mapped there?)" : ""));
}

size_t ProcessMemory::remote(uint64_t hva, void* dst, size_t len) {
  if (useProcMem_) {
    size_t done = 0;
    while (done < len) {
      ssize_t n = pread(memFd_, static_cast<uint8_t*>(dst) + done, len - done, static_cast<off_t>(hva + done));
      if (n <= 0) {
        if (n == 0) errno = ESRCH;  // the mm is gone: the process exited
        return done;
      }
      done += static_cast<size_t>(n);
    }
    return done;
  }
  struct iovec local = {dst, len};
  struct iovec rem = {reinterpret_cast<void*>(hva), len};
  ssize_t n = process_vm_readv(pid_, &local, 1, &rem, 1, 0);
  if (n < 0 && autoFallback_ && (errno == EPERM || errno == ENOSYS)) {
    useProcMem_ = true;  // e.g. a seccomp filter or LSM refuses the syscall but allows /proc/PID/mem
    return remote(hva, dst, len);
  }
  if (n < 0) return 0;
  if (static_cast<size_t>(n) < len) errno = EFAULT;
  return static_cast<size_t>(n);
}

size_t ProcessMemory::read(uint64_t pa, void* dst, size_t len, Error* err) {
  size_t done = readByRange(pa, dst, len, err, [this](size_t idx, uint64_t at, uint8_t* out, size_t chunk, Error* e) {
    const ProcessRamBlock& b = blocks_[idx];
    uint64_t hva = b.hva + (at - b.physStart);
    size_t got = remote(hva, out, chunk);
    if (got < chunk) {
      int code = errno;
      if (e) *e = failure(at + got, hva + got, code);
    }
    return got;
  });
  if (done < len) return done;
  // process_vm_readv addresses the process by pid: if it exited, the bytes may come from a newer process that
  // reused the pid (/proc/PID/mem is tied to the original mm). An exit itself fails the read (ESRCH); the check
  // only has to catch reuse, which takes far longer than the throttle interval.
  if (!useProcMem_ && watch_->exitedThrottled()) {
    if (err) *err = failure(pa, 0, ESRCH);
    return 0;
  }
  return done;
}

size_t ProcessMemory::readMany(const uint64_t* addrs, size_t count, size_t itemSize, uint8_t* out, uint8_t* ok) {
  std::memset(out, 0, count * itemSize);
  std::memset(ok, 0, count);
  if (useProcMem_) return PhysicalMemory::readMany(addrs, count, itemSize, out, ok);
  struct iovec local[kMaxIov];
  struct iovec rem[kMaxIov];
  size_t index[kMaxIov];
  size_t i = 0;
  bool gone = false;
  while (i < count && !gone) {
    // Gather up to kMaxIov items that each lie inside one block; items crossing a block edge are read alone.
    size_t n = 0;
    for (; i < count && n < kMaxIov; i++) {
      long idx = findRange(addrs[i]);
      if (idx < 0) continue;  // hole: stays ok = 0
      const ProcessRamBlock& b = blocks_[static_cast<size_t>(idx)];
      if (addrs[i] - b.physStart + itemSize > b.length) {
        Error ignored;
        if (read(addrs[i], out + i * itemSize, itemSize, &ignored) == itemSize) ok[i] = 1;
        continue;
      }
      local[n] = {out + i * itemSize, itemSize};
      rem[n] = {reinterpret_cast<void*>(b.hva + (addrs[i] - b.physStart)), itemSize};
      index[n++] = i;
    }
    // One call per batch; after a partial transfer the kernel stops, so resume after the failing item.
    size_t k = 0;
    while (k < n) {
      ssize_t got = process_vm_readv(pid_, local + k, n - k, rem + k, n - k, 0);
      if (got < 0 && errno == ESRCH) {
        gone = true;
        break;
      }
      if (got < 0 && autoFallback_ && (errno == EPERM || errno == ENOSYS)) {
        useProcMem_ = true;
        return PhysicalMemory::readMany(addrs, count, itemSize, out, ok);
      }
      size_t full = got <= 0 ? 0 : static_cast<size_t>(got) / itemSize;
      for (size_t j = 0; j < full; j++) ok[index[k + j]] = 1;
      k += full;
      if (k < n) {
        std::memset(local[k].iov_base, 0, itemSize);  // the failing item stays zero, ok = 0
        k++;
      }
    }
  }
  if (gone || watch_->exitedThrottled()) {
    std::memset(out, 0, count * itemSize);
    std::memset(ok, 0, count);
    return 0;
  }
  size_t good = 0;
  for (size_t j = 0; j < count; j++) good += ok[j];
  return good;
}

bool ProcessMemory::residentRanges(uint64_t pa, uint64_t len, std::vector<PhysRange>* out, Error* err) {
  uint64_t limit = pa + len < pa ? ~0ull : pa + len;
  constexpr size_t kBatch = 4096;  // pagemap entries per pread (32 KiB)
  uint64_t entries[kBatch];
  for (const ProcessRamBlock& b : blocks_) {
    uint64_t from = std::max(pa, b.physStart);
    uint64_t to = std::min(limit, b.physStart + b.length);
    if (from >= to) continue;
    // Page-granular walk over the host pages backing [from, to).
    uint64_t firstPage = (b.hva + (from - b.physStart)) / kPage;
    uint64_t endPage = (b.hva + (to - b.physStart) + kPage - 1) / kPage;
    for (uint64_t page = firstPage; page < endPage;) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(kBatch, endPage - page));
      ssize_t got = pread(pagemapFd_, entries, want * 8, static_cast<off_t>(page * 8));
      if (got <= 0 || exited()) {
        if (err) *err = failure(from, page * kPage, got == 0 ? ESRCH : errno);
        return false;
      }
      size_t n = static_cast<size_t>(got) / 8;
      for (size_t j = 0; j < n; j++) {
        if ((entries[j] & (kPagemapPresent | kPagemapSwapped)) == 0) continue;
        uint64_t hostStart = (page + j) * kPage;
        // The first page may begin before the block when its host address is not page-aligned.
        uint64_t physStart = hostStart < b.hva ? b.physStart : b.physStart + (hostStart - b.hva);
        uint64_t physEnd = b.physStart + (hostStart + kPage - b.hva);
        appendClipped(physStart, physEnd, from, to - from, out);
      }
      page += n;
    }
  }
  return true;
}

}  // namespace

std::unique_ptr<PhysicalMemory> openProcessMemory(int pid, std::vector<ProcessRamBlock> blocks, ProcessAccess access,
                                                  Error* err) {
  std::sort(blocks.begin(), blocks.end(),
            [](const ProcessRamBlock& a, const ProcessRamBlock& b) { return a.physStart < b.physStart; });
  for (size_t i = 0; i < blocks.size(); i++) {
    const ProcessRamBlock& b = blocks[i];
    if (b.length == 0 || b.physStart + b.length < b.physStart || b.hva + b.length < b.hva) {
      *err = Error::make(Errc::kBadArgument, b.physStart, "RAM block at physical " + hex(b.physStart) +
                                                              " is empty or wraps the address space");
      return nullptr;
    }
    if (i > 0 && blocks[i - 1].physStart + blocks[i - 1].length > b.physStart) {
      *err = Error::make(Errc::kBadArgument, b.physStart, "RAM blocks overlap at physical " + hex(b.physStart));
      return nullptr;
    }
  }
  auto mem = std::make_unique<ProcessMemory>(pid, std::move(blocks), access == ProcessAccess::kProcMem);
  if (!mem->init(access, err)) return nullptr;
  return mem;
}

}  // namespace parasight
