/* dnsq.c - drives node/dns (dns.h) from the command line for tests/integration/test_dns.py:
 * every TYPE NAME pair given is looked up at once on one libuv loop, and one line per query is
 * printed, in argument order, when all have completed:
 *
 *   dnsq [--server IP[:PORT]] [--ta FILE] [--timeout MS] [--destroy-after MS] TYPE NAME...
 *
 *   MX example.test ok secure=0 n=2 10:mx1.example.test 20:mx2.example.test
 *   TXT example.test ok secure=0 n=1 "v=spf1 -all"
 *   A nx.example.test nxdomain secure=0 n=0
 *
 * TYPE is MX, A, AAAA, TXT, TLSA or PTR (PTR takes an IP address). Records are printed in the
 * resolver's order except TXT/A/AAAA/TLSA, which are sorted so the output is deterministic;
 * TXT bytes outside 0x20-0x7e and '"' '\\' are escaped as \xHH; MX also prints null_mx=1.
 * --destroy-after destroys the resolver with the queries still pending after MS milliseconds
 * and prints "destroyed pending=N" (any callback after that is reported as "LATE" and exit 3).
 * Exit 0 when every query completed (whatever its status), 2 on usage or setup errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "dns/dns.h"
#include "common/err.h"

#define MAX_Q 64

struct q {
	enum dns_type type;
	const char *name;
	char *line; /* the result, once completed */
};

static struct q qs[MAX_Q];
static size_t nq, ndone;
static struct dns_resolver *res;
static int late;

static const struct {
	const char *name;
	enum dns_type type;
} types[] = {{"MX", DNS_T_MX},   {"A", DNS_T_A},       {"AAAA", DNS_T_AAAA},
             {"TXT", DNS_T_TXT}, {"TLSA", DNS_T_TLSA}, {"PTR", DNS_T_PTR}};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One record's text into a malloc'd string. */
static char *record_text(const struct dns_result *r, size_t i)
{
	char *s = NULL;
	size_t sl = 0;
	FILE *f = open_memstream(&s, &sl);
	if (!f)
		abort();
	switch (r->type) {
	case DNS_T_MX:
		fprintf(f, "%u:%s", r->u.mx[i].pref, r->u.mx[i].host);
		break;
	case DNS_T_PTR:
		fprintf(f, "%s", r->u.ptr[i].host);
		break;
	case DNS_T_A:
	case DNS_T_AAAA:
		fprintf(f, "%s", r->u.addr[i].text);
		break;
	case DNS_T_TXT:
		fputc('"', f);
		for (size_t k = 0; k < r->u.txt[i].len; k++) {
			unsigned char c = (unsigned char)r->u.txt[i].text[k];
			if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
				fprintf(f, "\\x%02x", c);
			else
				fputc(c, f);
		}
		fputc('"', f);
		break;
	case DNS_T_TLSA:
		fprintf(f, "%u,%u,%u,", r->u.tlsa[i].usage, r->u.tlsa[i].selector,
		        r->u.tlsa[i].mtype);
		for (size_t k = 0; k < r->u.tlsa[i].len; k++)
			fprintf(f, "%02x", r->u.tlsa[i].data[k]);
		break;
	}
	fclose(f);
	return s;
}

static void on_result(void *ud, const struct dns_result *r)
{
	struct q *q = ud;
	if (!res) {
		late = 1;
		printf("LATE %s %s\n", dns_type_name(q->type), q->name);
		return;
	}
	char *recs[DNS_MAX_RECORDS];
	for (size_t i = 0; i < r->n; i++)
		recs[i] = record_text(r, i);
	if (r->type != DNS_T_MX && r->type != DNS_T_PTR)
		qsort(recs, r->n, sizeof recs[0], cmp_str);
	char *s = NULL;
	size_t sl = 0;
	FILE *f = open_memstream(&s, &sl);
	if (!f)
		abort();
	fprintf(f, "%s %s %s secure=%d n=%zu", dns_type_name(q->type), q->name,
	        dns_status_name(r->status), r->secure ? 1 : 0, r->n);
	if (r->type == DNS_T_MX && r->null_mx)
		fprintf(f, " null_mx=1");
	for (size_t i = 0; i < r->n; i++) {
		fprintf(f, " %s", recs[i]);
		free(recs[i]);
	}
	if (r->reason && r->reason[0] && r->status != DNS_BOGUS)
		fprintf(f, " (%s)", r->reason);
	fclose(f);
	q->line = s;
	if (++ndone == nq) {
		dns_resolver_destroy(res);
		res = NULL;
	}
}

static void on_destroy_timer(uv_timer_t *t)
{
	if (res) {
		printf("destroyed pending=%zu\n", dns_pending(res));
		dns_resolver_destroy(res);
		res = NULL;
	}
	uv_close((uv_handle_t *)t, NULL);
}

static int usage(void)
{
	fprintf(stderr, "usage: dnsq [--server IP[:PORT]] [--ta FILE] [--timeout MS] "
	                "[--destroy-after MS] TYPE NAME...\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct dns_options opt = {0};
	long destroy_after = -1;
	int i = 1;
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--server") == 0)
			opt.resolver = argv[i + 1];
		else if (strcmp(argv[i], "--ta") == 0)
			opt.trust_anchor = argv[i + 1];
		else if (strcmp(argv[i], "--timeout") == 0)
			opt.timeout_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--destroy-after") == 0)
			destroy_after = strtol(argv[i + 1], NULL, 10);
		else
			return usage();
	}
	if (i >= argc || (argc - i) % 2 != 0 || (size_t)(argc - i) / 2 > MAX_Q)
		return usage();
	for (; i < argc; i += 2) {
		size_t t = 0;
		while (t < sizeof types / sizeof types[0] && strcmp(types[t].name, argv[i]) != 0)
			t++;
		if (t == sizeof types / sizeof types[0])
			return usage();
		qs[nq].type = types[t].type;
		qs[nq++].name = argv[i + 1];
	}
	uv_loop_t *loop = uv_default_loop();
	char err[256];
	int rv = dns_resolver_create(loop, &opt, &res, err, sizeof err);
	if (rv != 0) {
		fprintf(stderr, "dnsq: %s (%s)\n", err, mr_strerror(rv));
		return 2;
	}
	for (size_t k = 0; k < nq; k++) {
		rv = qs[k].type == DNS_T_PTR
		         ? dns_lookup_ptr(res, qs[k].name, on_result, &qs[k], NULL)
		         : dns_lookup(res, qs[k].type, qs[k].name, on_result, &qs[k], NULL);
		if (rv != 0) {
			fprintf(stderr, "dnsq: %s %s: %s\n", dns_type_name(qs[k].type), qs[k].name,
			        mr_strerror(rv));
			return 2;
		}
	}
	uv_timer_t dt;
	if (destroy_after >= 0) {
		uv_timer_init(loop, &dt);
		uv_timer_start(&dt, on_destroy_timer, (uint64_t)destroy_after, 0);
	}
	uv_run(loop, UV_RUN_DEFAULT);
	for (size_t k = 0; k < nq; k++) {
		if (qs[k].line)
			printf("%s\n", qs[k].line);
		free(qs[k].line);
	}
	uv_loop_close(loop);
	if (late)
		return 3;
	return ndone == nq || destroy_after >= 0 ? 0 : 1;
}
