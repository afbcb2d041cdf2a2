#include "stackmgr/switch/module_record.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <sstream>

#include "detect/catalog.hpp"
#include "modules/atomic_file.hpp"
#include "stackmgr/base/strings.hpp"

namespace stackmgr::switching {
namespace {}  // namespace

detect::Result<ModuleRecord> ModuleRecord::load(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return ModuleRecord{};
    if (errno == ELOOP) return detect::Error{0, "refusing to read " + path.string() + ": it is a symlink"};
    return detect::error_from_errno(errno, "reading the module record " + path.string());
  }
  struct stat info {};
  std::string content;
  const auto close_and = [fd](detect::Error error) {
    ::close(fd);
    return error;
  };
  if (::fstat(fd, &info) != 0)
    return close_and(detect::error_from_errno(errno, "inspecting " + path.string()));
  if (!S_ISREG(info.st_mode) || info.st_uid != ::geteuid() || (info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return close_and(
        detect::Error{0, "refusing to trust the module record " + path.string() +
                             ": it is not a regular file owned by uid " + std::to_string(::geteuid()) +
                             " that only its owner can write; remove it (stackmgr writes a new one)"});
  }
  char buffer[4096];
  while (content.size() < (1U << 20)) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return close_and(detect::error_from_errno(errno, "reading " + path.string()));
    if (got == 0) break;
    content.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return parse(content, path);
}

detect::Result<ModuleRecord> ModuleRecord::parse(std::string_view text, const std::filesystem::path& source) {
  ModuleRecord record;
  std::istringstream lines{std::string(text)};
  int number = 0;
  for (std::string line; std::getline(lines, line);) {
    ++number;
    line = std::string(base::trim(line.substr(0, line.find('#'))));
    if (line.empty()) continue;
    if (!detect::is_valid_module_name(line)) {
      return detect::Error{EINVAL,
                           source.string() + ":" + std::to_string(number) + ": '" + line +
                               "' is not a valid module name; remove the file (stackmgr writes a new one)"};
    }
    record.modules_.insert(detect::normal_module_name(line));
  }
  return record;
}

std::string ModuleRecord::text() const {
  std::string text =
      "# Kernel modules that stackmgr loaded, one per line. Written by stackmgr; do not edit.\n"
      "# 'stackmgr stop --unload' removes only these. It lives under /run: modules do not survive a "
      "reboot.\n";
  for (const std::string& name : modules_) text += name + "\n";
  return text;
}

detect::Status ModuleRecord::save(const std::filesystem::path& path) const {
  if (detect::Status status = modules::ensure_directory(path.parent_path(), 0700); !status) return status;
  return modules::write_file_atomically(path, text(), 0600);
}

void ModuleRecord::apply(const std::set<std::string>& loaded, const std::set<std::string>& unloaded) {
  for (const std::string& name : loaded) {
    if (detect::is_valid_module_name(name)) modules_.insert(detect::normal_module_name(name));
  }
  for (const std::string& name : unloaded) modules_.erase(detect::normal_module_name(name));
}

void ModuleRecord::keep_only(const std::set<std::string>& loaded_now) {
  std::erase_if(modules_, [&](const std::string& name) { return !loaded_now.contains(name); });
}

}  // namespace stackmgr::switching
