#include "stackmgr/doctor/inputs.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "stackmgr/base/strings.hpp"
#include "stackmgr/os/pid_file.hpp"
#include "stackmgr/os/process.hpp"

namespace stackmgr::doctor {
namespace {

constexpr std::size_t kScriptLimit = 1u << 20;

std::string relative(const std::string& host_path) {
  return host_path.empty() || host_path.front() != '/' ? host_path : host_path.substr(1);
}

struct PidCheck {
  enum class Outcome { alive, stale, absent, unreadable } outcome = Outcome::absent;
  std::string detail;
};

// Reads a pid file under `root` and checks <root>/proc/<pid>/comm against `expected`.
PidCheck check_pid_file(const detect::HostRoot& root, const std::string& pid_file,
                        std::string_view expected) {
  const auto text = root.read(relative(pid_file), 64);
  if (!text) {
    if (text.error().code == ENOENT) return {PidCheck::Outcome::absent, "no " + pid_file};
    return {PidCheck::Outcome::unreadable,
            "cannot read " + pid_file + ": " + std::strerror(text.error().code)};
  }
  const std::optional<pid_t> parsed = os::parse_pid(*text);
  if (!parsed) return {PidCheck::Outcome::stale, pid_file + " does not hold a process id"};
  const pid_t pid = *parsed;
  const std::string proc = "proc/" + std::to_string(pid);
  const auto comm = root.read(proc + "/comm", 64);
  if (!comm) {
    if (comm.error().code == ENOENT) {
      return {PidCheck::Outcome::stale,
              "pid " + std::to_string(pid) + " in " + pid_file + " is gone: a stale pid file"};
    }
    return {PidCheck::Outcome::unreadable,
            "cannot read /" + proc + "/comm: " + std::strerror(comm.error().code)};
  }
  const std::string name(base::trim(*comm));
  if (name != expected) {
    return {PidCheck::Outcome::stale, "pid " + std::to_string(pid) + " in " + pid_file + " is '" + name +
                                          "', not " + std::string(expected)};
  }
  return {PidCheck::Outcome::alive,
          "pid " + std::to_string(pid) + " in " + pid_file + " is " + std::string(expected)};
}

std::string find_version(std::string_view text) {
  const auto at = text.find("IPSEC_VERSION=");
  if (at == std::string_view::npos) return {};
  std::string_view value = text.substr(at + 14);
  value = value.substr(0, value.find('\n'));
  std::string out;
  for (const char c : value) {
    if (c == '"' || c == '\'') continue;
    if (c == ' ' || c == '\t' || c == ';' || c == '#') break;
    out += c;
  }
  return out.size() > 32 ? std::string() : out;
}

TextSource read_script(const detect::HostRoot& root, const std::string& path) {
  TextSource source{path, SourceStatus::absent, "", ""};
  const auto text = root.read(relative(path), kScriptLimit);
  if (!text) {
    source.status = text.error().code == ENOENT ? SourceStatus::absent : SourceStatus::failed;
    source.detail = std::strerror(text.error().code);
    return source;
  }
  source.status = SourceStatus::read;
  source.text = *text;
  return source;
}

// The program of an updown command: the first word, quotes already removed by the parser.
std::string updown_program(const std::string& command) {
  const std::string trimmed(base::trim(command));
  return trimmed.substr(0, trimmed.find_first_of(" \t"));
}

TextSource run_saver(const std::string& name) {
  TextSource source{name, SourceStatus::absent, "", ""};
  std::string binary;
  for (const char* directory : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
    const std::string candidate = std::string(directory) + name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      binary = candidate;
      break;
    }
  }
  if (binary.empty()) {
    source.detail = name + " is not installed";
    return source;
  }
  source.name = binary;
  const auto captured = os::run_capture({binary}, {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"});
  if (!captured) {
    source.status = SourceStatus::failed;
    source.detail = captured.error().describe();
    return source;
  }
  if (captured->exit_code != 0) {
    source.status = SourceStatus::failed;
    const std::string first_line(base::trim(captured->err.substr(0, captured->err.find('\n'))));
    source.detail =
        "exit " + std::to_string(captured->exit_code) + (first_line.empty() ? "" : ": " + first_line);
    return source;
  }
  source.status = SourceStatus::read;
  source.text = captured->out;
  return source;
}

}  // namespace

DaemonStatus daemon_status_from_pid_files(const detect::HostRoot& root,
                                          const std::filesystem::path& supervisor_pid_file) {
  const PidCheck supervisor = check_pid_file(root, supervisor_pid_file.string(), "stackmgr");
  if (supervisor.outcome == PidCheck::Outcome::alive) {
    return {DaemonState::running, "the supervisor runs: " + supervisor.detail};
  }
  std::vector<std::string> details{supervisor.detail};
  bool unreadable = supervisor.outcome == PidCheck::Outcome::unreadable;
  for (const char* pluto : {"/run/pluto/pluto.pid", "/var/run/pluto/pluto.pid", "/var/run/pluto.pid"}) {
    const PidCheck check = check_pid_file(root, pluto, "pluto");
    if (check.outcome == PidCheck::Outcome::alive)
      return {DaemonState::running, "not supervised: " + check.detail};
    if (check.outcome == PidCheck::Outcome::absent) continue;
    unreadable = unreadable || check.outcome == PidCheck::Outcome::unreadable;
    details.push_back(check.detail);
  }
  std::string detail;
  for (const std::string& item : details) detail += (detail.empty() ? "" : "; ") + item;
  return {unreadable ? DaemonState::unknown : DaemonState::not_running, detail};
}

DaemonTraits classify_ipsec_script(std::string_view text, std::string source) {
  DaemonTraits traits;
  traits.source = std::move(source);
  traits.version = find_version(text);
  // Later projects mention their ancestors (copyrights), so the newest name found wins.
  if (text.find("strongSwan") != std::string_view::npos) {
    traits.product = "strongSwan";
  } else if (text.find("Libreswan") != std::string_view::npos ||
             text.find("libreswan") != std::string_view::npos) {
    traits.product = "Libreswan";
  } else if (text.find("Openswan") != std::string_view::npos) {
    traits.product = "Openswan";
  } else if (text.find("FreeS/WAN") != std::string_view::npos ||
             text.find("FreeSWAN") != std::string_view::npos) {
    traits.product = "FreeS/WAN";
  } else {
    traits.version.clear();
    return traits;
  }
  traits.parser_ipv6 = traits.product == "FreeS/WAN" ? ParserIpv6::unsupported : ParserIpv6::supported;
  traits.implicit_policy_conns = traits.product == "FreeS/WAN" || traits.product == "Openswan";
  return traits;
}

DaemonTraits identify_daemon(const detect::HostRoot& root) {
  std::vector<std::string> tried;
  for (const char* path : {"/usr/local/sbin/ipsec", "/usr/sbin/ipsec", "/sbin/ipsec"}) {
    const auto text = root.read(relative(path), kScriptLimit);
    if (!text) {
      tried.emplace_back(path);
      continue;
    }
    DaemonTraits traits = classify_ipsec_script(*text, path);
    if (traits.product.empty()) traits.source = std::string(path) + " names no known IPsec project";
    return traits;
  }
  DaemonTraits unknown;
  std::string list;
  for (const std::string& path : tried) list += (list.empty() ? "" : ", ") + path;
  unknown.source = "none of " + list + " exists";
  return unknown;
}

std::vector<TextSource> read_updown_scripts(const detect::HostRoot& root, const detect::IpsecConf& conf) {
  std::vector<TextSource> scripts;
  std::set<std::string> seen;
  for (const detect::ConfSection& conn : conf.conns) {
    for (const char* key : {"leftupdown", "rightupdown"}) {
      const detect::ConfValue* value = conn.find(key);
      if (value == nullptr) continue;
      const std::string program = updown_program(value->value);
      if (program.empty() || program == "%disabled" || !seen.insert(program).second) continue;
      if (program.front() != '/') {
        scripts.push_back(
            {program, SourceStatus::failed,
             "not an absolute path (" + std::string(key) + " at " + value->where.describe() + ")", ""});
        continue;
      }
      TextSource script = read_script(root, program);
      if (script.status == SourceStatus::absent) {
        script.status = SourceStatus::failed;
        script.detail = "missing, yet " + std::string(key) + " names it at " + value->where.describe();
      }
      scripts.push_back(std::move(script));
    }
  }
  for (const char* directory : {"/usr/local/lib/ipsec/", "/usr/lib/ipsec/", "/usr/libexec/ipsec/"}) {
    for (const char* name : {"_updown", "_updown.netkey", "_updown.xfrm"}) {
      const std::string path = std::string(directory) + name;
      if (!seen.insert(path).second) continue;
      TextSource script = read_script(root, path);
      if (script.status != SourceStatus::absent) scripts.push_back(std::move(script));
    }
  }
  return scripts;
}

std::vector<TextSource> read_firewall_rules(const detect::HostRoot& root,
                                            const std::filesystem::path& rules_file) {
  if (!rules_file.empty()) {
    TextSource source{rules_file.string(), SourceStatus::read, "", ""};
    std::ifstream in(rules_file, std::ios::binary);
    if (!in) {
      source.status = SourceStatus::failed;
      source.detail = std::strerror(errno);
      return {source};
    }
    std::ostringstream text;
    text << in.rdbuf();
    source.text = text.str().substr(0, 8u << 20);
    return {source};
  }
  if (!root.is_real_root()) {
    return {TextSource{
        "iptables-save", SourceStatus::skipped,
        "--root is not /: the running kernel's rules do not belong to that root (pass --iptables-rules)",
        ""}};
  }
  return {run_saver("iptables-save"), run_saver("ip6tables-save")};
}

}  // namespace stackmgr::doctor
