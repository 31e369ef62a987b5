/* fuzz_pop3.c - libFuzzer target for the POP3 codec (node/pop3/pop3_parse.c). The input is fed
 * to the command parser twice, in one piece and in irregular chunks (the first byte picks the
 * chunking and the mode), and both runs must yield the same sequence of results; every parsed
 * command is checked against the grammar's bounds. The same bytes then go through the
 * byte-stuffing encoder, whole and in chunks: the outputs must match, and un-stuffing the output
 * must give back the input with bare LFs made CRLF (the RETR round trip). */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "pop3/pop3_parse.h"
#include "common/buf.h"
#include "common/err.h"

#define MAX_EVENTS 4096

struct events {
	int rv[MAX_EVENTS];
	char kw[MAX_EVENTS][POP3_KEYWORD_MAX + 1];
	unsigned nargs[MAX_EVENTS];
	size_t n;
};

static void check_cmd(const struct pop3_parser *p)
{
	const struct pop3_cmd *c = &p->cmd;
	if (p->mode == POP3_MODE_LINE) {
		if (c->linelen > POP3_AUTH_LINE_MAX - 2 || c->line[c->linelen] != 0)
			abort();
		return;
	}
	size_t kl = strlen(c->keyword);
	if (kl < 3 || kl > POP3_KEYWORD_MAX || c->nargs > POP3_ARGS_MAX)
		abort();
	for (size_t i = 0; i < kl; i++)
		if (c->keyword[i] < 'A' || c->keyword[i] > 'Z')
			abort();
	for (unsigned i = 0; i < c->nargs; i++) {
		if (c->arglen[i] > POP3_AUTH_LINE_MAX || c->args[i][c->arglen[i]] != 0)
			abort();
		if (strcmp(c->keyword, "PASS") != 0 && c->arglen[i] == 0)
			abort();
	}
}

static void run_parser(const uint8_t *data, size_t size, enum pop3_parse_mode mode,
                       unsigned chunk_seed, struct events *ev)
{
	static struct pop3_parser p;
	pop3_parse_init(&p);
	pop3_parse_set_mode(&p, mode);
	ev->n = 0;
	size_t off = 0;
	unsigned k = chunk_seed;
	while (off < size) {
		size_t len = size - off;
		if (chunk_seed) {
			k = k * 1103515245u + 12345u;
			size_t want = 1 + (k >> 16) % 7;
			if (want < len)
				len = want;
		}
		size_t used = 0;
		int rv = pop3_parse_push(&p, data + off, len, &used);
		if (used == 0 || used > len)
			abort(); /* always progress, never overrun */
		if (rv == 0 && used != len)
			abort();
		off += used;
		if (rv == 0)
			continue;
		if (rv != 1 && rv != MR_ETOOBIG && rv != MR_EPROTO)
			abort();
		if (rv == 1)
			check_cmd(&p);
		if (ev->n < MAX_EVENTS) {
			ev->rv[ev->n] = rv;
			memcpy(ev->kw[ev->n], p.cmd.keyword, POP3_KEYWORD_MAX + 1);
			if (rv != 1)
				ev->kw[ev->n][0] = 0;
			ev->nargs[ev->n] = rv == 1 ? p.cmd.nargs : 0;
			ev->n++;
		}
	}
}

/* Input with bare LF -> CRLF and a terminated last line: what the client must reassemble. */
static void normalise(const uint8_t *in, size_t n, struct buf *out)
{
	bool cr = false;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\n' && !cr)
			buf_append(out, "\r", 1);
		buf_append(out, &in[i], 1);
		cr = in[i] == '\r';
	}
	if (out->len && out->p[out->len - 1] != '\n')
		buf_puts(out, cr ? "\n" : "\r\n");
}

static void check_encoder(const uint8_t *data, size_t size, unsigned seed)
{
	struct buf whole, parts, norm, unstuffed;
	struct pop3_dotenc e1, e2;
	buf_init(&whole, 0);
	buf_init(&parts, 0);
	buf_init(&norm, 0);
	buf_init(&unstuffed, 0);
	int64_t limit = (seed & 1) ? -1 : (int64_t)(seed >> 1) % 5;

	pop3_dot_init(&e1, limit);
	if (pop3_dot_encode(&e1, data, size, &whole) != 0 || pop3_dot_finish(&e1, &whole) != 0)
		abort();
	pop3_dot_init(&e2, limit);
	size_t off = 0;
	unsigned k = seed | 1;
	while (off < size) {
		k = k * 1103515245u + 12345u;
		size_t len = 1 + (k >> 16) % 9;
		if (len > size - off)
			len = size - off;
		if (pop3_dot_encode(&e2, data + off, len, &parts) != 0)
			abort();
		off += len;
	}
	pop3_dot_finish(&e2, &parts);
	if (whole.len != parts.len || memcmp(whole.p, parts.p, whole.len) != 0)
		abort();
	/* ends with the terminator, which appears nowhere else at a line start */
	if (whole.len < 3 || memcmp(whole.p + whole.len - 3, ".\r\n", 3) != 0)
		abort();
	if (whole.len > 3 && whole.p[whole.len - 4] != '\n')
		abort();
	if (limit >= 0) {
		/* TOP's output is a prefix of RETR's (both without the terminator) */
		struct buf full;
		struct pop3_dotenc e3;
		buf_init(&full, 0);
		pop3_dot_init(&e3, -1);
		pop3_dot_encode(&e3, data, size, &full);
		pop3_dot_finish(&e3, &full);
		if (whole.len > full.len || memcmp(whole.p, full.p, whole.len - 3) != 0)
			abort();
		buf_free(&full);
	} else {
		/* un-stuff and compare with the normalised input */
		bool bol = true;
		for (size_t i = 0; i < whole.len - 3; i++) {
			uint8_t c = whole.p[i];
			if (bol && c == '.') {
				if (i + 1 >= whole.len - 3 || whole.p[i + 1] != '.')
					abort(); /* an unstuffed dot at a line start */
				bol = false;
				continue;
			}
			buf_append(&unstuffed, &c, 1);
			bol = c == '\n';
		}
		normalise(data, size, &norm);
		if (norm.len != unstuffed.len || memcmp(norm.p, unstuffed.p, norm.len) != 0)
			abort();
	}
	buf_free(&whole);
	buf_free(&parts);
	buf_free(&norm);
	buf_free(&unstuffed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct events a, b;
	if (size < 1)
		return 0;
	unsigned sel = data[0];
	data++;
	size--;
	enum pop3_parse_mode mode = (sel & 0x80) ? POP3_MODE_LINE : POP3_MODE_COMMAND;
	run_parser(data, size, mode, 0, &a);
	run_parser(data, size, mode, sel | 1, &b);
	if (a.n != b.n)
		abort();
	for (size_t i = 0; i < a.n; i++)
		if (a.rv[i] != b.rv[i] || strcmp(a.kw[i], b.kw[i]) != 0 || a.nargs[i] != b.nargs[i])
			abort();
	check_encoder(data, size, sel);
	return 0;
}
