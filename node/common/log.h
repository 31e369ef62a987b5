/* log.h - structured logs to stderr: "ts level component message key=value ...".
 * Never log message text, headers or passwords. */
#ifndef MR_LOG_H
#define MR_LOG_H
#include "util.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level lvl);
int log_parse_level(const char *s, enum log_level *lvl_r);
void log_msg(enum log_level lvl, const char *component, const char *fmt, ...) MR_PRINTF(3, 4);

#define log_debug(c, ...) log_msg(LOG_DEBUG, c, __VA_ARGS__)
#define log_info(c, ...) log_msg(LOG_INFO, c, __VA_ARGS__)
#define log_warn(c, ...) log_msg(LOG_WARN, c, __VA_ARGS__)
#define log_error(c, ...) log_msg(LOG_ERROR, c, __VA_ARGS__)

#endif
