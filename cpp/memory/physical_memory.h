// The memory-source seam. Everything above (paging, OS walkers, hashing) reads guest-physical memory through
// this interface only and never knows whether the bytes come from a file, a QEMU process or LibVMI.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "memory/error.h"

namespace parasight {

// One guest-physical range that the source can serve. Sorted by start, non-overlapping.
struct PhysRange {
  uint64_t start;
  uint64_t length;
  uint64_t end() const { return start + length; }
};

class PhysicalMemory {
 public:
  virtual ~PhysicalMemory() = default;
  PhysicalMemory(const PhysicalMemory&) = delete;
  PhysicalMemory& operator=(const PhysicalMemory&) = delete;

  // Short name of the source kind ("raw", "elf-core", "lime", "live-file", "qemu-process", "libvmi").
  virtual const char* kind() const = 0;
  // Where the bytes come from, for error messages: a path, "pid 1234", a VM name.
  virtual std::string origin() const = 0;

  const std::vector<PhysRange>& ranges() const { return ranges_; }
  // One past the highest backed physical address.
  uint64_t end() const { return ranges_.empty() ? 0 : ranges_.back().end(); }

  // Copies `len` bytes from guest-physical `pa`. Returns the number of bytes copied before the first failure;
  // on a short read `err` says why and where. Safe against concurrent truncation/exit of the backing object.
  virtual size_t read(uint64_t pa, void* dst, size_t len, Error* err) = 0;

  // A pointer valid for the source's lifetime when [pa, pa+len) lies in one stable mapping, else nullptr.
  // Live sources whose backing can shrink return nullptr: their bytes are only read through read().
  virtual const uint8_t* direct(uint64_t pa, size_t len) const {
    (void)pa;
    (void)len;
    return nullptr;
  }

  // One large sequential read for whole-memory scans. File-backed sources override it with pread(): a one-pass
  // scan then runs at read() speed instead of paying the first-touch cost of every page of a fresh mapping.
  virtual size_t readBulk(uint64_t pa, void* dst, size_t len, Error* err) { return read(pa, dst, len, err); }

  // Batched fixed-size reads (the primitive for walkers): reads `count` items of `itemSize` bytes at addrs[i]
  // into out + i * itemSize; ok[i] = 1 on success, 0 on failure (the item's bytes are zeroed).
  // Sources with a per-call cost (process_vm_readv) override this to batch syscalls.
  virtual size_t readMany(const uint64_t* addrs, size_t count, size_t itemSize, uint8_t* out, uint8_t* ok);

  // Appends to `out` the guest-physical ranges inside [pa, pa + len) whose bytes exist in host memory or swap right
  // now. Reading anything else of a live source makes the host allocate it (it reads as zeros): whole-RAM scans
  // must read only these. Default: every backed range (a static image allocates nothing when read).
  virtual bool residentRanges(uint64_t pa, uint64_t len, std::vector<PhysRange>* out, Error* err);

  // The ranges a whole-memory scan should read: the resident ranges of everything, or every backed range when the
  // source cannot tell. A scan over ranges() instead makes a live guest's host commit all of its RAM.
  std::vector<PhysRange> scanRanges();

  // Index of the range holding pa, or -1.
  long findRange(uint64_t pa) const;
  // Error describing why pa is unreadable (hole vs out of range).
  Error missing(uint64_t pa) const;

 protected:
  PhysicalMemory() = default;

  // The read loop every range-backed source shares: splits [pa, pa+len) at range boundaries and hands each piece
  // to `copy(rangeIndex, at, dst, chunk, err)`, which returns the bytes it copied (fewer = failure, err filled).
  // A hole ends the read with missing(at). Returns the bytes copied before the first failure.
  template <typename CopyChunk>
  size_t readByRange(uint64_t pa, void* dst, size_t len, Error* err, CopyChunk copy) {
    auto* out = static_cast<uint8_t*>(dst);
    size_t done = 0;
    while (done < len) {
      uint64_t at = pa + done;
      long idx = findRange(at);
      if (idx < 0) {
        if (err) *err = missing(at);
        return done;
      }
      const PhysRange& r = ranges_[static_cast<size_t>(idx)];
      size_t chunk = static_cast<size_t>(len - done < r.end() - at ? len - done : r.end() - at);
      size_t got = copy(static_cast<size_t>(idx), at, out + done, chunk, err);
      done += got;
      if (got < chunk) return done;
    }
    return done;
  }

  std::vector<PhysRange> ranges_;
  // Appends [start, end) ∩ [pa, pa + len) when non-empty, merging with the previous range when adjacent.
  static void appendClipped(uint64_t start, uint64_t end, uint64_t pa, uint64_t len, std::vector<PhysRange>* out);
};

}  // namespace parasight
