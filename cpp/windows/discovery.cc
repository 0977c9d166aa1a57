#include "windows/discovery.h"

#include <algorithm>
#include <cstring>

#include "windows/scan.h"

namespace parasight::windows {

namespace {

constexpr uint32_t kKdbgTag = 0x4742444b;  // "KDBG"
constexpr uint64_t kPfnMask = 0x000ffffffffff000ull;

std::unique_ptr<AddressSpace> makeSpace(const std::shared_ptr<PhysicalMemory>& mem, PagingMode mode, uint64_t dtb,
                                        size_t tlb) {
  AddressSpaceOptions o;
  o.mode = mode;
  o.dtb = dtb;
  o.windowsTransition = true;
  o.tlbEntries = tlb;
  return std::make_unique<AddressSpace>(mem, o);
}

bool readExact(AddressSpace& as, uint64_t va, void* dst, size_t len, Error* err) {
  return as.read(va, dst, len, err) == len;
}

std::string readAscii(AddressSpace& as, uint64_t va, size_t max) {
  std::string out;
  char buf[128];
  size_t n = std::min(max, sizeof buf);
  Error err;
  size_t got = as.read(va, buf, n, &err);
  for (size_t i = 0; i < got && buf[i] != 0; i++) {
    if (buf[i] < 0x20 || buf[i] > 0x7e) break;
    out.push_back(buf[i]);
  }
  return out;
}

const char* modeName(PagingMode m) { return m == PagingMode::kPae ? "PAE" : "non-PAE"; }

class Discovery {
 public:
  Discovery(const std::shared_ptr<PhysicalMemory>& mem, const DiscoveryOptions& o, DiscoveryResult* r)
      : mem_(mem), o_(o), r_(r) {}

  void run() {
    if (!findDtb()) return;
    as_ = makeSpace(mem_, r_->mode, r_->dtb, 1024);
    readKuser();
    bool viaKpcr = o_.kdbgVa == 0 && kpcrPath();
    if (o_.kdbgVa != 0) {
      if (decodeKdbg(o_.kdbgVa, true)) r_->kdbgFoundBy = "user";
    } else if (!viaKpcr || r_->kdbg == 0) {
      scanKdbg();
    }
    if (r_->kdbg == 0) {
      r_->problems.add("NOT_FOUND", "no valid KDBG (_KDDEBUGGER_DATA64)", 0, "discovery");
    }
    if (r_->psActiveProcessHead == 0) headFromSystem();
    r_->ok = r_->psLoadedModuleList != 0 || r_->psActiveProcessHead != 0;
  }

 private:
  // ---- 1. DTB -------------------------------------------------------------------------------------------
  std::vector<PagingMode> modes() const {
    if (o_.mode >= 0) return {static_cast<PagingMode>(o_.mode)};
    return {PagingMode::kPae, PagingMode::kX86};  // Volatility's order: PAE first
  }

  bool tryDtb(uint64_t dtb, std::string* why) {
    for (PagingMode m : modes()) {
      std::string reason;
      bool selfMap = false;
      if (validateDtb(mem_, dtb, m, o_.kpcr, &reason, &selfMap)) {
        r_->dtb = dtb;
        r_->mode = m;
        return true;
      }
      if (selfMap && weakDtb_ == 0) {
        weakDtb_ = dtb;
        weakMode_ = m;
        weakWhy_ = reason;
      }
      if (!why->empty()) *why += "; ";
      *why += std::string(modeName(m)) + ": " + reason;
    }
    return false;
  }

  bool findDtb() {
    if (o_.dtb != 0) {
      std::string why;
      if (tryDtb(o_.dtb, &why)) {
        r_->dtbFoundBy = "user";
        return true;
      }
      // The user knows best: keep the DTB, say what did not check out, try the first mode asked for.
      r_->problems.add("INCONSISTENT", "user-supplied DTB " + hex(o_.dtb) + " failed validation (" + why + ")",
                       o_.dtb, "discovery");
      r_->dtb = o_.dtb;
      r_->mode = modes().front();
      r_->dtbFoundBy = "user";
      return true;
    }
    size_t rejected = 0;
    std::string lastWhy;
    auto onHit = [&](uint64_t pa) {
      uint32_t sig = 0;
      Error err;
      if (mem_->read(pa, &sig, 4, &err) != 4) return true;
      std::string matched;
      for (const DiscoveryCandidate& c : o_.candidates) {
        if (c.signature != sig) continue;
        matched = c.profile;
        uint32_t need = std::max({c.name + 16, c.pid + 4, c.peb + 4, c.dtb + 4});
        std::vector<uint8_t> e(need);
        if (mem_->read(pa, e.data(), need, &err) != need) continue;
        uint32_t pid = le32(&e[c.pid]);
        uint32_t peb = le32(&e[c.peb]);
        const char* name = reinterpret_cast<const char*>(&e[c.name]);
        bool idle = pid == 0 && std::memcmp(name, "Idle\0", 5) == 0;
        bool system = pid == 4 && std::memcmp(name, "System\0", 7) == 0;
        if ((!idle && !system) || peb != 0) continue;
        uint32_t dtb = le32(&e[c.dtb]);
        std::string why;
        if (dtb == 0 || !tryDtb(dtb, &why)) {
          rejected++;
          lastWhy = std::string(idle ? "Idle" : "System") + " candidate at physical " + hex(pa) + " with DTB " +
                    hex(dtb) + " rejected (" + (dtb == 0 ? "zero DTB" : why) + ")";
          continue;
        }
        r_->candidate = c.profile;
        r_->anchorPa = pa;
        r_->dtbFoundBy = idle ? "idle" : "system";
        return false;
      }
      if (weakDtb_ != 0 && weakCandidate_.empty()) {
        weakCandidate_ = o_.candidates.empty() ? "" : matched;
        weakPa_ = pa;
      }
      return true;
    };
    // Type 3 (ProcessObject), Absolute 0, any Size, Inserted 0: candidates are filtered by Size in onHit.
    ScanStats st = scanDwords(*mem_, 0xff00ffffu, 0x00000003u, onHit);
    r_->bytesScanned += st.bytes;
    if (st.stopped) {
      if (rejected > 0) {
        r_->problems.add("DECOY", std::to_string(rejected) + " Idle/System look-alike(s) rejected before the real one; last: " + lastWhy,
                         0, "discovery");
      }
      return true;
    }
    if (weakDtb_ != 0) {
      // Damaged image: the page tables map themselves (or the KPCR) but KUSER_SHARED_DATA is gone. Better a
      // kernel with problems than none.
      r_->dtb = weakDtb_;
      r_->mode = weakMode_;
      r_->candidate = weakCandidate_;
      r_->anchorPa = weakPa_;
      r_->dtbFoundBy = "self-map";
      r_->problems.add("INCONSISTENT", "DTB " + hex(weakDtb_) + " passes only part of the validation (" + weakWhy_ + ")",
                       weakDtb_, "discovery");
      return true;
    }
    r_->problems.add("NOT_FOUND",
                     "no Idle/System _EPROCESS with a valid DTB in " + std::to_string(st.bytes) + " bytes (" +
                         std::to_string(st.hits) + " dispatcher headers, " + std::to_string(rejected) +
                         " rejected" + (lastWhy.empty() ? "" : "; last: " + lastWhy) +
                         "): not a Windows XP/2003 x86 image, or pass --dtb",
                     0, "discovery");
    return false;
  }

  void readKuser() {
    const KpcrLayout& k = o_.kpcr;
    uint8_t b[0x280];
    Error err;
    if (!readExact(*as_, k.kuserVa, b, sizeof b, &err)) {
      r_->problems.read(err, "KUSER_SHARED_DATA", k.kuserVa, "discovery");
      return;
    }
    r_->systemTime = le64(b + k.kSystemTime);
    r_->productType = le32(b + k.kProductType);
    r_->ntMajor = le32(b + k.kNtMajor);
    r_->ntMinor = le32(b + k.kNtMinor);
  }

  // No KDBG: System is the first process on the list, so its ActiveProcessLinks.Blink is PsActiveProcessHead.
  // Its virtual address comes back through the next process's Blink; both links are checked.
  void headFromSystem() {
    auto onHit = [&](uint64_t pa) {
      uint32_t sig = 0;
      Error err;
      if (mem_->read(pa, &sig, 4, &err) != 4) return true;
      for (const DiscoveryCandidate& c : o_.candidates) {
        if (c.signature != sig || c.links == 0) continue;
        uint32_t need = std::max({c.name + 16, c.pid + 4, c.dtb + 4, c.links + 8});
        std::vector<uint8_t> e(need);
        if (mem_->read(pa, e.data(), need, &err) != need) continue;
        if (le32(&e[c.pid]) != 4 || std::memcmp(&e[c.name], "System\0", 7) != 0 || le32(&e[c.dtb]) != r_->dtb) continue;
        uint64_t flink = le32(&e[c.links]), head = le32(&e[c.links + 4]), self = 0, headFlink = 0;
        if (!kernelVa(flink) || !kernelVa(head) || !as_->readPointer(flink + 4, &self, &err)) continue;
        if (!resolves(self, pa + c.links) || !as_->readPointer(head, &headFlink, &err) || headFlink != self) continue;
        r_->psActiveProcessHead = head;
        r_->problems.add("PARTIAL", "PsActiveProcessHead " + hex(head) + " found through the System process (no KDBG)", head,
                         "discovery");
        return false;
      }
      return true;
    };
    ScanStats st = scanDwords(*mem_, 0xff00ffffu, 0x00000003u, onHit);
    r_->bytesScanned += st.bytes;
    if (!st.stopped) {
      r_->problems.add("NOT_FOUND", "no KDBG and no System process linked to the process list: processes not walked", 0,
                       "discovery");
    }
  }

  // ---- 2. KPCR → version block → KDBG --------------------------------------------------------------------
  bool kpcrPath() {
    const KpcrLayout& k = o_.kpcr;
    uint8_t pcr[0x60];
    Error err;
    if (!readExact(*as_, k.va, pcr, sizeof pcr, &err)) {
      r_->problems.read(err, "KPCR", k.va, "discovery");
      return false;
    }
    if (le32(pcr + k.selfPcr) != k.va || le32(pcr + k.prcb) != k.va + k.prcbData) {
      r_->problems.add("NOT_FOUND", "no KPCR at " + hex(k.va) + " (SelfPcr/Prcb do not point at it)", k.va, "discovery");
      return false;
    }
    uint64_t vb = le32(pcr + k.kdVersionBlock);
    if (vb == 0) {
      r_->problems.add("NOT_FOUND", "KPCR.KdVersionBlock is NULL: falling back to a KDBG scan", k.va, "discovery");
      return false;
    }
    uint8_t v[0x28];
    if (!readExact(*as_, vb, v, sizeof v, &err)) {
      r_->problems.read(err, "_DBGKD_GET_VERSION64", vb, "discovery");
      return false;
    }
    uint16_t major = le16(v + k.vMajor), machine = le16(v + k.vMachine);
    // i386 machine type; MajorVersion (0xf free / 0xc checked) is only reported, not required.
    if (machine != 0x14c) {
      r_->problems.add("INCONSISTENT", "KdVersionBlock " + hex(vb) + " is not an x86 _DBGKD_GET_VERSION64 (MachineType " +
                                           hex(machine) + ", MajorVersion " + hex(major) + ")",
                       vb, "discovery");
      return false;
    }
    r_->versionBlock = vb;
    r_->versionMajor = major;
    r_->machine = machine;
    r_->build = le16(v + k.vMinor);
    r_->kernBase = le64(v + k.vKernBase) & 0xffffffffull;
    r_->psLoadedModuleList = le64(v + k.vPsLoadedModuleList) & 0xffffffffull;
    uint64_t cell = le64(v + k.vDebuggerDataList) & 0xffffffffull;
    uint64_t kdbg = 0;
    if (cell == 0 || !as_->readPointer(cell, &kdbg, &err)) {
      r_->problems.add("NOT_FOUND", "DebuggerDataList " + hex(cell) + " does not lead to KDBG", cell, "discovery");
      return true;
    }
    // DebuggerDataList points at a cell holding the KDBG address; accept a block that points at KDBG itself too.
    if (decodeKdbg(kdbg, false) || (kdbg != cell && decodeKdbg(cell, false))) r_->kdbgFoundBy = "version-block";
    return true;
  }

  // Reads and checks a KDBG at `va`; fills the result when it is plausible.
  bool decodeKdbg(uint64_t va, bool trusted) {
    const KdbgLayout& k = o_.kdbg;
    uint8_t h[0x18];
    Error err;
    if (!readExact(*as_, va, h, sizeof h, &err)) {
      r_->problems.read(err, "KDBG", va, "discovery");
      return false;
    }
    uint32_t size = le32(h + k.size);
    if (le32(h + k.ownerTag) != kKdbgTag || size < k.cmNtCSDVersion + 8 || size > 0x1000) {
      r_->problems.add("INCONSISTENT", "no KDBG header at " + hex(va) + " (tag/size mismatch)", va, "discovery");
      if (!trusted) return false;
      size = std::max<uint32_t>(k.cmNtCSDVersion + 8, std::min<uint32_t>(size, 0x400));
    }
    std::vector<uint8_t> d(size);
    if (!readExact(*as_, va, d.data(), size, &err)) {
      r_->problems.read(err, "KDBG body", va, "discovery");
      return false;
    }
    auto ptr = [&](uint32_t off) { return off + 8 <= size ? le64(&d[off]) & 0xffffffffull : 0; };
    uint64_t kernBase = ptr(k.kernBase);
    uint64_t active = ptr(k.psActiveProcessHead);
    if (!trusted && !plausibleKdbg(kernBase, active)) return false;
    r_->kdbg = va;
    r_->kdbgSize = size;
    if (r_->kernBase != 0 && r_->kernBase != kernBase) {
      r_->problems.add("INCONSISTENT", "KDBG KernBase " + hex(kernBase) + " differs from the version block's " +
                                           hex(r_->kernBase), va, "discovery");
    }
    r_->kernBase = kernBase;
    r_->psActiveProcessHead = active;
    uint64_t modules = ptr(k.psLoadedModuleList);
    if (modules != 0) r_->psLoadedModuleList = modules;
    if (uint64_t lab = ptr(k.ntBuildLab)) r_->ntBuildLab = readAscii(*as_, lab, 64);
    if (uint64_t csd = ptr(k.cmNtCSDVersion)) {
      uint32_t v = 0;
      if (as_->readU32(csd, &v, &err)) {
        r_->haveCsd = true;
        r_->csdVersion = v;
      }
    }
    return true;
  }

  // A KDBG is real when KernBase holds a PE image and PsActiveProcessHead is a readable list head whose links
  // are kernel addresses (the first process itself may be unreadable in a damaged image).
  bool plausibleKdbg(uint64_t kernBase, uint64_t head) {
    Error err;
    uint8_t mz[2];
    if (!kernelVa(kernBase) || !readExact(*as_, kernBase, mz, 2, &err) || mz[0] != 'M' || mz[1] != 'Z') return false;
    uint64_t flink = 0, blink = 0;
    if (!kernelVa(head) || !as_->readPointer(head, &flink, &err) || !as_->readPointer(head + 4, &blink, &err)) return false;
    return kernelVa(flink) && kernelVa(blink);
  }

  void scanKdbg() {
    const KdbgLayout& k = o_.kdbg;
    size_t rejected = 0;
    auto onHit = [&](uint64_t pa) {
      if (pa < k.ownerTag) return true;
      uint64_t start = pa - k.ownerTag;
      uint8_t h[0x20];
      Error err;
      if (mem_->read(start, h, sizeof h, &err) != sizeof h) return true;
      if (le64(h + 8) != 0) return true;  // x86: the upper LIST_ENTRY64 half is zero
      uint32_t size = le32(h + k.size);
      if (!k.sizes.empty() && std::find(k.sizes.begin(), k.sizes.end(), size) == k.sizes.end()) return true;
      for (uint64_t va : kdbgVaCandidates(start, h)) {
        if (decodeKdbg(va, false)) {
          r_->kdbgFoundBy = "scan";
          return false;
        }
      }
      rejected++;
      return true;
    };
    ScanStats st = scanDwords(*mem_, 0xffffffffu, kKdbgTag, onHit);
    r_->bytesScanned += st.bytes;
    if (rejected > 0) {
      r_->problems.add("DECOY", std::to_string(rejected) + " KDBG header(s) with implausible contents skipped", 0,
                       "discovery");
    }
  }

  // Virtual addresses a physical KDBG hit may have: List.Flink leads to KdpDebuggerDataListHead whose Flink is
  // the KDBG itself; else the kernel image's large-page offset from KernBase.
  std::vector<uint64_t> kdbgVaCandidates(uint64_t pa, const uint8_t* h) {
    std::vector<uint64_t> out;
    Error err;
    uint64_t listHead = le32(h), self = 0;
    if (kernelVa(listHead) && as_->readPointer(listHead, &self, &err) && kernelVa(self) && resolves(self, pa)) {
      out.push_back(self);
    }
    uint64_t kernBase = le64(h + o_.kdbg.kernBase) & 0xffffffffull;
    Translation t;
    if (kernelVa(kernBase) && as_->translate(kernBase, &t, &err) && pa >= t.pa && pa - t.pa < (64u << 20)) {
      uint64_t va = kernBase + (pa - t.pa);
      if (resolves(va, pa)) out.push_back(va);
    }
    return out;
  }

  bool resolves(uint64_t va, uint64_t pa) {
    Translation t;
    Error err;
    return as_->translate(va, &t, &err) && t.pa == pa;
  }

  std::shared_ptr<PhysicalMemory> mem_;
  const DiscoveryOptions& o_;
  DiscoveryResult* r_;
  std::unique_ptr<AddressSpace> as_;
  uint64_t weakDtb_ = 0, weakPa_ = 0;
  PagingMode weakMode_ = PagingMode::kX86;
  std::string weakWhy_, weakCandidate_;
};

}  // namespace

bool validateDtb(const std::shared_ptr<PhysicalMemory>& memory, uint64_t dtb, PagingMode mode, const KpcrLayout& k,
                 std::string* why, bool* selfMapOk) {
  if (selfMapOk) *selfMapOk = false;
  if (dtb >= memory->end()) {
    *why = "DTB beyond the end of memory";
    return false;
  }
  Error err;
  uint64_t selfMapExpect = 0;
  uint64_t selfMapVa = 0;
  if (mode == PagingMode::kX86) {
    if (dtb & 0xfff) {
      *why = "not page aligned";
      return false;
    }
    selfMapVa = 0xc0300000;
    selfMapExpect = dtb;
  } else if (mode == PagingMode::kPae) {
    if (dtb & 0x1f) {
      *why = "not 32-byte aligned";
      return false;
    }
    uint64_t pdpt[4];
    if (memory->read(dtb, pdpt, sizeof pdpt, &err) != sizeof pdpt) {
      *why = "PDPT unreadable";
      return false;
    }
    for (uint64_t e : pdpt) {
      // PAE PDPTEs: present, reserved bits 1-2 and 5-8 clear, no address bits above 52.
      if (!(e & 1) || (e & 0x1e6) || (e >> 52)) {
        *why = "PDPTE " + hex(e) + " is not a valid PAE entry";
        return false;
      }
    }
    selfMapVa = 0xc0600000;
    selfMapExpect = pdpt[0] & kPfnMask;
  } else {
    *why = "unsupported mode";
    return false;
  }
  auto as = makeSpace(memory, mode, dtb, 0);
  Translation t;
  if (!as->translate(selfMapVa, &t, &err) || t.pa != selfMapExpect) {
    *why = "page-directory self-map at " + hex(selfMapVa) + " missing";
    // Without the self-map, a KPCR that points at itself still says these tables map the kernel.
    uint32_t self = 0, prcb = 0;
    Error kerr;
    if (selfMapOk && as->readU32(k.va + k.selfPcr, &self, &kerr) && as->readU32(k.va + k.prcb, &prcb, &kerr) &&
        self == k.va && prcb == k.va + k.prcbData) {
      *selfMapOk = true;
      *why += ", KPCR found";
    }
    return false;
  }
  if (selfMapOk) *selfMapOk = true;
  Translation a, b;
  if (!as->translate(k.kuserVa, &a, &err) || !as->translate(k.kuserUserVa, &b, &err) || a.pa != b.pa) {
    *why = "KUSER_SHARED_DATA is not mapped at both " + hex(k.kuserVa) + " and " + hex(k.kuserUserVa);
    return false;
  }
  uint32_t major = 0;
  if (!as->readU32(k.kuserVa + k.kNtMajor, &major, &err) || major != 5) {
    *why = "KUSER_SHARED_DATA.NtMajorVersion is " + std::to_string(major) + ", not 5";
    return false;
  }
  return true;
}

DiscoveryResult discover(const std::shared_ptr<PhysicalMemory>& memory, const DiscoveryOptions& options) {
  DiscoveryResult r;
  Discovery(memory, options, &r).run();
  return r;
}

}  // namespace parasight::windows
