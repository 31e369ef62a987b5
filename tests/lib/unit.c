/* unit.c - fork-per-test runner for unit.h. */
#define _GNU_SOURCE
#include "unit.h"
#include <stdarg.h>
#include <signal.h>
#include <unistd.h>
#include <ftw.h>
#include <sys/wait.h>

#define UNIT_TIMEOUT_S 60

static char tmpdir[256];

void unit_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "  %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void cleanup(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

const char *unit_tmpdir(void)
{
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof tmpdir, "/tmp/mrunit.XXXXXX");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(1);
		}
		atexit(cleanup);
	}
	return tmpdir;
}

int unit_run(const struct unit_test *tests, int argc, char **argv)
{
	const char *filter = NULL;
	int passed = 0, failed = 0;
	if (argc == 3 && strcmp(argv[1], "-t") == 0)
		filter = argv[2];
	for (const struct unit_test *t = tests; t->name; t++) {
		if (filter && !strstr(t->name, filter))
			continue;
		fflush(stdout);
		fflush(stderr);
		pid_t pid = fork();
		if (pid == 0) {
			alarm(UNIT_TIMEOUT_S);
			t->fn();
			exit(0);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			printf("ok   %s\n", t->name);
			passed++;
		} else {
			printf("FAIL %s (%s %d)\n", t->name, WIFSIGNALED(st) ? "signal" : "exit",
			       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			failed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
