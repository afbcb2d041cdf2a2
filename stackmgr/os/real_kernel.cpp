#include "stackmgr/os/real_kernel.hpp"

#include <utility>

#include "detect/detector.hpp"
#include "detect/subsystem.hpp"

namespace stackmgr::os {

RealKernel::RealKernel(detect::HostRoot root, detect::Catalog catalog)
    : root_(std::move(root)),
      catalog_(std::move(catalog)),
      backend_(std::make_unique<modules::KmodBackend>(root_, detect::read_kernel_release(root_).release)),
      index_facts_(std::make_unique<detect::CachedModuleIndex>(*backend_)),
      guard_(modules::GuardFile::for_catalog(root_, catalog_)),
      holders_(root_) {
  if (root_.is_real_root()) {
    net_ = std::make_unique<detect::UdevNetDevices>();
  } else {
    net_ = std::make_unique<detect::SysfsNetDevices>(root_);
  }
}

RealKernel::~RealKernel() = default;

detect::Snapshot RealKernel::detect() const {
  backend_->refresh();
  index_facts_->forget();
  return detect::detect_host(detect::DetectInputs{root_, *index_facts_, *net_, catalog_});
}

detect::Snapshot RealKernel::recheck() const {
  return detect::detect_host(detect::DetectInputs{root_, *index_facts_, *net_, catalog_});
}

detect::Snapshot detect_real_host(const detect::HostRoot& root, const detect::Catalog& catalog) {
  return RealKernel(root, catalog).detect();
}

}  // namespace stackmgr::os
