/* cluster_fetch.c - the database fetch of cluster_fetch.h: the serving side (a table of at most
 * CL_FETCH_MAX_COPIES copies, each an open descriptor of an already unlinked file in
 * <data_dir>/fetch/, made on the raft thread and read chunk by chunk from the RPC threads) and
 * the fetching side (one thread: list the databases needing a fetch on the raft thread, pull
 * each one from a peer into <data_dir>/db/<db>.db.fetch, install it on the raft thread). The
 * local steps are in cluster_fetch_local.c, the wire codec in cluster_fetch_msg.c. */
#include "raft/cluster_fetch_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "raft/cluster_fsm.h"
#include "raft/cluster_node.h"
#include "raft/cluster_rpc.h"
#include "storage/store.h"

#define TMP_SUFFIX ".db.fetch"

struct copy {
	uint64_t id;
	char db[CL_DBNAME_MAX];
	int fd; /* the copy's file, already unlinked */
	struct cl_fetch_copy c;
	uint64_t last_use_ms;
	unsigned refs; /* chunk reads in progress */
};

struct cl_fetch {
	char *data_dir, *fetch_dir, *db_dir;
	struct store *store;
	struct cl_fsm *fsm;
	cl_fetch_call_fn call;
	void *call_ud;
	cl_fetch_post_fn post;
	void *post_ud;
	char **peers;
	size_t n_peers;
	unsigned chunk, ttl_ms, poll_ms;
	pthread_mutex_t mu; /* everything below */
	pthread_cond_t cond;
	struct cl_node *node;
	struct copy *copies[CL_FETCH_MAX_COPIES];
	unsigned creating; /* copies being made on the raft thread */
	bool kicked, stop, started;
	struct cl_fetch_stats st;
	pthread_t thr;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- running work on the raft thread ------------------------------------------------------- */

struct tramp {
	cl_fetch_work_fn fn;
	void *arg;
};

static void tramp_run(struct cl_node *node, void *arg)
{
	(void)node;
	struct tramp t = *(struct tramp *)arg;
	free(arg);
	t.fn(t.arg);
}

static int run_post(struct cl_fetch *f, cl_fetch_work_fn fn, void *arg)
{
	if (f->post)
		return f->post(f->post_ud, fn, arg);
	struct tramp *t = xmalloc(sizeof *t);
	t->fn = fn;
	t->arg = arg;
	pthread_mutex_lock(&f->mu);
	int rv = f->node ? cl_node_post(f->node, tramp_run, t) : MR_ECLOSED;
	pthread_mutex_unlock(&f->mu);
	if (rv != 0)
		free(t);
	return rv;
}

struct sync_work {
	cl_fetch_work_fn fn;
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool done;
};

static void sync_run(void *arg)
{
	struct sync_work *w = arg;
	w->fn(w->arg);
	pthread_mutex_lock(&w->mu);
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

/* Run fn(arg) on the raft thread and wait for it (fetcher thread only). 0 or MR_ECLOSED. */
static int run_wait(struct cl_fetch *f, cl_fetch_work_fn fn, void *arg)
{
	struct sync_work w = {.fn = fn, .arg = arg};
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cond, NULL);
	int rv = run_post(f, sync_run, &w);
	if (rv == 0) {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cond, &w.mu);
		pthread_mutex_unlock(&w.mu);
	}
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cond);
	return rv;
}

/* ---- serving ------------------------------------------------------------------------------- */

static void copy_free(struct copy *c)
{
	if (c->fd >= 0)
		close(c->fd);
	sodium_memzero(c->c.key, sizeof c->c.key);
	free(c);
}

/* Drop copies unused for ttl_ms (all unused ones with all = true). */
static void sweep(struct cl_fetch *f, bool all)
{
	uint64_t now = now_ms();
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < CL_FETCH_MAX_COPIES; i++) {
		struct copy *c = f->copies[i];
		if (c && c->refs == 0 && (all || now - c->last_use_ms >= f->ttl_ms)) {
			f->copies[i] = NULL;
			f->st.copies_open--;
			copy_free(c);
		}
	}
	pthread_mutex_unlock(&f->mu);
}

/* Answer one chunk of a copy (any thread; the copy is pinned by refs meanwhile). */
static void serve_chunk(struct cl_fetch *f, const struct cl_fetch_req *q, cl_fetch_reply_fn reply,
                        void *ud)
{
	struct copy *c = NULL;
	pthread_mutex_lock(&f->mu);
	for (size_t i = 0; i < CL_FETCH_MAX_COPIES && !c; i++)
		if (f->copies[i] && f->copies[i]->id == q->copy_id &&
		    strcmp(f->copies[i]->db, q->db) == 0)
			c = f->copies[i];
	if (c && q->offset <= c->c.size) {
		c->refs++;
		c->last_use_ms = now_ms();
	}
	pthread_mutex_unlock(&f->mu);
	if (!c) {
		reply(ud, MR_ENOTFOUND, NULL, 0); /* expired: the fetcher starts over */
		return;
	}
	if (q->offset > c->c.size) {
		reply(ud, MR_EINVAL, NULL, 0);
		return;
	}
	uint64_t left = c->c.size - q->offset;
	size_t n = left < f->chunk ? (size_t)left : f->chunk;
	uint8_t *data = xmalloc(n ? n : 1);
	int rv = mr_pread_all(c->fd, data, n, q->offset);
	if (rv == 0) {
		struct cl_fetch_rep r = {
		    .copy_id = c->id,
		    .index = c->c.index,
		    .size = c->c.size,
		    .offset = q->offset,
		    .data = data,
		    .data_len = n,
		    .key = q->offset == 0 ? c->c.key : NULL,
		    .key_len = q->offset == 0 ? c->c.key_len : 0,
		};
		size_t len;
		uint8_t *enc = cl_fetch_rep_encode(&r, &len);
		reply(ud, 0, enc, len);
		free(enc);
	} else {
		log_error(CL_FETCH_COMP, "serve: read failed db=%s", c->db);
		reply(ud, MR_EIO, NULL, 0);
	}
	free(data);
	pthread_mutex_lock(&f->mu);
	c->refs--;
	c->last_use_ms = now_ms();
	if (rv == 0)
		f->st.chunks_served++;
	pthread_mutex_unlock(&f->mu);
}

struct new_copy {
	struct cl_fetch *f;
	struct cl_fetch_req q;
	cl_fetch_reply_fn reply;
	void *ud;
};

/* Raft thread: make the copy, register it, answer the first chunk. */
static void make_copy_work(void *arg)
{
	struct new_copy *nc = arg;
	struct cl_fetch *f = nc->f;
	struct copy *c = xcalloc(1, sizeof *c);
	c->fd = -1;
	while (c->id == 0)
		randombytes_buf(&c->id, sizeof c->id);
	snprintf(c->db, sizeof c->db, "%s", nc->q.db);
	char *path = xasprintf("%s/%016llx.db", f->fetch_dir, (unsigned long long)c->id);
	uint64_t have = 0;
	int rv = 0;
	if (cl_fsm_db_index(f->fsm, c->db, &have) == 0 && have < nc->q.min_index)
		rv = MR_EBUSY; /* we are behind the fetcher: our copy would be refused */
	if (rv == 0)
		rv = cl_fetch_make_copy(f->store, f->fsm, f->data_dir, c->db, path, &c->c);
	if (rv == 0) {
		c->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (c->fd < 0)
			rv = MR_EIO;
		unlink(path); /* the descriptor keeps it; nothing to clean up after a crash */
	}
	free(path);
	pthread_mutex_lock(&f->mu);
	f->creating--;
	size_t slot = CL_FETCH_MAX_COPIES;
	for (size_t i = 0; rv == 0 && i < CL_FETCH_MAX_COPIES && slot == CL_FETCH_MAX_COPIES; i++)
		if (!f->copies[i])
			slot = i;
	if (rv == 0 && slot == CL_FETCH_MAX_COPIES)
		rv = MR_EBUSY; /* cannot happen: cl_fetch_serve reserved it */
	if (rv == 0) {
		c->last_use_ms = now_ms();
		f->copies[slot] = c;
		f->st.copies_made++;
		f->st.copies_open++;
	}
	pthread_mutex_unlock(&f->mu);
	if (rv != 0) {
		copy_free(c);
		nc->reply(nc->ud, rv, NULL, 0);
	} else {
		log_info(CL_FETCH_COMP, "serving copy db=%s index=%llu size=%llu", c->db,
		         (unsigned long long)c->c.index, (unsigned long long)c->c.size);
		nc->q.copy_id = c->id;
		serve_chunk(f, &nc->q, nc->reply, nc->ud);
	}
	free(nc);
}

void cl_fetch_serve(struct cl_fetch *f, const uint8_t *body, size_t len, cl_fetch_reply_fn reply,
                    void *reply_ud)
{
	struct cl_fetch_req q;
	if (cl_fetch_req_decode(body, len, &q) != 0) {
		reply(reply_ud, MR_EPROTO, NULL, 0);
		return;
	}
	if (q.copy_id != 0) {
		serve_chunk(f, &q, reply, reply_ud);
		return;
	}
	sweep(f, false);
	pthread_mutex_lock(&f->mu);
	unsigned used = f->creating + f->st.copies_open;
	bool ok = !f->stop && used < CL_FETCH_MAX_COPIES;
	if (ok)
		f->creating++;
	pthread_mutex_unlock(&f->mu);
	if (!ok) {
		reply(reply_ud, MR_EBUSY, NULL, 0);
		return;
	}
	struct new_copy *nc = xmalloc(sizeof *nc);
	*nc = (struct new_copy){.f = f, .q = q, .reply = reply, .ud = reply_ud};
	int rv = run_post(f, make_copy_work, nc);
	if (rv != 0) {
		pthread_mutex_lock(&f->mu);
		f->creating--;
		pthread_mutex_unlock(&f->mu);
		free(nc);
		reply(reply_ud, rv, NULL, 0);
	}
}

/* ---- fetching ------------------------------------------------------------------------------ */

struct list_work {
	struct cl_fetch *f;
	char (*names)[CL_DBNAME_MAX];
	uint64_t *index; /* this node's applied index of each */
	size_t n;
};

/* Raft thread: the databases to fetch; the store refuses commits on them meanwhile (the engine
 * should hold them already, as soon as the snapshot is installed: see cluster_fetch.h). */
static void list_work(void *arg)
{
	struct list_work *w = arg;
	size_t n = cl_fsm_needs_fetch(w->f->fsm, NULL, 0);
	if (n == 0)
		return;
	w->names = xcalloc(n, sizeof *w->names);
	w->n = cl_fsm_needs_fetch(w->f->fsm, w->names, n);
	if (w->n > n)
		w->n = n;
	w->index = xcalloc(n, sizeof *w->index);
	for (size_t i = 0; i < w->n; i++) {
		(void)cl_fsm_db_index(w->f->fsm, w->names[i], &w->index[i]);
		(void)store_repl_hold(w->f->store, w->names[i], true);
	}
}

struct install_work {
	struct cl_fetch *f;
	const char *db, *tmp;
	uint64_t index;
	const uint8_t *key;
	size_t key_len;
	int rv;
};

static void install_work(void *arg)
{
	struct install_work *w = arg;
	w->rv =
	    cl_fetch_install(w->f->store, w->f->fsm, w->db, w->index, w->tmp, w->key, w->key_len);
}

static bool stopping(struct cl_fetch *f)
{
	pthread_mutex_lock(&f->mu);
	bool s = f->stop;
	pthread_mutex_unlock(&f->mu);
	return s;
}

/* One request: 0 and *r (free with cl_fetch_rep_free) or an error. */
static int ask(struct cl_fetch *f, const char *addr, const struct cl_fetch_req *q,
               struct cl_fetch_rep *r)
{
	size_t len, rlen = 0;
	uint8_t *req = cl_fetch_req_encode(q, &len), *rep = NULL;
	int rv = f->call(f->call_ud, addr, req, len, &rep, &rlen);
	free(req);
	if (rv == 0)
		rv = rep ? cl_fetch_rep_decode(rep, rlen, r) : MR_EPROTO;
	free(rep);
	if (rv == 0 && r->offset != q->offset) {
		cl_fetch_rep_free(r);
		rv = MR_EPROTO;
	}
	return rv;
}

/* Pull db from the member at addr into its temporary file, then install it. */
static int pull(struct cl_fetch *f, const char *addr, const char *db, uint64_t min_index)
{
	char *tmp = xasprintf("%s/%s" TMP_SUFFIX, f->db_dir, db);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(tmp);
		return MR_EIO;
	}
	struct cl_fetch_req q = {.copy_id = 0, .offset = 0, .min_index = min_index};
	snprintf(q.db, sizeof q.db, "%s", db);
	struct cl_fetch_rep r;
	uint8_t key[CL_FETCH_KEY_MAX];
	size_t key_len = 0;
	uint64_t id = 0, index = 0, size = 0, off = 0;
	int rv;
	do {
		if (stopping(f)) {
			rv = MR_ECLOSED;
			break;
		}
		if ((rv = ask(f, addr, &q, &r)) != 0)
			break;
		if (id == 0) {
			id = r.copy_id;
			index = r.index;
			size = r.size;
			key_len = r.key_len;
			memcpy(key, r.key, key_len);
		} else if (r.copy_id != id || r.index != index || r.size != size) {
			rv = MR_EPROTO; /* not the copy we were reading */
		}
		if (rv == 0)
			rv = mr_pwrite_all(fd, r.data, r.data_len, r.offset);
		off = r.offset + r.data_len;
		cl_fetch_rep_free(&r);
		q.copy_id = id;
		q.offset = off;
		q.min_index = 0;
	} while (rv == 0 && off < size);
	if (rv == 0 && (ftruncate(fd, (off_t)size) != 0 || fdatasync(fd) != 0))
		rv = MR_EIO;
	close(fd);
	if (rv == 0) {
		struct install_work w = {.f = f,
		                         .db = db,
		                         .tmp = tmp,
		                         .index = index,
		                         .key = key,
		                         .key_len = key_len,
		                         .rv = MR_ECLOSED};
		rv = run_wait(f, install_work, &w);
		if (rv == 0)
			rv = w.rv;
	}
	if (rv != 0) {
		unlink(tmp);
		log_warn(CL_FETCH_COMP, "fetch failed db=%s peer=%s err=%s", db, addr,
		         mr_strerror(rv));
	}
	sodium_memzero(key, sizeof key);
	free(tmp);
	return rv;
}

/* Candidate peers: the leader, the other members, then the configured ones. */
static size_t peer_list(struct cl_fetch *f, char (*out)[CL_ADDRESS_MAX + 1], size_t max)
{
	size_t n = 0;
	struct cl_status *s = xcalloc(1, sizeof *s);
	pthread_mutex_lock(&f->mu);
	bool have = f->node && cl_node_status(f->node, s) == 0;
	pthread_mutex_unlock(&f->mu);
	if (have) {
		if (s->leader_id != 0 && s->leader_id != s->id && s->leader_address[0] &&
		    cl_rpc_address(s->leader_address, out[n]) == 0)
			n++;
		for (unsigned i = 0; i < s->n_members && n < max; i++) {
			const struct cl_member *m = &s->members[i];
			if (m->id == s->id || m->id == s->leader_id)
				continue;
			if (cl_rpc_address(m->address, out[n]) == 0)
				n++;
		}
	}
	free(s);
	for (size_t i = 0; i < f->n_peers && n < max; i++)
		snprintf(out[n++], CL_ADDRESS_MAX + 1, "%s", f->peers[i]);
	return n;
}

static int fetch_one(struct cl_fetch *f, const char *db, uint64_t min_index)
{
	char(*peers)[CL_ADDRESS_MAX + 1] = xcalloc(CL_MAX_MEMBERS + 8, sizeof *peers);
	size_t n = peer_list(f, peers, CL_MAX_MEMBERS + 8);
	int rv = MR_ENOTFOUND; /* no peer known */
	for (size_t i = 0; i < n && rv != 0 && !stopping(f); i++)
		rv = pull(f, peers[i], db, min_index);
	free(peers);
	pthread_mutex_lock(&f->mu);
	if (rv == 0)
		f->st.fetched++;
	else
		f->st.failures++;
	pthread_mutex_unlock(&f->mu);
	return rv;
}

static void fetch_round(struct cl_fetch *f)
{
	struct list_work w = {.f = f};
	if (run_wait(f, list_work, &w) != 0)
		return;
	for (size_t i = 0; i < w.n && !stopping(f); i++)
		(void)fetch_one(f, w.names[i], w.index[i]);
	free(w.names);
	free(w.index);
}

static void *fetch_main(void *arg)
{
	struct cl_fetch *f = arg;
	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		f->kicked = false;
		pthread_mutex_unlock(&f->mu);
		sweep(f, false);
		if (f->call)
			fetch_round(f);
		pthread_mutex_lock(&f->mu);
		if (f->stop || f->kicked)
			continue;
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += f->poll_ms / 1000;
		dl.tv_nsec += (long)(f->poll_ms % 1000) * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&f->cond, &f->mu, &dl);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

/* Remove leftovers of an earlier run: every file in fetch/, db/<x>.db.fetch. */
static void clean_dirs(struct cl_fetch *f)
{
	const char *dirs[] = {f->fetch_dir, f->db_dir};
	for (size_t k = 0; k < MR_ARRAY_LEN(dirs); k++) {
		DIR *d = opendir(dirs[k]);
		if (!d)
			continue;
		struct dirent *de;
		size_t sl = strlen(TMP_SUFFIX);
		while ((de = readdir(d)) != NULL) {
			size_t len = strlen(de->d_name);
			bool ours =
			    k == 0 ? de->d_name[0] != '.'
			           : len > sl && strcmp(de->d_name + len - sl, TMP_SUFFIX) == 0;
			if (!ours)
				continue;
			char *p = xasprintf("%s/%s", dirs[k], de->d_name);
			unlink(p);
			free(p);
		}
		closedir(d);
	}
}

int cl_fetch_open(const struct cl_fetch_config *cfg, struct cl_fetch **f_r)
{
	if (!cfg->data_dir || !cfg->store || !cfg->fsm)
		return MR_EINVAL;
	struct cl_fetch *f = xcalloc(1, sizeof *f);
	f->data_dir = xstrdup(cfg->data_dir);
	f->fetch_dir = xasprintf("%s/fetch", cfg->data_dir);
	f->db_dir = xasprintf("%s/db", cfg->data_dir);
	f->store = cfg->store;
	f->fsm = cfg->fsm;
	f->call = cfg->call;
	f->call_ud = cfg->call_ud;
	f->post = cfg->post;
	f->post_ud = cfg->post_ud;
	for (size_t i = 0; cfg->peers && cfg->peers[i]; i++) {
		f->peers = xrealloc(f->peers, (f->n_peers + 1) * sizeof *f->peers);
		f->peers[f->n_peers++] = xstrdup(cfg->peers[i]);
	}
	f->chunk = cfg->chunk_size ? cfg->chunk_size : CL_FETCH_CHUNK;
	if (f->chunk > CL_FETCH_CHUNK_MAX)
		f->chunk = CL_FETCH_CHUNK_MAX;
	f->ttl_ms = cfg->copy_ttl_ms ? cfg->copy_ttl_ms : 60000;
	f->poll_ms = cfg->poll_ms ? cfg->poll_ms : 1000;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cond, NULL);
	if (mkdir(f->fetch_dir, 0700) != 0 && errno != EEXIST) {
		log_error(CL_FETCH_COMP, "mkdir failed path=%s err=%s", f->fetch_dir,
		          strerror(errno));
		cl_fetch_close(&f);
		return MR_EIO;
	}
	clean_dirs(f);
	if (pthread_create(&f->thr, NULL, fetch_main, f) != 0) {
		cl_fetch_close(&f);
		return MR_EIO;
	}
	f->started = true;
	*f_r = f;
	return 0;
}

void cl_fetch_set_node(struct cl_fetch *f, struct cl_node *node)
{
	pthread_mutex_lock(&f->mu);
	f->node = node;
	f->kicked = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->mu);
}

void cl_fetch_kick(struct cl_fetch *f)
{
	pthread_mutex_lock(&f->mu);
	f->kicked = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->mu);
}

void cl_fetch_get_stats(struct cl_fetch *f, struct cl_fetch_stats *st_r)
{
	pthread_mutex_lock(&f->mu);
	*st_r = f->st;
	pthread_mutex_unlock(&f->mu);
}

void cl_fetch_close(struct cl_fetch **fp)
{
	struct cl_fetch *f = *fp;
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	bool running = f->started;
	f->stop = true;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->mu);
	if (running)
		pthread_join(f->thr, NULL);
	for (size_t i = 0; i < CL_FETCH_MAX_COPIES; i++)
		if (f->copies[i])
			copy_free(f->copies[i]);
	clean_dirs(f);
	rmdir(f->fetch_dir);
	for (size_t i = 0; i < f->n_peers; i++)
		free(f->peers[i]);
	free(f->peers);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cond);
	free(f->data_dir);
	free(f->fetch_dir);
	free(f->db_dir);
	free(f);
	*fp = NULL;
}
