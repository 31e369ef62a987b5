/* test_cluster_pki.c - the cluster PKI: a CA and two node certificates are created, written
 * with the right modes, loaded back and verified with OpenSSL (chain, key usage, both TLS
 * purposes, CN = node id, SAN = host); a certificate from another CA, a mismatched key, a
 * world-readable key file, bad ids/hosts and overwrites are refused. */
#include "unit.h"
#include "raft/cluster_pki.h"
#include "common/err.h"

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static char *path(const char *dir, const char *name)
{
	static char buf[4][512];
	static int i;
	char *p = buf[i++ % 4];
	snprintf(p, 512, "%s/%s", dir, name);
	return p;
}

static const char *subdir(const char *name)
{
	static char buf[4][512];
	static int i;
	char *p = buf[i++ % 4];
	snprintf(p, 512, "%s/%s", unit_tmpdir(), name);
	return p;
}

static unsigned mode_of(const char *p)
{
	struct stat st;
	ASSERT_OK(stat(p, &st));
	return (unsigned)(st.st_mode & 0777);
}

static X509 *parse(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	ASSERT(x != NULL);
	return x;
}

/* Independent verification with OpenSSL's own verifier (no code from cluster_pki.c). */
static void openssl_verify(const char *ca_pem, const char *cert_pem, const char *host)
{
	X509 *ca = parse(ca_pem), *x = parse(cert_pem);
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	ASSERT_EQ_INT(X509_STORE_add_cert(st, ca), 1);
	ASSERT_EQ_INT(X509_STORE_CTX_init(ctx, st, x, NULL), 1);
	ASSERT_EQ_INT(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT), 1);
	X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
	ASSERT_EQ_INT(X509_VERIFY_PARAM_set1_host(vp, host, 0), 1);
	ASSERT_EQ_INT(X509_verify_cert(ctx), 1);
	/* a P-256 ECDSA key, CA flag only on the CA, EKU both ways */
	EVP_PKEY *pk = X509_get0_pubkey(x);
	ASSERT(EVP_PKEY_is_a(pk, "EC"));
	ASSERT_EQ_INT(EVP_PKEY_get_bits(pk), 256);
	ASSERT_EQ_INT(X509_check_ca(ca) != 0, 1);
	ASSERT_EQ_INT(X509_check_ca(x), 0);
	ASSERT(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
	ASSERT(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
	/* the CA signature really is the CA's */
	ASSERT_EQ_INT(X509_verify(x, X509_get0_pubkey(ca)), 1);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(x);
	X509_free(ca);
}

static void test_ca_and_two_nodes(void)
{
	const char *ca = subdir("ca"), *n1 = subdir("n1"), *n2 = subdir("n2");
	ASSERT_OK(cl_pki_init_ca(ca));
	ASSERT_EQ_INT(mode_of(path(ca, CL_PKI_CA_KEY)), 0600);
	ASSERT_EQ_INT(mode_of(path(ca, CL_PKI_CA_CERT)), 0644);
	ASSERT_EQ_INT(mode_of(ca), 0700);
	/* never overwritten */
	ASSERT_ERR(cl_pki_init_ca(ca), MR_EEXIST);

	ASSERT_OK(cl_pki_issue(ca, 1, "127.0.0.1", n1));
	ASSERT_OK(cl_pki_issue(ca, 2, "node2.example.net", n2));
	ASSERT_EQ_INT(mode_of(path(n1, CL_PKI_NODE_KEY)), 0600);
	ASSERT_EQ_INT(mode_of(path(n1, CL_PKI_NODE_CERT)), 0644);
	ASSERT_EQ_INT(access(path(n1, CL_PKI_CA_KEY), F_OK), -1); /* CA key stays home */
	ASSERT_ERR(cl_pki_issue(ca, 1, "127.0.0.1", n1), MR_EEXIST);

	struct cl_pki p1 = {0}, p2 = {0};
	ASSERT_OK(cl_pki_load(n1, &p1));
	ASSERT_OK(cl_pki_load(n2, &p2));
	ASSERT_EQ_INT(p1.node_id, 1);
	ASSERT_EQ_INT(p2.node_id, 2);
	ASSERT_EQ_STR(p1.host, "127.0.0.1");
	ASSERT_EQ_STR(p2.host, "node2.example.net");
	ASSERT_EQ_STR(p1.ca_pem, p2.ca_pem);
	ASSERT(strstr(p1.key_pem, "BEGIN PRIVATE KEY") != NULL);
	openssl_verify(p1.ca_pem, p1.cert_pem, "127.0.0.1");
	openssl_verify(p2.ca_pem, p2.cert_pem, "node2.example.net");

	uint64_t id = 0;
	ASSERT_OK(cl_pki_verify(p1.ca_pem, p2.cert_pem, &id));
	ASSERT_EQ_INT(id, 2);
	/* node 2's key does not match node 1's certificate */
	struct cl_pki mix = {0};
	ASSERT_ERR(cl_pki_from_pem(p1.ca_pem, p1.cert_pem, p2.key_pem, &mix), MR_EAUTH);
	/* a node certificate is no CA */
	ASSERT_ERR(cl_pki_verify(p1.cert_pem, p2.cert_pem, NULL), MR_EAUTH);

	char f1[CL_PKI_FPR_LEN + 1], f2[CL_PKI_FPR_LEN + 1];
	ASSERT_OK(cl_pki_fingerprint(p1.ca_pem, f1));
	ASSERT_OK(cl_pki_fingerprint(p1.cert_pem, f2));
	ASSERT_EQ_INT(strlen(f1), CL_PKI_FPR_LEN);
	ASSERT(strcmp(f1, f2) != 0);
	ASSERT_ERR(cl_pki_fingerprint("garbage", f1), MR_ECORRUPT);
	cl_pki_free(&p1);
	cl_pki_free(&p2);
	cl_pki_free(&p2); /* idempotent */
}

static void test_first_node_same_dir(void)
{
	const char *d = subdir("first");
	ASSERT_OK(cl_pki_init_ca(d));
	ASSERT_OK(cl_pki_issue(d, 7, "mx1.example.org", d));
	struct cl_pki p = {0};
	ASSERT_OK(cl_pki_load(d, &p));
	ASSERT_EQ_INT(p.node_id, 7);
	cl_pki_free(&p);
}

static void test_issue_in_memory_then_write(void)
{
	const char *ca = subdir("ca"), *n = subdir("joined");
	ASSERT_OK(cl_pki_init_ca(ca));
	struct cl_pki p = {0}, q = {0};
	ASSERT_OK(cl_pki_issue_pem(ca, 3, "::1", &p));
	ASSERT_EQ_INT(p.node_id, 3);
	ASSERT_EQ_STR(p.host, "::1");
	ASSERT_EQ_INT(access(n, F_OK), -1); /* nothing written yet */
	ASSERT_OK(cl_pki_write(&p, n));
	ASSERT_OK(cl_pki_load(n, &q));
	ASSERT_EQ_STR(q.cert_pem, p.cert_pem);
	ASSERT_EQ_STR(q.key_pem, p.key_pem);
	cl_pki_free(&p);
	cl_pki_free(&q);
}

static void test_foreign_ca_refused(void)
{
	const char *a = subdir("ca_a"), *b = subdir("ca_b");
	ASSERT_OK(cl_pki_init_ca(a));
	ASSERT_OK(cl_pki_init_ca(b));
	struct cl_pki pa = {0}, pb = {0}, out = {0};
	ASSERT_OK(cl_pki_issue_pem(a, 1, "127.0.0.1", &pa));
	ASSERT_OK(cl_pki_issue_pem(b, 1, "127.0.0.1", &pb));
	ASSERT(strcmp(pa.ca_pem, pb.ca_pem) != 0);
	ASSERT_ERR(cl_pki_verify(pa.ca_pem, pb.cert_pem, NULL), MR_EAUTH);
	ASSERT_ERR(cl_pki_from_pem(pa.ca_pem, pb.cert_pem, pb.key_pem, &out), MR_EAUTH);
	/* writing credentials that do not chain is refused before touching the disk */
	struct cl_pki bad = {pa.ca_pem, pb.cert_pem, pb.key_pem, 1, ""};
	ASSERT_ERR(cl_pki_write(&bad, subdir("bad")), MR_EAUTH);
	ASSERT_EQ_INT(access(subdir("bad"), F_OK), -1);
	cl_pki_free(&pa);
	cl_pki_free(&pb);
}

static void test_bad_input(void)
{
	const char *ca = subdir("ca");
	struct cl_pki p = {0};
	ASSERT_ERR(cl_pki_issue_pem(ca, 1, "127.0.0.1", &p), MR_ENOTFOUND);
	ASSERT_OK(cl_pki_init_ca(ca));
	ASSERT_ERR(cl_pki_issue_pem(ca, 0, "127.0.0.1", &p), MR_EINVAL);
	ASSERT_ERR(cl_pki_issue_pem(ca, 1, "", &p), MR_EINVAL);
	ASSERT_ERR(cl_pki_issue_pem(ca, 1, "a b", &p), MR_EINVAL);
	ASSERT_ERR(cl_pki_issue_pem(ca, 1, "x,DNS:evil", &p), MR_EINVAL);
	char long_host[300];
	memset(long_host, 'a', sizeof long_host - 1);
	long_host[sizeof long_host - 1] = '\0';
	ASSERT_ERR(cl_pki_issue_pem(ca, 1, long_host, &p), MR_EINVAL);
	ASSERT_ERR(cl_pki_load(subdir("nothing"), &p), MR_ENOTFOUND);
	ASSERT_ERR(cl_pki_verify("not a pem", "neither", NULL), MR_ECORRUPT);

	/* a key file that others can read is refused */
	const char *n = subdir("n");
	ASSERT_OK(cl_pki_issue(ca, 5, "localhost", n));
	ASSERT_OK(chmod(path(n, CL_PKI_NODE_KEY), 0644));
	ASSERT_ERR(cl_pki_load(n, &p), MR_EPERM);
	ASSERT_OK(chmod(path(n, CL_PKI_NODE_KEY), 0600));
	ASSERT_OK(cl_pki_load(n, &p));
	cl_pki_free(&p);
	/* a corrupted certificate file */
	FILE *f = fopen(path(n, CL_PKI_NODE_CERT), "w");
	ASSERT(f != NULL);
	fputs("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	ASSERT_ERR(cl_pki_load(n, &p), MR_ECORRUPT);
}

static const struct unit_test tests[] = {
    {"ca_and_two_nodes", test_ca_and_two_nodes},
    {"first_node_same_dir", test_first_node_same_dir},
    {"issue_in_memory_then_write", test_issue_in_memory_then_write},
    {"foreign_ca_refused", test_foreign_ca_refused},
    {"bad_input", test_bad_input},
    {0},
};
UNIT_MAIN(tests)
