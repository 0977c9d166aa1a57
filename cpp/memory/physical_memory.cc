#include "memory/physical_memory.h"

#include <algorithm>
#include <cstring>

namespace parasight {

size_t PhysicalMemory::readMany(const uint64_t* addrs, size_t count, size_t itemSize, uint8_t* out, uint8_t* ok) {
  size_t good = 0;
  for (size_t i = 0; i < count; i++) {
    Error err;
    uint8_t* dst = out + i * itemSize;
    if (read(addrs[i], dst, itemSize, &err) == itemSize) {
      ok[i] = 1;
      good++;
    } else {
      ok[i] = 0;
      std::memset(dst, 0, itemSize);
    }
  }
  return good;
}

bool PhysicalMemory::residentRanges(uint64_t pa, uint64_t len, std::vector<PhysRange>* out, Error* err) {
  (void)err;
  for (const PhysRange& r : ranges_) appendClipped(r.start, r.end(), pa, len, out);
  return true;
}

std::vector<PhysRange> PhysicalMemory::scanRanges() {
  std::vector<PhysRange> out;
  Error err;
  if (!residentRanges(0, ~0ull, &out, &err)) return ranges_;  // reads will then report why (e.g. SOURCE_GONE)
  return out;
}

void PhysicalMemory::appendClipped(uint64_t start, uint64_t end, uint64_t pa, uint64_t len,
                                   std::vector<PhysRange>* out) {
  uint64_t limit = pa + len < pa ? ~0ull : pa + len;
  uint64_t s = std::max(start, pa);
  uint64_t e = std::min(end, limit);
  if (s >= e) return;
  if (!out->empty() && out->back().end() == s) {
    out->back().length += e - s;
  } else {
    out->push_back({s, e - s});
  }
}

long PhysicalMemory::findRange(uint64_t pa) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), pa,
                             [](uint64_t a, const PhysRange& r) { return a < r.start; });
  if (it == ranges_.begin()) return -1;
  --it;
  return pa < it->end() ? static_cast<long>(it - ranges_.begin()) : -1;
}

Error PhysicalMemory::missing(uint64_t pa) const {
  if (pa >= end()) {
    return Error::make(Errc::kOutOfRange, pa, "physical address " + hex(pa) + " is past the end (" + hex(end()) + ") of " +
                                              origin());
  }
  return Error::make(Errc::kHole, pa, "physical address " + hex(pa) + " is in a hole of " + origin());
}

}  // namespace parasight
