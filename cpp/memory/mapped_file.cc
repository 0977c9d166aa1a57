#include "memory/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace parasight {

std::unique_ptr<MappedFile> MappedFile::open(const std::string& path, Error* err) {
  auto fail = [&](Errc code, const std::string& why) -> std::unique_ptr<MappedFile> {
    *err = Error::make(code, 0, path + ": " + why);
    return nullptr;
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    Errc code = e == ENOENT ? Errc::kNotFound : (e == EACCES || e == EPERM) ? Errc::kPermission : Errc::kIo;
    return fail(code, std::string("cannot open: ") + std::strerror(e));
  }
  std::unique_ptr<MappedFile> file(new MappedFile());  // private constructor: make_unique cannot reach it
  file->path_ = path;
  file->fd_ = fd;
  struct stat st;
  if (fstat(fd, &st) != 0) return fail(Errc::kIo, std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail(Errc::kFormat, "not a regular file");
  if (st.st_size == 0) return fail(Errc::kFormat, "file is empty");
  void* p = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return fail(Errc::kIo, std::string("cannot map: ") + std::strerror(errno));
  file->data_ = static_cast<const uint8_t*>(p);
  file->size_ = static_cast<uint64_t>(st.st_size);
  return file;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
}

uint64_t MappedFile::currentSize() const {
  struct stat st;
  return fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace parasight
