/* SPDX-License-Identifier: MIT */
/*
 * parser/views.h: what run() (parser.c) reports, and the checks made on
 * it: the stanza view (its routing fields: find_route, fill_view; the
 * stream-level bindings it inherits: fill_inherited), its content
 * namespace (foreign_content_ns: ESTANZANS), the open-element stack
 * (push_open, pop_open), the stream header (check_header: the RFC 6120
 * namespaces ESTREAMNS and ECONTENTNS, the version: EBADVERSION,
 * EVERSION; persist_stream keeps what outlives its bytes) and the XML
 * declaration (check_xmldecl: EXMLDECL, EENCODING).
 *
 * Included once, by parser.c, where this code stood: its functions are
 * static so that run() inlines them exactly as before.
 */
#ifndef XSR_PARSER_VIEWS_H
#define XSR_PARSER_VIEWS_H

/* Finds the routing attributes of the stanza element (node 0), and counts
 * its start tag's attributes (its declarations were dropped from the
 * index; el_nsdecls still counts them). */
static void find_route(xsr_parser *p, const char *b) {
  for (int k = 0; k < 5; k++)
    p->route[k] = NONE32;
  const xsr_node *el = &p->sc.nodes[0];
  p->tag_decls = p->el_nsdecls;
  p->tag_attrs = el->attr_count + p->el_nsdecls;
  for (uint32_t i = el->attr_first; i < el->attr_first + el->attr_count; i++) {
    const xsr_attr *a = &p->sc.attrs[i];
    const char *an = b + a->name_off;
    if (a->prefix_len == 0) {
      /* Every stanza has a few of these: dispatch on the length, then
       * compare the name as one 2- or 4-byte load. */
      if (a->name_len == 2) {
        if (memcmp(an, "to", 2) == 0)
          p->route[0] = i;
        else if (memcmp(an, "id", 2) == 0)
          p->route[2] = i;
      } else if (a->name_len == 4) {
        if (memcmp(an, "from", 4) == 0)
          p->route[1] = i;
        else if (memcmp(an, "type", 4) == 0)
          p->route[3] = i;
      }
    } else if (a->ns == XSR_NS_XML && a->name_len == 8 && memcmp(an + 4, "lang", 4) == 0) {
      p->route[4] = i;
    }
  }
}

/* Whether a stanza in namespace `ns` is in a content namespace other than
 * the stream's (checked once its start tag is complete, on every path, so
 * the error's offset, the element name, does not depend on the chunking). */
static inline int foreign_content_ns(const xsr_parser *p, uint32_t ns) {
  return ns - XSR_NS_CLIENT <= XSR_NS_COMPONENT - XSR_NS_CLIENT && ns != p->stream_ns;
}

/* The element p->cur_node, its start tag complete, becomes the open one;
 * nbinds and defns are the bindings in force before its declarations,
 * restored at its end. */
static inline void push_open(xsr_parser *p, const char *b, uint32_t nbinds, uint32_t defns) {
  open_el *o = &p->sc.stack[++p->depth];
  o->node = p->cur_node;
  o->nbinds = nbinds;
  o->defns = defns;
  if (p->depth == 1)
    find_route(p, b);
}

/* The open element ends just before s: its length, its bindings popped.
 * Returns the depth left. */
static inline unsigned pop_open(xsr_parser *p, const char *b, const char *s) {
  const open_el *o = &p->sc.stack[p->depth];
  xsr_node *n = &p->sc.nodes[o->node];
  n->len = (uint32_t)(s - b) - n->off;
  p->nbinds = o->nbinds;
  p->defns = o->defns;
  return --p->depth;
}

static xsr_span route_span(const xsr_parser *p, const char *b, int k, unsigned *escaped) {
  xsr_span s = {NULL, 0};
  if (p->route[k] != NONE32) {
    const xsr_attr *a = &p->sc.attrs[p->route[k]];
    s.ptr = b + a->value_off;
    s.len = a->value_len;
    if (a->flags & XSR_F_ESCAPED)
      *escaped |= 1u << k;
  }
  return s;
}

/* The stream-level bindings the stanza used, in the header's order (bit
 * 63 stands for every binding from the 64th on). */
__attribute__((noinline)) static void fill_inherited(xsr_parser *p, xsr_stanza *st) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < p->nstream_binds; i++) {
    if (!(p->inh_used & (1ull << (i < 63 ? i : 63))))
      continue;
    const binding *bd = &p->binds[i];
    if (bd->prefix_len == 0)
      continue; /* the default namespace is never looked up this way */
    p->inh[n].prefix.ptr = p->arena + bd->prefix_off;
    p->inh[n].prefix.len = bd->prefix_len;
    p->inh[n].uri.ptr = ns_ent(p, bd->ns)->uri;
    p->inh[n].uri.len = ns_ent(p, bd->ns)->len;
    n++;
  }
  st->inherited = p->inh;
  st->inherited_count = n;
}

static void fill_view(xsr_parser *p, const char *b, size_t len, uint64_t off, xsr_stanza *st) {
  const xsr_node *el = &p->sc.nodes[0];
  st->raw.ptr = b;
  st->raw.len = len;
  st->offset = off;
  st->prefix.ptr = b + 1;
  st->prefix.len = el->prefix_len;
  st->name = xsr_stanza_node_name(st, el);
  st->ns = el->ns;
  st->escaped = 0;
  st->to = route_span(p, b, 0, &st->escaped);
  st->from = route_span(p, b, 1, &st->escaped);
  st->id = route_span(p, b, 2, &st->escaped);
  st->type = route_span(p, b, 3, &st->escaped);
  st->lang = route_span(p, b, 4, &st->escaped);
  st->nodes = p->sc.nodes;
  st->node_count = p->nnodes;
  st->attrs = p->sc.attrs;
  st->attr_count = p->nattrs;
  st->inherited = NULL;
  st->inherited_count = 0;
  if (XSR_UNLIKELY(p->inh_used))
    fill_inherited(p, st);
  st->stream_lang.ptr = p->has_slang ? p->arena + p->slang_off : NULL;
  st->stream_lang.len = p->slang_len;
  st->tag_attrs = p->tag_attrs;
  st->tag_decls = p->tag_decls;
  st->index_parser_ = NULL;
}

/* One number of a version: digits only, at least one, saturating at
 * INT_MAX (leading zeros are allowed: RFC 6120 section 4.7.5 compares the
 * numbers, not the strings).  Returns 0 for anything else. */
static int version_number(const char *q, const char *e, int *out) {
  if (q == e)
    return 0;
  int n = 0;
  for (; q < e; q++) {
    if (*q < '0' || *q > '9')
      return 0;
    int d = *q - '0';
    n = n > (INT_MAX - d) / 10 ? INT_MAX : n * 10 + d;
  }
  *out = n;
  return 1;
}

/* Parses a version attribute value "major.minor".  Once per stream: out
 * of line, or GCC inlines it where the start-tag code is hot (measured:
 * 2% more instructions on the adversarial corpus). */
__attribute__((noinline, cold)) static int parse_version(const char *v, size_t len, int *maj,
                                                         int *min) {
  const char *dot = memchr(v, '.', len);
  return dot && version_number(v, dot, maj) && version_number(dot + 1, v + len, min);
}

/* Copies stream-level bindings, the stream element's name and its
 * xml:lang (decoded) out of the header's bytes, which are about to be
 * released, and makes room for the stanzas' forwarding context. */
static int persist_stream(xsr_parser *p, const char *b, const xsr_stream_header *h) {
  const xsr_node *el = &p->sc.nodes[0];
  const char *lang = h->lang.ptr;
  size_t lang_len = h->lang.len;
  if (lang && (h->escaped & XSR_ROUTE_LANG) &&
      !xsr__decode_value(p, lang, lang_len, &lang, &lang_len))
    return 0;
  uint32_t need = el->name_len + (uint32_t)lang_len; /* both within max_stanza */
  for (uint32_t i = 0; i < p->nbinds; i++)
    need += p->binds[i].prefix_len;
  uint32_t npre = 0; /* the forwarding context has room for each prefixed binding */
  for (uint32_t i = 0; i < p->nbinds; i++)
    npre += p->binds[i].prefix_len != 0;
  /* Both sized to what this stream needs, not rounded up: they are kept
   * for the stream's life, per connection. */
  if (need + 1 > p->arena_cap) {
    char *q = p->a.realloc(p->a.user, p->arena, need + 1);
    if (!q)
      return 0;
    p->arena = q;
    p->arena_cap = need + 1;
  }
  if (npre > p->capinh) {
    xsr_ns_decl *q = p->a.realloc(p->a.user, p->inh, npre * sizeof *q);
    if (!q)
      return 0;
    p->inh = q;
    p->capinh = npre;
  }
  p->arena_len = 0;
  memcpy(p->arena, b + el->off + 1, el->name_len);
  p->stream_qname_off = 0;
  p->stream_qname_len = el->name_len;
  p->arena_len = el->name_len;
  for (uint32_t i = 0; i < p->nbinds; i++) {
    binding *bd = &p->binds[i];
    memcpy(p->arena + p->arena_len, b + bd->prefix_off, bd->prefix_len);
    bd->prefix_off = p->arena_len;
    bd->persistent = 1;
    p->arena_len += bd->prefix_len;
  }
  p->nstream_binds = p->nbinds;
  p->stream_ns = h->content_ns;
  p->has_slang = lang != NULL;
  p->slang_off = p->arena_len;
  p->slang_len = (uint32_t)lang_len;
  if (lang_len)
    memcpy(p->arena + p->arena_len, lang, lang_len);
  p->arena_len += (uint32_t)lang_len;
  return 1;
}

/* Validates the stream element and builds the header view. */
static xsr_err check_header(xsr_parser *p, const char *b, xsr_stream_header *h) {
  const xsr_node *el = &p->sc.nodes[0];
  xsr_span local = {b + el->off + 1 + (el->prefix_len ? el->prefix_len + 1 : 0),
                    (size_t)el->name_len - (el->prefix_len ? el->prefix_len + 1 : 0)};
  if (el->ns != XSR_NS_STREAMS || local.len != 6 || memcmp(local.ptr, "stream", 6) != 0)
    return XSR_ESTREAMNS;
  uint32_t def = xsr__resolve(p, b, "", 0);
  unsigned bit = def == XSR_NS_CLIENT      ? XSR_ACCEPT_CLIENT
                 : def == XSR_NS_SERVER    ? XSR_ACCEPT_SERVER
                 : def == XSR_NS_COMPONENT ? XSR_ACCEPT_COMPONENT
                                           : 0;
  if (!(bit & p->cfg.accept))
    return XSR_ECONTENTNS;
  memset(h, 0, sizeof *h);
  h->prefix.ptr = b + el->off + 1;
  h->prefix.len = el->prefix_len;
  h->content_ns = def;
  h->version_major = h->version_minor = -1;
  for (int k = 0; k < 5; k++)
    p->route[k] = NONE32;
  for (uint32_t i = el->attr_first; i < el->attr_first + el->attr_count; i++) {
    const xsr_attr *a = &p->sc.attrs[i];
    const char *an = b + a->name_off;
    if (a->prefix_len == 0) {
      if (a->name_len == 2 && memcmp(an, "to", 2) == 0)
        p->route[0] = i;
      else if (a->name_len == 4 && memcmp(an, "from", 4) == 0)
        p->route[1] = i;
      else if (a->name_len == 2 && memcmp(an, "id", 2) == 0)
        p->route[2] = i;
      else if (a->name_len == 7 && memcmp(an, "version", 7) == 0)
        p->route[3] = i;
    } else if (a->ns == XSR_NS_XML && a->name_len == 8 && memcmp(an + 4, "lang", 4) == 0) {
      p->route[4] = i;
    }
  }
  h->to = route_span(p, b, 0, &h->escaped);
  h->from = route_span(p, b, 1, &h->escaped);
  h->id = route_span(p, b, 2, &h->escaped);
  h->version = route_span(p, b, 3, &h->escaped);
  h->lang = route_span(p, b, 4, &h->escaped);
  if (h->version.ptr) {
    const char *v = h->version.ptr;
    size_t vlen = h->version.len;
    if (h->escaped & XSR_ROUTE_VERSION) {
      if (!xsr__decode_value(p, v, vlen, &v, &vlen))
        return XSR_ENOMEM;
    }
    if (!parse_version(v, vlen, &h->version_major, &h->version_minor))
      return XSR_EBADVERSION;
    if (h->version_major > 1)
      return XSR_EVERSION;
  }
  return XSR_OK;
}

/* Parses the XML declaration [d, e) = "<?xml ... ?>" strictly. */
static xsr_err check_xmldecl(const char *d, const char *e, const char **errp) {
  const char *s = d + 5;   /* after "<?xml" */
  const char *end = e - 2; /* at "?>" */
  static const char *const names[3] = {"version", "encoding", "standalone"};
  int seen = 0; /* index of the next pseudo-attribute allowed */
  for (;;) {
    const char *ws0 = s;
    while (s < end && is_ws((unsigned char)*s))
      s++;
    if (s == end)
      break;
    if (s == ws0) {
      *errp = s;
      return XSR_EXMLDECL;
    }
    int k;
    size_t nl = 0;
    for (k = seen; k < 3; k++) {
      nl = strlen(names[k]);
      if ((size_t)(end - s) >= nl && memcmp(s, names[k], nl) == 0)
        break;
    }
    if (k == 3 || (k > 0 && seen == 0)) {
      *errp = s;
      return XSR_EXMLDECL;
    }
    s += nl;
    while (s < end && is_ws((unsigned char)*s))
      s++;
    if (s == end || *s != '=') {
      *errp = s;
      return XSR_EXMLDECL;
    }
    s++;
    while (s < end && is_ws((unsigned char)*s))
      s++;
    if (s == end || (*s != '"' && *s != '\'')) {
      *errp = s;
      return XSR_EXMLDECL;
    }
    char q = *s++;
    const char *v = s;
    while (s < end && *s != q)
      s++;
    if (s == end) {
      *errp = s;
      return XSR_EXMLDECL;
    }
    size_t vl = (size_t)(s - v);
    if (k == 0) { /* VersionNum ::= '1.' [0-9]+ */
      int ok = vl >= 3 && v[0] == '1' && v[1] == '.';
      for (size_t i = 2; ok && i < vl; i++)
        ok = v[i] >= '0' && v[i] <= '9';
      if (!ok) {
        *errp = v;
        return XSR_EXMLDECL;
      }
    } else if (k == 1) { /* EncName ::= [A-Za-z] ([A-Za-z0-9._] | '-')* */
      int ok = vl > 0 && ((v[0] | 0x20) >= 'a' && (v[0] | 0x20) <= 'z');
      for (size_t i = 1; ok && i < vl; i++) {
        char c = v[i];
        ok = ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
             c == '_' || c == '-';
      }
      if (!ok) {
        *errp = v;
        return XSR_EXMLDECL;
      }
      if (!(vl == 5 && (v[0] | 0x20) == 'u' && (v[1] | 0x20) == 't' && (v[2] | 0x20) == 'f' &&
            v[3] == '-' && v[4] == '8')) {
        *errp = v;
        return XSR_EENCODING;
      }
    } else {
      if (!((vl == 3 && memcmp(v, "yes", 3) == 0) || (vl == 2 && memcmp(v, "no", 2) == 0))) {
        *errp = v;
        return XSR_EXMLDECL;
      }
    }
    s++; /* closing quote */
    seen = k + 1;
  }
  if (seen == 0) {
    *errp = s;
    return XSR_EXMLDECL;
  }
  return XSR_OK;
}

#endif /* XSR_PARSER_VIEWS_H */
