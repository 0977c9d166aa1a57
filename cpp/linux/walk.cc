#include "linux/walk.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

namespace parasight::linux_guest {

namespace {

using windows::le16;
using windows::le32;
using windows::le64;

constexpr uint8_t kIpProtoTcp = 6, kIpProtoUdp = 17;
constexpr uint16_t kAfInet = 2, kAfInet6 = 10;
constexpr uint16_t kSockStream = 1, kSockDgram = 2;

void mapV4(const uint8_t* v4, std::array<uint8_t, 16>* out) {
  out->fill(0);
  (*out)[10] = 0xff;
  (*out)[11] = 0xff;
  std::memcpy(out->data() + 12, v4, 4);
}

bool unspecified(const std::array<uint8_t, 16>& a) {
  static const uint8_t mappedAny[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
  static const uint8_t any[16] = {};
  return std::memcmp(a.data(), any, 16) == 0 || std::memcmp(a.data(), mappedAny, 16) == 0;
}

}  // namespace

Walker::Walker(std::shared_ptr<AddressSpace> space, const KernelLayout& layout, uint64_t initTask,
               const WalkLimits& limits)
    : space_(std::move(space)), l_(layout), initTask_(initTask), limits_(limits) {
  const TaskLayout& t = l_.task;
  const uint32_t fields[] = {t.tasks, t.pid, t.tgid, t.realParent, t.comm, t.startTime, t.mm, t.files};
  uint32_t lo = *std::min_element(std::begin(fields), std::end(fields));
  uint32_t hi = 0;
  for (uint32_t f : fields) hi = std::max(hi, f + (f == t.comm ? 16u : 16u));
  taskSpanStart_ = lo;
  taskSpanLen_ = hi - lo;
  taskBuf_.resize(taskSpanLen_);
}

bool Walker::readTask(uint64_t address, TaskRecord* t, uint64_t* next, Problems& problems) {
  Error err;
  if (space_->read(address + taskSpanStart_, taskBuf_.data(), taskSpanLen_, &err) != taskSpanLen_) {
    problems.read(err, "task_struct", address, "task-list");
    return false;
  }
  const uint8_t* b = taskBuf_.data() - taskSpanStart_;
  const TaskLayout& L = l_.task;
  t->address = address;
  t->pid = static_cast<int32_t>(le32(b + L.pid));
  t->tgid = static_cast<int32_t>(le32(b + L.tgid));
  std::memcpy(t->comm, b + L.comm, 16);
  t->comm[15] = 0;
  t->startTime = le64(b + L.startTime);
  t->mm = le64(b + L.mm);
  t->files = le64(b + L.files);
  *next = le64(b + L.tasks);
  uint64_t parent = le64(b + L.realParent);
  uint32_t ppid = 0;
  if (kernelPointer(parent) && space_->readU32(parent + L.tgid, &ppid, &err)) t->ppid = static_cast<int32_t>(ppid);
  t->pgd = 0;
  if (t->mm && kernelPointer(t->mm)) {
    uint64_t pgdVa = 0;
    Translation tr;
    if (space_->readU64(t->mm + L.mmPgd, &pgdVa, &err) && space_->translate(pgdVa, &tr, &err)) t->pgd = tr.pa;
  }
  return true;
}

std::vector<TaskRecord> Walker::tasks(Problems& problems) {
  std::vector<TaskRecord> out;
  const uint64_t head = initTask_ + l_.task.tasks;
  uint64_t entry = 0;
  Error err;
  if (!space_->readU64(head, &entry, &err)) {
    problems.read(err, "init_task.tasks", head, "task-list");
    return out;
  }
  std::unordered_set<uint64_t> seen;
  while (entry != head) {
    if (!kernelPointer(entry)) {
      problems.add("BAD_POINTER", "task list link " + hex(entry) + " is not a kernel address", entry, "task-list");
      break;
    }
    if (out.size() >= limits_.maxTasks) {
      problems.add("LIMIT", "task list longer than " + std::to_string(limits_.maxTasks), entry, "task-list");
      break;
    }
    if (!seen.insert(entry).second) {
      problems.add("CYCLE", "task list revisits " + hex(entry), entry, "task-list");
      break;
    }
    TaskRecord t;
    uint64_t next = 0;
    if (!readTask(entry - l_.task.tasks, &t, &next, problems)) break;
    out.push_back(t);
    entry = next;
  }
  return out;
}

bool Walker::readSock(uint64_t sk, SocketRecord* s) {
  const FileLayout& F = l_.file;
  uint8_t common[128];
  const uint32_t commonLen = std::min<uint32_t>(sizeof(common), std::max({F.skV6RcvSaddr, F.skV6Daddr}) + 16);
  Error err;
  if (space_->read(sk, common, commonLen, &err) != commonLen) return false;
  uint8_t tail[8];
  const uint32_t tailStart = std::min(F.skType, F.skProtocol);
  const uint32_t tailLen = std::max(F.skType + 2, F.skProtocol + F.skProtocolSize) - tailStart;
  if (tailLen > sizeof(tail) || space_->read(sk + tailStart, tail, tailLen, &err) != tailLen) return false;
  const uint16_t family = le16(common + F.skFamily);
  const uint16_t type = le16(tail + (F.skType - tailStart));
  const uint8_t* protoAt = tail + (F.skProtocol - tailStart);
  const uint16_t proto = F.skProtocolSize == 1 ? *protoAt : le16(protoAt);
  if (family != kAfInet && family != kAfInet6) return false;
  if (!((proto == kIpProtoTcp && type == kSockStream) || (proto == kIpProtoUdp && type == kSockDgram))) return false;
  s->sock = sk;
  s->family = family == kAfInet ? 4 : 6;
  s->proto = static_cast<uint8_t>(proto);
  s->state = common[F.skState];
  s->lport = le16(common + F.skNum);
  s->rport = windows::be16(common + F.skDport);
  if (family == kAfInet) {
    mapV4(common + F.skRcvSaddr, &s->laddr);
    mapV4(common + F.skDaddr, &s->raddr);
  } else {
    std::memcpy(s->laddr.data(), common + F.skV6RcvSaddr, 16);
    std::memcpy(s->raddr.data(), common + F.skV6Daddr, 16);
  }
  return true;
}

template <typename Fn>
bool Walker::eachSocket(const TaskRecord& t, uint32_t taskIndex, Problems& problems, Fn&& fn) {
  const FileLayout& F = l_.file;
  Error err;
  uint64_t fdt = 0;
  if (!space_->readU64(t.files + F.filesFdt, &fdt, &err) || !kernelPointer(fdt)) {
    problems.read(err, "files_struct.fdt of pid " + std::to_string(t.pid), t.files, "fd-table");
    return true;
  }
  uint32_t maxFds = 0;
  uint64_t fdArray = 0;
  if (!space_->readU32(fdt + F.fdtMaxFds, &maxFds, &err) || !space_->readU64(fdt + F.fdtFd, &fdArray, &err) ||
      !kernelPointer(fdArray)) {
    problems.read(err, "fdtable of pid " + std::to_string(t.pid), fdt, "fd-table");
    return true;
  }
  if (maxFds > limits_.maxFdsPerTable) {
    problems.add("LIMIT", "fd table of pid " + std::to_string(t.pid) + " has " + std::to_string(maxFds) + " slots; " +
                              "walking the first " + std::to_string(limits_.maxFdsPerTable), fdt, "fd-table");
    maxFds = limits_.maxFdsPerTable;
  }
  fdBuf_.resize(maxFds);
  size_t got = space_->read(fdArray, fdBuf_.data(), maxFds * 8ull, &err) / 8;
  if (got < maxFds) problems.read(err, "fd array of pid " + std::to_string(t.pid), fdArray + got * 8, "fd-table");
  for (size_t fd = 0; fd < got; fd++) {
    const uint64_t file = fdBuf_[fd];
    if (file == 0) continue;
    if (!kernelPointer(file)) continue;
    uint64_t privateData = 0;
    if (l_.socketFileOps) {
      uint64_t fop = 0;
      if (!space_->readU64(file + F.fileOp, &fop, &err) || fop != l_.socketFileOps) continue;
    } else {
      uint64_t inode = 0;
      uint16_t mode = 0;
      if (!space_->readU64(file + F.fileInode, &inode, &err) || !kernelPointer(inode)) continue;
      uint8_t m[2];
      if (space_->read(inode + F.inodeMode, m, 2, &err) != 2) continue;
      mode = le16(m);
      if ((mode & 0170000) != 0140000) continue;  // S_IFSOCK
    }
    uint64_t sk = 0;
    if (!space_->readU64(file + F.filePrivate, &privateData, &err) || !kernelPointer(privateData) ||
        !space_->readU64(privateData + F.socketSk, &sk, &err) || !kernelPointer(sk)) {
      continue;
    }
    SocketRecord s;
    if (!readSock(sk, &s)) continue;
    s.file = file;
    s.fd = static_cast<uint32_t>(fd);
    s.task = taskIndex;
    if (!fn(s)) return false;
  }
  return true;
}

std::vector<SocketRecord> Walker::sockets(const std::vector<TaskRecord>& tasks, Problems& problems) {
  std::vector<SocketRecord> out;
  std::unordered_set<uint64_t> tables;
  for (uint32_t i = 0; i < tasks.size(); i++) {
    const TaskRecord& t = tasks[i];
    if (!t.files || !kernelPointer(t.files) || !tables.insert(t.files).second) continue;
    bool more = eachSocket(t, i, problems, [&](const SocketRecord& s) {
      if (out.size() >= limits_.maxSockets) {
        problems.add("LIMIT", "more than " + std::to_string(limits_.maxSockets) + " sockets", s.sock, "fd-table");
        return false;
      }
      out.push_back(s);
      return true;
    });
    if (!more) break;
  }
  return out;
}

bool Walker::find(const SocketQuery& q, TaskRecord* task, SocketRecord* sock, Problems& problems) {
  // One walk: tasks are read as the list is followed, each fd table as soon as its task is read.
  const uint64_t head = initTask_ + l_.task.tasks;
  uint64_t entry = 0;
  Error err;
  if (!space_->readU64(head, &entry, &err)) {
    problems.read(err, "init_task.tasks", head, "task-list");
    return false;
  }
  std::unordered_set<uint64_t> seen, tables;
  bool haveWildcard = false;
  uint32_t count = 0;
  while (entry != head && kernelPointer(entry) && count++ < limits_.maxTasks && seen.insert(entry).second) {
    TaskRecord t;
    uint64_t next = 0;
    if (!readTask(entry - l_.task.tasks, &t, &next, problems)) break;
    entry = next;
    if (!t.files || !kernelPointer(t.files) || !tables.insert(t.files).second) continue;
    bool exact = false;
    eachSocket(t, 0, problems, [&](const SocketRecord& s) {
      if (s.proto != q.proto || s.lport != q.lport) return true;
      const bool remoteMatch = s.rport == q.rport && s.raddr == q.raddr;
      const bool localMatch = s.laddr == q.laddr || unspecified(s.laddr);
      if (remoteMatch && localMatch) {
        *task = t;
        *sock = s;
        exact = true;
        return false;
      }
      if (!haveWildcard && s.rport == 0 && unspecified(s.raddr) && localMatch) {
        *task = t;
        *sock = s;
        haveWildcard = true;
      }
      return true;
    });
    if (exact) return true;
  }
  return haveWildcard;
}

}  // namespace parasight::linux_guest
