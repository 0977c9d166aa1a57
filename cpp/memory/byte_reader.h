// Bounds-checked little-endian field reads from a mapped image file, for the format parsers (ELF, LiME).
// Header bytes are copied with guardedCopy, so a file truncated while we parse it is an error, not a SIGBUS.
#pragma once
#include <cstdint>
#include <cstring>

#include "memory/fault_guard.h"
#include "memory/mapped_file.h"

namespace parasight {

class ByteReader {
 public:
  explicit ByteReader(const MappedFile& file) : file_(file) {}

  uint64_t size() const { return file_.size(); }
  // True when [offset, offset + len) lies inside the file.
  bool fits(uint64_t offset, uint64_t len) const { return offset <= size() && len <= size() - offset; }

  // Copies len bytes at offset into dst; false if out of bounds or the file shrank.
  bool copy(uint64_t offset, void* dst, size_t len) const {
    return fits(offset, len) && guardedCopy(dst, file_.data() + offset, len);
  }

  // Unsigned little-endian integer of `width` bytes (1, 2, 4 or 8) from a header already copied out.
  static uint64_t le(const uint8_t* p, unsigned width) {
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
  }

 private:
  const MappedFile& file_;
};

}  // namespace parasight
