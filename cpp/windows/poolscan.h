// connscan/sockscan: a physical scan for tcpip.sys pool blocks ("TCPT" connections, "TCPA" address objects), the
// fallback when the hash tables cannot be found. Finds live and freed (closed) objects alike; addresses are
// physical. Block constraints as published: size ≥ 0x198 / 0x15c bytes, non-paged or free, pool index < 5.
#pragma once
#include <cstdint>
#include <vector>

#include "memory/physical_memory.h"
#include "walk/problems.h"
#include "windows/layout.h"
#include "windows/tcpip.h"

namespace parasight::windows {

struct PoolScanResult {
  std::vector<ConnectionRecord> connections;  // address = physical address of the object
  std::vector<SocketRecord> sockets;
  uint64_t bytesScanned = 0;
};

PoolScanResult poolScanTcpip(PhysicalMemory& mem, const TcpipLayout& l, size_t maxObjects, Problems& problems);

}  // namespace parasight::windows
