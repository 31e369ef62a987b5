/* ratelimit.c - see ratelimit.h. Open addressing: an entry lives in one of PROBE slots after
 * its digest's home slot; a new key takes a free or expired slot there, else the slot whose
 * window started longest ago (an attacker churning keys can only reset the coldest counters of
 * one neighbourhood). Digests are keyed BLAKE2b of (kind, lower-cased key): with a random key
 * when alone, with the shared key when Redis is attached (so every node names a counter the
 * same way). */
#include "core/ratelimit.h"
#include "core/redis.h"
#include "common/util.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define PROBE 8

struct rl_entry {
	uint64_t digest; /* 0: free */
	uint64_t window_start;
	uint64_t window_ms;
	uint64_t count;
};

struct ratelimit {
	ratelimit_clock_fn clock;
	struct rl_entry *e;
	size_t mask;
	unsigned char hkey[crypto_generichash_KEYBYTES];
	struct redis *redis;
	unsigned gen; /* bumped when sharing changes: late answers are dropped */
};

struct rl_pending {
	struct ratelimit *rl;
	unsigned gen;
	uint64_t digest, window_start;
};

static uint64_t real_clock(void)
{
	return uv_hrtime() / 1000000u;
}

struct ratelimit *ratelimit_new(size_t capacity, ratelimit_clock_fn clock)
{
	if (sodium_init() < 0)
		abort();
	size_t n = 16;
	while (n < capacity)
		n <<= 1;
	struct ratelimit *rl = xcalloc(1, sizeof *rl);
	rl->clock = clock ? clock : real_clock;
	rl->e = xcalloc(n, sizeof *rl->e);
	rl->mask = n - 1;
	randombytes_buf(rl->hkey, sizeof rl->hkey);
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	free(rl->e);
	sodium_memzero(rl, sizeof *rl);
	free(rl);
}

struct ratelimit *ratelimit_global(void)
{
	static struct ratelimit *g;
	if (!g)
		g = ratelimit_new(RATELIMIT_CAPACITY, NULL);
	return g;
}

uint64_t ratelimit_digest(const struct ratelimit *rl, enum rl_kind kind, const char *key)
{
	char buf[400];
	int n = snprintf(buf, sizeof buf, "%d:%s", (int)kind, key);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
	mr_lower(buf);
	uint64_t d = 0;
	crypto_generichash((unsigned char *)&d, sizeof d, (const unsigned char *)buf, len, rl->hkey,
	                   sizeof rl->hkey);
	return d ? d : 1; /* 0 marks a free slot */
}

static struct rl_entry *slot_for(struct ratelimit *rl, uint64_t d, uint64_t now, bool add)
{
	struct rl_entry *free_e = NULL, *idle_e = NULL, *oldest = NULL;
	for (size_t i = 0; i < PROBE; i++) {
		struct rl_entry *e = &rl->e[(d + i) & rl->mask];
		if (e->digest == d)
			return e;
		if (!e->digest) {
			if (!free_e)
				free_e = e;
		} else if (now - e->window_start >= e->window_ms) {
			if (!idle_e)
				idle_e = e;
		} else if (!oldest || e->window_start < oldest->window_start) {
			oldest = e;
		}
	}
	if (!add)
		return NULL;
	struct rl_entry *v = free_e ? free_e : idle_e ? idle_e : oldest;
	memset(v, 0, sizeof *v);
	v->digest = d;
	return v;
}

static void on_shared(void *ud, bool ok, long long value)
{
	struct rl_pending *p = ud;
	if (ok && value > 0 && p->gen == p->rl->gen)
		ratelimit_apply(p->rl, p->digest, p->window_start, (uint64_t)value);
	free(p);
}

static void share(struct ratelimit *rl, enum rl_kind kind, const struct rl_entry *e)
{
	if (!rl->redis || !redis_connected(rl->redis))
		return;
	/* Redis' key expiry is the shared window: the first INCR of a window starts it */
	char name[96];
	snprintf(name, sizeof name, "mr:rl:%d:%016llx", (int)kind, (unsigned long long)e->digest);
	struct rl_pending *p = xmalloc(sizeof *p);
	p->rl = rl;
	p->gen = rl->gen;
	p->digest = e->digest;
	p->window_start = e->window_start;
	if (redis_incr_expire(rl->redis, name, e->window_ms, 0, on_shared, p) != 0)
		free(p); /* not connected: local only */
}

static bool limit_event(struct ratelimit *rl, enum rl_kind kind, const char *key, unsigned limit,
                        uint64_t window_ms, bool count)
{
	if (limit == 0 || !key || !*key || window_ms == 0)
		return true;
	uint64_t now = rl->clock();
	uint64_t d = ratelimit_digest(rl, kind, key);
	struct rl_entry *e = slot_for(rl, d, now, count);
	if (!e)
		return true; /* never counted: within any limit */
	if (e->window_ms != window_ms || now - e->window_start >= window_ms) {
		if (!count)
			return true;
		e->window_start = now;
		e->window_ms = window_ms;
		e->count = 0;
	}
	if (e->count >= limit)
		return false;
	if (count) {
		e->count++;
		share(rl, kind, e);
	}
	return true;
}

bool ratelimit_hit(struct ratelimit *rl, enum rl_kind kind, const char *key, unsigned limit,
                   uint64_t window_ms)
{
	return limit_event(rl, kind, key, limit, window_ms, true);
}

bool ratelimit_check(struct ratelimit *rl, enum rl_kind kind, const char *key, unsigned limit,
                     uint64_t window_ms)
{
	return limit_event(rl, kind, key, limit, window_ms, false);
}

void ratelimit_apply(struct ratelimit *rl, uint64_t d, uint64_t window_start, uint64_t count)
{
	struct rl_entry *e = slot_for(rl, d, rl->clock(), false);
	if (e && e->window_start == window_start && count > e->count)
		e->count = count;
}

void ratelimit_share(struct ratelimit *rl, struct redis *r, const unsigned char key32[32])
{
	rl->redis = r;
	rl->gen++;
	if (r && key32)
		memcpy(rl->hkey, key32, sizeof rl->hkey < 32 ? sizeof rl->hkey : 32);
	else
		randombytes_buf(rl->hkey, sizeof rl->hkey);
	memset(rl->e, 0, (rl->mask + 1) * sizeof *rl->e); /* digests changed with the key */
}
