/* tls.c - server TLS context (OpenSSL 3): TLS 1.2 minimum, forward-secret AEAD ciphers only,
 * server cipher preference, no compression, no renegotiation, small idle buffers. A missing
 * certificate is replaced by a self-signed ECDSA P-256 one (widest client support; nng can load
 * it too) written 0600 into the data directory. */
#include "tls.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static SSL_CTX *cur;
static char cert_path[1100], key_path[1100];

static void set_err(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_get_error();
	snprintf(err, errlen, "%s %s: %s", what, path, e ? ERR_reason_error_string(e) : "failed");
	ERR_clear_error();
}

static int write_pem(const char *path, int is_key, EVP_PKEY *pk, X509 *x)
{
	FILE *f = fopen(path, "wx");
	if (!f)
		return MR_EIO;
	fchmod(fileno(f), is_key ? 0600 : 0644);
	int ok = is_key ? PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL)
			: PEM_write_X509(f, x);
	if (fclose(f) != 0 || !ok)
		return MR_EIO;
	return 0;
}

static int generate(const char *hostname, char *err, size_t errlen)
{
	int rv = MR_ETLS;
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	if (!pk || !x)
		goto out;
	X509_set_version(x, 2);
	unsigned char serial[16];
	FILE *r = fopen("/dev/urandom", "rb");
	if (!r || fread(serial, 1, sizeof serial, r) != sizeof serial) {
		if (r)
			fclose(r);
		goto out;
	}
	fclose(r);
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 825);
	X509_set_pubkey(x, pk);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
				   -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
				   (const unsigned char *)"mailraft self-signed", -1, -1, 0);
	X509_set_issuer_name(x, name);
	char san[600];
	if (strcmp(hostname, "localhost") == 0)
		snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1,IP:::1");
	else
		snprintf(san, sizeof san, "DNS:localhost,DNS:%s,IP:127.0.0.1,IP:::1", hostname);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	if (!ext)
		goto out;
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!X509_sign(x, pk, EVP_sha256()))
		goto out;
	if (write_pem(key_path, 1, pk, NULL) || write_pem(cert_path, 0, NULL, x)) {
		snprintf(err, errlen, "cannot write %s / %s", key_path, cert_path);
		goto out;
	}
	log_info("tls", "generated a self-signed certificate path=%s", cert_path);
	rv = 0;
out:
	if (rv && !err[0])
		set_err(err, errlen, "generating certificate", cert_path);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rv;
}

static SSL_CTX *make_ctx(char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
					 SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!MD5:!DSS");
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
		set_err(err, errlen, "loading certificate", cert_path);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		set_err(err, errlen, "loading private key", key_path);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_init(const char *cert, const char *key, const char *gen_dir, const char *hostname,
	     char *err, size_t errlen)
{
	err[0] = 0;
	if (cert[0] || key[0]) {
		if (!cert[0] || !key[0]) {
			snprintf(err, errlen, "tls_cert and tls_key must be set together");
			return MR_ETLS;
		}
		snprintf(cert_path, sizeof cert_path, "%s", cert);
		snprintf(key_path, sizeof key_path, "%s", key);
	} else {
		mkdir(gen_dir, 0700);
		snprintf(cert_path, sizeof cert_path, "%s/cert.pem", gen_dir);
		snprintf(key_path, sizeof key_path, "%s/key.pem", gen_dir);
		struct stat st;
		if (stat(cert_path, &st) != 0 || stat(key_path, &st) != 0) {
			remove(cert_path);
			remove(key_path);
			if (generate(hostname, err, errlen) != 0)
				return MR_ETLS;
		}
	}
	SSL_CTX *ctx = make_ctx(err, errlen);
	if (!ctx)
		return MR_ETLS;
	cur = ctx;
	return 0;
}

int tls_reload(char *err, size_t errlen)
{
	err[0] = 0;
	SSL_CTX *ctx = make_ctx(err, errlen);
	if (!ctx)
		return MR_ETLS;
	SSL_CTX_free(cur); /* live SSL objects hold their own reference */
	cur = ctx;
	return 0;
}

SSL_CTX *tls_ctx(void)
{
	return cur;
}

void tls_fini(void)
{
	SSL_CTX_free(cur);
	cur = NULL;
}
