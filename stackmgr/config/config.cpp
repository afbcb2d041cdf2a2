#include "stackmgr/config/config.hpp"

namespace stackmgr::config {
namespace {

constexpr const char* kDefaultPluto = "/usr/libexec/ipsec/pluto";
constexpr const char* kDefaultPath = "/usr/sbin:/usr/bin:/sbin:/bin";
// Debian's ipsec.service: pluto exits 12 after "whack --shutdown --leave-state", on purpose.
constexpr int kPlutoLeftState = 12;

}  // namespace

std::string ConfigError::describe() const {
  std::string text;
  const std::string shown = file.string();
  // Messages from the trust check already name the file ("refusing /etc/...: ...").
  if (!shown.empty() && !(line == 0 && key.empty() && message.find(shown) != std::string::npos)) {
    text = shown + (line > 0 ? ":" + std::to_string(line) : "") + ": ";
  }
  if (!key.empty()) text += "key " + key + ": ";
  return text + message;
}

std::string_view to_string(ModuleMode mode) { return mode == ModuleMode::manage ? "manage" : "external"; }

std::string_view to_string(ChoiceSource source) {
  switch (source) {
    case ChoiceSource::command_line: return "command line";
    case ChoiceSource::state_file: return "last switch";
    case ChoiceSource::config: return "stackmgr config";
    case ChoiceSource::ipsec_conf: return "ipsec.conf";
    case ChoiceSource::automatic: return "auto";
  }
  return "auto";
}

std::vector<std::string> default_daemon_argv(const std::filesystem::path& ipsec_conf) {
  return {kDefaultPluto, "--nofork", "--stderrlog", "--config", ipsec_conf.string()};
}

Config default_config() {
  Config config;
  for (detect::Stack stack : {detect::Stack::native, detect::Stack::klips}) {
    config.daemon.argv[stack] = default_daemon_argv(config.paths.ipsec_conf);
  }
  config.daemon.environment = {{"PATH", kDefaultPath}};
  config.daemon.no_restart_exit_codes = {kPlutoLeftState};
  return config;
}

}  // namespace stackmgr::config
