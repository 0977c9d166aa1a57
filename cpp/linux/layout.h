// Field offsets and kernel symbols the Linux walkers need, all taken from a profile (BTF + kallsyms) by the TS
// layer: a new kernel build is a new profile, never a code change here.
#pragma once
#include <cstdint>
#include <string>

namespace parasight::linux_guest {

struct TaskLayout {
  uint32_t tasks = 0;        // task_struct.tasks (list_head)
  uint32_t pid = 0, tgid = 0;
  uint32_t realParent = 0;   // task_struct *
  uint32_t comm = 0;         // char[16]
  uint32_t startTime = 0;    // u64 ns since boot (monotonic)
  uint32_t mm = 0, files = 0;
  uint32_t flags = 0;        // PF_KTHREAD = 0x00200000
  uint32_t mmPgd = 0;        // mm_struct.pgd
  // One read covers [spanStart, spanEnd) of a task_struct (computed by the walker from the fields above).
};

struct FileLayout {
  uint32_t filesFdt = 0;     // files_struct.fdt
  // files_struct.open_fds_init and .fd_array: the bitmap and slots of a table of at most 64 descriptors, embedded in
  // the files_struct and adjacent (0 when the profile lacks them: every table is then re-read through fdt).
  uint32_t filesOpenFdsInit = 0, filesFdArray = 0;
  uint32_t fdtMaxFds = 0, fdtFd = 0;
  uint32_t fileOp = 0, filePrivate = 0, fileInode = 0;
  uint32_t inodeMode = 0;
  uint32_t socketSk = 0;
  // struct sock / sock_common (sock_common sits at offset 0 of struct sock)
  uint32_t skDaddr = 0, skRcvSaddr = 0, skDport = 0, skNum = 0, skFamily = 0, skState = 0;
  uint32_t skV6Daddr = 0, skV6RcvSaddr = 0;
  uint32_t skProtocol = 0, skProtocolSize = 2, skType = 0;
};

struct KernelLayout {
  TaskLayout task;
  FileLayout file;
  uint64_t socketFileOps = 0;    // slid address of socket_file_ops (0: classify by inode mode instead)
  uint64_t pageOffsetBase = 0;   // direct-map base
};

// Bounds for every walk: hostile or torn memory cannot make a walk run forever or allocate without limit.
struct WalkLimits {
  uint32_t maxTasks = 65536;
  uint32_t maxFdsPerTable = 65536;
  uint32_t maxSockets = 262144;
};

}  // namespace parasight::linux_guest
