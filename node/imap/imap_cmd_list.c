/* imap_cmd_list.c - LIST / LSUB (RFC 3501 §6.3.8-9, "*" and "%" wildcards, "/" delimiter,
 * CHILDREN RFC 3348, SPECIAL-USE RFC 6154) with LIST-EXTENDED (RFC 5258: selection options
 * SUBSCRIBED / RECURSIVEMATCH / SPECIAL-USE, several patterns, RETURN options, CHILDINFO) and
 * LIST-STATUS (RFC 5819), and STATUS (§6.3.10, with SIZE RFC 8438, APPENDLIMIT RFC 7889,
 * MAILBOXID RFC 8474). The wildcard matcher is a
 * bounded dynamic programme (no exponential backtracking on "*%*%..."). */
#include "imap_int.h"
#include "imap_list.h"
#include "imap_search.h"
#include "node.h"
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
	struct imap_list_opts o;
	bool lsub;
	uint64_t appendlimit;
};

static void list_arg_free(void *p)
{
	struct list_arg *a = p;
	imap_list_opts_free(&a->o);
	free(a);
}

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

/* ---- STATUS data (shared by STATUS and LIST-STATUS) -------------------------------------- */
int imap__status_put(struct store_db *db, struct buf *out, const char *name, unsigned items,
		     uint64_t appendlimit, bool utf8)
{
	struct mbox_folder f;
	int rv = mbox_folder_get(db, name, &f);
	if (rv != 0)
		return rv;
	sqlite3_stmt *st = store_stmt(db, "SELECT flags, size FROM messages WHERE folder = ?");
	if (!st)
		return MR_EIO;
	sqlite3_bind_int64(st, 1, f.id);
	uint64_t total = 0, unseen = 0, size = 0, deleted = 0, dsize = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *flags = (const char *)sqlite3_column_text(st, 0);
		uint64_t sz = (uint64_t)sqlite3_column_int64(st, 1);
		total++;
		size += sz;
		if (!imap_flags_has(flags ? flags : "", "\\Seen"))
			unseen++;
		if (imap_flags_has(flags ? flags : "", "\\Deleted")) {
			deleted++;
			dsize += sz;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return MR_EIO;
	buf_puts(out, "* STATUS ");
	imap__put_mailbox(out, f.name, utf8);
	buf_puts(out, " (");
	const char *sep = "";
#define ITEM(bit, ...)                                                                           \
	do {                                                                                     \
		if (items & (bit)) {                                                             \
			buf_puts(out, sep);                                                      \
			buf_printf(out, __VA_ARGS__);                                            \
			sep = " ";                                                               \
		}                                                                                \
	} while (0)
	ITEM(IMAP_ST_MESSAGES, "MESSAGES %llu", (unsigned long long)total);
	ITEM(IMAP_ST_RECENT, "RECENT 0");
	ITEM(IMAP_ST_UIDNEXT, "UIDNEXT %u", f.uidnext);
	ITEM(IMAP_ST_UIDVALIDITY, "UIDVALIDITY %u", f.uidvalidity);
	ITEM(IMAP_ST_UNSEEN, "UNSEEN %llu", (unsigned long long)unseen);
	ITEM(IMAP_ST_HIGHESTMODSEQ, "HIGHESTMODSEQ %llu", /* RFC 7162 §3.1.9 */
	     (unsigned long long)f.highestmodseq);
	ITEM(IMAP_ST_SIZE, "SIZE %llu", (unsigned long long)size); /* RFC 8438 §2 */
	ITEM(IMAP_ST_APPENDLIMIT, "APPENDLIMIT %llu", (unsigned long long)appendlimit);
	ITEM(IMAP_ST_MAILBOXID, "MAILBOXID (%s)", imap__mailboxid(&f, (char[40]){0}));
	ITEM(IMAP_ST_DELETED, "DELETED %llu", (unsigned long long)deleted);
	ITEM(IMAP_ST_DELETED_STORAGE, "DELETED-STORAGE %llu",
	     (unsigned long long)(dsize + 1023) / 1024);
#undef ITEM
	buf_puts(out, ")\r\n");
	return 0;
}

const char *imap__mailboxid(const struct mbox_folder *f, char out[40])
{
	/* RFC 8474 §4: unique for the account's lifetime and kept across RENAME. The row id can
	 * be reused after a DELETE, the creation-time UIDVALIDITY makes the pair unique. */
	snprintf(out, 40, "F%llx-%x", (unsigned long long)f->id, f->uidvalidity);
	return out;
}

/* Does row k satisfy the selection criteria (RFC 5258 §3.1, RFC 6154 §3)? */
static bool selected_by(const struct list_arg *a, const struct folder_row *r)
{
	if (r->noselect && (a->o.sel & (IMAP_LSEL_SUBSCRIBED | IMAP_LSEL_SPECIALUSE)))
		return false;
	if ((a->o.sel & IMAP_LSEL_SUBSCRIBED) && !r->subscribed)
		return false;
	if ((a->o.sel & IMAP_LSEL_SPECIALUSE) && !r->special)
		return false;
	return true;
}

static bool matches(const struct list_arg *a, const char *name)
{
	for (size_t i = 0; i < a->o.npat; i++)
		if (imap__list_match(a->o.pat[i], name))
			return true;
	return false;
}

static int put_row(struct store_db *db, struct imap_job *j, const struct list_arg *a,
		   const struct folder_row *rows, size_t n, const struct folder_row *r)
{
	bool children = false, childinfo = false;
	size_t len = strlen(r->name);
	for (size_t k = 0; k < n; k++) {
		if (strncmp(rows[k].name, r->name, len) != 0 || rows[k].name[len] != '/')
			continue;
		children = true;
		if ((a->o.sel & IMAP_LSEL_RECURSIVEMATCH) && selected_by(a, &rows[k]))
			childinfo = true;
	}
	bool sel = selected_by(a, r);
	if (!sel && !childinfo)
		return 0;
	bool show_sub = !a->lsub && r->subscribed && !r->noselect &&
			((a->o.sel & IMAP_LSEL_SUBSCRIBED) || (a->o.ret & IMAP_LRET_SUBSCRIBED));
	buf_printf(&j->out, "* %s (%s%s%s%s%s) \"/\" ", a->lsub ? "LSUB" : "LIST",
		   r->noselect ? "\\Noselect " : "", children ? "\\HasChildren" : "\\HasNoChildren",
		   show_sub ? " \\Subscribed" : "", r->special && !a->lsub ? " " : "",
		   r->special && !a->lsub ? r->special : "");
	imap__put_mailbox(&j->out, r->name, j->utf8);
	if (childinfo) /* RFC 5258 §3.5 */
		buf_printf(&j->out, " (\"CHILDINFO\" (%s%s%s))",
			   (a->o.sel & IMAP_LSEL_SUBSCRIBED) ? "\"SUBSCRIBED\"" : "",
			   (a->o.sel & IMAP_LSEL_SUBSCRIBED) && (a->o.sel & IMAP_LSEL_SPECIALUSE)
			       ? " "
			       : "",
			   (a->o.sel & IMAP_LSEL_SPECIALUSE) ? "\"SPECIAL-USE\"" : "");
	buf_puts(&j->out, "\r\n");
	/* RFC 5819 §2: STATUS right after the LIST response, not for \Noselect names */
	if ((a->o.ret & IMAP_LRET_STATUS) && !r->noselect && sel) {
		int rv = imap__status_put(db, &j->out, r->name, a->o.status, a->appendlimit,
					  j->utf8);
		if (rv != 0 && rv != MR_ENOTFOUND)
			return rv;
	}
	return 0;
}

int imap__list_one(struct store_db *db, struct buf *out, const char *name, bool utf8)
{
	sqlite3_stmt *st = store_stmt(db, "SELECT special FROM folders WHERE name = ?");
	sqlite3_stmt *kids = store_stmt(db, "SELECT count(*) FROM folders"
					    " WHERE substr(name, 1, ?) = ? || '/'");
	if (!st || !kids)
		return MR_EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	char special[64] = "";
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(special, sizeof special, " %s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? MR_ENOTFOUND : MR_EIO;
	sqlite3_bind_int64(kids, 1, (sqlite3_int64)strlen(name) + 1);
	sqlite3_bind_text(kids, 2, name, -1, SQLITE_TRANSIENT);
	bool children = sqlite3_step(kids) == SQLITE_ROW && sqlite3_column_int64(kids, 0) > 0;
	sqlite3_reset(kids);
	buf_printf(out, "* LIST (%s%s) \"/\" ", children ? "\\HasChildren" : "\\HasNoChildren",
		   special);
	imap__put_mailbox(out, name, utf8);
	buf_puts(out, "\r\n");
	return 0;
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
	int rv = rc == SQLITE_DONE ? 0 : MR_EIO;
	for (size_t i = 0; i < n && rv == 0; i++) {
		struct folder_row *r = &rows[i];
		if ((a->lsub && !r->subscribed) || !matches(a, r->name))
			continue;
		rv = put_row(db, j, a, rows, n, r);
	}
	for (size_t i = 0; i < n; i++) {
		free(rows[i].name);
		free(rows[i].special);
	}
	free(rows);
	return rv;
}

void imap__cmd_list(struct imap_cmd *cmd)
{
	bool lsub = strcmp(cmd->name, "LSUB") == 0;
	struct list_arg *a = xmalloc(sizeof *a);
	const char *err = NULL;
	if (imap_list_parse(cmd->args, cmd->nargs, &a->o, &err) < 0 ||
	    (lsub && a->o.extended)) {
		list_arg_free(a);
		imap__bad(cmd->s, cmd->tag, err ? err : "LSUB needs a reference and a pattern");
		return;
	}
	if (a->o.npat == 1 && a->o.pat[0][0] == 0 && !lsub) {
		/* RFC 3501 §6.3.8, RFC 5258 §3: the hierarchy delimiter and root (options are
		 * ignored for this special case) */
		list_arg_free(a);
		conn_printf(cmd->s->c, "* LIST (\\Noselect) \"/\" \"\"\r\n%s OK LIST completed\r\n",
			    cmd->tag);
		return;
	}
	for (size_t i = 0; i < a->o.npat; i++) { /* RFC 6855 §3: UTF-8 patterns */
		char *pat = a->o.pat[i];
		size_t cap = strlen(pat) * 4 + 16;
		a->o.pat[i] = xmalloc(cap);
		memcpy(a->o.pat[i], pat, strlen(pat) + 1);
		free(pat);
		if (!imap__mailbox_in(cmd->s, a->o.pat[i], cap)) {
			list_arg_free(a);
			imap__bad(cmd->s, cmd->tag, "Invalid mailbox pattern");
			return;
		}
	}
	a->lsub = lsub;
	a->appendlimit = node_get()->cfg->max_message_size;
	if (a->o.status & IMAP_ST_HIGHESTMODSEQ)
		cmd->s->condstore = true;
	struct imap_job *j = imap__job_new(cmd->s, cmd->tag, list_run);
	j->arg = a;
	j->free_arg = list_arg_free;
	imap__job_reply(j, "OK %s completed", cmd->name);
	imap__job_submit(j, NULL);
}

/* ---- STATUS ------------------------------------------------------------------------------ */
struct status_arg {
	char name[512];
	unsigned items;
	uint64_t appendlimit;
};

static int status_run(struct store_db *db, struct imap_job *j)
{
	struct status_arg *a = j->arg;
	int rv = imap__status_put(db, &j->out, a->name, a->items, a->appendlimit, j->utf8);
	if (rv == 0)
		imap__job_reply(j, "OK STATUS completed");
	return rv;
}

void imap__cmd_status(struct imap_cmd *cmd)
{
	const struct imap_arg *mb = imap__arg(cmd, 0), *items = imap__arg(cmd, 1);
	struct status_arg *a = xmalloc(sizeof *a);
	if (!mb || !items || imap__arg(cmd, 2) || !imap_arg_is_astring(mb) ||
	    !imap__mailbox_ok(mb->str, mb->len) ||
	    imap_status_items_parse(cmd->args, (size_t)(items - cmd->args), &a->items) < 0) {
		free(a);
		imap__bad(cmd->s, cmd->tag, "STATUS needs a mailbox and items");
		return;
	}
	snprintf(a->name, sizeof a->name, "%.*s", (int)mb->len, mb->str);
	if (!imap__mailbox_in(cmd->s, a->name, sizeof a->name)) {
		free(a);
		imap__bad(cmd->s, cmd->tag, "Invalid mailbox name");
		return;
	}
	a->appendlimit = node_get()->cfg->max_message_size;
	if (a->items & IMAP_ST_HIGHESTMODSEQ)
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
