/* SPDX-License-Identifier: MIT */
/*
 * server/net.h: xsr-router's network layer: worker threads (one uv_loop
 * each), listeners, connections, the read and write paths, and the router's
 * delivery and back-pressure hooks.  Private to xsr-router; never installed.
 *
 * The protocol lives in the c2s state machine (c2s.h); this layer owns
 * sockets, timers and threads and drives the c2s through its io callbacks.
 *
 *   main thread        xsr__net_new: resolve and bind every listen address
 *                      (SO_REUSEPORT, one socket per worker and address),
 *                      create the router and the shared xsr__server; then
 *                      xsr__net_run: start the workers and wait on a loop of
 *                      its own for SIGINT/SIGTERM (and SIGHUP: the users
 *                      file is reloaded, see docs/server.md).
 *   worker thread w    uv_loop w: its listening sockets, its connections
 *                      (each with its c2s and, once bound, its router
 *                      session), the router's worker queue w (woken by
 *                      uv_async), RCU states around the poll phase.
 *   libuv thread pool  SASL PLAIN's PBKDF2 (io->queue_work).
 *
 * docs/server.md describes the model (why SO_REUSEPORT, the write path,
 * timeouts, shutdown).
 */
#ifndef XSR_SERVER_NET_H
#define XSR_SERVER_NET_H

#include <stddef.h>

#include "c2s.h"
#include "config.h"

/* Bytes of server-generated output (io->write) a connection may have
 * queued; past it io->write returns -1.  Routed stanzas are bounded by the
 * session budget instead. */
#define XSR__NET_OUT_MAX      ((size_t)1 << 20)
#define XSR__NET_READ_BUF     65536u /* the per-worker read buffer */
#define XSR__NET_CLOSE_GRACE  2000u  /* ms to flush and see the peer's FIN after io->close */
#define XSR__NET_HEADER_ROOM  1024u  /* xsr__server.header_max_room */
#define XSR__NET_HEADER_DECLS 4u     /* xsr__server.header_max_decls */

typedef struct xsr__net xsr__net;

/* Logging: one line on stderr, "xsr-router: LEVEL: message", for levels at
 * or above the one set (default info).  Any thread. */
void xsr__log_set_level(xsr__log_level level);
void xsr__log(xsr__log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Builds the server: binds every listen address of `cfg` (port 0: one
 * ephemeral port per address, shared by all workers), creates the router
 * (cfg->threads workers, which must be set) and the xsr__server for
 * `domain` (canonical, NUL-terminated).  `users` and `sasl` stay the
 * caller's and must outlive the net.  Returns 0, or -1 with one line in err
 * (an address that does not resolve or bind, out of memory).
 * Main thread, before xsr__net_run.
 */
int xsr__net_new(const xsr__config *cfg, const char *domain, const xsr__users *users,
                 xsr__sasl *sasl, xsr__net **out, char *err, size_t errlen);

/* The bound addresses, "127.0.0.1:5222" or "[::1]:5222", in the order of
 * cfg->listen (a name that resolves to several addresses gives several). */
size_t xsr__net_bound_count(const xsr__net *n);
const char *xsr__net_bound_name(const xsr__net *n, size_t i);

/* Runs the server: starts the worker threads and blocks until SIGINT or
 * SIGTERM, then shuts down (every stream gets <system-shutdown/>; each
 * connection is closed once its output is written and the peer closed, or
 * after XSR__NET_CLOSE_GRACE ms), joins the workers and returns 0; -1 with
 * a message when the workers could not be started.  Once only. */
int xsr__net_run(xsr__net *n, char *err, size_t errlen);

/* Frees everything (the router last).  After xsr__net_run returned, or
 * instead of it. */
void xsr__net_free(xsr__net *n);

#endif /* XSR_SERVER_NET_H */
