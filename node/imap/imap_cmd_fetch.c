/* imap_cmd_fetch.c - FETCH and UID FETCH (RFC 3501 §6.4.5, §6.4.8, §7.4.2). The item list is
 * parsed on the loop (imap_fetch_parse.c); the job resolves the sequence set against its
 * snapshot copy, reads each message row (and the body only when an item needs it), builds the
 * untagged FETCH responses with section data as literals, and sets \Seen for non-PEEK body
 * fetches in one transaction (new MODSEQ per changed message, folder HIGHESTMODSEQ updated).
 * Expunges are not announced during FETCH by sequence number (§7.4.1). */
#include "imap_int.h"
#include "imap_fetch.h"
#include "imap_search.h"
#include "mime/mime.h"
#include "common/err.h"
#include "common/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fetch_arg {
	struct imap_fetch f;
	struct imap_seqset set;
	bool uid;
	/* progress across rounds (see imap_job.again) */
	size_t *idx, nidx, pos;
	bool resolved;
};

static void fetch_arg_free(void *p)
{
	struct fetch_arg *a = p;
	imap_fetch_free(&a->f);
	imap_seqset_free(&a->set);
	free(a->idx);
	free(a);
}

/* Section bytes for a BODY[...] item: [*s, *e) of raw, or false when the part is missing. */
static bool section_range(const uint8_t *raw, const struct mime_part *root,
			  const struct imap_fitem *it, size_t *s, size_t *e)
{
	const char *kind = it->spec;
	if (strncmp(kind, "HEADER", 6) == 0)
		kind = "HEADER";
	return mime_section(raw, root, it->path, kind, s, e) == 0;
}

static void put_section(struct buf *o, const struct imap_fitem *it, const uint8_t *raw,
			size_t rawlen, const struct mime_part *root)
{
	buf_printf(o, "%s ", it->label);
	size_t s = 0, e = rawlen;
	if (it->path[0] == 0 && it->spec[0] == 0) {
		/* whole message */
	} else if (!root || !section_range(raw, root, it, &s, &e) || e > rawlen || s > e) {
		buf_puts(o, "NIL");
		return;
	}
	const uint8_t *data = raw + s;
	size_t len = e - s;
	struct buf tmp;
	buf_init(&tmp, 0);
	if (it->nfields) {
		imap_fetch_filter_headers(data, len, it->fields, it->nfields,
					  strcmp(it->spec, "HEADER.FIELDS.NOT") == 0, &tmp);
		data = tmp.p;
		len = tmp.len;
	}
	if (it->partial) { /* RFC 3501 §6.4.5 <origin.octets> */
		if (it->origin >= len) {
			len = 0;
		} else {
			data += it->origin;
			len -= it->origin;
			if (len > it->count)
				len = it->count;
		}
	}
	buf_printf(o, "{%zu}\r\n", len);
	buf_append(o, data ? data : (const uint8_t *)"", len);
	buf_free(&tmp);
}

/* RFC 3516 §4.2: the content-transfer-decoded part. dec gets the bytes; false when the part
 * does not exist. The whole message (empty path) is returned as it is. */
static bool binary_part(const uint8_t *raw, size_t rawlen, const struct mime_part *root,
			const struct imap_fitem *it, struct buf *dec)
{
	if (!it->path[0]) {
		buf_append(dec, raw, rawlen);
		return true;
	}
	struct mime_part empty; /* part 1 of a multipart without parts (mime_part_find) */
	const struct mime_part *p = root ? mime_part_find(root, it->path, &empty) : NULL;
	if (!p)
		return false;
	if (p->first_child) /* multipart or message/rfc822: no transfer encoding to undo */
		buf_append(dec, raw + p->body_start, p->body_end - p->body_start);
	else
		mime_decode_body(raw, p, dec);
	return true;
}

/* RFC 3516 §4.3: BINARY[] / BINARY.SIZE[] of a leaf whose transfer encoding the server
 * cannot undo fails the command with NO [UNKNOWN-CTE]; checked before any output. */
static bool binary_unknown_cte(const struct imap_fetch *f, const uint8_t *raw,
			       const struct mime_part *root)
{
	for (size_t i = 0; i < f->n && root; i++) {
		const struct imap_fitem *it = &f->items[i];
		if ((it->kind != FI_BINARY && it->kind != FI_BINARY_SIZE) || !it->path[0])
			continue;
		struct mime_part empty;
		const struct mime_part *p = mime_part_find(root, it->path, &empty);
		if (p && !p->first_child && !mime_cte_known(raw, p))
			return true;
	}
	return false;
}

static void put_binary(struct buf *o, const struct imap_fitem *it, const uint8_t *raw,
		       size_t rawlen, const struct mime_part *root)
{
	struct buf dec;
	buf_init(&dec, 0);
	bool found = binary_part(raw, rawlen, root, it, &dec);
	const uint8_t *data = dec.p ? dec.p : (const uint8_t *)"";
	size_t len = dec.len;
	if (it->kind == FI_BINARY_SIZE) {
		buf_printf(o, "%s %zu", it->label, found ? len : 0);
		buf_free(&dec);
		return;
	}
	if (!found) {
		buf_printf(o, "%s NIL", it->label);
		buf_free(&dec);
		return;
	}
	if (it->partial) {
		if (it->origin >= len) {
			len = 0;
		} else {
			data += it->origin;
			len -= it->origin;
			if (len > it->count)
				len = it->count;
		}
	}
	/* literal8 only when needed (NUL octets), a plain literal otherwise */
	buf_printf(o, "%s %s{%zu}\r\n", it->label, memchr(data, 0, len) ? "~" : "", len);
	buf_append(o, data, len);
	buf_free(&dec);
}

static bool wants(const struct imap_fetch *f, enum imap_fitem_kind k)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->items[i].kind == k)
			return true;
	return false;
}

static int fetch_one(struct store_db *db, struct imap_job *j, struct fetch_arg *a, size_t idx,
		     bool *in_tx)
{
	struct imap_msgent *m = &j->snap.m[idx];
	struct imap_msgrow r = {0};
	int rv = imap__msg_load(db, j->folder_id, m->uid, &r);
	if (rv == MR_ENOTFOUND)
		return 0; /* expunged meanwhile: nothing to return */
	if (rv != 0)
		return rv;
	if (a->f.changedsince && r.modseq <= a->f.since) {
		imap__msg_free(&r);
		return 0;
	}
	const uint8_t *raw = NULL;
	size_t rawlen = 0;
	sqlite3_stmt *bst = NULL;
	struct mime_parser *mp = NULL;
	struct mime_part *root = NULL;
	bool need_raw = a->f.needs_raw || (!r.envelope && wants(&a->f, FI_ENVELOPE)) ||
			(!r.bodystructure && wants(&a->f, FI_BODYSTRUCTURE));
	if (need_raw) {
		bst = store_stmt(db, "SELECT raw FROM bodies WHERE id = ?");
		if (!bst) {
			imap__msg_free(&r);
			return MR_EIO;
		}
		sqlite3_bind_int64(bst, 1, r.id);
		if (sqlite3_step(bst) == SQLITE_ROW) {
			raw = sqlite3_column_blob(bst, 0);
			rawlen = (size_t)sqlite3_column_bytes(bst, 0);
		}
		if (!raw)
			raw = (const uint8_t *)"";
		mp = mime_parse(raw, rawlen, &root);
	}
	if (raw && binary_unknown_cte(&a->f, raw, root)) {
		imap__job_reply(j, "NO [UNKNOWN-CTE] Cannot decode this part's transfer encoding");
		rv = MR_ENOTFOUND; /* ends the command with that reply (no "job failed" log) */
		goto out;
	}
	bool flags_changed = false;
	if (a->f.sets_seen && !j->readonly && !imap_flags_has(r.flags, "\\Seen")) {
		struct buf nf;
		buf_init(&nf, 0);
		imap__flags_apply(r.flags, "\\Seen", '+', &nf);
		if (!*in_tx && (rv = store_tx_begin(db)) == 0)
			*in_tx = true;
		if (rv == 0)
			rv = imap__msg_set_flags(db, j->folder_id, r.id, (const char *)nf.p, &m->modseq);
		if (rv == 0) {
			free(r.flags);
			r.flags = (char *)buf_steal(&nf, NULL);
			r.modseq = m->modseq;
			flags_changed = true;
		}
		buf_free(&nf);
	}
	struct buf *o = &j->out;
	buf_printf(o, "* %zu FETCH (", idx + 1);
	const char *sep = "";
	bool flags_done = false, modseq_done = false;
	for (size_t i = 0; i < a->f.n && rv == 0; i++) {
		const struct imap_fitem *it = &a->f.items[i];
		buf_puts(o, sep);
		sep = " ";
		char date[32];
		switch (it->kind) {
		case FI_FLAGS:
			buf_printf(o, "FLAGS (%s)", r.flags);
			flags_done = true;
			break;
		case FI_UID:
			buf_printf(o, "UID %u", m->uid);
			break;
		case FI_SIZE:
			buf_printf(o, "RFC822.SIZE %llu", (unsigned long long)r.size);
			break;
		case FI_INTERNALDATE:
			imap__datetime_format(r.internaldate, date);
			buf_printf(o, "INTERNALDATE \"%s\"", date);
			break;
		case FI_ENVELOPE:
			buf_puts(o, "ENVELOPE ");
			if (r.envelope)
				buf_puts(o, r.envelope);
			else if (!root || mime_envelope(raw, root, o) < 0)
				buf_puts(o, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
			break;
		case FI_BODYSTRUCTURE:
		case FI_BODY:
			buf_puts(o, it->kind == FI_BODY ? "BODY " : "BODYSTRUCTURE ");
			if (it->kind == FI_BODYSTRUCTURE && r.bodystructure)
				buf_puts(o, r.bodystructure);
			else if (!root || mime_bodystructure(raw, root, it->kind == FI_BODYSTRUCTURE,
							     o) < 0)
				buf_puts(o, "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
			break;
		case FI_SECTION:
			put_section(o, it, raw ? raw : (const uint8_t *)"", rawlen, root);
			break;
		case FI_MODSEQ:
			buf_printf(o, "MODSEQ (%llu)", (unsigned long long)r.modseq);
			modseq_done = true;
			break;
		case FI_SAVEDATE: /* RFC 8514 §3 */
			imap__datetime_format(r.savedate ? r.savedate : r.internaldate, date);
			buf_printf(o, "SAVEDATE \"%s\"", date);
			break;
		case FI_EMAILID: /* RFC 8474 §5.1 */
			buf_printf(o, "EMAILID (M%s)", r.emailid ? r.emailid : "0");
			break;
		case FI_THREADID: /* RFC 8474 §5.2: no threading of ids here */
			buf_puts(o, "THREADID NIL");
			break;
		case FI_BINARY:
		case FI_BINARY_SIZE:
			put_binary(o, it, raw ? raw : (const uint8_t *)"", rawlen, root);
			break;
		}
	}
	if (flags_changed && !flags_done)
		buf_printf(o, " FLAGS (%s)", r.flags);
	if (flags_changed && j->condstore && !modseq_done) /* RFC 7162 §3.2 */
		buf_printf(o, " MODSEQ (%llu)", (unsigned long long)r.modseq);
	buf_puts(o, ")\r\n");
out:
	if (mp)
		mime_parser_free(&mp);
	if (bst)
		sqlite3_reset(bst);
	imap__msg_free(&r);
	return rv;
}

static int fetch_run(struct store_db *db, struct imap_job *j)
{
	struct fetch_arg *a = j->arg;
	if (!a->resolved) {
		a->nidx = imap__snap_select(&j->snap, &a->set, a->uid, &a->idx);
		a->resolved = true;
		if (a->f.vanished) { /* RFC 7162 §3.2.6: removals first, by UID */
			/* "*" reaches past the largest remaining UID: removed ones above it too */
			int rv = imap__vanished_earlier(db, j, j->folder_id, a->f.since, &a->set,
							UINT32_MAX);
			if (rv != 0)
				return rv;
		}
	}
	bool in_tx = false;
	int rv = 0;
	/* rounds of about IMAP_OUT_HIGH bytes so a big FETCH never sits whole in memory */
	while (a->pos < a->nidx && rv == 0 && j->out.len < IMAP_OUT_HIGH)
		rv = fetch_one(db, j, a, a->idx[a->pos++], &in_tx);
	if (rv == 0 && a->pos < a->nidx)
		j->again = true;
	if (in_tx) {
		if (rv == 0)
			rv = store_tx_commit(db);
		else
			store_tx_rollback(db);
	}
	return rv;
}

void imap__cmd_fetch(struct imap_cmd *cmd)
{
	const struct imap_arg *set = imap__arg(cmd, 0), *att = imap__arg(cmd, 1),
			      *mod = imap__arg(cmd, 2);
	if (!set || !att || imap__arg(cmd, 3) || set->type != IMAP_ARG_ATOM) {
		imap__bad(cmd->s, cmd->tag, "FETCH needs a sequence set and items");
		return;
	}
	struct fetch_arg *a = xmalloc(sizeof *a);
	a->uid = cmd->uid;
	const char *err = NULL;
	if (imap__seqset_arg(cmd, set, &a->set) < 0) {
		free(a);
		imap__bad(cmd->s, cmd->tag, "Invalid sequence set");
		return;
	}
	if (imap_fetch_parse(cmd->args, (size_t)(att - cmd->args), cmd->uid, &a->f, &err) < 0) {
		imap_seqset_free(&a->set);
		free(a);
		imap__bad(cmd->s, cmd->tag, err);
		return;
	}
	if (mod && (imap_fetch_parse_modifiers(cmd->args, (size_t)(mod - cmd->args), &a->f) < 0 ||
		    (a->f.vanished && (!cmd->uid || !cmd->s->qresync)))) {
		/* RFC 7162 §3.2.6: VANISHED only in UID FETCH after ENABLE QRESYNC */
		fetch_arg_free(a);
		imap__bad(cmd->s, cmd->tag, "Invalid FETCH modifier");
		return;
	}
	for (size_t i = 0; i < a->f.n; i++) /* RFC 7162 §3.1: CONDSTORE-enabling */
		if (a->f.items[i].kind == FI_MODSEQ)
			cmd->s->condstore = true;
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, fetch_run);
	j->arg = a;
	j->free_arg = fetch_arg_free;
	j->allow_expunge = cmd->uid;
	imap__job_reply(j, "OK %sFETCH completed", cmd->uid ? "UID " : "");
	imap__job_submit(j, NULL);
}
