/* SPDX-License-Identifier: MIT */
/*
 * router/internal.h: the router core's private layout, shared by table.c
 * (routing table, sessions), sessq.c (queues, buffers) and rules.c.
 * Never installed.
 */
#ifndef XSR_ROUTER_INTERNAL_H
#define XSR_ROUTER_INTERNAL_H

/* The inline (LGPL) versions of the wfcqueue and RCU primitives make the
 * enqueue a single xchg and rcu_read_lock() nothing at all.  Under
 * ThreadSanitizer the library (uninstrumented) versions are used instead and
 * the hand-offs are annotated (see XSR__TSAN_*), because TSan cannot see
 * liburcu's inline-assembly atomics. */
#if defined(__SANITIZE_THREAD__)
#define XSR__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define XSR__TSAN 1
#endif
#endif
#ifndef XSR__TSAN
#define _LGPL_SOURCE 1
#endif

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>
#include <urcu/wfcqueue.h>

#include "xsr/router.h"

#ifdef XSR__TSAN
#include <sanitizer/tsan_interface.h>
#define XSR__TSAN_RELEASE(p) __tsan_release((void *)(p))
#define XSR__TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#else
#define XSR__TSAN_RELEASE(p) ((void)0)
#define XSR__TSAN_ACQUIRE(p) ((void)0)
#endif

#define XSR__CACHELINE 64

/* One queued delivery: a node in a worker's wait-free queue.  buf == NULL
 * marks a session's tombstone (see xsr_session_close_owner). */
struct xsr_msg {
  struct cds_wfcq_node qnode;
  xsr_session *to;
  struct xsr__rbuf *buf;
};

/* The shared, reference-counted bytes of one routed stanza, followed by one
 * xsr_msg per recipient and then the bytes: one allocation per fan-out. */
typedef struct xsr__rbuf {
  atomic_uint refs;
  uint32_t len;
  xsr_router *router;
  char *data;
  struct xsr_msg msgs[];
} xsr__rbuf;

/* The immutable delivery set of one bare JID, replaced wholesale (RCU) on
 * every change: s[0..n_avail) are the available resources by descending
 * priority, of which the first n_nonneg have priority >= 0 and the first
 * n_top share the highest priority (0 when that is negative);
 * s[n_avail..n) are connected but unavailable. */
typedef struct xsr__resset {
  struct rcu_head rcu;
  xsr_router *router;
  uint32_t n, n_avail, n_nonneg, n_top;
  xsr_session *s[];
} xsr__resset;

/* A table entry: one bare JID. */
typedef struct xsr__bare {
  struct cds_lfht_node node;
  struct rcu_head rcu;
  xsr_router *router;
  _Atomic(xsr__resset *) set;
  atomic_int lock; /* writers only; readers never look at it */
  uint8_t dead;    /* removed from the table; guarded by lock */
  uint16_t key_len;
  char key[]; /* canonical bare JID */
} xsr__bare;

struct xsr_session {
  xsr_router *router;
  xsr_worker *worker;
  void *user;
  atomic_size_t queued;      /* bytes queued or popped but not released */
  atomic_int blocked;        /* a stanza was refused for lack of room */
  int16_t priority;          /* guarded by the bare entry's lock */
  uint8_t available;         /* guarded by the bare entry's lock */
  uint8_t closed;            /* owner thread only */
  _Atomic(xsr__bare *) bare; /* non-NULL while bound */
  /* rcu is used first (the grace period after close), then tomb (queued
   * behind any message still on its way): never both at once. */
  union {
    struct rcu_head rcu;
    struct xsr_msg tomb;
  } end;
  uint16_t local_len, domain_len, resource_len, from_attr_len;
  /* canonical full JID, then " from='<escaped full JID>'" */
  char str[];
};

struct xsr_worker {
  /* Producers touch only the tail; keep it off the consumer's line. */
  struct cds_wfcq_tail tail;
  char pad0[XSR__CACHELINE - sizeof(struct cds_wfcq_tail)];
  struct __cds_wfcq_head head;
  xsr_router *router;
  unsigned index;
  char pad1[XSR__CACHELINE];
};

struct xsr_router {
  xsr_router_config cfg;
  xsr_allocator alloc;
  struct cds_lfht *table;
  uint64_t seed;
  atomic_size_t n_bare, n_sessions;
  xsr_worker *workers; /* cfg.workers of them, cache-line aligned */
  void *workers_mem;
};

void *xsr__alloc(xsr_router *r, size_t n);
void xsr__free(xsr_router *r, void *p);

/* Finds the bare entry for canonical bare JID `key` (hash h). RCU read side. */
xsr__bare *xsr__table_lookup(xsr_router *r, const char *key, size_t len, uint64_t h);

/* Reserves `len` bytes of s's budget; 0 when there is no room (and marks
 * the session blocked). */
int xsr__reserve(xsr_session *s, size_t len);
void xsr__unreserve(xsr_session *s, size_t len);
void xsr__msg_drop(xsr_msg *m); /* closed recipient: budget back, no on_room */

/* Allocates a buffer of `len` bytes with `n` message nodes. */
xsr__rbuf *xsr__rbuf_new(xsr_router *r, size_t len, unsigned n);

/* Queues msgs[0..n) of b to sessions to[0..n) (budgets already reserved). */
void xsr__deliver(xsr__rbuf *b, xsr_session *const *to, unsigned n);

/* Escapes s[0..n) as xsr_writer escapes an attribute value (& < > ' " as
 * &amp; &lt; &gt; &apos; &quot;, TAB LF CR as &#9; &#10; &#13;; at most 6
 * bytes per input byte) into out, or only counts when out is NULL; returns
 * the escaped length.  Validates nothing: the input is a canonical JID or a
 * value the parser decoded, which the writer would accept as is. */
size_t xsr__escape_attr(char *out, const char *s, size_t n);

#endif /* XSR_ROUTER_INTERNAL_H */
