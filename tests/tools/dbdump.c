/* dbdump.c - offline canonical dump of a stopped node's encrypted databases, for the cluster
 * tests (tests/integration/test_cluster.py compare replicas with it). Opens DATA_DIR with its
 * master key through the real store (store_open + store_run, so the keys are unwrapped exactly
 * as the daemon does), and for every database under DATA_DIR/db/ in name order prints one
 * summary line "db NAME integrity=RESULT rows=N hash=HEX" (BLAKE2b-256 over the schema and
 * every row of every table in rowid order) followed, unless -s is given, by one line per row
 * "row NAME TABLE v1|v2|..." (text escaped, blobs as x:LEN:BLAKE2b-128 hex). Two replicas
 * hold the same logical content exactly when their outputs are identical. Exit status 0 when
 * every database opened and every integrity_check said "ok", 1 otherwise, 2 on usage errors.
 * usage: dbdump [-s] [-k MASTER_KEY_FILE] DATA_DIR */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "common/log.h"
#include "storage/store.h"

#define MAX_DBS 4096

struct dump_ctx {
	bool rows_out;    /* print every row */
	const char *name; /* database being dumped */
	crypto_generichash_state h;
	long rows;
	char integrity[128];
	int failed; /* a statement failed */
};

/* Print a text value with '|', '\\' and non-printable bytes escaped (one line per row). */
static void put_text(const unsigned char *p, int n)
{
	for (int i = 0; i < n; i++) {
		unsigned c = p[i];
		if (c == '|' || c == '\\' || c < 0x20 || c >= 0x7f)
			printf("\\x%02x", c);
		else
			putchar((int)c);
	}
}

static void put_value(sqlite3_stmt *s, int c)
{
	int t = sqlite3_column_type(s, c);
	switch (t) {
	case SQLITE_NULL:
		fputs("NULL", stdout);
		break;
	case SQLITE_INTEGER:
		printf("%lld", (long long)sqlite3_column_int64(s, c));
		break;
	case SQLITE_FLOAT:
		printf("%.17g", sqlite3_column_double(s, c));
		break;
	case SQLITE_TEXT:
		putchar('\'');
		put_text(sqlite3_column_text(s, c), sqlite3_column_bytes(s, c));
		putchar('\'');
		break;
	default: {
		const void *p = sqlite3_column_blob(s, c);
		int n = sqlite3_column_bytes(s, c);
		uint8_t hh[16];
		crypto_generichash(hh, sizeof hh, p, p ? (size_t)n : 0, NULL, 0);
		char hex[2 * sizeof hh + 1];
		sodium_bin2hex(hex, sizeof hex, hh, sizeof hh);
		printf("x:%d:%s", n, hex);
	}
	}
}

/* Hash (and print) every row of query q; label names the table in row lines. */
static void dump_rows(sqlite3 *sql, struct dump_ctx *d, const char *label, const char *q)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(sql, q, -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "dbdump: %s: %s: %s\n", d->name, q, sqlite3_errmsg(sql));
		d->failed = 1;
		return;
	}
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		d->rows++;
		if (d->rows_out)
			printf("row %s %s ", d->name, label);
		for (int c = 0; c < sqlite3_column_count(s); c++) {
			int t = sqlite3_column_type(s, c);
			const void *p = sqlite3_column_blob(s, c);
			int n = sqlite3_column_bytes(s, c);
			uint8_t tag[5] = {(uint8_t)t, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
			                  (uint8_t)(n >> 8), (uint8_t)n};
			crypto_generichash_update(&d->h, tag, sizeof tag);
			if (p && n > 0)
				crypto_generichash_update(&d->h, p, (size_t)n);
			if (d->rows_out) {
				if (c)
					putchar('|');
				put_value(s, c);
			}
		}
		if (d->rows_out)
			putchar('\n');
	}
	if (rc != SQLITE_DONE) {
		fprintf(stderr, "dbdump: %s: %s: %s\n", d->name, q, sqlite3_errmsg(sql));
		d->failed = 1;
	}
	sqlite3_finalize(s);
}

/* Job on the database's actor: schema, every table in name order, integrity_check. */
static int job_dump(struct store_db *db, void *arg)
{
	struct dump_ctx *d = arg;
	sqlite3 *sql = store_db_sql(db);
	dump_rows(sql, d, "sqlite_master",
	          "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name");
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(sql,
	                       "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
	                       -1, &s, NULL) != SQLITE_OK)
		return MR_EIO;
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s, 0);
		char q[300];
		if (!t || strchr(t, '"') ||
		    (size_t)snprintf(q, sizeof q, "SELECT * FROM \"%s\" ORDER BY rowid", t) >=
		        sizeof q) {
			d->failed = 1;
			continue;
		}
		char label[128];
		snprintf(label, sizeof label, "%s", t);
		dump_rows(sql, d, label, q);
	}
	sqlite3_finalize(s);
	snprintf(d->integrity, sizeof d->integrity, "failed");
	if (sqlite3_prepare_v2(sql, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW) {
			const unsigned char *r = sqlite3_column_text(s, 0);
			snprintf(d->integrity, sizeof d->integrity, "%s",
			         r ? (const char *)r : "NULL");
			for (char *p = d->integrity; *p; p++)
				if (*p == ' ' || *p == '\n')
					*p = '_';
		}
		sqlite3_finalize(s);
	}
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Database names under data_dir/db/ (files NAME.db), sorted; returns the count or -1. */
static int list_dbs(const char *data_dir, char **names, int max)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/db", data_dir);
	DIR *dir = opendir(path);
	if (!dir) {
		perror(path);
		return -1;
	}
	int n = 0;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL && n < max) {
		size_t len = strlen(e->d_name);
		if (len <= 3 || len - 3 >= STORE_DBNAME_MAX ||
		    strcmp(e->d_name + len - 3, ".db") != 0)
			continue;
		names[n] = strndup(e->d_name, len - 3);
		if (names[n])
			n++;
	}
	closedir(dir);
	qsort(names, (size_t)n, sizeof *names, cmp_names);
	return n;
}

int main(int argc, char **argv)
{
	bool rows_out = true;
	const char *mkey = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "sk:")) != -1) {
		if (opt == 's')
			rows_out = false;
		else if (opt == 'k')
			mkey = optarg;
		else
			goto usage;
	}
	if (optind != argc - 1)
		goto usage;
	const char *data_dir = argv[optind];
	log_set_level(LOG_WARN);
	if (sodium_init() < 0)
		return 1;
	char *names[MAX_DBS];
	int n = list_dbs(data_dir, names, MAX_DBS);
	if (n < 0)
		return 1;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store_config cfg = {.data_dir = data_dir,
	                           .master_key_file = mkey,
	                           .actors = 1,
	                           .pwcost = STORE_PWCOST_MIN,
	                           .loop = &loop};
	struct store *st = NULL;
	char err[256] = "";
	int rv = store_open(&cfg, &st, err, sizeof err);
	if (rv != 0) {
		fprintf(stderr, "dbdump: store_open %s: %s (%s)\n", data_dir, err, mr_strerror(rv));
		for (int i = 0; i < n; i++)
			free(names[i]);
		uv_loop_close(&loop);
		return 1;
	}
	int status = 0;
	for (int i = 0; i < n; i++) {
		struct dump_ctx d = {.rows_out = rows_out, .name = names[i]};
		uint8_t hash[32];
		char hex[2 * sizeof hash + 1];
		crypto_generichash_init(&d.h, NULL, 0, sizeof hash);
		rv = store_run(st, names[i], 0, job_dump, &d);
		crypto_generichash_final(&d.h, hash, sizeof hash);
		sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
		if (rv != 0) {
			printf("db %s error=%s\n", names[i], mr_strerror(rv));
			status = 1;
		} else {
			printf("db %s integrity=%s rows=%ld hash=%s%s\n", names[i], d.integrity,
			       d.rows, hex, d.failed ? " incomplete" : "");
			if (strcmp(d.integrity, "ok") != 0 || d.failed)
				status = 1;
		}
		free(names[i]);
	}
	store_close(&st);
	uv_run(&loop, UV_RUN_NOWAIT);
	uv_loop_close(&loop);
	fflush(stdout);
	return status;
usage:
	fprintf(stderr, "usage: %s [-s] [-k MASTER_KEY_FILE] DATA_DIR\n", argv[0]);
	return 2;
}
