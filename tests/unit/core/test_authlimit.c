/* test_authlimit.c - login-failure throttling with an injected clock: per-account and per-IP
 * thresholds, window expiry, lockout doubling and cap, success reset, the LRU bound. */
#include "unit.h"
#include "core/authlimit.h"

static uint64_t now_ms;
static uint64_t fake_clock(void)
{
	return now_ms;
}

static struct authlimit *mk(size_t cap)
{
	now_ms = 1000000;
	return authlimit_new(cap, fake_clock);
}

static void fail_n(struct authlimit *al, const char *ip, const char *acct, int n)
{
	for (int i = 0; i < n; i++)
		authlimit_failure(al, ip, acct);
}

static void test_account_threshold(void)
{
	struct authlimit *al = mk(64);
	/* different IPs so only the account key can trip */
	char ip[32];
	for (int i = 0; i < AUTHLIMIT_ACCOUNT_THRESHOLD - 1; i++) {
		snprintf(ip, sizeof ip, "10.0.0.%d", i);
		authlimit_failure(al, ip, "Bob@Example.Test");
		ASSERT_EQ_INT(authlimit_check(al, "10.9.9.9", "bob@example.test"), 0);
	}
	authlimit_failure(al, "10.0.0.99", "bob@example.test");
	ASSERT_EQ_INT(authlimit_check(al, "10.9.9.9", "BOB@example.test"), AUTHLIMIT_LOCK_BASE_MS);
	ASSERT_EQ_INT(authlimit_check(al, "10.9.9.9", "alice@example.test"), 0);
	now_ms += 500;
	ASSERT_EQ_INT(authlimit_check(al, NULL, "bob@example.test"), AUTHLIMIT_LOCK_BASE_MS - 500);
	now_ms += AUTHLIMIT_LOCK_BASE_MS - 500;
	ASSERT_EQ_INT(authlimit_check(al, NULL, "bob@example.test"), 0); /* lockout over */
	authlimit_free(al);
}

static void test_ip_threshold(void)
{
	struct authlimit *al = mk(64);
	char acct[32];
	for (int i = 0; i < AUTHLIMIT_IP_THRESHOLD - 1; i++) {
		snprintf(acct, sizeof acct, "u%d@x.test", i);
		authlimit_failure(al, "192.0.2.7", acct);
	}
	ASSERT_EQ_INT(authlimit_check(al, "192.0.2.7", "new@x.test"), 0);
	authlimit_failure(al, "192.0.2.7", "last@x.test");
	ASSERT_EQ_INT(authlimit_check(al, "192.0.2.7", "new@x.test"), AUTHLIMIT_LOCK_BASE_MS);
	ASSERT_EQ_INT(authlimit_check(al, "192.0.2.8", "new@x.test"), 0);
	ASSERT_EQ_INT(authlimit_check(al, "", ""), 0);
	authlimit_free(al);
}

static void test_window_expiry(void)
{
	struct authlimit *al = mk(64);
	fail_n(al, NULL, "w@x.test", AUTHLIMIT_ACCOUNT_THRESHOLD - 1);
	now_ms += AUTHLIMIT_WINDOW_MS; /* old failures forgotten */
	authlimit_failure(al, NULL, "w@x.test");
	ASSERT_EQ_INT(authlimit_check(al, NULL, "w@x.test"), 0);
	fail_n(al, NULL, "w@x.test", AUTHLIMIT_ACCOUNT_THRESHOLD - 2);
	ASSERT_EQ_INT(authlimit_check(al, NULL, "w@x.test"), 0);
	authlimit_failure(al, NULL, "w@x.test"); /* threshold reached inside the new window */
	ASSERT(authlimit_check(al, NULL, "w@x.test") > 0);
	authlimit_free(al);
}

static void test_doubling_and_cap(void)
{
	struct authlimit *al = mk(64);
	fail_n(al, NULL, "d@x.test", AUTHLIMIT_ACCOUNT_THRESHOLD);
	uint64_t want = AUTHLIMIT_LOCK_BASE_MS;
	for (int i = 0; i < 20; i++) {
		ASSERT_EQ_INT(authlimit_check(al, NULL, "d@x.test"), want);
		now_ms += want; /* wait the lockout out, then fail again */
		ASSERT_EQ_INT(authlimit_check(al, NULL, "d@x.test"), 0);
		authlimit_failure(al, NULL, "d@x.test");
		want = want * 2 > AUTHLIMIT_LOCK_CAP_MS ? AUTHLIMIT_LOCK_CAP_MS : want * 2;
	}
	ASSERT_EQ_INT(authlimit_check(al, NULL, "d@x.test"), AUTHLIMIT_LOCK_CAP_MS);
	/* a whole quiet window forgives everything */
	now_ms += AUTHLIMIT_WINDOW_MS;
	authlimit_failure(al, NULL, "d@x.test");
	ASSERT_EQ_INT(authlimit_check(al, NULL, "d@x.test"), 0);
	authlimit_free(al);
}

static void test_success_resets(void)
{
	struct authlimit *al = mk(64);
	fail_n(al, "198.51.100.1", "s@x.test", AUTHLIMIT_ACCOUNT_THRESHOLD - 1);
	authlimit_success(al, "198.51.100.1", "S@X.TEST");
	ASSERT_EQ_INT(authlimit_count(al), 0);
	authlimit_failure(al, "198.51.100.1", "s@x.test");
	ASSERT_EQ_INT(authlimit_check(al, "198.51.100.1", "s@x.test"), 0); /* count restarted */
	ASSERT_EQ_INT(authlimit_count(al), 2);
	fail_n(al, "198.51.100.1", "s@x.test", AUTHLIMIT_ACCOUNT_THRESHOLD);
	ASSERT(authlimit_check(al, NULL, "s@x.test") > 0);
	authlimit_success(al, "198.51.100.1", "s@x.test");
	ASSERT_EQ_INT(authlimit_check(al, "198.51.100.1", "s@x.test"), 0);
	authlimit_free(al);
}

static void test_lru_bound(void)
{
	struct authlimit *al = mk(8);
	fail_n(al, NULL, "victim@x.test", AUTHLIMIT_ACCOUNT_THRESHOLD);
	ASSERT(authlimit_check(al, NULL, "victim@x.test") > 0);
	char acct[32];
	for (int i = 0; i < 7; i++) { /* fills the table; victim is the oldest */
		snprintf(acct, sizeof acct, "a%d@x.test", i);
		authlimit_failure(al, NULL, acct);
	}
	ASSERT_EQ_INT(authlimit_count(al), 8);
	ASSERT(authlimit_check(al, NULL, "victim@x.test") > 0);
	/* touching victim makes a0 the least recently used */
	authlimit_failure(al, NULL, "victim@x.test");
	authlimit_failure(al, NULL, "fresh@x.test");
	ASSERT_EQ_INT(authlimit_count(al), 8);
	ASSERT(authlimit_check(al, NULL, "victim@x.test") > 0);
	/* a0 was evicted: its single failure is gone, so 4 more do not reach the threshold */
	fail_n(al, NULL, "a0@x.test", AUTHLIMIT_ACCOUNT_THRESHOLD - 1);
	ASSERT_EQ_INT(authlimit_check(al, NULL, "a0@x.test"), 0);
	for (int i = 0; i < 1000; i++) { /* many keys never grow the table */
		snprintf(acct, sizeof acct, "flood%d@x.test", i);
		authlimit_failure(al, "203.0.113.9", acct);
	}
	ASSERT_EQ_INT(authlimit_count(al), 8);
	authlimit_free(al);
}

static const struct unit_test tests[] = {
    {"account_threshold", test_account_threshold},
    {"ip_threshold", test_ip_threshold},
    {"window_expiry", test_window_expiry},
    {"doubling_and_cap", test_doubling_and_cap},
    {"success_resets", test_success_resets},
    {"lru_bound", test_lru_bound},
    {0},
};
UNIT_MAIN(tests)
