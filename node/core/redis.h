/* redis.h - a small asynchronous Redis client on the node's libuv loop (hiredis' async API
 * with event hooks of its own on a uv_poll_t), for state that several nodes share when an
 * operator configures Redis (redis_address): login-failure counters today
 * (core/authlimit_redis.c), rate limits later. Redis is an optimisation, never a dependency:
 * the client never blocks the loop (host names are resolved with uv_getaddrinfo, the connect
 * is non-blocking with a timeout), reconnects with exponential back-off when the server goes
 * away, refuses commands while it is not connected (the caller's in-memory state decides
 * alone) and bounds the commands in flight. It logs one line when the connection comes up,
 * one when it is lost or cannot be made, and stays silent while it keeps failing. Its handles
 * are unreferenced: they never keep the loop alive. Loop thread only. */
#ifndef MR_REDIS_H
#define MR_REDIS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define REDIS_DEFAULT_PORT 6379
#define REDIS_MAX_PENDING 1024 /* commands in flight; beyond that they are dropped */
#define REDIS_CONNECT_TIMEOUT_MS 2000u
#define REDIS_BACKOFF_MIN_MS 100u /* first reconnect delay, doubled per failure */
#define REDIS_BACKOFF_MAX_MS 5000u

struct redis;

struct redis_options {
	const char *address;  /* "host:port", "host" (port 6379), "[v6addr]:port" */
	const char *password; /* NULL or "": no AUTH */
	unsigned db;          /* SELECT db when > 0 */
};

/* Split `s` into host and port. The host is at most hostlen - 1 bytes, not empty; an IPv6
 * literal must be bracketed when a port follows. 0, or -1 with nothing promised in host. */
int redis_parse_address(const char *s, char *host, size_t hostlen, uint16_t *port);

/* A client that starts connecting at once. NULL (and *err filled) if the address is bad. */
struct redis *redis_new(uv_loop_t *loop, const struct redis_options *o, char *err, size_t errlen);
/* Disconnect, answer every command in flight with ok = false, and free the client once its
 * handles are closed (the loop must run on for that). */
void redis_close(struct redis *r);
/* Connected (commands are accepted). */
bool redis_connected(const struct redis *r);
/* Commands in flight. */
size_t redis_pending(const struct redis *r);

/* The answer to a command: ok = false if the command got no usable answer (connection lost,
 * client closed, error reply); else value is the integer answered (a missing key reads 0). */
typedef void (*redis_int_cb)(void *ud, bool ok, long long value);

/* Each command returns 0 when it was sent (cb will be called exactly once, cb may be NULL) or
 * -1 when it was dropped (not connected, too many in flight): cb is then never called. */

/* INCR key and return the new count. The key expires ttl_ms after its first increment; once
 * the count reaches refresh_from, every increment pushes the expiry back to ttl_ms from now
 * (refresh_from = 1: sliding expiry; 0: fixed window). One atomic EVAL. */
int redis_incr_expire(struct redis *r, const char *key, uint64_t ttl_ms, uint64_t refresh_from,
                      redis_int_cb cb, void *ud);
/* GET key as an integer (missing = 0; a value that is not a decimal integer is ok = false). */
int redis_get_int(struct redis *r, const char *key, redis_int_cb cb, void *ud);
/* DEL key; value = number of keys removed. */
int redis_del(struct redis *r, const char *key, redis_int_cb cb, void *ud);

#endif
