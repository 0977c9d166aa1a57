// What a guest walker (Windows or Linux) could not read or did not trust. Walkers return partial results plus this list; the binding
// turns it into the TS `Problem[]` every introspection result carries.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "memory/error.h"

namespace parasight {

struct Problem {
  std::string code;  // CYCLE, LIMIT, BAD_POINTER, PAGE_NOT_PRESENT, HOLE, NOT_FOUND, INCONSISTENT ...
  std::string message;
  uint64_t address = 0;
  std::string walk;
};

class Problems {
 public:
  void add(std::string code, std::string message, uint64_t address, const std::string& walk) {
    if (list_.size() >= kMax) {
      dropped_++;
      return;
    }
    list_.push_back({std::move(code), std::move(message), address, walk});
  }
  // A failed read: the code comes from the error (PAGE_NOT_PRESENT, HOLE, OUT_OF_RANGE ...).
  void read(const Error& err, const std::string& what, uint64_t address, const std::string& walk) {
    add(err ? errcName(err.code) : "BAD_POINTER", what + ": " + (err ? err.detail : "unreadable"), address, walk);
  }
  const std::vector<Problem>& list() const { return list_; }
  size_t dropped() const { return dropped_; }

 private:
  // Hostile memory can make every object a problem: keep the report bounded too.
  static constexpr size_t kMax = 256;
  std::vector<Problem> list_;
  size_t dropped_ = 0;
};

// Little-endian fields of guest structures (both guests are x86).
inline uint16_t le16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t le32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

}  // namespace parasight
