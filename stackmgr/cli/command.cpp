#include "stackmgr/cli/command.hpp"

#include <spdlog/spdlog.h>

#include "stackmgr/config/loader.hpp"

namespace stackmgr::cli {

std::optional<config::Config> load_config_or_log(const GlobalOptions& global) {
  config::ConfigResult loaded =
      config::load_command_config(detect::HostRoot(global.root), global.config_file);
  if (!loaded) {
    spdlog::error("{}", loaded.error().describe());
    return std::nullopt;
  }
  return std::move(loaded).value();
}

std::string unknown_stack_message(const std::string& name) {
  return "unknown stack '" + name + "': use klips, native, netkey or xfrm (netkey and xfrm mean native)";
}

}  // namespace stackmgr::cli
