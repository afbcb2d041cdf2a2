#pragma once
// The command line: global options, one add_*_command per subcommand (each in cmd_*.cpp).

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace stackmgr {

struct GlobalOptions {
  std::string root = "/";   // --root: read the host under DIR (fixture trees, chroots)
  std::string config_file;  // --config; empty means the default path (see config.hpp)
  std::string log_level = "info";
};

// Set by the chosen subcommand's parse callback; run after parsing succeeded. Returns the
// process exit code (exit_codes.hpp).
using Command = std::function<int()>;

void add_detect_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_look_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_plan_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_switch_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_start_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_stop_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_status_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_doctor_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_hook_command(CLI::App& app, const GlobalOptions& global, Command& chosen);

// Parses argv, runs the chosen command, maps errors to exit codes. main() is only this.
int run_cli(int argc, char** argv);

}  // namespace stackmgr
