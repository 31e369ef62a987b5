/* pop3.h - the POP3 frontend: entry points used by main. */
#ifndef MR_POP3_H
#define MR_POP3_H
#include "net/conn.h"
extern const struct proto_ops pop3_ops;
#endif
