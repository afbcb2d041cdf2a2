#include "stackmgr/config/loader.hpp"

#include <sys/stat.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <initializer_list>
#include <utility>

#include "stackmgr/base/time.hpp"
#include "stackmgr/config/placeholders.hpp"
#include "stackmgr/os/capabilities.hpp"
#include "stackmgr/os/file_trust.hpp"

namespace stackmgr::config {
namespace {

using base::Millis;

constexpr Millis kMaxDuration = std::chrono::hours(24);

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

int line_of(const toml::source_region& region) { return static_cast<int>(region.begin.line); }

std::string dotted(std::string_view prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : std::string(prefix) + "." + std::string(key);
}

std::string what_is(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "the string \"" + node.as_string()->get() + "\"";
    case toml::node_type::integer: return "the integer " + std::to_string(node.as_integer()->get());
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return node.as_boolean()->get() ? "true" : "false";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

bool has_control_breaking_paths(std::string_view text) {
  return text.find('\0') != std::string_view::npos || text.find('\n') != std::string_view::npos;
}

bool is_environment_name(std::string_view name) {
  if (name.empty()) return false;
  const auto start = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!start(name.front())) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return start(c) || (c >= '0' && c <= '9'); });
}

// "10s", "500ms", "5m", "1h": digits and a unit, nothing else.
std::optional<base::Millis> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 9) return std::nullopt;
  long long amount = 0;
  std::from_chars(text.data(), text.data() + digits, amount);
  const std::string_view unit = text.substr(digits);
  base::Millis value{};
  if (unit == "ms") {
    value = base::Millis(amount);
  } else if (unit == "s") {
    value = std::chrono::seconds(amount);
  } else if (unit == "m") {
    value = std::chrono::minutes(amount);
  } else if (unit == "h") {
    value = std::chrono::hours(amount);
  } else {
    return std::nullopt;
  }
  return value;
}

class Loader {
 public:
  explicit Loader(std::filesystem::path source) : source_(std::move(source)) {}

  ConfigResult load(const toml::table& root) {
    check_keys(root, "", {"stack", "default_stack", "lock_timeout", "modules", "daemon", "paths", "watch"});
    if (const toml::node* node = root.get("stack")) {
      if (const auto text = string_at(*node, "stack")) {
        if (*text != "auto") config_.stack = stack_at(*node, "stack", *text);
      }
    }
    if (const toml::node* node = root.get("default_stack")) {
      if (const auto text = string_at(*node, "default_stack")) {
        if (const auto stack = stack_at(*node, "default_stack", *text)) config_.default_stack = *stack;
      }
    }
    duration(root, "", "lock_timeout", config_.lock_timeout);
    if (const toml::table* modules = table(root, "", "modules")) load_modules(*modules);
    if (const toml::table* paths = table(root, "", "paths")) load_paths(*paths);
    if (const toml::table* watch = table(root, "", "watch")) load_watch(*watch);
    bool have_environment = false;
    if (const toml::table* daemon = table(root, "", "daemon")) have_environment = load_daemon(*daemon);

    const Config defaults = default_config();
    if (!have_environment) config_.daemon.environment = defaults.daemon.environment;
    if (!no_restart_set_) config_.daemon.no_restart_exit_codes = defaults.daemon.no_restart_exit_codes;
    for (detect::Stack stack : {detect::Stack::native, detect::Stack::klips}) {
      if (config_.daemon.argv.count(stack) == 0) {
        config_.daemon.argv[stack] = default_daemon_argv(config_.paths.ipsec_conf);
      }
    }
    if (!errors_.empty()) {
      std::stable_sort(errors_.begin(), errors_.end(),
                       [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
      return errors_.front();
    }
    config_.source = source_;
    return config_;
  }

 private:
  void fail(const toml::source_region& where, std::string key, std::string message) {
    errors_.push_back(ConfigError{source_, line_of(where), std::move(key), std::move(message)});
  }

  void check_keys(const toml::table& table, std::string_view prefix,
                  std::initializer_list<std::string_view> known) {
    for (const auto& [key, node] : table) {
      const std::string_view name = key.str();
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      std::string message = "unknown key '" + std::string(name) + "'";
      std::string_view closest;
      std::size_t best = 3;
      for (std::string_view candidate : known) {
        const std::size_t distance = edit_distance(name, candidate);
        if (distance < best) {
          best = distance;
          closest = candidate;
        }
      }
      if (!closest.empty()) message += "; did you mean '" + std::string(closest) + "'?";
      std::string list;
      for (std::string_view candidate : known) list += (list.empty() ? "" : ", ") + std::string(candidate);
      message += " (known keys" + std::string(prefix.empty() ? "" : " in [" + std::string(prefix) + "]") +
                 ": " + list + ")";
      fail(key.source(), dotted(prefix, name), std::move(message));
    }
  }

  void wrong_type(const toml::node& node, const std::string& key, std::string_view wanted) {
    fail(node.source(), key, "expected " + std::string(wanted) + ", got " + what_is(node));
  }

  std::optional<std::string> string_at(const toml::node& node, const std::string& key) {
    const auto* value = node.as_string();
    if (value == nullptr) {
      wrong_type(node, key, "a string");
      return std::nullopt;
    }
    return value->get();
  }

  std::optional<detect::Stack> stack_at(const toml::node& node, const std::string& key,
                                        std::string_view text) {
    if (const auto stack = detect::parse_stack(text)) return stack;
    if (key == "default_stack" && text == "auto") {
      fail(node.source(), key,
           "default_stack cannot be auto: it is what auto falls back to; use native or klips");
      return std::nullopt;
    }
    fail(node.source(), key,
         "unknown stack '" + std::string(text) + "'; use native (or its aliases netkey, xfrm), klips" +
             (key == "stack" ? " or auto" : ""));
    return std::nullopt;
  }

  const toml::table* table(const toml::table& parent, std::string_view prefix, std::string_view name) {
    const toml::node* node = parent.get(name);
    if (node == nullptr) return nullptr;
    if (const toml::table* found = node->as_table()) return found;
    wrong_type(*node, dotted(prefix, name), "a table");
    return nullptr;
  }

  void boolean(const toml::table& parent, std::string_view prefix, std::string_view name, bool& out) {
    const toml::node* node = parent.get(name);
    if (node == nullptr) return;
    if (const auto* value = node->as_boolean()) {
      out = value->get();
      return;
    }
    wrong_type(*node, dotted(prefix, name), "true or false");
  }

  // Returns the line of the value when one was set.
  int duration(const toml::table& parent, std::string_view prefix, std::string_view name, base::Millis& out) {
    const toml::node* node = parent.get(name);
    if (node == nullptr) return 0;
    const std::string key = dotted(prefix, name);
    const auto* value = node->as_string();
    if (value == nullptr) {
      const std::string hint = node->is_integer() ? " (durations need a unit)" : "";
      wrong_type(*node, key, "a duration string such as \"10s\", \"500ms\" or \"5m\"" + hint);
      return 0;
    }
    const auto parsed = parse_duration(value->get());
    if (!parsed) {
      fail(node->source(), key,
           "'" + value->get() +
               "' is not a duration; write a whole number and a unit: ms, s, m or h (\"10s\")");
      return 0;
    }
    if (*parsed > kMaxDuration) {
      fail(node->source(), key, "'" + value->get() + "' is longer than the longest allowed, 24h");
      return 0;
    }
    out = *parsed;
    return line_of(node->source());
  }

  std::optional<std::int64_t> integer(const toml::node& node, const std::string& key, std::int64_t low,
                                      std::int64_t high) {
    const auto* value = node.as_integer();
    if (value == nullptr) {
      wrong_type(node, key, "an integer");
      return std::nullopt;
    }
    if (value->get() < low || value->get() > high) {
      fail(node.source(), key,
           std::to_string(value->get()) + " is out of range " + std::to_string(low) + ".." +
               std::to_string(high));
      return std::nullopt;
    }
    return value->get();
  }

  void path(const toml::table& parent, std::string_view prefix, std::string_view name,
            std::filesystem::path& out) {
    const toml::node* node = parent.get(name);
    if (node == nullptr) return;
    const std::string key = dotted(prefix, name);
    const auto text = string_at(*node, key);
    if (!text) return;
    if (has_control_breaking_paths(*text)) {
      fail(node->source(), key, "the path contains a NUL or newline character");
      return;
    }
    std::filesystem::path value(*text);
    if (!value.is_absolute()) {
      fail(node->source(), key, "'" + *text + "' is not an absolute path; paths must start with '/'");
      return;
    }
    value = value.lexically_normal();
    if (value != "/" && !value.has_filename()) value = value.parent_path();
    out = value;
  }

  void load_watch(const toml::table& watch) {
    check_keys(watch, "watch", {"on_missing", "on_conflict", "reload_limit", "reload_window"});
    WatchConfig& out = config_.watch;
    if (const toml::node* node = watch.get("on_missing")) {
      if (const auto text = string_at(*node, "watch.on_missing")) {
        if (*text == "reload") {
          out.on_missing = MissingReaction::reload;
        } else if (*text == "stop-daemon") {
          out.on_missing = MissingReaction::stop_daemon;
        } else if (*text == "report") {
          out.on_missing = MissingReaction::report;
        } else {
          fail(node->source(), "watch.on_missing",
               "unknown reaction '" + *text + "'; use reload, stop-daemon or report");
        }
      }
    }
    if (const toml::node* node = watch.get("on_conflict")) {
      if (const auto text = string_at(*node, "watch.on_conflict")) {
        if (*text == "stop-daemon") {
          out.on_conflict = ConflictReaction::stop_daemon;
        } else if (*text == "report") {
          out.on_conflict = ConflictReaction::report;
        } else {
          fail(node->source(), "watch.on_conflict",
               "unknown reaction '" + *text +
                   "'; use stop-daemon or report (stackmgr never loads a module "
                   "to answer a conflict)");
        }
      }
    }
    if (const toml::node* node = watch.get("reload_limit")) {
      if (const auto limit = integer(*node, "watch.reload_limit", 0, 100))
        out.reload_limit = static_cast<int>(*limit);
    }
    const int window_line = duration(watch, "watch", "reload_window", out.reload_window);
    if (window_line != 0 && out.reload_window == base::Millis::zero()) {
      errors_.push_back(ConfigError{source_, window_line, "watch.reload_window", "must be longer than 0s"});
    }
  }

  void load_modules(const toml::table& modules) {
    check_keys(modules, "modules", {"mode", "load_helpers", "allow_ipcomp", "use_guard", "extra"});
    if (const toml::node* node = modules.get("mode")) {
      if (const auto text = string_at(*node, "modules.mode")) {
        if (*text == "manage") {
          config_.module_mode = ModuleMode::manage;
        } else if (*text == "external") {
          config_.module_mode = ModuleMode::external;
        } else {
          fail(node->source(), "modules.mode",
               "unknown mode '" + *text +
                   "'; use manage (stackmgr loads and unloads modules) or external "
                   "(modules are managed elsewhere; stackmgr only verifies)");
        }
      }
    }
    boolean(modules, "modules", "load_helpers", config_.load_helpers);
    boolean(modules, "modules", "allow_ipcomp", config_.allow_ipcomp);
    boolean(modules, "modules", "use_guard", config_.use_guard);
    const toml::node* extra = modules.get("extra");
    if (extra == nullptr) return;
    const toml::array* entries = extra->as_array();
    if (entries == nullptr || !entries->is_array_of_tables()) {
      wrong_type(*extra, "modules.extra", "an array of tables ([[modules.extra]] sections)");
      return;
    }
    for (const toml::node& entry : *entries) load_extra_module(*entry.as_table());
  }

  void load_extra_module(const toml::table& entry) {
    const std::string prefix = "modules.extra";
    check_keys(entry, prefix, {"name", "stack", "role"});
    detect::ModuleSpec spec;
    spec.role = detect::ModuleRole::helper;
    const toml::node* name = entry.get("name");
    const toml::node* stack = entry.get("stack");
    if (name == nullptr || stack == nullptr) {
      fail(entry.source(), prefix,
           "each [[modules.extra]] needs name and stack (role is optional, default helper)");
      return;
    }
    const auto name_text = string_at(*name, prefix + ".name");
    const auto stack_text = string_at(*stack, prefix + ".stack");
    if (!name_text || !stack_text) return;
    const auto parsed_stack = stack_at(*stack, prefix + ".stack", *stack_text);
    if (!parsed_stack) return;
    spec.name = *name_text;
    spec.stack = *parsed_stack;
    if (const toml::node* role = entry.get("role")) {
      const auto role_text = string_at(*role, prefix + ".role");
      if (!role_text) return;
      const auto parsed_role = detect::parse_role(*role_text);
      if (!parsed_role) {
        fail(role->source(), prefix + ".role",
             "unknown role '" + *role_text + "'; use core, helper or ipcomp");
        return;
      }
      spec.role = *parsed_role;
    }
    if (const detect::Status added = config_.catalog.add(spec); !added) {
      fail(name->source(), prefix + ".name", added.error().message);
    }
  }

  void load_paths(const toml::table& paths) {
    check_keys(paths, "paths", {"run_dir", "state_dir", "ipsec_conf"});
    path(paths, "paths", "run_dir", config_.paths.run_dir);
    path(paths, "paths", "state_dir", config_.paths.state_dir);
    path(paths, "paths", "ipsec_conf", config_.paths.ipsec_conf);
  }

  // Returns true when the environment was given.
  bool load_daemon(const toml::table& daemon) {
    check_keys(daemon, "daemon",
               {"argv", "environment", "expect_notify", "ready_timeout", "stop_timeout", "restart_initial",
                "restart_max", "crash_loop_limit", "crash_loop_window", "no_restart_exit_codes",
                "drop_capabilities"});
    DaemonConfig& out = config_.daemon;
    if (const toml::table* argv = table(daemon, "daemon", "argv")) load_argv(*argv);
    bool have_environment = false;
    if (const toml::table* environment = table(daemon, "daemon", "environment")) {
      have_environment = true;
      load_environment(*environment);
    }
    boolean(daemon, "daemon", "expect_notify", out.expect_notify);
    duration(daemon, "daemon", "ready_timeout", out.ready_timeout);
    duration(daemon, "daemon", "stop_timeout", out.stop_timeout);
    load_restart(daemon);
    if (const toml::node* node = daemon.get("drop_capabilities")) load_drop_capabilities(*node);
    return have_environment;
  }

  // daemon.drop_capabilities: capability names as in capabilities(7), each known to libcap.
  void load_drop_capabilities(const toml::node& node) {
    const std::string key = "daemon.drop_capabilities";
    const toml::array* names = node.as_array();
    if (names == nullptr) {
      wrong_type(node, key, "an array of capability names such as [\"CAP_SYS_MODULE\"]");
      return;
    }
    std::vector<int> capabilities;
    bool good = true;
    for (const toml::node& element : *names) {
      const auto text = string_at(element, key);
      if (!text) {
        good = false;
        continue;
      }
      const auto capability = os::capability_from_name(*text);
      if (!capability) {
        fail(element.source(), key,
             "'" + *text +
                 "' is not a capability name; write them as in capabilities(7), e.g. \"CAP_SYS_MODULE\"");
        good = false;
        continue;
      }
      if (std::find(capabilities.begin(), capabilities.end(), *capability) != capabilities.end()) {
        fail(element.source(), key, os::capability_name(*capability) + " is listed twice");
        good = false;
        continue;
      }
      capabilities.push_back(*capability);
    }
    if (good) config_.daemon.drop_capabilities = std::move(capabilities);
  }

  void load_argv(const toml::table& argv) {
    check_keys(argv, "daemon.argv", {"native", "klips"});
    for (const auto& [key, node] : argv) {
      const auto stack = detect::parse_stack(key.str());
      if (!stack || (key.str() != "native" && key.str() != "klips")) continue;  // reported by check_keys
      const std::string name = "daemon.argv." + std::string(key.str());
      const toml::array* elements = node.as_array();
      if (elements == nullptr) {
        wrong_type(node, name, "an array of strings (argv, no shell)");
        continue;
      }
      std::vector<std::string> words;
      bool good = true;
      for (const toml::node& element : *elements) {
        const auto* text = element.as_string();
        if (text == nullptr) {
          wrong_type(element, name, "a string in the argv array");
          good = false;
          continue;
        }
        if (!argv_word_ok(element, name, text->get(), words.empty())) good = false;
        words.push_back(text->get());
      }
      if (good) config_.daemon.argv[*stack] = std::move(words);
    }
  }

  bool argv_word_ok(const toml::node& node, const std::string& key, const std::string& word, bool first) {
    if (word.find('\0') != std::string::npos) {
      fail(node.source(), key, "an argv element contains a NUL character");
      return false;
    }
    if (first) {
      if (word.empty() || word.front() != '/' || word.find('\n') != std::string::npos ||
          word.find_first_of("{}") != std::string::npos) {
        fail(node.source(), key,
             "the program '" + word +
                 "' must be an absolute path without placeholders (no PATH search, no shell)");
        return false;
      }
      return true;
    }
    if (std::string problem = placeholder_problem(word); !problem.empty()) {
      fail(node.source(), key, "in '" + word + "': " + problem);
      return false;
    }
    return true;
  }

  void load_environment(const toml::table& environment) {
    for (const auto& [key, node] : environment) {
      const std::string name(key.str());
      const std::string full = "daemon.environment." + name;
      if (!is_environment_name(name)) {
        fail(key.source(), full,
             "'" + name + "' is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
        continue;
      }
      if (name == "NOTIFY_SOCKET") {
        fail(key.source(), full,
             "NOTIFY_SOCKET is set by stackmgr itself (its own socket, when expect_notify is true); remove "
             "it");
        continue;
      }
      const auto value = string_at(node, full);
      if (!value) continue;
      if (value->find('\0') != std::string::npos) {
        fail(node.source(), full, "the value contains a NUL character");
        continue;
      }
      config_.daemon.environment[name] = *value;
    }
  }

  // The restart policy keys of [daemon].
  void load_restart(const toml::table& restart) {
    const std::string prefix = "daemon";
    DaemonConfig& out = config_.daemon;
    const int initial_line = duration(restart, prefix, "restart_initial", out.restart_initial);
    const int max_line = duration(restart, prefix, "restart_max", out.restart_max);
    if (out.restart_max < out.restart_initial) {
      const bool blame_max = max_line != 0;
      errors_.push_back(ConfigError{source_, blame_max ? max_line : initial_line,
                                    prefix + (blame_max ? ".restart_max" : ".restart_initial"),
                                    "the backoff cap (restart_max, " +
                                        std::to_string(out.restart_max.count()) +
                                        "ms) is shorter than the first delay (restart_initial, " +
                                        std::to_string(out.restart_initial.count()) + "ms)"});
    }
    if (const toml::node* node = restart.get("crash_loop_limit")) {
      if (const auto limit = integer(*node, prefix + ".crash_loop_limit", 1, 1000)) {
        out.crash_loop_limit = static_cast<int>(*limit);
      }
    }
    const int window_line = duration(restart, prefix, "crash_loop_window", out.crash_loop_window);
    if (window_line != 0 && out.crash_loop_window == base::Millis::zero()) {
      errors_.push_back(
          ConfigError{source_, window_line, prefix + ".crash_loop_window", "must be longer than 0s"});
    }
    if (const toml::node* node = restart.get("no_restart_exit_codes")) {
      const std::string key = prefix + ".no_restart_exit_codes";
      const toml::array* codes = node->as_array();
      if (codes == nullptr) {
        wrong_type(*node, key, "an array of exit codes (integers 0..255)");
        return;
      }
      no_restart_set_ = true;
      out.no_restart_exit_codes.clear();
      for (const toml::node& element : *codes) {
        if (const auto value = integer(element, key, 0, 255)) {
          out.no_restart_exit_codes.push_back(static_cast<int>(*value));
        }
      }
    }
  }

  std::filesystem::path source_;
  Config config_;
  bool no_restart_set_ = false;
  std::vector<ConfigError> errors_;
};

}  // namespace

ConfigResult parse_config(std::string_view text, const std::filesystem::path& source) {
  toml::table root;
  try {
    root = toml::parse(text, source.string());
  } catch (const toml::parse_error& error) {
    return ConfigError{source, line_of(error.source()), "",
                       "TOML syntax: " + std::string(error.description())};
  }
  return Loader(source).load(root);
}

ConfigResult load_config(const std::filesystem::path& path, ConfigOrigin origin, uid_t owner) {
  std::error_code ignored;
  const std::filesystem::path file = path.is_absolute() ? path : std::filesystem::absolute(path, ignored);
  detect::Result<std::string> text = os::read_trusted_file(file, owner);
  if (!text) {
    const detect::Error& error = text.error();
    struct stat info {};
    const bool nothing_there = lstat(file.c_str(), &info) != 0 && errno == ENOENT;
    if (error.code == ENOENT && nothing_there && origin == ConfigOrigin::default_path)
      return default_config();
    std::string message = error.describe();
    if (error.code == ENOENT && origin == ConfigOrigin::named) message += " (named with --config)";
    return ConfigError{file, 0, "", std::move(message)};
  }
  return parse_config(*text, file);
}

ConfigResult load_command_config(const detect::HostRoot& root, const std::filesystem::path& named) {
  if (!named.empty()) return load_config(named, ConfigOrigin::named);
  return load_config(root.path(std::filesystem::path(kDefaultConfigFile).relative_path().string()),
                     ConfigOrigin::default_path);
}

}  // namespace stackmgr::config
