/* storage_helpers.h - shared helpers for the storage unit tests: open a store in the test's temp
 * dir without a loop and with the fastest password cost, and run a job synchronously. */
#ifndef MR_TEST_STORAGE_HELPERS_H
#define MR_TEST_STORAGE_HELPERS_H
#include "unit.h"
#include "storage/store.h"
#include "common/err.h"
#include <stdio.h>

static inline char *th_datadir(void)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/data", unit_tmpdir());
	return path;
}

static inline struct store *th_open_loop(uv_loop_t *loop)
{
	struct store_config cfg = {
	    .data_dir = th_datadir(),
	    .actors = 2,
	    .pwcost = STORE_PWCOST_MIN,
	    .loop = loop,
	};
	char err[256];
	struct store *st = NULL;
	int rv = store_open(&cfg, &st, err, sizeof err);
	if (rv != 0)
		unit_fail(__FILE__, __LINE__, "store_open: %s (%s)", err, mr_strerror(rv));
	return st;
}

static inline struct store *th_open(void)
{
	return th_open_loop(NULL);
}

#endif
