/* imap.h - the IMAP frontend: entry points used by main. */
#ifndef MR_IMAP_H
#define MR_IMAP_H
#include "net/conn.h"
extern const struct proto_ops imap_ops;
/* Called once on the loop thread after the store is open (installs the commit hook that
 * wakes IDLE sessions). */
void imap_init(void);
#endif
