// The walkers' problem list as the TS `Problem[]` (shared by the Windows and Linux bindings).
#pragma once
#include <napi.h>

#include "walk/problems.h"

namespace parasight::binding {

// One object per problem; problems dropped past the list's bound become one trailing LIMIT entry.
Napi::Array problemsOf(Napi::Env env, const Problems& p);

}  // namespace parasight::binding
