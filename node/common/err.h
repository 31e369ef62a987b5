/* err.h - one error convention for the whole project.
 * Functions return int: 0 = OK, negative = an MR_E* code below. Results come back through
 * out-parameters named *_r, placed last. mr_strerror() gives the text. */
#ifndef MR_ERR_H
#define MR_ERR_H

#define MR_ERRORS(X)                                                                               \
	X(OK, 0, "ok")                                                                             \
	X(ENOMEM, -1, "out of memory")                                                             \
	X(EIO, -2, "I/O error")                                                                    \
	X(ECORRUPT, -3, "data corrupt")                                                            \
	X(ENOTLEADER, -4, "not the leader")                                                        \
	X(ETOOBIG, -5, "too big")                                                                  \
	X(EPROTO, -6, "protocol error")                                                            \
	X(ENOTFOUND, -7, "not found")                                                              \
	X(EEXIST, -8, "already exists")                                                            \
	X(EINVAL, -9, "invalid argument")                                                          \
	X(EAUTH, -10, "authentication failed")                                                     \
	X(EPERM, -11, "permission denied")                                                         \
	X(EKEY, -12, "wrong key")                                                                  \
	X(EBUSY, -13, "busy")                                                                      \
	X(ECLOSED, -14, "closed")                                                                  \
	X(EQUOTA, -15, "quota exceeded")                                                           \
	X(ETLS, -16, "TLS error")                                                                  \
	X(ECONFIG, -17, "configuration error")                                                    \
	X(EUNKNOWN, -64, "outcome unknown (leadership lost or shutdown)")                          \
	X(ECONFLICT, -65, "conflict: built on a stale state, retry")

enum mr_err {
#define MR_ERR_ENUM(name, val, str) MR_##name = (val),
	MR_ERRORS(MR_ERR_ENUM)
#undef MR_ERR_ENUM
};

/* Returns a static string for code rv (never NULL). */
const char *mr_strerror(int rv);

#endif
