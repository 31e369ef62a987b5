/* listener.h - TCP listeners that accept connections for one protocol and TLS mode. */
#ifndef MR_LISTENER_H
#define MR_LISTENER_H
#include <stddef.h>
#include <uv.h>
#include "conn.h"

/* Bind and listen on "addr:port" ("[::1]:port" for IPv6). 0 or MR_EIO/MR_EINVAL with err. */
int listener_add(uv_loop_t *loop, const char *addr, const struct proto_ops *ops,
		 enum conn_tls mode, char *err, size_t errlen);
/* Limit on simultaneous client connections (all listeners); 0 = unlimited. */
void listener_set_max_connections(unsigned n);
size_t listener_connections(void);
/* Stop accepting, close every listener and every connection (graceful: queued output is
 * flushed). Run the loop afterwards until it drains. */
void listener_shutdown(void);

#endif
