/* SPDX-License-Identifier: MIT */
/*
 * parser_buffer_fuzzer: xsr_parser_buffer() + xsr_parser_commit(), the
 * zero-copy way in, with the room asked, the bytes committed per call,
 * limits and pauses chosen by the leading bytes.
 *
 * Input: [mode][limits a][limits b][4 chunk-pattern bytes] XML...
 *   mode bits 0-1  pause after stanzas / after stream open and close
 *        bit 2     call the API from callbacks (must answer XSR_EBUSY)
 *        bit 3     refuse every second stanza once with XSR_RETRY
 *        bits 4-6  room asked of xsr_parser_buffer(): 0 (default), 1, 2,
 *                  16, 100, 1460, 4096, 65536
 *        bit 7     a read per event (see parser_feed_fuzzer), then the
 *                  chunk pattern
 *
 * Checks: the invariants of fuzz_session_run(); xsr_parser_buffer() gives
 * at least the room asked; bytes left in the room past a commit (filled
 * with '<') are never parsed; and the events, error and offset equal those
 * of one xsr_parser_feed() of the whole input.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t asks[8] = {0, 1, 2, 16, 100, 1460, 4096, 65536};
  fuzz_input in = {data, size};
  uint8_t mode = fuzz_take_byte(&in);
  uint8_t a = fuzz_take_byte(&in);
  uint8_t b = fuzz_take_byte(&in);
  fuzz_run_opts opts = {.way = FUZZ_BUFFER};
  fuzz_chunks_init(&opts.chunks, &in);
  opts.pause_mask = mode & 3;
  opts.check_callbacks = (mode & 4) != 0;
  opts.buffer_ask = asks[(mode >> 4) & 7];
  opts.retry_every = (mode & 8) ? 2 : 0;
  opts.retry_times = 1;
  xsr_parser_config cfg;
  fuzz_config(&cfg, a, b);

  fuzz_run_opts whole = {.way = FUZZ_FEED_WHOLE, .eager_index = 1}; /* the reference index */
  fuzz_result ref = {0}, got = {0};
  fuzz_parse(&cfg, &whole, in.data, in.size, &ref);
  if (mode & 128) {
    opts.cuts = ref.ends;
    opts.ncuts = ref.nends;
  }
  fuzz_parse(&cfg, &opts, in.data, in.size, &got);
  fuzz_log_expect_equal(&ref.log, &got.log, "buffer/commit vs one feed");
  fuzz_result_free(&ref);
  fuzz_result_free(&got);
  return 0;
}
