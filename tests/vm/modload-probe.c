/*
 * modload-probe: try to load a kernel module, the two ways the kernel offers, inside the test
 * guest. It stands in for a keying daemon that was taken over by an attacker.
 *
 *   modload-probe [--stay] MODULE.ko NAME REPORT
 *
 * It calls finit_module() on MODULE.ko, then init_module() on its contents, and appends one
 * line per call to REPORT: "finit_module ok" or "finit_module EPERM (errno 1)", the same for
 * init_module. A module it loaded is unloaded again (delete_module(NAME)) before the next
 * call. Then a line "CapBnd: ..." (its bounding set, from /proc/self/status) and "done". With
 * --stay it then waits until SIGTERM (exit 0), as a daemon would; else it exits 0.
 * Built static: the guest needs no library for it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void report(FILE *out, const char *call, int result, int error, const char *name)
{
	if (result == 0) {
		fprintf(out, "%s ok\n", call);
		if (syscall(SYS_delete_module, name, O_NONBLOCK) != 0)
			fprintf(out, "delete_module %s failed: %s\n", name, strerror(errno));
		return;
	}
	fprintf(out, "%s %s (errno %d)\n", call, strerrorname_np(error) ? strerrorname_np(error) : "?", error);
}

int main(int argc, char **argv)
{
	int stay = 0;
	if (argc > 1 && strcmp(argv[1], "--stay") == 0) {
		stay = 1;
		argv++;
		argc--;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (argc != 4) {
		fprintf(stderr, "usage: modload-probe [--stay] MODULE.ko NAME REPORT\n");
		return 64;
	}
	const char *path = argv[1], *name = argv[2];
	FILE *out = fopen(argv[3], "a");
	if (!out) {
		fprintf(stderr, "modload-probe: %s: %s\n", argv[3], strerror(errno));
		return 66;
	}
	setvbuf(out, NULL, _IOLBF, 0);

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(out, "open %s: %s\n", path, strerror(errno));
		return 66;
	}
	long result = syscall(SYS_finit_module, fd, "", 0);
	report(out, "finit_module", (int)result, errno, name);

	struct stat info;
	if (fstat(fd, &info) != 0 || info.st_size <= 0) {
		fprintf(out, "stat %s: %s\n", path, strerror(errno));
		return 66;
	}
	char *image = malloc((size_t)info.st_size);
	if (!image || pread(fd, image, (size_t)info.st_size, 0) != info.st_size) {
		fprintf(out, "reading %s failed\n", path);
		return 66;
	}
	close(fd);
	result = syscall(SYS_init_module, image, (unsigned long)info.st_size, "");
	report(out, "init_module", (int)result, errno, name);
	free(image);

	FILE *status = fopen("/proc/self/status", "r");
	char line[256];
	while (status && fgets(line, sizeof line, status))
		if (strncmp(line, "CapBnd:", 7) == 0)
			fputs(line, out);
	if (status)
		fclose(status);
	fprintf(out, "done\n");
	fclose(out);
	printf("modload-probe: done, see %s\n", argv[3]);
	fflush(stdout);

	if (!stay)
		return 0;
	while (!stop)
		pause();
	return 0;
}
