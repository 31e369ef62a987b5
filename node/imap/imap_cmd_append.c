/* imap_cmd_append.c - APPEND (RFC 3501 §6.3.11) with UIDPLUS APPENDUID (RFC 4315 §3). The
 * message literal was size-checked against max_message_size before "+ Ready" (session). On the
 * actor the MIME tree is parsed once to cache ENVELOPE and BODYSTRUCTURE beside the message,
 * then mbox_append stores it in one transaction (UID and MODSEQ allocated inside). */
#include "imap_int.h"
#include "mime/mime.h"
#include "node.h"
#include "common/err.h"
#include "common/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct append_arg {
	char mailbox[512];
	char *flags;
	int64_t internaldate;
	/* points into the session parser's buffer: the parser is untouched while the job runs
	 * (the session is paused and feeds it nothing until the done callback returns) */
	const uint8_t *msg;
	size_t len;
};

static void append_arg_free(void *p)
{
	struct append_arg *a = p;
	free(a->flags);
	free(a);
}

static int append_run(struct store_db *db, struct imap_job *j)
{
	struct append_arg *a = j->arg;
	struct mbox_folder f;
	int rv = mbox_folder_get(db, a->mailbox, &f);
	if (rv == MR_ENOTFOUND) {
		imap__job_reply(j, "NO [TRYCREATE] Mailbox does not exist");
		return rv;
	}
	if (rv != 0)
		return rv;
	if ((rv = imap__quota_check(db, j->quota, a->len)) != 0)
		return rv;
	struct buf env, bs;
	buf_init(&env, 1024 * 1024);
	buf_init(&bs, 4 * 1024 * 1024);
	struct mime_part *root = NULL;
	struct mime_parser *mp = mime_parse(a->msg, a->len, &root);
	bool have_env = root && mime_envelope(a->msg, root, &env) == 0 && env.len;
	bool have_bs = root && mime_bodystructure(a->msg, root, true, &bs) == 0 && bs.len;
	uint32_t uid = 0;
	if ((rv = store_tx_begin(db)) == 0) {
		rv = mbox_append(db, f.name, a->flags, a->internaldate, a->msg, a->len,
				 have_env ? (const char *)env.p : NULL,
				 have_bs ? (const char *)bs.p : NULL, &uid);
		if (rv == 0)
			rv = store_tx_commit(db);
		else
			store_tx_rollback(db);
	}
	if (mp)
		mime_parser_free(&mp);
	buf_free(&env);
	buf_free(&bs);
	if (rv == 0)
		imap__job_reply(j, "OK [APPENDUID %u %u] APPEND completed", f.uidvalidity, uid);
	return rv;
}

void imap__cmd_append(struct imap_cmd *cmd)
{
	size_t n = imap__count_args(cmd->args, cmd->nargs);
	const struct imap_arg *mb = imap__arg(cmd, 0), *msg = imap__arg(cmd, n - 1);
	if (n < 2 || n > 4 || !imap_arg_is_astring(mb) || !imap__mailbox_ok(mb->str, mb->len) ||
	    !imap_arg_is_string(msg)) {
		imap__bad(cmd->s, cmd->tag, "APPEND needs a mailbox and a message literal");
		return;
	}
	struct append_arg *a = xmalloc(sizeof *a);
	snprintf(a->mailbox, sizeof a->mailbox, "%.*s", (int)mb->len, mb->str);
	imap__mailbox_norm(a->mailbox);
	a->internaldate = (int64_t)time(NULL);
	struct buf fl;
	buf_init(&fl, 64 * 1024);
	for (size_t k = 1; k + 1 < n; k++) {
		const struct imap_arg *o = imap__arg(cmd, k);
		if (o->type == IMAP_ARG_LIST && k == 1) {
			if (imap__flags_parse(cmd->args, (size_t)(o - cmd->args), &fl) < 0)
				goto bad;
		} else if (o->type == IMAP_ARG_QUOTED) {
			if (imap__datetime_parse(o->str, o->len, &a->internaldate) < 0)
				goto bad;
		} else {
			goto bad;
		}
	}
	if (msg->len == 0 || msg->len > node_get()->cfg->max_message_size) {
		buf_free(&fl);
		free(a);
		conn_printf(cmd->s->c, "%s NO [TOOBIG] Message size not acceptable\r\n", cmd->tag);
		return;
	}
	a->flags = fl.p ? (char *)buf_steal(&fl, NULL) : xstrdup("");
	a->msg = (const uint8_t *)msg->str;
	a->len = msg->len;
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, append_run);
	j->arg = a;
	j->free_arg = append_arg_free;
	imap__job_submit(j, NULL);
	return;
bad:
	buf_free(&fl);
	free(a);
	imap__bad(cmd->s, cmd->tag, "Invalid APPEND arguments");
}
