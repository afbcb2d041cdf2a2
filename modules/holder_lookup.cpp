#include "modules/holder_lookup.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <set>
#include <sstream>

namespace modules {
namespace {

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<std::string> directory_entries(const std::string& path) {
  std::vector<std::string> names;
  const std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path.c_str()), ::closedir);
  if (!dir) return names;
  while (const dirent* entry = ::readdir(dir.get())) {
    if (all_digits(entry->d_name)) names.emplace_back(entry->d_name);
  }
  return names;
}

std::string read_link(const std::string& path) {
  char buffer[256];
  const ssize_t length = ::readlink(path.c_str(), buffer, sizeof buffer - 1);
  if (length < 0) return "";
  return std::string(buffer, static_cast<std::size_t>(length));
}

}  // namespace

std::vector<unsigned long> parse_pfkey_inodes(std::string_view text) {
  std::vector<unsigned long> inodes;
  std::istringstream lines{std::string(text)};
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::string> fields;
    for (std::string word; words >> word;) fields.push_back(word);
    if (fields.size() != 6 || !all_digits(fields.back())) continue;
    inodes.push_back(std::strtoul(fields.back().c_str(), nullptr, 10));
  }
  return inodes;
}

std::vector<ProcessHolder> ProcHolderLookup::holders_of(std::string_view module) const {
  if (module != "af_key") return {};
  const auto table = root_.read("proc/net/pfkey", 1 << 20);
  if (!table) return {};
  std::set<std::string> wanted;
  for (const unsigned long inode : parse_pfkey_inodes(*table)) {
    wanted.insert("socket:[" + std::to_string(inode) + "]");
  }
  if (wanted.empty()) return {};
  std::vector<ProcessHolder> holders;
  for (const std::string& pid : directory_entries(root_.path("proc").string())) {
    const std::string fd_dir = root_.path("proc/" + pid + "/fd").string();
    for (const std::string& fd : directory_entries(fd_dir)) {
      if (!wanted.contains(read_link(fd_dir + "/" + fd))) continue;
      ProcessHolder holder;
      holder.pid = static_cast<pid_t>(std::strtol(pid.c_str(), nullptr, 10));
      if (const auto comm = root_.read("proc/" + pid + "/comm", 256)) {
        holder.command = comm->substr(0, comm->find('\n'));
      }
      holder.what = "a PF_KEY socket";
      holders.push_back(std::move(holder));
      break;
    }
  }
  std::sort(holders.begin(), holders.end(),
            [](const ProcessHolder& a, const ProcessHolder& b) { return a.pid < b.pid; });
  return holders;
}

std::string describe_holders(const std::vector<ProcessHolder>& holders) {
  if (holders.empty()) return "";
  std::string text;
  for (const ProcessHolder& holder : holders) {
    if (!text.empty()) text += ", ";
    text += "pid " + std::to_string(holder.pid);
    if (!holder.command.empty()) text += " (" + holder.command + ")";
  }
  return text + " through " + holders.front().what;
}

}  // namespace modules
