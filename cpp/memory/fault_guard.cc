#include "memory/fault_guard.h"

#include <csetjmp>
#include <csignal>
#include <cstring>
#include <mutex>

namespace parasight {
namespace {

// volatile + barriers: memcpy is a builtin the compiler knows does not read tGuard, so without them it would
// drop the store before the copy as dead.
thread_local sigjmp_buf* volatile tGuard = nullptr;
struct sigaction gPreviousBus;
struct sigaction gPreviousSegv;

void chain(int sig, siginfo_t* info, void* ctx) {
  const struct sigaction& prev = sig == SIGBUS ? gPreviousBus : gPreviousSegv;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) prev.sa_sigaction(sig, info, ctx);
    return;
  }
  if (prev.sa_handler == SIG_IGN) return;
  if (prev.sa_handler == SIG_DFL || prev.sa_handler == nullptr) {
    // Restore the default action and let the fault happen again for real (core dump, as without us).
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  prev.sa_handler(sig);
}

void onFault(int sig, siginfo_t* info, void* ctx) {
  if (tGuard != nullptr) {
    sigjmp_buf* target = tGuard;
    tGuard = nullptr;
    siglongjmp(*target, 1);
  }
  chain(sig, info, ctx);
}

void installOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = onFault;
    // SA_NODEFER: we leave the handler with siglongjmp without restoring the mask, so the signal must not be
    // blocked while it runs, or the next fault would be fatal.
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &gPreviousBus);
    sigaction(SIGSEGV, &sa, &gPreviousSegv);
  });
}

}  // namespace

bool guardedCopy(void* dst, const void* src, size_t len) {
  installOnce();
  sigjmp_buf env;
  if (sigsetjmp(env, 0) != 0) {
    return false;  // the handler cleared tGuard before jumping back here
  }
  tGuard = &env;
  asm volatile("" ::: "memory");
  std::memcpy(dst, src, len);
  asm volatile("" ::: "memory");
  tGuard = nullptr;
  return true;
}

bool guardedCall(void (*fn)(void*), void* arg) {
  installOnce();
  sigjmp_buf env;
  if (sigsetjmp(env, 0) != 0) {
    return false;
  }
  tGuard = &env;
  asm volatile("" ::: "memory");
  fn(arg);
  asm volatile("" ::: "memory");
  tGuard = nullptr;
  return true;
}

}  // namespace parasight
