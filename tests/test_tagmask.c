/* SPDX-License-Identifier: MIT */
/*
 * tests/test_tagmask.c: the start-tag classifier (parser/tagmask.c).
 *
 * The SIMD classifier must produce the scalar definition's masks bit for
 * bit, for every byte value at every position; and the scalar definition
 * must agree with the byte classes the parser's byte-wise states use.  The
 * element loop's first-block text check stops where xsr__scan3 does.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "tagmask.h"

static void check_same(const char *w) {
  xsr__tagmask a, b;
  xsr__tagmask_scalar(w, &a);
  xsr__tagmask_simd(w, &b);
  cr_assert_eq(a.nn, b.nn, "nn differs");
  cr_assert_eq(a.ws, b.ws, "ws differs");
  cr_assert_eq(a.apos, b.apos, "apos differs");
  cr_assert_eq(a.quot, b.quot, "quot differs");
  cr_assert_eq(a.vstop, b.vstop, "vstop differs");
}

Test(tagmask, simd_matches_scalar_for_every_byte_at_every_position) {
  xsr__scan_init();
  if (!xsr__tagmask_simd)
    cr_skip_test("no SIMD classifier on this CPU (or XSR_FORCE_SCALAR set)");
  char w[64];
  for (int c = 0; c < 256; c++) {
    for (int pos = 0; pos < 64; pos++) {
      memset(w, 'a', sizeof w);
      w[pos] = (char)c;
      check_same(w);
      memset(w, ' ', sizeof w);
      w[pos] = (char)c;
      check_same(w);
    }
  }
}

Test(tagmask, simd_matches_scalar_on_random_blocks) {
  xsr__scan_init();
  if (!xsr__tagmask_simd)
    cr_skip_test("no SIMD classifier on this CPU (or XSR_FORCE_SCALAR set)");
  /* Bytes drawn mostly from the ones start tags are made of. */
  static const char pool[] = "abcxyzAZ09_-.:' \"=<>&/\t\n\r\x01\x7f\x80\xc3\xa9\xff";
  uint64_t x = 0x9E3779B97F4A7C15ull;
  char w[64];
  for (int round = 0; round < 200000; round++) {
    for (int i = 0; i < 64; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      w[i] = (x & 0x300) ? pool[x % (sizeof pool - 1)] : (char)(x >> 24);
    }
    check_same(w);
  }
}

/* xsr__content_stops32, the element loop's first block of a text: where
 * xsr__scan3(s, e, '<', '&', '>') stops, for every byte at every position
 * (against the scalar scan3 over the block from each position). */
Test(tagmask, content_stops32_matches_scan3_for_every_byte_at_every_position) {
  xsr__scan_init();
  if (!xsr__tagmask_simd)
    cr_skip_test("no SIMD classifier on this CPU (or XSR_FORCE_SCALAR set)");
#ifdef XSR__TAGMASK_AVX2
  char w[32];
  for (int c = 0; c < 256; c++) {
    for (int pos = 0; pos < 32; pos++) {
      memset(w, pos % 2 ? 'a' : ' ', sizeof w);
      w[pos] = (char)c;
      uint32_t m = xsr__content_stops32(w), want = 0;
      for (int i = 0; i < 32; i++)
        if (xsr__scan3_scalar(w + i, w + i + 1, '<', '&', '>') == w + i)
          want |= 1u << i;
      cr_assert_eq(m, want, "byte %02x at %d: %08x, want %08x", c, pos, m, want);
    }
  }
#endif
}

Test(tagmask, scalar_definition_matches_the_parser_byte_classes) {
  char w[64];
  for (int c = 0; c < 256; c++) {
    memset(w, 'a', sizeof w);
    w[5] = (char)c;
    xsr__tagmask m;
    xsr__tagmask_scalar(w, &m);
    uint64_t bit = 1ull << 5;
    int name = (xsr__name_class[c] & XSR__NAME_CHAR) && c != ':';
    cr_assert_eq(!(m.nn & bit), name, "byte %#x: name class", c);
    cr_assert_eq(!!(m.ws & bit), c == ' ' || c == '\t' || c == '\n' || c == '\r', "byte %#x: ws",
                 c);
    cr_assert_eq(!!(m.vstop & bit), c < 0x20 || c >= 0x80 || c == '<' || c == '&',
                 "byte %#x: value stop", c);
    /* The other 63 bytes are 'a': a name character, nothing else. */
    cr_assert_eq(m.nn & ~bit, 0);
    cr_assert_eq(m.ws & ~bit, 0);
    cr_assert_eq(m.vstop & ~bit, 0);
  }
}
