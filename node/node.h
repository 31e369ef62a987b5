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

/* The running node (set once by main before serving). */
struct node *node_get(void);
void node_set(struct node *n);
/* May clients be served now? Frontends greet a client with a temporary "unavailable" reply and
 * close when not (SMTP 421 4.3.2, IMAP BYE [UNAVAILABLE], POP3 -ERR [SYS/TEMP]). */
static inline bool node_serving(void)
{
	const struct node *n = node_get();
	return !n || !n->serving || n->serving();
}

#endif
