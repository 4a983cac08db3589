/* SPDX-License-Identifier: MIT */
/*
 * xsr-bench suite "router": the router core on its own (no parsing, no I/O).
 *
 * Stanza views are built once up front (the parse is excluded on purpose,
 * so the router's cost is visible); each measurement then routes them,
 * pops them from the worker queues and releases them, which is the whole
 * per-stanza cost a server pays between parser and socket.
 *
 *   full-JID   route + enqueue + dequeue + release, to 1000 bound sessions,
 *              1 thread, and 2 threads each routing to the other's worker
 *   bare fan-out  a bare-JID message to 4 equal-priority resources
 *   lookups    xsr_router_find_rcu() of random bound full JIDs, 1 and 2
 *              threads, while another thread binds and unbinds sessions at
 *              a paced 100,000 operations/s; and the ratio 2T/1T
 *   memory     bytes per bound session (malloc'd bytes, libc and lfht
 *              buckets included, measured with mallinfo2) beyond the JID
 *              strings
 * Each figure is the median of several rounds; spread = (max-min)/median.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "xsr/router.h"

#define ROUNDS_FULL  5
#define ROUNDS_QUICK 3
#define NSESS        1000

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static void summarize(double *v, int n, double *median, double *spread) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  *spread = *median > 0 ? (v[n - 1] - v[0]) / *median : 0;
}

typedef struct corpus {
  char (*raw)[128];
  xsr_stanza *views;
  size_t n;
} corpus;

/* Messages to user<i>@example.com[/res0] for i in 0..n-1, mapped through
 * stride/offset (index i goes to user<stride*i+offset>). */
static void corpus_build(corpus *c, size_t n, int bare, int stride, int offset) {
  c->raw = calloc(n, sizeof *c->raw);
  c->views = calloc(n, sizeof *c->views);
  c->n = n;
  for (size_t i = 0; i < n; i++) {
    char to[64];
    int target = stride * (int)i + offset;
    if (bare)
      snprintf(to, sizeof to, "user%d@example.com", target);
    else
      snprintf(to, sizeof to, "user%d@example.com/res0", target);
    int len =
        snprintf(c->raw[i], sizeof c->raw[i],
                 "<message to='%s' type='chat' id='m%zu'><body>hello</body></message>", to, i);
    xsr_stanza *st = &c->views[i];
    memset(st, 0, sizeof *st);
    st->raw.ptr = c->raw[i];
    st->raw.len = (size_t)len;
    st->name.ptr = c->raw[i] + 1;
    st->name.len = 7;
    st->ns = XSR_NS_CLIENT;
    st->to.ptr = c->raw[i] + 13;
    st->to.len = strlen(to);
    st->type.ptr = strstr(c->raw[i], "chat");
    st->type.len = 4;
    st->id.ptr = strstr(c->raw[i], "'m") + 1;
    st->id.len = (size_t)(strchr(st->id.ptr, '\'') - st->id.ptr);
  }
}

static void corpus_free(corpus *c) {
  free(c->raw);
  free(c->views);
}

static double now_s(void) { return (double)xsr_bench_now_ns() / 1e9; }

/* ---- route + enqueue + dequeue ------------------------------------------- */

typedef struct rt_arg {
  xsr_router *r;
  xsr_session *sender;
  unsigned worker; /* the worker this thread owns and drains */
  const corpus *c;
  size_t count; /* stanzas to route */
  size_t delivered;
  int fail;
  pthread_barrier_t *start;
} rt_arg;

static void *route_loop(void *p) {
  rt_arg *a = p;
  xsr_router_thread_register();
  xsr_worker *w = xsr_router_worker(a->r, a->worker);
  xsr_msg *batch[64];
  size_t i = 0, k = 0;
  if (a->start)
    pthread_barrier_wait(a->start);
  while (i < a->count) {
    for (int j = 0; j < 64 && i < a->count; j++, i++) {
      xsr_route_result res;
      if (xsr_router_route_rcu(a->r, a->sender, &a->c->views[k], &res) != XSR_OK)
        a->fail = 1;
      if (++k == a->c->n)
        k = 0;
    }
    size_t n;
    while ((n = xsr_worker_pop_owner(w, batch, 64)) > 0) {
      for (size_t j = 0; j < n; j++)
        xsr_msg_release(batch[j]);
      a->delivered += n;
    }
    xsr_router_quiescent();
  }
  xsr_router_thread_unregister();
  return NULL;
}

static void *drain_rest(rt_arg *a) {
  xsr_worker *w = xsr_router_worker(a->r, a->worker);
  xsr_msg *batch[64];
  size_t n;
  while ((n = xsr_worker_pop_owner(w, batch, 64)) > 0) {
    for (size_t j = 0; j < n; j++)
      xsr_msg_release(batch[j]);
    a->delivered += n;
  }
  return NULL;
}

/* threads 1: route to sessions on worker 0, drain worker 0.
 * threads 2: thread t routes to sessions on worker 1-t and drains worker t,
 * so every stanza crosses threads. */
static int bench_route(xsr_bench_env *env, int threads, int bare, int quick) {
  xsr_router_config cfg;
  xsr_router_config_init(&cfg);
  cfg.workers = 2;
  xsr_router *r = xsr_router_new(&cfg, NULL);
  if (!r)
    return 1;
  xsr_router_thread_register();
  int per_bare = bare ? 4 : 1;
  xsr_session **sess = calloc((size_t)NSESS * (size_t)per_bare, sizeof *sess);
  xsr_session *senders[2];
  for (int i = 0; i < NSESS; i++) {
    for (int k = 0; k < per_bare; k++) {
      char jid[64];
      snprintf(jid, sizeof jid, "user%d@example.com/res%d", i, k);
      unsigned w = threads == 2 ? (unsigned)(i % 2) : 0;
      xsr_session **s = &sess[i * per_bare + k];
      if (xsr_session_new(xsr_router_worker(r, w), jid, strlen(jid), NULL, s) != XSR_OK ||
          xsr_session_bind_rcu(*s) != XSR_OK || xsr_session_set_presence_rcu(*s, 1, 1) != XSR_OK)
        return 1;
    }
  }
  for (int t = 0; t < 2; t++) {
    char jid[64];
    snprintf(jid, sizeof jid, "sender%d@example.com/s", t);
    xsr_session_new(xsr_router_worker(r, (unsigned)t), jid, strlen(jid), NULL, &senders[t]);
  }
  /* Per thread, a corpus addressed to the other worker's sessions. */
  corpus c[2];
  for (int t = 0; t < threads; t++) {
    if (threads == 2)
      corpus_build(&c[t], NSESS / 2, bare, 2, 1 - t); /* the other worker's */
    else
      corpus_build(&c[t], NSESS, bare, 1, 0);
  }
  xsr_router_thread_offline();
  size_t count = quick ? 200000 : (bare ? 2000000 : 5000000);
  int rounds = quick ? ROUNDS_QUICK : ROUNDS_FULL;
  double v[ROUNDS_FULL], dv[ROUNDS_FULL];
  int fail = 0;
  for (int round = 0; round < rounds; round++) {
    rt_arg a[2];
    pthread_t th[2];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
      a[t] = (rt_arg){r,
                      senders[t],
                      (unsigned)t,
                      &c[t],
                      count / (size_t)threads,
                      0,
                      0,
                      threads > 1 ? &bar : NULL};
    }
    double t0 = now_s();
    for (int t = 0; t < threads; t++)
      pthread_create(&th[t], NULL, route_loop, &a[t]);
    for (int t = 0; t < threads; t++)
      pthread_join(th[t], NULL);
    xsr_router_thread_online();
    for (int t = 0; t < threads; t++)
      drain_rest(&a[t]);
    xsr_router_thread_offline();
    double el = now_s() - t0;
    size_t delivered = 0, routed = 0;
    for (int t = 0; t < threads; t++) {
      delivered += a[t].delivered;
      routed += a[t].count;
      fail |= a[t].fail;
    }
    if (delivered != routed * (size_t)per_bare)
      fail = 1;
    v[round] = (double)routed / el;
    dv[round] = (double)delivered / el;
    pthread_barrier_destroy(&bar);
  }
  double med, spread;
  char scen[96];
  snprintf(scen, sizeof scen, "%s, %d thread%s", bare ? "bare-JID fan-out to 4" : "full-JID",
           threads, threads > 1 ? "s (cross-thread)" : "");
  summarize(v, rounds, &med, &spread);
  xsr_bench_record(env, "router", "xsr", scen, "stanzas/s", med, spread);
  if (bare) {
    summarize(dv, rounds, &med, &spread);
    xsr_bench_record(env, "router", "xsr", scen, "deliveries/s", med, spread);
  }
  xsr_router_thread_online();
  for (int i = 0; i < NSESS * per_bare; i++)
    xsr_session_close_owner(sess[i]);
  for (int t = 0; t < 2; t++)
    xsr_session_close_owner(senders[t]);
  xsr_router_thread_unregister();
  xsr_router_free(r);
  for (int t = 0; t < threads; t++)
    corpus_free(&c[t]);
  free(sess);
  return fail;
}

/* ---- lookups under churn --------------------------------------------------- */

#define NLOOK 10000

typedef struct lk_arg {
  xsr_router *r;
  xsr_jid *jids;
  double seconds;
  atomic_int *go;
  size_t done;
  size_t found;
} lk_arg;

static void *lookup_loop(void *p) {
  lk_arg *a = p;
  xsr_router_thread_register();
  while (!atomic_load(a->go)) {
  }
  unsigned long rnd = (unsigned long)(uintptr_t)a;
  double end = now_s() + a->seconds;
  size_t done = 0, found = 0;
  for (;;) {
    for (int j = 0; j < 1024; j++) {
      rnd = rnd * 6364136223846793005ul + 1442695040888963407ul;
      found += xsr_router_find_rcu(a->r, &a->jids[(rnd >> 33) % NLOOK]) != NULL;
    }
    done += 1024;
    xsr_router_quiescent();
    if (now_s() >= end)
      break;
  }
  a->done = done;
  a->found = found;
  xsr_router_thread_unregister();
  return NULL;
}

typedef struct churn_arg {
  xsr_router *r;
  atomic_int *stop;
  double rate; /* bind+unbind operations per second */
  size_t ops;
} churn_arg;

static void *churn_loop(void *p) {
  churn_arg *a = p;
  xsr_router_thread_register();
  enum { N = 1000 };
  xsr_session *s[N];
  for (int i = 0; i < N; i++) {
    char jid[64];
    snprintf(jid, sizeof jid, "churn%d@example.com/r", i);
    xsr_session_new(xsr_router_worker(a->r, 0), jid, strlen(jid), NULL, &s[i]);
  }
  double t0 = now_s();
  size_t ops = 0;
  int i = 0;
  while (!atomic_load(a->stop)) {
    /* Pace: ops/elapsed never above the rate; sleep in 1 ms slices. */
    double due = t0 + (double)ops / a->rate;
    double t = now_s();
    if (t < due) {
      struct timespec ts = {0, 1000000};
      xsr_router_thread_offline();
      nanosleep(&ts, NULL);
      xsr_router_thread_online();
      continue;
    }
    for (int k = 0; k < 100; k++) {
      xsr_session_bind_rcu(s[i]);
      xsr_session_set_presence_rcu(s[i], 1, 0);
      xsr_session_unbind_rcu(s[i]);
      ops += 2;
      i = (i + 1) % N;
    }
    xsr_router_quiescent();
  }
  a->ops = ops;
  a->rate = (double)ops / (now_s() - t0);
  for (int k = 0; k < N; k++)
    xsr_session_close_owner(s[k]);
  xsr_router_thread_unregister();
  return NULL;
}

static int bench_lookups(xsr_bench_env *env, int quick) {
  xsr_router *r = xsr_router_new(NULL, NULL);
  if (!r)
    return 1;
  xsr_router_thread_register();
  xsr_session **sess = calloc(NLOOK, sizeof *sess);
  xsr_jid *jids = calloc(NLOOK, sizeof *jids);
  for (int i = 0; i < NLOOK; i++) {
    char jid[64];
    snprintf(jid, sizeof jid, "user%d@example.com/res", i);
    if (xsr_session_new(xsr_router_worker(r, 0), jid, strlen(jid), NULL, &sess[i]) != XSR_OK ||
        xsr_session_bind_rcu(sess[i]) != XSR_OK)
      return 1;
    jids[i] = xsr_session_jid(sess[i]);
  }
  xsr_router_thread_offline();
  double seconds = quick ? 0.2 : 1.0;
  int rounds = quick ? ROUNDS_QUICK : ROUNDS_FULL;
  double per[3][ROUNDS_FULL], ratio[ROUNDS_FULL], churn_rate[ROUNDS_FULL];
  int fail = 0;
  for (int round = 0; round < rounds; round++) {
    for (int threads = 1; threads <= 2; threads++) {
      atomic_int go = 0, stop = 0;
      churn_arg ca = {r, &stop, 100000.0, 0};
      pthread_t ct, th[2];
      lk_arg la[2];
      pthread_create(&ct, NULL, churn_loop, &ca);
      for (int t = 0; t < threads; t++) {
        la[t] = (lk_arg){r, jids, seconds, &go, 0, 0};
        pthread_create(&th[t], NULL, lookup_loop, &la[t]);
      }
      double t0 = now_s();
      atomic_store(&go, 1);
      size_t total = 0;
      for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        total += la[t].done;
        if (la[t].found != la[t].done)
          fail = 1;
      }
      double el = now_s() - t0;
      atomic_store(&stop, 1);
      pthread_join(ct, NULL);
      per[threads][round] = (double)total / el;
      if (threads == 2)
        churn_rate[round] = ca.rate;
    }
    ratio[round] = per[2][round] / per[1][round];
  }
  double med, spread;
  summarize(per[1], rounds, &med, &spread);
  xsr_bench_record(env, "router", "xsr", "lookups under 100k/s bind+unbind churn, 1 thread",
                   "lookups/s", med, spread);
  summarize(per[2], rounds, &med, &spread);
  xsr_bench_record(env, "router", "xsr", "lookups under 100k/s bind+unbind churn, 2 threads",
                   "lookups/s", med, spread);
  summarize(ratio, rounds, &med, &spread);
  xsr_bench_record(env, "router", "xsr", "lookups 2 threads / 1 thread", "ratio", med, spread);
  summarize(churn_rate, rounds, &med, &spread);
  xsr_bench_record(env, "router", "xsr", "churn thread achieved", "binds+unbinds/s", med, spread);
  xsr_router_thread_online();
  for (int i = 0; i < NLOOK; i++)
    xsr_session_close_owner(sess[i]);
  xsr_router_thread_unregister();
  xsr_router_free(r);
  free(sess);
  free(jids);
  return fail;
}

/* ---- memory per session ---------------------------------------------------- */

static int bench_memory(xsr_bench_env *env, int quick) {
  int n = quick ? 20000 : 200000;
  xsr_router *r = xsr_router_new(NULL, NULL);
  if (!r)
    return 1;
  xsr_router_thread_register();
  xsr_session **sess = calloc((size_t)n, sizeof *sess);
  /* Let call_rcu threads and the table settle before the baseline. */
  struct mallinfo2 m0 = mallinfo2();
  size_t jid_bytes = 0;
  for (int i = 0; i < n; i++) {
    char jid[64];
    int len = snprintf(jid, sizeof jid, "user%d@example.com/res", i);
    if (xsr_session_new(xsr_router_worker(r, 0), jid, (size_t)len, NULL, &sess[i]) != XSR_OK ||
        xsr_session_bind_rcu(sess[i]) != XSR_OK || xsr_session_set_presence_rcu(sess[i], 1, 0))
      return 1;
    /* JID strings held: the full JID and its escaped from='...' copy in the
     * session, the bare JID key in the table entry. */
    size_t bare = (size_t)len - 4;
    jid_bytes += (size_t)len + (8 + (size_t)len) + bare;
    if ((i & 1023) == 0)
      xsr_router_quiescent();
  }
  /* Reclaim the sets replaced by set_presence before measuring. */
  xsr_router_thread_offline();
  for (int k = 0; k < 3; k++) {
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
  }
  xsr_router_thread_online();
  struct mallinfo2 m1 = mallinfo2();
  double total = ((double)m1.uordblks - (double)m0.uordblks) / n;
  double beyond = total - (double)jid_bytes / n;
  xsr_bench_record(env, "router", "xsr", "bound session, one resource per bare JID, total", "bytes",
                   total, 0);
  xsr_bench_record(env, "router", "xsr", "bound session beyond the JID strings", "bytes", beyond,
                   0);
  for (int i = 0; i < n; i++)
    xsr_session_close_owner(sess[i]);
  xsr_router_thread_unregister();
  xsr_router_free(r);
  free(sess);
  return 0;
}

int xsr_bench_suite_router(xsr_bench_env *env) {
  int quick = xsr_bench_quick(env), fail = 0;
  xsr_bench_progress(env, "router: full-JID, 1 thread");
  fail |= bench_route(env, 1, 0, quick);
  xsr_bench_progress(env, "router: full-JID, 2 threads");
  fail |= bench_route(env, 2, 0, quick);
  xsr_bench_progress(env, "router: bare-JID fan-out, 1 thread");
  fail |= bench_route(env, 1, 1, quick);
  xsr_bench_progress(env, "router: bare-JID fan-out, 2 threads");
  fail |= bench_route(env, 2, 1, quick);
  xsr_bench_progress(env, "router: lookups under churn");
  fail |= bench_lookups(env, quick);
  xsr_bench_progress(env, "router: memory per session");
  fail |= bench_memory(env, quick);
  return fail;
}
