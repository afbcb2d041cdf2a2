#include "detect/sysfs_modules.hpp"

#include <algorithm>
#include <filesystem>
#include <string>

#include "stackmgr/base/strings.hpp"

namespace detect {
namespace {

std::string module_dir(std::string_view name) { return "sys/module/" + std::string(name); }

}  // namespace

bool sysfs_modules_visible(const HostRoot& root) { return root.exists("sys/module"); }

std::optional<LoadedModule> read_sysfs_module(const HostRoot& root, std::string_view name) {
  const std::string dir = module_dir(name);
  const auto initstate = root.read(dir + "/initstate", 64);
  if (!initstate) return std::nullopt;
  LoadedModule module;
  module.name = std::string(name);
  const std::string state(stackmgr::base::trim(*initstate));
  if (state == "live") {
    module.state = InitState::live;
  } else if (state == "coming") {
    module.state = InitState::coming;
  } else if (state == "going") {
    module.state = InitState::going;
  } else {
    return std::nullopt;
  }
  module.refcnt = -1;
  if (const auto refcnt = root.read(dir + "/refcnt", 64)) {
    if (const auto parsed = stackmgr::base::parse_number<int>(stackmgr::base::trim(*refcnt)))
      module.refcnt = *parsed;
  }
  std::error_code error;
  std::filesystem::directory_iterator holders(root.path(dir + "/holders"), error);
  if (!error) {
    for (auto it = std::filesystem::begin(holders); !error && it != std::filesystem::end(holders);
         it.increment(error)) {
      module.holders.push_back(it->path().filename().string());
    }
    std::sort(module.holders.begin(), module.holders.end());
  }
  return module;
}

bool sysfs_shows_builtin(const HostRoot& root, std::string_view name) {
  const std::string dir = module_dir(name);
  return root.exists(dir) && !root.exists(dir + "/initstate");
}

}  // namespace detect
