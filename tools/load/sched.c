/* SPDX-License-Identifier: MIT */
/*
 * tools/load/sched.c: xsr-load's traffic, on each loop thread: the stanzas
 * of each pattern, when they are sent (closed loop: at most W in flight
 * per sender; open loop: a fixed schedule, with a timerfd for microsecond
 * timing), and the receiver's checks.
 *
 * Every payload stanza carries its identity in its id attribute,
 *   id='xl.SRC.DST.SEQ.TS.M'
 * (sender index, intended receiver index, the sender's sequence number,
 * the send time, or for the open loop the scheduled send time, in
 * microseconds since the run's start, and M = 1 when it was sent in the
 * measure window), so the receiver verifies it without any shared state:
 * it arrived on DST's socket (else misrouted), SEQ was not seen before
 * (else duplicated) and came after every earlier one (else reordered), and
 * its latency is now - TS.  Reading the id needs no index: the parser
 * reports it with the stanza.
 *
 * Who receives what: ring and bare, client i sends to client (i+1) % K, so
 * every receiver has one sender; ping, an iq to the server answered to
 * the sender; presence, an update broadcast back to the sender's own
 * resource (RFC 6121 4.4.2): that echo is the delivery counted, and copies
 * that reach other clients (roster contacts) are counted as fan-out only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "load.h"

#define XL_OL_BURST       4096 /* open-loop messages sent per timer wake-up at most */
/* Open loop: output queued for one connection that the server has not read
 * yet, at most.  The schedule does not wait for the server, so a server
 * that stops reading would otherwise grow the buffer until memory runs out;
 * past this the connection fails ("the server stopped reading"). */
#define XL_OL_BACKLOG_MAX ((size_t)32 << 20)

static void on_ol_timer(uv_poll_t *h, int status, int events);

int xl_sched_init(xl_thread *t) {
  t->tfd = -1;
  if (t->run->o.rate <= 0 || t->run->o.idle)
    return 0;
  t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (t->tfd < 0)
    return -1;
  if (uv_poll_init(&t->loop, &t->olpoll, t->tfd))
    return -1;
  t->olpoll.data = t;
  t->own_handles++;
  return 0;
}

/* Arms the timerfd for `us` (run time). */
static void ol_arm(xl_thread *t, uint64_t us) {
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  uint64_t ns = t->run->epoch_ns + us * 1000u;
  if (ns == 0)
    ns = 1;
  its.it_value.tv_sec = (time_t)(ns / 1000000000u);
  its.it_value.tv_nsec = (long)(ns % 1000000000u);
  timerfd_settime(t->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Appends one payload stanza from c; ts is its (scheduled) send time. */
static void send_one(xl_client *c, uint64_t ts, int measured) {
  xl_thread *t = c->t;
  const xl_opts *o = &t->run->o;
  const char *peer_jid = t->run->all[c->peer]->jid;
  if (!peer_jid)
    peer_jid = "";
  char *p = xl_client_reserve(c, 1024 + 2 * XL_NAME_MAX + strlen(peer_jid));
  if (!p) {
    xl_client_fail(c, "out of memory");
    return;
  }
  char id[96];
  snprintf(id, sizeof id, "xl.%u.%u.%" PRIu64 ".%" PRIu64 ".%d", c->idx, c->peer, c->seq, ts,
           measured);
  int n = 0;
  switch (o->pattern) {
  case XL_RING:
    n = sprintf(p, "<message type='chat' to='%s' id='%s'><body>xsr-load %s</body></message>",
                peer_jid, id, id);
    break;
  case XL_BARE:
    n = sprintf(p, "<message type='chat' to='%s%u@%s' id='%s'><body>xsr-load %s</body></message>",
                o->prefix, c->peer + 1, o->domain, id, id);
    break;
  case XL_PING:
    n = sprintf(p, "<iq type='get' to='%s' id='%s'><ping xmlns='urn:xmpp:ping'/></iq>", o->domain,
                id);
    break;
  default:
    n = sprintf(p, "<presence id='%s'><status>xsr-load %s</status></presence>", id, id);
    break;
  }
  xl_client_commit(c, (size_t)n);
  c->seq++;
  t->c.sent++;
}

static int can_send(const xl_client *c) {
  return !c->dead && !c->closing && !c->closed_handle && c->jid;
}

void xl_sched_pump(xl_client *c) {
  xl_thread *t = c->t;
  const xl_run *r = t->run;
  if (r->o.rate > 0 || !t->started_sending || t->sending_over || !can_send(c))
    return;
  uint64_t now = xl_now_us(r);
  if (now >= r->t_end) {
    t->sending_over = 1;
    return;
  }
  int measured = now >= r->t_measure;
  uint64_t acked = atomic_load_explicit(&c->acked, memory_order_acquire);
  /* A server that both delivers and bounces a message acknowledges it
   * twice: never let acked pass seq (seq - acked would wrap and stop c). */
  while ((acked < c->seq ? c->seq - acked : 0) < r->o.in_flight && can_send(c))
    send_one(c, now, measured);
}

void xl_sched_remote_acks(xl_thread *t) {
  for (unsigned i = 0; i < t->nremote; i++)
    xl_sched_pump(t->remote_senders[i]);
}

/* Open loop: sends every message due by now (at most a burst), re-arms. */
static void ol_run(xl_thread *t) {
  const xl_run *r = t->run;
  if (t->closing || t->sending_over)
    return;
  uint64_t now = xl_now_us(r);
  unsigned sent = 0;
  for (;;) {
    uint64_t due = r->t_start + (uint64_t)((double)t->ol_next * t->ol_interval);
    if (due >= r->t_end) {
      t->sending_over = 1;
      return;
    }
    if (due > now || sent >= XL_OL_BURST) {
      ol_arm(t, due > now ? due : now);
      return;
    }
    xl_client *c = &t->clients[t->rr];
    if (++t->rr == t->n)
      t->rr = 0;
    t->ol_next++;
    if (!can_send(c))
      continue;
    if (c->outlen > XL_OL_BACKLOG_MAX) {
      xl_client_fail(c, "the server stopped reading: over %zu MiB queued for it (open loop)",
                     XL_OL_BACKLOG_MAX >> 20);
      continue;
    }
    double late = (double)(now - due) / 1e6;
    if (late > t->c.behind_s)
      t->c.behind_s = late;
    send_one(c, due, due >= r->t_measure);
    sent++;
  }
}

static void on_ol_timer(uv_poll_t *h, int status, int events) {
  xl_thread *t = h->data;
  (void)events;
  uint64_t ticks;
  if (status < 0)
    return;
  while (read(t->tfd, &ticks, sizeof ticks) < 0 && errno == EINTR)
    ;
  ol_run(t);
}

static void start_sending(xl_thread *t) {
  xl_run *r = t->run;
  t->started_sending = 1;
  /* Senders whose receiver lives on another thread: woken through wake. */
  for (unsigned i = 0; i < t->n; i++) {
    xl_client *c = &t->clients[i];
    if (r->all[c->peer]->t != t)
      t->remote_senders[t->nremote++] = c;
  }
  if (r->o.rate > 0) {
    double rate_t = r->o.rate * (double)t->n / (double)r->o.clients;
    t->ol_interval = 1e6 / rate_t;
    uv_poll_start(&t->olpoll, UV_READABLE, on_ol_timer);
    ol_arm(t, r->t_start);
    return;
  }
  for (unsigned i = 0; i < t->n; i++)
    xl_sched_pump(&t->clients[i]);
}

void xl_sched_tick(xl_thread *t) {
  const xl_run *r = t->run;
  uint64_t now = xl_now_us(r);
  if (!t->started_sending && t->n > 0 && now >= r->t_start)
    start_sending(t);
  if (!t->sending_over && now >= r->t_end)
    t->sending_over = 1;
  atomic_store_explicit(&t->pub_sent, t->c.sent, memory_order_relaxed);
  /* Answered: delivered, or bounced back (what the drain waits for). */
  atomic_store_explicit(&t->pub_delivered, t->c.delivered + t->c.bounces, memory_order_relaxed);
  atomic_store_explicit(&t->pub_measured, t->c.measured, memory_order_relaxed);
  if (now - t->last_pub_us >= 1000000u) {
    t->last_pub_us = now;
    atomic_store_explicit(&t->pub_p99, xl_hist_percentile(&t->interval, 99.0),
                          memory_order_relaxed);
    xl_hist_reset(&t->interval);
  }
}

/* Parses the next '.'-separated decimal field of the id. */
static int field(const char **p, const char *end, uint64_t *out) {
  const char *s = *p;
  uint64_t v = 0;
  if (s >= end || *s < '0' || *s > '9')
    return -1;
  while (s < end && *s >= '0' && *s <= '9') {
    v = v * 10u + (uint64_t)(*s - '0');
    s++;
  }
  if (s < end) {
    if (*s != '.')
      return -1;
    s++;
  }
  *p = s;
  *out = v;
  return 0;
}

/* Records seq s in a window (c->rx_hi and c->rx_win, or the bounces'
 * bx_*): 0 new in order, 1 new but late (reordered), 2 seen before
 * (duplicated). */
static int win_mark(uint64_t *hi, uint64_t *w, uint64_t s) {
  if (s >= *hi) {
    if (s - *hi >= XL_WINDOW)
      memset(w, 0, XL_WINDOW / 8);
    else
      for (uint64_t u = *hi; u < s; u++)
        w[(u % XL_WINDOW) / 64] &= ~(UINT64_C(1) << (u % 64));
    w[(s % XL_WINDOW) / 64] |= UINT64_C(1) << (s % 64);
    *hi = s + 1;
    return 0;
  }
  if (*hi - s > XL_WINDOW)
    return 1; /* too old to tell: counted as reordered */
  uint64_t bit = UINT64_C(1) << (s % 64);
  if (w[(s % XL_WINDOW) / 64] & bit)
    return 2;
  w[(s % XL_WINDOW) / 64] |= bit;
  return 1;
}

static void ack(xl_client *rcv, xl_client *sender) {
  xl_thread *t = rcv->t;
  atomic_fetch_add_explicit(&sender->acked, 1, memory_order_release);
  if (t->run->o.rate > 0)
    return;
  if (sender->t == t)
    xl_sched_pump(sender);
  else
    xl_thread_wake(t, sender->t->id);
}

void xl_sched_receive(xl_client *c, const xsr_stanza *st) {
  xl_thread *t = c->t;
  xl_run *r = t->run;
  /* The sender saw XL_PH_RUN before sending; this acquire makes the run's
   * times (written before it) visible here too, for TSan as for the CPU. */
  (void)atomic_load_explicit(&r->phase, memory_order_acquire);
  const char *p = st->id.ptr + 3, *end = st->id.ptr + st->id.len;
  uint64_t src, dst, seq, ts, m;
  if (field(&p, end, &src) || field(&p, end, &dst) || field(&p, end, &seq) || field(&p, end, &ts) ||
      field(&p, end, &m) || src >= r->o.clients || dst >= r->o.clients) {
    t->c.errors++;
    xl_thread_errorf(t, "a stanza with a malformed xsr-load id: %.*s", (int)st->id.len, st->id.ptr);
    return;
  }
  xl_client *sender = r->all[src];
  if (st->type.len == 5 && memcmp(st->type.ptr, "error", 5) == 0) {
    /* A bounce goes back to its sender (else it is misrouted, and c may not
     * touch the sender's state: another thread's), for a message it sent,
     * once (a repeated bounce is a duplicate: counting and acknowledging it
     * again would hide losses and widen the closed loop's window). */
    if (sender != c || seq >= c->seq) {
      t->c.misrouted++;
      return;
    }
    if (win_mark(&c->bx_hi, c->bx_win, seq) == 2) {
      t->c.duplicated++;
      return;
    }
    t->c.bounces++;
    ack(c, sender);
    return;
  }
  if (dst != c->idx) {
    if (r->o.pattern == XL_PRESENCE)
      t->c.fanout++;
    else
      t->c.misrouted++;
    return;
  }
  if (sender->peer != c->idx) {
    t->c.misrouted++;
    return;
  }
  int k = win_mark(&c->rx_hi, c->rx_win, seq);
  if (k == 2) {
    t->c.duplicated++;
    return;
  }
  if (k == 1)
    t->c.reordered++;
  t->c.delivered++;
  uint64_t now = xl_now_us(r);
  uint64_t lat = now > ts ? now - ts : 0;
  if (m)
    xl_hist_record(&t->lat, lat);
  xl_hist_record(&t->interval, lat);
  if (now >= r->t_measure && now < r->t_end)
    t->c.measured++;
  ack(c, sender);
}
