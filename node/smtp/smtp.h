/* smtp.h - the SMTP frontend: entry points used by main (MX port, submission ports). */
#ifndef MR_SMTP_H
#define MR_SMTP_H
#include "net/conn.h"
extern const struct proto_ops smtp_ops;            /* MX (25) */
extern const struct proto_ops smtp_submission_ops; /* submission (587 STARTTLS, 465 TLS) */
#endif
