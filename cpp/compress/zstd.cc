#include "compress/zstd.h"

#include <zstd.h>

#include <algorithm>
#include <memory>
#include <string>

#include "compress/output.h"

namespace parasight {

bool zstdDecompress(const uint8_t* data, size_t len, size_t maxOut, std::vector<uint8_t>* out, Error* err) {
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!ctx) {
    *err = Error::make(Errc::kIo, 0, "cannot initialise the zstd decoder");
    return false;
  }
  // The kernel compresses with --ultra -22 (window up to 2^27); allow larger windows still bounded by maxOut.
  ZSTD_DCtx_setParameter(ctx.get(), ZSTD_d_windowLogMax, 31);
  GrowingOutput buf(out, len, maxOut);
  ZSTD_inBuffer in{data, len, 0};
  size_t produced = 0;
  for (;;) {
    if (!buf.makeRoom(produced, "zstd", err)) return false;
    ZSTD_outBuffer o{buf.data(), buf.size(), produced};
    size_t ret = ZSTD_decompressStream(ctx.get(), &o, &in);
    produced = o.pos;
    if (ZSTD_isError(ret)) {
      *err = Error::make(Errc::kFormat, in.pos,
                         "zstd data is corrupt at input offset " + std::to_string(in.pos) + " (" +
                             ZSTD_getErrorName(ret) + ")");
      return false;
    }
    if (ret == 0) break;  // the frame is complete; whatever follows it is not ours
    if (in.pos == in.size && o.pos < o.size) {
      *err = Error::make(Errc::kFormat, in.pos, "zstd data is truncated (input ended inside the frame)");
      return false;
    }
  }
  buf.finish(produced);
  return true;
}

}  // namespace parasight
