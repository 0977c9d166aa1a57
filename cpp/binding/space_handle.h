// The opaque handle JS holds for an address space (a memory source + paging mode + DTB + TLB). It owns the
// AddressSpace through a shared_ptr, which in turn holds the memory source: closing the Memory in JS never frees
// bytes a live address space still reads.
#pragma once
#include <napi.h>

#include <memory>

#include "paging/address_space.h"

namespace parasight::binding {

struct SpaceHandle {
  std::shared_ptr<AddressSpace> space;
};

// The address space behind a handle; throws CLOSED after space_close, BAD_ARGUMENT for anything else.
std::shared_ptr<AddressSpace> spaceOf(const Napi::Value& handle);
// True when the value is an address-space handle (open or closed).
bool isSpaceHandle(const Napi::Value& value);

}  // namespace parasight::binding
