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

  fuzz_run_opts whole = {.way = FUZZ_FEED_WHOLE};
  fuzz_result ref = {0}, got = {0};
  fuzz_parse(&cfg, &whole, in.data, in.size, &ref);

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
  return 0;
}
