#include "detect/policy_groups.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace detect {
namespace {

// A DNS name as FreeS/WAN accepts in a group file: letters, digits, '-', '.', at least one letter.
bool looks_like_host_name(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  bool letter = false;
  for (const char c : text) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    letter = letter || alpha;
    if (!alpha && !(c >= '0' && c <= '9') && c != '-' && c != '.') return false;
  }
  return letter && text.front() != '-' && text.front() != '.';
}

}  // namespace

const PolicyEntry* PolicyGroup::covering(const IpAddress& address) const {
  const auto match = std::find_if(entries.begin(), entries.end(), [&](const PolicyEntry& entry) {
    return entry.narrowing.empty() && entry.subnet.contains(address);
  });
  return match == entries.end() ? nullptr : &*match;
}

const PolicyGroup* PolicyGroups::group(std::string_view name) const {
  const auto match =
      std::find_if(groups.begin(), groups.end(), [&](const PolicyGroup& g) { return g.name == name; });
  return match == groups.end() ? nullptr : &*match;
}

PolicyGroup parse_policy_group(std::string_view name, std::string_view text, std::string_view path,
                               std::vector<ConfProblem>& problems) {
  PolicyGroup group;
  group.name = std::string(name);
  group.path = std::string(path);
  group.found = true;
  std::istringstream lines{std::string(text)};
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string word;
    if (!(words >> word)) continue;
    std::string narrowing;
    for (std::string more; words >> more;) narrowing += (narrowing.empty() ? "" : " ") + more;
    const ConfLocation where{group.path, number};
    if (const auto subnet = IpSubnet::parse(word)) {
      group.entries.push_back(PolicyEntry{*subnet, where, narrowing});
    } else if (looks_like_host_name(word)) {
      group.names.push_back(ConfValue{word, where});
    } else {
      problems.push_back({where, "'" + word + "' is neither an address, a subnet nor a host name; ignored"});
    }
  }
  return group;
}

PolicyGroups read_policy_groups(const HostRoot& root, std::string_view directory) {
  PolicyGroups result;
  result.directory = std::string(directory);
  while (result.directory.size() > 1 && result.directory.back() == '/') result.directory.pop_back();
  if (result.directory.empty() || result.directory.front() != '/') result.directory.insert(0, "/");
  for (const std::string_view name : kPolicyGroupNames) {
    const std::string path = result.directory + "/" + std::string(name);
    const auto text = root.read(std::string_view(path).substr(1), 1 << 20);
    if (!text) {
      if (text.error().code != ENOENT) {
        result.problems.push_back(
            {ConfLocation{path, 0}, std::string("cannot read it: ") + std::strerror(text.error().code)});
      }
      PolicyGroup missing;
      missing.name = std::string(name);
      missing.path = path;
      result.groups.push_back(std::move(missing));
      continue;
    }
    result.groups.push_back(parse_policy_group(name, *text, path, result.problems));
  }
  return result;
}

}  // namespace detect
