// linux_* functions: kernel discovery over a memory source, and walks over a kernel address space. Results come
// back as flat typed arrays (one set per walk), never one N-API call per field; TS decodes them.
#include <cstring>
#include <string>

#include "binding/convert.h"
#include "binding/memory_handle.h"
#include "binding/problems_binding.h"
#include "binding/registry.h"
#include "binding/space_handle.h"
#include "linux/discovery.h"
#include "linux/walk.h"

namespace parasight::binding {

namespace {

using namespace parasight::linux_guest;

const napi_type_tag kWalkerTag = {0x7061726173696768ull, 0x6c6e7877616c6b31ull};

struct WalkerHandle {
  std::unique_ptr<Walker> walker;
};

Napi::Object objectOf(const Napi::Value& v, const char* what) {
  if (!v.IsObject()) throwBadArgument(v.Env(), std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

uint32_t field(const Napi::Object& o, const char* key) {
  uint32_t v = toU32(o.Get(key), key);
  if (v > 0x10000) throwBadArgument(o.Env(), std::string(key) + " offset must be below 0x10000");
  return v;
}

// An offset the walkers can do without (absent → 0).
uint32_t optionalField(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() || v.IsNull() ? 0 : field(o, key);
}

uint64_t u64Of(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() || v.IsNull() ? 0 : toU64(v, key);
}

Walker& walkerOf(const Napi::Value& v) {
  if (!v.IsExternal() || !v.As<Napi::External<WalkerHandle>>().CheckTypeTag(&kWalkerTag)) {
    throwBadArgument(v.Env(), "expected a Linux walker handle");
  }
  WalkerHandle* h = v.As<Napi::External<WalkerHandle>>().Data();
  if (!h->walker) throwError(v.Env(), Error::make(Errc::kClosed, 0, "Linux walker is closed"));
  return *h->walker;
}

// Flat encoding shared by linux_walk and linux_find:
//   tasks:   u64[n*5] = address, startTime, mm, pgd, files;  i32[n*3] = pid, tgid, ppid;  comm u8[n*16];
//            startMs f64[n] (start time in ms since boot: no BigInt arithmetic in JS)
//   sockets: u64[n*2] = sock, file;  u32[n*7] = task, fd, family, proto, state, lport, rport;  addr u8[n*32]
Napi::Object encode(Napi::Env env, const std::vector<TaskRecord>& tasks, const std::vector<SocketRecord>& socks,
                    const Problems& problems) {
  const size_t n = tasks.size(), m = socks.size();
  auto tu64 = Napi::BigUint64Array::New(env, n * 5);
  auto ti32 = Napi::Int32Array::New(env, n * 3);
  auto comm = Napi::Uint8Array::New(env, n * 16);
  auto startMs = Napi::Float64Array::New(env, n);
  for (size_t i = 0; i < n; i++) {
    const TaskRecord& t = tasks[i];
    uint64_t* u = tu64.Data() + i * 5;
    u[0] = t.address;
    u[1] = t.startTime;
    u[2] = t.mm;
    u[3] = t.pgd;
    u[4] = t.files;
    int32_t* s = ti32.Data() + i * 3;
    s[0] = t.pid;
    s[1] = t.tgid;
    s[2] = t.ppid;
    std::memcpy(comm.Data() + i * 16, t.comm, 16);
    startMs.Data()[i] = static_cast<double>(t.startTime / 1000000ull);
  }
  auto su64 = Napi::BigUint64Array::New(env, m * 2);
  auto su32 = Napi::Uint32Array::New(env, m * 7);
  auto addr = Napi::Uint8Array::New(env, m * 32);
  for (size_t i = 0; i < m; i++) {
    const SocketRecord& s = socks[i];
    su64.Data()[i * 2] = s.sock;
    su64.Data()[i * 2 + 1] = s.file;
    uint32_t* u = su32.Data() + i * 7;
    u[0] = s.task;
    u[1] = s.fd;
    u[2] = s.family;
    u[3] = s.proto;
    u[4] = s.state;
    u[5] = s.lport;
    u[6] = s.rport;
    std::memcpy(addr.Data() + i * 32, s.laddr.data(), 16);
    std::memcpy(addr.Data() + i * 32 + 16, s.raddr.data(), 16);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("taskU64", tu64);
  out.Set("taskI32", ti32);
  out.Set("comm", comm);
  out.Set("startMs", startMs);
  out.Set("sockU64", su64);
  out.Set("sockU32", su32);
  out.Set("sockAddr", addr);
  out.Set("problems", problemsOf(env, problems));
  return out;
}

// linux_discover(memory, {banner, text, linuxBanner, initTopPgt, initTask, pageOffsetBase, realParentOffset})
Napi::Value Discover(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto mem = memoryOf(info[0]);
  Napi::Object o = objectOf(info[1], "options");
  DiscoveryInput in;
  in.banner = toString(o.Get("banner"), "banner");
  in.text = u64Of(o, "text");
  in.linuxBanner = u64Of(o, "linuxBanner");
  in.initTopPgt = u64Of(o, "initTopPgt");
  in.initTask = u64Of(o, "initTask");
  in.pageOffsetBase = u64Of(o, "pageOffsetBase");
  in.realParentOffset = field(o, "realParentOffset");
  if (in.banner.size() > 4096) throwBadArgument(env, "banner is longer than 4096 bytes");
  DiscoveryResult r = discoverKernel(mem, in);
  Napi::Object out = Napi::Object::New(env);
  out.Set("ok", r.ok);
  out.Set("physText", fromU64(env, r.physText));
  out.Set("slide", fromU64(env, r.slide));
  out.Set("dtb", fromU64(env, r.dtb));
  out.Set("pageOffsetBase", fromU64(env, r.pageOffsetBase));
  out.Set("candidates", r.candidates);
  Napi::Array notes = Napi::Array::New(env, r.notes.size());
  for (uint32_t i = 0; i < r.notes.size(); i++) notes.Set(i, r.notes[i]);
  out.Set("notes", notes);
  return out;
}

// linux_walker_create(space, layout, initTask, limits) → handle
Napi::Value WalkerCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto space = spaceOf(info[0]);
  Napi::Object o = objectOf(info[1], "layout");
  KernelLayout l;
  l.task.tasks = field(o, "tasks");
  l.task.pid = field(o, "pid");
  l.task.tgid = field(o, "tgid");
  l.task.realParent = field(o, "realParent");
  l.task.comm = field(o, "comm");
  l.task.startTime = field(o, "startTime");
  l.task.mm = field(o, "mm");
  l.task.files = field(o, "files");
  l.task.mmPgd = field(o, "mmPgd");
  l.file.filesFdt = field(o, "filesFdt");
  l.file.filesOpenFdsInit = optionalField(o, "filesOpenFdsInit");
  l.file.filesFdArray = optionalField(o, "filesFdArray");
  l.file.fdtMaxFds = field(o, "fdtMaxFds");
  l.file.fdtFd = field(o, "fdtFd");
  l.file.fileOp = field(o, "fileOp");
  l.file.filePrivate = field(o, "filePrivate");
  l.file.fileInode = field(o, "fileInode");
  l.file.inodeMode = field(o, "inodeMode");
  l.file.socketSk = field(o, "socketSk");
  l.file.skDaddr = field(o, "skDaddr");
  l.file.skRcvSaddr = field(o, "skRcvSaddr");
  l.file.skDport = field(o, "skDport");
  l.file.skNum = field(o, "skNum");
  l.file.skFamily = field(o, "skFamily");
  l.file.skState = field(o, "skState");
  l.file.skV6Daddr = field(o, "skV6Daddr");
  l.file.skV6RcvSaddr = field(o, "skV6RcvSaddr");
  l.file.skProtocol = field(o, "skProtocol");
  l.file.skProtocolSize = field(o, "skProtocolSize");
  l.file.skType = field(o, "skType");
  l.socketFileOps = u64Of(o, "socketFileOps");
  l.pageOffsetBase = u64Of(o, "pageOffsetBase");
  if (l.file.skV6Daddr > 112 || l.file.skV6RcvSaddr > 112 || l.file.skProtocolSize < 1 || l.file.skProtocolSize > 2 ||
      (l.file.skType > l.file.skProtocol ? l.file.skType - l.file.skProtocol : l.file.skProtocol - l.file.skType) > 4) {
    throwBadArgument(env, "sock layout out of range");
  }
  Napi::Object lim = objectOf(info[3], "limits");
  WalkLimits limits;
  limits.maxTasks = toU32(lim.Get("maxTasks"), "maxTasks");
  limits.maxFdsPerTable = toU32(lim.Get("maxFdsPerTable"), "maxFdsPerTable");
  limits.maxSockets = toU32(lim.Get("maxSockets"), "maxSockets");
  auto handle = std::make_unique<WalkerHandle>();
  handle->walker = std::make_unique<Walker>(space, l, toU64(info[2], "initTask"), limits);
  auto ext = Napi::External<WalkerHandle>::New(env, handle.release(),
                                               [](Napi::Env, WalkerHandle* h) { std::unique_ptr<WalkerHandle>{h}; });
  ext.TypeTag(&kWalkerTag);
  return ext;
}

Napi::Value WalkerClose(const Napi::CallbackInfo& info) {
  walkerOf(info[0]);
  info[0].As<Napi::External<WalkerHandle>>().Data()->walker.reset();
  return info.Env().Undefined();
}

// linux_walk(walker, withSockets) → flat tasks + sockets + problems
Napi::Value Walk(const Napi::CallbackInfo& info) {
  Walker& w = walkerOf(info[0]);
  Problems problems;
  auto tasks = w.tasks(true, problems);
  std::vector<SocketRecord> socks;
  if (info[1].ToBoolean()) socks = w.sockets(tasks, problems);
  return encode(info.Env(), tasks, socks, problems);
}

std::array<uint8_t, 16> addr16(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      v.As<Napi::Uint8Array>().ElementLength() != 16) {
    throwBadArgument(v.Env(), std::string(what) + " must be a 16-byte Uint8Array");
  }
  std::array<uint8_t, 16> a;
  std::memcpy(a.data(), v.As<Napi::Uint8Array>().Data(), 16);
  return a;
}

// linux_find(walker, proto, lport, rport, laddr16, raddr16) → flat encoding plus `match` (socket index, -1 when
// none) and `stage` ("sweep": the encoding is a whole new sweep; "hot-tables" / "known-tables" / "new-tasks": just
// the owner and its socket, found by that cheap stage)
Napi::Value Find(const Napi::CallbackInfo& info) {
  Walker& w = walkerOf(info[0]);
  SocketQuery q;
  uint32_t proto = toU32(info[1], "proto");
  uint32_t lport = toU32(info[2], "lport"), rport = toU32(info[3], "rport");
  if (proto > 255 || lport > 65535 || rport > 65535) throwBadArgument(info.Env(), "proto/port out of range");
  q.proto = static_cast<uint8_t>(proto);
  q.lport = static_cast<uint16_t>(lport);
  q.rport = static_cast<uint16_t>(rport);
  q.laddr = addr16(info[4], "local address");
  q.raddr = addr16(info[5], "remote address");
  Problems problems;
  Walker::FindResult r = w.find(q, problems);
  Napi::Object out = encode(info.Env(), r.tasks, r.sockets, problems);
  out.Set("match", Napi::Number::New(info.Env(), static_cast<double>(r.match)));
  const char* stage = r.stage == Walker::Stage::kHotTables     ? "hot-tables"
                      : r.stage == Walker::Stage::kKnownTables ? "known-tables"
                      : r.stage == Walker::Stage::kNewTasks  ? "new-tasks"
                                                              : "sweep";
  out.Set("stage", Napi::String::New(info.Env(), stage));
  return out;
}

Registrar r1("linux_discover", Discover);
Registrar r2("linux_walker_create", WalkerCreate);
Registrar r3("linux_walker_close", WalkerClose);
Registrar r4("linux_walk", Walk);
Registrar r5("linux_find", Find);

}  // namespace
}  // namespace parasight::binding
