// Guest virtual → guest physical translation: x86 32-bit, PAE, IA-32e 4-level and 5-level, one table-driven walker
// (the mode only changes constants), with a software TLB the caller invalidates (the guest is running).
//
// Not thread-safe: one AddressSpace belongs to one thread (the TLB is plain memory). Off-thread work (hashing a
// virtual range) builds its own AddressSpace over the same shared memory source.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "memory/error.h"
#include "memory/physical_memory.h"

namespace parasight {

enum class PagingMode : uint8_t { kX86 = 0, kPae = 1, kIa32e = 2, kLa57 = 3 };

struct Translation {
  uint64_t pa = 0;
  uint64_t pageSize = 0;  // 4 KiB, 2 MiB, 4 MiB, 1 GiB
  bool writable = false;
  bool user = false;
  bool noExecute = false;
  // Windows transition PTE (valid clear, bit 11 set, bit 10 clear): page still in RAM, not in the working set.
  bool transition = false;
};

// Per-address outcome of a translation (batch calls report one per address; the TS API mirrors these numbers).
enum class TranslateStatus : uint8_t {
  kOk = 0,
  kTransition = 1,      // translated through a Windows transition PTE (windowsTransition on)
  kNotPresent = 2,      // present bit clear (demand-zero, unmapped, or not decoded as Windows)
  kPrototype = 3,       // Windows prototype PTE (bit 10): contents live in a section, not at a PFN
  kPageFile = 4,        // Windows software PTE with a page-file offset: paged out to disk
  kTableUnreadable = 5, // a paging table lies outside the source (hole / past the end / source gone)
  kReserved = 6,        // reserved bits set (address bits above MAXPHYADDR, bad large-page bits, PS at top level)
  kNonCanonical = 7,    // virtual address outside the mode's address space
};

struct AddressSpaceOptions {
  PagingMode mode = PagingMode::kIa32e;
  uint64_t dtb = 0;                 // CR3 (page-table root, physical)
  bool windowsTransition = false;   // decode transition PTEs as present-but-not-valid (Windows guests)
  size_t tlbEntries = 4096;         // power of two; 0 disables the TLB
  // MAXPHYADDR: entry address bits at or above it are reserved (an error). 52 = the architectural maximum.
  unsigned maxPhysicalBits = 52;
};

class AddressSpace {
 public:
  AddressSpace(std::shared_ptr<PhysicalMemory> memory, const AddressSpaceOptions& options);
  ~AddressSpace();
  AddressSpace(const AddressSpace&) = delete;
  AddressSpace& operator=(const AddressSpace&) = delete;

  // Translates one address. On failure `err` names the level (5..1), the entry and where it was read.
  // A transition PTE with windowsTransition set translates (t->transition = true) rather than failing.
  bool translate(uint64_t va, Translation* t, Error* err);
  // Same, returning the status code (kOk / kTransition on success); err may be null.
  TranslateStatus translateStatus(uint64_t va, Translation* t, Error* err);
  // Batch: pa[i] = physical address or kUntranslated. status (optional) gets one TranslateStatus per address.
  // Returns the count translated.
  static constexpr uint64_t kUntranslated = ~0ull;
  size_t translateMany(const uint64_t* va, size_t count, uint64_t* pa, uint8_t* status = nullptr);
  // Virtual read across pages; returns bytes read before the first failure (err says where).
  size_t read(uint64_t va, void* dst, size_t len, Error* err);
  // Convenience for walkers: little-endian scalar reads of guest virtual memory.
  bool readU32(uint64_t va, uint32_t* out, Error* err);
  bool readU64(uint64_t va, uint64_t* out, Error* err);
  // Pointer-sized read (4 bytes in x86/PAE modes, 8 in IA-32e), zero-extended.
  bool readPointer(uint64_t va, uint64_t* out, Error* err);
  // Stable host pointer to the bytes of the page holding va (from va to the end of its 4 KiB page), or nullptr
  // when the page does not translate or the source has no stable mapping there. `avail` = bytes to page end.
  const uint8_t* directPage(uint64_t va, size_t* avail);

  void invalidate();            // drop every cached translation
  void invalidate(uint64_t va);  // drop the page holding va (the whole large page when va is in one)

  PagingMode mode() const { return options_.mode; }
  uint64_t dtb() const { return options_.dtb; }
  const AddressSpaceOptions& options() const { return options_; }
  unsigned pointerSize() const { return options_.mode == PagingMode::kX86 || options_.mode == PagingMode::kPae ? 4 : 8; }
  PhysicalMemory& memory() const { return *memory_; }
  const std::shared_ptr<PhysicalMemory>& memoryPtr() const { return memory_; }

 private:
  struct TlbEntry {
    uint64_t tag = ~0ull;       // va >> 12, ~0 = empty
    uint64_t paPage = 0;        // physical address of this 4 KiB page
    const uint8_t* host = nullptr;  // direct() pointer to the 4 KiB page, when the source has one
    uint64_t pageSize = 0;
    uint8_t flags = 0;          // kFlag* below
  };
  static constexpr uint8_t kFlagWritable = 1, kFlagUser = 2, kFlagNx = 4, kFlagTransition = 8;

  // Host pointers of the source's stable ranges, taken once: the walker reads entries through them without a
  // virtual call and a range search per level.
  struct DirectRange {
    uint64_t start;
    uint64_t end;
    const uint8_t* host;
  };
  const uint8_t* hostFor(uint64_t pa, size_t len) const {
    for (const DirectRange& d : direct_) {
      if (pa >= d.start && pa < d.end) return len <= d.end - pa ? d.host + (pa - d.start) : nullptr;
    }
    return nullptr;
  }

  TranslateStatus walk(uint64_t va, Translation* t, Error* err);
  TlbEntry* insert(uint64_t vpn, const Translation& t);
  // Batch misses (batch_walk.cc): walks up to kWalkGroup addresses level by level so that their table reads overlap
  // in the CPU; anything but a plain present 4 KiB mapping goes through walk() for the exact error.
  static constexpr size_t kWalkGroup = 16;
  size_t resolveMisses(const uint64_t* va, const uint32_t* idx, size_t n, uint64_t* pa, uint8_t* status);
  const TlbEntry* lookup(uint64_t va, TranslateStatus* status, Error* err);

  std::shared_ptr<PhysicalMemory> memory_;
  AddressSpaceOptions options_;
  std::vector<TlbEntry> tlb_;
  std::vector<DirectRange> direct_;
  uint64_t tlbMask_ = 0;
  size_t largeCached_ = 0;  // large-page entries in the TLB: invalidate(va) must then scan
  TlbEntry scratch_;         // lookup() result when the TLB is disabled
};

}  // namespace parasight
