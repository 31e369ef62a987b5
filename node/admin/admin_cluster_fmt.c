/* admin_cluster_fmt.c - a cluster_view (node/cluster/cluster.h) as CtlResponse fields and
 * rows (see admin_cluster.h). The member table marks the leader in its state column and this
 * node in its self column; numbers are decimal, unknown values "-". Health is computed here,
 * from this node's view only: no leader known, or a voter that did not answer the last poll. */
#include "admin_cluster.h"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *const admin_cluster_cols[ADMIN_CLUSTER_COLS] = {
    "id", "address", "role", "state", "self", "applied", "lag", "reachable",
};

static bool is_self(const struct cluster_view *v, const struct cluster_member_view *m)
{
	return m->m.id == v->st.id;
}

const char *admin_cluster_health(const struct cluster_view *v, char *buf, size_t n)
{
	if (n == 0)
		return buf;
	if (v->st.leader_id == 0) {
		snprintf(buf, n, "no leader");
		return buf;
	}
	size_t len = 0;
	unsigned down = 0;
	for (unsigned i = 0; i < v->n && i < CL_MAX_MEMBERS; i++) {
		const struct cluster_member_view *m = &v->members[i];
		if (m->m.role != CL_VOTER || m->reachable || is_self(v, m))
			continue;
		int w = snprintf(buf + len, n - len, "%s%" PRIu64,
		                 down++ ? ", " : "degraded: voter ", (uint64_t)m->m.id);
		if (w < 0 || (size_t)w >= n - len) {
			len = n - 1;
			break;
		}
		len += (size_t)w;
	}
	if (down == 0)
		snprintf(buf, n, "ok");
	else if (len + 1 < n)
		snprintf(buf + len, n - len, " unreachable");
	return buf;
}

static void field_u64(Mr__CtlResponse *resp, const char *key, uint64_t val)
{
	char tmp[24];
	snprintf(tmp, sizeof tmp, "%" PRIu64, val);
	admin_resp_field(resp, key, tmp);
}

static void leader_fields(Mr__CtlResponse *resp, const struct cluster_view *v)
{
	char tmp[CL_ADDR_MAX + 32];
	if (v->st.leader_id == 0) {
		admin_resp_field(resp, "leader", "none");
		return;
	}
	snprintf(tmp, sizeof tmp, "%" PRIu64 " (%.*s)%s", (uint64_t)v->st.leader_id,
	         (int)strnlen(v->st.leader_address, sizeof v->st.leader_address),
	         v->st.leader_address, v->st.leader_id == v->st.id ? " this node" : "");
	admin_resp_field(resp, "leader", tmp);
}

void admin_cluster_status_fields(Mr__CtlResponse *resp, const struct cluster_view *v)
{
	char tmp[256];
	admin_resp_field(resp, "mode", "cluster");
	field_u64(resp, "node_id", v->st.id);
	admin_resp_field(resp, "state", cl_state_name(v->st.state));
	leader_fields(resp, v);
	field_u64(resp, "leader_id", v->st.leader_id);
	admin_resp_field(resp, "leader_address", v->st.leader_id ? v->st.leader_address : "");
	field_u64(resp, "term", v->st.term);
	field_u64(resp, "commit_index", v->st.commit_index);
	field_u64(resp, "last_applied", v->st.last_applied);
	admin_resp_field(resp, "ready", v->ready ? "yes" : "no");
	admin_resp_field(resp, "health", admin_cluster_health(v, tmp, sizeof tmp));
	unsigned voters = 0;
	for (unsigned i = 0; i < v->n && i < CL_MAX_MEMBERS; i++)
		voters += v->members[i].m.role == CL_VOTER;
	snprintf(tmp, sizeof tmp, "%u (%u voter%s)", v->n, voters, voters == 1 ? "" : "s");
	admin_resp_field(resp, "members", tmp);
	field_u64(resp, "needs_fetch", v->needs_fetch);
}

/* The state column: the leader says so; this node shows its raft state; other voters follow
 * (or "unknown" when they did not answer the last poll); non-voters show "-". */
static const char *member_state(const struct cluster_view *v, const struct cluster_member_view *m)
{
	if (m->m.id == v->st.leader_id)
		return "leader";
	if (is_self(v, m))
		return cl_state_name(v->st.state);
	if (m->m.role != CL_VOTER)
		return "-";
	return m->reachable ? "follower" : "unknown";
}

void admin_cluster_member_rows(Mr__CtlResponse *resp, const struct cluster_view *v)
{
	char tmp[256];
	field_u64(resp, "node_id", v->st.id);
	leader_fields(resp, v);
	field_u64(resp, "term", v->st.term);
	field_u64(resp, "commit_index", v->st.commit_index);
	admin_resp_field(resp, "health", admin_cluster_health(v, tmp, sizeof tmp));
	admin_resp_columns(resp, ADMIN_CLUSTER_COLS, admin_cluster_cols);
	for (unsigned i = 0; i < v->n && i < CL_MAX_MEMBERS; i++) {
		const struct cluster_member_view *m = &v->members[i];
		char id[24], applied[24], lag[24], addr[CL_ADDR_MAX];
		snprintf(id, sizeof id, "%" PRIu64, (uint64_t)m->m.id);
		snprintf(addr, sizeof addr, "%.*s", (int)strnlen(m->m.address, sizeof m->m.address),
		         m->m.address);
		bool self = is_self(v, m);
		if (m->applied_index || m->reachable || self)
			snprintf(applied, sizeof applied, "%" PRIu64, m->applied_index);
		else
			snprintf(applied, sizeof applied, "-");
		if (m->lag >= 0)
			snprintf(lag, sizeof lag, "%" PRId64, m->lag);
		else
			snprintf(lag, sizeof lag, "-");
		const char *cells[ADMIN_CLUSTER_COLS] = {
		    id,
		    addr,
		    cl_role_name(m->m.role),
		    member_state(v, m),
		    self ? "yes" : "no",
		    applied,
		    lag,
		    m->reachable || self ? "yes" : "no",
		};
		admin_resp_row(resp, ADMIN_CLUSTER_COLS, cells);
	}
}
