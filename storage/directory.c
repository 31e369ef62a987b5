/* directory.c - the cluster directory (database STORE_DIRECTORY): domains, accounts and aliases,
 * and recipient resolution for SMTP RCPT. All addresses and domains are stored lower-case (the
 * local part is compared case-insensitively in practice, although RFC 5321 §2.4 allows case to
 * matter). Mutating functions run their own transaction unless the caller already opened one.
 * Resolution order for a recipient: the exact address (account and/or alias), else the address
 * without its "+tag" (plus-addressing), else the domain catch-all alias "@domain"; aliases are
 * followed through other aliases up to a bounded depth and fan-out.
 */
#include "store_int.h"
#include "common/err.h"
#include "common/log.h"
#include <string.h>
#include <time.h>

/* RFC 5321 §4.5.3.1: local part 64 + "@" + domain 255 = 320 with room for the NUL. */
#define DIR_ADDR_MAX 320
#define DIR_DOMAIN_MAX 255
/* Bounds for alias expansion: addresses visited per resolution, and account names returned. */
#define DIR_RESOLVE_MAX_VISIT 64
#define DIR_RESOLVE_MAX_NAMES 32

/* Lower-cased copy of s into out (cap bytes); MR_EINVAL if empty or too long. */
static int lower_copy(const char *s, char *out, size_t cap)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n >= cap)
		return MR_EINVAL;
	memcpy(out, s, n + 1);
	mr_lower(out);
	return 0;
}

static bool domain_valid(const char *d)
{
	if (!d[0] || strlen(d) > DIR_DOMAIN_MAX)
		return false;
	for (const char *p = d; *p; p++)
		if (*p == '@' || *p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* "local@domain" with a non-empty local part (allow_empty_local: "@domain" catch-all). */
static bool address_valid(const char *a, bool allow_empty_local, const char **domain_r)
{
	const char *at = strrchr(a, '@');
	if (!at || (at == a && !allow_empty_local) || !domain_valid(at + 1))
		return false;
	for (const char *p = a; p < at; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	*domain_r = at + 1;
	return true;
}

/* Step a statement that writes; 0, MR_EEXIST on a constraint violation, MR_EIO. */
static int step_write(struct store_db *d, sqlite3_stmt *s)
{
	if (!s)
		return MR_EIO;
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc == SQLITE_CONSTRAINT)
		return MR_EEXIST;
	log_error(STORE_COMPONENT, "write failed db=%s err=%s", store_db_name(d),
	          sqlite3_errmsg(store_db_sql(d)));
	return MR_EIO;
}

/* 1 if the query bound with one text parameter returns a row, 0 if not, <0 on error. */
static int exists1(struct store_db *d, const char *sql, const char *arg)
{
	sqlite3_stmt *s = store_stmt(d, sql);
	if (!s)
		return MR_EIO;
	sqlite3_bind_text(s, 1, arg, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : MR_EIO;
}

int dir_domain_add(struct store_db *d, const char *domain)
{
	char dom[DIR_DOMAIN_MAX + 1];
	if (lower_copy(domain, dom, sizeof dom) != 0 || !domain_valid(dom))
		return MR_EINVAL;
	bool own;
	int rv = store__tx_auto_begin(d, &own);
	if (rv != 0)
		return rv;
	sqlite3_stmt *s = store_stmt(d, "INSERT INTO domains(name) VALUES(?)");
	if (s)
		sqlite3_bind_text(s, 1, dom, -1, SQLITE_TRANSIENT);
	rv = step_write(d, s);
	return store__tx_auto_end(d, own, rv);
}

int dir_domain_rm(struct store_db *d, const char *domain)
{
	char dom[DIR_DOMAIN_MAX + 1];
	if (lower_copy(domain, dom, sizeof dom) != 0)
		return MR_EINVAL;
	bool own;
	int rv = store__tx_auto_begin(d, &own);
	if (rv != 0)
		return rv;
	int used =
	    exists1(d,
	            "SELECT 1 FROM accounts WHERE substr(address, -length(?1) - 1) = '@' || ?1"
	            " UNION ALL SELECT 1 FROM aliases WHERE"
	            " substr(address, -length(?1) - 1) = '@' || ?1 LIMIT 1",
	            dom);
	if (used != 0) {
		rv = used > 0 ? MR_EBUSY : used;
		goto out;
	}
	sqlite3_stmt *s = store_stmt(d, "DELETE FROM domains WHERE name = ?");
	if (s)
		sqlite3_bind_text(s, 1, dom, -1, SQLITE_TRANSIENT);
	if ((rv = step_write(d, s)) == 0 && sqlite3_changes(store_db_sql(d)) == 0)
		rv = MR_ENOTFOUND;
out:
	return store__tx_auto_end(d, own, rv);
}

/* Run a listing query with up to two text columns into cb. */
static int list2(struct store_db *d, const char *sql, dir_list_cb cb, void *ud)
{
	sqlite3_stmt *s = store_stmt(d, sql);
	if (!s)
		return MR_EIO;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(s, 0);
		const char *b =
		    sqlite3_column_count(s) > 1 ? (const char *)sqlite3_column_text(s, 1) : NULL;
		cb(ud, a ? a : "", b);
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : MR_EIO;
}

int dir_domain_list(struct store_db *d, dir_list_cb cb, void *ud)
{
	return list2(d, "SELECT name FROM domains ORDER BY name", cb, ud);
}

bool dir_domain_exists(struct store_db *d, const char *domain)
{
	char dom[DIR_DOMAIN_MAX + 1];
	if (lower_copy(domain, dom, sizeof dom) != 0)
		return false;
	return exists1(d, "SELECT 1 FROM domains WHERE name = ?", dom) == 1;
}

static void row_to_account(sqlite3_stmt *s, struct dir_account *a)
{
	memset(a, 0, sizeof *a);
	a->id = sqlite3_column_int64(s, 0);
	snprintf(a->address, sizeof a->address, "%s", (const char *)sqlite3_column_text(s, 1));
	snprintf(a->dbname, sizeof a->dbname, "%s", (const char *)sqlite3_column_text(s, 2));
	snprintf(a->pwhash, sizeof a->pwhash, "%s", (const char *)sqlite3_column_text(s, 3));
	a->quota = sqlite3_column_int64(s, 4);
}

int dir_account_get(struct store_db *d, const char *address, struct dir_account *acct_r)
{
	char addr[DIR_ADDR_MAX];
	if (lower_copy(address, addr, sizeof addr) != 0)
		return MR_EINVAL;
	sqlite3_stmt *s = store_stmt(d, "SELECT id, address, dbname, pwhash, quota FROM accounts"
	                                " WHERE address = ?");
	if (!s)
		return MR_EIO;
	sqlite3_bind_text(s, 1, addr, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && acct_r)
		row_to_account(s, acct_r);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? MR_ENOTFOUND : MR_EIO;
}

int dir_quota_of_db(struct store_db *d, const char *dbname, int64_t *quota_r)
{
	sqlite3_stmt *s = store_stmt(d, "SELECT quota FROM accounts WHERE dbname = ?");
	if (!s)
		return MR_EIO;
	sqlite3_bind_text(s, 1, dbname, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	*quota_r = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? MR_ENOTFOUND : MR_EIO;
}

int dir_account_add(struct store_db *d, const char *address, const char *pwhash, int64_t quota,
                    struct dir_account *acct_r)
{
	char addr[DIR_ADDR_MAX], dbname[STORE_DBNAME_MAX];
	const char *dom;
	if (lower_copy(address, addr, sizeof addr) != 0 || !address_valid(addr, false, &dom) ||
	    !pwhash || strlen(pwhash) >= STORE_PWHASH_MAX || quota < 0)
		return MR_EINVAL;
	bool own;
	int rv = store__tx_auto_begin(d, &own);
	if (rv != 0)
		return rv;
	if (exists1(d, "SELECT 1 FROM domains WHERE name = ?", dom) != 1) {
		rv = MR_ENOTFOUND;
		goto out;
	}
	if ((rv = dir_account_get(d, addr, NULL)) != MR_ENOTFOUND) {
		rv = rv == 0 ? MR_EEXIST : rv;
		goto out;
	}
	/* A random name: file names reveal nothing about the address (store.h). */
	for (int tries = 0;; tries++) {
		uint8_t rnd[8];
		randombytes_buf(rnd, sizeof rnd);
		dbname[0] = 'a';
		sodium_bin2hex(dbname + 1, sizeof dbname - 1, rnd, sizeof rnd);
		int used = exists1(d, "SELECT 1 FROM accounts WHERE dbname = ?", dbname);
		if (used < 0) {
			rv = used;
			goto out;
		}
		if (!used && !store_exists(store_db_store(d), dbname))
			break;
		if (tries == 8) {
			rv = MR_EIO;
			goto out;
		}
	}
	sqlite3_stmt *s = store_stmt(d, "INSERT INTO accounts(address, dbname, pwhash, quota,"
	                                " created) VALUES(?, ?, ?, ?, ?)");
	if (s) {
		sqlite3_bind_text(s, 1, addr, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 2, dbname, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 3, pwhash, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 4, quota);
		sqlite3_bind_int64(s, 5, (int64_t)time(NULL));
	}
	if ((rv = step_write(d, s)) != 0)
		goto out;
	if (acct_r)
		rv = dir_account_get(d, addr, acct_r);
out:
	return store__tx_auto_end(d, own, rv);
}

int dir_account_rm(struct store_db *d, const char *address, struct dir_account *acct_r)
{
	struct dir_account a;
	bool own;
	int rv = store__tx_auto_begin(d, &own);
	if (rv != 0)
		return rv;
	if ((rv = dir_account_get(d, address, &a)) != 0)
		goto out;
	sqlite3_stmt *s = store_stmt(d, "DELETE FROM accounts WHERE id = ?");
	if (s)
		sqlite3_bind_int64(s, 1, a.id);
	if ((rv = step_write(d, s)) != 0)
		goto out;
	/* Aliases pointing at the removed account would resolve to nothing local. */
	s = store_stmt(d, "DELETE FROM aliases WHERE target = ?");
	if (s)
		sqlite3_bind_text(s, 1, a.address, -1, SQLITE_TRANSIENT);
	if ((rv = step_write(d, s)) != 0)
		goto out;
	if (acct_r)
		*acct_r = a;
out:
	sodium_memzero(a.pwhash, sizeof a.pwhash);
	return store__tx_auto_end(d, own, rv);
}

int dir_account_passwd(struct store_db *d, const char *address, const char *pwhash)
{
	char addr[DIR_ADDR_MAX];
	if (lower_copy(address, addr, sizeof addr) != 0 || !pwhash ||
	    strlen(pwhash) >= STORE_PWHASH_MAX)
		return MR_EINVAL;
	bool own;
	int rv = store__tx_auto_begin(d, &own);
	if (rv != 0)
		return rv;
	sqlite3_stmt *s = store_stmt(d, "UPDATE accounts SET pwhash = ? WHERE address = ?");
	if (s) {
		sqlite3_bind_text(s, 1, pwhash, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 2, addr, -1, SQLITE_TRANSIENT);
	}
	if ((rv = step_write(d, s)) == 0 && sqlite3_changes(store_db_sql(d)) == 0)
		rv = MR_ENOTFOUND;
	return store__tx_auto_end(d, own, rv);
}

int dir_account_list(struct store_db *d, dir_list_cb cb, void *ud)
{
	return list2(d, "SELECT address, dbname FROM accounts ORDER BY address", cb, ud);
}

int dir_alias_add(struct store_db *d, const char *alias, const char *target)
{
	char al[DIR_ADDR_MAX], tg[DIR_ADDR_MAX];
	const char *dom, *tdom;
	if (lower_copy(alias, al, sizeof al) != 0 || !address_valid(al, true, &dom) ||
	    lower_copy(target, tg, sizeof tg) != 0 || !address_valid(tg, false, &tdom) ||
	    strcmp(al, tg) == 0)
		return MR_EINVAL;
	bool own;
	int rv = store__tx_auto_begin(d, &own);
	if (rv != 0)
		return rv;
	if (exists1(d, "SELECT 1 FROM domains WHERE name = ?", dom) != 1) {
		rv = MR_ENOTFOUND;
		goto out;
	}
	sqlite3_stmt *s = store_stmt(d, "INSERT INTO aliases(address, target) VALUES(?, ?)");
	if (s) {
		sqlite3_bind_text(s, 1, al, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 2, tg, -1, SQLITE_TRANSIENT);
	}
	rv = step_write(d, s);
out:
	return store__tx_auto_end(d, own, rv);
}

int dir_alias_rm(struct store_db *d, const char *alias, const char *target)
{
	char al[DIR_ADDR_MAX], tg[DIR_ADDR_MAX];
	if (lower_copy(alias, al, sizeof al) != 0 ||
	    (target && lower_copy(target, tg, sizeof tg) != 0))
		return MR_EINVAL;
	bool own;
	int rv = store__tx_auto_begin(d, &own);
	if (rv != 0)
		return rv;
	sqlite3_stmt *s =
	    store_stmt(d, target ? "DELETE FROM aliases WHERE address = ? AND target = ?"
	                         : "DELETE FROM aliases WHERE address = ?");
	if (s) {
		sqlite3_bind_text(s, 1, al, -1, SQLITE_TRANSIENT);
		if (target)
			sqlite3_bind_text(s, 2, tg, -1, SQLITE_TRANSIENT);
	}
	if ((rv = step_write(d, s)) == 0 && sqlite3_changes(store_db_sql(d)) == 0)
		rv = MR_ENOTFOUND;
	return store__tx_auto_end(d, own, rv);
}

int dir_alias_list(struct store_db *d, dir_list_cb cb, void *ud)
{
	return list2(d, "SELECT address, target FROM aliases ORDER BY address, target", cb, ud);
}

/* ---- resolution ---------------------------------------------------------------------- */

struct resolve {
	char *visit[DIR_RESOLVE_MAX_VISIT];
	size_t nvisit;
	char **names;
	size_t nnames;
};

static void add_name(struct resolve *r, const char *dbname)
{
	for (size_t i = 0; i < r->nnames; i++)
		if (strcmp(r->names[i], dbname) == 0)
			return;
	if (r->nnames < DIR_RESOLVE_MAX_NAMES)
		r->names[r->nnames++] = xstrdup(dbname);
}

static bool visit(struct resolve *r, const char *addr)
{
	for (size_t i = 0; i < r->nvisit; i++)
		if (strcmp(r->visit[i], addr) == 0)
			return false;
	if (r->nvisit == DIR_RESOLVE_MAX_VISIT)
		return false;
	r->visit[r->nvisit++] = xstrdup(addr);
	return true;
}

/* Expand start breadth-first through aliases. *known_r: start had an account or alias row. */
static int expand(struct store_db *d, struct resolve *r, const char *start, bool *known_r)
{
	size_t first = r->nvisit;
	*known_r = false;
	if (!visit(r, start))
		return 0;
	for (size_t i = first; i < r->nvisit; i++) {
		struct dir_account a;
		int rv = dir_account_get(d, r->visit[i], &a);
		if (rv == 0) {
			add_name(r, a.dbname);
			sodium_memzero(a.pwhash, sizeof a.pwhash);
			if (i == first)
				*known_r = true;
		} else if (rv != MR_ENOTFOUND) {
			return rv;
		}
		sqlite3_stmt *s = store_stmt(d, "SELECT target FROM aliases WHERE address = ?");
		if (!s)
			return MR_EIO;
		sqlite3_bind_text(s, 1, r->visit[i], -1, SQLITE_TRANSIENT);
		int rc;
		char *targets[DIR_RESOLVE_MAX_VISIT];
		size_t nt = 0;
		while ((rc = sqlite3_step(s)) == SQLITE_ROW && nt < DIR_RESOLVE_MAX_VISIT)
			targets[nt++] = xstrdup((const char *)sqlite3_column_text(s, 0));
		sqlite3_reset(s);
		if (nt > 0 && i == first)
			*known_r = true;
		for (size_t k = 0; k < nt; k++) {
			(void)visit(r, targets[k]);
			free(targets[k]);
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return MR_EIO;
	}
	return 0;
}

int dir_resolve(struct store_db *d, const char *rcpt, char ***names_r, size_t *n_r)
{
	char addr[DIR_ADDR_MAX], alt[DIR_ADDR_MAX];
	const char *dom;
	if (lower_copy(rcpt, addr, sizeof addr) != 0 || !address_valid(addr, false, &dom))
		return MR_EINVAL;
	struct resolve r = {.names = xcalloc(DIR_RESOLVE_MAX_NAMES, sizeof(char *))};
	bool known = false;
	int rv = expand(d, &r, addr, &known);
	const char *plus = strchr(addr, '+');
	if (rv == 0 && !known && plus && plus < dom - 1) {
		/* Plus-addressing: "user+tag@d" delivers to "user@d". */
		snprintf(alt, sizeof alt, "%.*s%s", (int)(plus - addr), addr, dom - 1);
		rv = expand(d, &r, alt, &known);
	}
	if (rv == 0 && !known) {
		snprintf(alt, sizeof alt, "@%s", dom); /* catch-all */
		rv = expand(d, &r, alt, &known);
	}
	for (size_t i = 0; i < r.nvisit; i++)
		free(r.visit[i]);
	if (rv == 0 && r.nnames == 0)
		rv = MR_ENOTFOUND;
	if (rv != 0) {
		dir_names_free(r.names, r.nnames);
		return rv;
	}
	*names_r = r.names;
	*n_r = r.nnames;
	return 0;
}

void dir_names_free(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
