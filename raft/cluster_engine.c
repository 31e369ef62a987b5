/* cluster_engine.c - the replication engine of cluster_engine.h: the store's replicator
 * (propose a captured transaction or a database creation as one raft entry, locally on the
 * leader or forwarded to it), the state machine's hooks (claim: hand the pages to the store,
 * which promotes its own pending frames or writes foreign pages; applied: note created/deleted
 * databases, end the proposer's wait on a rejection), and the table of outstanding proposals
 * keyed by client token. */
#include "raft/cluster_engine.h"

#include <dirent.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "raft/cluster_entry.h"
#include "raft/cluster_fsm.h"
#include "storage/repl.h"
#include "storage/store.h"

#define ENGINE_COMP "engine"
#define ENGINE_SLOW_APPLY_MS 250

struct pending {
	struct pending *next;
	uint64_t token;
	struct store_ticket *t;
};

struct cl_engine {
	struct store *store;
	char *data_dir;
	struct cl_fsm *fsm;
	cl_engine_forward_fn forward;
	void *forward_ud;
	struct store_replicator repl;
	pthread_mutex_t mu; /* node, pend, st */
	struct cl_node *node;
	struct pending *pend;
	struct cl_engine_stats st;
	/* raft thread only: the last frame set claimed (tells FRAMES from CREATE/DELETE in the
	 * applied callback) */
	uint64_t claimed_index;
	char claimed_db[CL_DBNAME_MAX];
};

struct apply_ctx {
	struct cl_engine *e;
	uint64_t token;
};

/* ---- outstanding proposals ----------------------------------------------------------------- */

static void pend_add(struct cl_engine *e, uint64_t token, struct store_ticket *t)
{
	struct pending *p = xmalloc(sizeof *p);
	p->token = token;
	p->t = t;
	pthread_mutex_lock(&e->mu);
	p->next = e->pend;
	e->pend = p;
	pthread_mutex_unlock(&e->mu);
}

static struct pending *pend_take(struct cl_engine *e, uint64_t token)
{
	pthread_mutex_lock(&e->mu);
	struct pending **pp = &e->pend, *p = NULL;
	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->token == token) {
			p = *pp;
			*pp = p->next;
			break;
		}
	}
	pthread_mutex_unlock(&e->mu);
	return p;
}

/* End a proposal: rv 0 just releases the ticket (the store learned the outcome itself). */
static void finish(struct cl_engine *e, uint64_t token, int rv)
{
	struct pending *p = pend_take(e, token);
	if (!p)
		return;
	pthread_mutex_lock(&e->mu);
	if (rv == STORE_ECONFLICT)
		e->st.conflicts++;
	else if (rv == STORE_EUNKNOWN)
		e->st.unknown++;
	pthread_mutex_unlock(&e->mu);
	store_ticket_done(p->t, rv);
	free(p);
}

/* ---- proposing ----------------------------------------------------------------------------- */

static void on_applied_status(void *ud, int status, void *result)
{
	(void)result;
	struct apply_ctx *c = ud;
	switch (status) {
	case 0:
		break; /* committed: the proposer's own state machine reports the outcome */
	case MR_ENOTLEADER:
	case MR_ECLOSED:
		finish(c->e, c->token, STORE_ECONFLICT); /* never submitted: re-run */
		break;
	case CL_EUNKNOWN:
		finish(c->e, c->token, STORE_EUNKNOWN);
		break;
	default:
		finish(c->e, c->token, status < 0 ? status : MR_EIO);
		break;
	}
	free(c);
}

int cl_engine_submit(struct cl_engine *e, const void *buf, size_t len, cl_apply_cb cb, void *ud)
{
	pthread_mutex_lock(&e->mu);
	int rv = e->node ? cl_node_apply(e->node, buf, len, cb, ud) : MR_ECLOSED;
	pthread_mutex_unlock(&e->mu);
	return rv;
}

/* Send an encoded entry to the leader. 0: the token's proposal will be finished by the status
 * callback or the state machine; else nothing was sent. */
static int send_entry(struct cl_engine *e, struct raft_buffer *buf, uint64_t token)
{
	pthread_mutex_lock(&e->mu);
	struct cl_node *node = e->node;
	struct cl_status s;
	int rv = node ? cl_node_status(node, &s) : MR_ECLOSED;
	pthread_mutex_unlock(&e->mu);
	if (rv != 0)
		return rv;
	struct apply_ctx *c = xmalloc(sizeof *c);
	c->e = e;
	c->token = token;
	if (s.state == CL_LEADER) {
		rv = cl_engine_submit(e, buf->base, buf->len, on_applied_status, c);
	} else if (s.leader_id != 0 && e->forward) {
		rv = e->forward(e->forward_ud, s.leader_id, s.leader_address, buf->base, buf->len,
		                on_applied_status, c);
		if (rv == 0) {
			pthread_mutex_lock(&e->mu);
			e->st.forwarded++;
			pthread_mutex_unlock(&e->mu);
		}
	} else {
		rv = STORE_ECONFLICT; /* no leader known yet: nothing sent, re-run later */
	}
	if (rv != 0) {
		free(c);
		if (rv == MR_ENOTLEADER || rv == MR_ECLOSED)
			rv = STORE_ECONFLICT;
	}
	return rv;
}

static int propose_entry(struct cl_engine *e, const struct cl_entry *ent, struct store_ticket *t)
{
	struct raft_buffer buf;
	int rv = cl_entry_encode(ent, &buf);
	if (rv != 0)
		return rv;
	pend_add(e, ent->token, t);
	rv = send_entry(e, &buf, ent->token);
	raft_free(buf.base);
	if (rv != 0) {
		struct pending *p = pend_take(e, ent->token);
		free(p); /* the ticket stays the store's (propose failed) */
		return rv;
	}
	pthread_mutex_lock(&e->mu);
	e->st.proposed++;
	pthread_mutex_unlock(&e->mu);
	return 0;
}

static int eng_propose(void *ud, const char *db, uint64_t base, const struct repl_tx *tx,
                       uint64_t token, struct store_ticket *t)
{
	struct cl_engine *e = ud;
	if (tx->page_size != CL_PAGE_SIZE || tx->n == 0 || tx->n > CL_ENTRY_MAX_PAGES)
		return tx->n > CL_ENTRY_MAX_PAGES ? MR_ETOOBIG : MR_EINVAL;
	struct cl_entry ent = {.type = CL_ENTRY_FRAMES, .token = token, .n_sets = 1};
	struct cl_frames *s = &ent.sets[0];
	snprintf(s->db, sizeof s->db, "%s", db);
	s->db_size = tx->db_size;
	s->n = (uint32_t)tx->n;
	s->pgno = tx->pgno;
	const uint8_t **pv = xcalloc(tx->n, sizeof *pv);
	for (size_t i = 0; i < tx->n; i++)
		pv[i] = tx->pages + i * tx->page_size;
	s->pages = pv;
	s->has_base = true;
	s->base_index = base;
	int rv = propose_entry(e, &ent, t);
	free(pv);
	return rv;
}

static int eng_create(void *ud, const char *db, const uint8_t *key, size_t key_len,
                      uint32_t page_size, uint32_t db_size, const uint8_t *pages, uint64_t token,
                      struct store_ticket *t)
{
	struct cl_engine *e = ud;
	if (page_size != CL_PAGE_SIZE || db_size == 0 || db_size > CL_ENTRY_MAX_PAGES)
		return MR_EINVAL;
	struct cl_entry ent = {.type = CL_ENTRY_CREATE_DB, .token = token, .n_sets = 1};
	struct cl_frames *s = &ent.sets[0];
	snprintf(s->db, sizeof s->db, "%s", db);
	s->db_size = db_size;
	s->n = db_size;
	uint32_t *pgno = xcalloc(db_size, sizeof *pgno);
	const uint8_t **pv = xcalloc(db_size, sizeof *pv);
	for (uint32_t i = 0; i < db_size; i++) {
		pgno[i] = i + 1;
		pv[i] = pages + (size_t)i * page_size;
	}
	s->pgno = pgno;
	s->pages = pv;
	s->key_file = key;
	s->key_file_len = key_len;
	int rv = propose_entry(e, &ent, t);
	free(pgno);
	free(pv);
	return rv;
}

static int eng_drop(void *ud, const char *db, uint64_t token, struct store_ticket *t)
{
	struct cl_entry ent = {.type = CL_ENTRY_DELETE_DB, .token = token, .n_sets = 1};
	snprintf(ent.sets[0].db, sizeof ent.sets[0].db, "%s", db);
	return propose_entry(ud, &ent, t);
}

/* ---- state machine hooks (raft thread) ----------------------------------------------------- */

static int eng_claim(void *arg, const struct cl_frames *set, uint64_t index, uint64_t token)
{
	struct cl_engine *e = arg;
	uint64_t t0 = mr_now_ms();
	int rv = store_repl_apply(e->store, set->db, index, token, CL_PAGE_SIZE, set->db_size,
	                          set->n, set->pgno, set->pages);
	uint64_t took = mr_now_ms() - t0;
	if (took >= ENGINE_SLOW_APPLY_MS) /* the raft thread sends no heartbeat meanwhile */
		log_warn(ENGINE_COMP, "slow apply db=%s index=%llu ms=%llu (its actor was busy)",
		         set->db, (unsigned long long)index, (unsigned long long)took);
	if (rv == MR_ENOTFOUND)
		return 0; /* no local file (awaiting a fetch): the state machine writes it */
	if (rv != 0) {
		log_error(ENGINE_COMP, "apply failed db=%s index=%llu err=%s", set->db,
		          (unsigned long long)index, mr_strerror(rv));
		return MR_EIO;
	}
	e->claimed_index = index;
	snprintf(e->claimed_db, sizeof e->claimed_db, "%s", set->db);
	pthread_mutex_lock(&e->mu);
	e->st.promoted_or_applied++;
	pthread_mutex_unlock(&e->mu);
	return 1;
}

static void eng_applied(void *arg, const char *db, uint64_t index, uint64_t token,
                        enum cl_apply_result res)
{
	struct cl_engine *e = arg;
	if (!db)
		return;
	if (res == CL_APPLY_OK && !(e->claimed_index == index && strcmp(e->claimed_db, db) == 0)) {
		/* CREATE_DB / DELETE_DB (or pages the state machine wrote itself): the store
		 * reopens the database lazily and records the index. A database waiting for a
		 * fetch has a stale file: the store must refuse to commit on it instead (a
		 * transaction built on it with the right base index would be accepted). */
		if (cl_fsm_db_needs_fetch(e->fsm, db))
			(void)store_repl_hold(e->store, db, true);
		else
			(void)store_repl_note(e->store, db, index, token, !store_exists(e->store, db));
	}
	if (token == 0)
		return;
	if (res == CL_APPLY_REJECTED)
		finish(e, token, STORE_ECONFLICT);
	else if (res == CL_APPLY_OK || res == CL_APPLY_DUPLICATE)
		finish(e, token, 0);
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

/* Call fn(e, name, arg) for every <data_dir>/db/<name>.db with a valid database name. */
static void each_local_db(struct cl_engine *e, void (*fn)(struct cl_engine *, const char *, void *),
                          void *arg)
{
	char *path = xasprintf("%s/db", e->data_dir);
	DIR *d = opendir(path);
	free(path);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len < 4 || len - 3 >= CL_DBNAME_MAX || strcmp(de->d_name + len - 3, ".db") != 0)
			continue;
		char name[CL_DBNAME_MAX];
		memcpy(name, de->d_name, len - 3);
		name[len - 3] = '\0';
		if (cl_dbname_valid(name, len - 3))
			fn(e, name, arg);
	}
	closedir(d);
}

/* Tell the store the applied index of every database the state machine knows (after a restart
 * the store's record is empty; the log replay after the durable point then moves it on). */
static void seed_one(struct cl_engine *e, const char *name, void *arg)
{
	(void)arg;
	uint64_t ix;
	if (cl_fsm_db_index(e->fsm, name, &ix) == 0)
		store_repl_set_index(e->store, name, ix);
}

struct unknown_list {
	char (*names)[CL_DBNAME_MAX];
	size_t max, n;
};

static void unknown_one(struct cl_engine *e, const char *name, void *arg)
{
	struct unknown_list *u = arg;
	uint64_t ix;
	if (cl_fsm_db_index(e->fsm, name, &ix) == 0)
		return;
	if (u->n < u->max)
		snprintf(u->names[u->n], CL_DBNAME_MAX, "%s", name);
	u->n++;
}

size_t cl_engine_unknown_dbs(struct cl_engine *e, char (*names)[CL_DBNAME_MAX], size_t max)
{
	struct unknown_list u = {names, max, 0};
	each_local_db(e, unknown_one, &u);
	return u.n;
}

struct adopt_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int status;
	enum cl_apply_result result;
};

static void adopt_cb(void *ud, int status, void *result)
{
	struct adopt_wait *w = ud;
	pthread_mutex_lock(&w->mu);
	w->status = status;
	w->result = status == 0 && result ? ((struct cl_fsm_result *)result)->result
	                                  : CL_APPLY_REJECTED;
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int cl_engine_adopt(struct cl_engine *e, const char *name)
{
	char *kp = xasprintf("%s/db/%s.key", e->data_dir, name);
	char *dp = xasprintf("%s/db/%s.db", e->data_dir, name);
	char *wp = xasprintf("%s/db/%s.db-wal", e->data_dir, name);
	uint8_t *key = NULL, *pages = NULL;
	size_t key_len = 0, len = 0;
	struct stat sb;
	int rv = stat(wp, &sb) == 0 && sb.st_size > 0 ? MR_EBUSY : 0;
	if (rv == 0)
		rv = mr_read_file(kp, 65536, &key, &key_len);
	if (rv == 0)
		rv = mr_read_file(dp, (size_t)CL_ENTRY_MAX_PAGES * CL_PAGE_SIZE, &pages, &len);
	free(kp);
	free(dp);
	free(wp);
	if (rv == 0 && (len == 0 || len % CL_PAGE_SIZE != 0))
		rv = MR_ECORRUPT;
	struct raft_buffer buf = {0};
	if (rv == 0) {
		uint32_t n = (uint32_t)(len / CL_PAGE_SIZE);
		uint32_t *pgno = xcalloc(n, sizeof *pgno);
		const uint8_t **pv = xcalloc(n, sizeof *pv);
		for (uint32_t i = 0; i < n; i++) {
			pgno[i] = i + 1;
			pv[i] = pages + (size_t)i * CL_PAGE_SIZE;
		}
		struct cl_entry ent = {.type = CL_ENTRY_CREATE_DB, .n_sets = 1};
		randombytes_buf(&ent.token, sizeof ent.token);
		struct cl_frames *fs = &ent.sets[0];
		snprintf(fs->db, sizeof fs->db, "%s", name);
		fs->db_size = n;
		fs->n = n;
		fs->pgno = pgno;
		fs->pages = pv;
		fs->key_file = key;
		fs->key_file_len = key_len;
		rv = cl_entry_encode(&ent, &buf);
		free(pgno);
		free(pv);
	}
	if (key)
		sodium_memzero(key, key_len);
	free(key);
	free(pages);
	if (rv != 0)
		return rv;
	struct adopt_wait w = {.done = false};
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	rv = cl_engine_submit(e, buf.base, buf.len, adopt_cb, &w);
	raft_free(buf.base);
	if (rv == 0) {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		rv = w.status != 0 ? w.status : w.result == CL_APPLY_OK ? 0 : MR_EEXIST;
	}
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	if (rv == 0)
		log_info(ENGINE_COMP, "adopted db=%s pages=%zu", name, len / CL_PAGE_SIZE);
	return rv;
}

struct cl_fsm *cl_engine_fsm_handle(struct cl_engine *e)
{
	return e->fsm;
}

int cl_engine_open(const struct cl_engine_config *cfg, struct cl_engine **e_r)
{
	if (!cfg->store || !cfg->data_dir)
		return MR_EINVAL;
	struct cl_engine *e = xmalloc(sizeof *e);
	e->store = cfg->store;
	e->data_dir = xstrdup(cfg->data_dir);
	e->forward = cfg->forward;
	e->forward_ud = cfg->forward_ud;
	pthread_mutex_init(&e->mu, NULL);
	struct cl_fsm_config fc = {
	    .data_dir = cfg->data_dir,
	    .sync_every = cfg->sync_every,
	    .applied_cb = eng_applied,
	    .claim_cb = eng_claim,
	    .cb_arg = e,
	};
	int rv = cl_fsm_open(&fc, &e->fsm);
	if (rv != 0) {
		pthread_mutex_destroy(&e->mu);
		free(e->data_dir);
		free(e);
		return rv;
	}
	e->repl.propose = eng_propose;
	e->repl.create = eng_create;
	e->repl.drop = eng_drop;
	each_local_db(e, seed_one, NULL);
	store_set_replicator(e->store, &e->repl, e);
	*e_r = e;
	return 0;
}

struct raft_fsm *cl_engine_fsm(struct cl_engine *e)
{
	return cl_fsm_raft_fsm(e->fsm);
}

void cl_engine_attach(struct raft *r, void *engine)
{
	struct cl_engine *e = engine;
	cl_fsm_attach(e->fsm, r);
}

void cl_engine_set_node(struct cl_engine *e, struct cl_node *node)
{
	pthread_mutex_lock(&e->mu);
	e->node = node;
	pthread_mutex_unlock(&e->mu);
}

void cl_engine_get_stats(struct cl_engine *e, struct cl_engine_stats *st_r)
{
	pthread_mutex_lock(&e->mu);
	*st_r = e->st;
	pthread_mutex_unlock(&e->mu);
}

void cl_engine_close(struct cl_engine **ep)
{
	struct cl_engine *e = *ep;
	if (!e)
		return;
	pthread_mutex_lock(&e->mu);
	struct pending *p = e->pend;
	e->pend = NULL;
	e->node = NULL;
	pthread_mutex_unlock(&e->mu);
	while (p) {
		struct pending *next = p->next;
		store_ticket_done(p->t, MR_ECLOSED);
		free(p);
		p = next;
	}
	store_set_replicator(e->store, NULL, NULL);
	cl_fsm_close(&e->fsm);
	pthread_mutex_destroy(&e->mu);
	free(e->data_dir);
	free(e);
	*ep = NULL;
}
