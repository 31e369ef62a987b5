/* cluster.c - cluster mode's lifecycle (cluster.h): load the node's credentials, open the
 * replication engine on the store, serve the member RPC, start the raft node over the nng
 * mutual-TLS transport, bootstrap the first node (one-voter configuration, adoption of the
 * local databases, creation of the directory) or start a joiner empty, and stop it all in the
 * order the pieces require (engine detached, node stopped, RPC closed, engine closed; the store
 * is closed by the caller afterwards). */
#include "cluster/cluster_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "node.h"
#include "raft/cluster_transport.h"

#define BOOTSTRAP_WAIT_MS 30000
#define MAX_ADOPT 4096

struct cluster cluster__g;

bool cluster_enabled(const struct node *n)
{
	return n && n->cfg && n->cfg->cluster_address[0];
}

bool cluster_ready(void)
{
	return atomic_load(&cluster__g.ready);
}

/* err gets the formatted message followed by ": <error text>". */
__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int rv,
                                                       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < errlen)
		snprintf(err + n, errlen - (size_t)n, ": %s", mr_strerror(rv));
	return rv;
}

static char *marker_path(const char *name)
{
	return xasprintf("%s/%s", cluster__g.dir, name);
}

static bool marker_exists(const char *name)
{
	char *p = marker_path(name);
	bool ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

static void marker_remove(const char *name)
{
	char *p = marker_path(name);
	if (unlink(p) != 0 && errno != ENOENT)
		log_warn(CLUSTER_COMP, "cannot remove marker path=%s err=%s", p, strerror(errno));
	free(p);
}

/* ---- transport hooks (raft thread) ---------------------------------------------------------- */

static int tr_init(struct raft_uv_transport *t, uv_loop_t *loop, void *arg)
{
	struct cluster *c = arg;
	int rv = cl_transport_init(t, loop, &c->pki);
	if (rv == 0 && c->bind[0])
		rv = cl_transport_set_bind_address(t, c->bind);
	return rv;
}

static void tr_close(struct raft_uv_transport *t, void *arg)
{
	(void)arg;
	cl_transport_close(t);
}

static void on_leader(struct cl_node *node, bool leader, raft_term term, void *arg)
{
	(void)node;
	(void)arg;
	log_info(CLUSTER_COMP, "leadership %s term=%llu", leader ? "acquired" : "lost",
	         (unsigned long long)term);
}

/* ---- first node: bootstrap and adoption ----------------------------------------------------- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int wait_leader(void)
{
	for (unsigned waited = 0; waited < BOOTSTRAP_WAIT_MS; waited += 20) {
		struct cl_status st;
		if (cl_node_status(cluster__g.node, &st) == 0 && st.leader_ready)
			return 0;
		sleep_ms(20);
	}
	return CL_RPC_ETIMEDOUT;
}

static int noop_job(struct store_db *db, void *arg)
{
	(void)db;
	(void)arg;
	return 0;
}

/* The databases of a single-node data directory become the cluster's (cl_engine_adopt), then
 * the directory is created if there was none. Idempotent: a crash before the marker is
 * removed redoes only what the state machine does not know yet. */
static int bootstrap(char *err, size_t errlen, char (*unknown)[CL_DBNAME_MAX], size_t n_unknown)
{
	int rv = wait_leader();
	if (rv != 0)
		return fail(err, errlen, rv, "%s: no leadership after bootstrap", "cluster");
	for (size_t i = 0; i < n_unknown; i++) {
		rv = cl_engine_adopt(cluster__g.engine, unknown[i]);
		if (rv == MR_EEXIST)
			rv = 0;
		if (rv != 0)
			return fail(err, errlen, rv, "cannot adopt database %s into the cluster",
			            unknown[i]);
	}
	rv = store_run(cluster__g.n->store, STORE_DIRECTORY, STORE_CREATE, noop_job, NULL);
	if (rv != 0)
		return fail(err, errlen, rv, "cannot create the %s database", STORE_DIRECTORY);
	marker_remove(CLUSTER_MARK_BOOTSTRAP);
	log_info(CLUSTER_COMP, "bootstrapped adopted=%zu", n_unknown);
	return 0;
}

/* "ID@ADDRESS" from the bootstrap marker: must name this node. */
static int read_bootstrap(struct cl_server *srv, char *addr, size_t cap)
{
	char *p = marker_path(CLUSTER_MARK_BOOTSTRAP);
	FILE *f = fopen(p, "r");
	free(p);
	if (!f)
		return MR_ENOTFOUND;
	char line[CL_ADDRESS_MAX + 32];
	int rv = MR_ECONFIG;
	if (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = 0;
		char *at = strchr(line, '@');
		char *end = NULL;
		unsigned long long id = strtoull(line, &end, 10);
		if (at && end == at && id > 0 && strlen(at + 1) < cap) {
			snprintf(addr, cap, "%s", at + 1);
			srv->id = id;
			srv->address = addr;
			srv->role = CL_VOTER;
			rv = 0;
		}
	}
	fclose(f);
	return rv;
}

/* ---- start / stop --------------------------------------------------------------------------- */

static unsigned heartbeat_ms(unsigned election_ms)
{
	unsigned h = election_ms / 40;
	return h < 10 ? 10 : h > 100 ? 100 : h;
}

static int start_node(char *err, size_t errlen, bool boot)
{
	struct cluster *c = &cluster__g;
	const struct config *cfg = c->n->cfg;
	struct cl_server srv = {0};
	char boot_addr[CL_ADDRESS_MAX + 1];
	if (boot) {
		int rv = read_bootstrap(&srv, boot_addr, sizeof boot_addr);
		if (rv != 0 || srv.id != c->pki.node_id || strcmp(boot_addr, c->address) != 0)
			return fail(err, errlen, MR_ECONFIG,
			            "%s/bootstrap does not name this node (id from node.crt, "
			            "cluster_address)",
			            c->dir);
	}
	char *rdir = xasprintf("%s/raft/log", cfg->data_dir);
	struct cl_node_config nc = {
	    .id = c->pki.node_id,
	    .address = c->address,
	    .dir = rdir,
	    .servers = boot ? &srv : NULL,
	    .n_servers = boot ? 1 : 0,
	    .transport = &c->transport,
	    .transport_init = tr_init,
	    .transport_close = tr_close,
	    .transport_arg = c,
	    .fsm = cl_engine_fsm(c->engine),
	    .attach = cl_engine_attach,
	    .attach_arg = c->engine,
	    .on_leader = on_leader,
	    .election_timeout_ms = cfg->cluster_election_timeout,
	    /* Followers learn the commit index only from the leader's next message: a short
	     * heartbeat bounds the wait of a write made on a follower (its reply waits for its
	     * own state machine) when no other traffic carries it. */
	    .heartbeat_ms = heartbeat_ms(cfg->cluster_election_timeout),
	    .snapshot_threshold = cfg->cluster_snapshot_entries,
	    .snapshot_trailing = cfg->cluster_snapshot_entries / 8 + 1,
	};
	int rv = cl_node_start(&nc, &c->node);
	free(rdir);
	if (rv != 0)
		return fail(err, errlen, rv, "cannot start the raft node at %s", c->address);
	cl_engine_set_node(c->engine, c->node);
	cl_fetch_set_node(c->fetch, c->node);
	return 0;
}

static int load_identity(char *err, size_t errlen)
{
	struct cluster *c = &cluster__g;
	const struct config *cfg = c->n->cfg;
	int rv = cl_pki_load(c->dir, &c->pki);
	if (rv != 0)
		return fail(err, errlen, rv,
		            "cannot load the cluster credentials from %s (run `mailraftctl cluster "
		            "init` or `cluster join` first)",
		            c->dir);
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	if (cl_address_parse(cfg->cluster_address, url, host) != 0)
		return fail(err, errlen, MR_ECONFIG, "bad cluster_address '%s'",
		            cfg->cluster_address);
	snprintf(c->address, sizeof c->address, "%s", cfg->cluster_address);
	snprintf(c->bind, sizeof c->bind, "%s", cfg->cluster_bind);
	const char *rpc_base = c->bind[0] ? c->bind : c->address;
	if (cl_rpc_address(rpc_base, c->rpc_listen) != 0)
		return fail(err, errlen, MR_ECONFIG, "no RPC port after %s (port + 1)",
		            rpc_base);
	return 0;
}

int cluster_preflight(const struct node *n, char *err, size_t errlen)
{
	char *p = xasprintf("%s/%s/%s", n->cfg->data_dir, CLUSTER_DIR, CL_PKI_NODE_CERT);
	bool ok = access(p, F_OK) == 0;
	int rv = ok ? 0
	            : fail(err, errlen, MR_ENOTFOUND,
	                   "cluster_address is set but %s is missing: run `mailraftctl cluster "
	                   "init` (first node) or `mailraftctl cluster join TOKEN` first",
	                   p);
	free(p);
	return rv;
}

int cluster_start(struct node *n, char *err, size_t errlen)
{
	struct cluster *c = &cluster__g;
	void (*on_ready)(void) = c->on_ready;
	memset(c, 0, sizeof *c);
	c->on_ready = on_ready;
	c->n = n;
	c->dir = xasprintf("%s/%s", n->cfg->data_dir, CLUSTER_DIR);
	pthread_mutex_init(&c->mu, NULL);
	atomic_init(&c->ready, false);
	int rv = load_identity(err, errlen);
	if (rv != 0)
		goto fail;
	bool boot = marker_exists(CLUSTER_MARK_BOOTSTRAP);
	c->joining = marker_exists(CLUSTER_MARK_JOIN);
	struct cl_engine_config ec = {
	    .store = n->store,
	    .data_dir = n->cfg->data_dir,
	    .forward = cluster__forward,
	    .forward_ud = c,
	};
	if ((rv = cl_engine_open(&ec, &c->engine)) != 0) {
		fail(err, errlen, rv, "cannot open the replication state in %s",
		     n->cfg->data_dir);
		goto fail;
	}
	/* Only the first node adopts local databases. Elsewhere, databases the state machine
	 * does not know yet are the ones created after its last sync point: the log replay
	 * brings them back. */
	char(*unknown)[CL_DBNAME_MAX] = xcalloc(boot ? MAX_ADOPT : 1, CL_DBNAME_MAX);
	size_t n_unknown = boot ? cl_engine_unknown_dbs(c->engine, unknown, MAX_ADOPT) : 0;
	if (n_unknown > MAX_ADOPT) {
		rv = fail(err, errlen, MR_ETOOBIG, "too many databases to adopt in %s",
		          n->cfg->data_dir);
		free(unknown);
		goto fail;
	}
	if ((rv = cl_rpc_client_open(&c->pki, &c->client)) != 0) {
		fail(err, errlen, rv, "cannot set up the member RPC client");
		free(unknown);
		goto fail;
	}
	struct cl_fetch_config fc = {
	    .data_dir = n->cfg->data_dir,
	    .store = n->store,
	    .fsm = cl_engine_fsm_handle(c->engine),
	    .call = cl_fetch_rpc_call,
	    .call_ud = c->client,
	};
	if ((rv = cl_fetch_open(&fc, &c->fetch)) != 0) {
		fail(err, errlen, rv, "cannot set up database fetch in %s", n->cfg->data_dir);
		free(unknown);
		goto fail;
	}
	if (
	    (rv = cl_rpc_server_start(c->rpc_listen, &c->pki, cluster__rpc_table,
	                              cluster__rpc_table_len, c, &c->rpc)) != 0) {
		fail(err, errlen, rv, "cannot serve the member RPC on %s", c->rpc_listen);
		free(unknown);
		goto fail;
	}
	if ((rv = start_node(err, errlen, boot)) != 0) {
		free(unknown);
		goto fail;
	}
	if (boot)
		rv = bootstrap(err, errlen, unknown, n_unknown);
	free(unknown);
	if (rv != 0)
		goto fail;
	uv_async_init(n->loop, &c->async, cluster__async_cb);
	uv_timer_init(n->loop, &c->poll);
	uv_timer_start(&c->poll, cluster__poll, 50, CLUSTER_POLL_MS / 4);
	c->handles_up = true;
	log_info(CLUSTER_COMP, "node started id=%llu address=%s rpc=%s mode=%s",
	         (unsigned long long)c->pki.node_id, c->address, c->rpc_listen,
	         boot ? "bootstrap" : c->joining ? "join" : "member");
	return 0;
fail:
	cluster_stop();
	return rv;
}

void cluster_on_ready(void (*fn)(void))
{
	cluster__g.on_ready = fn;
}

void cluster_stop(void)
{
	struct cluster *c = &cluster__g;
	if (!c->n)
		return;
	if (c->handles_up) {
		uv_timer_stop(&c->poll);
		uv_close((uv_handle_t *)&c->poll, NULL);
		uv_close((uv_handle_t *)&c->async, NULL);
		c->handles_up = false;
	}
	cl_rpc_server_stop(&c->rpc);
	if (c->fetch)
		cl_fetch_set_node(c->fetch, NULL);
	if (c->engine)
		cl_engine_set_node(c->engine, NULL);
	cl_node_stop(&c->node);
	cl_fetch_close(&c->fetch);
	cl_rpc_client_close(&c->client);
	cl_engine_close(&c->engine);
	cluster__drain_posts(); /* completions that raced the stop (their callers get them) */
	cl_pki_free(&c->pki);
	pthread_mutex_destroy(&c->mu);
	free(c->dir);
	c->dir = NULL;
	c->n = NULL;
}
