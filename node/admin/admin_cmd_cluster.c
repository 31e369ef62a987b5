/* admin_cmd_cluster.c - `cluster members|add|promote|demote|remove|transfer` and the cluster
 * part of `status`, answered through node/cluster/cluster.h. On a single node every cluster
 * verb answers CTL_EUNAVAIL ("not in cluster mode"). `members` and the status fields are a
 * synchronous snapshot (cluster_view); the changes are asynchronous: the handler starts the
 * operation and returns, the loop keeps serving, and the reply is sent from the operation's
 * cluster_done_fn (also on the loop). Arguments are checked here first (id >= 1, a parseable
 * raft address, a known role) so the cluster code never sees a malformed request. */
#include "admin_cluster.h"
#include "admin_int.h"
#include "common/err.h"
#include "common/log.h"
#include "node.h"
#include "raft/cluster_join.h"      /* CL_JOIN_TTL_S */
#include "raft/cluster_transport.h" /* cl_address_parse */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The request's role and how the change is reported. */
static const struct {
	Mr__CtlClusterRole role;
	int cl_role;
	const char *name, *verb;
} roles[] = {
    {MR__CTL_CLUSTER_ROLE__CTL_ROLE_VOTER, CL_VOTER, "voter", "cluster promote"},
    {MR__CTL_CLUSTER_ROLE__CTL_ROLE_STANDBY, CL_STANDBY, "standby", "cluster demote"},
    {MR__CTL_CLUSTER_ROLE__CTL_ROLE_SPARE, CL_SPARE, "spare", "cluster demote"},
};

/* The verb the operator typed for an assign request. */
static const char *assign_verb(const struct admin_req *r)
{
	for (size_t i = 0; i < MR_ARRAY_LEN(roles); i++)
		if (roles[i].role == r->req->cluster_assign->role)
			return roles[i].verb;
	return "cluster assign";
}

/* False (and the request answered) unless this node runs in cluster mode. */
static bool need_cluster(struct admin_req *r)
{
	if (cluster_enabled(node_get()))
		return true;
	admin_resp_error(&r->resp, MR__CTL_CODE__CTL_EUNAVAIL,
	                 "this node is not in cluster mode (cluster_address is not set; "
	                 "see mailraftctl cluster init)");
	admin__reply(r);
	return false;
}

static bool check_id(struct admin_req *r, uint64_t id)
{
	if (id >= 1)
		return true;
	admin__fail(r, MR_EINVAL, "invalid node id 0 (ids start at 1)");
	return false;
}

/* The cluster's text for a failure, unless it only repeats the code's ("busy"). */
static const char *detail(int rv, const char *msg)
{
	if (!msg || !*msg || strcmp(msg, mr_strerror(rv)) == 0)
		return NULL;
	return msg;
}

/* Failure of a cluster call or operation: a sentence for the operator, plus the cluster's own
 * text when it says more. */
static void op_failed(struct admin_req *r, int rv, const char *what, const char *msg)
{
	bool transfer = r->req->cmd_case == MR__CTL_REQUEST__CMD_CLUSTER_TRANSFER;
	const char *why;
	char text[128];
	if (rv == MR_ENOTFOUND && r->cl_id) {
		snprintf(text, sizeof text, "node %" PRIu64 " is not a member%s", r->cl_id,
		         transfer ? " with a vote" : "");
		why = text;
	} else if (rv == MR_ENOTLEADER) {
		why = "no leader reachable (election in progress or quorum lost); retry";
	} else if (rv == MR_EBUSY) {
		why = transfer ? "leadership did not move in time; retry"
		               : "another membership change is in progress; retry";
	} else {
		why = mr_strerror(rv);
	}
	const char *more = detail(rv, msg);
	admin__fail(r, rv, "%s: %s%s%s%s", what, why, more ? " (" : "", more ? more : "",
	            more ? ")" : "");
}

/* A cluster call that could not even start (its done never fires). */
static void start_failed(struct admin_req *r, int rv, const char *what)
{
	if (rv == MR_ENOTFOUND) {
		admin_resp_error(
		    &r->resp, MR__CTL_CODE__CTL_EUNAVAIL,
		    "%s: the cluster is not running on this node yet (see the daemon log)", what);
		admin__reply(r);
		return;
	}
	op_failed(r, rv, what, NULL);
}

/* ---- status and members (synchronous snapshots) --------------------------------------- */

void admin__status_cluster(struct admin_req *r)
{
	if (!cluster_enabled(node_get())) {
		admin_resp_field(&r->resp, "mode", "single-node");
		return;
	}
	struct cluster_view *v = xcalloc(1, sizeof *v);
	int rv = cluster_view(v);
	if (rv == 0) {
		admin_cluster_status_fields(&r->resp, v);
	} else {
		admin_resp_field(&r->resp, "mode", "cluster");
		admin_resp_field(&r->resp, "state", "starting");
		admin_resp_field(&r->resp, "health", mr_strerror(rv));
	}
	free(v);
}

void admin__cmd_cluster_members(struct admin_req *r)
{
	if (!need_cluster(r))
		return;
	struct cluster_view *v = xcalloc(1, sizeof *v);
	int rv = cluster_view(v);
	if (rv != 0) {
		free(v);
		start_failed(r, rv, "cluster members");
		return;
	}
	admin_cluster_member_rows(&r->resp, v);
	free(v);
	admin__reply(r);
}

/* ---- add: an invitation, answered with the join token ---------------------------------- */

static void add_done(void *ud, int status, const char *msg)
{
	struct admin_req *r = ud;
	Mr__CtlClusterAdd *a = r->req->cluster_add;
	if (status != 0) {
		op_failed(r, status, "cluster add", msg);
		return;
	}
	if (!msg || !*msg) {
		admin__fail(r, MR_EIO, "cluster add: the node returned no join token");
		return;
	}
	char cmd[64 + 1024];
	snprintf(cmd, sizeof cmd, "mailraftctl --config FILE cluster join %s", msg);
	log_info("admin", "cluster invitation created id=%" PRIu64 " address=%s uid=%u", a->id,
	         a->address, (unsigned)r->peer_uid);
	admin_resp_message(&r->resp,
	                   "node %" PRIu64 " (%s) invited; on the new machine, with mailraftd "
	                   "stopped and an empty data directory, run the command below (FILE: "
	                   "its config file), set cluster_address = %s there and start mailraftd; "
	                   "the token is secret and valid for %d minutes",
	                   a->id, a->address, a->address, CL_JOIN_TTL_S / 60);
	char id[24];
	snprintf(id, sizeof id, "%" PRIu64, a->id);
	admin_resp_field(&r->resp, "id", id);
	admin_resp_field(&r->resp, "address", a->address);
	admin_resp_field(&r->resp, "token", msg);
	admin_resp_field(&r->resp, "join_command", cmd);
	admin__reply(r);
}

void admin__cmd_cluster_add(struct admin_req *r)
{
	Mr__CtlClusterAdd *a = r->req->cluster_add;
	if (!need_cluster(r) || !check_id(r, a->id))
		return;
	char url[CL_URL_MAX], host[CL_ADDRESS_MAX + 1];
	if (cl_address_parse(a->address, url, host) != 0) {
		admin__fail(r, MR_EINVAL, "invalid address '%s' (host:port or [v6]:port)",
		            a->address);
		return;
	}
	int rv = cluster_invite(a->id, a->address, add_done, r);
	if (rv == MR_EPERM)
		admin__fail(
		    r, rv,
		    "cluster add: this node does not hold the cluster CA key (%s/%s/ca.key); "
		    "run it on a member that does, such as the node where cluster init ran",
		    node_get()->cfg->data_dir, CLUSTER_DIR);
	else if (rv == MR_EBUSY)
		admin__fail(r, rv,
		            "cluster add: too many open invitations; retry once one is used "
		            "or expired");
	else if (rv != 0)
		start_failed(r, rv, "cluster add");
}

/* ---- promote / demote ----------------------------------------------------------------- */

static void assign_done(void *ud, int status, const char *msg)
{
	struct admin_req *r = ud;
	if (status != 0) {
		op_failed(r, status, assign_verb(r), msg);
		return;
	}
	log_info("admin", "cluster member role changed id=%" PRIu64 " role=%s uid=%u", r->cl_id,
	         r->why, (unsigned)r->peer_uid);
	admin_resp_message(&r->resp, "node %" PRIu64 " is now a %s", r->cl_id, r->why);
	admin__reply(r);
}

void admin__cmd_cluster_assign(struct admin_req *r)
{
	Mr__CtlClusterAssign *a = r->req->cluster_assign;
	if (!need_cluster(r) || !check_id(r, a->id))
		return;
	size_t i = 0;
	while (i < MR_ARRAY_LEN(roles) && roles[i].role != a->role)
		i++;
	if (i == MR_ARRAY_LEN(roles)) {
		admin__fail(r, MR_EINVAL, "unknown role %d", (int)a->role);
		return;
	}
	r->cl_id = a->id;
	r->why = roles[i].name;
	int rv = cluster_assign(a->id, roles[i].cl_role, assign_done, r);
	if (rv != 0)
		start_failed(r, rv, assign_verb(r));
}

/* ---- remove --------------------------------------------------------------------------- */

static void remove_done(void *ud, int status, const char *msg)
{
	struct admin_req *r = ud;
	if (status != 0) {
		op_failed(r, status, "cluster remove", msg);
		return;
	}
	log_info("admin", "cluster member removed id=%" PRIu64 " uid=%u", r->cl_id,
	         (unsigned)r->peer_uid);
	admin_resp_message(&r->resp,
	                   "node %" PRIu64 " removed from the cluster; stop its mailraftd and "
	                   "wipe its data directory before it joins again",
	                   r->cl_id);
	admin__reply(r);
}

void admin__cmd_cluster_remove(struct admin_req *r)
{
	uint64_t id = r->req->cluster_remove->id;
	if (!need_cluster(r) || !check_id(r, id))
		return;
	r->cl_id = id;
	int rv = cluster_remove(id, remove_done, r);
	if (rv != 0)
		start_failed(r, rv, "cluster remove");
}

/* ---- transfer ------------------------------------------------------------------------- */

static void transfer_done(void *ud, int status, const char *msg)
{
	struct admin_req *r = ud;
	if (status != 0) {
		op_failed(r, status, "cluster transfer", msg);
		return;
	}
	uint64_t to = r->cl_id;
	if (!to) { /* the most up-to-date voter: say which one it was */
		struct cluster_view *v = xcalloc(1, sizeof *v);
		if (cluster_view(v) == 0)
			to = v->st.leader_id;
		free(v);
	}
	log_info("admin", "leadership transferred to=%" PRIu64 " uid=%u", to,
	         (unsigned)r->peer_uid);
	if (to)
		admin_resp_message(&r->resp, "leadership transferred to node %" PRIu64, to);
	else
		admin_resp_message(&r->resp, "leadership transferred");
	admin__reply(r);
}

void admin__cmd_cluster_transfer(struct admin_req *r)
{
	Mr__CtlClusterTransfer *t = r->req->cluster_transfer;
	if (!need_cluster(r))
		return;
	r->cl_id = t->has_to ? t->to : 0;
	int rv = cluster_transfer(r->cl_id, transfer_done, r);
	if (rv != 0)
		start_failed(r, rv, "cluster transfer");
}
