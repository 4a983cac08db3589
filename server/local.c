/* SPDX-License-Identifier: MIT */
/*
 * server/local.c: what the server answers itself (c2s.h, "what the server
 * answers itself"): stanzas the router returned as XSR_ROUTE_SERVER, and
 * presence broadcast.
 *
 * Thread: the sending connection's worker (registered, online).  Other
 * connections are reached only through sessions found under RCU, and of
 * them only their published last presence is read
 * (xsr__c2s_last_presence_any); nothing is written to them except through
 * the router's queues.
 *
 * Answers go through the sender's own session queue (xsr_router_send_rcu,
 * xsr_router_bounce_rcu), under its budget and in order with the router's
 * bounces: when it is full the stanza is refused (XSR_EQUEUEFULL) and
 * retried like a routed one, so a client that does not read its answers
 * stops being read.  Presence sent to others (broadcast, probe answers) is
 * state, not a conversation: a recipient whose queue is full misses that
 * one (the next presence replaces it), and the sender is never blocked by
 * it.
 *
 * Presence (RFC 6121 4), with rosters that are read-only (the users file):
 *  - "C sees U's presence" exactly when U's roster lists C with
 *    subscription from or both.  U's available presence, its updates and
 *    its unavailable go to U's own available resources (the sender
 *    included, 4.2.2) and to the available resources of those contacts.
 *  - On U's initial presence the server probes for it (4.2.2, 4.3): U
 *    receives the last presence of its own other available resources and
 *    of every available resource of each contact C listed to/both in U's
 *    roster whose own roster lets U see it (C lists U from/both).
 *  - A probe sent by a client to C is answered the same way, with
 *    <presence type='unavailable'/> from C's bare JID when none of C's
 *    resources is available; a probe that C's roster does not allow is
 *    dropped (nothing is revealed).
 *  - subscribe to C is answered for C (RFC 6121 3.1.3: the contact's server
 *    may answer on its behalf): 'subscribed' and C's presence when C's
 *    roster already lets U see it, else 'unsubscribed' (the request can
 *    neither be stored nor approved: rosters change only in the users
 *    file).  subscribed, unsubscribe and unsubscribed are dropped.
 *  - Directed presence (with 'to') is routed by the router (RFC 6121 4.6).
 *    Available presence that reached an address outside the account's
 *    subscriptions (not its own bare JID, not a contact listed from/both:
 *    those hear of its unavailable through the broadcast) is remembered,
 *    as the normalised JID it was sent to (full or bare), at most
 *    XSR__C2S_DIRECTED_MAX per session (beyond that it is not);
 *    directed unavailable presence forgets that exact address.  When the
 *    session goes unavailable (unavailable without 'to', or it ends
 *    without one) each remembered address gets <presence
 *    type='unavailable'/> from its full JID (4.6.3): a full JID that
 *    session, a bare JID its available resources.  Only the connection's
 *    own thread touches that list.  A session replaced by a new bind of
 *    the same full JID sends none (the new session speaks for that JID
 *    from then on).
 *  - A session that ends without unavailable presence (peer gone, stream
 *    error, replaced by a new bind) has one sent for it to those who see it.
 */
#include <stdlib.h>
#include <string.h>

#include "c2s_internal.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

static int span_is(xsr_span s, const char *lit) {
  size_t n = strlen(lit);
  return s.ptr && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static int span_eq(xsr_span a, xsr_span b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* ---- stamping ------------------------------------------------------------------ */

static int is_ws(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

/* Escapes s[0..n) as xsr_writer escapes an attribute value; with out NULL
 * only counts.  Returns the length. */
static size_t esc(char *out, const char *s, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    const char *r;
    switch (s[i]) {
    case '&':
      r = "&amp;";
      break;
    case '<':
      r = "&lt;";
      break;
    case '>':
      r = "&gt;";
      break;
    case '\'':
      r = "&apos;";
      break;
    case '"':
      r = "&quot;";
      break;
    case '\t':
      r = "&#9;";
      break;
    case '\n':
      r = "&#10;";
      break;
    case '\r':
      r = "&#13;";
      break;
    default:
      if (out)
        out[o] = s[i];
      o++;
      continue;
    }
    size_t k = strlen(r);
    if (out)
      memcpy(out + o, r, k);
    o += k;
  }
  return o;
}

/* " from='F'", the forwarding context, as the router writes them.  With
 * out NULL only counts. */
static size_t put_stamp(char *out, xsr_span full, const xsr_stanza *st) {
  size_t o = 0;
#define PUT(p, n)                                                                                  \
  do {                                                                                             \
    if (out)                                                                                       \
      memcpy(out + o, (p), (n));                                                                   \
    o += (n);                                                                                      \
  } while (0)
  PUT(" from='", 7);
  o += esc(out ? out + o : NULL, full.ptr, full.len);
  PUT("'", 1);
  for (size_t i = 0; i < st->inherited_count; i++) {
    const xsr_ns_decl *d = &st->inherited[i];
    PUT(" xmlns:", 7);
    PUT(d->prefix.ptr, d->prefix.len);
    PUT("='", 2);
    o += esc(out ? out + o : NULL, d->uri.ptr, d->uri.len);
    PUT("'", 1);
  }
  if (!st->lang.ptr && st->stream_lang.ptr) {
    PUT(" xml:lang='", 11);
    o += esc(out ? out + o : NULL, st->stream_lang.ptr, st->stream_lang.len);
    PUT("'", 1);
  }
#undef PUT
  return o;
}

xsr__c2s_pres *xsr__c2s_stamp(const xsr_session *s, const xsr_stanza *st) {
  const char *p = st->raw.ptr;
  size_t n = st->raw.len, ins = 1;
  while (ins < n && !is_ws(p[ins]) && p[ins] != '/' && p[ins] != '>')
    ins++;
  if (ins >= n)
    return NULL;
  /* The client's own 'from' (with the whitespace before it) is cut. */
  size_t a = ins, b = ins;
  if (st->from.ptr && st->from.ptr > p + ins && st->from.ptr + st->from.len < p + n) {
    size_t v = (size_t)(st->from.ptr - p), j = v - 1;
    while (j > ins && is_ws(p[j - 1]))
      j--;
    if (j > ins && p[j - 1] == '=') {
      j--;
      while (j > ins && is_ws(p[j - 1]))
        j--;
      if (j >= ins + 5 && memcmp(p + j - 4, "from", 4) == 0 && is_ws(p[j - 5])) {
        a = j - 5;
        b = v + st->from.len + 1;
      }
    }
  }
  xsr_jid sj = xsr_session_jid(s);
  xsr_span full = xsr_jid_full(&sj);
  size_t stamp = put_stamp(NULL, full, st);
  size_t len = n - (b - a) + stamp;
  xsr__c2s_pres *out = malloc(sizeof *out + len);
  if (!out)
    return NULL;
  char *o = out->data;
  memcpy(o, p, ins);
  o += ins;
  o += put_stamp(o, full, st);
  memcpy(o, p + ins, a - ins);
  o += a - ins;
  memcpy(o, p + b, n - b);
  out->len = len;
  return out;
}

/* ---- who sees whom ---------------------------------------------------------------- */

static int sub_from(xsr__subscription s) { return s == XSR__SUB_FROM || s == XSR__SUB_BOTH; }
static int sub_to(xsr__subscription s) { return s == XSR__SUB_TO || s == XSR__SUB_BOTH; }

/* Whether `owner`'s roster lets `viewer` (a canonical bare JID) see its
 * presence. */
static int shares_with(const xsr__account *owner, xsr_span viewer) {
  for (size_t i = 0; owner && i < owner->nroster; i++) {
    const xsr__roster_item *it = &owner->roster[i];
    if (strlen(it->jid) == viewer.len && memcmp(it->jid, viewer.ptr, viewer.len) == 0)
      return sub_from(it->subscription);
  }
  return 0;
}

/* The account of a local bare JID (of any domain served), or NULL: in the
 * users file c authenticated against (a reload does not change what a
 * connected session sees). */
static const xsr__account *account_of(const xsr__c2s *c, const xsr_jid *j) {
  if (!j->local.ptr || xsr__server_host(c->srv, j->domain.ptr, j->domain.len) < 0)
    return NULL;
  const xsr__users *hu = xsr__users_host(c->users, j->domain.ptr, j->domain.len);
  return hu ? xsr__users_lookup(hu, j->local.ptr, j->local.len) : NULL;
}

static xsr_span last_of(xsr_session *s) {
  return xsr__c2s_last_presence_any((const xsr__c2s *)xsr_session_user(s));
}

/* The sessions bound under jid's bare JID: into stack[0..cap) or a heap
 * array (*heap, freed by the caller).  Returns the count. */
static size_t resources(xsr_router *r, const xsr_jid *jid, xsr_session **stack, size_t cap,
                        xsr_session ***out, xsr_session ***heap) {
  *heap = NULL;
  *out = stack;
  size_t n = xsr_router_resources_rcu(r, jid, stack, cap);
  while (n > cap) {
    free(*heap);
    cap = n;
    *heap = malloc(cap * sizeof **heap);
    if (!*heap)
      return 0;
    *out = *heap;
    n = xsr_router_resources_rcu(r, jid, *heap, cap);
  }
  return n;
}

/* Presence is state: a full queue drops it for that recipient. */
static void send_state(xsr__c2s *c, xsr_session *to, const char *data, size_t len) {
  (void)xsr_router_send_rcu(c->srv->router, to, data, len);
}

/* Sends data to every available resource of jid's bare JID, except
 * `skip`.  Returns how many were available. */
static size_t to_available(xsr__c2s *c, const xsr_jid *jid, xsr_session *skip, const char *data,
                           size_t len) {
  xsr_session *stack[16], **s, **heap;
  size_t n = resources(c->srv->router, jid, stack, 16, &s, &heap), avail = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == skip || last_of(s[i]).len == 0)
      continue;
    avail++;
    send_state(c, s[i], data, len);
  }
  free(heap);
  return avail;
}

/* Sends the last presence of every available resource of jid's bare JID
 * (except `skip`) to c's session.  Returns how many there were. */
static size_t presence_of(xsr__c2s *c, const xsr_jid *jid, xsr_session *skip) {
  xsr_session *stack[16], **s, **heap;
  size_t n = resources(c->srv->router, jid, stack, 16, &s, &heap), avail = 0;
  for (size_t i = 0; i < n; i++) {
    xsr_span lp = last_of(s[i]);
    if (s[i] == skip || lp.len == 0)
      continue;
    avail++;
    send_state(c, c->session, lp.ptr, lp.len);
  }
  free(heap);
  return avail;
}

/* Whether roster item `it` is another account whose subscription passes
 * `sub` (sub_from: it sees our presence; sub_to: we see its), its JID
 * parsed into *j (its bytes in jb[XSR_JID_MAX]). */
static int roster_contact(const xsr__roster_item *it, int (*sub)(xsr__subscription),
                          xsr_span own_bare, char *jb, xsr_jid *j) {
  return sub(it->subscription) &&
         xsr_jid_parse(it->jid, strlen(it->jid), jb, XSR_JID_MAX, j, NULL) == XSR_OK &&
         !span_eq(xsr_jid_bare(j), own_bare);
}

/* The presence `data` of session `who` (a resource of c's account) to the
 * account's available resources (who itself only when self_too) and to
 * the available resources of the contacts who see it. */
static void broadcast(xsr__c2s *c, xsr_session *who, const char *data, size_t len, int self_too) {
  xsr_jid own = xsr_session_jid(who);
  xsr_span own_bare = xsr_jid_bare(&own);
  to_available(c, &own, who, data, len);
  if (self_too)
    send_state(c, who, data, len);
  const xsr__account *acc = c->account;
  for (size_t i = 0; acc && i < acc->nroster; i++) {
    char jb[XSR_JID_MAX];
    xsr_jid j; /* the account's own resources were done above */
    if (roster_contact(&acc->roster[i], sub_from, own_bare, jb, &j))
      to_available(c, &j, NULL, data, len);
  }
}

/* On initial presence (RFC 6121 4.2.2): the presence of the account's
 * other resources and of the contacts U is subscribed to. */
static void probe_all(xsr__c2s *c) {
  xsr_jid own = xsr_session_jid(c->session);
  xsr_span own_bare = xsr_jid_bare(&own);
  presence_of(c, &own, c->session);
  const xsr__account *acc = c->account;
  for (size_t i = 0; acc && i < acc->nroster; i++) {
    char jb[XSR_JID_MAX];
    xsr_jid j;
    if (roster_contact(&acc->roster[i], sub_to, own_bare, jb, &j) &&
        shares_with(account_of(c, &j), own_bare))
      presence_of(c, &j, NULL);
  }
}

xsr_err xsr__local_presence(xsr__c2s *c, const xsr_stanza *st, int initial) {
  xsr__c2s_pres *p = xsr__c2s_stamp(c->session, st);
  if (!p)
    return XSR_ENOMEM;
  if (!st->type.ptr) {
    /* Published before the broadcast reads the others' (seq_cst on both
     * sides): of two contacts coming online together, at least one sees
     * the other, so each learns of the other one way or the other. */
    xsr__c2s_pres_retire(atomic_exchange(&c->last, p));
    broadcast(c, c->session, p->data, p->len, 1);
    if (initial)
      probe_all(c);
  } else {
    xsr__c2s_pres_retire(atomic_exchange(&c->last, NULL));
    broadcast(c, c->session, p->data, p->len, 1);
    free(p);
  }
  return XSR_OK;
}

typedef struct pres_arg {
  xsr_span from;
  const char *type;
} pres_arg;

static void build_presence(xsr_writer *w, const void *arg) {
  const pres_arg *a = arg;
  xsr_writer_start(w, "presence");
  xsr_writer_attr_n(w, "from", 4, a->from.ptr, a->from.len);
  xsr_writer_attr(w, "type", a->type);
  xsr_writer_end(w);
}

void xsr__local_unavailable(xsr__c2s *c, xsr_session *who) {
  xsr_jid j = xsr_session_jid(who);
  pres_arg a = {xsr_jid_full(&j), "unavailable"};
  char buf[XSR_JID_MAX * 6 + 64];
  xsr_writer w;
  size_t len;
  xsr_writer_init(&w, buf, sizeof buf);
  build_presence(&w, &a);
  if (xsr_writer_finish(&w, &len) == XSR_OK)
    broadcast(c, who, buf, len, 0);
}

void xsr__local_gone(xsr__c2s *c) {
  xsr__c2s_pres *p = atomic_exchange(&c->last, NULL);
  c->available = 0;
  if (!c->session) {
    xsr__c2s_pres_retire(p);
    return;
  }
  if (p) {
    xsr__c2s_pres_retire(p);
    xsr__local_unavailable(c, c->session);
  }
  xsr__local_directed_gone(c);
}

/* ---- directed presence (RFC 6121 4.6) ------------------------------------------- */

typedef struct directed_arg {
  xsr_span from, to;
} directed_arg;

static void build_directed(xsr_writer *w, const void *arg) {
  const directed_arg *a = arg;
  xsr_writer_start(w, "presence");
  xsr_writer_attr_n(w, "from", 4, a->from.ptr, a->from.len);
  xsr_writer_attr_n(w, "to", 2, a->to.ptr, a->to.len);
  xsr_writer_attr(w, "type", "unavailable");
  xsr_writer_end(w);
}

/* The index of the remembered address jid, or c->ndirected. */
static unsigned directed_find(const xsr__c2s *c, xsr_span jid) {
  unsigned i = 0;
  for (; i < c->ndirected; i++)
    if (c->directed[i]->len == jid.len && memcmp(c->directed[i]->jid, jid.ptr, jid.len) == 0)
      break;
  return i;
}

void xsr__local_directed(xsr__c2s *c, const xsr_stanza *st, int delivered) {
  char tbuf[32];
  xsr_span type = xsr__c2s_value(st->type, (st->escaped & XSR_ROUTE_TYPE) != 0, tbuf, sizeof tbuf);
  int unavailable = span_is(type, "unavailable");
  if (!c->session || !st->to.ptr || (st->type.ptr && !unavailable) || (!unavailable && !delivered))
    return;
  if (unavailable && c->ndirected == 0)
    return;
  char *tobuf = malloc(st->to.len ? st->to.len : 1), jb[XSR_JID_MAX];
  if (!tobuf)
    return;
  xsr_span to = xsr__c2s_value(st->to, (st->escaped & XSR_ROUTE_TO) != 0, tobuf, st->to.len);
  xsr_jid j;
  if (!to.ptr || xsr_jid_parse(to.ptr, to.len, jb, sizeof jb, &j, NULL) != XSR_OK) {
    free(tobuf);
    return;
  }
  free(tobuf);
  xsr_span full = xsr_jid_full(&j);
  unsigned i = directed_find(c, full);
  if (unavailable) {
    if (i < c->ndirected) {
      free(c->directed[i]);
      c->directed[i] = c->directed[--c->ndirected]; /* order does not matter */
    }
    return;
  }
  if (i < c->ndirected || c->ndirected >= XSR__C2S_DIRECTED_MAX || !j.local.ptr)
    return;
  xsr_jid own = xsr_session_jid(c->session);
  xsr_span bare = xsr_jid_bare(&j);
  if (span_eq(bare, xsr_jid_bare(&own)) || shares_with(c->account, bare))
    return; /* covered by the broadcast */
  if (!c->directed && !(c->directed = malloc(XSR__C2S_DIRECTED_MAX * sizeof *c->directed)))
    return;
  xsr__c2s_directed *d = malloc(sizeof *d + full.len);
  if (!d)
    return;
  d->len = full.len;
  memcpy(d->jid, full.ptr, full.len);
  c->directed[c->ndirected++] = d;
}

void xsr__local_directed_gone(xsr__c2s *c) {
  if (!c->session) {
    xsr__local_directed_free(c);
    return;
  }
  xsr_jid own = xsr_session_jid(c->session);
  for (unsigned i = 0; i < c->ndirected; i++) {
    const xsr__c2s_directed *d = c->directed[i];
    char jb[XSR_JID_MAX], stack[512], *buf = stack, *heap = NULL;
    xsr_jid j;
    if (xsr_jid_parse(d->jid, d->len, jb, sizeof jb, &j, NULL) != XSR_OK)
      continue; /* stored normalised: not reached */
    directed_arg a = {xsr_jid_full(&own), xsr_jid_full(&j)};
    xsr_writer w;
    size_t len = 0;
    xsr_writer_init(&w, buf, sizeof stack);
    build_directed(&w, &a);
    xsr_err rc = xsr_writer_finish(&w, &len);
    if (rc == XSR_ENOSPC && (buf = heap = malloc(len))) {
      xsr_writer_init(&w, buf, len);
      build_directed(&w, &a);
      rc = xsr_writer_finish(&w, &len);
    }
    if (rc != XSR_OK) {
      free(heap);
      continue;
    }
    if (j.resource.ptr) {
      xsr_session *to = xsr_router_find_rcu(c->srv->router, &j);
      if (to)
        send_state(c, to, buf, len);
    } else {
      to_available(c, &j, NULL, buf, len);
    }
    free(heap);
  }
  xsr__local_directed_free(c);
}

void xsr__local_directed_free(xsr__c2s *c) {
  for (unsigned i = 0; i < c->ndirected; i++)
    free(c->directed[i]);
  free(c->directed);
  c->directed = NULL;
  c->ndirected = 0;
}

/* ---- answers ---------------------------------------------------------------------- */

enum what { A_EMPTY, A_PING, A_INFO_SERVER, A_INFO_ACCOUNT, A_ITEMS, A_VERSION, A_ROSTER };

typedef struct iq_answer {
  enum what what;
  xsr_span id;   /* decoded; ptr NULL when absent */
  xsr_span to;   /* the sender's full JID */
  xsr_span from; /* the request's 'to', decoded; ptr NULL when it had none */
  const xsr__c2s *c;
} iq_answer;

static void feature(xsr_writer *w, const char *var) {
  xsr_writer_start(w, "feature");
  xsr_writer_attr(w, "var", var);
  xsr_writer_end(w);
}

static void identity(xsr_writer *w, const char *category, const char *type, const char *name) {
  xsr_writer_start(w, "identity");
  xsr_writer_attr(w, "category", category);
  xsr_writer_attr(w, "type", type);
  if (name)
    xsr_writer_attr(w, "name", name);
  xsr_writer_end(w);
}

static void text_el(xsr_writer *w, const char *name, const char *text) {
  xsr_writer_start(w, name);
  xsr_writer_text(w, text, strlen(text));
  xsr_writer_end(w);
}

static void build_iq_answer(xsr_writer *w, const void *arg) {
  const iq_answer *a = arg;
  xsr_writer_start(w, "iq");
  xsr_writer_attr(w, "type", "result");
  if (a->id.ptr)
    xsr_writer_attr_n(w, "id", 2, a->id.ptr, a->id.len);
  xsr_writer_attr_n(w, "to", 2, a->to.ptr, a->to.len);
  if (a->from.ptr)
    xsr_writer_attr_n(w, "from", 4, a->from.ptr, a->from.len);
  switch (a->what) {
  case A_INFO_SERVER: /* XEP-0030 */
    xsr_writer_start(w, "query");
    xsr_writer_attr(w, "xmlns", "http://jabber.org/protocol/disco#info");
    identity(w, "server", "im", "xsr-router");
    feature(w, "http://jabber.org/protocol/disco#info");
    feature(w, "http://jabber.org/protocol/disco#items");
    feature(w, "jabber:iq:version");
    feature(w, "urn:xmpp:ping");
    xsr_writer_end(w);
    break;
  case A_INFO_ACCOUNT: /* XEP-0030 section 3.1: the server answers for accounts */
    xsr_writer_start(w, "query");
    xsr_writer_attr(w, "xmlns", "http://jabber.org/protocol/disco#info");
    identity(w, "account", "registered", NULL);
    feature(w, "http://jabber.org/protocol/disco#info");
    feature(w, "http://jabber.org/protocol/disco#items");
    feature(w, "urn:xmpp:ping");
    xsr_writer_end(w);
    break;
  case A_ITEMS:
    xsr_writer_start(w, "query");
    xsr_writer_attr(w, "xmlns", "http://jabber.org/protocol/disco#items");
    xsr_writer_end(w);
    break;
  case A_VERSION: /* XEP-0092; no <os/>: it tells attackers too much */
    xsr_writer_start(w, "query");
    xsr_writer_attr(w, "xmlns", "jabber:iq:version");
    text_el(w, "name", "xsr-router");
    text_el(w, "version", a->c->srv->version ? a->c->srv->version : "");
    xsr_writer_end(w);
    break;
  case A_ROSTER: { /* RFC 6121 2.1.3; no roster versioning */
    const xsr__account *acc = a->c->account;
    xsr_writer_start(w, "query");
    xsr_writer_attr(w, "xmlns", "jabber:iq:roster");
    for (size_t i = 0; acc && i < acc->nroster; i++) {
      const xsr__roster_item *it = &acc->roster[i];
      xsr_writer_start(w, "item");
      xsr_writer_attr(w, "jid", it->jid);
      if (it->name)
        xsr_writer_attr(w, "name", it->name);
      xsr_writer_attr(w, "subscription", xsr__subscription_name(it->subscription));
      for (size_t g = 0; g < it->ngroups; g++)
        text_el(w, "group", it->groups[g]);
      xsr_writer_end(w);
    }
    xsr_writer_end(w);
    break;
  }
  case A_PING: /* XEP-0199: an empty result */
  case A_EMPTY:
  default:
    break;
  }
  xsr_writer_end(w);
}

/* ---- the dispatch -------------------------------------------------------------------- */

typedef enum target {
  TG_NONE,    /* no 'to': the account itself (RFC 6120 10.3) */
  TG_DOMAIN,  /* a domain served (any virtual host) */
  TG_DOMRES,  /* a resource of a domain served */
  TG_SELF,    /* the sender's bare JID */
  TG_ACCOUNT, /* another local bare JID */
  TG_FULL,    /* a local full JID (probes and subscriptions only) */
  TG_REMOTE   /* a domain not served: no server-to-server yet */
} target;

static target target_of(const xsr__c2s *c, const xsr_jid *j) {
  if (xsr__server_host(c->srv, j->domain.ptr, j->domain.len) < 0)
    return TG_REMOTE;
  if (!j->local.ptr)
    return j->resource.ptr ? TG_DOMRES : TG_DOMAIN;
  if (j->resource.ptr)
    return TG_FULL;
  xsr_jid own = xsr_session_jid(c->session);
  return span_eq(xsr_jid_bare(j), xsr_jid_bare(&own)) ? TG_SELF : TG_ACCOUNT;
}

static xsr_err bounce(xsr__c2s *c, const xsr_stanza *st, const char *cond, const char *type) {
  xsr_err rc = xsr_router_bounce_rcu(c->srv->router, c->session, st, cond, type);
  return rc == XSR_EINVAL ? XSR_OK : rc; /* errors and results are not answered */
}

static xsr_err on_iq(xsr__c2s *c, const xsr_stanza *st, target tg, xsr_span type, xsr_span to) {
  int get = span_is(type, "get"), set = span_is(type, "set");
  if (span_is(type, "result") || span_is(type, "error"))
    return XSR_OK; /* nothing to answer (RFC 6120 8.2.3) */
  if (!get && !set)
    return bounce(c, st, "bad-request", "modify");
  if (tg == TG_REMOTE)
    return bounce(c, st, "remote-server-not-found", "cancel");
  iq_answer a;
  memset(&a, 0, sizeof a);
  a.c = c;
  a.from = to;
  xsr_jid own = xsr_session_jid(c->session);
  a.to = xsr_jid_full(&own);
  int server = tg == TG_DOMAIN, account = tg == TG_NONE || tg == TG_SELF || tg == TG_ACCOUNT;
  size_t q;
  if (get && xsr_stanza_find_child(st, 0, XSR_NS_PING, "ping") && (server || account)) {
    a.what = A_PING;
  } else if (get && (q = xsr_stanza_find_child(st, 0, XSR_NS_DISCO_INFO, "query")) &&
             (server || account)) {
    if (xsr_stanza_find_attr(st, q, XSR_NS_NONE, "node"))
      return bounce(c, st, "item-not-found", "cancel"); /* no nodes here */
    a.what = server ? A_INFO_SERVER : A_INFO_ACCOUNT;
  } else if (get && (q = xsr_stanza_find_child(st, 0, XSR_NS_DISCO_ITEMS, "query")) &&
             (server || account)) {
    if (xsr_stanza_find_attr(st, q, XSR_NS_NONE, "node"))
      return bounce(c, st, "item-not-found", "cancel");
    a.what = A_ITEMS;
  } else if (get && server && xsr_stanza_find_child(st, 0, XSR_NS_VERSION, "query")) {
    a.what = A_VERSION;
  } else if (xsr_stanza_find_child(st, 0, XSR_NS_ROSTER, "query")) {
    if (tg != TG_NONE && tg != TG_SELF)
      return bounce(c, st, "forbidden", "auth"); /* RFC 6121 2.1.5 */
    if (set) /* the roster is read-only: it changes only in the users file */
      return bounce(c, st, "not-allowed", "cancel");
    a.what = A_ROSTER;
  } else if (set && (tg == TG_NONE || tg == TG_DOMAIN) &&
             xsr_stanza_find_child(st, 0, XSR_NS_XMPP_SESSION, "session")) {
    a.what = A_EMPTY; /* RFC 3921 session establishment: a no-op */
  } else {
    return bounce(c, st, "service-unavailable", "cancel"); /* RFC 6120 8.4 */
  }
  char idbuf[256], *idheap = NULL;
  if (st->id.ptr) {
    char *buf = idbuf;
    if (st->id.len > sizeof idbuf && !(buf = idheap = malloc(st->id.len)))
      return XSR_ENOMEM;
    a.id = xsr__c2s_value(st->id, (st->escaped & XSR_ROUTE_ID) != 0, buf,
                          idheap ? st->id.len : sizeof idbuf);
  }
  xsr_err rc = xsr__c2s_answer(c, build_iq_answer, &a);
  free(idheap);
  return rc;
}

/* A message without 'to' is for the sender's own bare JID (RFC 6120
 * 10.3.1): routed as if it said so. */
static xsr_err message_to_self(xsr__c2s *c, const xsr_stanza *st) {
  xsr_jid own = xsr_session_jid(c->session);
  xsr_stanza v = *st;
  v.to = xsr_jid_bare(&own);
  v.escaped &= ~XSR_ROUTE_TO;
  xsr_route_result res;
  xsr_err rc = xsr_router_route_rcu(c->srv->router, c->session, &v, &res);
  return rc == XSR_OK || rc == XSR_EQUEUEFULL ? rc : XSR_OK;
}

static xsr_err on_message(xsr__c2s *c, const xsr_stanza *st, target tg, xsr_span type) {
  if (tg == TG_NONE)
    return message_to_self(c, st);
  if (span_is(type, "error") || span_is(type, "headline"))
    return XSR_OK;
  /* To a domain: nothing here takes messages (RFC 6121 8.5.1 style). */
  return bounce(c, st, tg == TG_REMOTE ? "remote-server-not-found" : "service-unavailable",
                "cancel");
}

static xsr_err on_presence(xsr__c2s *c, const xsr_stanza *st, target tg, const xsr_jid *j,
                           xsr_span type) {
  int probe = span_is(type, "probe"), subscribe = span_is(type, "subscribe");
  if (!type.ptr || span_is(type, "unavailable") || span_is(type, "error") ||
      span_is(type, "subscribed") || span_is(type, "unsubscribe") || span_is(type, "unsubscribed"))
    return XSR_OK; /* to the server, or a roster change it cannot make: dropped */
  if (!probe && !subscribe)
    return bounce(c, st, "bad-request", "modify");
  if (tg == TG_REMOTE)
    return subscribe ? bounce(c, st, "remote-server-not-found", "cancel") : XSR_OK;
  if (tg != TG_SELF && tg != TG_ACCOUNT && tg != TG_FULL)
    return XSR_OK;
  xsr_jid own = xsr_session_jid(c->session);
  xsr_span own_bare = xsr_jid_bare(&own), bare = xsr_jid_bare(j);
  int self = span_eq(bare, own_bare);
  int allowed = self || shares_with(account_of(c, j), own_bare);
  if (probe) {
    if (!allowed)
      return XSR_OK; /* reveal nothing */
    /* RFC 6121 4.3.2: no available resource: unavailable from the bare JID. */
    if (presence_of(c, j, self ? c->session : NULL) == 0 && !self) {
      pres_arg a = {bare, "unavailable"};
      char buf[XSR_JID_MAX * 6 + 64];
      xsr_writer w;
      size_t len;
      xsr_writer_init(&w, buf, sizeof buf);
      build_presence(&w, &a);
      if (xsr_writer_finish(&w, &len) == XSR_OK)
        send_state(c, c->session, buf, len);
    }
    return XSR_OK;
  }
  if (self)
    return XSR_OK;
  pres_arg a = {bare, allowed ? "subscribed" : "unsubscribed"};
  xsr_err rc = xsr__c2s_answer(c, build_presence, &a);
  if (rc == XSR_OK && allowed)
    presence_of(c, j, NULL);
  return rc;
}

xsr_err xsr__local_stanza(xsr__c2s *c, const xsr_stanza *st) {
  char tbuf[32];
  xsr_span type = xsr__c2s_value(st->type, (st->escaped & XSR_ROUTE_TYPE) != 0, tbuf, sizeof tbuf);
  if (st->type.ptr && !type.ptr)
    type.ptr = "", type.len = 0; /* too long to be any type we know */
  char *tobuf = NULL, jb[XSR_JID_MAX];
  xsr_span to = {NULL, 0};
  xsr_jid j;
  target tg = TG_NONE;
  memset(&j, 0, sizeof j);
  if (st->to.ptr) {
    tobuf = malloc(st->to.len ? st->to.len : 1);
    if (!tobuf)
      return XSR_ENOMEM;
    to = xsr__c2s_value(st->to, (st->escaped & XSR_ROUTE_TO) != 0, tobuf, st->to.len);
    if (!to.ptr || xsr_jid_parse(to.ptr, to.len, jb, sizeof jb, &j, NULL) != XSR_OK) {
      free(tobuf);
      return bounce(c, st, "jid-malformed", "modify"); /* the router parsed it: not reached */
    }
    tg = target_of(c, &j);
  }
  xsr_err rc;
  if (span_is(st->name, "iq"))
    rc = on_iq(c, st, tg, type, to);
  else if (span_is(st->name, "message"))
    rc = on_message(c, st, tg, type);
  else
    rc = on_presence(c, st, tg, &j, type);
  free(tobuf);
  return rc;
}
