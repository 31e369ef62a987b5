/* dbtest.h - helpers shared by the storage and raft unit tests that compare database files and
 * replicas: a whole-file copy and a store job summarising an account database (a hash over its
 * messages, bodies and folders, the message count and PRAGMA integrity_check). Header-only
 * (static functions). */
#ifndef MR_TEST_DBTEST_H
#define MR_TEST_DBTEST_H
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <unistd.h>
#include "common/util.h"
#include "storage/store.h"
#include "unit.h"

/* Copy src to dst (created 0600, truncated). 0, or -1 when src cannot be opened. */
static inline int copy_file(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY);
	if (in < 0)
		return -1;
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ASSERT(out >= 0);
	char buf[65536];
	ssize_t k;
	while ((k = read(in, buf, sizeof buf)) > 0)
		ASSERT_EQ_INT(write(out, buf, (size_t)k), k);
	close(in);
	close(out);
	return 0;
}

struct summary {
	uint8_t hash[32];
	long msgs;
	char integrity[32];
};

/* Store job: summarise the database into arg (a struct summary). */
static inline int job_summary(struct store_db *db, void *arg)
{
	struct summary *m = arg;
	sqlite3 *sql = store_db_sql(db);
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, sizeof m->hash);
	const char *qs[] = {"SELECT id, folder, uid, modseq, flags FROM messages ORDER BY id",
	                    "SELECT id, raw FROM bodies ORDER BY id",
	                    "SELECT * FROM folders ORDER BY id", "PRAGMA integrity_check"};
	m->msgs = 0;
	for (size_t q = 0; q < MR_ARRAY_LEN(qs); q++) {
		sqlite3_stmt *s = NULL;
		ASSERT_EQ_INT(sqlite3_prepare_v2(sql, qs[q], -1, &s, NULL), SQLITE_OK);
		while (sqlite3_step(s) == SQLITE_ROW) {
			if (q == 0)
				m->msgs++;
			if (q == 3)
				snprintf(m->integrity, sizeof m->integrity, "%s",
				         sqlite3_column_text(s, 0));
			for (int c = 0; c < sqlite3_column_count(s); c++)
				crypto_generichash_update(&h, sqlite3_column_blob(s, c),
				                          (size_t)sqlite3_column_bytes(s, c));
		}
		sqlite3_finalize(s);
	}
	crypto_generichash_final(&h, m->hash, sizeof m->hash);
	return 0;
}

#endif
