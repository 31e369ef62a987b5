/* node.h - the node's process-wide context, shared by every frontend (loop thread only). */
#ifndef MR_NODE_H
#define MR_NODE_H
#include <stdbool.h>
#include <uv.h>
#include "config.h"
#include "storage/store.h"

struct node {
	const struct config *cfg;
	uv_loop_t *loop;
	struct store *store;
	const char *hostname; /* cfg->hostname */
	/* NULL, or false while the node must not serve clients (cluster mode before it holds
	 * the committed directory: cluster_ready) */
	bool (*serving)(void);
};

/* The running node (set once by main before serving, with cfg and loop filled in). Setting it
 * also starts the node-wide services of core/node.c: the Redis client when redis_address is
 * configured. */
struct node *node_get(void);
void node_set(struct node *n);
/* On shutdown, before the loop's last run: close the services node_set started (their handles
 * never keep the loop alive, but uv_loop_close needs them closed). */
void node_stop_services(void);
struct redis;
/* The node's Redis client, or NULL when none is configured (it may be disconnected). */
struct redis *node_redis(void);
/* May clients be served now? Frontends greet a client with a temporary "unavailable" reply and
 * close when not (SMTP 421 4.3.2, IMAP BYE [UNAVAILABLE], POP3 -ERR [SYS/TEMP]). */
static inline bool node_serving(void)
{
	const struct node *n = node_get();
	return !n || !n->serving || n->serving();
}

#endif
