/* SPDX-License-Identifier: MIT */
/* Multi-threaded forwarding test: each thread owns one worker queue, the
 * sessions on it, and senders (each with its own xsr_parser) whose stanzas
 * go to sessions of the other threads.  Budgets are small, so routes are
 * refused: on_stanza returns XSR_RETRY, the sender stops reading, and
 * on_room (which runs on whichever thread released the message that made
 * room) hands the resume back to the sender's own thread through a
 * per-session atomic counter, as the daemon does with uv_async.  Checks that
 * every stanza is delivered exactly once, in per-sender order, meaning what
 * it meant on the sender's stream (fwdcheck.h; read again by xsr), that no
 * refused sender waits forever, and that every allocation comes back.
 * Count-bounded: XSR_FWD_STRESS_STANZAS per sender (default 1500).
 *
 * A plain program, not Criterion, so that it runs under ThreadSanitizer
 * (label "tsan"; see test_router_stress.c). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fwdcheck.h"
#include "xsr/router.h"

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "test_forward_stress: FAIL at %s:%d: %s\n ", __FILE__, __LINE__, #cond);     \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

enum { THREADS = 3, SEND_PER = 2, SINK_PER = 2 };
enum { NSEND = THREADS * SEND_PER, NSINK = THREADS * SINK_PER, HOLD = 8 };

/* ---- allocation count ------------------------------------------------------------- */

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

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t next64(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* ---- the streams ------------------------------------------------------------------- */

typedef struct gst {
  size_t off, len;
  unsigned sink;
  fc_doc doc; /* the sender-side form (expat, in the sender's header) */
} gst;

typedef struct sender {
  unsigned idx;
  char jid[64];
  fc_buf bytes;
  gst *st;
  size_t n;
  fc_doc hdr;
  /* run state: the owner thread's only */
  xsr_parser *p;
  xsr_session *sess;
  size_t pos, next;
  int paused, blocked, done, way;
  unsigned blocked_on;
  long epoch; /* room_epoch[blocked_on] before the refused route */
  double blocked_since;
  uint64_t rnd;
  unsigned long refusals, resumes;
} sender;

static xsr_router *R;
static sender senders[NSEND];
static xsr_session *sinks[NSINK];
static char sink_jid[NSINK][64];
static atomic_long room_epoch[NSINK]; /* bumped by on_room, on the releasing thread */
static atomic_int senders_done;
static long expected[NSEND][NSINK]; /* written before the threads start */
static long got[NSEND][NSINK];      /* written by the sink's owner thread only */
static atomic_long total_rooms;

static void gen(size_t per_sender) {
  uint64_t rnd = 0x51ED5EEDull;
  fc_buf doc = {0}, sb = {0};
  for (unsigned s = 0; s < NSEND; s++) {
    sender *sd = &senders[s];
    sd->idx = s;
    snprintf(sd->jid, sizeof sd->jid, "p%u@s.lit/r", s);
    int foo = s % 2, lang = s % 3 == 0;
    fc_printf(&sd->bytes,
              "<stream:stream xmlns='jabber:client' xmlns:stream="
              "'http://etherx.jabber.org/streams' version='1.0'%s%s>",
              foo ? " xmlns:foo='urn:foo'" : "", lang ? " xml:lang='en'" : "");
    fc_clear(&doc);
    fc_printf(&doc, "%s</stream:stream>", sd->bytes.p);
    CHECK(fc_expat_doc(doc.p, doc.len, &sd->hdr), "%s", fc_str(&sd->hdr.err));
    size_t hdr_len = sd->bytes.len;
    sd->n = per_sender;
    sd->st = calloc(per_sender, sizeof *sd->st);
    CHECK(sd->st != NULL, "out of memory");
    unsigned t = s / SEND_PER;
    for (size_t n = 0; n < per_sender; n++) {
      unsigned sink;
      do
        sink = (unsigned)(next64(&rnd) % NSINK);
      while (sink / SINK_PER == t); /* another thread's session */
      fc_clear(&sb);
      fc_printf(&sb, "<message to='%s' id='%u-%u-%ld' type='chat'>", sink_jid[sink], s, sink,
                expected[s][sink]);
      if (next64(&rnd) % 4 == 0)
        fc_puts(&sb, "<b>&lt;&amp;&gt;</b>");
      fc_puts(&sb, "<body>");
      size_t len = (size_t)(next64(&rnd) % 300);
      for (size_t i = 0; i < len; i++)
        fc_add(&sb, &"abcdefgh "[i % 9], 1);
      fc_puts(&sb, "</body>");
      if (foo && next64(&rnd) % 2)
        fc_puts(&sb, "<foo:x foo:a='1'/>");
      fc_puts(&sb, "</message>");
      gst *g = &sd->st[n];
      g->off = sd->bytes.len;
      g->len = sb.len;
      g->sink = sink;
      fc_add(&sd->bytes, sb.p, sb.len);
      fc_clear(&doc);
      fc_add(&doc, sd->bytes.p, hdr_len);
      fc_printf(&doc, "%s</stream:stream>", sb.p);
      CHECK(fc_expat_doc(doc.p, doc.len, &g->doc), "%s", fc_str(&g->doc.err));
      expected[s][sink]++;
    }
    fc_puts(&sd->bytes, "</stream:stream>");
    sd->rnd = 0x1234567ull + s;
    sd->way = (int)(s % 2);
  }
  fc_free(&doc);
  fc_free(&sb);
}

/* ---- the sender side: the sender's thread ------------------------------------------ */

static int on_stanza(void *user, const xsr_stanza *st) {
  sender *s = user;
  CHECK(s->next < s->n, "sender %u: an extra stanza", s->idx);
  const gst *g = &s->st[s->next];
  CHECK(st->offset == g->off && st->raw.len == g->len &&
            !memcmp(st->raw.ptr, s->bytes.p + g->off, g->len),
        "sender %u: stanza %zu reported at %llu with other bytes", s->idx, s->next,
        (unsigned long long)st->offset);
  /* Read the epoch before routing: an on_room for this refusal can come
   * before route returns, and must not be missed. */
  long epoch = atomic_load_explicit(&room_epoch[g->sink], memory_order_acquire);
  xsr_route_result res;
  memset(&res, 0, sizeof res);
  xsr_err rc = xsr_router_route_rcu(R, s->sess, st, &res);
  if (rc == XSR_EQUEUEFULL) {
    CHECK(res.blocked == sinks[g->sink], "sender %u: blocked on another session", s->idx);
    s->blocked = 1;
    s->blocked_on = g->sink;
    s->epoch = epoch;
    s->blocked_since = now_s();
    s->refusals++;
    return XSR_RETRY;
  }
  CHECK(rc == XSR_OK && res.action == XSR_ROUTE_DELIVER && res.recipients == 1,
        "sender %u stanza %zu: %s, action %d", s->idx, s->next, xsr_err_name(rc), res.action);
  s->next++;
  return 0;
}

static const xsr_parser_callbacks callbacks = {NULL, on_stanza, NULL};

/* on_room: any thread.  Only bumps the session's epoch; the senders waiting
 * on it see the change on their own threads. */
static void on_room(void *user, xsr_session *sess) {
  (void)user;
  uintptr_t u = (uintptr_t)xsr_session_user(sess);
  CHECK(u >= 1 && u <= NSINK, "on_room for a session that refused nothing");
  atomic_fetch_add_explicit(&room_epoch[u - 1], 1, memory_order_release);
  atomic_fetch_add_explicit(&total_rooms, 1, memory_order_relaxed);
}

/* One step of a sender; returns whether it did anything. */
static int step(sender *s) {
  if (s->done)
    return 0;
  if (s->blocked) {
    if (atomic_load_explicit(&room_epoch[s->blocked_on], memory_order_acquire) == s->epoch) {
      CHECK(now_s() - s->blocked_since < 30, "sender %u: no on_room for %s in 30 s", s->idx,
            sink_jid[s->blocked_on]);
      return 0;
    }
    s->blocked = 0;
    s->resumes++;
  }
  xsr_err r;
  if (s->paused) {
    r = xsr_parser_resume(s->p);
  } else {
    size_t n = 1 + (size_t)(next64(&s->rnd) % 256), left = s->bytes.len - s->pos;
    if (n > left)
      n = left;
    if (s->way == 0) {
      r = xsr_parser_feed(s->p, s->bytes.p + s->pos, n);
    } else {
      size_t room = n;
      char *buf = xsr_parser_buffer(s->p, &room);
      CHECK(buf != NULL, "xsr_parser_buffer failed");
      memcpy(buf, s->bytes.p + s->pos, n);
      r = xsr_parser_commit(s->p, n);
    }
    s->pos += n;
  }
  if (r == XSR_PAUSED) {
    CHECK(s->blocked, "sender %u: paused without a refusal", s->idx);
    CHECK(xsr_parser_offset(s->p) == s->st[s->next].off, "sender %u: paused elsewhere", s->idx);
    s->paused = 1;
    return 1;
  }
  CHECK(r == XSR_OK, "sender %u: %s", s->idx, xsr_err_name(r));
  s->paused = 0;
  if (s->pos == s->bytes.len) {
    CHECK(xsr_parser_closed(s->p) && s->next == s->n, "sender %u: %zu of %zu stanzas", s->idx,
          s->next, s->n);
    s->done = 1;
    atomic_fetch_add(&senders_done, 1);
  }
  return 1;
}

/* ---- the recipient side: the sink's owner thread -------------------------------------- */

typedef struct checker {
  fc_buf canon, why;
  fc_top top;
} checker;

static void check_msg(checker *c, xsr_msg *m) {
  uintptr_t u = (uintptr_t)xsr_session_user(xsr_msg_session(m));
  CHECK(u >= 1 && u <= NSINK, "a message for a sender's session");
  unsigned k = (unsigned)u - 1;
  xsr_span b = xsr_msg_bytes(m);
  fc_clear(&c->why);
  CHECK(fc_reparse_xsr(NULL, b.ptr, b.len, &c->canon, &c->top, &c->why), "%s%.*s", fc_str(&c->why),
        (int)b.len, b.ptr);
  unsigned s, kk;
  long seq;
  CHECK(c->top.has_id && sscanf(fc_str(&c->top.id), "%u-%u-%ld", &s, &kk, &seq) == 3 && s < NSEND &&
            kk == k,
        "delivered to %s: id '%s'", sink_jid[k], fc_str(&c->top.id));
  CHECK(seq == got[s][k], "%s to %s: got %ld, expected %ld (lost, duplicated or reordered)",
        senders[s].jid, sink_jid[k], seq, got[s][k]);
  /* The n-th stanza from s to k is found by walking s's list: the order is
   * fixed, so this is the stanza whose form it must have. */
  size_t n = 0;
  for (long i = -1; n < senders[s].n; n++)
    if (senders[s].st[n].sink == k && ++i == seq)
      break;
  const fc_doc *sent = &senders[s].st[n].doc;
  const fc_doc *hdr = &senders[s].hdr;
  CHECK(fc_check_forward(&sent->canon, &sent->top, hdr->stream_has_lang ? hdr->stream_lang.p : NULL,
                         hdr->stream_lang.len, &c->canon, &c->top, senders[s].jid,
                         strlen(senders[s].jid), &c->why),
        "%s to %s: %s", senders[s].jid, sink_jid[k], fc_str(&c->why));
  got[s][k]++;
}

typedef struct thread_ctx {
  unsigned t;
  pthread_t tid;
  long received;
} thread_ctx;

static void *thread_main(void *arg) {
  thread_ctx *tc = arg;
  xsr_router_thread_register();
  xsr_worker *w = xsr_router_worker(R, tc->t);
  long want = 0;
  for (unsigned s = 0; s < NSEND; s++)
    for (unsigned j = 0; j < SINK_PER; j++)
      want += expected[s][tc->t * SINK_PER + j];
  checker c;
  memset(&c, 0, sizeof c);
  xsr_msg *held[HOLD];
  size_t nheld = 0;
  uint64_t rnd = 77 + tc->t;
  double deadline = now_s() + 120;
  for (;;) {
    int progress = 0;
    for (unsigned j = 0; j < SEND_PER; j++)
      progress |= step(&senders[tc->t * SEND_PER + j]);
    /* Writes in flight: what was held last time is released now. */
    for (size_t i = 0; i < nheld; i++)
      xsr_msg_release(held[i]);
    nheld = 0;
    xsr_msg *batch[16];
    size_t n = xsr_worker_pop_owner(w, batch, 1 + (size_t)(next64(&rnd) % 16));
    for (size_t i = 0; i < n; i++) {
      check_msg(&c, batch[i]);
      tc->received++;
      if (nheld < HOLD && next64(&rnd) % 3 == 0)
        held[nheld++] = batch[i];
      else
        xsr_msg_release(batch[i]);
    }
    xsr_router_quiescent();
    if (n == 0 && nheld == 0 && tc->received == want && atomic_load(&senders_done) == NSEND)
      break;
    if (!progress && n == 0)
      sched_yield();
    CHECK(now_s() < deadline, "thread %u: %ld of %ld received after 120 s", tc->t, tc->received,
          want);
  }
  fc_free(&c.canon);
  fc_free(&c.why);
  fc_top_free(&c.top);
  xsr_router_thread_unregister();
  return NULL;
}

int main(void) {
  size_t per_sender = 1500;
  const char *env = getenv("XSR_FWD_STRESS_STANZAS");
  if (env && atoi(env) > 0)
    per_sender = (size_t)atoi(env);
  for (unsigned k = 0; k < NSINK; k++)
    snprintf(sink_jid[k], sizeof sink_jid[k], "k%u@s.lit/r", k);
  gen(per_sender);
  double t0 = now_s();
  long base = atomic_load(&live_allocs);
  xsr_router_config cfg;
  xsr_router_config_init(&cfg);
  cfg.workers = THREADS;
  cfg.session_budget = 700; /* two or three stanzas */
  cfg.on_room = on_room;
  R = xsr_router_new(&cfg, &counting);
  CHECK(R != NULL, "xsr_router_new");
  xsr_router_thread_register();
  for (unsigned k = 0; k < NSINK; k++) {
    CHECK(xsr_session_new(xsr_router_worker(R, k / SINK_PER), sink_jid[k], strlen(sink_jid[k]),
                          (void *)(uintptr_t)(k + 1), &sinks[k]) == XSR_OK,
          "session %s", sink_jid[k]);
    CHECK(xsr_session_bind_rcu(sinks[k]) == XSR_OK, "bind");
    CHECK(xsr_session_set_presence_rcu(sinks[k], 1, 0) == XSR_OK, "presence");
  }
  for (unsigned s = 0; s < NSEND; s++) {
    sender *sd = &senders[s];
    CHECK(xsr_session_new(xsr_router_worker(R, s / SEND_PER), sd->jid, strlen(sd->jid), NULL,
                          &sd->sess) == XSR_OK,
          "session %s", sd->jid);
    CHECK(xsr_session_bind_rcu(sd->sess) == XSR_OK, "bind");
    sd->p = xsr_parser_new(NULL, &callbacks, sd, &counting);
    CHECK(sd->p != NULL, "xsr_parser_new");
  }
  xsr_router_thread_offline();
  thread_ctx tc[THREADS];
  for (unsigned t = 0; t < THREADS; t++) {
    tc[t].t = t;
    tc[t].received = 0;
    pthread_create(&tc[t].tid, NULL, thread_main, &tc[t]);
  }
  long received = 0;
  for (unsigned t = 0; t < THREADS; t++) {
    pthread_join(tc[t].tid, NULL);
    received += tc[t].received;
  }
  xsr_router_thread_online();
  unsigned long refusals = 0, resumes = 0;
  for (unsigned s = 0; s < NSEND; s++) {
    refusals += senders[s].refusals;
    resumes += senders[s].resumes;
    for (unsigned k = 0; k < NSINK; k++)
      CHECK(got[s][k] == expected[s][k], "%s to %s: %ld of %ld delivered", senders[s].jid,
            sink_jid[k], got[s][k], expected[s][k]);
  }
  CHECK(received == (long)(NSEND * per_sender), "%ld of %zu delivered", received,
        NSEND * per_sender);
  xsr_msg *m[4];
  for (unsigned t = 0; t < THREADS; t++)
    CHECK(xsr_worker_pop_owner(xsr_router_worker(R, t), m, 4) == 0, "a message left over");
  CHECK(refusals > 0 && atomic_load(&total_rooms) > 0, "no back-pressure: %lu refusals", refusals);
  for (unsigned k = 0; k < NSINK; k++)
    xsr_session_close_owner(sinks[k]);
  for (unsigned s = 0; s < NSEND; s++) {
    xsr_session_close_owner(senders[s].sess);
    xsr_parser_free(senders[s].p);
  }
  xsr_router_thread_unregister();
  xsr_router_free(R);
  CHECK(atomic_load(&live_allocs) == base, "%ld allocations not returned",
        atomic_load(&live_allocs) - base);
  printf("test_forward_stress: %ld stanzas from %d senders on %d threads in %.2f s: %lu refusals, "
         "%lu resumes after on_room (%ld on_room calls)\n",
         received, NSEND, THREADS, now_s() - t0, refusals, resumes, atomic_load(&total_rooms));
  for (unsigned s = 0; s < NSEND; s++) {
    for (size_t n = 0; n < senders[s].n; n++)
      fc_doc_free(&senders[s].st[n].doc);
    free(senders[s].st);
    fc_free(&senders[s].bytes);
    fc_doc_free(&senders[s].hdr);
  }
  printf("test_forward_stress: PASS\n");
  return 0;
}
