/* fuzz_imap.c - libFuzzer target for the IMAP command codec: the incremental parser
 * (imap_parser.c, fed in chunks whose sizes come from the first input byte, literals accepted
 * up to the limit), and for every parsed command the sequence-set, SEARCH-key and FETCH-item
 * parsers over its arguments, and the extension codecs (ESEARCH return options, LIST-EXTENDED,
 * STATUS items, CREATE USE, SORT criteria) and the string helpers (modified UTF-7, base
 * subject, RFC 5322 dates, addresses and message ids) over every string argument. Must never crash, leak or read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "imap/imap_parser.h"
#include "imap/imap_seqset.h"
#include "imap/imap_search.h"
#include "imap/imap_fetch.h"
#include "imap/imap_list.h"
#include "imap/imap_sort.h"
#include "imap/imap_mutf7.h"
#include "imap/imap_int.h"
#include <stdlib.h>

static void exercise(struct imap_parser *p)
{
	size_t n;
	const struct imap_arg *a = imap_parser_args(p, &n);
	for (size_t i = 0; i < n; i++) {
		if (a[i].type == IMAP_ARG_ATOM) {
			struct imap_seqset set;
			if (imap_seqset_parse(a[i].str, a[i].len, &set) == 0) {
				(void)imap_seqset_contains(&set, 7, 100);
				imap_seqset_free(&set);
			}
		}
		if (a[i].type != IMAP_ARG_LIST && !memchr(a[i].str, 0, a[i].len)) {
			char out[512];
			(void)imap_mutf7_to_utf8(a[i].str, out, sizeof out);
			(void)imap_utf8_to_mutf7(a[i].str, out, sizeof out);
			struct buf b;
			buf_init(&b, 0);
			(void)imap_base_subject(a[i].str, a[i].len, &b);
			imap_first_mailbox(a[i].str, a[i].len, &b);
			buf_free(&b);
			int64_t t;
			(void)imap_parse_rfc5322_time(a[i].str, a[i].len, &t);
			char **ids;
			size_t nid = imap_msgids(a[i].str, a[i].len, &ids, 64);
			for (size_t k = 0; k < nid; k++)
				free(ids[k]);
			free(ids);
		}
		unsigned items;
		(void)imap_status_items_parse(a, i, &items);
		const char *use;
		(void)imap_create_params_parse(a, i, &use);
		struct imap_sort_crit sc;
		(void)imap_sort_parse(a, i, &sc);
		struct imap_fetch f;
		const char *err;
		if (imap_fetch_parse(a, i, i & 1, &f, &err) == 0) {
			if (i + 1 < n && a[i + 1].type == IMAP_ARG_LIST)
				(void)imap_fetch_parse_modifiers(a, i + 1, &f);
			imap_fetch_free(&f);
		}
	}
	struct imap_list_opts lo;
	const char *lerr;
	(void)imap_list_parse(a, n, &lo, &lerr);
	imap_list_opts_free(&lo);
	struct imap_search_opts so;
	struct imap_search_key *sk = NULL;
	const char *serr;
	if (imap_search_parse_ex(a, n, &so, &sk, &serr) == 0)
		imap_search_free(&sk);
	if (n > 2 && imap_search_parse_keys(a, 2, n, &sk, &serr) == 0)
		imap_search_free(&sk);
	struct imap_search_key *k = NULL;
	const char *err = NULL;
	if (imap_search_parse(a, n, &k, &err) == 0) {
		struct imap_search_msg m = {.seq = 1, .uid = 5, .max_seq = 3, .max_uid = 9,
					    .flags = "\\Seen x", .size = 10};
		/* keys needing the text are skipped: that part is the MIME fuzzer's */
		if (!imap_search_needs_text(k))
			(void)imap_search_match(k, &m);
		imap_search_free(&k);
	}
}

/* COMPRESS=DEFLATE input (imap_compress.c): the bytes as a raw-DEFLATE stream, in chunks;
 * each call consumes at most what it was given and never produces more than max_out. */
static void fuzz_inflate(const uint8_t *data, size_t size, size_t chunk)
{
	void *z = imap__deflate_new();
	if (!z)
		return;
	const struct conn_filter *f = imap__deflate_filter();
	struct buf out;
	buf_init(&out, 0);
	const size_t max_out = 64 * 1024;
	for (size_t off = 0; off < size;) {
		size_t n = size - off < chunk ? size - off : chunk;
		long k = f->in(z, data + off, n, &out, max_out);
		if (k < 0)
			break;
		if ((size_t)k > n || out.len > max_out)
			abort();
		buf_reset(&out);
		if (k == 0)
			break;
		off += (size_t)k;
	}
	buf_free(&out);
	f->free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t chunk = (size_t)(data[0] % 17) + 1;
	data++;
	size--;
	struct imap_parser_limits lim = {4096, 4096, 8, 200};
	struct imap_parser *p = imap_parser_new(&lim);
	size_t off = 0;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk, used = 0;
		int rv = imap_parser_push(p, data + off, n, &used);
		off += used;
		if (rv == IMAP_PARSE_LITERAL) {
			uint64_t lsz;
			bool sync;
			imap_parser_literal(p, &lsz, &sync);
			if (imap_parser_literal_accept(p) != 0)
				imap_parser_reset(p, !sync);
		} else if (rv == IMAP_PARSE_DONE) {
			exercise(p);
		} else if (rv == 0 && used < n) {
			break; /* must not happen: 0 means all consumed */
		}
	}
	imap_parser_free(&p);
	fuzz_inflate(data, size, chunk);
	return 0;
}
