#include "memory/error.h"

#include <cstdio>

namespace parasight {

const char* errcName(Errc code) {
  switch (code) {
    case Errc::kOk: return "OK";
    case Errc::kHole: return "HOLE";
    case Errc::kOutOfRange: return "OUT_OF_RANGE";
    case Errc::kIo: return "IO";
    case Errc::kSourceGone: return "SOURCE_GONE";
    case Errc::kFormat: return "FORMAT";
    case Errc::kPageNotPresent: return "PAGE_NOT_PRESENT";
    case Errc::kPageTransition: return "PAGE_TRANSITION";
    case Errc::kBadArgument: return "BAD_ARGUMENT";
    case Errc::kUnsupported: return "UNSUPPORTED";
    case Errc::kPermission: return "PERMISSION";
    case Errc::kNotFound: return "NOT_FOUND";
    case Errc::kClosed: return "CLOSED";
    case Errc::kCancelled: return "CANCELLED";
    case Errc::kLimit: return "LIMIT";
  }
  return "UNKNOWN";
}

std::string hex(uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
  return buf;
}

}  // namespace parasight
