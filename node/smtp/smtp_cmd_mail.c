/* smtp_cmd_mail.c - MAIL FROM (RFC 5321 §4.1.1.2): parses the reverse path and the ESMTP
 * parameters, checks the declared SIZE against the limit (RFC 1870 §6.1, 552 5.3.4) and the
 * SMTPUTF8 requirement for non-ASCII addresses (RFC 6531 §3.7.4.1, 553 5.6.7), then opens the
 * mail transaction (on submission once the sender is known to be the user's: smtp_auth.c).
 * Over a rate limit (per client IP and sender domain on the MX, per user on submission) the
 * command is answered 451 4.7.1 and nothing is counted.
 */
#include "smtp_int.h"
#include "node.h"
#include "core/ratelimit.h"
#include "net/conn.h"
#include <string.h>
#include "common/err.h"

/* Rate limits (core/ratelimit.h): per authenticated user on submission; per client IP and
 * per sender domain on the MX. Counted when MAIL is accepted so far. */
static bool within_rate(struct smtp_session *s, const struct smtp_path *from)
{
	const struct config *cfg = node_get()->cfg;
	struct ratelimit *rl = ratelimit_global();
	if (s->submission)
		return ratelimit_hit(rl, RL_MSG_USER, s->auth_user,
		                     cfg->submission_rate_messages_per_user, RATELIMIT_HOUR_MS);
	const char *at = from->null ? NULL : strrchr(from->addr, '@');
	const char *ip = conn_peer(s->c), *dom = at ? at + 1 : "";
	unsigned lip = cfg->smtp_rate_messages_per_ip, ldom = cfg->smtp_rate_messages_per_sender_domain;
	/* both limits must allow it before it counts against either */
	if (!ratelimit_check(rl, RL_MSG_IP, ip, lip, RATELIMIT_HOUR_MS) ||
	    !ratelimit_check(rl, RL_MSG_DOMAIN, dom, ldom, RATELIMIT_HOUR_MS))
		return false;
	(void)ratelimit_hit(rl, RL_MSG_IP, ip, lip, RATELIMIT_HOUR_MS);
	(void)ratelimit_hit(rl, RL_MSG_DOMAIN, dom, ldom, RATELIMIT_HOUR_MS);
	return true;
}

void smtp__cmd_mail(struct smtp_session *s, const char *args, size_t len)
{
	struct smtp_path path;
	struct smtp_params params;
	int rv = smtp_parse_mail(args, len, &path, &params);
	if (rv == MR_EINVAL) {
		/* RFC 5321 §4.1.1.11: parameter not recognized or malformed */
		smtp__reply(s, "555 5.5.4 Error: unsupported or malformed MAIL parameter");
		smtp__error(s);
		return;
	}
	if (rv == MR_ETOOBIG) {
		/* RFC 5321 §4.5.3.1.3 path length */
		smtp__reply(s, "501 5.1.7 Error: sender address too long");
		smtp__error(s);
		return;
	}
	if (rv != 0) {
		smtp__reply(s, "501 5.1.7 Error: bad sender address syntax");
		smtp__error(s);
		return;
	}
	if (path.utf8 && !params.smtputf8) {
		smtp__reply(s, "553 5.6.7 Error: SMTPUTF8 is required for a non-ASCII sender");
		smtp__error(s);
		return;
	}
	uint64_t max = node_get()->cfg->max_message_size;
	if (params.has_size && params.size > max) {
		smtp__reply(s, "552 5.3.4 Error: message size exceeds fixed limit");
		return;
	}
	if (!within_rate(s, &path)) {
		smtp__reply(s, "451 4.7.1 Error: too many messages, try again later");
		return;
	}
	smtp__reset_tx(s);
	s->from = path;
	s->params = params;
	if (s->submission) { /* RFC 6409 §8.1: the sender must be the user's */
		smtp__submit_sender(s);
		return;
	}
	smtp__enter_state(s, SMTP_S_MAIL);
	smtp__reply(s, "250 2.1.0 Ok");
}
