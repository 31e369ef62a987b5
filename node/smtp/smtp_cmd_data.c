/* smtp_cmd_data.c - DATA (RFC 5321 §4.1.1.4): checks that the transaction has recipients,
 * assigns the queue id, starts the stored message with Return-Path and our Received trace field
 * (§4.4, with the RFC 3848 / RFC 6531 protocol names) and hands the input to the DATA decoder.
 * At the end
 * marker it applies the message checks: size (RFC 1870 §6.3, 552 5.3.4), line length, and mail
 * loops by Received count (§6.3, 554 5.4.6), adds Date and Message-ID to submitted messages
 * that lack them (RFC 6409 §8), then starts the delivery (smtp_deliver.c).
 */
#include "smtp_int.h"
#include "node.h"
#include "net/conn.h"
#include "common/log.h"
#include "common/util.h"
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* A queue id: 16 upper-case hex digits, the wall-clock seconds and 32 random bits (no address,
 * no content: it is logged and shown to the client). */
static void make_queue_id(char *out, size_t len)
{
	snprintf(out, len, "%08llX%08X", (unsigned long long)time(NULL) & 0xFFFFFFFFull,
	         (unsigned)randombytes_random());
}

/* RFC 5322 §3.3 date-time in UTC, independent of the locale. */
static void rfc5322_date(time_t t, char *out, size_t len)
{
	static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, len, "%s, %d %s %d %02d:%02d:%02d +0000", wd[tm.tm_wday % 7], tm.tm_mday,
	         mo[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* RFC 3848 §2 / RFC 6531 §3.7.3 "with" protocol names ("A": authenticated, "S": TLS). */
static const char *with_protocol(const struct smtp_session *s)
{
	static const char *const names[3][4] = {
	    /* plain, TLS, AUTH, AUTH+TLS */
	    {"SMTP", "SMTP", "SMTP", "SMTP"},
	    {"ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA"},
	    {"UTF8SMTP", "UTF8SMTPS", "UTF8SMTPA", "UTF8SMTPSA"},
	};
	int kind = s->params.smtputf8 ? 2 : s->esmtp ? 1 : 0;
	return names[kind][(conn_is_tls(s->c) ? 1 : 0) + (s->authed ? 2 : 0)];
}

/* RFC 5321 §4.4: "Received: from <helo> (<peer ip>) by <hostname> (mailraft) with ESMTP id
 * <queue id> for <rcpt>; <date>". "for" only names a single recipient (as Postfix does: the
 * other recipients must not learn about each other). Folded to stay under 998 octets. */
static void add_received(struct smtp_session *s)
{
	const struct node *n = node_get();
	char date[64];
	rfc5322_date(time(NULL), date, sizeof date);
	/* RFC 5321 §4.4: the delivering server records the reverse path ("<>" for bounces) */
	buf_printf(&s->msg, "Return-Path: <%s>\r\n", s->from.null ? "" : s->from.addr);
	buf_printf(&s->msg, "Received: from %s (%s)\r\n\tby %s (mailraft) with %s id %s",
	           s->helo[0] ? s->helo : "unknown", conn_peer(s->c), n->hostname, with_protocol(s),
	           s->queue_id);
	if (s->nrcpt == 1)
		buf_printf(&s->msg, "\r\n\tfor <%s>", s->first_rcpt);
	buf_printf(&s->msg, ";\r\n\t%s\r\n", date);
}

void smtp__message_begin(struct smtp_session *s)
{
	make_queue_id(s->queue_id, sizeof s->queue_id);
	buf_free(&s->msg);
	buf_init(&s->msg, 0); /* bounded by the size limit (plus our header) */
	add_received(s);
	s->hdr_start = s->msg.len;
}

void smtp__cmd_data(struct smtp_session *s, const char *args, size_t len)
{
	if (s->bdat_started) { /* RFC 3030 §2: no DATA in a transaction that used BDAT */
		smtp__reply(s, "503 5.5.1 Error: DATA after BDAT");
		smtp__error(s);
		return;
	}
	if (s->nrcpt == 0) {
		/* RFC 2920 §3.1: after only rejected RCPTs in a pipelined group, 554 */
		if (s->rcpt_rejected)
			smtp__reply(s, "554 5.5.1 Error: no valid recipients");
		else
			smtp__reply(s, "503 5.5.1 Error: need RCPT command");
		smtp__error(s);
		return;
	}
	smtp__message_begin(s);
	smtp_data_init(&s->data, &s->msg, node_get()->cfg->max_message_size);
	smtp__enter_state(s, SMTP_S_DATA);
	/* intermediate reply: no enhanced code (RFC 2034 §3) */
	smtp__reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/* Does the header block of p[0,n) (up to its first empty line) hold the field `name` (given
 * with its colon, case-insensitive)? */
static bool has_field(const uint8_t *p, size_t n, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < n;) {
		if (p[i] == '\r' || p[i] == '\n')
			return false; /* the empty line ends the header block */
		if (n - i >= nl && mr_strncasecmp((const char *)p + i, name, nl) == 0)
			return true;
		const uint8_t *e = memchr(p + i, '\n', n - i);
		if (!e)
			return false;
		i = (size_t)(e - p) + 1;
	}
	return false;
}

/* RFC 6409 §8.2, §8.3: a submitted message gets Date and Message-ID when it has none. They go
 * right after our Received field. */
static void complete_headers(struct smtp_session *s)
{
	const uint8_t *body = s->msg.p + s->hdr_start;
	size_t n = s->msg.len - s->hdr_start;
	bool date = has_field(body, n, "Date:"), mid = has_field(body, n, "Message-ID:");
	if (date && mid)
		return;
	struct buf out;
	buf_init(&out, 0);
	buf_append(&out, s->msg.p, s->hdr_start);
	if (!date) {
		char d[64];
		rfc5322_date(time(NULL), d, sizeof d);
		buf_printf(&out, "Date: %s\r\n", d);
	}
	if (!mid) {
		unsigned char r[12];
		char hex[2 * sizeof r + 1];
		randombytes_buf(r, sizeof r);
		sodium_bin2hex(hex, sizeof hex, r, sizeof r);
		buf_printf(&out, "Message-ID: <%s.%s@%s>\r\n", s->queue_id, hex, node_get()->hostname);
	}
	buf_append(&out, body, n);
	buf_free(&s->msg);
	s->msg = out;
}

static void reject(struct smtp_session *s, const char *reply, const char *why)
{
	log_info("smtp", "delivery queue_id=%s size=%zu nrcpt=%zu result=rejected reason=%s",
	         s->queue_id, s->msg.len, s->nrcpt, why);
	smtp__reply(s, "%s", reply);
	smtp__reset_tx(s);
	smtp__enter_state(s, SMTP_S_HELO);
}

void smtp__data_end(struct smtp_session *s)
{
	const struct smtp_data *d = &s->data;
	smtp__message_end(s, d->too_big, d->line_too_long, d->received);
}

void smtp__message_end(struct smtp_session *s, bool too_big, bool line_too_long, size_t received)
{
	if (too_big) {
		reject(s, "552 5.3.4 Error: message file too big", "size");
		return;
	}
	if (line_too_long) {
		reject(s, "554 5.6.0 Error: message line too long", "line-length");
		return;
	}
	if (received > SMTP_MAX_RECEIVED) {
		reject(s, "554 5.4.6 Error: too many hops", "loop");
		return;
	}
	if (s->submission)
		complete_headers(s);
	/* 8-bit text without BODY=8BITMIME is accepted anyway (liberal, as Postfix does) */
	smtp__enter_state(s, SMTP_S_DELIVER);
	smtp__deliver(s);
}
