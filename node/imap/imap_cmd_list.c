/* imap_cmd_list.c - LIST / LSUB (RFC 3501 §6.3.8-9, "*" and "%" wildcards, "/" delimiter,
 * CHILDREN RFC 3348, SPECIAL-USE RFC 6154) and STATUS (§6.3.10). The wildcard matcher is a
 * bounded dynamic programme (no exponential backtracking on "*%*%..."). */
#include "imap_int.h"
#include "imap_search.h"
#include "common/err.h"
#include "common/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAT_MAX 1024

bool imap__list_match(const char *pat, const char *name)
{
	size_t pl = strlen(pat), nl = strlen(name);
	if (pl > PAT_MAX || nl > PAT_MAX)
		return false;
	bool inbox = strncmp(name, "INBOX", 5) == 0 && (name[5] == 0 || name[5] == '/');
	/* prev[j]: pat[0..i) matches name[0..j) */
	bool *prev = xcalloc(nl + 1, sizeof *prev), *cur = xcalloc(nl + 1, sizeof *cur);
	prev[0] = true;
	for (size_t i = 1; i <= pl; i++) {
		char pc = pat[i - 1];
		cur[0] = prev[0] && (pc == '*' || pc == '%');
		for (size_t j = 1; j <= nl; j++) {
			char nc = name[j - 1];
			if (pc == '*')
				cur[j] = prev[j] || cur[j - 1];
			else if (pc == '%')
				cur[j] = prev[j] || (cur[j - 1] && nc != '/');
			else if (inbox && j <= 5)
				cur[j] = prev[j - 1] && (pc | 0x20) == (nc | 0x20);
			else
				cur[j] = prev[j - 1] && pc == nc;
		}
		bool *t = prev;
		prev = cur;
		cur = t;
	}
	bool r = prev[nl];
	free(prev);
	free(cur);
	return r;
}

struct list_arg {
	char pattern[PAT_MAX + 1];
	bool lsub;
};

struct folder_row {
	char *name, *special;
	bool subscribed;
	bool noselect; /* implied parent of "a/b" when "a" does not exist */
};

static bool have_row(const struct folder_row *rows, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(rows[i].name) == len && strncmp(rows[i].name, name, len) == 0)
			return true;
	return false;
}

static int list_run(struct store_db *db, struct imap_job *j)
{
	struct list_arg *a = j->arg;
	sqlite3_stmt *st = store_stmt(db, "SELECT name, special, subscribed FROM folders"
					  " ORDER BY name");
	if (!st)
		return MR_EIO;
	struct folder_row *rows = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			rows = xrealloc(rows, cap * sizeof *rows);
		}
		const char *sp = (const char *)sqlite3_column_text(st, 1);
		rows[n].name = xstrdup((const char *)sqlite3_column_text(st, 0));
		rows[n].special = sp ? xstrdup(sp) : NULL;
		rows[n].subscribed = sqlite3_column_int(st, 2) != 0;
		rows[n].noselect = false;
		n++;
	}
	sqlite3_reset(st);
	/* RFC 3501 §6.3.8: superior names that are not mailboxes show as \Noselect */
	size_t real = n;
	for (size_t i = 0; i < real && !a->lsub; i++) {
		for (const char *p = strchr(rows[i].name, '/'); p; p = strchr(p + 1, '/')) {
			size_t len = (size_t)(p - rows[i].name);
			if (have_row(rows, n, rows[i].name, len))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				rows = xrealloc(rows, cap * sizeof *rows);
			}
			rows[n] = (struct folder_row){xstrndup(rows[i].name, len), NULL, false, true};
			n++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct folder_row *r = &rows[i];
		if ((a->lsub && !r->subscribed) || !imap__list_match(a->pattern, r->name))
			continue;
		bool children = false;
		size_t len = strlen(r->name);
		for (size_t k = 0; k < n && !children; k++)
			children = strncmp(rows[k].name, r->name, len) == 0 && rows[k].name[len] == '/';
		buf_printf(&j->out, "* %s (%s%s%s%s) \"/\" ", a->lsub ? "LSUB" : "LIST",
			   r->noselect ? "\\Noselect " : "",
			   children ? "\\HasChildren" : "\\HasNoChildren",
			   r->special && !a->lsub ? " " : "",
			   r->special && !a->lsub ? r->special : "");
		imap__put_string(&j->out, r->name, len);
		buf_puts(&j->out, "\r\n");
	}
	for (size_t i = 0; i < n; i++) {
		free(rows[i].name);
		free(rows[i].special);
	}
	free(rows);
	return rc == SQLITE_DONE ? 0 : MR_EIO;
}

void imap__cmd_list(struct imap_cmd *cmd)
{
	const struct imap_arg *ref = imap__arg(cmd, 0), *pat = imap__arg(cmd, 1);
	bool lsub = strcmp(cmd->name, "LSUB") == 0;
	if (!ref || !pat || imap__arg(cmd, 2) || !imap_arg_is_astring(ref) ||
	    !imap_arg_is_astring(pat) || ref->len + pat->len > PAT_MAX ||
	    memchr(ref->str, 0, ref->len) || memchr(pat->str, 0, pat->len)) {
		imap__bad(cmd->s, cmd->tag, "LIST needs a reference and a pattern");
		return;
	}
	if (pat->len == 0 && !lsub) {
		/* RFC 3501 §6.3.8: the hierarchy delimiter and root */
		conn_printf(cmd->s->c, "* LIST (\\Noselect) \"/\" \"\"\r\n%s OK LIST completed\r\n",
			    cmd->tag);
		return;
	}
	struct list_arg *a = xmalloc(sizeof *a);
	a->lsub = lsub;
	snprintf(a->pattern, sizeof a->pattern, "%.*s%.*s", (int)ref->len, ref->str, (int)pat->len,
		 pat->str);
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, list_run);
	j->arg = a;
	j->free_arg = free;
	imap__job_reply(j, "OK %s completed", cmd->name);
	imap__job_submit(j, NULL);
}

/* ---- STATUS ------------------------------------------------------------------------------ */
enum {
	ST_MESSAGES = 1,
	ST_UIDNEXT = 2,
	ST_UIDVALIDITY = 4,
	ST_UNSEEN = 8,
	ST_RECENT = 16,
	ST_HIGHESTMODSEQ = 32,
};

static const struct {
	const char *name;
	unsigned bit;
} status_items[] = {
	{"MESSAGES", ST_MESSAGES}, {"UIDNEXT", ST_UIDNEXT}, {"UIDVALIDITY", ST_UIDVALIDITY},
	{"UNSEEN", ST_UNSEEN},     {"RECENT", ST_RECENT},	 {"HIGHESTMODSEQ", ST_HIGHESTMODSEQ},
};

struct status_arg {
	char name[512];
	unsigned items;
};

static int status_run(struct store_db *db, struct imap_job *j)
{
	struct status_arg *a = j->arg;
	struct mbox_folder f;
	int rv = mbox_folder_get(db, a->name, &f);
	if (rv != 0)
		return rv;
	sqlite3_stmt *st = store_stmt(db, "SELECT flags FROM messages WHERE folder = ?");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, f.id);
	uint64_t total = 0, unseen = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *flags = (const char *)sqlite3_column_text(st, 0);
		total++;
		if (!imap_flags_has(flags ? flags : "", "\\Seen"))
			unseen++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return MR_EIO;
	buf_puts(&j->out, "* STATUS ");
	imap__put_string(&j->out, f.name, strlen(f.name));
	buf_puts(&j->out, " (");
	const char *sep = "";
	if (a->items & ST_MESSAGES) {
		buf_printf(&j->out, "%sMESSAGES %llu", sep, (unsigned long long)total);
		sep = " ";
	}
	if (a->items & ST_RECENT) {
		buf_printf(&j->out, "%sRECENT 0", sep);
		sep = " ";
	}
	if (a->items & ST_UIDNEXT) {
		buf_printf(&j->out, "%sUIDNEXT %u", sep, f.uidnext);
		sep = " ";
	}
	if (a->items & ST_UIDVALIDITY) {
		buf_printf(&j->out, "%sUIDVALIDITY %u", sep, f.uidvalidity);
		sep = " ";
	}
	if (a->items & ST_UNSEEN) {
		buf_printf(&j->out, "%sUNSEEN %llu", sep, (unsigned long long)unseen);
		sep = " ";
	}
	if (a->items & ST_HIGHESTMODSEQ) /* RFC 7162 §3.1.9 */
		buf_printf(&j->out, "%sHIGHESTMODSEQ %llu", sep,
			   (unsigned long long)f.highestmodseq);
	buf_puts(&j->out, ")\r\n");
	imap__job_reply(j, "OK STATUS completed");
	return 0;
}

void imap__cmd_status(struct imap_cmd *cmd)
{
	const struct imap_arg *mb = imap__arg(cmd, 0), *items = imap__arg(cmd, 1);
	if (!mb || !items || imap__arg(cmd, 2) || !imap_arg_is_astring(mb) ||
	    !imap__mailbox_ok(mb->str, mb->len) || items->type != IMAP_ARG_LIST ||
	    items->nchildren == 0) {
		imap__bad(cmd->s, cmd->tag, "STATUS needs a mailbox and items");
		return;
	}
	struct status_arg *a = xmalloc(sizeof *a);
	snprintf(a->name, sizeof a->name, "%.*s", (int)mb->len, mb->str);
	imap__mailbox_norm(a->name);
	const struct imap_arg *it = items + 1;
	for (size_t k = 0; k < items->nchildren; k++) {
		unsigned bit = 0;
		for (size_t i = 0; i < MR_ARRAY_LEN(status_items); i++)
			if (imap_arg_atom_is(&it[k], status_items[i].name))
				bit = status_items[i].bit;
		if (!bit) {
			free(a);
			imap__bad(cmd->s, cmd->tag, "Unknown STATUS item");
			return;
		}
		a->items |= bit;
	}
	if (a->items & ST_HIGHESTMODSEQ)
		cmd->s->condstore = true;
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, status_run);
	j->arg = a;
	j->free_arg = free;
	imap__job_submit(j, NULL);
}

/* RFC 2342: one personal namespace, no prefix, "/" delimiter; no other users' or shared. */
void imap__cmd_namespace(struct imap_cmd *cmd)
{
	if (cmd->nargs) {
		imap__bad(cmd->s, cmd->tag, "No arguments expected");
		return;
	}
	conn_printf(cmd->s->c, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n%s OK NAMESPACE completed\r\n",
		    cmd->tag);
}
