/* SPDX-License-Identifier: MIT */
/*
 * parser/scan.c: the byte-level pieces of the parser.
 *
 * Design.  The parser spends almost all of its time in runs of character
 * data and attribute values, where the only interesting bytes are a few
 * markup characters, control characters and the lead bytes of non-ASCII
 * sequences.  xsr__scan3() finds the next such byte 16 or 32 bytes at a
 * time.  The trick that keeps it to four compares per vector: a *signed*
 * compare `b < 0x20` is true both for control bytes (0x00..0x1F) and for
 * every byte >= 0x80 (negative as int8), which are exactly the two groups
 * the caller must inspect one by one.  The caller then validates UTF-8 and
 * the XML character ranges with xsr__utf8_decode(), so the vector code
 * never has to be exact about anything but "stop here".
 *
 * Runtime dispatch: SSE2 is part of x86-64, so it is the baseline; AVX2 is
 * used when the CPU reports it.  XSR_FORCE_SCALAR=1 in the environment
 * selects the portable loop, which the tests use to prove every variant
 * stops at the same byte.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tagmask.h"

#if defined(__x86_64__) || defined(_M_X64)
#define XSR_HAVE_X86 1
#include <immintrin.h>
#endif

/* ---- portable ----------------------------------------------------------- */

static inline int stop_byte(unsigned char b, unsigned char c1, unsigned char c2, unsigned char c3) {
  return b < 0x20 || b >= 0x80 || b == c1 || b == c2 || b == c3;
}

const char *xsr__scan3_scalar(const char *s, const char *e, unsigned char c1, unsigned char c2,
                              unsigned char c3) {
  while (s < e && !stop_byte((unsigned char)*s, c1, c2, c3))
    s++;
  return s;
}

#ifdef XSR_HAVE_X86
const char *xsr__scan3_sse2(const char *s, const char *e, unsigned char c1, unsigned char c2,
                            unsigned char c3) {
  const __m128i v1 = _mm_set1_epi8((char)c1), v2 = _mm_set1_epi8((char)c2),
                v3 = _mm_set1_epi8((char)c3), lo = _mm_set1_epi8(0x20);
  while (e - s >= 16) {
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, v1), _mm_cmpeq_epi8(b, v2)),
                             _mm_or_si128(_mm_cmpeq_epi8(b, v3), _mm_cmplt_epi8(b, lo)));
    unsigned mask = (unsigned)_mm_movemask_epi8(m);
    if (mask)
      return s + __builtin_ctz(mask);
    s += 16;
  }
  return xsr__scan3_scalar(s, e, c1, c2, c3);
}

/* 64 bytes a round with one test for both halves: long runs (base64,
 * long bodies) are where this loop spends its time. */
__attribute__((target("avx2"))) static const char *
scan3_avx2_lookup(const char *s, const char *e, __m256i table, unsigned char c1, unsigned char c2,
                  unsigned char c3) {
  for (; e - s >= 64; s += 64) {
    __m256i m0 = xsr__stops_lookup(_mm256_loadu_si256((const __m256i *)(const void *)s), table);
    __m256i m1 =
        xsr__stops_lookup(_mm256_loadu_si256((const __m256i *)(const void *)(s + 32)), table);
    __m256i m = _mm256_or_si256(m0, m1);
    if (!_mm256_testz_si256(m, m)) {
      uint64_t mask =
          (uint32_t)_mm256_movemask_epi8(m0) | (uint64_t)(uint32_t)_mm256_movemask_epi8(m1) << 32;
      return s + __builtin_ctzll(mask);
    }
  }
  if (e - s >= 32) {
    unsigned mask = (unsigned)_mm256_movemask_epi8(
        xsr__stops_lookup(_mm256_loadu_si256((const __m256i *)(const void *)s), table));
    if (mask)
      return s + __builtin_ctz(mask);
    s += 32;
  }
  return xsr__scan3_sse2(s, e, c1, c2, c3);
}

/* Lookup tables for the parser's stop sets: content and the two kinds of
 * attribute value. */
#define X_ ((char)0x80)
#define SCAN_TABLE(n2, c2, n6, c6, n7, c7, nC, cC, nE, cE)                                         \
  _mm256_setr_epi8(X_, X_, n2 ? c2 : X_, X_, X_, X_, n6 ? c6 : X_, n7 ? c7 : X_, X_, X_, X_, X_,   \
                   nC ? cC : X_, X_, nE ? cE : X_, X_, X_, X_, n2 ? c2 : X_, X_, X_, X_,           \
                   n6 ? c6 : X_, n7 ? c7 : X_, X_, X_, X_, X_, nC ? cC : X_, X_, nE ? cE : X_, X_)

/* Bit i set where byte i of the 32 at s is c1 (v1), c2, c3, a control or
 * >= 0x80: the compare form, for any stop bytes. */
__attribute__((target("avx2"))) static inline unsigned stops_cmp(const char *s, __m256i v1,
                                                                 __m256i v2, __m256i v3) {
  __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)s);
  return (unsigned)_mm256_movemask_epi8(_mm256_or_si256(
      _mm256_or_si256(_mm256_cmpeq_epi8(b, v1), _mm256_cmpeq_epi8(b, v2)),
      _mm256_or_si256(_mm256_cmpeq_epi8(b, v3), _mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), b))));
}

/* The first 32 bytes with compares (most runs stop there: no table to
 * pick), then, for the parser's stop sets, the lookup loop. */
__attribute__((target("avx2"))) const char *xsr__scan3_avx2(const char *s, const char *e,
                                                            unsigned char c1, unsigned char c2,
                                                            unsigned char c3) {
  const __m256i v1 = _mm256_set1_epi8((char)c1), v2 = _mm256_set1_epi8((char)c2),
                v3 = _mm256_set1_epi8((char)c3);
  if (e - s < 32)
    return xsr__scan3_sse2(s, e, c1, c2, c3);
  unsigned mask = stops_cmp(s, v1, v2, v3);
  if (mask)
    return s + __builtin_ctz(mask);
  s += 32;
  if (c2 == '<' && c3 == '&' && c1 == '\'') /* attribute values */
    return scan3_avx2_lookup(s, e, SCAN_TABLE(0, 0, 1, '&', 1, '\'', 1, '<', 0, 0), c1, c2, c3);
  if (c2 == '<' && c3 == '&' && c1 == '"')
    return scan3_avx2_lookup(s, e, SCAN_TABLE(1, '"', 1, '&', 0, 0, 1, '<', 0, 0), c1, c2, c3);
  if (c1 == '<' && c2 == '&' && c3 == '>') /* content */
    return scan3_avx2_lookup(s, e, xsr__content_table(), c1, c2, c3);
  for (; e - s >= 32; s += 32)
    if ((mask = stops_cmp(s, v1, v2, v3)))
      return s + __builtin_ctz(mask);
  return xsr__scan3_sse2(s, e, c1, c2, c3);
}
#undef SCAN_TABLE
#undef X_
#endif

xsr__scan_fn xsr__scan3 = xsr__scan3_scalar;
static const char *scan_impl_name = "scalar";

/* Picks the implementations once per process: pthread_once makes every
 * parser created afterwards, on any thread, see the stores (a plain flag
 * let a second thread read the pointers while the first still wrote them;
 * ThreadSanitizer saw it in xsr-router, whose workers create parsers). */
static void scan_init_once(void) {
  const char *force = getenv("XSR_FORCE_SCALAR");
  int scalar = force && *force && strcmp(force, "0") != 0;
  xsr__scan_fn fn = xsr__scan3_scalar;
  xsr__scan_text_fn text_fn = xsr__scan_text_scalar;
  xsr__scan_content_fn content_fn = xsr__scan_content_scalar;
  const char *name = "scalar";
#ifdef XSR_HAVE_X86
  if (!scalar) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
      fn = xsr__scan3_avx2;
      text_fn = xsr__scan_text_avx2;
      content_fn = xsr__scan_content_avx2;
      name = "avx2";
    } else {
      fn = xsr__scan3_sse2;
      text_fn = xsr__scan_text_sse2;
      content_fn = xsr__scan_content_sse2;
      name = "sse2";
    }
  }
#else
  (void)scalar;
#endif
  __atomic_store_n(&xsr__scan3, fn, __ATOMIC_RELEASE);
  __atomic_store_n(&xsr__scan_text, text_fn, __ATOMIC_RELEASE);
  __atomic_store_n(&xsr__scan_content, content_fn, __ATOMIC_RELEASE);
  xsr__tagmask_init(scalar);
  __atomic_store_n(&scan_impl_name, name, __ATOMIC_RELEASE);
}

void xsr__scan_init(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, scan_init_once);
}

const char *xsr__scan_impl(void) { return __atomic_load_n(&scan_impl_name, __ATOMIC_ACQUIRE); }

/* ---- UTF-8 -------------------------------------------------------------- */

int xsr__utf8_decode(const unsigned char *s, const unsigned char *e, uint32_t *cp) {
  unsigned char b0 = s[0];
  unsigned char lo = 0x80, hi = 0xBF;
  int n;
  uint32_t c;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
    c = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    c = b0 & 0x0F;
    if (b0 == 0xE0)
      lo = 0xA0; /* overlong below U+0800 */
    else if (b0 == 0xED)
      hi = 0x9F; /* surrogates U+D800..U+DFFF */
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    c = b0 & 0x07;
    if (b0 == 0xF0)
      lo = 0x90; /* overlong below U+10000 */
    else if (b0 == 0xF4)
      hi = 0x8F; /* above U+10FFFF */
  } else {
    return -1; /* 80..C1 (continuation or overlong lead), F5..FF */
  }
  for (int k = 1; k < n; k++) {
    if (s + k >= e)
      return 0;
    unsigned char b = s[k];
    if (b < lo || b > hi)
      return -(k + 1);
    lo = 0x80;
    hi = 0xBF;
    c = (c << 6) | (b & 0x3F);
  }
  *cp = c;
  return n;
}

size_t xsr__utf8_encode(uint32_t cp, char *out) {
  unsigned char *o = (unsigned char *)out;
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

/* ---- XML names ---------------------------------------------------------- */

#define S (XSR__NAME_START | XSR__NAME_CHAR)
#define C XSR__NAME_CHAR
/* clang-format off */
const unsigned char xsr__name_class[256] = {
    ['-'] = C, ['.'] = C, ['0'] = C, ['1'] = C, ['2'] = C, ['3'] = C, ['4'] = C, ['5'] = C,
    ['6'] = C, ['7'] = C, ['8'] = C, ['9'] = C, [':'] = S | XSR__NAME_COLON, ['_'] = S,
    ['A'] = S, ['B'] = S, ['C'] = S, ['D'] = S, ['E'] = S, ['F'] = S, ['G'] = S, ['H'] = S,
    ['I'] = S, ['J'] = S, ['K'] = S, ['L'] = S, ['M'] = S, ['N'] = S, ['O'] = S, ['P'] = S,
    ['Q'] = S, ['R'] = S, ['S'] = S, ['T'] = S, ['U'] = S, ['V'] = S, ['W'] = S, ['X'] = S,
    ['Y'] = S, ['Z'] = S,
    ['a'] = S, ['b'] = S, ['c'] = S, ['d'] = S, ['e'] = S, ['f'] = S, ['g'] = S, ['h'] = S,
    ['i'] = S, ['j'] = S, ['k'] = S, ['l'] = S, ['m'] = S, ['n'] = S, ['o'] = S, ['p'] = S,
    ['q'] = S, ['r'] = S, ['s'] = S, ['t'] = S, ['u'] = S, ['v'] = S, ['w'] = S, ['x'] = S,
    ['y'] = S, ['z'] = S,
};
/* clang-format on */
#undef S
#undef C

/* XML 1.0 fifth edition, productions [4] and [4a], above U+007F. */
int xsr__name_start_cp(uint32_t c) {
  return (c >= 0xC0 && c <= 0xD6) || (c >= 0xD8 && c <= 0xF6) || (c >= 0xF8 && c <= 0x2FF) ||
         (c >= 0x370 && c <= 0x37D) || (c >= 0x37F && c <= 0x1FFF) ||
         (c >= 0x200C && c <= 0x200D) || (c >= 0x2070 && c <= 0x218F) ||
         (c >= 0x2C00 && c <= 0x2FEF) || (c >= 0x3001 && c <= 0xD7FF) ||
         (c >= 0xF900 && c <= 0xFDCF) || (c >= 0xFDF0 && c <= 0xFFFD) ||
         (c >= 0x10000 && c <= 0xEFFFF);
}

int xsr__name_cp(uint32_t c) {
  return xsr__name_start_cp(c) || c == 0xB7 || (c >= 0x300 && c <= 0x36F) ||
         (c >= 0x203F && c <= 0x2040);
}
