/* SPDX-License-Identifier: MIT */
/* Criterion suite for xsr/router.h: every delivery rule as a table of cases,
 * 'from' stamping and the forwarding context, the delivery limits, shared
 * fan-out buffers, budgets and back-pressure, session lifetime, and
 * allocation counts. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsr/router.h"
#include "xsr/writer.h"

/* ---- helpers -------------------------------------------------------------- */

/* A counting allocator: proves "one allocation per routed stanza" and that
 * everything comes back. */
static atomic_long live_allocs, total_allocs;
static void *c_malloc(void *u, size_t n) {
  (void)u;
  atomic_fetch_add(&live_allocs, 1);
  atomic_fetch_add(&total_allocs, 1);
  return malloc(n);
}
static void *c_realloc(void *u, void *p, size_t n) {
  (void)u;
  if (!p) {
    atomic_fetch_add(&live_allocs, 1);
    atomic_fetch_add(&total_allocs, 1);
  }
  return realloc(p, n);
}
static void c_free(void *u, void *p) {
  (void)u;
  if (p)
    atomic_fetch_sub(&live_allocs, 1);
  free(p);
}
static const xsr_allocator counting = {c_malloc, c_realloc, c_free, NULL};

/* A stanza view built from a literal by scanning the start tag's
 * attributes, independent of the parser: the routing spans, xml:lang, and
 * the start tag's attribute and declaration counts. */
static xsr_stanza view(const char *raw) {
  xsr_stanza st;
  memset(&st, 0, sizeof st);
  st.raw.ptr = raw;
  st.raw.len = strlen(raw);
  st.ns = XSR_NS_CLIENT;
  st.prefix.ptr = raw + 1;
  const char *p = raw + 1, *e = p;
  while (*e && *e != ' ' && *e != '\n' && *e != '\t' && *e != '>' && *e != '/')
    e++;
  st.name.ptr = p;
  st.name.len = (size_t)(e - p);
  p = e;
  for (;;) {
    while (*p == ' ' || *p == '\t' || *p == '\n')
      p++;
    if (*p == '>' || *p == '/' || !*p)
      break;
    const char *an = p;
    while (*p != '=')
      p++;
    const char *ae = p;
    while (ae > an && (ae[-1] == ' ' || ae[-1] == '\t' || ae[-1] == '\n'))
      ae--;
    size_t al = (size_t)(ae - an);
    p++;
    while (*p == ' ' || *p == '\t' || *p == '\n')
      p++;
    char q = *p;
    const char *v = p + 1, *ve = strchr(v, q);
    xsr_span sp = {v, (size_t)(ve - v)};
    unsigned esc = memchr(v, '&', sp.len) ? 1u : 0u;
    if (al == 2 && !memcmp(an, "to", 2))
      st.to = sp, st.escaped |= esc * XSR_ROUTE_TO;
    if (al == 4 && !memcmp(an, "from", 4))
      st.from = sp, st.escaped |= esc * XSR_ROUTE_FROM;
    if (al == 2 && !memcmp(an, "id", 2))
      st.id = sp, st.escaped |= esc * XSR_ROUTE_ID;
    if (al == 4 && !memcmp(an, "type", 4))
      st.type = sp, st.escaped |= esc * XSR_ROUTE_TYPE;
    if (al == 8 && !memcmp(an, "xml:lang", 8))
      st.lang = sp, st.escaped |= esc * XSR_ROUTE_LANG;
    st.tag_attrs++;
    if ((al == 5 && !memcmp(an, "xmlns", 5)) || (al > 6 && !memcmp(an, "xmlns:", 6)))
      st.tag_decls++;
    p = ve + 1;
  }
  return st;
}

static int account_exists(void *user, xsr_span bare) {
  (void)user;
  static const char *accounts[] = {"juliet@capulet.lit", "romeo@montague.lit", "nurse@capulet.lit"};
  for (size_t i = 0; i < 3; i++)
    if (strlen(accounts[i]) == bare.len && !memcmp(accounts[i], bare.ptr, bare.len))
      return 1;
  return 0;
}

static atomic_int rooms;
static void on_room(void *user, xsr_session *s) {
  (void)user;
  (void)s;
  atomic_fetch_add(&rooms, 1);
}

static xsr_router *new_router(size_t budget, int accounts) {
  xsr_router_config cfg;
  xsr_router_config_init(&cfg);
  cfg.workers = 2;
  if (budget)
    cfg.session_budget = budget;
  if (accounts)
    cfg.account_exists = account_exists;
  cfg.on_room = on_room;
  xsr_router *r = xsr_router_new(&cfg, &counting);
  cr_assert_not_null(r);
  return r;
}

static xsr_session *bind(xsr_router *r, unsigned worker, const char *jid, int avail, int prio) {
  xsr_session *s;
  cr_assert_eq(xsr_session_new(xsr_router_worker(r, worker), jid, strlen(jid), NULL, &s), XSR_OK);
  cr_assert_eq(xsr_session_bind_rcu(s), XSR_OK, "%s", jid);
  if (avail)
    cr_assert_eq(xsr_session_set_presence_rcu(s, 1, prio), XSR_OK);
  return s;
}

static void setup(void) { xsr_router_thread_register(); }
static void teardown(void) { xsr_router_thread_unregister(); }

/* Pops everything from both workers into msgs; returns the count. */
static size_t pop_all(xsr_router *r, xsr_msg **msgs, size_t max) {
  size_t n = 0;
  for (unsigned w = 0; w < 2; w++)
    n += xsr_worker_pop_owner(xsr_router_worker(r, w), msgs + n, max - n);
  return n;
}

static int has(xsr_span s, const char *needle) {
  size_t nl = strlen(needle);
  for (size_t i = 0; i + nl <= s.len; i++)
    if (!memcmp(s.ptr + i, needle, nl))
      return 1;
  return 0;
}

#define STREAM_HDR                                                                                 \
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "          \
  "version='1.0'>"

/* What a recipient's xsr parser makes of a delivered stanza. */
typedef struct reparsed {
  xsr_parser *p;
  int stanzas;
  int froms;       /* unprefixed 'from' attributes on the stanza element */
  char from[4096]; /* the last one, decoded */
  size_t from_len;
  int has_lang; /* the stanza's xml:lang, decoded */
  char lang[64];
  size_t lang_len;
  char child_ns[256]; /* namespace URI of node 1 when it is an element */
  size_t child_ns_len;
} reparsed;

static int reparse_on_stanza(void *user, const xsr_stanza *st) {
  xsr_stanza indexed_ = *st; /* the index is built on demand */
  if (xsr_stanza_index(&indexed_) == XSR_OK)
    st = &indexed_;
  reparsed *rp = user;
  rp->stanzas++;
  const xsr_node *el = &st->nodes[0];
  for (uint32_t i = el->attr_first; i < el->attr_first + el->attr_count; i++) {
    const xsr_attr *a = &st->attrs[i];
    xsr_span nm = xsr_stanza_attr_name(st, a);
    if (a->ns == XSR_NS_NONE && nm.len == 4 && !memcmp(nm.ptr, "from", 4)) {
      rp->froms++;
      if (xsr_decode_attr(xsr_stanza_attr_raw(st, a), rp->from, sizeof rp->from, &rp->from_len) !=
          XSR_OK)
        rp->from_len = 0;
    }
  }
  if (st->lang.ptr) {
    rp->has_lang = 1;
    if (xsr_decode_attr(st->lang, rp->lang, sizeof rp->lang, &rp->lang_len) != XSR_OK)
      rp->lang_len = 0;
  }
  if (st->node_count > 1 && st->nodes[1].kind == XSR_NODE_ELEMENT) {
    xsr_span u = xsr_parser_ns_uri(rp->p, st->nodes[1].ns);
    rp->child_ns_len = u.len < sizeof rp->child_ns ? u.len : 0;
    memcpy(rp->child_ns, u.ptr, rp->child_ns_len);
  }
  return 0;
}

static const xsr_parser_callbacks reparse_cb = {NULL, reparse_on_stanza, NULL};

/* Feeds STREAM_HDR + the bytes to a fresh parser with limits `pc` (NULL:
 * defaults); returns the feed's result. */
static xsr_err reparse(xsr_span b, const xsr_parser_config *pc, reparsed *rp) {
  memset(rp, 0, sizeof *rp);
  rp->p = xsr_parser_new(pc, &reparse_cb, rp, NULL);
  cr_assert_not_null(rp->p);
  xsr_err rc = xsr_parser_feed(rp->p, STREAM_HDR, strlen(STREAM_HDR));
  if (rc == XSR_OK)
    rc = xsr_parser_feed(rp->p, b.ptr, b.len);
  xsr_parser_free(rp->p);
  rp->p = NULL;
  return rc;
}

/* A delivered stanza must read back as one stanza with exactly one 'from'. */
static void assert_reparses(xsr_span b, const xsr_parser_config *pc, reparsed *rp) {
  xsr_err rc = reparse(b, pc, rp);
  cr_assert_eq(rc, XSR_OK, "%s: %.*s", xsr_err_name(rc), (int)(b.len < 600 ? b.len : 600), b.ptr);
  cr_assert_eq(rp->stanzas, 1, "%.*s", (int)b.len, b.ptr);
  cr_assert_eq(rp->froms, 1, "%.*s", (int)b.len, b.ptr);
}

/* ---- the rule table ------------------------------------------------------- */

/* online: space-separated "resource:priority" for juliet@capulet.lit;
 * "resource:u" is bound but unavailable.  expect: space-separated resources
 * that receive it, or "bounce:<condition>", "drop", "server". */
typedef struct rcase {
  const char *stanza;
  const char *online;
  const char *expect;
} rcase;

#define J "juliet@capulet.lit"
static const rcase cases[] = {
    /* 8.5.2.1.1 messages to the bare JID, account online */
    {"<message to='" J "' type='chat'/>", "balcony:5 chamber:1", "balcony"},
    {"<message to='" J "' type='chat'/>", "balcony:5 chamber:5", "balcony chamber"},
    {"<message to='" J "'/>", "balcony:3 chamber:-1 hall:u", "balcony"},
    {"<message to='" J "' type='normal'/>", "balcony:-1 chamber:-1", "bounce:service-unavailable"},
    {"<message to='" J "' type='chat'/>", "", "bounce:service-unavailable"},
    {"<message to='" J "' type='chat'/>", "hall:u", "bounce:service-unavailable"},
    {"<message to='" J "' type='headline'/>", "balcony:5 chamber:0 hall:-1", "balcony chamber"},
    {"<message to='" J "' type='headline'/>", "hall:-1", "drop"},
    {"<message to='" J "' type='headline'/>", "", "drop"},
    {"<message to='" J "' type='groupchat'/>", "balcony:5", "bounce:service-unavailable"},
    {"<message to='" J "' type='error'/>", "balcony:5", "drop"},
    {"<message to='" J "' type='error'/>", "", "drop"},
    {"<message to='" J "' type='bogus'/>", "balcony:1 chamber:0", "balcony"},
    /* 8.5.3 full JID */
    {"<message to='" J "/balcony' type='chat'/>", "balcony:-5 chamber:9", "balcony"},
    {"<message to='" J "/hall' type='chat'/>", "hall:u balcony:1", "hall"},
    {"<message to='" J "/hall' type='error'/>", "hall:u", "hall"},
    {"<message to='" J "/gone' type='chat'/>", "balcony:1 chamber:0", "balcony"},
    {"<message to='" J "/gone' type='chat'/>", "", "bounce:service-unavailable"},
    {"<message to='" J "/gone' type='normal'/>", "balcony:1", "bounce:service-unavailable"},
    {"<message to='" J "/gone'/>", "balcony:1", "bounce:service-unavailable"},
    {"<message to='" J "/gone' type='headline'/>", "balcony:1", "drop"},
    {"<message to='" J "/gone' type='groupchat'/>", "balcony:1", "bounce:service-unavailable"},
    {"<message to='" J "/gone' type='error'/>", "balcony:1", "drop"},
    /* presence */
    {"<presence to='" J "'/>", "balcony:5 chamber:-1 hall:u", "balcony chamber"},
    {"<presence to='" J "' type='unavailable'/>", "chamber:-1", "chamber"},
    {"<presence to='" J "' type='unavailable'/>", "", "drop"},
    /* probes and subscriptions: the roster decides (RFC 6121 3, 4.3) */
    {"<presence to='" J "' type='subscribe'/>", "balcony:5 chamber:-1", "server"},
    {"<presence to='" J "' type='unsubscribed'/>", "chamber:-1", "server"},
    {"<presence to='" J "/balcony' type='subscribed'/>", "balcony:5", "server"},
    {"<presence to='" J "' type='probe'/>", "balcony:5", "server"},
    {"<presence to='" J "' type='error'/>", "balcony:5", "drop"},
    {"<presence to='" J "' type='bogus'/>", "balcony:5", "bounce:bad-request"},
    {"<presence to='" J "/chamber'/>", "chamber:-1", "chamber"},
    {"<presence to='" J "/gone'/>", "balcony:1", "drop"},
    {"<presence to='" J "/gone' type='unavailable'/>", "balcony:1", "drop"},
    {"<presence to='" J "/gone' type='subscribed'/>", "balcony:2 chamber:-2", "server"},
    {"<presence to='" J "/balcony' type='probe'/>", "balcony:2", "server"},
    {"<presence to='" J "/gone' type='probe'/>", "balcony:2", "server"},
    /* iq */
    {"<iq to='" J "' type='get' id='1'/>", "balcony:5", "server"},
    {"<iq to='" J "' type='set' id='1'/>", "", "server"},
    {"<iq to='" J "' type='result' id='1'/>", "balcony:5", "drop"},
    {"<iq to='" J "' type='error' id='1'/>", "balcony:5", "drop"},
    {"<iq to='" J "/balcony' type='get' id='1'/>", "balcony:-1", "balcony"},
    {"<iq to='" J "/hall' type='result' id='1'/>", "hall:u", "hall"},
    {"<iq to='" J "/gone' type='set' id='1'/>", "balcony:1", "bounce:service-unavailable"},
    {"<iq to='" J "/gone' type='result' id='1'/>", "balcony:1", "drop"},
    {"<iq to='" J "/gone' type='error' id='1'/>", "balcony:1", "drop"},
    {"<iq to='" J "/balcony' id='1'/>", "balcony:1", "bounce:bad-request"},
    {"<iq to='" J "/balcony' type='fetch' id='1'/>", "balcony:1", "bounce:bad-request"},
    /* 8.5.1 no such user */
    {"<message to='nobody@capulet.lit' type='chat'/>", "balcony:1", "bounce:service-unavailable"},
    {"<message to='nobody@capulet.lit/x' type='headline'/>", "", "drop"},
    {"<message to='nobody@capulet.lit' type='headline'/>", "", "bounce:service-unavailable"},
    {"<message to='nobody@capulet.lit' type='error'/>", "", "drop"},
    {"<presence to='nobody@capulet.lit' type='subscribe'/>", "", "server"},
    {"<presence to='nobody@capulet.lit' type='probe'/>", "", "server"},
    {"<presence to='nobody@capulet.lit/x' type='probe'/>", "", "server"},
    {"<presence to='nobody@capulet.lit' type='unavailable'/>", "", "drop"},
    {"<presence to='nobody@capulet.lit'/>", "", "drop"},
    {"<iq to='nobody@capulet.lit' type='get' id='1'/>", "", "bounce:service-unavailable"},
    {"<iq to='nobody@capulet.lit' type='result' id='1'/>", "", "drop"},
    {"<iq to='nobody@capulet.lit' type='error' id='1'/>", "", "drop"},
    /* an existing account with nobody online */
    {"<iq to='nurse@capulet.lit' type='get' id='1'/>", "", "server"},
    {"<message to='nurse@capulet.lit' type='chat'/>", "", "bounce:service-unavailable"},
    {"<presence to='nurse@capulet.lit' type='subscribe'/>", "", "server"},
    /* to the server, malformed addresses */
    {"<iq type='get' id='1'/>", "balcony:1", "server"},
    {"<presence/>", "balcony:1", "server"},
    {"<message to='capulet.lit'/>", "balcony:1", "server"},
    {"<iq to='capulet.lit/admin' type='get' id='1'/>", "balcony:1", "server"},
    {"<message to='a@b@c' type='chat'/>", "balcony:1", "bounce:jid-malformed"},
    {"<message to='juliet@capulet.lit/' type='chat'/>", "balcony:1", "bounce:jid-malformed"},
    {"<message to='a@b@c' type='error'/>", "balcony:1", "drop"},
    {"<iq to='' type='get' id='1'/>", "balcony:1", "bounce:jid-malformed"},
    /* normalised addresses, escaped addresses */
    {"<message to='JULIET@Capulet.LIT/balcony' type='chat'/>", "balcony:1 chamber:2", "balcony"},
    {"<message to='juliet@capulet.lit/Balcony' type='chat'/>", "balcony:1", "balcony"},
    {"<message to='juliet&#64;capulet.lit/chamber' type='chat'/>", "balcony:1 chamber:0",
     "chamber"},
};

static void run_case(const rcase *c, size_t idx) {
  xsr_router *r = new_router(0, 1);
  xsr_session *romeo = bind(r, 0, "romeo@montague.lit/orchard", 1, 0);
  xsr_session *jul[8];
  char names[8][32];
  size_t nj = 0;
  /* Bring the resources online in the order given. */
  char spec[256];
  snprintf(spec, sizeof spec, "%s", c->online);
  for (char *tok = strtok(spec, " "); tok; tok = strtok(NULL, " ")) {
    char *colon = strchr(tok, ':');
    *colon = '\0';
    char jid[128];
    snprintf(jid, sizeof jid, J "/%s", tok);
    snprintf(names[nj], sizeof names[nj], "%s", tok);
    int avail = colon[1] != 'u';
    jul[nj] = bind(r, (unsigned)(nj % 2), jid, avail, avail ? atoi(colon + 1) : 0);
    nj++;
  }
  xsr_stanza st = view(c->stanza);
  xsr_route_result res;
  xsr_err rc = xsr_router_route_rcu(r, romeo, &st, &res);
  cr_assert_eq(rc, XSR_OK, "case %zu %s: %s", idx, c->stanza, xsr_err_name(rc));
  xsr_msg *msgs[16];
  size_t n = pop_all(r, msgs, 16);
  if (!strcmp(c->expect, "drop")) {
    cr_assert_eq(res.action, XSR_ROUTE_DROP, "case %zu %s [%s]: action %d", idx, c->stanza,
                 c->online, res.action);
    cr_assert_eq(n, 0);
  } else if (!strcmp(c->expect, "server")) {
    cr_assert_eq(res.action, XSR_ROUTE_SERVER, "case %zu %s: action %d", idx, c->stanza,
                 res.action);
    cr_assert_eq(n, 0);
  } else if (!strncmp(c->expect, "bounce:", 7)) {
    cr_assert_eq(res.action, XSR_ROUTE_BOUNCE, "case %zu %s [%s]: action %d", idx, c->stanza,
                 c->online, res.action);
    cr_assert_str_eq(res.condition, c->expect + 7);
    cr_assert_eq(n, 1, "case %zu: %zu messages", idx, n);
    cr_assert_eq(xsr_msg_session(msgs[0]), romeo);
    xsr_span b = xsr_msg_bytes(msgs[0]);
    char want[128];
    snprintf(want, sizeof want, "<%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>", c->expect + 7);
    cr_assert(has(b, want), "case %zu: %.*s", idx, (int)b.len, b.ptr);
    cr_assert(has(b, " type='error'"));
    cr_assert(has(b, "to='romeo@montague.lit/orchard'"), "%.*s", (int)b.len, b.ptr);
  } else {
    cr_assert_eq(res.action, XSR_ROUTE_DELIVER, "case %zu %s [%s]: action %d cond %s", idx,
                 c->stanza, c->online, res.action, res.condition ? res.condition : "");
    char want[128];
    snprintf(want, sizeof want, "%s", c->expect);
    size_t nwant = 0;
    for (char *tok = strtok(want, " "); tok; tok = strtok(NULL, " ")) {
      nwant++;
      int found = 0;
      for (size_t i = 0; i < n; i++) {
        xsr_jid mj = xsr_session_jid(xsr_msg_session(msgs[i]));
        if (mj.resource.len == strlen(tok) && !memcmp(mj.resource.ptr, tok, mj.resource.len))
          found = 1;
      }
      cr_assert(found, "case %zu %s [%s]: %s did not receive it", idx, c->stanza, c->online, tok);
    }
    cr_assert_eq(n, nwant, "case %zu %s [%s]: %zu recipients, want %zu", idx, c->stanza, c->online,
                 n, nwant);
    cr_assert_eq(res.recipients, nwant);
    for (size_t i = 0; i < n; i++) {
      xsr_span b = xsr_msg_bytes(msgs[i]);
      cr_assert(has(b, " from='romeo@montague.lit/orchard'"));
      reparsed rp;
      assert_reparses(b, NULL, &rp);
    }
  }
  for (size_t i = 0; i < n; i++)
    xsr_msg_release(msgs[i]);
  for (size_t i = 0; i < nj; i++)
    xsr_session_close_owner(jul[i]);
  xsr_session_close_owner(romeo);
  (void)names;
  xsr_router_free(r);
}

Test(router, delivery_rules, .init = setup, .fini = teardown) {
  long before = atomic_load(&live_allocs);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_case(&cases[i], i);
  cr_assert_eq(atomic_load(&live_allocs), before, "leaked %ld allocations",
               atomic_load(&live_allocs) - before);
}

/* Without an account callback an account exists while it has a session. */
Test(router, default_account_existence, .init = setup, .fini = teardown) {
  xsr_router *r = new_router(0, 0);
  xsr_session *romeo = bind(r, 0, "romeo@montague.lit/orchard", 1, 0);
  xsr_session *hall = bind(r, 1, J "/hall", 0, 0);
  xsr_stanza iq = view("<iq to='" J "' type='get' id='7'/>");
  xsr_route_result res;
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &iq, &res), XSR_OK);
  cr_assert_eq(res.action, XSR_ROUTE_SERVER);
  xsr_session_close_owner(hall);
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &iq, &res), XSR_OK);
  cr_assert_eq(res.action, XSR_ROUTE_BOUNCE);
  xsr_msg *m[4];
  cr_assert_eq(pop_all(r, m, 4), 1);
  xsr_span b = xsr_msg_bytes(m[0]);
  const char *want = "<iq to='romeo@montague.lit/orchard' from='" J "' id='7' type='error'>"
                     "<error type='cancel'><service-unavailable "
                     "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>";
  cr_assert_eq(b.len, strlen(want), "%.*s", (int)b.len, b.ptr);
  cr_assert(!memcmp(b.ptr, want, b.len), "%.*s", (int)b.len, b.ptr);
  xsr_msg_release(m[0]);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
}

Test(router, from_is_stamped_never_trusted, .init = setup, .fini = teardown) {
  xsr_router *r = new_router(0, 1);
  xsr_session *romeo = bind(r, 0, "romeo@montague.lit/orchard", 1, 0);
  xsr_session *jul = bind(r, 1, J "/balcony", 1, 0);
  const char *in[] = {
      "<message to='" J "' from='evil@x.lit/y' type='chat'><body>hi</body></message>",
      "<message from=\"evil@x.lit\" to='" J "'><body>hi</body></message>",
      "<message\n  to='" J "'\tfrom = 'evil' id='a'/>",
      "<message to='" J "'><body from='kept'>x</body></message>",
  };
  const char *out[] = {
      "<message from='romeo@montague.lit/orchard' to='" J "' type='chat'><body>hi</body></message>",
      "<message from='romeo@montague.lit/orchard' to='" J "'><body>hi</body></message>",
      "<message from='romeo@montague.lit/orchard'\n  to='" J "' id='a'/>",
      "<message from='romeo@montague.lit/orchard' to='" J "'><body from='kept'>x</body></message>",
  };
  for (size_t i = 0; i < 4; i++) {
    xsr_stanza st = view(in[i]);
    if (i == 3)
      st.from.ptr = NULL, st.from.len = 0; /* the child's from is not the stanza's */
    xsr_route_result res;
    cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, &res), XSR_OK);
    xsr_msg *m[2];
    cr_assert_eq(pop_all(r, m, 2), 1);
    xsr_span b = xsr_msg_bytes(m[0]);
    cr_assert(b.len == strlen(out[i]) && !memcmp(b.ptr, out[i], b.len), "%zu: %.*s", i, (int)b.len,
              b.ptr);
    reparsed rp;
    assert_reparses(b, NULL, &rp);
    xsr_msg_release(m[0]);
  }
  /* A resource with characters that need escaping is escaped in the stamp. */
  xsr_session *odd = bind(r, 0, "romeo@montague.lit/a'b&c<", 1, 0);
  xsr_stanza st = view("<message to='" J "/balcony'/>");
  xsr_route_result res;
  cr_assert_eq(xsr_router_route_rcu(r, odd, &st, &res), XSR_OK);
  xsr_msg *m[2];
  cr_assert_eq(pop_all(r, m, 2), 1);
  cr_assert(has(xsr_msg_bytes(m[0]), " from='romeo@montague.lit/a&apos;b&amp;c&lt;'"));
  reparsed rp;
  assert_reparses(xsr_msg_bytes(m[0]), NULL, &rp);
  cr_assert_eq(rp.from_len, strlen("romeo@montague.lit/a'b&c<"));
  cr_assert(!memcmp(rp.from, "romeo@montague.lit/a'b&c<", rp.from_len));
  xsr_msg_release(m[0]);
  xsr_session_close_owner(odd);
  xsr_session_close_owner(jul);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
}

Test(router, fanout_shares_one_buffer_one_allocation, .init = setup, .fini = teardown) {
  xsr_router *r = new_router(0, 1);
  xsr_session *romeo = bind(r, 0, "romeo@montague.lit/orchard", 1, 0);
  xsr_session *s[4];
  for (int i = 0; i < 4; i++) {
    char jid[64];
    snprintf(jid, sizeof jid, J "/r%d", i);
    s[i] = bind(r, (unsigned)i % 2, jid, 1, 1);
  }
  xsr_stanza st = view("<presence to='" J "'/>");
  xsr_route_result res;
  long before = atomic_load(&total_allocs);
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, &res), XSR_OK);
  cr_assert_eq(atomic_load(&total_allocs) - before, 1, "one allocation per routed stanza");
  cr_assert_eq(res.recipients, 4);
  xsr_msg *m[8];
  cr_assert_eq(pop_all(r, m, 8), 4);
  for (int i = 1; i < 4; i++)
    cr_assert_eq(xsr_msg_bytes(m[i]).ptr, xsr_msg_bytes(m[0]).ptr);
  for (int i = 0; i < 4; i++) {
    xsr_session *to = xsr_msg_session(m[i]); /* m[i] is gone after its release */
    cr_assert_eq(xsr_session_queued(to), xsr_msg_bytes(m[i]).len);
    xsr_msg_release(m[i]);
    cr_assert_eq(xsr_session_queued(to), 0);
  }
  /* A full-JID route also costs exactly one allocation. */
  xsr_stanza one = view("<message to='" J "/r2' type='chat'><body>x</body></message>");
  before = atomic_load(&total_allocs);
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &one, &res), XSR_OK);
  cr_assert_eq(atomic_load(&total_allocs) - before, 1);
  cr_assert_eq(pop_all(r, m, 8), 1);
  xsr_msg_release(m[0]);
  for (int i = 0; i < 4; i++)
    xsr_session_close_owner(s[i]);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
}

Test(router, budget_refuses_and_reports, .init = setup, .fini = teardown) {
  const char *body = "<message to='" J "/b' type='chat'><body>0123456789</body></message>";
  xsr_stanza st = view(body);
  size_t stamped = strlen(body) + strlen(" from='romeo@montague.lit/orchard'");
  xsr_router *r = new_router(stamped * 4, 1);
  xsr_session *romeo = bind(r, 0, "romeo@montague.lit/orchard", 1, 0);
  xsr_session *b = bind(r, 1, J "/b", 1, 1);
  xsr_session *c = bind(r, 1, J "/c", 1, 1);
  xsr_route_result res;
  for (int i = 0; i < 4; i++)
    cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, &res), XSR_OK);
  cr_assert_eq(xsr_session_queued(b), stamped * 4);
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, &res), XSR_EQUEUEFULL);
  cr_assert_eq(res.blocked, b);
  cr_assert_eq(xsr_session_queued(b), stamped * 4);
  /* Fan-out is all or nothing: c has room but b has none, so c gets nothing. */
  xsr_stanza bare = view("<message to='" J "' type='chat'><body>0123456789</body></message>");
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &bare, &res), XSR_EQUEUEFULL);
  cr_assert_eq(xsr_session_queued(c), 0);
  /* Draining to half the budget reports room once. */
  atomic_store(&rooms, 0);
  xsr_msg *m[8];
  cr_assert_eq(xsr_worker_pop_owner(xsr_router_worker(r, 1), m, 8), 4);
  xsr_msg_release(m[0]);
  cr_assert_eq(atomic_load(&rooms), 0);
  xsr_msg_release(m[1]);
  cr_assert_eq(atomic_load(&rooms), 1);
  xsr_msg_release(m[2]);
  xsr_msg_release(m[3]);
  cr_assert_eq(atomic_load(&rooms), 1);
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &bare, &res), XSR_OK);
  cr_assert_eq(res.recipients, 2);
  cr_assert_eq(xsr_worker_pop_owner(xsr_router_worker(r, 1), m, 8), 2);
  xsr_msg_release(m[0]);
  xsr_msg_release(m[1]);
  /* An empty queue accepts one stanza larger than the whole budget. */
  static char big[4096];
  int n = snprintf(big, sizeof big, "<message to='" J "/b'><body>");
  memset(big + n, 'x', 2000);
  strcpy(big + n + 2000, "</body></message>");
  xsr_stanza bs = view(big);
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &bs, &res), XSR_OK);
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, &res), XSR_EQUEUEFULL);
  cr_assert_eq(xsr_worker_pop_owner(xsr_router_worker(r, 1), m, 8), 1);
  xsr_msg_release(m[0]);
  /* Server-originated bytes obey the same budget. */
  cr_assert_eq(xsr_router_send_rcu(r, b, "<iq/>", 5), XSR_OK);
  cr_assert_eq(xsr_worker_pop_owner(xsr_router_worker(r, 1), m, 8), 1);
  cr_assert_eq(xsr_msg_bytes(m[0]).len, 5);
  xsr_msg_release(m[0]);
  xsr_session_close_owner(b);
  xsr_session_close_owner(c);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
}

Test(router, no_on_room_after_close, .init = setup, .fini = teardown) {
  const char *body = "<message to='" J "/b' type='chat'><body>0123456789</body></message>";
  xsr_stanza st = view(body);
  size_t stamped = strlen(body) + strlen(" from='romeo@montague.lit/orchard'");
  xsr_router *r = new_router(stamped * 2, 1);
  xsr_session *romeo = bind(r, 0, "romeo@montague.lit/orchard", 1, 0);
  xsr_session *b = bind(r, 1, J "/b", 1, 1);
  xsr_route_result res;
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, &res), XSR_OK);
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, &res), XSR_OK);
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, &res), XSR_EQUEUEFULL);
  cr_assert_eq(res.blocked, b);
  /* b closes with its queue full: the messages are dropped when popped,
   * with no on_room for a session its owner has let go of. */
  atomic_store(&rooms, 0);
  xsr_session_close_owner(b);
  xsr_router_thread_offline();
  xsr_router_thread_online();
  xsr_msg *m[4];
  for (int i = 0; i < 100; i++) {
    xsr_router_quiescent();
    cr_assert_eq(pop_all(r, m, 4), 0);
  }
  cr_assert_eq(atomic_load(&rooms), 0);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
}

Test(router, malformed_to_bounces_from_the_server, .init = setup, .fini = teardown) {
  xsr_router *r = new_router(0, 1);
  xsr_session *romeo = bind(r, 0, "romeo@montague.lit/orchard", 1, 0);
  static const char *const bad[] = {"<iq to='' type='get' id='1'/>",
                                    "<message to='a@b@c' type='chat' id='2'/>"};
  for (size_t i = 0; i < 2; i++) {
    xsr_stanza st = view(bad[i]);
    xsr_route_result res;
    cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, &res), XSR_OK);
    cr_assert_eq(res.action, XSR_ROUTE_BOUNCE);
    cr_assert_str_eq(res.condition, "jid-malformed");
    xsr_msg *m[2];
    cr_assert_eq(pop_all(r, m, 2), 1);
    xsr_span bytes = xsr_msg_bytes(m[0]);
    /* Not an address: the error is the sender's server's, named by its domain. */
    cr_assert(has(bytes, "from='montague.lit'"), "%.*s", (int)bytes.len, bytes.ptr);
    cr_assert(has(bytes, "to='romeo@montague.lit/orchard'"), "%.*s", (int)bytes.len, bytes.ptr);
    xsr_msg_release(m[0]);
  }
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
}

Test(router, sessions_bind_conflict_presence, .init = setup, .fini = teardown) {
  long before = atomic_load(&live_allocs);
  xsr_router *r = new_router(0, 1);
  xsr_session *a = bind(r, 0, J "/x", 0, 0), *dup;
  cr_assert_eq(xsr_session_new(xsr_router_worker(r, 1), "Juliet@capulet.lit/x", 20, NULL, &dup),
               XSR_OK);
  cr_assert_eq(xsr_session_bind_rcu(dup), XSR_EEXIST);
  cr_assert_eq(xsr_session_bind_rcu(a), XSR_EINVAL);
  cr_assert_eq(xsr_session_set_presence_rcu(dup, 1, 0), XSR_EINVAL);
  xsr_session *nores;
  cr_assert_eq(xsr_session_new(xsr_router_worker(r, 0), J, strlen(J), NULL, &nores), XSR_EINVAL);
  cr_assert_eq(xsr_session_new(xsr_router_worker(r, 0), "a@@b/c", 6, NULL, &nores), XSR_EJIDCHAR);
  /* A domain's resources are the server's: stanzas to them route to SERVER. */
  cr_assert_eq(xsr_session_new(xsr_router_worker(r, 0), "capulet.lit/admin", 17, NULL, &nores),
               XSR_EINVAL);
  xsr_router_stats stats;
  xsr_router_stats_get(r, &stats);
  cr_assert_eq(stats.sessions, 1);
  cr_assert_eq(stats.bare_jids, 1);
  /* Priority changes reorder the set: highest available first. */
  xsr_session *b = bind(r, 0, J "/y", 1, 1), *c = bind(r, 0, J "/z", 1, 7);
  cr_assert_eq(xsr_session_set_presence_rcu(a, 1, 500), XSR_OK); /* clamped to 127 */
  xsr_jid j;
  char buf[XSR_JID_MAX];
  xsr_jid_parse(J, strlen(J), buf, sizeof buf, &j, NULL);
  xsr_session *order[4];
  cr_assert_eq(xsr_router_resources_rcu(r, &j, order, 4), 3);
  cr_assert_eq(order[0], a);
  cr_assert_eq(order[1], c);
  cr_assert_eq(order[2], b);
  cr_assert_eq(xsr_session_set_presence_rcu(a, 0, 0), XSR_OK);
  cr_assert_eq(xsr_router_resources_rcu(r, &j, order, 4), 3);
  cr_assert_eq(order[2], a);
  xsr_jid fj;
  xsr_jid_parse(J "/z", strlen(J) + 2, buf, sizeof buf, &fj, NULL);
  cr_assert_eq(xsr_router_find_rcu(r, &fj), c);
  xsr_session_unbind_rcu(c);
  cr_assert_null(xsr_router_find_rcu(r, &fj));
  cr_assert_eq(xsr_session_bind_rcu(c), XSR_OK); /* rebinding works */
  cr_assert_eq(xsr_router_find_rcu(r, &fj), c);
  /* Closing leaves the table and, with queued messages, frees later. */
  xsr_session *romeo = bind(r, 1, "romeo@montague.lit/o", 1, 0);
  xsr_stanza st = view("<message to='" J "/z'/>");
  xsr_route_result res;
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, &res), XSR_OK);
  xsr_session_close_owner(c);
  xsr_session_close_owner(a);
  xsr_session_close_owner(b);
  xsr_session_close_owner(dup);
  xsr_router_stats_get(r, &stats);
  cr_assert_eq(stats.sessions, 1);
  cr_assert_eq(stats.bare_jids, 1);
  /* Let the grace period pass: the tombstones arrive and the message for
   * the closed session is dropped rather than returned. */
  xsr_router_thread_offline();
  xsr_router_thread_online();
  xsr_msg *m[4];
  for (int i = 0; i < 100; i++) {
    xsr_router_quiescent();
    cr_assert_eq(pop_all(r, m, 4), 0);
  }
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
  cr_assert_eq(atomic_load(&live_allocs), before);
}

Test(router, bad_arguments, .init = setup, .fini = teardown) {
  xsr_router_config cfg;
  xsr_router_config_init(&cfg);
  cfg.workers = 0;
  cr_assert_null(xsr_router_new(&cfg, NULL));
  cfg.workers = 1;
  cfg.initial_buckets = 1000;
  cr_assert_null(xsr_router_new(&cfg, NULL));
  xsr_router *r = new_router(0, 1);
  cr_assert_null(xsr_router_worker(r, 2));
  cr_assert_eq(xsr_worker_index(xsr_router_worker(r, 1)), 1);
  xsr_session *romeo = bind(r, 0, "romeo@montague.lit/orchard", 1, 0);
  xsr_route_result res;
  xsr_stanza st = view("<features to='" J "'/>");
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, &res), XSR_EINVAL);
  st = view("<message to='" J "'/>");
  st.ns = XSR_NS_STREAMS;
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, &res), XSR_EINVAL);
  cr_assert_eq(xsr_router_route_rcu(r, romeo, NULL, &res), XSR_EINVAL);
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, NULL), XSR_EINVAL);
  /* Explicit server bounce; never for an error stanza. */
  st = view("<iq to='capulet.lit' type='get' id='q&amp;1'/>");
  cr_assert_eq(xsr_router_bounce_rcu(r, romeo, &st, "feature-not-implemented", "cancel"), XSR_OK);
  xsr_msg *m[2];
  cr_assert_eq(pop_all(r, m, 2), 1);
  xsr_span b = xsr_msg_bytes(m[0]);
  cr_assert(has(b, "id='q&amp;1'"), "%.*s", (int)b.len, b.ptr);
  cr_assert(has(b, "from='capulet.lit'"));
  cr_assert(has(b, "<feature-not-implemented xmlns="));
  xsr_msg_release(m[0]);
  st = view("<iq to='capulet.lit' type='error' id='1'/>");
  cr_assert_eq(xsr_router_bounce_rcu(r, romeo, &st, "feature-not-implemented", "cancel"),
               XSR_EINVAL);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
  xsr_router_free(NULL);
}

/* Per-source order is kept through one worker queue, and batches respect
 * `max`. */
Test(router, queue_order_and_batches, .init = setup, .fini = teardown) {
  xsr_router *r = new_router(1u << 24, 1);
  xsr_session *romeo = bind(r, 0, "romeo@montague.lit/orchard", 1, 0);
  xsr_session *jul = bind(r, 1, J "/b", 1, 0);
  enum { N = 1000 };
  char raw[N][96];
  for (int i = 0; i < N; i++) {
    snprintf(raw[i], sizeof raw[i], "<message to='" J "/b' id='%d'/>", i);
    xsr_stanza st = view(raw[i]);
    xsr_route_result res;
    cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, &res), XSR_OK);
  }
  int next = 0;
  xsr_msg *m[64];
  size_t n;
  while ((n = xsr_worker_pop_owner(xsr_router_worker(r, 1), m, 64)) > 0) {
    cr_assert_leq(n, 64);
    for (size_t i = 0; i < n; i++) {
      char want[32];
      snprintf(want, sizeof want, "id='%d'", next++);
      cr_assert(has(xsr_msg_bytes(m[i]), want));
      xsr_msg_release(m[i]);
    }
  }
  cr_assert_eq(next, N);
  xsr_session_close_owner(jul);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
}

/* ---- forwarding context and delivery limits ------------------------------- */

static xsr_router *new_router_limits(size_t max_stanza, unsigned max_attrs, unsigned max_decls) {
  xsr_router_config cfg;
  xsr_router_config_init(&cfg);
  cfg.workers = 2;
  cfg.account_exists = account_exists;
  if (max_stanza)
    cfg.max_stanza = max_stanza;
  if (max_attrs)
    cfg.max_attrs = max_attrs;
  if (max_decls)
    cfg.max_ns_decls = max_decls;
  xsr_router *r = xsr_router_new(&cfg, &counting);
  cr_assert_not_null(r);
  return r;
}

/* An error longer than max_stanza is never sent (it echoes the id, which
 * grows sixfold escaped): not a full queue to wait for, and a routed
 * stanza whose bounce it would be is reported dropped. */
Test(router, bounce_longer_than_max_stanza, .init = setup, .fini = teardown) {
  xsr_router *r = new_router_limits(4096, 0, 0);
  xsr_session *romeo = bind(r, 0, "romeo@montague.lit/orchard", 1, 0);
  static char big[1200];
  memcpy(big, "<iq to='capulet.lit' type='get' id='", 36);
  memset(big + 36, '"', 1000);
  memcpy(big + 1036, "'/>", 4);
  xsr_stanza st = view(big);
  cr_assert_eq(xsr_router_bounce_rcu(r, romeo, &st, "feature-not-implemented", "cancel"),
               XSR_ELIMITSTANZA);
  memcpy(big, "<iq to='juliet@capulet.lit/x' type='get' id='", 45);
  memset(big + 45, '"', 1000);
  memcpy(big + 1045, "'/>", 4);
  st = view(big);
  xsr_route_result res;
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &st, &res), XSR_OK);
  cr_expect_eq(res.action, XSR_ROUTE_DROP, "action %d", res.action);
  xsr_msg *m[2];
  cr_assert_eq(pop_all(r, m, 2), 0);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
}

/* Routes st from `from` to exactly one recipient and returns the delivered
 * bytes (copied into out, NUL-terminated). */
static size_t route_one(xsr_router *r, xsr_session *from, const xsr_stanza *st, char *out,
                        size_t cap) {
  xsr_route_result res;
  xsr_err rc = xsr_router_route_rcu(r, from, st, &res);
  cr_assert_eq(rc, XSR_OK, "%s", xsr_err_name(rc));
  cr_assert_eq(res.action, XSR_ROUTE_DELIVER, "action %d cond %s", res.action,
               res.condition ? res.condition : "");
  cr_assert_eq(res.recipients, 1);
  xsr_msg *m[4];
  cr_assert_eq(pop_all(r, m, 4), 1);
  cr_assert_neq(xsr_msg_session(m[0]), from);
  xsr_span b = xsr_msg_bytes(m[0]);
  cr_assert_lt(b.len, cap);
  memcpy(out, b.ptr, b.len);
  out[b.len] = '\0';
  xsr_msg_release(m[0]);
  return b.len;
}

/* The stanza is refused whole: the sender gets a policy-violation (modify)
 * bounce and nobody else gets anything. */
static void assert_policy_bounce(xsr_router *r, xsr_session *from, const xsr_stanza *st) {
  xsr_route_result res;
  cr_assert_eq(xsr_router_route_rcu(r, from, st, &res), XSR_OK);
  cr_assert_eq(res.action, XSR_ROUTE_BOUNCE, "action %d", res.action);
  cr_assert_str_eq(res.condition, "policy-violation");
  cr_assert_eq(res.recipients, 1);
  xsr_msg *m[4];
  cr_assert_eq(pop_all(r, m, 4), 1);
  cr_assert_eq(xsr_msg_session(m[0]), from);
  xsr_span b = xsr_msg_bytes(m[0]);
  cr_assert(has(b, "<error type='modify'><policy-violation "
                   "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"),
            "%.*s", (int)b.len, b.ptr);
  cr_assert(has(b, " type='error'"));
  xsr_msg_release(m[0]);
}

static const xsr_ns_decl inh_x[] = {
    {{"x", 1}, {"urn:x?a=1&b=<>'\"\t\n\r", 19}},
    {{"stream", 6}, {"http://etherx.jabber.org/streams", 32}},
};

#define ROMEO "romeo@montague.lit/orchard"

Test(router, forwarding_context_declarations, .init = setup, .fini = teardown) {
  xsr_router *r = new_router(0, 1);
  xsr_session *romeo = bind(r, 0, ROMEO, 1, 0);
  xsr_session *jul = bind(r, 1, J "/balcony", 1, 0);
  xsr_stanza st = view("<message to='" J "/balcony' from='evil' type='chat'><x:y/><stream:z/>"
                       "</message>");
  st.inherited = inh_x;
  st.inherited_count = 2;
  long before = atomic_load(&total_allocs);
  char out[1024];
  size_t n = route_one(r, romeo, &st, out, sizeof out);
  cr_assert_eq(atomic_load(&total_allocs) - before, 1, "still one allocation per stanza");
  const char *want = "<message from='" ROMEO "'"
                     " xmlns:x='urn:x?a=1&amp;b=&lt;&gt;&apos;&quot;&#9;&#10;&#13;'"
                     " xmlns:stream='http://etherx.jabber.org/streams'"
                     " to='" J "/balcony' type='chat'><x:y/><stream:z/></message>";
  cr_assert_str_eq(out, want);
  cr_assert_eq(n, strlen(want));
  /* Escaped exactly as xsr_writer escapes the same value. */
  char wb[256];
  xsr_writer w;
  xsr_writer_init(&w, wb, sizeof wb);
  xsr_writer_start(&w, "m");
  xsr_writer_attr_n(&w, "xmlns:x", 7, inh_x[0].uri.ptr, inh_x[0].uri.len);
  xsr_writer_end(&w);
  size_t wl;
  cr_assert_eq(xsr_writer_finish(&w, &wl), XSR_OK);
  const char *wattr = " xmlns:x='urn:x?a=1&amp;b=&lt;&gt;&apos;&quot;&#9;&#10;&#13;'";
  cr_assert_eq(wl, 2 + strlen(wattr) + 2);
  cr_assert(!memcmp(wb + 2, wattr, strlen(wattr)), "writer: %.*s", (int)wl, wb);
  cr_assert(strstr(out, wattr) != NULL);
  /* A recipient reads the prefixes in the sender's namespaces, although its
   * own stream binds neither (x) or binds it otherwise (see below). */
  reparsed rp;
  assert_reparses((xsr_span){out, n}, NULL, &rp);
  cr_assert_eq(rp.child_ns_len, inh_x[0].uri.len);
  cr_assert(!memcmp(rp.child_ns, inh_x[0].uri.ptr, inh_x[0].uri.len));
  cr_assert_eq(rp.from_len, strlen(ROMEO));
  cr_assert(!memcmp(rp.from, ROMEO, rp.from_len));
  cr_assert(!rp.has_lang);
  /* Without the declarations the recipient refuses it: they are needed. */
  xsr_stanza plain = st;
  plain.inherited_count = 0;
  n = route_one(r, romeo, &plain, out, sizeof out);
  cr_assert_eq(reparse((xsr_span){out, n}, NULL, &rp), XSR_EPREFIX);
  /* A prefix the recipient's stream binds to another namespace ("stream"
   * here, bound by the sender's header to its own URI) keeps the sender's. */
  static const xsr_ns_decl other[] = {{{"stream", 6}, {"urn:other", 9}}};
  xsr_stanza os = view("<message to='" J "/balcony'><stream:z/></message>");
  os.inherited = other;
  os.inherited_count = 1;
  n = route_one(r, romeo, &os, out, sizeof out);
  cr_assert_str_eq(out, "<message from='" ROMEO "' xmlns:stream='urn:other' to='" J
                        "/balcony'><stream:z/></message>");
  assert_reparses((xsr_span){out, n}, NULL, &rp);
  cr_assert_eq(rp.child_ns_len, 9);
  cr_assert(!memcmp(rp.child_ns, "urn:other", 9));
  /* Fan-out: every recipient gets the same rewritten bytes. */
  xsr_session *jul2 = bind(r, 0, J "/chamber", 1, 0);
  xsr_stanza bare = view("<message to='" J "' type='chat'><x:y/></message>");
  bare.inherited = inh_x;
  bare.inherited_count = 1;
  xsr_route_result res;
  cr_assert_eq(xsr_router_route_rcu(r, romeo, &bare, &res), XSR_OK);
  cr_assert_eq(res.recipients, 2);
  xsr_msg *m[4];
  cr_assert_eq(pop_all(r, m, 4), 2);
  for (int i = 0; i < 2; i++) {
    xsr_span b = xsr_msg_bytes(m[i]);
    cr_assert(has(b, "<message from='" ROMEO "' xmlns:x='urn:x?a=1&amp;"), "%.*s", (int)b.len,
              b.ptr);
    assert_reparses(b, NULL, &rp);
    xsr_msg_release(m[i]);
  }
  xsr_session_close_owner(jul2);
  xsr_session_close_owner(jul);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
}

Test(router, forwarding_context_lang, .init = setup, .fini = teardown) {
  xsr_router *r = new_router(0, 1);
  xsr_session *romeo = bind(r, 0, ROMEO, 1, 0);
  xsr_session *jul = bind(r, 1, J "/balcony", 1, 0);
  static const struct {
    const char *in, *stream_lang, *out, *lang; /* lang: what the recipient reads, or NULL */
  } tc[] = {
      /* The stanza has none, the stream has one: added, escaped. */
      {"<message to='" J "/balcony'/>", "en'GB&",
       "<message from='" ROMEO "' xml:lang='en&apos;GB&amp;' to='" J "/balcony'/>", "en'GB&"},
      /* The stanza's own wins. */
      {"<message to='" J "/balcony' xml:lang='fr'/>", "en",
       "<message from='" ROMEO "' to='" J "/balcony' xml:lang='fr'/>", "fr"},
      /* Neither: nothing added. */
      {"<message to='" J "/balcony'/>", NULL, "<message from='" ROMEO "' to='" J "/balcony'/>",
       NULL},
      /* The stream's empty xml:lang (no language) is carried as such. */
      {"<message from='x' to='" J "/balcony'/>", "",
       "<message from='" ROMEO "' xml:lang='' to='" J "/balcony'/>", ""},
  };
  for (size_t i = 0; i < sizeof tc / sizeof tc[0]; i++) {
    xsr_stanza st = view(tc[i].in);
    if (tc[i].stream_lang) {
      st.stream_lang.ptr = tc[i].stream_lang;
      st.stream_lang.len = strlen(tc[i].stream_lang);
    }
    char out[512];
    size_t n = route_one(r, romeo, &st, out, sizeof out);
    cr_assert_str_eq(out, tc[i].out, "case %zu", i);
    reparsed rp;
    assert_reparses((xsr_span){out, n}, NULL, &rp);
    cr_assert_eq(rp.has_lang, tc[i].lang != NULL, "case %zu", i);
    if (tc[i].lang) {
      cr_assert_eq(rp.lang_len, strlen(tc[i].lang), "case %zu", i);
      cr_assert(!memcmp(rp.lang, tc[i].lang, rp.lang_len), "case %zu", i);
    }
  }
  xsr_session_close_owner(jul);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
}

/* A stanza whose rewrite is exactly max_stanza bytes is delivered (and a
 * recipient with that max_stanza reads it); one byte more is refused. */
Test(router, limit_stanza_bytes, .init = setup, .fini = teardown) {
  const char *raw = "<message to='" J "/balcony' from='evil' type='chat'><x:y/><stream:z/>"
                    "<body>wherefore</body></message>";
  xsr_stanza st = view(raw);
  st.inherited = inh_x;
  st.inherited_count = 2;
  st.stream_lang.ptr = "en";
  st.stream_lang.len = 2;
  size_t want = strlen(raw) - strlen(" from='evil'") + strlen(" from='" ROMEO "'") +
                strlen(" xmlns:x='urn:x?a=1&amp;b=&lt;&gt;&apos;&quot;&#9;&#10;&#13;'") +
                strlen(" xmlns:stream='http://etherx.jabber.org/streams'") +
                strlen(" xml:lang='en'");
  xsr_parser_config pc;
  xsr_parser_config_init(&pc);
  pc.max_stanza = want;
  {
    xsr_router *r = new_router_limits(want, 0, 0);
    xsr_session *romeo = bind(r, 0, ROMEO, 1, 0);
    xsr_session *jul = bind(r, 1, J "/balcony", 1, 0);
    char out[1024];
    cr_assert_eq(route_one(r, romeo, &st, out, sizeof out), want);
    reparsed rp;
    assert_reparses((xsr_span){out, want}, &pc, &rp);
    xsr_session_close_owner(jul);
    xsr_session_close_owner(romeo);
    xsr_router_free(r);
  }
  {
    xsr_router *r = new_router_limits(want - 1, 0, 0);
    xsr_session *romeo = bind(r, 0, ROMEO, 1, 0);
    xsr_session *jul = bind(r, 1, J "/balcony", 1, 0);
    xsr_session *jul2 = bind(r, 1, J "/chamber", 1, 0);
    assert_policy_bounce(r, romeo, &st);
    cr_assert_eq(xsr_session_queued(jul), 0);
    /* A view claiming more than 4 GiB is not a stanza any parser reports:
     * refused as an invalid argument (nothing past the start tag is read). */
    if (sizeof(size_t) > 4) {
      xsr_stanza huge = view("<message to='" J "/balcony'/>");
      huge.raw.len = (size_t)1 << 33;
      xsr_route_result res;
      cr_assert_eq(xsr_router_route_rcu(r, romeo, &huge, &res), XSR_EINVAL);
      cr_assert_eq(res.action, 0);
      xsr_msg *m[2];
      cr_assert_eq(pop_all(r, m, 2), 0);
    }
    /* Each lengthening counts: without the stream's xml:lang it fits. */
    xsr_stanza nolang = st;
    nolang.stream_lang.ptr = NULL;
    char out[1024];
    cr_assert_eq(route_one(r, romeo, &nolang, out, sizeof out), want - strlen(" xml:lang='en'"));
    /* A fan-out is refused for all its recipients at once. */
    const char *braw = "<message to='" J "' type='chat'><x:y/><stream:z/>"
                       "<body>wherefore art thou</body></message>";
    xsr_stanza bst = view(braw);
    bst.inherited = inh_x;
    bst.inherited_count = 2;
    bst.stream_lang = st.stream_lang;
    assert_policy_bounce(r, romeo, &bst);
    cr_assert_eq(xsr_session_queued(jul) + xsr_session_queued(jul2), 0);
    /* An iq get is bounced too. */
    xsr_stanza iq = view("<iq to='" J "/balcony' type='get' id='q1'><x:y/><stream:z/>"
                         "<query xmlns='jabber:iq:version'/></iq>");
    iq.inherited = inh_x;
    iq.inherited_count = 2;
    iq.stream_lang = st.stream_lang;
    cr_assert_gt(iq.raw.len, st.raw.len - strlen(" from='evil'")); /* longer once stamped */
    assert_policy_bounce(r, romeo, &iq);
    /* Errors and iq results are never answered: dropped. */
    const char *dropped[] = {
        "<message to='" J "/balcony' type='error'><x:y/><stream:z/><body>wherefore</body>"
        "</message>",
        "<iq to='" J "/balcony' type='result' id='q1'><x:y/><stream:z/><body>wherefore art</body>"
        "</iq>",
    };
    for (size_t i = 0; i < 2; i++) {
      xsr_stanza d = view(dropped[i]);
      d.inherited = inh_x;
      d.inherited_count = 2;
      d.stream_lang = st.stream_lang;
      cr_assert_gt(d.raw.len, st.raw.len - strlen(" from='evil'"));
      xsr_route_result res;
      cr_assert_eq(xsr_router_route_rcu(r, romeo, &d, &res), XSR_OK);
      cr_assert_eq(res.action, XSR_ROUTE_DROP, "%zu: action %d", i, res.action);
      xsr_msg *m[2];
      cr_assert_eq(pop_all(r, m, 2), 0);
    }
    xsr_session_close_owner(jul2);
    xsr_session_close_owner(jul);
    xsr_session_close_owner(romeo);
    xsr_router_free(r);
  }
}

/* The delivered start tag's attributes: the client's 'from' is replaced,
 * one is added for a 'from' it did not send, one per inherited binding,
 * one for the stream's xml:lang.  The count is the parser's own: a
 * recipient reads the stanza with max_attrs at the count, not one less. */
Test(router, limit_attrs, .init = setup, .fini = teardown) {
  static const struct {
    const char *raw;
    unsigned delivered; /* attributes on the delivered start tag */
  } tc[] = {
      {"<message to='" J "/balcony' id='1' from='evil'><x:y/></message>", 3 - 1 + 1 + 1 + 1},
      {"<message to='" J "/balcony' id='1' type='chat'><x:y/></message>", 3 + 1 + 1 + 1},
  };
  for (size_t i = 0; i < 2; i++) {
    xsr_stanza st = view(tc[i].raw);
    st.inherited = inh_x;
    st.inherited_count = 1;
    st.stream_lang.ptr = "en";
    st.stream_lang.len = 2;
    unsigned max = tc[i].delivered;
    xsr_router *r = new_router_limits(0, max, 0);
    xsr_session *romeo = bind(r, 0, ROMEO, 1, 0);
    xsr_session *jul = bind(r, 1, J "/balcony", 1, 0);
    char out[512];
    size_t n = route_one(r, romeo, &st, out, sizeof out);
    xsr_parser_config pc;
    xsr_parser_config_init(&pc);
    pc.max_attrs = max;
    reparsed rp;
    assert_reparses((xsr_span){out, n}, &pc, &rp);
    pc.max_attrs = max - 1;
    cr_assert_eq(reparse((xsr_span){out, n}, &pc, &rp), XSR_ELIMITATTRS, "case %zu: %s", i, out);
    xsr_session_close_owner(jul);
    xsr_session_close_owner(romeo);
    xsr_router_free(r);

    r = new_router_limits(0, max - 1, 0);
    romeo = bind(r, 0, ROMEO, 1, 0);
    jul = bind(r, 1, J "/balcony", 1, 0);
    assert_policy_bounce(r, romeo, &st);
    xsr_session_close_owner(jul);
    xsr_session_close_owner(romeo);
    xsr_router_free(r);
  }
  /* A view built by hand that leaves tag_attrs 0 although it has a 'from'
   * does not wrap around: its delivered start tag counts the 'from' only. */
  xsr_router *r = new_router_limits(0, 1, 0);
  xsr_session *romeo = bind(r, 0, ROMEO, 1, 0);
  xsr_session *jul = bind(r, 1, J "/balcony", 1, 0);
  xsr_stanza st = view("<message from='evil' to='" J "/balcony'/>");
  st.tag_attrs = 0;
  char out[512];
  route_one(r, romeo, &st, out, sizeof out);
  cr_assert_str_eq(out, "<message from='" ROMEO "' to='" J "/balcony'/>");
  xsr_session_close_owner(jul);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
  /* ... and still counts every attribute the rewrite adds: 'from', one
   * inherited binding and xml:lang make 3. */
  st.inherited = inh_x;
  st.inherited_count = 1;
  st.stream_lang.ptr = "en";
  st.stream_lang.len = 2;
  r = new_router_limits(0, 2, 0);
  romeo = bind(r, 0, ROMEO, 1, 0);
  jul = bind(r, 1, J "/balcony", 1, 0);
  assert_policy_bounce(r, romeo, &st);
  xsr_session_close_owner(jul);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
  r = new_router_limits(0, 3, 0);
  romeo = bind(r, 0, ROMEO, 1, 0);
  jul = bind(r, 1, J "/balcony", 1, 0);
  route_one(r, romeo, &st, out, sizeof out);
  xsr_session_close_owner(jul);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
}

Test(router, limit_ns_decls, .init = setup, .fini = teardown) {
  xsr_stanza st = view("<message to='" J "/balcony' xmlns:a='urn:a' xmlns:b='urn:b'>"
                       "<a:p/><b:q/><x:y/></message>");
  cr_assert_eq(st.tag_decls, 2);
  st.inherited = inh_x;
  st.inherited_count = 1;
  xsr_router *r = new_router_limits(0, 0, 3);
  xsr_session *romeo = bind(r, 0, ROMEO, 1, 0);
  xsr_session *jul = bind(r, 1, J "/balcony", 1, 0);
  char out[512];
  size_t n = route_one(r, romeo, &st, out, sizeof out);
  xsr_parser_config pc;
  xsr_parser_config_init(&pc);
  pc.max_ns_decls = 3;
  reparsed rp;
  assert_reparses((xsr_span){out, n}, &pc, &rp);
  pc.max_ns_decls = 2;
  cr_assert_eq(reparse((xsr_span){out, n}, &pc, &rp), XSR_ELIMITNSDECL, "%s", out);
  xsr_session_close_owner(jul);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);

  r = new_router_limits(0, 0, 2);
  romeo = bind(r, 0, ROMEO, 1, 0);
  jul = bind(r, 1, J "/balcony", 1, 0);
  assert_policy_bounce(r, romeo, &st);
  /* The stanza's own declarations alone fit. */
  st.inherited_count = 0;
  st.raw.len = strlen(st.raw.ptr);
  n = route_one(r, romeo, &st, out, sizeof out);
  cr_assert(strstr(out, "xmlns:x=") == NULL, "%s", out);
  xsr_session_close_owner(jul);
  xsr_session_close_owner(romeo);
  xsr_router_free(r);
}

Test(router, config_limits) {
  xsr_router_config cfg;
  memset(&cfg, 0xA5, sizeof cfg);
  xsr_router_config_init(&cfg);
  cr_assert_eq(cfg.max_stanza, XSR_DEFAULT_MAX_STANZA);
  cr_assert_eq(cfg.max_attrs, XSR_DEFAULT_MAX_ATTRS);
  cr_assert_eq(cfg.max_ns_decls, XSR_DEFAULT_MAX_NS_DECLS);
  cr_assert_eq(cfg.workers, 1);
  cr_assert_eq(cfg.session_budget, XSR_DEFAULT_SESSION_BUDGET);
  /* The parser's defaults: what a recipient using xsr's defaults accepts. */
  xsr_parser_config pc;
  xsr_parser_config_init(&pc);
  cr_assert_eq(cfg.max_stanza, pc.max_stanza);
  cr_assert_eq(cfg.max_attrs, pc.max_attrs);
  cr_assert_eq(cfg.max_ns_decls, pc.max_ns_decls);

  static const struct {
    size_t max_stanza;
    unsigned max_attrs, max_ns_decls;
    int ok;
  } tc[] = {
      {0, 64, 32, 0},
      {XSR_MAX_STANZA_LIMIT + 1ull, 64, 32, 0},
      {(size_t)-1, 64, 32, 0},
      {1000, 0, 32, 0},
      {1000, 65536, 32, 0},
      {1000, 64, 0, 0},
      {1, 1, 1, 1},
      {XSR_MAX_STANZA_LIMIT, 65535, 65535, 1},
      {1000, 64, 0xFFFFFFFFu, 1},
  };
  for (size_t i = 0; i < sizeof tc / sizeof tc[0]; i++) {
    xsr_router_config_init(&cfg);
    cfg.max_stanza = tc[i].max_stanza;
    cfg.max_attrs = tc[i].max_attrs;
    cfg.max_ns_decls = tc[i].max_ns_decls;
    xsr_router *r = xsr_router_new(&cfg, NULL);
    cr_assert_eq(r != NULL, tc[i].ok, "case %zu", i);
    /* The same range as the parser's. */
    pc.max_stanza = tc[i].max_stanza;
    pc.max_attrs = tc[i].max_attrs;
    pc.max_ns_decls = tc[i].max_ns_decls;
    xsr_parser *p = xsr_parser_new(&pc, NULL, NULL, NULL);
    cr_assert_eq(p != NULL, tc[i].ok, "case %zu: parser", i);
    xsr_parser_free(p);
    xsr_router_free(r);
  }
}

Test(router, sender_limits) {
  xsr_router_config rc;
  xsr_router_config_init(&rc);
  xsr_parser_config pc;
  xsr_parser_config_init(&pc);
  pc.max_depth = 7;
  pc.max_name = 99;
  pc.max_namespaces = 5;
  pc.accept = XSR_ACCEPT_CLIENT;
  xsr_router_sender_limits(&rc, 100, 3, &pc);
  cr_assert_eq(pc.max_stanza, XSR_DEFAULT_MAX_STANZA - XSR_ROUTER_FROM_ROOM - 100);
  cr_assert_eq(pc.max_attrs, XSR_DEFAULT_MAX_ATTRS - 2 - 3);
  cr_assert_eq(pc.max_ns_decls, XSR_DEFAULT_MAX_NS_DECLS - 3);
  /* Other fields are left as they were. */
  cr_assert_eq(pc.max_depth, 7);
  cr_assert_eq(pc.max_name, 99);
  cr_assert_eq(pc.max_namespaces, 5);
  cr_assert_eq(pc.accept, XSR_ACCEPT_CLIENT);
  /* Nothing from the header. */
  xsr_router_sender_limits(&rc, 0, 0, &pc);
  cr_assert_eq(pc.max_stanza, XSR_DEFAULT_MAX_STANZA - XSR_ROUTER_FROM_ROOM);
  cr_assert_eq(pc.max_attrs, XSR_DEFAULT_MAX_ATTRS - 2);
  cr_assert_eq(pc.max_ns_decls, XSR_DEFAULT_MAX_NS_DECLS);
  /* Saturation: never below 1, never wrapping. */
  xsr_router_sender_limits(&rc, (size_t)-1, 0xFFFFFFFFu, &pc);
  cr_assert_eq(pc.max_stanza, 1);
  cr_assert_eq(pc.max_attrs, 1);
  cr_assert_eq(pc.max_ns_decls, 1);
  rc.max_stanza = XSR_ROUTER_FROM_ROOM + 10;
  rc.max_attrs = 5;
  rc.max_ns_decls = 3;
  xsr_router_sender_limits(&rc, 10, 3, &pc); /* exactly used up: 0 -> 1 */
  cr_assert_eq(pc.max_stanza, 1);
  cr_assert_eq(pc.max_attrs, 1);
  cr_assert_eq(pc.max_ns_decls, 1);
  xsr_router_sender_limits(&rc, 9, 2, &pc); /* one left */
  cr_assert_eq(pc.max_stanza, 1);
  cr_assert_eq(pc.max_attrs, 1);
  cr_assert_eq(pc.max_ns_decls, 1);
  xsr_router_sender_limits(&rc, 8, 1, &pc);
  cr_assert_eq(pc.max_stanza, 2);
  cr_assert_eq(pc.max_attrs, 2);
  cr_assert_eq(pc.max_ns_decls, 2);
  rc.max_stanza = 100; /* less than the 'from' alone */
  rc.max_attrs = 1;
  xsr_router_sender_limits(&rc, 0, 0, &pc);
  cr_assert_eq(pc.max_stanza, 1);
  cr_assert_eq(pc.max_attrs, 1);
  cr_assert_eq(pc.max_ns_decls, 3);
  /* The result is a config the parser takes. */
  xsr_router_config_init(&rc);
  xsr_parser_config_init(&pc);
  xsr_router_sender_limits(&rc, 4096, 4, &pc);
  xsr_parser *p = xsr_parser_new(&pc, NULL, NULL, NULL);
  cr_assert_not_null(p);
  xsr_parser_free(p);
}

/* The longest full JID, with a resource of characters that escape the
 * longest: its stamp is exactly XSR_ROUTER_FROM_ROOM bytes. */
static char *longest_jid(char res_char, size_t local, size_t domain, size_t resource) {
  char *j = malloc(local + 1 + domain + 1 + resource + 1);
  cr_assert_not_null(j);
  size_t o = 0;
  memset(j, 'a', local);
  o += local;
  j[o++] = '@';
  for (size_t i = 0; i < domain; i++) /* labels of 60 letters, the first shorter */
    j[o + i] = (domain - 1 - i) % 61 == 60 ? '.' : 'b';
  o += domain;
  j[o++] = '/';
  memset(j + o, res_char, resource);
  o += resource;
  j[o] = '\0';
  return j;
}

Test(router, from_room_is_the_worst_case, .init = setup, .fini = teardown) {
  xsr_router *r = new_router(0, 1);
  xsr_session *jul = bind(r, 1, J "/balcony", 1, 0);
  const size_t M = XSR_JID_PART_MAX;
  static const char worst[] = {'\'', '"'};
  for (size_t k = 0; k < 2; k++) {
    char *jid = longest_jid(worst[k], M, M, M);
    size_t jl = strlen(jid);
    cr_assert_eq(jl, XSR_JID_MAX);
    xsr_session *s;
    cr_assert_eq(xsr_session_new(xsr_router_worker(r, 0), jid, jl, NULL, &s), XSR_OK);
    xsr_jid sj = xsr_session_jid(s);
    cr_assert_eq(xsr_jid_full(&sj).len, jl, "nothing was normalised away");
    xsr_stanza st = view("<message to='" J "/balcony'/>");
    char *out = malloc(st.raw.len + XSR_ROUTER_FROM_ROOM + 1);
    size_t n = route_one(r, s, &st, out, st.raw.len + XSR_ROUTER_FROM_ROOM + 1);
    cr_assert_eq(n, st.raw.len + XSR_ROUTER_FROM_ROOM, "stamp of %zu bytes", n - st.raw.len);
    reparsed rp;
    assert_reparses((xsr_span){out, n}, NULL, &rp);
    cr_assert_eq(rp.from_len, jl);
    cr_assert(!memcmp(rp.from, jid, jl));
    free(out);
    xsr_session_close_owner(s);
    free(jid);
  }
  /* And it is the longest: one byte more in any part is refused. */
  for (int part = 0; part < 3; part++) {
    char *jid = longest_jid('\'', M + (part == 0), M + (part == 1), M + (part == 2));
    xsr_session *s = NULL;
    cr_assert_neq(xsr_session_new(xsr_router_worker(r, 0), jid, strlen(jid), NULL, &s), XSR_OK,
                  "part %d", part);
    cr_assert_null(s);
    free(jid);
  }
  xsr_session_close_owner(jul);
  xsr_router_free(r);
}

/* What sender_limits promises: a stanza at the sender's limits, from the
 * longest JID, with everything its stream header can add, is delivered at
 * exactly the router's limits. */
Test(router, sender_limits_meet_router_limits, .init = setup, .fini = teardown) {
  xsr_router_config rc;
  xsr_router_config_init(&rc);
  rc.workers = 2;
  rc.max_stanza = 20000;
  xsr_router *r = xsr_router_new(&rc, NULL);
  cr_assert_not_null(r);
  const char *lang = "en";
  size_t header_room = strlen(" xmlns:x='urn:x?a=1&amp;b=&lt;&gt;&apos;&quot;&#9;&#10;&#13;'") +
                       strlen(" xmlns:stream='http://etherx.jabber.org/streams'") +
                       strlen(" xml:lang='en'");
  xsr_parser_config pc;
  xsr_parser_config_init(&pc);
  xsr_router_sender_limits(&rc, header_room, 2, &pc);
  /* A start tag with pc.max_attrs attributes and no 'from', padded to
   * pc.max_stanza bytes. */
  char *raw = malloc(pc.max_stanza + 1);
  int o = snprintf(raw, pc.max_stanza, "<message to='" J "/balcony'");
  for (unsigned i = 1; i < pc.max_attrs; i++)
    o += snprintf(raw + o, pc.max_stanza - (size_t)o, " a%u=''", i);
  o += snprintf(raw + o, pc.max_stanza - (size_t)o, "><x:y/><stream:z/><body>");
  const char *tail = "</body></message>";
  size_t pad = pc.max_stanza - (size_t)o - strlen(tail);
  memset(raw + o, '.', pad);
  strcpy(raw + o + pad, tail);
  cr_assert_eq(strlen(raw), pc.max_stanza);
  xsr_stanza st = view(raw);
  cr_assert_eq(st.tag_attrs, pc.max_attrs);
  st.inherited = inh_x;
  st.inherited_count = 2;
  st.stream_lang.ptr = lang;
  st.stream_lang.len = 2;
  char *jid = longest_jid('\'', XSR_JID_PART_MAX, XSR_JID_PART_MAX, XSR_JID_PART_MAX);
  xsr_session *s, *jul = bind(r, 1, J "/balcony", 1, 0);
  cr_assert_eq(xsr_session_new(xsr_router_worker(r, 0), jid, strlen(jid), NULL, &s), XSR_OK);
  char *out = malloc(rc.max_stanza + 1);
  size_t n = route_one(r, s, &st, out, rc.max_stanza + 1);
  cr_assert_eq(n, rc.max_stanza);
  xsr_parser_config recv;
  xsr_parser_config_init(&recv);
  recv.max_stanza = rc.max_stanza;
  recv.max_attrs = rc.max_attrs;
  recv.max_ns_decls = rc.max_ns_decls;
  reparsed rp;
  assert_reparses((xsr_span){out, n}, &recv, &rp);
  recv.max_attrs = rc.max_attrs - 1;
  cr_assert_eq(reparse((xsr_span){out, n}, &recv, &rp), XSR_ELIMITATTRS);
  free(out);
  free(raw);
  free(jid);
  xsr_session_close_owner(s);
  xsr_session_close_owner(jul);
  xsr_router_free(r);
}

/* Views straight from the parser: the sender's stream binds a prefix and
 * declares a language on its header; what is delivered reads the same on a
 * recipient's stream that does neither. */
typedef struct fwd_ctx {
  xsr_router *r;
  xsr_session *from;
  int routed;
  unsigned tag_attrs[4];
  xsr_route_result res[4];
} fwd_ctx;

static int fwd_on_stanza(void *user, const xsr_stanza *st) {
  fwd_ctx *c = user;
  cr_assert_lt(c->routed, 4);
  c->tag_attrs[c->routed] = st->tag_attrs;
  cr_assert_eq(xsr_router_route_rcu(c->r, c->from, st, &c->res[c->routed]), XSR_OK);
  c->routed++;
  return 0;
}

static const xsr_parser_callbacks fwd_cb = {NULL, fwd_on_stanza, NULL};

Test(router, forwarding_context_from_the_parser, .init = setup, .fini = teardown) {
  fwd_ctx c;
  memset(&c, 0, sizeof c);
  c.r = new_router(0, 1);
  c.from = bind(c.r, 0, ROMEO, 1, 0);
  xsr_session *jul = bind(c.r, 1, J "/balcony", 1, 0);
  const char *in =
      "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
      " xmlns:x='urn:x&amp;y' version='1.0' xml:lang='en'>"
      "<message to='" J "/balcony' from='evil'><x:y x:a='1'/></message>"
      "<message to='" J "/balcony' xml:lang='fr'><body>plain</body></message>";
  xsr_parser *p = xsr_parser_new(NULL, &fwd_cb, &c, NULL);
  cr_assert_not_null(p);
  cr_assert_eq(xsr_parser_feed(p, in, strlen(in)), XSR_OK);
  xsr_parser_free(p);
  cr_assert_eq(c.routed, 2);
  cr_assert_eq(c.tag_attrs[0], 2);
  cr_assert_eq(c.tag_attrs[1], 2);
  static const char *const want[] = {
      "<message from='" ROMEO "' xmlns:x='urn:x&amp;y' xml:lang='en' to='" J
      "/balcony'><x:y x:a='1'/></message>",
      "<message from='" ROMEO "' to='" J "/balcony' xml:lang='fr'><body>plain</body></message>",
  };
  xsr_msg *m[4];
  cr_assert_eq(pop_all(c.r, m, 4), 2);
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(c.res[i].action, XSR_ROUTE_DELIVER);
    xsr_span b = xsr_msg_bytes(m[i]);
    cr_assert(b.len == strlen(want[i]) && !memcmp(b.ptr, want[i], b.len), "%d: %.*s", i, (int)b.len,
              b.ptr);
    reparsed rp;
    assert_reparses(b, NULL, &rp);
    cr_assert_eq(rp.has_lang, 1);
    xsr_msg_release(m[i]);
  }
  /* The same stream against recipients that take 4 attributes, then 3: the
   * first stanza's rewrite has 4 (to, 'from', xmlns:x, xml:lang), the
   * second's 3 (to, xml:lang, 'from'). */
  for (unsigned max = 4; max >= 3; max--) {
    xsr_router_config cfg;
    xsr_router_config_init(&cfg);
    cfg.workers = 2;
    cfg.account_exists = account_exists;
    cfg.max_attrs = max;
    fwd_ctx d;
    memset(&d, 0, sizeof d);
    d.r = xsr_router_new(&cfg, NULL);
    cr_assert_not_null(d.r);
    d.from = bind(d.r, 0, ROMEO, 1, 0);
    xsr_session *j2 = bind(d.r, 1, J "/balcony", 1, 0);
    p = xsr_parser_new(NULL, &fwd_cb, &d, NULL);
    cr_assert_eq(xsr_parser_feed(p, in, strlen(in)), XSR_OK);
    xsr_parser_free(p);
    cr_assert_eq(d.routed, 2);
    cr_assert_eq(d.res[0].action, max == 4 ? XSR_ROUTE_DELIVER : XSR_ROUTE_BOUNCE, "max %u", max);
    if (max == 3)
      cr_assert_str_eq(d.res[0].condition, "policy-violation");
    cr_assert_eq(d.res[1].action, XSR_ROUTE_DELIVER);
    cr_assert_eq(pop_all(d.r, m, 4), 2);
    xsr_msg_release(m[0]);
    xsr_msg_release(m[1]);
    xsr_session_close_owner(j2);
    xsr_session_close_owner(d.from);
    xsr_router_free(d.r);
  }
  xsr_session_close_owner(jul);
  xsr_session_close_owner(c.from);
  xsr_router_free(c.r);
}
