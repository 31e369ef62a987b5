/* err.c - error code to text. */
#include "err.h"

const char *mr_strerror(int rv)
{
	switch (rv) {
#define MR_ERR_CASE(name, val, str)                                                                \
	case (val):                                                                                \
		return str;
		MR_ERRORS(MR_ERR_CASE)
#undef MR_ERR_CASE
	}
	return "unknown error";
}
