#pragma once
// The command table: one add_*_command per subcommand, each defined in its cmd_*.cpp, in the
// order `stackmgr --help` lists them.

#include <array>

#include "stackmgr/cli/command.hpp"

namespace stackmgr::cli {

void add_detect_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_look_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_plan_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_switch_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_start_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_stop_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_status_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_doctor_command(CLI::App& app, const GlobalOptions& global, Command& chosen);
void add_hook_command(CLI::App& app, const GlobalOptions& global, Command& chosen);

inline constexpr std::array<AddCommand, 9> kCommands = {
    add_detect_command, add_look_command,   add_plan_command,   add_switch_command, add_start_command,
    add_stop_command,   add_status_command, add_doctor_command, add_hook_command,
};

}  // namespace stackmgr::cli
