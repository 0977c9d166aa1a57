// Zstandard decompression through Debian's libzstd (kernel images built with CONFIG_KERNEL_ZSTD, e.g. Debian 6.12).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "memory/error.h"

namespace parasight {

// Decompresses one zstd frame starting at `data`. Trailing bytes after the frame are ignored (a bzImage appends
// the decompressed size after its payload). Output is capped at `maxOut` bytes (LIMIT error).
bool zstdDecompress(const uint8_t* data, size_t len, size_t maxOut, std::vector<uint8_t>* out, Error* err);

}  // namespace parasight
