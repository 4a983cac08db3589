/* SPDX-License-Identifier: MIT */
/*
 * Allocation behaviour, through a counting xsr_allocator:
 *   - after warm-up, 10,000 stanzas through feed (and through buffer/commit,
 *     and split across chunks) allocate nothing;
 *   - the n-th allocation failing, for every n a full run performs, gives
 *     NULL from xsr_parser_new or XSR_ENOMEM, never a crash or a leak, and
 *     never a second try that hides the failure (a fast path and the
 *     byte-wise states must end the same way, whichever meets it); all
 *     blocks are freed.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "xsr_test.h"

#define HDR                                                                                        \
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "          \
  "to='example.com' version='1.0'>"

#define STANZAS 10000

static int count_stanza(void *user, const xsr_stanza *st) {
  (void)st;
  ++*(size_t *)user;
  return 0;
}

static const xsr_parser_callbacks cbs = {NULL, count_stanza, NULL};

/* A chat stanza with a few children, attributes, a reference and a
 * namespace of its own: index, namespace and reference paths are exercised. */
static size_t make_stanza(char *buf, size_t cap, unsigned i) {
  int n = snprintf(buf, cap,
                   "<message to='user%u@example.com' from='peer@example.net/r' id='m%u' "
                   "type='chat' xml:lang='en'><body>hello %u &amp; bye</body>"
                   "<active xmlns='http://jabber.org/protocol/chatstates'/>"
                   "<x xmlns='urn:example:ext' a='1' b='2'><y>z</y></x></message>\n",
                   i % 97, i, i);
  return (size_t)n;
}

static void steady_state_with(int mode, size_t chunk, int pooled) {
  countalloc ca = {0};
  xsr_allocator al = countalloc_make(&ca);
  size_t seen = 0;
  xsr_parser_config cfg;
  xsr_parser_config_init(&cfg);
  cfg.pool = pooled ? xsr_parser_pool_new(&al) : NULL;
  xsr_parser *p = xsr_parser_new(&cfg, &cbs, &seen, &al);
  cr_assert_not_null(p);
  char st[512];
  size_t warm_calls = 0;
  for (unsigned i = 0; i < STANZAS + 100; i++) {
    if (i == 100)
      warm_calls = ca.calls; /* warm-up done: buffers sized, namespace interned */
    const char *data;
    size_t len;
    if (i == 0) {
      static char first[1024];
      size_t h = strlen(HDR);
      memcpy(first, HDR, h);
      len = h + make_stanza(first + h, sizeof first - h, i);
      data = first;
    } else {
      len = make_stanza(st, sizeof st, i);
      data = st;
    }
    for (size_t off = 0; off < len;) {
      size_t n = len - off < chunk ? len - off : chunk;
      xsr_err e;
      if (mode == XT_COMMIT) {
        size_t want = n;
        char *b = xsr_parser_buffer(p, &want);
        cr_assert_not_null(b);
        memcpy(b, data + off, n);
        e = xsr_parser_commit(p, n);
      } else {
        e = xsr_parser_feed(p, data + off, n);
      }
      cr_assert_eq(e, XSR_OK, "stanza %u: %s", i, xsr_err_name(e));
      off += n;
    }
  }
  cr_expect_eq(seen, STANZAS + 100);
  cr_expect_eq(ca.calls, warm_calls,
               "%zu allocator calls during %d stanzas after warm-up (%s, chunk %zu)",
               ca.calls - warm_calls, STANZAS, mode == XT_COMMIT ? "commit" : "feed", chunk);
  xsr_parser_free(p);
  xsr_parser_pool_free(cfg.pool);
  cr_expect_eq(ca.live, 0, "%ld blocks leaked", ca.live);
  cr_expect_eq(ca.live_bytes, 0);
}

static void steady_state(int mode, size_t chunk) {
  steady_state_with(mode, chunk, 0);
  steady_state_with(mode, chunk, 1);
}

Test(alloc, steady_state_feed_whole) { steady_state(XT_FEED, 1 << 20); }
Test(alloc, steady_state_feed_chunks_of_7) { steady_state(XT_FEED, 7); }
Test(alloc, steady_state_commit_whole) { steady_state(XT_COMMIT, 1 << 20); }
Test(alloc, steady_state_commit_chunks_of_7) { steady_state(XT_COMMIT, 7); }

/* The input for the failure runs: header, stanzas of growing size (so the
 * buffers must grow), a restart, and more. */
static void build_input(tbuf *in) {
  tbuf_puts(in, HDR);
  for (unsigned i = 0; i < 40; i++) {
    tbuf_printf(in, "<message id='%u' xmlns:e%u='urn:example:%u'><body>", i, i, i);
    for (unsigned k = 0; k < i * i; k++)
      tbuf_puts(in, "text &amp; ");
    tbuf_printf(in, "</body><e%u:x><a><b><c/></b></a></e%u:x></message>", i, i);
  }
  tbuf_puts(in, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" HDR
                "<iq type='get' id='x'><query xmlns='jabber:iq:roster'/></iq></stream:stream>");
}

typedef struct fctx {
  xsr_parser *p;
  size_t stanzas;
  int restart;
} fctx;

static int f_stanza(void *user, const xsr_stanza *st) {
  fctx *x = user;
  x->stanzas++;
  if (st->name.len == 7 && memcmp(st->name.ptr, "success", 7) == 0) {
    x->restart = 1;
    return XSR_PAUSE;
  }
  return 0;
}

static const xsr_parser_callbacks fcbs = {NULL, f_stanza, NULL};

/* Runs the input once with allocation number fail_at failing; returns the
 * number of allocator calls made. */
static size_t run_with_failure(const tbuf *in, size_t fail_at, int mode, size_t chunk,
                               size_t *stanzas_ok, int pooled) {
  countalloc ca = {0};
  ca.fail_at = fail_at;
  xsr_allocator al = countalloc_make(&ca);
  fctx x = {0};
  xsr_parser_config cfg;
  xsr_parser_config_init(&cfg);
  if (pooled) {
    /* The pool allocates through the same counter: its failures too. */
    cfg.pool = xsr_parser_pool_new(&al);
    if (!cfg.pool)
      return ca.calls;
  }
  xsr_parser *p = xsr_parser_new(&cfg, &fcbs, &x, &al);
  if (!p) {
    xsr_parser_pool_free(cfg.pool);
    cr_expect_eq(ca.live, 0, "xsr_parser_new failed at call %zu and leaked %ld blocks", fail_at,
                 ca.live);
    return ca.calls;
  }
  x.p = p;
  xsr_err e = XSR_OK;
  for (size_t off = 0; off < in->len && e == XSR_OK;) {
    size_t n = in->len - off < chunk ? in->len - off : chunk;
    if (mode == XT_COMMIT) {
      size_t want = n;
      char *b = xsr_parser_buffer(p, &want);
      if (!b) {
        cr_expect_eq(want, 0);
        e = xsr_parser_error(p, NULL);
        if (e == XSR_OK)
          e = XSR_ENOMEM; /* buffer() failed without storing an error: allowed */
        break;
      }
      memcpy(b, in->p + off, n);
      e = xsr_parser_commit(p, n);
    } else {
      e = xsr_parser_feed(p, in->p + off, n);
    }
    off += n;
    while (e == XSR_PAUSED) {
      if (x.restart) {
        x.restart = 0;
        xsr_err r = xsr_parser_restart(p);
        cr_expect(r == XSR_OK || r == XSR_ENOMEM, "restart: %s", xsr_err_name(r));
      }
      e = xsr_parser_resume(p);
    }
  }
  cr_expect(e == XSR_OK || e == XSR_ENOMEM, "allocation %zu failing gave %s", fail_at,
            xsr_err_name(e));
  cr_expect(ca.failed == 0 || e == XSR_ENOMEM, "allocation %zu failed, yet the parse went on (%s)",
            fail_at, xsr_err_name(e));
  if (e == XSR_ENOMEM && mode == XT_FEED) {
    /* Sticky like every error. */
    cr_expect_eq(xsr_parser_feed(p, "<a/>", 4), XSR_ENOMEM);
  }
  if (e == XSR_OK)
    *stanzas_ok = x.stanzas;
  xsr_parser_free(p);
  xsr_parser_pool_free(cfg.pool);
  cr_expect_eq(ca.live, 0, "allocation %zu failing: %ld blocks leaked", fail_at, ca.live);
  return ca.calls;
}

static void nth_failure_with(int mode, size_t chunk, int pooled) {
  tbuf in = {0};
  build_input(&in);
  size_t stanzas = 0;
  size_t total = run_with_failure(&in, 0, mode, chunk, &stanzas, pooled);
  cr_assert_eq(stanzas, 42, "clean run saw %zu stanzas", stanzas);
  cr_assert_gt(total, 0, "the parser never allocated through the hook");
  for (size_t n = 1; n <= total + 1; n++) {
    size_t ok = 0;
    run_with_failure(&in, n, mode, chunk, &ok, pooled);
    if (ok)
      cr_expect_eq(ok, 42, "allocation %zu failed silently: %zu stanzas", n, ok);
  }
  tbuf_free(&in);
}

static void nth_failure(int mode, size_t chunk) {
  nth_failure_with(mode, chunk, 0);
  nth_failure_with(mode, chunk, 1);
}

Test(alloc, nth_failure_feed_whole) { nth_failure(XT_FEED, 1 << 20); }
Test(alloc, nth_failure_feed_chunks) { nth_failure(XT_FEED, 61); }
Test(alloc, nth_failure_commit_chunks) { nth_failure(XT_COMMIT, 61); }

Test(alloc, free_and_reset_release_everything) {
  countalloc ca = {0};
  xsr_allocator al = countalloc_make(&ca);
  xsr_parser *p = xsr_parser_new(NULL, NULL, NULL, &al);
  cr_assert_not_null(p);
  const char *in = HDR "<message><body>unfinished";
  cr_assert_eq(xsr_parser_feed(p, in, strlen(in)), XSR_OK);
  xsr_parser_reset(p);
  cr_assert_eq(xsr_parser_feed(p, in, strlen(in)), XSR_OK);
  xsr_parser_free(p);
  cr_expect_eq(ca.live, 0, "%ld blocks leaked", ca.live);
  cr_expect_gt(ca.mallocs + ca.reallocs, 0, "the allocator hook was not used");
}

/* ---- scratch pools --------------------------------------------------------- */

/* What an idle parser on a pool holds, after a stream header and a stanza
 * that declares a namespace that is not well known, nothing left held:
 *   the struct xsr_parser itself                      (sizeof, ~576 bytes)
 *   the header's bindings (binds: 4 x 16)                        64 bytes
 *   the arena: "stream:stream", the prefix "stream", a NUL       20 bytes
 *   the forwarding context: one prefixed binding (inh: 1 x 32)   32 bytes
 *   the interned namespace: its entry (4 x 16), its hash table
 *   (8 x 4) and the URI "urn:example:ext"                   64 + 32 + 15
 * and no buffer, index, stack or decoding room: those went back to the
 * pool.  IDLE_MAX is that total with a little slack for the struct. */
#define IDLE_MAX 832

static size_t feed_all(xsr_parser *p, const char *d, size_t len, size_t chunk) {
  size_t calls = 0;
  for (size_t off = 0; off < len; off += chunk, calls++) {
    size_t n = len - off < chunk ? len - off : chunk;
    cr_assert_eq(xsr_parser_feed(p, d + off, n), XSR_OK);
  }
  return calls;
}

Test(pool, idle_parser_holds_no_scratch) {
  countalloc pc = {0}, pp = {0}; /* the parser's allocations, the pool's */
  xsr_allocator pa = countalloc_make(&pc), poola = countalloc_make(&pp);
  xsr_parser_pool *pool = xsr_parser_pool_new(&poola);
  cr_assert_not_null(pool);
  xsr_parser_config cfg;
  xsr_parser_config_init(&cfg);
  cfg.pool = pool;
  size_t seen = 0;
  xsr_parser *p = xsr_parser_new(&cfg, &cbs, &seen, &pa);
  cr_assert_not_null(p);
  cr_expect_eq(pc.live, 1, "after new: %ld blocks (the struct alone expected)", pc.live);
  size_t after_new = pc.live_bytes;
  char st[512];
  size_t n = make_stanza(st, sizeof st, 1);
  for (size_t chunk = 1; chunk <= 600; chunk += chunk < 16 ? 1 : 97) {
    xsr_parser_reset(p);
    feed_all(p, HDR, strlen(HDR), chunk);
    feed_all(p, st, n, chunk);
    cr_assert_eq(xsr_parser_held(p), 0);
    cr_expect_leq(pc.live_bytes, IDLE_MAX, "chunk %zu: an idle parser holds %zu bytes", chunk,
                  pc.live_bytes);
  }
  cr_log_info("idle parser: %zu bytes after new, %zu after a header and a stanza\n", after_new,
              pc.live_bytes);
  /* A buffer()/commit() read too: the buffer goes back with the rest. */
  size_t want = 0;
  char *b = xsr_parser_buffer(p, &want);
  cr_assert_not_null(b);
  memcpy(b, st, n);
  cr_assert_eq(xsr_parser_commit(p, n), XSR_OK);
  cr_expect_leq(pc.live_bytes, IDLE_MAX);
  /* So does a read that brought nothing. */
  b = xsr_parser_buffer(p, &want);
  cr_assert_not_null(b);
  cr_assert_eq(xsr_parser_commit(p, 0), XSR_OK);
  xsr_parser_free(p);
  cr_expect_eq(pc.live, 0);
  xsr_parser_pool_free(pool);
  cr_expect_eq(pp.live, 0);
}

Test(pool, many_parsers_share_one_set) {
  countalloc pc = {0}, pp = {0};
  xsr_allocator pa = countalloc_make(&pc), poola = countalloc_make(&pp);
  xsr_parser_pool *pool = xsr_parser_pool_new(&poola);
  xsr_parser_config cfg;
  xsr_parser_config_init(&cfg);
  cfg.pool = pool;
  enum { N = 1000 };
  static xsr_parser *ps[N];
  size_t seen = 0;
  char st[512];
  size_t n = make_stanza(st, sizeof st, 7);
  for (int i = 0; i < N; i++) {
    ps[i] = xsr_parser_new(&cfg, &cbs, &seen, &pa);
    cr_assert_not_null(ps[i]);
    feed_all(ps[i], HDR, strlen(HDR), 1 << 20);
  }
  size_t pool_blocks = pp.live; /* the pool and one scratch set */
  for (int round = 0; round < 3; round++)
    for (int i = 0; i < N; i++)
      feed_all(ps[i], st, n, 1 << 20);
  cr_expect_eq(seen, 3 * N);
  cr_expect_eq(pp.live, pool_blocks, "the pool grew from %zu to %ld blocks", pool_blocks, pp.live);
  cr_expect_leq(pc.live_bytes, (size_t)N * IDLE_MAX, "%d idle parsers hold %zu bytes", N,
                pc.live_bytes);
  cr_log_info("%d idle parsers: %zu bytes, the pool %zu bytes in %zu blocks\n", N, pc.live_bytes,
              pp.live_bytes, pool_blocks);
  for (int i = 0; i < N; i++)
    xsr_parser_free(ps[i]);
  xsr_parser_pool_free(pool);
  cr_expect_eq(pc.live, 0);
  cr_expect_eq(pp.live, 0);
}

typedef struct logctx {
  tbuf log;
} logctx;

static int log_stanza(void *user, const xsr_stanza *st) {
  logctx *l = user;
  tbuf_printf(&l->log, "%llu ", (unsigned long long)st->offset);
  tbuf_add(&l->log, st->raw.ptr, st->raw.len);
  tbuf_puts(&l->log, "\n");
  return 0;
}
static const xsr_parser_callbacks logcbs = {NULL, log_stanza, NULL};

/* A parser holding half a stanza keeps its scratch while another parser
 * borrows (a second set), and both report what they would alone. */
Test(pool, partial_stanza_keeps_its_scratch) {
  countalloc pp = {0};
  xsr_allocator poola = countalloc_make(&pp);
  xsr_parser_pool *pool = xsr_parser_pool_new(&poola);
  xsr_parser_config cfg;
  xsr_parser_config_init(&cfg);
  cfg.pool = pool;
  logctx la = {0}, lb = {0}, solo = {0};
  xsr_parser *a = xsr_parser_new(&cfg, &logcbs, &la, NULL);
  xsr_parser *b = xsr_parser_new(&cfg, &logcbs, &lb, NULL);
  xsr_parser *s = xsr_parser_new(NULL, &logcbs, &solo, NULL);
  cr_assert(a && b && s);
  feed_all(a, HDR, strlen(HDR), 1 << 20);
  feed_all(b, HDR, strlen(HDR), 1 << 20);
  feed_all(s, HDR, strlen(HDR), 1 << 20);
  long one_set = pp.live;
  char st[512];
  size_t n = make_stanza(st, sizeof st, 3);
  feed_all(a, st, n / 2, 1 << 20); /* a holds half a stanza */
  cr_assert_gt(xsr_parser_held(a), 0);
  for (unsigned i = 0; i < 50; i++) {
    size_t m = make_stanza(st, sizeof st, i);
    feed_all(b, st, m, i % 5 + 1);
  }
  long two_sets = pp.live;
  cr_expect_gt(two_sets, one_set, "b borrowed no second set while a held its own");
  n = make_stanza(st, sizeof st, 3);
  feed_all(a, st + n / 2, n - n / 2, 1 << 20);
  feed_all(s, st, n, 1 << 20);
  cr_expect_str_eq(tbuf_str(&la.log), tbuf_str(&solo.log));
  cr_expect_eq(xsr_parser_held(a), 0);
  cr_expect_eq(pp.live, two_sets, "a finished its stanza in the set it held");
  xsr_parser_free(a);
  xsr_parser_free(b);
  xsr_parser_free(s);
  xsr_parser_pool_free(pool);
  cr_expect_eq(pp.live, 0);
  tbuf_free(&la.log);
  tbuf_free(&lb.log);
  tbuf_free(&solo.log);
}

/* A burst of parsers holding bytes at once (a login storm: each paused with
 * the rest of its pipelined input) makes the pool lend a set to each; once
 * they are idle, the second trim gives those sets back to the allocator,
 * while a load that repeats keeps the sets it needs. */
Test(pool, trim_frees_what_a_burst_left) {
  countalloc pp = {0};
  xsr_allocator poola = countalloc_make(&pp);
  xsr_parser_pool *pool = xsr_parser_pool_new(&poola);
  xsr_parser_config cfg;
  xsr_parser_config_init(&cfg);
  cfg.pool = pool;
  enum { N = 64 };
  static xsr_parser *ps[N];
  size_t seen = 0, lent = 99;
  cr_expect_eq(xsr_parser_pool_sets(pool, &lent), 0);
  cr_expect_eq(lent, 0);
  for (int i = 0; i < N; i++) {
    ps[i] = xsr_parser_new(&cfg, &cbs, &seen, NULL);
    cr_assert_not_null(ps[i]);
    feed_all(ps[i], HDR, strlen(HDR), 1 << 20);
  }
  long base = pp.live; /* the pool and the one set the headers used */
  char st[512];
  size_t n = make_stanza(st, sizeof st, 5);
  for (int i = 0; i < N; i++) /* every parser holds half a stanza */
    feed_all(ps[i], st, n / 2, 1 << 20);
  cr_expect_eq(xsr_parser_pool_sets(pool, &lent), N);
  cr_expect_eq(lent, N);
  cr_expect_eq(xsr_parser_pool_trim(pool), 0, "sets lent now are not freed");
  for (int i = 0; i < N; i++) /* ... and finishes it: all sets free */
    feed_all(ps[i], st + n / 2, n - n / 2, 1 << 20);
  cr_expect_eq(seen, N);
  long burst = pp.live;
  cr_expect_eq(xsr_parser_pool_sets(pool, &lent), N);
  cr_expect_eq(lent, 0);
  /* The first trim ends the burst's period: it needed N sets. */
  cr_expect_eq(xsr_parser_pool_trim(pool), 0);
  cr_expect_eq(pp.live, burst);
  /* Two parsers at once in the next period, then the trim keeps two. */
  feed_all(ps[0], st, n / 2, 1 << 20);
  feed_all(ps[1], st, n, 1 << 20);
  feed_all(ps[0], st + n / 2, n - n / 2, 1 << 20);
  cr_expect_eq(xsr_parser_pool_trim(pool), N - 2);
  cr_expect_eq(xsr_parser_pool_sets(pool, &lent), 2);
  cr_expect_lt(pp.live, burst);
  cr_expect_geq(pp.live, base);
  /* The same load again allocates nothing. */
  long kept = pp.live;
  feed_all(ps[2], st, n / 2, 1 << 20);
  feed_all(ps[3], st, n, 1 << 20);
  feed_all(ps[2], st + n / 2, n - n / 2, 1 << 20);
  cr_expect_eq(pp.live, kept);
  cr_expect_eq(seen, N + 4);
  /* An idle period: the next trim frees every free set. */
  cr_expect_eq(xsr_parser_pool_trim(pool), 0, "this period lent two");
  cr_expect_eq(xsr_parser_pool_trim(pool), 2);
  cr_expect_eq(xsr_parser_pool_sets(pool, NULL), 0);
  cr_expect_eq(xsr_parser_pool_trim(NULL), 0);
  for (int i = 0; i < N; i++)
    xsr_parser_free(ps[i]);
  xsr_parser_pool_free(pool);
  cr_expect_eq(pp.live, 0);
}
