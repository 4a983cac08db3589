/* SPDX-License-Identifier: MIT */
/* Multi-threaded stress test of the router core: producers route while a
 * churn thread binds, unbinds, changes presence and closes sessions of the
 * same bare JIDs, and two worker threads drain.  Checks that nothing routed
 * is lost, duplicated or reordered per source, and that every allocation is
 * returned.  Runs XSR_STRESS_SECONDS seconds (default 2); labelled "tsan".
 *
 * A plain program rather than a Criterion suite: Criterion cannot start
 * under ThreadSanitizer (its inheritable arena fails to map, Criterion issue
 * #274), and this test exists mostly for TSan. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xsr/router.h"

#define CHECK_EQ(a, b, ...) CHECK((a) == (b), __VA_ARGS__)
#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "test_router_stress: FAIL at %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
      fprintf(stderr, " " __VA_ARGS__);                                                            \
      fputc('\n', stderr);                                                                         \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

enum { PRODUCERS = 2, SINKS = 8, CHURN_BARES = 4, CHURN_LIVE = 6 };

static atomic_long live_allocs;
static void *c_malloc(void *u, size_t n) {
  (void)u;
  atomic_fetch_add_explicit(&live_allocs, 1, memory_order_relaxed);
  return malloc(n);
}
static void *c_realloc(void *u, void *p, size_t n) {
  (void)u;
  if (!p)
    atomic_fetch_add_explicit(&live_allocs, 1, memory_order_relaxed);
  return realloc(p, n);
}
static void c_free(void *u, void *p) {
  (void)u;
  if (p)
    atomic_fetch_sub_explicit(&live_allocs, 1, memory_order_relaxed);
  free(p);
}
static const xsr_allocator counting = {c_malloc, c_realloc, c_free, NULL};

static int all_exist(void *user, xsr_span bare) {
  (void)user;
  (void)bare;
  return 1;
}

static xsr_router *R;
static xsr_session *sinks[SINKS];
static atomic_int stop_producing, producers_done, stop_all;
static long sent[PRODUCERS][SINKS];       /* written by producer p only */
static long expect_seq[SINKS][PRODUCERS]; /* written by the sink's worker only */
static atomic_long churn_sent, churn_received, failures, binds;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static xsr_stanza view_of(const char *raw, size_t len, size_t to_off, size_t to_len) {
  xsr_stanza st;
  memset(&st, 0, sizeof st);
  st.raw.ptr = raw;
  st.raw.len = len;
  st.ns = XSR_NS_CLIENT;
  st.name.ptr = raw + 1;
  st.name.len = 7;
  st.to.ptr = raw + to_off;
  st.to.len = to_len;
  st.type.ptr = strstr(raw, "type='") + 6;
  st.type.len = (size_t)(strchr(st.type.ptr, '\'') - st.type.ptr);
  return st;
}

static void *producer(void *arg) {
  int p = (int)(intptr_t)arg;
  xsr_router_thread_register();
  xsr_session *me;
  char jid[64];
  snprintf(jid, sizeof jid, "producer%d@example.com/p", p);
  /* Owned by no worker thread of ours: messages to it are never produced. */
  CHECK_EQ(xsr_session_new(xsr_router_worker(R, 0), jid, strlen(jid), NULL, &me), XSR_OK);
  unsigned long rnd = 12345u + (unsigned)p;
  long iter = 0;
  char raw[160];
  while (!atomic_load_explicit(&stop_producing, memory_order_relaxed)) {
    rnd = rnd * 6364136223846793005ul + 1442695040888963407ul;
    int churn = (rnd >> 60) < 4; /* a quarter of the traffic fans out to churned bares */
    int n, to_off = 13;
    size_t to_len;
    if (churn) {
      int b = (int)((rnd >> 33) % CHURN_BARES);
      n = snprintf(raw, sizeof raw, "<message to='churn%d@example.com' type='headline'/>", b);
      to_len = strlen("churn0@example.com");
    } else {
      int k = (int)((rnd >> 33) % SINKS);
      n = snprintf(raw, sizeof raw,
                   "<message to='sink%d@example.com/r' type='chat' id='%d-%d-%ld'/>", k, p, k,
                   sent[p][k]);
      to_len = strlen("sink0@example.com/r");
      xsr_stanza st = view_of(raw, (size_t)n, (size_t)to_off, to_len);
      xsr_route_result res;
      xsr_err rc;
      while ((rc = xsr_router_route_rcu(R, me, &st, &res)) == XSR_EQUEUEFULL) {
        xsr_router_quiescent(); /* back-pressure: wait, then send the same stanza */
        sched_yield();
      }
      if (rc != XSR_OK || res.action != XSR_ROUTE_DELIVER || res.recipients != 1)
        atomic_fetch_add(&failures, 1);
      else
        sent[p][k]++;
      goto next;
    }
    {
      xsr_stanza st = view_of(raw, (size_t)n, (size_t)to_off, to_len);
      xsr_route_result res;
      xsr_err rc = xsr_router_route_rcu(R, me, &st, &res);
      /* Headlines to a bare JID with no non-negative resource are dropped,
       * never bounced, so the producer's own queue stays empty. */
      if (rc == XSR_OK && res.action == XSR_ROUTE_DELIVER)
        atomic_fetch_add_explicit(&churn_sent, res.recipients, memory_order_relaxed);
      else if ((rc == XSR_OK && res.action != XSR_ROUTE_DROP) ||
               (rc != XSR_OK && rc != XSR_EQUEUEFULL))
        atomic_fetch_add(&failures, 1);
    }
  next:
    if ((++iter & 63) == 0)
      xsr_router_quiescent();
  }
  /* The producer's session is owned by worker 0, whose thread closes it. */
  atomic_fetch_add(&producers_done, 1);
  xsr_router_thread_unregister();
  return me;
}

/* Checks one message for a sink: ids are "<producer>-<sink>-<seq>". */
static void check_sink_msg(xsr_msg *m) {
  xsr_span b = xsr_msg_bytes(m);
  int k = (int)(intptr_t)xsr_session_user(xsr_msg_session(m));
  const char *id = NULL;
  for (size_t i = 0; i + 4 < b.len; i++)
    if (!memcmp(b.ptr + i, " id='", 5))
      id = b.ptr + i + 5;
  int p, kk;
  long seq;
  if (!id || sscanf(id, "%d-%d-%ld", &p, &kk, &seq) != 3 || kk != k || p < 0 || p >= PRODUCERS ||
      seq != expect_seq[k][p]) {
    atomic_fetch_add(&failures, 1);
    return;
  }
  expect_seq[k][p]++;
}

static void *worker_main(void *arg) {
  unsigned w = (unsigned)(intptr_t)arg;
  xsr_router_thread_register();
  xsr_worker *wk = xsr_router_worker(R, w);
  xsr_msg *batch[64];
  for (;;) {
    size_t n = xsr_worker_pop_owner(wk, batch, 64);
    for (size_t i = 0; i < n; i++) {
      check_sink_msg(batch[i]);
      xsr_msg_release(batch[i]);
    }
    xsr_router_quiescent();
    if (n == 0) {
      if (atomic_load(&stop_all))
        break;
      sched_yield();
    }
  }
  xsr_router_thread_unregister();
  return NULL;
}

/* Owns worker 2: creates, binds, re-prioritises, unbinds and closes
 * sessions under CHURN_BARES bare JIDs, and drains what they receive. */
static void *churn_main(void *arg) {
  (void)arg;
  xsr_router_thread_register();
  xsr_worker *wk = xsr_router_worker(R, 2);
  xsr_session *live[CHURN_LIVE] = {0};
  unsigned long rnd = 99;
  long serial = 0;
  xsr_msg *batch[64];
  while (!atomic_load_explicit(&stop_producing, memory_order_relaxed)) {
    rnd = rnd * 6364136223846793005ul + 1442695040888963407ul;
    int slot = (int)((rnd >> 40) % CHURN_LIVE);
    if (!live[slot]) {
      char jid[64];
      snprintf(jid, sizeof jid, "churn%d@example.com/r%ld", (int)((rnd >> 20) % CHURN_BARES),
               serial++);
      if (xsr_session_new(wk, jid, strlen(jid), NULL, &live[slot]) != XSR_OK ||
          xsr_session_bind_rcu(live[slot]) != XSR_OK)
        atomic_fetch_add(&failures, 1);
      atomic_fetch_add_explicit(&binds, 1, memory_order_relaxed);
    } else if ((rnd >> 50) % 3 == 0) {
      xsr_session_set_presence_rcu(live[slot], (rnd >> 30) & 1, (int)((rnd >> 10) % 11) - 5);
    } else {
      /* Drain first: messages popped must be released before close. */
      size_t n;
      while ((n = xsr_worker_pop_owner(wk, batch, 64)) > 0) {
        atomic_fetch_add_explicit(&churn_received, (long)n, memory_order_relaxed);
        for (size_t i = 0; i < n; i++)
          xsr_msg_release(batch[i]);
      }
      xsr_session_close_owner(live[slot]);
      live[slot] = NULL;
    }
    size_t n = xsr_worker_pop_owner(wk, batch, 64);
    atomic_fetch_add_explicit(&churn_received, (long)n, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
      xsr_msg_release(batch[i]);
    xsr_router_quiescent();
  }
  while (atomic_load(&producers_done) < PRODUCERS) {
    size_t n = xsr_worker_pop_owner(wk, batch, 64);
    atomic_fetch_add_explicit(&churn_received, (long)n, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
      xsr_msg_release(batch[i]);
    xsr_router_quiescent();
  }
  size_t n;
  while ((n = xsr_worker_pop_owner(wk, batch, 64)) > 0) {
    atomic_fetch_add_explicit(&churn_received, (long)n, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
      xsr_msg_release(batch[i]);
  }
  for (int i = 0; i < CHURN_LIVE; i++)
    if (live[i])
      xsr_session_close_owner(live[i]);
  xsr_router_thread_unregister();
  return NULL;
}

/* Cross-thread writers on one session: "kick" unbinds and binds again the
 * session that "owner" keeps changing the presence of (a worker kicking
 * another worker's session on a resource conflict), next to a second
 * resource of the same bare JID so that sets are resized both ways. */
enum { KICK_ROUNDS = 20000 };
static xsr_session *kick_s, *kick_other;
static atomic_int kick_done;

static void *kick_owner(void *arg) {
  (void)arg;
  xsr_router_thread_register();
  for (int i = 0; !atomic_load(&kick_done); i++) {
    xsr_err rc = xsr_session_set_presence_rcu(kick_s, 1, i % 7 - 3);
    if (rc != XSR_OK && rc != XSR_EINVAL) /* EINVAL: unbound just now */
      atomic_fetch_add(&failures, 1);
    xsr_router_quiescent();
  }
  xsr_router_thread_unregister();
  return NULL;
}

static void *kick_kicker(void *arg) {
  (void)arg;
  xsr_router_thread_register();
  for (int i = 0; i < KICK_ROUNDS; i++) {
    xsr_session_unbind_rcu(kick_s);
    if (i % 3 == 0) /* a second unbind of the same session is a no-op */
      xsr_session_unbind_rcu(kick_s);
    if (xsr_session_bind_rcu(kick_s) != XSR_OK)
      atomic_fetch_add(&failures, 1);
    xsr_router_quiescent();
  }
  atomic_store(&kick_done, 1);
  xsr_router_thread_unregister();
  return NULL;
}

static void kick_phase(void) {
  static const char a[] = "kick@example.com/a", b[] = "kick@example.com/b";
  CHECK_EQ(xsr_session_new(xsr_router_worker(R, 0), a, sizeof a - 1, NULL, &kick_s), XSR_OK);
  CHECK_EQ(xsr_session_new(xsr_router_worker(R, 1), b, sizeof b - 1, NULL, &kick_other), XSR_OK);
  CHECK_EQ(xsr_session_bind_rcu(kick_other), XSR_OK);
  CHECK_EQ(xsr_session_bind_rcu(kick_s), XSR_OK);
  xsr_router_thread_offline();
  pthread_t t1, t2;
  pthread_create(&t1, NULL, kick_owner, NULL);
  pthread_create(&t2, NULL, kick_kicker, NULL);
  pthread_join(t2, NULL);
  pthread_join(t1, NULL);
  xsr_router_thread_online();
  CHECK_EQ(atomic_load(&failures), 0, "kick: %ld failed calls", atomic_load(&failures));
  /* Both resources are in the table, once each. */
  char buf[XSR_JID_MAX];
  xsr_jid j;
  CHECK_EQ(xsr_jid_parse(a, sizeof a - 1, buf, sizeof buf, &j, NULL), XSR_OK);
  xsr_session *got[4];
  CHECK_EQ(xsr_router_resources_rcu(R, &j, got, 4), 2);
  CHECK((got[0] == kick_s && got[1] == kick_other) || (got[0] == kick_other && got[1] == kick_s));
  CHECK_EQ(xsr_router_find_rcu(R, &j), kick_s);
  xsr_session_close_owner(kick_s);
  xsr_session_close_owner(kick_other);
  CHECK_EQ(xsr_router_resources_rcu(R, &j, got, 4), 0);
  printf("kick: %d unbind/bind rounds against presence changes\n", KICK_ROUNDS);
}

int main(void) {
  double seconds = 2.0;
  const char *env = getenv("XSR_STRESS_SECONDS");
  if (env && atof(env) > 0)
    seconds = atof(env);
  long base = atomic_load(&live_allocs);
  xsr_router_config cfg;
  xsr_router_config_init(&cfg);
  cfg.workers = 3;
  cfg.session_budget = 64 * 1024; /* small enough that back-pressure happens */
  cfg.account_exists = all_exist;
  R = xsr_router_new(&cfg, &counting);
  CHECK(R != NULL);
  xsr_router_thread_register();
  for (int k = 0; k < SINKS; k++) {
    char jid[64];
    snprintf(jid, sizeof jid, "sink%d@example.com/r", k);
    CHECK_EQ(xsr_session_new(xsr_router_worker(R, (unsigned)k % 2), jid, strlen(jid),
                             (void *)(intptr_t)k, &sinks[k]),
             XSR_OK);
    CHECK_EQ(xsr_session_bind_rcu(sinks[k]), XSR_OK);
    CHECK_EQ(xsr_session_set_presence_rcu(sinks[k], 1, 0), XSR_OK);
  }
  xsr_router_thread_offline();
  pthread_t prod[PRODUCERS], work[2], churn;
  for (int w = 0; w < 2; w++)
    pthread_create(&work[w], NULL, worker_main, (void *)(intptr_t)w);
  pthread_create(&churn, NULL, churn_main, NULL);
  for (int p = 0; p < PRODUCERS; p++)
    pthread_create(&prod[p], NULL, producer, (void *)(intptr_t)p);
  double t0 = now_s();
  struct timespec slice = {0, 20 * 1000 * 1000};
  while (now_s() - t0 < seconds)
    nanosleep(&slice, NULL);
  atomic_store(&stop_producing, 1);
  xsr_session *prod_sessions[PRODUCERS];
  for (int p = 0; p < PRODUCERS; p++)
    pthread_join(prod[p], (void **)&prod_sessions[p]);
  pthread_join(churn, NULL);
  /* Let the workers drain everything the producers queued. */
  long total_sent = 0;
  for (int p = 0; p < PRODUCERS; p++)
    for (int k = 0; k < SINKS; k++)
      total_sent += sent[p][k];
  atomic_store(&stop_all, 1);
  for (int w = 0; w < 2; w++)
    pthread_join(work[w], NULL);
  xsr_router_thread_online();
  /* Leftovers (none expected) are drained here, on this thread. */
  xsr_msg *batch[64];
  for (unsigned w = 0; w < 2; w++) {
    size_t n;
    while ((n = xsr_worker_pop_owner(xsr_router_worker(R, w), batch, 64)) > 0)
      for (size_t i = 0; i < n; i++) {
        check_sink_msg(batch[i]);
        xsr_msg_release(batch[i]);
      }
  }
  long total_received = 0;
  for (int k = 0; k < SINKS; k++)
    for (int p = 0; p < PRODUCERS; p++) {
      CHECK_EQ(expect_seq[k][p], sent[p][k], "sink %d producer %d: got %ld of %ld", k, p,
               expect_seq[k][p], sent[p][k]);
      total_received += expect_seq[k][p];
    }
  CHECK_EQ(atomic_load(&failures), 0, "%ld lost, duplicated or reordered", atomic_load(&failures));
  CHECK_EQ(total_received, total_sent);
  /* Fan-out copies queued for a churned session that closed before its
   * worker popped them are dropped by design, so only an upper bound holds;
   * the allocation count below proves they were freed. */
  CHECK(atomic_load(&churn_received) <= atomic_load(&churn_sent),
        "fan-out: received %ld, queued %ld", atomic_load(&churn_received),
        atomic_load(&churn_sent));
  CHECK(atomic_load(&churn_received) > 0);
  CHECK(total_sent > 1000, "only %ld stanzas in %.1f s\n", total_sent, seconds);
  CHECK(atomic_load(&binds) > 100);
  printf("%ld stanzas to sinks, %ld fan-out deliveries, %ld binds in %.1f s\n", total_sent,
         atomic_load(&churn_sent), atomic_load(&binds), seconds);
  kick_phase();
  for (int k = 0; k < SINKS; k++)
    xsr_session_close_owner(sinks[k]);
  for (int p = 0; p < PRODUCERS; p++)
    xsr_session_close_owner(prod_sessions[p]);
  xsr_router_thread_unregister();
  xsr_router_free(R);
  CHECK_EQ(atomic_load(&live_allocs), base, "memory not back to baseline: %ld allocations",
           atomic_load(&live_allocs) - base);
  printf("test_router_stress: PASS\n");
  return 0;
}
