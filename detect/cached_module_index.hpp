#pragma once
// A ModuleIndex that asks the index about each module once and keeps the answer, while the
// loaded modules are read afresh on every call. For the re-check before each insert of a
// switch: the kernel's state changes between two steps, the module index on disk does not
// (and an index changed mid-switch is still caught by the insert itself, which looks the
// module up again and applies the blacklist).

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "detect/module_index.hpp"

namespace detect {

class CachedModuleIndex final : public ModuleIndex {
 public:
  // `index` must outlive this object.
  explicit CachedModuleIndex(const ModuleIndex& index) : index_(index) {}

  // Always the index's answer now: never cached.
  [[nodiscard]] Result<std::vector<LoadedModule>> loaded_modules() const override;

  // The index's first answer for `name` since the last forget(), failures included.
  [[nodiscard]] Result<ModuleLookup> lookup(std::string_view name) const override;

  // The next lookup of every name asks the index again.
  void forget() { lookups_.clear(); }

 private:
  const ModuleIndex& index_;
  mutable std::map<std::string, Result<ModuleLookup>, std::less<>> lookups_;
};

}  // namespace detect
