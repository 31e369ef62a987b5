/* cluster_pki.h - the cluster's private PKI (replication.md §4, issue 3 §1 and §6).
 *
 * A cluster has one certificate authority: an ECDSA P-256 key and a self-signed certificate
 * (CN "mailraft cluster CA <random hex>", 100 years). Every node has its own ECDSA P-256 key
 * and a certificate signed by that CA whose subject CN is the decimal raft id of the node and
 * whose subjectAltName holds the host part of the node's address (DNS:<host>, plus IP:<host>
 * for an IP literal), with extendedKeyUsage serverAuth+clientAuth: the same certificate serves
 * both ends of the mutual TLS used between nodes. P-256, not Ed25519: nng 1.5.2 uses mbedTLS
 * 2.28, which has no Ed25519. Keys are unencrypted PKCS#8 PEM written 0600 (the data directory
 * is the trust boundary, as for the master key); certificates are 0644. Files are written
 * atomically (tmp + fsync + rename + fsync of the directory) and never overwritten: issuing into
 * a directory that already holds a node key answers MR_EEXIST. The in-memory form
 * (struct cl_pki) is what the transport consumes (nng_tls_config_own_cert/ca_chain take PEM
 * strings, so no combined cert+key file is needed). Used by `mailraftctl cluster init|join`. */
#ifndef MR_CLUSTER_PKI_H
#define MR_CLUSTER_PKI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CL_PKI_CA_CERT "ca.crt" /* file names inside a PKI directory */
#define CL_PKI_CA_KEY "ca.key"
#define CL_PKI_NODE_CERT "node.crt"
#define CL_PKI_NODE_KEY "node.key"
#define CL_PKI_HOST_MAX 253  /* longest host name (RFC 1035 §2.3.4, textual form) */
#define CL_PKI_PEM_MAX 65536 /* largest PEM file accepted when loading */
#define CL_PKI_FPR_LEN 64    /* hex SHA-256 fingerprint, without NUL */

/* One node's credentials, all PEM text (NUL-terminated, heap). */
struct cl_pki {
	char *ca_pem;                   /* the cluster CA certificate */
	char *cert_pem;                 /* this node's certificate, signed by the CA */
	char *key_pem;                  /* this node's private key (secret: wiped by cl_pki_free) */
	uint64_t node_id;               /* from the certificate's CN */
	char host[CL_PKI_HOST_MAX + 1]; /* first DNS subjectAltName */
};

/* Create a new cluster CA in dir (created 0700 if missing): dir/ca.key (0600) and dir/ca.crt.
 * MR_EEXIST if dir already holds a CA key or certificate, MR_EIO on file errors, MR_ETLS if
 * OpenSSL fails. */
int cl_pki_init_ca(const char *dir);

/* Issue a fresh key and certificate for node_id (>= 1) reachable at host (a DNS name or an IP
 * literal without brackets, 1..CL_PKI_HOST_MAX bytes of [A-Za-z0-9.:-]), signed by the CA in
 * ca_dir. Fills *pki_r (CA certificate included) in memory only; release with cl_pki_free.
 * MR_EINVAL on a bad id or host, MR_ENOTFOUND / MR_EIO / MR_ECORRUPT if the CA cannot be read,
 * MR_ETLS if OpenSSL fails. Used by `cluster join`, which ships the result to the new node. */
int cl_pki_issue_pem(const char *ca_dir, uint64_t node_id, const char *host, struct cl_pki *pki_r);

/* Write pki into dir (created 0700 if missing): ca.crt, node.crt and node.key (0600). The
 * material is validated first (cl_pki_from_pem rules). MR_EEXIST if dir already holds a node
 * key or certificate (a node's identity is never replaced silently). */
int cl_pki_write(const struct cl_pki *pki, const char *dir);

/* cl_pki_issue_pem + cl_pki_write: issue node_id's credentials from ca_dir into out_dir
 * (which may be ca_dir itself, as on the first node). */
int cl_pki_issue(const char *ca_dir, uint64_t node_id, const char *host, const char *out_dir);

/* Build *pki_r from PEM text: the certificate must chain to the CA (X509_verify_cert, both TLS
 * purposes), the key must match it and be P-256, and the CN must be a node id. Copies the
 * strings. MR_ECORRUPT for unparsable PEM, MR_EAUTH when the chain or the key does not match. */
int cl_pki_from_pem(const char *ca_pem, const char *cert_pem, const char *key_pem,
                    struct cl_pki *pki_r);

/* Read dir/ca.crt, dir/node.crt and dir/node.key and check them as cl_pki_from_pem does.
 * MR_ENOTFOUND if a file is missing, MR_EPERM if node.key is readable by group or others. */
int cl_pki_load(const char *dir, struct cl_pki *pki_r);

/* Check that cert_pem is a node certificate signed by ca_pem, returning its node id in
 * *node_id_r (may be NULL). 0, MR_ECORRUPT or MR_EAUTH. */
int cl_pki_verify(const char *ca_pem, const char *cert_pem, uint64_t *node_id_r);

/* Hex SHA-256 of the DER form of the first certificate in pem (lower case, NUL-terminated):
 * what an operator compares when pinning a cluster CA on `cluster join`. 0 or MR_ECORRUPT. */
int cl_pki_fingerprint(const char *pem, char out[CL_PKI_FPR_LEN + 1]);

/* Read the PEM file dir/name (at most CL_PKI_PEM_MAX bytes, a regular file, not a symlink)
 * into a NUL-terminated heap string (*text_r; wipe it if secret). secret: refuse a file readable
 * by group or others (MR_EPERM). 0, MR_ENOTFOUND, MR_ECORRUPT (empty or too big), MR_EIO. */
int cl_pki_read(const char *dir, const char *name, bool secret, char **text_r);

/* Release the strings of pki (the key is wiped first); safe on a zeroed or freed struct. */
void cl_pki_free(struct cl_pki *pki);

#endif
