/* SPDX-License-Identifier: MIT */
/*
 * parser/stanza.c: walking stanza views and decoding text on demand.
 *
 * The decoders trust their input: it was accepted by the parser, so every
 * '&' starts a well-formed reference to a valid character.  They still
 * never read outside the span they are given, so a caller passing bytes
 * the parser never saw gets garbage out, not a crash.
 */
#include <string.h>

#include "internal.h"

static const char *const wellknown[] = {
#define XSR__NS_URI(name, uri) uri,
    XSR_NS_MAP(XSR__NS_URI)
#undef XSR__NS_URI
};

const char *xsr_ns_wellknown_uri(uint32_t ns) {
  return ns < XSR_NS_FIRST_DYNAMIC ? wellknown[ns] : NULL;
}

static int span_eq(const char *p, size_t n, const char *z) {
  size_t zl = strlen(z);
  return n == zl && memcmp(p, z, n) == 0;
}

/* The view with its index: st itself when it carries one, else a copy
 * pointing at the index the parser builds on demand (empty when that
 * failed: *err says why). */
static const xsr_stanza *indexed(const xsr_stanza *st, xsr_stanza *tmp, xsr_err *err) {
  *err = XSR_OK;
  if (st->nodes || !st->index_parser_)
    return st;
  *tmp = *st;
  *err = xsr__parser_index(st->index_parser_, st, &tmp->nodes, &tmp->node_count, &tmp->attrs,
                           &tmp->attr_count);
  return tmp;
}

xsr_err xsr_stanza_index(xsr_stanza *st) {
  if (st->nodes || !st->index_parser_)
    return XSR_OK;
  xsr_stanza v = *st;
  xsr_err err = xsr__parser_index(st->index_parser_, &v, &st->nodes, &st->node_count, &st->attrs,
                                  &st->attr_count);
  if (err == XSR_OK)
    st->index_parser_ = NULL; /* the view carries it now */
  return err;
}

const xsr_node *xsr_stanza_nodes(const xsr_stanza *st, size_t *count) {
  xsr_stanza tmp;
  xsr_err err;
  st = indexed(st, &tmp, &err);
  *count = st->node_count;
  return st->nodes;
}

const xsr_attr *xsr_stanza_attrs(const xsr_stanza *st, size_t *count) {
  xsr_stanza tmp;
  xsr_err err;
  st = indexed(st, &tmp, &err);
  *count = st->attr_count;
  return st->attrs;
}

const xsr_attr *xsr_stanza_find_attr(const xsr_stanza *st, size_t el, uint32_t ns,
                                     const char *name) {
  xsr_stanza tmp;
  xsr_err err;
  st = indexed(st, &tmp, &err);
  if (el >= st->node_count || st->nodes[el].kind != XSR_NODE_ELEMENT)
    return NULL;
  const xsr_node *n = &st->nodes[el];
  for (uint32_t i = n->attr_first; i < n->attr_first + n->attr_count && i < st->attr_count; i++) {
    const xsr_attr *a = &st->attrs[i];
    if (a->ns != ns)
      continue;
    xsr_span ln = xsr_stanza_attr_name(st, a);
    if (span_eq(ln.ptr, ln.len, name))
      return a;
  }
  return NULL;
}

size_t xsr_stanza_find_child(const xsr_stanza *st, size_t el, uint32_t ns, const char *name) {
  xsr_stanza tmp;
  xsr_err err;
  st = indexed(st, &tmp, &err);
  if (el >= st->node_count || el + 1 >= st->node_count || st->nodes[el].kind != XSR_NODE_ELEMENT)
    return 0;
  unsigned child_depth = st->nodes[el].depth + 1u;
  size_t i = el + 1;
  if (st->nodes[i].depth != child_depth)
    return 0;
  for (;;) {
    const xsr_node *c = &st->nodes[i];
    if (c->kind == XSR_NODE_ELEMENT && c->ns == ns) {
      if (!name)
        return i;
      xsr_span ln = xsr_stanza_node_name(st, c);
      if (span_eq(ln.ptr, ln.len, name))
        return i;
    }
    if (!c->next || c->next >= st->node_count)
      return 0;
    i = c->next;
  }
}

size_t xsr__decode_ref(const char *s, const char *e, char *out, size_t *out_len) {
  /* s[0] == '&' */
  const char *semi = memchr(s, ';', (size_t)(e - s));
  if (!semi) {
    out[0] = '&';
    *out_len = 1;
    return 1;
  }
  size_t len = (size_t)(semi - s) + 1;
  if (s + 1 < e && s[1] == '#') {
    uint32_t v = 0;
    const char *q = s + 2;
    int hex = q < semi && *q == 'x';
    if (hex)
      q++;
    for (; q < semi; q++) {
      unsigned c = (unsigned char)*q, d;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else
        d = (c | 0x20) - 'a' + 10;
      v = v * (hex ? 16 : 10) + d;
      if (v > 0x10FFFF)
        v = 0xFFFD;
    }
    *out_len = xsr__utf8_encode(v, out);
    return len;
  }
  const char *n = s + 1;
  size_t nl = (size_t)(semi - n);
  char c = '?';
  if (nl == 2 && n[0] == 'l')
    c = '<';
  else if (nl == 2 && n[0] == 'g')
    c = '>';
  else if (nl == 3)
    c = '&';
  else if (nl == 4 && n[0] == 'a')
    c = '\'';
  else if (nl == 4 && n[0] == 'q')
    c = '"';
  out[0] = c;
  *out_len = 1;
  return len;
}

enum { MODE_TEXT, MODE_CDATA, MODE_ATTR };

/* One decoder for the three flavours; writes at most raw.len bytes. */
static size_t decode(xsr_span raw, char *out, int mode) {
  const char *s = raw.ptr, *e = raw.ptr + raw.len;
  char *o = out;
  while (s < e) {
    char c = *s;
    if (c == '&' && mode != MODE_CDATA) {
      size_t n;
      s += xsr__decode_ref(s, e, o, &n);
      o += n;
    } else if (c == '\r') {
      *o++ = mode == MODE_ATTR ? ' ' : '\n';
      s++;
      if (s < e && *s == '\n')
        s++;
    } else if (mode == MODE_ATTR && (c == '\n' || c == '\t')) {
      *o++ = ' ';
      s++;
    } else {
      *o++ = c;
      s++;
    }
  }
  return (size_t)(o - out);
}

/* The decoded length without writing: needed for the ENOSPC answer. */
static size_t decoded_len(xsr_span raw, int mode) {
  char tmp[4];
  const char *s = raw.ptr, *e = raw.ptr + raw.len;
  size_t n = 0;
  while (s < e) {
    if (*s == '&' && mode != MODE_CDATA) {
      size_t k;
      s += xsr__decode_ref(s, e, tmp, &k);
      n += k;
    } else if (*s == '\r') {
      n++;
      s++;
      if (s < e && *s == '\n')
        s++;
    } else {
      n++;
      s++;
    }
  }
  return n;
}

static xsr_err decode_into(xsr_span raw, char *out, size_t cap, size_t *out_len, int mode) {
  if (!raw.ptr) {
    *out_len = 0;
    return XSR_OK;
  }
  if (cap >= raw.len) {
    *out_len = decode(raw, out, mode);
    return XSR_OK;
  }
  size_t need = decoded_len(raw, mode);
  *out_len = need;
  if (need > cap)
    return XSR_ENOSPC;
  *out_len = decode(raw, out, mode);
  return XSR_OK;
}

xsr_err xsr_decode_text(xsr_span raw, char *out, size_t cap, size_t *out_len) {
  return decode_into(raw, out, cap, out_len, MODE_TEXT);
}

xsr_err xsr_decode_cdata(xsr_span raw, char *out, size_t cap, size_t *out_len) {
  return decode_into(raw, out, cap, out_len, MODE_CDATA);
}

xsr_err xsr_decode_attr(xsr_span raw, char *out, size_t cap, size_t *out_len) {
  return decode_into(raw, out, cap, out_len, MODE_ATTR);
}

xsr_err xsr_stanza_text(const xsr_stanza *st, size_t el, char *out, size_t cap, size_t *out_len) {
  *out_len = 0;
  xsr_stanza tmp;
  xsr_err err;
  st = indexed(st, &tmp, &err);
  if (err)
    return err;
  if (el >= st->node_count || st->nodes[el].kind != XSR_NODE_ELEMENT)
    return XSR_EINVAL;
  unsigned child_depth = st->nodes[el].depth + 1u;
  size_t total = 0;
  int fits = 1;
  for (size_t i = el + 1; i < st->node_count && st->nodes[i].depth == child_depth;) {
    const xsr_node *c = &st->nodes[i];
    if (c->kind != XSR_NODE_ELEMENT) {
      xsr_span raw = xsr_stanza_node_raw(st, c);
      int mode = c->kind == XSR_NODE_CDATA ? MODE_CDATA : MODE_TEXT;
      if (fits && cap - total >= raw.len) {
        total += decode(raw, out + total, mode);
      } else {
        fits = 0;
        total += decoded_len(raw, mode);
      }
    }
    if (!c->next)
      break;
    i = c->next;
  }
  *out_len = total;
  if (!fits && total > cap)
    return XSR_ENOSPC;
  if (!fits) {
    /* It fits after all (raw lengths overestimated): decode for real. */
    size_t n = 0;
    for (size_t i = el + 1; i < st->node_count && st->nodes[i].depth == child_depth;) {
      const xsr_node *c = &st->nodes[i];
      if (c->kind != XSR_NODE_ELEMENT) {
        xsr_span raw = xsr_stanza_node_raw(st, c);
        size_t k;
        decode_into(raw, out + n, cap - n, &k, c->kind == XSR_NODE_CDATA ? MODE_CDATA : MODE_TEXT);
        n += k;
      }
      if (!c->next)
        break;
      i = c->next;
    }
    *out_len = n;
  }
  return XSR_OK;
}
