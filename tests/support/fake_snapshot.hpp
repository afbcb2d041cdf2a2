#pragma once
// The Snapshot that detection would report for a fake kernel: module states, refcounts and
// holders from the FakeKernel, and the kernel markers its loaded modules would create. The
// planner and executor tests re-read the world through this.

#include <string>

#include "detect/catalog.hpp"
#include "detect/snapshot.hpp"
#include "tests/support/fake_kernel.hpp"

namespace fake {

struct HostFacts {
  detect::Fact modules_disabled = detect::Fact::no;
  detect::Fact cap_sys_module = detect::Fact::yes;
  bool guard_installed = false;  // the autoload guard file exists (guards every native module)
  std::string kernel_release = "6.1.0-fake";
};

// Module support comes from the kernel (loaded_modules() fails without it). Markers follow the
// modules: /proc/net/pfkey while af_key is present, KLIPS's /proc files and ipsec0 while
// ipsec is. Verdicts and the overall state are a simple reading of the same facts.
detect::Snapshot snapshot_of(const FakeKernel& kernel, const detect::Catalog& catalog,
                             const HostFacts& facts = {});

}  // namespace fake
