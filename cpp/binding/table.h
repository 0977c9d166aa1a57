// The answer of a whole-table walk as JS: an array with one object per record (filled by the caller's `fill`), so a
// binding states only which fields a record has, never the array and object plumbing again.
#pragma once
#include <napi.h>

#include <vector>

#include "binding/problems_binding.h"

namespace parasight::binding {

template <typename Record, typename Fill>
Napi::Array arrayOf(Napi::Env env, const std::vector<Record>& records, Fill fill) {
  Napi::Array items = Napi::Array::New(env, records.size());
  for (size_t i = 0; i < records.size(); i++) {
    Napi::Object x = Napi::Object::New(env);
    fill(x, records[i]);
    items.Set(static_cast<uint32_t>(i), x);
  }
  return items;
}

// {items, problems}: the shape of every walk that returns one list.
template <typename Record, typename Fill>
Napi::Object tableOf(Napi::Env env, const std::vector<Record>& records, const Problems& problems, Fill fill) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("items", arrayOf(env, records, fill));
  out.Set("problems", problemsOf(env, problems));
  return out;
}

}  // namespace parasight::binding
