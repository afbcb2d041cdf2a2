#pragma once
// The production boundaries of one host under `root`, built in one place: libkmod for the
// root's running kernel release, the net device source (libudev for "/", sysfs under any other
// root), the autoload guard file, the system clock and the PF_KEY holders from /proc. A command
// builds one and reuses it for every detection, so libkmod's context and indexes load once.

#include <memory>

#include "detect/cached_module_index.hpp"
#include "detect/catalog.hpp"
#include "detect/host.hpp"
#include "detect/snapshot.hpp"
#include "modules/clock.hpp"
#include "modules/guard_file.hpp"
#include "modules/holder_lookup.hpp"
#include "modules/kmod_backend.hpp"

namespace stackmgr::os {

class RealKernel {
 public:
  // `catalog` is the config's (the built-in modules plus [[modules.extra]]).
  RealKernel(detect::HostRoot root, detect::Catalog catalog);
  RealKernel(const RealKernel&) = delete;
  RealKernel& operator=(const RealKernel&) = delete;
  ~RealKernel();

  // Reads the host now (detect::detect_host through this bundle's boundaries), after libkmod
  // has re-read its configuration if it changed.
  [[nodiscard]] detect::Snapshot detect() const;

  // The executor's fresh check before each insert: reads the host now like detect(), except
  // that each module's index facts (on disk, built in, blacklisted, dependencies) are those
  // the last detect() found, not looked up again.
  [[nodiscard]] detect::Snapshot recheck() const;

  [[nodiscard]] const detect::HostRoot& root() const { return root_; }
  [[nodiscard]] const detect::Catalog& catalog() const { return catalog_; }
  [[nodiscard]] modules::KmodBackend& backend() { return *backend_; }
  [[nodiscard]] modules::GuardFile& guard() { return guard_; }
  [[nodiscard]] modules::SystemClock& clock() { return clock_; }
  [[nodiscard]] const modules::ProcHolderLookup& holders() const { return holders_; }

 private:
  detect::HostRoot root_;
  detect::Catalog catalog_;
  std::unique_ptr<modules::KmodBackend> backend_;
  std::unique_ptr<detect::CachedModuleIndex> index_facts_;  // backend_'s lookups, kept by recheck()
  std::unique_ptr<detect::NetDeviceSource> net_;
  modules::GuardFile guard_;
  modules::SystemClock clock_;
  modules::ProcHolderLookup holders_;
};

// One detection of the host under `root` through a RealKernel built for it: what detect, look,
// status and doctor run.
detect::Snapshot detect_real_host(const detect::HostRoot& root, const detect::Catalog& catalog);

}  // namespace stackmgr::os
