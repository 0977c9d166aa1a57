// psscan: a physical scan for process objects ("Proc" pool blocks, tag with the protected bit), finding processes
// whatever the active list says: linked ones, ones unlinked from it (hidden), and exited ones whose block was freed.
// Block layout (x86 XP/2003): _POOL_HEADER (8) → optional object header info blocks → _OBJECT_HEADER (0x18) →
// _EPROCESS. The info blocks vary, so the body is tried at each 8-byte step after the pool header and accepted only
// when the object header's info offsets fit before it and the _EPROCESS passes the published sanity checks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "memory/physical_memory.h"
#include "walk/problems.h"
#include "windows/layout.h"

namespace parasight::windows {

struct ScannedProcess {
  uint64_t physical = 0;  // physical address of the _EPROCESS body
  uint64_t pool = 0;      // physical address of its pool header
  bool freed = false;     // PoolType 0: the block was released (the process is gone)
  uint32_t pid = 0, ppid = 0, threads = 0;
  std::string name;
  uint64_t createTime = 0, exitTime = 0;  // FILETIME
  uint64_t dtb = 0, peb = 0, objectTable = 0;
  uint64_t flink = 0, blink = 0;  // ActiveProcessLinks as found
};

struct ProcessScanResult {
  std::vector<ScannedProcess> processes;
  uint64_t bytesScanned = 0;
};

ProcessScanResult scanProcesses(PhysicalMemory& mem, const ProcessLayout& l, size_t maxObjects, Problems& problems);

}  // namespace parasight::windows
