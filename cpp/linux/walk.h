// Bounded walks of a Linux guest: the task list (init_task.tasks, thread-group leaders) and, per task, the fd
// table → struct file → struct socket → struct sock (TCP/UDP, IPv4/IPv6). Walks stop at their limits, on a
// cycle, or at an unreadable/implausible pointer, and report each as a problem; what was read is still returned.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "linux/layout.h"
#include "paging/address_space.h"
#include "windows/problems.h"

namespace parasight::linux_guest {

using Problems = windows::Problems;

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

  // Every thread-group leader from init_task onwards.
  std::vector<TaskRecord> tasks(Problems& problems);
  // Every TCP/UDP socket held in the fd tables of `tasks` (a shared fd table is walked once, for its first task).
  std::vector<SocketRecord> sockets(const std::vector<TaskRecord>& tasks, Problems& problems);
  // One bounded walk that stops at the first socket matching q exactly; a socket with an unspecified remote end
  // (listening, unconnected UDP) on the same local port answers when no exact match exists. Fills *task/*sock.
  bool find(const SocketQuery& q, TaskRecord* task, SocketRecord* sock, Problems& problems);

  AddressSpace& space() { return *space_; }

 private:
  bool readTask(uint64_t address, TaskRecord* t, uint64_t* next, Problems& problems);
  // Calls fn(sock) for each TCP/UDP socket of one fd table; fn returns false to stop. False when stopped.
  template <typename Fn>
  bool eachSocket(const TaskRecord& t, uint32_t taskIndex, Problems& problems, Fn&& fn);
  bool readSock(uint64_t sk, SocketRecord* s);
  bool kernelPointer(uint64_t va) const { return (va >> 47) == 0x1ffff; }

  std::shared_ptr<AddressSpace> space_;
  KernelLayout l_;
  uint64_t initTask_;
  WalkLimits limits_;
  uint32_t taskSpanStart_ = 0, taskSpanLen_ = 0;
  std::vector<uint8_t> taskBuf_;
  std::vector<uint64_t> fdBuf_;
};

}  // namespace parasight::linux_guest
