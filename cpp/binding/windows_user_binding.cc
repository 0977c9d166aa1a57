// windows_* functions for a process's user-mode view: its PEB loader lists (ldrmodules) and executable+writable
// memory with content (malfind). Both read in the process's own address space (its DTB).
#include <string>

#include "binding/convert.h"
#include "binding/registry.h"
#include "binding/space_handle.h"
#include "binding/table.h"
#include "binding/windows_convert.h"
#include "windows/ldr.h"
#include "windows/malfind.h"

namespace parasight::binding {

namespace {

using namespace parasight::windows;
using namespace parasight::binding::win;

// windows_ldr(space, dtb, peb, max) → {found, ldr, load, memory, init, problems}; each list [{entry, base, size, name, path}]
Napi::Value Ldr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto kernel = spaceOf(info[0]);
  auto process = processSpace(*kernel, toU64(info[1], "dtb"));
  Problems problems;
  LoaderLists r = walkLoaderLists(*process, LdrLayout(), toU64(info[2], "peb"), toU32(info[3], "max"), problems);
  Napi::Object out = Napi::Object::New(env);
  out.Set("found", r.found);
  out.Set("ldr", fromU64(env, r.ldr));
  const char* names[3] = {"load", "memory", "init"};
  for (int k = 0; k < 3; k++) {
    out.Set(names[k], arrayOf(env, r.lists[k], [&](Napi::Object& x, const LdrEntry& m) { setModuleFields(env, x, m); }));
  }
  out.Set("problems", problemsOf(env, problems));
  return out;
}

// windows_malfind(space, vadLayout, eprocess, dtb, maxPagesPerVad) → {items, problems}
Napi::Value Malfind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto kernel = spaceOf(info[0]);
  VadLayout l = vadLayoutOf(env, objectOf(info[1], "layout"));
  auto process = processSpace(*kernel, toU64(info[3], "dtb"));
  Problems problems;
  auto found = findInjected(*kernel, *process, l, toU64(info[2], "eprocess"), toU32(info[4], "maxPagesPerVad"), problems);
  return tableOf(env, found, problems, [&](Napi::Object& x, const InjectedRegion& r) {
    x.Set("vad", fromU64(env, r.vad));
    x.Set("start", fromU64(env, r.start));
    x.Set("end", fromU64(env, r.end));
    x.Set("protection", r.protection);
    x.Set("private", r.isPrivate);
    x.Set("residentPages", r.residentPages);
    x.Set("contentPages", r.contentPages);
    x.Set("readAt", fromU64(env, r.readAt));
    x.Set("physical", fromU64(env, r.physical));
    x.Set("head", Napi::Buffer<uint8_t>::Copy(env, r.head.data(), r.head.size()));
    x.Set("peHeader", r.peHeader);
    if (r.peHeader) x.Set("peAt", fromU64(env, r.peAt));
    x.Set("prologue", r.prologue);
  });
}

Registrar r1("windows_ldr", Ldr);
Registrar r2("windows_malfind", Malfind);

}  // namespace
}  // namespace parasight::binding
