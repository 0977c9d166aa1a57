#include "linux/discovery.h"

#include <cstring>

#include "paging/address_space.h"

namespace parasight::linux_guest {

namespace {

constexpr uint64_t kKaslrVirtualRange = 0x40000000ull;  // the kernel image moves within 1 GiB above _text
constexpr uint64_t kDefaultPageOffset = 0xffff888000000000ull;

bool readU64(PhysicalMemory& m, uint64_t pa, uint64_t* out) {
  Error err;
  return m.read(pa, out, 8, &err) == 8;
}

// page_offset_base is PUD (1 GiB) aligned in the kernel half; with RANDOMIZE_MEMORY it still is.
bool plausibleDirectMap(uint64_t v) { return (v >> 47) == 0x1ffff && (v & 0x3fffffffull) == 0; }

}  // namespace

DiscoveryResult discoverKernel(const std::shared_ptr<PhysicalMemory>& memory, const DiscoveryInput& in) {
  DiscoveryResult r;
  PhysicalMemory& m = *memory;
  if (in.banner.empty() || in.linuxBanner < in.text || in.initTopPgt < in.text || in.initTask < in.text) {
    r.notes.push_back("profile lacks linux_banner/_text/init_top_pgt/init_task");
    return r;
  }
  const uint64_t bannerOff = in.linuxBanner - in.text;
  const uint64_t align = in.alignment ? in.alignment : 0x200000;
  std::string buf(in.banner.size(), '\0');
  for (const PhysRange& range : m.scanRanges()) {  // resident only: see PhysicalMemory::scanRanges
    uint64_t first = (range.start + align - 1) / align * align;
    for (uint64_t base = first; base + bannerOff + buf.size() <= range.end(); base += align) {
      Error err;
      if (m.read(base + bannerOff, buf.data(), buf.size(), &err) != buf.size() || buf != in.banner) continue;
      r.candidates++;
      uint64_t realParent = 0;
      if (!readU64(m, base + (in.initTask - in.text) + in.realParentOffset, &realParent) || realParent < in.initTask ||
          realParent - in.initTask >= kKaslrVirtualRange || (realParent - in.initTask) % align != 0) {
        r.notes.push_back("banner at " + hex(base + bannerOff) + ": init_task.real_parent is not init_task");
        continue;
      }
      const uint64_t slide = realParent - in.initTask;
      uint64_t pob = kDefaultPageOffset;
      if (in.pageOffsetBase && (!readU64(m, base + (in.pageOffsetBase - in.text), &pob) || !plausibleDirectMap(pob))) {
        r.notes.push_back("banner at " + hex(base + bannerOff) + ": page_offset_base " + hex(pob) + " is implausible");
        continue;
      }
      const uint64_t dtb = base + (in.initTopPgt - in.text);
      // The page tables must map the slid _text onto this copy: a stale copy of the image fails here.
      AddressSpaceOptions o;
      o.mode = PagingMode::kIa32e;
      o.dtb = dtb;
      o.tlbEntries = 0;
      AddressSpace as(memory, o);
      Translation t;
      Error terr;
      if (!as.translate(in.text + slide, &t, &terr) || t.pa != base) {
        r.notes.push_back("banner at " + hex(base + bannerOff) + ": init_top_pgt does not map _text here");
        continue;
      }
      r.ok = true;
      r.physText = base;
      r.slide = slide;
      r.dtb = dtb;
      r.pageOffsetBase = pob;
      return r;
    }
  }
  if (r.candidates == 0) r.notes.push_back("the profile's linux_banner is nowhere at a 2 MiB-aligned image offset");
  return r;
}

}  // namespace parasight::linux_guest
