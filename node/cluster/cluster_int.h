/* cluster_int.h - state shared by the files of node/cluster/ (the daemon's cluster mode): the
 * one process-wide struct cluster, the main-loop completion queue, membership operations that
 * run on the leader (locally or through the member RPC), invitations and the member poll. */
#ifndef MR_NODE_CLUSTER_INT_H
#define MR_NODE_CLUSTER_INT_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include <raft.h>
#include <raft/uv.h>

#include "cluster/cluster.h"
#include "raft/cluster_engine.h"
#include "raft/cluster_fetch.h"
#include "raft/cluster_join.h"
#include "raft/cluster_pki.h"
#include "raft/cluster_rpc.h"

#define CLUSTER_COMP "cluster"
#define CLUSTER_MAX_INVITES 16
#define CLUSTER_POLL_MS 1000
#define CLUSTER_FORWARD_TIMEOUT_MS 10000 /* below STORE_REPL_TIMEOUT_MS */
#define CLUSTER_CATCHUP_SLACK 16         /* entries behind the commit index that count as caught up */

struct invite {
	uint64_t id;
	char address[CL_ADDRESS_MAX + 1];
	uint8_t secret[CL_JOIN_SECRET];
	uint64_t expires_ms;
	bool used;
};

struct member_seen {
	uint64_t id;
	uint64_t applied;
	bool reachable;
	bool answered; /* an answer arrived since the last poll round */
};

struct cluster {
	struct node *n;
	char *dir;                       /* <data_dir>/cluster */
	char address[CL_ADDRESS_MAX + 1];
	char rpc_listen[CL_ADDRESS_MAX + 1];
	struct cl_pki pki;
	struct raft_uv_transport transport;
	char bind[CL_ADDRESS_MAX + 1];   /* raft bind address ("" = address) */
	struct cl_engine *engine;
	struct cl_fetch *fetch;
	struct cl_node *node;
	struct cl_rpc_server *rpc;
	struct cl_rpc_client *client;
	bool joining;                    /* "join" marker: promote ourselves once caught up */
	atomic_bool ready;
	void (*on_ready)(void);
	uint64_t promote_asked_ms;
	/* main loop */
	uv_async_t async;
	uv_timer_t poll;
	bool handles_up;
	pthread_mutex_t mu; /* posts, invites, seen */
	struct cluster_post *posts;
	struct invite invites[CLUSTER_MAX_INVITES];
	struct member_seen seen[CL_MAX_MEMBERS];
	unsigned n_seen;
};

extern struct cluster cluster__g;

/* Run fn(ud, status, msg) on the main loop (from any thread). msg may be NULL. */
typedef void (*cluster_post_fn)(void *ud, int status, const char *msg);
void cluster__post(cluster_post_fn fn, void *ud, int status, const char *msg);
void cluster__drain_posts(void);
void cluster__async_cb(uv_async_t *h); /* drains the posts */

/* A membership change or transfer, run on the leader: locally when this node leads, else
 * through CL_RPC_MEMBER. done(ud, status) fires once, on the raft thread or an nng thread.
 * verb: MR__RPC_MEMBER__VERB__*. 0 or an error (done not called). */
typedef void (*cluster_member_done)(void *ud, int status);
int cluster__member_op(int verb, uint64_t id, const char *address, int role,
                       cluster_member_done done, void *ud);

/* The leader's member RPC address, "" if no leader is known. 0 or MR_ENOTFOUND. */
int cluster__leader_rpc(char out[CL_ADDRESS_MAX + 1], bool *self_r);

/* RPC handlers table (cluster_rpcsrv.c). */
extern const struct cl_rpc_handler cluster__rpc_table[];
extern const size_t cluster__rpc_table_len;

/* The engine's forward hook: an encoded entry to the leader's FORWARD op. */
int cluster__forward(void *ud, raft_id leader, const char *leader_address, const void *buf,
                     size_t len, cl_apply_cb cb, void *cb_ud);

/* End at once (outcome unknown) every forward in flight to a node other than leader (the
 * current leader's id; 0 = none known: every forward). Any thread. */
void cluster__forward_sweep(uint64_t leader);

/* Member poll round and readiness check (main loop timer). */
void cluster__poll(uv_timer_t *t);

/* Invitations (cluster_admin.c): find and consume the one for id whose proof matches. 0 with
 * *inv_r filled, MR_ENOTFOUND, MR_EAUTH. */
int cluster__invite_take(uint64_t id, const uint8_t proof[CL_JOIN_PROOF], struct invite *inv_r);

/* Read the master key file (32 bytes). 0 or MR_E*. */
int cluster__master_key(uint8_t key[CL_JOIN_MASTER_KEY]);

#endif
