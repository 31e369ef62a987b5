/* authlimit.c - the login-failure table behind authlimit.h: entries in a fixed array, found
 * through a chained hash on a keyed 64-bit digest of (kind, key), kept in a doubly linked
 * least-recently-used list (indices, no pointers) so that a full table evicts the entry
 * touched longest ago. Every operation is O(1) expected; memory is fixed at creation. An
 * optional mirror (authlimit.h) is told about every failure, success and stale check; its
 * answers replace the local counts (authlimit_apply). */
#include "core/authlimit.h"
#include "common/util.h"
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define NIL UINT32_MAX

struct al_entry {
	uint64_t key;
	uint64_t window_start; /* first failure counted in the current window */
	uint64_t last_failure;
	uint64_t locked_until; /* refuse while now < locked_until */
	uint64_t synced_at;    /* last request to or answer from the mirror */
	uint32_t failures;
	uint32_t hnext;        /* next entry in the same bucket, or NIL */
	uint32_t lprev, lnext; /* LRU list: head = most recent */
};

struct authlimit {
	authlimit_clock_fn clock;
	struct al_entry *e;
	uint32_t *bucket;
	size_t cap, nbuckets, count;
	uint32_t head, tail, free_head; /* free list is chained through hnext */
	struct authlimit_mirror mirror; /* all NULL: none */
	unsigned char hkey[crypto_generichash_KEYBYTES];
};

static uint64_t real_clock(void)
{
	return uv_hrtime() / 1000000u;
}

struct authlimit *authlimit_new(size_t capacity, authlimit_clock_fn clock)
{
	if (capacity < 2)
		capacity = 2;
	if (sodium_init() < 0)
		abort();
	struct authlimit *al = xcalloc(1, sizeof *al);
	al->clock = clock ? clock : real_clock;
	al->cap = capacity;
	al->nbuckets = 1;
	while (al->nbuckets < capacity * 2)
		al->nbuckets <<= 1;
	al->e = xcalloc(capacity, sizeof *al->e);
	al->bucket = xmalloc(al->nbuckets * sizeof *al->bucket);
	for (size_t i = 0; i < al->nbuckets; i++)
		al->bucket[i] = NIL;
	for (size_t i = 0; i < capacity; i++)
		al->e[i].hnext = i + 1 < capacity ? (uint32_t)(i + 1) : NIL;
	al->free_head = 0;
	al->head = al->tail = NIL;
	randombytes_buf(al->hkey, sizeof al->hkey);
	return al;
}

void authlimit_free(struct authlimit *al)
{
	if (!al)
		return;
	free(al->e);
	free(al->bucket);
	mr_memzero(al, sizeof *al);
	free(al);
}

struct authlimit *authlimit_global(void)
{
	static struct authlimit *g;
	if (!g)
		g = authlimit_new(AUTHLIMIT_CAPACITY, NULL);
	return g;
}

size_t authlimit_count(const struct authlimit *al)
{
	return al->count;
}

/* Keyed digest of kind + key; ASCII letters lower-cased (account names, RFC 5321 §2.4 lets
 * the local part be case-sensitive but the directory stores them lower-cased). */
static uint64_t key_of(const struct authlimit *al, char kind, const char *s)
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, al->hkey, sizeof al->hkey, 8);
	crypto_generichash_update(&st, (const unsigned char *)&kind, 1);
	unsigned char chunk[128];
	size_t n = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		chunk[n++] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
		if (n == sizeof chunk) {
			crypto_generichash_update(&st, chunk, n);
			n = 0;
		}
	}
	crypto_generichash_update(&st, chunk, n);
	unsigned char out[8];
	crypto_generichash_final(&st, out, sizeof out);
	uint64_t k;
	memcpy(&k, out, sizeof k);
	return k;
}

static uint32_t *bucket_of(struct authlimit *al, uint64_t key)
{
	return &al->bucket[key & (al->nbuckets - 1)];
}

static uint32_t find(struct authlimit *al, uint64_t key)
{
	for (uint32_t i = *bucket_of(al, key); i != NIL; i = al->e[i].hnext)
		if (al->e[i].key == key)
			return i;
	return NIL;
}

static void lru_unlink(struct authlimit *al, uint32_t i)
{
	struct al_entry *x = &al->e[i];
	if (x->lprev != NIL)
		al->e[x->lprev].lnext = x->lnext;
	else
		al->head = x->lnext;
	if (x->lnext != NIL)
		al->e[x->lnext].lprev = x->lprev;
	else
		al->tail = x->lprev;
}

static void lru_push_front(struct authlimit *al, uint32_t i)
{
	al->e[i].lprev = NIL;
	al->e[i].lnext = al->head;
	if (al->head != NIL)
		al->e[al->head].lprev = i;
	al->head = i;
	if (al->tail == NIL)
		al->tail = i;
}

static void remove_entry(struct authlimit *al, uint32_t i)
{
	uint32_t *pp = bucket_of(al, al->e[i].key);
	while (*pp != i)
		pp = &al->e[*pp].hnext;
	*pp = al->e[i].hnext;
	lru_unlink(al, i);
	memset(&al->e[i], 0, sizeof al->e[i]);
	al->e[i].hnext = al->free_head;
	al->free_head = i;
	al->count--;
}

/* The entry for key, created (evicting the least recently used one if full) and moved to the
 * front of the LRU list. */
static struct al_entry *touch(struct authlimit *al, uint64_t key)
{
	uint32_t i = find(al, key);
	if (i != NIL) {
		lru_unlink(al, i);
		lru_push_front(al, i);
		return &al->e[i];
	}
	if (al->free_head == NIL)
		remove_entry(al, al->tail);
	i = al->free_head;
	al->free_head = al->e[i].hnext;
	struct al_entry *x = &al->e[i];
	memset(x, 0, sizeof *x);
	x->key = key;
	uint32_t *b = bucket_of(al, key);
	x->hnext = *b;
	*b = i;
	lru_push_front(al, i);
	al->count++;
	return x;
}

uint32_t authlimit_threshold(char kind)
{
	return kind == 'i' ? AUTHLIMIT_IP_THRESHOLD : AUTHLIMIT_ACCOUNT_THRESHOLD;
}

/* The lockout after `failures` failures (>= threshold): the base doubled per extra failure. */
static uint64_t lock_for(uint32_t failures, uint32_t threshold)
{
	uint32_t extra = failures - threshold;
	if (extra < 32 && ((uint64_t)AUTHLIMIT_LOCK_BASE_MS << extra) < AUTHLIMIT_LOCK_CAP_MS)
		return (uint64_t)AUTHLIMIT_LOCK_BASE_MS << extra;
	return AUTHLIMIT_LOCK_CAP_MS;
}

static uint64_t remaining(struct authlimit *al, char kind, const char *s, uint64_t now)
{
	if (!s || !*s)
		return 0;
	uint64_t key = key_of(al, kind, s);
	uint32_t i = find(al, key);
	if (al->mirror.fetch && (i == NIL || now - al->e[i].synced_at >= AUTHLIMIT_SYNC_MS)) {
		if (i != NIL)
			al->e[i].synced_at = now;
		al->mirror.fetch(al->mirror.ud, kind, key);
	}
	if (i == NIL || al->e[i].locked_until <= now)
		return 0;
	return al->e[i].locked_until - now;
}

uint64_t authlimit_check(struct authlimit *al, const char *ip, const char *account)
{
	uint64_t now = al->clock();
	uint64_t a = remaining(al, 'i', ip, now), b = remaining(al, 'a', account, now);
	return a > b ? a : b;
}

static void fail_one(struct authlimit *al, char kind, const char *s, uint32_t threshold,
                     uint64_t now)
{
	if (!s || !*s)
		return;
	uint64_t key = key_of(al, kind, s);
	struct al_entry *x = touch(al, key);
	if (al->mirror.failure) {
		x->synced_at = now;
		al->mirror.failure(al->mirror.ud, kind, key);
	}
	/* Below the threshold the failures count within a window from the first one; once it
	 * was reached, only a whole window without failures forgives them (else waiting out
	 * each lockout would buy fresh attempts every window). */
	uint64_t since = x->failures < threshold ? x->window_start : x->last_failure;
	if (x->failures == 0 || now - since >= AUTHLIMIT_WINDOW_MS) {
		x->failures = 0;
		x->window_start = now;
	}
	x->last_failure = now;
	if (x->failures < UINT32_MAX)
		x->failures++;
	if (x->failures < threshold)
		return;
	x->locked_until = now + lock_for(x->failures, threshold);
}

void authlimit_failure(struct authlimit *al, const char *ip, const char *account)
{
	uint64_t now = al->clock();
	fail_one(al, 'i', ip, AUTHLIMIT_IP_THRESHOLD, now);
	fail_one(al, 'a', account, AUTHLIMIT_ACCOUNT_THRESHOLD, now);
}

static void forget(struct authlimit *al, char kind, const char *s)
{
	if (!s || !*s)
		return;
	uint64_t key = key_of(al, kind, s);
	uint32_t i = find(al, key);
	if (i != NIL)
		remove_entry(al, i);
	if (al->mirror.success)
		al->mirror.success(al->mirror.ud, kind, key);
}

void authlimit_success(struct authlimit *al, const char *ip, const char *account)
{
	forget(al, 'i', ip);
	forget(al, 'a', account);
}

void authlimit_set_mirror(struct authlimit *al, const struct authlimit_mirror *m,
                          const unsigned char *hkey)
{
	if (m)
		al->mirror = *m;
	else
		memset(&al->mirror, 0, sizeof al->mirror);
	if (!hkey || !memcmp(hkey, al->hkey, sizeof al->hkey))
		return;
	memcpy(al->hkey, hkey, sizeof al->hkey);
	while (al->head != NIL) /* digests under the old key are meaningless now */
		remove_entry(al, al->head);
}

void authlimit_apply(struct authlimit *al, char kind, uint64_t key, uint64_t failures)
{
	uint64_t now = al->clock();
	uint32_t i = find(al, key);
	if (failures == 0) {
		if (i != NIL)
			remove_entry(al, i);
		return;
	}
	struct al_entry *x = touch(al, key);
	x->synced_at = now;
	uint32_t n = failures > UINT32_MAX ? UINT32_MAX : (uint32_t)failures;
	if (n == x->failures)
		return; /* nothing new: the window and any lockout stand */
	uint32_t threshold = authlimit_threshold(kind);
	x->failures = n;
	x->window_start = x->last_failure = now;
	x->locked_until = n < threshold ? 0 : now + lock_for(n, threshold);
}
