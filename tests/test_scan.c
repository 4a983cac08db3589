/* SPDX-License-Identifier: MIT */
/*
 * xsr__scan_text(), the character-data scanner (parser/scan_text.c),
 * against an independent reference:
 *
 *   contract   every byte before the returned p is acceptable text (ASCII
 *              other than the stop bytes and controls, TAB, LF, or a whole
 *              valid UTF-8 XML Char inside [s, p)) and p is a legal stop;
 *              SSE2 and scalar return exactly the first byte that is not
 *              plain ASCII text; AVX2 stops at the end of the longest valid
 *              prefix or at most one character before it
 *   random     ~200k buffers of mixed good and bad bytes at every alignment,
 *              starting inside characters and cut by e inside them
 *   long text  AVX2 passes over valid non-ASCII text to e
 *   guards     buffers against PROT_NONE pages on both sides
 *   dispatch   xsr__scan_init() picks AVX2 when the CPU has it, and scalar
 *              under XSR_FORCE_SCALAR=1 (ctest runs the binary both ways)
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <stdlib.h>

#include "scan_ref.h"

/* ---- reference ---------------------------------------------------------- */

static int ascii_ok(unsigned b, const unsigned char c[3]) {
  return b == 0x09 || b == 0x0A || (b >= 0x20 && b < 0x80 && b != c[0] && b != c[1] && b != c[2]);
}

/* End of the longest acceptable prefix of [s, e). */
static const unsigned char *ref_max(const unsigned char *s, const unsigned char *e,
                                    const unsigned char c[3]) {
  while (s < e) {
    if (*s < 0x80) {
      if (!ascii_ok(*s, c))
        break;
      s++;
    } else {
      int n = ref_char(s, e);
      if (!n)
        break;
      s += n;
    }
  }
  return s;
}

/* What SSE2 and scalar return: the first byte that is not acceptable ASCII. */
static const unsigned char *ref_conservative(const unsigned char *s, const unsigned char *e,
                                             const unsigned char c[3]) {
  while (s < e && ascii_ok(*s, c))
    s++;
  return s;
}

typedef const char *(*scan_fn)(const char *, const char *, unsigned char, unsigned char,
                               unsigned char);

/* Checks one call; returns NULL or a description of what is wrong.  exact:
 * p must be ref_conservative (SSE2, scalar); otherwise p must be ref_max or
 * the start of the character that ends there (AVX2). */
static const char *check(scan_fn fn, const unsigned char *s, const unsigned char *e,
                         const unsigned char c[3], int exact) {
  const unsigned char *p =
      (const unsigned char *)fn((const char *)s, (const char *)e, c[0], c[1], c[2]);
  const char *bad = NULL;
  if (p < s || p > e) {
    bad = "p outside [s, e]";
  } else {
    for (const unsigned char *q = s; q < p && !bad;) {
      if (*q < 0x80) {
        if (!ascii_ok(*q, c))
          bad = "a stop byte before p";
        q++;
      } else {
        int n = ref_char(q, p);
        if (!n)
          bad = "an invalid, cut or non-Char sequence before p";
        q += n;
      }
    }
    if (!bad && p < e && ascii_ok(*p, c))
      bad = "p is not a legal stop";
    if (!bad) {
      const unsigned char *want = exact ? ref_conservative(s, e, c) : ref_max(s, e, c);
      if (exact && p != want)
        bad = "p is not the first non-ASCII or stop byte";
      if (!exact && p != want && !(p < want && p + ref_char(p, want) == want))
        bad = "p stops more than one character before the first stop";
    }
  }
  if (!bad)
    return NULL;
  snprintf(why, sizeof why, "%s: p = s + %td, len %td, stops %02x %02x %02x, bytes: ", bad, p - s,
           e - s, c[0], c[1], c[2]);
  dump(s, e);
  return why;
}

/* ---- the implementations under test ------------------------------------ */

struct impl {
  const char *name;
  scan_fn fn;
  int exact;
};

static struct impl impls[4];
static size_t n_impls;

static void setup(void) {
  xsr__scan_init();
  n_impls = 0;
  impls[n_impls++] = (struct impl){"dispatched", xsr__scan_text, 1};
  impls[n_impls++] = (struct impl){"scalar", xsr__scan_text_scalar, 1};
#if defined(__x86_64__)
  impls[n_impls++] = (struct impl){"sse2", xsr__scan_text_sse2, 1};
  if (have_avx2()) {
    impls[n_impls++] = (struct impl){"avx2", xsr__scan_text_avx2, 0};
    if (xsr__scan_text == xsr__scan_text_avx2)
      impls[0].exact = 0;
  }
#endif
}

static void check_all(const unsigned char *s, const unsigned char *e, const unsigned char c[3],
                      const char *what) {
  for (size_t i = 0; i < n_impls; i++) {
    const char *bad = check(impls[i].fn, s, e, c, impls[i].exact);
    if (bad)
      cr_assert_fail("%s, %s: %s", impls[i].name, what, bad);
  }
}

static const unsigned char content_stops[3] = {'<', '&', '>'};
static const unsigned char cdata_stops[3] = {']', ']', ']'};
/* Stops that share a low nibble ('<' 0x3C, 'L' 0x4C): AVX2 cannot use its
 * one-lookup classification and compares three times instead. */
static const unsigned char clash_stops[3] = {'<', 'L', '&'};

/* ---- generator ---------------------------------------------------------- */

/* Appends one token of at most room (>= 8) bytes; bad_pct and stop_pct (out
 * of 1000) set how often the token is invalid UTF-8 or a U+FFFE/U+FFFF, and
 * a stop or control byte. */
static size_t put_token(unsigned char *o, size_t room, unsigned bad_pct, unsigned stop_pct) {
  uint32_t r = rnd(1000);
  if (r < bad_pct) {
    const char *t = invalid_utf8[rnd(N_INVALID_UTF8)];
    memcpy(o, t, strlen(t));
    return strlen(t);
  }
  if (r < bad_pct + stop_pct) {
    static const unsigned char stops[] = {'<',  '&',  '>',  ']',  '\r', 0x00, 0x01,
                                          0x08, 0x0B, 0x0C, 0x0E, 0x19, 0x1A, 0x1F};
    o[0] = stops[rnd(sizeof stops)];
    return 1;
  }
  uint32_t kind = rnd(11);
  if (kind == 10) { /* plain ASCII long enough to fill whole vector blocks */
    size_t n = 16 + rnd(150);
    n = n < room ? n : room;
    for (size_t i = 0; i < n; i++)
      o[i] = (unsigned char)('a' + rnd(26));
    return n;
  }
  return put_text_token(o, kind);
}

/* Fills o with up to cap bytes of tokens; returns the length. */
static size_t gen(unsigned char *o, size_t cap, unsigned bad_pct, unsigned stop_pct) {
  size_t n = 0;
  while (n + 8 <= cap)
    n += put_token(o + n, cap - n, bad_pct, stop_pct);
  return n;
}

/* ---- tests -------------------------------------------------------------- */

TestSuite(scan_text, .init = setup);

/* Small cases, spelled out. */
Test(scan_text, cases) {
  static const struct {
    const char *in;
    size_t stop_at; /* for AVX2; SSE2/scalar are checked against the reference */
  } cases[] = {
      {"", 0},
      {"plain text", 10},
      {"tab\tand\nnewline", 15},
      {"cr\rhere", 2},
      {"a<b", 1},
      {"caf\xC3\xA9 <", 6},
      {"caf\xC3", 3},                    /* cut by e */
      {"x\xE3\x81", 1},                  /* cut by e */
      {"x\xF0\x9F\x91", 1},              /* cut by e */
      {"x\xF0\x9F\x91\x8D", 5},          /* U+1F44D */
      {"ab\xEF\xBF\xBE", 2},             /* U+FFFE */
      {"ab\xEF\xBF\xBD\xEF\xBF\xBF", 5}, /* U+FFFD, then U+FFFF */
      {"\x80", 0},                       /* starts with a continuation */
      {"\xC3\xA9\x80", 0},               /* stray continuation after a good character */
      {"ok\xED\xA0\x80", 2},             /* surrogate */
      {"ok\xF4\x90\x80\x80", 2},         /* above U+10FFFF */
      {"ok\xC0\x80", 2},                 /* overlong */
      {"\xE3\x81<", 0},                  /* cut by a stop */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    /* Each case alone, then after 40 bytes of text so the vector loop sees
     * it in its blocks and in its tail. */
    for (size_t pad = 0; pad <= 70; pad += 35) {
      unsigned char buf[128];
      size_t len = strlen(cases[i].in);
      memset(buf, 'y', pad);
      memcpy(buf + pad, cases[i].in, len);
      char what[64];
      snprintf(what, sizeof what, "case %zu after %zu bytes", i, pad);
      check_all(buf, buf + pad + len, content_stops, what);
#if defined(__x86_64__)
      if (have_avx2()) {
        const char *p =
            xsr__scan_text_avx2((const char *)buf, (const char *)buf + pad + len, '<', '&', '>');
        cr_expect_eq((size_t)(p - (const char *)buf), pad + cases[i].stop_at,
                     "case %zu after %zu bytes: stopped at %td", i, pad,
                     p - (const char *)buf - (ptrdiff_t)pad);
      }
#endif
    }
  }
}

/* A sequence cut by plain ASCII, at every offset from a block boundary:
 * the ASCII after it must not take the fast path unvalidated. */
Test(scan_text, cut_then_ascii) {
  static const char *const cuts[] = {"\xC3", "\xE3\x81", "\xF0\x9F\x91", "\xE3", "\xF0"};
  unsigned char buf[512];
  for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
    for (size_t k = 0; k < 130; k++) {
      size_t len = strlen(cuts[c]);
      memset(buf, 'y', sizeof buf);
      for (size_t i = 0; i < k; i += 5) /* some non-ASCII before it too */
        memcpy(buf + i, "\xC3\xA9", i + 2 <= k ? 2 : 0);
      memcpy(buf + k, cuts[c], len);
      char what[64];
      snprintf(what, sizeof what, "cut %zu at %zu", c, k);
      for (size_t end = k + len; end <= sizeof buf; end += 61)
        check_all(buf, buf + end, content_stops, what);
    }
  }
}

/* Random buffers: every alignment, s inside a character, e inside one. */
Test(scan_text, random) {
  static unsigned char area[2048] __attribute__((aligned(64)));
  static const unsigned bad[] = {0, 0, 2, 10, 50, 300};
  static const unsigned stop[] = {0, 0, 5, 20, 100};
  rng_state = 0x9E3779B97F4A7C15u;
  for (int iter = 0; iter < 200000; iter++) {
    size_t align = rnd(64);
    size_t cap = rnd(8) == 0 ? 1200 : 8 + rnd(200);
    size_t len = gen(area + align, cap, bad[rnd(6)], stop[rnd(5)]);
    const unsigned char *s = area + align, *e = s + len;
    switch (rnd(4)) {
    case 0: /* start anywhere, maybe inside a character */
      s += rnd((uint32_t)(len / 4 + 1));
      break;
    case 1: /* end anywhere, maybe inside a character */
      e -= rnd((uint32_t)(len / 4 + 1));
      break;
    case 2: /* end just inside the last character */
      if (len && rnd(2))
        e -= 1 + rnd(len < 3 ? (uint32_t)len : 3);
      break;
    default:
      break;
    }
    char what[64];
    snprintf(what, sizeof what, "iteration %d", iter);
    uint32_t which = rnd(5);
    check_all(s, e, which < 2 ? content_stops : which < 4 ? cdata_stops : clash_stops, what);
  }
}

/* Valid text in every script, TAB and LF included, 4 KiB: AVX2 goes to e
 * from every character boundary near the start to every one near the end. */
Test(scan_text, long_valid_text) {
  static unsigned char buf[4096 + 64];
  static const char *const words[] = {
      "caf\xC3\xA9 ",
      ("Gr\xC3\xBC\xC3\x9F"
       "e "), /* split: \x9Fe would be one escape */
      "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF",
      "\xF0\x9F\x91\x8D",
      "\t",
      "\n",
      "\xDF\xBF\xE0\xA0\x80",
      "\xEF\xBF\xBD\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"};
  size_t len = 0;
  rng_state = 42;
  while (len < 4096) {
    const char *w = words[rnd(sizeof words / sizeof *words)];
    memcpy(buf + len, w, strlen(w));
    len += strlen(w);
  }
  for (int all_non_ascii = 0; all_non_ascii < 2; all_non_ascii++) {
    if (all_non_ascii) { /* and again without any ASCII at all */
      len = 0;
      while (len < 4096)
        len += put_cp(buf + len, 0x3000 + rnd(0x100) + (rnd(2) ? 0x1F000 : 0));
    }
    for (size_t i = 0; i < 64; i++) {
      for (size_t j = len - 64; j <= len; j++) {
        const unsigned char *s = buf + i, *e = buf + j;
        if ((*s & 0xC0) == 0x80 || (j < len && (*e & 0xC0) == 0x80))
          continue; /* not at a character boundary */
        check_all(s, e, content_stops, "long valid text");
#if defined(__x86_64__)
        if (have_avx2())
          cr_assert_eq(xsr__scan_text_avx2((const char *)s, (const char *)e, '<', '&', '>'),
                       (const char *)e, "AVX2 stopped in valid text [%zu, %zu)", i, j);
#endif
      }
    }
  }
  if (!have_avx2())
    cr_skip_test("no AVX2 on this CPU: only the contract was checked");
}

/* Buffers flush against PROT_NONE pages: any read outside [s, e) faults. */
Test(scan_text, guard_pages) {
  struct guarded g;
  guarded_map(&g);
  unsigned char *lo = g.lo, *hi = g.hi;
  unsigned char src[512];
  rng_state = 7;
  for (int iter = 0; iter < 4000; iter++) {
    size_t len = gen(src, 8 + rnd(200), iter % 3 ? 0 : 20, iter % 2 ? 0 : 10);
    for (size_t cut = 0; cut <= 3 && cut <= len; cut++) {
      size_t n = len - cut; /* the last character may be cut by e */
      memcpy(hi - n, src, n);
      check_all(hi - n, hi, content_stops, "against the page after");
      memcpy(lo, src + cut, n);
      check_all(lo, lo + n, iter % 4 ? cdata_stops : clash_stops, "against the page before");
    }
  }
  guarded_unmap(&g);
}

/* The dispatcher: AVX2 when the CPU has it, scalar when forced. */
Test(scan_text, dispatch) {
  const char *force = getenv("XSR_FORCE_SCALAR");
  if (force && *force && strcmp(force, "0") != 0) {
    cr_expect_str_eq(xsr__scan_impl(), "scalar");
    cr_expect(xsr__scan_text == xsr__scan_text_scalar);
    return;
  }
#if defined(__x86_64__)
  if (have_avx2()) {
    cr_expect_str_eq(xsr__scan_impl(), "avx2");
    cr_expect(xsr__scan_text == xsr__scan_text_avx2);
  } else {
    cr_expect_str_eq(xsr__scan_impl(), "sse2");
    cr_expect(xsr__scan_text == xsr__scan_text_sse2);
  }
#else
  cr_expect(xsr__scan_text == xsr__scan_text_scalar);
#endif
}
