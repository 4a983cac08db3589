/* SPDX-License-Identifier: MIT */
/*
 * tests/server/client.h: a small raw-socket XMPP client for the end-to-end
 * tests: non-blocking sockets, output buffered and flushed by pump(), and
 * everything the server sends read back through xsr's own parser (which
 * is how the tests check that every byte the server writes parses on its
 * own stream).  Stanzas are kept as copies in arrival order.
 */
#ifndef XSR_TEST_CLIENT_H
#define XSR_TEST_CLIENT_H

#include <stddef.h>

#include <xsr/xsr.h>

typedef struct xc_stanza {
  char *name; /* local name: "message", "features", "error" (stream:error) ... */
  char *raw;  /* the stanza's bytes, NUL-terminated */
  size_t len;
} xc_stanza;

typedef struct xc {
  int fd;
  xsr_parser *parser;
  xc_stanza *q;
  size_t qhead, qlen, qcap;
  char *out;
  size_t outlen, outcap;
  int restart; /* <success/> seen: restart the parser */
  int headers; /* stream headers received */
  int closed;  /* </stream:stream> received (the client then shuts its side) */
  int shut;
  int eof;      /* the socket reached EOF or failed */
  xsr_err perr; /* the parser's verdict on what the server sent */
  char jid[512];
  /* Free for tests. */
  unsigned idx, state, sent, recvd;
} xc;

/* Connects (non-blocking) to 127.0.0.1:port, or [::1]:port when v6.
 * rcvbuf > 0 sets SO_RCVBUF first.  Returns 0 or -1. */
int xc_connect(xc *c, unsigned port, int v6, int rcvbuf);

/* Closes the socket and frees everything. */
void xc_free(xc *c);

/* Queues bytes and sends what the socket takes now; xc_pump sends the
 * rest. */
void xc_send(xc *c, const char *s);
void xc_sendn(xc *c, const char *s, size_t n);

/* Polls the clients once for at most timeout_ms: writes pending output,
 * reads and parses what arrived.  Returns 0, or -1 when poll failed. */
int xc_pump(xc **cs, size_t n, int timeout_ms);

/* Writes all pending output of one client (at most timeout_ms). */
int xc_flush(xc *c, int timeout_ms);

/* The next stanza received within timeout_ms (pumping this client only),
 * or NULL.  The caller frees it with xc_stanza_free. */
xc_stanza *xc_next(xc *c, int timeout_ms);
void xc_stanza_free(xc_stanza *s);

/* The next stanza, which must be called `name`; NULL (and a message on
 * stderr) otherwise. */
xc_stanza *xc_expect(xc *c, const char *name, int timeout_ms);

/* Waits for the socket's EOF (reading and parsing meanwhile).  Returns 0
 * or -1 on a timeout. */
int xc_wait_eof(xc *c, int timeout_ms);

/* The client stream header for domain "localhost". */
extern const char xc_header[];

/* <auth mechanism='PLAIN'> for user/password. */
void xc_plain_auth(char *out, size_t cap, const char *user, const char *password);

/* Logs in with PLAIN and binds `resource` (NULL: server-generated),
 * step by step.  Returns 0 (c->jid holds the bound JID) or -1. */
int xc_login(xc *c, const char *user, const char *password, const char *resource, int timeout_ms);

/* The text of the first <name>...</name> in raw, copied into out (no
 * entity decoding); 0, or -1 when absent. */
int xc_element_text(const char *raw, const char *name, char *out, size_t cap);

/* The value of attribute `attr` of the stanza's start tag (raw, quotes
 * removed, no decoding); 0 or -1. */
int xc_attr(const char *raw, const char *attr, char *out, size_t cap);

#endif
