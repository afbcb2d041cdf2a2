// Benchmark: `stackmgr detect --json` as a whole process against `lsmod`, run side by side on the
// same kernel view, printing the ratio. Not a test: it asserts nothing about time. See README.md.
//
// fixture mode (hosts without /proc/modules, like the build host): a private mount namespace gets
// a generated /proc (about 150 loaded modules) and /sys/module bind-mounted over the real ones,
// so both programs read the same files from the same paths; libkmod does real lookups in the
// Debian kernel's module index. host mode (a real kernel, e.g. the qemu guest): no set-up at all.
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/detect/run_process.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
constexpr int kSkip = 77;  // CTest's SKIP_RETURN_CODE

struct Options {
  std::string stackmgr;
  std::string lsmod = "lsmod";
  std::string modules_list;
  std::string mode = "auto";
  int runs = 40;
};

struct Sample {
  double wall_ms = 0;
  double cpu_ms = 0;
};

struct Program {
  std::string label;
  std::vector<std::string> argv;
  std::vector<Sample> samples;
};

double ms_between(const timespec& start, const timespec& end) {
  return static_cast<double>(end.tv_sec - start.tv_sec) * 1e3 +
         static_cast<double>(end.tv_nsec - start.tv_nsec) / 1e6;
}

double ms_of(const timeval& value) {
  return static_cast<double>(value.tv_sec) * 1e3 + static_cast<double>(value.tv_usec) / 1e3;
}

// One run with stdout and stderr to /dev/null; -1 wall time when it failed to start or exited
// non-zero (except stackmgr's 10/11, which still did the whole detection).
Sample run_once(const std::vector<std::string>& argv, int& exit_code) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  Sample sample;
  timespec start{};
  timespec end{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  pid_t pid = 0;
  if (::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) {
    posix_spawn_file_actions_destroy(&actions);
    exit_code = -1;
    sample.wall_ms = -1;
    return sample;
  }
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0) {
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  posix_spawn_file_actions_destroy(&actions);
  exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  sample.wall_ms = ms_between(start, end);
  sample.cpu_ms = ms_of(usage.ru_utime) + ms_of(usage.ru_stime);
  return sample;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

std::vector<double> walls(const Program& program) {
  std::vector<double> values;
  for (const Sample& sample : program.samples) values.push_back(sample.wall_ms);
  return values;
}

std::vector<double> cpus(const Program& program) {
  std::vector<double> values;
  for (const Sample& sample : program.samples) values.push_back(sample.cpu_ms);
  return values;
}

std::string name_of(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  name = name.substr(0, name.find(".ko"));
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

void write_file(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

std::vector<std::string> read_module_list(const std::string& file) {
  std::vector<std::string> names;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') names.push_back(line);
  }
  return names;
}

// Writes <dir>/proc and <dir>/sys-module for `names` loaded on kernel `release`: /proc/modules
// with sizes from the .ko files and holders from modules.dep (direct users only), and the
// /sys/module files lsmod reads (coresize, refcnt, holders/, initstate).
bool build_fake_kernel_view(const fs::path& dir, const std::string& release,
                            const std::vector<std::string>& names, std::string& problem) {
  const fs::path index = "/lib/modules/" + release;
  std::map<std::string, std::vector<std::string>> deps;
  std::map<std::string, std::uintmax_t> sizes;
  std::ifstream dep_file(index / "modules.dep");
  for (std::string line; std::getline(dep_file, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string name = name_of(line.substr(0, colon));
    std::vector<std::string>& list = deps[name];
    std::istringstream words(line.substr(colon + 1));
    for (std::string word; words >> word;) list.push_back(name_of(word));
    std::error_code ignored;
    sizes[name] = fs::file_size(index / line.substr(0, colon), ignored);
  }
  const std::set<std::string> loaded(names.begin(), names.end());
  std::map<std::string, std::vector<std::string>> holders;
  for (const std::string& name : names) {
    if (!deps.count(name)) {
      problem = name + " is not in " + (index / "modules.dep").string();
      return false;
    }
    // modules.dep lists every dependency; a holder is a direct user (the transitive reduction).
    std::set<std::string> indirect;
    for (const std::string& dep : deps[name]) indirect.insert(deps[dep].begin(), deps[dep].end());
    for (const std::string& dep : deps[name]) {
      if (!indirect.count(dep) && loaded.count(dep)) holders[dep].push_back(name);
    }
  }
  std::string table;
  for (const std::string& name : names) {
    const auto& users = holders[name];
    std::string list = users.empty() ? "-" : "";
    for (const std::string& user : users) list += user + ",";
    const std::uintmax_t size = std::max<std::uintmax_t>(16384, sizes[name] / 3 / 4096 * 4096);
    table += name + " " + std::to_string(size) + " " + std::to_string(users.size()) + " " + list +
             " Live 0x0000000000000000\n";
    const fs::path module = dir / "sys-module" / name;
    write_file(module / "initstate", "live\n");
    write_file(module / "refcnt", std::to_string(users.size()) + "\n");
    write_file(module / "coresize", std::to_string(size) + "\n");
    fs::create_directories(module / "holders");
    for (const std::string& user : users)
      fs::create_directory_symlink("../../" + user, module / "holders" / user);
  }
  write_file(dir / "proc/modules", table);
  write_file(dir / "proc/sys/kernel/osrelease", release + "\n");
  write_file(dir / "proc/sys/kernel/modules_disabled", "0\n");
  std::ifstream status_in("/proc/self/status");
  std::stringstream status;
  status << status_in.rdbuf();
  write_file(dir / "proc/self/status", status.str());
  write_file(dir / "proc/net/dev", "Inter-|   Receive\n");
  write_file(dir / "proc/net/xfrm_stat", "XfrmInError 0\n");
  if (loaded.count("af_key")) write_file(dir / "proc/net/pfkey", "");
  write_file(dir / "proc/sys/net/core/xfrm_acq_expires", "30\n");
  return true;
}

bool enter_fake_kernel_view(const fs::path& dir, std::string& problem) {
  if (::unshare(CLONE_NEWNS) != 0) {
    problem = std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
    return false;
  }
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      ::mount((dir / "proc").c_str(), "/proc", nullptr, MS_BIND, nullptr) != 0 ||
      ::mount((dir / "sys-module").c_str(), "/sys/module", nullptr, MS_BIND, nullptr) != 0) {
    problem = std::string("bind-mounting the fake /proc and /sys/module: ") + std::strerror(errno);
    return false;
  }
  return true;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string line;
  if (!std::getline(in, line)) return "unknown\n";
  return line.substr(0, line.find(' ', line.find(' ', line.find(' ') + 1) + 1)) + " (1, 5, 15 min)\n";
}

bool parse_options(int argc, char** argv, Options& options) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const std::string value = argv[i + 1];
    if (key == "--stackmgr") {
      options.stackmgr = value;
    } else if (key == "--lsmod") {
      options.lsmod = value;
    } else if (key == "--modules") {
      options.modules_list = value;
    } else if (key == "--mode") {
      options.mode = value;
    } else if (key == "--runs") {
      options.runs = std::max(5, std::atoi(value.c_str()));
    } else {
      return false;
    }
  }
  return !options.stackmgr.empty() &&
         (options.mode == "auto" || options.mode == "host" || options.mode == "fixture");
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse_options(argc, argv, options)) {
    std::cerr
        << "usage: bench_detect --stackmgr PATH [--lsmod PATH] [--modules LIST] [--mode auto|host|fixture]"
           " [--runs N]\n";
    return 2;
  }
  const std::string load_at_start = load_average();  // before /proc is replaced
  std::string mode = options.mode;
  if (mode == "auto") mode = fs::exists("/proc/modules") ? "host" : "fixture";

  std::cout << "bench_detect: `stackmgr detect --json` against `lsmod`, whole processes, side by side\n";
  std::string temp;
  std::size_t module_count = 0;
  if (mode == "fixture") {
    if (::geteuid() != 0) {
      std::cout << "SKIP: fixture mode needs root for a private mount namespace (unshare -m)\n";
      return kSkip;
    }
    const auto release = detect_test::debian_kernel_release();
    if (!release) {
      std::cout << "SKIP: the Debian kernel's module index (linux-image-amd64) is not installed\n";
      return kSkip;
    }
    const std::vector<std::string> names = read_module_list(options.modules_list);
    if (names.empty()) {
      std::cerr << "no module list (--modules)\n";
      return 2;
    }
    std::string pattern = (fs::temp_directory_path() / "stackmgr-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) return 1;
    temp = pattern;
    std::string problem;
    if (!build_fake_kernel_view(temp, *release, names, problem) || !enter_fake_kernel_view(temp, problem)) {
      std::cout << "SKIP: " << problem << "\n";
      fs::remove_all(temp);
      return kSkip;
    }
    module_count = names.size();
    std::cout << "mode: fixture. In a private mount namespace, a generated /proc (" << module_count
              << " modules in /proc/modules, kernel " << *release
              << ") and /sys/module are bind-mounted over the real ones;\n"
                 "      libkmod looks modules up in the real index /lib/modules/"
              << *release << ".\n";
  } else {
    std::ifstream proc("/proc/modules");
    for (std::string line; std::getline(proc, line);) ++module_count;
    std::cout << "mode: host. The running kernel, " << module_count << " modules loaded.\n";
  }
  std::cout
      << "baseline: lsmod reads /proc/modules once, then coresize, refcnt and holders/ under /sys/module\n"
         "      for every module, and prints the table. stackmgr detect reads /proc/modules once, asks\n"
         "      libkmod about its 14 catalog modules, reads the markers, the capabilities and the net\n"
         "      devices (libudev), judges both stacks and prints JSON. /bin/true is the process-start "
         "floor.\n";

  // Check both programs do their whole job before timing them.
  const auto lsmod_check = detect_test::run_process({options.lsmod});
  const std::size_t lsmod_lines =
      static_cast<std::size_t>(std::count(lsmod_check.out.begin(), lsmod_check.out.end(), '\n'));
  const auto detect_check = detect_test::run_process({options.stackmgr, "detect", "--json"});
  const auto report = nlohmann::json::parse(detect_check.out, nullptr, false);
  if (lsmod_check.exit_code != 0 || lsmod_lines != module_count + 1 || report.is_discarded()) {
    std::cout << "FAILED set-up: lsmod exit " << lsmod_check.exit_code << ", " << lsmod_lines << " lines for "
              << module_count << " modules; stackmgr exit " << detect_check.exit_code << ": "
              << detect_check.err << "\n";
    if (!temp.empty()) fs::remove_all(temp);
    return 1;
  }
  std::cout << "check: lsmod listed " << lsmod_lines - 1
            << " modules; stackmgr detect said overall=" << report["overall"].get<std::string>()
            << ", native=" << report["stacks"]["native"]["verdict"].get<std::string>() << "\n";

  std::vector<Program> programs = {
      {"/bin/true (floor)", {"/bin/true"}, {}},
      {"lsmod", {options.lsmod}, {}},
      {"stackmgr detect --json", {options.stackmgr, "detect", "--json"}, {}},
  };
  for (int warmup = 0; warmup < 3; ++warmup) {
    for (const Program& program : programs) {
      int code = 0;
      run_once(program.argv, code);
    }
  }
  for (int run = 0; run < options.runs; ++run) {
    // Alternate the order so neither program always runs right after the other.
    std::vector<std::size_t> order = {0, 1, 2};
    if (run % 2 == 1) order = {0, 2, 1};
    for (const std::size_t index : order) {
      int code = 0;
      const Sample sample = run_once(programs[index].argv, code);
      if (sample.wall_ms >= 0) programs[index].samples.push_back(sample);
    }
  }

  std::printf("runs: %d each, interleaved\n", options.runs);
  std::printf("  %-24s %10s %10s %10s %12s\n", "program", "median ms", "mean ms", "min ms", "cpu med ms");
  for (const Program& program : programs) {
    const std::vector<double> wall = walls(program);
    const double mean = std::accumulate(wall.begin(), wall.end(), 0.0) / static_cast<double>(wall.size());
    std::printf("  %-24s %10.3f %10.3f %10.3f %12.3f\n", program.label.c_str(), median(wall), mean,
                *std::min_element(wall.begin(), wall.end()), median(cpus(program)));
  }
  const double floor = median(walls(programs[0]));
  const double lsmod = median(walls(programs[1]));
  const double detect = median(walls(programs[2]));
  const double lsmod_cpu = median(cpus(programs[1]));
  const double detect_cpu = median(cpus(programs[2]));
  std::printf("ratio stackmgr detect / lsmod, median CPU time (user+sys): %.2f\n", detect_cpu / lsmod_cpu);
  std::printf("ratio stackmgr detect / lsmod, median wall time:           %.2f\n", detect / lsmod);
  std::printf("ratio above the process-start floor, wall ((detect - true) / (lsmod - true)): %.2f\n",
              (detect - floor) / std::max(0.001, lsmod - floor));
  std::printf("load average at start: %s", load_at_start.c_str());
  std::printf(
      "CPU time is the work each process does; on a busy machine wall time is mostly waiting for a CPU.\n");
  std::printf("target: detection no slower than lsmod (CPU-time ratio <= 1.00): %s\n",
              detect_cpu <= lsmod_cpu ? "met" : "NOT met");
  std::printf("FACT bench_detect (%s mode): detect/lsmod CPU %.2f, wall %.2f\n", mode.c_str(),
              detect_cpu / lsmod_cpu, detect / lsmod);
  if (!temp.empty()) fs::remove_all(temp);
  return 0;
}
