/*
 * pfkey-hold: open a PF_KEY v2 socket inside the test guest.
 *
 *   pfkey-hold open   open socket(PF_KEY, SOCK_RAW, PF_KEY_V2) once, print the
 *                     result, exit 0 when it opened, 2 when it failed
 *   pfkey-hold hold   open it, print "pfkey-hold: pid=N holding", keep it open
 *                     until SIGTERM/SIGINT/SIGHUP, then exit 0 (2 if it failed)
 *
 * Opening PF_KEY while no provider is loaded makes the kernel request
 * "net-pf-15", which modprobe resolves to af_key: this is how the tests prove
 * the autoload hazard. A held socket pins the provider's module (af_key or the
 * KLIPS stand-in), so it cannot be unloaded. Built static: the guest needs no
 * library for it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/pfkeyv2.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: pfkey-hold open|hold\n");
	return 1;
}

int main(int argc, char **argv)
{
	int hold;
	int fd;

	if (argc != 2)
		return usage();
	if (strcmp(argv[1], "open") == 0)
		hold = 0;
	else if (strcmp(argv[1], "hold") == 0)
		hold = 1;
	else
		return usage();

	setvbuf(stdout, NULL, _IONBF, 0);

	fd = socket(PF_KEY, SOCK_RAW, PF_KEY_V2);
	if (fd < 0) {
		int e = errno;
		const char *name = strerrorname_np(e);

		printf("pfkey-hold: socket(PF_KEY, SOCK_RAW, PF_KEY_V2) failed: errno=%d %s (%s)\n", e,
		       name ? name : "?", strerror(e));
		return 2;
	}
	printf("pfkey-hold: socket(PF_KEY, SOCK_RAW, PF_KEY_V2) ok: fd=%d\n", fd);
	if (!hold) {
		close(fd);
		return 0;
	}

	/* Block the signals, then wait for them with sigsuspend: no lost wake-up. */
	struct sigaction sa;
	sigset_t block, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	printf("pfkey-hold: pid=%d holding\n", (int)getpid());
	while (!stop)
		sigsuspend(&old);
	close(fd);
	printf("pfkey-hold: pid=%d released\n", (int)getpid());
	return 0;
}
