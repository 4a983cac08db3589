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

static void steady_state(int mode, size_t chunk) {
  countalloc ca = {0};
  xsr_allocator al = countalloc_make(&ca);
  size_t seen = 0;
  xsr_parser *p = xsr_parser_new(NULL, &cbs, &seen, &al);
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
  cr_expect_eq(ca.live, 0, "%ld blocks leaked", ca.live);
  cr_expect_eq(ca.live_bytes, 0);
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
                               size_t *stanzas_ok) {
  countalloc ca = {0};
  ca.fail_at = fail_at;
  xsr_allocator al = countalloc_make(&ca);
  fctx x = {0};
  xsr_parser *p = xsr_parser_new(NULL, &fcbs, &x, &al);
  if (!p) {
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
  cr_expect_eq(ca.live, 0, "allocation %zu failing: %ld blocks leaked", fail_at, ca.live);
  return ca.calls;
}

static void nth_failure(int mode, size_t chunk) {
  tbuf in = {0};
  build_input(&in);
  size_t stanzas = 0;
  size_t total = run_with_failure(&in, 0, mode, chunk, &stanzas);
  cr_assert_eq(stanzas, 42, "clean run saw %zu stanzas", stanzas);
  cr_assert_gt(total, 0, "the parser never allocated through the hook");
  for (size_t n = 1; n <= total + 1; n++) {
    size_t ok = 0;
    run_with_failure(&in, n, mode, chunk, &ok);
    if (ok)
      cr_expect_eq(ok, 42, "allocation %zu failed silently: %zu stanzas", n, ok);
  }
  tbuf_free(&in);
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
