#include "memory/raw_source.h"

#include "memory/segmented_file_memory.h"

namespace parasight {

std::unique_ptr<PhysicalMemory> openRawImage(const std::string& path, Error* err) {
  auto file = MappedFile::open(path, err);
  if (!file) return nullptr;
  return openRawImage(std::move(file), err);
}

std::unique_ptr<PhysicalMemory> openRawImage(std::unique_ptr<MappedFile> file, Error* err) {
  uint64_t size = file->size();
  return SegmentedFileMemory::create("raw", std::move(file), {{0, size, 0}}, /*stable=*/true, err);
}

}  // namespace parasight
