/* SPDX-License-Identifier: MIT */
/*
 * tests/support/fwdcheck.c: the forwarding checks of fwdcheck.h: one
 * canonical form computed from expat's events and from an xsr view, and the
 * comparison of a stanza as sent with the copy delivered.
 */
#include "fwdcheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#define XML_NS_URI "http://www.w3.org/XML/1998/namespace"

/* ---- fc_buf --------------------------------------------------------------- */

void fc_add(fc_buf *b, const void *data, size_t len) {
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 128;
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

void fc_puts(fc_buf *b, const char *s) { fc_add(b, s, strlen(s)); }

void fc_printf(fc_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  char *tmp = malloc((size_t)n + 1);
  if (!tmp)
    abort();
  va_start(ap, fmt);
  vsnprintf(tmp, (size_t)n + 1, fmt, ap);
  va_end(ap);
  fc_add(b, tmp, (size_t)n);
  free(tmp);
}

void fc_clear(fc_buf *b) {
  b->len = 0;
  if (b->p)
    b->p[0] = '\0';
}

void fc_free(fc_buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

const char *fc_str(const fc_buf *b) { return b->p ? b->p : ""; }

int fc_eq(const fc_buf *a, const fc_buf *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

void fc_escape(fc_buf *out, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '&')
      fc_puts(out, "&amp;");
    else if (c == '<')
      fc_puts(out, "&lt;");
    else if (c == '>')
      fc_puts(out, "&gt;");
    else if (c == '"')
      fc_puts(out, "&quot;");
    else if (c < 0x20 || c == 0x7f)
      fc_printf(out, "&#%u;", c);
    else
      fc_add(out, &s[i], 1);
  }
}

void fc_top_clear(fc_top *t) {
  t->from_count = 0;
  fc_clear(&t->from);
  t->has_lang = 0;
  fc_clear(&t->lang);
  t->has_id = 0;
  fc_clear(&t->id);
  t->attrs = t->decls = 0;
  fc_clear(&t->name);
}

void fc_top_free(fc_top *t) {
  fc_free(&t->from);
  fc_free(&t->lang);
  fc_free(&t->id);
  fc_free(&t->name);
}

/* ---- the form, shared by both readers ------------------------------------- */

/* The attributes of one element, each as ' name="value"', sorted as strings
 * (names are unique per element, so the order is a function of the set). */
typedef struct fc_attrs {
  char **item;
  size_t n, cap;
} fc_attrs;

static void attrs_push(fc_attrs *a, const char *name, size_t nlen, const char *value, size_t vlen) {
  fc_buf b = {0};
  fc_puts(&b, " ");
  fc_add(&b, name, nlen);
  fc_puts(&b, "=\"");
  fc_escape(&b, value, vlen);
  fc_puts(&b, "\"");
  if (a->n == a->cap) {
    a->cap = a->cap ? a->cap * 2 : 8;
    a->item = realloc(a->item, a->cap * sizeof *a->item);
    if (!a->item)
      abort();
  }
  a->item[a->n++] = b.p;
}

static int cmp_str(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Appends the sorted attributes and empties the list. */
static void attrs_flush(fc_attrs *a, fc_buf *out) {
  if (a->n > 1)
    qsort(a->item, a->n, sizeof *a->item, cmp_str);
  for (size_t i = 0; i < a->n; i++) {
    fc_puts(out, a->item[i]);
    free(a->item[i]);
  }
  a->n = 0;
}

static void attrs_free(fc_attrs *a) {
  for (size_t i = 0; i < a->n; i++)
    free(a->item[i]);
  free(a->item);
  a->item = NULL;
  a->n = a->cap = 0;
}

static void flush_text(fc_buf *text, fc_buf *out) {
  if (text->len)
    fc_escape(out, text->p, text->len);
  fc_clear(text);
}

/* ---- expat ------------------------------------------------------------------ */

typedef struct ex_ctx {
  fc_doc *d;
  int depth;      /* open elements; the stream element is depth 1 */
  int in_first;   /* inside the first stanza */
  fc_buf text;    /* pending character data of the first stanza */
  fc_attrs attrs; /* scratch */
  fc_buf name;    /* scratch */
} ex_ctx;

/* expat's "uri\x01local" (or "local") as "{uri}local". */
static void ex_name(fc_buf *out, const char *name) {
  const char *sep = strchr(name, '\x01');
  if (!sep) {
    fc_puts(out, name);
    return;
  }
  fc_puts(out, "{");
  fc_add(out, name, (size_t)(sep - name));
  fc_puts(out, "}");
  fc_puts(out, sep + 1);
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (!d)
    abort();
  return memcpy(d, s, n);
}

static void XMLCALL ex_decl(void *user, const XML_Char *prefix, const XML_Char *uri) {
  ex_ctx *x = user;
  if (x->depth == 0) {
    fc_doc *d = x->d;
    fc_decl *nd = realloc(d->decls, (d->ndecls + 1) * sizeof *nd);
    if (!nd)
      abort();
    d->decls = nd;
    nd[d->ndecls].prefix = dup_str(prefix ? prefix : "");
    nd[d->ndecls].uri = dup_str(uri ? uri : "");
    d->ndecls++;
  } else if (x->depth == 1 && x->d->stanzas == 0) {
    x->d->top.decls++;
  }
}

static void XMLCALL ex_start(void *user, const XML_Char *name, const XML_Char **atts) {
  ex_ctx *x = user;
  fc_doc *d = x->d;
  x->depth++;
  if (x->depth == 1) {
    for (size_t i = 0; atts[i]; i += 2)
      if (!strcmp(atts[i], XML_NS_URI "\x01lang")) {
        d->stream_has_lang = 1;
        fc_clear(&d->stream_lang);
        fc_puts(&d->stream_lang, atts[i + 1]);
      }
    return;
  }
  if (x->depth == 2) {
    if (d->stanzas++ != 0)
      return;
    x->in_first = 1;
  }
  if (!x->in_first)
    return;
  flush_text(&x->text, &d->canon);
  fc_puts(&d->canon, "<");
  ex_name(&d->canon, name);
  if (x->depth == 2) {
    fc_clear(&d->top.name);
    ex_name(&d->top.name, name);
  }
  for (size_t i = 0; atts[i]; i += 2) {
    const char *an = atts[i], *av = atts[i + 1];
    if (x->depth == 2) {
      d->top.attrs++;
      if (!strcmp(an, "from")) {
        d->top.from_count++;
        fc_clear(&d->top.from);
        fc_puts(&d->top.from, av);
        continue;
      }
      if (!strcmp(an, XML_NS_URI "\x01lang")) {
        d->top.has_lang = 1;
        fc_clear(&d->top.lang);
        fc_puts(&d->top.lang, av);
        continue;
      }
      if (!strcmp(an, "id")) {
        d->top.has_id = 1;
        fc_clear(&d->top.id);
        fc_puts(&d->top.id, av);
      }
    }
    fc_clear(&x->name);
    ex_name(&x->name, an);
    attrs_push(&x->attrs, x->name.p, x->name.len, av, strlen(av));
  }
  attrs_flush(&x->attrs, &d->canon);
  fc_puts(&d->canon, ">");
}

static void XMLCALL ex_end(void *user, const XML_Char *name) {
  (void)name;
  ex_ctx *x = user;
  if (x->in_first) {
    flush_text(&x->text, &x->d->canon);
    fc_puts(&x->d->canon, "</>");
    if (x->depth == 2)
      x->in_first = 0;
  }
  x->depth--;
}

static void XMLCALL ex_text(void *user, const XML_Char *s, int len) {
  ex_ctx *x = user;
  if (x->in_first)
    fc_add(&x->text, s, (size_t)len);
}

int fc_expat_doc(const char *doc, size_t len, fc_doc *out) {
  memset(out, 0, sizeof *out);
  ex_ctx x;
  memset(&x, 0, sizeof x);
  x.d = out;
  XML_Parser p = XML_ParserCreateNS(NULL, '\x01');
  if (!p)
    abort();
  XML_SetUserData(p, &x);
  XML_SetElementHandler(p, ex_start, ex_end);
  XML_SetCharacterDataHandler(p, ex_text);
  XML_SetStartNamespaceDeclHandler(p, ex_decl);
  out->ok = XML_Parse(p, doc, (int)len, 1) == XML_STATUS_OK;
  if (!out->ok)
    fc_printf(&out->err, "expat: %s at byte %ld", XML_ErrorString(XML_GetErrorCode(p)),
              (long)XML_GetCurrentByteIndex(p));
  XML_ParserFree(p);
  fc_free(&x.text);
  fc_free(&x.name);
  attrs_free(&x.attrs);
  return out->ok;
}

void fc_doc_free(fc_doc *d) {
  fc_free(&d->err);
  fc_free(&d->canon);
  fc_top_free(&d->top);
  fc_free(&d->stream_lang);
  for (size_t i = 0; i < d->ndecls; i++) {
    free(d->decls[i].prefix);
    free(d->decls[i].uri);
  }
  free(d->decls);
  memset(d, 0, sizeof *d);
}

/* ---- xsr views -------------------------------------------------------------- */

static void view_name(const xsr_parser *p, fc_buf *out, uint32_t ns, xsr_span local,
                      fc_buf *problems) {
  if (ns != XSR_NS_NONE) {
    xsr_span uri = xsr_parser_ns_uri(p, ns);
    if (!uri.ptr)
      fc_printf(problems, "namespace id %u has no URI\n", (unsigned)ns);
    fc_puts(out, "{");
    if (uri.ptr)
      fc_add(out, uri.ptr, uri.len);
    fc_puts(out, "}");
  }
  fc_add(out, local.ptr, local.len);
}

static int decode_into(xsr_err (*fn)(xsr_span, char *, size_t, size_t *), xsr_span raw, fc_buf *out,
                       fc_buf *problems) {
  char *tmp = malloc(raw.len + 1);
  if (!tmp)
    abort();
  size_t n = 0;
  xsr_err e = fn(raw, tmp, raw.len, &n);
  if (e != XSR_OK || n > raw.len) {
    fc_printf(problems, "decoding %zu raw bytes failed: %s\n", raw.len, xsr_err_name(e));
    free(tmp);
    return 0;
  }
  fc_add(out, tmp, n);
  free(tmp);
  return 1;
}

static int span_is(xsr_span s, const char *lit) {
  return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

void fc_canon_view(const xsr_parser *p, const xsr_stanza *st, fc_buf *canon, fc_top *top,
                   fc_buf *problems) {
  xsr_stanza indexed_ = *st; /* the index is built on demand */
  if (xsr_stanza_index(&indexed_) == XSR_OK)
    st = &indexed_;
  fc_top_clear(top);
  if (!st->nodes || st->node_count == 0 || st->nodes[0].kind != XSR_NODE_ELEMENT) {
    fc_puts(problems, "view without a stanza element\n");
    return;
  }
  fc_buf text = {0}, name = {0}, value = {0};
  fc_attrs attrs = {0};
  unsigned open[4096];
  size_t nopen = 0;
  for (size_t i = 0; i < st->node_count; i++) {
    const xsr_node *n = &st->nodes[i];
    while (nopen > 0 && open[nopen - 1] >= n->depth) {
      flush_text(&text, canon);
      fc_puts(canon, "</>");
      nopen--;
    }
    if ((size_t)n->off + n->len > st->raw.len) {
      fc_printf(problems, "node %zu runs past the stanza\n", i);
      break;
    }
    if (n->kind != XSR_NODE_ELEMENT) {
      decode_into(n->kind == XSR_NODE_CDATA ? xsr_decode_cdata : xsr_decode_text,
                  xsr_stanza_node_raw(st, n), &text, problems);
      continue;
    }
    flush_text(&text, canon);
    fc_puts(canon, "<");
    view_name(p, canon, n->ns, xsr_stanza_node_name(st, n), problems);
    if (i == 0)
      view_name(p, &top->name, n->ns, xsr_stanza_node_name(st, n), problems);
    if ((size_t)n->attr_first + n->attr_count > st->attr_count) {
      fc_printf(problems, "node %zu: attributes out of range\n", i);
      break;
    }
    for (size_t k = n->attr_first; k < (size_t)n->attr_first + n->attr_count; k++) {
      const xsr_attr *a = &st->attrs[k];
      xsr_span local = xsr_stanza_attr_name(st, a);
      fc_clear(&value);
      decode_into(xsr_decode_attr, xsr_stanza_attr_raw(st, a), &value, problems);
      if (i == 0) {
        top->attrs++;
        if (a->ns == XSR_NS_NONE && span_is(local, "from")) {
          top->from_count++;
          fc_clear(&top->from);
          fc_add(&top->from, value.p, value.len);
          continue;
        }
        if (a->ns == XSR_NS_XML && span_is(local, "lang")) {
          top->has_lang = 1;
          fc_clear(&top->lang);
          fc_add(&top->lang, value.p, value.len);
          continue;
        }
        if (a->ns == XSR_NS_NONE && span_is(local, "id")) {
          top->has_id = 1;
          fc_clear(&top->id);
          fc_add(&top->id, value.p, value.len);
        }
      }
      fc_clear(&name);
      view_name(p, &name, a->ns, local, problems);
      attrs_push(&attrs, name.p, name.len, value.p ? value.p : "", value.len);
    }
    attrs_flush(&attrs, canon);
    fc_puts(canon, ">");
    if (nopen == sizeof open / sizeof open[0]) {
      fc_puts(problems, "nesting too deep for the checker\n");
      break;
    }
    open[nopen++] = n->depth;
  }
  while (nopen > 0) {
    flush_text(&text, canon);
    fc_puts(canon, "</>");
    nopen--;
  }
  fc_free(&text);
  fc_free(&name);
  fc_free(&value);
  attrs_free(&attrs);
}

/* ---- delivered copies ------------------------------------------------------------ */

const char fc_client_header[] = "<stream:stream xmlns='jabber:client' "
                                "xmlns:stream='http://etherx.jabber.org/streams' "
                                "to='example.net' version='1.0'>";
const char fc_client_trailer[] = "</stream:stream>";

void fc_wrap_client(fc_buf *doc, const char *bytes, size_t len) {
  fc_clear(doc);
  fc_puts(doc, fc_client_header);
  fc_add(doc, bytes, len);
  fc_puts(doc, fc_client_trailer);
}

typedef struct rp_ctx {
  const xsr_parser *p;
  fc_buf *canon;
  fc_top *top;
  fc_buf *why;
  size_t stanzas;
  int closed;
} rp_ctx;

static int rp_stanza(void *user, const xsr_stanza *st);
static int rp_close(void *user, uint64_t off) {
  (void)off;
  ((rp_ctx *)user)->closed = 1;
  return 0;
}
static const xsr_parser_callbacks rp_cb = {NULL, rp_stanza, rp_close};

static int rp_stanza(void *user, const xsr_stanza *st) {
  rp_ctx *c = user;
  if (c->stanzas++ != 0)
    return 0;
  fc_canon_view(c->p, st, c->canon, c->top, c->why);
  if (st->inherited_count != 0)
    fc_printf(c->why,
              "the copy inherits %zu binding(s) from the recipient's header (first: %.*s)\n",
              st->inherited_count, (int)st->inherited[0].prefix.len, st->inherited[0].prefix.ptr);
  if (st->stream_lang.ptr)
    fc_puts(c->why, "stream_lang set on a stream without xml:lang\n");
  return 0;
}

int fc_reparse_xsr(const xsr_parser_config *cfg, const char *bytes, size_t len, fc_buf *canon,
                   fc_top *top, fc_buf *why) {
  rp_ctx c = {NULL, canon, top, why, 0, 0};
  fc_clear(canon);
  fc_top_clear(top);
  size_t why0 = why->len;
  xsr_parser *p = xsr_parser_new(cfg, &rp_cb, &c, NULL);
  if (!p)
    abort();
  c.p = p;
  xsr_err e = xsr_parser_feed(p, fc_client_header, sizeof fc_client_header - 1);
  uint64_t hdr = xsr_parser_bytes(p);
  if (e == XSR_OK)
    e = xsr_parser_feed(p, bytes, len);
  if (e == XSR_OK)
    e = xsr_parser_feed(p, fc_client_trailer, sizeof fc_client_trailer - 1);
  if (e != XSR_OK) {
    uint64_t off = 0;
    xsr_parser_error(p, &off);
    fc_printf(why, "xsr refuses the copy: %s at byte %lld of it\n", xsr_err_name(e),
              (long long)off - (long long)hdr);
  } else if (!c.closed) {
    fc_puts(why, "xsr: the stream did not close\n");
  } else if (c.stanzas != 1) {
    fc_printf(why, "xsr reads %zu stanzas in the copy\n", c.stanzas);
  }
  xsr_parser_free(p);
  return why->len == why0;
}

int fc_check_forward(const fc_buf *orig, const fc_top *orig_top, const char *stream_lang,
                     size_t stream_lang_len, const fc_buf *got, const fc_top *got_top,
                     const char *jid, size_t jid_len, fc_buf *why) {
  size_t why0 = why->len;
  if (got_top->from_count != 1)
    fc_printf(why, "the copy has %u 'from' attributes\n", got_top->from_count);
  else if (got_top->from.len != jid_len || memcmp(got_top->from.p, jid, jid_len) != 0)
    fc_printf(why, "the copy's from is '%s', the sender is '%.*s'\n", fc_str(&got_top->from),
              (int)jid_len, jid);
  const char *want_lang = NULL;
  size_t want_len = 0;
  if (orig_top->has_lang)
    want_lang = fc_str(&orig_top->lang), want_len = orig_top->lang.len;
  else if (stream_lang)
    want_lang = stream_lang, want_len = stream_lang_len;
  if (!want_lang && got_top->has_lang)
    fc_printf(why, "the copy has xml:lang '%s', the original none and no stream xml:lang\n",
              fc_str(&got_top->lang));
  else if (want_lang && !got_top->has_lang)
    fc_printf(why, "the copy lacks xml:lang '%.*s'\n", (int)want_len, want_lang);
  else if (want_lang &&
           (got_top->lang.len != want_len || memcmp(got_top->lang.p, want_lang, want_len) != 0))
    fc_printf(why, "the copy's xml:lang is '%s', want '%.*s'\n", fc_str(&got_top->lang),
              (int)want_len, want_lang);
  if (!fc_eq(orig, got))
    fc_printf(why, "the copy means something else:\n  sent      %s\n  delivered %s\n", fc_str(orig),
              fc_str(got));
  return why->len == why0;
}

int fc_check_context(const xsr_stanza *st, const fc_doc *sender, fc_buf *why) {
  size_t why0 = why->len;
  if (st->inherited_count && !st->inherited)
    fc_puts(why, "inherited_count without inherited\n");
  for (size_t i = 0; i < st->inherited_count && st->inherited; i++) {
    const xsr_ns_decl *d = &st->inherited[i];
    if (!d->prefix.ptr || d->prefix.len == 0 || (d->uri.len && !d->uri.ptr)) {
      fc_printf(why, "inherited[%zu] has an empty prefix\n", i);
      continue;
    }
    const fc_decl *hd = NULL;
    for (size_t k = 0; k < sender->ndecls; k++)
      if (strlen(sender->decls[k].prefix) == d->prefix.len &&
          memcmp(sender->decls[k].prefix, d->prefix.ptr, d->prefix.len) == 0)
        hd = &sender->decls[k];
    if (!hd)
      fc_printf(why, "inherited prefix '%.*s' is not declared on the stream header\n",
                (int)d->prefix.len, d->prefix.ptr);
    else if (strlen(hd->uri) != d->uri.len || memcmp(hd->uri, d->uri.ptr, d->uri.len) != 0)
      fc_printf(why, "inherited prefix '%.*s' has URI '%.*s', the header binds '%s'\n",
                (int)d->prefix.len, d->prefix.ptr, (int)d->uri.len, d->uri.ptr, hd->uri);
    for (size_t k = 0; k < i; k++)
      if (st->inherited[k].prefix.len == d->prefix.len &&
          memcmp(st->inherited[k].prefix.ptr, d->prefix.ptr, d->prefix.len) == 0)
        fc_printf(why, "prefix '%.*s' inherited twice\n", (int)d->prefix.len, d->prefix.ptr);
  }
  if (sender->stream_has_lang != (st->stream_lang.ptr != NULL))
    fc_printf(why, "stream_lang is %s, the header %s xml:lang\n",
              st->stream_lang.ptr ? "set" : "absent", sender->stream_has_lang ? "has" : "has no");
  else if (st->stream_lang.ptr &&
           (st->stream_lang.len != sender->stream_lang.len ||
            memcmp(st->stream_lang.ptr, sender->stream_lang.p, st->stream_lang.len) != 0))
    fc_printf(why, "stream_lang '%.*s', the header's xml:lang is '%s'\n", (int)st->stream_lang.len,
              st->stream_lang.ptr, fc_str(&sender->stream_lang));
  if (st->tag_attrs != sender->top.attrs + sender->top.decls || st->tag_decls != sender->top.decls)
    fc_printf(why, "tag_attrs %u tag_decls %u, expat counts %u attributes and %u declarations\n",
              st->tag_attrs, st->tag_decls, sender->top.attrs, sender->top.decls);
  return why->len == why0;
}
