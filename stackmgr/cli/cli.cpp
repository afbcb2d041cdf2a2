#include "stackmgr/cli/cli.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "detect/host.hpp"
#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/cli/commands.hpp"

namespace stackmgr::cli {
namespace {

constexpr const char* kExitCodeHelp = R"(Exit codes:
  0  done, or already in the requested state
  1  internal error (a bug)
  2  usage error: unknown command, option or stack name, or --root with a command that
     loads or unloads modules
  3  refused by a safety rule; nothing was changed
  4  a step failed; the host was rolled back to where it was
  5  a step failed and the rollback failed too; the state is reported
  6  busy: another stackmgr holds the lock
  7  configuration error (malformed, or unsafe owner/permissions)
  8  the keying daemon could not be started or kept running
  9  permission denied (needs root)
 10  detect/doctor: both stacks are in the kernel (conflict)
 11  detect: the kernel's markers disagree with the module states
 12  doctor: warnings
 13  doctor: failures
 14  switch: tunnels are up and stdin is not a terminal; pass --yes
 15  a file or directory could not be made or written (read-only file system, no space,
     permission, a parent that cannot be made); the message names the path and the error
 16  switch: a stop, or the supervisor's end, cut the switch short before its result; the
     next 'stackmgr start' finishes or rolls it back from the journal
`stackmgr status` uses the LSB codes: 0 running, 1 dead with pid file, 3 stopped, 4 unknown.)";

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("stackmgr");
  logger->set_pattern("%^%l%$: %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{
      "stackmgr: keeps exactly one kernel IPsec stack (KLIPS or native) safely loaded,\n"
      "and supervises the keying daemon on it.",
      "stackmgr"};  // the name in usage lines, whatever path started it
  app.footer(kExitCodeHelp);
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("stackmgr ") + STACKMGR_VERSION);

  GlobalOptions global;
  app.add_option("--root", global.root, "Read the host under DIR instead of / (tests, chroots)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--config", global.config_file, "stackmgr config file (TOML)");
  app.add_option("--log-level", global.log_level, "trace, debug, info, warn, error or critical")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));

  Command chosen;
  for (AddCommand add : kCommands) add(app, global, chosen);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& success) {
    return app.exit(success);
  } catch (const CLI::ParseError& error) {
    app.exit(error);
    return code(base::Exit::usage);
  }
  setup_logging(global.log_level);
  // "--root /." or a symlink to / is the real root: every command then takes its real-root paths.
  if (detect::HostRoot(global.root).is_real_root()) global.root = "/";
  try {
    return chosen();
  } catch (const std::exception& error) {
    spdlog::critical("internal error: {} (please report this)", error.what());
    return code(base::Exit::internal);
  }
}

}  // namespace stackmgr::cli
