// Windows' reading of a paging entry whose present bit is clear (facts: Windows XP _MMPTE_* layouts; the same
// bit positions hold on PAE and x64). Kept out of the walker: the walker asks, this file answers.
#pragma once
#include <cstdint>

#include "paging/address_space.h"

namespace parasight::paging {

constexpr uint64_t kWinPrototype = 1ull << 10;
constexpr uint64_t kWinTransition = 1ull << 11;

// kTransition: the frame is still in RAM (standby/modified list), PFN at the usual place; kPrototype: the entry
// points into a section's prototype PTEs; kPageFile: a software PTE with a page-file offset; kNotPresent:
// zero / demand-zero / anything else.
inline TranslateStatus classifyWindowsEntry(uint64_t entry, bool pae) {
  if (entry == 0) return TranslateStatus::kNotPresent;
  if (entry & kWinPrototype) return TranslateStatus::kPrototype;
  if (entry & kWinTransition) return TranslateStatus::kTransition;
  // _MMPTE_SOFTWARE: PageFileHigh is bits 12..31 (x86) or 32..63 (PAE, x64); zero means demand-zero.
  uint64_t pageFileHigh = pae ? (entry >> 32) : (entry >> 12);
  return pageFileHigh != 0 ? TranslateStatus::kPageFile : TranslateStatus::kNotPresent;
}

const char* translateStatusText(TranslateStatus status);

}  // namespace parasight::paging
