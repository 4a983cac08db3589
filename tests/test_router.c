/* Criterion suite for xsr/router.h: every delivery rule as a table of cases,
 * 'from' stamping, shared fan-out buffers, budgets and back-pressure,
 * session lifetime, and allocation counts. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsr/router.h"

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
 * attributes, independent of the parser. */
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
