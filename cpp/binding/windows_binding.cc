// windows_* functions: kernel discovery over a memory source, and whole-table walks over a kernel address space.
// Each call returns a whole table (processes, modules, connections + sockets) with its problems: never one N-API
// call per field.
#include <string>

#include "binding/convert.h"
#include "binding/memory_handle.h"
#include "binding/registry.h"
#include "binding/space_handle.h"
#include "windows/discovery.h"
#include "windows/lists.h"
#include "windows/tcpip.h"
#include "windows/vad.h"

namespace parasight::binding {

namespace {

using namespace parasight::windows;

uint32_t u32Of(const Napi::Object& o, const char* key, uint32_t def) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? def : toU32(v, key);
}

uint64_t u64Of(const Napi::Object& o, const char* key, uint64_t def) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() || v.IsNull() ? def : toU64(v, key);
}

Napi::Object objectOf(const Napi::Value& v, const char* what) {
  if (!v.IsObject()) throwBadArgument(v.Env(), std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

Napi::Array problemsOf(Napi::Env env, const Problems& p) {
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (const Problem& x : p.list()) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("code", x.code);
    o.Set("message", x.message);
    if (x.address) o.Set("address", fromU64(env, x.address));
    o.Set("walk", x.walk);
    out.Set(i++, o);
  }
  if (p.dropped() > 0) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("code", "LIMIT");
    o.Set("message", std::to_string(p.dropped()) + " further problems not listed");
    out.Set(i++, o);
  }
  return out;
}

Napi::String u16(Napi::Env env, const std::u16string& s) { return Napi::String::New(env, s.data(), s.size()); }

Napi::String ip4(Napi::Env env, const uint8_t* b) {
  return Napi::String::New(env, std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
                                    std::to_string(b[3]));
}

// windows_discover(memory, {candidates, kdbg, kpcr?, dtb?, kdbgVa?, mode?}) → discovery result
Napi::Value Discover(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto mem = memoryOf(info[0]);
  Napi::Object o = objectOf(info[1], "options");
  DiscoveryOptions opt;
  Napi::Value cv = o.Get("candidates");
  if (!cv.IsArray()) throwBadArgument(env, "candidates must be an array");
  Napi::Array cands = cv.As<Napi::Array>();
  for (uint32_t i = 0; i < cands.Length(); i++) {
    Napi::Object c = objectOf(cands.Get(i), "candidate");
    DiscoveryCandidate d;
    d.profile = toString(c.Get("profile"), "profile");
    d.signature = toU32(c.Get("signature"), "signature");
    d.dtb = toU32(c.Get("dtb"), "dtb");
    d.pid = toU32(c.Get("pid"), "pid");
    d.name = toU32(c.Get("name"), "name");
    d.peb = toU32(c.Get("peb"), "peb");
    d.links = u32Of(c, "links", 0);
    if (d.name > 0x1000 || d.pid > 0x1000 || d.peb > 0x1000 || d.dtb > 0x1000 || d.links > 0x1000) {
      throwBadArgument(env, "candidate offsets must be below 0x1000");
    }
    opt.candidates.push_back(d);
  }
  Napi::Object k = objectOf(o.Get("kdbg"), "kdbg");
  KdbgLayout& kl = opt.kdbg;
  kl.ownerTag = u32Of(k, "ownerTag", kl.ownerTag);
  kl.size = u32Of(k, "size", kl.size);
  kl.kernBase = u32Of(k, "kernBase", kl.kernBase);
  kl.psLoadedModuleList = u32Of(k, "psLoadedModuleList", kl.psLoadedModuleList);
  kl.psActiveProcessHead = u32Of(k, "psActiveProcessHead", kl.psActiveProcessHead);
  kl.ntBuildLab = u32Of(k, "ntBuildLab", kl.ntBuildLab);
  kl.cmNtCSDVersion = u32Of(k, "cmNtCSDVersion", kl.cmNtCSDVersion);
  if (k.Get("sizes").IsArray()) {
    Napi::Array s = k.Get("sizes").As<Napi::Array>();
    for (uint32_t i = 0; i < s.Length(); i++) kl.sizes.push_back(toU32(s.Get(i), "kdbg size"));
  }
  if (kl.ownerTag > 0x100 || kl.size > 0x100 || kl.cmNtCSDVersion > 0xff0 || kl.ntBuildLab > 0xff0) {
    throwBadArgument(env, "kdbg offsets out of range");
  }
  opt.dtb = u64Of(o, "dtb", 0);
  opt.kdbgVa = u64Of(o, "kdbgVa", 0);
  Napi::Value mode = o.Get("mode");
  if (!mode.IsUndefined() && !mode.IsNull()) {
    uint32_t m = toU32(mode, "mode");
    if (m > 1) throwBadArgument(env, "mode must be 0 (x86) or 1 (pae)");
    opt.mode = static_cast<int>(m);
  }

  DiscoveryResult r = discover(mem, opt);
  Napi::Object out = Napi::Object::New(env);
  out.Set("ok", r.ok);
  out.Set("dtb", fromU64(env, r.dtb));
  out.Set("mode", static_cast<double>(r.mode));
  out.Set("dtbFoundBy", r.dtbFoundBy);
  out.Set("candidate", r.candidate);
  out.Set("anchorPa", fromU64(env, r.anchorPa));
  out.Set("versionBlock", fromU64(env, r.versionBlock));
  out.Set("versionMajor", r.versionMajor);
  out.Set("build", r.build);
  out.Set("kdbg", fromU64(env, r.kdbg));
  out.Set("kdbgSize", r.kdbgSize);
  out.Set("kdbgFoundBy", r.kdbgFoundBy);
  out.Set("kernBase", fromU64(env, r.kernBase));
  out.Set("psLoadedModuleList", fromU64(env, r.psLoadedModuleList));
  out.Set("psActiveProcessHead", fromU64(env, r.psActiveProcessHead));
  if (r.haveCsd) out.Set("csdVersion", r.csdVersion);
  out.Set("ntBuildLab", r.ntBuildLab);
  out.Set("ntMajor", r.ntMajor);
  out.Set("ntMinor", r.ntMinor);
  out.Set("productType", r.productType);
  out.Set("systemTime", fromU64(env, r.systemTime));
  out.Set("bytesScanned", static_cast<double>(r.bytesScanned));
  out.Set("problems", problemsOf(env, r.problems));
  return out;
}

// windows_processes(space, layout, head, max, paths) → {items, problems}
Napi::Value Processes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto space = spaceOf(info[0]);
  Napi::Object o = objectOf(info[1], "layout");
  ProcessLayout l;
  l.size = toU32(o.Get("size"), "size");
  l.signature = toU32(o.Get("signature"), "signature");
  l.dtb = toU32(o.Get("dtb"), "dtb");
  l.createTime = toU32(o.Get("createTime"), "createTime");
  l.exitTime = toU32(o.Get("exitTime"), "exitTime");
  l.pid = toU32(o.Get("pid"), "pid");
  l.links = toU32(o.Get("links"), "links");
  l.objectTable = toU32(o.Get("objectTable"), "objectTable");
  l.ppid = toU32(o.Get("ppid"), "ppid");
  l.name = toU32(o.Get("name"), "name");
  l.activeThreads = toU32(o.Get("activeThreads"), "activeThreads");
  l.peb = toU32(o.Get("peb"), "peb");
  l.pebLdr = u32Of(o, "pebLdr", l.pebLdr);
  l.ldrInLoadOrder = u32Of(o, "ldrInLoadOrder", l.ldrInLoadOrder);
  l.entryFullDllName = u32Of(o, "entryFullDllName", l.entryFullDllName);
  uint32_t maxField = std::max({l.dtb + 8, l.createTime + 8, l.exitTime + 8, l.pid + 4, l.links + 8, l.objectTable + 4,
                                l.ppid + 4, l.name + 16, l.activeThreads + 4, l.peb + 4});
  if (l.size > 0x2000 || maxField > l.size) throwBadArgument(env, "process layout: fields must lie inside size (<= 0x2000)");
  uint64_t head = toU64(info[2], "head");
  uint32_t max = toU32(info[3], "max");
  bool paths = info[4].ToBoolean();
  Problems problems;
  auto list = walkProcesses(*space, l, head, max, paths, problems);
  Napi::Array items = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); i++) {
    const ProcessRecord& p = list[i];
    Napi::Object x = Napi::Object::New(env);
    x.Set("address", fromU64(env, p.address));
    x.Set("pid", p.pid);
    x.Set("ppid", p.ppid);
    x.Set("name", p.name);
    x.Set("createTime", fromU64(env, p.createTime));
    x.Set("exitTime", fromU64(env, p.exitTime));
    x.Set("dtb", fromU64(env, p.dtb));
    x.Set("peb", fromU64(env, p.peb));
    x.Set("objectTable", fromU64(env, p.objectTable));
    x.Set("threads", p.threads);
    if (!p.path.empty()) x.Set("path", u16(env, p.path));
    items.Set(static_cast<uint32_t>(i), x);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("items", items);
  out.Set("problems", problemsOf(env, problems));
  return out;
}

// windows_modules(space, layout, head, max) → {items, problems}
Napi::Value Modules(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto space = spaceOf(info[0]);
  Napi::Object o = objectOf(info[1], "layout");
  ModuleLayout l;
  l.size = toU32(o.Get("size"), "size");
  l.links = toU32(o.Get("links"), "links");
  l.dllBase = toU32(o.Get("dllBase"), "dllBase");
  l.sizeOfImage = toU32(o.Get("sizeOfImage"), "sizeOfImage");
  l.fullDllName = toU32(o.Get("fullDllName"), "fullDllName");
  l.baseDllName = toU32(o.Get("baseDllName"), "baseDllName");
  if (l.size > 0x1000 || std::max({l.links + 8, l.dllBase + 4, l.sizeOfImage + 4, l.fullDllName + 8, l.baseDllName + 8}) > l.size) {
    throwBadArgument(env, "module layout: fields must lie inside size (<= 0x1000)");
  }
  Problems problems;
  auto list = walkModules(*space, l, toU64(info[2], "head"), toU32(info[3], "max"), problems);
  Napi::Array items = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); i++) {
    const ModuleRecord& m = list[i];
    Napi::Object x = Napi::Object::New(env);
    x.Set("entry", fromU64(env, m.entry));
    x.Set("base", fromU64(env, m.base));
    x.Set("size", m.size);
    x.Set("name", u16(env, m.name));
    x.Set("path", u16(env, m.path));
    items.Set(static_cast<uint32_t>(i), x);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("items", items);
  out.Set("problems", problemsOf(env, problems));
  return out;
}

Napi::Object locationOf(Napi::Env env, const TableLocation& l) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("found", l.found);
  o.Set("how", l.how);
  o.Set("variable", fromU64(env, l.variable));
  o.Set("countVariable", fromU64(env, l.countVariable));
  o.Set("table", fromU64(env, l.table));
  o.Set("count", l.count);
  return o;
}

Napi::Object peOf(Napi::Env env, const PeInfo& pe) {
  Napi::Object peo = Napi::Object::New(env);
  peo.Set("ok", pe.ok);
  peo.Set("timeDateStamp", pe.timeDateStamp);
  peo.Set("sizeOfImage", pe.sizeOfImage);
  if (pe.haveVersion) {
    peo.Set("fileVersion", std::to_string(pe.fileVersionMS >> 16) + "." + std::to_string(pe.fileVersionMS & 0xffff) + "." +
                               std::to_string(pe.fileVersionLS >> 16) + "." + std::to_string(pe.fileVersionLS & 0xffff));
  }
  Napi::Array secs = Napi::Array::New(env, pe.sections.size());
  for (size_t i = 0; i < pe.sections.size(); i++) {
    Napi::Object s = Napi::Object::New(env);
    s.Set("name", pe.sections[i].name);
    s.Set("rva", pe.sections[i].rva);
    s.Set("size", pe.sections[i].size);
    s.Set("flags", pe.sections[i].flags);
    secs.Set(static_cast<uint32_t>(i), s);
  }
  peo.Set("sections", secs);
  return peo;
}

// windows_pe(space, base, sizeHint) → {ok, timeDateStamp, sizeOfImage, fileVersion?, sections, problems}
Napi::Value Pe(const Napi::CallbackInfo& info) {
  auto space = spaceOf(info[0]);
  Problems problems;
  PeInfo pe = readPe(*space, toU64(info[1], "base"), toU32(info[2], "size"), problems);
  Napi::Object out = peOf(info.Env(), pe);
  out.Set("problems", problemsOf(info.Env(), problems));
  return out;
}

// windows_tcpip(space, layout, base, size, known[[name, tcb, tcbSize, ao, aoSize]...], scan, limits) →
//   {pe, tcb, addr, connections, sockets, problems}
Napi::Value Tcpip(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto space = spaceOf(info[0]);
  Napi::Object o = objectOf(info[1], "layout");
  TcpipLayout l;
  l.tcbSize = u32Of(o, "tcbSize", l.tcbSize);
  l.tcbNext = u32Of(o, "tcbNext", l.tcbNext);
  l.tcbRemoteIp = u32Of(o, "tcbRemoteIp", l.tcbRemoteIp);
  l.tcbLocalIp = u32Of(o, "tcbLocalIp", l.tcbLocalIp);
  l.tcbRemotePort = u32Of(o, "tcbRemotePort", l.tcbRemotePort);
  l.tcbLocalPort = u32Of(o, "tcbLocalPort", l.tcbLocalPort);
  l.tcbPid = u32Of(o, "tcbPid", l.tcbPid);
  l.aoSize = u32Of(o, "aoSize", l.aoSize);
  l.aoNext = u32Of(o, "aoNext", l.aoNext);
  l.aoLocalIp = u32Of(o, "aoLocalIp", l.aoLocalIp);
  l.aoLocalPort = u32Of(o, "aoLocalPort", l.aoLocalPort);
  l.aoProtocol = u32Of(o, "aoProtocol", l.aoProtocol);
  l.aoPid = u32Of(o, "aoPid", l.aoPid);
  l.aoCreateTime = u32Of(o, "aoCreateTime", l.aoCreateTime);
  if (l.tcbSize > 0x1000 || l.aoSize > 0x1000 ||
      std::max({l.tcbNext + 4, l.tcbRemoteIp + 4, l.tcbLocalIp + 4, l.tcbRemotePort + 2, l.tcbLocalPort + 2, l.tcbPid + 4}) > l.tcbSize ||
      std::max({l.aoNext + 4, l.aoLocalIp + 4, l.aoLocalPort + 2, l.aoProtocol + 2, l.aoPid + 4, l.aoCreateTime + 8}) > l.aoSize) {
    throwBadArgument(env, "tcpip layout: fields must lie inside the object sizes (<= 0x1000)");
  }
  uint64_t base = toU64(info[2], "base");
  uint32_t size = toU32(info[3], "size");
  std::vector<TcpipRvas> known;
  if (info[4].IsArray()) {
    Napi::Array a = info[4].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Object r = objectOf(a.Get(i), "rva set");
      TcpipRvas x;
      x.name = toString(r.Get("name"), "name");
      x.tcbTable = toU32(r.Get("tcbTable"), "tcbTable");
      x.tcbSize = toU32(r.Get("tcbSize"), "tcbSize");
      x.addrObjTable = toU32(r.Get("addrObjTable"), "addrObjTable");
      x.addrObjTableSize = toU32(r.Get("addrObjTableSize"), "addrObjTableSize");
      x.exact = r.Get("exact").ToBoolean();
      x.tcbCount = u32Of(r, "tcbCount", 0);
      x.addrObjCount = u32Of(r, "addrObjCount", 0);
      known.push_back(x);
    }
  }
  bool scan = info[5].ToBoolean();
  TcpipLimits lim;
  if (info[6].IsObject()) {
    Napi::Object lo = info[6].As<Napi::Object>();
    lim.maxBuckets = std::min<uint32_t>(u32Of(lo, "maxBuckets", lim.maxBuckets), 1u << 20);
    lim.maxChain = u32Of(lo, "maxChain", lim.maxChain);
    lim.maxObjects = u32Of(lo, "maxObjects", lim.maxObjects);
  }
  Problems problems;
  PeInfo pe = readPe(*space, base, size, problems);
  TcpipResult r = walkTcpip(*space, l, base, size, pe, known, scan, lim, problems);

  Napi::Object out = Napi::Object::New(env);
  out.Set("pe", peOf(env, pe));
  out.Set("tcb", locationOf(env, r.tcb));
  out.Set("addr", locationOf(env, r.addr));
  Napi::Array conns = Napi::Array::New(env, r.connections.size());
  for (size_t i = 0; i < r.connections.size(); i++) {
    const ConnectionRecord& c = r.connections[i];
    Napi::Object x = Napi::Object::New(env);
    x.Set("address", fromU64(env, c.address));
    x.Set("localAddress", ip4(env, c.localIp));
    x.Set("localPort", c.localPort);
    x.Set("remoteAddress", ip4(env, c.remoteIp));
    x.Set("remotePort", c.remotePort);
    x.Set("pid", c.pid);
    conns.Set(static_cast<uint32_t>(i), x);
  }
  Napi::Array socks = Napi::Array::New(env, r.sockets.size());
  for (size_t i = 0; i < r.sockets.size(); i++) {
    const SocketRecord& s = r.sockets[i];
    Napi::Object x = Napi::Object::New(env);
    x.Set("address", fromU64(env, s.address));
    x.Set("localAddress", ip4(env, s.localIp));
    x.Set("port", s.port);
    x.Set("protocol", s.protocol);
    x.Set("pid", s.pid);
    x.Set("createTime", fromU64(env, s.createTime));
    socks.Set(static_cast<uint32_t>(i), x);
  }
  out.Set("connections", conns);
  out.Set("sockets", socks);
  out.Set("problems", problemsOf(env, problems));
  return out;
}

// windows_vads(space, layout, eprocess, max) → {items, problems}
Napi::Value Vads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto space = spaceOf(info[0]);
  Napi::Object o = objectOf(info[1], "layout");
  VadLayout l;
  l.avlTable = o.Get("avlTable").ToBoolean();
  l.vadRoot = toU32(o.Get("vadRoot"), "vadRoot");
  l.balancedRoot = u32Of(o, "balancedRoot", 0);
  l.left = toU32(o.Get("left"), "left");
  l.right = toU32(o.Get("right"), "right");
  l.startVpn = toU32(o.Get("startVpn"), "startVpn");
  l.endVpn = toU32(o.Get("endVpn"), "endVpn");
  l.flags = toU32(o.Get("flags"), "flags");
  l.controlArea = toU32(o.Get("controlArea"), "controlArea");
  l.caFilePointer = u32Of(o, "caFilePointer", l.caFilePointer);
  l.foFileName = u32Of(o, "foFileName", l.foFileName);
  if (std::max({l.vadRoot, l.balancedRoot, l.left, l.right, l.startVpn, l.endVpn, l.flags, l.controlArea, l.caFilePointer,
                l.foFileName}) > 0x1000) {
    throwBadArgument(env, "VAD layout offsets must be below 0x1000");
  }
  Problems problems;
  auto list = walkVads(*space, l, toU64(info[2], "eprocess"), toU32(info[3], "max"), problems);
  Napi::Array items = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); i++) {
    const VadRecord& v = list[i];
    Napi::Object x = Napi::Object::New(env);
    x.Set("address", fromU64(env, v.address));
    x.Set("start", fromU64(env, v.start));
    x.Set("end", fromU64(env, v.end));
    x.Set("protection", v.protection);
    x.Set("private", v.isPrivate);
    x.Set("tag", v.tag);
    if (!v.path.empty()) x.Set("path", u16(env, v.path));
    items.Set(static_cast<uint32_t>(i), x);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("items", items);
  out.Set("problems", problemsOf(env, problems));
  return out;
}

Registrar r1("windows_discover", Discover);
Registrar r6("windows_vads", Vads);
Registrar r2("windows_processes", Processes);
Registrar r3("windows_modules", Modules);
Registrar r4("windows_tcpip", Tcpip);
Registrar r5("windows_pe", Pe);

}  // namespace
}  // namespace parasight::binding
