// Memory image files: format detection from the first bytes and one opener per format. Every opener validates
// the file's structure up front (FORMAT errors name the file, the offset and what was expected there), so reads
// later only meet holes, the end, or a file that shrank.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "memory/mapped_file.h"
#include "memory/physical_memory.h"
#include "memory/segmented_file_memory.h"

namespace parasight {

enum class ImageFormat { kAuto, kRaw, kElf, kLime };

// Parses "auto" | "raw" | "elf" | "lime"; false for anything else.
bool parseImageFormat(const std::string& name, ImageFormat* out);

// Opens an image file; kAuto looks at the first bytes (ELF magic, LiME magic, else raw).
std::unique_ptr<PhysicalMemory> openImageFile(const std::string& path, ImageFormat format, Error* err);

// ELF core as written by QEMU dump-guest-memory (ELF64 or ELF32, little-endian): one range per PT_LOAD at its
// p_paddr; gaps between them are holes.
std::unique_ptr<PhysicalMemory> openElfCore(std::unique_ptr<MappedFile> file, Error* err);

// LiME (lime-forensics): a sequence of 32-byte range headers each followed by its bytes.
std::unique_ptr<PhysicalMemory> openLime(std::unique_ptr<MappedFile> file, Error* err);

// A guest RAM file a running QEMU shares (memory-backend-file,share=on, or a memfd from /proc/PID/fd). The file is
// one RAM block: offsets below lowRamSize are guest-physical addresses as is; the rest of the block sits at
// guest-physical 4 GiB. The caller decides lowRamSize (QEMU's machine rule or the user's value).
std::unique_ptr<PhysicalMemory> openLiveRamFile(std::unique_ptr<MappedFile> file, uint64_t lowRamSize,
                                                const char* kind, Error* err);

// FORMAT error (naming the header offsets of both) when two segments overlap in physical space.
bool checkNoOverlap(const std::string& path, const std::vector<FileSegment>& segments,
                    const std::vector<uint64_t>& headerOffsets, const char* what, Error* err);

}  // namespace parasight
