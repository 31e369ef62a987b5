/* login.c - see login.h. One login is a small state object: a directory job copies the account
 * row (lookup by lower-cased address), then uv_queue_work verifies the password against the
 * Argon2id hash on a libuv pool thread (for an unknown account it hashes the password instead,
 * so the time to answer does not reveal which accounts exist), then the caller's done runs on
 * the loop. The password and the copied hash are wiped in every path. */
#include "login.h"
#include "node.h"
#include "common/err.h"
#include "common/util.h"
#include <sodium.h>
#include <string.h>

struct login {
	uv_work_t work;
	char user[LOGIN_USER_MAX];
	char pass[LOGIN_PASS_MAX];
	struct dir_account acct;
	bool unknown; /* no such account: hash anyway, so the reply time does not tell */
	int rv;
	login_done_fn done;
	void *ud;
};

static void login_free(struct login *l)
{
	sodium_memzero(l, sizeof *l);
	free(l);
}

static void finish(struct login *l, int rv)
{
	sodium_memzero(l->pass, sizeof l->pass);
	sodium_memzero(l->acct.pwhash, sizeof l->acct.pwhash);
	l->done(l->ud, rv, rv == 0 ? &l->acct : NULL);
	login_free(l);
}

/* libuv pool thread: the expensive part. */
static void verify_work(uv_work_t *w)
{
	struct login *l = w->data;
	if (l->unknown) {
		char dummy[STORE_PWHASH_MAX];
		(void)store_pw_hash(node_get()->store, l->pass, dummy);
		sodium_memzero(dummy, sizeof dummy);
		l->rv = MR_EAUTH;
		return;
	}
	l->rv = store_pw_verify(l->acct.pwhash, l->pass) == 0 ? 0 : MR_EAUTH;
}

static void verify_done(uv_work_t *w, int status)
{
	struct login *l = w->data;
	finish(l, status == 0 ? l->rv : MR_EIO);
}

/* Directory actor: copy the account row only. */
static int lookup_job(struct store_db *db, void *arg)
{
	struct login *l = arg;
	int rv = dir_account_get(db, l->user, &l->acct);
	return rv == MR_ENOTFOUND || rv == MR_EINVAL ? MR_EAUTH : rv;
}

static void lookup_done(void *arg, int rv)
{
	struct login *l = arg;
	if (rv == MR_EAUTH)
		l->unknown = true;
	else if (rv != 0) {
		finish(l, MR_EIO);
		return;
	}
	l->work.data = l;
	if (uv_queue_work(node_get()->loop, &l->work, verify_work, verify_done) != 0)
		finish(l, MR_EIO);
}

int login_check(const char *user, size_t ulen, const char *pass, size_t plen, login_done_fn done,
                void *ud)
{
	if (ulen == 0 || ulen >= LOGIN_USER_MAX || plen >= LOGIN_PASS_MAX || memchr(user, 0, ulen) ||
	    memchr(pass, 0, plen))
		return MR_EINVAL;
	struct login *l = xmalloc(sizeof *l);
	memcpy(l->user, user, ulen);
	mr_lower(l->user);
	memcpy(l->pass, pass, plen);
	l->done = done;
	l->ud = ud;
	int rv = store_submit(node_get()->store, STORE_DIRECTORY, 0, lookup_job, lookup_done, l);
	if (rv != 0)
		login_free(l);
	return rv;
}

int login_sasl_plain(const char *b64, size_t len, char user[LOGIN_USER_MAX],
                     char pass[LOGIN_PASS_MAX])
{
	unsigned char bin[LOGIN_USER_MAX * 2 + LOGIN_PASS_MAX + 2];
	size_t binlen = 0;
	if (len == 1 && b64[0] == '=')
		len = 0;
	if (len > (sizeof bin / 3 + 1) * 4 ||
	    sodium_base642bin(bin, sizeof bin, b64, len, NULL, &binlen, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return MR_EINVAL;
	int rv = MR_EINVAL;
	unsigned char *z1 = memchr(bin, 0, binlen);
	unsigned char *z2 = z1 ? memchr(z1 + 1, 0, binlen - (size_t)(z1 + 1 - bin)) : NULL;
	if (z1 && z2) {
		size_t authzlen = (size_t)(z1 - bin), ulen = (size_t)(z2 - z1 - 1);
		size_t plen = binlen - (size_t)(z2 + 1 - bin);
		if (ulen == 0 || ulen >= LOGIN_USER_MAX || plen >= LOGIN_PASS_MAX ||
		    memchr(z2 + 1, 0, plen)) {
			rv = MR_EINVAL;
		} else if (authzlen && (authzlen != ulen ||
		                        mr_strncasecmp((const char *)bin, (const char *)z1 + 1,
		                                       ulen) != 0)) {
			rv = MR_EPERM;
		} else {
			memcpy(user, z1 + 1, ulen);
			user[ulen] = 0;
			memcpy(pass, z2 + 1, plen);
			pass[plen] = 0;
			rv = 0;
		}
	}
	sodium_memzero(bin, sizeof bin);
	return rv;
}

int login_b64_field(const char *b64, size_t len, char *out, size_t cap)
{
	size_t n = 0;
	if (cap < 2 || len > (cap / 3 + 1) * 4 ||
	    sodium_base642bin((unsigned char *)out, cap - 1, b64, len, NULL, &n, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    memchr(out, 0, n)) {
		sodium_memzero(out, cap);
		return MR_EINVAL;
	}
	out[n] = 0;
	return 0;
}
