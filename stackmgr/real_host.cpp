#include "stackmgr/real_host.hpp"

#include <memory>

#include "detect/detector.hpp"
#include "detect/subsystem.hpp"
#include "modules/kmod_backend.hpp"

namespace stackmgr {

detect::Snapshot detect_real_host(const detect::HostRoot& root, const detect::Catalog& catalog) {
  const detect::KernelRelease release = detect::read_kernel_release(root);
  const modules::KmodBackend backend(root, release.release);
  std::unique_ptr<detect::NetDeviceSource> net;
  if (root.is_real_root()) {
    net = std::make_unique<detect::UdevNetDevices>();
  } else {
    net = std::make_unique<detect::SysfsNetDevices>(root);
  }
  return detect::detect_host(detect::DetectInputs{root, backend, *net, catalog});
}

}  // namespace stackmgr
