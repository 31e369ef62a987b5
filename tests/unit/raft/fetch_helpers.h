/* fetch_helpers.h - shared by the database fetch tests (test_cluster_fetch*.c): two data
 * directories S (serving) and C (catching up) with their stores and state machines, file
 * helpers, jobs that append messages to a real account database and summarise it (row hash,
 * message count, integrity_check), and waits. Header-only (static functions). */
#ifndef MR_TEST_FETCH_HELPERS_H
#define MR_TEST_FETCH_HELPERS_H
#include <fcntl.h>
#include <stdlib.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <raft.h>
#include <raft/uv.h>
#include <signal.h>

#include "common/err.h"
#include "common/log.h"
#include "dbtest.h"
#include "common/util.h"
#include "raft/cluster_entry.h"
#include "raft/cluster_fetch.h"
#include "raft/cluster_fetch_int.h"
#include "raft/cluster_fsm.h"
#include "raft/cluster_node.h"
#include "raft/cluster_rpc.h"
#include "storage/store.h"
#include "cluster_net_helpers.h"
#include "unit.h"

#define ACCT "a00000000000000c5"

__attribute__((constructor)) static void quiet_logs(void)
{
	if (!getenv("MR_TEST_VERBOSE"))
		log_set_level(LOG_ERROR);
}

struct side {
	char dir[512];
	struct store *st;
	struct cl_fsm *fsm;
};

static struct side S, C;

static inline void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static inline uint8_t *slurp(const char *path, size_t *len_r)
{
	int fd = open(path, O_RDONLY);
	ASSERT(fd >= 0);
	struct stat sb;
	ASSERT_OK(fstat(fd, &sb));
	uint8_t *p = xmalloc((size_t)sb.st_size + 1);
	ASSERT_EQ_INT(read(fd, p, (size_t)sb.st_size), sb.st_size);
	close(fd);
	*len_r = (size_t)sb.st_size;
	return p;
}

static inline char *dbfile(const struct side *s, const char *ext)
{
	static char p[4][700];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/db/%s%s", s->dir, ACCT, ext);
	return p[k];
}

static inline struct store *open_store(const char *dir)
{
	struct store_config cfg = {.data_dir = dir, .actors = 2, .pwcost = STORE_PWCOST_MIN};
	char err[256];
	struct store *st = NULL;
	int rv = store_open(&cfg, &st, err, sizeof err);
	if (rv != 0)
		unit_fail(__FILE__, __LINE__, "store_open: %s (%s)", err, mr_strerror(rv));
	return st;
}

static inline void open_fsm(struct side *s)
{
	struct cl_fsm_config fc = {.data_dir = s->dir};
	ASSERT_OK(cl_fsm_open(&fc, &s->fsm));
}

/* ---- store jobs ---------------------------------------------------------------------------- */

static inline int job_append(struct store_db *db, void *arg)
{
	int rv = store_tx_begin(db);
	if (rv != 0)
		return rv;
	uint32_t uid;
	rv = mbox_append(db, "INBOX", "", 1700000000, (const uint8_t *)arg, strlen(arg), NULL, NULL,
	                 &uid);
	if (rv != 0) {
		store_tx_rollback(db);
		return rv;
	}
	return store_tx_commit(db);
}

static inline void append_n(struct store *st, int flags, unsigned from, unsigned n)
{
	for (unsigned i = from; i < from + n; i++) {
		char body[200];
		snprintf(body, sizeof body, "message %u %0*u", i, 150, i);
		ASSERT_OK(store_run(st, ACCT, flags, job_append, body));
		flags = 0;
	}
}

static inline void summary_of(struct store *st, struct summary *m)
{
	ASSERT_OK(store_run(st, ACCT, 0, job_summary, m));
	ASSERT_EQ_STR(m->integrity, "ok");
}

static inline bool needs_fetch(struct cl_fsm *fsm)
{
	char names[4][CL_DBNAME_MAX];
	size_t n = cl_fsm_needs_fetch(fsm, names, 4);
	return n == 1 && strcmp(names[0], ACCT) == 0;
}

static inline void wait_fetched(struct cl_fetch *f, unsigned ms)
{
	struct cl_fetch_stats st;
	uint64_t end = mr_now_ms() + ms;
	do {
		sleep_ms(20);
		cl_fetch_get_stats(f, &st);
	} while (st.fetched == 0 && mr_now_ms() < end);
	ASSERT_EQ_INT(st.fetched, 1);
}

static inline void teardown(void)
{
	cl_fsm_close(&S.fsm);
	cl_fsm_close(&C.fsm);
	store_close(&S.st);
	store_close(&C.st);
}

#endif
