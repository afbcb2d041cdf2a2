#pragma once
// An in-memory modules::AutoloadGuard that can be told to fail, for executor tests.

#include <cerrno>

#include "modules/guard_file.hpp"

namespace fake {

class FakeGuard final : public modules::AutoloadGuard {
 public:
  explicit FakeGuard(bool installed = false) : installed_(installed) {}

  detect::Status set() override {
    ++calls_;
    if (fail_set_) return detect::Error{EROFS, "writing the autoload guard"};
    installed_ = true;
    return {};
  }
  detect::Status clear() override {
    ++calls_;
    if (fail_clear_) return detect::Error{EROFS, "removing the autoload guard"};
    installed_ = false;
    return {};
  }
  [[nodiscard]] bool is_set() const override { return installed_; }

  void fail_set(bool fail = true) { fail_set_ = fail; }
  void fail_clear(bool fail = true) { fail_clear_ = fail; }
  [[nodiscard]] int calls() const { return calls_; }

 private:
  bool installed_;
  bool fail_set_ = false;
  bool fail_clear_ = false;
  int calls_ = 0;
};

}  // namespace fake
