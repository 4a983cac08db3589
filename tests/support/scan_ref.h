/* SPDX-License-Identifier: MIT */
/*
 * tests/support/scan_ref.h: pieces the scanner tests (test_scan.c,
 * test_scan3.c) share: a reference UTF-8 decoder written from the bit
 * patterns and code point ranges (not from the parser's tables), a seeded
 * generator of characters and invalid sequences, the failure dump, and a
 * buffer between two PROT_NONE pages.  Header-only: each test binary gets
 * its own generator state.
 */
#ifndef XSR_TEST_SCAN_REF_H
#define XSR_TEST_SCAN_REF_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* The failure message being built, and a hex dump of the input after it. */
static char why[4096];

static inline void dump(const unsigned char *s, const unsigned char *e) {
  size_t n = strlen(why);
  for (const unsigned char *p = s; p < e && n + 4 < sizeof why; p++)
    n += (size_t)snprintf(why + n, sizeof why - n, "%02x ", *p);
}

/* xorshift64: tests seed rng_state, then draw 0..n-1. */
static uint64_t rng_state;

static inline uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)((rng_state >> 11) % n);
}

static inline int have_avx2(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
#else
  return 0;
#endif
}

/* Decodes one sequence at p within [p, e) from the bit patterns and the
 * code point ranges; returns its length when it is complete, valid and an
 * XML Char, else 0. */
static inline int ref_char(const unsigned char *p, const unsigned char *e) {
  unsigned b = p[0];
  int n;
  uint32_t cp, min;
  if ((b & 0xE0) == 0xC0) {
    n = 2, cp = b & 0x1F, min = 0x80;
  } else if ((b & 0xF0) == 0xE0) {
    n = 3, cp = b & 0x0F, min = 0x800;
  } else if ((b & 0xF8) == 0xF0) {
    n = 4, cp = b & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (e - p < n)
    return 0;
  for (int i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    cp = cp << 6 | (p[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
    return 0;
  return n;
}

static inline size_t put_cp(unsigned char *o, uint32_t cp) {
  return xsr__utf8_encode(cp, (char *)o);
}

/* Invalid UTF-8, cut sequences and U+FFFE/U+FFFF. */
static const char *const invalid_utf8[] = {"\xC0\x80",
                                           "\xC1\xBF",
                                           "\xE0\x80\x80",
                                           "\xE0\x9F\xBF",
                                           "\xF0\x80\x80\x80",
                                           "\xF0\x8F\xBF\xBF",
                                           "\xED\xA0\x80",
                                           "\xED\xBF\xBF",
                                           "\xF4\x90\x80\x80",
                                           "\xF5\x80\x80\x80",
                                           "\xF8",
                                           "\xFE",
                                           "\xFF",
                                           "\x80",
                                           "\xBF",
                                           "\xC3",
                                           "\xE3\x81",
                                           "\xF0\x9F\x91",
                                           "\xF4\x8F\xBF",
                                           "\xEF\xBF\xBE",
                                           "\xEF\xBF\xBF",
                                           "\xEF\xBF",
                                           "\xC2\xC2",
                                           "\xE2\x28\xA1"};
#define N_INVALID_UTF8 (sizeof invalid_utf8 / sizeof *invalid_utf8)

/* Appends one token of text for kind 0..9 (the caller's draw): TAB or LF,
 * a few printable ASCII bytes other than '<' '&' '>' ']', or a valid
 * character of 2, 3 or 4 bytes (block edges included); returns its length
 * (at most 8). */
static inline size_t put_text_token(unsigned char *o, uint32_t kind) {
  static const uint32_t edges[] = {0x80,   0x7FF,   0x800,   0xD7FF,  0xE000,  0xFFFC,
                                   0xFFFD, 0x10000, 0x1F44D, 0xFFFFF, 0x10FFFF};
  switch (kind) {
  case 0:
    o[0] = rnd(2) ? '\t' : '\n';
    return 1;
  case 1:
  case 2:
  case 3: {
    size_t n = 1 + rnd(8);
    for (size_t i = 0; i < n; i++) {
      unsigned char b = (unsigned char)(0x20 + rnd(0x60)); /* 0x20..0x7F */
      o[i] = (b == '<' || b == '&' || b == '>' || b == ']') ? 'x' : b;
    }
    return n;
  }
  case 4:
    return put_cp(o, 0x80 + rnd(0x800 - 0x80));
  case 5:
  case 6: {
    uint32_t cp = 0x800 + rnd(0x10000 - 0x800);
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp >= 0xFFFE)
      cp = 0x3042;
    return put_cp(o, cp);
  }
  case 7:
    return put_cp(o, 0x10000 + rnd(0x110000 - 0x10000));
  default:
    return put_cp(o, edges[rnd(sizeof edges / sizeof *edges)]);
  }
}

/* One page of buffer between two PROT_NONE pages: bytes placed flush
 * against lo or hi make any read outside them fault. */
struct guarded {
  unsigned char *map, *lo, *hi;
  size_t page;
};

static inline void guarded_map(struct guarded *g) {
  g->page = (size_t)sysconf(_SC_PAGESIZE);
  g->map = mmap(NULL, g->page * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert_neq(g->map, MAP_FAILED);
  cr_assert_eq(mprotect(g->map, g->page, PROT_NONE), 0);
  cr_assert_eq(mprotect(g->map + 2 * g->page, g->page, PROT_NONE), 0);
  g->lo = g->map + g->page;
  g->hi = g->map + 2 * g->page;
}

static inline void guarded_unmap(struct guarded *g) { munmap(g->map, g->page * 3); }

#endif /* XSR_TEST_SCAN_REF_H */
