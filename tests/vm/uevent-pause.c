/*
 * uevent-pause: run a command and stop it (SIGSTOP) the moment the kernel
 * announces a given uevent, so a scenario can change the kernel's state at a
 * known point in the middle of that command, then let it go on (SIGCONT).
 *
 *   uevent-pause --pid-file FILE EVENT -- CMD [ARG...]
 *
 * EVENT is the uevent's first line, ACTION@DEVPATH, e.g. "remove@/module/ah4":
 * the kernel sends it from inside delete_module(2), before the syscall returns
 * to CMD, and the SIGSTOP sent then takes effect on that return. So CMD stops
 * right after the kernel removed the module and before it can do anything
 * else (such as checking the state again and inserting the next module).
 *
 * On the event: CMD gets SIGSTOP, its pid is written to FILE (only then), and
 * a line goes to stderr. The caller does what it wants, then `kill -CONT PID`.
 * uevent-pause exits with CMD's exit status (128+N when a signal N killed it).
 * When CMD ends without the event, FILE is never written. Exit 125 when it
 * could not run at all. Built static: the guest needs no library for it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: uevent-pause --pid-file FILE ACTION@DEVPATH -- CMD [ARG...]\n");
	return 125;
}

static int exit_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 125;
}

/* Writes "PID\n" to FILE through a temporary file, so a reader never sees half. */
static int write_pid_file(const char *file, pid_t pid)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", file) >= (int)sizeof tmp)
		return -1;
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%d\n", (int)pid);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, file);
}

int main(int argc, char **argv)
{
	const char *pid_file;
	const char *event;
	struct sockaddr_nl addr;
	int rcvbuf = 4 << 20;
	int fd;
	pid_t child;
	int status;
	int stopped = 0;

	if (argc < 6 || strcmp(argv[1], "--pid-file") != 0 || strcmp(argv[4], "--") != 0)
		return usage();
	pid_file = argv[2];
	event = argv[3];
	if (!strchr(event, '@'))
		return usage();

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	if (fd < 0) {
		perror("uevent-pause: socket(NETLINK_KOBJECT_UEVENT)");
		return 125;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
	memset(&addr, 0, sizeof addr);
	addr.nl_family = AF_NETLINK;
	addr.nl_groups = 1; /* the kernel's own events, not udevd's */
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		perror("uevent-pause: bind");
		return 125;
	}

	/* Listening before CMD starts: no event can be missed. */
	child = fork();
	if (child < 0) {
		perror("uevent-pause: fork");
		return 125;
	}
	if (child == 0) {
		execv(argv[5], argv + 5);
		fprintf(stderr, "uevent-pause: cannot run %s: %s\n", argv[5], strerror(errno));
		_exit(127);
	}

	while (!stopped) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char buf[8192];
		ssize_t n;
		pid_t done;
		int ready = poll(&p, 1, 50);

		if (ready < 0 && errno != EINTR) {
			perror("uevent-pause: poll");
			break;
		}
		if (ready > 0) {
			n = recv(fd, buf, sizeof buf - 1, 0);
			if (n > 0) {
				buf[n] = '\0';
				/* The header "ACTION@DEVPATH" ends at the first NUL. */
				if (strcmp(buf, event) == 0) {
					kill(child, SIGSTOP);
					if (waitpid(child, &status, WUNTRACED) == child && WIFSTOPPED(status)) {
						stopped = 1;
						fprintf(stderr, "uevent-pause: pid %d stopped at %s\n", (int)child, event);
						if (write_pid_file(pid_file, child) != 0) {
							perror("uevent-pause: writing the pid file");
							kill(child, SIGCONT);
						}
					} else {
						/* It ended before the stop took: report its status below. */
						fprintf(stderr, "uevent-pause: pid %d ended before it could be stopped\n",
							(int)child);
						return exit_status(status);
					}
				}
				continue;
			}
		}
		done = waitpid(child, &status, WNOHANG);
		if (done == child) {
			fprintf(stderr, "uevent-pause: %s ended without the event %s\n", argv[5], event);
			return exit_status(status);
		}
	}
	close(fd);
	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("uevent-pause: waitpid");
			return 125;
		}
	}
	return exit_status(status);
}
