#include "stackmgr/cli.hpp"

int main(int argc, char** argv) { return stackmgr::run_cli(argc, argv); }
