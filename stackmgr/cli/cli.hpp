#pragma once
// The command line: parses argv, runs the chosen command, maps errors to exit codes.

namespace stackmgr::cli {

// main() is only this. Returns the process exit code (base/exit_codes.hpp).
int run_cli(int argc, char** argv);

}  // namespace stackmgr::cli
