// A file mapped once, read-only, for the source's lifetime (the zero-copy path: ARCHITECTURE.md "Views").
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "memory/error.h"

namespace parasight {

class MappedFile {
 public:
  // Opens and maps `path` read-only (MAP_SHARED, so a live guest RAM file shows the guest's current bytes).
  // Returns nullptr and fills err on failure (missing file, permission, empty file, not a regular file).
  static std::unique_ptr<MappedFile> open(const std::string& path, Error* err);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_; }
  // Current size on disk (fstat); differs from size() when the file was resized after mapping.
  uint64_t currentSize() const;

 private:
  MappedFile() = default;
  std::string path_;
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace parasight
