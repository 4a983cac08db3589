/* SPDX-License-Identifier: MIT */
/*
 * tools/load/client.c: one xsr-load client connection, on its thread's
 * loop: the libuv socket (connect, reads, one batched write per loop
 * iteration), xsr's own parser on every byte the server sends (so a server
 * that writes anything ill-formed fails the run), and the c2s login:
 * stream header, SASL (SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN through
 * libgsasl's client side), stream restart, resource binding, the legacy
 * session when the server requires it, initial presence.  Then every
 * stanza whose id is one of xsr-load's goes to sched.c.
 *
 * Also the loop thread's body (xl_thread_start): login pacing (--ramp, and
 * at most XL_CONNECTING logins in progress per thread), the phase tick,
 * the flush (uv_prepare: once per iteration, before the poll), teardown.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load.h"

#define XL_CONNECTING 256 /* logins in progress at once, per thread */
#define XL_CLOSE_MS   2000

enum {
  XL_C_IDLE = 0,   /* not started */
  XL_C_CONNECTING, /* TCP connect */
  XL_C_FEATURES,   /* header sent, waiting for the SASL mechanisms */
  XL_C_SASL,       /* <auth/> sent */
  XL_C_FEATURES2,  /* restarted, waiting for bind */
  XL_C_BIND,
  XL_C_SESSION,
  XL_C_READY
};

static const char ns_sasl[] = "urn:ietf:params:xml:ns:xmpp-sasl";

uint64_t xl_now_us(const xl_run *r) { return (uv_hrtime() - r->epoch_ns) / 1000u; }

void xl_thread_errorf(xl_thread *t, const char *fmt, ...) {
  if (t->error[0])
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->error, sizeof t->error, fmt, ap);
  va_end(ap);
}

/* ---- output ---------------------------------------------------------------- */

char *xl_client_reserve(xl_client *c, size_t n) {
  if (c->outcap - c->outlen < n) {
    size_t cap = c->outcap ? c->outcap : 1024;
    while (cap - c->outlen < n)
      cap *= 2;
    char *p = realloc(c->out, cap);
    if (!p)
      return NULL;
    c->out = p;
    c->outcap = cap;
  }
  return c->out + c->outlen;
}

void xl_client_commit(xl_client *c, size_t n) {
  c->outlen += n;
  if (!c->dirty) {
    c->dirty = 1;
    c->next_dirty = c->t->dirty;
    c->t->dirty = c;
  }
}

void xl_client_send(xl_client *c, const char *s, size_t n) {
  if (c->dead || c->closed_handle)
    return;
  char *p = xl_client_reserve(c, n);
  if (!p) {
    xl_client_fail(c, "out of memory");
    return;
  }
  memcpy(p, s, n);
  xl_client_commit(c, n);
}

static void on_closed(uv_handle_t *h);

static void close_handle(xl_client *c) {
  if (c->closed_handle || c->state == XL_C_IDLE)
    return;
  c->closed_handle = 1;
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void login_done(xl_client *c, int ok);

void xl_client_fail(xl_client *c, const char *fmt, ...) {
  if (c->dead)
    return;
  xl_thread *t = c->t;
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  c->dead = 1;
  atomic_store_explicit(&t->pub_dead, atomic_load_explicit(&t->pub_dead, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  if (c->state != XL_C_READY) {
    xl_thread_errorf(t, "%s%u@%s: login failed: %s", t->run->o.prefix, c->idx + 1, t->run->o.domain,
                     msg);
    login_done(c, 0);
  } else if (!c->closing) {
    t->c.errors++;
    xl_thread_errorf(t, "%s%u@%s: %s", t->run->o.prefix, c->idx + 1, t->run->o.domain, msg);
  }
  close_handle(c);
}

static void on_write_done(uv_write_t *req, int status) {
  xl_client *c = req->data;
  c->writing = 0;
  c->wlen = 0;
  if (status < 0) {
    if (!c->closed_handle)
      xl_client_fail(c, "write: %s", uv_strerror(status));
    return;
  }
  if (c->outlen && !c->dirty)
    xl_client_commit(c, 0);
}

static void flush_one(xl_client *c) {
  if (c->writing || c->closed_handle || c->outlen == 0)
    return;
  uv_buf_t b = uv_buf_init(c->out, (unsigned)c->outlen);
  int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (r == UV_EAGAIN || r == UV_ENOSYS)
    r = 0;
  if (r < 0) {
    xl_client_fail(c, "write: %s", uv_strerror(r));
    return;
  }
  if ((size_t)r == c->outlen) {
    c->outlen = 0;
    return;
  }
  /* The rest goes out with uv_write from the other buffer. */
  char *tmp = c->wbuf;
  size_t tcap = c->wcap;
  c->wbuf = c->out;
  c->wcap = c->outcap;
  c->wlen = c->outlen;
  c->out = tmp;
  c->outcap = tcap;
  c->outlen = 0;
  b = uv_buf_init(c->wbuf + r, (unsigned)(c->wlen - (size_t)r));
  c->wreq.data = c;
  int e = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write_done);
  if (e) {
    xl_client_fail(c, "write: %s", uv_strerror(e));
    return;
  }
  c->writing = 1;
}

void xl_thread_wake(xl_thread *from, unsigned to) {
  from->wake_mask[to / 64] |= UINT64_C(1) << (to % 64);
  from->any_wake = 1;
}

static void on_flush(uv_prepare_t *h) {
  xl_thread *t = h->data;
  if (t->any_wake) {
    t->any_wake = 0;
    for (unsigned w = 0; w < (t->run->o.threads + 63) / 64; w++) {
      uint64_t m = t->wake_mask[w];
      t->wake_mask[w] = 0;
      while (m) {
        unsigned b = (unsigned)__builtin_ctzll(m);
        m &= m - 1;
        uv_async_send(&t->run->threads[w * 64 + b].wake);
      }
    }
  }
  xl_client *c = t->dirty;
  t->dirty = NULL;
  while (c) {
    xl_client *next = c->next_dirty;
    c->dirty = 0;
    c->next_dirty = NULL;
    flush_one(c);
    c = next;
  }
}

/* ---- XML helpers -------------------------------------------------------------- */

static int span_is(xsr_span s, const char *lit) {
  size_t n = strlen(lit);
  return s.ptr && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* The text of element node `el`, decoded, NUL-terminated; "" when too long. */
static const char *node_text(const xsr_stanza *st, size_t el, char *out, size_t cap) {
  size_t n = 0;
  if (xsr_stanza_text(st, el, out, cap - 1, &n) != XSR_OK)
    n = 0;
  out[n] = 0;
  return out;
}

/* The local name of the first child element of node el, NUL-terminated. */
static const char *first_child_name(const xsr_stanza *st, size_t el, char *out, size_t cap) {
  size_t ch = 0, cnt = 0;
  const xsr_node *nodes = xsr_stanza_nodes(st, &cnt);
  out[0] = 0;
  for (size_t i = el + 1; i < cnt && nodes[i].depth > nodes[el].depth; i++) {
    if (nodes[i].kind == XSR_NODE_ELEMENT && nodes[i].depth == nodes[el].depth + 1) {
      ch = i;
      break;
    }
  }
  if (ch) {
    xsr_span n = xsr_stanza_node_name(st, &nodes[ch]);
    snprintf(out, cap, "%.*s", (int)n.len, n.ptr);
  }
  return out;
}

/* A copy of s escaped for an attribute value in single quotes (the JID the
 * server bound, which the ring pattern writes into 'to'); NULL: no memory. */
static char *attr_escape(const char *s) {
  size_t n = 1;
  for (const char *p = s; *p; p++)
    n += (*p == '&' || *p == '<' || *p == '>' || *p == '\'' || *p == '"') ? 6 : 1;
  char *out = malloc(n), *o = out;
  if (!out)
    return NULL;
  for (const char *p = s; *p; p++) {
    const char *e = *p == '&'    ? "&amp;"
                    : *p == '<'  ? "&lt;"
                    : *p == '>'  ? "&gt;"
                    : *p == '\'' ? "&apos;"
                    : *p == '"'  ? "&quot;"
                                 : NULL;
    if (e) {
      memcpy(o, e, strlen(e));
      o += strlen(e);
    } else {
      *o++ = *p;
    }
  }
  *o = 0;
  return out;
}

/* ---- SASL ---------------------------------------------------------------------- */

static const char *const mech_names[] = {NULL, "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"};

/* libgsasl asks for the SCRAM salted password before computing it: answer
 * from the thread's cache when the salt and iterations are those last
 * seen (xsr-load's users file gives every account the same salt). */
static int on_gsasl_property(Gsasl *g, Gsasl_session *s, Gsasl_property prop) {
  xl_thread *t = gsasl_callback_hook_get(g);
  if (prop != GSASL_SCRAM_SALTED_PASSWORD || !t || !s || !t->salted_key[0])
    return GSASL_NO_CALLBACK;
  const char *salt = gsasl_property_fast(s, GSASL_SCRAM_SALT);
  const char *iter = gsasl_property_fast(s, GSASL_SCRAM_ITER);
  xl_client *c = gsasl_session_hook_get(s);
  if (!salt || !iter || !c)
    return GSASL_NO_CALLBACK;
  char key[256];
  snprintf(key, sizeof key, "%d %s %s", t->run->o.mech, salt, iter);
  if (strcmp(key, t->salted_key) != 0)
    return GSASL_NO_CALLBACK;
  return gsasl_property_set(s, GSASL_SCRAM_SALTED_PASSWORD, t->salted_val);
}

static void remember_salted(xl_client *c) {
  xl_thread *t = c->t;
  const char *salt = gsasl_property_fast(c->sasl, GSASL_SCRAM_SALT);
  const char *iter = gsasl_property_fast(c->sasl, GSASL_SCRAM_ITER);
  const char *sp = gsasl_property_fast(c->sasl, GSASL_SCRAM_SALTED_PASSWORD);
  if (!salt || !iter || !sp || strlen(sp) >= sizeof t->salted_val)
    return;
  int n = snprintf(t->salted_key, sizeof t->salted_key, "%d %s %s", t->run->o.mech, salt, iter);
  if (n < 0 || (size_t)n >= sizeof t->salted_key) {
    t->salted_key[0] = 0;
    return;
  }
  snprintf(t->salted_val, sizeof t->salted_val, "%s", sp);
}

static void sasl_send(xl_client *c, const char *elem, const char *mech, const char *b64) {
  char *p = xl_client_reserve(c, strlen(b64) + 200);
  if (!p) {
    xl_client_fail(c, "out of memory");
    return;
  }
  int n;
  if (mech)
    n = sprintf(p, "<%s xmlns='%s' mechanism='%s'>%s</%s>", elem, ns_sasl, mech, b64[0] ? b64 : "=",
                elem);
  else
    n = sprintf(p, "<%s xmlns='%s'>%s</%s>", elem, ns_sasl, b64, elem);
  xl_client_commit(c, (size_t)n);
}

static void start_sasl(xl_client *c, unsigned offered) {
  xl_thread *t = c->t;
  int m = t->run->o.mech;
  if (m == XL_MECH_AUTO) {
    for (int i = XL_MECH_SCRAM256; i <= XL_MECH_PLAIN; i++)
      if ((offered & (1u << i)) && gsasl_client_support_p(t->gsasl, mech_names[i])) {
        m = i;
        break;
      }
    if (m == XL_MECH_AUTO) {
      xl_client_fail(c, "the server offers none of SCRAM-SHA-256, SCRAM-SHA-1, PLAIN");
      return;
    }
  } else if (!(offered & (1u << m))) {
    xl_client_fail(c, "the server does not offer %s", mech_names[m]);
    return;
  }
  t->mech_used = m;
  int rc = gsasl_client_start(t->gsasl, mech_names[m], &c->sasl);
  if (rc != GSASL_OK) {
    xl_client_fail(c, "libgsasl: %s", gsasl_strerror(rc));
    return;
  }
  gsasl_session_hook_set(c->sasl, c);
  char user[96];
  snprintf(user, sizeof user, "%s%u", t->run->o.prefix, c->idx + 1);
  gsasl_property_set(c->sasl, GSASL_AUTHID, user);
  gsasl_property_set(c->sasl, GSASL_PASSWORD, t->run->o.password);
  char *out = NULL;
  rc = gsasl_step64(c->sasl, "", &out);
  if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
    gsasl_free(out);
    xl_client_fail(c, "libgsasl: %s", gsasl_strerror(rc));
    return;
  }
  sasl_send(c, "auth", mech_names[m], out ? out : "");
  gsasl_free(out);
  c->state = XL_C_SASL;
}

/* ---- the login state machine ---------------------------------------------- */

static void send_header(xl_client *c) {
  char buf[512];
  int n = snprintf(buf, sizeof buf,
                   "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                   "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>",
                   c->t->run->o.domain);
  xl_client_send(c, buf, (size_t)n);
}

static void login_done(xl_client *c, int ok) {
  xl_thread *t = c->t;
  if (c->state == XL_C_IDLE)
    return;
  t->in_progress--;
  if (ok) {
    t->c.login_ok++;
    atomic_store_explicit(&t->pub_ready, t->c.login_ok, memory_order_release);
  } else {
    t->c.login_failed++;
    atomic_store_explicit(&t->pub_failed, t->c.login_failed, memory_order_release);
  }
}

static void features_after_auth(xl_client *c, const xsr_stanza *st) {
  if (!xsr_stanza_find_child(st, 0, XSR_NS_XMPP_BIND, "bind")) {
    xl_client_fail(c, "the server offers no resource binding");
    return;
  }
  size_t s = xsr_stanza_find_child(st, 0, XSR_NS_XMPP_SESSION, "session");
  c->need_session = s && !xsr_stanza_find_child(st, s, XSR_NS_XMPP_SESSION, "optional");
  char buf[256];
  int n = snprintf(buf, sizeof buf,
                   "<iq type='set' id='xb'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                   "<resource>r%u</resource></bind></iq>",
                   c->idx + 1);
  xl_client_send(c, buf, (size_t)n);
  c->state = XL_C_BIND;
}

static void ready(xl_client *c) {
  static const char presence[] = "<presence/>";
  xl_client_send(c, presence, sizeof presence - 1);
  c->state = XL_C_READY;
  login_done(c, 1);
}

static int on_stream_open(void *user, const xsr_stream_header *h) {
  (void)user;
  (void)h;
  return 0;
}

static int on_stream_close(void *user, uint64_t off) {
  xl_client *c = user;
  (void)off;
  if (c->closing) {
    close_handle(c);
    return XSR_PAUSE;
  }
  xl_client_fail(c, "the server closed the stream");
  return XSR_PAUSE;
}

static int stream_error(xl_client *c, const xsr_stanza *st) {
  char cond[64], text[256] = "";
  first_child_name(st, 0, cond, sizeof cond);
  size_t tx = xsr_stanza_find_child(st, 0, XSR_NS_XMPP_STREAMS, "text");
  if (tx)
    node_text(st, tx, text, sizeof text);
  xl_client_fail(c, "stream error <%s/>%s%s", cond, text[0] ? ": " : "", text);
  return XSR_PAUSE;
}

static int on_stanza(void *user, const xsr_stanza *st) {
  xl_client *c = user;
  if (c->dead)
    return XSR_PAUSE;
  if (st->ns == XSR_NS_STREAMS && span_is(st->name, "error"))
    return stream_error(c, st);
  if (c->state == XL_C_READY) {
    if (st->id.ptr && st->id.len > 3 && memcmp(st->id.ptr, "xl.", 3) == 0) {
      xl_sched_receive(c, st);
      return 0;
    }
    /* Answer the server's pings (XEP-0199); anything else is not ours. */
    if (span_is(st->name, "iq") && span_is(st->type, "get") &&
        xsr_stanza_find_child(st, 0, XSR_NS_PING, "ping") && st->id.ptr && st->from.ptr &&
        st->id.len < 200 && st->from.len < 600) {
      /* The values are copied raw (escaped as the server wrote them): one
       * that holds an apostrophe came in double quotes and goes out so. */
      char buf[1024];
      char qi = memchr(st->id.ptr, '\'', st->id.len) ? '"' : '\'';
      char qf = memchr(st->from.ptr, '\'', st->from.len) ? '"' : '\'';
      int n = snprintf(buf, sizeof buf, "<iq type='result' id=%c%.*s%c to=%c%.*s%c/>", qi,
                       (int)st->id.len, st->id.ptr, qi, qf, (int)st->from.len, st->from.ptr, qf);
      xl_client_send(c, buf, (size_t)n);
    }
    return 0;
  }
  char b[512];
  switch (c->state) {
  case XL_C_FEATURES: {
    if (!(st->ns == XSR_NS_STREAMS && span_is(st->name, "features")))
      return 0;
    size_t ms = xsr_stanza_find_child(st, 0, XSR_NS_XMPP_SASL, "mechanisms");
    unsigned offered = 0;
    if (ms) {
      size_t cnt = 0;
      const xsr_node *nodes = xsr_stanza_nodes(st, &cnt);
      for (size_t i = ms + 1; i < cnt && nodes[i].depth > nodes[ms].depth; i++) {
        if (nodes[i].kind != XSR_NODE_ELEMENT ||
            !span_is(xsr_stanza_node_name(st, &nodes[i]), "mechanism"))
          continue;
        node_text(st, i, b, sizeof b);
        for (int m = XL_MECH_SCRAM256; m <= XL_MECH_PLAIN; m++)
          if (strcmp(b, mech_names[m]) == 0)
            offered |= 1u << m;
      }
    }
    start_sasl(c, offered);
    return c->dead ? XSR_PAUSE : 0;
  }
  case XL_C_SASL: {
    if (st->ns != XSR_NS_XMPP_SASL)
      return 0;
    if (span_is(st->name, "challenge") || span_is(st->name, "success")) {
      int success = span_is(st->name, "success");
      node_text(st, 0, b, sizeof b);
      char *out = NULL;
      int rc = GSASL_OK;
      if (!success || (b[0] && strcmp(b, "=") != 0))
        rc = gsasl_step64(c->sasl, strcmp(b, "=") == 0 ? "" : b, &out);
      if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
        gsasl_free(out);
        xl_client_fail(c, "SASL: %s", gsasl_strerror(rc));
        return XSR_PAUSE;
      }
      if (!success) {
        sasl_send(c, "response", NULL, out ? out : "");
        gsasl_free(out);
        return 0;
      }
      gsasl_free(out);
      if (rc != GSASL_OK) {
        xl_client_fail(c, "SASL: the server's <success/> did not complete the exchange");
        return XSR_PAUSE;
      }
      remember_salted(c);
      gsasl_finish(c->sasl);
      c->sasl = NULL;
      c->restart = 1;
      c->state = XL_C_FEATURES2;
      send_header(c);
      return XSR_PAUSE;
    }
    if (span_is(st->name, "failure")) {
      char cond[64], text[256] = "";
      first_child_name(st, 0, cond, sizeof cond);
      size_t tx = xsr_stanza_find_child(st, 0, XSR_NS_XMPP_SASL, "text");
      if (tx)
        node_text(st, tx, text, sizeof text);
      xl_client_fail(c, "SASL failure <%s/>%s%s", cond, text[0] ? ": " : "", text);
      return XSR_PAUSE;
    }
    return 0;
  }
  case XL_C_FEATURES2:
    if (st->ns == XSR_NS_STREAMS && span_is(st->name, "features"))
      features_after_auth(c, st);
    return c->dead ? XSR_PAUSE : 0;
  case XL_C_BIND:
  case XL_C_SESSION:
    if (!span_is(st->name, "iq") || !span_is(st->id, c->state == XL_C_BIND ? "xb" : "xs"))
      return 0;
    if (!span_is(st->type, "result")) {
      size_t e = xsr_stanza_find_child(st, 0, XSR_NS_CLIENT, "error");
      char cond[64] = "";
      if (e)
        first_child_name(st, e, cond, sizeof cond);
      xl_client_fail(c, "%s refused: <%s/>", c->state == XL_C_BIND ? "bind" : "session", cond);
      return XSR_PAUSE;
    }
    if (c->state == XL_C_BIND) {
      size_t bn = xsr_stanza_find_child(st, 0, XSR_NS_XMPP_BIND, "bind");
      size_t j = bn ? xsr_stanza_find_child(st, bn, XSR_NS_XMPP_BIND, "jid") : 0;
      if (!j) {
        xl_client_fail(c, "bind result without a JID");
        return XSR_PAUSE;
      }
      node_text(st, j, b, sizeof b);
      free(c->jid);
      c->jid = attr_escape(b);
      if (!c->jid) {
        xl_client_fail(c, "out of memory");
        return XSR_PAUSE;
      }
      if (c->need_session) {
        static const char sess[] = "<iq type='set' id='xs'><session "
                                   "xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>";
        xl_client_send(c, sess, sizeof sess - 1);
        c->state = XL_C_SESSION;
        return 0;
      }
    }
    ready(c);
    return 0;
  default:
    return 0;
  }
}

static const xsr_parser_callbacks parser_cb = {on_stream_open, on_stanza, on_stream_close};

/* ---- socket events ------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf) {
  xl_client *c = (xl_client *)h;
  (void)want;
  *buf = uv_buf_init(c->t->rbuf, sizeof c->t->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  xl_client *c = (xl_client *)s;
  if (nread == 0 || c->closed_handle)
    return;
  if (nread < 0) {
    if (c->closing)
      close_handle(c);
    else if (nread == UV_EOF)
      xl_client_fail(c, "the server closed the connection");
    else
      xl_client_fail(c, "read: %s", uv_strerror((int)nread));
    return;
  }
  xsr_err rc = xsr_parser_feed(c->parser, buf->base, (size_t)nread);
  while (rc == XSR_PAUSED && !c->dead && !c->closed_handle) {
    if (c->restart) {
      c->restart = 0;
      rc = xsr_parser_restart(c->parser);
      if (rc != XSR_OK)
        break;
    }
    rc = xsr_parser_resume(c->parser);
  }
  if (rc != XSR_OK && rc != XSR_PAUSED && !c->dead && !c->closed_handle) {
    uint64_t off = 0;
    xsr_parser_error(c->parser, &off);
    xl_client_fail(c, "the server sent bad XML at byte %llu: %s (%s)", (unsigned long long)off,
                   xsr_err_name(rc), xsr_err_condition(rc));
  }
}

static void on_connect(uv_connect_t *req, int status) {
  xl_client *c = req->data;
  if (c->closed_handle)
    return;
  if (status < 0) {
    xl_client_fail(c, "connect to %s: %s", c->t->run->o.server, uv_strerror(status));
    return;
  }
  int e = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (e) {
    xl_client_fail(c, "read: %s", uv_strerror(e));
    return;
  }
  c->state = XL_C_FEATURES;
  send_header(c);
}

static void start_client(xl_client *c) {
  xl_thread *t = c->t;
  c->parser = xsr_parser_new(&t->pcfg, &parser_cb, c, NULL);
  if (!c->parser || uv_tcp_init(&t->loop, &c->tcp)) {
    xsr_parser_free(c->parser);
    c->parser = NULL;
    t->c.login_failed++;
    atomic_store_explicit(&t->pub_failed, t->c.login_failed, memory_order_release);
    xl_thread_errorf(t, "out of memory or sockets starting client %u", c->idx + 1);
    return;
  }
  t->live++;
  t->in_progress++;
  c->state = XL_C_CONNECTING;
  uv_tcp_nodelay(&c->tcp, 1);
  c->creq.data = c;
  int e = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&t->run->o.addr, on_connect);
  if (e)
    xl_client_fail(c, "connect to %s: %s", t->run->o.server, uv_strerror(e));
}

static void maybe_finish(xl_thread *t);

static void on_closed(uv_handle_t *h) {
  xl_client *c = (xl_client *)h;
  xl_thread *t = c->t;
  xsr_parser_free(c->parser);
  c->parser = NULL;
  if (c->sasl) {
    gsasl_finish(c->sasl);
    c->sasl = NULL;
  }
  t->live--;
  maybe_finish(t);
}

/* Starts the logins that the pacing allows now. */
static void start_logins(xl_thread *t) {
  const xl_opts *o = &t->run->o;
  unsigned allowed = t->n;
  if (o->ramp > 0) {
    double per_thread = o->ramp / (double)o->threads;
    double el = (double)(xl_now_us(t->run) - t->ramp_start_us) / 1e6;
    double a = 1.0 + el * per_thread;
    allowed = a < (double)t->n ? (unsigned)a : t->n;
  }
  while (t->started < allowed && t->in_progress < XL_CONNECTING && !t->closing) {
    xl_client *c = &t->clients[t->started++];
    start_client(c);
  }
}

/* ---- closing ------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
  xl_thread *t = h->data;
  t->own_handles--;
}

/* Every client closed: tell the main thread, which sets XL_PH_EXIT once
 * all threads are there (until then another thread may still wake this
 * one, so the async handle must stay open). */
static void maybe_finish(xl_thread *t) {
  if (!t->closing || t->live > 0)
    return;
  atomic_store_explicit(&t->finished, 1, memory_order_release);
}

static void close_own_handles(xl_thread *t) {
  if (t->finishing)
    return;
  t->finishing = 1;
  uv_handle_t *hs[] = {(uv_handle_t *)&t->wake, (uv_handle_t *)&t->tick, (uv_handle_t *)&t->flush,
                       (uv_handle_t *)&t->closetimer};
  for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
    uv_close(hs[i], on_handle_closed);
  if (t->tfd >= 0)
    uv_close((uv_handle_t *)&t->olpoll, on_handle_closed);
}

static void on_close_timeout(uv_timer_t *h) {
  xl_thread *t = h->data;
  for (unsigned i = 0; i < t->started; i++)
    close_handle(&t->clients[i]);
}

static void begin_close(xl_thread *t) {
  if (t->closing)
    return;
  t->closing = 1;
  if (t->tfd >= 0)
    uv_poll_stop(&t->olpoll);
  static const char end[] = "</stream:stream>";
  for (unsigned i = 0; i < t->started; i++) {
    xl_client *c = &t->clients[i];
    if (c->closed_handle || c->dead)
      continue;
    if (c->state == XL_C_READY) {
      xl_client_send(c, end, sizeof end - 1);
      c->closing = 1;
    } else {
      c->closing = 1;
      close_handle(c);
    }
  }
  uv_timer_start(&t->closetimer, on_close_timeout, XL_CLOSE_MS, 0);
  maybe_finish(t);
}

/* ---- the thread ------------------------------------------------------------------ */

/* The run's phase; in the close and exit phases, does their work first
 * (the tick and the wake-up then do nothing else). */
static int phase_step(xl_thread *t) {
  int ph = atomic_load_explicit(&t->run->phase, memory_order_acquire);
  if (ph == XL_PH_EXIT)
    close_own_handles(t);
  else if (ph == XL_PH_CLOSE)
    begin_close(t);
  return ph;
}

static void on_tick(uv_timer_t *h) {
  xl_thread *t = h->data;
  int ph = phase_step(t);
  if (ph == XL_PH_EXIT || ph == XL_PH_CLOSE)
    return;
  start_logins(t);
  if (ph == XL_PH_RUN)
    xl_sched_tick(t);
}

static void on_wake(uv_async_t *h) {
  xl_thread *t = h->data;
  int ph = phase_step(t);
  if (ph == XL_PH_EXIT || ph == XL_PH_CLOSE)
    return;
  xl_sched_remote_acks(t);
}

static void thread_main(void *arg) {
  xl_thread *t = arg;
  t->ramp_start_us = xl_now_us(t->run);
  uv_timer_start(&t->tick, on_tick, 0, 5);
  uv_prepare_start(&t->flush, on_flush);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  for (unsigned i = 0; i < t->n; i++) {
    t->c.clients_sent += t->clients[i].seq > 0;
    t->c.clients_received += t->clients[i].rx_hi > 0;
  }
}

int xl_thread_start(xl_thread *t) {
  if (gsasl_init(&t->gsasl) != GSASL_OK)
    return -1;
  gsasl_callback_set(t->gsasl, on_gsasl_property);
  gsasl_callback_hook_set(t->gsasl, t);
  t->pool = xsr_parser_pool_new(NULL);
  if (!t->pool || uv_loop_init(&t->loop))
    return -1;
  xsr_parser_config_init(&t->pcfg);
  t->pcfg.accept = XSR_ACCEPT_CLIENT;
  t->pcfg.pool = t->pool;
  uv_handle_t *hs[] = {(uv_handle_t *)&t->wake, (uv_handle_t *)&t->tick, (uv_handle_t *)&t->flush,
                       (uv_handle_t *)&t->closetimer};
  uv_async_init(&t->loop, &t->wake, on_wake);
  uv_timer_init(&t->loop, &t->tick);
  uv_prepare_init(&t->loop, &t->flush);
  uv_timer_init(&t->loop, &t->closetimer);
  for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
    hs[i]->data = t;
  t->own_handles = (unsigned)(sizeof hs / sizeof hs[0]);
  if (xl_sched_init(t))
    return -1;
  for (unsigned i = 0; i < t->n; i++)
    t->clients[i].t = t;
  return uv_thread_create(&t->thr, thread_main, t) ? -1 : 0;
}

void xl_thread_cleanup(xl_thread *t) {
  uv_loop_close(&t->loop);
  for (unsigned i = 0; i < t->n; i++) {
    xl_client *c = &t->clients[i];
    free(c->out);
    free(c->wbuf);
    free(c->jid);
  }
  xsr_parser_pool_free(t->pool);
  if (t->tfd >= 0)
    close(t->tfd);
  if (t->gsasl)
    gsasl_done(t->gsasl);
}
