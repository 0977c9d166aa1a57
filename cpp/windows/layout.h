// Structure offsets the Windows walkers need, as flat numbers. They come from a profile (ISF JSON) through TS;
// nothing here hard-codes a Windows build ("offsets are data, not code").
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace parasight::windows {

// x86 kernel addresses start at MmSystemRangeStart (0x80000000 without /3GB; 0xC0000000 with it).
inline bool kernelVa(uint64_t va) { return va >= 0x80000000ull && va <= 0xffffffffull; }

// Enough of _EPROCESS to recognise Idle/System by their dispatcher header during discovery.
struct DiscoveryCandidate {
  std::string profile;
  uint32_t signature = 0;  // first dword of _EPROCESS: Type 3, Absolute 0, Size (sizeof _KPROCESS / 4), Inserted 0
  uint32_t dtb = 0, pid = 0, name = 0, peb = 0;
  uint32_t links = 0;  // ActiveProcessLinks: finds PsActiveProcessHead through System when there is no KDBG
};

struct KdbgLayout {
  uint32_t ownerTag = 0x10, size = 0x14, kernBase = 0x18, psLoadedModuleList = 0x48, psActiveProcessHead = 0x50;
  uint32_t ntBuildLab = 0x208, cmNtCSDVersion = 0x268;
  std::vector<uint32_t> sizes;  // accepted Header.Size values (0x290 XP, 0x318 2003)
};

struct ProcessLayout {
  uint32_t size = 0;  // sizeof(_EPROCESS): one read per process
  uint32_t signature = 0;
  uint32_t dtb = 0, createTime = 0, exitTime = 0, pid = 0, links = 0, objectTable = 0, ppid = 0, name = 0;
  uint32_t activeThreads = 0, peb = 0;
  // PEB → Ldr → InLoadOrderModuleList → first entry's FullDllName (the executable's path).
  uint32_t pebLdr = 0xc, ldrInLoadOrder = 0xc, entryFullDllName = 0x24;
};

struct ModuleLayout {
  uint32_t size = 0x50, links = 0, dllBase = 0x18, sizeOfImage = 0x20, fullDllName = 0x24, baseDllName = 0x2c;
};

struct TcpipLayout {
  // _TCPT_OBJECT
  uint32_t tcbSize = 0x20, tcbNext = 0, tcbRemoteIp = 0xc, tcbLocalIp = 0x10, tcbRemotePort = 0x14,
           tcbLocalPort = 0x16, tcbPid = 0x18;
  // _ADDRESS_OBJECT
  uint32_t aoSize = 0x160, aoNext = 0, aoLocalIp = 0x2c, aoLocalPort = 0x30, aoProtocol = 0x32, aoPid = 0x148,
           aoCreateTime = 0x158;
};

// One known set of tcpip.sys global RVAs (offsets of the variables from the module base).
struct TcpipRvas {
  std::string name;
  uint32_t tcbTable = 0, tcbSize = 0, addrObjTable = 0, addrObjTableSize = 0;
  // The set published for exactly this driver build: an empty table is believed. Sets of other builds must
  // lead to at least one object (random data in .data can look like an empty table).
  bool exact = false;
  // Bucket counts to use instead of reading the count variables (a scan inferred them; 0 = read the variable).
  uint32_t tcbCount = 0, addrObjCount = 0;
};

}  // namespace parasight::windows
