/* node.h - the node's process-wide context, shared by every frontend (loop thread only). */
#ifndef MR_NODE_H
#define MR_NODE_H
#include <uv.h>
#include "config.h"
#include "storage/store.h"

struct node {
	const struct config *cfg;
	uv_loop_t *loop;
	struct store *store;
	const char *hostname; /* cfg->hostname */
};

/* The running node (set once by main before serving). */
struct node *node_get(void);
void node_set(struct node *n);

#endif
