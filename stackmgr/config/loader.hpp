#pragma once
// Reading stackmgr.toml into a Config. The file format and every key: docs/config.md.

#include <sys/types.h>

#include <filesystem>
#include <string_view>
#include <utility>
#include <variant>

#include "detect/host.hpp"
#include "stackmgr/config/config.hpp"
#include "stackmgr/os/file_trust.hpp"

namespace stackmgr::config {

// Where the config path came from: a missing file at the default path means "use the
// defaults"; a file the admin named with --config must exist.
enum class ConfigOrigin { default_path, named };

// A Config, or the ConfigError that stopped loading it.
class ConfigResult {
 public:
  ConfigResult(Config config) : content_(std::move(config)) {}     // NOLINT(google-explicit-constructor)
  ConfigResult(ConfigError error) : content_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return std::holds_alternative<Config>(content_); }
  explicit operator bool() const { return ok(); }
  [[nodiscard]] const Config& value() const& { return std::get<Config>(content_); }
  [[nodiscard]] Config&& value() && { return std::get<Config>(std::move(content_)); }
  [[nodiscard]] const ConfigError& error() const { return std::get<ConfigError>(content_); }
  const Config& operator*() const& { return value(); }
  const Config* operator->() const { return &value(); }

 private:
  std::variant<Config, ConfigError> content_;
};

// Loads `path`: refuses it unless trusted (check_trusted with `owner`, so only root or
// `owner` can have written it), then parses it. Unknown keys, wrong types, bad durations,
// stack names, placeholders and paths are errors naming file, line and key. Exit::config.
ConfigResult load_config(const std::filesystem::path& path, ConfigOrigin origin, uid_t owner = os::kRootUid);

// Parses TOML `text` as if read from `source`; no file access, no trust check (tests, fuzzers).
ConfigResult parse_config(std::string_view text, const std::filesystem::path& source);

// The config a command reads: `named` (--config), which must exist, when not empty; else the
// default path under `root`, where a missing file means the defaults.
ConfigResult load_command_config(const detect::HostRoot& root, const std::filesystem::path& named);

}  // namespace stackmgr::config
