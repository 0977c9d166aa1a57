// LibVMI as a memory source, loaded at run time with dlopen: parasight neither links against nor needs LibVMI to
// build; when libvmi.so is absent, opening this source is a NOT_FOUND error and nothing else changes.
#pragma once
#include <memory>
#include <string>

#include "memory/physical_memory.h"

namespace parasight {

enum class LibvmiMode { kXen = 0, kKvm = 1, kFile = 2 };  // values of LibVMI's vmi_mode_t

// Opens `domain` (a VM name, or a file path in kFile mode) with vmi_init(VMI_INIT_DOMAINNAME): physical memory
// access only, no OS profile needed. `library` empty = "libvmi.so", then "libvmi.so.0".
std::unique_ptr<PhysicalMemory> openLibvmi(const std::string& domain, LibvmiMode mode, const std::string& library,
                                           Error* err);

}  // namespace parasight
