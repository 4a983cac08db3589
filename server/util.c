/* SPDX-License-Identifier: MIT */
/*
 * server/util.c: helpers shared by xsr-router's files (util.h).
 */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>

void xsr__errf(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (!err || errlen == 0)
    return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}
