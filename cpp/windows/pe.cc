// PE header and version resource of a module mapped in kernel memory (used to identify the tcpip.sys build).
#include <algorithm>
#include <cstring>

#include "windows/tcpip.h"

namespace parasight::windows {

namespace {
constexpr uint32_t kFixedFileInfoSignature = 0xfeef04bd;
constexpr uint32_t kMaxVersionSearch = 8u << 20;
}  // namespace

PeInfo readPe(AddressSpace& as, uint64_t base, uint32_t sizeHint, Problems& problems) {
  PeInfo pe;
  uint8_t h[0x1000];
  Error err;
  if (as.read(base, h, sizeof h, &err) != sizeof h) {
    problems.read(err, "PE header of the module at " + hex(base), base, "tcpip");
    return pe;
  }
  uint32_t lfanew = le32(h + 0x3c);
  if (h[0] != 'M' || h[1] != 'Z' || lfanew > 0xe00 || std::memcmp(h + lfanew, "PE\0\0", 4) != 0) {
    problems.add("FORMAT", "no PE header at " + hex(base), base, "tcpip");
    return pe;
  }
  uint32_t fh = lfanew + 4;
  uint32_t nsec = std::min<uint32_t>(le16(h + fh + 2), 96);
  pe.timeDateStamp = le32(h + fh + 4);
  uint32_t opt = fh + 0x14;
  uint32_t optSize = le16(h + fh + 0x10);
  pe.sizeOfImage = le32(h + opt + 0x38);
  for (uint32_t i = 0, s = opt + optSize; i < nsec && s + 40 <= sizeof h; i++, s += 40) {
    PeSection sec;
    const char* n = reinterpret_cast<const char*>(h + s);
    sec.name.assign(n, strnlen(n, 8));
    sec.size = le32(h + s + 8);
    sec.rva = le32(h + s + 12);
    sec.flags = le32(h + s + 36);
    pe.sections.push_back(sec);
  }
  pe.ok = true;
  // VS_FIXEDFILEINFO: search the resource section (whole image when there is none), resident pages only.
  uint32_t from = 0, to = std::min(pe.sizeOfImage ? pe.sizeOfImage : sizeHint, kMaxVersionSearch);
  for (const PeSection& s : pe.sections) {
    if (s.name == ".rsrc") {
      from = s.rva & ~0xfffu;
      to = std::min<uint32_t>(s.rva + std::max(s.size, 0x1000u), to);
    }
  }
  uint8_t page[0x1000];
  for (uint32_t off = from; off < to && !pe.haveVersion; off += 0x1000) {
    Error perr;
    if (as.read(base + off, page, sizeof page, &perr) != sizeof page) continue;
    for (uint32_t i = 0; i + 16 <= sizeof page; i += 4) {
      if (le32(page + i) != kFixedFileInfoSignature) continue;
      pe.haveVersion = true;
      pe.fileVersionMS = le32(page + i + 8);
      pe.fileVersionLS = le32(page + i + 12);
      break;
    }
  }
  return pe;
}

}  // namespace parasight::windows
