// windows_* functions: kernel discovery over a memory source, and whole-table walks over a kernel address space.
// Each call returns a whole table (processes, modules, connections + sockets) with its problems: never one N-API
// call per field.
#include <string>

#include "binding/convert.h"
#include "binding/memory_handle.h"
#include "binding/problems_binding.h"
#include "binding/registry.h"
#include "binding/space_handle.h"
#include "binding/table.h"
#include "binding/windows_convert.h"
#include "windows/discovery.h"
#include "windows/lists.h"
#include "windows/psscan.h"
#include "windows/vad.h"

namespace parasight::binding {

namespace {

using namespace parasight::windows;
using namespace parasight::binding::win;

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

ProcessLayout processLayoutOf(Napi::Env env, const Napi::Object& o) {
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
  return l;
}

// The _EPROCESS fields a list walk and a pool scan both report (ProcessRecord, ScannedProcess).
template <typename P>
void setProcessFields(Napi::Env env, Napi::Object& x, const P& p) {
  x.Set("pid", p.pid);
  x.Set("ppid", p.ppid);
  x.Set("name", p.name);
  x.Set("createTime", fromU64(env, p.createTime));
  x.Set("exitTime", fromU64(env, p.exitTime));
  x.Set("dtb", fromU64(env, p.dtb));
  x.Set("peb", fromU64(env, p.peb));
  x.Set("objectTable", fromU64(env, p.objectTable));
  x.Set("threads", p.threads);
}

// windows_processes(space, layout, head, max, paths) → {items, problems}
Napi::Value Processes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto space = spaceOf(info[0]);
  ProcessLayout l = processLayoutOf(env, objectOf(info[1], "layout"));
  uint64_t head = toU64(info[2], "head");
  uint32_t max = toU32(info[3], "max");
  bool paths = info[4].ToBoolean();
  Problems problems;
  auto list = walkProcesses(*space, l, head, max, paths, problems);
  return tableOf(env, list, problems, [&](Napi::Object& x, const ProcessRecord& p) {
    x.Set("address", fromU64(env, p.address));
    setProcessFields(env, x, p);
    if (!p.path.empty()) x.Set("path", u16(env, p.path));
  });
}

// windows_psscan(memory, layout, maxObjects) → {items, bytesScanned, problems}; addresses physical
Napi::Value PsScan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto mem = memoryOf(info[0]);
  ProcessLayout l = processLayoutOf(env, objectOf(info[1], "layout"));
  Problems problems;
  ProcessScanResult r = scanProcesses(*mem, l, toU32(info[2], "maxObjects"), problems);
  Napi::Object out = tableOf(env, r.processes, problems, [&](Napi::Object& x, const ScannedProcess& p) {
    x.Set("physical", fromU64(env, p.physical));
    x.Set("pool", fromU64(env, p.pool));
    x.Set("freed", p.freed);
    setProcessFields(env, x, p);
    x.Set("flink", fromU64(env, p.flink));
    x.Set("blink", fromU64(env, p.blink));
  });
  out.Set("bytesScanned", static_cast<double>(r.bytesScanned));
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
  return tableOf(env, list, problems, [&](Napi::Object& x, const ModuleRecord& m) { setModuleFields(env, x, m); });
}

// windows_vads(space, layout, eprocess, max) → {items, problems}
Napi::Value Vads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto space = spaceOf(info[0]);
  VadLayout l = vadLayoutOf(env, objectOf(info[1], "layout"));
  Problems problems;
  auto list = walkVads(*space, l, toU64(info[2], "eprocess"), toU32(info[3], "max"), problems);
  return tableOf(env, list, problems, [&](Napi::Object& x, const VadRecord& v) {
    x.Set("address", fromU64(env, v.address));
    x.Set("start", fromU64(env, v.start));
    x.Set("end", fromU64(env, v.end));
    x.Set("protection", v.protection);
    x.Set("private", v.isPrivate);
    x.Set("commit", v.commitCharge);
    x.Set("tag", v.tag);
    if (!v.path.empty()) x.Set("path", u16(env, v.path));
  });
}

Registrar r1("windows_discover", Discover);
Registrar r2("windows_processes", Processes);
Registrar r3("windows_modules", Modules);
Registrar r6("windows_vads", Vads);
Registrar r8("windows_psscan", PsScan);

}  // namespace
}  // namespace parasight::binding
