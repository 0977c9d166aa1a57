#include "windows/ldr.h"

#include <unordered_set>

#include "windows/layout.h"
#include "windows/lists.h"

namespace parasight::windows {

std::unique_ptr<AddressSpace> processSpace(AddressSpace& kernel, uint64_t dtb) {
  AddressSpaceOptions o = kernel.options();
  o.dtb = dtb;
  o.tlbEntries = 64;
  return std::make_unique<AddressSpace>(kernel.memoryPtr(), o);
}

namespace {
const char* const kListNames[3] = {"load order", "memory order", "init order"};
}

LoaderLists walkLoaderLists(AddressSpace& as, const LdrLayout& l, uint64_t peb, size_t max, Problems& problems) {
  LoaderLists out;
  Error err;
  if (peb == 0 || kernelVa(peb)) {
    problems.add("BAD_POINTER", "PEB pointer " + hex(peb) + " is not a user address", peb, "ldr");
    return out;
  }
  if (!as.readPointer(peb + l.pebLdr, &out.ldr, &err)) {
    problems.read(err, "PEB.Ldr at " + hex(peb + l.pebLdr), peb, "ldr");
    return out;
  }
  if (out.ldr == 0 || kernelVa(out.ldr)) {
    problems.add("BAD_POINTER", "PEB.Ldr " + hex(out.ldr) + " is not a user address", peb + l.pebLdr, "ldr");
    return out;
  }
  out.found = true;
  std::vector<uint8_t> buf(l.entrySize);
  for (int k = 0; k < 3; k++) {
    const std::string walk = std::string("ldr ") + kListNames[k];
    uint64_t head = out.ldr + l.ldrLists[k];
    std::unordered_set<uint64_t> seen{head};
    uint64_t cur = head;
    while (true) {
      uint64_t next = 0;
      err = Error();
      if (!as.readPointer(cur, &next, &err)) {
        problems.read(err, "Flink at " + hex(cur), cur, walk);
        break;
      }
      if (next == head) break;
      if (out.lists[k].size() >= max) {
        problems.add("LIMIT", "loader list longer than " + std::to_string(max) + " entries: walk stopped", cur, walk);
        break;
      }
      if (seen.count(next)) {
        problems.add("CYCLE", "Flink of " + hex(cur) + " points back at " + hex(next), cur, walk);
        break;
      }
      if (next < l.entryLinks[k] || kernelVa(next)) {
        problems.add("BAD_POINTER", "Flink of " + hex(cur) + " leads to " + hex(next), cur, walk);
        break;
      }
      seen.insert(next);
      uint64_t e = next - l.entryLinks[k];
      if (as.read(e, buf.data(), buf.size(), &err) != buf.size()) {
        problems.read(err, "_LDR_DATA_TABLE_ENTRY at " + hex(e), e, walk);
        break;
      }
      LdrEntry m;
      m.entry = e;
      m.base = le32(buf.data() + l.dllBase);
      m.size = le32(buf.data() + l.sizeOfImage);
      readUnicodeString(as, buf.data() + l.baseDllName, &m.name);
      readUnicodeString(as, buf.data() + l.fullDllName, &m.path);
      out.lists[k].push_back(std::move(m));
      cur = next;
    }
  }
  return out;
}

}  // namespace parasight::windows
