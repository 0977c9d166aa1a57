// find: attribution of one connection, cheapest stage first (see walk.h). The stages before the sweep compare guest
// memory with the baseline the last sweep left: a socket they find is in the table they read, and its owner is
// re-read and its slot confirmed before it answers; whatever they cannot settle goes to the full sweep.
#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "linux/walk.h"

namespace parasight::linux_guest {

namespace {

constexpr uint32_t kEmbeddedSlots = 64;     // NR_OPEN_DEFAULT: the fd_array inside files_struct
constexpr size_t kMaxCandidates = 512;      // changed descriptors worth classifying before a sweep is cheaper
constexpr size_t kMaxNewTasks = 256;        // tasks created since the sweep worth walking before a sweep is cheaper
constexpr size_t kHotTables = 16;           // tables that changed lately, looked at before all the others
constexpr size_t kMaxHotSlots = 256;        // descriptors of those worth classifying all, changed or not

bool unspecified(const std::array<uint8_t, 16>& a) {
  static const uint8_t mappedAny[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
  static const uint8_t any[16] = {};
  return std::memcmp(a.data(), any, 16) == 0 || std::memcmp(a.data(), mappedAny, 16) == 0;
}

bool exact(const SocketRecord& s, const SocketQuery& q) {
  return s.proto == q.proto && s.lport == q.lport && s.rport == q.rport && s.raddr == q.raddr &&
         (s.laddr == q.laddr || unspecified(s.laddr));
}

}  // namespace

void Walker::remember(const std::vector<TaskRecord>& tasks, const std::vector<FdTable>& tables,
                      const std::vector<Slot>& files, const std::vector<SocketRecord>& sockets) {
  const FileLayout& F = l_.file;
  Baseline b;
  b.tasks = tasks;
  b.taskIds.reserve(tasks.size());
  for (const TaskRecord& t : tasks) b.taskIds.emplace(t.address, std::make_pair(t.pid, t.startTime));
  std::vector<int32_t>& tableOf = b.tableOfTask;
  tableOf.assign(tasks.size(), -1);
  for (const FdTable& t : tables) {
    tableOf[t.task] = static_cast<int32_t>(b.tables.size());
    b.tables.push_back({t.task, t.count, t.files, t.fdt, b.slots.size(), -1, 0});
    b.slots.resize(b.slots.size() + t.count, 0);
  }
  for (const KnownTable& k : b.tables) b.filesSorted.push_back(k.files);
  std::sort(b.filesSorted.begin(), b.filesSorted.end());
  for (const Slot& s : files) {
    const int32_t j = tableOf[s.task];
    if (j >= 0 && s.fd < b.tables[j].count) b.slots[b.tables[j].slots + s.fd] = s.file;
  }
  // The signal of an embedded table: open_fds_init up to the slot just past the highest descriptor then open,
  // rounded up to the end of a cache line (files_struct is cache-line aligned: usually one line in all).
  const bool layout = F.filesFdArray > F.filesOpenFdsInit && F.filesOpenFdsInit > 0 && F.filesFdArray - F.filesOpenFdsInit <= 64;
  std::vector<int32_t> groupOf(kEmbeddedSlots + 1, -1);
  for (uint32_t j = 0; j < b.tables.size(); j++) {
    const KnownTable& k = b.tables[j];
    const FdTable& t = tables[j];
    uint64_t pa = 0;
    if (!layout || t.array != t.files + F.filesFdArray || t.count != kEmbeddedSlots ||
        !physical(t.files + F.filesOpenFdsInit, F.filesFdArray - F.filesOpenFdsInit + kEmbeddedSlots * 8, &pa)) {
      b.throughFdt.push_back(j);
      continue;
    }
    uint32_t hi = 0;
    for (uint32_t fd = 0; fd < k.count; fd++) {
      if (b.slots[k.slots + fd]) hi = fd + 1;
    }
    uint32_t window = std::max(hi, 1u);
    while (window < kEmbeddedSlots && (t.array + window * 8ull) % 64 != 0) window++;
    if (groupOf[window] < 0) {
      groupOf[window] = static_cast<int32_t>(b.groups.size());
      b.groups.emplace_back();
      b.groups.back().window = window;
      b.groups.back().itemSize = F.filesFdArray - F.filesOpenFdsInit + window * 8ull;
    }
    SignalGroup& g = b.groups[groupOf[window]];
    b.tables[j].group = groupOf[window];
    b.tables[j].item = static_cast<uint32_t>(g.tables.size());
    g.tables.push_back(j);
    g.pa.push_back(pa);
  }
  // Tables that were changing before this sweep likely go on changing.
  for (uint32_t old : baseline_.hot) {
    const uint64_t files = baseline_.tables[old].files;
    for (uint32_t j = 0; j < b.tables.size(); j++) {
      if (b.tables[j].files == files) {
        b.hot.push_back(j);
        break;
      }
    }
  }
  for (SignalGroup& g : b.groups) {
    g.baseline.resize(g.pa.size() * g.itemSize);
    g.current.resize(g.baseline.size());
    g.ok.resize(g.pa.size());
    space_->memory().readMany(g.pa.data(), g.pa.size(), g.itemSize, g.baseline.data(), g.ok.data());
  }
  for (const SocketRecord& s : sockets) {
    uint64_t pa = 0;
    if (!physical(s.file + F.filePrivate, 8, &pa)) continue;
    b.socketFiles.push_back({s.task, s.fd, s.file});
    b.privatePa.push_back(pa);
  }
  b.privateThen.resize(b.privatePa.size());
  b.privateNow.resize(b.privatePa.size());
  b.privateOk.resize(b.privatePa.size());
  space_->memory().readMany(b.privatePa.data(), b.privatePa.size(), 8, reinterpret_cast<uint8_t*>(b.privateThen.data()),
                            b.privateOk.data());
  for (size_t i = 0; i < b.privateOk.size(); i++) {
    if (!b.privateOk[i]) b.privateThen[i] = 0;
  }
  baseline_ = std::move(b);
}

bool Walker::findRecycled(const SocketQuery& q, TaskRecord* task, SocketRecord* sock) {
  Baseline& b = baseline_;
  if (b.privatePa.empty()) return false;
  space_->memory().readMany(b.privatePa.data(), b.privatePa.size(), 8, reinterpret_cast<uint8_t*>(b.privateNow.data()),
                            b.privateOk.data());
  std::vector<Slot> fresh;
  for (size_t i = 0; i < b.privatePa.size(); i++) {
    if (b.privateOk[i] && b.privateNow[i] != b.privateThen[i] && kernelPointer(b.privateNow[i])) {
      fresh.push_back(b.socketFiles[i]);
    }
  }
  Slot found{};
  if (fresh.empty() || fresh.size() > kMaxCandidates || !exactMatch(q, fresh, b.tasks, task, sock, &found)) return false;
  // As in findKnown: the answer is the caller's to remember now, later lookups need not classify it again.
  for (size_t i = 0; i < b.socketFiles.size(); i++) {
    if (b.socketFiles[i].file == found.file && b.socketFiles[i].fd == found.fd) b.privateThen[i] = b.privateNow[i];
  }
  return true;
}

void Walker::diffEmbedded(uint32_t j, const uint8_t* now, bool all, std::vector<Slot>* fresh, std::vector<uint32_t>* beyond) {
  const FileLayout& F = l_.file;
  const KnownTable& k = baseline_.tables[j];
  const SignalGroup& g = baseline_.groups[k.group];
  if (!all && std::memcmp(now, g.baseline.data() + k.item * g.itemSize, g.itemSize) == 0) return;
  const uint32_t gap = F.filesFdArray - F.filesOpenFdsInit;
  for (uint32_t fd = 0; fd < g.window; fd++) {
    const uint64_t f = le64(now + gap + fd * 8);
    if ((all || f != baseline_.slots[k.slots + fd]) && kernelPointer(f)) fresh->push_back({k.task, fd, f});
  }
  // A descriptor past the window: the rest of the slots are read for this table alone.
  if (g.window < kEmbeddedSlots && (le64(now) >> g.window) != 0) beyond->push_back(j);
}

void Walker::diffTables(const std::vector<uint32_t>* subset, bool all, std::vector<Slot>* fresh) {
  const FileLayout& F = l_.file;
  Baseline& b = baseline_;
  std::vector<uint32_t> beyond, throughFdt;
  if (subset == nullptr) {
    for (SignalGroup& g : b.groups) {
      space_->memory().readMany(g.pa.data(), g.pa.size(), g.itemSize, g.current.data(), g.ok.data());
      for (size_t i = 0; i < g.pa.size(); i++) {
        if (g.ok[i]) diffEmbedded(g.tables[i], g.current.data() + i * g.itemSize, all, fresh, &beyond);
      }
    }
    throughFdt = b.throughFdt;
  } else {
    std::vector<uint8_t> now;
    for (uint32_t j : *subset) {
      const KnownTable& k = b.tables[j];
      if (k.group < 0) {
        throughFdt.push_back(j);
        continue;
      }
      const SignalGroup& g = b.groups[k.group];
      now.resize(g.itemSize);
      Error err;
      if (space_->memory().read(g.pa[k.item], now.data(), g.itemSize, &err) == g.itemSize) {
        diffEmbedded(j, now.data(), all, fresh, &beyond);
      }
    }
  }
  std::vector<uint64_t> rest;
  for (uint32_t j : beyond) {
    const KnownTable& k = b.tables[j];
    rest.assign(k.count, 0);
    Error err;
    if (!readOne(k.files + F.filesFdArray, rest.data(), k.count * 8ull, &err)) continue;
    for (uint32_t fd = 0; fd < k.count; fd++) {
      if ((all || rest[fd] != b.slots[k.slots + fd]) && kernelPointer(rest[fd])) fresh->push_back({k.task, fd, rest[fd]});
    }
  }
  // Tables with their own fdtable: read in full, as a sweep would, and compared slot by slot.
  if (!throughFdt.empty()) {
    std::vector<uint32_t> owner;
    for (uint32_t j : throughFdt) owner.push_back(b.tables[j].task);
    std::vector<FdTable> tables;
    std::vector<Slot> slots;
    Problems ignored;  // an unreadable table is the sweep's to report
    readTables(b.tasks, owner, &tables, &slots, ignored);
    for (const Slot& s : slots) {
      const KnownTable& k = b.tables[b.tableOfTask[s.task]];
      if (all || s.fd >= k.count || b.slots[k.slots + s.fd] != s.file) fresh->push_back(s);
    }
  }
}

void Walker::heat(uint32_t table) {
  std::vector<uint32_t>& hot = baseline_.hot;
  auto at = std::find(hot.begin(), hot.end(), table);
  if (at != hot.end()) hot.erase(at);
  hot.insert(hot.begin(), table);
  if (hot.size() > kHotTables) hot.pop_back();
}

bool Walker::findKnown(const SocketQuery& q, TaskRecord* task, SocketRecord* sock, bool* hot) {
  Baseline& b = baseline_;
  if (b.tables.empty()) return false;
  // First the tables that changed lately (a process that opened one connection is likely to open the next), then
  // all of them.
  std::vector<Slot> fresh;
  Slot found{};
  bool ok = false;
  if (!b.hot.empty()) {
    diffTables(&b.hot, false, &fresh);
    ok = !fresh.empty() && fresh.size() <= kMaxCandidates && exactMatch(q, fresh, b.tasks, task, sock, &found);
    *hot = ok;
  }
  if (!ok) {
    fresh.clear();
    diffTables(nullptr, false, &fresh);
    if (fresh.size() > kMaxCandidates) return false;
    ok = !fresh.empty() && exactMatch(q, fresh, b.tasks, task, sock, &found);
    // Tables with changes the match did not explain are likely to change again.
    for (const Slot& s : fresh) {
      if (b.hot.size() >= kHotTables) break;
      const uint32_t j = static_cast<uint32_t>(b.tableOfTask[s.task]);
      if (std::find(b.hot.begin(), b.hot.end(), j) == b.hot.end()) b.hot.push_back(j);
    }
  }
  if (!ok && !b.hot.empty()) {
    // Every descriptor of the hot tables, changed or not: a descriptor closed and reopened often gets the struct
    // file just freed (slab freelists are LIFO), and then only the socket behind it tells.
    fresh.clear();
    diffTables(&b.hot, true, &fresh);
    ok = !fresh.empty() && fresh.size() <= kMaxHotSlots && exactMatch(q, fresh, b.tasks, task, sock, &found);
    *hot = ok;
  }
  if (!ok) return false;
  const uint32_t j = static_cast<uint32_t>(b.tableOfTask[found.task]);
  heat(j);
  // Its tuple is now the caller's to remember: later lookups need not classify it again (should the tuple change,
  // the sweep finds it).
  const KnownTable& k = b.tables[j];
  if (found.fd < k.count) b.slots[k.slots + found.fd] = found.file;
  return true;
}

bool Walker::findNewTasks(const SocketQuery& q, TaskRecord* task, SocketRecord* sock) {
  const TaskLayout& L = l_.task;
  const Baseline& b = baseline_;
  if (b.taskIds.empty()) return false;
  // fork appends to the tail of init_task.tasks: walking back from the tail meets every task created since the
  // sweep before the newest task it saw (known by address and identity: a freed task_struct is reused).
  const uint64_t head = initTask_ + L.tasks;
  uint64_t link = 0;
  Error err;
  if (!readOne(head + 8, &link, 8, &err)) return false;
  std::vector<TaskRecord> fresh;
  std::unordered_set<uint64_t> seen;
  while (link != head) {
    if (!kernelPointer(link) || fresh.size() >= kMaxNewTasks || !seen.insert(link).second) return false;
    const uint64_t address = link - L.tasks;
    if (!readOne(address + taskSpanStart_, span_.data(), taskSpanLen_, &err)) return false;
    TaskRecord t;
    uint64_t next = 0;
    decodeTask(span_.data(), address, &t, &next);
    auto it = b.taskIds.find(address);
    if (it != b.taskIds.end() && it->second.first == t.pid && it->second.second == t.startTime) break;
    fresh.push_back(t);
    link = le64(span_.data() + (L.tasks + 8 - taskSpanStart_));
  }
  // Tables the sweep knew are stage 1's; a table shared by several new tasks is read once.
  std::unordered_set<uint64_t> taken;
  std::vector<uint32_t> owner;
  for (uint32_t i = 0; i < fresh.size(); i++) {
    const uint64_t f = fresh[i].files;
    if (!f || !kernelPointer(f) || std::binary_search(b.filesSorted.begin(), b.filesSorted.end(), f)) continue;
    if (taken.insert(f).second) owner.push_back(i);
  }
  if (owner.empty()) return false;
  std::vector<FdTable> tables;
  std::vector<Slot> slots;
  Problems ignored;
  readTables(fresh, owner, &tables, &slots, ignored);
  if (slots.empty() || slots.size() > kMaxCandidates) return false;
  Slot found{};
  return exactMatch(q, slots, fresh, task, sock, &found);
}

bool Walker::exactMatch(const SocketQuery& q, const std::vector<Slot>& fresh, const std::vector<TaskRecord>& owners,
                        TaskRecord* task, SocketRecord* sock, Slot* slot) {
  const FileLayout& F = l_.file;
  for (const SocketRecord& s : classify(fresh)) {
    if (!exact(s, q)) continue;
    // The owner must still be the task that held the table (re-read: name and mm change on exec, a freed
    // task_struct is reused), and the table must hold this file now (an embedded array goes stale when the
    // table grows into its own fdtable).
    const TaskRecord& k = owners[s.task];
    TaskRecord t;
    uint64_t next = 0, fdt = 0, array = 0, file = 0;
    Error err;
    if (!readOne(k.address + taskSpanStart_, span_.data(), taskSpanLen_, &err)) return false;
    decodeTask(span_.data(), k.address, &t, &next);
    if (t.files != k.files || t.tgid != k.tgid || t.startTime != k.startTime) return false;
    if (!readOne(t.files + F.filesFdt, &fdt, 8, &err) || !kernelPointer(fdt) ||
        !readOne(fdt + F.fdtFd, &array, 8, &err) || !kernelPointer(array) ||
        !readOne(array + s.fd * 8ull, &file, 8, &err) || file != s.file) {
      return false;
    }
    if (t.mm == k.mm && k.pgd != 0) {
      t.ppid = k.ppid;
      t.pgd = k.pgd;
    } else {
      std::vector<TaskRecord> one{t};
      details(one);
      t = one[0];
    }
    *task = t;
    *sock = s;
    *slot = {s.task, s.fd, s.file};
    sock->task = 0;
    return true;
  }
  return false;
}

Walker::FindResult Walker::find(const SocketQuery& q, Problems& problems) {
  FindResult r;
  TaskRecord task;
  SocketRecord sock;
  bool hot = false;
  Stage stage = Stage::kSweep;
  if (findKnown(q, &task, &sock, &hot)) {
    stage = hot ? Stage::kHotTables : Stage::kKnownTables;
  } else if (findNewTasks(q, &task, &sock)) {
    stage = Stage::kNewTasks;
  } else if (findRecycled(q, &task, &sock)) {
    stage = Stage::kKnownTables;
  }
  if (stage != Stage::kSweep) {
    r.stage = stage;
    r.tasks.push_back(task);
    r.sockets.push_back(sock);
    r.match = 0;
    return r;
  }
  r.stage = Stage::kSweep;
  r.tasks = tasks(true, problems);
  r.sockets = sockets(r.tasks, problems);
  long wildcard = -1;
  for (size_t i = 0; i < r.sockets.size(); i++) {
    const SocketRecord& s = r.sockets[i];
    if (s.proto != q.proto || s.lport != q.lport) continue;
    if (!(s.laddr == q.laddr || unspecified(s.laddr))) continue;
    if (s.rport == q.rport && s.raddr == q.raddr) {
      r.match = static_cast<long>(i);
      // Its process is likely to open the next connection too.
      if (s.task < baseline_.tableOfTask.size() && baseline_.tableOfTask[s.task] >= 0) {
        heat(static_cast<uint32_t>(baseline_.tableOfTask[s.task]));
      }
      return r;
    }
    if (wildcard < 0 && s.rport == 0 && unspecified(s.raddr)) wildcard = static_cast<long>(i);
  }
  r.match = wildcard;
  return r;
}

}  // namespace parasight::linux_guest
