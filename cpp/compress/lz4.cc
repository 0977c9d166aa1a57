#include "compress/lz4.h"

#include <lz4.h>

#include <algorithm>
#include <string>

namespace parasight {
namespace {

constexpr uint32_t kLegacyMagic = 0x184C2102;
constexpr size_t kLegacyBlock = 8u << 20;

uint32_t le32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }

}  // namespace

bool lz4Decompress(const uint8_t* data, size_t len, size_t maxOut, std::vector<uint8_t>* out, Error* err) {
  out->clear();
  if (len < 4 || le32(data) != kLegacyMagic) {
    *err = Error::make(Errc::kFormat, 0, "not a legacy LZ4 stream (magic 0x184C2102 missing)");
    return false;
  }
  const size_t bound = static_cast<size_t>(LZ4_compressBound(static_cast<int>(kLegacyBlock)));
  size_t at = 4;
  for (;;) {
    if (at + 4 > len) break;  // the input ended after a full block: that was the last one
    uint32_t size = le32(data + at);
    if (size == kLegacyMagic) {  // streams may be concatenated
      at += 4;
      continue;
    }
    if (size == 0 || size > bound) {
      *err = Error::make(Errc::kFormat, at, "LZ4 block size " + std::to_string(size) + " at input offset " +
                                                std::to_string(at) + " is not a legacy block");
      return false;
    }
    if (at + 4 + size > len) {
      *err = Error::make(Errc::kFormat, at, "LZ4 data is truncated (a block runs past the input)");
      return false;
    }
    size_t produced = out->size();
    if (produced >= maxOut) {
      *err = Error::make(Errc::kLimit, at, "LZ4 output exceeds the limit of " + std::to_string(maxOut) + " bytes");
      return false;
    }
    size_t room = std::min(kLegacyBlock, maxOut - produced);
    out->resize(produced + room);
    int n = LZ4_decompress_safe(reinterpret_cast<const char*>(data + at + 4), reinterpret_cast<char*>(out->data() + produced),
                                static_cast<int>(size), static_cast<int>(room));
    if (n < 0) {
      out->resize(produced);
      if (room < kLegacyBlock) {
        *err = Error::make(Errc::kLimit, at, "LZ4 output exceeds the limit of " + std::to_string(maxOut) + " bytes");
      } else {
        *err = Error::make(Errc::kFormat, at, "LZ4 block at input offset " + std::to_string(at) + " is corrupt");
      }
      return false;
    }
    out->resize(produced + static_cast<size_t>(n));
    at += 4 + size;
    if (static_cast<size_t>(n) < kLegacyBlock) break;  // only the last block is short
  }
  return true;
}

}  // namespace parasight
