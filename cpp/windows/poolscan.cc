#include "windows/poolscan.h"

#include <cstring>

#include "windows/scan.h"

namespace parasight::windows {

namespace {
constexpr uint32_t kTcpPrefix = 0x00504354;  // "TCP?" in memory order, last byte masked
constexpr uint8_t kTcpt = 'T', kTcpa = 'A';
constexpr uint32_t kMinTcpt = 0x198, kMinTcpa = 0x15c;
constexpr uint64_t kFileTime1998 = (883612800ull + 11644473600ull) * 10000000ull;
constexpr uint64_t kFileTime2040 = (2208988800ull + 11644473600ull) * 10000000ull;
}  // namespace

PoolScanResult poolScanTcpip(PhysicalMemory& mem, const TcpipLayout& l, size_t maxObjects, Problems& problems) {
  PoolScanResult out;
  std::vector<uint8_t> obj(std::max(l.tcbSize, l.aoSize));
  bool limited = false;
  auto onHit = [&](uint64_t tagPa) {
    if (tagPa < 4) return true;
    uint8_t h[8];
    Error err;
    if (mem.read(tagPa - 4, h, 8, &err) != 8) return true;
    uint8_t kind = h[7];
    if (kind != kTcpt && kind != kTcpa) return true;
    uint16_t w0 = le16(h), w1 = le16(h + 2);
    uint32_t blockBytes = (w1 & 0x1ff) * 8u;
    uint32_t poolType = w1 >> 9, poolIndex = w0 >> 9;
    if (blockBytes < (kind == kTcpt ? kMinTcpt : kMinTcpa) || poolIndex >= 5) return true;
    if (poolType != 0 && (poolType & 1) == 0) return true;  // non-paged (odd) or free (0)
    uint64_t at = tagPa + 4;
    size_t size = kind == kTcpt ? l.tcbSize : l.aoSize;
    if (mem.read(at, obj.data(), size, &err) != size) return true;
    const uint8_t* b = obj.data();
    if (kind == kTcpt) {
      ConnectionRecord c = decodeTcb(b, l, at);
      c.freed = poolType == 0;
      if (c.localPort == 0 || c.remotePort == 0 || c.pid % 4 != 0 || c.pid >= 0x40000) return true;
      out.connections.push_back(c);
    } else {
      SocketRecord s = decodeAddrObj(b, l, at);
      s.freed = poolType == 0;
      if (s.createTime <= kFileTime1998 || s.createTime >= kFileTime2040 || s.pid % 4 != 0 || s.pid >= 0x40000 ||
          s.protocol > 255) {
        return true;
      }
      out.sockets.push_back(s);
    }
    if (out.connections.size() + out.sockets.size() >= maxObjects) {
      limited = true;
      return false;
    }
    return true;
  };
  ScanStats st = scanDwords(mem, 0x00ffffffu, kTcpPrefix, onHit);
  out.bytesScanned = st.bytes;
  if (limited) problems.add("LIMIT", "pool scan stopped after " + std::to_string(maxObjects) + " objects", 0, "pool-scan");
  return out;
}

}  // namespace parasight::windows
