/* node.c - the process-wide node context. */
#include "node.h"

static struct node *the_node;

struct node *node_get(void)
{
	return the_node;
}

void node_set(struct node *n)
{
	the_node = n;
}
