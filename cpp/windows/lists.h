// Bounded walks of the kernel's doubly linked lists (PsActiveProcessHead, PsLoadedModuleList) and the records
// read from each entry. A walk stops at its count limit, on a cycle, or at an unreadable/implausible link; when
// the forward walk breaks, the rest of the list is recovered backwards from the head through Blink.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "paging/address_space.h"
#include "windows/layout.h"
#include "walk/problems.h"

namespace parasight::windows {

struct ProcessRecord {
  uint64_t address = 0;  // _EPROCESS VA
  uint32_t pid = 0, ppid = 0, threads = 0;
  std::string name;  // ImageFileName (ASCII, ≤ 15 chars)
  uint64_t createTime = 0, exitTime = 0;  // FILETIME
  uint64_t dtb = 0, peb = 0, objectTable = 0;
  std::u16string path;  // from PEB → Ldr → first module, when readable
};

struct ModuleRecord {
  uint64_t entry = 0, base = 0;
  uint32_t size = 0;
  std::u16string name, path;
};

std::vector<ProcessRecord> walkProcesses(AddressSpace& as, const ProcessLayout& l, uint64_t head, size_t max,
                                         bool paths, Problems& problems);
std::vector<ModuleRecord> walkModules(AddressSpace& as, const ModuleLayout& l, uint64_t head, size_t max,
                                      Problems& problems);

// Reads a _UNICODE_STRING (x86: Length u16, MaximumLength u16, Buffer ptr) whose 8 bytes are at `us`.
bool readUnicodeString(AddressSpace& as, const uint8_t* us, std::u16string* out, size_t maxBytes = 1024);

}  // namespace parasight::windows
