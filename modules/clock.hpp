#pragma once
// Time as an interface, so waits and backoffs run instantly in unit tests.

#include <chrono>

namespace modules {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  [[nodiscard]] virtual TimePoint now() const = 0;
  virtual void sleep_for(Duration duration) = 0;
};

// The steady clock and nanosleep.
class SystemClock final : public Clock {
 public:
  [[nodiscard]] TimePoint now() const override;
  void sleep_for(Duration duration) override;
};

}  // namespace modules
