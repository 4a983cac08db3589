/* SPDX-License-Identifier: MIT */
/*
 * Delivery rules (RFC 6120 section 10, RFC 6121 section 8.5), 'from'
 * stamping and bounces.  The rule table itself is documented in router.h;
 * this file implements it as one decision per (stanza kind, type, address
 * form), reading the bare JID's precomputed delivery set.
 *
 * The hot path (a full- or bare-JID message between local users) does: one
 * ASCII JID parse of 'to' into a stack buffer, one hash, one cds_lfht
 * lookup, one acquire load of the delivery set, three compares of the
 * rewritten stanza against the recipients' limits, a budget reservation per
 * recipient, one allocation and one copy of the stanza with 'from' stamped
 * (and, rarely, the forwarding context added), and one queue push per
 * recipient.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "xsr/writer.h"

typedef enum stype {
  T_NORMAL,
  T_CHAT,
  T_GROUPCHAT,
  T_HEADLINE,
  T_ERROR,
  T_AVAILABLE,
  T_UNAVAILABLE,
  T_SUBSCRIPTION, /* subscribe, subscribed, unsubscribe, unsubscribed */
  T_PROBE,
  T_GETSET,
  T_RESULT,
  T_INVALID
} stype;

enum { K_MESSAGE, K_PRESENCE, K_IQ };

static int span_is(xsr_span s, const char *lit, size_t n) {
  return s.len == n && memcmp(s.ptr, lit, n) == 0;
}
#define IS(s, lit) span_is((s), lit, sizeof(lit) - 1)

/* A routing value, decoded when it holds references.  Small values are
 * decoded into `stack`; larger ones into a heap buffer the caller frees. */
static xsr_err value_of(xsr_span raw, int escaped, char *stack, size_t cap, char **heap,
                        xsr_span *out) {
  *heap = NULL;
  *out = raw;
  if (!raw.ptr || !escaped)
    return XSR_OK;
  char *dst = stack;
  if (raw.len > cap) {
    dst = malloc(raw.len ? raw.len : 1);
    if (!dst)
      return XSR_ENOMEM;
    *heap = dst;
  }
  size_t n = 0;
  xsr_err rc = xsr_decode_attr(raw, dst, raw.len, &n);
  if (rc != XSR_OK)
    return rc;
  out->ptr = dst;
  out->len = n;
  return XSR_OK;
}

static stype classify(int kind, xsr_span t) {
  switch (kind) {
  case K_MESSAGE:
    if (!t.ptr || IS(t, "normal"))
      return T_NORMAL;
    if (IS(t, "chat"))
      return T_CHAT;
    if (IS(t, "groupchat"))
      return T_GROUPCHAT;
    if (IS(t, "headline"))
      return T_HEADLINE;
    if (IS(t, "error"))
      return T_ERROR;
    return T_NORMAL; /* RFC 6121 5.2.2: unknown types are "normal" */
  case K_PRESENCE:
    if (!t.ptr)
      return T_AVAILABLE;
    if (IS(t, "unavailable"))
      return T_UNAVAILABLE;
    if (IS(t, "subscribe") || IS(t, "subscribed") || IS(t, "unsubscribe") || IS(t, "unsubscribed"))
      return T_SUBSCRIPTION;
    if (IS(t, "probe"))
      return T_PROBE;
    if (IS(t, "error"))
      return T_ERROR;
    return T_INVALID;
  default:
    if (!t.ptr)
      return T_INVALID;
    if (IS(t, "get") || IS(t, "set"))
      return T_GETSET;
    if (IS(t, "result"))
      return T_RESULT;
    if (IS(t, "error"))
      return T_ERROR;
    return T_INVALID;
  }
}

/* ---- from stamping -------------------------------------------------------- */

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Finds where the element name ends (the insertion point) and the byte
 * range of an existing from attribute (with its leading whitespace) in the
 * raw stanza.  Works from the raw bytes and the 'from' span alone, so views
 * without an index work too. */
static int stamp_plan(const xsr_stanza *st, size_t *ins, size_t *cut_a, size_t *cut_b) {
  const char *p = st->raw.ptr;
  size_t n = st->raw.len, i = 1;
  /* When the name span is the one in `raw`, the scan may start after it:
   * stanza_kind() has checked it is "message", "presence" or "iq", which
   * hold no byte that stops the scan, so the result is the same. */
  if (st->name.ptr == p + 1 && st->name.len + 1 < n)
    i = st->name.len + 1;
  while (i < n && !is_ws(p[i]) && p[i] != '/' && p[i] != '>')
    i++;
  if (i >= n)
    return 0;
  *ins = i;
  *cut_a = *cut_b = i;
  if (!st->from.ptr)
    return 1;
  if (st->from.ptr < p + i + 7 || st->from.ptr + st->from.len >= p + n)
    return 0;
  size_t v = (size_t)(st->from.ptr - p); /* first byte of the value */
  char q = p[v - 1];
  if ((q != '\'' && q != '"') || p[v + st->from.len] != q)
    return 0;
  size_t j = v - 1;
  while (j > i && is_ws(p[j - 1]))
    j--;
  if (j <= i || p[j - 1] != '=')
    return 0;
  j--;
  while (j > i && is_ws(p[j - 1]))
    j--;
  if (j < i + 5 || memcmp(p + j - 4, "from", 4) != 0 || !is_ws(p[j - 5]))
    return 0;
  j -= 5;
  *cut_a = j; /* the whitespace before "from" */
  *cut_b = v + st->from.len + 1;
  return 1;
}

/* The forwarding context (router.h FROM STAMPING), written after the
 * 'from': " xmlns:P='URI'" per inherited binding, then " xml:lang='L'" when
 * `lang` is set.  With out NULL, only counts.  Returns the length. */
static size_t put_context(char *out, const xsr_stanza *st, int lang) {
  size_t o = 0;
  for (size_t i = 0; i < st->inherited_count; i++) {
    const xsr_ns_decl *d = &st->inherited[i];
    if (out) {
      memcpy(out + o, " xmlns:", 7);
      memcpy(out + o + 7, d->prefix.ptr, d->prefix.len);
      memcpy(out + o + 7 + d->prefix.len, "='", 2);
    }
    o += 7 + d->prefix.len + 2;
    o += xsr__escape_attr(out ? out + o : NULL, d->uri.ptr, d->uri.len);
    if (out)
      out[o] = '\'';
    o++;
  }
  if (lang) {
    if (out)
      memcpy(out + o, " xml:lang='", 11);
    o += 11;
    o += xsr__escape_attr(out ? out + o : NULL, st->stream_lang.ptr, st->stream_lang.len);
    if (out)
      out[o] = '\'';
    o++;
  }
  return o;
}

/* Stamps and queues st to to[0..n).  Returns XSR_ELIMITSTANZA,
 * XSR_ELIMITATTRS or XSR_ELIMITNSDECL, having reserved nothing, when the
 * rewritten stanza would exceed what recipients accept (router.h LIMITS):
 * the caller bounces it.  The counts come from the view: they are what the
 * parser counted, and nothing here re-reads the start tag for them. */
static xsr_err deliver_stamped(xsr_router *r, xsr_session *from, const xsr_stanza *st,
                               xsr_session *const *to, unsigned n, xsr_route_result *res) {
  size_t ins, a, b;
  if (!stamp_plan(st, &ins, &a, &b))
    return XSR_EINVAL;
  size_t len = st->raw.len - (b - a) + from->from_attr_len;
  /* Attributes of the delivered start tag: the stamped 'from' replaces the
   * client's, one of tag_attrs (a view built by hand may leave tag_attrs 0
   * even so: the 'from' is still one). */
  size_t attrs = (size_t)st->tag_attrs + (st->from.ptr == NULL);
  if (attrs == 0)
    attrs = 1;
  size_t decls = st->tag_decls;
  int lang = !st->lang.ptr && st->stream_lang.ptr;
  size_t ctx = 0;
  if (st->inherited_count || lang) {
    ctx = put_context(NULL, st, lang);
    len += ctx;
    attrs += st->inherited_count + (unsigned)lang;
    decls += st->inherited_count;
  }
  if (len > r->cfg.max_stanza) /* at most XSR_MAX_STANZA_LIMIT < UINT32_MAX */
    return len > UINT32_MAX ? XSR_EINVAL : XSR_ELIMITSTANZA;
  if (attrs > r->cfg.max_attrs)
    return XSR_ELIMITATTRS;
  if (decls > r->cfg.max_ns_decls)
    return XSR_ELIMITNSDECL;
  for (unsigned i = 0; i < n; i++) {
    if (!xsr__reserve(to[i], len)) {
      res->blocked = to[i];
      while (i-- > 0)
        xsr__unreserve(to[i], len);
      return XSR_EQUEUEFULL;
    }
  }
  xsr__rbuf *buf = xsr__rbuf_new(r, len, n);
  if (!buf) {
    for (unsigned i = 0; i < n; i++)
      xsr__unreserve(to[i], len);
    return XSR_ENOMEM;
  }
  const char *p = st->raw.ptr;
  const char *attr = from->str + (from->local_len ? from->local_len + 1u : 0u) + from->domain_len +
                     1u + from->resource_len;
  char *o = buf->data;
  memcpy(o, p, ins);
  o += ins;
  memcpy(o, attr, from->from_attr_len);
  o += from->from_attr_len;
  if (ctx)
    o += put_context(o, st, lang);
  if (a > ins) { /* attributes before the client's own 'from' */
    memcpy(o, p + ins, a - ins);
    o += a - ins;
  }
  memcpy(o, p + b, st->raw.len - b);
  xsr__deliver(buf, to, n);
  res->action = XSR_ROUTE_DELIVER;
  res->recipients = n;
  return XSR_OK;
}

/* ---- bounces -------------------------------------------------------------- */

static void write_error(xsr_writer *w, const xsr_stanza *st, xsr_span to, xsr_span from,
                        xsr_span id, const char *condition, const char *etype) {
  xsr_writer_start_n(w, st->name.ptr, st->name.len);
  xsr_writer_attr_n(w, "to", 2, to.ptr, to.len);
  xsr_writer_attr_n(w, "from", 4, from.ptr, from.len);
  if (id.ptr)
    xsr_writer_attr_n(w, "id", 2, id.ptr, id.len);
  xsr_writer_attr(w, "type", "error");
  xsr_writer_start(w, "error");
  xsr_writer_attr(w, "type", etype);
  xsr_writer_start(w, condition);
  xsr_writer_attr(w, "xmlns", "urn:ietf:params:xml:ns:xmpp-stanzas");
  xsr_writer_end(w);
  xsr_writer_end(w);
  xsr_writer_end(w);
}

static xsr_err bounce(xsr_router *r, xsr_session *sender, const xsr_stanza *st, xsr_span orig_to,
                      const char *condition, const char *etype, xsr_route_result *res) {
  res->action = XSR_ROUTE_BOUNCE;
  res->condition = condition;
  res->recipients = 0;
  xsr_jid sj = xsr_session_jid(sender);
  xsr_span to = xsr_jid_full(&sj);
  xsr_span from = orig_to.ptr ? orig_to : sj.domain;
  char idstack[256];
  char *idheap = NULL;
  xsr_span id;
  xsr_err rc =
      value_of(st->id, (st->escaped & XSR_ROUTE_ID) != 0, idstack, sizeof idstack, &idheap, &id);
  if (rc != XSR_OK)
    return rc;
  xsr_writer w;
  xsr_writer_init(&w, NULL, 0);
  write_error(&w, st, to, from, id, condition, etype);
  size_t len = 0;
  rc = xsr_writer_finish(&w, &len);
  if (rc != XSR_OK && rc != XSR_ENOSPC)
    goto out; /* unwritable values: drop */
  if (len > r->cfg.max_stanza) {
    /* Longer than the sender's stream may read (an id or 'to' of many
     * escaped bytes): dropped, and said so. */
    res->action = XSR_ROUTE_DROP;
    res->condition = NULL;
    rc = XSR_OK;
    goto out;
  }
  if (!xsr__reserve(sender, len)) {
    rc = XSR_OK; /* the sender's own queue is full: the bounce is dropped */
    goto out;
  }
  xsr__rbuf *b = xsr__rbuf_new(r, len, 1);
  if (!b) {
    xsr__unreserve(sender, len);
    rc = XSR_ENOMEM;
    goto out;
  }
  xsr_writer_init(&w, b->data, len);
  write_error(&w, st, to, from, id, condition, etype);
  rc = xsr_writer_finish(&w, &len);
  if (rc != XSR_OK) {
    xsr__unreserve(sender, b->len);
    xsr__free(r, b);
    goto out;
  }
  xsr__deliver(b, &sender, 1);
  res->recipients = 1;
out:
  free(idheap);
  return rc;
}

static int stanza_kind(const xsr_stanza *st) {
  if (st->prefix.len != 0)
    return -1;
  if (st->ns != XSR_NS_CLIENT && st->ns != XSR_NS_SERVER && st->ns != XSR_NS_COMPONENT)
    return -1;
  if (IS(st->name, "message"))
    return K_MESSAGE;
  if (IS(st->name, "presence"))
    return K_PRESENCE;
  if (IS(st->name, "iq"))
    return K_IQ;
  return -1;
}

xsr_err xsr_router_bounce_rcu(xsr_router *r, xsr_session *to, const xsr_stanza *st,
                              const char *condition, const char *type) {
  int kind;
  if (!r || !to || !st || !condition || !type || (kind = stanza_kind(st)) < 0)
    return XSR_EINVAL;
  char tstack[32], *theap = NULL;
  xsr_span t;
  xsr_err rc =
      value_of(st->type, (st->escaped & XSR_ROUTE_TYPE) != 0, tstack, sizeof tstack, &theap, &t);
  /* Never answer an error, nor an iq result (RFC 6120 section 8.2.3). */
  int cls = rc == XSR_OK ? classify(kind, t) : T_ERROR;
  int is_error = rc == XSR_OK && (cls == T_ERROR || (kind == K_IQ && cls == T_RESULT));
  free(theap);
  if (rc != XSR_OK)
    return rc;
  if (is_error)
    return XSR_EINVAL;
  char tostack[512], *toheap = NULL;
  xsr_span orig_to;
  rc = value_of(st->to, (st->escaped & XSR_ROUTE_TO) != 0, tostack, sizeof tostack, &toheap,
                &orig_to);
  if (rc == XSR_OK) {
    xsr_route_result res;
    memset(&res, 0, sizeof res);
    rc = bounce(r, to, st, orig_to, condition, type, &res);
    if (rc == XSR_OK && res.action == XSR_ROUTE_DROP)
      rc = XSR_ELIMITSTANZA; /* longer than cfg.max_stanza: never fits */
    else if (rc == XSR_OK && res.recipients == 0)
      rc = XSR_EQUEUEFULL;
  }
  free(toheap);
  return rc;
}

/* ---- the rules ------------------------------------------------------------ */

#define SU "service-unavailable"

xsr_err xsr_router_route_rcu(xsr_router *r, xsr_session *from, const xsr_stanza *st,
                             xsr_route_result *res) {
  if (!res)
    return XSR_EINVAL;
  memset(res, 0, sizeof *res);
  int kind;
  if (!r || !from || !st || !st->raw.ptr || st->raw.len < 3 || (kind = stanza_kind(st)) < 0)
    return XSR_EINVAL;

  stype t;
  if (st->type.ptr && (st->escaped & XSR_ROUTE_TYPE)) {
    char tb[32], *th = NULL;
    xsr_span ts;
    xsr_err rc = value_of(st->type, 1, tb, sizeof tb, &th, &ts);
    t = rc == XSR_OK ? classify(kind, ts) : T_INVALID;
    free(th);
  } else {
    t = classify(kind, st->type);
  }

  if (!st->to.ptr) {
    res->action = XSR_ROUTE_SERVER;
    return XSR_OK;
  }
  char tostack[512], *toheap = NULL;
  xsr_span to;
  xsr_err rc =
      value_of(st->to, (st->escaped & XSR_ROUTE_TO) != 0, tostack, sizeof tostack, &toheap, &to);
  if (rc != XSR_OK)
    return rc;

  char jbuf[XSR_JID_MAX];
  xsr_jid j;
  rc = xsr_jid_parse(to.ptr, to.len, jbuf, sizeof jbuf, &j, NULL);

#define FINISH(expr)                                                                               \
  do {                                                                                             \
    rc = (expr);                                                                                   \
    goto out;                                                                                      \
  } while (0)
#define DROP()   FINISH((res->action = XSR_ROUTE_DROP, XSR_OK))
#define SERVER() FINISH((res->action = XSR_ROUTE_SERVER, XSR_OK))
#define BOUNCE(cond, et)                                                                           \
  do {                                                                                             \
    if (t == T_ERROR || (kind == K_IQ && t == T_RESULT))                                           \
      DROP();                                                                                      \
    FINISH(bounce(r, from, st, to, cond, et, res));                                                \
  } while (0)
#define SEND(arr, cnt)                                                                             \
  do {                                                                                             \
    rc = deliver_stamped(r, from, st, (arr), (cnt), res);                                          \
    if (rc == XSR_ELIMITSTANZA || rc == XSR_ELIMITATTRS || rc == XSR_ELIMITNSDECL)                 \
      BOUNCE("policy-violation", "modify"); /* too big once rewritten */                           \
    goto out;                                                                                      \
  } while (0)

  if (rc == XSR_ENOMEM)
    goto out;
  if (rc != XSR_OK) {
    /* Not an address: the error comes from the sender's own server, whose
     * domain the bounce names as its 'from' (not the bytes of the 'to'). */
    to.ptr = NULL;
    to.len = 0;
    BOUNCE("jid-malformed", "modify");
  }
  if (t == T_INVALID)
    BOUNCE("bad-request", "modify");
  if (!j.local.ptr)
    SERVER(); /* the domain itself, or one of its resources */
  if (kind == K_PRESENCE && (t == T_PROBE || t == T_SUBSCRIPTION))
    SERVER(); /* the account's roster decides (RFC 6121 sections 3 and 4.3) */

  xsr_span bare = xsr_jid_bare(&j);
  xsr__bare *b = xsr__table_lookup(r, bare.ptr, bare.len, xsr_jid_hash(bare, r->seed));
  xsr__resset *set = b ? atomic_load_explicit(&b->set, memory_order_acquire) : NULL;
  if (set)
    XSR__TSAN_ACQUIRE(set);

  if (j.resource.ptr) {
    /* RFC 6121 8.5.3: full JID. */
    size_t off = bare.len + 1;
    for (uint32_t i = 0; set && i < set->n; i++) {
      xsr_session *s = set->s[i];
      if (s->resource_len == j.resource.len &&
          memcmp(s->str + off, j.resource.ptr, j.resource.len) == 0) {
        SEND(&set->s[i], 1);
      }
    }
    /* 8.5.3.2: no such resource. */
    if (kind == K_MESSAGE) {
      if (t == T_NORMAL || t == T_GROUPCHAT)
        BOUNCE(SU, "cancel");
      if (t != T_CHAT)
        DROP(); /* headline, error */
    } else if (kind == K_PRESENCE) {
      DROP();
    } else {
      if (t == T_GETSET)
        BOUNCE(SU, "cancel");
      DROP();
    }
    /* chat messages fall through to the bare JID. */
  }

  int exists = r->cfg.account_exists ? r->cfg.account_exists(r->cfg.user, bare) : set != NULL;
  if (!exists) {
    /* 8.5.1: no such user. */
    if (kind == K_PRESENCE || t == T_ERROR || t == T_RESULT)
      DROP();
    BOUNCE(SU, "cancel");
  }

  /* 8.5.2: bare JID of an existing account. */
  switch (kind) {
  case K_MESSAGE:
    switch (t) {
    case T_NORMAL:
    case T_CHAT:
      if (set && set->n_top)
        SEND(set->s, set->n_top);
      BOUNCE(SU, "cancel");
    case T_HEADLINE:
      if (set && set->n_nonneg)
        SEND(set->s, set->n_nonneg);
      DROP();
    case T_GROUPCHAT:
      BOUNCE(SU, "cancel");
    default:
      DROP();
    }
  case K_PRESENCE:
    switch (t) {
    case T_AVAILABLE:
    case T_UNAVAILABLE:
      if (set && set->n_avail)
        SEND(set->s, set->n_avail);
      DROP();
    default:
      DROP();
    }
  default:
    if (t == T_GETSET)
      SERVER();
    DROP();
  }
out:
  free(toheap);
  if (rc != XSR_OK && rc != XSR_EQUEUEFULL)
    res->action = 0;
  return rc;
}
