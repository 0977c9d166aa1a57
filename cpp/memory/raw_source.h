// Raw physical memory images (.raw/.vmem/.mem/.bin, or any flat dump): file offset == guest-physical address.
#pragma once
#include <memory>
#include <string>

#include "memory/physical_memory.h"

namespace parasight {

std::unique_ptr<PhysicalMemory> openRawImage(const std::string& path, Error* err);

}  // namespace parasight
