#include "paging/address_space.h"

#include <cstring>
#include <string>

#include "memory/fault_guard.h"
#include "paging/paging_modes.h"
#include "paging/windows_pte.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "paging entries are read as little-endian host integers");

namespace parasight {

using paging::ModeSpec;
using paging::modeSpec;

namespace {

constexpr uint64_t kPageMask = 0xfff;
constexpr uint64_t kAddressBits52 = 0x000ffffffffff000ull;

const char* levelName(const ModeSpec& m, int level) {
  switch (level) {
    case 5: return "PML5E";
    case 4: return "PML4E";
    case 3: return "PDPTE";
    case 2: return "PDE";
    default: return m.topLevel == 1 ? "entry" : "PTE";
  }
}

// Constant-size loads (not a memcpy of a variable length, which compiles to a slow `rep movs`).
uint64_t loadEntry(const uint8_t* p, unsigned size) {
  if (size == 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

size_t floorPow2(size_t n) {
  size_t p = 1;
  while (p <= n / 2) p <<= 1;
  return p;
}

}  // namespace

AddressSpace::AddressSpace(std::shared_ptr<PhysicalMemory> memory, const AddressSpaceOptions& options)
    : memory_(std::move(memory)), options_(options) {
  if (options_.maxPhysicalBits < 32) options_.maxPhysicalBits = 32;
  if (options_.maxPhysicalBits > 52) options_.maxPhysicalBits = 52;
  if (options_.tlbEntries > (1u << 20)) options_.tlbEntries = 1u << 20;
  for (const PhysRange& r : memory_->ranges()) {
    if (const uint8_t* host = memory_->direct(r.start, static_cast<size_t>(r.length))) {
      direct_.push_back({r.start, r.end(), host});
    }
  }
  if (options_.tlbEntries > 0) {
    options_.tlbEntries = floorPow2(options_.tlbEntries);
    tlb_.resize(options_.tlbEntries);
    tlbMask_ = options_.tlbEntries - 1;
  }
}

AddressSpace::~AddressSpace() = default;

TranslateStatus AddressSpace::walk(uint64_t va, Translation* t, Error* err) {
  const ModeSpec& m = modeSpec(options_.mode);
  auto fail = [&](TranslateStatus status, Errc code, int level, uint64_t entry, uint64_t entryAddress,
                  const char* why) {
    if (err != nullptr) {
      err->code = code;
      err->address = va;
      err->level = level;
      err->entry = entry;
      err->entryAddress = entryAddress;
      err->detail = std::string(m.name) + " translation of virtual " + hex(va) + " failed";
      if (level > 0) {
        err->detail += std::string(" at the level-") + std::to_string(level) + " " + levelName(m, level) + " " +
                       hex(entry) + " read from physical " + hex(entryAddress);
      }
      err->detail += std::string(": ") + why + " (dtb " + hex(options_.dtb) + ")";
    }
    return status;
  };

  if (m.signExtended) {
    unsigned unused = 64u - m.vaBits;
    if (static_cast<uint64_t>(static_cast<int64_t>(va << unused) >> unused) != va) {
      return fail(TranslateStatus::kNonCanonical, Errc::kOutOfRange, -1, 0, 0, "non-canonical address");
    }
  } else if ((va >> m.vaBits) != 0) {
    return fail(TranslateStatus::kNonCanonical, Errc::kOutOfRange, -1, 0, 0, "address above 4 GiB in a 32-bit mode");
  }

  const uint64_t reservedAddressBits = kAddressBits52 & ~((1ull << options_.maxPhysicalBits) - 1);
  const bool wide = m.entrySize == 8;
  uint64_t table = options_.dtb & m.rootMask;
  bool writable = true, user = true, nx = false, transition = false;

  // At most five iterations whatever the entries say: a table that points at itself cannot make this loop.
  for (int level = m.topLevel; level >= 1; --level) {
    const paging::LevelSpec& spec = m.level[level];
    uint64_t index = (va >> spec.shift) & ((1ull << spec.bits) - 1);
    uint64_t entryAddress = table + index * m.entrySize;
    uint64_t e = 0;
    if (const uint8_t* host = hostFor(entryAddress, m.entrySize)) {
      e = loadEntry(host, m.entrySize);
    } else {
      Error readErr;
      if (memory_->read(entryAddress, &e, m.entrySize, &readErr) != m.entrySize) {
        Errc code = readErr.code == Errc::kOk ? Errc::kOutOfRange : readErr.code;
        std::string why = "the table it lives in is unreadable";
        if (err != nullptr && !readErr.detail.empty()) why += " (" + readErr.detail + ")";
        return fail(TranslateStatus::kTableUnreadable, code, level, 0, entryAddress, why.c_str());
      }
    }

    bool thisTransition = false;
    if (!(e & paging::kPresent)) {
      TranslateStatus why = TranslateStatus::kNotPresent;
      // Windows pages out page tables as well as pages, so a PDE can be in transition too; never a PDPTE or above.
      if (options_.windowsTransition && level <= 2) why = paging::classifyWindowsEntry(e, wide);
      if (why != TranslateStatus::kTransition) {
        return fail(why, Errc::kPageNotPresent, level, e, entryAddress, paging::translateStatusText(why));
      }
      thisTransition = true;
      transition = true;
    }
    if (wide && (e & reservedAddressBits) != 0) {
      return fail(TranslateStatus::kReserved, Errc::kFormat, level, e, entryAddress,
                  ("address bits at or above MAXPHYADDR (" + std::to_string(options_.maxPhysicalBits) + ") are set")
                      .c_str());
    }
    if (spec.hasPermissions) {
      writable = writable && (e & paging::kWritable);
      user = user && (e & paging::kUser);
      // Transition entries keep Write/Owner in place but not NX (bit 63 holds other software fields there).
      if (wide && !thisTransition) nx = nx || (e & paging::kNoExecute);
    }

    uint64_t pageSize = 0, frame = 0;
    if (level > 1 && (e & paging::kPageSize) && !thisTransition) {  // in a transition entry bit 7 is Protection
      if (!spec.largeAllowed) {
        return fail(TranslateStatus::kReserved, Errc::kFormat, level, e, entryAddress,
                    "page-size bit set where this mode allows no large page");
      }
      pageSize = 1ull << spec.shift;
      if (wide) {
        // Bit 12 is PAT; bits 13 .. shift-1 are reserved in a large-page entry.
        if ((e & (pageSize - 1) & ~0x1fffull) != 0) {
          return fail(TranslateStatus::kReserved, Errc::kFormat, level, e, entryAddress,
                      "reserved bits set in a large-page entry");
        }
        frame = e & m.addrMask & ~(pageSize - 1);
      } else {
        // 4 MiB page; PSE-36 puts physical bits 32..39 in entry bits 13..20.
        frame = (e & 0xffc00000ull) | (((e >> 13) & 0xffull) << 32);
        if ((frame >> options_.maxPhysicalBits) != 0 || (e & (1ull << 21)) != 0) {
          return fail(TranslateStatus::kReserved, Errc::kFormat, level, e, entryAddress,
                      "reserved bits set in a 4 MiB page entry");
        }
      }
    } else if (level == 1) {
      pageSize = 0x1000;
      frame = e & m.addrMask;
    }
    if (pageSize != 0) {
      t->pa = frame | (va & (pageSize - 1));
      t->pageSize = pageSize;
      t->writable = writable;
      t->user = user;
      t->noExecute = nx;
      t->transition = transition;
      return transition ? TranslateStatus::kTransition : TranslateStatus::kOk;
    }
    table = e & m.addrMask;
  }
  return fail(TranslateStatus::kReserved, Errc::kFormat, -1, 0, 0, "walk ended without a leaf");  // unreachable
}

const AddressSpace::TlbEntry* AddressSpace::lookup(uint64_t va, TranslateStatus* status, Error* err) {
  uint64_t vpn = va >> 12;
  if (!tlb_.empty()) {
    const TlbEntry* slot = &tlb_[vpn & tlbMask_];
    if (slot->tag == vpn) {
      *status = (slot->flags & kFlagTransition) ? TranslateStatus::kTransition : TranslateStatus::kOk;
      return slot;
    }
  }
  Translation t;
  *status = walk(va, &t, err);
  if (*status != TranslateStatus::kOk && *status != TranslateStatus::kTransition) return nullptr;
  return insert(vpn, t);
}

AddressSpace::TlbEntry* AddressSpace::insert(uint64_t vpn, const Translation& t) {
  TlbEntry* slot = tlb_.empty() ? &scratch_ : &tlb_[vpn & tlbMask_];
  if (slot->tag != ~0ull && slot->pageSize > 0x1000 && slot != &scratch_) largeCached_--;
  slot->tag = vpn;
  slot->paPage = t.pa & ~kPageMask;
  slot->host = hostFor(slot->paPage, 0x1000);
  slot->pageSize = t.pageSize;
  slot->flags = static_cast<uint8_t>((t.writable ? kFlagWritable : 0) | (t.user ? kFlagUser : 0) |
                                     (t.noExecute ? kFlagNx : 0) | (t.transition ? kFlagTransition : 0));
  if (t.pageSize > 0x1000 && slot != &scratch_) largeCached_++;
  return slot;
}

TranslateStatus AddressSpace::translateStatus(uint64_t va, Translation* t, Error* err) {
  TranslateStatus status;
  const TlbEntry* e = lookup(va, &status, err);
  if (e == nullptr) return status;
  t->pa = e->paPage | (va & kPageMask);
  t->pageSize = e->pageSize;
  t->writable = e->flags & kFlagWritable;
  t->user = e->flags & kFlagUser;
  t->noExecute = e->flags & kFlagNx;
  t->transition = e->flags & kFlagTransition;
  return status;
}

bool AddressSpace::translate(uint64_t va, Translation* t, Error* err) {
  TranslateStatus s = translateStatus(va, t, err);
  return s == TranslateStatus::kOk || s == TranslateStatus::kTransition;
}

size_t AddressSpace::translateMany(const uint64_t* va, size_t count, uint64_t* pa, uint8_t* status) {
  size_t good = 0;
  // Locals, not members: `pa` is a uint64_t* that could alias TLB fields as far as the compiler knows, which would
  // force a reload of the table pointer and mask after every store.
  const TlbEntry* tlb = tlb_.empty() ? nullptr : tlb_.data();
  const uint64_t mask = tlbMask_;
  // Misses wait here and are walked together. A miss on a page already waiting is deferred: once its group is
  // walked, it hits the TLB instead of walking the same tables again.
  uint32_t group[kWalkGroup] = {};
  size_t inGroup = 0;
  uint32_t deferred[64] = {};
  size_t nDeferred = 0;
  auto drain = [&] {
    good += resolveMisses(va, group, inGroup, pa, status);
    inGroup = 0;
    for (size_t k = 0; k < nDeferred; k++) {
      uint32_t i = deferred[k];
      TranslateStatus s;
      const TlbEntry* e = lookup(va[i], &s, nullptr);
      pa[i] = e != nullptr ? (e->paPage | (va[i] & kPageMask)) : kUntranslated;
      if (status != nullptr) status[i] = static_cast<uint8_t>(s);
      if (e != nullptr) good++;
    }
    nDeferred = 0;
  };
  for (size_t i = 0; i < count; i++) {
    const uint64_t v = va[i];
    const uint64_t vpn = v >> 12;
    if (tlb != nullptr) {  // hit path inline: one load and compare per address
      const TlbEntry& e = tlb[vpn & mask];
      if (e.tag == vpn) {
        pa[i] = e.paPage | (v & kPageMask);
        if (status != nullptr) {
          status[i] = static_cast<uint8_t>((e.flags & kFlagTransition) ? TranslateStatus::kTransition : TranslateStatus::kOk);
        }
        good++;
        continue;
      }
      bool waiting = false;
      for (size_t k = 0; k < inGroup && !waiting; k++) waiting = (va[group[k]] >> 12) == vpn;
      if (waiting) {
        deferred[nDeferred++] = static_cast<uint32_t>(i);
        if (nDeferred == sizeof deferred / sizeof deferred[0]) drain();
        continue;
      }
    }
    group[inGroup++] = static_cast<uint32_t>(i);
    if (inGroup == kWalkGroup) drain();
  }
  drain();
  return good;
}

size_t AddressSpace::read(uint64_t va, void* dst, size_t len, Error* err) {
  auto* out = static_cast<uint8_t*>(dst);
  // Pages that follow each other in the host mapping too (contiguous frames, large pages) are copied with one
  // memcpy: per-page copies would cost a guard setup and a short copy each.
  const uint8_t* span = nullptr;
  size_t spanLen = 0, spanAt = 0;
  auto flush = [&]() {
    if (spanLen == 0) return true;
    if (!guardedCopy(out + spanAt, span, spanLen)) {
      if (err != nullptr) {
        *err = Error::make(Errc::kSourceGone, va + spanAt,
                           "virtual " + hex(va + spanAt) + ": " + memory_->origin() + " vanished or shrank while mapped");
      }
      return false;
    }
    spanLen = 0;
    return true;
  };
  size_t done = 0;
  while (done < len) {
    uint64_t at = va + done;
    TranslateStatus status;
    const TlbEntry* e = lookup(at, &status, err);
    if (e == nullptr) return flush() ? done : spanAt;
    size_t offset = static_cast<size_t>(at & kPageMask);
    size_t chunk = len - done < 0x1000 - offset ? len - done : 0x1000 - offset;
    if (e->host != nullptr) {
      const uint8_t* p = e->host + offset;
      if (spanLen != 0 && span + spanLen == p) {
        spanLen += chunk;
      } else {
        if (!flush()) return spanAt;
        span = p;
        spanLen = chunk;
        spanAt = done;
      }
      done += chunk;
      continue;
    }
    if (!flush()) return spanAt;
    uint64_t pa = e->paPage | offset;
    Error readErr;
    size_t got = memory_->read(pa, out + done, chunk, &readErr);
    done += got;
    if (got < chunk) {
      if (err != nullptr) {
        *err = readErr;
        err->address = va + done;
        err->detail = "virtual " + hex(va + done) + " → physical " + hex(pa + got) + ": " + readErr.detail;
      }
      return done;
    }
  }
  return flush() ? done : spanAt;
}

bool AddressSpace::readU32(uint64_t va, uint32_t* out, Error* err) {
  return read(va, out, sizeof *out, err) == sizeof *out;
}

bool AddressSpace::readU64(uint64_t va, uint64_t* out, Error* err) {
  return read(va, out, sizeof *out, err) == sizeof *out;
}

bool AddressSpace::readPointer(uint64_t va, uint64_t* out, Error* err) {
  if (pointerSize() == 8) return readU64(va, out, err);
  uint32_t v = 0;
  if (!readU32(va, &v, err)) return false;
  *out = v;
  return true;
}

const uint8_t* AddressSpace::directPage(uint64_t va, size_t* avail) {
  TranslateStatus status;
  const TlbEntry* e = lookup(va, &status, nullptr);
  if (e == nullptr || e->host == nullptr) return nullptr;
  size_t offset = static_cast<size_t>(va & kPageMask);
  if (avail != nullptr) *avail = 0x1000 - offset;
  return e->host + offset;
}

void AddressSpace::invalidate() {
  for (TlbEntry& e : tlb_) e.tag = ~0ull;
  largeCached_ = 0;
}

void AddressSpace::invalidate(uint64_t va) {
  if (tlb_.empty()) return;
  uint64_t vpn = va >> 12;
  auto drop = [this](TlbEntry& e) {
    if (e.pageSize > 0x1000) largeCached_--;
    e.tag = ~0ull;
  };
  TlbEntry& slot = tlb_[vpn & tlbMask_];
  if (slot.tag == vpn) drop(slot);
  // A large page is cached one 4 KiB slot at a time: like INVLPG, drop every slot of the large page holding va.
  if (largeCached_ == 0) return;
  for (TlbEntry& e : tlb_) {
    if (e.tag == ~0ull || e.pageSize <= 0x1000) continue;
    uint64_t base = (e.tag << 12) & ~(e.pageSize - 1);
    if ((va & ~(e.pageSize - 1)) == base) drop(e);
  }
}

namespace paging {

const char* translateStatusText(TranslateStatus status) {
  switch (status) {
    case TranslateStatus::kOk: return "translated";
    case TranslateStatus::kTransition: return "transition entry (page still in RAM)";
    case TranslateStatus::kNotPresent: return "entry not present";
    case TranslateStatus::kPrototype: return "prototype PTE (contents belong to a section, not a frame)";
    case TranslateStatus::kPageFile: return "page-file PTE (paged out to disk)";
    case TranslateStatus::kTableUnreadable: return "paging table outside the memory source";
    case TranslateStatus::kReserved: return "reserved bits set";
    case TranslateStatus::kNonCanonical: return "non-canonical address";
  }
  return "unknown";
}

}  // namespace paging
}  // namespace parasight
