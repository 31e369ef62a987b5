/* node.c - the process-wide node context, and the node-wide services that hang off it: the
 * optional Redis client (core/redis.h), started when the node is set and mirrored into the
 * login-failure table (core/authlimit_redis.h). */
#include "node.h"
#include "common/log.h"
#include "core/authlimit_redis.h"
#include "core/ratelimit.h"
#include <sodium.h>
#include "core/redis.h"

static struct node *the_node;
static struct redis *the_redis;

struct node *node_get(void)
{
	return the_node;
}

struct redis *node_redis(void)
{
	return the_redis;
}

/* Redis when configured: a bad address was refused by config_load; an unreadable master key
 * only costs the sharing (logged), never the node. */
static void start_redis(struct node *n)
{
	if (the_redis || !n->cfg || !n->cfg->redis_address[0] || !n->loop)
		return;
	char err[256];
	struct redis_options o = {
	    .address = n->cfg->redis_address,
	    .password = n->cfg->redis_password,
	    .db = n->cfg->redis_db,
	};
	the_redis = redis_new(n->loop, &o, err, sizeof err);
	if (!the_redis) {
		log_error("redis", "%s; login failures are counted per node", err);
		return;
	}
	if (authlimit_redis_attach(authlimit_global(), the_redis, n->cfg, err, sizeof err) != 0)
		log_error("redis", "%s; login failures are counted per node", err);
	unsigned char key[32];
	if (authlimit_redis_secret(n->cfg, key, err, sizeof err) == 0)
		ratelimit_share(ratelimit_global(), the_redis, key);
	else
		log_error("redis", "%s; rate limits are counted per node", err);
	sodium_memzero(key, sizeof key);
}

void node_set(struct node *n)
{
	the_node = n;
	if (n)
		start_redis(n);
}

void node_stop_services(void)
{
	if (!the_redis)
		return;
	authlimit_redis_detach(authlimit_global());
	ratelimit_share(ratelimit_global(), NULL, NULL);
	redis_close(the_redis);
	the_redis = NULL;
}
