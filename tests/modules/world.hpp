#pragma once
// A fake host for the planner and executor tests: the default catalog on a FakeKernel with
// realistic dependencies (Debian 6.1: xfrm_algo under most native modules, tunnel4/tunnel6
// under the tunnels, xfrm_ipcomp under ipcomp), every module on disk unless a test says not.

#include <initializer_list>
#include <string>

#include "detect/catalog.hpp"
#include "detect/snapshot.hpp"
#include "tests/support/fake_kernel.hpp"
#include "tests/support/fake_snapshot.hpp"

namespace testworld {

struct World {
  detect::Catalog catalog = detect::Catalog::defaults();
  fake::FakeKernel kernel{catalog};
  fake::HostFacts facts;

  World() {
    using detect::DiskState;
    for (const char* name : {"xfrm_algo", "tunnel4", "tunnel6"})
      kernel.add_module(name, DiskState::available);
    kernel.add_module("xfrm_ipcomp", DiskState::available, {"xfrm_algo"});
    kernel.add_module("af_key", DiskState::available, {"xfrm_algo"});
    kernel.add_module("esp4", DiskState::available, {"xfrm_algo"});
    kernel.add_module("ah4", DiskState::available, {"xfrm_algo"});
    kernel.add_module("xfrm_user", DiskState::available, {"xfrm_algo"});
    kernel.add_module("xfrm4_tunnel", DiskState::available, {"tunnel4"});
    kernel.add_module("esp6", DiskState::available, {"xfrm_algo"});
    kernel.add_module("ah6", DiskState::available, {"xfrm_algo"});
    kernel.add_module("xfrm6_tunnel", DiskState::available, {"tunnel6"});
    kernel.add_module("ipcomp", DiskState::available, {"xfrm_algo", "xfrm_ipcomp"});
    kernel.add_module("ipcomp6", DiskState::available,
                      {"tunnel6", "xfrm6_tunnel", "xfrm_algo", "xfrm_ipcomp"});
    kernel.add_module("ipsec", DiskState::available);
    for (const char* name : {"ipsec_aes", "ipsec_sha2", "ipsec_blowfish"}) {
      kernel.add_module(name, DiskState::available, {"ipsec"});
    }
  }

  // Loads modules (with their dependencies) as something other than stackmgr would.
  void load(std::initializer_list<const char*> names) {
    for (const char* name : names) static_cast<void>(kernel.insert(name));
  }

  [[nodiscard]] detect::Snapshot snapshot() const { return fake::snapshot_of(kernel, catalog, facts); }
};

}  // namespace testworld
