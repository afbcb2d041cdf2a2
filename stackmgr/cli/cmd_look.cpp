// `stackmgr look`: the kernel's IPsec policies and SAs on whichever stack is active, read-only.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "detect/klips_proc.hpp"
#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/cli/commands.hpp"
#include "stackmgr/look/kernel_state.hpp"
#include "stackmgr/os/real_kernel.hpp"
#include "stackmgr/os/xfrm_netlink.hpp"

namespace stackmgr::cli {
namespace {

constexpr const char* kLookHelp =
    R"(Detection decides what is read: the native stack through an XFRM netlink dump (SAs, main
and sub policies; needs CAP_NET_ADMIN), KLIPS through /proc/net/ipsec_eroute, ipsec_spi
and ipsec_spigrp (root only). Lines that cannot be parsed are listed and skipped.
--root reads KLIPS's tables under DIR; the XFRM dump is always of this process's network
namespace. JSON schema: stackmgr.look/1 (docs/look.md).
Exit codes:
  0  shown (also when no stack is active: the state is empty)
  9  permission denied: run as root
 10  both stacks are in the kernel (conflict); what could be read is shown
 11  detection's verdict is broken, or a stack it reports could not be read
  1  internal error;  2  usage error)";

struct LookOptions {
  bool json = false;
  std::string source = "auto";
};

look::LookSource parse_source(const std::string& text) {
  if (text == "native") return look::LookSource::native;
  if (text == "klips") return look::LookSource::klips;
  return look::LookSource::automatic;
}

int exit_code_for(const look::LookReport& report) {
  bool denied = false;
  bool unreadable = false;
  for (const auto& read : report.stacks) {
    if (!read.error) continue;
    if (read.error->code == EPERM || read.error->code == EACCES)
      denied = true;
    else
      unreadable = true;
  }
  if (denied) return code(base::Exit::permission);
  if (unreadable) return code(base::Exit::broken);
  if (report.source != look::LookSource::automatic) return code(base::Exit::ok);
  if (report.active == detect::Overall::conflict) return code(base::Exit::conflict);
  if (report.active == detect::Overall::broken) return code(base::Exit::broken);
  return code(base::Exit::ok);
}

int run_look(const GlobalOptions& global, const LookOptions& options) {
  const detect::HostRoot root(global.root);
  const detect::Snapshot snapshot = os::detect_real_host(root, catalog_for_reading(global));
  const look::LookReaders readers{
      [] { return os::dump_xfrm(); },
      [&root] { return detect::read_klips_state(root); },
  };
  const look::LookReport report = look::build_look_report(snapshot, parse_source(options.source), readers);
  if (options.json) {
    // Kernel text is ASCII; should anything else slip in, it must not abort the output.
    std::cout << look::look_to_json(report).dump(2, ' ', false,
                                                 nlohmann::ordered_json::error_handler_t::replace)
              << '\n';
  } else {
    std::cout << look::render_look(report);
  }
  std::cout.flush();
  return exit_code_for(report);
}

}  // namespace

void add_look_command(CLI::App& app, const GlobalOptions& global, Command& chosen) {
  auto options = std::make_shared<LookOptions>();
  CLI::App* command =
      app.add_subcommand("look", "Show the kernel's IPsec policies and SAs on the active stack (read-only)");
  command->add_flag("--json", options->json, "Print the JSON schema stackmgr.look/1 (docs/look.md)");
  command
      ->add_option(
          "--source", options->source,
          "auto (what detection finds active), or native / klips to read that stack's interface anyway")
      ->check(CLI::IsMember({"auto", "native", "klips"}));
  command->footer(kLookHelp);
  command->callback(
      [&global, &chosen, options] { chosen = [&global, options] { return run_look(global, *options); }; });
}

}  // namespace stackmgr::cli
