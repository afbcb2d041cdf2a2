#include "stackmgr/cli/cli.hpp"

int main(int argc, char** argv) { return stackmgr::cli::run_cli(argc, argv); }
