/* authlimit_redis.c - the Redis mirror of the login-failure table (authlimit_redis.h). One
 * attachment per process (the node's table, authlimit_global): the hooks name the counter
 * after the digest, send one command and carry (kind, digest, attachment generation) to the
 * answer, which is applied to the table unless the mirror was detached meanwhile. */
#include "core/authlimit_redis.h"
#include "common/log.h"
#include "common/util.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MASTER_KEY_BYTES 32
static const char derive_context[] = "mailraft authlimit redis v1";

static struct {
	struct authlimit *al;
	struct redis *r;
	unsigned gen;
} M;

struct pending {
	unsigned gen;
	char kind;
	uint64_t key;
};

void authlimit_redis_derive_key(const void *secret, size_t len, unsigned char out[32])
{
	unsigned char k[crypto_generichash_KEYBYTES];
	crypto_generichash(k, sizeof k, secret, len, NULL, 0);
	crypto_generichash(out, 32, (const unsigned char *)derive_context,
	                   sizeof derive_context - 1, k, sizeof k);
	sodium_memzero(k, sizeof k);
}

void authlimit_redis_key_name(char kind, uint64_t key, char *out, size_t outlen)
{
	snprintf(out, outlen, AUTHLIMIT_REDIS_PREFIX "%c:%016llx", kind == 'i' ? 'i' : 'a',
	         (unsigned long long)key);
}

static struct pending *pending_new(char kind, uint64_t key)
{
	struct pending *p = xmalloc(sizeof *p);
	p->gen = M.gen;
	p->kind = kind;
	p->key = key;
	return p;
}

static void on_count(void *ud, bool ok, long long value)
{
	struct pending *p = ud;
	if (ok && p->gen == M.gen && M.al)
		authlimit_apply(M.al, p->kind, p->key, value > 0 ? (uint64_t)value : 0);
	free(p);
}

/* DEL answers the number of keys removed; the count is 0 either way. */
static void on_deleted(void *ud, bool ok, long long value)
{
	(void)value;
	on_count(ud, ok, 0);
}

static void mirror_send(char kind, uint64_t key, int what)
{
	char name[48];
	authlimit_redis_key_name(kind, key, name, sizeof name);
	struct pending *p = pending_new(kind, key);
	int rc;
	if (what == 'f')
		rc = redis_incr_expire(M.r, name, AUTHLIMIT_WINDOW_MS, authlimit_threshold(kind),
		                       on_count, p);
	else if (what == 's')
		rc = redis_del(M.r, name, on_deleted, p);
	else
		rc = redis_get_int(M.r, name, on_count, p);
	if (rc != 0)
		free(p); /* not connected: the table decides alone */
}

static void hook_failure(void *ud, char kind, uint64_t key)
{
	(void)ud;
	mirror_send(kind, key, 'f');
}

static void hook_success(void *ud, char kind, uint64_t key)
{
	(void)ud;
	mirror_send(kind, key, 's');
}

static void hook_fetch(void *ud, char kind, uint64_t key)
{
	(void)ud;
	mirror_send(kind, key, 'g');
}

int authlimit_redis_secret(const struct config *cfg, unsigned char out[32], char *err,
                           size_t errlen)
{
	if (cfg->redis_secret[0]) {
		authlimit_redis_derive_key(cfg->redis_secret, strlen(cfg->redis_secret), out);
		return 0;
	}
	char path[1100];
	if (cfg->master_key_file[0])
		snprintf(path, sizeof path, "%s", cfg->master_key_file);
	else
		snprintf(path, sizeof path, "%s/master.key", cfg->data_dir);
	uint8_t *buf = NULL;
	size_t len = 0;
	if (mr_read_file(path, 4096, &buf, &len) != 0 || len != MASTER_KEY_BYTES) {
		snprintf(err, errlen, "cannot read the master key %s to key the shared counters",
		         path);
		if (buf)
			mr_memzero(buf, len);
		free(buf);
		return -1;
	}
	authlimit_redis_derive_key(buf, len, out);
	mr_memzero(buf, len);
	free(buf);
	return 0;
}

int authlimit_redis_attach(struct authlimit *al, struct redis *r, const struct config *cfg,
                           char *err, size_t errlen)
{
	unsigned char hkey[32];
	if (authlimit_redis_secret(cfg, hkey, err, errlen) != 0)
		return -1;
	M.al = al;
	M.r = r;
	M.gen++;
	static const struct authlimit_mirror mirror = {
	    .failure = hook_failure, .success = hook_success, .fetch = hook_fetch};
	authlimit_set_mirror(al, &mirror, hkey);
	sodium_memzero(hkey, sizeof hkey);
	return 0;
}

void authlimit_redis_detach(struct authlimit *al)
{
	if (al != M.al || !al)
		return;
	authlimit_set_mirror(al, NULL, NULL);
	M.al = NULL;
	M.r = NULL;
	M.gen++;
}
