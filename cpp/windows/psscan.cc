#include "windows/psscan.h"

#include <algorithm>

#include "windows/scan.h"

namespace parasight::windows {

namespace {
constexpr uint32_t kProcTag = 0xe36f7250;  // "Pro" + ('c' | 0x80): the protected bit set on object pool tags
constexpr uint32_t kPoolHeader = 8, kObjectHeader = 0x18;
constexpr uint32_t kMaxInfo = 0x40;  // quota + handle + name + creator info blocks at most
constexpr uint64_t kFileTime1998 = (883612800ull + 11644473600ull) * 10000000ull;
constexpr uint64_t kFileTime2040 = (2208988800ull + 11644473600ull) * 10000000ull;

bool plausibleName(const uint8_t* b, std::string* out) {
  size_t n = 0;
  while (n < 15 && b[n] != 0) {
    if (b[n] < 0x20 || b[n] > 0x7e) return false;
    n++;
  }
  if (n == 0) return false;
  out->assign(reinterpret_cast<const char*>(b), n);
  return true;
}

// The _EPROCESS checks published for psscan: a name, a pid multiple of 4, a page-table root, a creation time in a
// sane range (System has none), and, when exited, an exit time after it.
bool plausibleProcess(const uint8_t* e, const ProcessLayout& l, ScannedProcess* p) {
  if (!plausibleName(e + l.name, &p->name)) return false;
  p->pid = le32(e + l.pid);
  p->dtb = le32(e + l.dtb);
  p->createTime = le64(e + l.createTime);
  p->exitTime = le64(e + l.exitTime);
  if (p->pid % 4 != 0 || p->pid >= 0x40000 || p->dtb == 0 || (p->dtb & 0x1f) != 0) return false;
  bool system = p->pid == 4 && p->name == "System";
  if (!system && (p->createTime <= kFileTime1998 || p->createTime >= kFileTime2040)) return false;
  if (p->exitTime != 0 && (p->exitTime < p->createTime || p->exitTime >= kFileTime2040)) return false;
  p->ppid = le32(e + l.ppid);
  p->threads = le32(e + l.activeThreads);
  p->peb = le32(e + l.peb);
  p->objectTable = le32(e + l.objectTable);
  p->flink = le32(e + l.links);
  p->blink = le32(e + l.links + 4);
  return true;
}
}  // namespace

ProcessScanResult scanProcesses(PhysicalMemory& mem, const ProcessLayout& l, size_t maxObjects, Problems& problems) {
  ProcessScanResult out;
  std::vector<uint8_t> block(0x1000);
  const uint32_t minBlock = kPoolHeader + kObjectHeader + l.size;
  bool limited = false;
  auto onHit = [&](uint64_t tagPa) {
    if (tagPa < 4) return true;
    uint64_t poolPa = tagPa - 4;
    if (poolPa % 8 != 0) return true;  // pool blocks are 8-byte aligned
    uint8_t h[4];
    Error err;
    if (mem.read(poolPa, h, 4, &err) != 4) return true;
    uint16_t w0 = le16(h), w1 = le16(h + 2);
    uint32_t blockBytes = (w1 & 0x1ff) * 8u;
    uint32_t poolType = w1 >> 9, poolIndex = w0 >> 9;
    if (blockBytes < minBlock || poolIndex >= 5) return true;
    if (poolType != 0 && (poolType & 1) == 0) return true;  // non-paged (odd) or free (0); processes are never paged
    // A block never straddles a page, so its bytes are physically contiguous.
    if ((poolPa & 0xfff) + blockBytes > 0x1000) return true;
    if (mem.read(poolPa, block.data(), blockBytes, &err) != blockBytes) return true;
    for (uint32_t info = 0; info <= kMaxInfo; info += 8) {
      uint32_t body = kPoolHeader + info + kObjectHeader;
      if (body + l.size > blockBytes) break;
      const uint8_t* oh = block.data() + body - kObjectHeader;
      // NameInfoOffset, HandleInfoOffset, QuotaInfoOffset: distances back from the object header, inside the block.
      if (std::max({oh[0xc], oh[0xd], oh[0xe]}) > info) continue;
      ScannedProcess p;
      if (!plausibleProcess(block.data() + body, l, &p)) continue;
      p.physical = poolPa + body;
      p.pool = poolPa;
      p.freed = poolType == 0;
      out.processes.push_back(std::move(p));
      break;
    }
    if (out.processes.size() >= maxObjects) {
      limited = true;
      return false;
    }
    return true;
  };
  ScanStats st = scanDwords(mem, 0xffffffffu, kProcTag, onHit);
  out.bytesScanned = st.bytes;
  if (limited) problems.add("LIMIT", "process scan stopped after " + std::to_string(maxObjects) + " objects", 0, "psscan");
  return out;
}

}  // namespace parasight::windows
