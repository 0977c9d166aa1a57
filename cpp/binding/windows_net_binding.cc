// windows_* functions for tcpip.sys: PE header/version of a module, the connection and socket hash tables, and the
// pool-tag scan fallback. Each call returns whole tables.
#include <string>

#include "binding/convert.h"
#include "binding/memory_handle.h"
#include "binding/registry.h"
#include "binding/space_handle.h"
#include "binding/table.h"
#include "binding/windows_convert.h"
#include "windows/poolscan.h"
#include "windows/tcpip.h"

namespace parasight::binding {

namespace {

using namespace parasight::windows;
using namespace parasight::binding::win;

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
  Napi::Array secs = arrayOf(env, pe.sections, [](Napi::Object& x, const PeSection& sec) {
    x.Set("name", sec.name);
    x.Set("rva", sec.rva);
    x.Set("size", sec.size);
    x.Set("flags", sec.flags);
  });
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

Napi::Array connectionsOf(Napi::Env env, const TcpipResult& r) {
  return arrayOf(env, r.connections, [&](Napi::Object& x, const ConnectionRecord& c) {
    x.Set("address", fromU64(env, c.address));
    x.Set("localAddress", ip4(env, c.localIp));
    x.Set("localPort", c.localPort);
    x.Set("remoteAddress", ip4(env, c.remoteIp));
    x.Set("remotePort", c.remotePort);
    x.Set("pid", c.pid);
    x.Set("freed", c.freed);
  });
}

Napi::Array socketsOf(Napi::Env env, const TcpipResult& r) {
  return arrayOf(env, r.sockets, [&](Napi::Object& x, const SocketRecord& s) {
    x.Set("address", fromU64(env, s.address));
    x.Set("localAddress", ip4(env, s.localIp));
    x.Set("port", s.port);
    x.Set("protocol", s.protocol);
    x.Set("pid", s.pid);
    x.Set("createTime", fromU64(env, s.createTime));
    x.Set("freed", s.freed);
  });
}

TcpipLayout tcpipLayoutOf(Napi::Env env, const Napi::Object& o) {
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
  return l;
}

// windows_tcpip(space, layout, base, size, known[[name, tcb, tcbSize, ao, aoSize]...], scan, limits) →
//   {pe, tcb, addr, connections, sockets, problems}
Napi::Value Tcpip(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto space = spaceOf(info[0]);
  TcpipLayout l = tcpipLayoutOf(env, objectOf(info[1], "layout"));
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
  out.Set("connections", connectionsOf(env, r));
  out.Set("sockets", socketsOf(env, r));
  out.Set("problems", problemsOf(env, problems));
  return out;
}

// windows_poolscan(memory, layout, maxObjects) → {connections, sockets, bytesScanned, problems}; addresses physical
Napi::Value PoolScan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto mem = memoryOf(info[0]);
  TcpipLayout l = tcpipLayoutOf(env, objectOf(info[1], "layout"));
  Problems problems;
  PoolScanResult r = poolScanTcpip(*mem, l, toU32(info[2], "maxObjects"), problems);
  Napi::Object out = Napi::Object::New(env);
  TcpipResult t;
  t.connections = std::move(r.connections);
  t.sockets = std::move(r.sockets);
  out.Set("connections", connectionsOf(env, t));
  out.Set("sockets", socketsOf(env, t));
  out.Set("bytesScanned", static_cast<double>(r.bytesScanned));
  out.Set("problems", problemsOf(env, problems));
  return out;
}

Registrar r4("windows_tcpip", Tcpip);
Registrar r5("windows_pe", Pe);
Registrar r7("windows_poolscan", PoolScan);

}  // namespace
}  // namespace parasight::binding
