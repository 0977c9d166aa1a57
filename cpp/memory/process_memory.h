// Guest RAM inside a running process (QEMU, unchanged): read with process_vm_readv (batched) or pread on
// /proc/PID/mem. The process is never stopped or modified; when it exits every read is SOURCE_GONE.
#pragma once
#include <memory>
#include <vector>

#include "memory/physical_memory.h"

namespace parasight {

// One guest-physical range backed by the process's memory at host virtual address `hva`.
struct ProcessRamBlock {
  uint64_t physStart;
  uint64_t length;
  uint64_t hva;
};

enum class ProcessAccess {
  kAuto,            // process_vm_readv, falling back to /proc/PID/mem where the syscall is refused
  kProcessVmReadv,  // only process_vm_readv
  kProcMem,         // only pread on /proc/PID/mem
};

// Opens /proc/PID/mem and /proc/PID/pagemap (needs root or CAP_SYS_PTRACE over the process) and checks that the
// first block is readable. NOT_FOUND when the process does not exist, PERMISSION when ptrace access is refused.
std::unique_ptr<PhysicalMemory> openProcessMemory(int pid, std::vector<ProcessRamBlock> blocks, ProcessAccess access,
                                                  Error* err);

}  // namespace parasight
