// `stackmgr detect`: report both stacks' state, read-only.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "detect/snapshot_json.hpp"
#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/cli/commands.hpp"
#include "stackmgr/cli/render_snapshot.hpp"
#include "stackmgr/os/real_kernel.hpp"

namespace stackmgr::cli {
namespace {

constexpr const char* kDetectHelp =
    R"(Reads the host and changes nothing; works without root where the kernel allows
(some KLIPS files are readable by root only).
Exit codes:
  0  none, native or klips: at most one stack is in the kernel, and the markers agree
 10  conflict: both stacks have code in the kernel
 11  broken: the kernel's markers disagree with the module states
  1  internal error;  2  usage error)";

struct DetectOptions {
  bool json = false;
};

int exit_code_for(detect::Overall overall) {
  switch (overall) {
    case detect::Overall::conflict: return code(base::Exit::conflict);
    case detect::Overall::broken: return code(base::Exit::broken);
    case detect::Overall::none:
    case detect::Overall::native:
    case detect::Overall::klips: return code(base::Exit::ok);
  }
  return code(base::Exit::internal);
}

int run_detect(const GlobalOptions& global, const DetectOptions& options) {
  const detect::HostRoot root(global.root);
  const detect::Catalog catalog = catalog_for_reading(global);
  const detect::Snapshot snapshot = os::detect_real_host(root, catalog);
  if (options.json) {
    std::cout << detect::snapshot_to_json(snapshot).dump(2) << '\n';
  } else {
    std::cout << render_snapshot(snapshot);
  }
  std::cout.flush();
  return exit_code_for(snapshot.overall);
}

}  // namespace

void add_detect_command(CLI::App& app, const GlobalOptions& global, Command& chosen) {
  auto options = std::make_shared<DetectOptions>();
  CLI::App* command = app.add_subcommand("detect", "Report both IPsec stacks' state (read-only)");
  command->add_flag("--json", options->json,
                    "Print the stable JSON schema stackmgr.detect/1 (docs/detect.md)");
  command->footer(kDetectHelp);
  command->callback(
      [&global, &chosen, options] { chosen = [&global, options] { return run_detect(global, *options); }; });
}

}  // namespace stackmgr::cli
