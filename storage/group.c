/* group.c - group commit. In replicated mode a job's commit holds its actor for a whole raft
 * round trip, so jobs for one busy database (a mailbox receiving a burst of mail) queue behind
 * each other and each pays a round trip of its own. Jobs submitted with STORE_GROUP that are
 * queued for the same database when the actor takes the first of them run in one transaction
 * instead: each job's store_tx_begin/commit/rollback acts on a savepoint (db.c), the group
 * commits once (one raft entry, one token), and every job's result is handed out only after
 * that commit. When the group's commit fails (conflict with another node's entry, unknown
 * outcome after a leader change, entry too big) the jobs run again one by one through the usual
 * re-run loop, carrying the group's token so that a group entry that did commit after all is
 * recognised (its base index makes the group entry and any re-run exclusive: at most one of
 * them is applied) and no job is applied twice.
 */
#include "store_int.h"
#include "common/err.h"
#include "common/log.h"
#include <string.h>

size_t store__group_take(struct actor *a, const struct job *first, struct job **more, size_t cap)
{
	size_t n = 0;
	struct job *prev = NULL, *j = a->head;
	while (j && n + 1 < cap) {
		bool same = j->kind != JOB_REPL && strcmp(j->dbname, first->dbname) == 0;
		if (same && !(j->kind == JOB_RUN && (j->flags & STORE_GROUP)))
			break; /* jobs on one database keep their order */
		if (!same || j->flags != first->flags) {
			prev = j;
			j = j->next;
			continue;
		}
		struct job *next = j->next;
		if (prev)
			prev->next = next;
		else
			a->head = next;
		if (a->tail == j)
			a->tail = prev;
		j->next = NULL;
		more[n++] = j;
		j = next;
	}
	return n;
}

/* The group's transaction is still open (a job's SQL error may have rolled it back). */
static bool group_tx_alive(struct store_db *db)
{
	return sqlite3_get_autocommit(store_db_sql(db)) == 0;
}

/* Run every job's function inside one open transaction. rvs[i] gets each job's result. */
static void run_members(struct store_db *db, struct job **jobs, size_t n, int *rvs)
{
	db->grouped = true;
	for (size_t i = 0; i < n; i++) {
		db->in_job = true;
		rvs[i] = jobs[i]->fn(db, jobs[i]->arg);
		store__job_cleanup(db); /* rolls back a savepoint the job left open */
		db->in_job = false;
	}
	db->grouped = false;
}

/* The group could not commit as one: run the jobs one by one. A job whose group entry is
 * known to have committed meanwhile keeps its result from the group run. */
static void run_singly(struct actor *a, struct store_db *db, struct job **jobs, size_t n,
                       const int *rvs, const uint64_t *tokens, unsigned ntokens)
{
	for (size_t i = 0; i < n; i++) {
		int rv;
		memcpy(db->unknown_tokens, tokens, ntokens * sizeof *tokens);
		db->n_unknown = ntokens;
		if (ntokens > 0 && store__repl_unknown_applied(a, db))
			rv = rvs[i];
		else
			rv = store__run_fn(a, jobs[i], db, ntokens > 0);
		store__job_finish(a, jobs[i], rv);
		free(jobs[i]);
	}
}

void store__group_run(struct actor *a, struct job **jobs, size_t n)
{
	struct store_db *db = NULL;
	int rv = store__actor_get_db(a, jobs[0]->dbname, jobs[0]->flags, &db);
	if (rv != 0) {
		for (size_t i = 0; i < n; i++) {
			store__job_finish(a, jobs[i], rv);
			free(jobs[i]);
		}
		return;
	}
	int rvs[STORE_GROUP_MAX];
	db->n_unknown = 0;
	db->in_job = true;
	rv = store_tx_begin(db);
	db->in_job = false;
	if (rv == 0) {
		db->in_tx = false; /* the jobs' own transactions are savepoints of this one */
		run_members(db, jobs, n, rvs);
		db->in_job = true;
		if (!group_tx_alive(db)) {
			rv = MR_EIO; /* re-run singly: each job gets its own outcome */
		} else {
			db->in_tx = true;
			rv = store_tx_commit(db); /* replicate.c: one entry for the group */
		}
		if (group_tx_alive(db)) { /* never leave the group's transaction open */
			db->in_tx = true;
			store_tx_rollback(db);
		}
		store__job_cleanup(db);
		db->in_job = false;
	}
	if (rv == 0) {
		for (size_t i = 0; i < n; i++) {
			store__job_finish(a, jobs[i], rvs[i]);
			free(jobs[i]);
		}
		return;
	}
	if (rv == STORE_EUNKNOWN || rv == STORE_ECONFLICT)
		log_debug(STORE_COMPONENT, "group commit of %zu jobs re-run singly db=%s err=%s", n,
		          db->name, mr_strerror(rv));
	else if (rv != MR_ETOOBIG)
		log_warn(STORE_COMPONENT, "group commit of %zu jobs failed db=%s err=%s; re-run singly",
		         n, db->name, mr_strerror(rv));
	uint64_t tokens[MR_ARRAY_LEN(db->unknown_tokens)];
	unsigned ntokens = db->n_unknown;
	memcpy(tokens, db->unknown_tokens, ntokens * sizeof *tokens);
	run_singly(a, db, jobs, n, rvs, tokens, ntokens);
}
