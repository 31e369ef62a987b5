/* admin_int.h - declarations shared by the files of node/admin: one request in flight
 * (struct admin_req), the command table entry, the store-job helper and the reply path.
 * admin.c owns the socket and the connections, admin_cmd.c the table and the central gate,
 * admin_cmd_*.c one concern each (status, domain, account, alias, cluster). */
#ifndef MR_ADMIN_INT_H
#define MR_ADMIN_INT_H
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>
#include "admin_wire.h"
#include "storage/store.h"

struct admin_conn;
struct admin_req;

/* Continuation run on the loop thread after a store job; rv is the job's result. */
typedef void (*admin_cont_fn)(struct admin_req *r, int rv);

/* One request from decode to reply. Job fields are written only by the job on its actor
 * while it runs; the loop reads them in the continuation (store_submit orders the two). */
struct admin_req {
	struct admin_conn *conn; /* NULL once the connection is gone: the reply is dropped */
	uid_t peer_uid;
	Mr__CtlRequest *req;
	Mr__CtlResponse resp;
	admin_cont_fn cont;
	/* scratch for the handlers */
	const char *why; /* static reason text set by a job */
	struct dir_account acct;
	char pwhash[STORE_PWHASH_MAX];
	char *filter; /* account list: "@domain" suffix or NULL */
	uint64_t n_domains, n_accounts, n_aliases;
	char **names; /* alias names collected by a job */
	size_t n_names;
	bool no_counts; /* status: directory not served yet (cluster catching up) */
	uint64_t cl_id; /* cluster verbs: the member concerned (0: none / any) */
	uv_work_t work;
	int work_rv;
};

/* Command table entry: which oneof case, a name for logs, the handler that starts the work.
 * The handler owns r from then on and must end in admin__reply(r) exactly once. */
struct admin_cmd {
	Mr__CtlRequest__CmdCase which;
	const char *name;
	void (*run)(struct admin_req *r);
};

/* Central gate (admin_cmd.c): version, table lookup, then the handler. Takes ownership. */
void admin__dispatch(struct admin_req *r);
/* Send r->resp on its connection (if still open) and free r (admin.c). */
void admin__reply(struct admin_req *r);
/* Fail r with the CtlCode matching the MR_E* rv and the given text, then reply. */
void admin__fail(struct admin_req *r, int rv, const char *fmt, ...) MR_PRINTF(3, 4);
/* Run fn(db, r) on dbname's actor, then cont(r, rv) on the loop. If the job cannot be
 * queued, cont is called at once with the error. */
void admin__job(struct admin_req *r, const char *dbname, int flags, store_job_fn fn,
                admin_cont_fn cont);
/* stop: refuse new database drops and wait for one still running; !stop: allow them again
 * (admin_cmd_account.c). */
void admin__drops_quiesce(bool stop);
/* Seconds since admin_start (the daemon's uptime as far as the admin channel knows). */
uint64_t admin__uptime_s(void);

/* Handlers (admin_cmd_*.c). */
void admin__cmd_status(struct admin_req *r);
void admin__cmd_domain_add(struct admin_req *r);
void admin__cmd_domain_list(struct admin_req *r);
void admin__cmd_domain_rm(struct admin_req *r);
void admin__cmd_domain_dns(struct admin_req *r);
void admin__cmd_account_add(struct admin_req *r);
void admin__cmd_account_list(struct admin_req *r);
void admin__cmd_account_rm(struct admin_req *r);
void admin__cmd_account_passwd(struct admin_req *r);
void admin__cmd_alias_add(struct admin_req *r);
void admin__cmd_alias_list(struct admin_req *r);
void admin__cmd_alias_rm(struct admin_req *r);
void admin__cmd_cluster_members(struct admin_req *r);
void admin__cmd_cluster_add(struct admin_req *r);
void admin__cmd_cluster_assign(struct admin_req *r);
void admin__cmd_cluster_remove(struct admin_req *r);
void admin__cmd_cluster_transfer(struct admin_req *r);
/* The cluster fields of `status` ("mode: single-node" outside cluster mode). */
void admin__status_cluster(struct admin_req *r);

#endif
