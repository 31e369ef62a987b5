/* test_directory.c - the directory database: domain, account and alias CRUD with their error
 * codes, recipient resolution (exact, case-insensitive, aliases with fan-out and chains, loops,
 * plus-addressing, catch-all, external-only aliases), password hashing. */
#include "storage_helpers.h"
#include <string.h>

struct list_acc {
	char buf[2048];
	int n;
};

static void list_cb(void *ud, const char *a, const char *b)
{
	struct list_acc *l = ud;
	size_t len = strlen(l->buf);
	snprintf(l->buf + len, sizeof l->buf - len, "%s%s%s;", a, b ? "=" : "", b ? b : "");
	l->n++;
}

static int job_domains(struct store_db *d, void *arg)
{
	ASSERT_OK(dir_domain_add(d, "Example.COM"));
	ASSERT_ERR(dir_domain_add(d, "example.com"), MR_EEXIST);
	ASSERT_OK(dir_domain_add(d, "b.example"));
	ASSERT_ERR(dir_domain_add(d, ""), MR_EINVAL);
	ASSERT_ERR(dir_domain_add(d, "a@b"), MR_EINVAL);
	ASSERT(dir_domain_exists(d, "EXAMPLE.com"));
	ASSERT(!dir_domain_exists(d, "other.org"));
	struct list_acc l = {.n = 0};
	ASSERT_OK(dir_domain_list(d, list_cb, &l));
	ASSERT_EQ_STR(l.buf, "b.example;example.com;");
	ASSERT_ERR(dir_domain_rm(d, "other.org"), MR_ENOTFOUND);
	ASSERT_OK(dir_domain_rm(d, "B.Example"));
	ASSERT(!dir_domain_exists(d, "b.example"));
	/* a domain in use cannot be removed; a similar suffix does not count as use */
	ASSERT_OK(dir_domain_add(d, "ample.com"));
	struct dir_account a;
	ASSERT_OK(dir_account_add(d, "x@example.com", "hash", 0, &a));
	ASSERT_OK(dir_domain_rm(d, "ample.com"));
	ASSERT_ERR(dir_domain_rm(d, "example.com"), MR_EBUSY);
	ASSERT_OK(dir_account_rm(d, "x@example.com", NULL));
	ASSERT_OK(dir_alias_add(d, "al@example.com", "someone@elsewhere.org"));
	ASSERT_ERR(dir_domain_rm(d, "example.com"), MR_EBUSY);
	ASSERT_OK(dir_alias_rm(d, "al@example.com", NULL));
	ASSERT_OK(dir_domain_rm(d, "example.com"));
	return 0;
}

static void test_domains(void)
{
	struct store *st = th_open();
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_domains, NULL));
	store_close(&st);
}

static int job_accounts(struct store_db *d, void *arg)
{
	struct dir_account a, b;
	ASSERT_ERR(dir_account_add(d, "bob@example.com", "h1", 100, &a), MR_ENOTFOUND);
	ASSERT_OK(dir_domain_add(d, "example.com"));
	ASSERT_ERR(dir_account_add(d, "nolocal", "h1", 100, &a), MR_EINVAL);
	ASSERT_ERR(dir_account_add(d, "@example.com", "h1", 100, &a), MR_EINVAL);
	ASSERT_OK(dir_account_add(d, "Bob@Example.com", "h1", 100, &a));
	ASSERT_EQ_STR(a.address, "bob@example.com");
	ASSERT_EQ_INT(strlen(a.dbname), 17);
	ASSERT(a.dbname[0] == 'a');
	ASSERT(strspn(a.dbname + 1, "0123456789abcdef") == 16);
	ASSERT(strstr(a.dbname, "bob") == NULL);
	ASSERT_EQ_STR(a.pwhash, "h1");
	ASSERT_EQ_INT(a.quota, 100);
	ASSERT_ERR(dir_account_add(d, "bob@example.com", "h2", 1, &b), MR_EEXIST);
	ASSERT_OK(dir_account_add(d, "alice@example.com", "h3", 5, &b));
	ASSERT(strcmp(a.dbname, b.dbname) != 0);
	ASSERT(a.id != b.id);
	struct dir_account g;
	ASSERT_OK(dir_account_get(d, "BOB@example.COM", &g));
	ASSERT_EQ_INT(g.id, a.id);
	ASSERT_EQ_STR(g.dbname, a.dbname);
	ASSERT_ERR(dir_account_get(d, "carol@example.com", &g), MR_ENOTFOUND);
	ASSERT_OK(dir_account_passwd(d, "bob@example.com", "h9"));
	ASSERT_OK(dir_account_get(d, "bob@example.com", &g));
	ASSERT_EQ_STR(g.pwhash, "h9");
	ASSERT_ERR(dir_account_passwd(d, "carol@example.com", "h9"), MR_ENOTFOUND);
	struct list_acc l = {.n = 0};
	ASSERT_OK(dir_account_list(d, list_cb, &l));
	ASSERT_EQ_INT(l.n, 2);
	ASSERT(strncmp(l.buf, "alice@example.com=", 18) == 0);
	ASSERT(strstr(l.buf, b.dbname) != NULL);
	ASSERT_OK(dir_alias_add(d, "info@example.com", "alice@example.com"));
	ASSERT_OK(dir_account_rm(d, "alice@example.com", &g));
	ASSERT_EQ_STR(g.dbname, b.dbname);
	ASSERT_ERR(dir_account_rm(d, "alice@example.com", &g), MR_ENOTFOUND);
	/* aliases to the removed account went with it */
	memset(&l, 0, sizeof l);
	ASSERT_OK(dir_alias_list(d, list_cb, &l));
	ASSERT_EQ_INT(l.n, 0);
	return 0;
}

static int job_reopened(struct store_db *d, void *arg)
{
	struct dir_account g;
	ASSERT_OK(dir_account_get(d, "bob@example.com", &g));
	ASSERT_EQ_STR(g.pwhash, "h9");
	ASSERT_EQ_INT(g.quota, 100);
	ASSERT(dir_domain_exists(d, "example.com"));
	return 0;
}

static void test_accounts(void)
{
	struct store *st = th_open();
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_accounts, NULL));
	/* the data survives a reopen */
	store_close(&st);
	st = th_open();
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_reopened, NULL));
	store_close(&st);
}

struct res {
	const char *rcpt;
	int rv;
	size_t n;
	char names[4][STORE_DBNAME_MAX];
};

static int job_resolve(struct store_db *d, void *arg)
{
	struct res *r = arg;
	char **names = NULL;
	r->n = 0;
	r->rv = dir_resolve(d, r->rcpt, &names, &r->n);
	if (r->rv == 0) {
		ASSERT(r->n > 0 && r->n <= 4);
		for (size_t i = 0; i < r->n; i++)
			snprintf(r->names[i], sizeof r->names[i], "%s", names[i]);
		dir_names_free(names, r->n);
	}
	return 0;
}

struct ids {
	char bob[STORE_DBNAME_MAX], alice[STORE_DBNAME_MAX];
};

static int job_setup_aliases(struct store_db *d, void *arg)
{
	struct ids *ids = arg;
	struct dir_account a;
	ASSERT_OK(dir_domain_add(d, "example.com"));
	ASSERT_OK(dir_domain_add(d, "other.com"));
	ASSERT_OK(dir_account_add(d, "bob@example.com", "h", 0, &a));
	snprintf(ids->bob, sizeof ids->bob, "%s", a.dbname);
	ASSERT_OK(dir_account_add(d, "alice@example.com", "h", 0, &a));
	snprintf(ids->alice, sizeof ids->alice, "%s", a.dbname);
	ASSERT_OK(dir_alias_add(d, "team@example.com", "bob@example.com"));
	ASSERT_OK(dir_alias_add(d, "team@example.com", "Alice@example.com"));
	ASSERT_ERR(dir_alias_add(d, "team@example.com", "alice@example.com"), MR_EEXIST);
	ASSERT_OK(dir_alias_add(d, "team@example.com", "outside@gmail.example"));
	ASSERT_OK(dir_alias_add(d, "all@example.com", "team@example.com"));
	ASSERT_OK(dir_alias_add(d, "all@example.com", "bob@example.com"));
	ASSERT_OK(dir_alias_add(d, "ext@example.com", "outside@gmail.example"));
	ASSERT_OK(dir_alias_add(d, "loop1@example.com", "loop2@example.com"));
	ASSERT_OK(dir_alias_add(d, "loop2@example.com", "loop1@example.com"));
	ASSERT_OK(dir_alias_add(d, "@other.com", "alice@example.com"));
	ASSERT_ERR(dir_alias_add(d, "x@unknown.org", "bob@example.com"), MR_ENOTFOUND);
	ASSERT_ERR(dir_alias_add(d, "x@example.com", "nobody"), MR_EINVAL);
	struct list_acc l = {.n = 0};
	ASSERT_OK(dir_alias_list(d, list_cb, &l));
	ASSERT_EQ_INT(l.n, 9);
	ASSERT(strncmp(l.buf, "@other.com=alice@example.com;", 29) == 0);
	return 0;
}

static void resolve(struct store *st, struct res *r, const char *rcpt)
{
	memset(r, 0, sizeof *r);
	r->rcpt = rcpt;
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_resolve, r));
}

static bool has(const struct res *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->names[i], name) == 0)
			return true;
	return false;
}

static int job_alias_rm(struct store_db *d, void *arg)
{
	ASSERT_ERR(dir_alias_rm(d, "team@example.com", "nobody@example.com"), MR_ENOTFOUND);
	ASSERT_OK(dir_alias_rm(d, "team@example.com", "BOB@example.com"));
	ASSERT_OK(dir_alias_rm(d, "all@example.com", NULL));
	ASSERT_ERR(dir_alias_rm(d, "all@example.com", NULL), MR_ENOTFOUND);
	return 0;
}

static void test_resolve(void)
{
	struct store *st = th_open();
	struct ids ids;
	struct res r;
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_setup_aliases, &ids));

	resolve(st, &r, "BOB@Example.Com");
	ASSERT_OK(r.rv);
	ASSERT_EQ_INT(r.n, 1);
	ASSERT_EQ_STR(r.names[0], ids.bob);

	resolve(st, &r, "team@example.com"); /* two local targets + one external */
	ASSERT_OK(r.rv);
	ASSERT_EQ_INT(r.n, 2);
	ASSERT(has(&r, ids.bob) && has(&r, ids.alice));

	resolve(st, &r, "all@example.com"); /* chain + duplicate target, deduplicated */
	ASSERT_OK(r.rv);
	ASSERT_EQ_INT(r.n, 2);

	resolve(st, &r, "bob+news@example.com"); /* plus-addressing */
	ASSERT_OK(r.rv);
	ASSERT_EQ_INT(r.n, 1);
	ASSERT_EQ_STR(r.names[0], ids.bob);

	resolve(st, &r, "anyone@other.com"); /* catch-all */
	ASSERT_OK(r.rv);
	ASSERT_EQ_STR(r.names[0], ids.alice);

	resolve(st, &r, "nobody@example.com");
	ASSERT_ERR(r.rv, MR_ENOTFOUND);
	resolve(st, &r, "ext@example.com"); /* only external targets */
	ASSERT_ERR(r.rv, MR_ENOTFOUND);
	resolve(st, &r, "loop1@example.com"); /* terminates */
	ASSERT_ERR(r.rv, MR_ENOTFOUND);
	resolve(st, &r, "bob@unknown.org");
	ASSERT_ERR(r.rv, MR_ENOTFOUND);
	resolve(st, &r, "not-an-address");
	ASSERT_ERR(r.rv, MR_EINVAL);

	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_alias_rm, NULL));
	resolve(st, &r, "team@example.com");
	ASSERT_OK(r.rv);
	ASSERT_EQ_INT(r.n, 1);
	ASSERT_EQ_STR(r.names[0], ids.alice);
	store_close(&st);
}

struct pw {
	char hash[STORE_PWHASH_MAX];
	int rv;
};

static int job_pw(struct store_db *d, void *arg)
{
	struct pw *p = arg;
	p->rv = store_pw_hash(store_db_store(d), "correct horse", p->hash);
	return 0;
}

static void test_passwords(void)
{
	struct store *st = th_open();
	struct pw p = {.rv = 0};
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_pw, &p));
	ASSERT_OK(p.rv);
	ASSERT(strncmp(p.hash, "$argon2id$", 10) == 0);
	ASSERT(strstr(p.hash, "correct") == NULL);
	ASSERT_OK(store_pw_verify(p.hash, "correct horse"));
	ASSERT_ERR(store_pw_verify(p.hash, "correct horsE"), MR_EAUTH);
	ASSERT_ERR(store_pw_verify(p.hash, ""), MR_EAUTH);
	ASSERT_ERR(store_pw_verify("garbage", "correct horse"), MR_EAUTH);
	struct pw q = {.rv = 0};
	ASSERT_OK(store_run(st, STORE_DIRECTORY, 0, job_pw, &q));
	ASSERT(strcmp(p.hash, q.hash) != 0); /* salted */
	store_close(&st);
}

static const struct unit_test tests[] = {
    {"domains", test_domains},
    {"accounts", test_accounts},
    {"resolve", test_resolve},
    {"passwords", test_passwords},
    {0},
};
UNIT_MAIN(tests)
