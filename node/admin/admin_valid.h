/* admin_valid.h - syntax checks for what the admin commands accept: domain names
 * (RFC 1035 §2.3.1 letter-digit-hyphen labels, RFC 1123 §2.1 allows a leading digit) and
 * addresses local@domain (RFC 5322 §3.2.3 dot-atom local part, RFC 5321 §4.5.3.1 lengths).
 * Both normalise to lower case in place. Pure functions, unit-tested. */
#ifndef MR_ADMIN_VALID_H
#define MR_ADMIN_VALID_H
#include <stddef.h>

/* RFC 5321 §4.5.3.1.1: local part at most 64 octets; §4.5.3.1.2: domain at most 255;
 * §4.5.3.1.3: a path at most 256 including the angle brackets, so 254 for the address. */
#define ADMIN_LOCAL_MAX 64
#define ADMIN_DOMAIN_MAX 253
#define ADMIN_ADDRESS_MAX 254

/* Lower-case s in place and check it is a domain name. 0 or MR_EINVAL with a reason in
 * why (may be NULL). */
int admin_valid_domain(char *s, const char **why);
/* Lower-case s in place and check it is local@domain. On success *at_r (may be NULL) points
 * at the '@'. 0 or MR_EINVAL with a reason in why. */
int admin_valid_address(char *s, const char **at_r, const char **why);

#endif
