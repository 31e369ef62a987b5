/* tls.h - the server TLS context: TLS 1.2+, modern ciphers, certificate from files or a
 * self-signed ECDSA P-256 certificate generated on first start; reloaded on SIGHUP. */
#ifndef MR_TLS_H
#define MR_TLS_H
#include <stddef.h>
#include <openssl/ssl.h>

/* Load cert/key (PEM). When both paths are empty, use (and create if missing)
 * <gen_dir>/cert.pem and <gen_dir>/key.pem for CN=hostname, SAN localhost + 127.0.0.1.
 * 0 or MR_ETLS with a message in err. */
int tls_init(const char *cert, const char *key, const char *gen_dir, const char *hostname,
	     char *err, size_t errlen);
/* Reload from the same files; on failure keep the old context (returns MR_ETLS). */
int tls_reload(char *err, size_t errlen);
/* The current context (NULL before tls_init). Connections keep their own reference. */
SSL_CTX *tls_ctx(void);
void tls_fini(void);

#endif
