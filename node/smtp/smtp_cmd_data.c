/* smtp_cmd_data.c - DATA (RFC 5321 §4.1.1.4): checks that the transaction has recipients,
 * assigns the queue id, starts the stored message with our Received trace field (§4.4, with
 * the RFC 3848 / RFC 6531 protocol names) and hands the input to the DATA decoder. At the end
 * marker it applies the message checks: size (RFC 1870 §6.3, 552 5.3.4), line length, and mail
 * loops by Received count (§6.3, 554 5.4.6), then starts the delivery (smtp_deliver.c).
 */
#include "smtp_int.h"
#include "node.h"
#include "net/conn.h"
#include "common/log.h"
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

/* RFC 3848 §2 / RFC 6531 §3.7.3 "with" protocol names. */
static const char *with_protocol(const struct smtp_session *s)
{
	bool tls = conn_is_tls(s->c);
	if (s->params.smtputf8)
		return tls ? "UTF8SMTPS" : "UTF8SMTP";
	if (!s->esmtp)
		return "SMTP";
	return tls ? "ESMTPS" : "ESMTP";
}

/* RFC 5321 §4.4: "Received: from <helo> (<peer ip>) by <hostname> (mailraft) with ESMTP id
 * <queue id> for <rcpt>; <date>". "for" only names a single recipient (as Postfix does: the
 * other recipients must not learn about each other). Folded to stay under 998 octets. */
static void add_received(struct smtp_session *s)
{
	const struct node *n = node_get();
	char date[64];
	rfc5322_date(time(NULL), date, sizeof date);
	buf_printf(&s->msg, "Received: from %s (%s)\r\n\tby %s (mailraft) with %s id %s",
	           s->helo[0] ? s->helo : "unknown", conn_peer(s->c), n->hostname, with_protocol(s),
	           s->queue_id);
	if (s->nrcpt == 1)
		buf_printf(&s->msg, "\r\n\tfor <%s>", s->first_rcpt);
	buf_printf(&s->msg, ";\r\n\t%s\r\n", date);
}

void smtp__cmd_data(struct smtp_session *s, const char *args, size_t len)
{
	if (s->nrcpt == 0) {
		/* RFC 2920 §3.1: after only rejected RCPTs in a pipelined group, 554 */
		if (s->rcpt_rejected)
			smtp__reply(s, "554 5.5.1 Error: no valid recipients");
		else
			smtp__reply(s, "503 5.5.1 Error: need RCPT command");
		smtp__error(s);
		return;
	}
	make_queue_id(s->queue_id, sizeof s->queue_id);
	buf_free(&s->msg);
	buf_init(&s->msg, 0); /* bounded by the decoder's max (plus our header) */
	add_received(s);
	smtp_data_init(&s->data, &s->msg, node_get()->cfg->max_message_size);
	smtp__enter_state(s, SMTP_S_DATA);
	/* intermediate reply: no enhanced code (RFC 2034 §3) */
	smtp__reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void reject(struct smtp_session *s, const char *reply, const char *why)
{
	log_info("smtp", "delivery queue_id=%s size=%llu nrcpt=%zu result=rejected reason=%s",
	         s->queue_id, (unsigned long long)s->data.size, s->nrcpt, why);
	smtp__reply(s, "%s", reply);
	smtp__reset_tx(s);
	smtp__enter_state(s, SMTP_S_HELO);
}

void smtp__data_end(struct smtp_session *s)
{
	const struct smtp_data *d = &s->data;
	if (d->too_big) {
		reject(s, "552 5.3.4 Error: message file too big", "size");
		return;
	}
	if (d->line_too_long) {
		reject(s, "554 5.6.0 Error: message line too long", "line-length");
		return;
	}
	if (d->received > SMTP_MAX_RECEIVED) {
		reject(s, "554 5.4.6 Error: too many hops", "loop");
		return;
	}
	/* 8-bit text without BODY=8BITMIME is accepted anyway (liberal, as Postfix does) */
	smtp__enter_state(s, SMTP_S_DELIVER);
	smtp__deliver(s);
}
