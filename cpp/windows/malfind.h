// malfind: VADs that are executable and writable (private EXECUTE_READWRITE / EXECUTE_WRITECOPY, or mapped
// EXECUTE_READWRITE — image mappings are EXECUTE_WRITECOPY and are left out) and hold resident, non-zero content.
// Each finding carries the first bytes read, where they were read (virtual and physical), and the evidence seen:
// a PE header ("MZ" with "PE\0\0" at e_lfanew) at a page start, or a function prologue at the first content.
#pragma once
#include <cstdint>
#include <vector>

#include "paging/address_space.h"
#include "walk/problems.h"
#include "windows/vad.h"

namespace parasight::windows {

struct InjectedRegion {
  uint64_t vad = 0, start = 0, end = 0;
  uint32_t protection = 0;
  bool isPrivate = false;
  uint32_t residentPages = 0, contentPages = 0;  // translated pages; of those, not all zero
  uint64_t readAt = 0, physical = 0;             // first non-zero page (VA, PA)
  std::vector<uint8_t> head;                     // first 64 bytes there
  bool peHeader = false;
  uint64_t peAt = 0;  // VA of the first PE header found at a page start
  bool prologue = false;
};

std::vector<InjectedRegion> findInjected(AddressSpace& kernel, AddressSpace& process, const VadLayout& l,
                                         uint64_t eprocess, size_t maxPagesPerVad, Problems& problems);

}  // namespace parasight::windows
