#include "memory/libvmi_source.h"

#include <dlfcn.h>

#include <algorithm>
#include <mutex>
#include <vector>

namespace parasight {
namespace {

// The few LibVMI declarations we use (libvmi.h, LibVMI 0.14+). Declared here so no LibVMI header is needed.
using VmiInstance = void*;   // vmi_instance_t: opaque pointer
using VmiStatus = int;       // status_t: VMI_SUCCESS = 0, VMI_FAILURE = 1
constexpr VmiStatus kVmiSuccess = 0;
constexpr uint64_t kVmiInitDomainName = 1u << 0;
// status_t vmi_init(vmi_instance_t *vmi, vmi_mode_t mode, const void *domain, uint64_t init_flags,
//                   vmi_init_data_t *init_data, vmi_init_error_t *error);
using VmiInitFn = VmiStatus (*)(VmiInstance*, int, const void*, uint64_t, void*, int*);
// status_t vmi_read_pa(vmi_instance_t vmi, addr_t paddr, size_t count, void *buf, size_t *bytes_read);
using VmiReadPaFn = VmiStatus (*)(VmiInstance, uint64_t, size_t, void*, size_t*);
// addr_t vmi_get_max_physical_address(vmi_instance_t vmi);  uint64_t vmi_get_memsize(vmi_instance_t vmi);
using VmiSizeFn = uint64_t (*)(VmiInstance);
// status_t vmi_destroy(vmi_instance_t vmi);
using VmiDestroyFn = VmiStatus (*)(VmiInstance);

const char* initErrorName(int e) {
  // vmi_init_error_t, in declaration order.
  static const char* const kNames[] = {"no error", "hypervisor not detected", "hypervisor driver failed",
                                       "VM not found", "paging init failed", "OS init failed", "events init failed",
                                       "shared memory init failed", "no config", "no config entry"};
  return e >= 0 && e < static_cast<int>(sizeof kNames / sizeof kNames[0]) ? kNames[e] : "unknown error";
}

class LibvmiMemory : public PhysicalMemory {
 public:
  LibvmiMemory(void* lib, std::string domain) : lib_(lib), domain_(std::move(domain)) {}
  ~LibvmiMemory() override {
    if (vmi_ != nullptr) destroy_(vmi_);
    if (lib_ != nullptr) dlclose(lib_);
  }

  const char* kind() const override { return "libvmi"; }
  std::string origin() const override { return "libvmi:" + domain_; }

  bool init(LibvmiMode mode, const std::string& libName, Error* err);
  size_t read(uint64_t pa, void* dst, size_t len, Error* err) override;

 private:
  void* lib_;
  std::string domain_;
  VmiInstance vmi_ = nullptr;
  VmiReadPaFn readPa_ = nullptr;
  VmiDestroyFn destroy_ = nullptr;
  std::mutex mutex_;  // a LibVMI instance is not thread-safe; async scans may read from workers
};

bool LibvmiMemory::init(LibvmiMode mode, const std::string& libName, Error* err) {
  auto sym = [&](const char* name) { return dlsym(lib_, name); };
  auto init = reinterpret_cast<VmiInitFn>(sym("vmi_init"));
  readPa_ = reinterpret_cast<VmiReadPaFn>(sym("vmi_read_pa"));
  destroy_ = reinterpret_cast<VmiDestroyFn>(sym("vmi_destroy"));
  auto maxPa = reinterpret_cast<VmiSizeFn>(sym("vmi_get_max_physical_address"));
  auto memsize = reinterpret_cast<VmiSizeFn>(sym("vmi_get_memsize"));
  if (init == nullptr || readPa_ == nullptr || destroy_ == nullptr || (maxPa == nullptr && memsize == nullptr)) {
    *err = Error::make(Errc::kUnsupported, 0, libName + " lacks vmi_init, vmi_read_pa, vmi_destroy or "
                                                        "vmi_get_max_physical_address: LibVMI 0.14 or newer is needed");
    return false;
  }
  int initError = 0;
  if (init(&vmi_, static_cast<int>(mode), domain_.c_str(), kVmiInitDomainName, nullptr, &initError) != kVmiSuccess) {
    vmi_ = nullptr;  // LibVMI frees a failed instance itself
    Errc code = initError == 3 ? Errc::kNotFound : initError == 1 ? Errc::kUnsupported : Errc::kIo;
    *err = Error::make(code, 0, "LibVMI cannot open " + domain_ + ": " + initErrorName(initError));
    return false;
  }
  // The highest physical address + 1 covers RAM above the PCI hole; memsize alone would cut it off.
  uint64_t end = maxPa != nullptr ? maxPa(vmi_) : memsize(vmi_);
  if (end == 0) {
    *err = Error::make(Errc::kIo, 0, "LibVMI reports no physical memory for " + domain_);
    return false;
  }
  ranges_.push_back({0, end});
  return true;
}

size_t LibvmiMemory::read(uint64_t pa, void* dst, size_t len, Error* err) {
  if (len == 0) return 0;
  if (findRange(pa) < 0) {
    if (err) *err = missing(pa);
    return 0;
  }
  size_t want = static_cast<size_t>(std::min<uint64_t>(len, end() - pa));
  size_t got = 0;
  VmiStatus st;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    st = readPa_(vmi_, pa, want, dst, &got);
  }
  got = std::min(got, want);
  if (st == kVmiSuccess && got == want && want == len) return len;
  if (err) {
    uint64_t at = pa + got;
    *err = got == want && want < len ? missing(at)
                                     : Error::make(Errc::kIo, at, "LibVMI could not read physical " + hex(at) + " of " +
                                                                      domain_ + " (not backed, or the VM is gone)");
  }
  return got;
}

}  // namespace

std::unique_ptr<PhysicalMemory> openLibvmi(const std::string& domain, LibvmiMode mode, const std::string& library,
                                           Error* err) {
  std::string tried;
  void* lib = nullptr;
  std::string name;
  std::vector<std::string> candidates;
  if (library.empty()) candidates = {"libvmi.so", "libvmi.so.0"};
  else candidates = {library};
  for (const std::string& candidate : candidates) {
    lib = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib != nullptr) {
      name = candidate;
      break;
    }
    const char* why = dlerror();
    tried += (tried.empty() ? "" : "; ") + std::string(why != nullptr ? why : candidate.c_str());
  }
  if (lib == nullptr) {
    *err = Error::make(Errc::kNotFound, 0, "LibVMI is not available (" + tried + "): install libvmi or pass its path");
    return nullptr;
  }
  auto mem = std::make_unique<LibvmiMemory>(lib, domain);
  if (!mem->init(mode, name, err)) return nullptr;
  return mem;
}

}  // namespace parasight
