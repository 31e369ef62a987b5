/* test_authlimit_mirror.c - the login-failure table with a mirror attached (the seam Redis
 * uses, core/authlimit_redis.c), driven by a recording fake and an injected clock: what is
 * mirrored (failures, successes, fetches of unseen or stale keys), how answers replace the
 * local count (lockout from the shared count, no extension on a repeated answer, release on a
 * lower count, removal on zero), that with no answers (Redis down) the table behaves exactly as
 * without a mirror, and the shared key derivation and key names against vectors computed
 * independently (Python hashlib.blake2b, as tests/integration/test_authlimit_redis.py does). */
#include "unit.h"
#include "core/authlimit.h"
#include "core/authlimit_redis.h"

static uint64_t now_ms;
static uint64_t fake_clock(void)
{
	return now_ms;
}

#define MAXCALLS 64
static struct call {
	char what; /* 'f' failure, 's' success, 'g' fetch */
	char kind;
	uint64_t key;
} calls[MAXCALLS];
static int ncalls;

static void record(char what, char kind, uint64_t key)
{
	if (ncalls < MAXCALLS)
		calls[ncalls++] = (struct call){what, kind, key};
}
static void m_fail(void *ud, char kind, uint64_t key)
{
	(void)ud;
	record('f', kind, key);
}
static void m_succ(void *ud, char kind, uint64_t key)
{
	(void)ud;
	record('s', kind, key);
}
static void m_fetch(void *ud, char kind, uint64_t key)
{
	(void)ud;
	record('g', kind, key);
}
static const struct authlimit_mirror fake = {m_fail, m_succ, m_fetch, NULL};

static unsigned char hkey[32];

static struct authlimit *mk(void)
{
	now_ms = 5000000;
	ncalls = 0;
	struct authlimit *al = authlimit_new(64, fake_clock);
	authlimit_redis_derive_key("unit-secret", 11, hkey);
	authlimit_set_mirror(al, &fake, hkey);
	return al;
}

/* The digest the table uses for (kind, value), learnt through the failure hook. */
static uint64_t digest_of(struct authlimit *al, char kind, const char *v)
{
	int before = ncalls;
	authlimit_failure(al, kind == 'i' ? v : NULL, kind == 'a' ? v : NULL);
	ASSERT_EQ_INT(ncalls, before + 1);
	ASSERT_EQ_INT(calls[before].kind, kind);
	uint64_t k = calls[before].key;
	authlimit_success(al, kind == 'i' ? v : NULL, kind == 'a' ? v : NULL);
	return k;
}

static void test_derivation_vectors(void)
{
	struct authlimit *al = mk();
	static const unsigned char want[32] = {0xe5, 0xea, 0x16, 0x21, 0x2a, 0x77, 0x38, 0xdc,
	                                       0x94, 0xe3, 0xfb, 0x56, 0x86, 0x9d, 0xac, 0xd6,
	                                       0x0e, 0xf3, 0xb5, 0x06, 0x86, 0xb8, 0x97, 0xf9,
	                                       0xf9, 0xd3, 0x17, 0x4e, 0x1d, 0xd5, 0xee, 0xf0};
	ASSERT_EQ_MEM(hkey, 32, want, 32);
	char name[48];
	authlimit_redis_key_name('a', digest_of(al, 'a', "Bob@X.test"), name, sizeof name);
	ASSERT_EQ_STR(name, "mr:al:a:411768d2beb6d116");
	authlimit_redis_key_name('i', digest_of(al, 'i', "192.0.2.1"), name, sizeof name);
	ASSERT_EQ_STR(name, "mr:al:i:01aa155d3cfdb854");
	/* a second table with the same secret agrees; another secret does not */
	struct authlimit *b = authlimit_new(8, fake_clock);
	authlimit_set_mirror(b, &fake, hkey);
	ASSERT(digest_of(b, 'a', "bob@x.test") == digest_of(al, 'a', "bob@x.test"));
	unsigned char other[32];
	authlimit_redis_derive_key("other-secret", 12, other);
	authlimit_set_mirror(b, &fake, other);
	ASSERT(digest_of(b, 'a', "bob@x.test") != digest_of(al, 'a', "bob@x.test"));
	authlimit_free(b);
	authlimit_free(al);
}

static void test_what_is_mirrored(void)
{
	struct authlimit *al = mk();
	ASSERT_EQ_INT(authlimit_check(al, "192.0.2.1", "a@x.test"), 0);
	ASSERT_EQ_INT(ncalls, 2); /* neither key seen: both fetched */
	ASSERT_EQ_INT(calls[0].what, 'g');
	ASSERT_EQ_INT(calls[0].kind, 'i');
	ASSERT_EQ_INT(calls[1].kind, 'a');
	ASSERT_EQ_INT(authlimit_count(al), 0); /* a check alone creates nothing */
	authlimit_failure(al, "192.0.2.1", "a@x.test");
	ASSERT_EQ_INT(ncalls, 4);
	ASSERT_EQ_INT(calls[2].what, 'f');
	ASSERT_EQ_INT(calls[3].what, 'f');
	ASSERT(calls[3].key == calls[1].key);
	ncalls = 0;
	now_ms += AUTHLIMIT_SYNC_MS - 1;
	authlimit_check(al, "192.0.2.1", "a@x.test");
	ASSERT_EQ_INT(ncalls, 0); /* synced recently: no fetch */
	now_ms += 1;
	authlimit_check(al, "192.0.2.1", "a@x.test");
	ASSERT_EQ_INT(ncalls, 2); /* stale: fetched again, once */
	authlimit_check(al, "192.0.2.1", "a@x.test");
	ASSERT_EQ_INT(ncalls, 2);
	authlimit_success(al, "192.0.2.1", "a@x.test");
	ASSERT_EQ_INT(ncalls, 4);
	ASSERT_EQ_INT(calls[2].what, 's');
	ASSERT_EQ_INT(calls[3].what, 's');
	ASSERT_EQ_INT(authlimit_count(al), 0);
	authlimit_check(al, NULL, "");
	ASSERT_EQ_INT(ncalls, 4); /* nothing to fetch */
	authlimit_free(al);
}

static void test_answers_replace_counts(void)
{
	struct authlimit *al = mk();
	authlimit_check(al, NULL, "v@x.test");
	uint64_t k = calls[0].key;
	/* another node counted 5 failures: locked out here from now */
	authlimit_apply(al, 'a', k, 5);
	ASSERT_EQ_INT(authlimit_check(al, NULL, "v@x.test"), AUTHLIMIT_LOCK_BASE_MS);
	now_ms += 2000;
	/* the same count again (a refresh) neither extends nor restarts the lockout */
	authlimit_apply(al, 'a', k, 5);
	ASSERT_EQ_INT(authlimit_check(al, NULL, "v@x.test"), AUTHLIMIT_LOCK_BASE_MS - 2000);
	/* one more failure elsewhere: the doubled lockout, from now */
	authlimit_apply(al, 'a', k, 6);
	ASSERT_EQ_INT(authlimit_check(al, NULL, "v@x.test"), 2 * AUTHLIMIT_LOCK_BASE_MS);
	/* a lower count below the threshold (a success elsewhere, then failures) releases it */
	authlimit_apply(al, 'a', k, 2);
	ASSERT_EQ_INT(authlimit_check(al, NULL, "v@x.test"), 0);
	/* local failures continue from the shared count: 2 + 3 = 5 */
	for (int i = 0; i < 3; i++)
		authlimit_failure(al, NULL, "v@x.test");
	ASSERT_EQ_INT(authlimit_check(al, NULL, "v@x.test"), AUTHLIMIT_LOCK_BASE_MS);
	/* zero (cleared elsewhere) removes the key */
	authlimit_apply(al, 'a', k, 0);
	ASSERT_EQ_INT(authlimit_check(al, NULL, "v@x.test"), 0);
	ASSERT_EQ_INT(authlimit_count(al), 0);
	/* an answer for a key never seen here is kept (IP threshold for kind 'i') */
	authlimit_apply(al, 'i', 0x1234, AUTHLIMIT_IP_THRESHOLD - 1);
	ASSERT_EQ_INT(authlimit_count(al), 1);
	authlimit_apply(al, 'i', 0x5678, 0);
	ASSERT_EQ_INT(authlimit_count(al), 1);
	authlimit_free(al);
}

/* Redis down: the hooks are called but nothing ever answers. */
static void test_no_answers_same_as_memory(void)
{
	struct authlimit *al = mk();
	for (int i = 0; i < AUTHLIMIT_ACCOUNT_THRESHOLD - 1; i++) {
		authlimit_failure(al, "10.0.0.1", "w@x.test");
		ASSERT_EQ_INT(authlimit_check(al, "10.0.0.1", "w@x.test"), 0);
	}
	authlimit_failure(al, "10.0.0.1", "w@x.test");
	ASSERT_EQ_INT(authlimit_check(al, "10.0.0.1", "w@x.test"), AUTHLIMIT_LOCK_BASE_MS);
	now_ms += AUTHLIMIT_LOCK_BASE_MS;
	ASSERT_EQ_INT(authlimit_check(al, "10.0.0.1", "w@x.test"), 0);
	authlimit_failure(al, "10.0.0.1", "w@x.test");
	ASSERT_EQ_INT(authlimit_check(al, "10.0.0.1", "w@x.test"), 2 * AUTHLIMIT_LOCK_BASE_MS);
	authlimit_success(al, "10.0.0.1", "w@x.test");
	ASSERT_EQ_INT(authlimit_check(al, "10.0.0.1", "w@x.test"), 0);
	/* detached: no more hooks */
	authlimit_set_mirror(al, NULL, NULL);
	ncalls = 0;
	authlimit_failure(al, "10.0.0.1", "w@x.test");
	authlimit_check(al, "10.0.0.1", "w@x.test");
	ASSERT_EQ_INT(ncalls, 0);
	authlimit_free(al);
}

static const struct unit_test tests[] = {
    {"derivation_vectors", test_derivation_vectors},
    {"what_is_mirrored", test_what_is_mirrored},
    {"answers_replace_counts", test_answers_replace_counts},
    {"no_answers_same_as_memory", test_no_answers_same_as_memory},
    {0},
};
UNIT_MAIN(tests)
