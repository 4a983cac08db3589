/* SPDX-License-Identifier: MIT */
/* Criterion suite for the router under allocation failure: unbinding and
 * closing must always complete without allocating (xsr_session_unbind_rcu
 * has no error return), binds and presence changes report XSR_ENOMEM and
 * leave the table as it was, and nothing leaks once allocations succeed
 * again and the router is freed.  Each test also runs under a Criterion
 * timeout (and ctest's), so a hang fails rather than blocks. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsr/router.h"

/* ---- a failing, counting allocator ---------------------------------------- */

/* Allocations are numbered from 0; from number fail_from on (when >= 0)
 * every one fails.  live counts blocks not yet freed. */
static atomic_long calls, fail_from = -1, live;

static int should_fail(void) {
  long k = atomic_fetch_add(&calls, 1);
  long f = atomic_load(&fail_from);
  return f >= 0 && k >= f;
}
static void *f_malloc(void *u, size_t n) {
  (void)u;
  if (should_fail())
    return NULL;
  void *p = malloc(n);
  if (p)
    atomic_fetch_add(&live, 1);
  return p;
}
static void *f_realloc(void *u, void *p, size_t n) {
  (void)u;
  if (!p)
    return f_malloc(u, n);
  if (should_fail())
    return NULL;
  return realloc(p, n);
}
static void f_free(void *u, void *p) {
  (void)u;
  if (p)
    atomic_fetch_sub(&live, 1);
  free(p);
}
static const xsr_allocator failing = {f_malloc, f_realloc, f_free, NULL};

/* Allocation number `k` from now on fails, and every later one. */
static void fail_after(long k) { atomic_store(&fail_from, atomic_load(&calls) + k); }
static void fail_never(void) { atomic_store(&fail_from, -1); }

static void setup(void) {
  fail_never();
  atomic_store(&live, 0);
  xsr_router_thread_register();
}
static void teardown(void) { xsr_router_thread_unregister(); }

static xsr_router *new_router(void) {
  xsr_router_config cfg;
  xsr_router_config_init(&cfg);
  cfg.workers = 2;
  xsr_router *r = xsr_router_new(&cfg, &failing);
  cr_assert_not_null(r);
  return r;
}

/* A stanza view of a start tag with only 'to' and 'type' (no parser). */
static xsr_stanza view(const char *name, const char *to, const char *type, const char *raw) {
  xsr_stanza st;
  memset(&st, 0, sizeof st);
  st.raw.ptr = raw;
  st.raw.len = strlen(raw);
  st.ns = XSR_NS_CLIENT;
  st.prefix.ptr = raw + 1;
  st.name.ptr = strstr(raw, name);
  st.name.len = strlen(name);
  if (to) {
    st.to.ptr = strstr(raw, to);
    st.to.len = strlen(to);
  }
  if (type) {
    st.type.ptr = strstr(raw, type);
    st.type.len = strlen(type);
  }
  return st;
}

static xsr_jid jid_of(const char *text, char *buf) {
  xsr_jid j;
  cr_assert_eq(xsr_jid_parse(text, strlen(text), buf, XSR_JID_MAX, &j, NULL), XSR_OK);
  return j;
}

static xsr_session *find(xsr_router *r, const char *full) {
  char buf[XSR_JID_MAX];
  xsr_jid j = jid_of(full, buf);
  return xsr_router_find_rcu(r, &j);
}

static size_t resources(xsr_router *r, const char *jid) {
  char buf[XSR_JID_MAX];
  xsr_jid j = jid_of(jid, buf);
  xsr_session *out[16];
  return xsr_router_resources_rcu(r, &j, out, 16);
}

static void release_all(xsr_router *r) {
  xsr_msg *m[16];
  size_t n;
  for (unsigned w = 0; w < 2; w++)
    while ((n = xsr_worker_pop_owner(xsr_router_worker(r, w), m, 16)) > 0)
      for (size_t i = 0; i < n; i++)
        xsr_msg_release(m[i]);
}

/* Routing to an unbound account, per the rules in router.h: presence is
 * dropped (no allocation needed, so also while allocations fail), a chat
 * message to one of its full JIDs bounces service-unavailable to the
 * sender once allocations succeed again. */
static void check_unbound(xsr_router *r, xsr_session *sender, int allocs_ok) {
  xsr_route_result res;
  xsr_stanza p = view("presence", "a@d", NULL, "<presence to='a@d'/>");
  cr_assert_eq(xsr_router_route_rcu(r, sender, &p, &res), XSR_OK);
  cr_assert_eq(res.action, XSR_ROUTE_DROP);
  cr_assert_null(find(r, "a@d/r0"));
  cr_assert_eq(resources(r, "a@d"), 0);
  if (!allocs_ok)
    return;
  xsr_stanza m = view("message", "a@d/r0", "chat", "<message to='a@d/r0' type='chat'/>");
  cr_assert_eq(xsr_router_route_rcu(r, sender, &m, &res), XSR_OK);
  cr_assert_eq(res.action, XSR_ROUTE_BOUNCE);
  cr_assert_str_eq(res.condition, "service-unavailable");
  cr_assert_eq(res.recipients, 1);
  release_all(r);
}

static void free_and_check(xsr_router *r) {
  fail_never();
  release_all(r);
  xsr_router_free(r);
  cr_assert_eq(atomic_load(&live), 0, "%ld blocks leaked", atomic_load(&live));
}

/* ---- every resource of a bare JID closed while every allocation fails ---- */

#define MAXG 7

static void close_all_failing(int g, int order, int close) {
  xsr_router *r = new_router();
  xsr_session *s[MAXG], *other;
  char name[MAXG][32];
  for (int i = 0; i < g; i++) {
    snprintf(name[i], sizeof name[i], "a@d/r%d", i);
    cr_assert_eq(xsr_session_new(xsr_router_worker(r, (unsigned)i & 1u), name[i], strlen(name[i]),
                                 NULL, &s[i]),
                 XSR_OK);
    cr_assert_eq(xsr_session_bind_rcu(s[i]), XSR_OK);
    if (i % 3 != 2)
      cr_assert_eq(xsr_session_set_presence_rcu(s[i], 1, i % 2 ? 5 : -1), XSR_OK);
  }
  cr_assert_eq(xsr_session_new(xsr_router_worker(r, 0), "b@d/x", 5, NULL, &other), XSR_OK);
  cr_assert_eq(xsr_session_bind_rcu(other), XSR_OK);
  cr_assert_eq(xsr_session_set_presence_rcu(other, 1, 0), XSR_OK);

  fail_after(0);
  /* What can fail says so and changes nothing. */
  cr_assert_eq(xsr_session_set_presence_rcu(s[0], 1, 100), XSR_ENOMEM);
  xsr_session *extra;
  cr_assert_eq(xsr_session_new(xsr_router_worker(r, 0), "a@d/z", 5, NULL, &extra), XSR_ENOMEM);
  cr_assert_eq(resources(r, "a@d"), (size_t)g);

  for (int k = 0; k < g; k++) {
    /* order 0: first to last, 1: last to first, 2: from the middle out. */
    int i = order == 0   ? k
            : order == 1 ? g - 1 - k
                         : (g / 2 + (k % 2 ? -(k + 1) / 2 : k / 2) + g) % g;
    cr_assert_eq(find(r, name[i]), s[i]);
    if (close)
      xsr_session_close_owner(s[i]);
    else
      xsr_session_unbind_rcu(s[i]);
    cr_assert_null(find(r, name[i]), "g=%d order=%d k=%d", g, order, k);
    cr_assert_eq(resources(r, "a@d"), (size_t)(g - 1 - k));
    xsr_router_stats st;
    xsr_router_stats_get(r, &st);
    cr_assert_eq(st.sessions, (size_t)(g - k));
    cr_assert_eq(st.bare_jids, k == g - 1 ? 1u : 2u);
  }
  /* The other entry is untouched. */
  cr_assert_eq(find(r, "b@d/x"), other);
  cr_assert_eq(resources(r, "b@d"), 1);
  check_unbound(r, other, 0);
  fail_never();
  check_unbound(r, other, 1);

  if (!close) {
    /* Unbound sessions may be bound again once memory is back. */
    for (int i = 0; i < g; i++)
      cr_assert_eq(xsr_session_bind_rcu(s[i]), XSR_OK);
    cr_assert_eq(resources(r, "a@d"), (size_t)g);
    for (int i = 0; i < g; i++)
      xsr_session_close_owner(s[i]);
  }
  xsr_session_close_owner(other);
  free_and_check(r);
}

Test(router_oom, close_every_resource_while_allocations_fail, .init = setup, .fini = teardown,
     .timeout = 20) {
  for (int g = 1; g <= MAXG; g++)
    for (int order = 0; order < 3; order++)
      close_all_failing(g, order, 1);
}

Test(router_oom, unbind_every_resource_while_allocations_fail, .init = setup, .fini = teardown,
     .timeout = 20) {
  for (int g = 1; g <= MAXG; g++)
    for (int order = 0; order < 3; order++)
      close_all_failing(g, order, 0);
}

/* ---- allocations failing from the n-th on, for every n --------------------- */

#define NS 5
static const char *const jids[NS] = {"a@d/1", "a@d/2", "a@d/3", "b@d/1", "a@d/4"};

static void bound_consistent(xsr_router *r, xsr_session *const *s, const int *bound) {
  size_t na = 0, nb = 0, nbound = 0;
  for (int i = 0; i < NS; i++) {
    if (s[i] && bound[i]) {
      cr_assert_eq(find(r, jids[i]), s[i], "%s", jids[i]);
      nbound++;
      if (jids[i][0] == 'a')
        na++;
      else
        nb++;
    } else {
      cr_assert_null(find(r, jids[i]), "%s", jids[i]);
    }
  }
  cr_assert_eq(resources(r, "a@d"), na);
  cr_assert_eq(resources(r, "b@d"), nb);
  xsr_router_stats st;
  xsr_router_stats_get(r, &st);
  cr_assert_eq(st.sessions, nbound);
  cr_assert_eq(st.bare_jids, (size_t)(na > 0) + (size_t)(nb > 0));
}

static void run_failing_from(long n) {
  xsr_router *r = new_router();
  xsr_session *s[NS] = {0};
  int bound[NS] = {0};
  fail_after(n);
  for (int i = 0; i < NS; i++) {
    xsr_err rc = xsr_session_new(xsr_router_worker(r, (unsigned)i & 1u), jids[i], strlen(jids[i]),
                                 NULL, &s[i]);
    cr_assert(rc == XSR_OK || rc == XSR_ENOMEM);
    if (rc != XSR_OK) {
      cr_assert_null(s[i]);
      continue;
    }
    rc = xsr_session_bind_rcu(s[i]);
    cr_assert(rc == XSR_OK || rc == XSR_ENOMEM, "n=%ld bind %s: %d", n, jids[i], rc);
    bound[i] = rc == XSR_OK;
    rc = xsr_session_set_presence_rcu(s[i], 1, i);
    cr_assert(rc == (bound[i] ? XSR_OK : XSR_EINVAL) || (bound[i] && rc == XSR_ENOMEM));
    bound_consistent(r, s, bound);
  }
  /* Unbind one and bind it again: the bind may fail, the unbind never. */
  if (s[1]) {
    xsr_session_unbind_rcu(s[1]);
    bound[1] = 0;
    bound_consistent(r, s, bound);
    xsr_err rc = xsr_session_bind_rcu(s[1]);
    cr_assert(rc == XSR_OK || rc == XSR_ENOMEM);
    bound[1] = rc == XSR_OK;
    bound_consistent(r, s, bound);
  }
  /* Close in an order that shrinks a@d from the middle. */
  static const int order[NS] = {1, 4, 0, 3, 2};
  for (int k = 0; k < NS; k++) {
    int i = order[k];
    if (!s[i])
      continue;
    xsr_session_close_owner(s[i]);
    s[i] = NULL;
    bound[i] = 0;
    bound_consistent(r, s, bound);
  }
  xsr_session *sender;
  fail_never();
  cr_assert_eq(xsr_session_new(xsr_router_worker(r, 0), "c@d/x", 5, NULL, &sender), XSR_OK);
  check_unbound(r, sender, 1);
  xsr_session_close_owner(sender);
  free_and_check(r);
}

Test(router_oom, fail_from_nth_allocation, .init = setup, .fini = teardown, .timeout = 20) {
  /* The scenario makes about 25 allocations: past that, nothing fails. */
  for (long n = 0; n <= 40; n++)
    run_failing_from(n);
}

/* ---- the removal reserve survives presence changes and rebinds ------------- */

Test(router_oom, reserve_follows_every_change, .init = setup, .fini = teardown, .timeout = 20) {
  xsr_router *r = new_router();
  xsr_session *s[4];
  char name[4][16];
  for (int i = 0; i < 4; i++) {
    snprintf(name[i], sizeof name[i], "a@d/%d", i);
    cr_assert_eq(xsr_session_new(xsr_router_worker(r, 0), name[i], strlen(name[i]), NULL, &s[i]),
                 XSR_OK);
    cr_assert_eq(xsr_session_bind_rcu(s[i]), XSR_OK);
  }
  /* Churn: presence changes, and unbind/rebind in the middle, with
   * quiescent states in between so retired sets are reclaimed. */
  for (int round = 0; round < 50; round++) {
    cr_assert_eq(xsr_session_set_presence_rcu(s[round % 4], round % 2, round % 7 - 3), XSR_OK);
    xsr_session_unbind_rcu(s[(round + 1) % 4]);
    cr_assert_eq(xsr_session_bind_rcu(s[(round + 1) % 4]), XSR_OK);
    xsr_router_quiescent();
  }
  cr_assert_eq(resources(r, "a@d"), 4);
  fail_after(0);
  for (int i = 0; i < 4; i++) {
    xsr_session_unbind_rcu(s[(i * 3) % 4]);
    cr_assert_eq(resources(r, "a@d"), (size_t)(3 - i));
  }
  fail_never();
  for (int i = 0; i < 4; i++)
    xsr_session_close_owner(s[i]);
  free_and_check(r);
}
