/* SPDX-License-Identifier: MIT */
/*
 * parser_feed_fuzzer: xsr_parser_feed() with the chunking, limits and
 * pauses chosen by the leading bytes.
 *
 * Input: [mode][limits a][limits b][4 chunk-pattern bytes] XML...
 *   mode bits 0-1  pause after stanzas / after stream open and close
 *        bit 2     call the API from callbacks (must answer XSR_EBUSY)
 *        bit 3     fail the n-th allocation, n = mode >> 4
 *        bit 4     (bit 3 clear) a read per event: each read ends where the
 *                  reference run's stream header, stanza or stream end
 *                  ended (a server reading whole stanzas), the chunk
 *                  pattern after the last
 *        bits 5-6  (bit 3 clear) refuse every n-th stanza with XSR_RETRY
 *                  (0: never), once, or twice in a row when bit 7 is set
 *   limits a/b     besides the limits (fuzz_config): the scratch comes from
 *                  a pool shared with a second parser that is fed a chunk
 *                  of another stream after every call (scratch sets change
 *                  hands mid-stream) when a has bits 7 and 6 set (small
 *                  limits, where bit 6 is free) or, with bits 7 and 6
 *                  clear, when b has bit 0 set (b is free there)
 *
 * Checks: every invariant of fuzz_session_run() (spans, index, decoding,
 * offsets, refusal after an error, a refused stanza reported again as it
 * was), and split invariance: the chunked, paused, refusing run reports
 * exactly the events, error and offset of one feed of the whole input.
 */
#include "fuzz.h"

typedef struct fail_alloc {
  unsigned left; /* allocations that still succeed */
} fail_alloc;

static void *fa_malloc(void *user, size_t n) {
  fail_alloc *fa = user;
  if (fa->left == 0)
    return NULL;
  fa->left--;
  return malloc(n);
}
static void *fa_realloc(void *user, void *p, size_t n) {
  fail_alloc *fa = user;
  if (fa->left == 0)
    return NULL;
  fa->left--;
  return realloc(p, n);
}
static void fa_free(void *user, void *p) {
  (void)user;
  free(p);
}

/* The second parser on the pool: an endless chat stream in chunks of 1 to
 * 97 bytes, so that it holds a partial stanza at times (keeping a set) and
 * nothing at others (handing it back). */
typedef struct other {
  xsr_parser *p;
  size_t off, step;
} other;

static const char other_stream[] =
    "<message to='a@example.com' id='1'><body>one &amp; two</body>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>"
    "<presence><x xmlns='urn:example:other' a='1'><y>z</y></x></presence>";

static void other_step(void *user) {
  other *o = user;
  static const char hdr[] = "<stream:stream xmlns='jabber:client' "
                            "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
  static const size_t sizes[] = {1, 7, 97, 13, 2, 64, 31, 5};
  size_t n = sizes[o->step++ % 8];
  char chunk[128];
  for (size_t k = 0; k < n; k++, o->off++)
    chunk[k] = o->off < sizeof hdr - 1
                   ? hdr[o->off]
                   : other_stream[(o->off - (sizeof hdr - 1)) % (sizeof other_stream - 1)];
  xsr_err e = xsr_parser_feed(o->p, chunk, n);
  FUZZ_CHECK(e == XSR_OK, "the second parser on the pool failed: %s", xsr_err_name(e));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input in = {data, size};
  uint8_t mode = fuzz_take_byte(&in);
  uint8_t a = fuzz_take_byte(&in);
  uint8_t b = fuzz_take_byte(&in);
  fuzz_run_opts opts = {.way = FUZZ_FEED_CHUNKS};
  fuzz_chunks_init(&opts.chunks, &in);
  opts.pause_mask = mode & 3;
  opts.check_callbacks = (mode & 4) != 0;
  xsr_parser_config cfg;
  fuzz_config(&cfg, a, b);
  int pooled = (a & 0x80) ? (a & 0x40) != 0 : !(a & 0x40) && (b & 1);

  fuzz_run_opts whole = {.way = FUZZ_FEED_WHOLE, .eager_index = 1}; /* the reference index */
  fuzz_result ref = {0}, got = {0};
  fuzz_parse(&cfg, &whole, in.data, in.size, &ref);

  other o = {0};
  if (pooled) {
    cfg.pool = xsr_parser_pool_new(NULL);
    FUZZ_CHECK(cfg.pool != NULL, "out of memory in the harness");
    xsr_parser_config ocfg;
    xsr_parser_config_init(&ocfg);
    ocfg.pool = cfg.pool;
    o.p = xsr_parser_new(&ocfg, NULL, NULL, NULL);
    FUZZ_CHECK(o.p != NULL, "out of memory in the harness");
    opts.between = other_step;
    opts.between_user = &o;
  }
  if (mode & 8) {
    fail_alloc fa = {mode >> 4};
    xsr_allocator alloc = {fa_malloc, fa_realloc, fa_free, &fa};
    fuzz_session *s = fuzz_session_new(&cfg, &alloc);
    if (s != NULL) {
      fuzz_session_run(s, &opts, in.data, in.size, &got);
      fuzz_session_free(s);
      if (!got.enomem)
        fuzz_log_expect_equal(&ref.log, &got.log, "feed with a failing allocator");
    }
  } else {
    opts.retry_every = (mode >> 5) & 3;
    opts.retry_times = (mode & 0x80) ? 2 : 1;
    if (mode & 16) {
      opts.cuts = ref.ends;
      opts.ncuts = ref.nends;
    }
    fuzz_parse(&cfg, &opts, in.data, in.size, &got);
    fuzz_log_expect_equal(&ref.log, &got.log,
                          opts.ncuts ? "feed per event vs one feed" : "chunked feed vs one feed");
  }
  fuzz_result_free(&ref);
  fuzz_result_free(&got);
  xsr_parser_free(o.p);
  xsr_parser_pool_free(cfg.pool);
  return 0;
}
