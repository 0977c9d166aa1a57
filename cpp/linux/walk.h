// Bounded walks of a Linux guest: the task list (init_task.tasks, thread-group leaders) and, per task, the fd
// table → struct file → struct socket → struct sock (TCP/UDP, IPv4/IPv6). Walks stop at their limits, on a
// cycle, or at an unreadable/implausible pointer, and report each as a problem; what was read is still returned.
//
// Reads go level by level, one batch per level (memflow's style): all task spans, then all fd-table headers,
// all fd arrays, all f_op pointers, ... Each batch is one readMany on the memory source (one process_vm_readv
// for a QEMU process). The task list is re-read from the addresses the previous walk found, then verified link by
// link from init_task; links that moved are followed one read at a time.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "linux/layout.h"
#include "paging/address_space.h"
#include "walk/problems.h"

namespace parasight::linux_guest {

struct TaskRecord {
  uint64_t address = 0;
  int32_t pid = 0, tgid = 0, ppid = 0;
  uint32_t flags = 0;
  char comm[16] = {};
  uint64_t startTime = 0;  // ns since boot
  uint64_t mm = 0, pgd = 0, files = 0;
};

struct SocketRecord {
  uint64_t sock = 0, file = 0;
  uint32_t task = 0;   // index into the task vector
  uint32_t fd = 0;
  uint8_t family = 0;  // 4 or 6
  uint8_t proto = 0;   // 6 TCP, 17 UDP
  uint8_t state = 0;   // kernel TCP state number (UDP: 1 connected, 7 unconnected)
  uint16_t lport = 0, rport = 0;
  // Addresses as 16 bytes; IPv4 as ::ffff:a.b.c.d so that v4 and v6 compare the same way.
  std::array<uint8_t, 16> laddr{}, raddr{};
};

// A connection to look for (find): guest endpoint first, addresses in the same 16-byte form.
struct SocketQuery {
  uint8_t proto = 0;
  uint16_t lport = 0, rport = 0;
  std::array<uint8_t, 16> laddr{}, raddr{};
};

class Walker {
 public:
  Walker(std::shared_ptr<AddressSpace> space, const KernelLayout& layout, uint64_t initTask, const WalkLimits& limits);

  // Every thread-group leader after init_task; with `details`, parent pid and page-table root too.
  std::vector<TaskRecord> tasks(bool details, Problems& problems);
  // Every TCP/UDP socket held in the fd tables of `tasks` (a shared fd table is walked once, for its first task).
  std::vector<SocketRecord> sockets(const std::vector<TaskRecord>& tasks, Problems& problems);
  // One bounded walk for a socket matching q exactly; a socket with an unspecified remote end (listening,
  // unconnected UDP) on the same local port answers when no exact match exists. Stages, cheapest first, each
  // taking only an exact match and each compared with what the last sweep saw (its baseline):
  //   1 kHotTables / kKnownTables: fd tables the sweep knew, read as one small signal each (the embedded open-fd
  //     bitmap and the slots up to just past the highest descriptor then open); descriptors that differ are
  //     classified. The tables that changed lately first (≤ 16), then all of them; then every descriptor of those
  //     that changed lately, changed or not (a descriptor reopened on the struct file just freed looks unchanged);
  //     Kernels whose struct file is SLAB_TYPESAFE_BY_RCU (6.7+, e.g. Debian 6.12) may hand a closed descriptor's
  //     struct file straight to the next open, so a descriptor closed and reopened can leave its table unchanged:
  //     after stage 2, the sockets the sweep saw are checked for a changed file->private_data (also kKnownTables);
  //   2 kNewTasks: tasks created since, found from the tail of the task list (fork appends there);
  //   3 kSweep: a full sweep decides (it also answers with a listening / unconnected socket), and becomes the
  //     baseline. Its tasks/sockets are the caller's new snapshot.
  // In stages 1-2, tasks/sockets hold just the owner and its socket. match: index in sockets, or -1.
  enum class Stage : uint8_t { kHotTables = 0, kKnownTables = 1, kNewTasks = 2, kSweep = 3 };
  struct FindResult {
    long match = -1;
    Stage stage = Stage::kSweep;
    std::vector<TaskRecord> tasks;
    std::vector<SocketRecord> sockets;
  };
  FindResult find(const SocketQuery& q, Problems& problems);

 private:
  struct Batch {
    std::vector<uint64_t> va;
    std::vector<uint8_t> bytes, ok;
    size_t itemSize = 0;
    const uint8_t* at(size_t i) const { return bytes.data() + i * itemSize; }
  };
  // Reads itemSize bytes at every b.va[i] in one batch (direct-map addresses need no page walk).
  void read(Batch& b, size_t itemSize);
  bool physical(uint64_t va, size_t len, uint64_t* pa);
  bool readOne(uint64_t va, void* dst, size_t len, Error* err);
  void decodeTask(const uint8_t* span, uint64_t address, TaskRecord* t, uint64_t* next) const;
  void details(std::vector<TaskRecord>& tasks);
  bool decodeSock(const uint8_t* common, const uint8_t* tail, uint64_t sk, SocketRecord* s) const;
  bool kernelPointer(uint64_t va) const { return (va >> 47) == 0x1ffff; }
  struct Slot {
    uint32_t task, fd;
    uint64_t file;
  };
  // An fd table as read through files->fdt: its owner (index into the caller's tasks), fdtable, array, slots.
  struct FdTable {
    uint32_t task;
    uint64_t files, fdt, array;
    uint32_t count;
  };
  // Levels 2-3 of a walk for the tables of tasks[owner[i]] (files pointers distinct): fdt pointers, headers, arrays
  // (default-sized ones in one batch, larger ones alone). Appends the tables read and their non-empty slots.
  void readTables(const std::vector<TaskRecord>& tasks, const std::vector<uint32_t>& owner, std::vector<FdTable>* tables,
                  std::vector<Slot>* slots, Problems& problems);
  // Socket records of the slots that are TCP/UDP sockets (level 4 of a walk).
  std::vector<SocketRecord> classify(const std::vector<Slot>& files);

  // --- find's cheap stages (find.cc) ---
  struct KnownTable {
    uint32_t task;             // index into baseline_.tasks
    uint32_t count;            // slots in the baseline
    uint64_t files, fdt;       // files_struct; fdtable (tables read through fdt only)
    size_t slots;              // first slot in baseline_.slots
    int32_t group;             // its SignalGroup (-1: read through fdt)
    uint32_t item;             // its place in that group
  };
  // Embedded tables whose signals have the same size, read as one batch at precomputed physical addresses.
  struct SignalGroup {
    uint32_t window = 0;  // slots covered
    size_t itemSize = 0;  // bitmap + gap + window slots
    std::vector<uint32_t> tables;
    std::vector<uint64_t> pa;
    std::vector<uint8_t> baseline, current, ok;
  };
  struct Baseline {
    std::vector<TaskRecord> tasks;
    std::vector<KnownTable> tables;
    std::vector<uint64_t> slots;           // every table's slots, concatenated
    std::vector<SignalGroup> groups;
    std::vector<uint32_t> throughFdt;      // tables not embedded (grown, or no embedded layout): read in full
    std::vector<int32_t> tableOfTask;      // task index → its table (-1: shares another's or has none)
    std::vector<uint32_t> hot;             // tables that changed lately, most recent first
    std::vector<uint64_t> filesSorted;     // every table's files_struct, sorted (is a new task's table known?)
    std::unordered_map<uint64_t, std::pair<int32_t, uint64_t>> taskIds;  // task address → pid, start time
    std::vector<Slot> socketFiles;         // the sweep's socket descriptors (a recycled struct file keeps its address)
    std::vector<uint64_t> privatePa;       // physical address of each one's file->private_data
    std::vector<uint64_t> privateThen, privateNow;
    std::vector<uint8_t> privateOk;
  };
  void remember(const std::vector<TaskRecord>& tasks, const std::vector<FdTable>& tables, const std::vector<Slot>& files,
                const std::vector<SocketRecord>& sockets);
  // Sockets of the baseline whose struct file now holds another socket (closed and reopened on a recycled file).
  bool findRecycled(const SocketQuery& q, TaskRecord* task, SocketRecord* sock);
  // Puts a table first among those that changed lately (a process that opened one connection likely opens more).
  void heat(uint32_t table);
  // *hot: answered from the tables that changed lately.
  bool findKnown(const SocketQuery& q, TaskRecord* task, SocketRecord* sock, bool* hot);
  // Descriptors of known tables (all tables, or a subset) that differ from the baseline (`all`: every descriptor
  // they hold now), as candidates.
  void diffTables(const std::vector<uint32_t>* subset, bool all, std::vector<Slot>* fresh);
  void diffEmbedded(uint32_t table, const uint8_t* now, bool all, std::vector<Slot>* fresh, std::vector<uint32_t>* beyond);
  bool findNewTasks(const SocketQuery& q, TaskRecord* task, SocketRecord* sock);
  // The socket among `fresh` matching q exactly, with its owner re-read from guest memory (*slot: where it was);
  // false when none.
  bool exactMatch(const SocketQuery& q, const std::vector<Slot>& fresh, const std::vector<TaskRecord>& owners,
                  TaskRecord* task, SocketRecord* sock, Slot* slot);
  Baseline baseline_;

  std::shared_ptr<AddressSpace> space_;
  KernelLayout l_;
  uint64_t initTask_;
  WalkLimits limits_;
  uint32_t taskSpanStart_ = 0, taskSpanLen_ = 0;
  uint32_t commonLen_ = 0, tailStart_ = 0, tailLen_ = 0;
  std::vector<uint64_t> knownTasks_;  // task addresses in list order, from the previous walk
  std::vector<uint8_t> span_;
};

}  // namespace parasight::linux_guest
