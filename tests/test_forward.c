/* SPDX-License-Identifier: MIT */
/* Criterion suite for the parser and the router driven together, as the
 * xsr-router daemon drives them: senders' streams are parsed, every stanza
 * is routed from inside on_stanza, a full queue makes on_stanza return
 * XSR_RETRY and the sender waits for on_room before xsr_parser_resume(),
 * and every delivery popped is read again, by a fresh xsr parser and by
 * expat, inside a plain jabber:client stream header.
 *
 * What is checked (issue "a forwarded stanza is never lost and never
 * unreadable"):
 *   - generated streams (several senders; headers that bind extra prefixes,
 *     rebind 'stream', carry xml:lang; stanzas with inherited prefixes,
 *     prefixed attributes, references, CDATA, a client 'from' to replace),
 *     fed by xsr_parser_feed() and by xsr_parser_buffer()/commit() in 1-byte,
 *     small random and whole chunks, under session budgets of 1..800 bytes
 *     with random drains: each stanza is reported at its offset with its
 *     bytes, again after each refusal, and delivered exactly once, to the
 *     right session, in per-sender order, meaning what it meant on the
 *     sender's stream (fwdcheck.h) with one 'from', the sender's;
 *   - the cases: XSR_RETRY on <message id='m1'/> reports m1 again
 *     then m2 at every chunk size; an inherited prefix, a rebound 'stream'
 *     prefix, the stream's xml:lang, exact delivered bytes; the limits a
 *     rewrite can cross (bounced with policy-violation, or avoided by reading
 *     the sender with xsr_router_sender_limits()); a stanza in another
 *     content namespace fails the parser with XSR_ESTANZANS. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwdcheck.h"
#include "xsr/router.h"

/* ---- small helpers ----------------------------------------------------------- */

typedef struct rng {
  uint64_t s;
} rng;

static uint64_t next64(rng *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545F4914F6CDD1Dull;
}
static unsigned below(rng *r, unsigned n) { return (unsigned)(next64(r) % n); }
static int chance(rng *r, unsigned pct) { return below(r, 100) < pct; }

#define STREAMS_NS "http://etherx.jabber.org/streams"
#define CLIENT_HDR                                                                                 \
  "<stream:stream xmlns='jabber:client' xmlns:stream='" STREAMS_NS "' to='x' version='1.0'>"

static void setup(void) { xsr_router_thread_register(); }
static void teardown(void) { xsr_router_thread_unregister(); }

static void free_router(xsr_router *r) {
  xsr_router_thread_offline();
  xsr_router_free(r);
  xsr_router_thread_online();
}

/* The canonical full JID of a session, as the router stamps it. */
static size_t session_jid(xsr_session *s, char *out, size_t cap) {
  xsr_jid j = xsr_session_jid(s);
  int n = snprintf(out, cap, "%.*s@%.*s/%.*s", (int)j.local.len, j.local.ptr, (int)j.domain.len,
                   j.domain.ptr, (int)j.resource.len, j.resource.ptr);
  cr_assert(n > 0 && (size_t)n < cap);
  return (size_t)n;
}

static xsr_session *new_session(xsr_router *r, unsigned worker, const char *jid, void *user) {
  xsr_session *s;
  cr_assert_eq(xsr_session_new(xsr_router_worker(r, worker), jid, strlen(jid), user, &s), XSR_OK,
               "%s", jid);
  cr_assert_eq(xsr_session_bind_rcu(s), XSR_OK, "%s", jid);
  cr_assert_eq(xsr_session_set_presence_rcu(s, 1, 0), XSR_OK);
  return s;
}

/* Appends `s` escaped for an attribute value in `quote`. */
static void put_attr_value(fc_buf *b, const char *s, char quote) {
  for (; *s; s++) {
    if (*s == '&')
      fc_puts(b, "&amp;");
    else if (*s == '<')
      fc_puts(b, "&lt;");
    else if (*s == quote)
      fc_puts(b, quote == '\'' ? "&apos;" : "&quot;");
    else
      fc_add(b, s, 1);
  }
}

/* ---- generated senders ---------------------------------------------------------- */

enum { NSEND = 4, NACC = 3, NSESS = NSEND + NACC, MAXST = 48 };

/* Resources of the senders; the first needs escaping wherever it is written. */
static const char *const sender_res[NSEND] = {"o'b&c<d", "desk", "phone", "laptop"};

typedef struct gstanza {
  size_t off, len; /* in the sender's stream */
  unsigned to;     /* the recipient session */
  int bare;        /* addressed to the recipient's bare JID */
  fc_doc doc;      /* expat's reading of header + stanza: the sender-side form */
} gstanza;

typedef struct gsender {
  fc_buf bytes; /* the whole stream */
  gstanza st[MAXST];
  size_t n;
  fc_doc hdr; /* expat's reading of the header alone (its xml:lang) */
  int inherits, adds_lang, replaces_from;
} gsender;

/* What the header binds, for the stanza generator. */
typedef struct ghdr {
  const char *sp; /* prefix of the streams namespace */
  int stream_other, foo, bar, jc, lang;
} ghdr;

static void gen_header(rng *r, ghdr *h, fc_buf *out, fc_buf *close) {
  const char *attrs[12];
  size_t n = 0;
  memset(h, 0, sizeof *h);
  h->sp = chance(r, 70) ? "stream" : "ss";
  char spdecl[80];
  snprintf(spdecl, sizeof spdecl, "xmlns:%s='" STREAMS_NS "'", h->sp);
  attrs[n++] = spdecl;
  attrs[n++] = "xmlns='jabber:client'";
  attrs[n++] = chance(r, 50) ? "to='b.lit'" : "to=\"b.lit\"";
  attrs[n++] = "version='1.0'";
  if (strcmp(h->sp, "stream") != 0 && chance(r, 60)) {
    h->stream_other = 1;
    attrs[n++] = "xmlns:stream='urn:xsr:not-streams'";
  }
  if ((h->foo = chance(r, 60)))
    attrs[n++] = "xmlns:foo='urn:foo'";
  if ((h->bar = chance(r, 40)))
    attrs[n++] = "xmlns:bar=\"urn:bar?a=1&amp;b='2'\"";
  if ((h->jc = chance(r, 25)))
    attrs[n++] = "xmlns:jc='jabber:client'";
  if (chance(r, 30))
    attrs[n++] = "xmlns:unused='urn:xsr:unused'";
  static const char *const langs[] = {"xml:lang='en'", "xml:lang='fr&#45;CA'", "xml:lang=\"x'y\""};
  if ((h->lang = chance(r, 50)))
    attrs[n++] = langs[below(r, 3)];
  for (size_t i = n; i > 1; i--) {
    size_t j = below(r, (unsigned)i);
    const char *t = attrs[i - 1];
    attrs[i - 1] = attrs[j];
    attrs[j] = t;
  }
  fc_clear(out);
  if (chance(r, 50))
    fc_puts(out, "<?xml version='1.0'?>\n");
  fc_printf(out, "<%s:stream", h->sp);
  for (size_t i = 0; i < n; i++)
    fc_printf(out, "%s%s", chance(r, 80) ? " " : "\n  ", attrs[i]);
  fc_puts(out, ">");
  fc_clear(close);
  fc_printf(close, "</%s:stream>", h->sp);
}

static const char *const texts[] = {
    "hello",
    "a &amp; b &lt;c&gt; &#x263A; &#9731; &quot;q&quot; &apos;",
    "line1\r\nline2\rline3\n",
    "caf\xc3\xa9 \xf0\x9f\x98\x80 \xe4\xb8\xad",
    "quote ' \" ]] &gt;",
};

/* Appends one child element; returns whether it uses a header binding. */
static int gen_child(rng *r, const ghdr *h, int loc, fc_buf *b) {
  for (;;) {
    switch (below(r, 15)) {
    case 0:
      fc_printf(b, "<body>%s</body>", texts[below(r, 5)]);
      return 0;
    case 1:
      fc_puts(b, "<body><![CDATA[<not markup> & ]]]]><![CDATA[>]]> tail&amp;</body>");
      return 0;
    case 2:
      if (!h->foo)
        continue;
      if (chance(r, 50))
        fc_puts(b, "<foo:bar foo:attr='v&amp;w' plain='p'/>");
      else
        fc_puts(b, "<foo:bar><foo:baz xmlns='urn:xsr:inner'>t<in/></foo:baz></foo:bar>");
      return 1;
    case 3:
      if (!h->bar)
        continue;
      fc_puts(b, "<bar:thing bar:k=\"1\" k='2'>x</bar:thing>");
      return 1;
    case 4:
      if (chance(r, 50)) {
        fc_printf(b, "<%s:x %s:a='b'/>", h->sp, h->sp);
        return 1;
      }
      if (strcmp(h->sp, "stream") != 0 && !h->stream_other)
        continue;
      fc_puts(b, "<stream:x/>");
      return 1;
    case 5:
      if (!h->jc)
        continue;
      fc_puts(b, "<jc:thread>t1</jc:thread>");
      return 1;
    case 6:
      fc_puts(b, "<foo:ov xmlns:foo='urn:xsr:override'><foo:in foo:a='1'/></foo:ov>");
      return 0;
    case 7:
      fc_puts(b, "<x xmlns='jabber:x:data' type='form'><field var='a&amp;b'><value>1</value>"
                 "</field></x>");
      return 0;
    case 8:
      fc_puts(b, "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://n' "
                 "ver='v='/>");
      return 0;
    case 9:
      fc_puts(b, "<status from='child' xml:lang='de'>weg</status>");
      return 0;
    case 10:
      fc_puts(b, "<empty xmlns=''><deeper/></empty>");
      return 0;
    case 11:
      if (!loc)
        continue;
      fc_puts(b, "<loc:thing loc:q='1'/>");
      return 0;
    case 12: {
      fc_puts(b, "<body>");
      unsigned len = 100 + below(r, 1400);
      for (unsigned i = 0; i < len; i++)
        fc_add(b, &"xyz"[i % 3], 1);
      fc_puts(b, "</body>");
      return 0;
    }
    case 13:
      fc_puts(b, "<html xmlns='http://jabber.org/protocol/xhtml-im'><body "
                 "xmlns='http://www.w3.org/1999/xhtml'><p>Hi <b>there</b> &amp; bye</p></body>"
                 "</html>");
      return 0;
    default:
      fc_puts(b, "<t a='x\ty\nz' b=\"it's\" c='&#x9;&#xA;&#xD;'/>");
      return 0;
    }
  }
}

/* Writes stanza n of sender k into b; sets the recipient and flags. */
static void gen_stanza(rng *r, const ghdr *h, unsigned k, size_t n, char jids[][64], gstanza *g,
                       gsender *gs, fc_buf *b) {
  unsigned to;
  do
    to = below(r, NSESS);
  while (to == k);
  g->to = to;
  g->bare = to >= NSEND && chance(r, 30);
  unsigned kind = below(r, 10); /* 0-5 message, 6-7 presence, 8-9 iq */
  if (g->bare && kind >= 8)
    kind = 0;
  static const char *const mtypes[] = {NULL, "chat", "normal", "headline", "error", "groupchat"};
  static const char *const ptypes[] = {NULL, "unavailable"};
  static const char *const itypes[] = {"get", "set", "result", "error"};
  const char *name, *type;
  if (kind < 6)
    name = "message", type = mtypes[below(r, g->bare ? 4 : 6)];
  else if (kind < 8)
    name = "presence", type = ptypes[below(r, 2)];
  else
    name = "iq", type = itypes[below(r, 4)];
  const char *attrs[12];
  fc_buf ab[12];
  memset(ab, 0, sizeof ab);
  size_t na = 0;
  /* to: the JID escaped for its quote, sometimes with '@' as a reference */
  {
    char q = chance(r, 50) ? '\'' : '"';
    const char *jid = jids[to];
    char bare[64];
    if (g->bare) {
      snprintf(bare, sizeof bare, "%s", jid);
      *strchr(bare, '/') = '\0';
      jid = bare;
    }
    fc_printf(&ab[na], "to=%c", q);
    if (chance(r, 20)) {
      const char *at = strchr(jid, '@');
      fc_add(&ab[na], jid, (size_t)(at - jid));
      fc_puts(&ab[na], "&#64;");
      put_attr_value(&ab[na], at + 1, q);
    } else {
      put_attr_value(&ab[na], jid, q);
    }
    fc_add(&ab[na], &q, 1);
    na++;
  }
  if (chance(r, 70))
    fc_printf(&ab[na++], "id='i%u-%zu'", k, n);
  else
    fc_printf(&ab[na++], "id=\"i%u&#45;%zu\"", k, n);
  if (type)
    fc_printf(&ab[na++], "type='%s'", type);
  if (chance(r, 30)) {
    fc_puts(&ab[na++], chance(r, 50) ? "from='evil@x.lit/z'" : "from=\"s9@a.lit/forged\"");
    gs->replaces_from++;
  }
  int uses = 0, lang = 0, loc = 0;
  if (h->foo && chance(r, 20))
    fc_puts(&ab[na++], "foo:a='1&amp;2'"), uses = 1;
  if (h->bar && chance(r, 15))
    fc_puts(&ab[na++], "bar:from='kept'"), uses = 1;
  if (chance(r, 15))
    fc_puts(&ab[na++], chance(r, 50) ? "xml:lang='de'" : "xml:lang=\"pt&#45;BR\""), lang = 1;
  if (chance(r, 20))
    fc_puts(&ab[na++], "xmlns:loc='urn:xsr:local'"), loc = 1;
  if (h->foo && chance(r, 10))
    fc_puts(&ab[na++], "xmlns:foo='urn:foo'"); /* declared again: not inherited */
  if (chance(r, 10))
    fc_puts(&ab[na++], "xmlns='jabber:client'");
  for (size_t i = 0; i < na; i++)
    attrs[i] = ab[i].p;
  for (size_t i = na; i > 1; i--) {
    size_t j = below(r, (unsigned)i);
    const char *t = attrs[i - 1];
    attrs[i - 1] = attrs[j];
    attrs[j] = t;
  }
  /* Never prefixed: the router takes only unprefixed stanzas (RFC 6120
   * 4.8.3: no prefix on the content namespace); jc: appears on children. */
  fc_printf(b, "<%s", name);
  static const char *const seps[] = {" ", " ", " ", "\n ", "\t", "  "};
  for (size_t i = 0; i < na; i++)
    fc_printf(b, "%s%s", seps[below(r, 6)], attrs[i]);
  unsigned nchild = below(r, 5);
  if (nchild == 0 && chance(r, 50)) {
    fc_puts(b, "/>");
  } else {
    fc_puts(b, ">");
    for (unsigned c = 0; c < nchild; c++)
      uses |= gen_child(r, h, loc, b);
    fc_printf(b, "</%s>", name);
  }
  gs->inherits += uses;
  gs->adds_lang += h->lang && !lang;
  for (size_t i = 0; i < 12; i++)
    fc_free(&ab[i]);
}

/* ---- a world: the senders' streams, generated once per seed --------------------- */

static void session_text(unsigned i, char out[64]) {
  if (i < NSEND)
    snprintf(out, 64, "s%u@a.lit/%s", i, sender_res[i]);
  else
    snprintf(out, 64, "u%u@b.lit/r", i - NSEND);
}

typedef struct world {
  gsender snd[NSEND];
  size_t order[NSEND][NSESS][MAXST]; /* stanzas sender k sends to session t, in order */
  size_t norder[NSEND][NSESS];
} world;

static void gen_world(uint64_t seed, world *w) {
  memset(w, 0, sizeof *w);
  rng r = {seed * 0x9E3779B97F4A7C15ull + 1};
  char jids[NSESS][64];
  for (unsigned i = 0; i < NSESS; i++)
    session_text(i, jids[i]);
  fc_buf hdr = {0}, close = {0}, doc = {0}, sb = {0};
  static const char *const keepalive[] = {" ", "\n", "\r\n\t "};
  for (unsigned k = 0; k < NSEND; k++) {
    gsender *g = &w->snd[k];
    ghdr h;
    gen_header(&r, &h, &hdr, &close);
    fc_add(&g->bytes, hdr.p, hdr.len);
    fc_clear(&doc);
    fc_printf(&doc, "%s%s", hdr.p, close.p);
    cr_assert(fc_expat_doc(doc.p, doc.len, &g->hdr), "generated header: %s\n%s",
              fc_str(&g->hdr.err), doc.p);
    g->n = 12 + below(&r, MAXST - 12);
    for (size_t n = 0; n < g->n; n++) {
      if (chance(&r, 30))
        fc_puts(&g->bytes, keepalive[below(&r, 3)]);
      gstanza *st = &g->st[n];
      fc_clear(&sb);
      gen_stanza(&r, &h, k, n, jids, st, g, &sb);
      st->off = g->bytes.len;
      st->len = sb.len;
      fc_add(&g->bytes, sb.p, sb.len);
      fc_clear(&doc);
      fc_printf(&doc, "%s%s%s", hdr.p, sb.p, close.p);
      cr_assert(fc_expat_doc(doc.p, doc.len, &st->doc) && st->doc.stanzas == 1,
                "a generated stanza is not XML: %s\n%s", fc_str(&st->doc.err), doc.p);
      w->order[k][st->to][w->norder[k][st->to]++] = n;
    }
    fc_add(&g->bytes, close.p, close.len);
  }
  fc_free(&hdr);
  fc_free(&close);
  fc_free(&doc);
  fc_free(&sb);
}

static void free_world(world *w) {
  for (unsigned k = 0; k < NSEND; k++) {
    fc_free(&w->snd[k].bytes);
    fc_doc_free(&w->snd[k].hdr);
    for (size_t n = 0; n < w->snd[k].n; n++)
      fc_doc_free(&w->snd[k].st[n].doc);
  }
}

/* ---- a run: the world's streams parsed and routed under one budget ------------- */

enum { WAY_FEED, WAY_COMMIT };
enum { CHUNK_ONE, CHUNK_SMALL, CHUNK_WHOLE };
enum { MAXHELD = 4096 };

typedef struct run run;

typedef struct rsender {
  run *R;
  unsigned k;
  xsr_parser *p;
  const gsender *g;
  size_t pos;  /* bytes given to the parser */
  size_t next; /* the stanza the parser must report next */
  int paused, blocked, done;
  xsr_session *blocked_on;
} rsender;

typedef struct fstats {
  size_t routed, delivered, refusals, rooms, spurious, bare, paused_commits;
} fstats;

struct run {
  const world *w;
  int way, chunking;
  rng r;
  xsr_router *router;
  xsr_session *sess[NSESS];
  char jid[NSESS][3200];
  size_t jid_len[NSESS];
  rsender snd[NSEND];
  size_t cursor[NSEND][NSESS];
  xsr_msg *held[MAXHELD];
  size_t nheld;
  size_t drained_at, drain_after; /* drain once this many stanzas were routed since */
  fstats st;
  fc_buf canon, why, doc, dcanon;
  fc_top top, dtop;
};

static int fwd_on_stanza(void *user, const xsr_stanza *st) {
  rsender *s = user;
  run *R = s->R;
  const gsender *g = s->g;
  cr_assert_lt(s->next, g->n, "sender %u: a stanza at %llu after the %zu it sent", s->k,
               (unsigned long long)st->offset, g->n);
  const gstanza *want = &g->st[s->next];
  cr_assert_eq(st->offset, want->off, "sender %u: stanza %zu reported at %llu, sent at %zu", s->k,
               s->next, (unsigned long long)st->offset, want->off);
  cr_assert(st->raw.len == want->len && !memcmp(st->raw.ptr, g->bytes.p + want->off, want->len),
            "sender %u: stanza %zu reported with other bytes: %.*s", s->k, s->next,
            (int)st->raw.len, st->raw.ptr);
  /* The sender-side view means what expat reads in the sender's stream. */
  fc_clear(&R->canon);
  fc_clear(&R->why);
  fc_canon_view(s->p, st, &R->canon, &R->top, &R->why);
  cr_assert(R->why.len == 0 && fc_eq(&R->canon, &want->doc.canon),
            "sender %u stanza %zu: the view reads\n  %s\nexpat reads\n  %s\n%s", s->k, s->next,
            fc_str(&R->canon), fc_str(&want->doc.canon), fc_str(&R->why));
  cr_assert(fc_check_context(st, &want->doc, &R->why), "sender %u stanza %zu (%.*s): %s", s->k,
            s->next, (int)st->raw.len, st->raw.ptr, fc_str(&R->why));

  xsr_session *to = R->sess[want->to];
  size_t before = xsr_session_queued(to);
  xsr_route_result res;
  memset(&res, 0, sizeof res);
  xsr_err rc = xsr_router_route_rcu(R->router, R->sess[s->k], st, &res);
  if (rc == XSR_EQUEUEFULL) {
    cr_assert_eq(res.blocked, to, "sender %u stanza %zu: blocked on the wrong session", s->k,
                 s->next);
    cr_assert_eq(xsr_session_queued(to), before, "a refused stanza was queued");
    s->blocked = 1;
    s->blocked_on = to;
    R->st.refusals++;
    return XSR_RETRY;
  }
  cr_assert_eq(rc, XSR_OK, "sender %u stanza %zu: %s\n%.*s", s->k, s->next, xsr_err_name(rc),
               (int)st->raw.len, st->raw.ptr);
  cr_assert_eq(res.action, XSR_ROUTE_DELIVER, "sender %u stanza %zu (%.*s): action %d (%s)", s->k,
               s->next, (int)st->raw.len, st->raw.ptr, res.action,
               res.condition ? res.condition : "");
  cr_assert_eq(res.recipients, 1);
  cr_assert_gt(xsr_session_queued(to), before);
  s->blocked = 0;
  s->next++;
  R->st.routed++;
  R->st.bare += want->bare;
  return 0;
}

static const xsr_parser_callbacks fwd_callbacks = {NULL, fwd_on_stanza, NULL};

/* on_room runs inside xsr_msg_release(), on this thread: it only marks the
 * senders waiting on `s` runnable; the loop resumes them. */
static void fwd_on_room(void *user, xsr_session *s) {
  run *R = user;
  R->st.rooms++;
  for (unsigned k = 0; k < NSEND; k++)
    if (R->snd[k].blocked && R->snd[k].blocked_on == s)
      R->snd[k].blocked = 0;
}

/* Reads a popped message as its recipient would, and checks it is the next
 * stanza its sender addressed to that recipient, meaning what it meant. */
static void check_delivery(run *R, xsr_msg *m) {
  unsigned ri = (unsigned)(uintptr_t)xsr_session_user(xsr_msg_session(m));
  xsr_span b = xsr_msg_bytes(m);
  fc_clear(&R->why);
  cr_assert(fc_reparse_xsr(NULL, b.ptr, b.len, &R->dcanon, &R->dtop, &R->why),
            "delivered to %s: %s%.*s", R->jid[ri], fc_str(&R->why), (int)b.len, b.ptr);
  fc_wrap_client(&R->doc, b.ptr, b.len);
  fc_doc d;
  cr_assert(fc_expat_doc(R->doc.p, R->doc.len, &d) && d.stanzas == 1,
            "expat cannot read the copy delivered to %s: %s\n%.*s", R->jid[ri], fc_str(&d.err),
            (int)b.len, b.ptr);
  cr_assert(fc_eq(&R->dcanon, &d.canon) && fc_eq(&R->dtop.from, &d.top.from) &&
                R->dtop.has_lang == d.top.has_lang && fc_eq(&R->dtop.lang, &d.top.lang),
            "xsr and expat read the copy differently:\n  xsr   %s\n  expat %s", fc_str(&R->dcanon),
            fc_str(&d.canon));
  unsigned k = NSEND;
  for (unsigned i = 0; i < NSEND; i++)
    if (d.top.from.len == R->jid_len[i] && !memcmp(d.top.from.p, R->jid[i], R->jid_len[i]))
      k = i;
  cr_assert_lt(k, NSEND, "delivered from '%s', no sender: %.*s", fc_str(&d.top.from), (int)b.len,
               b.ptr);
  unsigned ik;
  size_t n;
  cr_assert(d.top.has_id && sscanf(fc_str(&d.top.id), "i%u-%zu", &ik, &n) == 2 && ik == k,
            "from %s, id '%s'", R->jid[k], fc_str(&d.top.id));
  const gsender *g = &R->w->snd[k];
  cr_assert_lt(n, g->n);
  cr_assert_eq(g->st[n].to, ri, "stanza %u-%zu for %s delivered to %s", k, n, R->jid[g->st[n].to],
               R->jid[ri]);
  size_t c = R->cursor[k][ri];
  cr_assert(c < R->w->norder[k][ri] && R->w->order[k][ri][c] == n,
            "%s to %s: got stanza %zu, expected %lld (lost, duplicated or reordered)", R->jid[k],
            R->jid[ri], n,
            c < R->w->norder[k][ri] ? (long long)R->w->order[k][ri][c] : (long long)-1);
  R->cursor[k][ri]++;
  const fc_doc *sent = &g->st[n].doc;
  cr_assert(fc_check_forward(
                &sent->canon, &sent->top, g->hdr.stream_has_lang ? g->hdr.stream_lang.p : NULL,
                g->hdr.stream_lang.len, &d.canon, &d.top, R->jid[k], R->jid_len[k], &R->why),
            "%s to %s, stanza %zu:\n%s\nsent: %.*s\ndelivered: %.*s", R->jid[k], R->jid[ri], n,
            fc_str(&R->why), (int)g->st[n].len, g->bytes.p + g->st[n].off, (int)b.len, b.ptr);
  fc_doc_free(&d);
  R->st.delivered++;
}

static void release_held(run *R, unsigned pct) {
  size_t keep = 0;
  for (size_t i = 0; i < R->nheld; i++) {
    if (chance(&R->r, pct))
      xsr_msg_release(R->held[i]);
    else
      R->held[keep++] = R->held[i];
  }
  R->nheld = keep;
}

/* Pops a few messages from one worker; releases some now, keeps the rest
 * (a write still in flight) and releases some of those kept before. */
static void drain_some(run *R) {
  xsr_msg *m[8];
  size_t n =
      xsr_worker_pop_owner(xsr_router_worker(R->router, below(&R->r, 2)), m, 1 + below(&R->r, 8));
  release_held(R, 40);
  for (size_t i = 0; i < n; i++) {
    check_delivery(R, m[i]);
    if (chance(&R->r, 50)) {
      xsr_msg_release(m[i]);
    } else {
      cr_assert_lt(R->nheld, (size_t)MAXHELD);
      R->held[R->nheld++] = m[i];
    }
  }
}

static void drain_all(run *R) {
  release_held(R, 100);
  for (unsigned w = 0; w < 2; w++) {
    xsr_msg *m[64];
    size_t n;
    while ((n = xsr_worker_pop_owner(xsr_router_worker(R->router, w), m, 64)) > 0)
      for (size_t i = 0; i < n; i++) {
        check_delivery(R, m[i]);
        xsr_msg_release(m[i]);
      }
  }
}

/* One read for a sender: the next chunk, or a resume when it is paused.  A
 * blocked sender is stepped only spuriously (`early`): resumed before its
 * on_room, or (buffer/commit) given more bytes while paused. */
static void step(run *R, rsender *s, int early) {
  const gsender *g = s->g;
  xsr_err r;
  size_t left = g->bytes.len - s->pos;
  int more = early && R->way == WAY_COMMIT && left > 0 && chance(&R->r, 50);
  if (s->paused && !more) {
    r = xsr_parser_resume(s->p);
  } else {
    size_t n = left;
    if (R->chunking == CHUNK_ONE)
      n = 1;
    else if (R->chunking == CHUNK_SMALL)
      n = 1 + below(&R->r, 64);
    if (n > left)
      n = left;
    if (R->way == WAY_FEED) {
      /* An exact-size copy freed right after the call: the parser must have
       * kept what it still needs (a refused stanza included). */
      char *copy = malloc(n ? n : 1);
      cr_assert_not_null(copy);
      memcpy(copy, g->bytes.p + s->pos, n);
      r = xsr_parser_feed(s->p, copy, n);
      free(copy);
    } else {
      size_t room = n;
      char *buf = xsr_parser_buffer(s->p, &room);
      cr_assert(buf != NULL && room >= n, "xsr_parser_buffer: %zu of %zu", room, n);
      memcpy(buf, g->bytes.p + s->pos, n);
      r = xsr_parser_commit(s->p, n);
    }
    s->pos += n;
    if (s->paused) {
      cr_assert_eq(r, XSR_PAUSED, "a commit while paused returned %s", xsr_err_name(r));
      R->st.paused_commits++;
    }
  }
  if (r == XSR_PAUSED) {
    cr_assert(s->blocked, "sender %u: XSR_PAUSED without a refusal", s->k);
    s->paused = 1;
    cr_assert_eq(xsr_parser_offset(s->p), g->st[s->next].off,
                 "sender %u: paused at %llu, the refused stanza is at %zu", s->k,
                 (unsigned long long)xsr_parser_offset(s->p), g->st[s->next].off);
    return;
  }
  uint64_t off = 0;
  xsr_parser_error(s->p, &off);
  cr_assert_eq(r, XSR_OK, "sender %u: %s at %llu: %.30s", s->k, xsr_err_name(r),
               (unsigned long long)off, off < g->bytes.len ? g->bytes.p + off : "");
  cr_assert(!s->blocked);
  s->paused = 0;
  if (s->pos == g->bytes.len) {
    s->done = 1;
    cr_assert(xsr_parser_closed(s->p), "sender %u: the stream did not close", s->k);
    cr_assert_eq(s->next, g->n, "sender %u: %zu of %zu stanzas reported", s->k, s->next, g->n);
  }
}

static void run_world(const world *w, int way, int chunking, uint64_t seed, fstats *total) {
  run *R = calloc(1, sizeof *R);
  cr_assert_not_null(R);
  R->w = w;
  R->way = way;
  R->chunking = chunking;
  R->r.s = seed * 0xD1B54A32D192ED03ull + 7;
  xsr_router_config cfg;
  xsr_router_config_init(&cfg);
  cfg.workers = 2;
  cfg.session_budget = 1 + below(&R->r, 800);
  cfg.on_room = fwd_on_room;
  cfg.user = R;
  R->router = xsr_router_new(&cfg, NULL);
  cr_assert_not_null(R->router);
  for (unsigned i = 0; i < NSESS; i++) {
    char text[64];
    session_text(i, text);
    R->sess[i] = new_session(R->router, i % 2, text, (void *)(uintptr_t)i);
    R->jid_len[i] = session_jid(R->sess[i], R->jid[i], sizeof R->jid[i]);
  }
  for (unsigned k = 0; k < NSEND; k++) {
    rsender *s = &R->snd[k];
    s->R = R;
    s->k = k;
    s->g = &w->snd[k];
    s->p = xsr_parser_new(NULL, &fwd_callbacks, s, NULL);
    cr_assert_not_null(s->p);
  }
  for (unsigned long it = 0;; it++) {
    cr_assert_lt(it, 100000000ul, "no progress");
    if ((it & 255) == 0)
      xsr_router_quiescent();
    rsender *runnable[NSEND], *blocked[NSEND];
    size_t nr = 0, nb = 0, nd = 0;
    for (unsigned k = 0; k < NSEND; k++) {
      rsender *s = &R->snd[k];
      if (s->done)
        nd++;
      else if (s->blocked)
        blocked[nb++] = s;
      else
        runnable[nr++] = s;
    }
    if (nd == NSEND)
      break;
    if (nr == 0) {
      /* Everyone waits for room: write out everything.  Every queue is then
       * empty, so every refusing session has drained: on_room must have
       * fired for each. */
      drain_all(R);
      for (size_t i = 0; i < nb; i++)
        cr_assert(!blocked[i]->blocked, "sender %u: no on_room after its recipient drained",
                  blocked[i]->k);
      continue;
    }
    /* Drains come every few stanzas, whatever the chunking, so that queues
     * fill up as fast with 1-byte reads as with whole ones. */
    unsigned pick = below(&R->r, 1000);
    if (pick < (R->chunking == CHUNK_ONE ? 1u : 20u) ||
        (pick < 600 && R->st.routed - R->drained_at >= R->drain_after)) {
      drain_some(R);
      R->drained_at = R->st.routed;
      R->drain_after = below(&R->r, 8);
    } else if (nb > 0 && below(&R->r, 1000) < (R->chunking == CHUNK_ONE ? 2u : 30u)) {
      step(R, blocked[below(&R->r, (unsigned)nb)], 1);
      R->st.spurious++;
    } else {
      step(R, runnable[below(&R->r, (unsigned)nr)], 0);
    }
  }
  drain_all(R);
  size_t sent = 0;
  for (unsigned k = 0; k < NSEND; k++) {
    sent += w->snd[k].n;
    for (unsigned t = 0; t < NSESS; t++)
      cr_assert_eq(R->cursor[k][t], w->norder[k][t], "%s to %s: %zu of %zu delivered", R->jid[k],
                   R->jid[t], R->cursor[k][t], w->norder[k][t]);
  }
  cr_assert_eq(R->st.routed, sent);
  cr_assert_eq(R->st.delivered, sent);
  for (unsigned i = 0; i < NSESS; i++)
    cr_assert_eq(xsr_session_queued(R->sess[i]), 0);
  for (unsigned k = 0; k < NSEND; k++)
    xsr_parser_free(R->snd[k].p);
  for (unsigned i = 0; i < NSESS; i++)
    xsr_session_close_owner(R->sess[i]);
  free_router(R->router);
  total->routed += R->st.routed;
  total->delivered += R->st.delivered;
  total->refusals += R->st.refusals;
  total->rooms += R->st.rooms;
  total->spurious += R->st.spurious;
  total->bare += R->st.bare;
  total->paused_commits += R->st.paused_commits;
  fc_free(&R->canon);
  fc_free(&R->why);
  fc_free(&R->doc);
  fc_free(&R->dcanon);
  fc_top_free(&R->top);
  fc_top_free(&R->dtop);
  free(R);
}

/* Number of generated worlds per chunking and way ($XSR_FWD_SEEDS). */
static unsigned seeds(void) {
  const char *e = getenv("XSR_FWD_SEEDS");
  return e && atoi(e) > 0 ? (unsigned)atoi(e) : 20;
}

static void run_generated(int way, int chunking) {
  fstats total;
  memset(&total, 0, sizeof total);
  size_t inherits = 0, adds_lang = 0, replaces_from = 0;
  world *w = malloc(sizeof *w);
  cr_assert_not_null(w);
  unsigned n = seeds();
  for (unsigned i = 0; i < n; i++) {
    uint64_t seed = 1000u * (unsigned)chunking + 100u * (unsigned)way + i + 1;
    gen_world(seed, w);
    for (unsigned k = 0; k < NSEND; k++) {
      inherits += (size_t)w->snd[k].inherits;
      adds_lang += (size_t)w->snd[k].adds_lang;
      replaces_from += (size_t)w->snd[k].replaces_from;
    }
    run_world(w, way, chunking, seed, &total);
    free_world(w);
  }
  free(w);
  /* The streams exercised what they are for. */
  cr_assert_gt(total.refusals, 10, "only %zu refusals", total.refusals);
  cr_assert_gt(total.rooms, 10);
  cr_assert_gt(total.spurious, 0);
  cr_assert_gt(total.bare, 0);
  cr_assert_gt(inherits, 0);
  cr_assert_gt(adds_lang, 0);
  cr_assert_gt(replaces_from, 0);
  if (way == WAY_COMMIT && chunking != CHUNK_WHOLE)
    cr_assert_gt(total.paused_commits, 0);
  cr_log_info("way %d chunking %d: %zu stanzas, %zu refusals, %zu on_room, %zu early resumes", way,
              chunking, total.routed, total.refusals, total.rooms, total.spurious);
}

TestSuite(forward, .init = setup, .fini = teardown);

Test(forward, generated_feed_1byte) { run_generated(WAY_FEED, CHUNK_ONE); }
Test(forward, generated_feed_small) { run_generated(WAY_FEED, CHUNK_SMALL); }
Test(forward, generated_feed_whole) { run_generated(WAY_FEED, CHUNK_WHOLE); }
Test(forward, generated_commit_1byte) { run_generated(WAY_COMMIT, CHUNK_ONE); }
Test(forward, generated_commit_small) { run_generated(WAY_COMMIT, CHUNK_SMALL); }
Test(forward, generated_commit_whole) { run_generated(WAY_COMMIT, CHUNK_WHOLE); }

/* ---- XSR_RETRY: the minimal case ------------------------------------------ */

#define RETRY_HDR  CLIENT_HDR
#define RETRY_BODY "<message id='m1'/><message id='m2'/></stream:stream>"

typedef struct retry_log {
  fc_buf log;    /* "m1@OFF " per report, "R " after a refusal, "C" at the close */
  int refuse[2]; /* refusals left for m1 and m2 */
  uint64_t refused_at;
  int open_ret, close_ret;
} retry_log;

static int rl_open(void *user, const xsr_stream_header *h) {
  (void)h;
  return ((retry_log *)user)->open_ret;
}

static int rl_stanza(void *user, const xsr_stanza *st) {
  retry_log *l = user;
  cr_assert(st->id.ptr && st->id.len == 2 && st->raw.len == 18, "%.*s", (int)st->raw.len,
            st->raw.ptr);
  int i = st->id.ptr[1] - '1';
  char want[32];
  snprintf(want, sizeof want, "<message id='m%d'/>", i + 1);
  cr_assert(!memcmp(st->raw.ptr, want, 18), "reported with other bytes: %.18s", st->raw.ptr);
  fc_printf(&l->log, "m%d@%llu ", i + 1, (unsigned long long)st->offset);
  if (l->refuse[i] > 0) {
    l->refuse[i]--;
    l->refused_at = st->offset;
    fc_puts(&l->log, "R ");
    return XSR_RETRY;
  }
  return 0;
}

static int rl_close(void *user, uint64_t off) {
  (void)off;
  retry_log *l = user;
  fc_puts(&l->log, "C");
  return l->close_ret;
}

static const xsr_parser_callbacks rl_callbacks = {rl_open, rl_stanza, rl_close};

/* Resumes until the parser stops pausing; each pause must sit at the
 * refused stanza. */
static xsr_err rl_drain(xsr_parser *p, retry_log *l, xsr_err r) {
  while (r == XSR_PAUSED) {
    cr_assert_eq(xsr_parser_offset(p), l->refused_at, "paused at %llu, refused %llu",
                 (unsigned long long)xsr_parser_offset(p), (unsigned long long)l->refused_at);
    r = xsr_parser_resume(p);
  }
  return r;
}

/* Feeds header + body in `chunk`-byte pieces by feed or commit. */
static void rl_run(int way, size_t chunk, int r1, int r2, int commit_while_paused,
                   const char *want) {
  static const char doc[] = RETRY_HDR RETRY_BODY;
  size_t len = sizeof doc - 1;
  retry_log l;
  memset(&l, 0, sizeof l);
  l.refuse[0] = r1;
  l.refuse[1] = r2;
  xsr_parser *p = xsr_parser_new(NULL, &rl_callbacks, &l, NULL);
  cr_assert_not_null(p);
  xsr_err r = XSR_OK;
  for (size_t pos = 0; pos < len && r == XSR_OK;) {
    size_t n = len - pos < chunk ? len - pos : chunk;
    if (way == WAY_FEED) {
      char *copy = malloc(n);
      cr_assert_not_null(copy);
      memcpy(copy, doc + pos, n);
      r = xsr_parser_feed(p, copy, n);
      free(copy);
    } else {
      size_t room = n;
      char *buf = xsr_parser_buffer(p, &room);
      cr_assert_not_null(buf);
      memcpy(buf, doc + pos, n);
      r = xsr_parser_commit(p, n);
    }
    pos += n;
    if (r == XSR_PAUSED && commit_while_paused && pos < len) {
      /* A read already in flight lands while paused: appended, not parsed. */
      size_t before = l.log.len, room = len - pos;
      char *buf = xsr_parser_buffer(p, &room);
      cr_assert_not_null(buf);
      memcpy(buf, doc + pos, len - pos);
      cr_assert_eq(xsr_parser_commit(p, len - pos), XSR_PAUSED);
      cr_assert_eq(l.log.len, before, "a commit while paused reported events");
      pos = len;
    }
    r = rl_drain(p, &l, r);
  }
  cr_assert_eq(r, XSR_OK, "%s (way %d chunk %zu)", xsr_err_name(r), way, chunk);
  cr_assert(xsr_parser_closed(p));
  cr_assert_str_eq(fc_str(&l.log), want, "way %d chunk %zu refusals %d/%d", way, chunk, r1, r2);
  xsr_parser_free(p);
  fc_free(&l.log);
}

Test(forward, retry_reports_the_same_stanza_again) {
  size_t h = sizeof RETRY_HDR - 1, len = sizeof RETRY_HDR RETRY_BODY - 1;
  char m1[32], m2[32];
  snprintf(m1, sizeof m1, "m1@%zu ", h);
  snprintf(m2, sizeof m2, "m2@%zu ", h + 18);
  static const int refusals[][2] = {{1, 0}, {2, 0}, {0, 1}, {1, 1}, {3, 2}};
  for (size_t c = 0; c < sizeof refusals / sizeof refusals[0]; c++) {
    fc_buf want = {0};
    for (int i = 0; i < refusals[c][0]; i++)
      fc_printf(&want, "%sR ", m1);
    fc_puts(&want, m1);
    for (int i = 0; i < refusals[c][1]; i++)
      fc_printf(&want, "%sR ", m2);
    fc_printf(&want, "%sC", m2);
    for (size_t chunk = 1; chunk <= len; chunk++) {
      rl_run(WAY_FEED, chunk, refusals[c][0], refusals[c][1], 0, want.p);
      rl_run(WAY_COMMIT, chunk, refusals[c][0], refusals[c][1], 0, want.p);
      rl_run(WAY_COMMIT, chunk, refusals[c][0], refusals[c][1], 1, want.p);
    }
    fc_free(&want);
  }
}

/* Fed whole: the feed stops before m1 (m2 and the close stay unparsed), and
 * one resume reports m1, m2 and the close. */
Test(forward, retry_whole_input_one_resume) {
  static const char doc[] = RETRY_HDR RETRY_BODY;
  retry_log l;
  memset(&l, 0, sizeof l);
  l.refuse[0] = 1;
  xsr_parser *p = xsr_parser_new(NULL, &rl_callbacks, &l, NULL);
  cr_assert_eq(xsr_parser_feed(p, doc, sizeof doc - 1), XSR_PAUSED);
  cr_assert_eq(xsr_parser_offset(p), sizeof RETRY_HDR - 1);
  cr_assert_geq(xsr_parser_held(p), sizeof RETRY_BODY - 1, "the unparsed rest must be kept");
  cr_assert_eq(xsr_parser_bytes(p), sizeof doc - 1);
  cr_assert(!xsr_parser_closed(p));
  char want[64];
  snprintf(want, sizeof want, "m1@%zu R ", sizeof RETRY_HDR - 1);
  cr_assert_str_eq(fc_str(&l.log), want);
  cr_assert_eq(xsr_parser_resume(p), XSR_OK);
  snprintf(want, sizeof want, "m1@%zu R m1@%zu m2@%zu C", sizeof RETRY_HDR - 1,
           sizeof RETRY_HDR - 1, sizeof RETRY_HDR - 1 + 18);
  cr_assert_str_eq(fc_str(&l.log), want);
  cr_assert(xsr_parser_closed(p));
  cr_assert_eq(xsr_parser_resume(p), XSR_OK, "resume when not paused");
  /* A reset while a stanza is refused drops it with everything else. */
  xsr_parser_reset(p);
  fc_clear(&l.log);
  l.refuse[1] = 1;
  cr_assert_eq(xsr_parser_feed(p, doc, sizeof doc - 1), XSR_PAUSED);
  xsr_parser_reset(p);
  cr_assert_eq(xsr_parser_held(p), 0);
  cr_assert_eq(xsr_parser_feed(p, doc, sizeof doc - 1), XSR_OK);
  snprintf(want, sizeof want, "m1@%zu m2@%zu R m1@%zu m2@%zu C", sizeof RETRY_HDR - 1,
           sizeof RETRY_HDR - 1 + 18, sizeof RETRY_HDR - 1, sizeof RETRY_HDR - 1 + 18);
  cr_assert_str_eq(fc_str(&l.log), want);
  /* A restart while a stanza is refused: its bytes are the first of the new
   * stream, where a stream header must come, and nothing is reported. */
  xsr_parser_reset(p);
  fc_clear(&l.log);
  l.refuse[0] = 1;
  cr_assert_eq(xsr_parser_feed(p, doc, sizeof doc - 1), XSR_PAUSED);
  cr_assert_eq(xsr_parser_restart(p), XSR_OK);
  size_t before = l.log.len;
  xsr_err r = xsr_parser_resume(p);
  uint64_t off = 0;
  cr_assert(r != XSR_OK && r != XSR_PAUSED && xsr_parser_error(p, &off) == r, "%s",
            xsr_err_name(r));
  cr_assert_eq(off, sizeof RETRY_HDR - 1, "the refused bytes are where the new stream starts");
  cr_assert_eq(l.log.len, before, "no stanza reported after the restart");
  xsr_parser_free(p);
  fc_free(&l.log);
}

/* Only on_stanza may return XSR_RETRY. */
Test(forward, retry_only_from_on_stanza) {
  static const char doc[] = RETRY_HDR RETRY_BODY;
  retry_log l;
  memset(&l, 0, sizeof l);
  l.open_ret = XSR_RETRY;
  xsr_parser *p = xsr_parser_new(NULL, &rl_callbacks, &l, NULL);
  cr_assert_eq(xsr_parser_feed(p, doc, sizeof doc - 1), XSR_EABORTED);
  xsr_parser_free(p);
  memset(&l, 0, sizeof l);
  l.close_ret = XSR_RETRY;
  p = xsr_parser_new(NULL, &rl_callbacks, &l, NULL);
  cr_assert_eq(xsr_parser_feed(p, doc, sizeof doc - 1), XSR_EABORTED);
  xsr_parser_free(p);
  fc_free(&l.log);
}

/* ---- one sender, one recipient: exact bytes ---------------------------------------- */

typedef struct duo {
  xsr_router *r;
  xsr_session *a, *b;
  xsr_parser *p;
  size_t n; /* stanzas routed */
  xsr_err rc;
  xsr_route_result res;
  fc_buf inherited; /* "P=URI;" per inherited binding of the last stanza */
  fc_buf canon;     /* its sender-side form */
  fc_top top;
  fc_buf why;
} duo;

static int duo_stanza(void *user, const xsr_stanza *st) {
  duo *d = user;
  fc_clear(&d->inherited);
  for (size_t i = 0; i < st->inherited_count; i++)
    fc_printf(&d->inherited, "%.*s=%.*s;", (int)st->inherited[i].prefix.len,
              st->inherited[i].prefix.ptr, (int)st->inherited[i].uri.len, st->inherited[i].uri.ptr);
  fc_clear(&d->canon);
  fc_canon_view(d->p, st, &d->canon, &d->top, &d->why);
  memset(&d->res, 0, sizeof d->res);
  d->rc = xsr_router_route_rcu(d->r, d->a, st, &d->res);
  d->n++;
  return 0;
}

static const xsr_parser_callbacks duo_callbacks = {NULL, duo_stanza, NULL};

static void duo_open(duo *d, const xsr_router_config *rcfg, const xsr_parser_config *pcfg,
                     const char *sender) {
  memset(d, 0, sizeof *d);
  xsr_router_config cfg;
  if (rcfg) {
    cfg = *rcfg;
  } else {
    xsr_router_config_init(&cfg);
    cfg.workers = 2;
  }
  d->r = xsr_router_new(&cfg, NULL);
  cr_assert_not_null(d->r);
  d->a = new_session(d->r, 0, sender ? sender : "a@x/r", NULL);
  d->b = new_session(d->r, 1, "b@x/r", NULL);
  d->p = xsr_parser_new(pcfg, &duo_callbacks, d, NULL);
  cr_assert_not_null(d->p);
}

static size_t duo_pop(duo *d, xsr_msg **m, size_t max) {
  size_t n = 0;
  for (unsigned w = 0; w < 2; w++)
    n += xsr_worker_pop_owner(xsr_router_worker(d->r, w), m + n, max - n);
  return n;
}

static void duo_close(duo *d) {
  xsr_parser_free(d->p);
  xsr_session_close_owner(d->a);
  xsr_session_close_owner(d->b);
  free_router(d->r);
  fc_free(&d->inherited);
  fc_free(&d->canon);
  fc_free(&d->why);
  fc_top_free(&d->top);
}

static xsr_err duo_feed(duo *d, const char *s, size_t len) { return xsr_parser_feed(d->p, s, len); }

/* Routes `stanza` from a@x/r on a stream opened by `header` (closed by
 * `close`), which must inherit `inherited`; the copy delivered to b@x/r must
 * be exactly `want`, read by xsr as `want_canon`, and mean what the stanza
 * meant on the sender's stream. */
static void expect_forward(const char *header, const char *close, const char *stanza,
                           const char *inherited, const char *want, const char *want_canon) {
  duo d;
  duo_open(&d, NULL, NULL, NULL);
  cr_assert_eq(duo_feed(&d, header, strlen(header)), XSR_OK);
  cr_assert_eq(duo_feed(&d, stanza, strlen(stanza)), XSR_OK);
  cr_assert_eq(d.n, 1);
  cr_assert_eq(d.rc, XSR_OK, "%s: %s", stanza, xsr_err_name(d.rc));
  cr_assert_eq(d.res.action, XSR_ROUTE_DELIVER, "%s: action %d (%s)", stanza, d.res.action,
               d.res.condition ? d.res.condition : "");
  cr_assert_str_eq(fc_str(&d.inherited), inherited, "%s", stanza);
  xsr_msg *m[4];
  cr_assert_eq(duo_pop(&d, m, 4), 1);
  cr_assert_eq(xsr_msg_session(m[0]), d.b);
  xsr_span b = xsr_msg_bytes(m[0]);
  cr_assert(b.len == strlen(want) && !memcmp(b.ptr, want, b.len), "delivered\n  %.*s\nwant\n  %s",
            (int)b.len, b.ptr, want);
  fc_buf canon = {0}, why = {0}, doc = {0};
  fc_top top;
  memset(&top, 0, sizeof top);
  cr_assert(fc_reparse_xsr(NULL, b.ptr, b.len, &canon, &top, &why), "%s", fc_str(&why));
  cr_assert_str_eq(fc_str(&canon), want_canon);
  fc_wrap_client(&doc, b.ptr, b.len);
  fc_doc got, sent;
  cr_assert(fc_expat_doc(doc.p, doc.len, &got), "%s", fc_str(&got.err));
  cr_assert_str_eq(fc_str(&got.canon), want_canon);
  fc_clear(&doc);
  fc_printf(&doc, "%s%s%s", header, stanza, close);
  cr_assert(fc_expat_doc(doc.p, doc.len, &sent), "%s", fc_str(&sent.err));
  cr_assert_str_eq(fc_str(&d.canon), fc_str(&sent.canon), "the sender's view");
  cr_assert(fc_check_forward(&sent.canon, &sent.top,
                             sent.stream_has_lang ? sent.stream_lang.p : NULL, sent.stream_lang.len,
                             &got.canon, &got.top, "a@x/r", 5, &why),
            "%s", fc_str(&why));
  fc_doc_free(&got);
  fc_doc_free(&sent);
  fc_free(&canon);
  fc_free(&why);
  fc_free(&doc);
  fc_top_free(&top);
  xsr_msg_release(m[0]);
  duo_close(&d);
}

#define FOO_HDR                                                                                    \
  "<stream:stream xmlns='jabber:client' xmlns:stream='" STREAMS_NS "' xmlns:foo='urn:foo' "        \
  "to='x' version='1.0'>"
#define STD_CLOSE "</stream:stream>"

/* The example: without the declaration the recipient would refuse
 * the copy (unbound prefix). */
Test(forward, inherited_prefix_is_declared) {
  expect_forward(FOO_HDR, STD_CLOSE, "<message to='b@x/r'><foo:bar/></message>", "foo=urn:foo;",
                 "<message from='a@x/r' xmlns:foo='urn:foo' to='b@x/r'><foo:bar/></message>",
                 "<{jabber:client}message to=\"b@x/r\"><{urn:foo}bar></></>");
  /* Used by an attribute only, on the stanza itself. */
  expect_forward(FOO_HDR, STD_CLOSE, "<message to='b@x/r' foo:a='1'/>", "foo=urn:foo;",
                 "<message from='a@x/r' xmlns:foo='urn:foo' to='b@x/r' foo:a='1'/>",
                 "<{jabber:client}message to=\"b@x/r\" {urn:foo}a=\"1\"></>");
  /* Declared again by the stanza, or only under a local redeclaration: not
   * inherited, nothing added. */
  expect_forward(FOO_HDR, STD_CLOSE, "<message xmlns:foo='urn:foo' to='b@x/r'><foo:bar/></message>",
                 "", "<message from='a@x/r' xmlns:foo='urn:foo' to='b@x/r'><foo:bar/></message>",
                 "<{jabber:client}message to=\"b@x/r\"><{urn:foo}bar></></>");
  expect_forward(FOO_HDR, STD_CLOSE,
                 "<message to='b@x/r'><x xmlns:foo='urn:y'><foo:z/></x></message>", "",
                 "<message from='a@x/r' to='b@x/r'><x xmlns:foo='urn:y'><foo:z/></x></message>",
                 "<{jabber:client}message to=\"b@x/r\"><{jabber:client}x><{urn:y}z></></></>");
  /* Two bindings, used in the other order: written in the header's order,
   * URIs escaped as xsr_writer escapes them; a client 'from' replaced. */
  expect_forward("<stream:stream xmlns:b=\"urn:b&amp;'\" xmlns:stream='" STREAMS_NS
                 "' xmlns='jabber:client' xmlns:foo='urn:foo'>",
                 STD_CLOSE, "<message to='b@x/r' from='evil@y/z'><b:x/><foo:y/></message>",
                 "b=urn:b&';foo=urn:foo;",
                 "<message from='a@x/r' xmlns:b='urn:b&amp;&apos;' xmlns:foo='urn:foo' "
                 "to='b@x/r'><b:x/><foo:y/></message>",
                 "<{jabber:client}message to=\"b@x/r\"><{urn:b&'}x></><{urn:foo}y></></>");
  /* A prefix bound to the content namespace, on a child. */
  expect_forward("<stream:stream xmlns:jc='jabber:client' xmlns:stream='" STREAMS_NS
                 "' xmlns='jabber:client'>",
                 STD_CLOSE, "<message to='b@x/r'><jc:body>hi</jc:body></message>",
                 "jc=jabber:client;",
                 "<message from='a@x/r' xmlns:jc='jabber:client' to='b@x/r'><jc:body>hi"
                 "</jc:body></message>",
                 "<{jabber:client}message to=\"b@x/r\"><{jabber:client}body>hi</></>");
}

/* The silent variant: the recipient's stream binds 'stream' too, so without
 * the declaration the copy would parse, in the wrong namespace. */
Test(forward, rebound_stream_prefix) {
  expect_forward("<s:stream xmlns:s='" STREAMS_NS "' xmlns:stream='urn:xsr:other' "
                 "xmlns='jabber:client' version='1.0'>",
                 "</s:stream>", "<message to='b@x/r'><stream:x/></message>",
                 "stream=urn:xsr:other;",
                 "<message from='a@x/r' xmlns:stream='urn:xsr:other' to='b@x/r'><stream:x/>"
                 "</message>",
                 "<{jabber:client}message to=\"b@x/r\"><{urn:xsr:other}x></></>");
  /* The streams namespace under another prefix, used by a child. */
  expect_forward("<s:stream xmlns:s='" STREAMS_NS "' xmlns='jabber:client' version='1.0'>",
                 "</s:stream>", "<message to='b@x/r'><s:x/></message>", "s=" STREAMS_NS ";",
                 "<message from='a@x/r' xmlns:s='" STREAMS_NS "' to='b@x/r'><s:x/></message>",
                 "<{jabber:client}message to=\"b@x/r\"><{" STREAMS_NS "}x></></>");
  /* The usual 'stream' prefix is inherited like any other. */
  expect_forward(CLIENT_HDR, STD_CLOSE, "<message to='b@x/r'><stream:x/></message>",
                 "stream=" STREAMS_NS ";",
                 "<message from='a@x/r' xmlns:stream='" STREAMS_NS "' to='b@x/r'><stream:x/>"
                 "</message>",
                 "<{jabber:client}message to=\"b@x/r\"><{" STREAMS_NS "}x></></>");
}

#define LANG_HDR                                                                                   \
  "<stream:stream xmlns='jabber:client' xmlns:stream='" STREAMS_NS "' xml:lang='en' "              \
  "xmlns:foo='urn:foo' version='1.0'>"

Test(forward, stream_lang_is_added) {
  expect_forward(LANG_HDR, STD_CLOSE, "<message to='b@x/r'><body>hi</body></message>", "",
                 "<message from='a@x/r' xml:lang='en' to='b@x/r'><body>hi</body></message>",
                 "<{jabber:client}message to=\"b@x/r\"><{jabber:client}body>hi</></>");
  /* The stanza's own xml:lang wins; nothing is added. */
  expect_forward(LANG_HDR, STD_CLOSE, "<message to='b@x/r' xml:lang='de'/>", "",
                 "<message from='a@x/r' to='b@x/r' xml:lang='de'/>",
                 "<{jabber:client}message to=\"b@x/r\"></>");
  /* Both, with a client 'from' replaced: from, declarations, then xml:lang. */
  expect_forward(LANG_HDR, STD_CLOSE, "<presence from='evil' to='b@x/r' foo:a='1'/>",
                 "foo=urn:foo;",
                 "<presence from='a@x/r' xmlns:foo='urn:foo' xml:lang='en' to='b@x/r' "
                 "foo:a='1'/>",
                 "<{jabber:client}presence to=\"b@x/r\" {urn:foo}a=\"1\"></>");
  /* A value that needs escaping, and one given as a reference. */
  expect_forward("<stream:stream xmlns='jabber:client' xmlns:stream='" STREAMS_NS
                 "' xml:lang=\"x'y\">",
                 STD_CLOSE, "<iq to='b@x/r' type='get' id='1'/>", "",
                 "<iq from='a@x/r' xml:lang='x&apos;y' to='b@x/r' type='get' id='1'/>",
                 "<{jabber:client}iq id=\"1\" to=\"b@x/r\" type=\"get\"></>");
  expect_forward("<stream:stream xmlns='jabber:client' xmlns:stream='" STREAMS_NS
                 "' xml:lang='fr&#45;CA'>",
                 STD_CLOSE, "<iq to='b@x/r' type='get' id='1'/>", "",
                 "<iq from='a@x/r' xml:lang='fr-CA' to='b@x/r' type='get' id='1'/>",
                 "<{jabber:client}iq id=\"1\" to=\"b@x/r\" type=\"get\"></>");
}

/* ---- limits the rewrite can cross ------------------------------------------------- */

/* head + 'x'... + tail, exactly `total` bytes (caller frees). */
static char *sized(const char *head, const char *tail, size_t total) {
  size_t hl = strlen(head), tl = strlen(tail);
  cr_assert_geq(total, hl + tl);
  char *s = malloc(total + 1);
  cr_assert_not_null(s);
  memcpy(s, head, hl);
  memset(s + hl, 'x', total - hl - tl);
  memcpy(s + total - tl, tail, tl);
  s[total] = '\0';
  return s;
}

/* Routes one stanza from a@x/r; `grows` is how much the rewrite adds and
 * `fits` whether the copy is within rcfg.  Checks the delivery (exactly that
 * much longer, readable by a recipient using rcfg's limits) or the bounce
 * (policy-violation, type modify, to the sender, nothing to b). */
static void expect_limit(const xsr_router_config *rcfg, const xsr_parser_config *pcfg,
                         const char *header, const char *stanza, size_t grows, int fits) {
  duo d;
  duo_open(&d, rcfg, pcfg, NULL);
  cr_assert_eq(duo_feed(&d, header, strlen(header)), XSR_OK);
  size_t len = strlen(stanza);
  xsr_err e = duo_feed(&d, stanza, len);
  cr_assert_eq(e, XSR_OK, "the sender's parser: %s (%zu bytes)", xsr_err_name(e), len);
  cr_assert_eq(d.n, 1);
  cr_assert_eq(d.rc, XSR_OK);
  xsr_msg *m[4];
  cr_assert_eq(duo_pop(&d, m, 4), 1);
  xsr_span b = xsr_msg_bytes(m[0]);
  fc_buf canon = {0}, why = {0};
  fc_top top;
  memset(&top, 0, sizeof top);
  if (fits) {
    cr_assert_eq(d.res.action, XSR_ROUTE_DELIVER, "%zu bytes: action %d (%s)", len, d.res.action,
                 d.res.condition ? d.res.condition : "");
    cr_assert_eq(xsr_msg_session(m[0]), d.b);
    cr_assert_eq(b.len, len + grows, "delivered %zu bytes from %zu", b.len, len);
    xsr_parser_config rp;
    xsr_parser_config_init(&rp);
    rp.max_stanza = rcfg->max_stanza;
    rp.max_attrs = rcfg->max_attrs;
    rp.max_ns_decls = rcfg->max_ns_decls;
    cr_assert(fc_reparse_xsr(&rp, b.ptr, b.len, &canon, &top, &why), "%s", fc_str(&why));
  } else {
    cr_assert_eq(d.res.action, XSR_ROUTE_BOUNCE, "%zu bytes: action %d", len, d.res.action);
    cr_assert_str_eq(d.res.condition, "policy-violation");
    cr_assert_eq(xsr_msg_session(m[0]), d.a, "the bounce goes to the sender");
    cr_assert(fc_reparse_xsr(NULL, b.ptr, b.len, &canon, &top, &why), "%s", fc_str(&why));
    cr_assert(strstr(fc_str(&canon), "{urn:ietf:params:xml:ns:xmpp-stanzas}policy-violation") &&
                  strstr(fc_str(&canon), "type=\"modify\"") &&
                  strstr(fc_str(&canon), "type=\"error\""),
              "%s", fc_str(&canon));
  }
  xsr_msg_release(m[0]);
  fc_free(&canon);
  fc_free(&why);
  fc_top_free(&top);
  duo_close(&d);
}

#define STAMP_LEN    (sizeof " from='a@x/r'" - 1)
#define FOO_DECL_LEN (sizeof " xmlns:foo='urn:foo'" - 1)

/* A stanza at exactly max_stanza for the sender's parser cannot be delivered
 * within the same max_stanza: it is bounced, and so is everything the
 * rewrite takes past the limit, to the byte. */
Test(forward, limit_max_stanza) {
  enum { MAX = 2048 };
  xsr_router_config rc;
  xsr_router_config_init(&rc);
  rc.workers = 2;
  rc.max_stanza = MAX;
  xsr_parser_config pc;
  xsr_parser_config_init(&pc);
  pc.max_stanza = MAX;
  static const struct {
    const char *hdr, *head;
    size_t grows;
  } cases[] = {
      {CLIENT_HDR, "<message to='b@x/r'><body>", STAMP_LEN},
      {FOO_HDR, "<message to='b@x/r'><foo:x/><body>", STAMP_LEN + FOO_DECL_LEN},
      {CLIENT_HDR, "<message from='e' to='b@x/r'><body>", STAMP_LEN - (sizeof " from='e'" - 1)},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    size_t edge = MAX - cases[c].grows;
    size_t lens[] = {edge - 1, edge, edge + 1, MAX};
    for (size_t i = 0; i < 4; i++) {
      char *st = sized(cases[c].head, "</body></message>", lens[i]);
      expect_limit(&rc, &pc, cases[c].hdr, st, cases[c].grows, lens[i] <= edge);
      free(st);
    }
  }
  /* One byte more and the sender's own parser refuses it. */
  duo d;
  duo_open(&d, &rc, &pc, NULL);
  char *st = sized("<message to='b@x/r'><body>", "</body></message>", MAX + 1);
  cr_assert_eq(duo_feed(&d, CLIENT_HDR, sizeof CLIENT_HDR - 1), XSR_OK);
  cr_assert_eq(duo_feed(&d, st, MAX + 1), XSR_ELIMITSTANZA);
  cr_assert_eq(d.n, 0);
  free(st);
  duo_close(&d);
}

/* "<message" + head + ndecl declarations + n attributes + tail (malloc'd) */
static char *with_attrs(const char *head, unsigned n, unsigned ndecl, const char *tail) {
  fc_buf b = {0};
  fc_printf(&b, "<message%s", head);
  for (unsigned i = 0; i < ndecl; i++)
    fc_printf(&b, " xmlns:p%u='urn:p%u'", i, i);
  for (unsigned i = 0; i < n; i++)
    fc_printf(&b, " a%u='v'", i);
  fc_puts(&b, tail);
  return b.p;
}

/* Attributes and declarations the rewrite adds to the start tag count
 * against what a recipient accepts (the parser's defaults: 64 and 32). */
Test(forward, limit_attrs_and_decls) {
  xsr_router_config rc;
  xsr_router_config_init(&rc);
  rc.workers = 2;
  cr_assert_eq(rc.max_attrs, XSR_DEFAULT_MAX_ATTRS);
  cr_assert_eq(rc.max_ns_decls, XSR_DEFAULT_MAX_NS_DECLS);
  cr_assert_eq(rc.max_stanza, XSR_DEFAULT_MAX_STANZA);
  char *s;
  /* to + 62 + the stamped from = 64 */
  s = with_attrs(" to='b@x/r'", 62, 0, "/>");
  expect_limit(&rc, NULL, CLIENT_HDR, s, STAMP_LEN, 1);
  free(s);
  s = with_attrs(" to='b@x/r'", 63, 0, "/>"); /* 64 for the sender, 65 after */
  expect_limit(&rc, NULL, CLIENT_HDR, s, STAMP_LEN, 0);
  free(s);
  /* A client 'from' is replaced, not added to. */
  s = with_attrs(" from='e' to='b@x/r'", 62, 0, "/>");
  expect_limit(&rc, NULL, CLIENT_HDR, s, STAMP_LEN - (sizeof " from='e'" - 1), 1);
  free(s);
  /* The stream's xml:lang adds one more. */
  s = with_attrs(" to='b@x/r'", 61, 0, "/>");
  expect_limit(&rc, NULL, LANG_HDR, s, STAMP_LEN + sizeof " xml:lang='en'" - 1, 1);
  free(s);
  s = with_attrs(" to='b@x/r'", 62, 0, "/>");
  expect_limit(&rc, NULL, LANG_HDR, s, STAMP_LEN + sizeof " xml:lang='en'" - 1, 0);
  free(s);
  /* 32 declarations: fine alone, one too many with an inherited binding. */
  s = with_attrs(" to='b@x/r'", 0, 32, "><x/></message>");
  expect_limit(&rc, NULL, FOO_HDR, s, STAMP_LEN, 1);
  free(s);
  s = with_attrs(" to='b@x/r'", 0, 32, "><foo:x/></message>");
  expect_limit(&rc, NULL, FOO_HDR, s, STAMP_LEN + FOO_DECL_LEN, 0);
  free(s);
  s = with_attrs(" to='b@x/r'", 0, 31, "><foo:x/></message>");
  expect_limit(&rc, NULL, FOO_HDR, s, STAMP_LEN + FOO_DECL_LEN, 1);
  free(s);
}

/* Reading the sender with xsr_router_sender_limits(): whatever its parser
 * accepts is delivered within the router's limits, even from the longest
 * JID with the longest escaped stamp (exactly XSR_ROUTER_FROM_ROOM). */
Test(forward, sender_limits_make_every_stanza_deliverable) {
  xsr_router_config rc;
  xsr_router_config_init(&rc);
  rc.workers = 2;
  rc.max_stanza = 12000;
  rc.max_attrs = 10;
  rc.max_ns_decls = 4;
  size_t room = FOO_DECL_LEN + sizeof " xml:lang='en'" - 1;
  xsr_parser_config pc;
  xsr_parser_config_init(&pc);
  pc.max_depth = 7;
  xsr_router_sender_limits(&rc, room, 1, &pc);
  cr_assert_eq(pc.max_stanza, 12000 - XSR_ROUTER_FROM_ROOM - room);
  cr_assert_eq(pc.max_attrs, 10 - 2 - 1);
  cr_assert_eq(pc.max_ns_decls, 4 - 1);
  cr_assert_eq(pc.max_depth, 7, "other fields are left as they are");

  /* local 1023 bytes, domain 16 labels of 63 (1023 bytes), resource 1023
   * apostrophes, each stamped as "&apos;". */
  char *jid = malloc(3 * 1024 + 8);
  cr_assert_not_null(jid);
  size_t n = 0;
  memset(jid, 'l', 1023), n = 1023;
  jid[n++] = '@';
  for (int i = 0; i < 16; i++) {
    if (i)
      jid[n++] = '.';
    memset(jid + n, 'd', 63), n += 63;
  }
  jid[n++] = '/';
  memset(jid + n, '\'', 1023), n += 1023;
  jid[n] = '\0';

  static const char head[] = "<message to='b@x/r' xmlns:p1='urn:1' xmlns:p2='urn:2' "
                             "xmlns:p3='urn:3' a1='1' a2='2' a3='3'><foo:x/><body>";
  duo d;
  duo_open(&d, &rc, &pc, jid);
  cr_assert_eq(duo_feed(&d, LANG_HDR, sizeof LANG_HDR - 1), XSR_OK);
  char *st = sized(head, "</body></message>", pc.max_stanza);
  cr_assert_eq(duo_feed(&d, st, pc.max_stanza), XSR_OK);
  free(st);
  cr_assert_eq(d.n, 1);
  cr_assert_eq(d.rc, XSR_OK);
  cr_assert_eq(d.res.action, XSR_ROUTE_DELIVER, "action %d (%s)", d.res.action,
               d.res.condition ? d.res.condition : "");
  xsr_msg *m[4];
  cr_assert_eq(duo_pop(&d, m, 4), 1);
  xsr_span b = xsr_msg_bytes(m[0]);
  cr_assert_eq(b.len, rc.max_stanza, "the worst case fills the limit exactly: %zu", b.len);
  xsr_parser_config rp;
  xsr_parser_config_init(&rp);
  rp.max_stanza = rc.max_stanza;
  rp.max_attrs = rc.max_attrs;
  rp.max_ns_decls = rc.max_ns_decls;
  fc_buf canon = {0}, why = {0};
  fc_top top;
  memset(&top, 0, sizeof top);
  cr_assert(fc_reparse_xsr(&rp, b.ptr, b.len, &canon, &top, &why), "%s", fc_str(&why));
  cr_assert(top.from_count == 1 && top.from.len == n && !memcmp(top.from.p, jid, n));
  xsr_msg_release(m[0]);
  duo_close(&d);

  /* What the sender's parser refuses instead. */
  static const struct {
    const char *head;
    size_t extra;
    xsr_err want;
  } over[] = {
      {head, 1, XSR_ELIMITSTANZA},
      {"<message to='b@x/r' a1='1' a2='2' a3='3' a4='4' a5='5' a6='6' a7='7'><body>", 0,
       XSR_ELIMITATTRS},
      {"<message to='b@x/r' xmlns:p1='urn:1' xmlns:p2='urn:2' xmlns:p3='urn:3' "
       "xmlns:p4='urn:4'><body>",
       0, XSR_ELIMITNSDECL},
  };
  for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
    duo_open(&d, &rc, &pc, jid);
    cr_assert_eq(duo_feed(&d, LANG_HDR, sizeof LANG_HDR - 1), XSR_OK);
    size_t len = over[i].extra ? pc.max_stanza + 1 : 200;
    st = sized(over[i].head, "</body></message>", len);
    xsr_err e = duo_feed(&d, st, len);
    cr_assert_eq(e, over[i].want, "case %zu: %s", i, xsr_err_name(e));
    cr_assert_eq(d.n, 0);
    free(st);
    duo_close(&d);
  }
  free(jid);
  fc_free(&canon);
  fc_free(&why);
  fc_top_free(&top);
}

/* ---- a stanza in another content namespace ------------------------------------------ */

typedef struct count_ctx {
  size_t stanzas;
} count_ctx;

static int count_stanza(void *user, const xsr_stanza *st) {
  (void)st;
  ((count_ctx *)user)->stanzas++;
  return 0;
}

static const xsr_parser_callbacks count_callbacks = {NULL, count_stanza, NULL};

#define SERVER_HDR                                                                                 \
  "<stream:stream xmlns='jabber:server' xmlns:stream='" STREAMS_NS "' version='1.0'>"

Test(forward, stanza_in_another_content_namespace) {
  static const struct {
    const char *hdr, *bad;
    xsr_err want;
  } cases[] = {
      {CLIENT_HDR, "<message xmlns='jabber:server' to='b@x/r'/>", XSR_ESTANZANS},
      {CLIENT_HDR, "<s:message xmlns:s='jabber:server'><body>x</body></s:message>", XSR_ESTANZANS},
      {CLIENT_HDR, "<iq xmlns='jabber:component:accept' type='get' id='1'/>", XSR_ESTANZANS},
      {SERVER_HDR, "<message xmlns='jabber:client'/>", XSR_ESTANZANS},
      /* Not a content namespace, or not top-level: accepted. */
      {CLIENT_HDR, "<r xmlns='urn:xmpp:sm:3'/>", XSR_OK},
      {CLIENT_HDR, "<message><x xmlns='jabber:server'/></message>", XSR_OK},
      {SERVER_HDR, "<message xmlns='jabber:server'/>", XSR_OK},
  };
  static const char good[] = "<message to='b@x/r' id='ok'/>";
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    fc_buf doc = {0};
    fc_printf(&doc, "%s%s%s", cases[c].hdr, good, cases[c].bad);
    size_t bad_at = strlen(cases[c].hdr) + sizeof good - 1;
    const char *gt = strchr(cases[c].bad, '>');
    size_t tag_end = bad_at + (size_t)(gt - cases[c].bad);
    uint64_t first_off = UINT64_MAX;
    for (int way = WAY_FEED; way <= WAY_COMMIT; way++)
      for (size_t chunk = 1; chunk <= doc.len; chunk++) {
        count_ctx cc = {0};
        xsr_parser *p = xsr_parser_new(NULL, &count_callbacks, &cc, NULL);
        xsr_err r = XSR_OK;
        for (size_t pos = 0; pos < doc.len && r == XSR_OK; pos += chunk) {
          size_t n = doc.len - pos < chunk ? doc.len - pos : chunk;
          if (way == WAY_FEED) {
            r = xsr_parser_feed(p, doc.p + pos, n);
          } else {
            size_t room = n;
            char *buf = xsr_parser_buffer(p, &room);
            cr_assert_not_null(buf);
            memcpy(buf, doc.p + pos, n);
            r = xsr_parser_commit(p, n);
          }
        }
        cr_assert_eq(r, cases[c].want, "%s: %s, want %s (way %d chunk %zu)", cases[c].bad,
                     xsr_err_name(r), xsr_err_name(cases[c].want), way, chunk);
        if (r == XSR_OK) {
          cr_assert_eq(cc.stanzas, 2);
        } else {
          uint64_t off = 0;
          cr_assert_eq(xsr_parser_error(p, &off), r);
          cr_assert_str_eq(xsr_err_condition(r), "invalid-namespace");
          cr_assert_eq(cc.stanzas, 1, "the stanza before is reported, the bad one is not");
          cr_assert(off >= bad_at && off <= tag_end, "%s: error at %llu, the start tag is %zu..%zu",
                    cases[c].bad, (unsigned long long)off, bad_at, tag_end);
          if (first_off == UINT64_MAX)
            first_off = off;
          cr_assert_eq(off, first_off, "the error offset depends on the chunking");
        }
        xsr_parser_free(p);
      }
    fc_free(&doc);
  }
}

/* A bounce is delivered too (to the sender's session), so it obeys the same
 * limits: an error stanza echoes the id and the original 'to', escaped, and
 * must not come out longer than cfg.max_stanza: such a bounce is dropped. */
Test(forward, limit_bounce_within_max_stanza) {
  xsr_router_config rc;
  xsr_router_config_init(&rc);
  rc.workers = 2;
  rc.max_stanza = 600;
  static const struct {
    size_t max_stanza; /* the router's; 0: 600 and the sender at the defaults */
    char fill;         /* the id's characters, each escaped by the bounce */
    size_t n;
  } cases[] = {{0, 'i', 700}, {XSR_DEFAULT_MAX_STANZA, '"', 44000}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    xsr_parser_config pc;
    xsr_parser_config_init(&pc);
    if (cases[c].max_stanza) {
      rc.max_stanza = cases[c].max_stanza; /* sender read with sender limits */
      xsr_router_sender_limits(&rc, 0, 0, &pc);
    }
    fc_buf st = {0};
    fc_puts(&st, "<iq to='b@x/gone' type='get' id='");
    for (size_t i = 0; i < cases[c].n; i++)
      fc_add(&st, &cases[c].fill, 1);
    fc_puts(&st, "'/>");
    duo d;
    duo_open(&d, &rc, &pc, NULL);
    cr_assert_eq(duo_feed(&d, CLIENT_HDR, sizeof CLIENT_HDR - 1), XSR_OK);
    cr_assert_eq(duo_feed(&d, st.p, st.len), XSR_OK, "the sender's parser refuses it");
    cr_assert_eq(d.n, 1);
    /* router.h: such a bounce is not sent, and the result says DROP. */
    cr_expect_eq(d.res.action, XSR_ROUTE_DROP, "case %zu: action %d", c, (int)d.res.action);
    xsr_msg *m[4];
    size_t n = duo_pop(&d, m, 4);
    cr_expect_eq(n, 0, "case %zu: %zu messages queued", c, n);
    for (size_t i = 0; i < n; i++) {
      cr_expect_leq(xsr_msg_bytes(m[i]).len, rc.max_stanza,
                    "case %zu: a %zu-byte bounce for a %zu-byte stanza, max_stanza %zu", c,
                    xsr_msg_bytes(m[i]).len, st.len, rc.max_stanza);
      xsr_msg_release(m[i]);
    }
    fc_free(&st);
    duo_close(&d);
  }
}
