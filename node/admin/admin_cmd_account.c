/* admin_cmd_account.c - `account add|list|rm|passwd`. Addresses are checked and lower-cased
 * on the loop; everything touching the directory runs as jobs on its actor, and the Argon2id
 * hashing (store_pw_hash) runs inside those jobs, never on the loop. Adding an account is two
 * jobs: the directory row (which picks the database name), then the creation of the account
 * database on its own actor (STORE_CREATE with a no-op job); if that fails the row is removed
 * again. Removing an account deletes the row (and aliases pointing at it), then drops the
 * database on a libuv worker thread, because store_drop waits for the owning actor. */
#include "admin_int.h"
#include "admin_valid.h"
#include "common/err.h"
#include "common/log.h"
#include "node.h"
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* features.md "Limits": 10 GB quota per account unless given. */
#define ADMIN_DEFAULT_QUOTA 10000000000LL
/* Passwords are hashed, not stored; the cap only bounds the work and the wire. */
#define ADMIN_PASSWORD_MAX 1024

static int check_password(struct admin_req *r, const char *pw)
{
	size_t n = strlen(pw);
	if (n == 0) {
		admin__fail(r, MR_EINVAL, "empty password");
		return MR_EINVAL;
	}
	if (n > ADMIN_PASSWORD_MAX) {
		admin__fail(r, MR_EINVAL, "password longer than %d bytes", ADMIN_PASSWORD_MAX);
		return MR_EINVAL;
	}
	return 0;
}

/* Check and lower-case an address; on failure reply and return the error. */
static int check_address(struct admin_req *r, char *addr)
{
	const char *why;
	if (admin_valid_address(addr, NULL, &why) != 0) {
		admin__fail(r, MR_EINVAL, "invalid address: %s", why);
		return MR_EINVAL;
	}
	return 0;
}

static void wipe(char *s)
{
	if (s)
		mr_memzero(s, strlen(s));
}

/* ---- add ------------------------------------------------------------------------------ */

static int account_add_job(struct store_db *db, void *arg)
{
	struct admin_req *r = arg;
	Mr__CtlAccountAdd *a = r->req->account_add;
	int rv;
	if (!dir_domain_exists(db, strchr(a->address, '@') + 1)) {
		r->why = "unknown domain";
		rv = MR_ENOTFOUND;
		goto out;
	}
	struct dir_account existing;
	if (dir_account_get(db, a->address, &existing) == 0) {
		r->why = "account already exists";
		rv = MR_EEXIST;
		goto out;
	}
	rv = store_pw_hash(store_db_store(db), a->password, r->pwhash);
	if (rv != 0) {
		r->why = "cannot hash the password";
		goto out;
	}
	rv = dir_account_add(db, a->address, r->pwhash,
	                     a->has_quota ? a->quota : ADMIN_DEFAULT_QUOTA, &r->acct);
	if (rv != 0)
		r->why = rv == MR_EEXIST ? "account already exists" : "cannot add the account";
out:
	wipe(a->password);
	return rv;
}

static int noop_job(struct store_db *db, void *arg)
{
	return 0;
}

static int account_undo_job(struct store_db *db, void *arg)
{
	struct admin_req *r = arg;
	struct dir_account gone;
	return dir_account_rm(db, r->req->account_add->address, &gone);
}

static void account_undo_done(struct admin_req *r, int rv)
{
	if (rv != 0)
		log_error("admin", "cannot remove half-created account address=%s: %s",
		          r->req->account_add->address, mr_strerror(rv));
	admin__fail(r, MR_EIO, "cannot create the account database: %s", r->why ? r->why : "error");
}

static void account_created(struct admin_req *r, int rv)
{
	const char *addr = r->req->account_add->address;
	if (rv != 0) {
		log_error("admin", "account database creation failed address=%s db=%s: %s", addr,
		          r->acct.dbname, mr_strerror(rv));
		r->why = mr_strerror(rv);
		admin__job(r, STORE_DIRECTORY, 0, account_undo_job, account_undo_done);
		return;
	}
	log_info("admin", "account added address=%s db=%s uid=%u", addr, r->acct.dbname,
	         (unsigned)r->peer_uid);
	admin_resp_message(&r->resp, "account %s added", addr);
	admin__reply(r);
}

static void account_add_done(struct admin_req *r, int rv)
{
	if (rv != 0) {
		admin__fail(r, rv, "%s: %s", r->req->account_add->address,
		            r->why ? r->why : mr_strerror(rv));
		return;
	}
	admin__job(r, r->acct.dbname, STORE_CREATE, noop_job, account_created);
}

void admin__cmd_account_add(struct admin_req *r)
{
	Mr__CtlAccountAdd *a = r->req->account_add;
	if (check_address(r, a->address) != 0 || check_password(r, a->password) != 0)
		return;
	if (a->has_quota && a->quota < 0) {
		admin__fail(r, MR_EINVAL, "negative quota");
		return;
	}
	admin__job(r, STORE_DIRECTORY, 0, account_add_job, account_add_done);
}

/* ---- list ----------------------------------------------------------------------------- */

/* Collect the matching addresses first: the quota lookups must not run inside the list's
 * own statement. */
static void account_row(void *ud, const char *address, const char *dbname)
{
	struct admin_req *r = ud;
	size_t n = strlen(address), fn = r->filter ? strlen(r->filter) : 0;
	if (fn && (n < fn || strcmp(address + n - fn, r->filter) != 0))
		return;
	if ((r->n_names & (r->n_names - 1)) == 0) /* grow geometrically */
		r->names = xrealloc(r->names, (r->n_names ? r->n_names * 2 : 1) * sizeof *r->names);
	r->names[r->n_names++] = xstrdup(address);
}

static int account_list_job(struct store_db *db, void *arg)
{
	struct admin_req *r = arg;
	if (r->filter && !dir_domain_exists(db, r->filter + 1)) {
		r->why = "no such domain";
		return MR_ENOTFOUND;
	}
	int rv = dir_account_list(db, account_row, r);
	for (size_t i = 0; rv == 0 && i < r->n_names; i++) {
		struct dir_account a;
		char quota[24] = "?";
		if (dir_account_get(db, r->names[i], &a) == 0)
			snprintf(quota, sizeof quota, "%" PRId64, a.quota);
		mr_memzero(a.pwhash, sizeof a.pwhash);
		const char *cells[] = {r->names[i], quota};
		admin_resp_row(&r->resp, 2, cells);
	}
	return rv;
}

static void account_list_done(struct admin_req *r, int rv)
{
	if (rv != 0) {
		admin__fail(r, rv, "%s", r->why ? r->why : mr_strerror(rv));
		return;
	}
	admin__reply(r);
}

void admin__cmd_account_list(struct admin_req *r)
{
	static const char *const cols[] = {"address", "quota"};
	char *d = r->req->account_list->domain;
	if (d) {
		const char *why;
		if (admin_valid_domain(d, &why) != 0) {
			admin__fail(r, MR_EINVAL, "invalid domain: %s", why);
			return;
		}
		r->filter = xasprintf("@%s", d);
	}
	admin_resp_columns(&r->resp, 2, cols);
	admin__job(r, STORE_DIRECTORY, 0, account_list_job, account_list_done);
}

/* ---- rm ------------------------------------------------------------------------------- */

static void collect_alias(void *ud, const char *alias, const char *target)
{
	struct admin_req *r = ud;
	if (strcmp(target, r->req->account_rm->address) != 0)
		return;
	r->names = xrealloc(r->names, (r->n_names + 1) * sizeof *r->names);
	r->names[r->n_names++] = xstrdup(alias);
}

static int account_rm_job(struct store_db *db, void *arg)
{
	struct admin_req *r = arg;
	const char *addr = r->req->account_rm->address;
	int rv = dir_account_rm(db, addr, &r->acct);
	if (rv != 0)
		return rv;
	/* aliases may only point at local accounts: drop the ones that pointed here */
	if (dir_alias_list(db, collect_alias, r) == 0)
		for (size_t i = 0; i < r->n_names; i++)
			dir_alias_rm(db, r->names[i], addr);
	return 0;
}

/* Drops run on libuv worker threads and call into the store, so the store must outlive them:
 * admin_stop (before the node closes the store) waits for a drop already running and keeps
 * new ones from starting. Only at shutdown, and only for one file removal. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	unsigned running;
	bool stopping;
} drops = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};

void admin__drops_quiesce(bool stop)
{
	pthread_mutex_lock(&drops.mu);
	drops.stopping = stop;
	while (stop && drops.running)
		pthread_cond_wait(&drops.cond, &drops.mu);
	pthread_mutex_unlock(&drops.mu);
}

static void drop_work(uv_work_t *w)
{
	struct admin_req *r = w->data;
	pthread_mutex_lock(&drops.mu);
	bool go = !drops.stopping;
	drops.running += go;
	pthread_mutex_unlock(&drops.mu);
	if (!go) {
		r->work_rv = MR_ECLOSED;
		return;
	}
	r->work_rv = store_drop(node_get()->store, r->acct.dbname);
	pthread_mutex_lock(&drops.mu);
	drops.running--;
	pthread_cond_broadcast(&drops.cond);
	pthread_mutex_unlock(&drops.mu);
}

static void drop_done(uv_work_t *w, int status)
{
	struct admin_req *r = w->data;
	const char *addr = r->req->account_rm->address;
	int rv = status < 0 ? MR_EIO : r->work_rv;
	if (rv != 0 && rv != MR_ENOTFOUND) {
		log_error("admin", "account removed but its database remains address=%s db=%s: %s",
		          addr, r->acct.dbname, mr_strerror(rv));
		admin__fail(r, rv,
		            "account %s removed from the directory, but its database %s "
		            "could not be deleted: %s",
		            addr, r->acct.dbname, mr_strerror(rv));
		return;
	}
	log_info("admin", "account removed address=%s db=%s uid=%u", addr, r->acct.dbname,
	         (unsigned)r->peer_uid);
	admin_resp_message(&r->resp, "account %s removed", addr);
	admin__reply(r);
}

static void account_rm_done(struct admin_req *r, int rv)
{
	const char *addr = r->req->account_rm->address;
	if (rv == MR_ENOTFOUND) {
		admin__fail(r, rv, "no such account: %s", addr);
		return;
	}
	if (rv != 0) {
		admin__fail(r, rv, "cannot remove %s: %s", addr, mr_strerror(rv));
		return;
	}
	pthread_mutex_lock(&drops.mu);
	bool stopping = drops.stopping;
	pthread_mutex_unlock(&drops.mu);
	if (stopping) {
		log_warn("admin", "shutting down: database of removed account left db=%s",
		         r->acct.dbname);
		admin__fail(r, MR_ECLOSED,
		            "account %s removed, but the node is shutting down: "
		            "database %s left in place",
		            addr, r->acct.dbname);
		return;
	}
	r->work.data = r;
	rv = uv_queue_work(node_get()->loop, &r->work, drop_work, drop_done);
	if (rv != 0)
		admin__fail(r, MR_EIO, "cannot schedule removal of database %s", r->acct.dbname);
}

void admin__cmd_account_rm(struct admin_req *r)
{
	if (check_address(r, r->req->account_rm->address) != 0)
		return;
	admin__job(r, STORE_DIRECTORY, 0, account_rm_job, account_rm_done);
}

/* ---- passwd --------------------------------------------------------------------------- */

static int account_passwd_job(struct store_db *db, void *arg)
{
	struct admin_req *r = arg;
	Mr__CtlAccountPasswd *a = r->req->account_passwd;
	struct dir_account acct;
	int rv = dir_account_get(db, a->address, &acct);
	if (rv == 0)
		rv = store_pw_hash(store_db_store(db), a->password, r->pwhash);
	if (rv == 0)
		rv = dir_account_passwd(db, a->address, r->pwhash);
	mr_memzero(acct.pwhash, sizeof acct.pwhash);
	wipe(a->password);
	return rv;
}

static void account_passwd_done(struct admin_req *r, int rv)
{
	const char *addr = r->req->account_passwd->address;
	if (rv == MR_ENOTFOUND) {
		admin__fail(r, rv, "no such account: %s", addr);
		return;
	}
	if (rv != 0) {
		admin__fail(r, rv, "cannot change the password of %s: %s", addr, mr_strerror(rv));
		return;
	}
	log_info("admin", "password changed address=%s uid=%u", addr, (unsigned)r->peer_uid);
	admin_resp_message(&r->resp, "password of %s changed", addr);
	admin__reply(r);
}

void admin__cmd_account_passwd(struct admin_req *r)
{
	Mr__CtlAccountPasswd *a = r->req->account_passwd;
	if (check_address(r, a->address) != 0 || check_password(r, a->password) != 0)
		return;
	admin__job(r, STORE_DIRECTORY, 0, account_passwd_job, account_passwd_done);
}
