/* imap_util.c - small IMAP codecs shared by the command files: string output (quoted or
 * literal, RFC 3501 §4.3), flag lists (§2.3.2) as normalised space-separated strings,
 * date-time (§9 "date-time") and mailbox-name checks. Pure functions. */
#include "imap_int.h"
#include "imap_mutf7.h"
#include "imap_search.h"
#include "common/err.h"
#include "common/util.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

void imap__put_string(struct buf *out, const char *s, size_t len)
{
	bool literal = len > 1024;
	for (size_t i = 0; i < len && !literal; i++) {
		uint8_t c = (uint8_t)s[i];
		if (c == 0 || c == '\r' || c == '\n' || c >= 0x80)
			literal = true;
	}
	if (literal) {
		buf_printf(out, "{%zu}\r\n", len);
		buf_append(out, s, len);
		return;
	}
	buf_append(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_append(out, "\\", 1);
		buf_append(out, s + i, 1);
	}
	buf_append(out, "\"", 1);
}

void imap__put_nstring(struct buf *out, const char *s)
{
	if (!s)
		buf_puts(out, "NIL");
	else
		imap__put_string(out, s, strlen(s));
}

static const char *const system_flags[] = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted",
					   "\\Draft"};

/* Canonical spelling of a flag atom, or NULL if invalid. */
static const char *flag_canon(const char *f, size_t len)
{
	if (len == 0 || len > 128)
		return NULL;
	if (f[0] == '\\') {
		for (size_t i = 0; i < MR_ARRAY_LEN(system_flags); i++)
			if (strlen(system_flags[i]) == len && mr_strncasecmp(f, system_flags[i], len) == 0)
				return system_flags[i];
		return NULL; /* \Recent and unknown system flags are not storable */
	}
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)f[i];
		if (c <= ' ' || c >= 0x7f || strchr("(){%*\"\\]", c))
			return NULL;
	}
	return f;
}

static void add_flag(struct buf *out, const char *f, size_t len)
{
	char tmp[130];
	snprintf(tmp, sizeof tmp, "%.*s", (int)len, f);
	if (out->len && imap_flags_has((const char *)out->p, tmp))
		return;
	if (out->len)
		buf_append(out, " ", 1);
	buf_append(out, f, len);
}

int imap__flags_parse(const struct imap_arg *args, size_t i, struct buf *out)
{
	buf_reset(out);
	size_t from = i, to = i + 1;
	if (args[i].type == IMAP_ARG_LIST) {
		from = i + 1;
		to = args[i].end;
	}
	for (size_t k = from; k < to; k++) {
		if (args[k].type != IMAP_ARG_ATOM)
			return MR_EINVAL;
		const char *c = flag_canon(args[k].str, args[k].len);
		if (!c)
			return MR_EINVAL;
		add_flag(out, c, c == args[k].str ? args[k].len : strlen(c));
	}
	return 0;
}

void imap__flags_apply(const char *cur, const char *change, char op, struct buf *out)
{
	buf_reset(out);
	buf_puts(out, "");
	if (op == '=') {
		buf_puts(out, change);
		return;
	}
	/* start from cur (minus removed flags), then add */
	const char *p = cur;
	while (p && *p) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if (e > p) {
			char tmp[130];
			snprintf(tmp, sizeof tmp, "%.*s", (int)(e - p), p);
			if (!(op == '-' && imap_flags_has(change, tmp)))
				add_flag(out, p, (size_t)(e - p));
		}
		p = e;
	}
	if (op == '+') {
		p = change;
		while (*p) {
			while (*p == ' ')
				p++;
			const char *e = p;
			while (*e && *e != ' ')
				e++;
			if (e > p)
				add_flag(out, p, (size_t)(e - p));
			p = e;
		}
	}
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE */
int imap__datetime_parse(const char *s, size_t len, int64_t *t_r)
{
	char buf[40];
	if (len < 25 || len > 27)
		return MR_EINVAL;
	memcpy(buf, s, len);
	buf[len] = 0;
	const char *p = buf[0] == ' ' ? buf + 1 : buf;
	unsigned d, y, hh, mm, ss;
	char mon[4], sign;
	unsigned zone;
	int n = 0;
	if (sscanf(p, "%2u-%3c-%4u %2u:%2u:%2u %c%4u%n", &d, mon, &y, &hh, &mm, &ss, &sign, &zone,
		   &n) != 8 ||
	    (size_t)(p - buf) + (size_t)n != len)
		return MR_EINVAL;
	mon[3] = 0;
	unsigned m = 0;
	for (unsigned i = 0; i < 12; i++)
		if (mr_strcasecmp(mon, months[i]) == 0)
			m = i + 1;
	if (!m || d == 0 || d > 31 || hh > 23 || mm > 59 || ss > 60 || (sign != '+' && sign != '-') ||
	    zone % 100 > 59)
		return MR_EINVAL;
	int64_t off = (int64_t)(zone / 100 * 3600 + zone % 100 * 60);
	int64_t t = imap_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
	*t_r = sign == '+' ? t - off : t + off;
	return 0;
}

void imap__datetime_format(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	snprintf(out, 32, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday, months[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

bool imap__mailbox_ok(const char *name, size_t len)
{
	if (len == 0 || len >= 500 || name[0] == '/' || name[len - 1] == '/')
		return false;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)name[i];
		if (c < 0x20 || c == 0x7f || c == '%' || c == '*')
			return false;
		if (c == '/' && i + 1 < len && name[i + 1] == '/')
			return false;
	}
	return true;
}

bool imap__mailbox_in(const struct imap_session *s, char *name, size_t cap)
{
	bool eight = false;
	for (const char *c = name; *c; c++)
		eight |= (unsigned char)*c >= 0x80;
	if (s->utf8 && eight) { /* RFC 6855 §3: UTF-8 from the client, stored as modified UTF-7 */
		char tmp[1024];
		if (imap_utf8_to_mutf7(name, tmp, sizeof tmp) < 0 || strlen(tmp) >= cap)
			return false;
		memcpy(name, tmp, strlen(tmp) + 1);
	}
	imap__mailbox_norm(name);
	return true;
}

void imap__put_mailbox(struct buf *out, const char *name, bool utf8)
{
	char tmp[2048];
	if (utf8 && strchr(name, '&') && imap_mutf7_to_utf8(name, tmp, sizeof tmp) == 0)
		name = tmp; /* RFC 6855 §3: names go out in UTF-8 */
	imap__put_string(out, name, strlen(name));
}

void imap__mailbox_norm(char *name)
{
	if (mr_strcasecmp(name, "INBOX") == 0)
		memcpy(name, "INBOX", 5);
}
