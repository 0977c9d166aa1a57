// XZ / LZMA decompression through Debian's liblzma (kernel images, ISF .json.xz). No hand-written decoder.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "memory/error.h"

namespace parasight {

// Decompresses one .xz stream starting at `data`. Trailing bytes after the stream's end are ignored (a kernel
// image carries its XZ payload in the middle of a bzImage). Output is capped at `maxOut` bytes (LIMIT error).
bool xzDecompress(const uint8_t* data, size_t len, size_t maxOut, std::vector<uint8_t>* out, Error* err);

}  // namespace parasight
