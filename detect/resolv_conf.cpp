#include "detect/resolv_conf.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace detect {
namespace {

constexpr std::size_t kResolverMaxNameservers = 3;  // glibc's MAXNS
constexpr int kMaxSymlinkHops = 8;

// The host path `path` resolves to under `root`, following at most kMaxSymlinkHops links.
Result<std::string> resolve_under_root(const HostRoot& root, std::string path) {
  if (path.empty() || path.front() != '/') path = std::string("/").append(path);
  for (int hop = 0; hop <= kMaxSymlinkHops; ++hop) {
    const std::filesystem::path real = root.path(std::string_view(path).substr(1));
    std::error_code error;
    const auto status = std::filesystem::symlink_status(real, error);
    if (error || !std::filesystem::is_symlink(status)) return path;
    const auto target = std::filesystem::read_symlink(real, error);
    if (error) return error_from_errno(error.value(), "reading the link " + path);
    std::filesystem::path next =
        target.is_absolute() ? target : std::filesystem::path(path).parent_path() / target;
    next = next.lexically_normal();
    if (!next.is_absolute()) next = "/" / next;
    path = next.string();
  }
  return error_from_errno(ELOOP, "following " + path);
}

}  // namespace

ResolvConf parse_resolv_conf(std::string_view text, std::string_view name) {
  ResolvConf result;
  result.found = true;
  result.path = std::string(name);
  std::istringstream lines{std::string(text)};
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    const ConfLocation where{result.path, number};
    std::istringstream words(line);
    std::string keyword;
    std::string value;
    words >> keyword;
    if (keyword != "nameserver") continue;  // comments, search, options... do not matter here
    if (!(words >> value)) {
      result.problems.push_back({where, "nameserver without an address"});
      continue;
    }
    const auto address = IpAddress::parse(value);
    if (!address) {
      result.problems.push_back(
          {where, "nameserver '" + value + "' is not an IP address; the resolver ignores it"});
      continue;
    }
    if (result.nameservers.size() >= kResolverMaxNameservers) {
      result.problems.push_back(
          {where, "nameserver " + value + " is ignored: the resolver uses only the first three"});
      continue;
    }
    result.nameservers.push_back(Nameserver{*address, where});
  }
  return result;
}

ResolvConf read_resolv_conf(const HostRoot& root, std::string_view path) {
  ResolvConf empty;
  empty.path = std::string(path);
  const auto resolved = resolve_under_root(root, std::string(path));
  if (!resolved) {
    empty.problems.push_back({ConfLocation{empty.path, 0}, resolved.error().describe()});
    return empty;
  }
  const auto text = root.read(std::string_view(*resolved).substr(1), 1 << 16);
  if (!text) {
    empty.path = *resolved;
    if (text.error().code != ENOENT) {
      empty.problems.push_back(
          {ConfLocation{*resolved, 0}, std::string("cannot read it: ") + std::strerror(text.error().code)});
    }
    return empty;
  }
  return parse_resolv_conf(*text, *resolved);
}

}  // namespace detect
