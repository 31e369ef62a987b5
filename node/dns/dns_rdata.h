/* dns_rdata.h - bounded parsers for the DNS record data the resolver hands back (dns.h): the
 * rdata of MX, A, AAAA, TXT, TLSA and PTR records in wire format (RFC 1035 §3.3, RFC 3596,
 * RFC 6698 §2.1), without the RDLENGTH prefix, as libunbound delivers them. Nothing here trusts
 * a length byte: every read is checked against the rdata's own size, domain names are limited to
 * 255 wire octets and 63-octet labels, and compression pointers (never present in rdata that
 * libunbound has unpacked) are rejected. Also the result type shared with dns.h and the pure
 * function that turns a list of rdata into a result, so the fuzz target and the unit tests
 * exercise exactly what the resolver runs. */
#ifndef MR_DNS_RDATA_H
#define MR_DNS_RDATA_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A name in presentation form: at most 255 wire octets, every octet escaped as \DDD at worst. */
#define DNS_NAME_TEXT_MAX 1024
/* Records kept per answer; further records of one RRset are dropped (and counted). */
#define DNS_MAX_RECORDS 64

enum dns_type {
	DNS_T_A = 1,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_TLSA = 52,
};

enum dns_status {
	DNS_OK = 0,   /* records present (n >= 1; for MX, or null_mx) */
	DNS_NXDOMAIN, /* the name does not exist (RCODE 3) */
	DNS_NODATA,   /* the name exists, no record of this type */
	DNS_TEMPFAIL, /* SERVFAIL, REFUSED, timeout, unreachable server, unusable answer */
	DNS_BOGUS,    /* DNSSEC validation failed: treat as a failure, never as data */
};

struct dns_mx {
	uint16_t pref;
	char host[DNS_NAME_TEXT_MAX]; /* presentation form, no trailing dot, as published */
};

struct dns_addr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; 4 bytes used for AF_INET */
	char text[46];    /* inet_ntop form */
};

struct dns_txt {
	char *text; /* the record's character-strings joined, NUL-terminated */
	size_t len; /* without the NUL (text may hold NUL bytes of its own) */
};

struct dns_tlsa {
	uint8_t usage, selector, mtype; /* RFC 6698 §2.1.1-2.1.3 */
	uint8_t *data;                  /* certificate association data */
	size_t len;
};

struct dns_result {
	enum dns_type type;
	enum dns_status status;
	bool secure;  /* the answer (data or denial) was DNSSEC-validated */
	bool null_mx; /* MX only: every exchange is "." (RFC 7505 null MX, "0 ."): no mail */
	uint32_t ttl;
	const char *reason; /* why, for TEMPFAIL/BOGUS (libunbound's why_bogus); else "" */
	size_t n;           /* records in the array of the type's member below */
	size_t dropped;     /* malformed records skipped, or beyond DNS_MAX_RECORDS */
	union {
		struct dns_mx *mx;     /* sorted by preference, answer order kept among equals */
		struct dns_addr *addr; /* A and AAAA */
		struct dns_txt *txt;
		struct dns_tlsa *tlsa;
		struct dns_mx *ptr; /* PTR: host is the target name, pref is 0 */
	} u;
};

/* A domain name at rd[0..len) in uncompressed wire form into presentation form at out
 * (DNS_NAME_TEXT_MAX bytes): labels joined by '.', '.', '\\' and bytes outside 0x21-0x7e
 * escaped as \. \\ \DDD, no trailing dot; the root is ".". *used_r gets the wire octets read.
 * Returns 0, or MR_EPROTO (truncated, label > 63, name > 255, compression pointer). */
int dns_parse_name(const uint8_t *rd, size_t len, size_t *used_r, char *out);
/* Check a presentation-form name (as given to dns_lookup): labels of 1-63 octets after
 * \DDD and \X escapes, at most 255 octets on the wire, optional trailing dot, "." alone is
 * the root. *wire_r (may be NULL) gets the wire length. Returns 0 or MR_EINVAL. */
int dns_name_check(const char *name, size_t *wire_r);
/* MX rdata: preference and exchange; the name must fill the rdata exactly. */
int dns_parse_mx(const uint8_t *rd, size_t len, struct dns_mx *out);
/* PTR rdata: one name filling the rdata. */
int dns_parse_ptr(const uint8_t *rd, size_t len, struct dns_mx *out);
/* A (len 4) or AAAA (len 16) rdata. */
int dns_parse_addr(enum dns_type type, const uint8_t *rd, size_t len, struct dns_addr *out);
/* TXT rdata: one or more <length><bytes> character-strings, joined without separator into
 * out (room for len bytes + NUL always suffices). Returns 0 or MR_EPROTO (empty rdata, a
 * string running past the end). */
int dns_parse_txt(const uint8_t *rd, size_t len, char *out, size_t *outlen_r);
/* TLSA rdata: 3 octets then at least one octet of data; data points into rd. */
int dns_parse_tlsa(const uint8_t *rd, size_t len, struct dns_tlsa *out);

/* Fill r (already holding type; status and secure are the caller's) with the records parsed
 * from n rdata (data[i], lens[i]); malformed ones are counted in r->dropped. MX: sorted, and
 * null_mx set when every record's exchange is the root (those are never listed). Sets
 * r->status to DNS_TEMPFAIL ("malformed records") when records came but none parsed.
 * Returns 0 or MR_ENOMEM (r then holds nothing to free). */
int dns_result_build(struct dns_result *r, const uint8_t *const *data, const size_t *lens,
                     size_t n);
/* Free what dns_result_build allocated; r is left empty (n = 0). */
void dns_result_free(struct dns_result *r);

/* The PTR query name for a textual IPv4 or IPv6 address ("192.0.2.1" ->
 * "1.2.0.192.in-addr.arpa", nibbles under ip6.arpa for IPv6) into out (at least 74 bytes).
 * Returns 0 or MR_EINVAL. */
int dns_reverse_name(const char *ip, char *out, size_t outlen);
/* Short names for logs and tools: "MX", "ok", "nxdomain"... (never NULL). */
const char *dns_type_name(enum dns_type t);
const char *dns_status_name(enum dns_status s);

#endif
