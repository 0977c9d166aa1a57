// Raw physical memory images (.raw/.vmem/.mem/.bin, or any flat dump): file offset == guest-physical address.
#pragma once
#include <memory>
#include <string>

#include "memory/mapped_file.h"
#include "memory/physical_memory.h"

namespace parasight {

std::unique_ptr<PhysicalMemory> openRawImage(const std::string& path, Error* err);
// The same over a file already mapped (format detection maps it first).
std::unique_ptr<PhysicalMemory> openRawImage(std::unique_ptr<MappedFile> file, Error* err);

}  // namespace parasight
