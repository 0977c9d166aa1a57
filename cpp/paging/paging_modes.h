// The x86 paging modes as data (Intel SDM vol. 3A ch. 4): the walker in address_space.cc is the same loop for all
// of them; a mode only changes how many levels there are, how wide an index and an entry are, and where large
// pages may end a walk.
#pragma once
#include <cstdint>

#include "paging/address_space.h"

namespace parasight::paging {

// Entry bits shared by every mode.
constexpr uint64_t kPresent = 1ull << 0;
constexpr uint64_t kWritable = 1ull << 1;
constexpr uint64_t kUser = 1ull << 2;
constexpr uint64_t kPageSize = 1ull << 7;
constexpr uint64_t kNoExecute = 1ull << 63;

struct LevelSpec {
  uint8_t shift = 0;         // lowest VA bit this level's index covers
  uint8_t bits = 0;          // index width (0 = level unused in this mode)
  bool largeAllowed = false; // PS=1 ends the walk here with a page of 1 << shift bytes
  bool hasPermissions = true;  // R/W, U/S, NX meaningful (false for PAE PDPTEs)
};

struct ModeSpec {
  const char* name;
  uint8_t topLevel;    // level of the root table (2, 3, 4, 5)
  uint8_t entrySize;   // 4 or 8 bytes
  uint8_t vaBits;      // 32, 32, 48, 57: higher bits must be zero (32-bit) or a sign extension (IA-32e)
  bool signExtended;   // canonical-address rule applies
  uint64_t rootMask;   // CR3 bits that locate the root table
  uint64_t addrMask;   // entry bits that hold a table / 4 KiB frame address
  LevelSpec level[6];  // indexed by level number 1..5
};

inline const ModeSpec& modeSpec(PagingMode mode) {
  // Levels: {shift, bits, largeAllowed, hasPermissions}.
  static const ModeSpec kX86 = {"x86", 2, 4, 32, false, 0xfffff000ull, 0xfffff000ull,
                                {{}, {12, 10, false, true}, {22, 10, true, true}, {}, {}, {}}};
  // PAE CR3 points at a 32-byte-aligned 4-entry PDPT; PDPTEs carry only P (no R/W, U/S, NX, PS).
  static const ModeSpec kPae = {"pae", 3, 8, 32, false, 0xffffffe0ull, 0x000ffffffffff000ull,
                                {{}, {12, 9, false, true}, {21, 9, true, true}, {30, 2, false, false}, {}, {}}};
  static const ModeSpec kIa32e = {"ia32e", 4, 8, 48, true, 0x000ffffffffff000ull, 0x000ffffffffff000ull,
                                  {{}, {12, 9, false, true}, {21, 9, true, true}, {30, 9, true, true},
                                   {39, 9, false, true}, {}}};
  static const ModeSpec kLa57 = {"la57", 5, 8, 57, true, 0x000ffffffffff000ull, 0x000ffffffffff000ull,
                                 {{}, {12, 9, false, true}, {21, 9, true, true}, {30, 9, true, true},
                                  {39, 9, false, true}, {48, 9, false, true}}};
  switch (mode) {
    case PagingMode::kX86: return kX86;
    case PagingMode::kPae: return kPae;
    case PagingMode::kLa57: return kLa57;
    case PagingMode::kIa32e: break;
  }
  return kIa32e;
}

}  // namespace parasight::paging
