#include "windows/malfind.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace parasight::windows {

namespace {
constexpr uint32_t kPage = 0x1000;
constexpr uint32_t kExecuteReadWrite = 6, kExecuteWriteCopy = 7;

bool candidate(const VadRecord& v) {
  uint32_t p = v.protection & 7;  // the +8/+16/+24 modifiers (NOCACHE, GUARD, WRITECOMBINE) keep the base rights
  if (v.isPrivate) return p == kExecuteReadWrite || p == kExecuteWriteCopy;
  return p == kExecuteReadWrite;
}

bool peAtPageStart(const uint8_t* page) {
  if (page[0] != 'M' || page[1] != 'Z') return false;
  uint32_t lfanew = le32(page + 0x3c);
  return lfanew >= 0x40 && lfanew <= kPage - 4 && std::memcmp(page + lfanew, "PE\0\0", 4) == 0;
}

// push ebp; mov ebp, esp (both encodings), the hot-patchable mov edi, edi; push ebp, and x64 sub rsp / push rbx.
bool prologueAt(const uint8_t* b) {
  static const std::array<std::array<uint8_t, 3>, 4> k = {{{0x55, 0x8b, 0xec}, {0x55, 0x89, 0xe5}, {0x8b, 0xff, 0x55}, {0x48, 0x83, 0xec}}};
  return std::any_of(k.begin(), k.end(), [&](const std::array<uint8_t, 3>& p) { return std::memcmp(b, p.data(), 3) == 0; });
}
}  // namespace

std::vector<InjectedRegion> findInjected(AddressSpace& kernel, AddressSpace& process, const VadLayout& l,
                                         uint64_t eprocess, size_t maxPagesPerVad, Problems& problems) {
  std::vector<InjectedRegion> out;
  std::vector<uint8_t> page(kPage);
  for (const VadRecord& v : walkVads(kernel, l, eprocess, 1u << 16, problems)) {
    if (!candidate(v) || v.end <= v.start) continue;
    InjectedRegion r;
    r.vad = v.address;
    r.start = v.start;
    r.end = v.end;
    r.protection = v.protection;
    r.isPrivate = v.isPrivate;
    uint64_t pages = (v.end - v.start) / kPage;
    if (pages > maxPagesPerVad) {
      problems.add("LIMIT", "VAD " + hex(v.start) + " has " + std::to_string(pages) + " pages: only the first " +
                                std::to_string(maxPagesPerVad) + " examined", v.address, "malfind");
      pages = maxPagesPerVad;
    }
    for (uint64_t i = 0; i < pages; i++) {
      uint64_t va = v.start + i * kPage;
      Translation t;
      Error err;
      if (!process.translate(va, &t, &err)) continue;  // not present: nothing to show
      if (process.read(va, page.data(), kPage, &err) != kPage) continue;
      r.residentPages++;
      if (std::all_of(page.begin(), page.end(), [](uint8_t b) { return b == 0; })) continue;
      if (r.contentPages++ == 0) {
        r.readAt = va;
        r.physical = t.pa;
        r.head.assign(page.begin(), page.begin() + 64);
        r.prologue = prologueAt(page.data());
      }
      if (!r.peHeader && peAtPageStart(page.data())) {
        r.peHeader = true;
        r.peAt = va;
      }
    }
    if (r.contentPages > 0) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace parasight::windows
