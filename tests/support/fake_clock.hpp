#pragma once
// A modules::Clock whose sleeps advance time instantly: bounded waits run in no time.

#include "modules/clock.hpp"

namespace fake {

class FakeClock final : public modules::Clock {
 public:
  [[nodiscard]] TimePoint now() const override { return now_; }
  void sleep_for(Duration duration) override {
    now_ += duration;
    slept_ += duration;
  }
  // Total time "slept" so far.
  [[nodiscard]] Duration slept() const { return slept_; }

 private:
  TimePoint now_{};
  Duration slept_{};
};

}  // namespace fake
