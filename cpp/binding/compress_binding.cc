// xz_decompress(data: Uint8Array, maxOut: number) → Buffer
// zstd_decompress(data: Uint8Array, maxOut: number) → Buffer
// lz4_decompress(data: Uint8Array, maxOut: number) → Buffer (legacy frame format)
#include "binding/convert.h"
#include "binding/registry.h"
#include "compress/lz4.h"
#include "compress/xz.h"
#include "compress/zstd.h"

namespace parasight::binding {
namespace {

using DecompressFn = bool (*)(const uint8_t*, size_t, size_t, std::vector<uint8_t>*, Error*);

Napi::Value Decompress(const Napi::CallbackInfo& info, DecompressFn fn) {
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throwBadArgument(info.Env(), "data must be a Uint8Array");
  }
  auto in = info[0].As<Napi::Uint8Array>();
  uint64_t maxOut = toU64(info[1], "maxOut");
  std::vector<uint8_t> out;
  Error err;
  if (!fn(in.Data(), in.ByteLength(), static_cast<size_t>(maxOut), &out, &err)) throwError(info.Env(), err);
  return Napi::Buffer<uint8_t>::Copy(info.Env(), out.data(), out.size());
}

Napi::Value XzDecompress(const Napi::CallbackInfo& info) { return Decompress(info, xzDecompress); }
Napi::Value ZstdDecompress(const Napi::CallbackInfo& info) { return Decompress(info, zstdDecompress); }
Napi::Value Lz4Decompress(const Napi::CallbackInfo& info) { return Decompress(info, lz4Decompress); }

Registrar reg("xz_decompress", XzDecompress);
Registrar regZstd("zstd_decompress", ZstdDecompress);
Registrar regLz4("lz4_decompress", Lz4Decompress);

}  // namespace
}  // namespace parasight::binding
