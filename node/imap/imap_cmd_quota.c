/* imap_cmd_quota.c - QUOTA (RFC 9208): one quota root per account, named "" (the empty
 * string), covering every mailbox, with the STORAGE resource (§5.1, units of 1024 octets)
 * taken from the account's quota column in the directory (read at login; 0 = no limit, and
 * then no quota root at all). GETQUOTAROOT (§4.1.2), GETQUOTA (§4.1.1); SETQUOTA (§4.1.3) is
 * refused: limits are set with mailraftctl. Enforcement on APPEND and COPY/MOVE is in those
 * commands (imap__quota_check, NO [OVERQUOTA]). */
#include "imap_int.h"
#include "common/err.h"
#include "common/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct quota_arg {
	char mailbox[512]; /* GETQUOTAROOT; "" for GETQUOTA */
	bool root;         /* GETQUOTAROOT */
};

/* "* QUOTA "" (STORAGE used limit)": used rounded up to whole KiB, limit rounded down. */
static int put_quota(struct store_db *db, struct imap_job *j)
{
	uint64_t used;
	int rv = mbox_usage(db, &used);
	if (rv != 0)
		return rv;
	buf_printf(&j->out, "* QUOTA \"\" (STORAGE %llu %llu)\r\n",
	           (unsigned long long)((used + 1023) / 1024),
	           (unsigned long long)((uint64_t)j->quota / 1024));
	return 0;
}

static int quota_run(struct store_db *db, struct imap_job *j)
{
	struct quota_arg *a = j->arg;
	if (a->root) {
		int rv = mbox_folder_get(db, a->mailbox, NULL);
		if (rv != 0)
			return rv;
		buf_puts(&j->out, "* QUOTAROOT ");
		imap__put_mailbox(&j->out, a->mailbox, j->utf8);
		buf_puts(&j->out, j->quota > 0 ? " \"\"\r\n" : "\r\n");
		if (j->quota > 0 && (rv = put_quota(db, j)) != 0)
			return rv;
		imap__job_reply(j, "OK GETQUOTAROOT completed");
		return 0;
	}
	if (j->quota <= 0 || a->mailbox[0]) {
		imap__job_reply(j, "NO [NONEXISTENT] No such quota root");
		return MR_ENOTFOUND;
	}
	int rv = put_quota(db, j);
	if (rv == 0)
		imap__job_reply(j, "OK GETQUOTA completed");
	return rv;
}

void imap__cmd_getquota(struct imap_cmd *cmd)
{
	const struct imap_arg *a0 = imap__arg(cmd, 0);
	bool root = strcmp(cmd->name, "GETQUOTAROOT") == 0;
	if (!a0 || imap__arg(cmd, 1) || !imap_arg_is_astring(a0) || memchr(a0->str, 0, a0->len) ||
	    (root && !imap__mailbox_ok(a0->str, a0->len)) || a0->len >= 512) {
		imap__bad(cmd->s, cmd->tag,
		          root ? "GETQUOTAROOT needs a mailbox" : "GETQUOTA needs a quota root");
		return;
	}
	struct quota_arg *a = xmalloc(sizeof *a);
	a->root = root;
	snprintf(a->mailbox, sizeof a->mailbox, "%.*s", (int)a0->len, a0->str);
	if (root && !imap__mailbox_in(cmd->s, a->mailbox, sizeof a->mailbox)) {
		free(a);
		imap__bad(cmd->s, cmd->tag, "Invalid mailbox name");
		return;
	}
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, quota_run);
	j->arg = a;
	j->free_arg = free;
	imap__job_submit(j, NULL);
}

void imap__cmd_setquota(struct imap_cmd *cmd)
{
	const struct imap_arg *r = imap__arg(cmd, 0), *l = imap__arg(cmd, 1);
	if (!r || !l || imap__arg(cmd, 2) || !imap_arg_is_astring(r) || l->type != IMAP_ARG_LIST) {
		imap__bad(cmd->s, cmd->tag, "SETQUOTA needs a quota root and a list");
		return;
	}
	/* RFC 9208 §4.1.3: a server that does not allow it answers NO */
	conn_printf(cmd->s->c, "%s NO [NOPERM] Quotas are set by the administrator\r\n", cmd->tag);
}
