/* SPDX-License-Identifier: MIT */
/*
 * The routing table: bare JID -> delivery set, in a cds_lfht read under
 * QSBR RCU; sessions and their lifetime.
 *
 * Design.  Readers (routing threads) do one cds_lfht lookup by the bare JID
 * and load the entry's `set` pointer (an acquire load, a plain mov on x86):
 * no lock, no write to shared memory, no allocation.  Writers (bind, unbind,
 * presence) allocate first, then take the entry's spinlock, fill a new
 * sorted set, publish it with a release store and hand the old one to
 * call_rcu(); unbind never allocates (see "Removal reserve" below).  The
 * entry itself is created with cds_lfht_add_unique() and removed with
 * cds_lfht_del() when its last session leaves; a writer that finds an entry
 * marked dead after taking the lock lost that race and retries from the
 * lookup.
 *
 * Reclamation.  Old sets, dead entries and closed sessions are freed by
 * call_rcu() callbacks after a QSBR grace period, i.e. once every registered
 * thread has passed a quiescent state and so can no longer hold a pointer
 * found before the change.  A closed session additionally has to wait for
 * messages already in its worker's queue: its callback enqueues the session
 * itself as a tombstone behind them (every push that could still name the
 * session happened inside a read-side section that the grace period has
 * seen end, so it is already linked in the queue), and the owner frees it
 * when it pops the tombstone.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"

/* ---- memory ------------------------------------------------------------ */

void *xsr__alloc(xsr_router *r, size_t n) {
  return r->alloc.malloc ? r->alloc.malloc(r->alloc.user, n) : malloc(n);
}

void xsr__free(xsr_router *r, void *p) {
  if (!p)
    return;
  if (r->alloc.free)
    r->alloc.free(r->alloc.user, p);
  else
    free(p);
}

static xsr__resset *reserve_next(const xsr__resset *s);

/* ---- RCU thread state --------------------------------------------------- */

void xsr_router_thread_register(void) { rcu_register_thread(); }
void xsr_router_thread_unregister(void) { rcu_unregister_thread(); }
void xsr_router_quiescent(void) { rcu_quiescent_state(); }
void xsr_router_thread_offline(void) { rcu_thread_offline(); }
void xsr_router_thread_online(void) { rcu_thread_online(); }

/* ---- router ------------------------------------------------------------- */

void xsr_router_config_init(xsr_router_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->workers = 1;
  cfg->session_budget = XSR_DEFAULT_SESSION_BUDGET;
  cfg->initial_buckets = 1024;
  cfg->max_stanza = XSR_DEFAULT_MAX_STANZA;
  cfg->max_attrs = XSR_DEFAULT_MAX_ATTRS;
  cfg->max_ns_decls = XSR_DEFAULT_MAX_NS_DECLS;
}

/* v - a - b, or 1 when that is below 1. */
static size_t less_floor1(size_t v, size_t a, size_t b) {
  if (v <= a || v - a <= b)
    return 1;
  return v - a - b;
}

void xsr_router_sender_limits(const xsr_router_config *rcfg, size_t header_room,
                              unsigned header_decls, xsr_parser_config *pcfg) {
  /* The 'from' may be one attribute the client did not send, xml:lang
   * another: hence 2 (see LIMITS in router.h). */
  pcfg->max_stanza = less_floor1(rcfg->max_stanza, XSR_ROUTER_FROM_ROOM, header_room);
  pcfg->max_attrs = (unsigned)less_floor1(rcfg->max_attrs, 2, header_decls);
  pcfg->max_ns_decls = (unsigned)less_floor1(rcfg->max_ns_decls, 0, header_decls);
}

xsr_router *xsr_router_new(const xsr_router_config *cfg, const xsr_allocator *alloc) {
  xsr_router_config c;
  if (cfg)
    c = *cfg;
  else
    xsr_router_config_init(&c);
  if (c.workers == 0 || c.workers > XSR_MAX_WORKERS || c.session_budget == 0 ||
      c.session_budget > UINT32_MAX)
    return NULL;
  /* The ranges xsr_parser_new() accepts: a recipient must be able to read
   * with the same limits. */
  if (c.max_stanza == 0 || c.max_stanza > XSR_MAX_STANZA_LIMIT || c.max_attrs == 0 ||
      c.max_attrs > 0xFFFFu || c.max_ns_decls == 0)
    return NULL;
  if (c.initial_buckets == 0)
    c.initial_buckets = 1024;
  if (c.initial_buckets & (c.initial_buckets - 1))
    return NULL;
  xsr_allocator a = {0};
  if (alloc)
    a = *alloc;
  xsr_router *r = a.malloc ? a.malloc(a.user, sizeof *r) : malloc(sizeof *r);
  if (!r)
    return NULL;
  memset(r, 0, sizeof *r);
  r->cfg = c;
  r->alloc = a;
  if (getrandom(&r->seed, sizeof r->seed, GRND_NONBLOCK) != (ssize_t)sizeof r->seed)
    r->seed = (uint64_t)(uintptr_t)r * 0x9E3779B97F4A7C15ull;
  r->workers_mem = xsr__alloc(r, (size_t)c.workers * sizeof(xsr_worker) + XSR__CACHELINE);
  if (!r->workers_mem)
    goto fail;
  r->workers = (xsr_worker *)(((uintptr_t)r->workers_mem + XSR__CACHELINE - 1) &
                              ~(uintptr_t)(XSR__CACHELINE - 1));
  for (unsigned i = 0; i < c.workers; i++) {
    xsr_worker *w = &r->workers[i];
    memset(w, 0, sizeof *w);
    __cds_wfcq_init(&w->head, &w->tail);
    w->router = r;
    w->index = i;
  }
  r->table = cds_lfht_new(c.initial_buckets, c.initial_buckets, 0,
                          CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
  if (!r->table)
    goto fail;
  return r;
fail:
  xsr__free(r, r->workers_mem);
  xsr__free(r, r);
  return NULL;
}

static void drain_all(xsr_router *r) {
  for (unsigned i = 0; i < r->cfg.workers; i++) {
    xsr_worker *w = &r->workers[i];
    struct cds_wfcq_node *n;
    while ((n = __cds_wfcq_dequeue_blocking(&w->head, &w->tail)) != NULL) {
      struct xsr_msg *m = caa_container_of(n, struct xsr_msg, qnode);
      XSR__TSAN_ACQUIRE(m);
      if (m->buf)
        xsr__msg_drop(m);
      else
        xsr__free(r, m->to);
    }
  }
}

void xsr_router_free(xsr_router *r) {
  if (!r)
    return;
  /* rcu_barrier() and cds_lfht_destroy() wait for grace periods, which an
   * online registered caller would itself hold up: go offline meanwhile. */
  int online = rcu_read_ongoing();
  if (online)
    rcu_thread_offline();
  rcu_barrier(); /* every pending call_rcu callback (tombstones included) */
  drain_all(r);
  /* Entries left by sessions never closed.  No other thread uses the router
   * any more, so the read-side rules are moot here. */
  struct cds_lfht_iter it;
  struct cds_lfht_node *node;
  cds_lfht_for_each(r->table, &it, node) {
    xsr__bare *b = caa_container_of(node, xsr__bare, node);
    cds_lfht_del(r->table, node);
    xsr__resset *set = atomic_load(&b->set);
    while (set) {
      xsr__resset *next = reserve_next(set);
      xsr__free(r, set);
      set = next;
    }
    xsr__free(r, b);
  }
  cds_lfht_destroy(r->table, NULL);
  rcu_barrier();
  if (online)
    rcu_thread_online();
  xsr__free(r, r->workers_mem);
  xsr_allocator a = r->alloc;
  if (a.free)
    a.free(a.user, r);
  else
    free(r);
}

xsr_worker *xsr_router_worker(xsr_router *r, unsigned i) {
  return r && i < r->cfg.workers ? &r->workers[i] : NULL;
}

unsigned xsr_worker_index(const xsr_worker *w) { return w->index; }

void xsr_router_stats_get(xsr_router *r, xsr_router_stats *st) {
  st->bare_jids = atomic_load_explicit(&r->n_bare, memory_order_relaxed);
  st->sessions = atomic_load_explicit(&r->n_sessions, memory_order_relaxed);
}

/* ---- table -------------------------------------------------------------- */

typedef struct key_ref {
  const char *ptr;
  size_t len;
} key_ref;

static int bare_match(struct cds_lfht_node *node, const void *key) {
  const xsr__bare *b = caa_container_of(node, xsr__bare, node);
  const key_ref *k = key;
  /* Pairs with the release before cds_lfht_add_unique(): the library's own
   * publication is invisible to TSan. */
  XSR__TSAN_ACQUIRE(b);
  return b->key_len == k->len && memcmp(b->key, k->ptr, k->len) == 0;
}

xsr__bare *xsr__table_lookup(xsr_router *r, const char *key, size_t len, uint64_t h) {
  struct cds_lfht_iter it;
  key_ref k = {key, len};
  cds_lfht_lookup(r->table, (unsigned long)h, bare_match, &k, &it);
  struct cds_lfht_node *n = cds_lfht_iter_get_node(&it);
  return n ? caa_container_of(n, xsr__bare, node) : NULL;
}

static void lock_bare(xsr__bare *b) {
  while (atomic_exchange_explicit(&b->lock, 1, memory_order_acquire)) {
    while (atomic_load_explicit(&b->lock, memory_order_relaxed))
      caa_cpu_relax();
  }
}

static void unlock_bare(xsr__bare *b) { atomic_store_explicit(&b->lock, 0, memory_order_release); }

/* call_rcu() hands objects to its thread through liburcu's own queue,
 * which TSan cannot see: XSR__TSAN_RELEASE before call_rcu and ACQUIRE in
 * the callback restore that edge.  (The grace period itself, the edge from
 * every reader to the free, is covered by tests/tsan-urcu.supp.) */
static void rcu_later(struct rcu_head *h, void (*cb)(struct rcu_head *)) {
  XSR__TSAN_RELEASE(h);
  call_rcu(h, cb);
}

static void free_set_cb(struct rcu_head *h) {
  XSR__TSAN_ACQUIRE(h);
  xsr__resset *s = caa_container_of(h, xsr__resset, rcu);
  xsr__free(s->router, s);
}

static void free_bare_cb(struct rcu_head *h) {
  XSR__TSAN_ACQUIRE(h);
  xsr__bare *b = caa_container_of(h, xsr__bare, rcu);
  xsr__free(b->router, b);
}

/* ---- delivery sets and their removal reserve ---------------------------- */

/* Removal reserve.  Unbinding has no error return, so it must never need an
 * allocation: every entry keeps, for its n resources, n - 1 unpublished sets
 * of capacities n - 1, n - 2, ..., 1, and an unbind from n to n - 1
 * resources fills the largest of them.  One reserve set is not enough: a
 * thread may unbind every resource of an entry before a grace period ends,
 * and each intermediate set may still be read, so all n - 1 of them must be
 * distinct memory.  Binds (and presence changes) allocate before taking the
 * lock and report XSR_ENOMEM; a bind from n to n + 1 adds one set of
 * capacity n to the reserve.  An entry with one resource has no reserve.
 *
 * The reserve is a list linked through the sets' rcu heads, which are unused
 * until a set is retired and never read by readers: the published set's
 * rcu.next links to the reserve set of capacity n - 1, which links to the
 * one of capacity n - 2, and so on.  Filling the head of the list therefore
 * leaves the new published set linked to the rest.  All of it is writer
 * state, guarded by the entry's lock. */

static xsr__resset *reserve_next(const xsr__resset *s) {
  struct cds_wfcq_node *n = s->rcu.next.next;
  return n ? caa_container_of(n, xsr__resset, rcu.next) : NULL;
}

static void reserve_link(xsr__resset *s, xsr__resset *next) {
  s->rcu.next.next = next ? &next->rcu.next : NULL;
}

/* An unpublished set with room for `cap` sessions (cap >= 1), or NULL. */
static xsr__resset *set_alloc(xsr_router *r, uint32_t cap) {
  xsr__resset *s = xsr__alloc(r, sizeof *s + (size_t)cap * sizeof(xsr_session *));
  if (!s)
    return NULL;
  s->router = r;
  s->n = 0;
  reserve_link(s, NULL);
  return s;
}

/* Sorted insertion order: available before unavailable, then priority
 * descending; ties keep their previous order (stable), so the resource that
 * came first stays first among equals. */
static int ranks_before(const xsr_session *a, const xsr_session *b) {
  if (a->available != b->available)
    return a->available > b->available;
  return a->available && a->priority > b->priority;
}

/* Fills the unpublished set `s` with `old` (may be NULL) minus `drop` (may
 * be NULL) plus `add` (may be NULL; re-sorted when already in old, its rank
 * having changed).  The caller has checked that the result fits s.  Does not
 * touch s's reserve link. */
static void fill_set(xsr__resset *s, const xsr__resset *old, const xsr_session *drop,
                     xsr_session *add) {
  uint32_t n_old = old ? old->n : 0;
  uint32_t n = 0;
  for (uint32_t i = 0; i < n_old; i++)
    if (old->s[i] != drop && old->s[i] != add)
      s->s[n++] = old->s[i];
  if (add)
    s->s[n++] = add;
  /* Insertion sort: sets are a handful of resources. */
  for (uint32_t i = 1; i < n; i++) {
    xsr_session *x = s->s[i];
    uint32_t j = i;
    while (j > 0 && ranks_before(x, s->s[j - 1])) {
      s->s[j] = s->s[j - 1];
      j--;
    }
    s->s[j] = x;
  }
  s->n = n;
  s->n_avail = s->n_nonneg = s->n_top = 0;
  while (s->n_avail < n && s->s[s->n_avail]->available)
    s->n_avail++;
  while (s->n_nonneg < s->n_avail && s->s[s->n_nonneg]->priority >= 0)
    s->n_nonneg++;
  if (s->n_nonneg > 0) {
    int top = s->s[0]->priority;
    while (s->n_top < s->n_nonneg && s->s[s->n_top]->priority == top)
      s->n_top++;
  }
}

/* Publishes s (whose reserve link the caller has set) and retires the
 * previous set, whose reserve has been handed over to s or used. */
static void publish_set(xsr__bare *b, xsr__resset *s) {
  xsr__resset *old = atomic_load_explicit(&b->set, memory_order_relaxed);
  XSR__TSAN_RELEASE(s);
  atomic_store_explicit(&b->set, s, memory_order_release);
  if (old)
    rcu_later(&old->rcu, free_set_cb);
}

/* The published set of an entry as a routing thread sees it: to size the
 * allocations made before taking the lock.  RCU read side. */
static uint32_t peek_n(xsr__bare *b) {
  xsr__resset *cur = atomic_load_explicit(&b->set, memory_order_acquire);
  if (!cur)
    return 0;
  XSR__TSAN_ACQUIRE(cur);
  return cur->n;
}

static xsr_span session_bare(const xsr_session *s) {
  xsr_span sp = {s->str,
                 s->local_len ? (size_t)s->local_len + 1u + s->domain_len : (size_t)s->domain_len};
  return sp;
}

static int same_resource(const xsr_session *a, const xsr_session *b) {
  return a->resource_len == b->resource_len &&
         memcmp(a->str + a->local_len + (a->local_len ? 1 : 0) + a->domain_len + 1,
                b->str + b->local_len + (b->local_len ? 1 : 0) + b->domain_len + 1,
                a->resource_len) == 0;
}

/* Binds s into a new entry for its bare JID: 1 done, 0 out of memory, -1
 * another thread created the entry first (look it up again). */
static int bind_new_entry(xsr_session *s, xsr_span key, uint64_t h) {
  xsr_router *r = s->router;
  xsr__bare *nb = xsr__alloc(r, sizeof *nb + key.len);
  if (!nb)
    return 0;
  xsr__resset *set = set_alloc(r, 1);
  if (!set) {
    xsr__free(r, nb);
    return 0;
  }
  memset(nb, 0, sizeof *nb);
  nb->router = r;
  nb->key_len = (uint16_t)key.len;
  memcpy(nb->key, key.ptr, key.len);
  s->available = 0;
  fill_set(set, NULL, NULL, s);
  XSR__TSAN_RELEASE(set);
  atomic_store_explicit(&nb->set, set, memory_order_relaxed);
  cds_lfht_node_init(&nb->node);
  /* s->bare changes only under its entry's lock, which other writers take
   * once they find the entry (see xsr_session_unbind_rcu). */
  lock_bare(nb);
  XSR__TSAN_RELEASE(nb);
  key_ref k = {key.ptr, key.len};
  struct cds_lfht_node *got =
      cds_lfht_add_unique(r->table, (unsigned long)h, bare_match, &k, &nb->node);
  if (got == &nb->node) {
    atomic_store_explicit(&s->bare, nb, memory_order_relaxed);
    unlock_bare(nb);
    atomic_fetch_add_explicit(&r->n_bare, 1, memory_order_relaxed);
    return 1;
  }
  /* Another thread created the entry first: never published, free now. */
  xsr__free(r, set);
  xsr__free(r, nb);
  return -1;
}

xsr_err xsr_session_bind_rcu(xsr_session *s) {
  xsr_router *r = s->router;
  if (atomic_load_explicit(&s->bare, memory_order_relaxed))
    return XSR_EINVAL;
  xsr_span key = session_bare(s);
  uint64_t h = xsr_jid_hash(key, r->seed);
  xsr_err rc = XSR_ENOMEM;
  rcu_read_lock();
  for (;;) {
    xsr__bare *b = xsr__table_lookup(r, key.ptr, key.len, h);
    if (!b) {
      int got = bind_new_entry(s, key, h);
      if (got < 0)
        continue;
      rc = got ? XSR_OK : XSR_ENOMEM;
      break;
    }
    /* Allocate before locking: the new set (n + 1) and the reserve set
     * that a later unbind back to n resources will fill. */
    uint32_t n = peek_n(b);
    if (n == 0) {
      /* A dead entry (its last resource left): it is already out of the
       * table, so the next lookup no longer finds it. */
      continue;
    }
    if (n == UINT32_MAX)
      break;
    xsr__resset *set = set_alloc(r, n + 1);
    xsr__resset *spare = set ? set_alloc(r, n) : NULL;
    if (!spare) {
      xsr__free(r, set);
      rc = XSR_ENOMEM;
      break;
    }
    lock_bare(b);
    xsr__resset *old = atomic_load_explicit(&b->set, memory_order_relaxed);
    if (b->dead || old->n != n) {
      /* Lost a race with another writer: size again. */
      unlock_bare(b);
      xsr__free(r, spare);
      xsr__free(r, set);
      continue;
    }
    for (uint32_t i = 0; i < old->n; i++) {
      if (same_resource(old->s[i], s)) {
        unlock_bare(b);
        xsr__free(r, spare);
        xsr__free(r, set);
        rcu_read_unlock();
        return XSR_EEXIST;
      }
    }
    s->available = 0;
    fill_set(set, old, NULL, s);
    reserve_link(spare, reserve_next(old));
    reserve_link(set, spare);
    atomic_store_explicit(&s->bare, b, memory_order_relaxed);
    publish_set(b, set);
    unlock_bare(b);
    rc = XSR_OK;
    break;
  }
  rcu_read_unlock();
  if (rc == XSR_OK)
    atomic_fetch_add_explicit(&r->n_sessions, 1, memory_order_relaxed);
  return rc;
}

xsr_err xsr_session_set_presence_rcu(xsr_session *s, int available, int priority) {
  if (priority < XSR_PRIORITY_MIN)
    priority = XSR_PRIORITY_MIN;
  if (priority > XSR_PRIORITY_MAX)
    priority = XSR_PRIORITY_MAX;
  xsr_router *r = s->router;
  rcu_read_lock();
  for (;;) {
    /* Another thread may unbind s (or unbind and bind it again) meanwhile:
     * b is only a guess until the lock confirms that s is still in it.  b's
     * memory stays valid within this read-side section even if it dies. */
    xsr__bare *b = atomic_load_explicit(&s->bare, memory_order_acquire);
    if (!b) {
      rcu_read_unlock();
      return XSR_EINVAL;
    }
    uint32_t n = peek_n(b);
    xsr__resset *set = n ? set_alloc(r, n) : NULL;
    if (n && !set) {
      rcu_read_unlock();
      return XSR_ENOMEM;
    }
    lock_bare(b);
    xsr__resset *old = atomic_load_explicit(&b->set, memory_order_relaxed);
    if (atomic_load_explicit(&s->bare, memory_order_relaxed) != b || !old || old->n != n) {
      /* Unbound, moved, or lost a race with another writer: look again. */
      unlock_bare(b);
      xsr__free(r, set);
      continue;
    }
    s->available = available ? 1 : 0;
    s->priority = (int16_t)priority;
    fill_set(set, old, NULL, s);
    reserve_link(set, reserve_next(old));
    publish_set(b, set);
    unlock_bare(b);
    rcu_read_unlock();
    return XSR_OK;
  }
}

void xsr_session_unbind_rcu(xsr_session *s) {
  xsr_router *r = s->router;
  rcu_read_lock();
  xsr__bare *b;
  for (;;) {
    b = atomic_load_explicit(&s->bare, memory_order_acquire);
    if (!b) {
      rcu_read_unlock();
      return;
    }
    lock_bare(b);
    /* Another thread may have unbound s first (and perhaps bound it again
     * elsewhere): s->bare changes only under the lock of its entry. */
    if (atomic_load_explicit(&s->bare, memory_order_relaxed) == b)
      break;
    unlock_bare(b);
  }
  /* No allocation from here on (see "Removal reserve"). */
  xsr__resset *old = atomic_load_explicit(&b->set, memory_order_relaxed);
  if (old->n <= 1) {
    /* s is the last resource: the entry goes, with no new set. */
    b->dead = 1;
    cds_lfht_del(r->table, &b->node);
    atomic_store_explicit(&b->set, NULL, memory_order_release);
    rcu_later(&old->rcu, free_set_cb);
    rcu_later(&b->rcu, free_bare_cb);
    atomic_fetch_sub_explicit(&r->n_bare, 1, memory_order_relaxed);
  } else {
    /* The reserve's head has room for old->n - 1 and links to the rest. */
    xsr__resset *set = reserve_next(old);
    fill_set(set, old, s, NULL);
    publish_set(b, set);
  }
  atomic_store_explicit(&s->bare, NULL, memory_order_relaxed);
  s->available = 0;
  unlock_bare(b);
  rcu_read_unlock();
  atomic_fetch_sub_explicit(&r->n_sessions, 1, memory_order_relaxed);
}

/* ---- sessions ----------------------------------------------------------- */

size_t xsr__escape_attr(char *out, const char *s, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    const char *rep;
    size_t rl;
    switch (s[i]) {
    case '&':
      rep = "&amp;", rl = 5;
      break;
    case '<':
      rep = "&lt;", rl = 4;
      break;
    case '>':
      rep = "&gt;", rl = 4;
      break;
    case '\'':
      rep = "&apos;", rl = 6;
      break;
    case '"':
      rep = "&quot;", rl = 6;
      break;
    case '\t':
      rep = "&#9;", rl = 4;
      break;
    case '\n':
      rep = "&#10;", rl = 5;
      break;
    case '\r':
      rep = "&#13;", rl = 5;
      break;
    default:
      if (out)
        out[o] = s[i];
      o++;
      continue;
    }
    if (out)
      memcpy(out + o, rep, rl);
    o += rl;
  }
  return o;
}

xsr_err xsr_session_new(xsr_worker *w, const char *jid, size_t len, void *user, xsr_session **out) {
  if (!w || !out)
    return XSR_EINVAL;
  *out = NULL;
  char buf[XSR_JID_MAX];
  xsr_jid j;
  xsr_err rc = xsr_jid_parse(jid, len, buf, sizeof buf, &j, NULL);
  if (rc != XSR_OK)
    return rc;
  if (!j.resource.ptr || !j.local.ptr)
    return XSR_EINVAL; /* a domain's resources are the server's (router.h) */
  xsr_span full = xsr_jid_full(&j);
  size_t esc = xsr__escape_attr(NULL, full.ptr, full.len);
  size_t attr_len = 7 + esc + 1; /* " from='" ... "'": XSR_ROUTER_FROM_ROOM at most */
  if (attr_len > UINT16_MAX)
    return XSR_EJIDLONG;
  xsr_router *r = w->router;
  xsr_session *s = xsr__alloc(r, sizeof *s + full.len + attr_len);
  if (!s)
    return XSR_ENOMEM;
  memset(s, 0, sizeof *s);
  s->router = r;
  s->worker = w;
  s->user = user;
  s->local_len = (uint16_t)j.local.len;
  s->domain_len = (uint16_t)j.domain.len;
  s->resource_len = (uint16_t)j.resource.len;
  s->from_attr_len = (uint16_t)attr_len;
  memcpy(s->str, full.ptr, full.len);
  char *a = s->str + full.len;
  memcpy(a, " from='", 7);
  xsr__escape_attr(a + 7, full.ptr, full.len);
  a[7 + esc] = '\'';
  *out = s;
  return XSR_OK;
}

static void session_grace_cb(struct rcu_head *h) {
  XSR__TSAN_ACQUIRE(h);
  xsr_session *s = caa_container_of(h, xsr_session, end.rcu);
  /* No routing thread can reach s any more; queue the tombstone behind
   * whatever was queued for it before. */
  struct xsr_msg *t = &s->end.tomb;
  xsr_worker *w = s->worker;
  t->to = s;
  t->buf = NULL;
  cds_wfcq_node_init(&t->qnode);
  XSR__TSAN_RELEASE(t);
  if (!cds_wfcq_enqueue(&w->head, &w->tail, &t->qnode) && w->router->cfg.wake)
    w->router->cfg.wake(w->router->cfg.user, w);
}

void xsr_session_close_owner(xsr_session *s) {
  if (!s)
    return;
  xsr_session_unbind_rcu(s);
  s->closed = 1;
  rcu_later(&s->end.rcu, session_grace_cb);
}

xsr_jid xsr_session_jid(const xsr_session *s) {
  xsr_jid j;
  memset(&j, 0, sizeof j);
  const char *p = s->str;
  if (s->local_len) {
    j.local.ptr = p;
    j.local.len = s->local_len;
    p += s->local_len + 1;
  }
  j.domain.ptr = p;
  j.domain.len = s->domain_len;
  p += s->domain_len + 1;
  j.resource.ptr = p;
  j.resource.len = s->resource_len;
  return j;
}

void *xsr_session_user(const xsr_session *s) { return s->user; }
xsr_worker *xsr_session_worker(const xsr_session *s) { return s->worker; }
size_t xsr_session_queued(const xsr_session *s) {
  return atomic_load_explicit(&s->queued, memory_order_relaxed);
}

/* ---- lookups ------------------------------------------------------------ */

xsr_session *xsr_router_find_rcu(xsr_router *r, const xsr_jid *jid) {
  if (!jid->resource.ptr)
    return NULL;
  xsr_span key = xsr_jid_bare(jid);
  xsr__bare *b = xsr__table_lookup(r, key.ptr, key.len, xsr_jid_hash(key, r->seed));
  if (!b)
    return NULL;
  xsr__resset *set = atomic_load_explicit(&b->set, memory_order_acquire);
  if (!set)
    return NULL;
  XSR__TSAN_ACQUIRE(set);
  size_t off = key.len + 1;
  for (uint32_t i = 0; i < set->n; i++) {
    xsr_session *s = set->s[i];
    if (s->resource_len == jid->resource.len &&
        memcmp(s->str + off, jid->resource.ptr, jid->resource.len) == 0)
      return s;
  }
  return NULL;
}

size_t xsr_router_resources_rcu(xsr_router *r, const xsr_jid *jid, xsr_session **out, size_t max) {
  xsr_span key = xsr_jid_bare(jid);
  xsr__bare *b = xsr__table_lookup(r, key.ptr, key.len, xsr_jid_hash(key, r->seed));
  if (!b)
    return 0;
  xsr__resset *set = atomic_load_explicit(&b->set, memory_order_acquire);
  if (!set)
    return 0;
  XSR__TSAN_ACQUIRE(set);
  for (uint32_t i = 0; i < set->n && i < max; i++)
    out[i] = set->s[i];
  return set->n;
}
