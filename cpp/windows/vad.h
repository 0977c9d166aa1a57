// The VAD tree of a process (XP: EPROCESS.VadRoot points at the root _MMVAD; 2003 SP1+: an embedded
// _MM_AVL_TABLE whose BalancedRoot.RightChild is the root): address ranges, protection, private vs mapped, and the
// mapped file's name (ControlArea → FilePointer → FileName). Bounded: node count, depth, cycle detection.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "paging/address_space.h"
#include "walk/problems.h"
#include "windows/layout.h"

namespace parasight::windows {

struct VadLayout {
  bool avlTable = false;
  uint32_t vadRoot = 0;      // EPROCESS offset of VadRoot (pointer on XP, embedded table on 2003)
  uint32_t balancedRoot = 0;  // _MM_AVL_TABLE.BalancedRoot (2003)
  uint32_t left = 0, right = 0, startVpn = 0, endVpn = 0, flags = 0, controlArea = 0;
  uint32_t caFilePointer = 0x24, foFileName = 0x30;
  uint32_t protectionShift = 24, protectionBits = 5, privateBit = 31, commitBits = 19;
};

struct VadRecord {
  uint64_t address = 0;  // the _MMVAD
  uint64_t start = 0, end = 0;  // [start, end)
  uint32_t protection = 0;
  bool isPrivate = false;
  uint32_t commitCharge = 0;  // committed pages (VadFlags bits 0-18)
  uint32_t tag = 0;  // pool tag before the node ("VadS", "Vad ", "Vadl" ...), 0 when unreadable
  std::u16string path;
};

std::vector<VadRecord> walkVads(AddressSpace& kernel, const VadLayout& l, uint64_t eprocess, size_t maxNodes,
                                Problems& problems);

}  // namespace parasight::windows
