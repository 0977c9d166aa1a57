// Copies out of a file mapping without dying when the file shrinks under us (SIGBUS). A live guest RAM file, or an
// image someone truncates, must turn into an error value, not a crashed daemon.
#pragma once
#include <cstddef>

namespace parasight {

// memcpy that returns false instead of crashing if touching `src` raises SIGBUS or SIGSEGV.
// Cheap: sigsetjmp without saving the signal mask (no syscall) and a thread-local flag.
bool guardedCopy(void* dst, const void* src, size_t len);

// Runs fn(arg) and returns true, or returns false if touching memory inside it raises SIGBUS or SIGSEGV (fn is then
// abandoned where it faulted: it must own nothing that needs a destructor, and record its progress in `arg`). One
// guard around a whole loop of small copies costs one sigsetjmp instead of one per copy.
bool guardedCall(void (*fn)(void*), void* arg);

}  // namespace parasight
