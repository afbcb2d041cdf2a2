#pragma once
// What every command shares: the global options, the way a command is registered and run, and
// the config as the command line names it. Each command lives in its own cmd_*.cpp.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

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

// The module catalog of the read-only commands (detect, look): the config's, the built-in lists
// plus [[modules.extra]], as every other command uses it. A config that cannot be read (not
// root, malformed) does not stop them: a warning says so and the built-in lists are used.
detect::Catalog catalog_for_reading(const GlobalOptions& global);

// Module operations act on the running kernel, whatever --root says: a command that loads or
// unloads modules (`what`: "switch", "start in manage mode", "stop --unload") runs only on the
// real root. nullopt when global.root is it; else logs why and returns Exit::usage.
std::optional<int> refuse_module_changes_under_other_root(const GlobalOptions& global, std::string_view what);

// "unknown stack 'foo': use klips, native, netkey or xfrm (netkey and xfrm mean native)"
std::string unknown_stack_message(const std::string& name);

}  // namespace stackmgr::cli
