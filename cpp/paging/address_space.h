// Guest virtual → guest physical translation: x86 32-bit, PAE, IA-32e 4-level and 5-level, one table-driven walker
// (the mode only changes constants), with a software TLB the caller invalidates (the guest is running).
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

struct AddressSpaceOptions {
  PagingMode mode = PagingMode::kIa32e;
  uint64_t dtb = 0;                 // CR3 (page-table root, physical)
  bool windowsTransition = false;   // decode transition PTEs as present-but-not-valid (Windows guests)
  size_t tlbEntries = 4096;         // power of two; 0 disables the TLB
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
  // Batch: pa[i] = physical address or ~0ull when untranslatable. Returns the count translated.
  size_t translateMany(const uint64_t* va, size_t count, uint64_t* pa);
  // Virtual read across pages; returns bytes read before the first failure (err says where).
  size_t read(uint64_t va, void* dst, size_t len, Error* err);
  // Convenience for walkers: little-endian scalar reads of guest virtual memory.
  bool readU32(uint64_t va, uint32_t* out, Error* err);
  bool readU64(uint64_t va, uint64_t* out, Error* err);
  // Pointer-sized read (4 bytes in x86/PAE modes, 8 in IA-32e), zero-extended.
  bool readPointer(uint64_t va, uint64_t* out, Error* err);

  void invalidate();            // drop every cached translation
  void invalidate(uint64_t va);  // drop the page holding va

  PagingMode mode() const { return options_.mode; }
  uint64_t dtb() const { return options_.dtb; }
  unsigned pointerSize() const { return options_.mode == PagingMode::kX86 || options_.mode == PagingMode::kPae ? 4 : 8; }
  PhysicalMemory& memory() const { return *memory_; }
  const std::shared_ptr<PhysicalMemory>& memoryPtr() const { return memory_; }

 private:
  struct TlbEntry;
  bool walk(uint64_t va, Translation* t, Error* err);

  std::shared_ptr<PhysicalMemory> memory_;
  AddressSpaceOptions options_;
  std::vector<TlbEntry> tlb_;
};

}  // namespace parasight
