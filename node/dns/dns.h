/* dns.h - the node's asynchronous DNS resolver (issue 5 item 6): libunbound driven by the
 * node's libuv loop. The unbound context runs in async (thread) mode; its result pipe ub_fd()
 * is watched with a uv_poll and ub_process() runs when it is readable, so every callback is
 * called on the loop thread and nothing blocks the loop. Queries go to a configured forwarder
 * ("host[:port]", e.g. a local test server) or to the servers of /etc/resolv.conf; with a
 * trust-anchor file the answers are DNSSEC-validated (secure / bogus), as DANE needs. Each
 * query has a deadline (options.timeout_ms) after which it completes with DNS_TEMPFAIL.
 * Record types: MX (sorted, RFC 7505 null MX flagged; the RFC 5321 §5.1 implicit MX is the
 * caller's), A, AAAA, TXT (character-strings joined per record), TLSA, PTR. The result types
 * and rdata parsers are in dns_rdata.h.
 *
 * Cancellation: dns_cancel() and dns_resolver_destroy() complete nothing: the callback of a
 * cancelled or still-pending query is NEVER called afterwards. */
#ifndef MR_DNS_H
#define MR_DNS_H
#include <uv.h>

#include "dns/dns_rdata.h"

struct dns_resolver;
struct dns_query;

struct dns_options {
	const char *resolver;     /* "host", "host:port", "[v6]:port"; NULL or "" = resolv.conf */
	const char *trust_anchor; /* file of DS/DNSKEY records (zone-file form); NULL/"" = off */
	unsigned timeout_ms;      /* per query; 0 = DNS_DEFAULT_TIMEOUT_MS */
};
#define DNS_DEFAULT_TIMEOUT_MS 10000

/* Called once on the loop thread with the result, which (and everything it points to) is
 * valid only during the call. The callback may start queries, cancel others, or destroy the
 * resolver (no other callback of that resolver is called after that). */
typedef void (*dns_cb)(void *ud, const struct dns_result *res);

/* Create a resolver on loop. err (may be NULL) gets a message on failure. Returns 0,
 * MR_ECONFIG (bad address, unreadable trust anchor, resolv.conf unusable) or MR_ENOMEM. */
int dns_resolver_create(uv_loop_t *loop, const struct dns_options *opt, struct dns_resolver **r_r,
                        char *err, size_t errlen);
/* Cancel every pending query (no callbacks), stop watching, free. The memory goes when the
 * loop has closed the resolver's handles (the loop must run once more). NULL is a no-op.
 * The resolver holds a reference on the loop only while queries are pending: an idle
 * resolver does not keep uv_run() from returning. */
void dns_resolver_destroy(struct dns_resolver *r);

/* Look up name (presentation form, trailing dot optional) for type. q_r (may be NULL) gets a
 * handle valid until the callback runs, dns_cancel, or the resolver's destroy. Returns 0 (cb will
 * be called exactly once, unless cancelled), MR_EINVAL (empty or over-long name, unknown type),
 * MR_ECLOSED (resolver being destroyed), MR_ENOMEM or MR_EIO (libunbound refused the query). */
int dns_lookup(struct dns_resolver *r, enum dns_type type, const char *name, dns_cb cb, void *ud,
               struct dns_query **q_r);
/* PTR lookup for a textual IPv4/IPv6 address (builds the in-addr.arpa / ip6.arpa name). */
int dns_lookup_ptr(struct dns_resolver *r, const char *ip, dns_cb cb, void *ud,
                   struct dns_query **q_r);
/* Cancel a pending query: its callback is never called. */
void dns_cancel(struct dns_query *q);
/* Pending queries (for tests and stats). */
size_t dns_pending(const struct dns_resolver *r);

#endif
