// Errors are values: every layer below the binding reports failures through this struct, never by throwing or
// crashing. The binding turns it into a JS ParasightError with the same stable code string.
#pragma once
#include <cstdint>
#include <string>

namespace parasight {

std::string hex(uint64_t value);

enum class Errc : uint8_t {
  kOk = 0,
  kHole,            // physical address inside the source's span but not backed by any range
  kOutOfRange,      // address past the end of the source
  kIo,              // the OS refused a read (errno in detail)
  kSourceGone,      // file shrank, process exited, mapping vanished
  kFormat,          // the input is not what it claims to be (bad header, truncated table)
  kPageNotPresent,  // translation stopped at a non-present entry
  kPageTransition,  // Windows transition PTE: paged out of the working set but still in RAM
  kBadArgument,
  kUnsupported,
  kPermission,
  kNotFound,
  kClosed,
  kCancelled,
  kLimit,           // a walk hit its bound (count, cycle)
};

const char* errcName(Errc code);

struct Error {
  Errc code = Errc::kOk;
  uint64_t address = 0;       // physical or virtual address the failure is about
  int level = -1;             // paging level of a translation fault (5..1), -1 when not a translation
  uint64_t entry = 0;         // raw paging entry that stopped the walk
  uint64_t entryAddress = 0;  // physical address that entry was read from
  int64_t fileOffset = -1;    // file formats: offset in the file where the problem was found, -1 when none
  std::string detail;

  explicit operator bool() const { return code != Errc::kOk; }

  static Error make(Errc code, uint64_t address, std::string detail) {
    Error e;
    e.code = code;
    e.address = address;
    e.detail = std::move(detail);
    return e;
  }
  // A malformed file: FORMAT error naming the file, the offset and what was expected there.
  static Error format(const std::string& path, uint64_t offset, const std::string& what) {
    Error e = make(Errc::kFormat, 0, path + ": at file offset " + hex(offset) + ": " + what);
    e.fileOffset = static_cast<int64_t>(offset);
    return e;
  }
};

}  // namespace parasight
