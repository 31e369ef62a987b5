/* admin.h - the admin endpoint for mailraftctl: a unix socket on the loop, peer uid checked
 * (SO_PEERCRED: root or the daemon's own uid), length-prefixed protobuf (proto/ctl.proto). */
#ifndef MR_ADMIN_H
#define MR_ADMIN_H
#include <stddef.h>
/* Listen on node_get()->cfg->admin_socket (or <data_dir>/admin.sock). 0 or MR_E* with err. */
int admin_start(char *err, size_t errlen);
void admin_stop(void);
#endif
