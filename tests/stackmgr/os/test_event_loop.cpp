// The event loop: one deadline, no wakeups without cause, safe unwatching, signals as an fd.

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>

#include "stackmgr/os/event_loop.hpp"

namespace stackmgr::os {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(EventLoop, SleepsUntilTheOneDeadlineThenCallsIt) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  const auto deadline = Clock::now() + 80ms;
  int fired = 0;
  int waits = 0;  // the deadline source is asked once before every wait
  loop.value().set_deadline(
      [&] {
        ++waits;
        return fired == 0 ? std::optional(deadline) : std::nullopt;
      },
      [&] {
        ++fired;
        loop.value().stop();
      });
  const auto started = Clock::now();
  ASSERT_TRUE(loop.value().run());
  EXPECT_EQ(fired, 1);
  EXPECT_GE(Clock::now(), deadline) << "fired early";
  EXPECT_LT(Clock::now() - started, 2s);
  EXPECT_LE(waits, 2) << "a deadline is one wait, not polling";
}

TEST(EventLoop, WithNothingToDoItWaitsInsteadOfSpinning) {
  auto loop = EventLoop::create();
  ASSERT_TRUE(loop);
  const auto started = Clock::now();
  ASSERT_TRUE(loop.value().run_once(100ms));
  EXPECT_GE(Clock::now() - started, 90ms);
}

TEST(EventLoop, DispatchesReadyFdsAndSurvivesAHandlerThatUnwatchesAnother) {
  auto created = EventLoop::create();
  ASSERT_TRUE(created);
  EventLoop& loop = created.value();
  int first[2], second[2];
  ASSERT_EQ(pipe(first), 0);
  ASSERT_EQ(pipe(second), 0);
  ASSERT_EQ(write(first[1], "x", 1), 1);
  ASSERT_EQ(write(second[1], "x", 1), 1);
  int calls = 0;
  // Whichever runs first unwatches (and closes) the other: the other must not be called.
  ASSERT_TRUE(loop.watch(first[0], EPOLLIN, [&](std::uint32_t) {
    ++calls;
    loop.unwatch(second[0]);
    loop.unwatch(first[0]);
  }));
  ASSERT_TRUE(loop.watch(second[0], EPOLLIN, [&](std::uint32_t) {
    ++calls;
    loop.unwatch(first[0]);
    loop.unwatch(second[0]);
  }));
  ASSERT_TRUE(loop.run_once(1s));
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(loop.watching(first[0]));
  EXPECT_FALSE(loop.watching(second[0]));
  for (int fd : {first[0], first[1], second[0], second[1]}) close(fd);
}

TEST(SignalSource, DeliversBlockedSignalsAsReadsAndRestoresTheMask) {
  {
    auto signals = SignalSource::create({SIGUSR1, SIGUSR2});
    ASSERT_TRUE(signals);
    raise(SIGUSR1);
    raise(SIGUSR2);
    auto pending = signals.value().read_pending();
    std::sort(pending.begin(), pending.end());
    EXPECT_EQ(pending, (std::vector<int>{SIGUSR1, SIGUSR2}));
    EXPECT_TRUE(signals.value().read_pending().empty()) << "non-blocking when nothing is pending";
  }
  sigset_t now;
  sigprocmask(SIG_BLOCK, nullptr, &now);
  EXPECT_FALSE(sigismember(&now, SIGUSR1)) << "the previous mask is restored";
}

}  // namespace
}  // namespace stackmgr::os
