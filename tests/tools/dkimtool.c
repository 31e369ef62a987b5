/* dkimtool.c - command-line front end to node/dkim so an independent implementation (dkimpy,
 * in tests/integration/test_dkim.py) can check our signatures and we can check theirs:
 *
 *   dkimtool keygen --alg rsa|ed25519 --out FILE        writes PEM (0600), prints the TXT value
 *   dkimtool txt --key FILE                             prints the TXT value of a private key
 *   dkimtool sign --domain D --selector S --key FILE [--alg rsa|ed25519]
 *            [--canon relaxed/relaxed] [--time T] [--expire SECS] [--headers From:To:...]
 *            < msg > signed                             prepends one DKIM-Signature
 *   dkimtool verify --txt 'S._domainkey.D=TXT' [--txt ...] [--now T] [--ar] < msg
 *            prints "RESULT d=D s=S a=ALG reason" per signature; exit 0 when there is at
 *            least one signature and all pass, 1 otherwise. A TXT of "TEMPFAIL" makes the
 *            lookup fail temporarily. --ar adds an Authentication-Results line.
 * Input with bare LF line ends is converted to CRLF first. Exit 2 on usage errors.
 */
#include "dkim/dkim.h"
#include "common/err.h"
#include "common/util.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_INPUT (64u << 20) /* a message, generously */
#define MAX_TXT 8

static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 2; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static bool opt_flag(int argc, char **argv, const char *name)
{
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return true;
	return false;
}

static int usage(void)
{
	fprintf(stderr, "usage: dkimtool keygen|txt|sign|verify ... (see dkimtool.c)\n");
	return 2;
}

/* stdin, with every bare LF turned into CRLF */
static uint8_t *read_msg(size_t *len_r)
{
	struct buf in, out;
	buf_init(&in, MAX_INPUT);
	buf_init(&out, 2 * (size_t)MAX_INPUT);
	uint8_t chunk[65536];
	ssize_t r;
	while ((r = read(0, chunk, sizeof chunk)) > 0)
		if (buf_append(&in, chunk, (size_t)r) != 0) {
			fprintf(stderr, "dkimtool: input too large\n");
			exit(2);
		}
	for (size_t k = 0; k < in.len; k++) {
		if (in.p[k] == '\n' && (k == 0 || in.p[k - 1] != '\r'))
			(void)buf_append(&out, "\r", 1);
		(void)buf_append(&out, &in.p[k], 1);
	}
	buf_free(&in);
	return buf_steal(&out, len_r);
}

static enum dkim_alg parse_alg(const char *s)
{
	if (!s)
		return DKIM_ALG_NONE;
	return strcmp(s, "rsa") == 0       ? DKIM_ALG_RSA_SHA256
	       : strcmp(s, "ed25519") == 0 ? DKIM_ALG_ED25519_SHA256
	                                   : DKIM_ALG_NONE;
}

static struct dkim_privkey *load_key(const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	struct dkim_privkey *k = NULL;
	if (!path || mr_read_file(path, 1 << 20, &data, &len) != 0) {
		fprintf(stderr, "dkimtool: cannot read key %s\n", path ? path : "(none)");
		exit(2);
	}
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	int rv = dkim_privkey_load(data, len, &k);
	mr_memzero(data, len);
	free(data);
	if (rv) {
		fprintf(stderr, "dkimtool: bad key %s: %s\n", path, mr_strerror(rv));
		exit(2);
	}
	return k;
}

static int cmd_keygen(int argc, char **argv)
{
	enum dkim_alg alg = parse_alg(opt(argc, argv, "--alg"));
	const char *out = opt(argc, argv, "--out");
	if (alg == DKIM_ALG_NONE || !out)
		return usage();
	struct buf pem, txt;
	buf_init(&pem, 0);
	buf_init(&txt, 0);
	int rv = dkim_keygen(alg, &pem, &txt);
	int fd = rv ? -1 : open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (rv || fd < 0 || write(fd, pem.p, pem.len) != (ssize_t)pem.len) {
		fprintf(stderr, "dkimtool: keygen failed\n");
		return 1;
	}
	close(fd);
	printf("%s\n", (char *)txt.p);
	mr_memzero(pem.p, pem.len);
	buf_free(&pem);
	buf_free(&txt);
	return 0;
}

static int cmd_txt(int argc, char **argv)
{
	struct dkim_privkey *k = load_key(opt(argc, argv, "--key"));
	struct buf txt;
	buf_init(&txt, 0);
	int rv = dkim_privkey_txt(k, &txt);
	if (rv == 0)
		printf("%s\n", (char *)txt.p);
	buf_free(&txt);
	dkim_privkey_free(&k);
	return rv ? 1 : 0;
}

static int cmd_sign(int argc, char **argv)
{
	const char *domain = opt(argc, argv, "--domain"), *sel = opt(argc, argv, "--selector");
	const char *algs = opt(argc, argv, "--alg"), *canon = opt(argc, argv, "--canon");
	const char *ts = opt(argc, argv, "--time"), *xs = opt(argc, argv, "--expire");
	const char *hs = opt(argc, argv, "--headers");
	if (!domain || !sel)
		return usage();
	struct dkim_privkey *k = load_key(opt(argc, argv, "--key"));
	if (algs && parse_alg(algs) != dkim_privkey_alg(k)) {
		fprintf(stderr, "dkimtool: key is not %s\n", algs);
		return 2;
	}
	struct dkim_sign_opts o = {.domain = domain,
	                           .selector = sel,
	                           .key = k,
	                           .ch = DKIM_CANON_RELAXED,
	                           .cb = DKIM_CANON_RELAXED,
	                           .t = ts ? atoll(ts) : (int64_t)time(NULL),
	                           .expire = xs ? atoll(xs) : 0};
	if (canon) {
		o.ch = strncmp(canon, "simple", 6) == 0 ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
		const char *sl = strchr(canon, '/');
		o.cb = sl && strcmp(sl + 1, "simple") == 0 ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
	}
	char *hcopy = NULL;
	const char *list[DKIM_MAX_HNAMES + 1];
	if (hs) {
		size_t n = 0;
		hcopy = xstrdup(hs);
		for (char *p = strtok(hcopy, ":"); p && n < DKIM_MAX_HNAMES; p = strtok(NULL, ":"))
			list[n++] = p;
		list[n] = NULL;
		o.headers = list;
	}
	size_t len;
	uint8_t *msg = read_msg(&len);
	struct buf out;
	buf_init(&out, 0);
	int rv = dkim_sign(&o, msg, len, &out);
	if (rv) {
		fprintf(stderr, "dkimtool: sign: %s\n", mr_strerror(rv));
	} else {
		fwrite(out.p, 1, out.len, stdout);
		fwrite(msg, 1, len, stdout);
	}
	buf_free(&out);
	free(msg);
	free(hcopy);
	dkim_privkey_free(&k);
	return rv ? 1 : 0;
}

struct txts {
	int n;
	const char *name[MAX_TXT], *val[MAX_TXT];
	size_t name_len[MAX_TXT];
};

static int lookup(void *ud, const char *selector, const char *domain, char *txt_out, size_t cap)
{
	const struct txts *t = ud;
	char want[600];
	snprintf(want, sizeof want, "%s._domainkey.%s", selector, domain);
	for (int i = 0; i < t->n; i++) {
		if (strlen(want) != t->name_len[i] ||
		    mr_strncasecmp(want, t->name[i], t->name_len[i]))
			continue;
		if (strcmp(t->val[i], "TEMPFAIL") == 0)
			return MR_EIO;
		snprintf(txt_out, cap, "%s", t->val[i]);
		return 0;
	}
	return MR_ENOTFOUND;
}

static int cmd_verify(int argc, char **argv)
{
	struct txts t = {0};
	for (int i = 2; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--txt") != 0)
			continue;
		const char *eq = strchr(argv[i + 1], '=');
		if (!eq || t.n == MAX_TXT)
			return usage();
		t.name[t.n] = argv[i + 1];
		t.name_len[t.n] = (size_t)(eq - argv[i + 1]);
		t.val[t.n++] = eq + 1;
	}
	const char *nows = opt(argc, argv, "--now");
	int64_t now = nows ? atoll(nows) : (int64_t)time(NULL);
	size_t len, n = 0;
	uint8_t *msg = read_msg(&len);
	struct dkim_verdict v[DKIM_MAX_SIGS];
	int rv = dkim_verify(msg, len, lookup, &t, now, v, DKIM_MAX_SIGS, &n);
	free(msg);
	if (rv) {
		printf("permerror message: %s\n", mr_strerror(rv));
		return 1;
	}
	if (n == 0)
		printf("none\n");
	int bad = n == 0;
	for (size_t i = 0; i < n; i++) {
		printf("%s d=%s s=%s a=%s %s\n", dkim_result_str(v[i].result), v[i].d, v[i].s,
		       dkim_alg_str(v[i].alg), v[i].reason);
		bad |= v[i].result != DKIM_PASS;
	}
	if (opt_flag(argc, argv, "--ar")) {
		struct buf ar;
		buf_init(&ar, 0);
		(void)dkim_ar_append(v, n, &ar);
		printf("Authentication-Results: test; %s\n", (char *)ar.p);
		buf_free(&ar);
	}
	return bad;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
	    {"keygen", cmd_keygen},
	    {"txt", cmd_txt},
	    {"sign", cmd_sign},
	    {"verify", cmd_verify},
	};
	if (argc < 2)
		return usage();
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc, argv);
	return usage();
}
