/* imap_cmd_search.c - SEARCH and UID SEARCH (RFC 3501 §6.4.4, §7.2.5). The criteria are parsed
 * on the loop (imap_search_parse.c); the job walks its snapshot copy in sequence order, loads
 * each message row (and the body only when a key needs the text) and evaluates the tree
 * (imap_search_eval.c). Expunges are held back for SEARCH by sequence number (§7.4.1). */
#include "imap_int.h"
#include "imap_search.h"
#include "common/err.h"
#include "common/util.h"
#include <stdlib.h>
#include <string.h>

struct search_arg {
	struct imap_search_key *key;
	bool uid;
};

static void search_arg_free(void *p)
{
	struct search_arg *a = p;
	imap_search_free(&a->key);
	free(a);
}

static int search_run(struct store_db *db, struct imap_job *j)
{
	struct search_arg *a = j->arg;
	bool text = imap_search_needs_text(a->key);
	sqlite3_stmt *bst = text ? store_stmt(db, "SELECT raw FROM bodies WHERE id = ?") : NULL;
	if (text && !bst)
		return MR_EIO;
	buf_puts(&j->out, "* SEARCH");
	int rv = 0;
	uint64_t top = 0;
	bool any = false;
	for (size_t i = 0; i < j->snap.n && rv == 0; i++) {
		struct imap_msgent *e = &j->snap.m[i];
		struct imap_msgrow r = {0};
		rv = imap__msg_load(db, j->folder_id, e->uid, &r);
		if (rv == MR_ENOTFOUND) {
			rv = 0;
			continue;
		}
		if (rv != 0)
			break;
		struct imap_search_msg m = {
			.seq = (uint32_t)(i + 1),
			.uid = e->uid,
			.max_seq = (uint32_t)j->snap.n,
			.max_uid = imap__snap_max_uid(&j->snap),
			.flags = r.flags,
			.internaldate = r.internaldate,
			.size = r.size,
			.modseq = r.modseq,
		};
		if (bst) {
			sqlite3_bind_int64(bst, 1, r.id);
			if (sqlite3_step(bst) == SQLITE_ROW) {
				m.raw = sqlite3_column_blob(bst, 0);
				m.rawlen = (size_t)sqlite3_column_bytes(bst, 0);
			}
			if (!m.raw) {
				m.raw = (const uint8_t *)"";
				m.rawlen = 0;
			}
		}
		if (imap_search_match(a->key, &m)) {
			buf_printf(&j->out, " %u", a->uid ? e->uid : (uint32_t)(i + 1));
			any = true;
			if (r.modseq > top)
				top = r.modseq;
		}
		imap_search_msg_done(&m);
		if (bst)
			sqlite3_reset(bst);
		imap__msg_free(&r);
	}
	if (any && imap_search_uses_modseq(a->key)) /* RFC 7162 §3.1.5 */
		buf_printf(&j->out, " (MODSEQ %llu)", (unsigned long long)top);
	buf_puts(&j->out, "\r\n");
	return rv;
}

void imap__cmd_search(struct imap_cmd *cmd)
{
	struct search_arg *a = xmalloc(sizeof *a);
	a->uid = cmd->uid;
	const char *err = NULL;
	int rv = imap_search_parse(cmd->args, cmd->nargs, &a->key, &err);
	if (rv == MR_ENOTFOUND) {
		free(a);
		conn_printf(cmd->s->c, "%s NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n",
			    cmd->tag);
		return;
	}
	if (rv < 0) {
		free(a);
		imap__bad(cmd->s, cmd->tag, err ? err : "Invalid search");
		return;
	}
	if (imap_search_uses_modseq(a->key))
		cmd->s->condstore = true;
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, search_run);
	j->arg = a;
	j->free_arg = search_arg_free;
	j->allow_expunge = cmd->uid;
	imap__job_reply(j, "OK %sSEARCH completed", cmd->uid ? "UID " : "");
	imap__job_submit(j, NULL);
}
