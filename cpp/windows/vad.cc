#include "windows/vad.h"

#include <algorithm>
#include <unordered_set>

#include "windows/lists.h"

namespace parasight::windows {

namespace {
constexpr size_t kMaxDepth = 100;
constexpr uint32_t kTagVadS = 0x53646156;  // "VadS": _MMVAD_SHORT (private, no control area)
constexpr uint32_t kTagVadF = 0x46646156;  // "VadF": short
}  // namespace

std::vector<VadRecord> walkVads(AddressSpace& as, const VadLayout& l, uint64_t eprocess, size_t maxNodes,
                                Problems& problems) {
  std::vector<VadRecord> out;
  Error err;
  uint64_t root = 0;
  if (l.avlTable) {
    if (!as.readPointer(eprocess + l.vadRoot + l.balancedRoot + l.right, &root, &err)) {
      problems.read(err, "VadRoot (BalancedRoot.RightChild) of _EPROCESS " + hex(eprocess), eprocess, "vad");
      return out;
    }
  } else if (!as.readPointer(eprocess + l.vadRoot, &root, &err)) {
    problems.read(err, "VadRoot of _EPROCESS " + hex(eprocess), eprocess, "vad");
    return out;
  }
  if (root == 0) return out;
  uint32_t nodeSize = std::max({l.left, l.right, l.startVpn, l.endVpn, l.flags, l.controlArea}) + 4;
  std::vector<uint8_t> n(nodeSize);
  std::unordered_set<uint64_t> seen;
  std::vector<std::pair<uint64_t, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto [va, depth] = stack.back();
    stack.pop_back();
    if (out.size() >= maxNodes) {
      problems.add("LIMIT", "more than " + std::to_string(maxNodes) + " VADs: walk stopped", va, "vad");
      break;
    }
    if (!kernelVa(va) || !seen.insert(va).second) {
      problems.add(kernelVa(va) ? "CYCLE" : "BAD_POINTER", "VAD tree of _EPROCESS " + hex(eprocess) + " leads to " + hex(va) + (kernelVa(va) ? " again" : ""), va, "vad");
      continue;
    }
    if (depth > kMaxDepth) {
      problems.add("LIMIT", "VAD tree deeper than " + std::to_string(kMaxDepth), va, "vad");
      continue;
    }
    err = Error();
    if (as.read(va, n.data(), nodeSize, &err) != nodeSize) {
      problems.read(err, "_MMVAD at " + hex(va), va, "vad");
      continue;
    }
    VadRecord r;
    r.address = va;
    uint64_t startVpn = le32(&n[l.startVpn]), endVpn = le32(&n[l.endVpn]);
    if (endVpn < startVpn || endVpn > 0xfffff) {
      problems.add("BAD_POINTER", "_MMVAD at " + hex(va) + " has an impossible range (" + hex(startVpn) + ".." + hex(endVpn) + ")", va, "vad");
      continue;
    }
    r.start = startVpn << 12;
    r.end = (endVpn + 1) << 12;
    uint32_t flags = le32(&n[l.flags]);
    r.protection = (flags >> l.protectionShift) & ((1u << l.protectionBits) - 1);
    r.isPrivate = (flags >> l.privateBit) & 1;
    r.commitCharge = flags & ((1u << l.commitBits) - 1);
    uint32_t tag = 0;
    if (as.readU32(va - 4, &tag, &err)) r.tag = tag;
    bool shortVad = r.isPrivate || tag == kTagVadS || tag == kTagVadF;
    if (!shortVad) {
      uint64_t ca = le32(&n[l.controlArea]), fo = 0;
      uint8_t us[8];
      if (kernelVa(ca) && as.readPointer(ca + l.caFilePointer, &fo, &err) && kernelVa(fo) &&
          as.read(fo + l.foFileName, us, 8, &err) == 8) {
        readUnicodeString(as, us, &r.path);
      }
    }
    uint64_t left = le32(&n[l.left]), right = le32(&n[l.right]);
    if (right) stack.push_back({right, depth + 1});
    if (left) stack.push_back({left, depth + 1});
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const VadRecord& a, const VadRecord& b) { return a.start < b.start; });
  return out;
}

}  // namespace parasight::windows
