/* conn.h - one client connection on the libuv loop, with optional TLS through OpenSSL memory
 * BIOs. The protocol pulls decrypted input (conn_getline / conn_read) from on_input and writes
 * replies with conn_write / conn_printf. Everything here runs on the loop thread.
 *
 * Lifetime: the connection object lives until on_close has returned. A protocol that hands work
 * to another thread calls conn_hold() first and conn_release() in its completion; a connection
 * closed meanwhile is freed only after the last release (check conn_closing() there).
 */
#ifndef MR_CONN_H
#define MR_CONN_H
#include <stddef.h>
#include <stdbool.h>
#include "common/buf.h"

struct conn;

enum conn_tls { CONN_TLS_NONE, CONN_TLS_STARTTLS, CONN_TLS_IMPLICIT };

struct proto_ops {
	const char *name; /* "smtp", "imap", "pop3" */
	/* Connection accepted (and, for implicit TLS, before the handshake: writes are queued
	 * and sent once TLS is up). Typically allocates the session, sends the greeting. */
	void (*on_open)(struct conn *c);
	/* New input is buffered (or conn_resume was called with input buffered). Pull with
	 * conn_getline / conn_read until they return 0 or the protocol pauses. */
	void (*on_input)(struct conn *c);
	/* The connection is gone (peer closed, error, timeout or conn_close). Free the session
	 * here unless holds are pending (then free it when conn_closing() in the last callback). */
	void (*on_close)(struct conn *c);
	/* Idle timeout expired: write a goodbye if the protocol has one; conn closes afterwards. */
	void (*on_timeout)(struct conn *c);
};

/* Pull one line ending in LF (CRLF or bare LF stripped) into out (reset first; NUL-terminated).
 * Returns 1 when a line is ready, 0 when more input is needed, MR_ETOOBIG when the line exceeds
 * out->max (the rest of that line is discarded as it arrives; the next call continues after it). */
int conn_getline(struct conn *c, struct buf *out);
/* Take up to n raw bytes of buffered input into dst. Returns the count (0: none buffered). */
size_t conn_read(struct conn *c, void *dst, size_t n);
/* Bytes buffered and not yet pulled. */
size_t conn_pending(struct conn *c);

/* Queue bytes for the peer (encrypted when TLS is on). Never blocks. */
void conn_write(struct conn *c, const void *p, size_t n);
void conn_puts(struct conn *c, const char *s);
void conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes queued to the kernel but not yet written (for back-pressure on big FETCH/RETR). */
size_t conn_write_queued(struct conn *c);

/* Start TLS on a STARTTLS port. Call right after queueing the plaintext "go ahead" reply; any
 * plaintext input already buffered is discarded (RFC 3207 §4.2 command injection). Returns 0 or
 * MR_ETLS (no TLS configured / already on). */
int conn_starttls(struct conn *c);
bool conn_is_tls(struct conn *c);
enum conn_tls conn_tls_mode(struct conn *c); /* the listener's mode */

/* A stream filter between the protocol and the transport (e.g. IMAP COMPRESS=DEFLATE, RFC 4978):
 * input is passed through in() after TLS decryption and before buffering for conn_getline /
 * conn_read; output through out() at flush time, before TLS encryption. Both run on the loop.
 *   in:  transform src[0..n) (n may be 0: emit output still pending inside the filter) and
 *        append at most max_out bytes to dst. Returns the number of src bytes consumed (the rest
 *        is offered again later, once the protocol has drained its input) or < 0 on a fatal
 *        error (the connection is closed). Producing nothing while consuming nothing means
 *        "need more input".
 *   out: transform src[0..n) (one flush batch, n > 0) and append everything to dst; the batch
 *        must be decodable by the peer on its own (e.g. Z_SYNC_FLUSH). Returns 0 or < 0 (close).
 *   free: release ctx (called when the connection is freed).
 * Input still waiting for the filter is bounded like the plain input buffer, so a filter that
 * expands (inflate) cannot make the connection buffer more than a fixed amount. */
struct conn_filter {
	long (*in)(void *ctx, const uint8_t *src, size_t n, struct buf *dst, size_t max_out);
	int (*out)(void *ctx, const uint8_t *src, size_t n, struct buf *dst);
	void (*free)(void *ctx);
};
/* Install f (with ctx) on c, once. Output queued so far is flushed unfiltered first (the
 * protocol's "OK, compression starts now" reply); pre[0..npre) (input the protocol already took
 * but that belongs after the switch) and then any input still buffered in c are re-fed through
 * the filter. Returns 0, or MR_EINVAL if a filter is already installed (ctx is then not owned). */
int conn_set_filter(struct conn *c, const struct conn_filter *f, void *ctx, const void *pre,
		    size_t npre);
bool conn_has_filter(struct conn *c);

/* Stop / restart delivering on_input (while an async operation runs). Resume re-delivers
 * already-buffered input on the next loop iteration. */
void conn_pause(struct conn *c);
void conn_resume(struct conn *c);

/* Flush what is queued, then close. on_close follows. Safe to call twice. */
void conn_close(struct conn *c);
bool conn_closing(struct conn *c);
void conn_hold(struct conn *c);
void conn_release(struct conn *c);

/* Idle timeout in ms (0 = none); re-armed by every input. */
void conn_set_timeout(struct conn *c, unsigned ms);
const char *conn_peer(struct conn *c); /* "127.0.0.1" */
unsigned conn_local_port(struct conn *c);
void *conn_data(struct conn *c);
void conn_set_data(struct conn *c, void *data);
uint64_t conn_id(struct conn *c);

#endif
