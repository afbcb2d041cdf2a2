#pragma once
// The placeholders of daemon.argv ({stack}, {protostack}, {rundir}, {notify_socket},
// {ipsec_conf}): checked when the config is loaded, expanded when the daemon starts.

#include <string>
#include <string_view>
#include <vector>

#include "detect/error.hpp"
#include "detect/stack.hpp"
#include "stackmgr/config/config.hpp"

namespace stackmgr::config {

// The values for the placeholders in daemon.argv.
struct PlaceholderValues {
  std::string stack;          // {stack}: native | klips
  std::string protostack;     // {protostack}: netkey | klips (ipsec.conf's spelling)
  std::string rundir;         // {rundir}: paths.run_dir
  std::string notify_socket;  // {notify_socket}: paths.notify_socket()
  std::string ipsec_conf;     // {ipsec_conf}: paths.ipsec_conf
};

// The values for running the daemon of `config` on `stack`.
PlaceholderValues placeholder_values(const Config& config, detect::Stack stack);

// Replaces each {name} in `text`; "{{" and "}}" stand for literal braces. Fails on an unknown
// name or an unbalanced brace (load_config has already rejected those in a loaded config).
detect::Result<std::string> expand_placeholders(std::string_view text, const PlaceholderValues& values);

// expand_placeholders on every element.
detect::Result<std::vector<std::string>> expand_argv(const std::vector<std::string>& argv,
                                                     const PlaceholderValues& values);

// Why `text` cannot be expanded (an unknown name, an unbalanced brace), or "" when it can.
std::string placeholder_problem(std::string_view text);

}  // namespace stackmgr::config
