#include "linux/walk.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

namespace parasight::linux_guest {

namespace {

constexpr uint8_t kIpProtoTcp = 6, kIpProtoUdp = 17;
constexpr uint16_t kAfInet = 2, kAfInet6 = 10;
constexpr uint16_t kSockStream = 1, kSockDgram = 2;
constexpr uint64_t kDirectMapSpan = 1ull << 46;  // 64 TiB: the direct map's size with 4-level paging
constexpr uint32_t kSmallFdTable = 64;           // NR_OPEN_DEFAULT: most tables; larger ones are read alone

void mapV4(const uint8_t* v4, std::array<uint8_t, 16>* out) {
  out->fill(0);
  (*out)[10] = 0xff;
  (*out)[11] = 0xff;
  std::memcpy(out->data() + 12, v4, 4);
}

}  // namespace

Walker::Walker(std::shared_ptr<AddressSpace> space, const KernelLayout& layout, uint64_t initTask,
               const WalkLimits& limits)
    : space_(std::move(space)), l_(layout), initTask_(initTask), limits_(limits) {
  const TaskLayout& t = l_.task;
  const uint32_t fields[] = {t.tasks, t.pid, t.tgid, t.realParent, t.comm, t.startTime, t.mm, t.files};
  uint32_t lo = *std::min_element(std::begin(fields), std::end(fields));
  uint32_t hi = 0;
  for (uint32_t f : fields) hi = std::max(hi, f + 16u);
  taskSpanStart_ = lo;
  taskSpanLen_ = hi - lo;
  span_.resize(taskSpanLen_);
  const FileLayout& F = l_.file;
  commonLen_ = std::max({F.skV6RcvSaddr, F.skV6Daddr, F.skDaddr, F.skRcvSaddr, F.skNum, F.skDport}) + 16;
  tailStart_ = std::min(F.skType, F.skProtocol);
  tailLen_ = std::max(F.skType + 2, F.skProtocol + F.skProtocolSize) - tailStart_;
}

bool Walker::physical(uint64_t va, size_t len, uint64_t* pa) {
  // The direct map is linear: no page walk, and a range inside it is physically contiguous.
  if (l_.pageOffsetBase && va >= l_.pageOffsetBase && va - l_.pageOffsetBase < kDirectMapSpan) {
    *pa = va - l_.pageOffsetBase;
    return true;
  }
  if ((va & 0xfff) + len > 0x1000) return false;  // elsewhere only page-local ranges are contiguous
  Translation t;
  Error err;
  if (!space_->translate(va, &t, &err)) return false;
  *pa = t.pa;
  return true;
}

bool Walker::readOne(uint64_t va, void* dst, size_t len, Error* err) {
  uint64_t pa = 0;
  if (physical(va, len, &pa)) return space_->memory().read(pa, dst, len, err) == len;
  return space_->read(va, dst, len, err) == len;
}

void Walker::read(Batch& b, size_t itemSize) {
  const size_t n = b.va.size();
  b.itemSize = itemSize;
  b.bytes.assign(n * itemSize, 0);
  b.ok.assign(n, 0);
  std::vector<uint64_t> pa(n);
  std::vector<size_t> slow;
  for (size_t i = 0; i < n; i++) {
    if (!kernelPointer(b.va[i]) || !physical(b.va[i], itemSize, &pa[i])) {
      pa[i] = ~0ull;
      if (kernelPointer(b.va[i])) slow.push_back(i);
    }
  }
  space_->memory().readMany(pa.data(), n, itemSize, b.bytes.data(), b.ok.data());
  for (size_t i : slow) {
    Error err;
    b.ok[i] = space_->read(b.va[i], b.bytes.data() + i * itemSize, itemSize, &err) == itemSize ? 1 : 0;
  }
}

void Walker::decodeTask(const uint8_t* span, uint64_t address, TaskRecord* t, uint64_t* next) const {
  const uint8_t* b = span - taskSpanStart_;
  const TaskLayout& L = l_.task;
  t->address = address;
  t->pid = static_cast<int32_t>(le32(b + L.pid));
  t->tgid = static_cast<int32_t>(le32(b + L.tgid));
  std::memcpy(t->comm, b + L.comm, 16);
  t->comm[15] = 0;
  t->startTime = le64(b + L.startTime);
  t->mm = le64(b + L.mm);
  t->files = le64(b + L.files);
  t->ppid = 0;
  t->pgd = 0;
  *next = le64(b + L.tasks);
}

std::vector<TaskRecord> Walker::tasks(bool withDetails, Problems& problems) {
  std::vector<TaskRecord> out;
  // Level 1: every task the previous walk found, plus init_task, in one batch.
  Batch b;
  b.va.reserve(knownTasks_.size() + 1);
  b.va.push_back(initTask_ + taskSpanStart_);
  for (uint64_t t : knownTasks_) b.va.push_back(t + taskSpanStart_);
  read(b, taskSpanLen_);
  std::unordered_map<uint64_t, size_t> cached;
  for (size_t i = 1; i < b.va.size(); i++) {
    if (b.ok[i]) cached.emplace(b.va[i] - taskSpanStart_, i);
  }
  if (!b.ok[0]) {
    problems.add("HOLE", "init_task is unreadable", initTask_, "task-list");
    return out;
  }
  TaskRecord init;
  uint64_t entry = 0;
  decodeTask(b.at(0), initTask_, &init, &entry);
  // Verify and extend: follow the links from init_task; a task read in the batch costs nothing more.
  const uint64_t head = initTask_ + l_.task.tasks;
  std::unordered_set<uint64_t> seen;
  std::vector<uint64_t> order;
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
    const uint64_t address = entry - l_.task.tasks;
    const uint8_t* span = nullptr;
    auto it = cached.find(address);
    if (it != cached.end()) {
      span = b.at(it->second);
    } else {
      Error err;
      if (!readOne(address + taskSpanStart_, span_.data(), taskSpanLen_, &err)) {
        problems.read(err, "task_struct", address, "task-list");
        break;
      }
      span = span_.data();
    }
    TaskRecord t;
    decodeTask(span, address, &t, &entry);
    out.push_back(t);
    order.push_back(address);
  }
  knownTasks_ = std::move(order);
  if (withDetails) details(out);
  return out;
}

void Walker::details(std::vector<TaskRecord>& tasks) {
  const TaskLayout& L = l_.task;
  // real_parent → its tgid, and mm → pgd: one batch each (the parent pointer is read again with the pid).
  Batch parents, mms, rp;
  for (const TaskRecord& t : tasks) {
    parents.va.push_back(0);
    mms.va.push_back(t.mm ? t.mm + L.mmPgd : 0);
  }
  for (const TaskRecord& t : tasks) rp.va.push_back(t.address + L.realParent);
  read(rp, 8);
  for (size_t i = 0; i < tasks.size(); i++) parents.va[i] = rp.ok[i] ? le64(rp.at(i)) + L.tgid : 0;
  read(parents, 4);
  read(mms, 8);
  for (size_t i = 0; i < tasks.size(); i++) {
    if (parents.ok[i]) tasks[i].ppid = static_cast<int32_t>(le32(parents.at(i)));
    uint64_t pa = 0;
    if (mms.ok[i] && physical(le64(mms.at(i)), 8, &pa)) tasks[i].pgd = pa;
  }
}

bool Walker::decodeSock(const uint8_t* common, const uint8_t* tail, uint64_t sk, SocketRecord* s) const {
  const FileLayout& F = l_.file;
  const uint16_t family = le16(common + F.skFamily);
  const uint16_t type = le16(tail + (F.skType - tailStart_));
  const uint8_t* protoAt = tail + (F.skProtocol - tailStart_);
  const uint16_t proto = F.skProtocolSize == 1 ? *protoAt : le16(protoAt);
  if (family != kAfInet && family != kAfInet6) return false;
  if (!((proto == kIpProtoTcp && type == kSockStream) || (proto == kIpProtoUdp && type == kSockDgram))) return false;
  s->sock = sk;
  s->family = family == kAfInet ? 4 : 6;
  s->proto = static_cast<uint8_t>(proto);
  s->state = common[F.skState];
  s->lport = le16(common + F.skNum);
  s->rport = be16(common + F.skDport);
  if (family == kAfInet) {
    mapV4(common + F.skRcvSaddr, &s->laddr);
    mapV4(common + F.skDaddr, &s->raddr);
  } else {
    std::memcpy(s->laddr.data(), common + F.skV6RcvSaddr, 16);
    std::memcpy(s->raddr.data(), common + F.skV6Daddr, 16);
  }
  return true;
}

std::vector<SocketRecord> Walker::classify(const std::vector<Slot>& files) {
  const FileLayout& F = l_.file;
  std::vector<SocketRecord> out;
  // Level 4: which files are sockets (f_op == &socket_file_ops, else the inode's S_IFSOCK), then socket → sock.
  Batch kind;
  for (const Slot& s : files) kind.va.push_back(s.file + (l_.socketFileOps ? F.fileOp : F.fileInode));
  read(kind, 8);
  std::vector<size_t> sockFiles;
  if (l_.socketFileOps) {
    for (size_t i = 0; i < files.size(); i++) {
      if (kind.ok[i] && le64(kind.at(i)) == l_.socketFileOps) sockFiles.push_back(i);
    }
  } else {
    Batch modes;
    for (size_t i = 0; i < files.size(); i++) modes.va.push_back(kind.ok[i] ? le64(kind.at(i)) + F.inodeMode : 0);
    read(modes, 2);
    for (size_t i = 0; i < files.size(); i++) {
      if (modes.ok[i] && (le16(modes.at(i)) & 0170000) == 0140000) sockFiles.push_back(i);
    }
  }
  Batch priv;
  for (size_t i : sockFiles) priv.va.push_back(files[i].file + F.filePrivate);
  read(priv, 8);
  Batch sk;
  for (size_t j = 0; j < sockFiles.size(); j++) sk.va.push_back(priv.ok[j] ? le64(priv.at(j)) + F.socketSk : 0);
  read(sk, 8);
  Batch common, tail;
  for (size_t j = 0; j < sockFiles.size(); j++) {
    const uint64_t p = sk.ok[j] ? le64(sk.at(j)) : 0;
    common.va.push_back(p);
    tail.va.push_back(p ? p + tailStart_ : 0);
  }
  read(common, commonLen_);
  read(tail, tailLen_);
  for (size_t j = 0; j < sockFiles.size(); j++) {
    if (!common.ok[j] || !tail.ok[j]) continue;
    SocketRecord s;
    if (!decodeSock(common.at(j), tail.at(j), common.va[j], &s)) continue;
    const Slot& slot = files[sockFiles[j]];
    s.file = slot.file;
    s.fd = slot.fd;
    s.task = slot.task;
    out.push_back(s);
  }
  return out;
}

void Walker::readTables(const std::vector<TaskRecord>& tasks, const std::vector<uint32_t>& owner,
                        std::vector<FdTable>* tables, std::vector<Slot>* slots, Problems& problems) {
  const FileLayout& F = l_.file;
  Batch fdt;
  for (uint32_t i : owner) fdt.va.push_back(tasks[i].files + F.filesFdt);
  read(fdt, 8);
  const uint32_t hdrStart = std::min(F.fdtMaxFds, F.fdtFd);
  const uint32_t hdrLen = std::max(F.fdtMaxFds + 4, F.fdtFd + 8) - hdrStart;
  Batch hdr;
  for (size_t i = 0; i < fdt.va.size(); i++) hdr.va.push_back(fdt.ok[i] ? le64(fdt.at(i)) + hdrStart : 0);
  read(hdr, hdrLen);
  // Level 3: fd arrays. Default-sized tables in one batch, larger ones alone.
  std::vector<FdTable> small, large;
  for (size_t i = 0; i < hdr.va.size(); i++) {
    const TaskRecord& t = tasks[owner[i]];
    if (!hdr.ok[i]) {
      problems.add("BAD_POINTER", "fd table of pid " + std::to_string(t.pid) + " is unreadable", t.files, "fd-table");
      continue;
    }
    const uint8_t* h = hdr.at(i) - hdrStart;
    uint32_t maxFds = le32(h + F.fdtMaxFds);
    const uint64_t array = le64(h + F.fdtFd);
    if (!kernelPointer(array)) continue;
    if (maxFds > limits_.maxFdsPerTable) {
      problems.add("LIMIT", "fd table of pid " + std::to_string(t.pid) + " has " + std::to_string(maxFds) +
                                " slots; walking the first " + std::to_string(limits_.maxFdsPerTable),
                   array, "fd-table");
      maxFds = limits_.maxFdsPerTable;
    }
    (maxFds <= kSmallFdTable ? small : large).push_back({owner[i], t.files, le64(fdt.at(i)), array, maxFds});
  }
  Batch arrays;
  for (const FdTable& t : small) arrays.va.push_back(t.array);
  read(arrays, kSmallFdTable * 8);
  for (size_t i = 0; i < small.size(); i++) {
    if (!arrays.ok[i]) continue;
    tables->push_back(small[i]);
    for (uint32_t fd = 0; fd < small[i].count; fd++) {
      uint64_t f = le64(arrays.at(i) + fd * 8);
      if (kernelPointer(f)) slots->push_back({small[i].task, fd, f});
    }
  }
  std::vector<uint64_t> big;
  for (const FdTable& t : large) {
    big.assign(t.count, 0);
    Error err;
    if (!readOne(t.array, big.data(), t.count * 8ull, &err)) {
      problems.read(err, "fd array of pid " + std::to_string(tasks[t.task].pid), t.array, "fd-table");
      continue;
    }
    tables->push_back(t);
    for (uint32_t fd = 0; fd < t.count; fd++) {
      if (kernelPointer(big[fd])) slots->push_back({t.task, fd, big[fd]});
    }
  }
}

std::vector<SocketRecord> Walker::sockets(const std::vector<TaskRecord>& tasks, Problems& problems) {
  std::vector<SocketRecord> out;
  // Level 2: fd tables (a table shared by several tasks once, for the first of them).
  std::unordered_set<uint64_t> seen;
  std::vector<uint32_t> owner;
  for (uint32_t i = 0; i < tasks.size(); i++) {
    const TaskRecord& t = tasks[i];
    if (t.files && kernelPointer(t.files) && seen.insert(t.files).second) owner.push_back(i);
  }
  std::vector<FdTable> tables;
  std::vector<Slot> files;
  readTables(tasks, owner, &tables, &files, problems);
  std::vector<SocketRecord> found = classify(files);
  // The next find compares fd tables and sockets with what this sweep saw.
  remember(tasks, tables, files, found);
  for (SocketRecord& s : found) {
    if (out.size() >= limits_.maxSockets) {
      problems.add("LIMIT", "more than " + std::to_string(limits_.maxSockets) + " sockets", s.sock, "fd-table");
      break;
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace parasight::linux_guest
