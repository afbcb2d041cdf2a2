#pragma once
// Module work off the event loop. Making a stack ready or unloading stackmgr's own modules can
// wait for the change lock (up to lock_timeout) and for modules that stay coming or going (up
// to 10 s each), so it runs on a thread of its own while the loop keeps serving the watchdog,
// status requests and signals. Progress lines and each job's result come back as messages the
// loop drains when fd() is readable. One job runs at a time, in the order they were submitted.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "detect/error.hpp"
#include "stackmgr/base/log_level.hpp"
#include "stackmgr/base/unique_fd.hpp"
#include "stackmgr/switch/stack_ready.hpp"

namespace stackmgr::supervisor {

class ModuleWorker {
 public:
  using JobId = std::uint64_t;
  using Report = std::function<void(base::LogLevel, const std::string&)>;
  // The work itself, run on the worker thread. It reports progress through `report` and asks
  // `stop_requested` at each step boundary (both may be called from that thread only).
  using Job = std::function<switching::StackOutcome(const Report& report,
                                                    const std::function<bool()>& stop_requested)>;

  struct Progress {
    JobId job = 0;
    base::LogLevel level = base::LogLevel::info;
    std::string message;
  };
  struct Finished {
    JobId job = 0;
    switching::StackOutcome outcome;
  };
  using Message = std::variant<Progress, Finished>;

  // Starts the thread. Create it after the loop's signals are blocked: the thread inherits the
  // mask, so signals keep arriving at the loop's signalfd only.
  static detect::Result<std::unique_ptr<ModuleWorker>> create();
  ModuleWorker(const ModuleWorker&) = delete;
  ModuleWorker& operator=(const ModuleWorker&) = delete;
  // Stops every job at its next step boundary and joins the thread.
  ~ModuleWorker();

  // Readable (EPOLLIN) while messages wait.
  [[nodiscard]] int fd() const { return wakeup_.get(); }
  // Queues `job`; its messages carry the returned id.
  JobId submit(Job job);
  // The job running now and every job queued so far stop at their next step boundary (the
  // executor rolls back what each did). Jobs submitted afterwards run normally.
  void stop_submitted();
  // Every waiting message, in order. Call from the loop thread.
  std::vector<Message> receive();

 private:
  explicit ModuleWorker(base::UniqueFd wakeup) : wakeup_(std::move(wakeup)) {}
  void run();
  void post(Message message);

  base::UniqueFd wakeup_;  // an eventfd
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::deque<std::pair<JobId, Job>> queue_;
  std::vector<Message> outbox_;
  JobId last_submitted_ = 0;
  JobId stop_up_to_ = 0;  // jobs with an id up to this one stop at their next step
  bool quitting_ = false;
  std::thread thread_;
};

}  // namespace stackmgr::supervisor
