/* imap_idle.c - IDLE (RFC 2177) and the store commit hook that wakes idling sessions: when an
 * account database commits, every session of that account idling in the selected state runs a
 * refresh job and gets its untagged EXISTS / EXPUNGE / FETCH updates pushed immediately. A
 * commit that lands while the session's job is running is remembered (refresh_pending). */
#include "imap_int.h"
#include "node.h"
#include "common/log.h"
#include "common/util.h"
#include <string.h>

void imap__cmd_idle(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->s;
	if (cmd->nargs) {
		imap__bad(s, cmd->tag, "No arguments expected");
		return;
	}
	conn_puts(s->c, "+ idling\r\n");
	s->mode = IMAP_M_IDLE;
	s->line_len = 0;
	/* report what changed since the last command right away */
	if (s->state == IMAP_S_SELECTED)
		imap__start_idle_refresh(s);
}

void imap__idle_line(struct imap_session *s, const char *line, size_t len)
{
	s->mode = IMAP_M_COMMAND;
	s->refresh_pending = false;
	if (len == 4 && mr_strncasecmp(line, "DONE", 4) == 0) {
		conn_printf(s->c, "%s OK IDLE terminated\r\n", s->tag);
		return;
	}
	imap__bad(s, s->tag, "Expected DONE");
}

static void on_commit(const char *dbname, void *ud)
{
	(void)ud;
	for (struct imap_session *s = imap__sessions(); s; s = s->next) {
		if (s->mode != IMAP_M_IDLE || s->state != IMAP_S_SELECTED ||
		    strcmp(s->dbname, dbname) != 0 || conn_closing(s->c))
			continue;
		if (s->busy)
			s->refresh_pending = true;
		else
			imap__start_idle_refresh(s);
	}
}

void imap_init(void)
{
	struct node *n = node_get();
	if (n && n->store)
		store_set_commit_hook(n->store, on_commit, NULL);
}
