#include "detect/cached_module_index.hpp"

namespace detect {

Result<std::vector<LoadedModule>> CachedModuleIndex::loaded_modules() const {
  return index_.loaded_modules();
}

Result<ModuleLookup> CachedModuleIndex::lookup(std::string_view name) const {
  if (const auto found = lookups_.find(name); found != lookups_.end()) return found->second;
  return lookups_.emplace(std::string(name), index_.lookup(name)).first->second;
}

}  // namespace detect
