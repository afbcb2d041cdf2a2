// Compiled only into stackmgr-pause-points (STACKMGR_TEST_PAUSE_POINTS); see pause_point.hpp.
#include "stackmgr/base/pause_point.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

namespace stackmgr::base {
namespace {

// One write of the whole line, so that lines of concurrent writers do not mix.
void append_line(const char* path, const std::string& line) {
  const int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0) return;
  [[maybe_unused]] const ssize_t written = ::write(fd, line.data(), line.size());  // best effort
  ::close(fd);
}

const char* environment(const char* name) {
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): nothing sets it
  return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace

void pause_point(std::string_view name, std::string_view detail) {
  static std::mutex mutex;
  static std::map<std::string, int, std::less<>> hits;
  int count = 0;
  {
    const std::lock_guard<std::mutex> lock(mutex);
    count = ++hits[std::string(name)];
  }
  const std::string hit = std::string(name) + "#" + std::to_string(count);
  const std::string line = hit + (detail.empty() ? "" : " " + std::string(detail)) + "\n";
  if (const char* trace = environment("STACKMGR_PAUSE_TRACE")) append_line(trace, line);
  const char* at = environment("STACKMGR_PAUSE_AT");
  if (at == nullptr || hit != at) return;
  const char* report = environment("STACKMGR_PAUSE_REPORT");
  append_line(report != nullptr ? report : "/dev/stderr", "# PAUSED " + line);
  for (;;) ::pause();
}

}  // namespace stackmgr::base
