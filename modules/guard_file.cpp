#include "modules/guard_file.hpp"

#include <filesystem>

#include "modules/atomic_file.hpp"

namespace modules {

GuardFile::GuardFile(detect::HostRoot root, std::vector<std::string> modules) : root_(std::move(root)) {
  for (std::string& name : modules) {
    if (detect::is_valid_module_name(name)) modules_.push_back(std::move(name));
  }
}

GuardFile GuardFile::for_catalog(detect::HostRoot root, const detect::Catalog& catalog) {
  std::vector<std::string> names;
  for (const detect::ModuleSpec& spec : catalog.of(detect::Stack::native)) names.push_back(spec.name);
  return GuardFile(std::move(root), std::move(names));
}

std::string GuardFile::path() const { return root_.path(detect::kGuardFile).string(); }

std::string GuardFile::content() const {
  std::string text =
      "# Written by stackmgr: the autoload guard. Do not edit; stackmgr removes this file when the\n"
      "# native IPsec stack is chosen ('stackmgr switch native').\n"
      "#\n"
      "# KLIPS is the chosen IPsec stack. Only one PF_KEY implementation can exist, and a native\n"
      "# IPsec module loaded next to KLIPS crashes 2.6 kernels or breaks KLIPS. The kernel autoloads\n"
      "# af_key whenever a program opens a PF_KEY socket; these lines make every such load fail.\n";
  for (const std::string& name : modules_) text += "install " + name + " /bin/false\n";
  return text;
}

detect::Status GuardFile::set() {
  const std::filesystem::path file = path();
  if (detect::Status status = ensure_directory(file.parent_path(), 0755); !status) return status;
  return write_file_atomically(file, content(), 0644);
}

detect::Status GuardFile::clear() { return remove_file_durably(path()); }

bool GuardFile::is_set() const { return root_.exists(detect::kGuardFile); }

}  // namespace modules
