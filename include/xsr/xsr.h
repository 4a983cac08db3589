/* SPDX-License-Identifier: MIT */
/*
 * xsr/xsr.h: umbrella header for libxsr.
 */
#ifndef XSR_XSR_H
#define XSR_XSR_H

#define XSR_VERSION_MAJOR  0
#define XSR_VERSION_MINOR  2
#define XSR_VERSION_PATCH  0
#define XSR_VERSION_STRING "0.2.0"

#include "alloc.h"
#include "error.h"
#include "parser.h"
#include "stanza.h"
#include "writer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version string, which may differ from XSR_VERSION_STRING
 * when linking a shared library built from another release. */
const char *xsr_version(void);

#ifdef __cplusplus
}
#endif
#endif /* XSR_XSR_H */
