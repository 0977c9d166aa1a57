// LZ4 decompression through Debian's liblz4, legacy frame format (what the kernel's CONFIG_KERNEL_LZ4 images use:
// `lz4 -l`), e.g. Ubuntu kernels.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "memory/error.h"

namespace parasight {

// Decompresses one legacy LZ4 stream starting at `data` (magic 0x184C2102, then blocks of a u32 compressed size and
// the block, each 8 MiB decompressed but the last). Stops after the short last block, so what follows the stream (a
// bzImage appends the decompressed size) is ignored. Output is capped at `maxOut` bytes (LIMIT error).
bool lz4Decompress(const uint8_t* data, size_t len, size_t maxOut, std::vector<uint8_t>* out, Error* err);

}  // namespace parasight
