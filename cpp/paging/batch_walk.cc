// Level-synchronous walks for batches of TLB misses (the memflow idea: one batch per level). Walking one address
// after another serialises every table read behind the previous one; reading level N of sixteen addresses, then
// level N-1, keeps many cache misses in flight at once.
#include "paging/address_space.h"
#include "paging/paging_modes.h"

#include <cstring>

namespace parasight {

size_t AddressSpace::resolveMisses(const uint64_t* va, const uint32_t* idx, size_t n, uint64_t* pa,
                                   uint8_t* status) {
  const paging::ModeSpec& m = paging::modeSpec(options_.mode);
  const bool wide = m.entrySize == 8;
  const uint64_t reserved = 0x000ffffffffff000ull & ~((1ull << options_.maxPhysicalBits) - 1);
  uint64_t table[kWalkGroup];
  uint64_t entry[kWalkGroup];
  bool active[kWalkGroup];
  bool writable[kWalkGroup], user[kWalkGroup], nx[kWalkGroup];
  for (size_t j = 0; j < n; j++) {
    const uint64_t v = va[idx[j]];
    // Only canonical addresses take the fast path; the rest get walk()'s exact answer below.
    bool canonical = m.signExtended
                         ? static_cast<uint64_t>(static_cast<int64_t>(v << (64u - m.vaBits)) >> (64u - m.vaBits)) == v
                         : (v >> m.vaBits) == 0;
    active[j] = canonical;
    table[j] = options_.dtb & m.rootMask;
    writable[j] = user[j] = true;
    nx[j] = false;
  }
  for (int level = m.topLevel; level >= 1; --level) {
    const paging::LevelSpec& spec = m.level[level];
    const uint64_t indexMask = (1ull << spec.bits) - 1;
    for (size_t j = 0; j < n; j++) {
      if (!active[j]) continue;
      uint64_t ea = table[j] + ((va[idx[j]] >> spec.shift) & indexMask) * m.entrySize;
      const uint8_t* host = hostFor(ea, m.entrySize);
      if (host == nullptr) {
        active[j] = false;
        continue;
      }
      uint64_t e;
      if (wide) {
        std::memcpy(&e, host, 8);
      } else {
        uint32_t e32;
        std::memcpy(&e32, host, 4);
        e = e32;
      }
      entry[j] = e;
    }
    for (size_t j = 0; j < n; j++) {
      if (!active[j]) continue;
      const uint64_t e = entry[j];
      // Not present, a large page, reserved bits: leave it to walk().
      if (!(e & paging::kPresent) || (level > 1 && (e & paging::kPageSize)) || (wide && (e & reserved) != 0)) {
        active[j] = false;
        continue;
      }
      if (spec.hasPermissions) {
        writable[j] = writable[j] && (e & paging::kWritable);
        user[j] = user[j] && (e & paging::kUser);
        if (wide) nx[j] = nx[j] || (e & paging::kNoExecute);
      }
      table[j] = e & m.addrMask;
    }
  }
  size_t good = 0;
  for (size_t j = 0; j < n; j++) {
    const uint32_t i = idx[j];
    const uint64_t v = va[i];
    TranslateStatus s;
    const TlbEntry* e;
    if (active[j]) {
      Translation t;
      t.pa = table[j] | (v & 0xfff);
      t.pageSize = 0x1000;
      t.writable = writable[j];
      t.user = user[j];
      t.noExecute = nx[j];
      e = insert(v >> 12, t);
      s = TranslateStatus::kOk;
    } else {
      e = lookup(v, &s, nullptr);
    }
    pa[i] = e != nullptr ? (e->paPage | (v & 0xfff)) : kUntranslated;
    if (status != nullptr) status[i] = static_cast<uint8_t>(s);
    if (e != nullptr) good++;
  }
  return good;
}

}  // namespace parasight
