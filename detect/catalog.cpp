#include "detect/catalog.hpp"

#include <algorithm>
#include <cerrno>

namespace detect {

std::string_view to_string(ModuleRole role) {
  switch (role) {
    case ModuleRole::core: return "core";
    case ModuleRole::helper: return "helper";
    case ModuleRole::ipcomp: return "ipcomp";
  }
  return "core";
}

std::optional<ModuleRole> parse_role(std::string_view text) {
  if (text == "core") return ModuleRole::core;
  if (text == "helper") return ModuleRole::helper;
  if (text == "ipcomp") return ModuleRole::ipcomp;
  return std::nullopt;
}

bool is_valid_module_name(std::string_view name) {
  if (name.empty() || name.size() > 55) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

Catalog Catalog::defaults() {
  Catalog catalog;
  const auto native = [&](const char* name, ModuleRole role) {
    catalog.modules_.push_back({name, Stack::native, role});
  };
  const auto klips = [&](const char* name, ModuleRole role) {
    catalog.modules_.push_back({name, Stack::klips, role});
  };
  native("af_key", ModuleRole::core);
  native("esp4", ModuleRole::core);
  native("ah4", ModuleRole::core);
  native("xfrm_user", ModuleRole::helper);
  native("xfrm4_tunnel", ModuleRole::helper);
  native("esp6", ModuleRole::helper);
  native("ah6", ModuleRole::helper);
  native("xfrm6_tunnel", ModuleRole::helper);
  native("ipcomp", ModuleRole::ipcomp);
  native("ipcomp6", ModuleRole::ipcomp);
  klips("ipsec", ModuleRole::core);
  klips("ipsec_aes", ModuleRole::helper);
  klips("ipsec_sha2", ModuleRole::helper);
  klips("ipsec_blowfish", ModuleRole::helper);
  return catalog;
}

Status Catalog::add(ModuleSpec spec) {
  if (!is_valid_module_name(spec.name)) {
    return Error{EINVAL, "module name '" + spec.name + "' is not a valid kernel module name"};
  }
  if (const ModuleSpec* existing = find(spec.name)) {
    return Error{EEXIST, "module '" + spec.name + "' is already listed for the " +
                             std::string(to_string(existing->stack)) + " stack"};
  }
  modules_.push_back(std::move(spec));
  return {};
}

std::vector<ModuleSpec> Catalog::of(Stack stack) const {
  std::vector<ModuleSpec> result;
  std::copy_if(modules_.begin(), modules_.end(), std::back_inserter(result),
               [stack](const ModuleSpec& spec) { return spec.stack == stack; });
  return result;
}

std::string normal_module_name(std::string_view name) {
  std::string out(name);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

const ModuleSpec* Catalog::find(std::string_view name) const {
  const std::string wanted = normal_module_name(name);
  for (const ModuleSpec& spec : modules_) {
    if (normal_module_name(spec.name) == wanted) return &spec;
  }
  return nullptr;
}

}  // namespace detect
