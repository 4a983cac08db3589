/* SPDX-License-Identifier: MIT */
/*
 * xsr__scan3(), the stop-byte finder (parser/scan.c), and
 * xsr__scan_content(), the element-content scanner (parser/scan_text.c),
 * against independent references:
 *
 *   scan3      every variant (dispatched, scalar, SSE2, AVX2) returns exactly
 *              the first byte in [s, e) that is c1, c2, c3, below 0x20 or at
 *              or above 0x80, as a trivial loop finds it; for the parser's
 *              stop sets ('<' '&' '>', '\'' '<' '&', '"' '<' '&', which AVX2
 *              scans with a vpshufb lookup loop after its first 32 bytes),
 *              their permutations (compare loop), duplicates (']' ']' ']'),
 *              stop bytes that share a low nibble, stop bytes below 0x20 or
 *              at/above 0x80, and random sets
 *   positions  one stop at every position 0..200 of a plain ASCII run at
 *              every alignment, e at, just after and far after it, so the
 *              first block, the 64-byte loop, the trailing 32-byte block
 *              and the SSE2/scalar tail each find it; runs without any stop
 *              of every length 0..300
 *   content    every byte before the returned p is passable content: ASCII
 *              text (TAB, LF, 0x20..0x7F less '<' '&' '>'), a whole
 *              predefined entity (&lt; &gt; &amp; &quot; &apos;) ending at or
 *              before p, a '>' with two bytes of the scan before it that are
 *              not "]]", or a whole valid UTF-8 XML Char; p is e or a legal
 *              stop; SSE2 and scalar stop exactly at the first byte that is
 *              not passable ASCII (or an entity / '>' passed as said); AVX2
 *              stops at the end of the longest passable prefix or at most one
 *              character before it
 *   escaped    set when an entity lying in [s, p) was passed; clear when no
 *              predefined entity starts in [s, e); exactly "an entity was
 *              passed" for SSE2 and scalar, and for AVX2 when [s, e) has no
 *              byte >= 0x80; never cleared (preset to 1, it stays 1, and p
 *              does not depend on it)
 *   cases      small inputs spelled out with the AVX2 stop, alone and after
 *              padding that puts them in every part of the vector loop
 *   tokens     entities, broken and cut entities, "]]>", '>' near s,
 *              controls and UTF-8 at every position 0..200 and cut by e
 *   random     ~200k buffers of mixed tokens at every alignment, starting
 *              inside tokens and cut by e inside them
 *   prose      3 KB of prose in several scripts with a reference every 64
 *              bytes or so (AVX2 takes it a round at a time, prose_round),
 *              with one defect of 15 kinds at every word boundary of its
 *              first 700 bytes
 *   guards     buffers against PROT_NONE pages on both sides, entities and
 *              characters cut right at the page end
 *   dispatch   xsr__scan_init() picks AVX2 when the CPU has it, else SSE2,
 *              and scalar under XSR_FORCE_SCALAR=1 (ctest runs the binary
 *              both ways)
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <stdlib.h>

#include "scan_ref.h"

/* ---- scan3: reference and implementations ------------------------------- */

static const unsigned char *ref_scan3(const unsigned char *s, const unsigned char *e,
                                      const unsigned char c[3]) {
  for (; s < e; s++) {
    unsigned b = *s;
    if (b < 0x20 || b >= 0x80 || b == c[0] || b == c[1] || b == c[2])
      break;
  }
  return s;
}

typedef const char *(*scan3_fn)(const char *, const char *, unsigned char, unsigned char,
                                unsigned char);

struct impl3 {
  const char *name;
  scan3_fn fn;
};

/* ---- scan_content: reference and implementations ------------------------ */

static const char *const predefined[5] = {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"};

/* The length of the predefined entity at q lying wholly in [q, lim), else 0. */
static size_t ref_entity(const unsigned char *q, const unsigned char *lim) {
  for (int i = 0; i < 5; i++) {
    size_t n = strlen(predefined[i]);
    if ((size_t)(lim - q) >= n && memcmp(q, predefined[i], n) == 0)
      return n;
  }
  return 0;
}

/* The length of what a content scan that started at s passes at q, all of
 * it inside [q, lim); 0 when the scan stops at q.  *ent: it is an entity. */
static size_t ref_step(const unsigned char *s, const unsigned char *q, const unsigned char *lim,
                       int *ent) {
  unsigned b = *q;
  *ent = 0;
  if (b >= 0x80)
    return (size_t)ref_char(q, lim);
  if (b == '&') {
    size_t n = ref_entity(q, lim);
    *ent = n != 0;
    return n;
  }
  if (b == '>')
    return q - s >= 2 && !(q[-1] == ']' && q[-2] == ']');
  if (b == '<')
    return 0;
  return b == 0x09 || b == 0x0A || b >= 0x20;
}

/* The end of the longest passable prefix of [s, e); conservative: also stop
 * at the first byte >= 0x80. */
static const unsigned char *ref_walk(const unsigned char *s, const unsigned char *e,
                                     int conservative) {
  const unsigned char *q = s;
  while (q < e && !(conservative && *q >= 0x80)) {
    int ent;
    size_t n = ref_step(s, q, e, &ent);
    if (!n)
      break;
    q += n;
  }
  return q;
}

/* What the reference says about [s, e), computed once for all variants. */
struct cref {
  const unsigned char *max;  /* ref_max: the longest passable prefix */
  const unsigned char *cons; /* ref_conservative: SSE2 and scalar */
  int ent_anywhere;          /* a predefined entity starts in [s, e), whole */
  int high_anywhere;         /* a byte >= 0x80 in [s, e) */
};

static void cref_init(struct cref *r, const unsigned char *s, const unsigned char *e) {
  r->max = ref_walk(s, e, 0);
  r->cons = ref_walk(s, e, 1);
  r->ent_anywhere = r->high_anywhere = 0;
  for (const unsigned char *q = s; q < e; q++) {
    if (*q == '&' && ref_entity(q, e))
      r->ent_anywhere = 1;
    if (*q >= 0x80)
      r->high_anywhere = 1;
  }
}

typedef const char *(*content_fn)(const char *, const char *, unsigned *);

struct implc {
  const char *name;
  content_fn fn;
  int exact;
};

/* Checks one call with *escaped preset; returns NULL or a description of
 * what is wrong; *pp is the returned pointer. */
static const char *check_content(const struct implc *im, const unsigned char *s,
                                 const unsigned char *e, const struct cref *r, unsigned preset,
                                 const unsigned char **pp) {
  unsigned esc = preset;
  const unsigned char *p = (const unsigned char *)im->fn((const char *)s, (const char *)e, &esc);
  const char *bad = NULL;
  int passed = 0, ent;
  *pp = p;
  if (p < s || p > e) {
    bad = "p outside [s, e]";
  } else {
    for (const unsigned char *q = s; q < p && !bad;) {
      size_t n = ref_step(s, q, p, &ent);
      if (!n)
        bad = "a byte before p that content may not pass (a stop, a cut or bad sequence)";
      passed |= ent;
      q += n;
    }
    if (!bad && p < e && *p < 0x80 && ref_step(s, p, e, &ent) != 0)
      bad = "p is not a legal stop";
    if (!bad) {
      const unsigned char *want = im->exact ? r->cons : r->max;
      if (im->exact && p != want)
        bad = "p is not the first byte that is not passable ASCII";
      if (!im->exact && p != want && !(p < want && p + ref_char(p, want) == want))
        bad = "p stops more than one character before the end of the passable prefix";
    }
    if (!bad) {
      if (esc > 1)
        bad = "*escaped is neither 0 nor 1";
      else if (preset && esc != 1)
        bad = "*escaped was cleared";
      else if (!preset && passed && !esc)
        bad = "an entity before p was passed but *escaped is 0";
      else if (!preset && !r->ent_anywhere && esc)
        bad = "*escaped set but no predefined entity starts in [s, e)";
      else if (!preset && (im->exact || !r->high_anywhere) && esc != (unsigned)passed)
        bad = "*escaped is not whether an entity before p was passed";
    }
  }
  if (!bad)
    return NULL;
  snprintf(why, sizeof why,
           "%s: p = s + %td, max = s + %td, conservative = s + %td, *escaped %u (preset %u), "
           "len %td, bytes: ",
           bad, p - s, r->max - s, r->cons - s, esc, preset, e - s);
  dump(s, e);
  return why;
}

/* ---- the implementations under test ------------------------------------ */

static struct impl3 impls3[4];
static size_t n_impls3;
static struct implc implsc[4];
static size_t n_implsc;

static void setup(void) {
  xsr__scan_init();
  n_impls3 = n_implsc = 0;
  impls3[n_impls3++] = (struct impl3){"dispatched", xsr__scan3};
  impls3[n_impls3++] = (struct impl3){"scalar", xsr__scan3_scalar};
  implsc[n_implsc++] = (struct implc){"dispatched", xsr__scan_content, 1};
  implsc[n_implsc++] = (struct implc){"scalar", xsr__scan_content_scalar, 1};
#if defined(__x86_64__)
  impls3[n_impls3++] = (struct impl3){"sse2", xsr__scan3_sse2};
  implsc[n_implsc++] = (struct implc){"sse2", xsr__scan_content_sse2, 1};
  if (have_avx2()) {
    impls3[n_impls3++] = (struct impl3){"avx2", xsr__scan3_avx2};
    implsc[n_implsc++] = (struct implc){"avx2", xsr__scan_content_avx2, 0};
    if (xsr__scan_content == xsr__scan_content_avx2)
      implsc[0].exact = 0;
  }
#endif
}

static void check3_all(const unsigned char *s, const unsigned char *e, const unsigned char c[3],
                       const char *what) {
  const unsigned char *want = ref_scan3(s, e, c);
  for (size_t i = 0; i < n_impls3; i++) {
    const unsigned char *p =
        (const unsigned char *)impls3[i].fn((const char *)s, (const char *)e, c[0], c[1], c[2]);
    if (p != want) {
      snprintf(why, sizeof why,
               "p = s + %td, want s + %td, len %td, stops %02x %02x %02x, bytes: ", p - s, want - s,
               e - s, c[0], c[1], c[2]);
      dump(s, e);
      cr_assert_fail("scan3 %s, %s: %s", impls3[i].name, what, why);
    }
  }
}

/* Every variant on [s, e) with *escaped clear; with both too, again with it
 * preset to 1, which must return the same p. */
static void checkc_all(const unsigned char *s, const unsigned char *e, int both, const char *what) {
  struct cref r;
  cref_init(&r, s, e);
  for (size_t i = 0; i < n_implsc; i++) {
    const unsigned char *p0, *p1;
    const char *bad = check_content(&implsc[i], s, e, &r, 0, &p0);
    if (bad)
      cr_assert_fail("scan_content %s, %s: %s", implsc[i].name, what, bad);
    if (!both)
      continue;
    bad = check_content(&implsc[i], s, e, &r, 1, &p1);
    if (bad)
      cr_assert_fail("scan_content %s, %s: %s", implsc[i].name, what, bad);
    if (p0 != p1)
      cr_assert_fail("scan_content %s, %s: p = s + %td with *escaped 0, s + %td with 1",
                     implsc[i].name, what, p0 - s, p1 - s);
  }
}

/* ---- scan3 inputs ------------------------------------------------------- */

static const unsigned char sets3[][3] = {
    {'<', '&', '>'},    /* content: AVX2 lookup loop */
    {'\'', '<', '&'},   /* attribute value in '': lookup loop */
    {'"', '<', '&'},    /* attribute value in "": lookup loop */
    {'&', '<', '>'},    /* the same bytes in other orders: compare loop */
    {'>', '&', '<'},    /* */
    {'<', '\'', '&'},   /* */
    {'"', '&', '<'},    /* */
    {']', ']', ']'},    /* duplicates */
    {'<', 'L', '&'},    /* '<' and 'L' share the low nibble C */
    {'&', 'f', '6'},    /* all three share the low nibble 6 */
    {'a', 'a', 'b'},    /* */
    {0xC3, 'a', 0x05},  /* stop bytes >= 0x80 and < 0x20 */
    {0x80, 0xFF, 0x00}, /* only bytes that stop anyway */
    {0x7F, ' ', '~'},   /* the edges of plain ASCII */
};
#define N_SETS3 (sizeof sets3 / sizeof *sets3)

/* A byte in 0x20..0x7F that is none of the stops. */
static unsigned char plain3(const unsigned char c[3]) {
  for (;;) {
    unsigned char b = (unsigned char)(0x20 + rnd(0x60));
    if (b != c[0] && b != c[1] && b != c[2])
      return b;
  }
}

/* The i-th of twelve kinds of stop byte for the set c. */
static unsigned char stop3(const unsigned char c[3], size_t i) {
  static const unsigned char other[] = {0x00, 0x1F, 0x09, 0x0A, 0x0D, 0x80, 0xC3, 0xF0, 0xFF};
  i %= 12;
  return i < 3 ? c[i] : other[i - 3];
}

/* ---- scan_content inputs ------------------------------------------------ */

/* References that are not (whole) predefined entities, and prefixes of
 * those that are. */
static const char *const broken_refs[] = {
    "&lt",   "&gt",   "&amp", "&quot", "&apos",  "&ampx;", "&#60;", "&#x3E;", "&foo;",
    "&AMP;", "&lt ;", "&;",   "&",     "&l",     "&a",     "&am",   "&q",     "&qu",
    "&quo",  "&ap",   "&apo", "&lT;",  "&qout;", "&&lt;",  "&g",    "&amp ;", "&apos:"};

static const char *const gt_tokens[] = {">",  "]]>",  "]>",     "]]",  "]",   "]] >",
                                        ">>", "]]]>", "]]&gt;", "x]>", "]x>", "]]]"};

/* Appends one token (at most 12 bytes); the mix (out of 1000) sets how
 * often it is invalid UTF-8 or U+FFFE/U+FFFF, a stop or control byte, a
 * reference (whole predefined entity or not), and '>' or ']' material. */
struct mix {
  unsigned bad, stop, ref, gt;
};

static size_t put_ctoken(unsigned char *o, size_t room, const struct mix *m) {
  const char *t = NULL;
  uint32_t r = rnd(1000);
  if (r < m->bad) {
    t = invalid_utf8[rnd(N_INVALID_UTF8)];
  } else if ((r -= m->bad) < m->stop) {
    static const unsigned char stops[] = {'<',  '&',  '\r', 0x00, 0x01, 0x08,
                                          0x0B, 0x0C, 0x0E, 0x19, 0x1A, 0x1F};
    o[0] = stops[rnd(sizeof stops)];
    return 1;
  } else if ((r -= m->stop) < m->ref) {
    t = rnd(3) ? predefined[rnd(5)] : broken_refs[rnd(sizeof broken_refs / sizeof *broken_refs)];
  } else if ((r -= m->ref) < m->gt) {
    t = gt_tokens[rnd(sizeof gt_tokens / sizeof *gt_tokens)];
  }
  if (t) {
    memcpy(o, t, strlen(t));
    return strlen(t);
  }
  uint32_t kind = rnd(12);
  if (kind >= 10) { /* plain ASCII long enough to fill whole vector blocks */
    size_t n = 16 + rnd(150);
    n = n < room ? n : room;
    for (size_t i = 0; i < n; i++)
      o[i] = (unsigned char)(rnd(8) ? 'a' + rnd(26) : ' ');
    return n;
  }
  return put_text_token(o, kind);
}

/* Fills o with up to cap bytes of tokens; returns the length. */
static size_t gen_content(unsigned char *o, size_t cap, const struct mix *m) {
  size_t n = 0;
  while (n + 16 <= cap)
    n += put_ctoken(o + n, cap - n, m);
  return n;
}

/* ---- scan3 tests -------------------------------------------------------- */

TestSuite(scan3, .init = setup);

/* Small cases, spelled out. */
Test(scan3, cases) {
  static const struct {
    const char *in;
    unsigned char c[3];
    size_t stop_at;
  } cases[] = {
      {"", {'<', '&', '>'}, 0},
      {"plain text", {'<', '&', '>'}, 10},
      {"a<b", {'<', '&', '>'}, 1},
      {"ab'c\"d&", {'"', '<', '&'}, 4},
      {"ab\"c'd&", {'\'', '<', '&'}, 4},
      {"tab\there", {'<', '&', '>'}, 3},
      {"caf\xC3\xA9", {'<', '&', '>'}, 3},
      {"x]]", {']', ']', ']'}, 1},
      {"xyzLq", {'<', 'L', '&'}, 3},
      {"ok\x7F~", {'<', '&', '>'}, 4},
      {"ok\x7F~", {0x7F, ' ', '~'}, 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    for (size_t pad = 0; pad <= 140; pad += 35) {
      unsigned char buf[256];
      size_t len = strlen(cases[i].in);
      memset(buf, 'y', pad);
      memcpy(buf + pad, cases[i].in, len);
      char what[64];
      snprintf(what, sizeof what, "case %zu after %zu bytes", i, pad);
      check3_all(buf, buf + pad + len, cases[i].c, what);
      const char *p = xsr__scan3_scalar((const char *)buf, (const char *)buf + pad + len,
                                        cases[i].c[0], cases[i].c[1], cases[i].c[2]);
      cr_expect_eq((size_t)(p - (const char *)buf), pad + cases[i].stop_at,
                   "case %zu after %zu bytes: stopped at %td", i, pad,
                   p - (const char *)buf - (ptrdiff_t)pad);
    }
  }
}

/* One stop at every position 0..200 of plain ASCII, at every alignment,
 * with e at, just after and far after it (and a second stop after it). */
Test(scan3, positions) {
  static unsigned char area[64 + 640] __attribute__((aligned(64)));
  rng_state = 0x2545F4914F6CDD1Du;
  for (size_t k = 0; k < N_SETS3; k++) {
    const unsigned char *c = sets3[k];
    for (size_t align = 0; align < 64; align++) {
      unsigned char *s = area + align;
      for (size_t i = 0; i < 600; i++)
        s[i] = plain3(c);
      char what[80];
      snprintf(what, sizeof what, "set %zu, align %zu, no stop", k, align);
      for (size_t n = 0; n <= 300; n++)
        check3_all(s, s + n, c, what);
      for (size_t pos = 0; pos <= 200; pos++) {
        unsigned char saved = s[pos];
        s[pos] = stop3(c, pos + align);
        snprintf(what, sizeof what, "set %zu, align %zu, stop at %zu", k, align, pos);
        size_t ends[] = {pos, pos + 1, pos + 2 + rnd(16), pos + 1 + rnd(64), pos + 1 + rnd(300)};
        for (size_t j = 0; j < sizeof ends / sizeof *ends; j++)
          check3_all(s, s + ends[j], c, what);
        size_t pos2 = pos + 1 + rnd(100);
        unsigned char saved2 = s[pos2];
        s[pos2] = stop3(c, rnd(12));
        check3_all(s, s + pos2 + 1 + rnd(100), c, what);
        s[pos2] = saved2;
        s[pos] = saved;
      }
    }
  }
}

/* Random buffers with stops of every density, random stop sets. */
Test(scan3, random) {
  static unsigned char area[2048] __attribute__((aligned(64)));
  static const unsigned density[] = {0, 2, 20, 200, 1000};
  rng_state = 0x9E3779B97F4A7C15u;
  for (int iter = 0; iter < 100000; iter++) {
    unsigned char c[3];
    if (rnd(5) < 3) {
      memcpy(c, sets3[rnd(N_SETS3)], 3);
    } else {
      for (int i = 0; i < 3; i++)
        c[i] = (unsigned char)(rnd(4) ? 0x20 + rnd(0x60) : rnd(256));
      if (rnd(4) == 0)
        c[1 + rnd(2)] = c[0];
      if (rnd(4) == 0) /* same low nibble */
        c[rnd(3)] = (unsigned char)((c[0] & 0x0F) | (0x20 + 0x10 * rnd(6)));
    }
    size_t align = rnd(64);
    size_t len = rnd(8) == 0 ? rnd(1201) : rnd(201);
    unsigned d = density[rnd(5)];
    unsigned char *s = area + align, *e = s + len;
    for (size_t i = 0; i < len; i++)
      s[i] = rnd(1000) < d ? (unsigned char)(rnd(2) ? c[rnd(3)] : rnd(256)) : plain3(c);
    if (rnd(4) == 0)
      s += rnd((uint32_t)(len / 4 + 1));
    if (rnd(4) == 0)
      e -= rnd((uint32_t)((size_t)(e - s) / 4 + 1));
    char what[64];
    snprintf(what, sizeof what, "iteration %d", iter);
    check3_all(s, e, c, what);
  }
}

/* Buffers flush against PROT_NONE pages: any read outside [s, e) faults. */
Test(scan3, guard_pages) {
  struct guarded g;
  guarded_map(&g);
  unsigned char *lo = g.lo, *hi = g.hi;
  unsigned char src[400];
  rng_state = 11;
  for (size_t k = 0; k < N_SETS3 + 4; k++) {
    unsigned char c[3];
    if (k < N_SETS3)
      memcpy(c, sets3[k], 3);
    else
      for (int i = 0; i < 3; i++)
        c[i] = (unsigned char)rnd(256);
    for (size_t n = 0; n <= 300; n++) {
      for (size_t i = 0; i < n; i++)
        src[i] = plain3(c);
      if (n && n % 3 == 1)
        src[rnd((uint32_t)n)] = stop3(c, rnd(12));
      if (n && n % 3 == 2)
        src[n - 1] = stop3(c, rnd(12));
      memcpy(hi - n, src, n);
      check3_all(hi - n, hi, c, "against the page after");
      memcpy(lo, src, n);
      check3_all(lo, lo + n, c, "against the page before");
    }
  }
  guarded_unmap(&g);
}

/* ---- scan_content tests ------------------------------------------------- */

TestSuite(scan_content, .init = setup);

/* Small cases, spelled out, with the AVX2 stop alone and after padding
 * ('y' bytes, so a '>' near the case is two bytes into the scan). */
Test(scan_content, cases) {
#define C(str, alone, padded, esc)                                                                 \
  { str, sizeof(str) - 1, alone, padded, esc }
  static const struct {
    const char *in;
    size_t len;
    size_t alone, padded; /* AVX2 stops; the others are checked against the reference */
    int esc;              /* AVX2 *escaped, -1 when either is allowed */
  } cases[] = {
      C("", 0, 0, 0),
      C("plain text", 10, 10, 0),
      C("a &amp; b<", 9, 9, 1),
      C("x&amp", 1, 1, 0), /* cut by e */
      C("]]>", 2, 2, 0),
      C("ab>", 3, 3, 0),
      C("&#60;", 0, 0, 0),
      C(">", 0, 1, 0),
      C("a>", 1, 2, 0),
      C("]>", 1, 2, 0),
      C("x]>", 3, 3, 0),
      C("x]]>", 3, 3, 0),
      C("]]>x", 2, 2, 0),
      C("a]]b>", 5, 5, 0),
      C("]] >", 4, 4, 0),
      C(">>>", 0, 3, 0),
      C("ab>>", 4, 4, 0),
      C("&lt;&gt;&amp;&quot;&apos;", 25, 25, 1),
      C("&lt", 0, 0, 0),
      C("&gt", 0, 0, 0),
      C("&amp", 0, 0, 0),
      C("&quot", 0, 0, 0),
      C("&apos", 0, 0, 0),
      C("&ampx;", 0, 0, 0),
      C("&foo;", 0, 0, 0),
      C("&AMP;", 0, 0, 0),
      C("&", 0, 0, 0),
      C("&;", 0, 0, 0),
      C("&&amp;", 0, 0, 0),
      C("&amp;&", 5, 5, 1),
      C("&amp;amp;", 9, 9, 1),
      C("&quot;", 6, 6, 1),
      C("&apos;", 6, 6, 1),
      C("&lt;<", 4, 4, 1),
      C("&lt;&lt", 4, 4, 1),
      C("x<&amp;", 1, 1, 0),
      C("&gt;>", 5, 5, 1),
      C("]]&gt;", 6, 6, 1),
      C("]]>]]>", 2, 2, 0),
      C("tab\tand\nnl", 10, 10, 0),
      C("a\rb", 1, 1, 0),
      C("a\0b", 1, 1, 0),
      C("ok\x1F", 2, 2, 0),
      C("ok\x7F", 3, 3, 0),
      C("caf\xC3\xA9 &amp; ok", 14, 14, 1),
      C("caf\xC3", 3, 3, 0),    /* cut by e */
      C("\xC3&amp;", 0, 0, -1), /* cut by the entity */
      C("\xE3\x81&lt;", 0, 0, -1),
      C("\x80&apos;", 0, 0, -1),
      C("x\xF0\x9F\x91&amp;", 1, 1, -1),
      C("&amp;\xEF\xBF\xBE", 5, 5, 1),  /* U+FFFE */
      C("&amp;\xEF\xBF\xBF>", 5, 5, 1), /* U+FFFF */
      C("&lt;\xF0\x9F\x91\x8D>", 9, 9, 1),
      C("\xF4\x8F\xBF\xBF&gt;", 8, 8, 1),
      C("\xEF\xBF\xBD&quot;", 9, 9, 1),
      C("\xC3\xA9>", 3, 3, 0),
      C("\xC3>", 0, 0, 0),
      C("&apos;\xC3", 6, 6, 1), /* cut by e */
      C("]]\xC3\xA9>", 5, 5, 0),
      C("\xC3\xA9]]>", 4, 4, 0),
  };
#undef C
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    /* Alone, then after padding so the vector loop sees it in its first
     * block, its 64-byte rounds, its trailing block and its tail. */
    static const size_t pads[] = {0, 29, 35, 61, 70, 100, 130};
    for (size_t k = 0; k < sizeof pads / sizeof *pads; k++) {
      size_t pad = pads[k];
      unsigned char buf[256];
      size_t len = cases[i].len;
      memset(buf, 'y', pad);
      memcpy(buf + pad, cases[i].in, len);
      char what[64];
      snprintf(what, sizeof what, "case %zu after %zu bytes", i, pad);
      checkc_all(buf, buf + pad + len, 1, what);
#if defined(__x86_64__)
      if (have_avx2()) {
        unsigned esc = 0;
        const char *p =
            xsr__scan_content_avx2((const char *)buf, (const char *)buf + pad + len, &esc);
        size_t want = pad + (pad ? cases[i].padded : cases[i].alone);
        cr_expect_eq((size_t)(p - (const char *)buf), want,
                     "case %zu after %zu bytes: stopped at %td, want %zu", i, pad,
                     p - (const char *)buf - (ptrdiff_t)pad, want - pad);
        if (cases[i].esc >= 0)
          cr_expect_eq(esc, (unsigned)cases[i].esc, "case %zu after %zu bytes: *escaped %u", i, pad,
                       esc);
      }
#endif
    }
  }
}

/* Each token at every position 0..200 of plain ASCII, whole and cut by e
 * at every length, then more text after it. */
Test(scan_content, tokens_at_every_position) {
#define T(str)                                                                                     \
  { str, sizeof(str) - 1 }
  static const struct {
    const char *in;
    size_t len;
  } tokens[] = {
      T("]]>"),
      T("]>"),
      T(">"),
      T("]]"),
      T("&amp;"),
      T("&lt;"),
      T("&gt;"),
      T("&quot;"),
      T("&apos;"),
      T("&lt"),
      T("&amp"),
      T("&ampx;"),
      T("&#60;"),
      T("&foo;"),
      T("&"),
      T("<"),
      T("\r"),
      T("\0"),
      T("\x1F"),
      T("\t\n"),
      T("\xC3\xA9"),
      T("\xE3\x81\x82"),
      T("\xF0\x9F\x91\x8D"),
      T("\xEF\xBF\xBE"),
      T("\xEF\xBF\xBF"),
      T("\xEF\xBF\xBD"),
      T("\xF4\x8F\xBF\xBF"),
      T("\xC3"),
      T("\x80"),
      T("\xED\xA0\x80"),
      T("]]&amp;>"),
      T("&amp;>"),
      T("\xC3\xA9&lt;"),
      T("&lt;\xC3"),
      T("\xE3\x81&amp;"),
      T("]]\xC3\xA9>"),
  };
#undef T
  static unsigned char area[64 + 640] __attribute__((aligned(64)));
  rng_state = 0xD1B54A32D192ED03u;
  for (size_t t = 0; t < sizeof tokens / sizeof *tokens; t++) {
    for (size_t k = 0; k <= 200; k++) {
      unsigned char *s = area + rnd(64);
      for (size_t i = 0; i < 600; i++)
        s[i] = (unsigned char)(rnd(6) ? 'a' + rnd(26) : ' ');
      size_t len = tokens[t].len;
      memcpy(s + k, tokens[t].in, len);
      char what[80];
      snprintf(what, sizeof what, "token %zu at %zu", t, k);
      for (size_t j = 0; j <= len; j++) /* cut by e at every length, and whole */
        checkc_all(s, s + k + j, j == len, what);
      size_t ends[] = {k + len + 1, k + len + 1 + rnd(40), k + len + 1 + rnd(300)};
      for (size_t j = 0; j < sizeof ends / sizeof *ends; j++)
        checkc_all(s, s + ends[j], 0, what);
      /* Starting one or two bytes before the token: '>' near s. */
      if (k >= 2) {
        checkc_all(s + k - 1, s + k + len + rnd(64), 0, what);
        checkc_all(s + k - 2, s + k + len + rnd(64), 0, what);
      }
    }
  }
}

/* Random buffers: every alignment, s inside a token, e inside one. */
Test(scan_content, random) {
  static unsigned char area[2048] __attribute__((aligned(64)));
  static const unsigned bad[] = {0, 0, 2, 10, 50, 300};
  static const unsigned stop[] = {0, 0, 5, 20, 100};
  static const unsigned ref[] = {0, 20, 100, 300};
  static const unsigned gt[] = {0, 20, 100, 300};
  rng_state = 0x9E3779B97F4A7C15u;
  for (int iter = 0; iter < 200000; iter++) {
    struct mix m = {bad[rnd(6)], stop[rnd(5)], ref[rnd(4)], gt[rnd(4)]};
    size_t align = rnd(64);
    size_t cap = rnd(8) == 0 ? 1200 : 16 + rnd(200);
    size_t len = gen_content(area + align, cap, &m);
    const unsigned char *s = area + align, *e = s + len;
    switch (rnd(4)) {
    case 0: /* start anywhere, maybe inside a token */
      s += rnd((uint32_t)(len / 4 + 1));
      break;
    case 1: /* end anywhere, maybe inside a token */
      e -= rnd((uint32_t)(len / 4 + 1));
      break;
    case 2: /* end just inside the last token */
      if (len && rnd(2))
        e -= 1 + rnd(len < 5 ? (uint32_t)len : 5);
      break;
    default:
      break;
    }
    char what[64];
    snprintf(what, sizeof what, "iteration %d", iter);
    checkc_all(s, e, iter % 4 == 0, what);
  }
}

/* Valid content, 4 KiB: entities, '>' not after "]]", TAB, LF and text in
 * every script.  AVX2 goes to e wherever the reference does. */
Test(scan_content, long_valid_text) {
  static unsigned char buf[4096 + 64];
  static const char *const words[] = {
      "caf\xC3\xA9 ",
      "&amp;",
      "&lt;b&gt;",
      " a > b ",
      "&quot;x&apos;",
      "]] ",
      "x]>",
      "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF",
      "\xF0\x9F\x91\x8D",
      "\t",
      "\n",
      "\xDF\xBF\xE0\xA0\x80",
      "\xEF\xBF\xBD\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
      "plain ASCII words, long enough for a vector block of them. "};
  size_t len = 0;
  rng_state = 43;
  while (len < 4096) {
    const char *w = words[rnd(sizeof words / sizeof *words)];
    memcpy(buf + len, w, strlen(w));
    len += strlen(w);
  }
  for (size_t i = 0; i < 64; i++) {
    for (size_t j = len - 64; j <= len; j++) {
      const unsigned char *s = buf + i, *e = buf + j;
      if ((*s & 0xC0) == 0x80 || (j < len && (*e & 0xC0) == 0x80))
        continue; /* not at a character boundary */
      checkc_all(s, e, 0, "long valid text");
#if defined(__x86_64__)
      if (have_avx2() && ref_walk(s, e, 0) == e) {
        unsigned esc = 0;
        cr_assert_eq(xsr__scan_content_avx2((const char *)s, (const char *)e, &esc),
                     (const char *)e, "AVX2 stopped in valid content [%zu, %zu)", i, j);
        cr_assert_eq(esc, 1);
      }
#endif
    }
  }
  if (!have_avx2())
    cr_skip_test("no AVX2 on this CPU: only the contract was checked");
}

/* Dense prose (text in several scripts, a reference every few words), as
 * the AVX2 scan takes it with prose_round once two rounds showed non-ASCII
 * text, with one defect put between two of its words at every word
 * boundary of the first 700 bytes: each kind of stop and error meets
 * prose_round in every part of a round, and the scan must return to the
 * exact checks there. */
Test(scan_content, prose_with_one_defect) {
  /* About one reference in 64 bytes, as prose_round takes them. */
  static const char *const words[] = {"caf\xC3\xA9 ",
                                      "na\xC3\xAFve ",
                                      "\xD0\xBF\xD1\x80\xD0\xB8 ",
                                      "\xE3\x81\x93\xE3\x82\x93 ",
                                      "\xF0\x9F\x91\x8D ",
                                      "\n",
                                      "\xE2\x82\xAC"
                                      "5 ",
                                      "\xCE\xA9 ",
                                      "x ",
                                      "love ",
                                      "moon ",
                                      "Gr\xC3\xBC\xC3\x9F"
                                      "e ",
                                      "\t",
                                      "\xE4\xB8\x96\xE7\x95\x8C ",
                                      "&amp;",
                                      "&lt;3 ",
                                      "&quot;",
                                      "a&gt;b ",
                                      "&apos;"};
  static const char *const defects[] = {"<",
                                        "&foo;",
                                        "&amp",
                                        "\x01",
                                        "\r",
                                        "\xC3",
                                        "\xE3\x81",
                                        "\x80",
                                        "\xEF\xBF\xBF",
                                        "\xED\xA0\x80",
                                        "]]>",
                                        ">",
                                        "&amp;&lt;&gt;",
                                        "&",
                                        "\xF4\x90\x80\x80"};
  static unsigned char buf[4096];
  static size_t wlen[2048], nwords;
  static const char *wsel[2048];
  rng_state = 44;
  size_t total = 0;
  for (nwords = 0; total < 3000; nwords++) {
    size_t pick = rnd(14 * 16);                                       /* words 0..13 */
    wsel[nwords] = words[pick < 14 * 15 ? pick % 14 : 14 + pick % 5]; /* or a reference */
    wlen[nwords] = strlen(wsel[nwords]);
    total += wlen[nwords];
  }
  for (size_t d = 0; d < sizeof defects / sizeof *defects; d++) {
    size_t at = 0;
    for (size_t w = 0; w < nwords && at < 700; w++) {
      size_t len = 0;
      for (size_t i = 0; i < nwords; i++) {
        if (i == w) {
          memcpy(buf + len, defects[d], strlen(defects[d]));
          len += strlen(defects[d]);
        }
        memcpy(buf + len, wsel[i], wlen[i]);
        len += wlen[i];
      }
      char what[64];
      snprintf(what, sizeof what, "defect %zu at %zu", d, at);
      checkc_all(buf, buf + len, w % 4 == 0, what);
      at += wlen[w];
    }
  }
}

/* Buffers flush against PROT_NONE pages: any read outside [s, e) faults.
 * Entity checks look up to six bytes ahead, so references and characters
 * cut right at the page end are in the mix. */
Test(scan_content, guard_pages) {
  struct guarded g;
  guarded_map(&g);
  unsigned char *lo = g.lo, *hi = g.hi;
  unsigned char src[512];
  rng_state = 7;
  for (int iter = 0; iter < 4000; iter++) {
    struct mix m = {iter % 3 ? 0 : 20, iter % 2 ? 0 : 10, 100 + 100 * (iter % 3), 50};
    size_t len = gen_content(src, 16 + rnd(200), &m);
    const char *tail = NULL;
    switch (rnd(4)) { /* end with a reference or "]]>", to be cut by e */
    case 0:
      tail = predefined[rnd(5)];
      break;
    case 1:
      tail = broken_refs[rnd(sizeof broken_refs / sizeof *broken_refs)];
      break;
    case 2:
      tail = "]]>";
      break;
    default:
      break;
    }
    if (tail) {
      memcpy(src + len, tail, strlen(tail));
      len += strlen(tail);
    }
    for (size_t cut = 0; cut <= 6 && cut <= len; cut++) {
      size_t n = len - cut; /* the last token may be cut by e */
      memcpy(hi - n, src, n);
      checkc_all(hi - n, hi, cut == 0, "against the page after");
      memcpy(lo, src + cut, n);
      checkc_all(lo, lo + n, 0, "against the page before");
    }
  }
  guarded_unmap(&g);
}

/* ---- dispatch ----------------------------------------------------------- */

/* AVX2 when the CPU has it, else SSE2; scalar when forced. */
Test(scan3, dispatch) {
  const char *force = getenv("XSR_FORCE_SCALAR");
  if (force && *force && strcmp(force, "0") != 0) {
    cr_expect_str_eq(xsr__scan_impl(), "scalar");
    cr_expect(xsr__scan3 == xsr__scan3_scalar);
    cr_expect(xsr__scan_content == xsr__scan_content_scalar);
    return;
  }
#if defined(__x86_64__)
  if (have_avx2()) {
    cr_expect_str_eq(xsr__scan_impl(), "avx2");
    cr_expect(xsr__scan3 == xsr__scan3_avx2);
    cr_expect(xsr__scan_content == xsr__scan_content_avx2);
  } else {
    cr_expect_str_eq(xsr__scan_impl(), "sse2");
    cr_expect(xsr__scan3 == xsr__scan3_sse2);
    cr_expect(xsr__scan_content == xsr__scan_content_sse2);
  }
#else
  cr_expect(xsr__scan3 == xsr__scan3_scalar);
  cr_expect(xsr__scan_content == xsr__scan_content_scalar);
#endif
}
