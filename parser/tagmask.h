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

#endif /* XSR_PARSER_TAGMASK_H */
