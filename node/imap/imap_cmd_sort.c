/* imap_cmd_sort.c - SORT, THREAD and their UID forms (RFC 5256 §3, §4). The criteria and the
 * search keys are parsed on the loop; the job selects the matching messages of its snapshot
 * copy (as SEARCH does), reads the header fields the algorithms need (Subject decoded per RFC
 * 2047, Date, From/To/Cc, Message-ID, References/In-Reply-To) and hands the array to the pure
 * code in imap_sort.c. Expunges are held back unless it is a UID command (RFC 3501 §7.4.1). */
#include "imap_int.h"
#include "imap_search.h"
#include "imap_sort.h"
#include "mime/mime.h"
#include "common/err.h"
#include "common/util.h"
#include <stdlib.h>
#include <string.h>

enum sort_mode { MODE_SORT, MODE_ORDEREDSUBJECT, MODE_REFERENCES };

struct sort_arg {
	enum sort_mode mode;
	struct imap_sort_crit crit;
	struct imap_search_key *key;
	struct imap_seqset saved;
	bool uid;
};

static void sort_arg_free(void *p)
{
	struct sort_arg *a = p;
	imap_search_free(&a->key);
	imap_seqset_free(&a->saved);
	free(a);
}

static char *header_dup(const uint8_t *raw, const struct mime_part *r, const char *name,
                        bool decode, bool *found)
{
	struct buf v, d;
	buf_init(&v, 64 * 1024);
	buf_init(&d, 256 * 1024);
	*found = r && mime_header_get(raw, r->hdr_start, r->hdr_end, name, &v) == 1;
	struct buf *use = &v;
	if (*found && decode && mime_decode_words((const char *)v.p, v.len, &d) == 0 && d.len)
		use = &d;
	char *s = xstrndup(use->p ? (const char *)use->p : "", use->len);
	buf_free(&v);
	buf_free(&d);
	return s;
}

/* Fill the header-derived fields of m from the message bytes. */
static void load_fields(struct imap_sort_msg *m, const uint8_t *raw, size_t len)
{
	struct mime_part *r = NULL;
	struct mime_parser *mp = mime_parse(raw, len, &r);
	bool f;
	struct buf b;
	buf_init(&b, 0);
	char *v = header_dup(raw, r, "Subject", true, &f);
	m->reply = imap_base_subject(v, strlen(v), &b);
	m->subject = xstrndup(b.p ? (const char *)b.p : "", b.len);
	free(v);
	static const char *const addr[] = {"From", "To", "Cc"};
	char **dst[] = {&m->from, &m->to, &m->cc};
	for (size_t i = 0; i < 3; i++) {
		buf_reset(&b);
		v = header_dup(raw, r, addr[i], false, &f);
		imap_first_mailbox(v, strlen(v), &b);
		*dst[i] = xstrndup(b.p ? (const char *)b.p : "", b.len);
		free(v);
	}
	v = header_dup(raw, r, "Date", false, &f);
	if (!f || imap_parse_rfc5322_time(v, strlen(v), &m->date) < 0)
		m->date = m->arrival; /* RFC 5256 §2.2 */
	free(v);
	char **ids = NULL;
	v = header_dup(raw, r, "Message-ID", false, &f);
	if (imap_msgids(v, strlen(v), &ids, 1) == 1)
		m->msgid = ids[0];
	free(ids);
	free(v);
	v = header_dup(raw, r, "References", false, &f);
	m->nrefs = imap_msgids(v, strlen(v), &m->refs, 64);
	free(v);
	if (m->nrefs == 0) { /* RFC 5256 §3.2 step 1.B: else the first id of In-Reply-To */
		v = header_dup(raw, r, "In-Reply-To", false, &f);
		m->nrefs = imap_msgids(v, strlen(v), &m->refs, 1);
		free(v);
	}
	buf_free(&b);
	if (mp)
		mime_parser_free(&mp);
}

static int sort_run(struct store_db *db, struct imap_job *j)
{
	struct sort_arg *a = j->arg;
	sqlite3_stmt *bst = store_stmt(db, "SELECT raw FROM bodies WHERE id = ?");
	if (!bst)
		return MR_EIO;
	struct imap_sort_msg *v = xcalloc(j->snap.n ? j->snap.n : 1, sizeof *v);
	size_t n = 0;
	int rv = 0;
	for (size_t i = 0; i < j->snap.n && rv == 0; i++) {
		rv = imap__search_one(db, j, a->key, &a->saved, i, NULL);
		if (rv <= 0)
			continue;
		rv = 0;
		struct imap_msgrow r = {0};
		if ((rv = imap__msg_load(db, j->folder_id, j->snap.m[i].uid, &r)) != 0) {
			rv = rv == MR_ENOTFOUND ? 0 : rv;
			continue;
		}
		struct imap_sort_msg *m = &v[n++];
		m->seq = (uint32_t)(i + 1);
		m->num = a->uid ? j->snap.m[i].uid : m->seq;
		m->arrival = r.internaldate;
		m->size = r.size;
		sqlite3_bind_int64(bst, 1, r.id);
		const uint8_t *raw = NULL;
		size_t len = 0;
		if (sqlite3_step(bst) == SQLITE_ROW) {
			raw = sqlite3_column_blob(bst, 0);
			len = (size_t)sqlite3_column_bytes(bst, 0);
		}
		load_fields(m, raw ? raw : (const uint8_t *)"", len);
		sqlite3_reset(bst);
		imap__msg_free(&r);
	}
	if (rv == 0) {
		if (a->mode == MODE_SORT) {
			imap_sort_msgs(v, n, &a->crit);
			buf_puts(&j->out, "* SORT");
			for (size_t i = 0; i < n; i++)
				buf_printf(&j->out, " %u", v[i].num);
		} else {
			buf_puts(&j->out, "* THREAD ");
			if (a->mode == MODE_ORDEREDSUBJECT)
				imap_thread_orderedsubject(v, n, &j->out);
			else
				imap_thread_references(v, n, &j->out);
		}
		buf_puts(&j->out, "\r\n");
	}
	for (size_t i = 0; i < n; i++)
		imap_sort_msg_free(&v[i]);
	free(v);
	return rv;
}

void imap__cmd_sort(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	bool thread = strcmp(cmd->name, "THREAD") == 0;
	const struct imap_arg *first = imap__arg(cmd, 0), *cs = imap__arg(cmd, 1);
	struct sort_arg *a = xmalloc(sizeof *a);
	a->uid = cmd->uid;
	const char *err = "Invalid arguments";
	if (!first || !cs || !imap__arg(cmd, 2) || !imap_arg_is_astring(cs))
		goto bad;
	if (thread) {
		if (imap_arg_atom_is(first, "ORDEREDSUBJECT"))
			a->mode = MODE_ORDEREDSUBJECT;
		else if (imap_arg_atom_is(first, "REFERENCES"))
			a->mode = MODE_REFERENCES;
		else {
			err = "Unknown threading algorithm";
			goto bad;
		}
	} else if (imap_sort_parse(cmd->args, (size_t)(first - cmd->args), &a->crit) < 0) {
		err = "Invalid sort criteria";
		goto bad;
	}
	/* RFC 5256 §3: the charset is required */
	if (mr_strcasecmp(cs->str, "UTF-8") != 0 && mr_strcasecmp(cs->str, "US-ASCII") != 0) {
		free(a);
		conn_printf(s->c, "%s NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n",
		            cmd->tag);
		return;
	}
	if (imap_search_parse_keys(cmd->args, imap__next_arg(cmd->args, (size_t)(cs - cmd->args)),
	                           cmd->nargs, &a->key, &err) < 0)
		goto bad;
	imap_seqset_copy(&a->saved, &s->saved);
	struct imap_job *j = imap__job_new(s, cmd->tag, sort_run);
	j->arg = a;
	j->free_arg = sort_arg_free;
	j->allow_expunge = cmd->uid;
	imap__job_reply(j, "OK %s%s completed", cmd->uid ? "UID " : "", cmd->name);
	imap__job_submit(j, NULL);
	return;
bad:
	free(a);
	imap__bad(s, cmd->tag, err);
}
