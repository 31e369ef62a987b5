/* smtp.h - the SMTP frontend (MX port): entry points used by main. */
#ifndef MR_SMTP_H
#define MR_SMTP_H
#include "net/conn.h"
extern const struct proto_ops smtp_ops;
#endif
