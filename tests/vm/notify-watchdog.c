/*
 * notify-watchdog: plays systemd's side of sd_notify for one service in the test guest,
 * including the watchdog that systemd enforces with WatchdogSec=.
 *
 *   notify-watchdog SOCKET USEC LOG -- CMD [ARGS...]
 *
 * Binds the datagram socket SOCKET, runs CMD with NOTIFY_SOCKET=SOCKET, WATCHDOG_USEC=USEC
 * and WATCHDOG_PID=its own pid, and appends "<ms since start> <message>" to LOG for every
 * message (newlines become '|'). When no WATCHDOG=1 arrives for USEC microseconds (counted
 * from the start, then from the last ping), it writes "WATCHDOG TIMEOUT" to LOG, sends CMD
 * SIGABRT as systemd does, and exits 99. Otherwise it exits with CMD's exit status (128+N
 * for signal N). Built static: the guest needs no library for it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int exit_status_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 6 || strcmp(argv[4], "--") != 0) {
		fprintf(stderr, "usage: notify-watchdog SOCKET USEC LOG -- CMD [ARGS...]\n");
		return 64;
	}
	const char *path = argv[1];
	const long long usec = atoll(argv[2]);
	FILE *log = fopen(argv[3], "a");
	if (usec <= 0 || !log) {
		fprintf(stderr, "notify-watchdog: bad USEC or cannot open %s\n", argv[3]);
		return 64;
	}
	setvbuf(log, NULL, _IOLBF, 0);

	struct sockaddr_un address = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof address.sun_path) {
		fprintf(stderr, "notify-watchdog: socket path too long\n");
		return 64;
	}
	strcpy(address.sun_path, path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0) {
		fprintf(stderr, "notify-watchdog: cannot bind %s: %s\n", path, strerror(errno));
		return 70;
	}

	const long long started = now_ms();
	pid_t child = fork();
	if (child < 0) {
		perror("notify-watchdog: fork");
		return 70;
	}
	if (child == 0) {
		char text[32];
		setenv("NOTIFY_SOCKET", path, 1);
		setenv("WATCHDOG_USEC", argv[2], 1);
		snprintf(text, sizeof text, "%d", (int)getpid());
		setenv("WATCHDOG_PID", text, 1);
		execv(argv[5], argv + 5);
		perror("notify-watchdog: exec");
		_exit(127);
	}

	long long last_ping = started;
	for (;;) {
		int status = 0;
		pid_t done = waitpid(child, &status, WNOHANG);
		if (done == child) {
			fprintf(log, "%lld exited %d\n", now_ms() - started, exit_status_of(status));
			return exit_status_of(status);
		}
		long long left = last_ping + usec / 1000 - now_ms();
		if (left <= 0) {
			fprintf(log, "%lld WATCHDOG TIMEOUT (no WATCHDOG=1 for %lld ms)\n", now_ms() - started,
				now_ms() - last_ping);
			kill(child, SIGABRT);
			waitpid(child, &status, 0);
			return 99;
		}
		struct pollfd poll_fd = {.fd = fd, .events = POLLIN};
		int ready = poll(&poll_fd, 1, left > 100 ? 100 : (int)left);  /* 100 ms: also reap in time */
		if (ready <= 0)
			continue;
		char message[4096];
		ssize_t got = recv(fd, message, sizeof message - 1, 0);
		if (got <= 0)
			continue;
		message[got] = '\0';
		for (ssize_t i = 0; i < got; ++i) {
			if (message[i] == '\n')
				message[i] = '|';
		}
		fprintf(log, "%lld %s\n", now_ms() - started, message);
		if (strstr(message, "WATCHDOG=1"))
			last_ping = now_ms();
	}
}
