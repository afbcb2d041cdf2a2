#include "modules/clock.hpp"

#include <cerrno>
#include <ctime>

namespace modules {

Clock::TimePoint SystemClock::now() const { return std::chrono::steady_clock::now(); }

void SystemClock::sleep_for(Duration duration) {
  if (duration <= Duration::zero()) return;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(duration);
  const auto nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(duration - seconds);
  timespec remaining{static_cast<time_t>(seconds.count()), static_cast<long>(nanoseconds.count())};
  while (::nanosleep(&remaining, &remaining) != 0 && errno == EINTR) {
  }
}

}  // namespace modules
