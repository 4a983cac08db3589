/* SPDX-License-Identifier: MIT */
/*
 * parser/tagmask.h: 64-byte classification bitmaps for the start-tag fast
 * path.  Private to the parser; never installed.
 *
 * A start tag is a sequence of short tokens (names, whitespace, '=',
 * quoted values).  Finding the end of each token byte by byte costs a
 * table lookup and a branch per byte; instead, the parser classifies 64
 * bytes at once into one bit per byte and class, and finds each token's end
 * with a shift and a count of trailing zeros.  Bit i of a mask describes the
 * byte at w + i, where w is the window the masks were computed for.
 */
#ifndef XSR_PARSER_TAGMASK_H
#define XSR_PARSER_TAGMASK_H

#include <stdint.h>

typedef struct xsr__tagmask {
  uint64_t nn;    /* ends an NCName: not an ASCII NameChar, or ':' (>= 0x80 included) */
  uint64_t ws;    /* SP, TAB, LF, CR */
  uint64_t apos;  /* '\'' */
  uint64_t quot;  /* '"' */
  uint64_t vstop; /* ends a plain attribute value: '<', '&', bytes < 0x20 or >= 0x80 */
} xsr__tagmask;

/* Fills *m for the 64 bytes at w (all 64 must be readable). */
typedef void (*xsr__tagmask_fn)(const char *w, xsr__tagmask *m);

/* The AVX2 classifier when the CPU has AVX2 and XSR_FORCE_SCALAR is not
 * set, else NULL: without AVX2 the parser's byte-wise states are as fast as
 * a scalar classifier would be, so they are used for every tag.  Set by
 * xsr__scan_init(). */
extern xsr__tagmask_fn xsr__tagmask_simd;

/* The portable classifier: the definition of the masks, used by the tests
 * to check the SIMD version bit for bit. */
void xsr__tagmask_scalar(const char *w, xsr__tagmask *m);

/* Picks xsr__tagmask_simd; called by xsr__scan_init(). */
void xsr__tagmask_init(int force_scalar);

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define XSR__TAGMASK_AVX2 1

/* The classifier's constants (tagmask.c): in another file, so that the
 * compiler uses them as memory operands instead of rebuilding each in a
 * register on every call. */
enum {
  XSR__TM_LUT_LO,
  XSR__TM_LUT_HI,
  XSR__TM_NIB,
  XSR__TM_NAME,
  XSR__TM_WS,
  XSR__TM_APOS,
  XSR__TM_QUOT,
  XSR__TM_LT,
  XSR__TM_AMP,
  XSR__TM_SP,
  XSR__TM_CONTENT,
  XSR__TM_COUNT
};
extern const unsigned char xsr__tagmask_k[XSR__TM_COUNT][32];

/* The masks of 32 bytes, in the low 32 bits of each field. */
__attribute__((target("avx2"))) static inline void xsr__tagmask_avx2_32(__m256i b,
                                                                        xsr__tagmask *m) {
#define K(i) _mm256_load_si256((const __m256i *)(const void *)xsr__tagmask_k[i])
  const __m256i nib = K(XSR__TM_NIB), zero = _mm256_setzero_si256();
  __m256i lo = _mm256_and_si256(b, nib);
  __m256i hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), nib);
  __m256i cls = _mm256_and_si256(_mm256_shuffle_epi8(K(XSR__TM_LUT_LO), lo),
                                 _mm256_shuffle_epi8(K(XSR__TM_LUT_HI), hi));
  m->nn = (uint32_t)_mm256_movemask_epi8(
      _mm256_cmpeq_epi8(_mm256_and_si256(cls, K(XSR__TM_NAME)), zero));
  m->ws = (uint32_t)~_mm256_movemask_epi8(
      _mm256_cmpeq_epi8(_mm256_and_si256(cls, K(XSR__TM_WS)), zero));
  m->apos = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, K(XSR__TM_APOS)));
  m->quot = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, K(XSR__TM_QUOT)));
  /* Signed b < 0x20: control bytes and every byte >= 0x80. */
  __m256i vs =
      _mm256_or_si256(_mm256_cmpeq_epi8(b, K(XSR__TM_LT)), _mm256_cmpeq_epi8(b, K(XSR__TM_AMP)));
  vs = _mm256_or_si256(vs, _mm256_cmpgt_epi8(K(XSR__TM_SP), b));
  m->vstop = (uint32_t)_mm256_movemask_epi8(vs);
#undef K
}

/* The masks of the 64 bytes at w, for code compiled for AVX2. */
__attribute__((target("avx2"))) static inline void xsr__tagmask_avx2(const char *w,
                                                                     xsr__tagmask *m) {
  xsr__tagmask a, b;
  xsr__tagmask_avx2_32(_mm256_loadu_si256((const __m256i *)(const void *)w), &a);
  xsr__tagmask_avx2_32(_mm256_loadu_si256((const __m256i *)(const void *)(w + 32)), &b);
  m->nn = a.nn | b.nn << 32;
  m->ws = a.ws | b.ws << 32;
  m->apos = a.apos | b.apos << 32;
  m->quot = a.quot | b.quot << 32;
  m->vstop = a.vstop | b.vstop << 32;
}

/* Nonzero bytes where b is one of up to three stop bytes that differ in
 * their low nibble, a control byte or a byte >= 0x80: table[b & 15] == b
 * says "one of the three" in one vpshufb (bytes >= 0x80 look up 0, which
 * no such byte equals; the other entries are 0x80, which no byte looked up
 * by its nibble equals), and the signed compare b < 0x20 catches controls
 * and bytes >= 0x80. */
__attribute__((target("avx2"))) static inline __m256i xsr__stops_lookup(__m256i b, __m256i table) {
  return _mm256_or_si256(
      _mm256_cmpeq_epi8(_mm256_shuffle_epi8(table, b), b),
      _mm256_cmpgt_epi8(
          _mm256_load_si256((const __m256i *)(const void *)xsr__tagmask_k[XSR__TM_SP]), b));
}

/* xsr__stops_lookup's table for the content stops '<', '&', '>'. */
__attribute__((target("avx2"))) static inline __m256i xsr__content_table(void) {
  return _mm256_load_si256((const __m256i *)(const void *)xsr__tagmask_k[XSR__TM_CONTENT]);
}

/* Bit i set where byte i of the 32 at s stops xsr__scan3(s, e, '<', '&',
 * '>').  For the first block of a text, where the parser would otherwise
 * call the scanner (most texts between tags are shorter than 32 bytes). */
__attribute__((target("avx2"))) static inline uint32_t xsr__content_stops32(const char *s) {
  return (uint32_t)_mm256_movemask_epi8(xsr__stops_lookup(
      _mm256_loadu_si256((const __m256i *)(const void *)s), xsr__content_table()));
}
#endif

#endif /* XSR_PARSER_TAGMASK_H */
