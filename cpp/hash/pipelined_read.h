// read() on one thread, hashing on another: for big files the hash then costs little more than the read alone
// (the two overlap), instead of adding up. Buffers come from a process-wide pool so their pages are touched once.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "memory/error.h"

namespace parasight {

// Reads fd to EOF in chunks on a helper thread and calls consume(data, n) for each chunk, in order, on the calling
// thread. Stops early (returning false, err = CANCELLED) when `cancel` is raised, or on a read error (IO).
// `bytes` = bytes consumed.
bool pipelinedRead(int fd, const std::function<void(const uint8_t*, size_t)>& consume, const std::atomic<bool>* cancel,
                   uint64_t* bytes, const std::string& what, Error* err);

}  // namespace parasight
