/* smtp_cmd_bdat.c - CHUNKING (RFC 3030): "BDAT size [LAST]" followed by exactly size bytes of
 * message, taken as they are (no dot transparency, no end marker). The chunk is always read to
 * its end, even when the command is refused (no transaction, no accepted recipient, DATA/BDAT
 * mix), so that its bytes can never be taken for commands; the refusal is sent once the chunk
 * is skipped. Kept chunks append to the message (stored up to the size limit, counted past it)
 * and get "250 2.0.0 <n> octets received"; after LAST the message goes through the same checks
 * and delivery as after DATA. A size that cannot be parsed leaves no way to find the next
 * command: 501 and the connection closes.
 */
#include "smtp_int.h"
#include "node.h"
#include "net/conn.h"
#include "common/log.h"
#include "common/util.h"
#include <string.h>

/* Received fields in the header block of p[0,n) (loop detection, RFC 5321 §6.3). */
static size_t count_received(const uint8_t *p, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n;) {
		if (p[i] == '\r' || p[i] == '\n')
			break; /* end of the header block */
		if (n - i >= 9 && mr_strncasecmp((const char *)p + i, "Received:", 9) == 0)
			count++;
		const uint8_t *e = memchr(p + i, '\n', n - i);
		if (!e)
			break;
		i = (size_t)(e - p) + 1;
	}
	return count;
}

/* Why a chunk in this state cannot be kept (NULL: it can). */
static const char *refusal(const struct smtp_session *s)
{
	switch (s->state) {
	case SMTP_S_INIT:
		return "503 5.5.1 Error: send HELO/EHLO first";
	case SMTP_S_HELO:
		return "503 5.5.1 Error: need MAIL command";
	case SMTP_S_MAIL:
		/* RFC 2920 §3.1 / RFC 3030 §3: the recipients of a pipelined group were refused */
		return s->rcpt_rejected ? "554 5.5.1 Error: no valid recipients"
		                        : "503 5.5.1 Error: need RCPT command";
	default:
		return NULL;
	}
}

static void chunk_end(struct smtp_session *s)
{
	if (s->bdat_reply) {
		const char *reply = s->bdat_reply;
		s->bdat_reply = NULL;
		smtp__enter_state(s, s->bdat_ret);
		smtp__reply(s, "%s", reply);
		smtp__error(s);
		return;
	}
	if (!s->bdat_last) {
		smtp__enter_state(s, SMTP_S_RCPT);
		smtp__reply(s, "250 2.0.0 %llu octets received", (unsigned long long)s->bdat_size);
		return;
	}
	size_t body = s->msg.len - s->hdr_start;
	size_t received = count_received(s->msg.p + s->hdr_start, body);
	smtp__message_end(s, s->bdat_too_big, false, received);
}

void smtp__cmd_bdat(struct smtp_session *s, const char *args, size_t len)
{
	uint64_t size;
	bool last;
	if (smtp_parse_bdat(args, len, &size, &last) != 0) {
		smtp__reply(s, "501 5.5.4 Syntax: BDAT size [LAST]: closing");
		smtp__enter_state(s, SMTP_S_QUIT);
		conn_close(s->c);
		return;
	}
	const char *why = refusal(s);
	if (why) {
		s->bdat_reply = why;
		s->bdat_ret = s->state;
	} else {
		if (!s->bdat_started) {
			smtp__message_begin(s);
			s->bdat_started = true;
			s->bdat_size = 0;
			s->bdat_too_big = false;
		}
		s->bdat_reply = NULL;
		s->bdat_last = last;
	}
	s->bdat_left = size;
	smtp__enter_state(s, SMTP_S_BDAT);
	if (size == 0)
		chunk_end(s);
}

size_t smtp__bdat_input(struct smtp_session *s, const uint8_t *p, size_t n)
{
	size_t take = s->bdat_left < n ? (size_t)s->bdat_left : n;
	if (!s->bdat_reply) {
		uint64_t max = node_get()->cfg->max_message_size;
		if (!s->bdat_too_big && (take > max || s->bdat_size > max - take))
			s->bdat_too_big = true; /* RFC 1870 §6.3: counted, not stored */
		if (!s->bdat_too_big && buf_append(&s->msg, p, take) != 0)
			s->bdat_too_big = true;
		s->bdat_size += take;
	}
	s->bdat_left -= take;
	if (s->bdat_left == 0)
		chunk_end(s);
	return take;
}
