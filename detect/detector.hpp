#pragma once
// Detection: reads the host, changes nothing, and returns a Snapshot.

#include "detect/catalog.hpp"
#include "detect/host.hpp"
#include "detect/module_index.hpp"
#include "detect/snapshot.hpp"

namespace detect {

struct DetectInputs {
  const HostRoot& root;
  const ModuleIndex& modules;
  const NetDeviceSource& net;
  const Catalog& catalog;
};

// Reads the module subsystem, each catalog module's state, and the kernel's markers, then
// judges each stack and the whole. Never throws for host conditions; they become reasons.
Snapshot detect_host(const DetectInputs& inputs);

}  // namespace detect
