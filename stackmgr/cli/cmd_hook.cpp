// `stackmgr hook postinst|prerm|kernel-installed ...`: the entry points of packaging/debian's
// maintainer scripts and packaging/kernel-postinst.d/stackmgr. The decisions are in hook.cpp.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "stackmgr/cli/commands.hpp"
#include "stackmgr/hook/hook.hpp"
#include "stackmgr/hook/real_hook_host.hpp"

namespace stackmgr::cli {
namespace {

hook::ServiceActions service_actions_from_environment() {
  const char* dpkg_root = std::getenv("DPKG_ROOT");  // NOLINT(concurrency-mt-unsafe): single-threaded here
  return dpkg_root != nullptr && *dpkg_root != '\0' ? hook::ServiceActions::skipped_for_dpkg_root
                                                    : hook::ServiceActions::allowed;
}

}  // namespace

void add_hook_command(CLI::App& app, const GlobalOptions& global, Command& chosen) {
  auto* hook = app.add_subcommand("hook",
                                  "Package and kernel hooks: called by the Debian maintainer scripts and "
                                  "/etc/kernel/postinst.d/zz-stackmgr, not by hand");
  hook->require_subcommand(1);
  hook->footer(
      "Exit codes:\n"
      "  0  done, including every outcome that only needs the admin's attention (it is printed)\n"
      "  2  usage error\n"
      "  8  postinst/prerm: 'invoke-rc.d stackmgr restart|start|stop' failed\n"
      "kernel-installed always exits 0: a missing IPsec module must not block a kernel install.");
  auto args = std::make_shared<std::vector<std::string>>();
  auto release = std::make_shared<std::string>();
  auto image = std::make_shared<std::string>();

  auto* postinst = hook->add_subcommand(
      "postinst",
      "dpkg postinst: validate the config; restart a running supervisor unless that would switch stacks");
  postinst->add_option("args", *args, "dpkg's arguments: configure [OLD-VERSION], abort-remove, ...")
      ->required();
  postinst->callback([&global, &chosen, args] {
    chosen = [&global, args] {
      hook::RealHookHost host(detect::HostRoot(global.root), global.config_file);
      return hook::run_postinst_hook(hook::HookRun{host, std::cerr, service_actions_from_environment()},
                                     *args);
    };
  });

  auto* prerm = hook->add_subcommand(
      "prerm", "dpkg prerm: on remove, stop the supervisor and report the modules left loaded");
  prerm->add_option("args", *args, "dpkg's arguments: remove, upgrade NEW-VERSION, ...")->required();
  prerm->callback([&global, &chosen, args] {
    chosen = [&global, args] {
      hook::RealHookHost host(detect::HostRoot(global.root), global.config_file);
      return hook::run_prerm_hook(hook::HookRun{host, std::cerr, service_actions_from_environment()}, *args);
    };
  });

  auto* kernel = hook->add_subcommand(
      "kernel-installed",
      "Kernel postinst: warn when kernel RELEASE lacks the chosen stack's modules; exits 0");
  kernel->add_option("release", *release, "The installed kernel's release (uname -r of that kernel)")
      ->required();
  kernel->add_option("image", *image, "The kernel image path (passed by the kernel's hook runner; unused)");
  kernel->callback([&global, &chosen, release] {
    chosen = [&global, release] {
      hook::RealHookHost host(detect::HostRoot(global.root), global.config_file);
      return hook::run_kernel_installed_hook(hook::HookRun{host, std::cerr, hook::ServiceActions::allowed},
                                             *release);
    };
  });
}

}  // namespace stackmgr::cli
