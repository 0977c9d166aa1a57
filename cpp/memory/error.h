// Errors are values: every layer below the binding reports failures through this struct, never by throwing or
// crashing. The binding turns it into a JS ParasightError with the same stable code string.
#pragma once
#include <cstdint>
#include <string>

namespace parasight {

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
  std::string detail;

  explicit operator bool() const { return code != Errc::kOk; }

  static Error make(Errc code, uint64_t address, std::string detail) {
    Error e;
    e.code = code;
    e.address = address;
    e.detail = std::move(detail);
    return e;
  }
};

std::string hex(uint64_t value);

}  // namespace parasight
