/* authlimit_redis.h - login-failure counters shared by every node through Redis: the mirror
 * (authlimit.h) that core/authlimit.c tells about failures, successes and stale checks. Redis
 * holds one counter per key, named "mr:al:<kind>:<16 hex digits>" after the table's keyed
 * digest: neither IPs nor account names reach Redis. The digest key is derived from
 * redis_secret, or (empty) from the node's master key, which the nodes of a cluster share; so
 * single nodes sharing one Redis must be given the same redis_secret. A failure is an atomic
 * INCR with the failure window as expiry (pushed back with every failure once the threshold is
 * reached, like the table's window), a success a DEL, a check a GET; every answer is applied
 * to the table. While Redis is unreachable the commands are dropped and the table counts
 * alone. */
#ifndef MR_AUTHLIMIT_REDIS_H
#define MR_AUTHLIMIT_REDIS_H
#include "config.h"
#include "core/authlimit.h"
#include "core/redis.h"
#include <stddef.h>
#include <stdint.h>

#define AUTHLIMIT_REDIS_PREFIX "mr:al:"

/* The 32-byte digest key for a secret (redis_secret, or the master key's bytes). */
void authlimit_redis_derive_key(const void *secret, size_t len, unsigned char out[32]);
/* The Redis key of (kind, digest) into out (at least 32 bytes). */
void authlimit_redis_key_name(char kind, uint64_t key, char *out, size_t outlen);
/* The 32-byte key naming shared counters, the same on every node: from redis_secret, else
 * from the master key. 0, or -1 with err filled. (Also used by core/ratelimit.) */
int authlimit_redis_secret(const struct config *cfg, unsigned char out[32], char *err,
                           size_t errlen);

/* Mirror `al` to `r`, keyed from cfg->redis_secret or the master key file. 0, or -1 with err
 * (the table is then left without a mirror). `al` and `r` must outlive the attachment. */
int authlimit_redis_attach(struct authlimit *al, struct redis *r, const struct config *cfg,
                           char *err, size_t errlen);
/* Detach the mirror (answers still in flight are then ignored). */
void authlimit_redis_detach(struct authlimit *al);

#endif
