/* authlimit.h - login-failure throttling shared by IMAP and POP3 (issue 4 item 5). A bounded
 * in-memory table (fixed capacity, least-recently-used eviction) counts recent failed logins
 * per client IP and per lower-cased account name. Once a key reaches its threshold within the
 * window, further attempts for that IP or that account are refused before any password work
 * (no Argon2) for a lockout that doubles with every further failure, up to a cap; a success
 * clears both keys. Keys are stored only as keyed 64-bit hashes (SipHash, random key per
 * table), so neither addresses nor account names stay in memory. The clock is injected so
 * tests are deterministic. Loop thread only: no locking. The table is per node (not
 * replicated) and always makes the decision; with a mirror attached (authlimit_redis.h:
 * Redis, when redis_address is configured) it is also the cache of counters shared by every
 * node: each failure and success is mirrored, the mirror's answers (the cluster-wide count)
 * overwrite the local count through authlimit_apply, and a check of a key not synced within
 * AUTHLIMIT_SYNC_MS asks the mirror for its count, which the next attempt sees (one attempt of
 * lag per node). Without an answer (Redis down) the table counts alone, as without a mirror. */
#ifndef MR_AUTHLIMIT_H
#define MR_AUTHLIMIT_H
#include <stddef.h>
#include <stdint.h>

/* Compile-time policy (there is no config key). */
#define AUTHLIMIT_CAPACITY 4096
#define AUTHLIMIT_ACCOUNT_THRESHOLD 5 /* failures for one account before the lockout */
/* Higher for an IP: many users may share one address behind NAT. */
#define AUTHLIMIT_IP_THRESHOLD 10
#define AUTHLIMIT_WINDOW_MS (15u * 60u * 1000u) /* failures older than this are forgotten */
#define AUTHLIMIT_LOCK_BASE_MS 5000u            /* first lockout, doubled per failure */
#define AUTHLIMIT_LOCK_CAP_MS (5u * 60u * 1000u)
#define AUTHLIMIT_SYNC_MS 1000u /* with a mirror: a key older than this is fetched on check */

/* Monotonic milliseconds. */
typedef uint64_t (*authlimit_clock_fn)(void);

struct authlimit;

/* A table of `capacity` entries (>= 2) reading time from `clock` (NULL = uv_hrtime). */
struct authlimit *authlimit_new(size_t capacity, authlimit_clock_fn clock);
void authlimit_free(struct authlimit *al);

/* The node's shared table (created on first use with AUTHLIMIT_CAPACITY and the real clock). */
struct authlimit *authlimit_global(void);

/* 0 if an attempt from `ip` for `account` may be checked, else the milliseconds left in the
 * lockout (> 0): refuse without verifying the password. Either argument may be NULL or "".
 * A refused attempt is not counted as a failure. The account is compared case-insensitively. */
uint64_t authlimit_check(struct authlimit *al, const char *ip, const char *account);

/* Record a failed password check for `ip` and `account`. */
void authlimit_failure(struct authlimit *al, const char *ip, const char *account);

/* Record a successful login: forget the failures of `ip` and `account`. */
void authlimit_success(struct authlimit *al, const char *ip, const char *account);

/* The shared store behind a table. Each hook gets the key's kind ('i' = IP, 'a' = account)
 * and its keyed 64-bit digest, never the IP or account; it answers later (or never) with the
 * shared count through authlimit_apply. Hooks must not call back into the table. */
struct authlimit_mirror {
	void (*failure)(void *ud, char kind, uint64_t key); /* count one more failure */
	void (*success)(void *ud, char kind, uint64_t key); /* forget the key */
	void (*fetch)(void *ud, char kind, uint64_t key);   /* read the count */
	void *ud;
};

/* Attach a mirror (NULL detaches) and key every digest with hkey (32 bytes; NULL keeps the
 * current key), so that the nodes sharing a mirror agree on digests. Changing the key empties
 * the table. */
void authlimit_set_mirror(struct authlimit *al, const struct authlimit_mirror *m,
                          const unsigned char *hkey);

/* The mirror's answer for (kind, key): `failures` is the shared count (0 = forgotten). It
 * replaces the local count; a lockout starts now when the count grew to the threshold or
 * beyond, and ends when it fell below. Answers must arrive in the order of the requests. */
void authlimit_apply(struct authlimit *al, char kind, uint64_t key, uint64_t failures);

/* The threshold of a kind ('i' or 'a'). */
uint32_t authlimit_threshold(char kind);

/* Number of keys currently tracked (for tests). */
size_t authlimit_count(const struct authlimit *al);

#endif
