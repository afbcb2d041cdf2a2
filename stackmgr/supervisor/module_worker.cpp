#include "stackmgr/supervisor/module_worker.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <exception>
#include <utility>

#include "stackmgr/base/exit_codes.hpp"

namespace stackmgr::supervisor {

detect::Result<std::unique_ptr<ModuleWorker>> ModuleWorker::create() {
  base::UniqueFd wakeup(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wakeup) return detect::error_from_errno(errno, "creating the module worker's eventfd");
  std::unique_ptr<ModuleWorker> worker(new ModuleWorker(std::move(wakeup)));
  worker->thread_ = std::thread([raw = worker.get()] { raw->run(); });
  return worker;
}

ModuleWorker::~ModuleWorker() {
  {
    const std::lock_guard<std::mutex> guard(mutex_);
    quitting_ = true;
    stop_up_to_ = last_submitted_;
  }
  work_ready_.notify_all();
  if (thread_.joinable()) thread_.join();
}

ModuleWorker::JobId ModuleWorker::submit(Job job) {
  JobId id = 0;
  {
    const std::lock_guard<std::mutex> guard(mutex_);
    id = ++last_submitted_;
    queue_.emplace_back(id, std::move(job));
  }
  work_ready_.notify_one();
  return id;
}

void ModuleWorker::stop_submitted() {
  const std::lock_guard<std::mutex> guard(mutex_);
  stop_up_to_ = last_submitted_;
}

std::vector<ModuleWorker::Message> ModuleWorker::receive() {
  std::uint64_t count = 0;
  while (read(wakeup_.get(), &count, sizeof count) < 0 && errno == EINTR) {
  }
  const std::lock_guard<std::mutex> guard(mutex_);
  return std::exchange(outbox_, {});
}

void ModuleWorker::post(Message message) {
  {
    const std::lock_guard<std::mutex> guard(mutex_);
    outbox_.push_back(std::move(message));
  }
  const std::uint64_t one = 1;
  while (write(wakeup_.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void ModuleWorker::run() {
  for (;;) {
    std::pair<JobId, Job> next;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [this] { return quitting_ || !queue_.empty(); });
      if (queue_.empty()) return;  // quitting with nothing left
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    const JobId id = next.first;
    const Report report = [this, id](base::LogLevel level, const std::string& message) {
      post(Progress{id, level, message});
    };
    const std::function<bool()> stop_requested = [this, id] {
      const std::lock_guard<std::mutex> guard(mutex_);
      return id <= stop_up_to_;
    };
    switching::StackOutcome outcome;
    try {
      outcome = next.second(report, stop_requested);
    } catch (const std::exception& error) {  // never let a bug take the thread (and the process) down
      outcome = switching::StackOutcome{
          code(base::Exit::internal),
          std::string("internal error in the module work: ") + error.what() + " (please report this)",
          {}};
    }
    post(Finished{id, std::move(outcome)});
  }
}

}  // namespace stackmgr::supervisor
