/* fuzz_dkim.c - libFuzzer target for the DKIM text parsers and canonicalization. The whole
 * input goes through the tag=value parser (tags must lie inside the input, names start with
 * a letter, values hold no ';'), the DKIM-Signature and key record parsers (decoded sizes
 * within their buffers, required fields present on success), the header splitter and both
 * header canonicalizations (relaxed output has no line break but the final CRLF, its value
 * no WSP run), the body canonicalizer in one push, byte at a time and split in two (same hash and
 * length, abort otherwise), and dkim_verify with a fixed Ed25519 key record. The corpus
 * replays under ctest (fuzz-replay.dkim).
 */
#include "dkim/dkim.h"
#include "common/err.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_dkim: invariant failed: %s\n", what);
		abort();
	}
}

static void fuzz_tags(const char *s, size_t n)
{
	struct dkim_tag t[DKIM_MAX_TAGS];
	size_t nt = 0;
	if (dkim_tags_parse(s, n, t, DKIM_MAX_TAGS, &nt) != 0)
		return;
	check(nt <= DKIM_MAX_TAGS, "tag count");
	for (size_t i = 0; i < nt; i++) {
		check(t[i].name >= s && t[i].name + t[i].name_len <= s + n, "name inside input");
		check(t[i].val >= s && t[i].val + t[i].val_len <= s + n, "value inside input");
		check(t[i].name_len > 0, "empty name");
		char c = t[i].name[0];
		check((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'),
		      "name starts with a letter");
		check(!memchr(t[i].val, ';', t[i].val_len), "';' inside value");
		for (size_t j = 0; j < i; j++)
			check(t[i].name_len != t[j].name_len ||
			          memcmp(t[i].name, t[j].name, t[i].name_len) != 0,
			      "duplicate accepted");
	}
}

static void fuzz_sig_key(const char *s, size_t n)
{
	struct dkim_sig *g = malloc(sizeof *g);
	const char *why = NULL;
	if (dkim_sig_parse(s, n, g, &why) == 0) {
		check(g->nh >= 1 && g->nh <= DKIM_MAX_HNAMES, "h= count");
		check(g->d[0] != 0 && g->s[0] != 0 && g->i[0] != 0, "d s i set");
		check(g->blen <= sizeof g->b && g->bhlen <= sizeof g->bh, "decoded sizes");
		check(g->x < 0 || g->t < 0 || g->x >= g->t, "x >= t");
	} else {
		check(why != NULL, "error without reason");
	}
	free(g);
	struct dkim_keyrec *k = malloc(sizeof *k);
	if (dkim_key_parse(s, n, k, &why) == 0)
		check(k->plen <= sizeof k->p && (k->revoked || k->plen > 0), "key size");
	free(k);
}

static void fuzz_headers(const uint8_t *d, size_t n)
{
	struct dkim_field *f = calloc(DKIM_MAX_HEADERS, sizeof *f);
	size_t nf = 0, body = 0;
	if (dkim_split(d, n, f, DKIM_MAX_HEADERS, &nf, &body) == 0) {
		check(body <= n, "body offset");
		struct buf o;
		buf_init(&o, 0);
		for (size_t i = 0; i < nf; i++) {
			check(f[i].off + f[i].len <= body && f[i].name_len <= f[i].len,
			      "field bounds");
			check(i == 0 || f[i].off >= f[i - 1].off + f[i - 1].len, "fields ordered");
			buf_reset(&o);
			check(dkim_canon_header(DKIM_CANON_RELAXED, d + f[i].off, f[i].len, true,
			                        &o) == 0,
			      "relaxed canon");
			check(o.len >= 2 && o.len <= f[i].len + 2, "relaxed length");
			const uint8_t *colon = memchr(o.p, ':', o.len);
			for (size_t k = 0; k + 2 < o.len; k++) {
				check(o.p[k] != '\n', "relaxed line break"); /* bare CR may stay */
				/* the value (after the colon) has no WSP run and no tab */
				if (colon && o.p + k > colon)
					check(o.p[k] != '\t' &&
					          !(o.p[k] == ' ' && o.p[k + 1] == ' '),
					      "relaxed WSP run");
			}
			buf_reset(&o);
			check(dkim_canon_header(DKIM_CANON_SIMPLE, d + f[i].off, f[i].len, false,
			                        &o) == 0,
			      "simple canon");
		}
		buf_free(&o);
	}
	free(f);
}

static void fuzz_body(const uint8_t *d, size_t n)
{
	for (int c = 0; c <= 1; c++) {
		uint8_t h1[32], h2[32], h3[32];
		uint64_t t1, t2, t3;
		struct buf cap;
		buf_init(&cap, 0);
		struct dkim_body b;
		dkim_body_init(&b, (enum dkim_canon)c, -1, &cap);
		dkim_body_update(&b, d, n);
		check(dkim_body_final(&b, h1, &t1) == 0, "final");
		check(t1 == cap.len, "captured length");
		check(cap.len == 0 || (cap.len >= 2 && memcmp(cap.p + cap.len - 2, "\r\n", 2) == 0),
		      "ends in CRLF");
		check(cap.len < 4 || memcmp(cap.p + cap.len - 4, "\r\n\r\n", 4) != 0,
		      "trailing empty line kept");
		if (c == DKIM_CANON_RELAXED)
			for (size_t k = 0; k < cap.len; k++) {
				/* no tab, no SP run, no SP before CRLF (a bare CR is content) */
				check(cap.p[k] != '\t', "relaxed tab left");
				check(cap.p[k] != ' ' || k + 1 == cap.len || cap.p[k + 1] != ' ',
				      "relaxed SP run");
				check(cap.p[k] != ' ' || k + 2 >= cap.len || cap.p[k + 1] != '\r' ||
				          cap.p[k + 2] != '\n',
				      "relaxed SP before CRLF");
			}
		buf_free(&cap);
		dkim_body_init(&b, (enum dkim_canon)c, -1, NULL);
		for (size_t k = 0; k < n; k++)
			dkim_body_update(&b, d + k, 1);
		check(dkim_body_final(&b, h2, &t2) == 0, "final");
		dkim_body_init(&b, (enum dkim_canon)c, -1, NULL);
		dkim_body_update(&b, d, n / 2);
		dkim_body_update(&b, d + n / 2, n - n / 2);
		check(dkim_body_final(&b, h3, &t3) == 0, "final");
		check(memcmp(h1, h2, 32) == 0 && memcmp(h1, h3, 32) == 0, "chunking changes hash");
		check(t1 == t2 && t1 == t3, "chunking changes length");
	}
}

static int fixed_key(void *ud, const char *selector, const char *domain, char *out, size_t cap)
{
	if (selector[0] == 't')
		return MR_EIO;
	snprintf(out, cap, "v=DKIM1; k=%s; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	         selector[0] == 'r' ? "rsa" : "ed25519");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	const char *s = (const char *)data;
	fuzz_tags(s, size);
	fuzz_sig_key(s, size);
	fuzz_headers(data, size);
	fuzz_body(data, size);
	struct dkim_verdict v[DKIM_MAX_SIGS];
	size_t n = 0;
	if (dkim_verify(data, size, fixed_key, NULL, 1700000000, v, DKIM_MAX_SIGS, &n) == 0) {
		check(n <= DKIM_MAX_SIGS, "verdict count");
		for (size_t i = 0; i < n; i++)
			check(v[i].result != DKIM_NONE && v[i].reason != NULL, "verdict set");
	}
	return 0;
}
