#pragma once
// The modules that make up each stack, as data: a built-in default that the config extends.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/error.hpp"
#include "detect/stack.hpp"

namespace detect {

enum class ModuleRole {
  core,    // the stack needs it: af_key, esp4, ah4; ipsec
  helper,  // loaded with the stack when present on disk: xfrm_user, esp6, ipsec_aes...
  ipcomp,  // IPComp, insecure on the native stack: loaded only when the config allows it
};

std::string_view to_string(ModuleRole role);
std::optional<ModuleRole> parse_role(std::string_view text);

struct ModuleSpec {
  std::string name;
  Stack stack = Stack::native;
  ModuleRole role = ModuleRole::core;
};

// True for a plausible kernel module name: 1..55 of [A-Za-z0-9_-]. Everything that names a
// module (config, command line, socket) goes through this before it reaches libkmod.
bool is_valid_module_name(std::string_view name);

// `name` as the kernel compares module names: '-' and '_' are the same, so '-' becomes '_'.
std::string normal_module_name(std::string_view name);

class Catalog {
 public:
  // The default lists, in load order. Native: af_key esp4 ah4 (core), xfrm_user xfrm4_tunnel
  // esp6 ah6 xfrm6_tunnel (helpers), ipcomp ipcomp6 (ipcomp). KLIPS: ipsec (core), ipsec_aes
  // ipsec_sha2 ipsec_blowfish (helpers).
  static Catalog defaults();

  // Adds a module (from the config). Fails on an invalid name or a name already listed.
  Status add(ModuleSpec spec);

  [[nodiscard]] const std::vector<ModuleSpec>& all() const { return modules_; }
  [[nodiscard]] std::vector<ModuleSpec> of(Stack stack) const;
  [[nodiscard]] const ModuleSpec* find(std::string_view name) const;

 private:
  std::vector<ModuleSpec> modules_;
};

}  // namespace detect
