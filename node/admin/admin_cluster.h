/* admin_cluster.h - how the admin channel shows a cluster (node/cluster/cluster.h's struct
 * cluster_view) in a CtlResponse: the cluster fields of `status`, the rows of
 * `cluster members` and the one-word health verdict. Pure formatting (admin_cluster_fmt.c),
 * no cluster calls, so it is unit-tested with hand-made views. */
#ifndef MR_ADMIN_CLUSTER_H
#define MR_ADMIN_CLUSTER_H
#include <stddef.h>
#include "admin_wire.h"
#include "cluster/cluster.h"

/* Columns of `cluster members`, in order. */
#define ADMIN_CLUSTER_COLS 8
extern const char *const admin_cluster_cols[ADMIN_CLUSTER_COLS];

/* Health of the cluster as this node sees it, into buf (always NUL-terminated):
 * "no leader" when no leader is known, "degraded: voter N unreachable" (ids listed) when a
 * voter other than this node did not answer the last poll, else "ok". Returns buf. */
const char *admin_cluster_health(const struct cluster_view *v, char *buf, size_t n);

/* Append the cluster fields of `status` (mode, node_id, state, leader, leader_id,
 * leader_address, term, commit_index, last_applied, ready, health, members, needs_fetch). */
void admin_cluster_status_fields(Mr__CtlResponse *resp, const struct cluster_view *v);

/* Set the columns and append one row per member of v, plus the summary fields shown above
 * the table (node_id, leader, term, commit_index, health). */
void admin_cluster_member_rows(Mr__CtlResponse *resp, const struct cluster_view *v);

#endif
