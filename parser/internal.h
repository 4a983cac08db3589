/* SPDX-License-Identifier: MIT */
/*
 * parser/internal.h: private declarations shared by the parser's files.
 * Never installed.
 */
#ifndef XSR_PARSER_INTERNAL_H
#define XSR_PARSER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "xsr/parser.h"

#if defined(__GNUC__)
#define XSR_LIKELY(x)   __builtin_expect(!!(x), 1)
#define XSR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define XSR_LIKELY(x)   (x)
#define XSR_UNLIKELY(x) (x)
#endif

/* ---- scan.c: byte classification, SIMD scanning, UTF-8 ---------------- */

/* Returns the first p in [s, e) with *p one of c1, c2, c3, or a byte below
 * 0x20 or at/above 0x80 (control characters and non-ASCII need a closer
 * look); e when there is none.  SSE2 on x86-64 (AVX2 when the CPU has it),
 * scalar elsewhere or when XSR_FORCE_SCALAR is set in the environment; every
 * variant returns the same pointer. */
typedef const char *(*xsr__scan_fn)(const char *s, const char *e, unsigned char c1,
                                    unsigned char c2, unsigned char c3);
extern xsr__scan_fn xsr__scan3;

/* Picks the scan implementation; idempotent and thread-safe. */
void xsr__scan_init(void);

/* The portable version, also used for tails and by tests. */
const char *xsr__scan3_scalar(const char *s, const char *e, unsigned char c1, unsigned char c2,
                              unsigned char c3);
#if defined(__x86_64__) || defined(_M_X64)
/* The variants, for the dispatcher and the tests; call the AVX2 one only
 * when the CPU has AVX2.  AVX2 has lookup loops for the parser's stop sets
 * ('<' '&' '>', and a quote with '<' '&') and compares for any other. */
const char *xsr__scan3_sse2(const char *s, const char *e, unsigned char c1, unsigned char c2,
                            unsigned char c3);
const char *xsr__scan3_avx2(const char *s, const char *e, unsigned char c1, unsigned char c2,
                            unsigned char c3);
#endif

/* Name of the implementation in use: "avx2", "sse2" or "scalar". */
const char *xsr__scan_impl(void);

/* Decodes one UTF-8 sequence starting at s (s < e, *s >= 0x80).
 * Returns its length (2..4) and stores the code point, 0 when [s, e) is a
 * valid but incomplete prefix, or -(k + 1) when the byte at s + k is the
 * first that cannot belong to a valid sequence. */
int xsr__utf8_decode(const unsigned char *s, const unsigned char *e, uint32_t *cp);

/* XML 1.0 (5th edition) name characters, for code points >= 0x80. */
int xsr__name_start_cp(uint32_t cp);
int xsr__name_cp(uint32_t cp);

/* Byte classes for ASCII names: bit 1 = NameStartChar, bit 2 = NameChar,
 * bit 4 = the colon (included in both; QName rules are checked separately,
 * and only for names where the OR of the classes has the colon bit). */
extern const unsigned char xsr__name_class[256];
#define XSR__NAME_START 1
#define XSR__NAME_CHAR  2
#define XSR__NAME_COLON 4

/* Whether an XML character reference value is an XML Char. */
static inline int xsr__is_xml_char(uint32_t c) {
  return (c >= 0x20 && c <= 0xD7FF) || c == 0x9 || c == 0xA || c == 0xD ||
         (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* The length of the predefined entity reference (&lt; &gt; &amp; &quot;
 * &apos;) at q, a '&', when it lies whole before e; else 0.  Each memcmp
 * of a constant length compiles to a load and a compare. */
static inline size_t xsr__predef_len(const char *q, const char *e) {
  size_t n = (size_t)(e - q);
  if (n >= 4 && (memcmp(q, "&lt;", 4) == 0 || memcmp(q, "&gt;", 4) == 0))
    return 4;
  if (n >= 5 && memcmp(q, "&amp;", 5) == 0)
    return 5;
  if (n >= 6 && (memcmp(q, "&quot;", 6) == 0 || memcmp(q, "&apos;", 6) == 0))
    return 6;
  return 0;
}

/* Encodes a code point as UTF-8 into out (4 bytes room); returns length. */
size_t xsr__utf8_encode(uint32_t cp, char *out);

/* ---- scan_text.c: character data, UTF-8 validated in the vector loop ---- */

/* Scans character data (element content or CDATA) from s.  Returns p such that
 * every byte in [s, p) is either an ASCII byte >= 0x20 other than c1, c2, c3, or TAB
 * (0x09) or LF (0x0A), or part of a complete, valid UTF-8 sequence encoding an XML Char
 * (i.e. not U+FFFE/U+FFFF; surrogates and overlongs are invalid UTF-8) that lies wholly in
 * [s, p); and p == e, or *p is c1/c2/c3, a control byte other than TAB/LF (CR included),
 * or a byte >= 0x80.  Stopping at a byte >= 0x80 is allowed even when its sequence is valid
 * (the caller validates it with the scalar decoder and calls again), but the fast version
 * should do so only near an invalid/incomplete sequence or a U+FFFE/U+FFFF, so long
 * non-ASCII text is passed over at SIMD speed.  Never reads outside [s, e).
 *
 * xsr__scan_init() picks the implementation, on the same rule as xsr__scan3
 * (xsr__scan_impl() names both).  Only the AVX2 variant passes over valid
 * non-ASCII text; the SSE2 and scalar ones stop at every byte >= 0x80 and
 * return the same pointer as each other. */
typedef const char *(*xsr__scan_text_fn)(const char *s, const char *e, unsigned char c1,
                                         unsigned char c2, unsigned char c3);
extern xsr__scan_text_fn xsr__scan_text;
const char *xsr__scan_text_scalar(const char *s, const char *e, unsigned char c1, unsigned char c2,
                                  unsigned char c3);
#if defined(__x86_64__) || defined(_M_X64)
/* The variants, for the dispatcher and the tests; call the AVX2 one only
 * when the CPU has AVX2. */
const char *xsr__scan_text_sse2(const char *s, const char *e, unsigned char c1, unsigned char c2,
                                unsigned char c3);
const char *xsr__scan_text_avx2(const char *s, const char *e, unsigned char c1, unsigned char c2,
                                unsigned char c3);
#endif

/* Scans element content from s: as xsr__scan_text(s, e, '<', '&', '>') but
 * passing over the five predefined entity references when whole before e
 * (setting *escaped to 1; it is never cleared) and over a '>' that has two
 * bytes of this scan before it which are not "]]" (a '>' nearer s is
 * returned for the caller to check).  So [s, p) is valid character data,
 * and p is e, '<', another '&', a '>' as said, a control byte other than
 * TAB/LF, or a byte >= 0x80 (as for xsr__scan_text).  The caller must
 * want entity names of four bytes (max_name >= 4).  Same dispatch. */
typedef const char *(*xsr__scan_content_fn)(const char *s, const char *e, unsigned *escaped);
extern xsr__scan_content_fn xsr__scan_content;
const char *xsr__scan_content_scalar(const char *s, const char *e, unsigned *escaped);
#if defined(__x86_64__) || defined(_M_X64)
const char *xsr__scan_content_sse2(const char *s, const char *e, unsigned *escaped);
const char *xsr__scan_content_avx2(const char *s, const char *e, unsigned *escaped);
#endif

/* ---- parser.c: the index on demand --------------------------------------- */

/* Builds (once per stanza) the index of the stanza view `st` that parser p
 * is reporting to on_stanza, in p's scratch, and points the four outputs at
 * it.  XSR_EINVAL when st is not that view or the callback has returned,
 * XSR_ENOMEM when the arrays could not grow (outputs NULL and 0). */
xsr_err xsr__parser_index(struct xsr_parser *p, const xsr_stanza *st, const xsr_node **nodes,
                          size_t *node_count, const xsr_attr **attrs, size_t *attr_count);

/* For the tests and the fuzzers: with `on`, the scan builds every stanza's
 * index as it goes and the views carry it (the reference the on-demand
 * index is compared with); off, the default, it is built on demand. */
void xsr__parser_eager_index(struct xsr_parser *p, int on);

/* ---- stanza.c ----------------------------------------------------------- */

/* Decodes a reference starting at s ('&') within [s, e) that the parser
 * accepted; writes its UTF-8 into out and returns the reference's length. */
size_t xsr__decode_ref(const char *s, const char *e, char *out, size_t *out_len);

#endif /* XSR_PARSER_INTERNAL_H */
