/* pop3_retr.c - the POP3 commands that touch message bodies or end the session: RETR and TOP
 * (RFC 1939 §7), streamed from the store in POP3_CHUNK pieces through the byte-stuffing encoder
 * with write back-pressure so a big message never sits in memory whole, and QUIT (RFC 1939 §6),
 * which applies every DELE mark in one store transaction (UPDATE state) and says +OK only once
 * that transaction has committed. Loop thread only. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "pop3_int.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

struct pop3_stream {
	int64_t id;    /* bodies.id */
	uint64_t size; /* octets announced (the stored size, as in LIST) */
	uint64_t off;  /* next body offset to read */
	bool top;      /* TOP rather than RETR */
	bool started;  /* the +OK line was sent */
	struct pop3_dotenc enc;
	struct buf out; /* one encoded chunk (at most POP3_DOT_ENC_MAX(POP3_CHUNK) + 5) */
};

void pop3__stream_free(struct pop3_session *s)
{
	if (!s->stream)
		return;
	buf_free(&s->stream->out);
	free(s->stream);
	s->stream = NULL;
}

static void chunk_done(void *arg, int rv);

static int read_next(struct pop3_session *s)
{
	struct pop3_chunk_job *j = xmalloc(sizeof *j);
	j->s = s;
	j->id = s->stream->id;
	j->off = s->stream->off;
	int rv = pop3__submit(s, s->dbname, pop3__job_chunk, chunk_done, j);
	if (rv != 0)
		free(j);
	return rv;
}

static void chunk_done(void *arg, int rv)
{
	struct pop3_chunk_job *j = arg;
	struct pop3_session *s = j->s;
	if (!pop3__job_end(s)) {
		free(j);
		return;
	}
	struct pop3_stream *st = s->stream;
	if (rv != 0) {
		free(j);
		if (!st->started) {
			/* e.g. expunged through IMAP since the snapshot */
			conn_puts(s->c, rv == MR_ENOTFOUND
			                    ? "-ERR no such message\r\n"
			                    : "-ERR [SYS/TEMP] message unavailable\r\n");
			pop3__stream_free(s);
			pop3__idle(s);
			return;
		}
		/* half a multi-line response is out: the framing cannot be recovered */
		log_error("pop3", "conn=%" PRIu64 " body read failed mid-stream: %s", conn_id(s->c),
		          mr_strerror(rv));
		conn_close(s->c);
		return;
	}
	if (!st->started) {
		st->started = true;
		if (st->top)
			conn_puts(s->c, "+OK top of message follows\r\n");
		else
			conn_printf(s->c, "+OK %" PRIu64 " octets\r\n", st->size);
	}
	buf_reset(&st->out);
	pop3_dot_encode(&st->enc, j->data, j->n, &st->out);
	st->off += j->n;
	bool last = j->n == 0 || st->off >= j->total || st->enc.done;
	free(j);
	if (last)
		pop3_dot_finish(&st->enc, &st->out);
	conn_write(s->c, st->out.p, st->out.len);
	if (last) {
		pop3__stream_free(s);
		pop3__idle(s);
		return;
	}
	if (conn_write_queued(s->c) > POP3_WRITE_HIGH) {
		/* back-pressure: wait until the peer has taken most of what is queued */
		pop3__timer_start(s, POP3_TIMER_DRAIN, POP3_DRAIN_POLL_MS, POP3_DRAIN_POLL_MS);
		return;
	}
	if (read_next(s) != 0)
		conn_close(s->c);
}

void pop3__drain_tick(struct pop3_session *s)
{
	if (conn_write_queued(s->c) > POP3_WRITE_LOW)
		return;
	pop3__timer_stop(s);
	if (read_next(s) != 0)
		conn_close(s->c);
}

/* The message named by arg (a valid, not deleted message number) or NULL after -ERR. */
static struct pop3_msg *lookup(struct pop3_session *s, const char *arg, size_t len)
{
	uint32_t n;
	if (pop3_parse_msgnum(arg, len, s->nmsgs, &n) != 0 || s->msgs[n - 1].deleted) {
		conn_puts(s->c, "-ERR no such message\r\n");
		return NULL;
	}
	return &s->msgs[n - 1];
}

static void stream_start(struct pop3_session *s, const struct pop3_msg *m, bool top, int64_t lines)
{
	struct pop3_stream *st = xmalloc(sizeof *st);
	st->id = m->id;
	st->size = m->size;
	st->top = top;
	pop3_dot_init(&st->enc, lines);
	buf_init(&st->out, 0);
	s->stream = st;
	pop3__busy(s);
	if (read_next(s) != 0) {
		pop3__stream_free(s);
		conn_puts(s->c, "-ERR [SYS/TEMP] message unavailable\r\n");
		pop3__idle(s);
	}
}

void pop3__cmd_retr(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	const struct pop3_msg *m = lookup(s, cmd->args[0], cmd->arglen[0]);
	if (m)
		stream_start(s, m, false, -1);
}

void pop3__cmd_top(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	uint64_t lines;
	/* RFC 1939 §7: "the argument n is a non-negative number" */
	if (pop3_parse_lines(cmd->args[1], cmd->arglen[1], INT64_MAX, &lines) != 0) {
		conn_puts(s->c, "-ERR syntax error: invalid line count\r\n");
		return;
	}
	const struct pop3_msg *m = lookup(s, cmd->args[0], cmd->arglen[0]);
	if (m)
		stream_start(s, m, true, (int64_t)lines);
}

/* ---- QUIT / UPDATE (RFC 1939 §6) ------------------------------------------------------------- */

static void update_done(void *arg, int rv)
{
	struct pop3_update_job *j = arg;
	struct pop3_session *s = j->s;
	bool alive = pop3__job_end(s);
	size_t removed = j->removed;
	free(j->ids);
	free(j);
	if (!alive)
		return;
	if (rv == 0) {
		log_info("pop3", "conn=%" PRIu64 " update removed=%zu", conn_id(s->c), removed);
		conn_printf(s->c, "+OK mailraft POP3 server signing off (%zu messages deleted)\r\n",
		            removed);
	} else {
		log_error("pop3", "conn=%" PRIu64 " update failed: %s", conn_id(s->c),
		          mr_strerror(rv));
		conn_puts(s->c, "-ERR [SYS/TEMP] some deleted messages not removed\r\n");
	}
	pop3__unlock(s);
	conn_close(s->c);
}

void pop3__cmd_quit(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (s->state == POP3_AUTHORIZATION) {
		/* RFC 1939 §4: QUIT in AUTHORIZATION does not enter UPDATE */
		conn_puts(s->c, "+OK mailraft POP3 server signing off\r\n");
		conn_close(s->c);
		return;
	}
	pop3__enter_state(s, POP3_UPDATE);
	size_t n = 0;
	for (uint32_t i = 0; i < s->nmsgs; i++)
		n += s->msgs[i].deleted;
	if (n == 0) {
		conn_puts(s->c, "+OK mailraft POP3 server signing off\r\n");
		pop3__unlock(s);
		conn_close(s->c);
		return;
	}
	struct pop3_update_job *j = xmalloc(sizeof *j);
	j->s = s;
	j->folder_id = s->folder_id;
	j->ids = xcalloc(n, sizeof *j->ids);
	for (uint32_t i = 0; i < s->nmsgs; i++)
		if (s->msgs[i].deleted)
			j->ids[j->n++] = s->msgs[i].id;
	pop3__busy(s);
	if (pop3__submit(s, s->dbname, pop3__job_update, update_done, j) != 0) {
		free(j->ids);
		free(j);
		conn_puts(s->c, "-ERR [SYS/TEMP] some deleted messages not removed\r\n");
		conn_close(s->c);
	}
}
