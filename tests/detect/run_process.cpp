#include "tests/detect/run_process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace detect_test {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv) {
  ProcessResult result;
  std::string dir_pattern = (std::filesystem::temp_directory_path() / "stackmgr-run-XXXXXX").string();
  if (::mkdtemp(dir_pattern.data()) == nullptr) return result;
  const std::string out_path = dir_pattern + "/out";
  const std::string err_path = dir_pattern + "/err";

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc == 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = slurp(out_path);
    result.err = slurp(err_path);
  } else {
    result.err = "cannot start " + argv[0];
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_pattern, ignored);
  return result;
}

std::optional<std::string> debian_kernel_release() {
  // "linux-image-6.1.0-56-amd64 (= 6.1.192-2)" -> "6.1.0-56-amd64"
  const ProcessResult query = run_process({"dpkg-query", "-W", "-f=${Depends}", "linux-image-amd64"});
  if (query.exit_code != 0) return std::nullopt;
  constexpr std::string_view prefix = "linux-image-";
  const auto start = query.out.find(prefix);
  if (start == std::string::npos) return std::nullopt;
  const auto begin = start + prefix.size();
  const auto end = query.out.find_first_of(" ,(|\n", begin);
  const std::string release =
      query.out.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  if (release.empty() || !std::filesystem::exists("/lib/modules/" + release + "/modules.dep.bin")) {
    return std::nullopt;
  }
  return release;
}

}  // namespace detect_test
