/*
 * parser/tagmask.c: classification of 64 bytes into the bitmaps of
 * tagmask.h.
 *
 * Design.  Names and whitespace are classified with two 16-entry tables
 * indexed by each byte's high and low nibble (vpshufb), ANDed: a class bit
 * survives when both nibbles allow it, so every class must be a union of
 * "high nibble in H, low nibble in L" rectangles.  Six bits cover ASCII
 * NameChar and XML whitespace:
 *
 *   bit  high nibbles  low nibbles   bytes
 *   0x01 4, 6          1..F          A-O a-o
 *   0x02 5, 7          0..A          P-Z p-z
 *   0x40 3             0..9          0-9
 *   0x04 5             F             _
 *   0x08 2             D, E          - .
 *   0x10 2             0             SP
 *   0x20 0             9, A, D       TAB LF CR
 *
 * The colon is left out on purpose: a name scan stops at it, so the fast
 * path sees the prefix and the local part of a QName separately.  Bytes
 * >= 0x80 have high nibbles 8..F, whose table entries are zero: they
 * are neither name characters nor whitespace here (non-ASCII names take the
 * parser's byte-wise path).  The single-byte classes are plain compares.
 */
#include <string.h>

#include "internal.h"
#include "tagmask.h"

#if defined(__x86_64__) || defined(_M_X64)
#define XSR_HAVE_X86 1
#include <immintrin.h>
#endif

void xsr__tagmask_scalar(const char *w, xsr__tagmask *m) {
  uint64_t nn = 0, ws = 0, apos = 0, quot = 0, vstop = 0;
  for (int i = 0; i < 64; i++) {
    unsigned char c = (unsigned char)w[i];
    uint64_t bit = 1ull << i;
    if (!(xsr__name_class[c] & XSR__NAME_CHAR) || c == ':')
      nn |= bit;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
      ws |= bit;
    if (c == '\'')
      apos |= bit;
    if (c == '"')
      quot |= bit;
    if (c == '<' || c == '&' || c < 0x20 || c >= 0x80)
      vstop |= bit;
  }
  m->nn = nn;
  m->ws = ws;
  m->apos = apos;
  m->quot = quot;
  m->vstop = vstop;
}

#ifdef XSR_HAVE_X86
/* The masks of 32 bytes. */
typedef struct half {
  uint32_t nn, ws, apos, quot, vstop;
} half;

#define REP32(x)                                                                                   \
  x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
enum { K_LUT_LO, K_LUT_HI, K_NIB, K_NAME, K_WS, K_APOS, K_QUOT, K_LT, K_AMP, K_SP, K_COUNT };
static const unsigned char tm_k[K_COUNT][32] __attribute__((aligned(32))) = {
    {0x52, 0x43, 0x43, 0x43, 0x43, 0x43, 0x43, 0x43, 0x43, 0x63, 0x23,
     0x01, 0x01, 0x29, 0x09, 0x05, 0x52, 0x43, 0x43, 0x43, 0x43, 0x43,
     0x43, 0x43, 0x43, 0x63, 0x23, 0x01, 0x01, 0x29, 0x09, 0x05},
    {0x20, 0x00, 0x18, 0x40, 0x01, 0x06, 0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 0,
     0x20, 0x00, 0x18, 0x40, 0x01, 0x06, 0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 0},
    {REP32(0x0F)},
    {REP32(0x4F)},
    {REP32(0x30)},
    {REP32('\'')},
    {REP32('"')},
    {REP32('<')},
    {REP32('&')},
    {REP32(0x20)},
};
#undef REP32
#define K(i) _mm256_load_si256((const __m256i *)(const void *)k[i])

__attribute__((target("avx2"))) static inline half classify32(__m256i b,
                                                              const unsigned char (*k)[32]) {
  const __m256i lut_lo = K(K_LUT_LO), lut_hi = K(K_LUT_HI), nib = K(K_NIB);
  const __m256i zero = _mm256_setzero_si256();
  __m256i lo = _mm256_and_si256(b, nib);
  __m256i hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), nib);
  __m256i cls = _mm256_and_si256(_mm256_shuffle_epi8(lut_lo, lo), _mm256_shuffle_epi8(lut_hi, hi));
  half h;
  h.nn = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_and_si256(cls, K(K_NAME)), zero));
  h.ws = ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_and_si256(cls, K(K_WS)), zero));
  h.apos = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, K(K_APOS)));
  h.quot = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, K(K_QUOT)));
  /* Signed b < 0x20: control bytes and every byte >= 0x80. */
  __m256i vs = _mm256_or_si256(_mm256_cmpeq_epi8(b, K(K_LT)), _mm256_cmpeq_epi8(b, K(K_AMP)));
  vs = _mm256_or_si256(vs, _mm256_cmpgt_epi8(K(K_SP), b));
  h.vstop = (uint32_t)_mm256_movemask_epi8(vs);
  return h;
}

__attribute__((target("avx2"))) static void tagmask_avx2(const char *w, xsr__tagmask *m) {
  /* Hidden from the optimiser, which would otherwise rebuild each
   * constant in registers (a move and a broadcast) instead of using it
   * as a memory operand. */
  const unsigned char(*k)[32] = tm_k;
  __asm__("" : "+r"(k));
  half a = classify32(_mm256_loadu_si256((const __m256i *)(const void *)w), k);
  half b = classify32(_mm256_loadu_si256((const __m256i *)(const void *)(w + 32)), k);
  m->nn = a.nn | (uint64_t)b.nn << 32;
  m->ws = a.ws | (uint64_t)b.ws << 32;
  m->apos = a.apos | (uint64_t)b.apos << 32;
  m->quot = a.quot | (uint64_t)b.quot << 32;
  m->vstop = a.vstop | (uint64_t)b.vstop << 32;
}
#undef K
#endif

xsr__tagmask_fn xsr__tagmask_simd;

void xsr__tagmask_init(int force_scalar) {
  xsr__tagmask_fn fn = NULL;
#ifdef XSR_HAVE_X86
  if (!force_scalar) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
      fn = tagmask_avx2;
  }
#else
  (void)force_scalar;
#endif
  __atomic_store_n(&xsr__tagmask_simd, fn, __ATOMIC_RELEASE);
}
