/* SPDX-License-Identifier: MIT */
/*
 * forward_fuzzer: a sender's stream parsed and every stanza routed, as the
 * xsr-router daemon does it (xsr_router_route_rcu from on_stanza, XSR_RETRY
 * on a full queue, xsr_parser_resume after on_room), and every message the
 * router queues read again by a recipient: a fresh xsr parser and expat,
 * inside a plain jabber:client stream header (tests/support/fwdcheck.h).
 *
 * Input: [mode][budget][drain][4 chunk-pattern bytes] BODY
 *   mode bit 0     framing: 0 wrapped, 1 raw (below)
 *        bit 1     xsr_parser_buffer()/commit() instead of xsr_parser_feed()
 *        bits 2-3  limits: 0 router and sender at the defaults; 1 router with
 *                  small limits (max_stanza 600, 8 attributes, 4
 *                  declarations), sender at the defaults (policy-violation
 *                  bounces); 2-3 router with max_stanza 16384, 12
 *                  attributes, 6 declarations, sender read with
 *                  xsr_router_sender_limits() for a header adding at most
 *                  600 bytes and 3 declarations (headers adding more are
 *                  refused from on_stream_open, as a server would)
 *        bit 4     also resume before on_room (the stanza may be refused again)
 *        bit 5     keep popped messages unreleased for a while (writes in flight)
 *        bits 6-7  drain after every 1st, 2nd, 4th or 8th routed stanza
 *   budget         session budget, bits 0-2: the default (1 MiB), 1, 16, 64, 200,
 *                  512, 1024 or 4096 bytes
 * Only jabber:client streams are taken (others are refused from
 * on_stream_open): on a server or component stream the content namespace
 * itself changes on delivery, which the comparison does not model.
 *   drain          seed of the drain pattern (how many messages per pop)
 *
 * Framing.  Raw: BODY is the sender's whole stream, routed as it is (the
 * seeds address b@x.lit/r, b@x.lit (two resources), c@x.lit/r and the
 * sender a@x.lit/r itself).  Wrapped, so that most inputs reach a session:
 * BODY is split at NUL bytes; the first part is spliced into the stream
 * header's start tag (extra prefix bindings, xml:lang), and each further
 * part becomes the content of <message to='b@x.lit/r' id='fN'>...</message>
 * (with no NUL, BODY is one message's content).
 *
 * Checks, for every stanza the parser reports: the view means what expat
 * reads in the sender's stream (when expat accepts it) and its forwarding
 * context matches the header; a refused stanza comes back at the same
 * offset with the same bytes; the route outcome is consistent (only what
 * it says is queued, to the sessions it counts; EINVAL only for what is not
 * an unprefixed message, presence or iq; a policy-violation bounce only
 * when the rewrite can exceed a limit, and never with sender limits).  For
 * every message popped: it is the next one queued for that session (nothing
 * lost, duplicated or reordered), its length is what was queued, a
 * recipient reading it with the router's limits accepts it, a delivery
 * means what the stanza meant on the sender's stream (fwdcheck.h, for xsr
 * and for expat) with one 'from', the sender's, and a bounce is an error
 * stanza with the condition the route reported.  on_room never fails to
 * come once the blocking session drains, and at the end everything queued
 * was delivered.
 */
#include <string.h>

#include "fuzz.h"
#include "fwdcheck.h"
#include "xsr/router.h"

enum { NSESS = 4, SENDER = 0 };
static const char *const sess_jid[NSESS] = {"a@x.lit/r", "b@x.lit/r", "b@x.lit/s", "c@x.lit/r"};

/* What was queued to a session, in order. */
typedef struct expect {
  int bounce;     /* else a delivery */
  size_t len;     /* bytes queued */
  fc_buf canon;   /* the stanza as the sender's parser reported it */
  fc_top top;     /* (delivery) */
  int has_slang;  /* the sender's stream xml:lang (view) */
  fc_buf slang;   /* */
  int expat_ok;   /* expat read the stanza in the sender's stream ... */
  fc_buf canon_e; /* ... as this */
  fc_top top_e;   /* */
  fc_buf name;    /* (bounce) the stanza's expanded name */
  char cond[64];  /* (bounce) the condition */
  unsigned refs;  /* sessions it was queued to and not yet popped */
} expect;

typedef struct fwd {
  xsr_router *r;
  xsr_router_config rcfg;
  xsr_parser_config rpcfg; /* what a recipient reads with: the router's limits */
  xsr_session *sess[NSESS];
  xsr_parser *p;
  int sender_limits;
  /* the header, as received and as expat reads it */
  fc_buf header;
  fc_buf close;
  /* what each session is owed */
  expect **q[NSESS];
  size_t qhead[NSESS], qlen[NSESS], qcap[NSESS];
  /* back-pressure */
  int blocked;
  xsr_session *blocked_on;
  uint64_t refused_off;
  fc_buf refused;
  /* drains */
  xsr_msg *held[64];
  size_t nheld;
  uint32_t rnd;
  int hold, early;
  unsigned drain_every, routed;
  /* for XSR_FORWARD_STATS=1: what an input exercised */
  unsigned long n_deliver, n_bounce, n_refused, n_rooms, n_popped, n_expat;
  fc_buf canon, why, doc;
  fc_top top;
} fwd;

static uint32_t next_rnd(fwd *f) {
  f->rnd = f->rnd * 1103515245u + 12345u;
  return f->rnd >> 16;
}

/* Routers are kept across inputs, one per configuration: freeing one waits
 * for liburcu's call_rcu thread (rcu_barrier, some 10 ms), which would cap
 * the harness at tens of inputs a second.  Each input has its own sessions,
 * closed at its end with every queue drained, so nothing carries over but
 * the table's memory.  on_room reaches the input through `current`. */
static xsr_router *routers[3][8];
static fwd *current;
static int is_registered;
static const size_t budgets[8] = {0, 1, 16, 64, 200, 512, 1024, 4096};

/* ---- what a recipient reads ---------------------------------------------------------- */

static void expect_free(expect *e) {
  fc_free(&e->canon);
  fc_top_free(&e->top);
  fc_free(&e->slang);
  fc_free(&e->canon_e);
  fc_top_free(&e->top_e);
  fc_free(&e->name);
  free(e);
}

static void push_expect(fwd *f, unsigned i, expect *e) {
  if (f->qlen[i] == f->qcap[i]) {
    size_t cap = f->qcap[i] ? f->qcap[i] * 2 : 16;
    expect **nq = malloc(cap * sizeof *nq);
    FUZZ_CHECK(nq != NULL, "out of memory in the harness");
    for (size_t k = 0; k < f->qlen[i]; k++)
      nq[k] = f->q[i][(f->qhead[i] + k) % (f->qcap[i] ? f->qcap[i] : 1)];
    free(f->q[i]);
    f->q[i] = nq;
    f->qhead[i] = 0;
    f->qcap[i] = cap;
  }
  f->q[i][(f->qhead[i] + f->qlen[i]) % f->qcap[i]] = e;
  f->qlen[i]++;
  e->refs++;
}

static void check_msg(fwd *f, xsr_msg *m) {
  unsigned i = (unsigned)(uintptr_t)xsr_session_user(xsr_msg_session(m)) - 1;
  FUZZ_CHECK(i < NSESS, "a message for an unknown session");
  FUZZ_CHECK(f->qlen[i] > 0, "%s received a message nobody queued", sess_jid[i]);
  f->n_popped++;
  expect *e = f->q[i][f->qhead[i]];
  f->qhead[i] = (f->qhead[i] + 1) % f->qcap[i];
  f->qlen[i]--;
  xsr_span b = xsr_msg_bytes(m);
  FUZZ_CHECK(b.len == e->len, "%s: a message of %zu bytes, %zu were queued (out of order?)",
             sess_jid[i], b.len, e->len);
  fc_clear(&f->why);
  FUZZ_CHECK(fc_reparse_xsr(&f->rpcfg, b.ptr, b.len, &f->canon, &f->top, &f->why),
             "%s cannot read what it received: %s%.*s", sess_jid[i], fc_str(&f->why), (int)b.len,
             b.ptr);
  fc_wrap_client(&f->doc, b.ptr, b.len);
  fc_doc d;
  int ex = fc_expat_doc(f->doc.p, f->doc.len, &d);
  if (e->bounce) {
    FUZZ_CHECK(i == SENDER, "a bounce queued to %s", sess_jid[i]);
    FUZZ_CHECK(ex, "expat cannot read the bounce: %s\n%.*s", fc_str(&d.err), (int)b.len, b.ptr);
    char want[128];
    snprintf(want, sizeof want, "<{urn:ietf:params:xml:ns:xmpp-stanzas}%s>", e->cond);
    FUZZ_CHECK(fc_eq(&f->top.name, &e->name) && strstr(fc_str(&f->canon), want) &&
                   strstr(fc_str(&f->canon), " type=\"error\""),
               "the bounce is not a %s error for %s: %s", e->cond, fc_str(&e->name),
               fc_str(&f->canon));
  } else {
    const char *jid = sess_jid[SENDER];
    FUZZ_CHECK(fc_check_forward(&e->canon, &e->top, e->has_slang ? e->slang.p : NULL, e->slang.len,
                                &f->canon, &f->top, jid, strlen(jid), &f->why),
               "%s received another stanza than was sent (xsr): %s\ndelivered: %.*s", sess_jid[i],
               fc_str(&f->why), (int)b.len, b.ptr);
    if (e->expat_ok) {
      FUZZ_CHECK(ex && d.stanzas == 1, "expat read the stanza sent, not the copy: %s\n%.*s",
                 fc_str(&d.err), (int)b.len, b.ptr);
      FUZZ_CHECK(fc_check_forward(&e->canon_e, &e->top_e, e->has_slang ? e->slang.p : NULL,
                                  e->slang.len, &d.canon, &d.top, jid, strlen(jid), &f->why),
                 "%s received another stanza than was sent (expat): %s\ndelivered: %.*s",
                 sess_jid[i], fc_str(&f->why), (int)b.len, b.ptr);
    }
  }
  fc_doc_free(&d);
  if (--e->refs == 0)
    expect_free(e);
}

static void release_held(fwd *f, int all) {
  size_t keep = 0;
  for (size_t i = 0; i < f->nheld; i++) {
    if (all || next_rnd(f) % 2)
      xsr_msg_release(f->held[i]);
    else
      f->held[keep++] = f->held[i];
  }
  f->nheld = keep;
}

/* Pops a few messages from each worker; returns how many. */
static size_t drain_some(fwd *f) {
  size_t total = 0;
  for (unsigned w = 0; w < 2; w++) {
    xsr_msg *m[8];
    size_t n = xsr_worker_pop_owner(xsr_router_worker(f->r, w), m, 1 + next_rnd(f) % 8);
    release_held(f, 0);
    for (size_t k = 0; k < n; k++) {
      check_msg(f, m[k]);
      if (f->hold && f->nheld < sizeof f->held / sizeof f->held[0] && next_rnd(f) % 2)
        f->held[f->nheld++] = m[k];
      else
        xsr_msg_release(m[k]);
    }
    total += n;
  }
  xsr_router_quiescent();
  return total;
}

static void drain_all(fwd *f) {
  release_held(f, 1);
  for (unsigned w = 0; w < 2; w++) {
    xsr_msg *m[16];
    size_t n;
    while ((n = xsr_worker_pop_owner(xsr_router_worker(f->r, w), m, 16)) > 0)
      for (size_t k = 0; k < n; k++) {
        check_msg(f, m[k]);
        xsr_msg_release(m[k]);
      }
  }
}

static void on_room(void *user, xsr_session *s) {
  (void)user;
  fwd *f = current;
  FUZZ_CHECK(f != NULL, "on_room between inputs");
  f->n_rooms++;
  if (f->blocked && f->blocked_on == s)
    f->blocked = 0;
}

/* ---- the sender ------------------------------------------------------------------------ */

/* Bytes xsr_writer turns `s` into in an attribute value (writer.h). */
static size_t escaped_len(const char *s, size_t n) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++)
    switch (s[i]) {
    case '&': /* &amp; */
      len += 5;
      break;
    case '\t': /* &#9; */
    case '<':
    case '>':
      len += 4;
      break;
    case '\'':
    case '"':
      len += 6;
      break;
    case '\n':
    case '\r':
      len += 5;
      break;
    default:
      len++;
    }
  return len;
}

enum { HEADER_ROOM = 600, HEADER_DECLS = 3 };

static int on_open(void *user, const xsr_stream_header *h) {
  fwd *f = user;
  const xsr_stanza *el = h->element;
  /* A client's stream, as the daemon's c2s listener takes: on jabber:server
   * or component streams the content namespace itself changes on delivery,
   * which the comparison here does not model. */
  if (h->content_ns != XSR_NS_CLIENT)
    return -1;
  fc_clear(&f->header);
  fc_add(&f->header, el->raw.ptr, el->raw.len);
  fc_clear(&f->close);
  fc_printf(&f->close, "</%.*s>", (int)el->nodes[0].name_len, el->raw.ptr + 1);
  if (!f->sender_limits)
    return 0;
  /* The server's check: what the header adds to each stanza, at most. */
  fc_clear(&f->doc);
  fc_printf(&f->doc, "%s%s", f->header.p, f->close.p);
  fc_doc d;
  int ok = fc_expat_doc(f->doc.p, f->doc.len, &d);
  size_t room = 0;
  unsigned decls = 0;
  for (size_t i = 0; ok && i < d.ndecls; i++) {
    if (!d.decls[i].prefix[0])
      continue;
    decls++;
    room +=
        7 + strlen(d.decls[i].prefix) + 2 + escaped_len(d.decls[i].uri, strlen(d.decls[i].uri)) + 1;
  }
  if (ok && d.stream_has_lang)
    room += 11 + escaped_len(d.stream_lang.p, d.stream_lang.len) + 1;
  fc_doc_free(&d);
  return ok && room <= HEADER_ROOM && decls <= HEADER_DECLS ? 0 : -1; /* refused: EABORTED */
}

static int span_is(xsr_span s, const char *lit) {
  return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static int routable(const xsr_stanza *st) {
  return st->prefix.len == 0 &&
         (st->ns == XSR_NS_CLIENT || st->ns == XSR_NS_SERVER || st->ns == XSR_NS_COMPONENT) &&
         (span_is(st->name, "message") || span_is(st->name, "presence") || span_is(st->name, "iq"));
}

/* An upper bound of what the rewrite can make of the stanza. */
static int may_exceed(const fwd *f, const xsr_stanza *st) {
  const char *jid = sess_jid[SENDER];
  size_t len = st->raw.len + 7 + escaped_len(jid, strlen(jid)) + 1;
  size_t attrs = st->tag_attrs + 1, decls = st->tag_decls;
  for (size_t i = 0; i < st->inherited_count; i++) {
    len += 7 + st->inherited[i].prefix.len + 2 +
           escaped_len(st->inherited[i].uri.ptr, st->inherited[i].uri.len) + 1;
    attrs++;
    decls++;
  }
  if (st->stream_lang.ptr && !st->lang.ptr) {
    len += 11 + escaped_len(st->stream_lang.ptr, st->stream_lang.len) + 1;
    attrs++;
  }
  return len > f->rcfg.max_stanza || attrs > f->rcfg.max_attrs || decls > f->rcfg.max_ns_decls;
}

static int on_stanza(void *user, const xsr_stanza *st) {
  fwd *f = user;
  if (f->refused.len) {
    FUZZ_CHECK(st->offset == f->refused_off && st->raw.len == f->refused.len &&
                   memcmp(st->raw.ptr, f->refused.p, st->raw.len) == 0,
               "the stanza refused at %llu was not reported again first (%llu)",
               (unsigned long long)f->refused_off, (unsigned long long)st->offset);
    fc_clear(&f->refused);
  }
  expect *e = calloc(1, sizeof *e);
  FUZZ_CHECK(e != NULL, "out of memory in the harness");
  fc_clear(&f->why);
  fc_canon_view(f->p, st, &e->canon, &e->top, &f->why);
  FUZZ_CHECK(f->why.len == 0, "the sender's view: %s", fc_str(&f->why));
  e->has_slang = st->stream_lang.ptr != NULL;
  fc_add(&e->slang, st->stream_lang.ptr ? st->stream_lang.ptr : "", st->stream_lang.len);
  fc_add(&e->name, e->top.name.p, e->top.name.len);
  /* expat in the sender's stream: the header as received, the stanza. */
  fc_clear(&f->doc);
  fc_add(&f->doc, f->header.p, f->header.len);
  fc_add(&f->doc, st->raw.ptr, st->raw.len);
  fc_add(&f->doc, f->close.p, f->close.len);
  fc_doc d;
  if (fc_expat_doc(f->doc.p, f->doc.len, &d) && d.stanzas == 1) {
    e->expat_ok = 1;
    f->n_expat++;
    FUZZ_CHECK(fc_eq(&e->canon, &d.canon),
               "xsr and expat read the stanza differently:\n"
               "  xsr   %s\n  expat %s",
               fc_str(&e->canon), fc_str(&d.canon));
    FUZZ_CHECK(fc_check_context(st, &d, &f->why), "forwarding context: %s", fc_str(&f->why));
    fc_add(&e->canon_e, d.canon.p, d.canon.len);
    e->top_e.from_count = d.top.from_count;
    e->top_e.has_lang = d.top.has_lang;
    fc_add(&e->top_e.lang, d.top.lang.p, d.top.lang.len);
  }
  fc_doc_free(&d);

  size_t before[NSESS];
  for (unsigned i = 0; i < NSESS; i++)
    before[i] = xsr_session_queued(f->sess[i]);
  xsr_route_result res;
  memset(&res, 0, sizeof res);
  xsr_err rc = xsr_router_route_rcu(f->r, f->sess[SENDER], st, &res);
  size_t delta[NSESS];
  unsigned got = 0;
  for (unsigned i = 0; i < NSESS; i++) {
    size_t now = xsr_session_queued(f->sess[i]);
    FUZZ_CHECK(now >= before[i], "routing shrank a queue");
    delta[i] = now - before[i];
    got += delta[i] != 0;
  }
  int ret = 0;
  if (rc == XSR_EQUEUEFULL) {
    FUZZ_CHECK(got == 0, "a refused stanza was queued");
    int known = 0;
    for (unsigned i = 0; i < NSESS; i++)
      known |= res.blocked == f->sess[i];
    FUZZ_CHECK(known, "blocked on an unknown session");
    f->blocked = 1;
    f->blocked_on = res.blocked;
    f->refused_off = st->offset;
    fc_add(&f->refused, st->raw.ptr, st->raw.len);
    ret = XSR_RETRY;
    f->n_refused++;
  } else if (rc == XSR_EINVAL) {
    FUZZ_CHECK(!routable(st), "EINVAL for a %.*s in a content namespace", (int)st->name.len,
               st->name.ptr);
    FUZZ_CHECK(got == 0, "queued and EINVAL");
  } else {
    FUZZ_CHECK(rc == XSR_OK, "route: %s", xsr_err_name(rc));
    FUZZ_CHECK(routable(st), "routed a %.*s", (int)st->name.len, st->name.ptr);
    f->routed++;
    if (res.action == XSR_ROUTE_DELIVER) {
      FUZZ_CHECK(res.recipients >= 1 && got == res.recipients,
                 "delivered to %u sessions, queued to %u", res.recipients, got);
      f->n_deliver++;
      for (unsigned i = 0; i < NSESS; i++)
        if (delta[i]) {
          e->len = delta[i];
          push_expect(f, i, e);
        }
    } else if (res.action == XSR_ROUTE_BOUNCE) {
      FUZZ_CHECK(res.condition != NULL && strlen(res.condition) < sizeof e->cond,
                 "bounce without a condition");
      FUZZ_CHECK(!f->sender_limits || strcmp(res.condition, "policy-violation") != 0,
                 "policy-violation although the sender was read with xsr_router_sender_limits: "
                 "%.*s",
                 (int)st->raw.len, st->raw.ptr);
      FUZZ_CHECK(strcmp(res.condition, "policy-violation") != 0 || may_exceed(f, st),
                 "policy-violation for a stanza whose rewrite fits: %.*s", (int)st->raw.len,
                 st->raw.ptr);
      FUZZ_CHECK(res.recipients == got && got <= 1 && delta[1] + delta[2] + delta[3] == 0,
                 "a bounce queued to %u sessions", got);
      e->bounce = 1;
      f->n_bounce++;
      snprintf(e->cond, sizeof e->cond, "%s", res.condition);
      if (got) {
        e->len = delta[SENDER];
        push_expect(f, SENDER, e);
      }
    } else {
      FUZZ_CHECK(res.action == XSR_ROUTE_DROP || res.action == XSR_ROUTE_SERVER, "action %d",
                 res.action);
      FUZZ_CHECK(got == 0, "dropped, but queued");
    }
  }
  if (e->refs == 0)
    expect_free(e);
  return ret;
}

static const xsr_parser_callbacks callbacks = {on_open, on_stanza, NULL};

/* After XSR_PAUSED: make room until on_room, then resume; returns the
 * parser's answer once it is no longer paused. */
static xsr_err wait_and_resume(fwd *f, xsr_err r) {
  while (r == XSR_PAUSED) {
    FUZZ_CHECK(f->refused.len > 0, "paused without a refusal");
    FUZZ_CHECK(xsr_parser_offset(f->p) == f->refused_off, "paused at %llu, refused at %llu",
               (unsigned long long)xsr_parser_offset(f->p), (unsigned long long)f->refused_off);
    while (f->blocked) {
      if (f->early && next_rnd(f) % 4 == 0)
        break; /* resume anyway: refused again, or not */
      if (drain_some(f) == 0 && f->blocked) {
        drain_all(f);
        FUZZ_CHECK(!f->blocked, "every queue is empty and no on_room came");
      }
    }
    r = xsr_parser_resume(f->p);
  }
  return r;
}

/* ---- the input ------------------------------------------------------------------------- */

static const char wrap_head[] = "<stream:stream xmlns='jabber:client' "
                                "xmlns:stream='http://etherx.jabber.org/streams' to='x.lit' "
                                "version='1.0' ";

static void build_stream(const uint8_t *body, size_t size, int raw, fc_buf *out) {
  if (raw) {
    fc_add(out, body, size);
    return;
  }
  const uint8_t *nul = memchr(body, 0, size);
  size_t extra = nul ? (size_t)(nul - body) : 0;
  fc_puts(out, wrap_head);
  fc_add(out, body, extra);
  fc_puts(out, ">");
  size_t pos = nul ? extra + 1 : 0;
  unsigned n = 0;
  do {
    const uint8_t *end = memchr(body + pos, 0, size - pos);
    size_t len = end ? (size_t)(end - (body + pos)) : size - pos;
    fc_printf(out, "<message to='b@x.lit/r' id='f%u'>", n++);
    fc_add(out, body + pos, len);
    fc_puts(out, "</message>");
    pos += len + 1;
  } while (pos <= size);
  fc_puts(out, "</stream:stream>");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input in = {data, size};
  uint8_t mode = fuzz_take_byte(&in);
  uint8_t budget = fuzz_take_byte(&in);
  uint8_t drain = fuzz_take_byte(&in);
  fuzz_chunks chunks;
  fuzz_chunks_init(&chunks, &in);
  if (!is_registered) {
    xsr_router_thread_register();
    is_registered = 1;
  }

  fwd *f = calloc(1, sizeof *f);
  FUZZ_CHECK(f != NULL, "out of memory in the harness");
  f->rnd = drain;
  f->early = (mode >> 4) & 1;
  f->hold = (mode >> 5) & 1;
  f->drain_every = 1u << ((mode >> 6) & 3);
  unsigned limits = (mode >> 2) & 3;
  xsr_router_config_init(&f->rcfg);
  f->rcfg.workers = 2;
  f->rcfg.on_room = on_room;
  if (budgets[budget & 7])
    f->rcfg.session_budget = budgets[budget & 7];
  if (limits == 1) {
    f->rcfg.max_stanza = 600;
    f->rcfg.max_attrs = 8;
    f->rcfg.max_ns_decls = 4;
  } else if (limits >= 2) {
    f->rcfg.max_stanza = 16384;
    f->rcfg.max_attrs = 12;
    f->rcfg.max_ns_decls = 6;
  }
  xsr_parser_config_init(&f->rpcfg);
  f->rpcfg.max_stanza = f->rcfg.max_stanza;
  f->rpcfg.max_attrs = f->rcfg.max_attrs;
  f->rpcfg.max_ns_decls = f->rcfg.max_ns_decls;
  xsr_parser_config pcfg;
  xsr_parser_config_init(&pcfg);
  if (limits >= 2) {
    f->sender_limits = 1;
    xsr_router_sender_limits(&f->rcfg, HEADER_ROOM, HEADER_DECLS, &pcfg);
  }
  xsr_router **cached = &routers[limits >= 2 ? 2 : limits][budget & 7];
  if (!*cached)
    *cached = xsr_router_new(&f->rcfg, NULL);
  f->r = *cached;
  FUZZ_CHECK(f->r != NULL, "xsr_router_new");
  current = f;
  for (unsigned i = 0; i < NSESS; i++) {
    xsr_err e = xsr_session_new(xsr_router_worker(f->r, i % 2), sess_jid[i], strlen(sess_jid[i]),
                                (void *)(uintptr_t)(i + 1), &f->sess[i]);
    FUZZ_CHECK(e == XSR_OK, "session %s: %s", sess_jid[i], xsr_err_name(e));
    FUZZ_CHECK(xsr_session_bind_rcu(f->sess[i]) == XSR_OK, "bind");
    FUZZ_CHECK(xsr_session_set_presence_rcu(f->sess[i], 1, i == 3 ? 0 : 1) == XSR_OK, "presence");
  }
  f->p = xsr_parser_new(&pcfg, &callbacks, f, NULL);
  FUZZ_CHECK(f->p != NULL, "xsr_parser_new");

  fc_buf stream = {0};
  build_stream(in.data, in.size, mode & 1, &stream);
  xsr_err r = XSR_OK;
  unsigned drained_at = 0;
  for (size_t pos = 0; pos < stream.len && r == XSR_OK;) {
    size_t n = fuzz_chunks_next(&chunks);
    if (n > stream.len - pos)
      n = stream.len - pos;
    if (mode & 2) {
      size_t room = n;
      char *buf = xsr_parser_buffer(f->p, &room);
      FUZZ_CHECK(buf != NULL && room >= n, "xsr_parser_buffer");
      memcpy(buf, stream.p + pos, n);
      r = xsr_parser_commit(f->p, n);
    } else {
      char *copy = malloc(n);
      FUZZ_CHECK(copy != NULL, "out of memory in the harness");
      memcpy(copy, stream.p + pos, n);
      r = xsr_parser_feed(f->p, copy, n);
      free(copy);
    }
    pos += n;
    r = wait_and_resume(f, r);
    if (f->routed - drained_at >= f->drain_every) {
      drain_some(f);
      drained_at = f->routed;
    }
  }
  FUZZ_CHECK(r != XSR_PAUSED, "still paused");
  drain_all(f);
  for (unsigned i = 0; i < NSESS; i++)
    FUZZ_CHECK(f->qlen[i] == 0, "%zu messages queued to %s never arrived", f->qlen[i], sess_jid[i]);

  static int stats = -1;
  if (stats < 0)
    stats = getenv("XSR_FORWARD_STATS") != NULL;
  if (stats)
    fprintf(stderr,
            "forward: %s, %lu delivered, %lu bounced, %lu refusals, %lu on_room, %lu popped, "
            "%lu read by expat\n",
            xsr_err_name(r), f->n_deliver, f->n_bounce, f->n_refused, f->n_rooms, f->n_popped,
            f->n_expat);
  xsr_parser_free(f->p);
  for (unsigned i = 0; i < NSESS; i++) {
    xsr_session_close_owner(f->sess[i]);
    free(f->q[i]);
  }
  /* Closed sessions are freed by a later pop, after a grace period. */
  xsr_router_quiescent();
  for (unsigned w = 0; w < 2; w++) {
    xsr_msg *m[1];
    FUZZ_CHECK(xsr_worker_pop_owner(xsr_router_worker(f->r, w), m, 1) == 0, "a message left");
  }
  current = NULL;
  fc_free(&stream);
  fc_free(&f->header);
  fc_free(&f->close);
  fc_free(&f->refused);
  fc_free(&f->canon);
  fc_free(&f->why);
  fc_free(&f->doc);
  fc_top_free(&f->top);
  free(f);
  return 0;
}
