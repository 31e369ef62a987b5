/* imap_list_parse.c - codecs for the LIST-EXTENDED family (see imap_list.h):
 *   list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
 * (RFC 5258 §6), STATUS item lists (RFC 3501 §6.3.10 and extensions) and CREATE's USE
 * parameter (RFC 6154 §3). Every list is bounded by the parser's limits; patterns by
 * IMAP_LIST_MAX_PATTERNS and IMAP_LIST_PAT_MAX. Pure. */
#include "imap_list.h"
#include "common/err.h"
#include "common/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct optname {
	const char *name;
	unsigned bit;
};

static const struct optname sel_opts[] = {
    {"SUBSCRIBED", IMAP_LSEL_SUBSCRIBED},
    {"REMOTE", IMAP_LSEL_REMOTE},
    {"RECURSIVEMATCH", IMAP_LSEL_RECURSIVEMATCH},
    {"SPECIAL-USE", IMAP_LSEL_SPECIALUSE},
};

static const struct optname ret_opts[] = {
    {"SUBSCRIBED", IMAP_LRET_SUBSCRIBED},
    {"CHILDREN", IMAP_LRET_CHILDREN},
    {"STATUS", IMAP_LRET_STATUS},
    {"SPECIAL-USE", IMAP_LRET_SPECIALUSE},
};

static const struct optname status_items[] = {
    {"MESSAGES", IMAP_ST_MESSAGES},
    {"UIDNEXT", IMAP_ST_UIDNEXT},
    {"UIDVALIDITY", IMAP_ST_UIDVALIDITY},
    {"UNSEEN", IMAP_ST_UNSEEN},
    {"RECENT", IMAP_ST_RECENT},
    {"HIGHESTMODSEQ", IMAP_ST_HIGHESTMODSEQ},
    {"SIZE", IMAP_ST_SIZE},
    {"APPENDLIMIT", IMAP_ST_APPENDLIMIT},
    {"MAILBOXID", IMAP_ST_MAILBOXID},
    {"DELETED", IMAP_ST_DELETED},
    {"DELETED-STORAGE", IMAP_ST_DELETED_STORAGE},
};

static unsigned lookup(const struct optname *t, size_t n, const struct imap_arg *a)
{
	if (a->type != IMAP_ARG_ATOM)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (mr_strcasecmp(a->str, t[i].name) == 0)
			return t[i].bit;
	return 0;
}

int imap_status_items_parse(const struct imap_arg *args, size_t i, unsigned *items_r)
{
	const struct imap_arg *l = &args[i];
	if (l->type != IMAP_ARG_LIST || l->nchildren == 0)
		return MR_EINVAL;
	unsigned items = 0;
	for (size_t k = i + 1; k < l->end; k++) {
		unsigned bit = lookup(status_items, MR_ARRAY_LEN(status_items), &args[k]);
		if (!bit)
			return MR_EINVAL;
		items |= bit;
	}
	*items_r = items;
	return 0;
}

void imap_list_opts_free(struct imap_list_opts *o)
{
	for (size_t i = 0; i < o->npat; i++)
		free(o->pat[i]);
	o->npat = 0;
}

static int add_pattern(struct imap_list_opts *o, const struct imap_arg *ref,
                       const struct imap_arg *pat)
{
	if (!imap_arg_is_astring(pat) || o->npat >= IMAP_LIST_MAX_PATTERNS ||
	    ref->len + pat->len > IMAP_LIST_PAT_MAX || memchr(pat->str, 0, pat->len))
		return MR_EINVAL;
	o->pat[o->npat++] = xasprintf("%.*s%.*s", (int)ref->len, ref->str, (int)pat->len, pat->str);
	return 0;
}

/* RFC 5258 §3.2: return options; STATUS takes a list of items (RFC 5819 §2). */
static int parse_return(const struct imap_arg *args, size_t i, struct imap_list_opts *o,
                        const char **err_r)
{
	const struct imap_arg *l = &args[i];
	if (l->type != IMAP_ARG_LIST) {
		*err_r = "RETURN needs a list";
		return MR_EINVAL;
	}
	for (size_t k = i + 1; k < l->end; k++) {
		unsigned bit = lookup(ret_opts, MR_ARRAY_LEN(ret_opts), &args[k]);
		if (!bit) {
			*err_r = "unknown LIST return option";
			return MR_EINVAL;
		}
		if (bit == IMAP_LRET_STATUS) {
			if (k + 1 >= l->end ||
			    imap_status_items_parse(args, k + 1, &o->status) < 0) {
				*err_r = "invalid STATUS return option";
				return MR_EINVAL;
			}
			k = args[k + 1].end - 1;
		}
		o->ret |= bit;
	}
	return 0;
}

int imap_list_parse(const struct imap_arg *args, size_t n, struct imap_list_opts *o,
                    const char **err_r)
{
	memset(o, 0, sizeof *o);
	*err_r = "LIST needs a reference and a pattern";
	size_t i = 0;
	if (i < n && args[i].type == IMAP_ARG_LIST) { /* list-select-opts */
		o->extended = true;
		for (size_t k = i + 1; k < args[i].end; k++) {
			unsigned bit = lookup(sel_opts, MR_ARRAY_LEN(sel_opts), &args[k]);
			if (!bit) {
				*err_r = "unknown LIST selection option";
				return MR_EINVAL;
			}
			o->sel |= bit;
		}
		/* RFC 5258 §3.1: RECURSIVEMATCH alone (or with REMOTE only) is an error */
		if ((o->sel & IMAP_LSEL_RECURSIVEMATCH) &&
		    !(o->sel & (IMAP_LSEL_SUBSCRIBED | IMAP_LSEL_SPECIALUSE))) {
			*err_r = "RECURSIVEMATCH needs another selection option";
			return MR_EINVAL;
		}
		i = args[i].end;
	}
	if (i + 1 >= n || !imap_arg_is_astring(&args[i]) || memchr(args[i].str, 0, args[i].len))
		return MR_EINVAL;
	const struct imap_arg *ref = &args[i++];
	if (args[i].type == IMAP_ARG_LIST) { /* patterns (RFC 5258 §6) */
		o->extended = true;
		if (args[i].nchildren == 0)
			return MR_EINVAL;
		for (size_t k = i + 1; k < args[i].end; k++)
			if (add_pattern(o, ref, &args[k]) < 0)
				return MR_EINVAL;
		i = args[i].end;
	} else {
		if (add_pattern(o, ref, &args[i]) < 0)
			return MR_EINVAL;
		i++;
	}
	if (i < n) {
		if (!imap_arg_atom_is(&args[i], "RETURN") || i + 1 >= n) {
			*err_r = "unexpected LIST arguments";
			return MR_EINVAL;
		}
		o->extended = true;
		if (parse_return(args, i + 1, o, err_r) < 0)
			return MR_EINVAL;
		i = args[i + 1].type == IMAP_ARG_LIST ? args[i + 1].end : i + 2;
		if (i < n) {
			*err_r = "unexpected LIST arguments";
			return MR_EINVAL;
		}
	}
	*err_r = NULL;
	return 0;
}

const char *imap_special_use_name(const char *s, size_t len)
{
	static const char *const uses[] = {"\\All",  "\\Archive", "\\Drafts", "\\Flagged",
	                                   "\\Junk", "\\Sent",    "\\Trash"};
	for (size_t i = 0; i < MR_ARRAY_LEN(uses); i++)
		if (strlen(uses[i]) == len && mr_strncasecmp(s, uses[i], len) == 0)
			return uses[i];
	return NULL;
}

int imap_create_params_parse(const struct imap_arg *args, size_t i, const char **use_r)
{
	const struct imap_arg *l = &args[i];
	*use_r = NULL;
	if (l->type != IMAP_ARG_LIST)
		return MR_EINVAL;
	size_t k = i + 1;
	while (k < l->end) {
		/* create-param = create-param-name [SP create-param-value] */
		if (!imap_arg_atom_is(&args[k], "USE"))
			return args[k].type == IMAP_ARG_ATOM ? MR_EPERM : MR_EINVAL;
		if (k + 1 >= l->end || args[k + 1].type != IMAP_ARG_LIST)
			return MR_EINVAL;
		const struct imap_arg *u = &args[k + 1];
		for (size_t a = k + 2; a < u->end; a++) {
			if (args[a].type != IMAP_ARG_ATOM)
				return MR_EINVAL;
			const char *name = imap_special_use_name(args[a].str, args[a].len);
			if (!name || *use_r) /* one attribute per mailbox here */
				return MR_EPERM;
			*use_r = name;
		}
		k = u->end;
	}
	return 0;
}
