/* imap_cmd_append.c - APPEND (RFC 3501 §6.3.11) with UIDPLUS APPENDUID (RFC 4315 §3) and
 * MULTIAPPEND (RFC 3502: several messages, all stored in one transaction or none). The
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

#define APPEND_MAX_MSGS 1000 /* messages in one MULTIAPPEND */

struct append_msg {
	char *flags;
	int64_t internaldate;
	/* points into the session parser's buffer: the parser is untouched while the job runs
	 * (the session is paused and feeds it nothing until the done callback returns) */
	const uint8_t *msg;
	size_t len;
};

struct append_arg {
	char mailbox[512];
	struct append_msg *m;
	size_t n;
};

static void append_arg_free(void *p)
{
	struct append_arg *a = p;
	for (size_t i = 0; i < a->n; i++)
		free(a->m[i].flags);
	free(a->m);
	free(a);
}

/* Store one message inside the open transaction. */
static int append_one(struct store_db *db, const char *folder, const struct append_msg *m,
		      uint32_t *uid_r)
{
	struct buf env, bs;
	buf_init(&env, 1024 * 1024);
	buf_init(&bs, 4 * 1024 * 1024);
	struct mime_part *root = NULL;
	struct mime_parser *mp = mime_parse(m->msg, m->len, &root);
	bool have_env = root && mime_envelope(m->msg, root, &env) == 0 && env.len;
	bool have_bs = root && mime_bodystructure(m->msg, root, true, &bs) == 0 && bs.len;
	int rv = mbox_append(db, folder, m->flags, m->internaldate, m->msg, m->len,
			     have_env ? (const char *)env.p : NULL, have_bs ? (const char *)bs.p : NULL,
			     uid_r);
	if (mp)
		mime_parser_free(&mp);
	buf_free(&env);
	buf_free(&bs);
	return rv;
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
	uint64_t total = 0;
	for (size_t i = 0; i < a->n; i++)
		total += a->m[i].len;
	if ((rv = imap__quota_check(db, j->quota, total)) != 0)
		return rv;
	/* RFC 3502 §6.3.11: all or nothing, so every message goes into one transaction */
	uint32_t first = 0, last = 0;
	if ((rv = store_tx_begin(db)) != 0)
		return rv;
	for (size_t i = 0; i < a->n && rv == 0; i++) {
		rv = append_one(db, f.name, &a->m[i], &last);
		if (i == 0)
			first = last;
	}
	if (rv == 0)
		rv = store_tx_commit(db);
	else
		store_tx_rollback(db);
	if (rv != 0)
		return rv;
	/* RFC 4315 §3: APPENDUID uidvalidity uid-set (a range for MULTIAPPEND: UIDs are
	 * allocated consecutively inside the one transaction) */
	if (first == last)
		imap__job_reply(j, "OK [APPENDUID %u %u] APPEND completed", f.uidvalidity, last);
	else
		imap__job_reply(j, "OK [APPENDUID %u %u:%u] APPEND completed", f.uidvalidity,
				first, last);
	return 0;
}

void imap__cmd_append(struct imap_cmd *cmd)
{
	size_t n = imap__count_args(cmd->args, cmd->nargs);
	const struct imap_arg *mb = imap__arg(cmd, 0);
	if (n < 2 || !imap_arg_is_astring(mb) || !imap__mailbox_ok(mb->str, mb->len)) {
		imap__bad(cmd->s, cmd->tag, "APPEND needs a mailbox and a message literal");
		return;
	}
	struct append_arg *a = xmalloc(sizeof *a);
	snprintf(a->mailbox, sizeof a->mailbox, "%.*s", (int)mb->len, mb->str);
	if (!imap__mailbox_in(cmd->s, a->mailbox, sizeof a->mailbox))
		goto bad;
	size_t cap = 0;
	bool toobig = false;
	/* RFC 3502 §6.3.11: append-message *(SP append-message), each
	 * [SP flag-list] [SP date-time] SP literal */
	for (size_t i = imap__next_arg(cmd->args, (size_t)(mb - cmd->args)); i < cmd->nargs;) {
		const struct imap_arg *o = &cmd->args[i];
		struct append_msg m = {NULL, (int64_t)time(NULL), NULL, 0};
		if (o->type == IMAP_ARG_LIST) {
			struct buf fl;
			buf_init(&fl, 64 * 1024);
			if (imap__flags_parse(cmd->args, i, &fl) < 0) {
				buf_free(&fl);
				goto bad;
			}
			m.flags = fl.p ? (char *)buf_steal(&fl, NULL) : xstrdup("");
			i = o->end;
			o = i < cmd->nargs ? &cmd->args[i] : NULL;
		}
		if (o && o->type == IMAP_ARG_QUOTED) {
			if (imap__datetime_parse(o->str, o->len, &m.internaldate) < 0) {
				free(m.flags);
				goto bad;
			}
			i++;
			o = i < cmd->nargs ? &cmd->args[i] : NULL;
		}
		if (o && imap_arg_atom_is(o, "UTF8")) {
			/* RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")" */
			const struct imap_arg *l = i + 1 < cmd->nargs ? &cmd->args[i + 1] : NULL;
			if (!l || l->type != IMAP_ARG_LIST || l->nchildren != 1 ||
			    l->end != i + 3 || cmd->args[i + 2].type != IMAP_ARG_LITERAL ||
			    !cmd->args[i + 2].binary) {
				free(m.flags);
				goto bad;
			}
			i += 2; /* at the literal8; the list ends right after it */
			o = &cmd->args[i];
		}
		if (!o || o->type != IMAP_ARG_LITERAL || a->n >= APPEND_MAX_MSGS) {
			free(m.flags);
			goto bad;
		}
		if (!m.flags)
			m.flags = xstrdup("");
		m.msg = (const uint8_t *)o->str;
		m.len = o->len;
		if (o->binary && memchr(o->str, 0, o->len)) {
			/* RFC 3516 §4.4: binary content this store cannot keep */
			free(m.flags);
			append_arg_free(a);
			conn_printf(cmd->s->c, "%s NO [UNKNOWN-CTE] NUL octets cannot be stored\r\n",
				    cmd->tag);
			return;
		}
		if (m.len == 0 || m.len > node_get()->cfg->max_message_size)
			toobig = true;
		if (a->n == cap) {
			cap = cap ? cap * 2 : 4;
			a->m = xrealloc(a->m, cap * sizeof *a->m);
		}
		a->m[a->n++] = m;
		i++;
	}
	if (a->n == 0)
		goto bad;
	if (toobig) { /* RFC 7889 §3: over APPENDLIMIT */
		append_arg_free(a);
		conn_printf(cmd->s->c, "%s NO [TOOBIG] Message size not acceptable\r\n", cmd->tag);
		return;
	}
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, append_run);
	j->arg = a;
	j->free_arg = append_arg_free;
	imap__job_submit(j, NULL);
	return;
bad:
	append_arg_free(a);
	imap__bad(cmd->s, cmd->tag, "Invalid APPEND arguments");
}
