#include "memory/image_file.h"

#include <fcntl.h>

#include <algorithm>
#include <numeric>

#include "memory/byte_reader.h"
#include "memory/raw_source.h"
#include "memory/segmented_file_memory.h"

namespace parasight {

bool parseImageFormat(const std::string& name, ImageFormat* out) {
  if (name == "auto") *out = ImageFormat::kAuto;
  else if (name == "raw") *out = ImageFormat::kRaw;
  else if (name == "elf") *out = ImageFormat::kElf;
  else if (name == "lime") *out = ImageFormat::kLime;
  else return false;
  return true;
}

std::unique_ptr<PhysicalMemory> openImageFile(const std::string& path, ImageFormat format, Error* err) {
  auto file = MappedFile::open(path, err);
  if (!file) return nullptr;
  if (format == ImageFormat::kAuto) {
    uint8_t magic[4] = {0, 0, 0, 0};
    ByteReader(*file).copy(0, magic, sizeof magic);  // a file shorter than 4 bytes is raw
    if (magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F') format = ImageFormat::kElf;
    else if (ByteReader::le(magic, 4) == 0x4C694D45) format = ImageFormat::kLime;
    else format = ImageFormat::kRaw;
  }
  switch (format) {
    case ImageFormat::kElf: return openElfCore(std::move(file), err);
    case ImageFormat::kLime: return openLime(std::move(file), err);
    default: return openRawImage(std::move(file), err);
  }
}

std::unique_ptr<PhysicalMemory> openLiveRamFile(std::unique_ptr<MappedFile> file, uint64_t lowRamSize,
                                                const char* kind, Error* err) {
  constexpr uint64_t k4G = 1ull << 32;
  uint64_t size = file->size();
  uint64_t low = lowRamSize;
  if (low > k4G) {
    *err = Error::make(Errc::kBadArgument, 0, "lowRamSize " + hex(low) + " is above 4 GiB");
    return nullptr;
  }
  low = std::min(low, size);
  std::vector<FileSegment> segments{{0, low, 0}};
  if (size > low) segments.push_back({k4G, size - low, low});
  // A memfd sealed against shrinking (QEMU's memory-backend-memfd seals by default) can never lose pages under a
  // mapping, so zero-copy views are safe. Any other file may be truncated by someone else: reads stay guarded.
  int seals = fcntl(file->fd(), F_GET_SEALS);
  bool stable = seals >= 0 && (seals & F_SEAL_SHRINK) != 0;
  return SegmentedFileMemory::create(kind, std::move(file), std::move(segments), stable, err);
}

bool checkNoOverlap(const std::string& path, const std::vector<FileSegment>& segments,
                    const std::vector<uint64_t>& headerOffsets, const char* what, Error* err) {
  std::vector<size_t> order(segments.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return segments[a].physStart < segments[b].physStart; });
  for (size_t k = 1; k < order.size(); k++) {
    const FileSegment& prev = segments[order[k - 1]];
    const FileSegment& cur = segments[order[k]];
    if (prev.length != 0 && prev.physStart + prev.length > cur.physStart) {
      *err = Error::format(path, headerOffsets[order[k]],
                           std::string("expected non-overlapping ") + what + "s, but " + hex(cur.physStart) + "+" +
                               hex(cur.length) + " overlaps " + hex(prev.physStart) + "+" + hex(prev.length) +
                               " (header at " + hex(headerOffsets[order[k - 1]]) + ")");
      return false;
    }
  }
  return true;
}

}  // namespace parasight
