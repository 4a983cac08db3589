/* SPDX-License-Identifier: MIT */
/*
 * Session queues: one wait-free multi-producer, single-consumer queue per
 * worker (liburcu wfcqueue), shared reference-counted stanza buffers, and
 * per-session byte budgets.
 *
 * Design.  A routed stanza becomes one allocation: an xsr__rbuf header, one
 * xsr_msg queue node per recipient, then the stamped bytes.  Each node is
 * pushed onto its recipient's worker queue with one atomic exchange
 * (cds_wfcq_enqueue); when that exchange finds the queue empty the worker is
 * woken, so a burst costs one wake-up.  The owner pops nodes one by one (the
 * consumer side needs no lock: there is only one consumer), and the last
 * release of a fan-out frees the block.
 *
 * Budgets are reserved before anything is queued, with one fetch-add per
 * recipient, and returned on release, so `queued` counts bytes that are
 * queued, being written or written but not yet released: exactly the memory
 * the recipient pins.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Budgets and the on_room handshake.  A refused sender is promised an
 * on_room call once the recipient has drained to half its budget.  The
 * refusal and the releases race, so the two sides meet Dekker-style with
 * sequentially consistent operations: the refusing producer sets `blocked`
 * and then looks at `queued` again; a release lowers `queued` and then looks
 * at `blocked`.  In the single total order one of them sees the other: the
 * producer finds the room and retries, or the release finds the flag (and
 * the last release, at zero, always passes the half-budget test).  A
 * refused attempt never writes `queued`, so it cannot hide room from a
 * concurrent release or refuse another producer on an empty queue.  The
 * flag is never cleared by a producer (another sender may be waiting on
 * it); a spurious on_room is harmless, a lost one would stall a sender.
 */
int xsr__reserve(xsr_session *s, size_t len) {
  size_t budget = s->router->cfg.session_budget;
  size_t cur = atomic_load_explicit(&s->queued, memory_order_relaxed);
  for (;;) {
    /* An empty queue takes any one stanza: a budget below the largest stanza
     * must not wedge a session for good. */
    if (cur != 0 && (len > budget || cur > budget - len)) {
      atomic_store_explicit(&s->blocked, 1, memory_order_seq_cst);
      cur = atomic_load_explicit(&s->queued, memory_order_seq_cst);
      if (cur != 0 && (len > budget || cur > budget - len))
        return 0;
      continue; /* room appeared meanwhile: try again */
    }
    if (atomic_compare_exchange_weak_explicit(&s->queued, &cur, cur + len, memory_order_relaxed,
                                              memory_order_relaxed))
      return 1;
  }
}

void xsr__unreserve(xsr_session *s, size_t len) {
  size_t before = atomic_fetch_sub_explicit(&s->queued, len, memory_order_seq_cst);
  if (before - len <= s->router->cfg.session_budget / 2 &&
      atomic_load_explicit(&s->blocked, memory_order_seq_cst) &&
      atomic_exchange_explicit(&s->blocked, 0, memory_order_acq_rel)) {
    xsr_router *r = s->router;
    if (r->cfg.on_room)
      r->cfg.on_room(r->cfg.user, s);
  }
}

xsr__rbuf *xsr__rbuf_new(xsr_router *r, size_t len, unsigned n) {
  size_t head = sizeof(xsr__rbuf) + (size_t)n * sizeof(struct xsr_msg);
  xsr__rbuf *b = xsr__alloc(r, head + len);
  if (!b)
    return NULL;
  atomic_init(&b->refs, n);
  b->len = (uint32_t)len;
  b->router = r;
  b->data = (char *)b + head;
  return b;
}

void xsr__deliver(xsr__rbuf *b, xsr_session *const *to, unsigned n) {
  /* Once a node is enqueued its recipient may pop, release and free the
   * whole block: nothing in `b` may be read after the last enqueue. */
  xsr_router *r = b->router;
  for (unsigned i = 0; i < n; i++) {
    struct xsr_msg *m = &b->msgs[i];
    xsr_worker *w = to[i]->worker;
    cds_wfcq_node_init(&m->qnode);
    m->to = to[i];
    m->buf = b;
    XSR__TSAN_RELEASE(m);
    if (!cds_wfcq_enqueue(&w->head, &w->tail, &m->qnode) && r->cfg.wake)
      r->cfg.wake(r->cfg.user, w);
  }
}

/* Tombstone popped: a grace period has passed since the session left the
 * table (no routing thread can hold it) and every message queued for it
 * before has been popped and released.  Kept out of line so that the TSan
 * suppression for this grace-period free names exactly this function. */
__attribute__((noinline)) static void session_free_after_grace(xsr_router *r, xsr_session *s) {
  xsr__free(r, s);
}

size_t xsr_worker_pop_owner(xsr_worker *w, xsr_msg **out, size_t max) {
  size_t n = 0;
  while (n < max) {
    struct cds_wfcq_node *node = __cds_wfcq_dequeue_blocking(&w->head, &w->tail);
    if (!node)
      break;
    struct xsr_msg *m = caa_container_of(node, struct xsr_msg, qnode);
    XSR__TSAN_ACQUIRE(m);
    xsr_session *s = m->to;
    if (!m->buf) {
      session_free_after_grace(w->router, s);
      continue;
    }
    if (s->closed) {
      xsr__msg_drop(m);
      continue;
    }
    out[n++] = m;
  }
  return n;
}

xsr_session *xsr_msg_session(const xsr_msg *m) { return m->to; }

xsr_span xsr_msg_bytes(const xsr_msg *m) {
  xsr_span s = {m->buf->data, m->buf->len};
  return s;
}

static void msg_unref(xsr__rbuf *b) {
  /* The sole owner of a single-recipient buffer skips the atomic RMW. */
  if (atomic_load_explicit(&b->refs, memory_order_acquire) == 1 ||
      atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
    xsr__free(b->router, b);
}

void xsr_msg_release(xsr_msg *m) {
  xsr__rbuf *b = m->buf;
  xsr__unreserve(m->to, b->len);
  msg_unref(b);
}

/* A message for a closed session, dropped unseen: its bytes leave the
 * budget without the on_room call (router.h: none after the close; the
 * caller that closed the session resumes the senders waiting on it). */
void xsr__msg_drop(xsr_msg *m) {
  xsr__rbuf *b = m->buf;
  atomic_fetch_sub_explicit(&m->to->queued, b->len, memory_order_relaxed);
  msg_unref(b);
}

xsr_err xsr_router_send_rcu(xsr_router *r, xsr_session *to, const void *data, size_t len) {
  if (!r || !to || (!data && len) || len > UINT32_MAX)
    return XSR_EINVAL;
  if (!xsr__reserve(to, len))
    return XSR_EQUEUEFULL;
  xsr__rbuf *b = xsr__rbuf_new(r, len, 1);
  if (!b) {
    xsr__unreserve(to, len);
    return XSR_ENOMEM;
  }
  if (len)
    memcpy(b->data, data, len);
  xsr__deliver(b, &to, 1);
  return XSR_OK;
}
