#pragma once
// What every command shares: the global options, the way a command is registered and run, and
// the config as the command line names it. Each command lives in its own cmd_*.cpp.

#include <functional>
#include <optional>
#include <string>

#include "stackmgr/config/config.hpp"

namespace CLI {
class App;
}

namespace stackmgr::cli {

struct GlobalOptions {
  std::string root = "/";   // --root: read the host under DIR (fixture trees, chroots)
  std::string config_file;  // --config; empty means the default path under --root
  std::string log_level = "info";
};

// Set by the chosen subcommand's parse callback; run after parsing succeeded. Returns the
// process exit code (base/exit_codes.hpp).
using Command = std::function<int()>;

// Registers one subcommand on `app`; its callback sets `chosen`.
using AddCommand = void (*)(CLI::App& app, const GlobalOptions& global, Command& chosen);

// The config for this command line (config::load_command_config with --root and --config). On
// an error, logs it with file, line and key and returns nullopt: the caller exits Exit::config.
std::optional<config::Config> load_config_or_log(const GlobalOptions& global);

// "unknown stack 'foo': use klips, native, netkey or xfrm (netkey and xfrm mean native)"
std::string unknown_stack_message(const std::string& name);

}  // namespace stackmgr::cli
