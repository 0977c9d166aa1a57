// Finding a Linux kernel in guest-physical memory without being told where it is: neither the physical load
// address nor the virtual KASLR slide nor page_offset_base is assumed. The kernel image is physically contiguous
// and 2 MiB aligned, so the banner (known from the profile) sits at a known offset from a 2 MiB boundary; from
// there every image symbol's physical address follows, including init_top_pgt (the kernel page-table root).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "memory/physical_memory.h"

namespace parasight::linux_guest {

struct DiscoveryInput {
  std::string banner;          // linux_banner contents from the profile
  uint64_t text = 0;           // unslid _text
  uint64_t linuxBanner = 0;    // unslid symbol addresses
  uint64_t initTopPgt = 0;
  uint64_t initTask = 0;
  uint64_t pageOffsetBase = 0;  // the variable page_offset_base (0: not in this kernel → default direct map)
  uint32_t realParentOffset = 0;  // task_struct.real_parent: init_task's points at itself (gives the slide)
  uint64_t alignment = 0x200000;  // CONFIG_PHYSICAL_ALIGN
};

struct DiscoveryResult {
  bool ok = false;
  uint64_t physText = 0;       // physical address of _text
  uint64_t slide = 0;          // virtual KASLR slide (0 with nokaslr)
  uint64_t dtb = 0;            // physical address of init_top_pgt
  uint64_t pageOffsetBase = 0;
  uint32_t candidates = 0;     // banner matches examined
  std::vector<std::string> notes;  // why candidates were rejected
};

DiscoveryResult discoverKernel(const std::shared_ptr<PhysicalMemory>& memory, const DiscoveryInput& in);

}  // namespace parasight::linux_guest
