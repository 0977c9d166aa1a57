#include "windows/scan.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace parasight::windows {

namespace {

constexpr size_t kChunk = 256u << 10;  // stays in L2: the scan reads the bytes while the copy left them there

// Returns false when the callback stopped the scan.
bool scanBlock(const uint8_t* data, size_t len, uint64_t pa, uint32_t mask, uint32_t value,
               const std::function<bool(uint64_t)>& onHit, ScanStats* stats) {
  size_t i = 0;
  // 64 bytes at a time with 4-lane vector compares (GCC/Clang vector extensions: SSE2 on x86-64, NEON on arm64);
  // the common no-hit case is branch-free, and a flagged block is rechecked dword by dword.
  typedef uint32_t V4 __attribute__((vector_size(16)));
  const V4 vm = {mask, mask, mask, mask}, vv = {value, value, value, value};
  for (; i + 64 <= len; i += 64) {
    V4 a, b, c, d;
    std::memcpy(&a, data + i, 16);
    std::memcpy(&b, data + i + 16, 16);
    std::memcpy(&c, data + i + 32, 16);
    std::memcpy(&d, data + i + 48, 16);
    V4 hit = ((a & vm) == vv) | ((b & vm) == vv) | ((c & vm) == vv) | ((d & vm) == vv);
    if (!(hit[0] | hit[1] | hit[2] | hit[3])) continue;
    for (int k = 0; k < 16; k++) {
      uint32_t w;
      std::memcpy(&w, data + i + 4 * k, 4);
      if ((w & mask) != value) continue;
      stats->hits++;
      if (!onHit(pa + i + 4 * k)) return false;
    }
  }
  for (; i + 4 <= len; i += 4) {
    uint32_t d;
    std::memcpy(&d, data + i, 4);
    if ((d & mask) != value) continue;
    stats->hits++;
    if (!onHit(pa + i)) return false;
  }
  return true;
}

}  // namespace

// Reads with readBulk() into one reused buffer rather than through direct(): a fresh file mapping costs a page
// fault per 4 KiB on first touch, several times the cost of read() for a one-pass scan. Only resident ranges are
// read, so scanning a live guest's RAM never makes the host allocate its untouched memory.
ScanStats scanDwords(PhysicalMemory& mem, uint32_t mask, uint32_t value, const std::function<bool(uint64_t)>& onHit,
                     uint64_t start, uint64_t end) {
  ScanStats stats;
  std::vector<uint8_t> buffer(kChunk);
  for (const PhysRange& r : mem.ranges()) {
    uint64_t lo = std::max(r.start, start);
    uint64_t hi = std::min(r.end(), end);
    if (lo >= hi) continue;
    std::vector<PhysRange> resident;
    Error rerr;
    if (!mem.residentRanges(lo, hi - lo, &resident, &rerr)) resident = {{lo, hi - lo}};
    for (const PhysRange& part : resident) {
      for (uint64_t pos = (part.start + 3) & ~3ull; pos < part.end(); pos += kChunk) {
        size_t len = static_cast<size_t>(std::min<uint64_t>(kChunk, part.end() - pos));
        Error err;
        len = mem.readBulk(pos, buffer.data(), len, &err);  // a short read (source shrank) ends this range
        if (len == 0) break;
        stats.bytes += len;
        if (!scanBlock(buffer.data(), len & ~size_t{3}, pos, mask, value, onHit, &stats)) {
          stats.stopped = true;
          return stats;
        }
      }
    }
  }
  return stats;
}

}  // namespace parasight::windows
