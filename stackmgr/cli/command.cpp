#include "stackmgr/cli/command.hpp"

#include <spdlog/spdlog.h>

#include "stackmgr/base/exit_codes.hpp"
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

detect::Catalog catalog_for_reading(const GlobalOptions& global) {
  config::ConfigResult loaded =
      config::load_command_config(detect::HostRoot(global.root), global.config_file);
  if (loaded) return loaded->catalog;
  spdlog::warn("{}; using the built-in module lists ([[modules.extra]] of the config is not read)",
               loaded.error().describe());
  return detect::Catalog::defaults();
}

std::optional<int> refuse_module_changes_under_other_root(const GlobalOptions& global,
                                                          std::string_view what) {
  if (detect::HostRoot(global.root).is_real_root()) return std::nullopt;
  spdlog::error(
      "refusing to {} with --root {}: loading and unloading modules acts on the running kernel, while its "
      "state, lock and autoload guard would be read and written under {}; run it without --root (detect, "
      "plan, look, doctor and status read another root)",
      what, global.root, global.root);
  return code(base::Exit::usage);
}

std::string unknown_stack_message(const std::string& name) {
  return "unknown stack '" + name + "': use klips, native, netkey or xfrm (netkey and xfrm mean native)";
}

}  // namespace stackmgr::cli
