/* ctl_cluster_join.c - `mailraftctl cluster join TOKEN`, run on a new machine with mailraftd
 * stopped and an empty data directory (no database, no cluster identity, no master key). The
 * token printed by `cluster add` on a member (raft/cluster_join.h) names that member, the id
 * and address the cluster gave this node, the CA's fingerprint and a secret. We call CL_RPC_JOIN
 * on the member's RPC address with an anonymous TLS client (we hold no certificate yet) and a
 * proof derived from the secret, open the sealed grant with the secret, and accept it only if
 * the CA matches the token's fingerprint and the certificate chains to it and names our id.
 * Then the credentials go to <data_dir>/cluster/ (cl_pki_write), the master key (32 raw bytes,
 * 0600) to master_key_file or <data_dir>/master.key, and the marker "join" ("ID@ADDRESS\n")
 * last: the daemon starts in join mode only once everything else is in place. On a failure
 * after the first file, what this run wrote is removed again (the invitation is consumed by
 * then: a new `cluster add` is needed). Secrets are wiped from memory before returning. */
#include "common/err.h"
#include "ctl_offline.h"
#include "node/cluster/cluster.h"
#include "raft/cluster_join.h"
#include "raft/cluster_pki.h"
#include "raft/cluster_rpc.h"
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* True if <data_dir>/db holds a database file; its name goes to name. */
static bool has_database(const char *data_dir, char *name, size_t cap)
{
	char p[CTL_PATH_MAX];
	if (ctl_off_path(p, data_dir, "db") != 0)
		return false;
	DIR *d = opendir(p);
	if (!d)
		return false;
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n > 3 && strcmp(e->d_name + n - 3, ".db") == 0) {
			snprintf(name, cap, "%s", e->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

/* The data directory must be a blank slate: the node gets everything from the cluster. */
static int check_blank(struct ctl_off *x)
{
	static const char *const ids[] = {CL_PKI_NODE_CERT,       CL_PKI_NODE_KEY,
	                                  CL_PKI_CA_CERT,         CL_PKI_CA_KEY,
	                                  CLUSTER_MARK_BOOTSTRAP, CLUSTER_MARK_JOIN};
	char name[256], p[CTL_PATH_MAX];
	if (has_database(x->conf.data_dir, name, sizeof name)) {
		snprintf(
		    x->err, sizeof x->err,
		    "%s/db holds databases (%s...): a joining node must start with an empty data "
		    "directory (its data comes from the cluster)",
		    x->conf.data_dir, name);
		return CTL_EX_CANTCREAT;
	}
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		if (ctl_off_path(p, x->cluster_dir, ids[i]) == 0 && ctl_off_exists(p)) {
			snprintf(
			    x->err, sizeof x->err,
			    "%s exists: this node already has a cluster identity (remove %s to "
			    "join again)",
			    p, x->cluster_dir);
			return CTL_EX_CANTCREAT;
		}
	}
	if (ctl_off_exists(x->master_key)) {
		snprintf(x->err, sizeof x->err,
		         "the master key file %s exists: a joining node receives the cluster's key "
		         "(remove it if this data directory holds nothing you need)",
		         x->master_key);
		return CTL_EX_CANTCREAT;
	}
	return 0;
}

/* Exit status and text for a failed JOIN call. */
static int call_failed(struct ctl_off *x, int rv, const struct cl_join_token *t, const char *rpc)
{
	switch (rv) {
	case MR_EAUTH:
	case MR_EPERM:
		snprintf(x->err, sizeof x->err,
		         "the member at %s refused the token for node %" PRIu64
		         " (wrong or already used token)",
		         t->peer, t->id);
		return CTL_EX_NOPERM;
	case MR_ENOTFOUND:
		snprintf(x->err, sizeof x->err,
		         "the member at %s has no invitation for node %" PRIu64
		         " (expired after %d minutes, already used, or the member restarted): run "
		         "`mailraftctl cluster add` again",
		         t->peer, t->id, CL_JOIN_TTL_S / 60);
		return CTL_EX_NOUSER;
	case MR_EEXIST:
		snprintf(x->err, sizeof x->err,
		         "node %" PRIu64 " is already a member of the cluster", t->id);
		return CTL_EX_CANTCREAT;
	default:
		snprintf(x->err, sizeof x->err,
		         "cannot join through the member at %s (RPC %s): %s (is its mailraftd "
		         "running and the RPC port reachable?)",
		         t->peer, rpc,
		         rv == CL_RPC_ETIMEDOUT ? "no answer in time" : mr_strerror(rv));
		return CTL_EX_UNAVAILABLE;
	}
}

/* Ask the member; *g_r holds the opened grant on success. */
static int fetch_grant(struct ctl_off *x, const struct cl_join_token *t, struct cl_join_grant *g_r)
{
	char rpc[CL_ADDRESS_MAX + 1];
	if (cl_rpc_address(t->peer, rpc) != 0) {
		snprintf(x->err, sizeof x->err, "the token names an invalid member address '%s'",
		         t->peer);
		return CTL_EX_DATAERR;
	}
	uint8_t proof[CL_JOIN_PROOF], *body = NULL, *reply = NULL;
	size_t len = 0, rlen = 0;
	cl_join_proof(t->secret, proof);
	int rv = cl_join_request_encode(t->id, proof, &body, &len);
	sodium_memzero(proof, sizeof proof);
	if (rv != 0) {
		snprintf(x->err, sizeof x->err, "cannot encode the join request: %s",
		         mr_strerror(rv));
		return CTL_EX_SOFTWARE;
	}
	struct cl_rpc_client *c = NULL;
	rv = cl_rpc_client_open(NULL, &c);
	if (rv != 0) {
		free(body);
		snprintf(x->err, sizeof x->err, "cannot set up the TLS client: %s",
		         mr_strerror(rv));
		return CTL_EX_SOFTWARE;
	}
	rv = cl_rpc_call_sync(c, rpc, CL_RPC_JOIN, body, len, 0, &reply, &rlen);
	cl_rpc_client_close(&c);
	free(body);
	if (rv != 0) {
		free(reply);
		return call_failed(x, rv, t, rpc);
	}
	rv = cl_join_grant_open(reply, rlen, t->secret, g_r);
	if (reply)
		sodium_memzero(reply, rlen);
	free(reply);
	if (rv != 0) {
		snprintf(x->err, sizeof x->err,
		         "the answer of %s does not open with the token's secret (%s): refusing it",
		         t->peer, mr_strerror(rv));
		return CTL_EX_PROTOCOL;
	}
	return 0;
}

/* The grant must come from the cluster the token names and be for this node. */
static int check_grant(struct ctl_off *x, const struct cl_join_token *t,
                       const struct cl_join_grant *g)
{
	char fpr[CL_PKI_FPR_LEN + 1];
	if (cl_pki_fingerprint(g->ca_pem, fpr) != 0 || strcmp(fpr, t->ca_fpr) != 0) {
		snprintf(x->err, sizeof x->err,
		         "the member at %s sent a CA whose fingerprint is not the token's (%s): "
		         "refusing it",
		         t->peer, t->ca_fpr);
		return CTL_EX_NOPERM;
	}
	uint64_t id = 0;
	if (cl_pki_verify(g->ca_pem, g->cert_pem, &id) != 0 || id != t->id) {
		snprintf(x->err, sizeof x->err,
		         "the certificate sent by %s does not chain to the cluster CA or is not "
		         "for node %" PRIu64 ": refusing it",
		         t->peer, t->id);
		return CTL_EX_NOPERM;
	}
	return 0;
}

/* Remove what this run wrote (a failure after the credentials were stored). */
static void undo(struct ctl_off *x, bool key_written)
{
	static const char *const names[] = {CL_PKI_NODE_KEY, CL_PKI_NODE_CERT, CL_PKI_CA_CERT,
	                                    CL_PKI_CA_KEY};
	char p[CTL_PATH_MAX];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (ctl_off_path(p, x->cluster_dir, names[i]) == 0)
			unlink(p);
	rmdir(x->cluster_dir);
	if (key_written)
		unlink(x->master_key);
}

/* Store the credentials, the master key and the marker. */
static int store(struct ctl_off *x, const struct cl_join_token *t, const struct cl_join_grant *g)
{
	struct cl_pki pki = {0};
	int rv = cl_pki_from_pem(g->ca_pem, g->cert_pem, g->key_pem, &pki);
	if (rv == 0)
		rv = cl_pki_write(&pki, x->cluster_dir);
	cl_pki_free(&pki);
	if (rv != 0) {
		snprintf(x->err, sizeof x->err, "cannot store the credentials in %s: %s",
		         x->cluster_dir, mr_strerror(rv));
		return rv == MR_EEXIST ? CTL_EX_CANTCREAT : CTL_EX_IOERR;
	}
	static const char *const names[] = {"", CL_PKI_NODE_KEY, CL_PKI_NODE_CERT, CL_PKI_CA_CERT};
	char p[CTL_PATH_MAX], line[CL_ADDRESS_MAX + 32];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!names[i][0])
			ctl_off_own(x, x->cluster_dir);
		else if (ctl_off_path(p, x->cluster_dir, names[i]) == 0)
			ctl_off_own(x, p);
	/* the CA key too: any member can then invite (`cluster add`) */
	if (g->ca_key_pem && ctl_off_path(p, x->cluster_dir, CL_PKI_CA_KEY) == 0) {
		rv = ctl_off_write(x, p, g->ca_key_pem, strlen(g->ca_key_pem), 0600);
		if (rv != 0) {
			snprintf(x->err, sizeof x->err, "cannot write the CA key in %s: %s",
			         x->cluster_dir, rv == MR_EIO ? strerror(errno) : mr_strerror(rv));
			undo(x, false);
			return CTL_EX_IOERR;
		}
	}
	rv = ctl_off_write(x, x->master_key, g->master_key, CL_JOIN_MASTER_KEY, 0600);
	if (rv != 0) {
		snprintf(x->err, sizeof x->err, "cannot write the master key %s: %s", x->master_key,
		         rv == MR_EIO ? strerror(errno) : mr_strerror(rv));
		undo(x, false);
		return rv == MR_EEXIST ? CTL_EX_CANTCREAT : CTL_EX_IOERR;
	}
	size_t n = ctl_off_marker(line, sizeof line, t->id, t->address);
	rv = n && ctl_off_path(p, x->cluster_dir, CLUSTER_MARK_JOIN) == 0
	         ? ctl_off_write(x, p, line, n, 0600)
	         : MR_EINVAL;
	if (rv != 0) {
		snprintf(x->err, sizeof x->err, "cannot write the join marker in %s: %s",
		         x->cluster_dir, rv == MR_EIO ? strerror(errno) : mr_strerror(rv));
		undo(x, true);
		return CTL_EX_IOERR;
	}
	return 0;
}

static int report(struct ctl_off *x, const struct cl_join_token *t, const struct cl_join_grant *g,
                  FILE *out, FILE *errf)
{
	char msg[4096], ids[24], note[CL_ADDRESS_MAX * 2 + 128] = "";
	snprintf(ids, sizeof ids, "%" PRIu64, t->id);
	const char *cfg = x->conf.cluster_address;
	if (cfg[0] && strcmp(cfg, t->address) != 0)
		snprintf(
		    note, sizeof note,
		    " (the configuration says cluster_address = %s: change it, the cluster knows "
		    "this node as %s)",
		    cfg, t->address);
	snprintf(msg, sizeof msg,
	         "credentials for node %s received from %s and stored in %s.\n"
	         "next: set `cluster_address = %s` in the configuration%s and start mailraftd: it "
	         "catches up from the cluster and is then promoted to voter.",
	         ids, t->peer, x->cluster_dir, t->address, note);
	const char *kv[] = {"node_id",
	                    ids,
	                    "address",
	                    t->address,
	                    "peer",
	                    t->peer,
	                    "cluster_dir",
	                    x->cluster_dir,
	                    "master_key",
	                    x->master_key,
	                    g->members && g->members[0] ? "members" : NULL,
	                    g->members,
	                    NULL};
	return ctl_off_ok(x, out, errf, msg, kv);
}

int ctl_off_join(struct ctl_off *x, FILE *out, FILE *errf)
{
	static struct cl_join_token t;
	struct cl_join_grant g = {0};
	int st = 0;
	if (cl_join_token_decode(x->o->args[0], &t) != 0) {
		snprintf(
		    x->err, sizeof x->err,
		    "malformed join token: expected the mrjoin1-... text printed by `mailraftctl "
		    "cluster add` on a member (copy it whole, on one line)");
		st = CTL_EX_DATAERR;
	}
	if (st == 0)
		st = check_blank(x);
	if (st == 0)
		st = ctl_off_datadir(x); /* before the token is used up */
	if (st == 0)
		st = fetch_grant(x, &t, &g);
	if (st == 0)
		st = check_grant(x, &t, &g);
	if (st == 0)
		st = store(x, &t, &g);
	if (st == 0)
		st = report(x, &t, &g, out, errf);
	cl_join_grant_free(&g);
	sodium_memzero(&t, sizeof t);
	return st;
}
