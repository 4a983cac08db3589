/* SPDX-License-Identifier: MIT */
/*
 * parser/parser.c: the incremental stream parser's scan: run(), the
 * resumable state machine, and the feed/buffer entry points that hand it
 * bytes and keep what is held.
 *
 * The parser's files, and where a check is made:
 *   states.h      every state of the grammar, listed in one place
 *   parser.c      run(): well-formedness (tags, nesting and end-tag names:
 *                 ETAGMISMATCH; quotes, '=', whitespace, text: ESYNTAX,
 *                 ETEXT, EJUNK), character and entity references
 *                 (ECHARREF, EENTITY), UTF-8 and XML Char outside the
 *                 vector scans (xml_utf8, UTF8_RUN: EUTF8, ECHAR),
 *                 restricted XML (comments, PIs, DOCTYPE, at st_lt), and
 *                 every limit but max_name and max_namespaces (max_stanza
 *                 through limit_for; max_depth, max_attrs, max_ns_decls
 *                 where the construct is counted);
 *                 feed(), buffer()/commit(), resume(): held bytes, joins,
 *                 small chunks (set_cont, cont_take)
 *   tags.h        start tags, included by parser.c: names and QNames
 *                 (max_name), namespace scoping (bind_ns, resolve; the
 *                 reserved prefixes and URIs), duplicate attributes (also
 *                 through prefixes bound to one namespace), completing a
 *                 start tag
 *   views.h       what the scan reports, included by parser.c: the stanza
 *                 view's routing fields, the stanza's content namespace,
 *                 the stream header (RFC 6120 namespaces, version) and the
 *                 XML declaration
 *   elems.h       the element loop and the start-tag fast path (AVX2),
 *                 included by parser.c; they hand over to run()'s states
 *   tagmask.c/.h  64-byte classification bitmaps for elems.h
 *   scan.c        xsr__scan3 (SIMD and scalar), UTF-8 decoding, name
 *                 character classes
 *   scan_text.c   character data with UTF-8 and XML Char validated in the
 *                 vector loop (xsr__scan_text, xsr__scan_content)
 *   ns.c          interned namespace URIs (max_namespaces: ns_intern, in
 *                 core.h)
 *   index.c       the stanza's index, built on demand; checks nothing
 *   pool.c        life cycle, the configuration's checks, the scratch set
 *                 and the pool that lends it
 *   stanza.c      stanza views: walking, finding, decoding text
 *   writer.c      the stanza writer: escaping and validating output
 *   error.c       error names, conditions and messages
 *   core.h        the parser object, and what the files above share of it
 *   internal.h    the scanners' interface (also for tests and benchmarks)
 * tags.h and views.h are parts of this file's translation unit, so that
 * run() inlines their functions as it always has: the code is the same.
 *
 * Design.
 *
 * Held bytes.  The parser keeps exactly the bytes of the top-level construct
 * being parsed (a stanza, the stream header, the XML declaration) and,
 * after a pause, the bytes not yet parsed.  Every position it stores is
 * relative to the first of those bytes (the "base"), so parsing can resume
 * on a copy of them, in a moved buffer, or in the caller's next chunk,
 * without looking at any byte twice.  run() parses the bytes in
 * [base, base + avail) from the stored position and reports how far the
 * base moved: everything before it may be dropped.
 *
 * feed() parses the caller's chunk in place and copies only what remains
 * held at the end.  When bytes are already held, the next bytes must join
 * them to keep the construct contiguous: they are appended in pieces (512
 * bytes to 4 KiB; parsing resumes where it stopped, so more pieces cost a
 * call each and no rescan) until the held construct completes; run() stops
 * right there (join_stop) and parsing continues in the caller's chunk at
 * the same relative position, so the piece's bytes past the construct are
 * copied but parsed once, in place.  A byte is copied at most once.
 *
 * buffer()/commit() let the caller write into the free end of the parser's
 * buffer; the held construct is moved to the front only when room runs out.
 *
 * Limits.  While inside a top-level construct, scanning never goes past
 * base + max_stanza: reaching that point with more input present is the
 * policy-violation, at exactly that offset, whatever the chunking.
 *
 * The index (nodes, attributes) is not built while scanning: the scan
 * keeps in those arrays only what its checks need (a slot per open
 * element, the attributes of the start tag being parsed and of the
 * stanza element), and the index is built on demand from the stanza's
 * bytes (parser/index.c), into the same
 * arrays, which grow to the largest stanza seen and are then reused.
 * eager_index (tests and fuzzers only) builds it during the scan instead:
 * the reference the on-demand index is compared with.
 *
 * Fast paths.  The byte-wise states below are the grammar; a few
 * accelerators sit in front of them and hand over to them, in a state they
 * would have reached themselves, whenever the input is not the common
 * case, so every result (index, errors and their offsets) is theirs:
 *   - inside the stream, an element loop (elems_avx2) that takes start
 *     tags, their completion, end tags and the text between them one after
 *     the other, with few values to keep in memory, and returns to run()
 *     at the first thing it does not take, or within 64 bytes of the limit;
 *     for a read that began with nothing held (whole stanzas, as a server
 *     reads them: feed_in_place), a copy whose windows may end at the
 *     limit goes on to 8 bytes before it (parser/elems.h);
 *   - attributes of start tags from 64-byte AVX2 bitmaps (stag_body, in the
 *     element loop, or stag_avx2 from run()), when 64 bytes lie ahead below
 *     the limit;
 *   - the usual completions of a start tag (no declarations or prefixes;
 *     one default-namespace declaration, with a cache of recent URIs in
 *     front of the namespace table);
 *   - the end tag of the open element matched by one compare;
 *   - the five predefined entities matched whole;
 *   - character data scanned by xsr__scan3, or by xsr__scan_content (UTF-8
 *     validated and predefined entities passed in the vector loop) once a
 *     text has shown non-ASCII;
 *   - small chunks that only continue a run (text, a value, a name) taken
 *     by a table lookup per byte in feed()/commit() (set_cont).
 * XSR_FORCE_SCALAR=1 turns the SIMD ones off; the tests run both ways and
 * the fuzzers compare every chunking, which moves the hand-over points.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "states.h"
#include "tagmask.h"

/* Makes room for `n` more held bytes at the end of the buffer. */
static int buf_reserve(xsr_parser *p, size_t n) {
  if (p->sc.cap - p->end >= n)
    return 1;
  if (n > SIZE_MAX / 2 - (p->end - p->start))
    return 0; /* no buffer that large can exist */
  if (p->start > 0) {
    memmove(p->sc.buf, p->sc.buf + p->start, p->end - p->start);
    p->end -= p->start;
    p->start = 0;
    if (p->sc.cap - p->end >= n)
      return 1;
  }
  size_t need = p->end + n;
  size_t ncap = p->sc.cap + p->sc.cap / 2;
  if (ncap < need)
    ncap = need;
  char *q = p->sa->realloc(p->sa->user, p->sc.buf, ncap);
  if (!q)
    return 0;
  p->sc.buf = q;
  p->sc.cap = ncap;
  return 1;
}

static inline int buf_append(xsr_parser *p, const char *d, size_t n) {
  if (XSR_UNLIKELY(p->sc.cap - p->end < n) && !buf_reserve(p, n))
    return 0;
  if (n <= 8) { /* small chunks: a call to memcpy costs more than the copy */
    for (size_t i = 0; i < n; i++)
      p->sc.buf[p->end + i] = d[i];
  } else {
    memcpy(p->sc.buf + p->end, d, n);
  }
  p->end += n;
  return 1;
}

/* Start tags (names, namespace scoping, duplicate attributes) and what the
 * scan reports (views, the stream header): see the files. */
#include "tags.h"

#include "views.h"

/* ---- the state machine --------------------------------------------------- */

/* Element content, as scan_text(s, e, '<', '&', '>') but passing over
 * predefined entities (xsr__scan_content), which mark the text escaped.
 * With max_name < 4 the entity names "quot" and "apos" are too long, so
 * the byte-wise states must see every reference. */
static inline const char *scan_content(xsr_parser *p, const char *s, const char *e) {
  if (e - s >= 32 && p->cfg.max_name >= 4) {
    unsigned esc = 0;
    s = __atomic_load_n(&xsr__scan_content, __ATOMIC_RELAXED)(s, e, &esc);
    p->text_flags |= esc ? XSR_F_ESCAPED : 0;
    return s;
  }
  return scan_text(s, e, '<', '&', '>');
}

/* Validates one non-ASCII character at s: returns its length, 0 when lim
 * cuts it, -1 for invalid UTF-8, -2 for U+FFFE/U+FFFF.  The two common
 * shapes (2 bytes; 3 bytes outside the E0/ED/EF special cases) are checked
 * inline. */
static inline int xml_utf8(const char *s, const char *lim) {
  const unsigned char *u = (const unsigned char *)s;
  ptrdiff_t room = lim - s;
  if (u[0] >= 0xC2 && u[0] <= 0xDF && room >= 2 && (u[1] & 0xC0) == 0x80)
    return 2;
  if (u[0] >= 0xE1 && u[0] <= 0xEC && room >= 3 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80)
    return 3;
  uint32_t cp;
  int n = xsr__utf8_decode(u, (const unsigned char *)lim, &cp);
  if (n <= 0)
    return n < 0 ? -1 : 0;
  return (cp >= 0xFFFE && cp <= 0xFFFF) ? -2 : n;
}

/* Whether the len bytes (len >= 1) at x, below lim, equal those at y < x. */
static inline int same_name(const char *x, const char *y, size_t len, const char *lim) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (len <= 8 && lim - x >= 8) { /* names are short: no call */
    uint64_t u, v;
    memcpy(&u, x, 8);
    memcpy(&v, y, 8);
    return ((u ^ v) << (64 - 8 * len)) == 0;
  }
#else
  (void)lim;
#endif
  return memcmp(x, y, len) == 0;
}

/* At s, a '<' below lim with p->depth > 0: the length of the open
 * element's end tag when it is written the usual way, "</" name ">" with
 * the same bytes (the byte-wise states would accept it with the same
 * result), else 0 (they decide). */
static inline size_t open_etag_len(const xsr_parser *p, const char *b, const char *s,
                                   const char *lim) {
  const xsr_node *open = &p->sc.nodes[p->sc.stack[p->depth].node];
  size_t len = open->name_len;
  if ((size_t)(lim - s) >= len + 3 && s[2 + len] == '>' &&
      same_name(s + 2, b + open->off + 1, len, lim))
    return len + 3;
  return 0;
}

static inline const char *limit_for(const xsr_parser *p, const char *b, const char *e) {
  size_t max = p->cfg.max_stanza;
  return (size_t)(e - b) > max ? b + max : e;
}

/*
 * Small chunks.  When every held byte has been scanned and the parser sits
 * in a run (character data, an attribute value, a name), a chunk made only
 * of bytes that merely continue that run changes nothing but the position.
 * feed() and commit() recognise that with one table lookup per byte instead
 * of a call into run(); the resulting state is exactly the one run() would
 * leave, so chunking stays invisible.  cont_class has one bit per kind of
 * run, set for the bytes that continue it: never a markup byte, a control
 * byte the state must look at (CR, TAB and LF in values), a byte >= 0x80
 * (UTF-8 is validated in run()) or a colon in names (run() tracks it for
 * the QName check).
 */
enum { CONT_CONTENT = 1, CONT_APOS = 2, CONT_QUOT = 4, CONT_NAME = 8 };
#define CONT_TEXTLIKE (CONT_CONTENT | CONT_APOS | CONT_QUOT) /* runs that may hold UTF-8 */
#define CONT_TEXT(c)  ((c) >= 0x20 && (c) < 0x80 && (c) != '<' && (c) != '&')
#define CONT_NCHAR(c)                                                                              \
  (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9') ||       \
   (c) == '-' || (c) == '.' || (c) == '_')
#define CONT_BITS(c)                                                                               \
  (((CONT_TEXT(c) && (c) != '>') || (c) == '\n' || (c) == '\t' ? CONT_CONTENT : 0) |               \
   (CONT_TEXT(c) && (c) != '\'' ? CONT_APOS : 0) | (CONT_TEXT(c) && (c) != '"' ? CONT_QUOT : 0) |  \
   (CONT_NCHAR(c) ? CONT_NAME : 0))
#define CONT_ROW(r)                                                                                \
  CONT_BITS(r + 0), CONT_BITS(r + 1), CONT_BITS(r + 2), CONT_BITS(r + 3), CONT_BITS(r + 4),        \
      CONT_BITS(r + 5), CONT_BITS(r + 6), CONT_BITS(r + 7), CONT_BITS(r + 8), CONT_BITS(r + 9),    \
      CONT_BITS(r + 10), CONT_BITS(r + 11), CONT_BITS(r + 12), CONT_BITS(r + 13),                  \
      CONT_BITS(r + 14), CONT_BITS(r + 15)
static const unsigned char cont_class[256] = {
    CONT_ROW(0x00), CONT_ROW(0x10), CONT_ROW(0x20), CONT_ROW(0x30), CONT_ROW(0x40), CONT_ROW(0x50),
    CONT_ROW(0x60), CONT_ROW(0x70), CONT_ROW(0x80), CONT_ROW(0x90), CONT_ROW(0xA0), CONT_ROW(0xB0),
    CONT_ROW(0xC0), CONT_ROW(0xD0), CONT_ROW(0xE0), CONT_ROW(0xF0)};
#undef CONT_ROW
#undef CONT_BITS
#undef CONT_NCHAR
#undef CONT_TEXT

/* Called when run() stops at the end of its input inside a top-level
 * construct of `held` bytes. */
static inline void set_cont(xsr_parser *p, size_t held) {
  size_t left = p->cfg.max_stanza - held; /* held <= max_stanza here */
  switch (p->state) {
  case ST_CONTENT:
    p->cont = CONT_CONTENT;
    break;
  case ST_ATTR_VALUE:
    p->cont = p->quote == '"' ? CONT_QUOT : CONT_APOS;
    break;
  case ST_ETAG_NAME:
    if (p->pos == p->tok)
      return; /* the first character has its own checks */
    /* fall through */
  case ST_STAG_NAME:
  case ST_ATTR_NAME: {
    size_t name_left = p->cfg.max_name - (p->pos - p->tok);
    if (p->pos - p->tok > p->cfg.max_name)
      return;
    if (name_left < left)
      left = name_left;
    p->cont = CONT_NAME;
    break;
  }
  default:
    return;
  }
  if (left > p->sc.cap - p->end) /* when run() parsed the caller's bytes, feed_slow */
    left = p->sc.cap - p->end;   /* calls again once their rest is in the buffer */
  p->cont_left = left;
  p->u8pend = 0;
}

/*
 * The start-tag fast path.
 *
 * A start tag, token by token from 64-byte bitmaps (tagmask.h), in a
 * function of its own compiled for AVX2 (the classifier is inlined, its
 * masks live in registers).  It takes only the common shapes: ASCII
 * names, name="value" with optional whitespace around '=', values without
 * references, control or non-ASCII bytes.  At anything else it hands over
 * to the byte-wise state for the token it is in, positioned at that
 * token's first byte with nothing of the token recorded yet (STAG_NAME,
 * STAG_WS0/1) or, inside a value, at the byte that needs a closer look
 * (STAG_VALUE); from there the byte-wise states finish the tag exactly as
 * they would have alone.  When the attribute array cannot grow, STAG_NOMEM
 * at the attribute's name, where those states report it (they would not
 * try again).  Windows lie wholly below lim, so limits and
 * chunking look the same.  *ps is the first byte of the element name on
 * entry (its '<' is behind it, the node is pushed, p->tok is set); for
 * stag_body the caller guarantees lim - *ps >= 64, for stag_body_tail that
 * the 64 bytes before lim are input and win->last = lim - 64 (the window
 * that ends at lim, used within 64 bytes of it).  Both are made from
 * parser/elems.h.
 */
enum { STAG_NAME, STAG_WS0, STAG_WS1, STAG_VALUE, STAG_END, STAG_EMPTY, STAG_SLASH, STAG_NOMEM };

/* A window of masks, kept by run() across the tags of one call (the bytes
 * do not change while run() looks at them): w NULL means none yet. */
struct tagwin {
  const char *w;
  xsr__tagmask m;
  const char *last; /* lim - 64, for the tail variant: set by run() before each call */
};

#ifdef XSR__TAGMASK_AVX2
/*
 * The element loop.  From a '<' inside the stream element, as long as the
 * markup has the usual shapes: start tags (stag_body, then what run() does
 * when one is complete), end tags written "</" name ">" with the open
 * element's name, and character data between tags, one after
 * the other in this function, whose few live values stay in registers
 * (run() is one large function and keeps reloading them).  It returns as
 * soon as anything needs run(), leaving the parser exactly as run()'s own
 * states would at that byte:
 *   EL_LT       *ps at a '<' that run() parses from st_lt (64 bytes or
 *               fewer before lim, 8 for elems_tail_avx2 (parser/elems.h),
 *               an end tag of another shape, a comment,
 *               CDATA, the stream's end tag, a name that is not ASCII, the
 *               depth limit: run() reports what is wrong);
 *   EL_CONTENT  in element content, text_start and text_flags set, at the
 *               byte the scan stopped at (a reference it does not pass,
 *               '>', a control byte, lim, non-ASCII it leaves to the
 *               byte-wise check): run() continues at st_content;
 *   EL_STANZA   past the stanza's last '>': run() reports the stanza;
 *   EL_FAIL     *errc and *errp say what finish_start_tag() rejected, or
 *               ENOMEM (at the byte where run() would report it; an
 *               allocation is never tried twice, so a failure that would
 *               not repeat gives the same result on every path);
 *   a STAG_*    code that is not END or EMPTY: stag_body's hand-over, for
 *               run()'s byte-wise start-tag states.
 */
enum { EL_LT = 16, EL_CONTENT, EL_STANZA, EL_FAIL };

/* stag_body and elems_avx2, and their variants for the end of a chunk. */
#define XSR__TAIL 0
#include "elems.h"
#undef XSR__TAIL
#define XSR__TAIL 1
#include "elems.h"
#undef XSR__TAIL

/* From run()'s byte-wise states: the variant that works up to lim. */
__attribute__((target("avx2"))) static int stag_avx2(xsr_parser *p, const char *b, const char *lim,
                                                     const char **ps, struct tagwin *win) {
  return stag_body_tail(p, b, lim, ps, win);
}

#else
static int stag_avx2(xsr_parser *p, const char *b, const char *lim, const char **ps,
                     struct tagwin *win) {
  (void)p, (void)b, (void)lim, (void)ps, (void)win;
  return STAG_NAME; /* never called: xsr__tagmask_simd is NULL */
}
enum { EL_LT = 16, EL_CONTENT, EL_STANZA, EL_FAIL };
static int elems_avx2(xsr_parser *p, const char *b, const char *lim, const char **ps,
                      struct tagwin *win, xsr_err *errc, const char **errp) {
  (void)p, (void)b, (void)lim, (void)ps, (void)win, (void)errc, (void)errp;
  return EL_LT; /* never called: xsr__tagmask_simd is NULL */
}
#define elems_tail_avx2 elems_avx2
#endif

/*
 * Parses [base + p->pos, base + avail).  base is the first held byte.  On
 * return *advanced says how many bytes at base were released (complete
 * constructs, whitespace between them); the rest must stay available for
 * the next call, at the same relative positions.
 */
static xsr_err run(xsr_parser *p, const char *base, size_t avail, size_t *advanced) {
  const char *b = base; /* first byte of the current construct */
  const char *const e = base + avail;
  const char *s = b + p->pos;
  const char *lim = p->intop ? limit_for(p, b, e) : e;
  xsr_err err = XSR_OK;
  const char *errp = s;
  unsigned char c;
  int cbrc = 0;
  int empty = 0;
  int srt; /* what stag_avx2() or elems_avx2() returned */
  /* Whether the CPU has AVX2 (set once by xsr__scan_init, perhaps by
   * another thread's first parser: hence the atomic load). */
  const int fast_tags = __atomic_load_n(&xsr__tagmask_simd, __ATOMIC_RELAXED) != NULL;
  unsigned wide = 0; /* the current text has held non-ASCII characters */
  struct tagwin win; /* see stag_avx2: the masks are read only once w is set */
  win.w = NULL;

  p->cont = 0;
  p->cont_left = 0;

#define REL(x) ((uint32_t)((x)-b))
#define AT(o)  (b + (o))
#define FAIL(code, at)                                                                             \
  do {                                                                                             \
    err = (code);                                                                                  \
    errp = (at);                                                                                   \
    goto fail;                                                                                     \
  } while (0)
#define NEED(n)                                                                                    \
  do {                                                                                             \
    if (lim - s < (ptrdiff_t)(n))                                                                  \
      goto out;                                                                                    \
  } while (0)
#define ENTER(st) p->state = (st)
/* At a byte below 0x20 in character data or CDATA: TAB and LF pass, CR
 * marks the node for line-end normalisation, anything else is not XML. */
#define TEXT_CONTROL()                                                                             \
  do {                                                                                             \
    if (c == '\r')                                                                                 \
      p->text_flags |= XSR_F_ESCAPED;                                                              \
    else if (c != '\n' && c != '\t')                                                               \
      FAIL(XSR_ECHAR, s);                                                                          \
    s++;                                                                                           \
  } while (0)
/* At a byte >= 0x80: validates the run of non-ASCII characters there. */
#define UTF8_RUN()                                                                                 \
  do {                                                                                             \
    int n_;                                                                                        \
    do {                                                                                           \
      n_ = xml_utf8(s, lim);                                                                       \
      if (n_ <= 0) {                                                                               \
        if (n_ == 0)                                                                               \
          goto out;                                                                                \
        FAIL(n_ == -1 ? XSR_EUTF8 : XSR_ECHAR, s);                                                 \
      }                                                                                            \
      s += n_;                                                                                     \
    } while (s < lim && (unsigned char)*s >= 0x80);                                                \
  } while (0)
#define STREAM_OFF(x) (p->base_off + (uint64_t)((x)-base))

  switch ((enum xsr__state)p->state) {
  case ST_DOC:
    goto st_doc;
  case ST_PROLOG:
    goto st_prolog;
  case ST_XMLDECL:
    goto st_xmldecl;
  case ST_BETWEEN:
    goto st_between;
  case ST_EPILOG:
    goto st_epilog;
  case ST_LT:
    goto st_lt;
  case ST_STAG_NAME:
    goto st_stag_name;
  case ST_STAG_WS:
    goto st_stag_ws;
  case ST_ATTR_NAME:
    goto st_attr_name;
  case ST_ATTR_EQ:
    goto st_attr_eq;
  case ST_ATTR_Q:
    goto st_attr_q;
  case ST_ATTR_VALUE:
    goto st_attr_value;
  case ST_EMPTY_GT:
    goto st_empty_gt;
  case ST_ETAG_NAME:
    goto st_etag_name;
  case ST_ETAG_WS:
    goto st_etag_ws;
  case ST_CONTENT:
    goto st_content;
  case ST_CDATA:
    goto st_cdata;
  case ST_REF:
    goto st_ref;
  case ST_REF_NUM:
    goto st_ref_num;
  case ST_REF_NAME:
    goto st_ref_name;
  case ST_FAILED:
    break;
  }
  *advanced = 0;
  return p->err;

  /* -- prolog ------------------------------------------------------------ */
st_doc:
  ENTER(ST_DOC);
  if (s >= lim)
    goto out;
  c = (unsigned char)*s;
  if (c == 0xEF) {
    NEED(3);
    if ((unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF) {
      s += 3;
      goto st_prolog_decl;
    }
    FAIL(XSR_ESYNTAX, s);
  }
  if (c == 0xFE || c == 0xFF) {
    NEED(2);
    if ((c == 0xFE && (unsigned char)s[1] == 0xFF) || (c == 0xFF && (unsigned char)s[1] == 0xFE))
      FAIL(XSR_EENCODING, s);
    FAIL(XSR_EUTF8, s);
  }
  if (c == 0x00)
    FAIL(XSR_EENCODING, s);
  if (c == '<') {
    NEED(2);
    if (s[1] == 0)
      FAIL(XSR_EENCODING, s + 1);
  }
st_prolog_decl:
  p->decl_ok = 1;
  p->state = ST_PROLOG;
  /* fall through to the prolog with the declaration still allowed */
  goto st_prolog_body;

st_prolog:
  ENTER(ST_PROLOG);
st_prolog_body:
  /* Whitespace before the stream element is released as it is scanned, so
   * it does not count against max_stanza. */
  while (s < e && is_ws((unsigned char)*s)) {
    s++;
    p->decl_ok = p->lenient_decl;
  }
  b = s; /* nothing before this needs keeping */
  lim = limit_for(p, b, e);
  if (s >= lim)
    goto out;
  if (*s != '<')
    FAIL(XSR_ESYNTAX, s);
  goto st_lt;

st_xmldecl:
  ENTER(ST_XMLDECL);
  /* Look for '?>'.  The declaration is short and ASCII: a '<', a control
   * character or a non-ASCII byte cannot be part of it, so fail there at
   * once rather than holding bytes until max_stanza. */
  for (;; s++) {
    if (s >= lim)
      goto out;
    c = (unsigned char)*s;
    if (c == '>' && s[-1] == '?' && s - 1 >= AT(p->tok) + 6) {
      s++;
      break;
    }
    if (c == '<' || c >= 0x80 || (c < 0x20 && !is_ws(c)))
      FAIL(XSR_EXMLDECL, s);
  }
  err = check_xmldecl(AT(p->tok), s, &errp);
  if (err)
    goto fail;
  p->decl_ok = 0;
  b = s;
  lim = limit_for(p, b, e);
  p->state = ST_PROLOG;
  goto st_prolog_body;

  /* -- between stanzas --------------------------------------------------- */
st_between:
  ENTER(ST_BETWEEN);
  p->intop = 0;
  while (s < e && is_ws((unsigned char)*s))
    s++;
  b = s;
  lim = e;
  if (s >= e || (p->join_stop && s != base)) /* the joined construct is complete */
    goto out;
  if (*s != '<') {
    /* Text between stanzas: report what is wrong with it first. */
    c = (unsigned char)*s;
    if (c < 0x20)
      FAIL(XSR_ECHAR, s);
    if (c >= 0x80) {
      uint32_t cp;
      int n = xsr__utf8_decode((const unsigned char *)s, (const unsigned char *)e, &cp);
      if (n == 0)
        goto out; /* wait for the whole character */
      if (n < 0)
        FAIL(XSR_EUTF8, s);
      if (cp >= 0xFFFE && cp <= 0xFFFF)
        FAIL(XSR_ECHAR, s);
    }
    FAIL(XSR_ETEXT, s);
  }
  p->intop = 1;
  lim = limit_for(p, b, e);
  goto st_lt;

st_epilog:
  ENTER(ST_EPILOG);
  p->intop = 0;
  if (p->pending_close) {
    p->pending_close = 0;
    p->closed = 1;
    b = s;
    if (p->cb && p->cb->on_stream_close) {
      p->in_cb = 1;
      p->cb_off = STREAM_OFF(s);
      cbrc = p->cb->on_stream_close(p->user, p->close_off);
      p->in_cb = 0;
    }
    if (cbrc)
      goto after_callback;
  }
  while (s < e && is_ws((unsigned char)*s))
    s++;
  b = s;
  lim = e;
  if (s >= e)
    goto out;
  if (*s == '<') {
    /* XML allows comments and processing instructions after the root
     * element; RFC 6120 section 11.1 does not, here as between stanzas. */
    NEED(2);
    if (s[1] == '?')
      FAIL(XSR_EPI, s);
    if (s[1] == '!') {
      NEED(4);
      if (s[2] == '-' && s[3] == '-')
        FAIL(XSR_ECOMMENT, s);
    }
  }
  FAIL(XSR_EJUNK, s);

  /* -- markup ------------------------------------------------------------ */
st_lt:
  ENTER(ST_LT);
  if (fast_tags && p->phase == PH_STREAM &&
      (p->whole_reads ? lim - s > 8 && lim - base >= 64 : lim - s > 64)) {
    /* Reads of whole stanzas (see feed_in_place) end where a stanza ends:
     * the variant whose windows reach lim takes their ends too. */
    win.last = lim - 64;
    srt = p->whole_reads ? elems_tail_avx2(p, b, lim, &s, &win, &err, &errp)
                         : elems_avx2(p, b, lim, &s, &win, &err, &errp);
    switch (srt) {
    case EL_LT:
      break;
    case EL_CONTENT:
      wide = 0;
      goto st_content;
    case EL_STANZA:
      goto stanza_end;
    case EL_FAIL:
      goto fail;
    default:
      goto stag_dispatch;
    }
  }
  NEED(2);
  c = (unsigned char)s[1];
  if (c == '/') {
    if (p->phase != PH_STREAM)
      FAIL(XSR_ESYNTAX, s + 1);
    p->etag_lt = REL(s);
    if (p->depth > 0) {
      size_t n = open_etag_len(p, b, s, lim);
      if (n) {
        s += n;
        goto element_end;
      }
    }
    s += 2;
    p->tok = REL(s);
    goto st_etag_name;
  }
  if (c == '!') {
    NEED(3);
    if (s[2] == '-') {
      NEED(4);
      if (s[3] == '-')
        FAIL(XSR_ECOMMENT, s);
      FAIL(XSR_ESYNTAX, s + 3);
    }
    if (s[2] == 'D') {
      static const char kw[] = "<!DOCTYPE";
      NEED(9);
      for (int i = 3; i < 9; i++)
        if (s[i] != kw[i])
          FAIL(XSR_ESYNTAX, s + i);
      FAIL(XSR_EDTD, s);
    }
    if (s[2] == '[' && p->phase == PH_STREAM) {
      if (p->depth == 0)
        FAIL(XSR_ETEXT, s);
      static const char kw[] = "<![CDATA[";
      NEED(9);
      for (int i = 3; i < 9; i++)
        if (s[i] != kw[i])
          FAIL(XSR_ESYNTAX, s + i);
      s += 9;
      p->cdata_start = REL(s);
      p->text_flags = 0; /* the CDATA node's own flags (CR only) */
      goto st_cdata;
    }
    FAIL(XSR_ESYNTAX, s + 2);
  }
  if (c == '?') {
    if (p->phase == PH_PROLOG && p->decl_ok) {
      NEED(6);
      if (memcmp(s + 2, "xml", 3) == 0) {
        unsigned char c5 = (unsigned char)s[5];
        if (is_ws(c5)) {
          p->tok = REL(s);
          s += 6;
          goto st_xmldecl;
        }
        if (c5 == '?')
          FAIL(XSR_EXMLDECL, s + 5);
      }
    }
    FAIL(XSR_EPI, s);
  }
  if (!(xsr__name_class[c] & XSR__NAME_START) && c < 0x80) {
    if (xsr__name_class[c] & XSR__NAME_CHAR)
      FAIL(XSR_ENAME, s + 1);
    FAIL(XSR_ESYNTAX, s + 1);
  }
  {
    /* A start tag: a new element at depth+1 (the stream element is 0). */
    unsigned d = p->phase == PH_PROLOG ? 0 : p->depth + 1;
    if (d > p->cfg.max_depth)
      FAIL(XSR_ELIMITDEPTH, s);
    if (!open_element(p, b, s, d))
      FAIL(XSR_ENOMEM, s);
    s += 1;
  }
  if (fast_tags && (p->whole_reads ? lim - s > 8 && lim - base >= 64 : lim - s >= 64)) {
    win.last = lim - 64;
    srt = stag_avx2(p, b, lim, &s, &win);
  stag_dispatch:
    switch (srt) {
    case STAG_END:
      empty = 0;
      goto start_tag_done;
    case STAG_EMPTY:
      empty = 1;
      goto start_tag_done;
    case STAG_SLASH:
      goto st_empty_gt;
    case STAG_NOMEM:
      FAIL(XSR_ENOMEM, s);
    case STAG_VALUE:
      goto st_attr_value;
    case STAG_WS0:
      p->ws = 0;
      goto st_stag_ws;
    case STAG_WS1:
      p->ws = 1;
      goto st_stag_ws;
    default: /* STAG_NAME: s is at the name */
      break;
    }
  }
  /* fall through */
st_stag_name:
  ENTER(ST_STAG_NAME);
  {
    unsigned colon;
    int r = scan_name_fast(p, &s, lim, AT(p->tok), p->cfg.max_name, &colon, &err, &errp);
    if (r == NAME_MORE)
      goto out;
    if (r == NAME_FAIL)
      goto fail;
    xsr_node *n = &p->sc.nodes[p->cur_node];
    size_t len = (size_t)(s - AT(p->tok));
    int pl = colon ? qname_prefix(AT(p->tok), len, &errp) : 0;
    if (pl < 0)
      FAIL(XSR_EQNAME, errp);
    n->name_len = (uint16_t)len;
    n->prefix_len = (uint16_t)pl;
    p->ws = 0;
  }
st_stag_ws:
  ENTER(ST_STAG_WS);
  for (;;) {
    if (s >= lim)
      goto out;
    c = (unsigned char)*s;
    if (is_ws(c)) {
      p->ws = 1;
      s++;
      continue;
    }
    if (c == '>') {
      s++;
      empty = 0;
      goto start_tag_done;
    }
    if (c == '/') {
      s++;
      goto st_empty_gt;
    }
    if ((xsr__name_class[c] & XSR__NAME_START) || c >= 0x80) {
      if (!p->ws)
        FAIL(XSR_ESYNTAX, s);
      xsr_node *n = &p->sc.nodes[p->cur_node];
      if (p->nattrs - n->attr_first >= p->cfg.max_attrs)
        FAIL(XSR_ELIMITATTRS, s);
      if (XSR_UNLIKELY(p->nattrs == p->sc.capattrs) &&
          !grow(p->sa, (void **)&p->sc.attrs, &p->sc.capattrs, p->nattrs + 1, sizeof *p->sc.attrs,
                16))
        FAIL(XSR_ENOMEM, s);
      xsr_attr *a = &p->sc.attrs[p->nattrs++];
      memset(a, 0, sizeof *a);
      a->name_off = REL(s);
      p->tok = REL(s);
      goto st_attr_name;
    }
    FAIL(XSR_ESYNTAX, s);
  }

st_attr_name:
  ENTER(ST_ATTR_NAME);
  {
    unsigned colon;
    int r = scan_name_fast(p, &s, lim, AT(p->tok), p->cfg.max_name, &colon, &err, &errp);
    if (r == NAME_MORE)
      goto out;
    if (r == NAME_FAIL)
      goto fail;
    xsr_attr *a = &p->sc.attrs[p->nattrs - 1];
    const char *an = AT(p->tok);
    size_t len = (size_t)(s - an);
    int pl = colon ? qname_prefix(an, len, &errp) : 0;
    if (pl < 0)
      FAIL(XSR_EQNAME, errp);
    a->name_len = (uint16_t)len;
    a->prefix_len = (uint16_t)pl;
    if (is_xmlns_attr(an, len, (size_t)pl)) {
      if (++p->el_nsdecls > p->cfg.max_ns_decls)
        FAIL(XSR_ELIMITNSDECL, an);
      a->flags |= ATTR_XMLNS;
    } else if (pl) {
      p->el_prefixed = 1;
    }
    /* Same qualified name as an earlier attribute of this element? */
    int dup = qname_dup(p, b, p->sc.nodes[p->cur_node].attr_first, p->nattrs - 1);
    if (dup)
      FAIL(dup < 0 ? XSR_ENOMEM : XSR_EDUPATTR, an);
  }
st_attr_eq:
  ENTER(ST_ATTR_EQ);
  while (s < lim && is_ws((unsigned char)*s))
    s++;
  if (s >= lim)
    goto out;
  if (*s != '=')
    FAIL(XSR_ESYNTAX, s);
  s++;
st_attr_q:
  ENTER(ST_ATTR_Q);
  while (s < lim && is_ws((unsigned char)*s))
    s++;
  if (s >= lim)
    goto out;
  if (*s != '"' && *s != '\'')
    FAIL(XSR_ESYNTAX, s);
  p->quote = (uint8_t)*s;
  s++;
  p->sc.attrs[p->nattrs - 1].value_off = REL(s);
st_attr_value:
  ENTER(ST_ATTR_VALUE);
  {
    const unsigned char q = p->quote;
    for (;;) {
      s = scan3(s, lim, q, '<', '&');
      if (s >= lim)
        goto out;
      c = (unsigned char)*s;
      if (c == q) {
        xsr_attr *a = &p->sc.attrs[p->nattrs - 1];
        a->value_len = REL(s) - a->value_off;
        s++;
        p->ws = 0;
        goto st_stag_ws;
      }
      if (c == '<')
        FAIL(XSR_EATTRLT, s);
      if (c == '&') {
        p->sc.attrs[p->nattrs - 1].flags |= XSR_F_ESCAPED;
        p->ret_state = ST_ATTR_VALUE;
        p->ref_start = REL(s);
        goto st_ref;
      }
      if (c < 0x20) {
        if (c == '\t' || c == '\n' || c == '\r') {
          p->sc.attrs[p->nattrs - 1].flags |= XSR_F_ESCAPED;
          s++;
          continue;
        }
        FAIL(XSR_ECHAR, s);
      }
      UTF8_RUN();
    }
  }

st_empty_gt:
  ENTER(ST_EMPTY_GT);
  if (s >= lim)
    goto out;
  if (*s != '>')
    FAIL(XSR_ESYNTAX, s);
  s++;
  empty = 1;
  goto start_tag_done;

start_tag_done : {
  uint32_t nbinds_before = p->nbinds, defns_before = p->defns;
  err = complete_start_tag(p, b, &errp);
  if (err)
    goto fail;
  xsr_node *n = &p->sc.nodes[p->cur_node];
  if (p->phase == PH_PROLOG) {
    /* The stream header. */
    xsr_stream_header h;
    xsr_stanza view;
    err = check_header(p, b, &h);
    if (err)
      FAIL(err, (err == XSR_EVERSION || err == XSR_EBADVERSION) ? h.version.ptr : b);
    if (!persist_stream(p, b, &h))
      FAIL(XSR_ENOMEM, b);
    n->len = REL(s);
    fill_view(p, b, REL(s), STREAM_OFF(b), &view);
    view.node_count = 1;
    view.type.ptr = NULL; /* route slot 3 holds the version here */
    view.type.len = 0;
    view.escaped &= ~(unsigned)XSR_ROUTE_TYPE;
    h.offset = STREAM_OFF(b);
    h.element = &view;
    p->phase = PH_STREAM;
    p->depth = 0;
    p->state = ST_BETWEEN;
    if (empty) { /* <stream:stream/>: opened and closed at once */
      p->phase = PH_EPILOG;
      p->state = ST_EPILOG;
      p->pending_close = 1;
      p->close_off = h.offset;
    }
    if (p->cb && p->cb->on_stream_open) {
      p->in_cb = 1;
      p->cb_off = STREAM_OFF(s);
      cbrc = p->cb->on_stream_open(p->user, &h);
      p->in_cb = 0;
    }
    /* The header's bytes are released; its bindings now live in the arena. */
    b = s;
    p->intop = 0;
    lim = e;
    goto after_callback;
  }
  if (p->depth == 0 && XSR_UNLIKELY(foreign_content_ns(p, n->ns)))
    FAIL(XSR_ESTANZANS, AT(n->off + 1));
  push_open(p, b, nbinds_before, defns_before);
  if (empty)
    goto element_end;
  p->text_start = REL(s);
  p->text_flags = 0;
  goto st_content;
}

  /* -- content ----------------------------------------------------------- */
st_content:
  ENTER(ST_CONTENT);
  for (;;) {
    if (s < lim && *s == '<') /* no text at all: the usual case between tags */
      goto content_lt;
    /* Short ASCII texts (<show>, <priority>, base64) are cheapest with
     * scan3.  Once a text has shown a non-ASCII character, the scanner that
     * validates UTF-8 in its vector loop takes over until the text ends:
     * measured with callgrind on the chat and large corpora, this beats
     * either scanner alone. */
    s = wide ? scan_content(p, s, lim) : scan3(s, lim, '<', '&', '>');
    if (s >= lim)
      goto out;
    c = (unsigned char)*s;
    if (c == '<') {
    content_lt:
      wide = 0;
      if (REL(s) > p->text_start &&
          !add_text_node(p, XSR_NODE_TEXT, p->text_start, REL(s) - p->text_start, p->text_flags))
        FAIL(XSR_ENOMEM, s);
      goto st_lt;
    }
    if (c == '&') {
      p->text_flags |= XSR_F_ESCAPED;
      p->ret_state = ST_CONTENT;
      p->ref_start = REL(s);
      goto st_ref;
    }
    if (c == '>') {
      if (s - 2 >= AT(p->text_start) && s[-1] == ']' && s[-2] == ']')
        FAIL(XSR_ECDATAEND, s);
      s++;
      continue;
    }
    if (c < 0x20) {
      TEXT_CONTROL();
      continue;
    }
    UTF8_RUN();
    wide = 1;
  }

st_cdata:
  ENTER(ST_CDATA);
  for (;;) {
    s = scan_text(s, lim, ']', ']', ']');
    if (s >= lim)
      goto out;
    c = (unsigned char)*s;
    if (c == ']') {
      NEED(3);
      if (s[1] == ']' && s[2] == '>') {
        uint32_t off = p->cdata_start, len = REL(s) - off;
        if (!add_text_node(p, XSR_NODE_CDATA, off, len, p->text_flags))
          FAIL(XSR_ENOMEM, s);
        s += 3;
        p->text_start = REL(s);
        p->text_flags = 0;
        goto st_content;
      }
      s++;
      continue;
    }
    if (c < 0x20) {
      TEXT_CONTROL();
      continue;
    }
    UTF8_RUN();
  }

  /* -- references -------------------------------------------------------- */
st_ref:
  ENTER(ST_REF);
  /* The five predefined entities, whole and in reach: compared at once
   * (with max_name < 4, st_ref_name's limit applies to "quot"/"apos"). */
  if (lim - s >= 6 && p->cfg.max_name >= 4) { /* else the byte-wise states decide */
    size_t n = xsr__predef_len(s, lim);
    if (n) {
      s += n;
      goto ref_done;
    }
  }
  NEED(2);
  c = (unsigned char)s[1];
  if (c == '#') {
    NEED(3);
    if (s[2] == 'x') {
      p->ref_hex = 1;
      s += 3;
    } else {
      p->ref_hex = 0;
      s += 2;
    }
    p->ref_val = 0;
    p->ref_digits = 0;
    goto st_ref_num;
  }
  if (((xsr__name_class[c] & XSR__NAME_START) && c != ':') || c >= 0x80) {
    s += 1;
    p->tok = REL(s);
    goto st_ref_name;
  }
  FAIL(XSR_EREF, s + 1);

st_ref_num:
  ENTER(ST_REF_NUM);
  for (;; s++) {
    if (s >= lim)
      goto out;
    c = (unsigned char)*s;
    if (c == ';') {
      if (!p->ref_digits)
        FAIL(XSR_EREF, s);
      if (!xsr__is_xml_char(p->ref_val))
        FAIL(XSR_ECHARREF, AT(p->ref_start));
      s++;
      goto ref_done;
    }
    unsigned d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (p->ref_hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
      d = (unsigned)((c | 0x20) - 'a' + 10);
    else
      FAIL(XSR_EREF, s);
    uint32_t v = p->ref_val * (p->ref_hex ? 16u : 10u) + d;
    p->ref_val = p->ref_val > 0x10FFFF ? 0x110000 : (v > 0x10FFFF ? 0x110000 : v);
    p->ref_digits++;
  }

st_ref_name:
  ENTER(ST_REF_NAME);
  {
    int r = scan_name(&s, lim, AT(p->tok), p->cfg.max_name, &err, &errp);
    if (r == NAME_MORE)
      goto out;
    if (r == NAME_FAIL)
      goto fail;
    if (*s != ';')
      FAIL(XSR_EREF, s);
    const char *nm = AT(p->tok);
    size_t len = (size_t)(s - nm);
    int ok = (len == 2 && (memcmp(nm, "lt", 2) == 0 || memcmp(nm, "gt", 2) == 0)) ||
             (len == 3 && memcmp(nm, "amp", 3) == 0) ||
             (len == 4 && (memcmp(nm, "apos", 4) == 0 || memcmp(nm, "quot", 4) == 0));
    if (!ok)
      FAIL(XSR_EENTITY, AT(p->ref_start));
    s++;
  }
ref_done:
  if (p->ret_state == ST_ATTR_VALUE)
    goto st_attr_value;
  goto st_content;

  /* -- end tags ---------------------------------------------------------- */
st_etag_name:
  ENTER(ST_ETAG_NAME);
  if (s == AT(p->tok)) {
    if (s >= lim)
      goto out;
    c = (unsigned char)*s;
    if (!(xsr__name_class[c] & XSR__NAME_START) && c < 0x80) {
      if (xsr__name_class[c] & XSR__NAME_CHAR)
        FAIL(XSR_ENAME, s);
      FAIL(XSR_ESYNTAX, s);
    }
  }
  {
    unsigned colon;
    int r = scan_name_fast(p, &s, lim, AT(p->tok), p->cfg.max_name, &colon, &err, &errp);
    if (r == NAME_MORE)
      goto out;
    if (r == NAME_FAIL)
      goto fail;
    p->etag_len = REL(s) - p->tok;
  }
st_etag_ws:
  ENTER(ST_ETAG_WS);
  while (s < lim && is_ws((unsigned char)*s))
    s++;
  if (s >= lim)
    goto out;
  if (*s != '>')
    FAIL(XSR_ESYNTAX, s);
  {
    const char *nm = AT(p->tok);
    size_t len = p->etag_len;
    s++;
    if (p->depth == 0) {
      /* </stream:stream> */
      if (len != p->stream_qname_len || memcmp(nm, p->arena + p->stream_qname_off, len) != 0)
        FAIL(XSR_ETAGMISMATCH, nm);
      uint64_t off = STREAM_OFF(AT(p->etag_lt));
      p->closed = 1;
      p->phase = PH_EPILOG;
      p->state = ST_EPILOG;
      p->nbinds = 0;
      p->defns = XSR_NS_NONE;
      b = s;
      p->intop = 0;
      lim = e;
      if (p->cb && p->cb->on_stream_close) {
        p->in_cb = 1;
        p->cb_off = STREAM_OFF(s);
        cbrc = p->cb->on_stream_close(p->user, off);
        p->in_cb = 0;
      }
      goto after_callback;
    }
    const xsr_node *open = &p->sc.nodes[p->sc.stack[p->depth].node];
    if (len != open->name_len || memcmp(nm, AT(open->off + 1), len) != 0)
      FAIL(XSR_ETAGMISMATCH, nm);
  }
element_end:
  if (pop_open(p, b, s) > 0) {
    p->text_start = REL(s);
    p->text_flags = 0;
    goto st_content;
  }
stanza_end : {
  xsr_stanza st;
  const char *first = b;
  fill_view(p, b, REL(s), STREAM_OFF(b), &st);
  if (XSR_LIKELY(!p->eager_index)) { /* built on demand: xsr__parser_index() */
    st.nodes = NULL;
    st.node_count = 0;
    st.attrs = NULL;
    st.attr_count = 0;
    st.index_parser_ = p;
    p->view_raw = b;
    p->view_off = st.offset;
    p->index_ready = 0;
  }
  b = s;
  p->intop = 0;
  lim = e;
  p->state = ST_BETWEEN;
  if (p->cb && p->cb->on_stanza) {
    p->in_cb = 1;
    p->cb_off = STREAM_OFF(s);
    cbrc = p->cb->on_stanza(p->user, &st);
    p->in_cb = 0;
    if (XSR_UNLIKELY(cbrc == XSR_RETRY)) {
      /* Refused: stop before the stanza, its bytes unreleased; resume()
       * parses them again from ST_BETWEEN, the state they began in. */
      p->pos = 0;
      *advanced = (size_t)(first - base);
      p->paused = 1;
      return XSR_PAUSED;
    }
  }
}
after_callback:
  if (cbrc) {
    p->pos = 0;
    *advanced = (size_t)(b - base);
    if (cbrc == XSR_PAUSE) {
      p->paused = 1;
      return XSR_PAUSED;
    }
    err = XSR_EABORTED;
    errp = b;
    goto fail;
  }
  if (p->state == ST_EPILOG)
    goto st_epilog;
  goto st_between;

out:
  if (p->intop && lim < e)
    FAIL(XSR_ELIMITSTANZA, lim);
  p->pos = REL(s);
  *advanced = (size_t)(b - base);
  if (s == e && p->intop)
    set_cont(p, (size_t)(e - b));
  return XSR_OK;

fail:
  p->err = err;
  p->err_off = STREAM_OFF(errp);
  p->state = ST_FAILED;
  p->pos = 0;
  *advanced = 0;
  return err;

#undef REL
#undef AT
#undef FAIL
#undef NEED
#undef ENTER
#undef UTF8_RUN
#undef TEXT_CONTROL
#undef STREAM_OFF
}

/* ---- entry points -------------------------------------------------------- */

static xsr_err fail_nomem(xsr_parser *p) {
  p->cont = 0;
  p->cont_left = 0;
  p->err = XSR_ENOMEM;
  p->err_off = p->base_off + p->pos;
  p->state = ST_FAILED;
  return XSR_ENOMEM;
}

/* Parses what is held in the buffer. */
static xsr_err run_held(xsr_parser *p) {
  static const char nothing[1];
  size_t adv;
  xsr_err rc = run(p, p->sc.buf ? p->sc.buf + p->start : nothing, p->end - p->start, &adv);
  p->start += adv;
  p->base_off += adv;
  if (p->start == p->end)
    p->start = p->end = 0;
  return rc;
}

static xsr_err feed_slow(xsr_parser *p, const char *d, size_t len);
static inline xsr_err feed_parse(xsr_parser *p, const void *data, size_t len);
static xsr_err feed_pooled(xsr_parser *p, const void *data, size_t len);

/* Parses d[0, len) in place with nothing held, and keeps what stays
 * unparsed.  whole: the read began with nothing held (a server's read of
 * whole stanzas), whose end the element loop's tail copy takes (see
 * parser/elems.h); feed_slow's rest of a chunk after a join is not. */
static inline xsr_err parse_in_place(xsr_parser *p, const char *d, size_t len, int whole) {
  size_t adv;
  p->whole_reads = (uint8_t)whole;
  xsr_err rc = run(p, d, len, &adv);
  p->whole_reads = 0;
  if (rc != XSR_OK && rc != XSR_PAUSED)
    return rc;
  p->base_off += adv;
  if (adv < len) {
    if (!buf_append(p, d + adv, len - adv))
      return fail_nomem(p);
    if (p->cont) /* set_cont counted on the room before the append */
      set_cont(p, p->end - p->start);
  }
  return rc;
}

/* feed() with nothing held and not paused: parse_in_place() from a small
 * function of its own, without feed_slow's checks. */
__attribute__((noinline)) static xsr_err feed_in_place(xsr_parser *p, const char *d, size_t len) {
  p->fed += len;
  return parse_in_place(p, d, len, 1);
}

/*
 * Takes n (1..64) bytes that continue the run p->cont describes, copying
 * them from src to the buffer's free end (src may be that end itself).
 * In text and values a non-ASCII character is held unscanned until its
 * last byte comes, each byte checked on arrival with the scanner's own
 * xml_utf8(), so a character split across chunks costs no call into run()
 * either.
 * Returns 0, with nothing taken, at the first byte that needs run().
 * Out of line: feed() and commit() try plain ASCII inline first.
 */
__attribute__((noinline)) static int cont_take(xsr_parser *p, const unsigned char *src, size_t n) {
  const unsigned t = p->cont;
  unsigned char *dst = (unsigned char *)p->sc.buf + p->end;
  size_t pos = p->pos;
  unsigned pend = p->u8pend, need = p->u8need;
  size_t i = 0;
  do {
    unsigned c = src[i];
    dst[i] = (unsigned char)c;
    if (XSR_LIKELY(!pend)) {
      if (cont_class[c] & t) {
        pos++;
        continue;
      }
      if (!(t & CONT_TEXTLIKE) || c < 0xC2 || c > 0xF4)
        return 0; /* markup, a control, or a byte no character starts with */
      need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      pend = 1;
      continue;
    }
    /* Each byte is checked as it comes, as run() would: a prefix that no
     * character can complete is an error now, not when its last byte
     * arrives (an input may end there). */
    const char *ch = p->sc.buf + p->start + pos;
    pend++;
    if (xml_utf8(ch, ch + pend) != (pend < need ? 0 : (int)need))
      return 0; /* run() finds the error and its offset */
    if (pend < need)
      continue;
    pos += need;
    pend = 0;
  } while (++i < n);
  p->end += n;
  p->pos = (uint32_t)pos;
  p->u8pend = (uint8_t)pend;
  p->u8need = (uint8_t)need;
  p->cont_left -= n;
  return 1;
}

/* feed() for what its inline fast path does not take: a non-ASCII
 * character continuing a run (carry: the fast path saw one may start, or
 * one is pending, in a text-like run with room), a small chunk joining
 * what is held, or the general case.  Out of line, so that the fast path
 * needs no stack frame. */
__attribute__((noinline)) static xsr_err feed_more(xsr_parser *p, const void *data, size_t len,
                                                   int carry) {
  if (carry && cont_take(p, data, len)) {
    p->fed += len;
    return XSR_OK;
  }
  if (p->in_cb)
    return XSR_EBUSY;
  if (p->err)
    return p->err;
  if (XSR_UNLIKELY(p->cfg.pool != NULL))
    return feed_pooled(p, data, len);
  return feed_parse(p, data, len);
}

/* feed() for a parser on a pool: the scratch borrowed around the parse. */
__attribute__((noinline)) static xsr_err feed_pooled(xsr_parser *p, const void *data, size_t len) {
  if (!scratch_get(p))
    return fail_nomem(p);
  return scratch_done(p, feed_parse(p, data, len));
}

/* feed() with the scratch at hand. */
static inline xsr_err feed_parse(xsr_parser *p, const void *data, size_t len) {
  size_t held = p->end - p->start;
  if (held > 0 && len - 1 < 64 && !p->paused && len <= p->sc.cap - p->end &&
      (!p->intop || held + len <= p->cfg.max_stanza + 1)) {
    /* A small chunk joins what is held: append it and parse on; what
     * stays held afterwards stays in the buffer. */
    const char *src = data;
    char *dst = p->sc.buf + p->end;
    for (size_t i = 0; i < len; i++) /* at most 64 bytes: no call */
      dst[i] = src[i];
    p->end += len;
    p->fed += len;
    return run_held(p);
  }
  if (held == 0 && !p->paused && len > 0)
    return feed_in_place(p, data, len);
  return feed_slow(p, data, len);
}

xsr_err xsr_parser_feed(xsr_parser *p, const void *data, size_t len) {
  /* Small chunk continuing a run, with room in the buffer: take it here,
   * checking and copying in one pass (bytes copied before a byte that
   * stops the run land in free buffer space and are simply not counted).
   * cont_left is 0 inside callbacks, after errors and while paused. */
  if (len - 1 < 64 && len <= p->cont_left) {
    const unsigned t = p->cont;
    if (XSR_UNLIKELY(p->u8pend))
      return feed_more(p, data, len, 1);
    const unsigned char *src = data;
    char *dst = p->sc.buf + p->end;
    size_t i = 0;
    do {
      unsigned char c = src[i];
      if (!(cont_class[c] & t)) /* markup, or a character to carry */
        return feed_more(p, data, len, c >= 0xC2 && (t & CONT_TEXTLIKE));
      dst[i] = (char)c;
    } while (++i < len);
    p->end += len;
    p->fed += len;
    p->pos += (uint32_t)len;
    p->cont_left -= len;
    return XSR_OK;
  }
  return feed_more(p, data, len, 0);
}

__attribute__((noinline)) static xsr_err feed_slow(xsr_parser *p, const char *d, size_t len) {
  p->fed += len;
  if (p->paused) {
    if (!buf_append(p, d, len))
      return fail_nomem(p);
    return XSR_PAUSED;
  }
  while (len > 0) {
    size_t held = p->end - p->start;
    if (held == 0)
      return parse_in_place(p, d, len, 0);
    /* Join the held construct: append a piece as large as what is held,
     * from 512 bytes up to 4 KiB, and parse on.  run() returns as soon as
     * the construct is complete (join_stop), and parsing goes on in the
     * caller's chunk below, where the fast paths see more than the piece's
     * end; the piece's bytes past the construct were copied for nothing,
     * which the 4 KiB cap bounds.  Resuming rescans nothing, so more pieces
     * cost only a call each (measured with callgrind on the large corpus
     * at 64 KiB chunks: 2.01 instructions a byte with pieces as large as
     * what is held, 1.58 with the cap; chat at 1460-byte chunks: 12.39
     * without join_stop, 12.09 with it).  Never more than max_stanza + 1
     * bytes of one construct are held. */
    if (p->sc.cap - p->end < 4096 && len > 4096 && held >= 4096) {
      /* A large construct grows in one step, not piece by piece (which
       * would copy the held bytes again at each): by as much as is held,
       * or, from 16 KiB on, by what this chunk may add, 64 KiB at most;
       * the buffer stays below twice the construct plus 64 KiB.  A best
       * effort: the pieces ask for their own room if this fails. */
      size_t want = held < 16384 ? held : 65536;
      if (want > len)
        want = len;
      if (p->intop && held + want > p->cfg.max_stanza + 1)
        want = held <= p->cfg.max_stanza ? p->cfg.max_stanza + 1 - held : 1;
      if (want > p->sc.cap - p->end)
        buf_reserve(p, want);
    }
    size_t piece = held < 512 ? 512 : held > 4096 ? 4096 : held;
    if (piece > len)
      piece = len;
    if (p->intop && held + piece > p->cfg.max_stanza + 1)
      piece = held <= p->cfg.max_stanza ? p->cfg.max_stanza + 1 - held : 1;
    if (!buf_append(p, d, piece))
      return fail_nomem(p);
    d += piece;
    len -= piece;
    size_t adv;
    p->join_stop = 1;
    xsr_err rc = run(p, p->sc.buf + p->start, p->end - p->start, &adv);
    p->join_stop = 0;
    if (rc != XSR_OK && rc != XSR_PAUSED)
      return rc;
    p->start += adv;
    p->base_off += adv;
    if (rc == XSR_PAUSED) {
      if (!buf_append(p, d, len))
        return fail_nomem(p);
      return rc;
    }
    if (adv >= held) {
      /* The held construct completed inside the piece: what is still held
       * is the piece's tail, also at d - k in the caller's chunk.  Continue
       * there, at the same relative position. */
      size_t k = p->end - p->start;
      d -= k;
      len += k;
      p->start = p->end = 0;
    }
  }
  return XSR_OK;
}

char *xsr_parser_buffer(xsr_parser *p, size_t *len) {
  size_t want = *len ? *len : 65536;
  *len = 0;
  if (p->in_cb || p->err || want > SIZE_MAX / 4)
    return NULL; /* an impossible request does not fail the stream */
  if (!scratch_get(p) || !buf_reserve(p, want)) {
    scratch_done(p, fail_nomem(p));
    return NULL;
  }
  *len = p->sc.cap - p->end;
  return p->sc.buf + p->end;
}

xsr_err xsr_parser_commit(xsr_parser *p, size_t n) {
  if (p->in_cb)
    return XSR_EBUSY;
  if (p->err)
    return p->err;
  if (n > p->sc.cap - p->end)
    return XSR_EINVAL;
  p->fed += n;
  if (n - 1 < 64 && n <= p->cont_left && cont_take(p, (const unsigned char *)p->sc.buf + p->end, n))
    return XSR_OK;
  if (!scratch_get(p)) /* n == 0 here, or a misuse caught above */
    return fail_nomem(p);
  int whole = p->start == p->end; /* a read that begins with nothing held: see feed_in_place */
  p->end += n;
  if (p->paused)
    return scratch_done(p, XSR_PAUSED);
  p->whole_reads = (uint8_t)whole;
  xsr_err rc = run_held(p);
  p->whole_reads = 0;
  return scratch_done(p, rc);
}

xsr_err xsr_parser_resume(xsr_parser *p) {
  if (p->in_cb)
    return XSR_EBUSY;
  if (p->err)
    return p->err;
  if (!p->paused)
    return XSR_OK;
  if (!scratch_get(p))
    return fail_nomem(p);
  p->paused = 0;
  return scratch_done(p, run_held(p));
}
