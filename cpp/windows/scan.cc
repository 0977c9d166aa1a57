#include "windows/scan.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace parasight::windows {

namespace {

constexpr size_t kChunk = 4u << 20;

// Returns false when the callback stopped the scan.
bool scanBlock(const uint8_t* data, size_t len, uint64_t pa, uint32_t mask, uint32_t value,
               const std::function<bool(uint64_t)>& onHit, ScanStats* stats) {
  size_t i = 0;
  // 64 bytes at a time: a data-independent OR of 16 comparisons, so the common no-hit case has no branches.
  for (; i + 64 <= len; i += 64) {
    uint32_t w[16];
    std::memcpy(w, data + i, 64);
    unsigned any = 0;
    for (int k = 0; k < 16; k++) any |= static_cast<unsigned>((w[k] & mask) == value);
    if (!any) continue;
    for (int k = 0; k < 16; k++) {
      if ((w[k] & mask) != value) continue;
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

ScanStats scanDwords(PhysicalMemory& mem, uint32_t mask, uint32_t value, const std::function<bool(uint64_t)>& onHit,
                     uint64_t start, uint64_t end) {
  ScanStats stats;
  std::vector<uint8_t> buffer;
  for (const PhysRange& r : mem.ranges()) {
    uint64_t lo = std::max(r.start, start);
    uint64_t hi = std::min(r.end(), end);
    lo = (lo + 3) & ~3ull;
    for (uint64_t pos = lo; pos < hi; pos += kChunk) {
      size_t len = static_cast<size_t>(std::min<uint64_t>(kChunk, hi - pos));
      const uint8_t* data = mem.direct(pos, len);
      if (data == nullptr) {
        if (buffer.empty()) buffer.resize(kChunk);
        Error err;
        len = mem.read(pos, buffer.data(), len, &err);  // a short read (source shrank) ends this range
        data = buffer.data();
        if (len == 0) break;
      }
      stats.bytes += len;
      if (!scanBlock(data, len & ~size_t{3}, pos, mask, value, onHit, &stats)) {
        stats.stopped = true;
        return stats;
      }
    }
  }
  return stats;
}

}  // namespace parasight::windows
