#include "compress/xz.h"

#include <lzma.h>

#include <memory>

#include "compress/output.h"

namespace parasight {

bool xzDecompress(const uint8_t* data, size_t len, size_t maxOut, std::vector<uint8_t>* out, Error* err) {
  lzma_stream strm = LZMA_STREAM_INIT;
  // LZMA_CONCATENATED is deliberately off: stop at the end of the first stream and ignore what follows.
  if (lzma_stream_decoder(&strm, UINT64_MAX, 0) != LZMA_OK) {
    *err = Error::make(Errc::kIo, 0, "cannot initialise the XZ decoder");
    return false;
  }
  std::unique_ptr<lzma_stream, void (*)(lzma_stream*)> guard(&strm, lzma_end);
  GrowingOutput buf(out, len, maxOut);
  strm.next_in = data;
  strm.avail_in = len;
  size_t produced = 0;
  for (;;) {
    if (!buf.makeRoom(produced, "XZ", err)) return false;
    strm.next_out = buf.data() + produced;
    strm.avail_out = buf.size() - produced;
    lzma_ret ret = lzma_code(&strm, LZMA_FINISH);
    produced = buf.size() - strm.avail_out;
    if (ret == LZMA_STREAM_END) break;
    if (ret == LZMA_OK) continue;
    if (ret == LZMA_BUF_ERROR && strm.avail_in == 0) {
      *err = Error::make(Errc::kFormat, strm.total_in, "XZ data is truncated (input ended inside the stream)");
      return false;
    }
    *err = Error::make(Errc::kFormat, strm.total_in,
                       "XZ data is corrupt at input offset " + std::to_string(strm.total_in) + " (liblzma code " +
                           std::to_string(static_cast<int>(ret)) + ")");
    return false;
  }
  buf.finish(produced);
  return true;
}

}  // namespace parasight
