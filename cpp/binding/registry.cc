#include "binding/registry.h"

namespace parasight::binding {

std::vector<Registration>& registrations() {
  static std::vector<Registration> all;  // function-local: safe against static-initialisation order
  return all;
}

}  // namespace parasight::binding
