/* SPDX-License-Identifier: MIT */
/*
 * parser/elems.h: the start-tag fast path and the element loop (their
 * comments are in parser.c), included twice by parser.c to make two
 * variants of each:
 *   XSR__TAIL 0  stag_body, elems_avx2: a window starts at the byte looked
 *                for and lies wholly 64 bytes below lim, so the loop
 *                returns within 64 bytes of lim.  For everything but
 *                the reads below: the hot path at any chunk size.
 *   XSR__TAIL 1  stag_body_tail, elems_tail_avx2: within 64 bytes of lim
 *                the window is the one that ends there (win->last =
 *                lim - 64; the caller guarantees those 64 bytes are input;
 *                the ones before the byte looked for are read and shifted
 *                out), so the loop goes on to 8 bytes before lim.  run()
 *                takes it for reads that began with nothing held (a
 *                server's reads of whole stanzas: feed_in_place), whose
 *                end is the end of a stanza, and stag_avx2 for a start tag
 *                the byte-wise states met.
 * One text for two functions rather than one function with a flag or a
 * window test in the hot copy: GCC lays the hot copy out differently once
 * it holds the tail's code, even dead (measured on chat at 64 KiB chunks:
 * 0.3% more instructions, about 1.5% more time).  Private to the parser;
 * never installed.
 */
/* No include guard: included once per variant. */
#if XSR__TAIL
#define XSR__STAG_BODY  stag_body_tail
#define XSR__ELEMS      elems_tail_avx2
#define XSR__ELEMS_NEAR 8
#else
#define XSR__STAG_BODY  stag_body
#define XSR__ELEMS      elems_avx2
#define XSR__ELEMS_NEAR 64
#endif

__attribute__((target("avx2"), always_inline)) static inline int
XSR__STAG_BODY(xsr_parser *p, const char *b, const char *lim, const char **ps, struct tagwin *win) {
  const char *s = *ps, *t, *w = win->w;
/* Where the window for a search from f starts, and when there is none. */
#if XSR__TAIL /* the last window is [lim - 64, lim) */
#define TM_NO_WINDOW(f) ((f) >= lim)
#define TM_WINDOW_AT(f) ((f) < win->last ? (f) : win->last)
#else
#define TM_NO_WINDOW(f) (lim - (f) < 64)
#define TM_WINDOW_AT(f) (f)
#endif
  xsr__tagmask *const m = &win->m; /* in place: copying it in and out costs more */
  xsr_node *n = &p->sc.nodes[p->cur_node];
  uint64_t seen = 0;
  int rc;
  unsigned char c;
  /* The attribute count lives in a register here: stores into the index
   * would otherwise make the compiler reload it (they may alias). */
  const uint32_t first = n->attr_first;
  uint32_t na = p->nattrs;
  const uint32_t room =
      first + (p->cfg.max_attrs < ATTR_LINEAR ? (uint32_t)p->cfg.max_attrs : ATTR_LINEAR);
  if (!w || (size_t)(s - w) >= 64) {
    w = TM_WINDOW_AT(s);
    xsr__tagmask_avx2(w, m);
  }
#define TM_FIND(dst, mask, from, bail)                                                             \
  do {                                                                                             \
    const char *f_ = (from);                                                                       \
    for (;;) {                                                                                     \
      if ((size_t)(f_ - w) >= 64) {                                                                \
        if (TM_NO_WINDOW(f_))                                                                      \
          goto bail;                                                                               \
        w = TM_WINDOW_AT(f_);                                                                      \
        xsr__tagmask_avx2(w, m);                                                                   \
      }                                                                                            \
      uint64_t x_ = (mask) >> (f_ - w);                                                            \
      if (x_) {                                                                                    \
        (dst) = f_ + __builtin_ctzll(x_);                                                          \
        break;                                                                                     \
      }                                                                                            \
      f_ = w + 64;                                                                                 \
    }                                                                                              \
  } while (0)
/* A QName from `from`, an ASCII NameStartChar other than ':' (checked by
 * the caller): dst ends up past it and pl holds its prefix length (0 when
 * unprefixed).  Goes to bail for anything the byte-wise scan must decide:
 * non-ASCII, too long, a colon out of place. */
#define TM_QNAME(dst, pl, from, bail)                                                              \
  do {                                                                                             \
    TM_FIND(dst, m->nn, (from) + 1, bail);                                                         \
    (pl) = 0;                                                                                      \
    if (*(dst) == ':') {                                                                           \
      const char *l_ = (dst) + 1;                                                                  \
      (pl) = (int)((dst) - (from));                                                                \
      if (l_ >= lim || !(xsr__name_class[(unsigned char)*l_] & XSR__NAME_START) || *l_ == ':')     \
        goto bail;                                                                                 \
      TM_FIND(dst, m->nn, l_ + 1, bail);                                                           \
      if (*(dst) == ':')                                                                           \
        goto bail;                                                                                 \
    }                                                                                              \
    if ((unsigned char)*(dst) >= 0x80 || (size_t)((dst) - (from)) > p->cfg.max_name)               \
      goto bail;                                                                                   \
  } while (0)
  if ((unsigned char)*s >= 0x80 || *s == ':')
    goto tag_name;
  {
    int pl;
    TM_QNAME(t, pl, s, tag_name);
    n->name_len = (uint16_t)(t - s);
    n->prefix_len = (uint16_t)pl;
  }
  s = t;
  for (;;) {
    rc = STAG_WS0;
    if (s >= lim)
      goto done;
    c = (unsigned char)*s;
    if (c == ' ' && s + 1 < lim && !is_ws((unsigned char)s[1])) {
      c = (unsigned char)*++s; /* the usual single space: no search */
      rc = STAG_WS1;
    } else if (is_ws(c)) {
      TM_FIND(t, ~m->ws, s + 1, done);
      s = t;
      c = (unsigned char)*s;
      rc = STAG_WS1;
    }
    if (c == '>') {
      s++;
      rc = STAG_END;
      goto done;
    }
    if (c == '/') {
      s++;
      rc = STAG_SLASH;
      if (s < lim && *s == '>') {
        s++;
        rc = STAG_EMPTY;
      }
      goto done;
    }
    if (rc != STAG_WS1 || !(xsr__name_class[c] & XSR__NAME_START) || c == ':')
      goto done;
    /* An attribute: name, '=', quoted value; recorded only once its value's
     * end (or first special byte) is found. */
    const char *an = s, *v;
    int apl;
    TM_QNAME(t, apl, an, done);
    size_t alen = (size_t)(t - an);
    int xmlns = is_xmlns_attr(an, alen, (size_t)apl);
    if (na >= room || /* max_attrs, or the set's turn (see qname_dup) */
        (xmlns && p->el_nsdecls >= p->cfg.max_ns_decls))
      goto done;
    /* Duplicates: a 64-bit signature of the names seen in this tag (length
     * and first and last bytes) rules most pairs out without a compare.
     * Every attribute of the element so far went through here: the
     * function starts at the element name, and a hand-over ends it. */
    uint64_t bit = 1ull << ((alen * 7 + (unsigned char)an[0] + (unsigned char)t[-1] * 3) & 63);
    if (seen & bit) {
      for (uint32_t i = first; i < na; i++) {
        const xsr_attr *o = &p->sc.attrs[i];
        if (o->name_len == alen && memcmp(b + o->name_off, an, alen) == 0)
          goto done;
      }
    }
    seen |= bit;
    s = t;
    c = (unsigned char)*s;
    if (c != '=') {
      if (!is_ws(c))
        goto attr_bail;
      TM_FIND(t, ~m->ws, s + 1, attr_bail);
      s = t;
      if (*s != '=')
        goto attr_bail;
    }
    s++;
    if (s >= lim)
      goto attr_bail;
    c = (unsigned char)*s;
    if (is_ws(c)) {
      TM_FIND(t, ~m->ws, s + 1, attr_bail);
      s = t;
      c = (unsigned char)*s;
    }
    if (c != '\'' && c != '"')
      goto attr_bail;
    v = s + 1;
    TM_FIND(t, m->vstop | (c == '\'' ? m->apos : m->quot), v, attr_bail);
    if (XSR_UNLIKELY(na == p->sc.capattrs) &&
        !grow(p->sa, (void **)&p->sc.attrs, &p->sc.capattrs, na + 1, sizeof *p->sc.attrs, 16))
      goto attr_nomem;
    /* Written whole (value_len too: the byte-wise state sets it again when
     * it finishes a value handed over below). */
    p->sc.attrs[na++] = (xsr_attr){.name_off = (uint32_t)(an - b),
                                   .value_off = (uint32_t)(v - b),
                                   .value_len = (uint32_t)(t - v),
                                   .name_len = (uint16_t)alen,
                                   .prefix_len = (uint16_t)apl,
                                   .flags = xmlns ? ATTR_XMLNS : 0};
    if (xmlns)
      p->el_nsdecls++;
    else if (apl)
      p->el_prefixed = 1;
    if ((unsigned char)*t != c) { /* a reference, control or non-ASCII byte */
      p->quote = c;
      s = t;
      rc = STAG_VALUE;
      goto done;
    }
    s = t + 1;
    continue;
  attr_bail:
    s = an;
    rc = STAG_WS1;
    goto done;
  attr_nomem:
    s = an; /* where the byte-wise state reports it: no second try */
    rc = STAG_NOMEM;
    goto done;
  }
#undef TM_QNAME
#undef TM_FIND
#undef TM_NO_WINDOW
#undef TM_WINDOW_AT
tag_name:
  s = b + p->tok;
  rc = STAG_NAME;
done:
  p->nattrs = na;
  *ps = s;
  win->w = w;
  return rc;
}

__attribute__((target("avx2"))) static int XSR__ELEMS(xsr_parser *p, const char *b, const char *lim,
                                                      const char **ps, struct tagwin *win,
                                                      xsr_err *errc, const char **errp) {
  const char *s = *ps;
  for (;;) {                        /* s is at a '<' */
    if (lim - s <= XSR__ELEMS_NEAR) /* left to the tail variant or to run() */
      return *ps = s, EL_LT;
    unsigned char c = (unsigned char)s[1];
    if (c == '/') {
      size_t n = p->depth ? open_etag_len(p, b, s, lim) : 0;
      if (!n)
        return *ps = s, EL_LT;
      s += n;
    } else {
      if (!(xsr__name_class[c] & XSR__NAME_START) || c == ':' || c >= 0x80)
        return *ps = s, EL_LT;
      unsigned d = p->depth + 1;
      if (d > p->cfg.max_depth)
        return *ps = s, EL_LT;
      if (!open_element(p, b, s, d)) /* reported here, as run() would: no second try */
        return *errc = XSR_ENOMEM, *errp = s, *ps = s, EL_FAIL;
      s++;
      int rc = XSR__STAG_BODY(p, b, lim, &s, win);
      if (rc != STAG_END && rc != STAG_EMPTY)
        return *ps = s, rc;
      uint32_t nbinds_before = p->nbinds, defns_before = p->defns;
      xsr_err err = complete_start_tag(p, b, errp);
      if (err)
        return *errc = err, *ps = s, EL_FAIL;
      if (d == 1 && XSR_UNLIKELY(foreign_content_ns(p, p->sc.nodes[p->cur_node].ns)))
        return *errc = XSR_ESTANZANS, *errp = b + p->sc.nodes[p->cur_node].off + 1, *ps = s,
               EL_FAIL;
      push_open(p, b, nbinds_before, defns_before);
      if (rc == STAG_END)
        goto content;
    }
    /* the end of the open element (its end tag, or an empty-element tag) */
    if (pop_open(p, b, s) == 0)
      return *ps = s, EL_STANZA;
  content:
    p->text_start = (uint32_t)(s - b);
    p->text_flags = 0;
    if (s < lim && *s == '<')
      continue;
    /* As in st_content: scan3 for short ASCII texts, the scanner that
     * validates UTF-8 and passes entities once the text shows either;
     * scan3's first 32 bytes here, without a call. */
    const char *q;
    uint32_t m;
    if (XSR_LIKELY(lim - s >= 32))
      q = (m = xsr__content_stops32(s)) != 0 ? s + __builtin_ctz(m)
                                             : scan3(s + 32, lim, '<', '&', '>');
    else
      q = scan3(s, lim, '<', '&', '>');
    if (q < lim && ((unsigned char)*q >= 0x80 || *q == '&'))
      q = scan_content(p, q, lim);
    if (q >= lim || *q != '<')
      return *ps = q, EL_CONTENT;
    if (!add_text_node(p, XSR_NODE_TEXT, p->text_start, (uint32_t)(q - s), p->text_flags))
      return *errc = XSR_ENOMEM, *errp = q, *ps = q, EL_FAIL;
    s = q;
  }
}

#undef XSR__STAG_BODY
#undef XSR__ELEMS
#undef XSR__ELEMS_NEAR
