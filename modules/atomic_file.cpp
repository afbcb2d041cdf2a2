#include "modules/atomic_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "stackmgr/base/pause_point.hpp"

namespace modules {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

constexpr std::string_view kTemporaryMark = ".tmp.";

std::string temporary_name(const std::string& name) {
  std::random_device random;
  return "." + name + std::string(kTemporaryMark) + std::to_string(::getpid()) + "." +
         std::to_string(random());
}

bool all_digits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

// The writer's pid when `entry` is named as temporary_name() names files, else nullopt.
std::optional<pid_t> temporary_writer(std::string_view entry) {
  if (entry.size() < 2 || entry.front() != '.') return std::nullopt;
  const std::size_t mark = entry.rfind(kTemporaryMark);
  if (mark == std::string_view::npos || mark == 0) return std::nullopt;
  const std::string_view numbers = entry.substr(mark + kTemporaryMark.size());
  const std::size_t dot = numbers.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view pid = numbers.substr(0, dot);
  if (!all_digits(pid) || pid.size() > 9 || !all_digits(numbers.substr(dot + 1))) return std::nullopt;
  return static_cast<pid_t>(std::stol(std::string(pid)));
}

// When this boot began, on the clock file times use.
std::time_t boot_time() {
  timespec now{};
  timespec up{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  ::clock_gettime(CLOCK_BOOTTIME, &up);
  return now.tv_sec - up.tv_sec;
}

// A writer that died between creating its temporary file and renaming it (killed, or the power
// cut) leaves the file behind. Removes, best effort, every such file in the directory: one
// whose writer is no longer running, or that is older than this boot (its pid may be another
// process's now). A live writer's file is left alone.
void remove_stale_temporaries(int dirfd) {
  const int listing = ::dup(dirfd);
  if (listing < 0) return;
  DIR* dir = ::fdopendir(listing);
  if (dir == nullptr) {
    ::close(listing);
    return;
  }
  const std::time_t booted = boot_time();
  while (const dirent* entry = ::readdir(dir)) {  // NOLINT(concurrency-mt-unsafe): one stream, one thread
    const auto writer = temporary_writer(entry->d_name);
    if (!writer) continue;
    struct stat info {};
    if (::fstatat(dirfd, entry->d_name, &info, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(info.st_mode)) continue;
    const bool writer_gone = ::kill(*writer, 0) != 0 && errno == ESRCH;
    if (writer_gone || info.st_mtime < booted) ::unlinkat(dirfd, entry->d_name, 0);
  }
  ::closedir(dir);
}

detect::Status write_all(int fd, std::string_view content, const std::string& what) {
  while (!content.empty()) {
    const ssize_t written = ::write(fd, content.data(), content.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return detect::error_from_errno(errno, "writing " + what);
    }
    content.remove_prefix(static_cast<std::size_t>(written));
  }
  return {};
}

}  // namespace

detect::Status write_file_atomically(const std::filesystem::path& path, std::string_view content,
                                     mode_t mode) {
  const std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  const std::string name = path.filename().string();
  Fd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dirfd.get() < 0) return detect::error_from_errno(errno, "opening directory " + dir.string());

  remove_stale_temporaries(dirfd.get());
  const std::string temporary = temporary_name(name);
  Fd fd(::openat(dirfd.get(), temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (fd.get() < 0) return detect::error_from_errno(errno, "creating " + (dir / temporary).string());
  const auto fail = [&](int errnum, const std::string& what) {
    ::unlinkat(dirfd.get(), temporary.c_str(), 0);
    return detect::error_from_errno(errnum, what);
  };
  if (detect::Status status = write_all(fd.get(), content, (dir / temporary).string()); !status) {
    ::unlinkat(dirfd.get(), temporary.c_str(), 0);
    return status;
  }
  // The umask may have narrowed the mode; the file's readers expect exactly `mode`.
  if (::fchmod(fd.get(), mode) != 0) return fail(errno, "setting the mode of " + (dir / temporary).string());
  STACKMGR_PAUSE_POINT("write.written", path.native());
  if (::fsync(fd.get()) != 0) return fail(errno, "syncing " + (dir / temporary).string());
  if (::close(fd.release()) != 0) return fail(errno, "closing " + (dir / temporary).string());
  STACKMGR_PAUSE_POINT("write.synced", path.native());
  if (::renameat(dirfd.get(), temporary.c_str(), dirfd.get(), name.c_str()) != 0) {
    return fail(errno, "renaming " + (dir / temporary).string() + " to " + path.string());
  }
  STACKMGR_PAUSE_POINT("write.renamed", path.native());
  if (::fsync(dirfd.get()) != 0) return detect::error_from_errno(errno, "syncing directory " + dir.string());
  STACKMGR_PAUSE_POINT("write.dir-synced", path.native());
  return {};
}

detect::Status move_file_durably(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return detect::error_from_errno(errno, "renaming " + from.string() + " to " + to.string());
  }
  STACKMGR_PAUSE_POINT("move.renamed", to.native());
  const std::filesystem::path dir = to.parent_path().empty() ? "." : to.parent_path();
  Fd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dirfd.get() < 0 || ::fsync(dirfd.get()) != 0) {
    return detect::error_from_errno(errno, "syncing directory " + dir.string());
  }
  STACKMGR_PAUSE_POINT("move.dir-synced", to.native());
  return {};
}

detect::Status remove_file_durably(const std::filesystem::path& path) {
  const std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  Fd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dirfd.get() < 0) {
    if (errno == ENOENT) return {};
    return detect::error_from_errno(errno, "opening directory " + dir.string());
  }
  if (::unlinkat(dirfd.get(), path.filename().c_str(), 0) != 0) {
    if (errno == ENOENT) return {};
    return detect::error_from_errno(errno, "removing " + path.string());
  }
  STACKMGR_PAUSE_POINT("remove.unlinked", path.native());
  if (::fsync(dirfd.get()) != 0) return detect::error_from_errno(errno, "syncing directory " + dir.string());
  STACKMGR_PAUSE_POINT("remove.dir-synced", path.native());
  return {};
}

detect::Status ensure_directory(const std::filesystem::path& dir, mode_t mode) {
  struct stat info {};
  if (::lstat(dir.c_str(), &info) == 0) {
    if (S_ISLNK(info.st_mode))
      return detect::Error{ELOOP, dir.string() + " is a symlink; refusing to use it"};
    if (!S_ISDIR(info.st_mode))
      return detect::Error{ENOTDIR, dir.string() + " exists and is not a directory"};
    return {};
  }
  if (errno != ENOENT) return detect::error_from_errno(errno, "inspecting " + dir.string());
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    if (detect::Status status = ensure_directory(dir.parent_path(), 0755); !status) return status;
  }
  if (::mkdir(dir.c_str(), mode) != 0) {
    if (errno != EEXIST) return detect::error_from_errno(errno, "creating directory " + dir.string());
    return ensure_directory(dir, mode);  // made by someone else meanwhile: checked, never chmod'ed
  }
  if (::chmod(dir.c_str(), mode) != 0)
    return detect::error_from_errno(errno, "setting the mode of " + dir.string());
  return {};
}

}  // namespace modules
