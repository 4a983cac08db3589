/* SPDX-License-Identifier: MIT */
/*
 * server/c2s.c: one client connection's protocol (RFC 6120), as c2s.h
 * describes: stream headers and features, SASL, the restart, resource
 * binding, then every stanza through the router.
 *
 * Thread: the connection's worker loop (registered with the router and
 * online), except xsr__c2s_last_presence_any() (any registered thread) and
 * sasl_work_cb() (the thread pool; it touches only the SASL session).
 *
 * States, in the order a stream goes through them (flags in c2s_internal.h):
 *
 *   header   waiting for the client's stream header (again after <success/>)
 *   sasl     features sent: <auth/>, <response/>, <abort/> (RFC 6120 6.4)
 *     work     PLAIN's PBKDF2 on the thread pool
 *     delay    a failure waits srv->auth_failure_delay_ms before <failure/>
 *   restart  <success/> sent: the parser restarts (RFC 6120 6.4.6)
 *   bind     authenticated: only the bind iq (and the legacy session iq)
 *   bound    every stanza goes through xsr_router_route_rcu()
 *   closed   io->close was called, or the peer went away
 *
 * Every wait is the parser's pause.  A callback returns XSR_PAUSE (work,
 * delay, restart, close) or XSR_RETRY (a recipient had no room), the bytes
 * after the event stay in the parser, reading is paused, and whoever ends
 * the wait (the work's done, the timer, xsr__c2s_retry) goes through
 * drive(), which restarts the parser when asked and resumes it.  The parser
 * cannot be restarted from inside a callback, hence the flag.
 *
 * Ownership of a connection whose SASL work is on the pool: the work's done
 * callback always runs, so xsr__c2s_free() then only marks the connection
 * and done frees it.  A connection another thread may reach (through its
 * router session) is freed after an RCU grace period: see
 * c2s_internal.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "c2s_internal.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_XSTREAM "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_SASL    "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND    "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"

/* How often a bind retries after replacing (or racing) a session with the
 * same full JID, or after a generated resource collided. */
#define BIND_TRIES 4

/* What a kicked session's owner writes (RFC 6120 4.9.3.3, 7.7.2.2). */
static const char kick_bytes[] = "<stream:error><conflict xmlns='" NS_XSTREAM "'/>"
                                 "<text xmlns='" NS_XSTREAM "'>Replaced by a new connection "
                                 "that bound the same resource</text></stream:error>"
                                 "</stream:stream>";

static int span_is(xsr_span s, const char *lit) {
  size_t n = strlen(lit);
  return s.ptr && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* ---- building output -------------------------------------------------------- */

/* Runs fn into `stack`, or into a heap buffer when it does not fit.
 * Returns the bytes (stack or *heap) and their length, or NULL with *rc. */
static const char *build(xsr__c2s_build_fn fn, const void *arg, char *stack, size_t cap,
                         char **heap, size_t *len, xsr_err *rc) {
  xsr_writer w;
  *heap = NULL;
  xsr_writer_init(&w, stack, cap);
  fn(&w, arg);
  *rc = xsr_writer_finish(&w, len);
  if (*rc == XSR_OK)
    return stack;
  if (*rc != XSR_ENOSPC)
    return NULL;
  size_t need = *len;
  *heap = malloc(need ? need : 1);
  if (!*heap) {
    *rc = XSR_ENOMEM;
    return NULL;
  }
  xsr_writer_init(&w, *heap, need);
  fn(&w, arg);
  *rc = xsr_writer_finish(&w, len);
  if (*rc != XSR_OK) {
    free(*heap);
    *heap = NULL;
    return NULL;
  }
  return *heap;
}

xsr_err xsr__c2s_answer(xsr__c2s *c, xsr__c2s_build_fn fn, const void *arg) {
  char stack[1024], *heap;
  size_t len;
  xsr_err rc;
  const char *p = build(fn, arg, stack, sizeof stack, &heap, &len, &rc);
  if (!p)
    return rc;
  rc = xsr_router_send_rcu(c->srv->router, c->session, p, len);
  free(heap);
  return rc;
}

xsr_span xsr__c2s_value(xsr_span raw, int escaped, char *buf, size_t cap) {
  xsr_span out = {NULL, 0};
  if (!raw.ptr)
    return out;
  if (!escaped) {
    if (raw.len <= cap)
      out = raw;
    return out;
  }
  size_t n;
  if (xsr_decode_attr(raw, buf, cap, &n) == XSR_OK) {
    out.ptr = buf;
    out.len = n;
  }
  return out;
}

/* ---- the end of a stream ------------------------------------------------------ */

static void update_pause(xsr__c2s *c) {
  unsigned want = (c->work || c->delay || c->blocked || c->closing) && !c->closed;
  if (want != c->read_paused) {
    c->read_paused = want;
    c->io->read_pause(c->io_user, (int)want);
  }
}

/* The session ends: its unavailable presence goes to those who saw it
 * (unless the bind that replaced it sent that already), and it leaves the
 * table.  It is closed in xsr__c2s_free(). */
static void finish(xsr__c2s *c) {
  if (c->finished)
    return;
  c->finished = 1;
  if (c->session) {
    if (!atomic_load(&c->kicked))
      xsr__local_gone(c);
    xsr_session_unbind_rcu(c->session);
  }
}

/* The stream is over: nothing more is read or written by the c2s. */
static void end_stream(xsr__c2s *c) {
  if (c->closed)
    return;
  c->closed = 1;
  if (c->delay) {
    c->delay = 0;
    c->io->timer(c->io_user, 0, NULL);
  }
  finish(c);
  c->io->close(c->io_user);
}

typedef struct header_arg {
  const xsr__c2s *c;
  const char *to; /* NUL-terminated, or NULL */
  const char *id;
} header_arg;

static void put_header(xsr_writer *w, const header_arg *a) {
  xsr_writer_stream_open(w, "jabber:client", a->to, xsr__c2s_host(a->c).ptr, a->id, "en");
}

typedef struct error_arg {
  header_arg h; /* h.c NULL: our header was already sent */
  const char *condition;
  const char *text;
} error_arg;

static void build_stream_error(xsr_writer *w, const void *arg) {
  const error_arg *a = arg;
  if (a->h.c)
    put_header(w, &a->h);
  xsr_writer_start(w, "stream:error");
  xsr_writer_start(w, a->condition);
  xsr_writer_attr(w, "xmlns", NS_XSTREAM);
  xsr_writer_end(w);
  if (a->text) {
    xsr_writer_start(w, "text");
    xsr_writer_attr(w, "xmlns", NS_XSTREAM);
    xsr_writer_text(w, a->text, strlen(a->text));
    xsr_writer_end(w);
  }
  xsr_writer_end(w);
  xsr_writer_stream_close(w);
}

/* A fresh stream id: 128 random bits in hex (RFC 6120 4.7.3 asks for an
 * unpredictable one).  Returns 0, or -1 when the system has no randomness. */
static int random_hex(char *out, size_t bytes) {
  unsigned char r[32];
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = getrandom(r + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    got += (size_t)n;
  }
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes; i++) {
    out[2 * i] = hex[r[i] >> 4];
    out[2 * i + 1] = hex[r[i] & 15];
  }
  out[2 * bytes] = '\0';
  return 0;
}

/* Ends the stream with a stream error (RFC 6120 4.9), preceded by our
 * header when none was sent yet (4.9.1.2; `to` is its 'to', or NULL). */
static void fail_stream(xsr__c2s *c, const char *to, const char *condition, const char *text) {
  if (c->closed)
    return;
  error_arg a;
  char id[33];
  memset(&a, 0, sizeof a);
  if (!c->header) {
    if (random_hex(id, 16) != 0)
      strcpy(id, "0");
    a.h.c = c;
    a.h.to = to;
    a.h.id = id;
    c->header = 1;
  }
  a.condition = condition;
  a.text = text;
  char stack[512], *heap;
  size_t len;
  xsr_err rc;
  const char *p = build(build_stream_error, &a, stack, sizeof stack, &heap, &len, &rc);
  if (p)
    (void)c->io->write(c->io_user, p, len); /* the last bytes: a failure changes nothing */
  free(heap);
  end_stream(c);
}

static void stream_error_text(xsr__c2s *c, const char *condition, const char *text) {
  fail_stream(c, NULL, condition, text);
}

void xsr__c2s_stream_error(xsr__c2s *c, const char *condition) {
  stream_error_text(c, condition, NULL);
}

/* Writes bytes the c2s produced itself.  Returns 0, or -1 when the stream
 * is over (already, or now: the output is over its bound, and the stream
 * fails with policy-violation). */
static int out(xsr__c2s *c, const void *data, size_t len) {
  if (c->closed)
    return -1;
  if (c->io->write(c->io_user, data, len) == 0)
    return 0;
  stream_error_text(c, "policy-violation", "output buffer full");
  return -1;
}

static int emit(xsr__c2s *c, xsr__c2s_build_fn fn, const void *arg) {
  char stack[1024], *heap;
  size_t len;
  xsr_err rc;
  const char *p = build(fn, arg, stack, sizeof stack, &heap, &len, &rc);
  if (!p) {
    stream_error_text(c, rc == XSR_ENOMEM ? "resource-constraint" : "internal-server-error", NULL);
    return -1;
  }
  int r = out(c, p, len);
  free(heap);
  return r;
}

int xsr__c2s_send(xsr__c2s *c, const void *data, size_t len) { return out(c, data, len); }

/* ---- the stream header (RFC 6120 4.7) ------------------------------------------- */

static size_t escaped_attr_len(const char *s, size_t n) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    switch (s[i]) {
    case '&':
      len += 5;
      break;
    case '<':
    case '>':
      len += 4;
      break;
    case '\'':
    case '"':
      len += 6;
      break;
    case '\t':
      len += 4;
      break;
    case '\n':
    case '\r':
      len += 5;
      break;
    default:
      len++;
    }
  }
  return len;
}

/* The escaped length of the decoded attribute value raw[0..n). */
static size_t value_room(const char *raw, size_t n) {
  char stack[256];
  char *buf = n <= sizeof stack ? stack : malloc(n);
  size_t len = 0, room;
  xsr_span r = {raw, n};
  if (!buf || xsr_decode_attr(r, buf, n, &len) != XSR_OK)
    room = 6 * n; /* the most it can be */
  else
    room = escaped_attr_len(buf, len);
  if (buf != stack)
    free(buf);
  return room;
}

static int ws(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

/* What the header adds to every stanza the client sends (router.h
 * xsr_router_sender_limits): its prefix declarations other than the
 * stream prefix's (counted in *decls), and the bytes of all of them and of
 * its xml:lang as the router writes them (in *room).  Reads the start tag
 * the parser has checked, so the scan needs no error handling beyond
 * staying in bounds. */
static void header_extra(const xsr_stream_header *h, unsigned *decls, size_t *room) {
  const char *p = h->element->raw.ptr;
  size_t n = h->element->raw.len, i = 1;
  *decls = 0;
  *room = 0;
  while (i < n && !ws(p[i]) && p[i] != '>' && p[i] != '/')
    i++;
  for (;;) {
    while (i < n && ws(p[i]))
      i++;
    if (i >= n || p[i] == '>' || p[i] == '/')
      break;
    size_t name = i;
    while (i < n && p[i] != '=' && !ws(p[i]))
      i++;
    size_t name_len = i - name;
    while (i < n && p[i] != '\'' && p[i] != '"')
      i++;
    if (i >= n)
      break;
    char q = p[i++];
    size_t val = i;
    while (i < n && p[i] != q)
      i++;
    size_t val_len = i - val;
    i++;
    if (name_len > 6 && memcmp(p + name, "xmlns:", 6) == 0) {
      size_t plen = name_len - 6;
      /* " xmlns:P='URI'" */
      *room += 7 + plen + 2 + value_room(p + val, val_len) + 1;
      if (!(h->prefix.ptr && h->prefix.len == plen &&
            memcmp(h->prefix.ptr, p + name + 6, plen) == 0))
        (*decls)++;
    }
  }
  if (h->lang.ptr) /* " xml:lang='L'" */
    *room += 11 + value_room(h->lang.ptr, h->lang.len) + 1;
}

typedef struct features_arg {
  header_arg h;
  const char *mechs[XSR__SASL_MECH_MAX];
  size_t nmechs;
  int authed;
} features_arg;

static void build_features(xsr_writer *w, const void *arg) {
  const features_arg *a = arg;
  put_header(w, &a->h);
  xsr_writer_start(w, "stream:features");
  if (!a->authed) {
    xsr_writer_start(w, "mechanisms");
    xsr_writer_attr(w, "xmlns", NS_SASL);
    for (size_t i = 0; i < a->nmechs; i++) {
      xsr_writer_start(w, "mechanism");
      xsr_writer_text(w, a->mechs[i], strlen(a->mechs[i]));
      xsr_writer_end(w);
    }
    xsr_writer_end(w);
  } else {
    xsr_writer_start(w, "bind");
    xsr_writer_attr(w, "xmlns", NS_BIND);
    xsr_writer_end(w);
    /* RFC 3921's session establishment, advertised as optional (RFC 6121
     * dropped it; libstrophe and others still send it). */
    xsr_writer_start(w, "session");
    xsr_writer_attr(w, "xmlns", NS_SESSION);
    xsr_writer_start(w, "optional");
    xsr_writer_end(w);
    xsr_writer_end(w);
  }
  xsr_writer_end(w);
}

/* The index of srv->domain among the domains served (0 when it is not one
 * of them, a misconfiguration). */
static long default_host(const xsr__server *srv) {
  long i = xsr__server_host(srv, srv->domain, srv->domain_len);
  return i < 0 ? 0 : i;
}

/* Makes `host` the connection's host before authentication: a SASL
 * session for that domain's accounts replaces the one for the previous
 * host (no exchange runs: a stream header has just been read).  Returns
 * 0, or -1 when out of memory (the old session stays). */
static int set_host(xsr__c2s *c, unsigned host) {
  xsr_span d = xsr__server_host_name(c->srv, host);
  xsr__sasl_session *s =
      xsr__sasl_session_new(c->srv->sasl, xsr__users_host(c->users, d.ptr, d.len));
  if (!s)
    return -1;
  xsr__sasl_session_free(c->sasl);
  c->sasl = s;
  c->host = host;
  return 0;
}

static int on_stream_open(void *user, const xsr_stream_header *h) {
  xsr__c2s *c = user;
  const xsr__server *srv = c->srv;
  char buf[XSR_JID_MAX + 1], jbuf[XSR_JID_MAX], tobuf[XSR_JID_MAX + 1];
  xsr_jid j;
  const char *cond = NULL, *text = NULL;
  header_arg ha = {c, NULL, NULL};

  /* Our 'to' is the client's 'from' when it is an address (RFC 6120
   * 4.7.1); anything else is left out rather than echoed. */
  xsr_span from = xsr__c2s_value(h->from, (h->escaped & XSR_ROUTE_FROM) != 0, buf, sizeof buf);
  if (from.ptr && xsr_jid_parse(from.ptr, from.len, jbuf, sizeof jbuf, &j, NULL) == XSR_OK) {
    xsr_span f = xsr_jid_full(&j);
    memcpy(tobuf, f.ptr, f.len);
    tobuf[f.len] = '\0';
    ha.to = tobuf;
  }
  /* 'to' must be a domain served (RFC 6120 4.9.3.6), and picks the
   * connection's host; a header without one is taken as meant for the
   * default host (4.7.2 lets us pick).  The restarted stream keeps the host
   * it authenticated on. */
  long host = c->authed ? (long)c->host : default_host(srv);
  if (h->to.ptr) {
    xsr_span to = xsr__c2s_value(h->to, (h->escaped & XSR_ROUTE_TO) != 0, buf, sizeof buf);
    host = -1;
    if (to.ptr && xsr_jid_parse(to.ptr, to.len, jbuf, sizeof jbuf, &j, NULL) == XSR_OK &&
        !j.local.ptr && !j.resource.ptr)
      host = xsr__server_host(srv, j.domain.ptr, j.domain.len);
    if (host < 0) {
      cond = "host-unknown";
      text = "this server does not serve that domain";
    } else if (c->authed && host != (long)c->host) {
      cond = "host-unknown";
      text = "the stream was authenticated for another domain";
    }
  }
  if (!cond && host != (long)c->host && set_host(c, (unsigned)host) != 0)
    cond = "resource-constraint";
  /* RFC 6120 4.7.5: a peer below the version we require (1.0: no SASL
   * without it) gets unsupported-version; the parser refuses 2.0 and up. */
  if (!cond && h->version_major < 1) {
    cond = "unsupported-version";
    text = "XMPP 1.0 is required";
  }
  if (!cond) {
    unsigned decls;
    size_t room;
    header_extra(h, &decls, &room);
    if (decls > srv->header_max_decls || room > srv->header_max_room) {
      cond = "policy-violation";
      text = "the stream header declares too many namespaces";
    }
  }
  char id[33];
  if (!cond && random_hex(id, 16) != 0)
    cond = "internal-server-error";
  if (cond) {
    fail_stream(c, ha.to, cond, text);
    return XSR_PAUSE;
  }
  features_arg fa;
  memset(&fa, 0, sizeof fa);
  ha.id = id;
  fa.h = ha;
  fa.authed = c->authed;
  if (!c->authed)
    fa.nmechs = xsr__sasl_mechanisms(srv->sasl, fa.mechs);
  c->header = 1;
  return emit(c, build_features, &fa) == 0 ? 0 : XSR_PAUSE;
}

static const char stream_tail[] = "</stream:stream>";

static int on_stream_close(void *user, uint64_t offset) {
  xsr__c2s *c = user;
  (void)offset;
  if (c->closed || c->closing)
    return XSR_PAUSE;
  /* RFC 6120 4.4: answer with our closing tag; the session ends.  A bound
   * session's answers to what the client sent before its closing tag (in
   * the same read, often) are still in its queue: the tag goes behind
   * them, and the stream ends when net pops it (xsr__c2s_popped). */
  if (c->session && !atomic_load(&c->kicked)) {
    finish(c);
    if (xsr_router_send_rcu(c->srv->router, c->session, stream_tail, sizeof stream_tail - 1) ==
        XSR_OK) {
      c->closing = 1;
      return XSR_PAUSE;
    }
  }
  (void)c->io->write(c->io_user, stream_tail, sizeof stream_tail - 1);
  end_stream(c);
  return XSR_PAUSE;
}

/* ---- SASL (RFC 6120 6.4) ------------------------------------------------------ */

typedef struct sasl_arg {
  const char *name; /* challenge, success, failure */
  const char *data; /* text, or NULL */
  size_t len;
  const char *condition; /* failure */
} sasl_arg;

static void build_sasl(xsr_writer *w, const void *arg) {
  const sasl_arg *a = arg;
  xsr_writer_start(w, a->name);
  xsr_writer_attr(w, "xmlns", NS_SASL);
  if (a->condition) {
    xsr_writer_start(w, a->condition);
    xsr_writer_end(w);
  }
  if (a->data && a->len)
    xsr_writer_text(w, a->data, a->len);
  xsr_writer_end(w);
}

/* Sends <failure/> and counts it; at the limit the stream is closed with
 * policy-violation, as RFC 6120 6.4.5 says (some servers send
 * not-authorized: the RFC names policy-violation as the SHOULD). */
static void send_failure(xsr__c2s *c, xsr__sasl_condition cond) {
  const char *name = xsr__sasl_condition_name(cond);
  sasl_arg a = {"failure", NULL, 0, *name ? name : "not-authorized"};
  if (emit(c, build_sasl, &a) != 0)
    return;
  c->failures++;
  if (c->srv->max_auth_failures && c->failures >= c->srv->max_auth_failures)
    stream_error_text(c, "policy-violation", "too many authentication failures");
}

static void on_delay_fired(xsr__c2s *c);

/* A failed attempt: <failure/> after the delay, reading paused meanwhile
 * (RFC 6120 6.4.5 leaves the retry policy to the server; the delay makes
 * guessing slow).  Returns what on_stanza returns. */
static int sasl_fail(xsr__c2s *c, xsr__sasl_condition cond) {
  c->in_exchange = 0;
  if (c->srv->auth_failure_delay_ms == 0) {
    send_failure(c, cond);
    return c->closed ? XSR_PAUSE : 0;
  }
  c->delayed = cond;
  c->delay = 1;
  update_pause(c);
  c->io->timer(c->io_user, c->srv->auth_failure_delay_ms, on_delay_fired);
  return XSR_PAUSE;
}

static void sasl_work_cb(void *arg) {
  xsr__c2s *c = arg;
  xsr__sasl_work(c->sasl);
}

static void sasl_done_cb(void *arg);

/* Acts on one step's outcome.  Returns what on_stanza returns. */
static int sasl_result(xsr__c2s *c, xsr__sasl_status st, const xsr__sasl_result *r) {
  sasl_arg a = {NULL, NULL, 0, NULL};
  switch (st) {
  case XSR__SASL_CHALLENGE:
    a.name = "challenge";
    a.data = r->data;
    a.len = r->data_len;
    return emit(c, build_sasl, &a) == 0 ? 0 : XSR_PAUSE;
  case XSR__SASL_SUCCESS: {
    char *local = malloc(r->local_len + 1);
    if (!local) {
      stream_error_text(c, "resource-constraint", NULL);
      return XSR_PAUSE;
    }
    memcpy(local, r->local, r->local_len);
    local[r->local_len] = '\0';
    a.name = "success";
    a.data = r->data;
    a.len = r->data ? r->data_len : 0;
    c->local = local;
    c->local_len = r->local_len;
    xsr_span d = xsr__c2s_host(c);
    const xsr__users *hu = r->anonymous ? NULL : xsr__users_host(c->users, d.ptr, d.len);
    c->account = hu ? xsr__users_lookup(hu, local, r->local_len) : NULL;
    c->authed = 1;
    c->in_exchange = 0;
    if (emit(c, build_sasl, &a) != 0)
      return XSR_PAUSE;
    xsr__sasl_session_free(c->sasl); /* r's pointers die here: used above */
    c->sasl = NULL;
    c->restart = 1; /* outside the callback: drive() */
    return XSR_PAUSE;
  }
  case XSR__SASL_WORK:
    c->work = 1;
    update_pause(c);
    c->io->queue_work(c->io_user, sasl_work_cb, sasl_done_cb, c);
    return XSR_PAUSE;
  case XSR__SASL_FAILURE:
  default:
    return sasl_fail(c, r->condition);
  }
}

/* The character data of an <auth/> or <response/>: base64, at most
 * XSR__SASL_INPUT_MAX bytes once decoded.  Longer is malformed. */
#define SASL_TEXT_MAX ((XSR__SASL_INPUT_MAX + 2) / 3 * 4 + 4)

static int sasl_step(xsr__c2s *c, const xsr_stanza *st) {
  char *text = malloc(SASL_TEXT_MAX);
  size_t n = 0;
  xsr__sasl_result r;
  if (!text) {
    stream_error_text(c, "resource-constraint", NULL);
    return XSR_PAUSE;
  }
  if (xsr_stanza_text(st, 0, text, SASL_TEXT_MAX, &n) != XSR_OK) {
    free(text);
    return sasl_fail(c, XSR__SASL_COND_MALFORMED_REQUEST);
  }
  memset(&r, 0, sizeof r);
  xsr__sasl_status s = xsr__sasl_step(c->sasl, text, n, &r);
  free(text);
  return sasl_result(c, s, &r);
}

/* ---- the users table (SIGHUP reload) ------------------------------------------ */

const xsr__users *xsr__c2s_users_now(const xsr__server *srv) {
  const xsr__users *u =
      atomic_load_explicit((_Atomic(const xsr__users *) *)&srv->users_live, memory_order_acquire);
  return u ? u : srv->users;
}

/* The table in force for a new SASL session: with a reference when it can
 * be replaced (the caller is online, so it cannot be freed before the
 * reference is taken: xsr__server_users_swap waits for a grace period). */
static const xsr__users *users_take(const xsr__server *srv, int *ref) {
  const xsr__users *u =
      atomic_load_explicit((_Atomic(const xsr__users *) *)&srv->users_live, memory_order_acquire);
  *ref = u != NULL;
  return u ? xsr__users_ref(u) : srv->users;
}

static void users_drop(xsr__c2s *c) {
  if (c->users_ref)
    xsr__users_free((xsr__users *)c->users);
  c->users = NULL;
  c->users_ref = 0;
}

/* On <auth>: a reload since the connection began (or since its last
 * attempt) counts from this attempt on, so an account added by the reload
 * can log in on a connection opened before it.  The SASL session is
 * renewed for the new table (xsr__sasl_start abandons the exchange in
 * progress anyway; no work is pending while a stanza is read).  Returns 0,
 * or -1 after ending the stream (out of memory). */
static int users_refresh(xsr__c2s *c) {
  if (!c->users_ref || c->work)
    return 0;
  const xsr__users *now = atomic_load_explicit((_Atomic(const xsr__users *) *)&c->srv->users_live,
                                               memory_order_acquire);
  if (now == c->users)
    return 0;
  int ref;
  const xsr__users *u = users_take(c->srv, &ref);
  xsr_span d = xsr__c2s_host(c);
  xsr__sasl_session *s = xsr__sasl_session_new(c->srv->sasl, xsr__users_host(u, d.ptr, d.len));
  if (!s) {
    if (ref)
      xsr__users_free((xsr__users *)u);
    stream_error_text(c, "resource-constraint", NULL);
    return -1;
  }
  xsr__sasl_session_free(c->sasl);
  users_drop(c);
  c->sasl = s;
  c->users = u;
  c->users_ref = (unsigned)ref;
  return 0;
}

static int on_sasl(xsr__c2s *c, const xsr_stanza *st) {
  if (span_is(st->name, "auth")) {
    char mech[64];
    const xsr_attr *at = xsr_stanza_find_attr(st, 0, XSR_NS_NONE, "mechanism");
    size_t n = 0;
    if (!at || xsr_decode_attr(xsr_stanza_attr_raw(st, at), mech, sizeof mech, &n) != XSR_OK)
      return sasl_fail(c, XSR__SASL_COND_INVALID_MECHANISM);
    if (users_refresh(c))
      return XSR_PAUSE;
    xsr__sasl_condition cond = xsr__sasl_start(c->sasl, mech, n);
    if (cond != XSR__SASL_COND_NONE)
      return sasl_fail(c, cond);
    c->in_exchange = 1;
    return sasl_step(c, st);
  }
  if (span_is(st->name, "response")) {
    if (!c->in_exchange)
      return sasl_fail(c, XSR__SASL_COND_MALFORMED_REQUEST);
    return sasl_step(c, st);
  }
  if (span_is(st->name, "abort"))
    return sasl_fail(c, XSR__SASL_COND_ABORTED); /* RFC 6120 6.4.4 */
  stream_error_text(c, "unsupported-stanza-type", NULL);
  return XSR_PAUSE;
}

/* ---- resource binding (RFC 6120 7) ------------------------------------------------ */

typedef struct iq_arg {
  xsr_span id;      /* decoded, ptr NULL when absent */
  const char *cond; /* error condition, or NULL for a result */
  const char *etype;
  xsr_span jid; /* bind result */
} iq_arg;

static void build_iq(xsr_writer *w, const void *arg) {
  const iq_arg *a = arg;
  xsr_writer_start(w, "iq");
  if (a->id.ptr)
    xsr_writer_attr_n(w, "id", 2, a->id.ptr, a->id.len);
  xsr_writer_attr(w, "type", a->cond ? "error" : "result");
  if (a->cond) {
    xsr_writer_start(w, "error");
    xsr_writer_attr(w, "type", a->etype);
    xsr_writer_start(w, a->cond);
    xsr_writer_attr(w, "xmlns", NS_STANZAS);
    xsr_writer_end(w);
    xsr_writer_end(w);
  } else if (a->jid.ptr) {
    xsr_writer_start(w, "bind");
    xsr_writer_attr(w, "xmlns", NS_BIND);
    xsr_writer_start(w, "jid");
    xsr_writer_text(w, a->jid.ptr, a->jid.len);
    xsr_writer_end(w);
    xsr_writer_end(w);
  }
  xsr_writer_end(w);
}

/* Answers an iq before the session exists (straight to the output).
 * Returns what on_stanza returns. */
static int iq_reply(xsr__c2s *c, const xsr_stanza *st, const char *cond, const char *etype,
                    xsr_span jid) {
  iq_arg a = {{NULL, 0}, cond, etype, jid};
  char *idbuf = NULL;
  if (st->id.ptr) {
    idbuf = malloc(st->id.len ? st->id.len : 1);
    if (!idbuf) {
      stream_error_text(c, "resource-constraint", NULL);
      return XSR_PAUSE;
    }
    a.id = xsr__c2s_value(st->id, (st->escaped & XSR_ROUTE_ID) != 0, idbuf, st->id.len);
  }
  int r = emit(c, build_iq, &a);
  free(idbuf);
  return r == 0 ? 0 : XSR_PAUSE;
}

/* Replaces `old`, a session bound at the full JID a bind of c wants
 * (RFC 6120 7.7.2.2, the new session wins).  `old` may belong to another
 * worker, so c touches nothing of its connection but the two fields meant
 * for that (c2s_internal.h): it marks it kicked, unbinds it (router.h:
 * any registered thread may), sends its unavailable presence here, before
 * the new session can send any from the same full JID, and queues the
 * conflict stream error that its owner writes as its last bytes when it
 * pops it (xsr__c2s_popped).  When the old session's queue is full the
 * error is not queued; its owner still sees `kicked` at its next stanza,
 * and its socket's own timeouts end it otherwise. */
static void kick(xsr__c2s *c, xsr_session *old) {
  xsr__c2s *oc = xsr_session_user(old);
  atomic_store(&oc->kicked, 1);
  xsr_session_unbind_rcu(old);
  xsr__c2s_pres *p = atomic_exchange(&oc->last, NULL);
  if (p) {
    xsr__local_unavailable(c, old);
    xsr__c2s_pres_retire(p);
  }
  (void)xsr_router_send_rcu(c->srv->router, old, kick_bytes, sizeof kick_bytes - 1);
}

/* A resourcepart the server picks (RFC 6120 7.6): 64 random bits. */
static int gen_resource(char *out) {
  memcpy(out, "xsr-", 4);
  return random_hex(out + 4, 8);
}

#define RESOURCE_IN_MAX 4096 /* raw bytes: PRECIS at most triples a part's 1023 */

static int do_bind(xsr__c2s *c, const xsr_stanza *st, size_t bind) {
  const xsr__server *srv = c->srv;
  char res[RESOURCE_IN_MAX];
  size_t rlen = 0;
  size_t rn = xsr_stanza_find_child(st, bind, XSR_NS_XMPP_BIND, "resource");
  xsr_span none = {NULL, 0};
  if (rn && xsr_stanza_text(st, rn, res, sizeof res, &rlen) != XSR_OK)
    return iq_reply(c, st, "bad-request", "modify", none); /* RFC 6120 7.7.2.1 */
  int generated = rlen == 0;
  xsr_span host = xsr__c2s_host(c);
  size_t cap = c->local_len + 1 + host.len + 1 + RESOURCE_IN_MAX;
  char *jid = malloc(cap);
  if (!jid) {
    stream_error_text(c, "resource-constraint", NULL);
    return XSR_PAUSE;
  }
  size_t base = c->local_len + 1 + host.len + 1;
  memcpy(jid, c->local, c->local_len);
  jid[c->local_len] = '@';
  memcpy(jid + c->local_len + 1, host.ptr, host.len);
  jid[base - 1] = '/';
  xsr_worker *w = xsr_router_worker(srv->router, c->worker);
  xsr_session *s = NULL;
  const char *cond = NULL, *etype = NULL;
  for (unsigned tries = 0;; tries++) {
    if (generated) {
      if (gen_resource(jid + base) != 0) {
        cond = "internal-server-error";
        etype = "wait";
        break;
      }
      rlen = strlen(jid + base);
    } else {
      memcpy(jid + base, res, rlen);
    }
    if (!s) {
      xsr_err rc = xsr_session_new(w, jid, base + rlen, c, &s);
      if (rc != XSR_OK) {
        s = NULL;
        if (rc == XSR_ENOMEM) {
          cond = "resource-constraint";
          etype = "wait";
        } else {
          cond = "bad-request"; /* resourceprep refused it: RFC 6120 7.7.2.1 */
          etype = "modify";
        }
        break;
      }
    }
    xsr_err rc = xsr_session_bind_rcu(s);
    if (rc == XSR_OK)
      break;
    if (rc != XSR_EEXIST || tries + 1 >= BIND_TRIES) {
      cond = rc == XSR_EEXIST ? "conflict" : "resource-constraint";
      etype = rc == XSR_EEXIST ? "cancel" : "wait";
      break;
    }
    if (generated) { /* a collision of random resources: pick another */
      xsr_session_close_owner(s);
      s = NULL;
      continue;
    }
    if (srv->conflict == XSR__CONFLICT_OLD_WINS) {
      cond = "conflict"; /* RFC 6120 7.7.2.2 */
      etype = "cancel";
      break;
    }
    xsr_jid sj = xsr_session_jid(s);
    xsr_session *old = xsr_router_find_rcu(srv->router, &sj);
    if (old && old != s)
      kick(c, old);
  }
  free(jid);
  if (cond) {
    if (s)
      xsr_session_close_owner(s);
    return iq_reply(c, st, cond, etype, none);
  }
  c->session = s;
  free(c->local); /* the session holds the JID now */
  c->local = NULL;
  xsr_jid sj = xsr_session_jid(s);
  return iq_reply(c, st, NULL, NULL, xsr_jid_full(&sj));
}

static int type_is(const xsr_stanza *st, const char *t) {
  char buf[16];
  xsr_span v = xsr__c2s_value(st->type, (st->escaped & XSR_ROUTE_TYPE) != 0, buf, sizeof buf);
  return span_is(v, t);
}

/* Authenticated, not yet bound: RFC 6120 7.1 allows only the bind request
 * (and the legacy session request, answered whenever it comes). */
static int on_unbound(xsr__c2s *c, const xsr_stanza *st) {
  xsr_span none = {NULL, 0};
  if (st->ns == XSR_NS_CLIENT && st->prefix.len == 0 && span_is(st->name, "iq")) {
    size_t b = xsr_stanza_find_child(st, 0, XSR_NS_XMPP_BIND, "bind");
    if (b) {
      if (!type_is(st, "set"))
        return iq_reply(c, st, "bad-request", "modify", none);
      return do_bind(c, st, b);
    }
    if (xsr_stanza_find_child(st, 0, XSR_NS_XMPP_SESSION, "session") && type_is(st, "set"))
      return iq_reply(c, st, NULL, NULL, none);
  }
  stream_error_text(c, "not-authorized", "bind a resource first");
  return XSR_PAUSE;
}

/* ---- bound: routing ------------------------------------------------------------- */

static int block(xsr__c2s *c) {
  c->blocked = 1;
  update_pause(c);
  return XSR_RETRY;
}

static int parse_priority(const xsr_stanza *st) {
  size_t n = xsr_stanza_find_child(st, 0, st->ns, "priority");
  char buf[32];
  size_t len = 0;
  if (!n || xsr_stanza_text(st, n, buf, sizeof buf - 1, &len) != XSR_OK)
    return 0;
  buf[len] = '\0';
  char *end;
  long v = strtol(buf, &end, 10);
  while (*end == ' ' || *end == '\t' || *end == '\n')
    end++;
  if (end == buf || *end)
    return 0; /* RFC 6121 4.7.2.3: an integer; anything else counts as 0 */
  if (v < XSR_PRIORITY_MIN)
    return XSR_PRIORITY_MIN;
  if (v > XSR_PRIORITY_MAX)
    return XSR_PRIORITY_MAX;
  return (int)v;
}

/* Presence without 'to' (RFC 6121 4.2, 4.4, 4.5): the session's state,
 * then the broadcast. */
static xsr_err own_presence(xsr__c2s *c, const xsr_stanza *st, int available) {
  xsr_err rc =
      xsr_session_set_presence_rcu(c->session, available, available ? parse_priority(st) : 0);
  if (rc == XSR_EINVAL || atomic_load(&c->kicked))
    return XSR_OK; /* unbound by a newer bind: nothing to say any more */
  if (rc != XSR_OK)
    return rc;
  if (available) {
    int initial = !c->available;
    c->available = 1;
    return xsr__local_presence(c, st, initial);
  }
  if (c->available) {
    c->available = 0;
    rc = xsr__local_presence(c, st, 0);
  } /* else never available: nobody to tell (RFC 6121 4.5.2) but those below */
  xsr__local_directed_gone(c); /* RFC 6121 4.6.3 */
  return rc;
}

static int on_bound(xsr__c2s *c, const xsr_stanza *st) {
  if (atomic_load(&c->kicked)) {
    stream_error_text(c, "conflict", "Replaced by a new connection that bound the same resource");
    return XSR_PAUSE;
  }
  xsr_route_result res;
  xsr_err rc = xsr_router_route_rcu(c->srv->router, c->session, st, &res);
  if (rc == XSR_OK && st->to.ptr && res.action != XSR_ROUTE_SERVER && span_is(st->name, "presence"))
    xsr__local_directed(c, st, res.action == XSR_ROUTE_DELIVER); /* RFC 6121 4.6 */
  if (rc == XSR_OK && res.action == XSR_ROUTE_SERVER) {
    if (!st->to.ptr && span_is(st->name, "presence") &&
        (!st->type.ptr || type_is(st, "unavailable")))
      rc = own_presence(c, st, !st->type.ptr);
    else
      rc = xsr__local_stanza(c, st);
  }
  switch (rc) {
  case XSR_OK:
    return 0;
  case XSR_EQUEUEFULL:
    return block(c);
  case XSR_EINVAL:
    /* Not a message, presence or iq (RFC 6120 4.9.3.22). */
    stream_error_text(c, "unsupported-stanza-type", NULL);
    return XSR_PAUSE;
  default:
    stream_error_text(c, rc == XSR_ENOMEM ? "resource-constraint" : "internal-server-error", NULL);
    return XSR_PAUSE;
  }
}

static int on_stanza(void *user, const xsr_stanza *st) {
  xsr__c2s *c = user;
  if (c->closed)
    return XSR_PAUSE;
  if (c->session)
    return on_bound(c, st);
  if (c->authed)
    return on_unbound(c, st);
  if (st->ns == XSR_NS_XMPP_SASL)
    return on_sasl(c, st);
  /* Anything else before authentication (RFC 6120 4.9.3.12). */
  stream_error_text(c, "not-authorized", "authenticate first");
  return XSR_PAUSE;
}

static const xsr_parser_callbacks callbacks = {on_stream_open, on_stanza, on_stream_close};

/* ---- the input loop ------------------------------------------------------------ */

static void parse_failed(xsr__c2s *c, xsr_err rc) {
  uint64_t off = 0;
  (void)xsr_parser_error(c->parser, &off);
  const char *cond = xsr_err_condition(rc);
  char text[160];
  snprintf(text, sizeof text, "%s at byte %" PRIu64, xsr_err_message(rc), off);
  stream_error_text(c, *cond ? cond : "undefined-condition", text);
}

/* Carries on after a parser call returned rc: restarts the stream after
 * <success/>, resumes when nothing waits, stops while something does.
 * Returns 0 while the connection lives, -1 once the stream is over. */
static int drive(xsr__c2s *c, xsr_err rc) {
  for (;;) {
    if (c->closed)
      return -1;
    if (rc == XSR_OK)
      break;
    if (rc != XSR_PAUSED) {
      parse_failed(c, rc);
      return -1;
    }
    if (c->restart) {
      c->restart = 0;
      c->header = 0;
      rc = xsr_parser_restart(c->parser);
      if (rc == XSR_OK)
        rc = xsr_parser_resume(c->parser);
      continue;
    }
    if (c->work || c->delay || c->blocked || c->closing)
      break;
    rc = xsr_parser_resume(c->parser);
  }
  update_pause(c);
  return 0;
}

int xsr__c2s_input(xsr__c2s *c, const char *data, size_t len) {
  if (c->closed)
    return -1;
  return drive(c, xsr_parser_feed(c->parser, data, len));
}

static void on_delay_fired(xsr__c2s *c) {
  if (!c->delay || c->closed)
    return;
  c->delay = 0;
  send_failure(c, c->delayed);
  (void)drive(c, XSR_PAUSED);
}

static void really_free(xsr__c2s *c);

static void sasl_done_cb(void *arg) {
  xsr__c2s *c = arg;
  c->work = 0;
  if (c->free_pending) {
    really_free(c);
    return;
  }
  if (c->closed)
    return;
  xsr__sasl_result r;
  memset(&r, 0, sizeof r);
  xsr__sasl_status st = xsr__sasl_resume(c->sasl, &r);
  (void)sasl_result(c, st, &r);
  (void)drive(c, XSR_PAUSED);
}

void xsr__c2s_retry(xsr__c2s *c) {
  if (c->closed || !c->blocked)
    return;
  c->blocked = 0;
  (void)drive(c, xsr_parser_resume(c->parser));
}

int xsr__c2s_blocked(const xsr__c2s *c) { return c->blocked && !c->closed; }

/* ---- lifetime ----------------------------------------------------------------- */

xsr__c2s *xsr__c2s_new(const xsr__server *srv, unsigned w, const xsr__c2s_io *io, void *io_user) {
  xsr__c2s *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->srv = srv;
  c->worker = w;
  c->io = io;
  c->io_user = io_user;
  xsr_parser_config pc = srv->parser_cfg;
  if (srv->parser_pools)
    pc.pool = srv->parser_pools[w];
  pc.accept = XSR_ACCEPT_CLIENT;
  c->parser = xsr_parser_new(&pc, &callbacks, c, NULL);
  int ref;
  c->users = users_take(srv, &ref);
  c->users_ref = (unsigned)ref;
  c->host = (unsigned)default_host(srv); /* until the stream header names one */
  xsr_span d = xsr__c2s_host(c);
  c->sasl = xsr__sasl_session_new(srv->sasl, xsr__users_host(c->users, d.ptr, d.len));
  if (!c->parser || !c->sasl) {
    xsr_parser_free(c->parser);
    xsr__sasl_session_free(c->sasl);
    users_drop(c);
    free(c);
    return NULL;
  }
  atomic_init(&c->last, NULL);
  atomic_init(&c->kicked, 0);
  return c;
}

void xsr__c2s_peer_gone(xsr__c2s *c) {
  if (c->closed)
    return;
  c->closed = 1;
  if (c->delay) {
    c->delay = 0;
    c->io->timer(c->io_user, 0, NULL);
  }
  finish(c);
}

void xsr__c2s_pres_free_rcu(struct rcu_head *h);
void xsr__c2s_free_rcu(struct rcu_head *h);

void xsr__c2s_pres_free_rcu(struct rcu_head *h) {
  XSR__C2S_TSAN_ACQUIRE(h);
  free(caa_container_of(h, xsr__c2s_pres, rcu));
}

void xsr__c2s_pres_retire(xsr__c2s_pres *p) {
  if (!p)
    return;
  XSR__C2S_TSAN_RELEASE(&p->rcu);
  call_rcu(&p->rcu, xsr__c2s_pres_free_rcu);
}

void xsr__c2s_free_rcu(struct rcu_head *h) {
  XSR__C2S_TSAN_ACQUIRE(h);
  free(caa_container_of(h, xsr__c2s, rcu));
}

static void really_free(xsr__c2s *c) {
  finish(c);
  if (c->session)
    xsr_session_close_owner(c->session);
  xsr__sasl_session_free(c->sasl);
  c->account = NULL;
  users_drop(c); /* the table may go with it (a reload replaced it) */
  xsr_parser_free(c->parser);
  free(c->local);
  xsr__local_directed_free(c);
  xsr__c2s_pres_retire(atomic_exchange(&c->last, NULL));
  /* Other threads may still hold c through its session until they pass a
   * quiescent state. */
  XSR__C2S_TSAN_RELEASE(&c->rcu);
  call_rcu(&c->rcu, xsr__c2s_free_rcu);
}

void xsr__c2s_free(xsr__c2s *c) {
  if (!c)
    return;
  c->closed = 1;
  if (c->work) {
    c->free_pending = 1; /* the work's done callback frees */
    return;
  }
  really_free(c);
}

/* ---- accessors ---------------------------------------------------------------- */

xsr_session *xsr__c2s_session(const xsr__c2s *c) { return c->session; }

void *xsr__c2s_io_user(const xsr__c2s *c) { return c->io_user; }

const xsr__account *xsr__c2s_account(const xsr__c2s *c) { return c->account; }

xsr_span xsr__c2s_host(const xsr__c2s *c) { return xsr__server_host_name(c->srv, c->host); }

xsr_span xsr__c2s_last_presence_any(const xsr__c2s *c) {
  xsr_span s = {NULL, 0};
  xsr__c2s_pres *p = atomic_load((_Atomic(xsr__c2s_pres *) *)&c->last);
  if (p) {
    s.ptr = p->data;
    s.len = p->len;
  }
  return s;
}

int xsr__c2s_popped(xsr__c2s *c, const xsr_msg *m) {
  if (c->closed)
    return XSR__C2S_DROP;
  xsr_span b = xsr_msg_bytes(m);
  if (c->closing && b.len == sizeof stream_tail - 1 && memcmp(b.ptr, stream_tail, b.len) == 0) {
    c->closed = 1; /* our closing tag, queued by on_stream_close: the last */
    return XSR__C2S_LAST;
  }
  static const char se[] = "<stream:error";
  if (b.len >= sizeof se - 1 && memcmp(b.ptr, se, sizeof se - 1) == 0) {
    /* Only the server queues a stream error (kick()): routed stanzas are
     * messages, presences and iqs. */
    c->closed = 1;
    if (c->delay) {
      c->delay = 0;
      c->io->timer(c->io_user, 0, NULL);
    }
    finish(c);
    return XSR__C2S_LAST;
  }
  return XSR__C2S_WRITE;
}

/* ---- the server ----------------------------------------------------------------- */

size_t xsr__server_host_count(const xsr__server *srv) { return srv->ndomains ? srv->ndomains : 1; }

xsr_span xsr__server_host_name(const xsr__server *srv, size_t i) {
  xsr_span s = {srv->domain, srv->domain_len};
  if (srv->ndomains && i < srv->ndomains) {
    s.ptr = srv->domains[i];
    s.len = strlen(s.ptr);
  }
  return s;
}

long xsr__server_host(const xsr__server *srv, const char *d, size_t len) {
  if (!srv->ndomains)
    return len == srv->domain_len && memcmp(d, srv->domain, len) == 0 ? 0 : -1;
  size_t lo = 0, hi = srv->ndomains;
  while (lo < hi) { /* strcmp order: canonical domains hold no NUL */
    size_t mid = lo + (hi - lo) / 2;
    const char *m = srv->domains[mid];
    size_t mlen = strlen(m);
    int c = memcmp(m, d, mlen < len ? mlen : len);
    if (c == 0)
      c = (mlen > len) - (mlen < len);
    if (c == 0)
      return (long)mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

void xsr__server_limits(xsr__server *srv, const xsr_router_config *rcfg) {
  /* header_max_decls does not count the stream prefix's declaration;
   * header_max_room counts every byte (see header_extra()). */
  xsr_router_sender_limits(rcfg, srv->header_max_room, srv->header_max_decls + 1, &srv->parser_cfg);
  srv->parser_cfg.accept = XSR_ACCEPT_CLIENT;
}

int xsr__server_account_exists(void *user, xsr_span bare) {
  const xsr__server *srv = user;
  const char *at = memchr(bare.ptr, '@', bare.len);
  if (!at)
    return 0;
  size_t llen = (size_t)(at - bare.ptr);
  xsr_span dom = {at + 1, bare.len - llen - 1};
  if (xsr__server_host(srv, dom.ptr, dom.len) < 0)
    return 0; /* not served: no server-to-server, the router bounces */
  /* Online: the table in force cannot be freed before our next quiescent
   * state, reference or not (xsr__server_users_swap). */
  const xsr__users *u = xsr__c2s_users_now(srv);
  const xsr__users *hu = xsr__users_host(u, dom.ptr, dom.len);
  int found = hu && xsr__users_lookup(hu, bare.ptr, llen) != NULL;
  /* For TSan: the swap's grace period orders this read before the table's
   * free, which TSan cannot see (liburcu is not instrumented). */
  if (u)
    XSR__C2S_TSAN_RELEASE(u);
  if (found)
    return 1;
  /* ANONYMOUS accounts exist while they have a session, and so does an
   * account that a reload removed while it was connected. */
  char jb[XSR_JID_MAX];
  xsr_jid j;
  xsr_session *one;
  return xsr_jid_parse(bare.ptr, bare.len, jb, sizeof jb, &j, NULL) == XSR_OK &&
         xsr_router_resources_rcu(srv->router, &j, &one, 1) > 0;
}

void xsr__server_users_swap(xsr__server *srv, const xsr__users *u) {
  const xsr__users *old = atomic_exchange_explicit(&srv->users_live, u, memory_order_acq_rel);
  /* Every online reader that may have loaded `old` without a reference
   * (account_exists, or a connection about to take one) passes a quiescent
   * state first. */
  synchronize_rcu();
  if (old)
    XSR__C2S_TSAN_ACQUIRE(old);
  xsr__users_free((xsr__users *)old);
}
