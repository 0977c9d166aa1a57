#include "windows/lists.h"

#include <algorithm>
#include <unordered_set>

namespace parasight::windows {

namespace {

// Visits entry link addresses (the LIST_ENTRY inside each record) of the list headed at `head`.
// `accept(link, linked)` returns false for an entry that does not look like a list member (the walk stops there);
// `linked` says the entry's back link points at the entry we came from (a consistent list).
template <typename Accept>
std::vector<uint64_t> walkList(AddressSpace& as, uint64_t head, size_t max, const std::string& walk, Problems& problems,
                               Accept accept) {
  std::vector<uint64_t> out;
  std::unordered_set<uint64_t> seen{head};
  Error err;
  auto step = [&](uint64_t from, bool forward, uint64_t* next) {
    err = Error();
    if (!as.readPointer(forward ? from : from + as.pointerSize(), next, &err)) {
      problems.read(err, std::string(forward ? "Flink" : "Blink") + " of list entry " + hex(from), from, walk);
      return false;
    }
    return true;
  };
  // Forward through Flink.
  uint64_t cur = head, next = 0;
  bool broken = false;
  while (true) {
    if (!step(cur, true, &next)) {
      broken = true;
      break;
    }
    if (next == head) break;
    if (out.size() >= max) {
      problems.add("LIMIT", "list longer than " + std::to_string(max) + " entries: walk stopped", cur, walk);
      return out;
    }
    if (seen.count(next)) {
      problems.add("CYCLE", "Flink of " + hex(cur) + " points back at " + hex(next) + " (already visited)", cur, walk);
      broken = true;
      break;
    }
    uint64_t back = 0;
    Error berr;
    bool linked = kernelVa(next) && as.readPointer(next + as.pointerSize(), &back, &berr) && back == cur;
    if (!kernelVa(next) || !accept(next, linked)) {
      problems.add("BAD_POINTER", "Flink of " + hex(cur) + " leads to " + hex(next) + ", which is not a list member",
                   cur, walk);
      broken = true;
      break;
    }
    seen.insert(next);
    out.push_back(next);
    cur = next;
  }
  if (!broken) return out;
  // Recover the tail backwards from the head through Blink, until we meet an entry already seen.
  std::vector<uint64_t> tail;
  cur = head;
  while (out.size() + tail.size() < max) {
    if (!step(cur, false, &next) || next == head || seen.count(next)) break;
    uint64_t fwd = 0;
    Error ferr;
    bool linked = kernelVa(next) && as.readPointer(next, &fwd, &ferr) && fwd == cur;
    if (!kernelVa(next) || !accept(next, linked)) {
      problems.add("BAD_POINTER", "Blink of " + hex(cur) + " leads to " + hex(next) + ", which is not a list member",
                   cur, walk);
      break;
    }
    seen.insert(next);
    tail.push_back(next);
    cur = next;
  }
  if (!tail.empty()) {
    problems.add("PARTIAL", std::to_string(tail.size()) + " entries recovered backwards through Blink", head, walk);
  }
  out.insert(out.end(), tail.rbegin(), tail.rend());
  return out;
}

}  // namespace

bool readUnicodeString(AddressSpace& as, const uint8_t* us, std::u16string* out, size_t maxBytes) {
  uint16_t len = le16(us);
  uint64_t buf = le32(us + 4);
  if (len == 0 || buf == 0 || (len & 1)) return false;
  size_t n = std::min<size_t>(len, maxBytes);
  std::u16string s(n / 2, u'\0');
  Error err;
  if (as.read(buf, s.data(), n & ~size_t{1}, &err) != (n & ~size_t{1})) return false;
  *out = std::move(s);
  return true;
}

namespace {

std::string imageFileName(const uint8_t* p) {
  std::string s;
  for (int i = 0; i < 15 && p[i] != 0; i++) s.push_back(static_cast<char>(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?'));
  return s;
}

// The executable's path: PEB.Ldr → InLoadOrderModuleList.Flink → FullDllName, read in the process's own space.
void readProcessPath(AddressSpace& kernel, const ProcessLayout& l, ProcessRecord* p) {
  if (p->peb == 0 || p->dtb == 0) return;
  AddressSpaceOptions o = kernel.options();
  o.dtb = p->dtb;
  o.tlbEntries = 16;
  AddressSpace as(kernel.memoryPtr(), o);
  Error err;
  uint64_t ldr = 0, first = 0;
  if (!as.readPointer(p->peb + l.pebLdr, &ldr, &err) || ldr == 0) return;
  if (!as.readPointer(ldr + l.ldrInLoadOrder, &first, &err) || first == 0 || first == ldr + l.ldrInLoadOrder) return;
  uint8_t us[8];
  if (as.read(first + l.entryFullDllName, us, 8, &err) != 8) return;
  readUnicodeString(as, us, &p->path);
}

}  // namespace

std::vector<ProcessRecord> walkProcesses(AddressSpace& as, const ProcessLayout& l, uint64_t head, size_t max,
                                         bool paths, Problems& problems) {
  std::vector<ProcessRecord> out;
  std::vector<uint8_t> buf(l.size);
  auto load = [&](uint64_t link) {
    uint64_t e = link - l.links;
    Error err;
    if (as.read(e, buf.data(), buf.size(), &err) != buf.size()) {
      problems.read(err, "_EPROCESS at " + hex(e), e, "pslist");
      return false;
    }
    return true;
  };
  // A member is an _EPROCESS (dispatcher header: Type 3 and the profile's size) or at least links back to where
  // we came from: a wrong header alone must not cut the list, a wrong header on a stray pointer must.
  auto accept = [&](uint64_t link, bool linked) {
    if (!load(link)) return false;
    return linked || (le32(buf.data()) & 0x00ff00ff) == (l.signature & 0x00ff00ff);
  };
  std::vector<uint64_t> links = walkList(as, head, max, "pslist", problems, accept);
  out.reserve(links.size());
  for (uint64_t link : links) {
    if (!load(link)) continue;
    const uint8_t* b = buf.data();
    ProcessRecord p;
    p.address = link - l.links;
    p.pid = le32(b + l.pid);
    p.ppid = le32(b + l.ppid);
    p.name = imageFileName(b + l.name);
    p.createTime = le64(b + l.createTime);
    p.exitTime = le64(b + l.exitTime);
    p.dtb = le32(b + l.dtb);
    p.peb = le32(b + l.peb);
    p.objectTable = le32(b + l.objectTable);
    p.threads = le32(b + l.activeThreads);
    if (paths) readProcessPath(as, l, &p);
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<ModuleRecord> walkModules(AddressSpace& as, const ModuleLayout& l, uint64_t head, size_t max,
                                      Problems& problems) {
  std::vector<ModuleRecord> out;
  std::vector<uint8_t> buf(l.size);
  auto load = [&](uint64_t link) {
    uint64_t e = link - l.links;
    Error err;
    if (as.read(e, buf.data(), buf.size(), &err) != buf.size()) {
      problems.read(err, "_LDR_DATA_TABLE_ENTRY at " + hex(e), e, "modules");
      return false;
    }
    return true;
  };
  auto accept = [&](uint64_t link, bool) { return load(link); };
  for (uint64_t link : walkList(as, head, max, "modules", problems, accept)) {
    if (!load(link)) continue;
    ModuleRecord m;
    m.entry = link - l.links;
    m.base = le32(buf.data() + l.dllBase);
    m.size = le32(buf.data() + l.sizeOfImage);
    readUnicodeString(as, buf.data() + l.baseDllName, &m.name);
    readUnicodeString(as, buf.data() + l.fullDllName, &m.path);
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace parasight::windows
