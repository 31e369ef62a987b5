/* login.h - password logins for the frontends: SASL PLAIN decoding (RFC 4616) and the
 * asynchronous credential check. The account is looked up with a store job on the directory's
 * actor, which only copies the account row; the Argon2id verification then runs on the libuv
 * thread pool (uv_queue_work), so password hashing never holds a store actor (recipient checks
 * and other logins keep flowing while a login is being verified); an unknown account costs the
 * same hashing time as a wrong password. Loop thread only. */
#ifndef MR_LOGIN_H
#define MR_LOGIN_H
#include <stddef.h>
#include "storage/store.h"

#define LOGIN_USER_MAX 320
#define LOGIN_PASS_MAX 1024

/* rv: 0 (acct filled in), MR_EAUTH (unknown account or wrong password), MR_EIO (temporary). */
typedef void (*login_done_fn)(void *ud, int rv, const struct dir_account *acct);

/* Check user/pass (lengths given; the user is compared lower-cased). done runs later on the
 * loop thread, exactly once, unless this returns an error: MR_EINVAL (empty or over-long
 * user, over-long password, NUL bytes) or a submit error; then done is never called. The
 * password is copied, and wiped once checked. */
int login_check(const char *user, size_t ulen, const char *pass, size_t plen, login_done_fn done,
                void *ud);

/* Decode an RFC 4616 PLAIN response (base64 of [authzid] NUL authcid NUL passwd; "=" is the
 * empty response) into user/pass (NUL-terminated, caps LOGIN_USER_MAX / LOGIN_PASS_MAX).
 * 0; MR_EINVAL (bad base64 or shape, over-long fields); MR_EPERM (an authzid other than the
 * user: acting as someone else is not supported). The caller wipes pass. */
int login_sasl_plain(const char *b64, size_t len, char user[LOGIN_USER_MAX],
                     char pass[LOGIN_PASS_MAX]);

/* Decode one base64 field of the SASL LOGIN mechanism (user name or password) into out
 * (NUL-terminated, at most cap - 1 bytes, no NUL inside). 0 or MR_EINVAL. */
int login_b64_field(const char *b64, size_t len, char *out, size_t cap);

#endif
