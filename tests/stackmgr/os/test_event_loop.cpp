// The event loop: one deadline, no wakeups without cause, safe unwatching, signals as an fd.

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>

#include "stackmgr/os/event_loop.hpp"

namespace stackmgr::os {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Two pipes with a byte in each: both read ends are ready, so one epoll batch holds both events.
void make_two_ready_pipes(int (&first)[2], int (&second)[2]) {
  ASSERT_EQ(pipe(first), 0);
  ASSERT_EQ(pipe(second), 0);
  ASSERT_EQ(write(first[1], "x", 1), 1);
  ASSERT_EQ(write(second[1], "x", 1), 1);
}

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
  ASSERT_NO_FATAL_FAILURE(make_two_ready_pipes(first, second));
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

TEST(EventLoop, AStaleEventForAClosedFdNeverReachesTheNewWatchOfItsReusedNumber) {
  auto created = EventLoop::create();
  ASSERT_TRUE(created);
  EventLoop& loop = created.value();
  int first[2], second[2];
  ASSERT_NO_FATAL_FAILURE(make_two_ready_pipes(first, second));
  int reader[2] = {first[0], second[0]};
  int replacement[2] = {-1, -1};
  int handled = 0;
  int stale = 0;  // calls of the new watch: its pipe is empty, so any call is a stale event
  bool reused = false;
  // Whichever runs first closes the other's read end and watches a new, empty pipe that gets
  // the same fd number; the other's event, collected already, must go nowhere.
  auto handler = [&](int mine) {
    return [&, mine](std::uint32_t) {
      ++handled;
      const int other = reader[1 - mine];
      if (other < 0) return;
      loop.unwatch(other);
      close(other);
      reader[1 - mine] = -1;
      ASSERT_EQ(pipe(replacement), 0);
      reused = replacement[0] == other;
      ASSERT_TRUE(loop.watch(replacement[0], EPOLLIN, [&](std::uint32_t) { ++stale; }));
    };
  };
  ASSERT_TRUE(loop.watch(first[0], EPOLLIN, handler(0)));
  ASSERT_TRUE(loop.watch(second[0], EPOLLIN, handler(1)));
  ASSERT_TRUE(loop.run_once(1s));
  if (!reused) GTEST_SKIP() << "the new pipe did not get the closed fd's number";
  EXPECT_EQ(handled, 1);
  EXPECT_EQ(stale, 0) << "the closed fd's event went to the new registration of its number";
  EXPECT_TRUE(loop.watching(replacement[0]));
  ASSERT_EQ(write(replacement[1], "y", 1), 1);
  ASSERT_TRUE(loop.run_once(1s));
  EXPECT_EQ(stale, 1) << "the new registration gets its own events";
  for (int fd : {reader[0], reader[1], first[1], second[1], replacement[0], replacement[1]}) {
    if (fd >= 0) close(fd);
  }
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
