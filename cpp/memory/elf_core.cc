// ELF cores from QEMU `dump-guest-memory` (and other ELF physical-memory dumps): PT_LOAD p_paddr → file offset.
#include <string>
#include <vector>

#include "memory/byte_reader.h"
#include "memory/image_file.h"
#include "memory/segmented_file_memory.h"

namespace parasight {
namespace {

constexpr uint32_t kPtLoad = 1;
constexpr uint16_t kEtCore = 4;
constexpr uint16_t kPnXnum = 0xffff;  // e_phnum escape: the real count is in section header 0's sh_info

// Field offsets that differ between the two ELF classes.
struct ElfLayout {
  const char* name;
  unsigned headerSize;
  unsigned addrWidth;  // 4 or 8
  unsigned phoff, shoff, phentsize, phnum, shentsize, shnum;
  unsigned phdrSize;
  unsigned pType, pOffset, pPaddr, pFilesz, pMemsz;
  unsigned shdrSize, shInfo;
};

constexpr ElfLayout kElf64 = {"ELF64", 64, 8, 0x20, 0x28, 0x36, 0x38, 0x3a, 0x3c, 56, 0, 8, 24, 32, 40, 64, 44};
constexpr ElfLayout kElf32 = {"ELF32", 52, 4, 0x1c, 0x20, 0x2a, 0x2c, 0x2e, 0x30, 32, 0, 4, 12, 16, 20, 40, 28};

}  // namespace

std::unique_ptr<PhysicalMemory> openElfCore(std::unique_ptr<MappedFile> file, Error* err) {
  const std::string& path = file->path();
  ByteReader in(*file);
  uint8_t ident[16];
  if (!in.copy(0, ident, sizeof ident)) {
    *err = Error::format(path, 0, "expected a 16-byte ELF identification, the file has " + std::to_string(in.size()) +
                                      " bytes");
    return nullptr;
  }
  if (ident[0] != 0x7f || ident[1] != 'E' || ident[2] != 'L' || ident[3] != 'F') {
    *err = Error::format(path, 0, "expected the ELF magic 7f 45 4c 46");
    return nullptr;
  }
  if (ident[4] != 1 && ident[4] != 2) {
    *err = Error::format(path, 4, "expected ELF class 1 (32-bit) or 2 (64-bit), found " + std::to_string(ident[4]));
    return nullptr;
  }
  if (ident[5] != 1) {
    *err = Error::format(path, 5, "expected little-endian data (EI_DATA 1), found " + std::to_string(ident[5]) +
                                      ": only little-endian (x86) cores are supported");
    return nullptr;
  }
  const ElfLayout& L = ident[4] == 2 ? kElf64 : kElf32;
  uint8_t eh[64];
  if (!in.copy(0, eh, L.headerSize)) {
    *err = Error::format(path, 0, std::string("expected a ") + std::to_string(L.headerSize) + "-byte " + L.name +
                                      " header, the file has " + std::to_string(in.size()) + " bytes");
    return nullptr;
  }
  uint64_t type = ByteReader::le(eh + 16, 2);
  if (type != kEtCore) {
    *err = Error::format(path, 16, "expected e_type 4 (ET_CORE), found " + std::to_string(type));
    return nullptr;
  }
  uint64_t phoff = ByteReader::le(eh + L.phoff, L.addrWidth);
  uint64_t phentsize = ByteReader::le(eh + L.phentsize, 2);
  uint64_t phnum = ByteReader::le(eh + L.phnum, 2);
  if (phentsize < L.phdrSize) {
    *err = Error::format(path, L.phentsize, "expected e_phentsize >= " + std::to_string(L.phdrSize) + " for " + L.name +
                                                ", found " + std::to_string(phentsize));
    return nullptr;
  }
  if (phnum == kPnXnum) {
    // More than 65534 segments (QEMU does this for guests with many RAM blocks): count in shdr[0].sh_info.
    uint64_t shoff = ByteReader::le(eh + L.shoff, L.addrWidth);
    uint8_t sh[64];
    if (shoff == 0) {
      *err = Error::format(path, L.shoff, "e_phnum is PN_XNUM (0xffff): expected e_shoff to locate section header 0 "
                                          "holding the segment count, found 0");
      return nullptr;
    }
    if (!in.copy(shoff, sh, L.shdrSize)) {
      *err = Error::format(path, shoff, "e_phnum is PN_XNUM (0xffff): expected section header 0 holding the "
                                        "segment count, but it lies past the end of the file (" +
                                            std::to_string(in.size()) + " bytes)");
      return nullptr;
    }
    phnum = ByteReader::le(sh + L.shInfo, 4);
  }
  if (phnum == 0) {
    *err = Error::format(path, L.phnum, "expected at least one program header (e_phnum is 0)");
    return nullptr;
  }
  // Division, not multiplication: an absurd count must not overflow into a small product.
  if (phoff > in.size() || phnum > (in.size() - phoff) / phentsize) {
    *err = Error::format(path, phoff, "expected a program header table of " + std::to_string(phnum) + " entries × " +
                                          std::to_string(phentsize) + " bytes, but it runs past the end of the file (" +
                                          std::to_string(in.size()) + " bytes)");
    return nullptr;
  }
  std::vector<FileSegment> segments;
  std::vector<uint64_t> headerOffsets;  // parallel to segments, for overlap errors
  for (uint64_t i = 0; i < phnum; i++) {
    uint64_t at = phoff + i * phentsize;
    uint8_t ph[56];
    if (!in.copy(at, ph, L.phdrSize)) {
      *err = Error::make(Errc::kSourceGone, 0, path + ": file shrank while its program headers were read");
      return nullptr;
    }
    if (ByteReader::le(ph + L.pType, 4) != kPtLoad) continue;
    uint64_t offset = ByteReader::le(ph + L.pOffset, L.addrWidth);
    uint64_t paddr = ByteReader::le(ph + L.pPaddr, L.addrWidth);
    uint64_t filesz = ByteReader::le(ph + L.pFilesz, L.addrWidth);
    uint64_t memsz = ByteReader::le(ph + L.pMemsz, L.addrWidth);
    std::string which = "PT_LOAD #" + std::to_string(i) + " (program header at " + hex(at) + ")";
    if (filesz > memsz) {
      *err = Error::format(path, at, "expected p_filesz <= p_memsz in " + which + ", found " + hex(filesz) + " > " +
                                         hex(memsz));
      return nullptr;
    }
    if (!in.fits(offset, filesz)) {
      *err = Error::format(path, at, "expected the bytes of " + which + " (" + hex(filesz) + " at offset " +
                                         hex(offset) + ") inside the file (" + std::to_string(in.size()) +
                                         " bytes): truncated core?");
      return nullptr;
    }
    if (paddr + filesz < paddr) {
      *err = Error::format(path, at, "expected " + which + " to fit below 2^64, but p_paddr " + hex(paddr) + " + " +
                                         hex(filesz) + " wraps");
      return nullptr;
    }
    // Bytes between p_filesz and p_memsz were not written to the file (a truncated or filtered dump): they stay a
    // hole rather than reading as zeros, so nobody mistakes missing memory for zeroed memory.
    segments.push_back({paddr, filesz, offset});
    headerOffsets.push_back(at);
  }
  if (segments.empty()) {
    *err = Error::format(path, phoff, "expected at least one PT_LOAD segment among " + std::to_string(phnum) +
                                          " program headers");
    return nullptr;
  }
  if (!checkNoOverlap(path, segments, headerOffsets, "PT_LOAD", err)) return nullptr;
  return SegmentedFileMemory::create("elf-core", std::move(file), std::move(segments), /*stable=*/true, err);
}

}  // namespace parasight
