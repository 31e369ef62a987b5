/* admin_valid.c - domain and address syntax for the admin commands (see admin_valid.h).
 * Deliberately stricter than the RFCs allow on the wire: no quoted local parts, no address
 * literals, ASCII only, so that what the directory stores is simple and canonical. */
#include "admin_valid.h"
#include "common/err.h"
#include "common/util.h"
#include <string.h>

static int fail(const char **why, const char *msg)
{
	if (why)
		*why = msg;
	return MR_EINVAL;
}

static int is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* RFC 1035 §2.3.1 labels of letters, digits and hyphens, not starting or ending with a
 * hyphen, 1..63 octets; RFC 1123 §2.1 lets a label start with a digit. s is lower case. */
static int check_domain(const char *s, size_t len, const char **why)
{
	if (len == 0)
		return fail(why, "empty domain");
	if (len > ADMIN_DOMAIN_MAX)
		return fail(why, "domain longer than 253 characters");
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return fail(why, "empty label in domain");
			if (s[i - 1] == '-')
				return fail(why, "domain label ends with '-'");
			label = 0;
			continue;
		}
		if (!is_alnum((unsigned char)c) && c != '-')
			return fail(why, "invalid character in domain");
		if (c == '-' && label == 0)
			return fail(why, "domain label starts with '-'");
		if (++label > 63)
			return fail(why, "domain label longer than 63 characters");
	}
	if (label == 0)
		return fail(why, "domain ends with '.'");
	if (s[len - 1] == '-')
		return fail(why, "domain label ends with '-'");
	return 0;
}

int admin_valid_domain(char *s, const char **why)
{
	mr_lower(s);
	return check_domain(s, strlen(s), why);
}

/* RFC 5322 §3.2.3 atext. */
static int is_atext(int c)
{
	return is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL) ||
	       (c >= 'A' && c <= 'Z');
}

int admin_valid_address(char *s, const char **at_r, const char **why)
{
	mr_lower(s);
	size_t len = strlen(s);
	if (len > ADMIN_ADDRESS_MAX)
		return fail(why, "address longer than 254 characters");
	const char *at = strrchr(s, '@');
	if (!at)
		return fail(why, "address has no '@'");
	size_t llen = (size_t)(at - s);
	if (llen == 0)
		return fail(why, "empty local part");
	if (llen > ADMIN_LOCAL_MAX)
		return fail(why, "local part longer than 64 characters");
	/* dot-atom: atext runs separated by single dots */
	for (size_t i = 0; i < llen; i++) {
		if (s[i] == '.') {
			if (i == 0 || i + 1 == llen || s[i + 1] == '.')
				return fail(why, "misplaced '.' in local part");
			continue;
		}
		if (!is_atext((unsigned char)s[i]))
			return fail(why, "invalid character in local part");
	}
	int rv = check_domain(at + 1, len - llen - 1, why);
	if (rv == 0 && at_r)
		*at_r = at;
	return rv;
}
