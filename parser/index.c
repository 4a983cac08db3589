/* SPDX-License-Identifier: MIT */
/*
 * parser/index.c: the stanza's index (elements, attributes, texts), built
 * on demand from the bytes the scan accepted: xsr__parser_index, behind
 * xsr_stanza_index() and the accessors that need it.  It checks nothing;
 * every check is the scan's (parser.c).
 */
#include <string.h>

#include "core.h"

/*
 * THE INDEX, ON DEMAND.  Routing needs none of the index, so the scan keeps
 * only what its checks need (the open elements' slots, the attributes of
 * the start tag being parsed and the stanza element's) and a stanza view
 * carries no index; the first xsr_stanza_index() (or find_child,
 * find_attr, text) from the on_stanza callback builds it here, from the
 * stanza's bytes.  Those bytes were accepted by the scan, so this is a
 * plain walk that checks nothing: markup at each '<', a text node for each
 * run of other bytes, attribute values to their closing quote, and the
 * namespaces through the same bindings and interned ids (the stream's, in
 * p->binds below nbinds, and the stanza's own, pushed above them here and
 * dropped at the end).  It gives exactly the index the scan gives with
 * eager_index set: the fuzzers compare the two on every input.
 */

/* Byte classes of the walk: IX_END ends a name, IX_COLON. */
#define IX_END   1
#define IX_COLON 2
static const unsigned char ix_class[256] = {
    [' '] = IX_END, ['\t'] = IX_END, ['\n'] = IX_END, ['\r'] = IX_END,
    ['/'] = IX_END, ['>'] = IX_END,  ['='] = IX_END,  [':'] = IX_COLON};

/* The end of the name at s (validated: it ends before the tag does), and
 * its prefix length in *pl (0 when unprefixed). */
static inline const char *ix_name(const char *s, size_t *pl) {
  const char *n = s;
  unsigned c;
  *pl = 0;
  for (;;) { /* each read follows a name byte, so lies before the tag's end */
    if ((c = ix_class[(unsigned char)s[0]]))
      break;
    if ((c = ix_class[(unsigned char)s[1]])) {
      s += 1;
      break;
    }
    if ((c = ix_class[(unsigned char)s[2]])) {
      s += 2;
      break;
    }
    if ((c = ix_class[(unsigned char)s[3]])) {
      s += 3;
      break;
    }
    s += 4;
  }
  if (c & IX_COLON) { /* a QName has one colon, not at the end */
    *pl = (size_t)(s - n);
    s++;
    while (!(ix_class[(unsigned char)*s] & IX_END))
      s++;
  }
  return s;
}

static inline int ix_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static xsr_err build_index(xsr_parser *p, const char *r, size_t len) {
  const uint32_t nbinds0 = p->nbinds, defns0 = p->defns;
  const uint64_t inh0 = p->inh_used;
  const char *const e = r + len;
  xsr_err err = XSR_OK;
  unsigned depth = 0;
  const char *s = r;
  uint32_t idx;
  p->nnodes = p->nattrs = 0;
  p->sc.last[1] = 0;
  while (s < e) {
    if (*s != '<' || s[1] == '!') { /* character data, or <![CDATA[ ... ]]> */
      uint8_t kind = XSR_NODE_TEXT, flags = 0;
      const char *t, *end;
      if (*s == '<') {
        kind = XSR_NODE_CDATA;
        t = end = s + 9;
        for (;;) {
          end = scan_text(end, e, ']', '\r', ']');
          if (*end == '\r') {
            flags = XSR_F_ESCAPED;
            end++;
          } else if (end[1] == ']' && end[2] == '>') {
            break;
          } else {
            end++; /* a lone ']' or non-ASCII */
          }
        }
        s = end + 3;
      } else {
        /* memchr's: one call costs less than one of the text scanners
         * on the short texts of stanzas */
        t = s;
        end = memchr(t, '<', (size_t)(e - t));
        if (!end)
          end = e;
        if (memchr(t, '&', (size_t)(end - t)) || memchr(t, '\r', (size_t)(end - t)))
          flags = XSR_F_ESCAPED;
        s = end;
      }
      if (!xsr__push_node(p, &idx)) {
        err = XSR_ENOMEM;
        break;
      }
      p->sc.nodes[idx] = (xsr_node){.off = (uint32_t)(t - r),
                                    .len = (uint32_t)(end - t),
                                    .kind = kind,
                                    .flags = flags,
                                    .depth = (uint16_t)(depth + 1)};
      link_sibling(p, depth + 1, idx);
      continue;
    }
    if (s[1] == '/') { /* the end tag of the open element */
      const open_el *o = &p->sc.stack[depth];
      xsr_node *n = &p->sc.nodes[o->node];
      s += 2 + n->name_len;
      while (*s != '>')
        s++;
      s++;
      n->len = (uint32_t)(s - r) - n->off;
      p->nbinds = o->nbinds;
      p->defns = o->defns;
      depth--;
      continue;
    }
    /* A start tag. */
    unsigned d = depth + 1;
    if (!xsr__push_node(p, &idx)) {
      err = XSR_ENOMEM;
      break;
    }
    if (d >= 2)
      link_sibling(p, d, idx);
    p->sc.last[d + 1] = 0;
    size_t pl;
    const char *k = ix_name(s + 1, &pl);
    const uint32_t first = p->nattrs, nb = p->nbinds, dn = p->defns;
    p->sc.nodes[idx] = (xsr_node){.off = (uint32_t)(s - r),
                                  .attr_first = first,
                                  .name_len = (uint16_t)(k - (s + 1)),
                                  .prefix_len = (uint16_t)pl,
                                  .kind = XSR_NODE_ELEMENT,
                                  .depth = (uint16_t)d};
    int empty = 0, prefixed = 0;
    for (;;) {
      while (ix_ws((unsigned char)*k))
        k++;
      if (*k == '>') {
        k++;
        break;
      }
      if (*k == '/') {
        k += 2;
        empty = 1;
        break;
      }
      const char *an = k;
      size_t apl;
      k = ix_name(an, &apl);
      size_t alen = (size_t)(k - an);
      while (*k != '\'' && *k != '"')
        k++;
      const unsigned char q = (unsigned char)*k;
      const char *v = k + 1, *ve = v;
      uint8_t flags = 0;
      for (;;) { /* to the quote, past references and TAB/LF/CR (all below 0x20) */
        ve = scan3(ve, e, q, '&', q);
        if ((unsigned char)*ve == q)
          break;
        if ((unsigned char)*ve < 0x80)
          flags = XSR_F_ESCAPED;
        ve++;
      }
      k = ve + 1;
      size_t vlen = (size_t)(ve - v);
      if (is_xmlns_attr(an, alen, apl)) {
        /* A declaration (checked by the scan): bound as bind_ns did. */
        const char *pre = an + (apl ? 6 : 0);
        size_t pre_len = apl ? alen - 6 : 0;
        if (pre_len == 3 && memcmp(pre, "xml", 3) == 0)
          continue;
        const char *u = v;
        size_t ulen = vlen;
        if (flags && !xsr__decode_value(p, u, ulen, &u, &ulen)) {
          err = XSR_ENOMEM;
          break;
        }
        uint32_t ns = XSR_NS_NONE;
        if (ulen) {
          ns = ulen >= 8 ? ns_cached(p, ns_cache_slot(u, ulen), u, ulen) : NONE32;
          if (ns == NONE32)
            ns = xsr_parser_ns_find(p, u, ulen);
        }
        if (XSR_UNLIKELY(p->nbinds == p->capbinds) &&
            !grow(&p->a, (void **)&p->binds, &p->capbinds, p->nbinds + 1, sizeof *p->binds, 4)) {
          err = XSR_ENOMEM;
          break;
        }
        p->binds[p->nbinds++] = (binding){(uint32_t)(pre - r), (uint32_t)pre_len, ns, 0};
        if (pre_len == 0)
          p->defns = ns;
        continue;
      }
      if (XSR_UNLIKELY(p->nattrs == p->sc.capattrs) &&
          !grow(p->sa, (void **)&p->sc.attrs, &p->sc.capattrs, p->nattrs + 1, sizeof *p->sc.attrs,
                16)) {
        err = XSR_ENOMEM;
        break;
      }
      prefixed |= apl != 0;
      p->sc.attrs[p->nattrs++] = (xsr_attr){.name_off = (uint32_t)(an - r),
                                            .value_off = (uint32_t)(v - r),
                                            .value_len = (uint32_t)vlen,
                                            .name_len = (uint16_t)alen,
                                            .ns = XSR_NS_NONE, /* prefixed: below */
                                            .prefix_len = (uint16_t)apl,
                                            .flags = flags};
    }
    if (err)
      break;
    /* Namespaces, now that the tag's declarations are bound. */
    xsr_node *n = &p->sc.nodes[idx];
    n->ns = pl ? xsr__resolve(p, r, s + 1, pl) : p->defns;
    n->attr_count = (uint16_t)(p->nattrs - first);
    for (uint32_t a = first; prefixed && a < p->nattrs; a++) { /* unprefixed: XSR_NS_NONE */
      xsr_attr *at = &p->sc.attrs[a];
      if (at->prefix_len)
        at->ns = xsr__resolve(p, r, r + at->name_off, at->prefix_len);
    }
    if (empty) {
      n->len = (uint32_t)(k - s);
      p->nbinds = nb;
      p->defns = dn;
    } else {
      depth = d;
      p->sc.stack[d] = (open_el){idx, nb, dn};
    }
    s = k;
  }
  p->nbinds = nbinds0;
  p->defns = defns0;
  p->inh_used = inh0;
  return err;
}

xsr_err xsr__parser_index(xsr_parser *p, const xsr_stanza *st, const xsr_node **nodes,
                          size_t *node_count, const xsr_attr **attrs, size_t *attr_count) {
  *nodes = NULL;
  *attrs = NULL;
  *node_count = *attr_count = 0;
  /* Only the view of the stanza being reported, during its callback. */
  if (!p->in_cb || p->view_raw != st->raw.ptr || p->view_off != st->offset)
    return XSR_EINVAL;
  if (!p->index_ready) {
    xsr_err err = build_index(p, st->raw.ptr, st->raw.len);
    if (err)
      return err;
    p->index_ready = 1;
  }
  *nodes = p->sc.nodes;
  *node_count = p->nnodes;
  *attrs = p->sc.attrs;
  *attr_count = p->nattrs;
  return XSR_OK;
}

void xsr__parser_eager_index(xsr_parser *p, int on) { p->eager_index = on ? 1 : 0; }
