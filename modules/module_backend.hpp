#pragma once
// The write side of the OS boundary for kernel modules: loading and unloading. Only the
// executor calls it. The real one is libkmod (kmod_backend.hpp); the unit tests use a fake kernel.

#include <string_view>

#include "detect/error.hpp"
#include "detect/module_index.hpp"

namespace modules {

class ModuleBackend : public detect::ModuleIndex {
 public:
  // Loads `name` and its dependencies, refusing blacklisted ones, never running modprobe.d
  // install commands (no shell). Success means the kernel accepted the call; the caller
  // still verifies the module is live (the PF_KEY -EEXIST conflict can look like success).
  virtual detect::Status insert(std::string_view name) = 0;

  // Unloads `name` only (not its dependencies). EAGAIN/EBUSY when it is in use.
  virtual detect::Status remove(std::string_view name) = 0;
};

}  // namespace modules
