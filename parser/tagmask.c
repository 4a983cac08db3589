/* SPDX-License-Identifier: MIT */
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

#ifdef XSR__TAGMASK_AVX2
#define XSR_HAVE_X86 1
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
#define REP32(x)                                                                                   \
  x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
#define CONTENT16                                                                                  \
  0x80, 0x80, 0x80, 0x80, 0x80, 0x80, '&', 0x80, 0x80, 0x80, 0x80, 0x80, '<', 0x80, '>', 0x80
const unsigned char xsr__tagmask_k[XSR__TM_COUNT][32] __attribute__((aligned(32))) = {
    [XSR__TM_LUT_LO] = {0x52, 0x43, 0x43, 0x43, 0x43, 0x43, 0x43, 0x43, 0x43, 0x63, 0x23,
                        0x01, 0x01, 0x29, 0x09, 0x05, 0x52, 0x43, 0x43, 0x43, 0x43, 0x43,
                        0x43, 0x43, 0x43, 0x63, 0x23, 0x01, 0x01, 0x29, 0x09, 0x05},
    [XSR__TM_LUT_HI] = {0x20, 0x00, 0x18, 0x40, 0x01, 0x06, 0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 0,
                        0x20, 0x00, 0x18, 0x40, 0x01, 0x06, 0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 0},
    [XSR__TM_NIB] = {REP32(0x0F)},
    [XSR__TM_NAME] = {REP32(0x4F)},
    [XSR__TM_WS] = {REP32(0x30)},
    [XSR__TM_APOS] = {REP32('\'')},
    [XSR__TM_QUOT] = {REP32('"')},
    [XSR__TM_LT] = {REP32('<')},
    [XSR__TM_AMP] = {REP32('&')},
    [XSR__TM_SP] = {REP32(0x20)},
    /* '&' at nibble 6, '<' at C, '>' at E; 0x80 (equal to no byte that
     * looks it up) elsewhere. */
    [XSR__TM_CONTENT] = {CONTENT16, CONTENT16},
};
#undef CONTENT16
#undef REP32

__attribute__((target("avx2"))) static void tagmask_avx2(const char *w, xsr__tagmask *m) {
  xsr__tagmask_avx2(w, m);
}
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
