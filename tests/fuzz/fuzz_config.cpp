// stackmgr.toml from TOML text through validation (parse_config): whatever it accepts is a
// config stackmgr can run with (bounded durations, absolute paths, argv that expand, valid
// environment names and module names), and what it refuses names a line in the file.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stackmgr/config/loader.hpp"
#include "stackmgr/config/placeholders.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using std::chrono::milliseconds;

void require_duration(milliseconds value) {
  fuzz::require(value >= milliseconds::zero() && value <= std::chrono::hours(24));
}

void require_path(const std::filesystem::path& path) {
  fuzz::require(path.is_absolute() && path == path.lexically_normal());
  fuzz::require(path.native().find_first_of(std::string_view("\0\n", 2)) == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stackmgr::config;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const ConfigResult result = parse_config(text, "/etc/stackmgr/stackmgr.toml");
  if (!result) {
    const ConfigError& error = result.error();
    fuzz::require(error.file == "/etc/stackmgr/stackmgr.toml" && !error.message.empty());
    fuzz::require(error.line >= 0 && static_cast<std::size_t>(error.line) <= fuzz::count_lines(text) + 1);
    fuzz::require(!error.describe().empty());
    return 0;
  }
  const Config& config = *result;
  for (const milliseconds value :
       {config.lock_timeout, config.daemon.ready_timeout, config.daemon.stop_timeout,
        config.daemon.restart_initial, config.daemon.restart_max, config.daemon.crash_loop_window,
        config.watch.reload_window}) {
    require_duration(value);
  }
  fuzz::require(config.daemon.restart_initial <= config.daemon.restart_max);
  fuzz::require(config.daemon.crash_loop_window > milliseconds::zero());
  fuzz::require(config.watch.reload_window > milliseconds::zero());
  fuzz::require(config.daemon.crash_loop_limit >= 1 && config.daemon.crash_loop_limit <= 1000);
  fuzz::require(config.watch.reload_limit >= 0 && config.watch.reload_limit <= 100);
  fuzz::require(std::all_of(config.daemon.no_restart_exit_codes.begin(),
                            config.daemon.no_restart_exit_codes.end(),
                            [](int code) { return code >= 0 && code <= 255; }));
  require_path(config.paths.run_dir);
  require_path(config.paths.state_dir);
  require_path(config.paths.ipsec_conf);
  fuzz::require(config.daemon.environment.count("NOTIFY_SOCKET") == 0);
  for (const auto& [name, value] : config.daemon.environment) {
    fuzz::require(!name.empty() && value.find('\0') == std::string::npos);
  }
  for (const detect::Stack stack : {detect::Stack::native, detect::Stack::klips}) {
    const auto argv = config.daemon.argv.find(stack);
    fuzz::require(argv != config.daemon.argv.end());
    if (argv->second.empty()) continue;
    fuzz::require(!argv->second.front().empty() && argv->second.front().front() == '/');
    // What the loader accepted expands: the supervisor never meets a bad placeholder.
    fuzz::require(expand_argv(argv->second, placeholder_values(config, stack)).ok());
  }
  for (const auto& spec : config.catalog.all()) fuzz::require(detect::is_valid_module_name(spec.name));
  return 0;
}
