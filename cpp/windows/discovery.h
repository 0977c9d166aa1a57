// Finding a Windows XP/2003 x86 kernel in raw physical memory without CPU registers:
//   1. DTB: scan for the Idle/System _EPROCESS by its dispatcher header, validate the candidate DTB with the
//      page-directory self-map and the KUSER_SHARED_DATA alias (0xFFDF0000 and 0x7FFE0000 → same frame); the
//      mode (PAE or not) is the one in which those checks pass.
//   2. KPCR (0xFFDFF000) → KdVersionBlock → _DBGKD_GET_VERSION64 (KernBase, PsLoadedModuleList, build) →
//      DebuggerDataList → KDBG; when KdVersionBlock is empty or broken, a physical scan for the KDBG header.
//   3. KDBG: PsActiveProcessHead, PsLoadedModuleList, NtBuildLab, CSD version.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "paging/address_space.h"
#include "windows/layout.h"
#include "walk/problems.h"

namespace parasight::windows {

struct KpcrLayout {
  uint64_t va = 0xffdff000;
  uint32_t selfPcr = 0x1c, prcb = 0x20, prcbData = 0x120, kdVersionBlock = 0x34;
  // _DBGKD_GET_VERSION64
  uint32_t vMajor = 0, vMinor = 2, vMachine = 8, vKernBase = 0x10, vPsLoadedModuleList = 0x18, vDebuggerDataList = 0x20;
  // _KUSER_SHARED_DATA, mapped at both addresses (the alias check of DTB validation)
  uint64_t kuserVa = 0xffdf0000, kuserUserVa = 0x7ffe0000;
  uint32_t kSystemTime = 0x14, kProductType = 0x264, kNtMajor = 0x26c, kNtMinor = 0x270;
};

struct DiscoveryOptions {
  std::vector<DiscoveryCandidate> candidates;
  KdbgLayout kdbg;
  KpcrLayout kpcr;
  uint64_t dtb = 0;      // user-supplied; 0 = scan
  uint64_t kdbgVa = 0;   // user-supplied; 0 = KPCR path, then scan
  int mode = -1;         // -1 auto, else PagingMode
};

struct DiscoveryResult {
  bool ok = false;
  uint64_t dtb = 0;
  PagingMode mode = PagingMode::kX86;
  std::string dtbFoundBy;  // "user", "idle", "system"
  std::string candidate;   // profile whose dispatcher header matched
  uint64_t anchorPa = 0;   // physical address of the Idle/System _EPROCESS that gave the DTB
  uint64_t versionBlock = 0;
  uint16_t versionMajor = 0, build = 0, machine = 0;
  uint64_t kdbg = 0;
  uint32_t kdbgSize = 0;
  std::string kdbgFoundBy;  // "version-block", "scan", "user"
  uint64_t kernBase = 0, psLoadedModuleList = 0, psActiveProcessHead = 0;
  bool haveCsd = false;
  uint32_t csdVersion = 0;
  std::string ntBuildLab;
  uint32_t ntMajor = 0, ntMinor = 0, productType = 0;
  uint64_t systemTime = 0;
  uint64_t bytesScanned = 0;
  Problems problems;
};

DiscoveryResult discover(const std::shared_ptr<PhysicalMemory>& memory, const DiscoveryOptions& options);

// True when `dtb` in `mode` passes the self-map and KUSER_SHARED_DATA checks; `why` says which failed.
// `selfMapOk` (optional) is set when the self-map check passed (a damaged image may have lost only KUSER).
bool validateDtb(const std::shared_ptr<PhysicalMemory>& memory, uint64_t dtb, PagingMode mode, const KpcrLayout& k,
                 std::string* why, bool* selfMapOk = nullptr);

}  // namespace parasight::windows
