/* SPDX-License-Identifier: MIT */
/*
 * parser/tags.h: start tags, for run() (parser.c): names and QNames
 * (scan_name, qname_prefix: ENAME, EQNAME, ELIMITNAME), the open element's
 * slot in the scratch (open_element), namespace scoping (bindings pushed
 * by bind_ns and popped at the element's end, resolve: EPREFIX, and the
 * reserved prefixes and URIs: ENSDECL; the URIs are interned by ns.c),
 * duplicate attributes by qualified name (qname_dup) and by expanded name
 * (finish_start_tag: EDUPATTR), and completing a start tag
 * (complete_start_tag, finish_default_decl, finish_start_tag).
 *
 * Included once, by parser.c, where this code stood: its functions are
 * static (and inline where marked) so that run() inlines them exactly as
 * before; resolve and decode_value are also index.c's, through core.h.
 */
#ifndef XSR_PARSER_TAGS_H
#define XSR_PARSER_TAGS_H

/* ---- scanning helpers ---------------------------------------------------- */

static inline int is_ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

enum { NAME_DONE, NAME_MORE, NAME_FAIL };

/* Scans name characters from *ps up to lim.  `start` is the name's first
 * byte (the first character must be a NameStartChar; the caller has checked
 * an ASCII one).  On NAME_FAIL, err and errp say why. */
static int scan_name(const char **ps, const char *lim, const char *start, unsigned max,
                     xsr_err *err, const char **errp) {
  const unsigned char *s = (const unsigned char *)*ps;
  const unsigned char *l = (const unsigned char *)lim;
  int rc;
  for (;;) {
    while (s < l && (xsr__name_class[*s] & XSR__NAME_CHAR))
      s++;
    if (s >= l || *s < 0x80) {
      rc = s >= l ? NAME_MORE : NAME_DONE;
      break;
    }
    uint32_t cp;
    int n = xsr__utf8_decode(s, l, &cp);
    if (n == 0) {
      rc = NAME_MORE;
      break;
    }
    if (n < 0 || !((const char *)s == start ? xsr__name_start_cp(cp) : xsr__name_cp(cp))) {
      /* The name ends before a byte that cannot continue it; if the name
       * is already too long, that comes first in the stream. */
      if ((size_t)((const char *)s - start) > max)
        break;
      *err = n < 0 ? XSR_EUTF8 : (cp == 0xFFFE || cp == 0xFFFF) ? XSR_ECHAR : XSR_ENAME;
      *errp = (const char *)s;
      *ps = (const char *)s;
      return NAME_FAIL;
    }
    s += n;
  }
  if ((size_t)((const char *)s - start) > max) {
    *err = XSR_ELIMITNAME;
    *errp = start + max;
    return NAME_FAIL;
  }
  *ps = (const char *)s;
  return rc;
}

/* The ASCII fast path of scan_name, inlined into the states: returns
 * NAME_DONE or NAME_MORE when the name is plain ASCII (and sets *colon when
 * it holds a ':'), or -1 when the slow path must look (non-ASCII byte or
 * name too long). */
static inline int scan_name_ascii(const char **ps, const char *lim, const char *start, unsigned max,
                                  unsigned *colon) {
  const unsigned char *s = (const unsigned char *)*ps;
  const unsigned char *l = (const unsigned char *)lim;
  unsigned acc = 0, k;
  while (l - s >= 4) { /* four at a time: names are short, branches dominate */
    unsigned k0 = xsr__name_class[s[0]], k1 = xsr__name_class[s[1]];
    unsigned k2 = xsr__name_class[s[2]], k3 = xsr__name_class[s[3]];
    if (!(k0 & k1 & k2 & k3 & XSR__NAME_CHAR))
      break;
    acc |= k0 | k1 | k2 | k3;
    s += 4;
  }
  while (s < l && ((k = xsr__name_class[*s]) & XSR__NAME_CHAR)) {
    acc |= k;
    s++;
  }
  if ((s < l && *s >= 0x80) || (size_t)((const char *)s - start) > max)
    return -1;
  *colon = acc & XSR__NAME_COLON;
  *ps = (const char *)s;
  return s < l ? NAME_DONE : NAME_MORE;
}

/* scan_name_ascii, falling back to the full scan. */
static inline int scan_name_fast(xsr_parser *p, const char **ps, const char *lim, const char *start,
                                 unsigned max, unsigned *colon, xsr_err *err, const char **errp) {
  int r = scan_name_ascii(ps, lim, start, max, colon);
  if (XSR_UNLIKELY(r < 0)) {
    *colon = 1; /* unknown: let qname_prefix look */
    r = scan_name(ps, lim, start, max, err, errp);
  }
  /* A name cut by the end of the input is resumed later: remember whether
   * its first part held a colon. */
  if (r == NAME_MORE) {
    p->name_colon |= *colon;
  } else {
    *colon |= p->name_colon;
    p->name_colon = 0;
  }
  return r;
}

/* Checks QName syntax of [n, n + len): at most one colon, not first or
 * last.  Returns the prefix length (0 for none) or -1 with *errp set. */
static int qname_prefix(const char *n, size_t len, const char **errp) {
  const char *c = memchr(n, ':', len);
  if (!c)
    return 0;
  if (c == n) {
    *errp = c;
    return -1;
  }
  const char *c2 = memchr(c + 1, ':', len - (size_t)(c + 1 - n));
  if (c2) {
    *errp = c2;
    return -1;
  }
  if (c == n + len - 1) {
    *errp = c + 1; /* the byte that should have started the local name */
    return -1;
  }
  /* Both parts are NCNames: the local part must start with a
   * NameStartChar (the prefix starts the name, already checked). */
  const unsigned char *l = (const unsigned char *)c + 1;
  if (*l < 0x80) {
    if (!(xsr__name_class[*l] & XSR__NAME_START)) {
      *errp = (const char *)l;
      return -1;
    }
  } else {
    uint32_t cp;
    if (xsr__utf8_decode(l, (const unsigned char *)n + len, &cp) > 0 && !xsr__name_start_cp(cp)) {
      *errp = (const char *)l;
      return -1;
    }
  }
  return (int)(c - n);
}

static const char *binding_prefix(const xsr_parser *p, const binding *bd, const char *b) {
  return bd->persistent ? p->arena + bd->prefix_off : b + bd->prefix_off;
}

/* The namespace bound to a prefix ("" = default), or NONE32 if unbound.
 * A prefix bound on the stream header is marked as inherited by the
 * stanza being parsed. */
uint32_t xsr__resolve(xsr_parser *p, const char *b, const char *pre, size_t len) {
  if (len == 0) /* the default namespace: the common case */
    return p->defns;
  if (len == 3 && memcmp(pre, "xml", 3) == 0)
    return XSR_NS_XML;
  for (uint32_t i = p->nbinds; i-- > 0;) {
    const binding *bd = &p->binds[i];
    if (bd->prefix_len == len && memcmp(binding_prefix(p, bd, b), pre, len) == 0) {
      if (i < p->nstream_binds)
        p->inh_used |= 1ull << (i < 63 ? i : 63);
      return bd->ns;
    }
  }
  return len == 0 ? XSR_NS_NONE : NONE32;
}

int xsr__push_node(xsr_parser *p, uint32_t *idx) {
  if (XSR_UNLIKELY(p->nnodes == p->sc.capnodes) &&
      !grow(p->sa, (void **)&p->sc.nodes, &p->sc.capnodes, p->nnodes + 1, sizeof *p->sc.nodes, 16))
    return 0;
  *idx = p->nnodes++;
  return 1;
}

/* The node of an element at depth d (the stream element is 0) whose '<'
 * is at s, b being the construct's base: a fresh index for a new top-level
 * construct, linked after its previous sibling, current for the start-tag
 * states, its name's start in p->tok.  0 when out of memory. */
__attribute__((always_inline)) static inline int open_element(xsr_parser *p, const char *b,
                                                              const char *s, unsigned d) {
  uint32_t idx;
  if (d <= 1) {
    p->nnodes = 0;
    p->nattrs = 0;
    p->sc.last[d] = 0;
    p->inh_used = 0;
    if (!xsr__push_node(p, &idx))
      return 0;
  } else if (XSR_LIKELY(!p->eager_index)) {
    /* No index during the scan: the element at depth d takes slot d - 1
     * (what its end tag and its start tag's checks need), and its
     * attributes follow the stanza element's, whose routing values the
     * view reports. */
    idx = d - 1;
    if (XSR_UNLIKELY(d > p->sc.capnodes) &&
        !grow(p->sa, (void **)&p->sc.nodes, &p->sc.capnodes, d, sizeof *p->sc.nodes, 16))
      return 0;
    p->nattrs = p->sc.nodes[0].attr_count;
  } else {
    if (!xsr__push_node(p, &idx))
      return 0;
    link_sibling(p, d, idx);
  }
  p->sc.nodes[idx] = (xsr_node){.off = (uint32_t)(s - b),
                                .attr_first = p->nattrs,
                                .kind = XSR_NODE_ELEMENT,
                                .depth = (uint16_t)d};
  if (d <= 1 || p->eager_index)
    p->sc.last[d + 1] = 0;
  p->cur_node = idx;
  p->el_nsdecls = 0;
  p->el_prefixed = 0;
  p->tok = (uint32_t)(s + 1 - b);
  return 1;
}

static inline int add_text_node(xsr_parser *p, uint8_t kind, uint32_t off, uint32_t len,
                                uint8_t flags) {
  if (XSR_LIKELY(!p->eager_index))
    return 1; /* built on demand */
  uint32_t idx;
  if (!xsr__push_node(p, &idx))
    return 0;
  xsr_node *n = &p->sc.nodes[idx];
  memset(n, 0, sizeof *n);
  n->off = off;
  n->len = len;
  n->kind = kind;
  n->flags = flags;
  n->depth = (uint16_t)(p->depth + 1);
  link_sibling(p, p->depth + 1, idx);
  return 1;
}

/* Decodes an attribute value that holds references into p->sc.tmp. */
int xsr__decode_value(xsr_parser *p, const char *v, size_t len, const char **out, size_t *out_len) {
  if (len > p->sc.tmp_cap) {
    char *t = p->sa->realloc(p->sa->user, p->sc.tmp, len);
    if (!t)
      return 0;
    p->sc.tmp = t;
    p->sc.tmp_cap = len;
  }
  xsr_span raw = {v, len};
  xsr_decode_attr(raw, p->sc.tmp, p->sc.tmp_cap, out_len);
  *out = p->sc.tmp;
  return 1;
}

/*
 * Duplicate attributes.  The usual element has a handful of attributes,
 * compared pairwise; from ATTR_LINEAR on, a hash set of attribute indexes
 * keeps the check linear however many attributes max_attrs lets through.
 * The set holds the element's attributes checked so far; slots hold
 * index + 1.
 */
#define ATTR_LINEAR 16

static uint32_t fnv1a(const char *s, size_t n, uint32_t h) {
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* Empties the set, with room for n entries at half load. */
static int aset_clear(xsr_parser *p, uint32_t n) {
  uint32_t cap = 64;
  while (cap < 2 * n)
    cap *= 2;
  if (cap > p->sc.aset_cap) {
    uint32_t *t = p->sa->realloc(p->sa->user, p->sc.aset, (size_t)cap * sizeof *t);
    if (!t)
      return 0;
    p->sc.aset = t;
    p->sc.aset_cap = cap;
  }
  memset(p->sc.aset, 0, (size_t)cap * sizeof *p->sc.aset);
  p->aset_mask = cap - 1;
  p->aset_n = 0;
  return 1;
}

/* The slot for hash h: holding an index equal to `idx` under `same`, or
 * empty. */
#define ASET_PROBE(slot, h, same_as)                                                               \
  do {                                                                                             \
    for (uint32_t i_ = (h)&p->aset_mask;; i_ = (i_ + 1) & p->aset_mask) {                          \
      uint32_t v_ = p->sc.aset[i_];                                                                \
      if (!v_ || same_as(v_ - 1)) {                                                                \
        (slot) = i_;                                                                               \
        break;                                                                                     \
      }                                                                                            \
    }                                                                                              \
  } while (0)

/* Whether attribute `idx` repeats the qualified name of one of the
 * element's attributes [first, idx): 1, 0, or -1 when out of memory.
 * Called for every attribute in order. */
static int qname_dup_set(xsr_parser *p, const char *b, uint32_t first, uint32_t idx);

static inline int qname_dup(xsr_parser *p, const char *b, uint32_t first, uint32_t idx) {
  if (XSR_UNLIKELY(idx - first >= ATTR_LINEAR))
    return qname_dup_set(p, b, first, idx);
  const xsr_attr *a = &p->sc.attrs[idx];
  const char *an = b + a->name_off;
  size_t len = a->name_len;
  for (uint32_t i = first; i < idx; i++) {
    const xsr_attr *o = &p->sc.attrs[i];
    const char *on = b + o->name_off;
    if (o->name_len == len && on[0] == an[0] && memcmp(on, an, len) == 0)
      return 1;
  }
  return 0;
}

__attribute__((noinline)) static int qname_dup_set(xsr_parser *p, const char *b, uint32_t first,
                                                   uint32_t idx) {
  const xsr_attr *a = &p->sc.attrs[idx];
  const char *an = b + a->name_off;
  size_t len = a->name_len;
#define SAME_QNAME(j)                                                                              \
  (p->sc.attrs[j].name_len == len && memcmp(b + p->sc.attrs[j].name_off, an, len) == 0)
  uint32_t slot;
  if (idx - first == ATTR_LINEAR || 2 * (p->aset_n + 1) > p->aset_mask + 1) {
    /* First use for this element, or full: rebuild from its attributes
     * so far (distinct: each was checked when it came). */
    if (!aset_clear(p, 2 * (idx - first + 1)))
      return -1;
    for (uint32_t i = first; i < idx; i++) {
      const xsr_attr *o = &p->sc.attrs[i];
      uint32_t h = fnv1a(b + o->name_off, o->name_len, 2166136261u), v;
      for (v = h & p->aset_mask; p->sc.aset[v]; v = (v + 1) & p->aset_mask) {
      }
      p->sc.aset[v] = i + 1;
      p->aset_n++;
    }
  }
  ASET_PROBE(slot, fnv1a(an, len, 2166136261u), SAME_QNAME);
#undef SAME_QNAME
  if (p->sc.aset[slot])
    return 1;
  p->sc.aset[slot] = idx + 1;
  p->aset_n++;
  return 0;
}

static const char XML_NS_URI[] = "http://www.w3.org/XML/1998/namespace";
static const char XMLNS_NS_URI[] = "http://www.w3.org/2000/xmlns/";

/* Binds the prefix [pre, pre + pre_len) ("" for the default namespace) to
 * the URI v of declaration a (checked by the caller; decoded when it held
 * references) until the element ends. */
static xsr_err bind_ns(xsr_parser *p, const char *b, const xsr_attr *a, const char *v, size_t vlen,
                       const char *pre, size_t pre_len, const char **errp) {
  uint32_t ns = XSR_NS_NONE;
  if (vlen) {
    xsr_err e;
    ns = ns_intern(p, v, vlen, &e);
    if (ns == NONE32) {
      if (e == XSR_ELIMITNS)
        *errp = b + a->value_off;
      return e;
    }
  }
  if (XSR_UNLIKELY(p->nbinds == p->capbinds) &&
      !grow(&p->a, (void **)&p->binds, &p->capbinds, p->nbinds + 1, sizeof *p->binds, 4))
    return XSR_ENOMEM;
  p->binds[p->nbinds++] = (binding){(uint32_t)(pre - b), (uint32_t)pre_len, ns, 0};
  if (pre_len == 0)
    p->defns = ns;
  return XSR_OK;
}

/*
 * finish_start_tag() for an element without prefixes whose one declaration
 * is of the default namespace, written without references: usually the
 * last or only attribute (<active xmlns='...'/>).  What the general loops
 * would do, in one pass, in a function small enough to call cheaply.
 * Returns 0 when the declaration is not of that kind (the general code
 * decides), else 1 with *err set.
 */
__attribute__((noinline)) static int finish_default_decl(xsr_parser *p, const char *b,
                                                         const char **errp, xsr_err *err) {
  xsr_node *el = &p->sc.nodes[p->cur_node];
  uint32_t first = el->attr_first, n = p->nattrs - first;
  uint32_t i = first + n - 1;
  while (!(p->sc.attrs[i].flags & ATTR_XMLNS))
    i--;
  xsr_attr *a = &p->sc.attrs[i];
  if (a->prefix_len != 0 || (a->flags & XSR_F_ESCAPED))
    return 0;
  const char *v = b + a->value_off;
  size_t vlen = a->value_len;
  if ((vlen == sizeof XML_NS_URI - 1 && memcmp(v, XML_NS_URI, vlen) == 0) ||
      (vlen == sizeof XMLNS_NS_URI - 1 && memcmp(v, XMLNS_NS_URI, vlen) == 0)) {
    *errp = b + a->name_off;
    *err = XSR_ENSDECL;
    return 1;
  }
  /* bind_ns(), without its calls when the URI is in the cache (bind_ns
   * with this path inline counted more instructions in both callers) */
  uint32_t ns = vlen >= 8 ? ns_cached(p, ns_cache_slot(v, vlen), v, vlen) : NONE32;
  if (XSR_LIKELY(ns != NONE32 && p->nbinds < p->capbinds)) {
    p->binds[p->nbinds++] = (binding){a->name_off, 0, ns, 0};
    p->defns = ns;
  } else {
    *errp = b + el->off; /* for XSR_ENOMEM */
    *err = bind_ns(p, b, a, v, vlen, b + a->name_off, 0, errp);
    if (*err)
      return 1;
  }
  *err = XSR_OK;
  el->ns = p->defns;
  if (i + 1 < first + n) /* the other attributes keep their order */
    memmove(a, a + 1, (first + n - i - 1) * sizeof *a);
  p->nattrs--;
  el->attr_count = (uint16_t)(n - 1);
  return 1;
}

/*
 * A start tag is complete: bind its namespace declarations, resolve the
 * element's and attributes' namespaces, drop xmlns attributes from the
 * index and check expanded-name uniqueness.  Returns XSR_OK or an error
 * with *errp set.  The general case: complete_start_tag() takes the usual
 * ones first.
 */
static xsr_err finish_start_tag(xsr_parser *p, const char *b, const char **errp) {
  xsr_node *el = &p->sc.nodes[p->cur_node];
  *errp = b + el->off; /* for XSR_ENOMEM: the element's '<', whatever the chunking */
  uint32_t first = el->attr_first, n = p->nattrs - first;

  /* Namespace declarations first: they apply to the element itself. */
  for (uint32_t i = first; i < first + n; i++) {
    xsr_attr *a = &p->sc.attrs[i];
    if (!(a->flags & ATTR_XMLNS))
      continue;
    const char *name = b + a->name_off;
    const char *pre = a->prefix_len ? name + a->prefix_len + 1 : name; /* declared prefix */
    size_t pre_len = a->prefix_len ? (size_t)a->name_len - a->prefix_len - 1 : 0;
    const char *v = b + a->value_off;
    size_t vlen = a->value_len;
    if (a->flags & XSR_F_ESCAPED) {
      if (!xsr__decode_value(p, v, vlen, &v, &vlen))
        return XSR_ENOMEM;
    }
    int is_xml_uri = vlen == sizeof XML_NS_URI - 1 && memcmp(v, XML_NS_URI, vlen) == 0;
    int is_xmlns_uri = vlen == sizeof XMLNS_NS_URI - 1 && memcmp(v, XMLNS_NS_URI, vlen) == 0;
    int pre_xml = pre_len == 3 && memcmp(pre, "xml", 3) == 0;
    int pre_xmlns = pre_len == 5 && memcmp(pre, "xmlns", 5) == 0;
    if (pre_xmlns || is_xmlns_uri || (pre_xml != is_xml_uri) || (a->prefix_len && vlen == 0)) {
      *errp = name;
      return XSR_ENSDECL;
    }
    if (pre_xml)
      continue; /* xmlns:xml with its own URI: allowed, binds nothing new */
    xsr_err err = bind_ns(p, b, a, v, vlen, pre, pre_len, errp);
    if (err)
      return err;
  }

  /* The element's own namespace. */
  const char *ename = b + el->off + 1;
  if (el->prefix_len == 5 && memcmp(ename, "xmlns", 5) == 0) {
    *errp = ename;
    return XSR_ENSDECL;
  }
  uint32_t ens = xsr__resolve(p, b, ename, el->prefix_len);
  if (ens == NONE32) {
    *errp = ename;
    return XSR_EPREFIX;
  }
  el->ns = ens;

  /* Attributes: drop declarations, resolve prefixes, check expanded names
   * (pairwise, or through the set for elements with many attributes). */
  uint32_t out = first;
  int use_set = n > ATTR_LINEAR;
  if (use_set && !aset_clear(p, n))
    return XSR_ENOMEM;
  for (uint32_t i = first; i < first + n; i++) {
    xsr_attr a = p->sc.attrs[i];
    if (a.flags & ATTR_XMLNS)
      continue;
    if (a.prefix_len) {
      const char *an = b + a.name_off;
      uint32_t ans = xsr__resolve(p, b, an, a.prefix_len);
      if (ans == NONE32) {
        *errp = an;
        return XSR_EPREFIX;
      }
      a.ns = ans;
      /* Same namespace and local name as an earlier prefixed attribute? */
      size_t ll = (size_t)a.name_len - a.prefix_len - 1;
      const char *lp = an + a.prefix_len + 1;
#define SAME_EXPANDED(j)                                                                           \
  (p->sc.attrs[j].prefix_len && p->sc.attrs[j].ns == a.ns &&                                       \
   (size_t)p->sc.attrs[j].name_len - p->sc.attrs[j].prefix_len - 1 == ll &&                        \
   memcmp(b + p->sc.attrs[j].name_off + p->sc.attrs[j].prefix_len + 1, lp, ll) == 0)
      if (use_set) {
        uint32_t slot;
        ASET_PROBE(slot, fnv1a(lp, ll, a.ns * 2654435761u), SAME_EXPANDED);
        if (p->sc.aset[slot]) {
          *errp = an;
          return XSR_EDUPATTR;
        }
        p->sc.aset[slot] = out + 1; /* p->sc.attrs[out] is written below */
        p->aset_n++;
      } else {
        for (uint32_t j = first; j < out; j++) {
          if (SAME_EXPANDED(j)) {
            *errp = an;
            return XSR_EDUPATTR;
          }
        }
      }
#undef SAME_EXPANDED
    } else {
      a.ns = XSR_NS_NONE;
    }
    p->sc.attrs[out++] = a;
  }
  p->nattrs = out;
  el->attr_count = (uint16_t)(out - first);
  return XSR_OK;
}

/* A start tag is complete: its two usual cases here (no declarations or
 * prefixes: the element is in the default namespace, its attributes in
 * none; one default-namespace declaration), the rest in
 * finish_start_tag(). */
static inline xsr_err complete_start_tag(xsr_parser *p, const char *b, const char **errp) {
  xsr_node *n = &p->sc.nodes[p->cur_node];
  if (!p->el_prefixed && !n->prefix_len) {
    if (!p->el_nsdecls) {
      n->ns = p->defns;
      n->attr_count = (uint16_t)(p->nattrs - n->attr_first);
      return XSR_OK;
    }
    xsr_err err;
    if (p->el_nsdecls == 1 && finish_default_decl(p, b, errp, &err))
      return err;
  }
  return finish_start_tag(p, b, errp);
}

#endif /* XSR_PARSER_TAGS_H */
