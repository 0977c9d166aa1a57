// tcpip.sys (XP/2003 x86) connection and socket tables: _TCBTable[_MaxHashTableSize] of _TCPT_OBJECT chains and
// _AddrObjTable[_AddrObjTableSize] of _ADDRESS_OBJECT chains. The table variables are found at a known RVA set
// for the driver's build, or, for unknown builds, by searching the driver's writable data for a pointer whose
// buckets lead to valid objects (plus a bucket count next to it or elsewhere in the data).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "paging/address_space.h"
#include "windows/layout.h"
#include "walk/problems.h"

namespace parasight::windows {

struct PeSection {
  std::string name;
  uint32_t rva = 0, size = 0, flags = 0;
};

struct PeInfo {
  bool ok = false;
  uint32_t timeDateStamp = 0, sizeOfImage = 0;
  std::vector<PeSection> sections;
  bool haveVersion = false;
  uint32_t fileVersionMS = 0, fileVersionLS = 0;
};

// PE header and section table of an image mapped at `base`, and its VS_FIXEDFILEINFO file version when a page
// of the image holding it is resident.
PeInfo readPe(AddressSpace& as, uint64_t base, uint32_t sizeHint, Problems& problems);

struct ConnectionRecord {
  uint64_t address = 0;
  uint8_t localIp[4] = {0, 0, 0, 0}, remoteIp[4] = {0, 0, 0, 0};  // network order, as in memory
  uint16_t localPort = 0, remotePort = 0;                          // host order (stored big-endian)
  uint32_t pid = 0;
  bool freed = false;  // pool scan: the block is free (a closed connection)
};

struct SocketRecord {
  uint64_t address = 0;
  uint8_t localIp[4] = {0, 0, 0, 0};
  uint16_t port = 0, protocol = 0;
  uint32_t pid = 0;
  uint64_t createTime = 0;  // FILETIME
  bool freed = false;       // pool scan: the block is free (a closed socket)
};

// The fields of one TCB / address object read from its bytes (`b`: l.tcbSize / l.aoSize bytes at `address`); the
// table walk and the pool scan decode alike.
ConnectionRecord decodeTcb(const uint8_t* b, const TcpipLayout& l, uint64_t address);
SocketRecord decodeAddrObj(const uint8_t* b, const TcpipLayout& l, uint64_t address);

struct TableLocation {
  bool found = false;
  std::string how;  // "rva:<set name>" or "scan"
  uint64_t variable = 0, countVariable = 0;  // VAs of the globals (countVariable 0 when inferred)
  uint64_t table = 0;
  uint32_t count = 0;
};

struct TcpipLimits {
  uint32_t maxBuckets = 1u << 16;
  uint32_t maxChain = 4096;
  uint32_t maxObjects = 1u << 18;
};

struct TcpipResult {
  TableLocation tcb, addr;
  std::vector<ConnectionRecord> connections;
  std::vector<SocketRecord> sockets;
};

TcpipResult walkTcpip(AddressSpace& as, const TcpipLayout& l, uint64_t base, uint32_t imageSize, const PeInfo& pe,
                      const std::vector<TcpipRvas>& known, bool scan, const TcpipLimits& limits, Problems& problems);

}  // namespace parasight::windows
