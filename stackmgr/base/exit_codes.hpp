#pragma once
// Every exit code stackmgr returns. Documented in README.md, `stackmgr --help` and stackmgr(8).
// `status` alone follows the LSB status convention instead (see StatusExit).

namespace stackmgr::base {

enum class Exit : int {
  ok = 0,               // done, or already in the requested state
  internal = 1,         // an unexpected internal error (a bug: please report it)
  usage = 2,            // bad command line: unknown command, option or stack name
  refused = 3,          // a safety rule refused the change; nothing was touched
  rolled_back = 4,      // a step failed; the host was put back where it was
  rollback_failed = 5,  // a step failed and so did the rollback; the state is reported
  busy = 6,             // another stackmgr holds the lock (after --timeout, or --no-wait)
  config = 7,           // the config is malformed or unsafe (owner, permissions)
  daemon_failed = 8,    // the keying daemon could not be started or kept running
  permission = 9,       // needs root (or CAP_SYS_MODULE / CAP_NET_ADMIN)
  conflict = 10,        // detect/doctor: both stacks are in the kernel
  broken = 11,          // detect: the kernel's markers disagree with the module states
  warnings = 12,        // doctor: at least one WARN, no FAIL
  failures = 13,        // doctor: at least one FAIL
  confirmation = 14,    // switch: tunnels are up and stdin is not a TTY; pass --yes
  filesystem = 15,      // a file or directory stackmgr needs could not be made or written:
                        // read-only file system, no space, permission, a parent that cannot be made
  interrupted = 16,     // switch: a stop, or the supervisor's end, cut the switch short before its
                        // result; the next `start` finishes or rolls it back from the journal
};

// LSB status action codes, used by `stackmgr status`.
enum class StatusExit : int {
  running = 0,            // supervisor running and the daemon up
  dead_with_pidfile = 1,  // pid file exists but the supervisor is gone
  not_running = 3,        // not running
  unknown = 4,            // cannot tell (e.g. no permission on the control socket)
};

constexpr int code(Exit exit) { return static_cast<int>(exit); }
constexpr int code(StatusExit exit) { return static_cast<int>(exit); }

}  // namespace stackmgr::base
