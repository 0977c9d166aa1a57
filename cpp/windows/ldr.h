// A process's user-mode loader lists (PEB → _PEB_LDR_DATA → InLoadOrder / InMemoryOrder / InInitializationOrder
// module lists of _LDR_DATA_TABLE_ENTRY), read in the process's own address space. Each list is walked on its
// own, bounded (count, cycle, kernel or NULL pointers stop it), so a DLL unlinked from one list shows up as a
// difference between them (ldrmodules).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "paging/address_space.h"
#include "walk/problems.h"

namespace parasight::windows {

struct LdrLayout {
  uint32_t pebLdr = 0xc;
  std::array<uint32_t, 3> ldrLists{{0xc, 0x14, 0x1c}};     // list heads inside _PEB_LDR_DATA
  std::array<uint32_t, 3> entryLinks{{0x0, 0x8, 0x10}};   // the matching LIST_ENTRY inside each entry
  uint32_t entrySize = 0x50, dllBase = 0x18, sizeOfImage = 0x20, fullDllName = 0x24, baseDllName = 0x2c;
};

struct LdrEntry {
  uint64_t entry = 0, base = 0;
  uint32_t size = 0;
  std::u16string name, path;
};

// lists[0] = load order, [1] = memory order, [2] = initialization order.
struct LoaderLists {
  bool found = false;  // PEB and Ldr readable
  uint64_t ldr = 0;
  std::array<std::vector<LdrEntry>, 3> lists;
};

// A process address space over the kernel's memory, for the given page-table root.
std::unique_ptr<AddressSpace> processSpace(AddressSpace& kernel, uint64_t dtb);

LoaderLists walkLoaderLists(AddressSpace& process, const LdrLayout& l, uint64_t peb, size_t max, Problems& problems);

}  // namespace parasight::windows
