// The output buffer of a streaming decompressor: sized from the input at first, doubled whenever it is full, never
// past the caller's limit (a LIMIT error naming the codec instead), and cut to what was produced at the end.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "memory/error.h"

namespace parasight {

class GrowingOutput {
 public:
  GrowingOutput(std::vector<uint8_t>* out, size_t inputLen, size_t maxOut) : out_(out), maxOut_(maxOut) {
    out_->clear();
    out_->resize(std::min(maxOut, std::max<size_t>(inputLen * 4, 1u << 20)));
  }

  // Makes room past `produced` bytes; false (err set) when the buffer is full and already at the limit.
  bool makeRoom(size_t produced, const char* codec, Error* err) {
    if (produced < out_->size()) return true;
    if (out_->size() >= maxOut_) {
      *err = Error::make(Errc::kLimit, 0, std::string(codec) + " output exceeds the limit of " + std::to_string(maxOut_) + " bytes");
      return false;
    }
    out_->resize(std::min(maxOut_, out_->size() * 2));
    return true;
  }

  uint8_t* data() { return out_->data(); }
  size_t size() const { return out_->size(); }
  void finish(size_t produced) { out_->resize(produced); }

 private:
  std::vector<uint8_t>* out_;
  size_t maxOut_;
};

}  // namespace parasight
