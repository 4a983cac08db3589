/* SPDX-License-Identifier: MIT */
/*
 * Canonical serialisation of stanza views, for the conformance logs.
 *
 * The form is built from the index alone (nodes, attributes, namespace ids
 * turned into URIs, values decoded with xsr_decode_*), so comparing it with a
 * hand-written expectation checks the index, the namespace resolution and the
 * decoders at once.  While walking, every claim the index makes is checked
 * against the raw bytes (names really sit where the index says, quotes
 * surround values, end tags match, flags agree with the decoded values), and
 * the lookup helpers are cross-checked against the walk.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsr_test.h"

/* ---- tbuf --------------------------------------------------------------- */

void tbuf_add(tbuf *b, const void *data, size_t len) {
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + len + 1)
      cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np)
      abort();
    b->p = np;
    b->cap = cap;
  }
  if (len)
    memcpy(b->p + b->len, data, len);
  b->len += len;
  b->p[b->len] = '\0';
}

void tbuf_puts(tbuf *b, const char *s) { tbuf_add(b, s, strlen(s)); }

void tbuf_printf(tbuf *b, const char *fmt, ...) {
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof small) {
    tbuf_add(b, small, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big)
    abort();
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  tbuf_add(b, big, (size_t)n);
  free(big);
}

void tbuf_clear(tbuf *b) {
  b->len = 0;
  if (b->p)
    b->p[0] = '\0';
}

void tbuf_free(tbuf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

const char *tbuf_str(const tbuf *b) { return b->p ? b->p : ""; }

/* ---- escaping ------------------------------------------------------------ */

void xt_escape(tbuf *out, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '&':
      tbuf_puts(out, "&amp;");
      break;
    case '<':
      tbuf_puts(out, "&lt;");
      break;
    case '>':
      tbuf_puts(out, "&gt;");
      break;
    case '"':
      tbuf_puts(out, "&quot;");
      break;
    default:
      if (c < 0x20 || c == 0x7f)
        tbuf_printf(out, "&#%u;", c);
      else
        tbuf_add(out, &s[i], 1);
    }
  }
}

/* ---- decoding with checks ------------------------------------------------ */

enum { DEC_TEXT, DEC_CDATA, DEC_ATTR };

static const char *dec_kind_name(int kind) {
  return kind == DEC_TEXT    ? "xsr_decode_text"
         : kind == DEC_CDATA ? "xsr_decode_cdata"
                             : "xsr_decode_attr";
}

static xsr_err dec_call(int kind, xsr_span raw, char *out, size_t cap, size_t *olen) {
  switch (kind) {
  case DEC_TEXT:
    return xsr_decode_text(raw, out, cap, olen);
  case DEC_CDATA:
    return xsr_decode_cdata(raw, out, cap, olen);
  default:
    return xsr_decode_attr(raw, out, cap, olen);
  }
}

/* Decodes `raw` into a malloc'd buffer (caller frees); checks the ENOSPC
 * protocol and that cap == raw.len suffices.  Returns NULL on failure. */
static char *decode(int kind, xsr_span raw, size_t *out_len, tbuf *problems, const char *what) {
  char *out = malloc(raw.len + 1);
  if (!out)
    abort();
  size_t n = (size_t)-1;
  xsr_err e = dec_call(kind, raw, out, raw.len, &n);
  if (e != XSR_OK || n > raw.len) {
    tbuf_printf(problems, "%s of %s (%zu raw bytes) returned %s, length %zu\n", dec_kind_name(kind),
                what, raw.len, xsr_err_name(e), n);
    free(out);
    return NULL;
  }
  if (n > 0) {
    char *small = malloc(n);
    if (!small)
      abort();
    size_t need = 0;
    xsr_err e2 = dec_call(kind, raw, small, n - 1, &need);
    if (e2 != XSR_ENOSPC || need != n)
      tbuf_printf(problems,
                  "%s of %s with cap %zu: got %s and length %zu, want XSR_ENOSPC and %zu\n",
                  dec_kind_name(kind), what, n - 1, xsr_err_name(e2), need, n);
    free(small);
  }
  out[n] = '\0';
  *out_len = n;
  return out;
}

/* ---- names --------------------------------------------------------------- */

static void put_name(const xsr_parser *p, tbuf *out, uint32_t ns, xsr_span local, tbuf *problems) {
  if (ns != XSR_NS_NONE) {
    xsr_span uri = xsr_parser_ns_uri(p, ns);
    if (!uri.ptr) {
      tbuf_printf(problems, "namespace id %u has no URI\n", (unsigned)ns);
      tbuf_printf(out, "{?%u}", (unsigned)ns);
    } else {
      tbuf_puts(out, "{");
      tbuf_add(out, uri.ptr, uri.len);
      tbuf_puts(out, "}");
    }
  }
  tbuf_add(out, local.ptr, local.len);
}

static int span_eq(xsr_span a, xsr_span b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int is_xml_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* ---- attributes ---------------------------------------------------------- */

/* Checks attribute `a` of the element whose start tag is raw[start..tag_end)
 * and appends ` name="value"`. */
static void put_attr(const xsr_parser *p, const xsr_stanza *st, const xsr_attr *a, size_t start,
                     size_t tag_end, tbuf *out, tbuf *problems) {
  const char *raw = st->raw.ptr;
  if (a->name_off <= start || (size_t)a->name_off + a->name_len > tag_end ||
      a->value_off < (size_t)a->name_off + a->name_len + 2 ||
      (size_t)a->value_off + a->value_len >= tag_end) {
    tbuf_printf(problems,
                "attribute at %u (name %u+%u, value %u+%u) outside its start tag %zu..%zu\n",
                (unsigned)a->name_off, (unsigned)a->name_off, (unsigned)a->name_len,
                (unsigned)a->value_off, (unsigned)a->value_len, start, tag_end);
    tbuf_puts(out, " ?attr?");
    return;
  }
  if (a->name_len == 0 || (a->prefix_len && (a->prefix_len + 1u >= a->name_len ||
                                             raw[a->name_off + a->prefix_len] != ':')))
    tbuf_printf(problems, "attribute name at %u: bad prefix_len %u / name_len %u\n",
                (unsigned)a->name_off, (unsigned)a->prefix_len, (unsigned)a->name_len);
  if (!a->prefix_len && a->ns != XSR_NS_NONE)
    tbuf_printf(problems, "unprefixed attribute %.*s has namespace id %u (want none)\n",
                (int)a->name_len, raw + a->name_off, (unsigned)a->ns);
  char q = raw[a->value_off - 1];
  if ((q != '"' && q != '\'') || raw[a->value_off + a->value_len] != q)
    tbuf_printf(problems, "attribute value at %u+%u is not between matching quotes\n",
                (unsigned)a->value_off, (unsigned)a->value_len);
  /* name, optional space, '=', optional space, quote */
  size_t i = (size_t)a->name_off + a->name_len;
  while (i < a->value_off && is_xml_space(raw[i]))
    i++;
  if (raw[i] != '=')
    tbuf_printf(problems, "no '=' after attribute name at %u\n", (unsigned)a->name_off);
  if (is_xml_space(raw[a->name_off - 1]) == 0)
    tbuf_printf(problems, "attribute name at %u is not preceded by white space\n",
                (unsigned)a->name_off);

  xsr_span vraw = xsr_stanza_attr_raw(st, a);
  size_t dlen = 0;
  char *dec = decode(DEC_ATTR, vraw, &dlen, problems, "an attribute value");
  tbuf_puts(out, " ");
  put_name(p, out, a->ns, xsr_stanza_attr_name(st, a), problems);
  tbuf_puts(out, "=\"");
  if (dec) {
    int differs = !(dlen == vraw.len && memcmp(dec, vraw.ptr, dlen) == 0);
    if (differs != !!(a->flags & XSR_F_ESCAPED))
      tbuf_printf(problems,
                  "attribute %.*s: XSR_F_ESCAPED is %s but the decoded value %s the raw one\n",
                  (int)a->name_len, raw + a->name_off, (a->flags & XSR_F_ESCAPED) ? "set" : "clear",
                  differs ? "differs from" : "equals");
    xt_escape(out, dec, dlen);
    free(dec);
  } else {
    tbuf_puts(out, "?");
  }
  tbuf_puts(out, "\"");
}

/* ---- elements ------------------------------------------------------------ */

typedef struct walk {
  const xsr_parser *p;
  const xsr_stanza *st;
  tbuf *out;
  tbuf *problems;
  size_t visited;
  size_t last; /* last node index visited, for the pre-order check */
  unsigned attrs_seen;
} walk;

static void put_node(walk *w, size_t i);

/* The end of the start tag of element node n: index of its '>'. */
static size_t start_tag_end(const xsr_stanza *st, const xsr_node *n) {
  /* Quotes may hold '>' so skip quoted values. */
  size_t end = (size_t)n->off + n->len;
  char q = 0;
  for (size_t i = (size_t)n->off + 1 + n->name_len; i < end; i++) {
    char c = st->raw.ptr[i];
    if (q) {
      if (c == q)
        q = 0;
    } else if (c == '"' || c == '\'') {
      q = c;
    } else if (c == '>') {
      return i;
    }
  }
  return end;
}

static void put_element(walk *w, size_t i) {
  const xsr_stanza *st = w->st;
  const xsr_node *n = &st->nodes[i];
  const char *raw = st->raw.ptr;
  tbuf *problems = w->problems;
  if (raw[n->off] != '<' || raw[(size_t)n->off + n->len - 1] != '>')
    tbuf_printf(problems, "element node %zu (%u+%u) does not run from '<' to '>'\n", i,
                (unsigned)n->off, (unsigned)n->len);
  if (n->name_len == 0 || (size_t)n->name_len + 2 > n->len ||
      (n->prefix_len &&
       (n->prefix_len + 1u >= n->name_len || raw[n->off + 1 + n->prefix_len] != ':'))) {
    tbuf_printf(problems, "element node %zu: bad name_len %u / prefix_len %u\n", i,
                (unsigned)n->name_len, (unsigned)n->prefix_len);
    tbuf_puts(w->out, "<?>");
    return;
  }
  xsr_span qname = {raw + n->off + 1, n->name_len};
  size_t tag_end = start_tag_end(st, n);
  size_t end = (size_t)n->off + n->len;
  int empty_tag = tag_end > 0 && raw[tag_end - 1] == '/';
  if (tag_end >= end)
    tbuf_printf(problems, "element node %zu: no '>' for the start tag\n", i);

  tbuf_puts(w->out, "<");
  put_name(w->p, w->out, n->ns, xsr_stanza_node_name(st, n), problems);
  if ((size_t)n->attr_first + n->attr_count > st->attr_count) {
    tbuf_printf(problems, "element node %zu: attributes %u+%u beyond attr_count %zu\n", i,
                (unsigned)n->attr_first, (unsigned)n->attr_count, st->attr_count);
  } else {
    if (n->attr_count && n->attr_first != w->attrs_seen)
      tbuf_printf(problems,
                  "element node %zu: attr_first %u, want %u (attributes in document order)\n", i,
                  (unsigned)n->attr_first, w->attrs_seen);
    w->attrs_seen = n->attr_first + n->attr_count;
    for (size_t k = 0; k < n->attr_count; k++) {
      const xsr_attr *a = &st->attrs[n->attr_first + k];
      if (k && a->name_off <= st->attrs[n->attr_first + k - 1].name_off)
        tbuf_printf(problems, "element node %zu: attributes not in document order\n", i);
      put_attr(w->p, st, a, n->off, tag_end, w->out, problems);
      /* find_attr must find exactly this attribute. */
      xsr_span local = xsr_stanza_attr_name(st, a);
      char nm[1100];
      if (local.len < sizeof nm) {
        memcpy(nm, local.ptr, local.len);
        nm[local.len] = '\0';
        if (xsr_stanza_find_attr(st, i, a->ns, nm) != a)
          tbuf_printf(problems, "xsr_stanza_find_attr(node %zu, ns %u, \"%s\") did not find it\n",
                      i, (unsigned)a->ns, nm);
      }
    }
  }

  size_t first = i + 1;
  int has_children = first < st->node_count && st->nodes[first].depth == n->depth + 1 &&
                     st->nodes[first].off > n->off && st->nodes[first].off < end;
  if (empty_tag && has_children)
    tbuf_printf(problems, "element node %zu is an empty-element tag but has children\n", i);
  if (!empty_tag) {
    /* The end tag: "</" qname S? ">" at the end of the element. */
    size_t lt = end;
    while (lt > tag_end && raw[lt - 1] != '<')
      lt--;
    if (lt <= tag_end || raw[lt] != '/' || (size_t)(end - lt) < n->name_len + 2u ||
        memcmp(raw + lt + 1, qname.ptr, qname.len) != 0)
      tbuf_printf(problems, "element node %zu: its last bytes are not the end tag </%.*s>\n", i,
                  (int)qname.len, qname.ptr);
  }
  if (!has_children) {
    tbuf_puts(w->out, "/>");
    return;
  }
  tbuf_puts(w->out, ">");

  /* Children: first is i+1, then follow `next`; check find_child and the
   * element's text on the way. */
  tbuf text = {0};
  int text_ok = 1;
  size_t c = first;
  while (c) {
    if (c >= st->node_count || c <= w->last) {
      tbuf_printf(problems,
                  "node %zu: child/next index %zu breaks pre-order (last %zu, count %zu)\n", i, c,
                  w->last, st->node_count);
      break;
    }
    const xsr_node *cn = &st->nodes[c];
    if (cn->depth != n->depth + 1)
      tbuf_printf(problems, "node %zu (child of %zu): depth %u, want %u\n", c, i,
                  (unsigned)cn->depth, (unsigned)n->depth + 1);
    if (cn->off <= n->off || (size_t)cn->off + cn->len > end)
      tbuf_printf(problems, "node %zu (%u+%u) lies outside its parent %zu (%u+%u)\n", c,
                  (unsigned)cn->off, (unsigned)cn->len, i, (unsigned)n->off, (unsigned)n->len);
    if (cn->kind != XSR_NODE_ELEMENT && text_ok) {
      xsr_span r = xsr_stanza_node_raw(st, cn);
      size_t dl = 0;
      char *d = decode(cn->kind == XSR_NODE_CDATA ? DEC_CDATA : DEC_TEXT, r, &dl, problems,
                       "a text node");
      if (d) {
        tbuf_add(&text, d, dl);
        free(d);
      } else {
        text_ok = 0;
      }
    }
    put_node(w, c);
    c = cn->next;
  }
  /* find_child: for each child element, the first child with its (ns, name). */
  for (size_t a = first; a; a = (a < st->node_count) ? st->nodes[a].next : 0) {
    if (a >= st->node_count)
      break;
    const xsr_node *an = &st->nodes[a];
    if (an->kind != XSR_NODE_ELEMENT)
      continue;
    xsr_span ln = xsr_stanza_node_name(st, an);
    char nm[1100];
    if (ln.len >= sizeof nm)
      continue;
    memcpy(nm, ln.ptr, ln.len);
    nm[ln.len] = '\0';
    size_t want = 0;
    for (size_t b = first; b && b < st->node_count; b = st->nodes[b].next) {
      const xsr_node *bn = &st->nodes[b];
      xsr_span bl = xsr_stanza_node_name(st, bn);
      if (bn->kind == XSR_NODE_ELEMENT && bn->ns == an->ns && span_eq(bl, ln)) {
        want = b;
        break;
      }
    }
    size_t got = xsr_stanza_find_child(st, i, an->ns, nm);
    if (got != want)
      tbuf_printf(problems, "xsr_stanza_find_child(%zu, %u, \"%s\") = %zu, want %zu\n", i,
                  (unsigned)an->ns, nm, got, want);
    /* name NULL: the first child element in that namespace */
    size_t want_any = 0;
    for (size_t b = first; b && b < st->node_count; b = st->nodes[b].next)
      if (st->nodes[b].kind == XSR_NODE_ELEMENT && st->nodes[b].ns == an->ns) {
        want_any = b;
        break;
      }
    size_t got_any = xsr_stanza_find_child(st, i, an->ns, NULL);
    if (got_any != want_any)
      tbuf_printf(problems, "xsr_stanza_find_child(%zu, %u, NULL) = %zu, want %zu\n", i,
                  (unsigned)an->ns, got_any, want_any);
  }
  /* xsr_stanza_text = the decoded direct text and CDATA children. */
  if (text_ok) {
    size_t cap = n->len;
    char *tx = malloc(cap + 1);
    if (!tx)
      abort();
    size_t tl = 0;
    xsr_err e = xsr_stanza_text(st, i, tx, cap, &tl);
    if (e != XSR_OK || tl != text.len || (tl && memcmp(tx, text.p, tl) != 0))
      tbuf_printf(problems, "xsr_stanza_text(node %zu) = %s \"%.*s\", want \"%s\"\n", i,
                  xsr_err_name(e), e == XSR_OK ? (int)tl : 0, tx, tbuf_str(&text));
    free(tx);
  }
  tbuf_free(&text);

  tbuf_puts(w->out, "</");
  put_name(w->p, w->out, n->ns, xsr_stanza_node_name(st, n), problems);
  tbuf_puts(w->out, ">");
}

static void put_text(walk *w, size_t i) {
  const xsr_stanza *st = w->st;
  const xsr_node *n = &st->nodes[i];
  const char *raw = st->raw.ptr;
  xsr_span r = xsr_stanza_node_raw(st, n);
  int cdata = n->kind == XSR_NODE_CDATA;
  if (cdata) {
    if (n->off < 9 || memcmp(raw + n->off - 9, "<![CDATA[", 9) != 0 ||
        (size_t)n->off + n->len + 3 > st->raw.len || memcmp(raw + n->off + n->len, "]]>", 3) != 0)
      tbuf_printf(w->problems, "CDATA node %zu (%u+%u) is not inside <![CDATA[ ]]>\n", i,
                  (unsigned)n->off, (unsigned)n->len);
  } else {
    if (n->len == 0)
      tbuf_printf(w->problems, "text node %zu is empty\n", i);
    for (size_t k = 0; k < n->len; k++)
      if (r.ptr[k] == '<')
        tbuf_printf(w->problems, "text node %zu holds a '<'\n", i);
    /* Adjacent character data and references form one node. */
    if (n->off > 0 && raw[n->off - 1] != '>')
      tbuf_printf(w->problems, "text node %zu does not start right after markup\n", i);
    if ((size_t)n->off + n->len < st->raw.len && raw[n->off + n->len] != '<')
      tbuf_printf(w->problems, "text node %zu does not end right before markup\n", i);
  }
  size_t dl = 0;
  char *d = decode(cdata ? DEC_CDATA : DEC_TEXT, r, &dl, w->problems, "a text node");
  if (!d) {
    tbuf_puts(w->out, "?");
    return;
  }
  int differs = !(dl == r.len && memcmp(d, r.ptr, dl) == 0);
  if (differs != !!(n->flags & XSR_F_ESCAPED))
    tbuf_printf(w->problems,
                "%s node %zu: XSR_F_ESCAPED is %s but the decoded value %s the raw one\n",
                cdata ? "CDATA" : "text", i, (n->flags & XSR_F_ESCAPED) ? "set" : "clear",
                differs ? "differs from" : "equals");
  if (cdata)
    tbuf_puts(w->out, "<![CDATA[");
  xt_escape(w->out, d, dl);
  if (cdata)
    tbuf_puts(w->out, "]]>");
  free(d);
}

static void put_node(walk *w, size_t i) {
  if (w->visited && i <= w->last) {
    tbuf_printf(w->problems, "node %zu visited out of pre-order (after %zu)\n", i, w->last);
    return;
  }
  if (w->visited && i != w->last + 1)
    tbuf_printf(w->problems, "node %zu follows node %zu in the walk: nodes skipped\n", i, w->last);
  w->visited++;
  w->last = i;
  const xsr_node *n = &w->st->nodes[i];
  if ((size_t)n->off + n->len > w->st->raw.len) {
    tbuf_printf(w->problems, "node %zu (%u+%u) runs past the stanza (%zu bytes)\n", i,
                (unsigned)n->off, (unsigned)n->len, w->st->raw.len);
    tbuf_puts(w->out, "?");
    return;
  }
  switch (n->kind) {
  case XSR_NODE_ELEMENT:
    put_element(w, i);
    break;
  case XSR_NODE_TEXT:
  case XSR_NODE_CDATA:
    put_text(w, i);
    break;
  default:
    tbuf_printf(w->problems, "node %zu has kind %u\n", i, (unsigned)n->kind);
  }
}

/* Checks a routing span against the unprefixed attribute `name` (or
 * xml:lang) of node 0. */
static void check_route(const xsr_stanza *st, xsr_span v, uint32_t ns, const char *name,
                        unsigned escaped, unsigned bit, tbuf *problems) {
  const xsr_attr *a = NULL;
  const xsr_node *n0 = &st->nodes[0];
  for (size_t k = 0; k < n0->attr_count && (size_t)n0->attr_first + k < st->attr_count; k++) {
    const xsr_attr *c = &st->attrs[n0->attr_first + k];
    xsr_span ln = xsr_stanza_attr_name(st, c);
    if (c->ns == ns && ln.len == strlen(name) && memcmp(ln.ptr, name, ln.len) == 0) {
      a = c;
      break;
    }
  }
  if (!a) {
    if (v.ptr)
      tbuf_printf(problems, "routing span %s is set but the element has no such attribute\n", name);
    if (escaped & bit)
      tbuf_printf(problems, "escaped bit for %s set but the attribute is absent\n", name);
    return;
  }
  xsr_span r = xsr_stanza_attr_raw(st, a);
  if (v.ptr != r.ptr || v.len != r.len) {
    tbuf_printf(problems, "routing span %s does not point at the attribute's raw value\n", name);
    return;
  }
  int differs = !!(a->flags & XSR_F_ESCAPED);
  if (bit && differs != !!(escaped & bit))
    tbuf_printf(problems, "escaped bit for %s is %s but the value %s decoding\n", name,
                (escaped & bit) ? "set" : "clear", differs ? "needs" : "does not need");
}

void xt_canon_stanza(const xsr_parser *p, const xsr_stanza *st, tbuf *out, tbuf *problems) {
  xsr_stanza indexed_ = *st; /* the index is built on demand */
  if (xsr_stanza_index(&indexed_) == XSR_OK)
    st = &indexed_;
  if (!st->nodes || st->node_count == 0) {
    tbuf_puts(problems, "stanza view has no nodes\n");
    tbuf_puts(out, "?");
    return;
  }
  const xsr_node *n0 = &st->nodes[0];
  if (n0->kind != XSR_NODE_ELEMENT || n0->depth != 1 || n0->off != 0 || n0->len != st->raw.len)
    tbuf_printf(problems, "node 0 (kind %u depth %u %u+%u) is not the whole stanza (%zu bytes)\n",
                (unsigned)n0->kind, (unsigned)n0->depth, (unsigned)n0->off, (unsigned)n0->len,
                st->raw.len);
  if (n0->next != 0)
    tbuf_printf(problems, "node 0 has a next sibling %u\n", (unsigned)n0->next);
  if (n0->kind == XSR_NODE_ELEMENT && n0->name_len > 0 &&
      (size_t)n0->off + n0->len <= st->raw.len) {
    xsr_span ln = xsr_stanza_node_name(st, n0);
    xsr_span pf = {st->raw.ptr + 1, n0->prefix_len};
    if (!span_eq(ln, st->name))
      tbuf_printf(problems, "stanza name \"%.*s\" is not node 0's \"%.*s\"\n", (int)st->name.len,
                  st->name.ptr, (int)ln.len, ln.ptr);
    if (!span_eq(pf, st->prefix))
      tbuf_printf(problems, "stanza prefix \"%.*s\" is not node 0's \"%.*s\"\n",
                  (int)st->prefix.len, st->prefix.ptr ? st->prefix.ptr : "", (int)pf.len, pf.ptr);
    if (st->ns != n0->ns)
      tbuf_printf(problems, "stanza ns %u is not node 0's %u\n", (unsigned)st->ns,
                  (unsigned)n0->ns);
    check_route(st, st->to, XSR_NS_NONE, "to", st->escaped, XSR_ROUTE_TO, problems);
    check_route(st, st->from, XSR_NS_NONE, "from", st->escaped, XSR_ROUTE_FROM, problems);
    check_route(st, st->id, XSR_NS_NONE, "id", st->escaped, XSR_ROUTE_ID, problems);
    check_route(st, st->type, XSR_NS_NONE, "type", st->escaped, XSR_ROUTE_TYPE, problems);
    check_route(st, st->lang, XSR_NS_XML, "lang", st->escaped, XSR_ROUTE_LANG, problems);
  }
  walk w = {p, st, out, problems, 0, 0, 0};
  put_node(&w, 0);
  if (w.visited != st->node_count)
    tbuf_printf(problems, "the walk from node 0 reached %zu of %zu nodes\n", w.visited,
                st->node_count);
  if (w.attrs_seen != st->attr_count)
    tbuf_printf(problems, "the elements list %u of %zu attributes\n", w.attrs_seen, st->attr_count);
}

static void put_field(tbuf *out, const char *key, xsr_span v, int check, unsigned escaped,
                      unsigned bit, tbuf *problems) {
  if (!v.ptr)
    return;
  size_t dl = 0;
  char *d = decode(DEC_ATTR, v, &dl, problems, key);
  tbuf_printf(out, " %s=\"", key);
  if (d) {
    xt_escape(out, d, dl);
    int differs = !(dl == v.len && memcmp(d, v.ptr, dl) == 0);
    if (check && differs != !!(escaped & bit))
      tbuf_printf(problems, "header escaped bit for %s is %s but the value %s decoding\n", key,
                  (escaped & bit) ? "set" : "clear", differs ? "needs" : "does not need");
    free(d);
  }
  tbuf_puts(out, "\"");
}

void xt_canon_header(const xsr_parser *p, const xsr_stream_header *h, tbuf *out, tbuf *problems) {
  tbuf_printf(out, "@%llu prefix=", (unsigned long long)h->offset);
  if (h->prefix.len)
    tbuf_add(out, h->prefix.ptr, h->prefix.len);
  xsr_span ns = xsr_parser_ns_uri(p, h->content_ns);
  if (h->content_ns != XSR_NS_CLIENT && h->content_ns != XSR_NS_SERVER &&
      h->content_ns != XSR_NS_COMPONENT)
    tbuf_printf(problems, "header content_ns %u is not a content namespace\n",
                (unsigned)h->content_ns);
  tbuf_puts(out, " ns=");
  if (ns.ptr)
    tbuf_add(out, ns.ptr, ns.len);
  put_field(out, "to", h->to, 1, h->escaped, XSR_ROUTE_TO, problems);
  put_field(out, "from", h->from, 1, h->escaped, XSR_ROUTE_FROM, problems);
  put_field(out, "id", h->id, 1, h->escaped, XSR_ROUTE_ID, problems);
  put_field(out, "version", h->version, 0, 0, 0, problems);
  put_field(out, "lang", h->lang, 1, h->escaped, XSR_ROUTE_LANG, problems);
  if (h->version_major >= 0)
    tbuf_printf(out, " major=%d minor=%d", h->version_major, h->version_minor);
  else if (h->version.ptr)
    tbuf_puts(problems, "header has a version attribute but version_major < 0\n");
  if (!h->version.ptr && h->version_major != -1)
    tbuf_printf(problems, "header has no version but version_major is %d\n", h->version_major);

  /* The element view: its start tag, attributes included. */
  const xsr_stanza *el = h->element;
  if (!el || !el->nodes || el->node_count < 1) {
    tbuf_puts(problems, "header element view missing\n");
    return;
  }
  if (el->offset != h->offset)
    tbuf_printf(problems, "header element offset %llu != header offset %llu\n",
                (unsigned long long)el->offset, (unsigned long long)h->offset);
  const xsr_node *n0 = &el->nodes[0];
  tbuf_puts(out, " <");
  put_name(p, out, n0->ns, xsr_stanza_node_name(el, n0), problems);
  if (n0->ns != XSR_NS_STREAMS)
    tbuf_printf(problems, "stream element namespace %u is not the streams namespace\n",
                (unsigned)n0->ns);
  if (n0->prefix_len != h->prefix.len ||
      (h->prefix.len && memcmp(el->raw.ptr + n0->off + 1, h->prefix.ptr, h->prefix.len) != 0))
    tbuf_puts(problems, "header prefix differs from the element's prefix\n");
  size_t tag_end = el->raw.len;
  for (size_t k = 0; k < n0->attr_count && (size_t)n0->attr_first + k < el->attr_count; k++)
    put_attr(p, el, &el->attrs[n0->attr_first + k], n0->off, tag_end, out, problems);
  tbuf_puts(out, ">");
  check_route(el, h->to, XSR_NS_NONE, "to", h->escaped, XSR_ROUTE_TO, problems);
  check_route(el, h->from, XSR_NS_NONE, "from", h->escaped, XSR_ROUTE_FROM, problems);
  check_route(el, h->id, XSR_NS_NONE, "id", h->escaped, XSR_ROUTE_ID, problems);
  check_route(el, h->lang, XSR_NS_XML, "lang", h->escaped, XSR_ROUTE_LANG, problems);
  check_route(el, h->version, XSR_NS_NONE, "version", 0, 0, problems);
}
