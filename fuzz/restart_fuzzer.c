/* SPDX-License-Identifier: MIT */
/*
 * restart_fuzzer: stream restarts (xsr_parser_restart) and full resets
 * (xsr_parser_reset).
 *
 * Input: [mode][limits a][limits b][4 chunk-pattern bytes] XML...
 *   mode bits 0-2  also restart after every n-th stanza (0: only after
 *                  <success/> and <proceed/>, as after SASL and STARTTLS)
 *        bit 3     feed through buffer/commit instead of feed
 *        bit 4     call the API from callbacks (must answer XSR_EBUSY)
 *        bits 5-6  refuse every n-th stanza with XSR_RETRY (0: never), once,
 *                  or twice in a row when bit 7 is set
 *
 * The harness pauses in on_stanza, restarts, and resumes: the bytes already
 * received must become the start of the new stream.  Checks: the
 * invariants of fuzz_session_run() (a new stream-open must follow each
 * restart before any stanza; offsets keep counting); split invariance of
 * the whole sequence against one feed; and after xsr_parser_reset() the
 * same parser, given the same input again, reports exactly the same log
 * (namespace ids included), so a reset leaves nothing behind.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input in = {data, size};
  uint8_t mode = fuzz_take_byte(&in);
  uint8_t a = fuzz_take_byte(&in);
  uint8_t b = fuzz_take_byte(&in);
  fuzz_run_opts opts = {.way = (mode & 8) ? FUZZ_BUFFER : FUZZ_FEED_CHUNKS};
  fuzz_chunks_init(&opts.chunks, &in);
  opts.restart_on = 1;
  opts.restart_every = mode & 7;
  opts.check_callbacks = (mode & 16) != 0;
  opts.retry_every = (mode >> 5) & 3;
  opts.retry_times = (mode & 0x80) ? 2 : 1;
  xsr_parser_config cfg;
  fuzz_config(&cfg, a, b);

  fuzz_run_opts whole = opts;
  whole.way = FUZZ_FEED_WHOLE;
  whole.retry_every = 0;
  whole.eager_index = 1; /* the reference index */
  fuzz_result ref = {0}, got = {0}, again = {0};
  fuzz_parse(&cfg, &whole, in.data, in.size, &ref);

  fuzz_session *s = fuzz_session_new(&cfg, NULL);
  FUZZ_CHECK(s != NULL, "xsr_parser_new failed");
  fuzz_session_run(s, &opts, in.data, in.size, &got);
  fuzz_log_expect_equal(&ref.log, &got.log, "chunked restarts vs one feed");
  fuzz_session_reset(s);
  fuzz_session_run(s, &opts, in.data, in.size, &again);
  fuzz_log_expect_equal(&got.log, &again.log, "the same input after xsr_parser_reset");
  fuzz_session_free(s);
  fuzz_result_free(&ref);
  fuzz_result_free(&got);
  fuzz_result_free(&again);
  return 0;
}
