/* ratelimit.h - SMTP rate limits (issue 5 item 7): fixed-window event counters per client IP,
 * per authenticated user and per sender domain, in a bounded in-memory table (keys kept only as
 * keyed 64-bit digests; a full neighbourhood evicts its oldest window). With Redis configured
 * every counted event is also an atomic INCR of a shared counter with the window as its expiry,
 * and each answer (the count over all nodes) raises the local count, so the nodes of a cluster
 * enforce one limit together from the next event on. The decision is always local and
 * immediate: Redis being slow or down never delays, refuses or loses mail; the limits are then
 * per node. Loop thread only. */
#ifndef MR_RATELIMIT_H
#define MR_RATELIMIT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_CAPACITY 8192
#define RATELIMIT_MINUTE_MS 60000u
#define RATELIMIT_HOUR_MS 3600000u

enum rl_kind {
	RL_CONN_IP,     /* SMTP connections per client IP */
	RL_MSG_IP,      /* messages per client IP (MX) */
	RL_MSG_DOMAIN,  /* messages per sender domain (MX) */
	RL_MSG_USER,    /* messages per authenticated user (submission) */
	RL_KINDS
};

typedef uint64_t (*ratelimit_clock_fn)(void); /* monotonic milliseconds */

struct ratelimit;
struct redis;

/* A table of `capacity` entries (rounded up to a power of two, >= 16) reading time from
 * `clock` (NULL = uv_hrtime). */
struct ratelimit *ratelimit_new(size_t capacity, ratelimit_clock_fn clock);
void ratelimit_free(struct ratelimit *rl);
/* The node's table (created on first use). */
struct ratelimit *ratelimit_global(void);

/* Count one event of `kind` for `key` (case-insensitive). true when it is within `limit`
 * events per window_ms (counted), false when over it (not counted). limit 0: no limit,
 * nothing counted. */
bool ratelimit_hit(struct ratelimit *rl, enum rl_kind kind, const char *key, unsigned limit,
                   uint64_t window_ms);

/* Would ratelimit_hit allow this event? Counts nothing (to check several limits before
 * counting the event against all of them). */
bool ratelimit_check(struct ratelimit *rl, enum rl_kind kind, const char *key, unsigned limit,
                     uint64_t window_ms);

/* Share the counters through r (NULL: stop). key32 keys the Redis counter names (the same on
 * every node), so no address or name reaches Redis. */
void ratelimit_share(struct ratelimit *rl, struct redis *r, const unsigned char key32[32]);

/* Raise the count of the entry for digest `d` in the window that started at window_start to
 * `count` (a Redis answer; a smaller count or another window changes nothing). Exposed with
 * ratelimit_digest for tests. */
void ratelimit_apply(struct ratelimit *rl, uint64_t d, uint64_t window_start, uint64_t count);
uint64_t ratelimit_digest(const struct ratelimit *rl, enum rl_kind kind, const char *key);

#endif
