/* SPDX-License-Identifier: MIT */
/*
 * server/net.c: xsr-router's network layer (contracts in net.h).
 *
 * Threads.  xsr__net_new, xsr__net_run's main loop (signals) and
 * xsr__net_free run on the main thread, which never registers with the
 * router.  Everything named worker_* / conn_* / io_* / on_* below, except
 * on_signal and on_worker_exited, runs on the worker thread that owns the
 * loop, the listener or the connection.  The router calls on_router_wake,
 * on_room and account_exists from any registered thread (and wake also from
 * liburcu's call_rcu thread, which queues closed sessions' tombstones).
 *
 * RCU.  router.h asks for a uv_prepare handle that goes offline before the
 * poll phase and a uv_check handle that comes back online and passes a
 * quiescent state.  libuv runs the I/O callbacks (reads, writes, accepts,
 * async wake-ups, thread-pool completions) *inside* the poll phase, between
 * the two, so taken literally they would route while offline.  Every
 * callback therefore starts with worker_enter(), which comes back online
 * if the prepare handle left the thread offline (one flag test, and at
 * most one rcu_thread_online per loop iteration); the check handle then
 * passes the quiescent state.  A sleeping worker is offline and holds up
 * no grace period.
 *
 * Read path.  Each worker owns one XSR__NET_READ_BUF buffer; alloc_cb hands
 * it to whichever connection libuv is about to read, and read_cb passes it
 * to xsr__c2s_input(), whose parser parses complete stanzas in place and
 * copies only an unfinished tail.  libuv reads one connection at a time, so
 * one buffer per worker suffices, and an idle connection holds none.
 *
 * Write path.  A connection's output is one FIFO of entries: byte chunks
 * the c2s wrote (copied, coalesced into the tail chunk while it is not
 * being written) and routed messages popped from the router (written from
 * the router's buffer and released once written: their bytes count against
 * the recipient's session budget until then, which is what bounds a slow
 * consumer's memory and blocks its senders).  Connections with new output
 * are put on the worker's dirty list, and the uv_prepare callback flushes
 * each one once per loop iteration, just before the poll: uv_try_write of
 * up to NET_IOV entries as iovecs, and when the socket takes less, one
 * uv_write of the rest (at most one in flight per connection).  The entry
 * array is freed whenever the queue drains, so an idle connection holds no
 * write memory either.
 *
 * Back-pressure.  When the c2s pauses reading (a recipient's budget was
 * full, or SASL work or a failure delay runs) the connection joins the
 * worker's paused list and the worker's npaused count goes up.  on_room
 * (any thread) and every connection close set each worker's room flag and
 * wake the workers with npaused > 0; a worker that pauses a connection
 * re-reads its room flag after raising npaused (Dekker, sequentially
 * consistent), so a room report racing with the pause is never lost.
 * on_wake then calls xsr__c2s_retry() for every paused connection that
 * xsr__c2s_blocked() says waits for room.
 *
 * Teardown.  io->close (the c2s ended the stream) puts a connection in
 * DRAINING: its output is flushed, then a FIN (uv_shutdown), reads go on
 * and are discarded until the peer's FIN, and XSR__NET_CLOSE_GRACE ms after
 * io->close it is closed whatever happened (so the peer reads the stream
 * error before any reset).  A read error, EOF or write error in OPEN state
 * calls xsr__c2s_peer_gone() and closes at once.  Closing means uv_close of
 * the socket and the timer; the connection is freed when both close
 * callbacks ran and no thread-pool work is pending: its queued messages
 * are released first, then xsr__c2s_free() closes the router session.
 *
 * Shutdown.  SIGINT/SIGTERM on the main loop set every worker's stop flag
 * and wake it; a stopping worker closes its listeners and ends every open
 * stream with system-shutdown (which drains as above).  When its last
 * connection is freed it closes its loop handles: the async handle through
 * a small guard (live flag + count of wakers in uv_async_send), because the
 * router may still call wake for it from other threads (tombstones of
 * closed sessions).  The loop ends, the thread unregisters and tells the
 * main loop; once every worker is done the main thread joins them and
 * xsr__net_free frees the router last.
 */
#define _GNU_SOURCE /* SO_REUSEPORT, SOCK_NONBLOCK/SOCK_CLOEXEC, sched_yield */
#include "net.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "util.h"
#include "xsr/xsr.h"

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define NET_IOV         64u /* entries per write */
#define NET_POP_BATCH   64u /* messages per xsr_worker_pop_owner */
#define NET_POP_ROUNDS  16u /* batches per wake-up before yielding to I/O */
#define NET_BACKLOG     4096
#define NET_SWEEP_MS    1000u /* timeout checks */
#define NET_TRIM_SETS   64u   /* scratch sets freed at once that warrant a malloc_trim */
#define NET_THROTTLE_MS 50u   /* read-rate refills */
#define NET_CHUNK_MIN   512u  /* smallest output chunk */

/* ---- logging ------------------------------------------------------------------ */

static atomic_int log_level = XSR__LOG_INFO;

void xsr__log_set_level(xsr__log_level level) { atomic_store(&log_level, (int)level); }

static int log_on(xsr__log_level level) { return (int)level <= atomic_load(&log_level); }

void xsr__log(xsr__log_level level, const char *fmt, ...) {
  if (!log_on(level))
    return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  /* One fprintf per line: stdio locks the stream, lines never interleave. */
  fprintf(stderr, "xsr-router: %s: %s\n", xsr__log_level_name(level), line);
}

/* ---- intrusive lists ------------------------------------------------------------ */

typedef struct dlist {
  struct dlist *prev, *next;
} dlist;

static void dl_init(dlist *l) { l->prev = l->next = l; }
static int dl_empty(const dlist *l) { return l->next == l; }
static void dl_remove(dlist *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  dl_init(n);
}
static void dl_push(dlist *head, dlist *n) {
  n->prev = head->prev;
  n->next = head;
  head->prev->next = n;
  head->prev = n;
}
/* Moves every node of `from` to the empty list `to`. */
static void dl_take(dlist *to, dlist *from) {
  dl_init(to);
  if (dl_empty(from))
    return;
  to->next = from->next;
  to->prev = from->prev;
  to->next->prev = to;
  to->prev->next = to;
  dl_init(from);
}

/* ---- structures ------------------------------------------------------------------ */

typedef struct worker worker;

typedef struct listener {
  uv_tcp_t tcp;
  worker *w;
} listener;

struct worker {
  xsr__net *net;
  unsigned index;
  xsr_worker *rw; /* the router's queue */
  uv_loop_t loop;
  int loop_inited;
  uv_thread_t thread;
  int thread_started;
  uv_async_t async; /* router wake, room, stop */
  uv_prepare_t prepare;
  uv_check_t check;
  uv_timer_t sweep;
  uv_timer_t throttle;
  listener *listeners;
  size_t nlisteners;
  char *readbuf;
  dlist conns;     /* OPEN and DRAINING connections */
  dlist paused;    /* read paused by the c2s */
  dlist dirty;     /* output to flush in on_prepare */
  dlist throttled; /* read paused by the read rate */
  size_t nconns;   /* accepted and not yet freed */
  int offline;     /* left offline by on_prepare */
  int stopping;
  int exiting;
  /* Written by other threads. */
  atomic_int live;   /* async may be sent to */
  atomic_int wakers; /* threads inside uv_async_send */
  atomic_int room;   /* on_room or a close happened: retry paused connections */
  atomic_int npaused;
  atomic_int stop;
};

typedef struct endpoint {
  char name[64]; /* "127.0.0.1:5222" / "[::1]:5222" */
  int *fds;      /* one per worker; -1 once handed to libuv */
} endpoint;

struct xsr__net {
  const xsr__config *cfg;
  char *domain;
  const xsr__users *users;
  xsr_router *router;
  xsr__server srv;
  unsigned nworkers;
  worker *workers;
  xsr_parser_pool **pools; /* pools[i]: worker i's parsers' scratch (srv.parser_pools) */
  endpoint *eps;
  size_t neps;
  uint64_t preauth_ms, idle_ms, slow_ms;
  size_t read_rate;
  int64_t burst;
  atomic_uint nconns; /* every worker's, for max_connections */
  atomic_ullong next_id;
  /* Main thread. */
  uv_loop_t main_loop;
  uv_signal_t sig_int, sig_term, sig_hup;
  uv_async_t exited_async;
  uv_mutex_t exited_mu;
  unsigned exited;
  int stopping;
  int ran;
};

typedef enum conn_state { C_OPEN = 0, C_DRAINING, C_CLOSED } conn_state;

#define PAUSE_C2S  1u
#define PAUSE_RATE 2u

/* One output entry: a routed message (msg set; data/len are its bytes) or
 * a chunk of bytes the c2s wrote (msg NULL; data malloc'd, cap bytes). */
typedef struct out_ent {
  xsr_msg *msg;
  char *data;
  size_t len;
  size_t cap;
} out_ent;

typedef struct conn {
  uv_tcp_t tcp;
  worker *w;
  xsr__c2s *c2s;
  unsigned long long id;
  dlist all, paused, dirty, throttled;
  uv_timer_t *timer; /* lazily: the c2s's io->timer, then the close grace */
  void (*fire)(xsr__c2s *c);
  const char *reason; /* why it closed, for the log */
  /* Output FIFO: a ring of qcap (a power of two) entries. */
  out_ent *q;
  uint32_t qhead, qlen, qcap;
  uint32_t wents;   /* entries covered by the uv_write in flight */
  size_t qoff;      /* bytes of the head entry already written */
  size_t out_bytes; /* bytes of the chunks (server output) queued */
  uv_write_t *wreq;
  uv_shutdown_t *sreq;
  uint64_t accepted_ms, last_read_ms, write_since_ms, refill_ms;
  int64_t tokens;   /* read rate bucket */
  unsigned handles; /* open handles: the socket and the timer */
  unsigned work;    /* thread-pool jobs in flight */
  uint8_t state, pause, reading, bound, shut;
} conn;

static void conn_flush(conn *c);
static void conn_close_handles(conn *c);
static void conn_maybe_free(conn *c);
static void update_reading(conn *c);
static void worker_maybe_exit(worker *w);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* ---- RCU and wake-ups ------------------------------------------------------------ */

static void worker_enter(worker *w) {
  if (w->offline) {
    xsr_router_thread_online();
    w->offline = 0;
  }
}

/* uv_async_send unless the worker has closed its async handle (see
 * Shutdown above).  Any thread. */
static void wake_worker(worker *w) {
  atomic_fetch_add(&w->wakers, 1);
  if (atomic_load(&w->live))
    uv_async_send(&w->async);
  atomic_fetch_sub(&w->wakers, 1);
}

static void on_router_wake(void *user, xsr_worker *rw) {
  xsr__net *n = user;
  wake_worker(&n->workers[xsr_worker_index(rw)]);
}

/* Some session drained or closed: paused senders may go on.  Any thread. */
static void request_room(xsr__net *n) {
  for (unsigned i = 0; i < n->nworkers; i++) {
    worker *w = &n->workers[i];
    atomic_store(&w->room, 1);
    if (atomic_load(&w->npaused) > 0)
      wake_worker(w);
  }
}

static void on_room(void *user, xsr_session *s) {
  (void)s;
  request_room(user);
}

/* The router's account_exists: the c2s's, whose user is the server. */
static int account_exists(void *user, xsr_span bare) {
  xsr__net *n = user;
  return xsr__server_account_exists(&n->srv, bare);
}

/* ---- the output queue ------------------------------------------------------------ */

static out_ent *q_at(conn *c, uint32_t i) { return &c->q[(c->qhead + i) & (c->qcap - 1)]; }

static int q_reserve(conn *c) {
  if (c->qlen < c->qcap)
    return 0;
  uint32_t ncap = c->qcap ? c->qcap * 2 : 8;
  out_ent *nq = malloc(ncap * sizeof *nq);
  if (!nq)
    return -1;
  for (uint32_t i = 0; i < c->qlen; i++)
    nq[i] = *q_at(c, i);
  free(c->q);
  c->q = nq;
  c->qcap = ncap;
  c->qhead = 0;
  return 0;
}

static int q_bytes(conn *c, const char *data, size_t len) {
  out_ent *t = c->qlen ? q_at(c, c->qlen - 1) : NULL;
  /* Coalesce into the tail chunk unless a uv_write holds its address. */
  if (t && !t->msg && c->qlen > c->wents) {
    if (t->cap - t->len < len) {
      size_t ncap = t->cap * 2 > t->len + len ? t->cap * 2 : t->len + len;
      char *nd = realloc(t->data, ncap);
      if (!nd)
        return -1;
      t->data = nd;
      t->cap = ncap;
    }
    memcpy(t->data + t->len, data, len);
    t->len += len;
  } else {
    if (q_reserve(c))
      return -1;
    size_t cap = len > NET_CHUNK_MIN ? len : NET_CHUNK_MIN;
    char *d = malloc(cap);
    if (!d)
      return -1;
    memcpy(d, data, len);
    out_ent *e = &c->q[(c->qhead + c->qlen) & (c->qcap - 1)];
    e->msg = NULL;
    e->data = d;
    e->len = len;
    e->cap = cap;
    c->qlen++;
  }
  c->out_bytes += len;
  return 0;
}

static int q_msg(conn *c, xsr_msg *m) {
  if (q_reserve(c))
    return -1;
  xsr_span b = xsr_msg_bytes(m);
  out_ent *e = &c->q[(c->qhead + c->qlen) & (c->qcap - 1)];
  e->msg = m;
  e->data = (char *)b.ptr;
  e->len = b.len;
  e->cap = 0;
  c->qlen++;
  return 0;
}

static void q_pop(conn *c) {
  out_ent *e = q_at(c, 0);
  if (e->msg) {
    xsr_msg_release(e->msg);
  } else {
    c->out_bytes -= e->len;
    free(e->data);
  }
  c->qhead = (c->qhead + 1) & (c->qcap - 1);
  c->qlen--;
  c->qoff = 0;
}

/* `n` bytes from the head were written. */
static void q_consume(conn *c, size_t n) {
  while (n > 0) {
    out_ent *e = q_at(c, 0);
    size_t left = e->len - c->qoff;
    if (n < left) {
      c->qoff += n;
      return;
    }
    n -= left;
    q_pop(c);
  }
  /* Zero-length entries (none are queued today) would stay: harmless. */
}

static void q_clear(conn *c) {
  while (c->qlen)
    q_pop(c);
  free(c->q);
  c->q = NULL;
  c->qcap = c->qhead = c->qlen = 0;
}

static unsigned q_gather(conn *c, uv_buf_t *iov, size_t *total) {
  unsigned n = 0;
  size_t t = 0;
  for (; n < NET_IOV && n < c->qlen; n++) {
    out_ent *e = q_at(c, n);
    size_t off = n == 0 ? c->qoff : 0;
    iov[n] = uv_buf_init(e->data + off, (unsigned)(e->len - off));
    t += e->len - off;
  }
  *total = t;
  return n;
}

static void mark_dirty(conn *c) {
  if (c->state != C_CLOSED && dl_empty(&c->dirty))
    dl_push(&c->w->dirty, &c->dirty);
}

/* ---- connection teardown ------------------------------------------------------- */

static void unpause(conn *c) {
  if (c->pause & PAUSE_C2S) {
    dl_remove(&c->paused);
    atomic_fetch_sub(&c->w->npaused, 1);
  }
  if (c->pause & PAUSE_RATE)
    dl_remove(&c->throttled);
  c->pause = 0;
}

static void on_conn_closed(uv_handle_t *h) {
  conn *c = container_of(h, conn, tcp);
  worker_enter(c->w);
  c->handles--;
  conn_maybe_free(c);
}

static void on_timer_closed(uv_handle_t *h) {
  conn *c = h->data;
  worker_enter(c->w);
  free(h);
  c->timer = NULL;
  c->handles--;
  conn_maybe_free(c);
}

/* Closes the socket and the timer; the connection is freed once they have
 * closed (conn_maybe_free).  The c2s has already been told (io->close or
 * xsr__c2s_peer_gone). */
static void conn_close_handles(conn *c) {
  if (c->state == C_CLOSED)
    return;
  c->state = C_CLOSED;
  unpause(c);
  dl_remove(&c->dirty);
  dl_remove(&c->all);
  c->fire = NULL;
  c->reading = 0;
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
  if (c->timer)
    uv_close((uv_handle_t *)c->timer, on_timer_closed);
}

/* The socket failed or the peer left. */
static void conn_fail(conn *c, const char *reason) {
  if (c->state == C_CLOSED)
    return;
  if (!c->reason)
    c->reason = reason;
  if (c->state == C_OPEN && c->c2s) {
    /* CLOSED first: whatever the c2s asks of io now is moot. */
    c->state = C_CLOSED;
    xsr__c2s_peer_gone(c->c2s);
    c->state = C_DRAINING;
  }
  conn_close_handles(c);
}

static void log_close(conn *c) {
  if (!log_on(XSR__LOG_INFO))
    return;
  xsr_session *s = c->c2s ? xsr__c2s_session(c->c2s) : NULL;
  if (s) {
    xsr_jid j = xsr_session_jid(s);
    xsr__log(XSR__LOG_INFO, "conn %llu (%.*s@%.*s/%.*s) closed: %s", c->id, (int)j.local.len,
             j.local.ptr ? j.local.ptr : "", (int)j.domain.len, j.domain.ptr, (int)j.resource.len,
             j.resource.ptr ? j.resource.ptr : "", c->reason ? c->reason : "closed");
  } else {
    xsr__log(XSR__LOG_INFO, "conn %llu closed: %s", c->id, c->reason ? c->reason : "closed");
  }
}

static void conn_maybe_free(conn *c) {
  if (c->state != C_CLOSED || c->handles || c->work || c->wreq || c->sreq)
    return;
  worker *w = c->w;
  xsr__net *n = w->net;
  /* Every message popped for the session is released before the session
   * closes (router.h). */
  q_clear(c);
  if (c->c2s) {
    log_close(c);
    xsr__c2s_free(c->c2s);
    atomic_fetch_sub(&n->nconns, 1);
  }
  free(c);
  w->nconns--;
  /* Its session may have been what others were blocked on. */
  request_room(n);
  worker_maybe_exit(w);
}

/* ---- timers ------------------------------------------------------------------------ */

static void on_conn_timer(uv_timer_t *t) {
  conn *c = t->data;
  worker_enter(c->w);
  if (c->state == C_OPEN) {
    void (*fire)(xsr__c2s *) = c->fire;
    c->fire = NULL;
    if (fire)
      fire(c->c2s);
  } else if (c->state == C_DRAINING) {
    if (c->qlen && !c->reason)
      c->reason = "output not drained in time";
    conn_close_handles(c);
  }
}

static int conn_timer_start(conn *c, unsigned ms) {
  if (!c->timer) {
    uv_timer_t *t = malloc(sizeof *t);
    if (!t)
      return -1;
    uv_timer_init(&c->w->loop, t);
    t->data = c;
    c->timer = t;
    c->handles++;
  }
  uv_timer_start(c->timer, on_conn_timer, ms, 0);
  return 0;
}

/* ---- the write path ---------------------------------------------------------------- */

static void on_shutdown(uv_shutdown_t *req, int status) {
  conn *c = container_of(req->handle, conn, tcp);
  worker_enter(c->w);
  free(req);
  c->sreq = NULL;
  c->shut = 1;
  /* Then wait for the peer's FIN (on_read) or the grace timer. */
  if (status < 0)
    conn_close_handles(c);
  conn_maybe_free(c);
}

static void conn_shutdown(conn *c) {
  if (c->sreq || c->shut)
    return;
  uv_shutdown_t *req = malloc(sizeof *req);
  if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown)) {
    free(req);
    conn_close_handles(c);
    return;
  }
  c->sreq = req;
}

static void on_write_done(uv_write_t *req, int status) {
  conn *c = container_of(req->handle, conn, tcp);
  worker_enter(c->w);
  free(req);
  c->wreq = NULL;
  uint32_t n = c->wents;
  c->wents = 0;
  if (status < 0) {
    /* UV_ECANCELED: the socket is closing; the entries go in conn_maybe_free. */
    if (status != UV_ECANCELED)
      conn_fail(c, "write error");
    conn_maybe_free(c);
    return;
  }
  for (uint32_t i = 0; i < n; i++)
    q_pop(c);
  mark_dirty(c); /* the rest, or the FIN when draining, before the next poll */
}

static void conn_flush(conn *c) {
  if (c->state == C_CLOSED || c->wreq || c->sreq)
    return;
  while (c->qlen) {
    uv_buf_t iov[NET_IOV];
    size_t total;
    unsigned n = q_gather(c, iov, &total);
    int r = uv_try_write((uv_stream_t *)&c->tcp, iov, n);
    if (r == UV_EAGAIN)
      r = 0;
    if (r < 0) {
      conn_fail(c, "write error");
      return;
    }
    q_consume(c, (size_t)r);
    if ((size_t)r == total)
      continue;
    /* The socket is full: one uv_write of the rest, at most NET_IOV entries. */
    n = q_gather(c, iov, &total);
    uv_write_t *req = malloc(sizeof *req);
    if (!req || uv_write(req, (uv_stream_t *)&c->tcp, iov, n, on_write_done)) {
      free(req);
      conn_fail(c, "write error");
      return;
    }
    c->wreq = req;
    c->wents = n;
    c->write_since_ms = uv_now(&c->w->loop);
    return;
  }
  /* Drained: an idle connection keeps no output memory. */
  free(c->q);
  c->q = NULL;
  c->qcap = c->qhead = 0;
  if (c->state == C_DRAINING)
    conn_shutdown(c);
}

/* ---- the read path ----------------------------------------------------------------- */

static void refill(conn *c, uint64_t now) {
  xsr__net *n = c->w->net;
  uint64_t dt = now - c->refill_ms;
  c->refill_ms = now;
  if (dt >= 10000) {
    c->tokens = n->burst;
    return;
  }
  int64_t add = (int64_t)((dt * (uint64_t)n->read_rate) / 1000u);
  c->tokens = c->tokens + add > n->burst ? n->burst : c->tokens + add;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  conn *c = container_of(h, conn, tcp);
  size_t len = XSR__NET_READ_BUF;
  if (c->w->net->read_rate && c->state == C_OPEN) {
    refill(c, uv_now(&c->w->loop));
    if (c->tokens < (int64_t)len)
      len = c->tokens > 0 ? (size_t)c->tokens : 1;
  }
  *buf = uv_buf_init(c->w->readbuf, (unsigned)len);
}

static void update_reading(conn *c) {
  int want = c->state == C_DRAINING || (c->state == C_OPEN && c->pause == 0);
  if (want && !c->reading) {
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
      c->reading = 1;
  } else if (!want && c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

static void on_throttle(uv_timer_t *t) {
  worker *w = container_of(t, worker, throttle);
  worker_enter(w);
  uint64_t now = uv_now(&w->loop);
  dlist local;
  dl_take(&local, &w->throttled);
  while (!dl_empty(&local)) {
    conn *c = container_of(local.next, conn, throttled);
    dl_remove(&c->throttled);
    refill(c, now);
    if (c->tokens > 0) {
      c->pause &= (uint8_t)~PAUSE_RATE;
      update_reading(c);
    } else {
      dl_push(&w->throttled, &c->throttled);
    }
  }
  if (dl_empty(&w->throttled))
    uv_timer_stop(t);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn *c = container_of(s, conn, tcp);
  worker *w = c->w;
  worker_enter(w);
  if (nread == 0)
    return;
  if (nread < 0) {
    if (c->state == C_OPEN)
      conn_fail(c, nread == UV_EOF ? "peer closed the connection" : "read error");
    else
      conn_close_handles(c); /* the peer's FIN after ours, or an error */
    return;
  }
  if (c->state != C_OPEN)
    return; /* draining: the stream is over, discard */
  c->last_read_ms = uv_now(&w->loop);
  if (w->net->read_rate) {
    c->tokens -= nread;
    if (c->tokens <= 0) {
      c->pause |= PAUSE_RATE;
      dl_push(&w->throttled, &c->throttled);
      if (!uv_is_active((uv_handle_t *)&w->throttle))
        uv_timer_start(&w->throttle, on_throttle, NET_THROTTLE_MS, NET_THROTTLE_MS);
      update_reading(c);
    }
  }
  xsr__c2s_input(c->c2s, buf->base, (size_t)nread);
}

/* ---- the io callbacks the c2s calls ------------------------------------------------ */

static int io_write(void *io, const void *data, size_t len) {
  conn *c = io;
  if (c->state != C_OPEN)
    return 0; /* the stream is over: nothing more goes out */
  if (len > XSR__NET_OUT_MAX - c->out_bytes || q_bytes(c, data, len))
    return -1;
  mark_dirty(c);
  return 0;
}

static void io_close(void *io) {
  conn *c = io;
  if (c->state != C_OPEN)
    return;
  c->state = C_DRAINING;
  if (!c->reason)
    c->reason = "stream closed";
  unpause(c);
  c->fire = NULL;
  update_reading(c);
  if (conn_timer_start(c, XSR__NET_CLOSE_GRACE)) {
    conn_close_handles(c); /* no memory for the grace timer: close now */
    return;
  }
  mark_dirty(c);
}

static void io_read_pause(void *io, int paused) {
  conn *c = io;
  worker *w = c->w;
  if (c->state != C_OPEN || !paused == !(c->pause & PAUSE_C2S))
    return;
  if (paused) {
    c->pause |= PAUSE_C2S;
    dl_push(&w->paused, &c->paused);
    atomic_fetch_add(&w->npaused, 1);
    /* A room report that saw npaused == 0 left the flag for us. */
    if (atomic_load(&w->room))
      wake_worker(w);
  } else {
    c->pause &= (uint8_t)~PAUSE_C2S;
    dl_remove(&c->paused);
    atomic_fetch_sub(&w->npaused, 1);
  }
  update_reading(c);
}

typedef struct work_req {
  uv_work_t req;
  conn *c;
  void (*work)(void *arg);
  void (*done)(void *arg);
  void *arg;
} work_req;

static void on_work(uv_work_t *req) {
  work_req *wr = container_of(req, work_req, req);
  wr->work(wr->arg);
}

static void on_work_done(uv_work_t *req, int status) {
  (void)status; /* never cancelled: nothing calls uv_cancel */
  work_req *wr = container_of(req, work_req, req);
  conn *c = wr->c;
  worker_enter(c->w);
  wr->done(wr->arg);
  free(wr);
  c->work--;
  conn_maybe_free(c);
}

static void io_queue_work(void *io, void (*work)(void *arg), void (*done)(void *arg), void *arg) {
  conn *c = io;
  work_req *wr = malloc(sizeof *wr);
  if (wr) {
    wr->c = c;
    wr->work = work;
    wr->done = done;
    wr->arg = arg;
    if (uv_queue_work(&c->w->loop, &wr->req, on_work, on_work_done) == 0) {
      c->work++;
      return;
    }
    free(wr);
  }
  /* No memory for the request: do it here (it blocks this loop once). */
  xsr__log(XSR__LOG_WARN, "conn %llu: thread pool unavailable, working on the loop", c->id);
  work(arg);
  done(arg);
}

static void io_timer(void *io, unsigned ms, void (*fire)(xsr__c2s *c)) {
  conn *c = io;
  if (c->state != C_OPEN)
    return;
  if (ms == 0) {
    c->fire = NULL;
    if (c->timer)
      uv_timer_stop(c->timer);
    return;
  }
  if (conn_timer_start(c, ms)) {
    /* Out of memory: the pre-authentication or idle timeout ends it. */
    xsr__log(XSR__LOG_WARN, "conn %llu: no memory for a timer", c->id);
    return;
  }
  c->fire = fire;
}

static const xsr__c2s_io conn_io = {io_write, io_close, io_read_pause, io_queue_work, io_timer};

/* ---- accepting ---------------------------------------------------------------------- */

static void sockaddr_name(const struct sockaddr *sa, char *out, size_t cap) {
  char ip[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)sa;
    uv_ip6_name(a, ip, sizeof ip);
    port = ntohs(a->sin6_port);
    snprintf(out, cap, "[%s]:%u", ip, port);
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;
    uv_ip4_name(a, ip, sizeof ip);
    port = ntohs(a->sin_port);
    snprintf(out, cap, "%s:%u", ip, port);
  }
}

static void on_connection(uv_stream_t *server, int status) {
  listener *l = container_of(server, listener, tcp);
  worker *w = l->w;
  xsr__net *n = w->net;
  worker_enter(w);
  if (status < 0) {
    xsr__log(XSR__LOG_WARN, "accept on worker %u: %s", w->index, uv_strerror(status));
    return;
  }
  conn *c = calloc(1, sizeof *c);
  if (!c) {
    xsr__log(XSR__LOG_ERROR, "accept on worker %u: out of memory", w->index);
    return;
  }
  c->w = w;
  dl_init(&c->all);
  dl_init(&c->paused);
  dl_init(&c->dirty);
  dl_init(&c->throttled);
  uv_tcp_init(&w->loop, &c->tcp);
  c->handles = 1;
  w->nconns++;
  c->id = atomic_fetch_add(&n->next_id, 1) + 1;
  if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
    c->reason = "accept failed";
    conn_close_handles(c);
    return;
  }
  c->c2s = xsr__c2s_new(&n->srv, w->index, &conn_io, c);
  if (!c->c2s) {
    xsr__log(XSR__LOG_ERROR, "conn %llu: out of memory", c->id);
    conn_close_handles(c);
    return;
  }
  unsigned total = atomic_fetch_add(&n->nconns, 1) + 1;
  uint64_t now = uv_now(&w->loop);
  c->accepted_ms = c->last_read_ms = c->refill_ms = now;
  c->tokens = n->burst;
  uv_tcp_nodelay(&c->tcp, 1);
  dl_push(&w->conns, &c->all);
  if (log_on(XSR__LOG_INFO)) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char peer[80] = "?";
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
      sockaddr_name((struct sockaddr *)&ss, peer, sizeof peer);
    xsr__log(XSR__LOG_INFO, "conn %llu from %s on worker %u", c->id, peer, w->index);
  }
  if (n->cfg->max_connections && total > n->cfg->max_connections) {
    c->reason = "over max_connections";
    xsr__c2s_stream_error(c->c2s, "resource-constraint");
    return;
  }
  update_reading(c);
}

/* ---- the worker loop ---------------------------------------------------------------- */

static void deliver(worker *w, xsr_msg *m) {
  (void)w;
  xsr__c2s *c2s = xsr_session_user(xsr_msg_session(m));
  conn *c = xsr__c2s_io_user(c2s);
  int what = c->state == C_OPEN ? xsr__c2s_popped(c2s, m) : XSR__C2S_DROP;
  if (what == XSR__C2S_DROP) {
    xsr_msg_release(m); /* after the stream's end: never written */
    return;
  }
  if (q_msg(c, m)) {
    xsr_msg_release(m);
    xsr__log(XSR__LOG_ERROR, "conn %llu: out of memory queueing a stanza", c->id);
    if (what == XSR__C2S_LAST)
      io_close(c);
    else
      xsr__c2s_stream_error(c->c2s, "resource-constraint");
    return;
  }
  mark_dirty(c);
  if (what == XSR__C2S_LAST) {
    /* A new bind of the same full JID replaced this session: the message
     * is its <conflict/> stream error and closing tag. */
    c->reason = "replaced by a new connection (conflict)";
    io_close(c);
  }
}

static void worker_pop(worker *w) {
  xsr_msg *batch[NET_POP_BATCH];
  for (unsigned round = 0; round < NET_POP_ROUNDS; round++) {
    size_t n = xsr_worker_pop_owner(w->rw, batch, NET_POP_BATCH);
    for (size_t i = 0; i < n; i++)
      deliver(w, batch[i]);
    if (n < NET_POP_BATCH)
      return;
  }
  /* More may wait, and the router wakes only on empty -> non-empty: come
   * back after the other I/O of this iteration. */
  wake_worker(w);
}

static void worker_retry(worker *w) {
  dlist local;
  dl_take(&local, &w->paused);
  while (!dl_empty(&local)) {
    conn *c = container_of(local.next, conn, paused);
    dl_remove(&c->paused);
    dl_push(&w->paused, &c->paused);
    if (c->state == C_OPEN && xsr__c2s_blocked(c->c2s))
      xsr__c2s_retry(c->c2s);
  }
}

static void worker_stop(worker *w) {
  w->stopping = 1;
  for (size_t i = 0; i < w->nlisteners; i++)
    uv_close((uv_handle_t *)&w->listeners[i].tcp, NULL);
  for (dlist *it = w->conns.next, *next; it != &w->conns; it = next) {
    next = it->next;
    conn *c = container_of(it, conn, all);
    if (c->state == C_OPEN) {
      c->reason = "server shutdown";
      xsr__c2s_stream_error(c->c2s, "system-shutdown");
    }
  }
  worker_maybe_exit(w);
}

static void on_wake(uv_async_t *a) {
  worker *w = container_of(a, worker, async);
  worker_enter(w);
  if (!w->stopping && atomic_load(&w->stop))
    worker_stop(w);
  if (w->exiting)
    return;
  worker_pop(w);
  if (atomic_exchange(&w->room, 0))
    worker_retry(w);
}

static void on_prepare(uv_prepare_t *p) {
  worker *w = container_of(p, worker, prepare);
  worker_enter(w);
  while (!dl_empty(&w->dirty)) {
    conn *c = container_of(w->dirty.next, conn, dirty);
    dl_remove(&c->dirty);
    conn_flush(c);
  }
  xsr_router_thread_offline();
  w->offline = 1;
}

static void on_check(uv_check_t *h) {
  worker *w = container_of(h, worker, check);
  worker_enter(w);
  xsr_router_quiescent();
}

static void on_sweep(uv_timer_t *t) {
  worker *w = container_of(t, worker, sweep);
  xsr__net *n = w->net;
  worker_enter(w);
  /* Scratch sets a burst needed (a login storm of parsers paused holding
   * pipelined bytes) go back to the allocator once the load is gone, and
   * their pages to the system: glibc keeps freed chunks between live ones
   * resident, so a storm of 10,000 logins would otherwise leave its peak
   * (about 2.4 KiB a connection) in the RSS for good. */
  if (xsr_parser_pool_trim(n->pools[w->index]) >= NET_TRIM_SETS) {
#ifdef __GLIBC__
    (void)malloc_trim(0);
#endif
  }
  uint64_t now = uv_now(&w->loop);
  for (dlist *it = w->conns.next, *next; it != &w->conns; it = next) {
    next = it->next;
    conn *c = container_of(it, conn, all);
    if (c->state != C_OPEN)
      continue;
    const char *cond = NULL;
    if (!c->bound && n->preauth_ms) {
      if (xsr__c2s_session(c->c2s)) {
        c->bound = 1;
      } else if (now - c->accepted_ms >= n->preauth_ms) {
        cond = "connection-timeout";
        c->reason = "not authenticated and bound in time";
      }
    }
    if (!cond && n->idle_ms && now - c->last_read_ms >= n->idle_ms) {
      cond = "connection-timeout";
      c->reason = "idle timeout";
    }
    if (!cond && n->slow_ms && c->wreq && now - c->write_since_ms >= n->slow_ms) {
      cond = "policy-violation";
      c->reason = "slow consumer: output stalled";
    }
    if (!cond)
      continue;
    xsr__log(XSR__LOG_INFO, "conn %llu: %s", c->id, c->reason);
    xsr__c2s_stream_error(c->c2s, cond);
    /* A stalled socket will not take the stream error either: no grace. */
    if (cond[0] == 'p')
      conn_close_handles(c);
  }
}

static void worker_maybe_exit(worker *w) {
  if (!w->stopping || w->exiting || w->nconns)
    return;
  w->exiting = 1;
  atomic_store(&w->live, 0);
  while (atomic_load(&w->wakers))
    sched_yield();
  uv_close((uv_handle_t *)&w->async, NULL);
  uv_close((uv_handle_t *)&w->prepare, NULL);
  uv_close((uv_handle_t *)&w->check, NULL);
  uv_close((uv_handle_t *)&w->sweep, NULL);
  uv_close((uv_handle_t *)&w->throttle, NULL);
}

static void worker_main(void *arg) {
  worker *w = arg;
  xsr__net *n = w->net;
  xsr_router_thread_register();
  uv_run(&w->loop, UV_RUN_DEFAULT);
  xsr_router_thread_unregister();
  uv_mutex_lock(&n->exited_mu);
  n->exited++;
  uv_async_send(&n->exited_async);
  uv_mutex_unlock(&n->exited_mu);
}

/* ---- listening sockets --------------------------------------------------------------- */

static int bind_one(const struct sockaddr *sa, socklen_t salen) {
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
      (sa->sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one)) ||
      bind(fd, sa, salen) || listen(fd, NET_BACKLOG)) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* One endpoint per resolved address: a socket per worker, all on the same
 * port (the first one's when the port asked for is 0). */
static int add_endpoint(xsr__net *n, const struct sockaddr *sa, socklen_t salen, const char *spec,
                        char *err, size_t errlen) {
  struct sockaddr_storage ss;
  memcpy(&ss, sa, salen);
  char name[64];
  sockaddr_name((struct sockaddr *)&ss, name, sizeof name);
  in_port_t port = ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                            : ((struct sockaddr_in *)&ss)->sin_port;
  for (size_t i = 0; port != 0 && i < n->neps; i++)
    if (strcmp(n->eps[i].name, name) == 0)
      return 0; /* the same address twice */
  if (port != 0) {
    /* Every socket of the group sets SO_REUSEPORT, and so would a second
     * xsr-router of the same user, which would then silently share the
     * port.  A socket without it fails on a port anyone holds. */
    int probe = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (probe >= 0) {
      setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (ss.ss_family == AF_INET6)
        setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      int rc = bind(probe, (struct sockaddr *)&ss, salen);
      int e = errno;
      close(probe);
      if (rc) {
        xsr__errf(err, errlen, "listen %s (%s): %s", spec, name, strerror(e));
        return -1;
      }
    }
  }
  endpoint *eps = realloc(n->eps, (n->neps + 1) * sizeof *eps);
  if (!eps) {
    xsr__errf(err, errlen, "out of memory");
    return -1;
  }
  n->eps = eps;
  endpoint *e = &eps[n->neps];
  e->name[0] = '\0';
  e->fds = malloc(n->nworkers * sizeof *e->fds);
  if (!e->fds) {
    xsr__errf(err, errlen, "out of memory");
    return -1;
  }
  for (unsigned i = 0; i < n->nworkers; i++)
    e->fds[i] = -1;
  n->neps++;
  for (unsigned i = 0; i < n->nworkers; i++) {
    int fd = bind_one((struct sockaddr *)&ss, salen);
    if (fd < 0) {
      xsr__errf(err, errlen, "listen %s (%s): %s", spec, name, strerror(errno));
      return -1;
    }
    e->fds[i] = fd;
    if (i == 0) {
      socklen_t len = sizeof ss;
      if (getsockname(fd, (struct sockaddr *)&ss, &len)) {
        xsr__errf(err, errlen, "listen %s: getsockname: %s", spec, strerror(errno));
        return -1;
      }
    }
  }
  sockaddr_name((struct sockaddr *)&ss, e->name, sizeof e->name);
  return 0;
}

static int bind_all(xsr__net *n, char *err, size_t errlen) {
  static char *const defaults[] = {(char *)XSR__CONFIG_DEFAULT_LISTEN};
  char *const *list = n->cfg->nlisten ? n->cfg->listen : defaults;
  size_t count = n->cfg->nlisten ? n->cfg->nlisten : 1;
  for (size_t i = 0; i < count; i++) {
    char host[256], port[8];
    unsigned p;
    if (xsr__config_hostport(list[i], host, sizeof host, &p)) {
      xsr__errf(err, errlen, "listen %s: expected HOST:PORT", list[i]);
      return -1;
    }
    snprintf(port, sizeof port, "%u", p);
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
      xsr__errf(err, errlen, "listen %s: %s", list[i], gai_strerror(rc));
      return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
      if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
        continue;
      if (add_endpoint(n, ai->ai_addr, ai->ai_addrlen, list[i], err, errlen)) {
        freeaddrinfo(res);
        return -1;
      }
    }
    freeaddrinfo(res);
  }
  if (n->neps == 0) {
    xsr__errf(err, errlen, "no IPv4 or IPv6 address to listen on");
    return -1;
  }
  return 0;
}

/* ---- construction ---------------------------------------------------------------------- */

static int worker_init(xsr__net *n, worker *w, unsigned index, char *err, size_t errlen) {
  w->net = n;
  w->index = index;
  w->rw = xsr_router_worker(n->router, index);
  dl_init(&w->conns);
  dl_init(&w->paused);
  dl_init(&w->dirty);
  dl_init(&w->throttled);
  atomic_init(&w->live, 0);
  atomic_init(&w->wakers, 0);
  atomic_init(&w->room, 0);
  atomic_init(&w->npaused, 0);
  atomic_init(&w->stop, 0);
  w->readbuf = malloc(XSR__NET_READ_BUF);
  w->listeners = calloc(n->neps ? n->neps : 1, sizeof *w->listeners);
  if (!w->readbuf || !w->listeners) {
    xsr__errf(err, errlen, "out of memory");
    return -1;
  }
  int rc = uv_loop_init(&w->loop);
  if (rc) {
    xsr__errf(err, errlen, "uv_loop_init: %s", uv_strerror(rc));
    return -1;
  }
  w->loop_inited = 1;
  if ((rc = uv_async_init(&w->loop, &w->async, on_wake)) ||
      (rc = uv_prepare_init(&w->loop, &w->prepare)) ||
      (rc = uv_prepare_start(&w->prepare, on_prepare)) ||
      (rc = uv_check_init(&w->loop, &w->check)) || (rc = uv_check_start(&w->check, on_check)) ||
      (rc = uv_timer_init(&w->loop, &w->sweep)) || (rc = uv_timer_init(&w->loop, &w->throttle))) {
    xsr__errf(err, errlen, "worker %u: %s", index, uv_strerror(rc));
    return -1;
  }
  atomic_store(&w->live, 1);
  if (n->preauth_ms || n->idle_ms || n->slow_ms)
    uv_timer_start(&w->sweep, on_sweep, NET_SWEEP_MS, NET_SWEEP_MS);
  for (size_t i = 0; i < n->neps; i++) {
    listener *l = &w->listeners[i];
    l->w = w;
    uv_tcp_init(&w->loop, &l->tcp);
    w->nlisteners++;
    rc = uv_tcp_open(&l->tcp, n->eps[i].fds[index]);
    if (rc == 0)
      n->eps[i].fds[index] = -1; /* libuv's now */
    if (rc || (rc = uv_listen((uv_stream_t *)&l->tcp, NET_BACKLOG, on_connection))) {
      xsr__errf(err, errlen, "listen %s: %s", n->eps[i].name, uv_strerror(rc));
      return -1;
    }
  }
  return 0;
}

int xsr__net_new(const xsr__config *cfg, const char *domain, const xsr__users *users,
                 xsr__sasl *sasl, xsr__net **out, char *err, size_t errlen) {
  *out = NULL;
  xsr__net *n = calloc(1, sizeof *n);
  if (!n || !(n->domain = strdup(domain))) {
    free(n);
    xsr__errf(err, errlen, "out of memory");
    return -1;
  }
  n->cfg = cfg;
  n->users = users;
  n->nworkers = cfg->threads ? cfg->threads : 1;
  n->preauth_ms = (uint64_t)cfg->preauth_timeout_s * 1000u;
  n->idle_ms = (uint64_t)cfg->idle_timeout_s * 1000u;
  n->slow_ms = (uint64_t)cfg->slow_consumer_timeout_s * 1000u;
  n->read_rate = cfg->read_rate;
  n->burst = cfg->read_rate > 1024 ? (int64_t)cfg->read_rate : 1024;
  atomic_init(&n->nconns, 0);
  atomic_init(&n->next_id, 0);

  xsr_router_config rc;
  xsr_router_config_init(&rc);
  rc.workers = n->nworkers;
  rc.session_budget = cfg->session_budget;
  rc.max_stanza = cfg->max_stanza;
  rc.wake = on_router_wake;
  rc.on_room = on_room;
  rc.account_exists = account_exists;
  rc.user = n;
  n->router = xsr_router_new(&rc, NULL);
  n->workers = calloc(n->nworkers, sizeof *n->workers);
  n->pools = calloc(n->nworkers, sizeof *n->pools);
  for (unsigned i = 0; n->pools && i < n->nworkers; i++)
    if (!(n->pools[i] = xsr_parser_pool_new(NULL))) {
      while (i-- > 0)
        xsr_parser_pool_free(n->pools[i]);
      free(n->pools);
      n->pools = NULL;
    }
  if (!n->router || !n->workers || !n->pools) {
    xsr__errf(err, errlen, "cannot create the router (out of memory)");
    xsr__net_free(n);
    return -1;
  }

  xsr__server *srv = &n->srv;
  srv->domain = n->domain;
  srv->domain_len = strlen(n->domain);
  srv->domains = (const char *const *)cfg->domains; /* virtual hosts: sorted (main.c) */
  srv->ndomains = cfg->ndomains;
  srv->router = n->router;
  srv->parser_pools = n->pools;
  srv->users = users;
  /* The table in force, replaced on SIGHUP (reload_users): the server's
   * reference; `users` itself stays the caller's. */
  atomic_init(&srv->users_live, xsr__users_ref(users));
  srv->sasl = sasl;
  xsr_parser_config_init(&srv->parser_cfg);
  srv->header_max_room = XSR__NET_HEADER_ROOM;
  srv->header_max_decls = XSR__NET_HEADER_DECLS;
  xsr__server_limits(srv, &rc); /* parser_cfg: xsr_router_sender_limits, clients only */
  srv->max_auth_failures = cfg->max_auth_failures;
  srv->auth_failure_delay_ms = cfg->auth_failure_delay_ms;
  srv->conflict = cfg->conflict;
  srv->version = XSR_VERSION_STRING;

  /* The parser picks its SIMD code on first use, through a plain static
   * flag (parser/scan.c): do that here, before the workers race on it. */
  static const xsr_parser_callbacks no_callbacks = {NULL, NULL, NULL};
  xsr_parser_free(xsr_parser_new(&srv->parser_cfg, &no_callbacks, NULL, NULL));

  if (bind_all(n, err, errlen)) {
    xsr__net_free(n);
    return -1;
  }
  for (unsigned i = 0; i < n->nworkers; i++)
    if (worker_init(n, &n->workers[i], i, err, errlen)) {
      xsr__net_free(n);
      return -1;
    }
  *out = n;
  return 0;
}

size_t xsr__net_bound_count(const xsr__net *n) { return n->neps; }

const char *xsr__net_bound_name(const xsr__net *n, size_t i) {
  return i < n->neps ? n->eps[i].name : NULL;
}

/* ---- running ----------------------------------------------------------------------------- */

static void on_main_closed(uv_handle_t *h) { (void)h; }

static void on_worker_exited(uv_async_t *a) {
  xsr__net *n = container_of(a, xsr__net, exited_async);
  uv_mutex_lock(&n->exited_mu);
  int all = n->exited == n->nworkers;
  uv_mutex_unlock(&n->exited_mu);
  if (!all)
    return;
  uv_close((uv_handle_t *)&n->sig_int, on_main_closed);
  uv_close((uv_handle_t *)&n->sig_term, on_main_closed);
  uv_close((uv_handle_t *)&n->sig_hup, on_main_closed);
  uv_close((uv_handle_t *)&n->exited_async, on_main_closed);
}

static void stop_workers(xsr__net *n) {
  n->stopping = 1;
  for (unsigned i = 0; i < n->nworkers; i++) {
    atomic_store(&n->workers[i].stop, 1);
    wake_worker(&n->workers[i]);
  }
}

/* SIGHUP: reads the users file again, on the main thread (the workers go
 * on serving meanwhile), and publishes it (xsr__server_users_swap: new
 * logins use it; connections keep the table they authenticated against
 * until they close).  A file that does not load, or whose domain is not the
 * one served, changes nothing: one error line. */
static void reload_users(xsr__net *n) {
  const char *path = n->cfg->users;
  char err[1024];
  if (!path) {
    xsr__log(XSR__LOG_WARN, "SIGHUP: no users file to reload (--users)");
    return;
  }
  if (n->stopping) {
    xsr__log(XSR__LOG_INFO, "SIGHUP: shutting down, users file not reloaded");
    return;
  }
  xsr__users *u = NULL;
  if (xsr__users_load(path, &u, err, sizeof err)) {
    xsr__log(XSR__LOG_ERROR, "SIGHUP: users file not reloaded, keeping the accounts in force: %s",
             err);
    return;
  }
  const char *const one[] = {n->domain};
  if (xsr__users_check_served(u, path, n->srv.ndomains ? n->srv.domains : one,
                              n->srv.ndomains ? n->srv.ndomains : 1, err, sizeof err)) {
    xsr__log(XSR__LOG_ERROR, "SIGHUP: users file not reloaded, keeping the accounts in force: %s",
             err);
    xsr__users_free(u);
    return;
  }
  size_t count = 0; /* every domain's */
  for (size_t i = 0; i < xsr__users_host_count(u); i++)
    count += xsr__users_count(xsr__users_host_at(u, i));
  xsr__server_users_swap(&n->srv, u);
  xsr__log(XSR__LOG_INFO, "SIGHUP: reloaded %s: %zu account%s", path, count, count == 1 ? "" : "s");
}

static void on_signal(uv_signal_t *s, int signum) {
  xsr__net *n = s->data; /* three handles, one callback */
  if (signum == SIGHUP) {
    reload_users(n);
    return;
  }
  if (n->stopping) {
    xsr__log(XSR__LOG_INFO, "%s: already shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    return;
  }
  xsr__log(XSR__LOG_INFO, "%s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  stop_workers(n);
}

int xsr__net_run(xsr__net *n, char *err, size_t errlen) {
  int rc;
  if (n->ran) {
    xsr__errf(err, errlen, "xsr__net_run: called twice");
    return -1;
  }
  n->ran = 1;
  if ((rc = uv_loop_init(&n->main_loop)) || (rc = uv_mutex_init(&n->exited_mu))) {
    xsr__errf(err, errlen, "main loop: %s", uv_strerror(rc));
    return -1;
  }
  uv_async_init(&n->main_loop, &n->exited_async, on_worker_exited);
  uv_signal_init(&n->main_loop, &n->sig_int);
  uv_signal_init(&n->main_loop, &n->sig_term);
  uv_signal_init(&n->main_loop, &n->sig_hup);
  n->sig_int.data = n->sig_term.data = n->sig_hup.data = n;
  uv_signal_start(&n->sig_int, on_signal, SIGINT);
  uv_signal_start(&n->sig_term, on_signal, SIGTERM);
  uv_signal_start(&n->sig_hup, on_signal, SIGHUP);
  int failed = 0;
  for (unsigned i = 0; i < n->nworkers; i++) {
    worker *w = &n->workers[i];
    if ((rc = uv_thread_create(&w->thread, worker_main, w))) {
      xsr__errf(err, errlen, "cannot start worker %u: %s", i, uv_strerror(rc));
      failed = 1;
      /* The workers not started count as exited; the others stop. */
      uv_mutex_lock(&n->exited_mu);
      n->exited += n->nworkers - i;
      uv_mutex_unlock(&n->exited_mu);
      stop_workers(n);
      uv_async_send(&n->exited_async);
      break;
    }
    w->thread_started = 1;
  }
  xsr__log(XSR__LOG_INFO, "serving %s with %u worker%s", n->domain, n->nworkers,
           n->nworkers == 1 ? "" : "s");
  uv_run(&n->main_loop, UV_RUN_DEFAULT);
  for (unsigned i = 0; i < n->nworkers; i++)
    if (n->workers[i].thread_started) {
      uv_thread_join(&n->workers[i].thread);
      n->workers[i].thread_started = 0;
    }
  uv_loop_close(&n->main_loop);
  uv_mutex_destroy(&n->exited_mu);
  if (!failed)
    xsr__log(XSR__LOG_INFO, "stopped");
  return failed ? -1 : 0;
}

static void close_walk(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

void xsr__net_free(xsr__net *n) {
  if (!n)
    return;
  for (unsigned i = 0; n->workers && i < n->nworkers; i++) {
    worker *w = &n->workers[i];
    if (w->loop_inited) {
      /* A loop that never ran (or was left with handles): close them all. */
      uv_walk(&w->loop, close_walk, NULL);
      uv_run(&w->loop, UV_RUN_DEFAULT);
      uv_loop_close(&w->loop);
    }
    free(w->readbuf);
    free(w->listeners);
    /* Its loop is closed: every connection's parser is freed. */
    if (n->pools)
      xsr_parser_pool_free(n->pools[i]);
  }
  free(n->pools);
  for (size_t i = 0; i < n->neps; i++) {
    for (unsigned k = 0; k < n->nworkers; k++)
      if (n->eps[i].fds[k] >= 0)
        close(n->eps[i].fds[k]);
    free(n->eps[i].fds);
  }
  free(n->eps);
  /* Every session is closed and no registered thread remains.  Its
   * rcu_barrier() runs the last closed sessions' callbacks, which queue
   * their tombstones and call wake: the workers must still be there (their
   * live flag keeps uv_async_send off the closed handles). */
  xsr_router_free(n->router);
  /* Every connection (and its reference to a users table) is gone. */
  xsr__users_free((xsr__users *)atomic_load(&n->srv.users_live));
  free(n->workers);
  free(n->domain);
  free(n);
}
