/* SPDX-License-Identifier: MIT */
/*
 * parser/scan_text.c: xsr__scan_text(), the scanner for character data.
 *
 * Design.  xsr__scan3() stops at every byte >= 0x80, so text in any script
 * but Latin costs a trip through the scalar UTF-8 decoder for every run of
 * non-ASCII characters.  This scanner checks UTF-8 inside the vector loop
 * and passes over valid non-ASCII text, stopping only where the caller has
 * work to do: a markup byte, a control character other than TAB/LF, or a
 * byte >= 0x80 at (or one character before) an invalid or truncated
 * sequence or a U+FFFE/U+FFFF.
 *
 * The AVX2 validator is the lookup algorithm of Keiser and Lemire
 * ("Validating UTF-8 in less than one instruction per byte", 2021, as in
 * simdjson and simdutf): three 16-entry tables, indexed by the high and low
 * nibble of the previous byte and the high nibble of the current one, are
 * ANDed so that a nonzero byte names an error visible in that pair; and a
 * continuation that follows a continuation must be exactly where the byte
 * two or three back is a 3- or 4-byte lead.  EF BF BE/BF (U+FFFE/U+FFFF,
 * valid UTF-8 but not XML Chars) are one more compare.
 *
 * Every error is flagged at the position of the *last* byte involved, and a
 * sequence cut short by an ASCII byte is flagged at that byte.  So when the
 * first stop of a block is at k (always ASCII: bytes >= 0x80 never count as
 * stops here), "no error at positions 0..k" is exactly "the bytes before k
 * are complete, valid characters", and errors after k are none of our
 * business.  When there is an error at j <= k, the bytes before j are valid
 * except that the last character may be cut, so backing up from j to the
 * lead byte of the character before it gives a legal stop that is at most
 * one character early.
 *
 * Speed.  The loop takes 64 bytes a round.  A round of plain ASCII (no
 * stop, control or non-ASCII byte: xsr__scan3's test, with its three stop
 * compares folded into one vpshufb lookup when the stop bytes allow) costs
 * one branch; in any other round both blocks are validated unless neither
 * has a byte >= 0x80 and the block before did not end near one.  The tail
 * (< 32 bytes) is the last 32 bytes of the buffer read again when 64 lie
 * behind e (bytes already passed give the same verdict twice; a sequence
 * cut by e shows in the last three bytes), else a zero-padded copy: the
 * padding is ASCII, so a sequence cut by e is flagged at the first padding
 * byte like any other.
 *
 * Content (xsr__scan_content).  The same loop, with the stops of a round
 * filtered before the UTF-8 verdict: a '&' that begins one of the five
 * predefined entities, whole before e, and a '>' that is not the end of
 * "]]>" are passed without leaving the loop (drop_passable), so prose with
 * references costs a few instructions per reference instead of a return
 * to the parser's state machine and a new scan.  In the 64-byte rounds the
 * references are checked without branches that depend on the text
 * (drop_passable64): whether a round of prose holds none, one or two is a
 * coin toss, and the mispredicted loop cost more than the work (the prose
 * of the large corpus: 3.5 GB/s with the loop, 5.6 with the branch-free
 * check and the multiplicative hash of predef_at, whose instructions per
 * byte rose from 1.85 to 2.41).  Once two rounds in a row showed non-ASCII
 * text, prose_run asks of each round only whether it can be passed whole
 * (no stop but at most two references, valid UTF-8) and leaves the others
 * to the general round: 5.9 -> 8.5 GB/s on that prose (in-process, best of
 * 31 runs).
 *
 * SSE2 and scalar stop at every byte >= 0x80, like xsr__scan3 but with TAB
 * and LF passing; the caller's decoder does the rest there.
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"
#include "tagmask.h"

#if defined(__x86_64__) || defined(_M_X64)
#define XSR_HAVE_X86 1
#include <immintrin.h>
#endif

xsr__scan_text_fn xsr__scan_text = xsr__scan_text_scalar;
xsr__scan_content_fn xsr__scan_content = xsr__scan_content_scalar;

/* ---- portable ----------------------------------------------------------- */

const char *xsr__scan_text_scalar(const char *s, const char *e, unsigned char c1, unsigned char c2,
                                  unsigned char c3) {
  for (; s < e; s++) {
    unsigned char b = (unsigned char)*s;
    if (b < 0x20 ? b != 0x09 && b != 0x0A : b >= 0x80 || b == c1 || b == c2 || b == c3)
      break;
  }
  return s;
}

/* The content scan over a scanner that stops at every stop byte: passes
 * what the AVX2 loop passes (drop_passable's rule), one call per stop. */
static inline const char *scan_content_with(xsr__scan_text_fn fn, const char *s, const char *e,
                                            unsigned *escaped) {
  const char *const start = s;
  for (;;) {
    s = fn(s, e, '<', '&', '>');
    if (s >= e)
      return s;
    size_t n;
    if (*s == '&' && (n = xsr__predef_len(s, e)) != 0) {
      *escaped = 1;
      s += n;
    } else if (*s == '>' && s - start >= 2 && !(s[-1] == ']' && s[-2] == ']')) {
      s++;
    } else {
      return s;
    }
  }
}

const char *xsr__scan_content_scalar(const char *s, const char *e, unsigned *escaped) {
  return scan_content_with(xsr__scan_text_scalar, s, e, escaped);
}

#ifdef XSR_HAVE_X86

/* TAB and LF, the control bytes that text may hold as they are: b - 9 is 0
 * or 1 as an unsigned byte, i.e. (b - 9) ^ 0x80 < -126 as a signed one. */
#define TABLF_BIAS  0x77 /* -9 + 0x80 */
#define TABLF_LIMIT (-126)

const char *xsr__scan_text_sse2(const char *s, const char *e, unsigned char c1, unsigned char c2,
                                unsigned char c3) {
  const __m128i v1 = _mm_set1_epi8((char)c1), v2 = _mm_set1_epi8((char)c2),
                v3 = _mm_set1_epi8((char)c3), lo = _mm_set1_epi8(0x20),
                bias = _mm_set1_epi8(TABLF_BIAS), limit = _mm_set1_epi8(TABLF_LIMIT);
  while (e - s >= 16) {
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)s);
    /* Signed b < 0x20: controls and every byte >= 0x80, less TAB/LF. */
    __m128i ctl =
        _mm_andnot_si128(_mm_cmplt_epi8(_mm_add_epi8(b, bias), limit), _mm_cmplt_epi8(b, lo));
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, v1), _mm_cmpeq_epi8(b, v2)),
                             _mm_or_si128(_mm_cmpeq_epi8(b, v3), ctl));
    unsigned mask = (unsigned)_mm_movemask_epi8(m);
    if (mask)
      return s + __builtin_ctz(mask);
    s += 16;
  }
  return xsr__scan_text_scalar(s, e, c1, c2, c3);
}

/* Error bits of the lookup tables, each for one bad (previous, current)
 * pair of bytes. */
#define TOO_SHORT      0x01 /* lead byte, then ASCII or another lead */
#define TOO_LONG       0x02 /* ASCII, then a continuation */
#define OVERLONG_3     0x04 /* E0 80..9F */
#define TOO_LARGE      0x08 /* F4..FF 90..BF */
#define SURROGATE      0x10 /* ED A0..BF */
#define OVERLONG_2     0x20 /* C0..C1 80..BF */
#define TOO_LARGE_1000 0x40 /* F5..FF 80..8F */
#define OVERLONG_4     0x40 /* F0 80..8F (one bit: lead F0 is neither F4 nor F5..FF) */
#define TWO_CONTS      0x80 /* continuation, then continuation: checked against must-be-cont */
#define CARRY          (TOO_SHORT | TOO_LONG | TWO_CONTS) /* errors that ignore the low nibble */

/* The tables hold 16 entries, twice: vpshufb looks up within each lane.
 * Their entries are bytes up to 0xFF, which _mm256_setr_epi8 takes as char:
 * clang's -Wconstant-conversion is silenced for utf8_errors_x() below, the
 * only user, since the bytes are what is meant. */
#define TABLE16(...) _mm256_setr_epi8(__VA_ARGS__, __VA_ARGS__)

/* Byte constants as memory operands: with set1 the compiler rebuilds each
 * with a broadcast wherever it does not keep it in a register, and the
 * validator needs most of the registers (measured with callgrind when the
 * round was out of line: 2.20 -> 2.04 instructions a byte on the large
 * corpus). */
#define REP8(x)  x, x, x, x, x, x, x, x
#define REP32(x) REP8(x), REP8(x), REP8(x), REP8(x)
#define HARD_LO  6, 6, 6, 6, 6, 6, 6, 6, 6, 4, 4, 6, 7, 6, 7, 6
#define HARD_HI  2, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
static const struct {
  unsigned char nib[32], must3[32], must4[32], hi[32], ef[32], bf[32], one[32], bias[32], limit[32],
      space[32], amp[32], hard_lo[32], hard_hi[32];
} kc __attribute__((aligned(32))) = {
    {REP32(0x0F)},
    {REP32(0xE0 - 0x80)},
    {REP32(0xF0 - 0x80)},
    {REP32(0x80)},
    {REP32(0xEF)},
    {REP32(0xBF)},
    {REP32(0x01)},
    {REP32(TABLF_BIAS)},
    {REP32(0x100 + TABLF_LIMIT)},
    {REP32(0x20)},
    {REP32('&')},
    /* prose_round's stops other than '&', by nibble: '<' and '>' (high 3,
     * low C or E), controls but TAB and LF (high 0, low not 9 or A; high
     * 1).  Bytes >= 0x80 have high nibbles 8..F: none. */
    {HARD_LO, HARD_LO},
    {HARD_HI, HARD_HI}};
/* The compiler would fold loads of known constants back into broadcasts;
 * a pointer it cannot see through keeps them loads (memory operands). */
static inline const void *opaque(const void *ptr) {
  __asm__("" : "+r"(ptr));
  return ptr;
}
#define KC(f)                                                                                      \
  _mm256_load_si256((const __m256i *)(const void *)((const unsigned char *)opaque(&kc) +           \
                                                    offsetof(__typeof__(kc), f)))

/* Bytes prev1..prev3 before each byte of cur, where prev is the block before
 * (zero, i.e. ASCII, before s). */
#define PREV_N(cur, prev_cross, n) _mm256_alignr_epi8((cur), (prev_cross), 16 - (n))

#ifdef __clang__
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wconstant-conversion"
#endif
/* A nonzero byte at each position where the UTF-8 of cur (with the block
 * prev before it) has an error ending at that byte, or ends U+FFFE/U+FFFF. */
__attribute__((target("avx2"))) static inline __m256i utf8_errors_x(__m256i cur, __m256i prev,
                                                                    int exact) {
  const __m256i byte_1_high = TABLE16(
      /* 0___: ASCII */
      TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG,
      /* 10__: continuation */
      TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS,
      /* 1100, 1101: 2-byte leads */
      TOO_SHORT | OVERLONG_2, TOO_SHORT,
      /* 1110: 3-byte leads */
      TOO_SHORT | OVERLONG_3 | SURROGATE,
      /* 1111: 4-byte leads and F5..FF */
      TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4);
  const __m256i byte_1_low = TABLE16(
      /* ____0000 */ CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4,
      /* ____0001 */ CARRY | OVERLONG_2,
      /* ____001_ */ CARRY, CARRY,
      /* ____0100 */ CARRY | TOO_LARGE,
      /* ____0101..____1100 */ CARRY | TOO_LARGE | TOO_LARGE_1000,
      CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
      CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
      CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,
      CARRY | TOO_LARGE | TOO_LARGE_1000,
      /* ____1101 */ CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE,
      /* ____111_ */ CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000);
  const __m256i byte_2_high = TABLE16(
      /* 0___: ASCII */
      TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
      /* 1000 */
      TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4,
      /* 1001 */
      TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,
      /* 101_ */
      TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
      TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
      /* 11__: leads */
      TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT);
  const __m256i nib = KC(nib);

  __m256i cross = _mm256_permute2x128_si256(prev, cur, 0x21);
  __m256i prev1 = PREV_N(cur, cross, 1), prev2 = PREV_N(cur, cross, 2),
          prev3 = PREV_N(cur, cross, 3);

  __m256i sc = _mm256_and_si256(
      _mm256_and_si256(
          _mm256_shuffle_epi8(byte_1_high, _mm256_and_si256(_mm256_srli_epi16(prev1, 4), nib)),
          _mm256_shuffle_epi8(byte_1_low, _mm256_and_si256(prev1, nib))),
      _mm256_shuffle_epi8(byte_2_high, _mm256_and_si256(_mm256_srli_epi16(cur, 4), nib)));

  /* Saturating subtraction leaves bit 7 set only for prev2 >= E0 (third
   * byte of a 3- or 4-byte sequence) or prev3 >= F0 (fourth byte): there a
   * continuation after a continuation is required, elsewhere it is an error,
   * so the XOR turns TWO_CONTS into the error exactly when they disagree. */
  __m256i must23 =
      _mm256_or_si256(_mm256_subs_epu8(prev2, KC(must3)), _mm256_subs_epu8(prev3, KC(must4)));
  __m256i err = _mm256_xor_si256(_mm256_and_si256(must23, KC(hi)), sc);

  /* EF BF BE and EF BF BF: BE | 1 == BF.  Not exact, any EF two bytes
   * back (rare in text: U+F000..U+FFFF) flags a possible one. */
  if (!exact)
    return _mm256_or_si256(err, _mm256_cmpeq_epi8(prev2, KC(ef)));
  __m256i nonchar = _mm256_and_si256(
      _mm256_and_si256(_mm256_cmpeq_epi8(prev2, KC(ef)), _mm256_cmpeq_epi8(prev1, KC(bf))),
      _mm256_cmpeq_epi8(_mm256_or_si256(cur, KC(one)), KC(bf)));
  return _mm256_or_si256(err, nonchar);
}
#ifdef __clang__
#pragma clang diagnostic pop
#endif

/* The exact errors; utf8_maybe_errors is all zero where they are, and may
 * be nonzero elsewhere (it costs less). */
#define utf8_errors(cur, prev)       utf8_errors_x((cur), (prev), 1)
#define utf8_maybe_errors(cur, prev) utf8_errors_x((cur), (prev), 0)

/* How the stop bytes c1, c2, c3 are found.  When those that differ also
 * differ in their low nibble (as '<', '&', '>' do, and ']' alone), one
 * vpshufb of a 16-entry table keyed by the low nibble gives, for each byte,
 * the one stop byte it could be, so a single compare does for three; the
 * other entries are 0x80, which no byte looked up by its nibble equals
 * (vpshufb gives 0 for bytes >= 0x80).  Otherwise three compares. */
struct text_stops {
  __m256i table, v1, v2, v3;
  int lookup;
  int ents; /* content: pass predefined entities, and '>' not after "]]" */
};

/* Nonzero bytes where b is c1, c2, c3, below 0x20 or at/above 0x80 (the
 * signed compare of xsr__scan3): all zero means plain ASCII text, the
 * common case. */
__attribute__((target("avx2"))) static inline __m256i suspects(__m256i b,
                                                               const struct text_stops *k) {
  __m256i eq = k->lookup ? _mm256_cmpeq_epi8(_mm256_shuffle_epi8(k->table, b), b)
                         : _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(b, k->v1),
                                                           _mm256_cmpeq_epi8(b, k->v2)),
                                           _mm256_cmpeq_epi8(b, k->v3));
  return _mm256_or_si256(eq, _mm256_cmpgt_epi8(KC(space), b));
}

/* Bit i set where the suspect byte i of b is a stop: c1, c2, c3 or a control
 * other than TAB/LF.  Bytes >= 0x80 are left to the validator. */
__attribute__((target("avx2"))) static inline uint32_t stop_bits(__m256i b, __m256i any,
                                                                 uint32_t high) {
  __m256i tablf = _mm256_cmpgt_epi8(KC(limit), _mm256_add_epi8(b, KC(bias)));
  return (uint32_t)_mm256_movemask_epi8(_mm256_andnot_si256(tablf, any)) & ~high;
}

/* The stop for an error flagged at r: the lead byte of the character before
 * r (which may be the cut or bad one), never before s.  The bytes before r
 * are valid up to a cut last character, so that lead is at most 3 back. */
static const char *before_error(const char *s, const char *r) {
  while (r > s && ((unsigned char)r[-1] & 0xC0) == 0x80)
    r--;
  if (r > s && (unsigned char)r[-1] >= 0xC0)
    r--;
  return r;
}

/* Whether the 32 bytes at p, valid so far, end inside a sequence. */
static inline int ends_cut(const char *p) {
  return ((unsigned char)p[31] >= 0xC0) | ((unsigned char)p[30] >= 0xE0) |
         ((unsigned char)p[29] >= 0xF0);
}

/* The state carried from block to block: the previous block (the validator
 * looks three bytes back) and whether the next block must be validated even
 * when it is ASCII, because the last one had non-ASCII bytes near its end
 * (a superset of "ended inside a sequence", and cheaper to know). */
struct text_state {
  __m256i prev;
  uint32_t cut;
  unsigned esc;   /* a predefined entity was passed */
  uint64_t amps;  /* the '&' of rounds passed whole: nonzero when one was */
  unsigned prose; /* content: rounds in a row with non-ASCII text (prose_round) */
};

/* In content, drops from the stops (bit i: the byte at s + i) those the
 * scan passes over, lowest first, up to the first it must return: a
 * predefined entity whole before e (its other bytes are ASCII letters and
 * ';', never stops), and a '>' with two bytes of this scan before it that
 * are not "]]" (nearer the start, the caller decides). */
static inline uint64_t drop_passable(const char *start, const char *s, const char *e, uint64_t stop,
                                     struct text_state *st) {
  while (stop) {
    const char *q = s + __builtin_ctzll(stop);
    if (*q == '&') {
      if (!xsr__predef_len(q, e))
        break;
      st->esc = 1;
    } else if (*q == '>') {
      if (q - start < 2 || (q[-1] == ']' && q[-2] == ']'))
        break;
    } else {
      break;
    }
    stop &= stop - 1;
  }
  return stop;
}

/* Whether the 8 bytes at q (readable) begin a predefined entity reference,
 * without branches: a multiplicative hash of the first four bytes picks
 * the one reference they can begin (the five land in distinct slots of
 * eight), and one masked compare decides.  Empty slots match nothing:
 * their mask keeps the '&', which no value of 0 has. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PREDEF_HASH(w4) ((uint32_t)((uint32_t)(w4)*0x6D2u) >> 29)
#define LE8(a, b, c, d, x, y)                                                                      \
  ((uint64_t)(unsigned char)(a) | (uint64_t)(unsigned char)(b) << 8 |                              \
   (uint64_t)(unsigned char)(c) << 16 | (uint64_t)(unsigned char)(d) << 24 |                       \
   (uint64_t)(unsigned char)(x) << 32 | (uint64_t)(unsigned char)(y) << 40)
#define LT   LE8('&', 'l', 't', ';', 0, 0)
#define GT   LE8('&', 'g', 't', ';', 0, 0)
#define AMP  LE8('&', 'a', 'm', 'p', ';', 0)
#define QUOT LE8('&', 'q', 'u', 'o', 't', ';')
#define APOS LE8('&', 'a', 'p', 'o', 's', ';')
_Static_assert(PREDEF_HASH(LT) == 4 && PREDEF_HASH(GT) == 3 && PREDEF_HASH(AMP) == 6 &&
                   PREDEF_HASH(QUOT) == 1 && PREDEF_HASH(APOS) == 0,
               "the slots below");
static const struct {
  uint64_t mask, val;
} predef_slot[8] = {{0xFFFFFFFFFFFFu, APOS},
                    {0xFFFFFFFFFFFFu, QUOT},
                    {0xFF, 0},
                    {0xFFFFFFFFu, GT},
                    {0xFFFFFFFFu, LT},
                    {0xFF, 0},
                    {0xFFFFFFFFFFu, AMP},
                    {0xFF, 0}};
#undef APOS
#undef QUOT
#undef AMP
#undef GT
#undef LT
#undef LE8
#endif

static inline int predef_at(const char *q) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint64_t w;
  memcpy(&w, q, 8);
  unsigned h = PREDEF_HASH(w);
  return (w & predef_slot[h].mask) == predef_slot[h].val;
#else
  return xsr__predef_len(q, q + 8) != 0;
#endif
}

/* Whether the first '&' of m (bit i: the byte at s + i), if any, begins a
 * predefined entity; with none, the 8 bytes at s + 63 are read and not
 * used, so 72 bytes must lie before e. */
static inline int first_ref_ok(const char *s, uint64_t m) {
  return predef_at(s + __builtin_ctzll(m | 1ull << 63)) | (m == 0);
}

/* drop_passable for the 64 bytes at s when 72 bytes lie before e, with
 * amp the '&' among the stops: the same stops are left, with fewer
 * branches whose way depends on the text.  The first stop that stays is
 * the first that is not passable, so the passable ones can be found
 * independently: '>' one by one (rare in text), then the first '&' before
 * the first other stop checked whether there is one or not (a missing one
 * checks the 8 bytes at s + 63 and is masked out), the rest one by one (a
 * second '&' in 64 bytes is the exception, a first one a coin toss).
 * Sets no esc for the first: the caller counts the '&' it passes. */
static inline uint64_t drop_passable64(const char *start, const char *s, const char *e,
                                       uint64_t stop, uint64_t amp, struct text_state *st) {
  uint64_t other = stop & ~amp;
  if (other)
    other = drop_passable(start, s, e, other, st);   /* no '&' in it: sets no esc */
  uint64_t cand = amp & ((other & (0 - other)) - 1); /* the '&' before it (all when none) */
  uint64_t c2 = cand & (cand - 1);
  /* (ok - 1) is 0 for a reference, all ones otherwise. */
  uint64_t bad = cand & (0 - cand) & ((uint64_t)first_ref_ok(s, cand) - 1);
  if (c2 && !bad) /* after a bad one the rest does not count */
    bad = drop_passable(start, s, e, c2, st);
  return other | bad;
}

/* One block b at s (any = suspects(b)): NULL when the scan goes on past it,
 * else the pointer to return. */
__attribute__((target("avx2"))) static inline const char *
text_block(const char *start, const char *s, const char *e, int ents, __m256i b, __m256i any,
           struct text_state *st) {
  uint32_t high = (uint32_t)_mm256_movemask_epi8(b);
  uint32_t stop = stop_bits(b, any, high);
  if (ents && stop)
    stop = (uint32_t)drop_passable(start, s, e, stop, st);
  if (high | st->cut) {
    __m256i err = utf8_errors(b, st->prev);
    if (!_mm256_testz_si256(err, err)) {
      /* Errors at positions up to and including the first stop count. */
      uint32_t upto = stop ? stop ^ (stop - 1) : ~0u;
      uint32_t at =
          ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(err, _mm256_setzero_si256())) & upto;
      if (at)
        return before_error(start, s + __builtin_ctz(at));
    }
    st->cut = high >> 29;
  }
  st->prev = b;
  return stop ? s + __builtin_ctz(stop) : NULL;
}

/* Bit i set where byte i of the 64 in b0, b1 is '&'. */
__attribute__((target("avx2"))) static inline uint64_t amp_bits(__m256i b0, __m256i b1) {
  return (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b0, KC(amp))) |
         (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b1, KC(amp))) << 32;
}

/* The stops of b other than '&' and bytes >= 0x80, nonzero bytes. */
__attribute__((target("avx2"))) static inline __m256i hard_stops(__m256i b) {
  const __m256i nib = KC(nib);
  return _mm256_and_si256(
      _mm256_shuffle_epi8(KC(hard_lo), _mm256_and_si256(b, nib)),
      _mm256_shuffle_epi8(KC(hard_hi), _mm256_and_si256(_mm256_srli_epi16(b, 4), nib)));
}

/*
 * Content, 72 bytes or more before e, after rounds with non-ASCII text:
 * passes the 64 bytes at s when they hold nothing but text, at most two
 * references (predefined entities, checked without a branch) and valid
 * UTF-8, which is what prose in any script usually is; returns 0, with st
 * untouched, for text_round to look at them when they hold anything else.
 * Cheaper than text_round, which finds where the stops are: this asks one
 * question of the whole round.
 */
__attribute__((target("avx2"), always_inline)) static inline int
prose_round(const char *s, __m256i b0, __m256i b1, struct text_state *st) {
  /* The end of the text first: it is the usual reason to return 0. */
  __m256i hard = _mm256_or_si256(hard_stops(b0), hard_stops(b1));
  if (!_mm256_testz_si256(hard, hard))
    return 0;
  __m256i err = _mm256_or_si256(utf8_maybe_errors(b0, st->prev), utf8_maybe_errors(b1, b0));
  uint64_t amp = amp_bits(b0, b1);
  /* The first two '&', or the 8 bytes at s + 63 for one that is not
   * there: in prose, two in 64 bytes are not rare enough to send back. */
  uint64_t amp2 = amp & (amp - 1);
  int ok = first_ref_ok(s, amp) & first_ref_ok(s, amp2);
  if (!_mm256_testz_si256(err, err) || !ok || (amp2 & (amp2 - 1)))
    return 0;
  st->amps |= amp;
  st->prev = b1;
  /* Whether the round ended inside a character is not worth finding out:
   * the next round is validated either way. */
  st->cut = (uint32_t)_mm256_movemask_epi8(_mm256_or_si256(b0, b1)) != 0;
  st->prose = st->cut ? 2 : 0;
  return 1;
}

/* prose_round from s (72 bytes or more before e) while it takes the
 * rounds: returns the first it did not take, with st->prose 1 when that
 * one was refused (the scan comes back after one round of text_round) or
 * 0 after a round of ASCII.  Out of line: the scan's own loop keeps the
 * registers and the frame short texts want. */
__attribute__((target("avx2"), noinline)) static const char *prose_run(const char *s, const char *e,
                                                                       struct text_state *st) {
  do {
    __m256i b0 = _mm256_loadu_si256((const __m256i *)(const void *)s);
    __m256i b1 = _mm256_loadu_si256((const __m256i *)(const void *)(s + 32));
    if (!prose_round(s, b0, b1, st)) {
      st->prose = 1;
      return s;
    }
    s += 64;
  } while (st->prose && e - s >= 72);
  return s;
}

__attribute__((target("avx2"), always_inline)) static inline const char *
text_round_end(const char *start, const char *s, __m256i b0, __m256i b1, uint32_t high0,
               uint32_t high1, uint64_t stop, struct text_state *st);

/* Two blocks b0, b1 at s, as text_block but with one test for errors in
 * both.  Inlined: out of line it cost a call, a frame and the state's
 * round trip through memory per 64 bytes of non-ASCII text (callgrind,
 * large corpus: 1.58 -> 1.45 instructions a byte inlined); the ASCII loop
 * stays free of spills. */
__attribute__((target("avx2"), always_inline)) static inline const char *
text_round(const char *start, const char *s, const char *e, int ents, __m256i b0, __m256i b1,
           __m256i a0, __m256i a1, struct text_state *st) {
  uint32_t high0 = (uint32_t)_mm256_movemask_epi8(b0), high1 = (uint32_t)_mm256_movemask_epi8(b1);
  uint32_t stop0 = stop_bits(b0, a0, high0);
  if (ents && e - s >= 72) { /* both blocks' stops at once */
    /* Not only when there are stops: in prose with references, whether
     * a round holds one is a coin toss the branch predictor loses. */
    uint64_t amp = amp_bits(b0, b1);
    uint64_t stop =
        drop_passable64(start, s, e, stop0 | (uint64_t)stop_bits(b1, a1, high1) << 32, amp, st);
    if (XSR_LIKELY(!stop)) /* the '&' passed: references */
      st->amps |= amp;
    else
      st->esc |= (amp & ((stop & (0 - stop)) - 1)) != 0;
    st->prose = high0 | high1 ? st->prose + 1 : 0; /* used only when this returns NULL */
    return text_round_end(start, s, b0, b1, high0, high1, stop, st);
  }
  if (ents && stop0)
    stop0 = (uint32_t)drop_passable(start, s, e, stop0, st);
  if (stop0) { /* the first block decides: the second is beyond the stop */
    if (high0 | st->cut) {
      __m256i err = utf8_errors(b0, st->prev);
      uint32_t at =
          ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(err, _mm256_setzero_si256())) &
          (stop0 ^ (stop0 - 1));
      if (at)
        return before_error(start, s + __builtin_ctz(at));
    }
    return s + __builtin_ctz(stop0);
  }
  uint64_t stop = (uint64_t)stop_bits(b1, a1, high1) << 32;
  if (ents && stop)
    stop = drop_passable(start, s, e, stop, st);
  return text_round_end(start, s, b0, b1, high0, high1, stop, st);
}

/* The rest of text_round once the stops of both blocks are known. */
__attribute__((target("avx2"), always_inline)) static inline const char *
text_round_end(const char *start, const char *s, __m256i b0, __m256i b1, uint32_t high0,
               uint32_t high1, uint64_t stop, struct text_state *st) {
  if (high0 | high1 | st->cut) {
    __m256i err = _mm256_or_si256(utf8_maybe_errors(b0, st->prev), utf8_maybe_errors(b1, b0));
    if (!_mm256_testz_si256(err, err)) {
      const __m256i zero = _mm256_setzero_si256();
      __m256i err0 = utf8_errors(b0, st->prev), err1 = utf8_errors(b1, b0);
      uint64_t upto = stop ? stop ^ (stop - 1) : ~(uint64_t)0;
      uint64_t at =
          ~((uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(err0, zero)) |
            (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(err1, zero)) << 32) &
          upto;
      if (at)
        return before_error(start, s + __builtin_ctzll(at));
    }
    st->cut = high1 >> 29;
  }
  st->prev = b1;
  return stop ? s + __builtin_ctzll(stop) : NULL;
}

/* The scan, inlined twice: k->lookup is a constant in each copy. */
__attribute__((target("avx2"), always_inline)) static inline const char *
scan_text_avx2(const char *s, const char *e, const struct text_stops *k, unsigned *esc) {
  const char *const start = s;
  struct text_state st = {_mm256_setzero_si256(), 0, 0, 0, 0};
  const char *r;

  /* 64 bytes a round while the text is plain ASCII: one test for both. */
  for (; e - s >= 64; s += 64) {
    __m256i b0 = _mm256_loadu_si256((const __m256i *)(const void *)s);
    __m256i b1 = _mm256_loadu_si256((const __m256i *)(const void *)(s + 32));
    __m256i a0 = suspects(b0, k), a1 = suspects(b1, k);
    __m256i a = _mm256_or_si256(a0, a1);
    if (!st.cut && _mm256_testz_si256(a, a)) {
      st.prev = b1;
      continue;
    }
    if ((r = text_round(start, s, e, k->ents, b0, b1, a0, a1, &st)))
      goto done;
    /* Content after two rounds of non-ASCII text (one is usually all a
     * chat message has left): prose_run, then the loop goes on at the
     * round it did not take (the increment steps onto it). */
    if (st.prose >= 2 && e - s >= 64 + 72) {
      struct text_state pst = st;
      s = prose_run(s + 64, e, &pst) - 64;
      st = pst;
    }
  }
  if (e - s >= 32) {
    __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)s);
    if ((r = text_block(start, s, e, k->ents, b, suspects(b, k), &st)))
      goto done;
    s += 32;
  }

  /* The tail, n < 32 bytes.  With 64 bytes or more behind e, the last 32
   * bytes of the buffer are one more block (its first 32 - n bytes pass
   * again, with the same verdict), and the 32 before it are its context. */
  size_t n = (size_t)(e - s);
  if (n == 0) {
    r = st.cut && ends_cut(e - 32) ? before_error(start, e) : e;
    goto done;
  }
  if (e - start >= 64) {
    __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(e - 32));
    st.prev = _mm256_loadu_si256((const __m256i *)(const void *)(e - 64));
    st.cut = 1;
    if (!(r = text_block(start, e - 32, e, k->ents, b, suspects(b, k), &st)))
      r = ends_cut(e - 32) ? before_error(start, e) : e;
    goto done;
  }
  /* Else a copy, zero-padded: the padding is ASCII, so a sequence cut by e
   * shows as an error at the first padding byte, which counts when there
   * is no stop before it. */
  {
    unsigned char buf[32] = {0};
    memcpy(buf, s, n);
    __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)buf);
    uint32_t valid = (uint32_t)((1ull << n) - 1);
    uint32_t high = (uint32_t)_mm256_movemask_epi8(b);
    uint32_t stop = stop_bits(b, suspects(b, k), high) & valid;
    if (k->ents && stop)
      stop = (uint32_t)drop_passable(start, s, e, stop, &st);
    r = stop ? s + __builtin_ctz(stop) : e;
    if (high | st.cut) {
      uint32_t upto = stop ? stop ^ (stop - 1) : (valid << 1) | 1;
      uint32_t at = ~(uint32_t)_mm256_movemask_epi8(
                        _mm256_cmpeq_epi8(utf8_errors(b, st.prev), _mm256_setzero_si256())) &
                    upto;
      if (at)
        r = before_error(start, s + __builtin_ctz(at));
    }
  }
done:
  if (st.esc | (st.amps != 0))
    *esc = 1;
  return r;
}

__attribute__((target("avx2"))) const char *xsr__scan_text_avx2(const char *s, const char *e,
                                                                unsigned char c1, unsigned char c2,
                                                                unsigned char c3) {
  /* The parser's two stop sets, content and CDATA, get constant tables:
   * text runs are often short, and building a table costs about as much as
   * scanning 64 bytes. */
  struct text_stops k = {.ents = 0}; /* whole: GCC -O2 sees v1..v3 maybe uninitialised */
  unsigned esc = 0;
  k.ents = 0;
  if (c1 == '<' && c2 == '&' && c3 == '>') {
    k.table = xsr__content_table();
    k.lookup = 1;
    return scan_text_avx2(s, e, &k, &esc);
  }
  if (c1 == ']' && c2 == ']' && c3 == ']') {
    const char x = (char)0x80;
    k.table = _mm256_setr_epi8(x, x, x, x, x, x, x, x, x, x, x, x, x, ']', x, x, x, x, x, x, x, x,
                               x, x, x, x, x, x, x, ']', x, x);
    k.lookup = 1;
    return scan_text_avx2(s, e, &k, &esc);
  }
  k.v1 = _mm256_set1_epi8((char)c1);
  k.v2 = _mm256_set1_epi8((char)c2);
  k.v3 = _mm256_set1_epi8((char)c3);
  if ((c1 == c2 || (c1 ^ c2) & 0x0F) && (c1 == c3 || (c1 ^ c3) & 0x0F) &&
      (c2 == c3 || (c2 ^ c3) & 0x0F)) {
    const __m256i nibble = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0,
                                            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m256i table = _mm256_set1_epi8((char)0x80);
    table = _mm256_blendv_epi8(table, k.v1,
                               _mm256_cmpeq_epi8(nibble, _mm256_set1_epi8((char)(c1 & 0x0F))));
    table = _mm256_blendv_epi8(table, k.v2,
                               _mm256_cmpeq_epi8(nibble, _mm256_set1_epi8((char)(c2 & 0x0F))));
    table = _mm256_blendv_epi8(table, k.v3,
                               _mm256_cmpeq_epi8(nibble, _mm256_set1_epi8((char)(c3 & 0x0F))));
    k.table = table;
    k.lookup = 1;
    return scan_text_avx2(s, e, &k, &esc);
  }
  k.table = _mm256_setzero_si256();
  k.lookup = 0;
  return scan_text_avx2(s, e, &k, &esc);
}

__attribute__((target("avx2"))) const char *xsr__scan_content_avx2(const char *s, const char *e,
                                                                   unsigned *escaped) {
  struct text_stops k = {.lookup = 1, .ents = 1}; /* v1..v3 zero: unused with the table */
  k.table = xsr__content_table();
  return scan_text_avx2(s, e, &k, escaped);
}

const char *xsr__scan_content_sse2(const char *s, const char *e, unsigned *escaped) {
  return scan_content_with(xsr__scan_text_sse2, s, e, escaped);
}

#endif /* XSR_HAVE_X86 */
