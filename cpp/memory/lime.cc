// LiME captures: repeated {magic 0x4C694D45, version 1, s_addr, e_addr (inclusive), reserved} + the range's bytes.
#include <string>
#include <vector>

#include "memory/byte_reader.h"
#include "memory/image_file.h"
#include "memory/segmented_file_memory.h"

namespace parasight {
namespace {
constexpr uint32_t kLimeMagic = 0x4C694D45;
constexpr unsigned kHeaderSize = 32;
}  // namespace

std::unique_ptr<PhysicalMemory> openLime(std::unique_ptr<MappedFile> file, Error* err) {
  const std::string& path = file->path();
  ByteReader in(*file);
  std::vector<FileSegment> segments;
  std::vector<uint64_t> headerOffsets;
  uint64_t at = 0;
  // Each iteration consumes at least one header, so the loop is bounded by the file size / 32.
  while (at < in.size()) {
    std::string which = "LiME range header #" + std::to_string(segments.size());
    uint8_t h[kHeaderSize];
    if (!in.fits(at, kHeaderSize)) {
      *err = Error::format(path, at, "expected a 32-byte " + which + ", only " + std::to_string(in.size() - at) +
                                         " bytes remain: truncated capture?");
      return nullptr;
    }
    if (!in.copy(at, h, kHeaderSize)) {
      *err = Error::make(Errc::kSourceGone, 0, path + ": file shrank while its headers were read");
      return nullptr;
    }
    uint64_t magic = ByteReader::le(h, 4);
    uint64_t version = ByteReader::le(h + 4, 4);
    uint64_t start = ByteReader::le(h + 8, 8);
    uint64_t last = ByteReader::le(h + 16, 8);
    if (magic != kLimeMagic) {
      *err = Error::format(path, at, "expected LiME magic 0x4c694d45 in " + which + ", found " + hex(magic));
      return nullptr;
    }
    if (version != 1) {
      *err = Error::format(path, at + 4, "expected LiME version 1 in " + which + ", found " + std::to_string(version));
      return nullptr;
    }
    if (last < start || last - start == ~0ull) {
      *err = Error::format(path, at + 8, "expected s_addr <= e_addr (inclusive end) in " + which + ", found " +
                                             hex(start) + ".." + hex(last));
      return nullptr;
    }
    uint64_t length = last - start + 1;
    if (!in.fits(at + kHeaderSize, length)) {
      *err = Error::format(path, at, which + " declares " + hex(length) + " bytes (" + hex(start) + ".." + hex(last) +
                                         ") but only " + std::to_string(in.size() - at - kHeaderSize) +
                                         " bytes follow it: truncated capture?");
      return nullptr;
    }
    segments.push_back({start, length, at + kHeaderSize});
    headerOffsets.push_back(at);
    at += kHeaderSize + length;
  }
  if (segments.empty()) {
    *err = Error::format(path, 0, "expected at least one LiME range header");
    return nullptr;
  }
  if (!checkNoOverlap(path, segments, headerOffsets, "LiME range", err)) return nullptr;
  return SegmentedFileMemory::create("lime", std::move(file), std::move(segments), /*stable=*/true, err);
}

}  // namespace parasight
