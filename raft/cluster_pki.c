/* cluster_pki.c - the cluster CA and node certificates with OpenSSL 3 (see cluster_pki.h).
 *
 * Keys come from EVP_PKEY_Q_keygen("EC", "P-256"); certificates are X.509 v3 with random
 * 127-bit serial numbers, notBefore one hour in the past (clock skew between nodes), SHA-256
 * ECDSA signatures and the extensions RFC 5280 §4.2 asks for (CA: basicConstraints critical
 * CA:TRUE, keyUsage keyCertSign+cRLSign; node: CA:FALSE, keyUsage digitalSignature,
 * extendedKeyUsage serverAuth+clientAuth, subjectAltName, key identifiers). Files are created
 * next to their final name and hard-linked into place, so an existing file is never replaced
 * (link(2) fails with EEXIST) and a crash never leaves a half-written key. */
#include "raft/cluster_pki.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define COMPONENT "cluster"
#define CA_DAYS 36500L   /* 100 years: the CA is never rotated automatically */
#define NODE_DAYS 18250L /* 50 years */

/* ---- files ---- */

static int ensure_dir(const char *dir)
{
	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	log_error(COMPONENT, "mkdir failed path=%s err=%s", dir, strerror(errno));
	return MR_EIO;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return MR_EIO;
	int rv = fsync(fd) == 0 ? 0 : MR_EIO;
	close(fd);
	return rv;
}

/* Create dir/name with mode holding text; MR_EEXIST if it exists. */
static int file_create(const char *dir, const char *name, const char *text, mode_t mode)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *tmp = xasprintf("%s/.%s.tmp.%ld", dir, name, (long)getpid());
	int rv = MR_EIO;
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		log_error(COMPONENT, "create failed path=%s err=%s", tmp, strerror(errno));
		goto out;
	}
	size_t left = strlen(text);
	const char *p = text;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out_unlink;
		p += n;
		left -= (size_t)n;
	}
	if (fchmod(fd, mode) != 0 || fsync(fd) != 0)
		goto out_unlink;
	close(fd);
	fd = -1;
	if (link(tmp, path) != 0) {
		rv = errno == EEXIST ? MR_EEXIST : MR_EIO;
		if (rv == MR_EIO)
			log_error(COMPONENT, "link failed path=%s err=%s", path, strerror(errno));
		goto out_unlink;
	}
	rv = 0;
out_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	if (rv == 0)
		rv = fsync_dir(dir);
out:
	free(tmp);
	free(path);
	return rv;
}

int cl_pki_read(const char *dir, const char *name, bool secret, char **text_r)
{
	char *path = xasprintf("%s/%s", dir, name);
	int rv = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rv = errno == ENOENT ? MR_ENOTFOUND : MR_EIO;
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rv = MR_EIO;
		goto out_close;
	}
	if (secret && (st.st_mode & 077) != 0) {
		log_error(COMPONENT, "key file readable by others path=%s mode=%o", path,
		          (unsigned)(st.st_mode & 0777));
		rv = MR_EPERM;
		goto out_close;
	}
	if (st.st_size <= 0 || st.st_size > CL_PKI_PEM_MAX) {
		rv = MR_ECORRUPT;
		goto out_close;
	}
	size_t len = (size_t)st.st_size, got = 0;
	char *buf = xmalloc(len + 1);
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != len) {
		mr_memzero(buf, len);
		free(buf);
		rv = MR_EIO;
		goto out_close;
	}
	buf[len] = '\0';
	*text_r = buf;
out_close:
	close(fd);
out:
	free(path);
	return rv;
}

static void secret_free(char *s)
{
	if (s) {
		mr_memzero(s, strlen(s));
		free(s);
	}
}

/* ---- PEM <-> objects ---- */

static X509 *cert_parse(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	if (!b)
		return NULL;
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	return x;
}

static EVP_PKEY *key_parse(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	if (!b)
		return NULL;
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	return k;
}

/* PEM text of a certificate (key == NULL) or of a private key as PKCS#8. */
static char *pem_text(X509 *x, EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *out = NULL;
	if (!b)
		return NULL;
	int ok = x ? PEM_write_bio_X509(b, x)
	           : PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
	if (ok == 1) {
		char *data = NULL;
		long n = BIO_get_mem_data(b, &data);
		if (n > 0)
			out = xstrndup(data, (size_t)n);
	}
	BIO_free(b); /* BUF_MEM_free clears the buffer (OPENSSL_clear_free) */
	return out;
}

static bool key_is_p256(EVP_PKEY *k)
{
	char group[32];
	size_t len = 0;
	return EVP_PKEY_is_a(k, "EC") &&
	       EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof group, &len) == 1 &&
	       strcmp(group, "prime256v1") == 0;
}

/* ---- certificate construction ---- */

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (!ext)
		return MR_ETLS;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : MR_ETLS;
}

static int set_serial(X509 *x)
{
	unsigned char rnd[16];
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return MR_ETLS;
	rnd[0] = (unsigned char)((rnd[0] & 0x7f) | 0x40); /* positive, 16 significant bytes */
	BIGNUM *bn = BN_bin2bn(rnd, sizeof rnd, NULL);
	int rv = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ? 0 : MR_ETLS;
	BN_free(bn);
	return rv;
}

/* A v3 certificate for key with subject CN=cn, valid for days, not yet signed. */
static X509 *cert_new(EVP_PKEY *key, const char *cn, long days)
{
	X509 *x = X509_new();
	if (!x)
		return NULL;
	X509_NAME *name = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 || set_serial(x) != 0 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"mailraft",
	                               -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	                               0) != 1 ||
	    X509_set_pubkey(x, key) != 1) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static bool host_valid(const char *host)
{
	size_t n = host ? strlen(host) : 0;
	if (n == 0 || n > CL_PKI_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = host[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == ':'))
			return false;
	}
	return true;
}

int cl_pki_init_ca(const char *dir)
{
	int rv = ensure_dir(dir);
	if (rv != 0)
		return rv;
	char *probe = xasprintf("%s/%s", dir, CL_PKI_CA_CERT);
	bool exists = access(probe, F_OK) == 0;
	free(probe);
	if (exists)
		return MR_EEXIST;

	rv = MR_ETLS;
	char *cert_pem = NULL, *key_pem = NULL;
	X509 *x = NULL;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!key)
		goto out;
	unsigned char rnd[8];
	char cn[64];
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		goto out;
	snprintf(cn, sizeof cn, "mailraft cluster CA %02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
	         rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	x = cert_new(key, cn, CA_DAYS);
	if (!x || X509_set_issuer_name(x, X509_get_subject_name(x)) != 1)
		goto out;
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") != 0 ||
	    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0 ||
	    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") != 0)
		goto out;
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		goto out;
	cert_pem = pem_text(x, NULL);
	key_pem = pem_text(NULL, key);
	if (!cert_pem || !key_pem)
		goto out;
	/* key first: a certificate without its key is useless, the reverse is recoverable */
	rv = file_create(dir, CL_PKI_CA_KEY, key_pem, 0600);
	if (rv == 0)
		rv = file_create(dir, CL_PKI_CA_CERT, cert_pem, 0644);
	if (rv == 0)
		log_info(COMPONENT, "cluster CA created dir=%s", dir);
out:
	if (rv == MR_ETLS)
		log_error(COMPONENT, "CA creation failed (OpenSSL)");
	secret_free(key_pem);
	free(cert_pem);
	X509_free(x);
	EVP_PKEY_free(key);
	return rv;
}

int cl_pki_issue_pem(const char *ca_dir, uint64_t node_id, const char *host, struct cl_pki *pki_r)
{
	if (node_id == 0 || !host_valid(host))
		return MR_EINVAL;
	char *ca_pem = NULL, *ca_key_pem = NULL;
	int rv = cl_pki_read(ca_dir, CL_PKI_CA_CERT, false, &ca_pem);
	if (rv == 0)
		rv = cl_pki_read(ca_dir, CL_PKI_CA_KEY, true, &ca_key_pem);
	if (rv != 0) {
		free(ca_pem);
		return rv;
	}
	X509 *ca = cert_parse(ca_pem), *x = NULL;
	EVP_PKEY *ca_key = key_parse(ca_key_pem), *key = NULL;
	char *cert_pem = NULL, *key_pem = NULL;
	rv = MR_ECORRUPT;
	if (!ca || !ca_key || X509_check_private_key(ca, ca_key) != 1)
		goto out;
	rv = MR_ETLS;
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!key)
		goto out;
	char cn[24], san[2 * CL_PKI_HOST_MAX + 16];
	snprintf(cn, sizeof cn, "%llu", (unsigned long long)node_id);
	unsigned char ip[16];
	if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
		/* the DNS: form too: mbedTLS 2.28 matches the server name only against dNSName */
		snprintf(san, sizeof san, "DNS:%s,IP:%s", host, host);
	else
		snprintf(san, sizeof san, "DNS:%s", host);
	x = cert_new(key, cn, NODE_DAYS);
	if (!x || X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1)
		goto out;
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") != 0 ||
	    add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") != 0 ||
	    add_ext(x, &ctx, NID_subject_alt_name, san) != 0 ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash") != 0 ||
	    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") != 0)
		goto out;
	if (X509_sign(x, ca_key, EVP_sha256()) <= 0)
		goto out;
	cert_pem = pem_text(x, NULL);
	key_pem = pem_text(NULL, key);
	if (!cert_pem || !key_pem)
		goto out;
	rv = cl_pki_from_pem(ca_pem, cert_pem, key_pem, pki_r);
out:
	if (rv == MR_ETLS)
		log_error(COMPONENT, "certificate issue failed (OpenSSL) node=%llu",
		          (unsigned long long)node_id);
	secret_free(key_pem);
	secret_free(ca_key_pem);
	free(cert_pem);
	free(ca_pem);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return rv;
}

int cl_pki_write(const struct cl_pki *pki, const char *dir)
{
	struct cl_pki check = {0};
	int rv = cl_pki_from_pem(pki->ca_pem, pki->cert_pem, pki->key_pem, &check);
	cl_pki_free(&check);
	if (rv != 0)
		return rv;
	if ((rv = ensure_dir(dir)) != 0)
		return rv;
	char *probe = xasprintf("%s/%s", dir, CL_PKI_NODE_CERT);
	bool exists = access(probe, F_OK) == 0;
	free(probe);
	if (exists)
		return MR_EEXIST;
	rv = file_create(dir, CL_PKI_NODE_KEY, pki->key_pem, 0600);
	if (rv == 0)
		rv = file_create(dir, CL_PKI_NODE_CERT, pki->cert_pem, 0644);
	if (rv == 0) {
		/* the CA certificate may already be there (first node: same directory) */
		rv = file_create(dir, CL_PKI_CA_CERT, pki->ca_pem, 0644);
		if (rv == MR_EEXIST) {
			char *have = NULL;
			rv = cl_pki_read(dir, CL_PKI_CA_CERT, false, &have);
			if (rv == 0 && strcmp(have, pki->ca_pem) != 0)
				rv = MR_EEXIST;
			free(have);
		}
	}
	return rv;
}

int cl_pki_issue(const char *ca_dir, uint64_t node_id, const char *host, const char *out_dir)
{
	struct cl_pki pki = {0};
	int rv = cl_pki_issue_pem(ca_dir, node_id, host, &pki);
	if (rv == 0)
		rv = cl_pki_write(&pki, out_dir);
	if (rv == 0)
		log_info(COMPONENT, "node certificate issued node=%llu host=%s dir=%s",
		         (unsigned long long)node_id, host, out_dir);
	cl_pki_free(&pki);
	return rv;
}

/* ---- checks ---- */

static int cert_node_id(X509 *x, uint64_t *id_r)
{
	char cn[32];
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
	uint64_t id = 0;
	if (n <= 0 || mr_parse_u64(cn, (size_t)n, UINT64_MAX, &id) != 0 || id == 0)
		return MR_EAUTH;
	*id_r = id;
	return 0;
}

static void cert_host(X509 *x, char host[CL_PKI_HOST_MAX + 1])
{
	host[0] = '\0';
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type != GEN_DNS)
			continue;
		int len = ASN1_STRING_length(g->d.dNSName);
		if (len > 0 && len <= CL_PKI_HOST_MAX) {
			memcpy(host, ASN1_STRING_get0_data(g->d.dNSName), (size_t)len);
			host[len] = '\0';
			break;
		}
	}
	GENERAL_NAMES_free(names);
}

/* Verify x against the trust anchor ca for one TLS purpose. */
static bool chain_ok(X509 *ca, X509 *x, int purpose)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = false;
	if (st && ctx && X509_STORE_add_cert(st, ca) == 1 &&
	    X509_STORE_CTX_init(ctx, st, x, NULL) == 1 &&
	    X509_STORE_CTX_set_purpose(ctx, purpose) == 1) {
		ok = X509_verify_cert(ctx) == 1;
		if (!ok)
			log_warn(COMPONENT, "certificate rejected reason=\"%s\"",
			         X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ok;
}

/* Parse and verify; on success *x_r holds the node certificate (caller frees). */
static int verify(const char *ca_pem, const char *cert_pem, X509 **x_r, uint64_t *id_r)
{
	if (!ca_pem || !cert_pem)
		return MR_EINVAL;
	X509 *ca = cert_parse(ca_pem), *x = cert_parse(cert_pem);
	int rv = MR_ECORRUPT;
	if (!ca || !x)
		goto out;
	rv = MR_EAUTH;
	if (X509_check_ca(ca) == 0 || !chain_ok(ca, x, X509_PURPOSE_SSL_SERVER) ||
	    !chain_ok(ca, x, X509_PURPOSE_SSL_CLIENT))
		goto out;
	if ((rv = cert_node_id(x, id_r)) != 0)
		goto out;
	*x_r = x;
	x = NULL;
out:
	X509_free(x);
	X509_free(ca);
	return rv;
}

int cl_pki_verify(const char *ca_pem, const char *cert_pem, uint64_t *node_id_r)
{
	X509 *x = NULL;
	uint64_t id = 0;
	int rv = verify(ca_pem, cert_pem, &x, &id);
	X509_free(x);
	if (rv == 0 && node_id_r)
		*node_id_r = id;
	return rv;
}

int cl_pki_from_pem(const char *ca_pem, const char *cert_pem, const char *key_pem,
                    struct cl_pki *pki_r)
{
	X509 *x = NULL;
	uint64_t id = 0;
	if (!key_pem)
		return MR_EINVAL;
	int rv = verify(ca_pem, cert_pem, &x, &id);
	if (rv != 0)
		return rv;
	EVP_PKEY *key = key_parse(key_pem);
	if (!key) {
		rv = MR_ECORRUPT;
	} else if (!key_is_p256(key) || X509_check_private_key(x, key) != 1) {
		rv = MR_EAUTH;
	} else {
		memset(pki_r, 0, sizeof *pki_r);
		pki_r->ca_pem = xstrdup(ca_pem);
		pki_r->cert_pem = xstrdup(cert_pem);
		pki_r->key_pem = xstrdup(key_pem);
		pki_r->node_id = id;
		cert_host(x, pki_r->host);
	}
	EVP_PKEY_free(key);
	X509_free(x);
	return rv;
}

int cl_pki_load(const char *dir, struct cl_pki *pki_r)
{
	char *ca = NULL, *cert = NULL, *key = NULL;
	int rv = cl_pki_read(dir, CL_PKI_CA_CERT, false, &ca);
	if (rv == 0)
		rv = cl_pki_read(dir, CL_PKI_NODE_CERT, false, &cert);
	if (rv == 0)
		rv = cl_pki_read(dir, CL_PKI_NODE_KEY, true, &key);
	if (rv == 0)
		rv = cl_pki_from_pem(ca, cert, key, pki_r);
	if (rv != 0)
		log_error(COMPONENT, "cluster credentials not usable dir=%s err=%s", dir,
		          mr_strerror(rv));
	secret_free(key);
	free(cert);
	free(ca);
	return rv;
}

int cl_pki_fingerprint(const char *pem, char out[CL_PKI_FPR_LEN + 1])
{
	X509 *x = pem ? cert_parse(pem) : NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	int rv = MR_ECORRUPT;
	if (x && X509_digest(x, EVP_sha256(), md, &n) == 1 && n * 2 == CL_PKI_FPR_LEN) {
		for (unsigned i = 0; i < n; i++)
			snprintf(out + 2 * i, 3, "%02x", md[i]);
		rv = 0;
	}
	X509_free(x);
	return rv;
}

void cl_pki_free(struct cl_pki *pki)
{
	secret_free(pki->key_pem);
	free(pki->cert_pem);
	free(pki->ca_pem);
	pki->key_pem = pki->cert_pem = pki->ca_pem = NULL;
}
