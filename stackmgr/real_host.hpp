#pragma once
// Detection with the real OS boundaries: what detect, status and doctor all run.

#include "detect/catalog.hpp"
#include "detect/host.hpp"
#include "detect/snapshot.hpp"

namespace stackmgr {

// Detects the host under `root` with libkmod (modules::KmodBackend) for the root's running
// kernel release, libudev for "/" and <root>/sys/class/net otherwise. The catalog is the seam
// for the config's extra modules.
detect::Snapshot detect_real_host(const detect::HostRoot& root, const detect::Catalog& catalog);

}  // namespace stackmgr
