// Physical memory served from one mapped file through a list of segments (guest-physical start → file offset).
// Raw images are one segment; ELF cores and LiME files are one segment per PT_LOAD / range header; a live guest
// RAM file is one or two (RAM above the PCI hole). Gaps between segments are holes.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "memory/mapped_file.h"
#include "memory/physical_memory.h"

namespace parasight {

struct FileSegment {
  uint64_t physStart;
  uint64_t length;
  uint64_t fileOffset;
};

class SegmentedFileMemory : public PhysicalMemory {
 public:
  // Segments must lie inside the file and not overlap in physical space (checked: FORMAT error otherwise).
  // `stable` = the file will not change size while open (static images): enables direct() pointers for views.
  static std::unique_ptr<SegmentedFileMemory> create(const char* kind, std::unique_ptr<MappedFile> file,
                                                     std::vector<FileSegment> segments, bool stable, Error* err);

  const char* kind() const override { return kind_; }
  std::string origin() const override { return file_->path(); }
  size_t read(uint64_t pa, void* dst, size_t len, Error* err) override;
  size_t readBulk(uint64_t pa, void* dst, size_t len, Error* err) override;
  // Items inside one segment are copied under a single fault guard; the rest (holes, segment ends, a fault) go
  // through read() one at a time.
  size_t readMany(const uint64_t* addrs, size_t count, size_t itemSize, uint8_t* out, uint8_t* ok) override;
  const uint8_t* direct(uint64_t pa, size_t len) const override;
  // Data regions of the file (SEEK_DATA/SEEK_HOLE): on tmpfs and memfd these are the pages the guest has touched.
  bool residentRanges(uint64_t pa, uint64_t len, std::vector<PhysRange>* out, Error* err) override;

  const MappedFile& file() const { return *file_; }
  const std::vector<FileSegment>& segments() const { return segments_; }

 private:
  SegmentedFileMemory() = default;
  const char* kind_ = "";
  std::unique_ptr<MappedFile> file_;
  std::vector<FileSegment> segments_;  // parallel to ranges_
  bool stable_ = true;
};

}  // namespace parasight
