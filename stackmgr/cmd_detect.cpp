// Placeholder until detection lands; replaced by the detect implementation.
#include <CLI/CLI.hpp>

#include "stackmgr/cli.hpp"
#include "stackmgr/exit_codes.hpp"

namespace stackmgr {
void add_detect_command(CLI::App& app, const GlobalOptions&, Command& chosen) {
  app.add_subcommand("detect", "Report both IPsec stacks' state")->callback([&chosen] {
    chosen = [] { return code(Exit::internal); };
  });
}
}  // namespace stackmgr
