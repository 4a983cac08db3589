/* SPDX-License-Identifier: MIT */
/*
 * server/util.h: small helpers shared by xsr-router's files.  Private;
 * never installed.
 */
#ifndef XSR_SERVER_UTIL_H
#define XSR_SERVER_UTIL_H

#include <stddef.h>

/* Formats an error message into err[0..errlen) (always NUL-terminated when
 * errlen > 0); err NULL or errlen 0: nothing. */
void xsr__errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* XSR_SERVER_UTIL_H */
