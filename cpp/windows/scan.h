// Physical-memory scans at I/O speed: one pass over every backed range in large chunks (direct mapping when the
// source has one, else big buffered reads), a branch-light dword filter per 64-byte block, and a callback only on
// candidate hits. Callers verify hits with ordinary reads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

#include "memory/physical_memory.h"

namespace parasight::windows {

struct ScanStats {
  uint64_t bytes = 0;
  uint64_t hits = 0;
  bool stopped = false;  // the callback asked to stop
};

// Calls onHit(pa) for every 4-byte aligned dword d with (d & mask) == value, in ascending physical order, over
// [start, end) of the source. onHit returns false to stop the scan.
ScanStats scanDwords(PhysicalMemory& mem, uint32_t mask, uint32_t value, const std::function<bool(uint64_t)>& onHit,
                     uint64_t start = 0, uint64_t end = ~0ull);

}  // namespace parasight::windows
