// The opaque handle JS holds for an open memory source. Workers and views keep their own shared_ptr, so closing
// a handle while an async scan or a JS view is alive is safe: the source is freed when the last user lets go.
#pragma once
#include <napi.h>

#include <memory>

#include "memory/physical_memory.h"

namespace parasight::binding {

struct MemoryHandle {
  std::shared_ptr<PhysicalMemory> memory;
};

Napi::Value wrapMemory(Napi::Env env, std::unique_ptr<PhysicalMemory> memory);
// The source behind a handle; throws CLOSED after memory_close, BAD_ARGUMENT for anything that is not a handle.
std::shared_ptr<PhysicalMemory> memoryOf(const Napi::Value& handle);

}  // namespace parasight::binding
