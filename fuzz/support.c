/* SPDX-License-Identifier: MIT */
/*
 * fuzz/support.c: option decoding, event logs and the instrumented parser
 * run shared by the parser harnesses.
 *
 * The run checks, at every event, what parser.h and stanza.h promise:
 *   - every span of a view lies inside the view's raw bytes, and those raw
 *     bytes are exactly the input bytes at the reported stream offset (so a
 *     stale or misplaced view is caught even when it does not fault);
 *   - the node and attribute index is a well-formed pre-order tree whose
 *     elements start with '<' and end with '>', nested inside their parents,
 *     with attributes unique by expanded name;
 *   - a view carries no index unless opts.eager_index (the scan builds it),
 *     and the one built on demand is built once; both are logged, so a
 *     reference run with eager_index compared with a run without compares
 *     the on-demand index with the eager one on every input;
 *   - decoding every text node and attribute value succeeds, never grows,
 *     is the identity on values without XSR_F_ESCAPED, and reports the exact
 *     length needed when the buffer is one byte short;
 *   - events come in stream order (open, stanzas, close) at increasing
 *     offsets, and the API called from a callback answers XSR_EBUSY;
 *   - a stanza refused with XSR_RETRY (opts.retry_every) leaves the parser
 *     paused at its first byte, holding it, and comes back on resume at the
 *     same offset with the same bytes and the same view, before anything
 *     else;
 * and after the run:
 *   - xsr_parser_bytes() is the count fed, the error offset lies inside it,
 *     and a failed parser refuses more input with the same error, without
 *     callbacks and without holding more memory.
 * The event log records everything the parser reported (positions relative
 * to the stream, never pointers), so two runs over the same bytes can be
 * compared for split invariance.
 */
#include "fuzz.h"

#include <stdarg.h>

#include "../parser/internal.h" /* xsr__parser_eager_index */
#include <string.h>

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "\n%s:%d: invariant failed: %s\n  ", file, line, cond);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  abort();
}

/* ---- options --------------------------------------------------------------------- */

uint8_t fuzz_take_byte(fuzz_input *in) {
  if (in->size == 0)
    return 0;
  uint8_t b = in->data[0];
  in->data++;
  in->size--;
  return b;
}

void fuzz_config(xsr_parser_config *cfg, uint8_t a, uint8_t b) {
  xsr_parser_config_init(cfg);
  if (a & 0x80) {
    /* Small limits, each picked independently. */
    cfg->max_stanza = 64 + (size_t)b * 16;
    cfg->max_depth = 1 + (a & 0x0f);
    cfg->max_attrs = 1 + ((a >> 4) & 0x03) * 3;
    cfg->max_name = (b & 0x01) ? 8 : XSR_DEFAULT_MAX_NAME;
    cfg->max_ns_decls = 1 + ((b >> 1) & 0x03);
    cfg->max_namespaces = (b & 0x08) ? 2 : XSR_DEFAULT_MAX_NAMESPACES;
  } else if (a & 0x40) {
    cfg->max_stanza = 64 + (size_t)b * 16;
  }
  /* The accepted content namespaces: all three unless the bits say otherwise. */
  unsigned acc = (a >> 4) & 0x07;
  if ((a & 0x80) == 0 && acc != 0)
    cfg->accept = acc;
}

void fuzz_config_generous(xsr_parser_config *cfg) {
  xsr_parser_config_init(cfg);
  cfg->max_stanza = XSR_MAX_STANZA_LIMIT;
  cfg->max_depth = 4096;
  cfg->max_attrs = 4096;
  cfg->max_name = 60000;
  cfg->max_ns_decls = 4096;
  cfg->max_namespaces = 1u << 20;
}

void fuzz_chunks_init(fuzz_chunks *c, fuzz_input *in) {
  static const size_t sizes[16] = {1,  2,  3,  4,   5,   7,    8,    13,
                                   16, 31, 64, 100, 255, 1024, 4096, 65536};
  for (unsigned i = 0; i < 8; i += 2) {
    uint8_t b = fuzz_take_byte(in);
    c->size[i] = sizes[b & 15];
    c->size[i + 1] = sizes[b >> 4];
  }
  c->next = 0;
}

size_t fuzz_chunks_next(fuzz_chunks *c) {
  size_t n = c->size[c->next];
  c->next = (c->next + 1) % 8;
  return n;
}

/* ---- logs ------------------------------------------------------------------------ */

void fuzz_log_bytes(fuzz_log *l, const void *p, size_t n) {
  if (n == 0)
    return;
  if (l->len + n > l->cap) {
    size_t cap = l->cap ? l->cap : 1024;
    while (cap < l->len + n)
      cap *= 2;
    uint8_t *b = realloc(l->buf, cap);
    FUZZ_CHECK(b != NULL, "out of memory in the harness");
    l->buf = b;
    l->cap = cap;
  }
  memcpy(l->buf + l->len, p, n);
  l->len += n;
}

void fuzz_log_u64(fuzz_log *l, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(v >> (8 * i));
  fuzz_log_bytes(l, b, 8);
}

void fuzz_log_free(fuzz_log *l) {
  free(l->buf);
  l->buf = NULL;
  l->len = l->cap = 0;
}

void fuzz_log_expect_equal(const fuzz_log *a, const fuzz_log *b, const char *what) {
  size_t n = a->len < b->len ? a->len : b->len;
  size_t i = 0;
  while (i < n && a->buf[i] == b->buf[i])
    i++;
  if (a->len != b->len || i != n) {
    /* Show the records around the difference (they are little-endian u64s). */
    size_t from = i > 24 ? i - 24 : 0;
    fprintf(stderr, "log A:");
    for (size_t k = from; k < a->len && k < i + 24; k++)
      fprintf(stderr, " %02x", a->buf[k]);
    fprintf(stderr, "\nlog B:");
    for (size_t k = from; k < b->len && k < i + 24; k++)
      fprintf(stderr, " %02x", b->buf[k]);
    fprintf(stderr, "\n");
  }
  FUZZ_CHECK(a->len == b->len && i == n,
             "%s: event logs differ at byte %zu of %zu/%zu (split invariance)", what, i, a->len,
             b->len);
}

void fuzz_result_free(fuzz_result *res) {
  fuzz_log_free(&res->log);
  free(res->ends);
  res->ends = NULL;
  res->nends = res->capends = 0;
}

/* Records where the event being reported ends (xsr_parser_offset() inside
 * a callback), relative to the run's data. */
static void note_end(fuzz_result *res, uint64_t end, uint64_t base) {
  if (res->nends == res->capends) {
    size_t cap = res->capends ? res->capends * 2 : 64;
    size_t *e = realloc(res->ends, cap * sizeof *e);
    FUZZ_CHECK(e != NULL, "out of memory in the harness");
    res->ends = e;
    res->capends = cap;
  }
  res->ends[res->nends++] = (size_t)(end - base);
}

int fuzz_xml_chars_ok(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint32_t c = s[i];
    size_t len;
    uint32_t min;
    if (c < 0x80) {
      if (c < 0x20 && c != 0x09 && c != 0x0a && c != 0x0d)
        return 0;
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2, min = 0x80, c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, min = 0x800, c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, min = 0x10000, c &= 0x07;
    } else {
      return 0;
    }
    if (n - i < len)
      return 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return 0;
      c = (c << 6) | (s[i + k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) || c == 0xfffe || c == 0xffff)
      return 0;
    i += len;
  }
  return 1;
}

/* ---- the instrumented run ---------------------------------------------------------- */

struct fuzz_session {
  xsr_parser *p;
  xsr_parser_config cfg;
  /* The current run. */
  const fuzz_run_opts *opts;
  const uint8_t *input; /* the whole input of this run ... */
  uint64_t base;        /* ... which starts at this stream offset */
  uint64_t fed;         /* stream offset just past the last byte given to the parser */
  fuzz_result *res;
  int state;         /* 0 expecting a stream header, 1 in the stream, 2 closed */
  uint64_t last_end; /* stream offset where the last reported event ended */
  int in_callback;
  int want_restart;
  uint64_t open_offset;           /* where the current stream's header starts */
  uint64_t res_stanzas_in_stream; /* stanzas since that header */
  int failed;                     /* the parser reported an error: no callback may follow */
  /* XSR_RETRY: the stanza refused last (retry_off UINT64_MAX: none), the
   * log record it produced, refusals still to make, stanzas seen fresh. */
  uint64_t retry_off;
  size_t retry_len;
  int retry_left;
  uint64_t fresh;
  fuzz_log retry_rec;
  char *scratch;
  size_t scratch_cap;
};

static char *scratch(fuzz_session *s, size_t n) {
  if (n > s->scratch_cap || s->scratch == NULL) {
    size_t cap = n < 256 ? 256 : n;
    char *b = realloc(s->scratch, cap);
    FUZZ_CHECK(b != NULL, "out of memory in the harness");
    s->scratch = b;
    s->scratch_cap = cap;
  }
  return s->scratch;
}

/* Bytes [off, off+len) of the stream, which must have been fed in this run. */
static void check_stream_bytes(const fuzz_session *s, uint64_t off, const char *ptr, size_t len,
                               const char *what) {
  FUZZ_CHECK(off >= s->base && off - s->base <= s->fed - s->base && len <= s->fed - off,
             "%s at stream offset %llu+%zu lies outside the %llu bytes fed", what,
             (unsigned long long)off, len, (unsigned long long)s->fed);
  FUZZ_CHECK(len == 0 || memcmp(ptr, s->input + (off - s->base), len) == 0,
             "%s at stream offset %llu: raw bytes differ from the input", what,
             (unsigned long long)off);
}

/* span must be absent (ptr NULL) or lie in raw. */
static void check_span_in(xsr_span span, xsr_span raw, const char *what) {
  if (span.ptr == NULL) {
    FUZZ_CHECK(span.len == 0, "%s: NULL span with length %zu", what, span.len);
    return;
  }
  FUZZ_CHECK(span.ptr >= raw.ptr && span.len <= raw.len &&
                 (size_t)(span.ptr - raw.ptr) <= raw.len - span.len,
             "%s: span outside the raw bytes it belongs to", what);
}

static int has_byte(const char *p, size_t n, char c) { return n && memchr(p, c, n) != NULL; }

/* Decodes one value with decode(); checks the contract of stanza.h. */
static void check_decode(fuzz_session *s, xsr_err (*decode)(xsr_span, char *, size_t, size_t *),
                         xsr_span raw, int escaped, const char *what) {
  char *out = scratch(s, raw.len + 1);
  size_t n = (size_t)-1;
  xsr_err r = decode(raw, out, raw.len, &n);
  FUZZ_CHECK(r == XSR_OK, "%s: decoding with cap == raw length failed: %s", what, xsr_err_name(r));
  FUZZ_CHECK(n <= raw.len, "%s: decoded %zu bytes from %zu raw", what, n, raw.len);
  FUZZ_CHECK(fuzz_xml_chars_ok((const uint8_t *)out, n), "%s: decoded value is not XML chars",
             what);
  if (!escaped)
    FUZZ_CHECK(n == raw.len && memcmp(out, raw.ptr, n) == 0,
               "%s: value without XSR_F_ESCAPED decodes to something else", what);
  if (n > 0) {
    size_t need = 0;
    char *small = malloc(n - 1 ? n - 1 : 1);
    FUZZ_CHECK(small != NULL, "out of memory in the harness");
    r = decode(raw, small, n - 1, &need);
    free(small);
    FUZZ_CHECK(r == XSR_ENOSPC && need == n,
               "%s: cap one short gives %s and needs %zu, want XSR_ENOSPC and %zu", what,
               xsr_err_name(r), need, n);
  }
}

static void log_span(fuzz_log *l, xsr_span span, const char *base) {
  if (span.ptr == NULL) {
    fuzz_log_u64(l, UINT64_MAX);
    return;
  }
  fuzz_log_u64(l, (uint64_t)(span.ptr - base));
  fuzz_log_u64(l, span.len);
}

static void log_ns(fuzz_session *s, uint32_t ns) {
  xsr_span uri = xsr_parser_ns_uri(s->p, ns);
  FUZZ_CHECK(uri.ptr != NULL, "namespace id %u has no URI", ns);
  FUZZ_CHECK(ns == XSR_NS_NONE || xsr_parser_ns_find(s->p, uri.ptr, uri.len) == ns,
             "ns_find(ns_uri(%u)) != %u", ns, ns);
  fuzz_log_u64(&s->res->log, ns);
  fuzz_log_u64(&s->res->log, uri.len);
  fuzz_log_bytes(&s->res->log, uri.ptr, uri.len);
}

/* Checks and logs the index of a view. */
static void check_index(fuzz_session *s, const xsr_stanza *st, int is_header) {
  fuzz_log *l = &s->res->log;
  const char *raw = st->raw.ptr;
  size_t rlen = st->raw.len;
  FUZZ_CHECK(st->node_count >= 1 && st->nodes != NULL, "view without nodes");
  FUZZ_CHECK(st->attr_count == 0 || st->attrs != NULL, "attr_count without attrs");
  if (is_header)
    FUZZ_CHECK(st->node_count == 1, "stream header view has %zu nodes", st->node_count);
  fuzz_log_u64(l, st->node_count);
  fuzz_log_u64(l, st->attr_count);

  /* Open-element stack: node index per depth. */
  size_t stack[65536 / 8];
  size_t top = 0;
  size_t attrs_seen = 0;
  for (size_t i = 0; i < st->node_count; i++) {
    const xsr_node *n = &st->nodes[i];
    FUZZ_CHECK(n->off <= rlen && n->len <= rlen - n->off, "node %zu outside the raw bytes", i);
    FUZZ_CHECK(n->next == 0 || (n->next > i && n->next < st->node_count),
               "node %zu: next %u out of order", i, n->next);
    if (i == 0) {
      /* The stream element itself is at depth 0 (stanzas are at 1). */
      FUZZ_CHECK(n->kind == XSR_NODE_ELEMENT && n->off == 0 && n->depth == (is_header ? 0 : 1) &&
                     n->next == 0,
                 "node 0 is not the stanza element at depth 1 (kind %u off %u depth %u next %u%s)",
                 n->kind, n->off, n->depth, n->next, is_header ? ", stream header" : "");
      if (!is_header)
        FUZZ_CHECK(n->len == rlen, "node 0 does not span the stanza");
    } else {
      while (top > 0 && st->nodes[stack[top - 1]].depth >= n->depth)
        top--;
      FUZZ_CHECK(top > 0 && st->nodes[stack[top - 1]].depth + 1 == n->depth,
                 "node %zu: depth %u does not follow its parent", i, n->depth);
      const xsr_node *parent = &st->nodes[stack[top - 1]];
      FUZZ_CHECK(n->off >= parent->off && n->off + n->len <= parent->off + parent->len,
                 "node %zu not inside its parent", i);
    }
    /* Elements obey max_depth; text inside the deepest element sits one below. */
    FUZZ_CHECK(n->depth <= s->cfg.max_depth + (n->kind == XSR_NODE_ELEMENT ? 0u : 1u),
               "node %zu deeper than max_depth", i);
    if (n->next) {
      FUZZ_CHECK(st->nodes[n->next].depth == n->depth, "node %zu: next is not a sibling", i);
      FUZZ_CHECK(st->nodes[n->next].off >= n->off + n->len, "node %zu: next overlaps it", i);
    }
    fuzz_log_u64(l, n->off);
    fuzz_log_u64(l, n->len);
    fuzz_log_u64(l, n->next);
    fuzz_log_u64(l, ((uint64_t)n->kind << 32) | ((uint64_t)n->flags << 16) | n->depth);
    xsr_span nraw = xsr_stanza_node_raw(st, n);
    if (n->kind == XSR_NODE_ELEMENT) {
      FUZZ_CHECK(n->len >= 3 && raw[n->off] == '<' && raw[n->off + n->len - 1] == '>',
                 "element node %zu does not run from '<' to '>'", i);
      FUZZ_CHECK(n->name_len > 0 && n->name_len <= s->cfg.max_name &&
                     (size_t)n->name_len + 1 < n->len,
                 "element node %zu: bad name length %u", i, n->name_len);
      FUZZ_CHECK(n->prefix_len == 0 ||
                     (n->prefix_len + 1u < n->name_len && raw[n->off + 1 + n->prefix_len] == ':'),
                 "element node %zu: bad prefix length", i);
      FUZZ_CHECK(n->attr_count <= s->cfg.max_attrs, "element node %zu: too many attributes", i);
      FUZZ_CHECK((size_t)n->attr_first + n->attr_count <= st->attr_count,
                 "element node %zu: attributes out of range", i);
      attrs_seen += n->attr_count;
      xsr_span name = xsr_stanza_node_name(st, n);
      check_span_in(name, nraw, "element name");
      fuzz_log_u64(l, ((uint64_t)n->name_len << 16) | n->prefix_len);
      fuzz_log_u64(l, ((uint64_t)n->attr_first << 16) | n->attr_count);
      log_ns(s, n->ns);
      for (size_t k = n->attr_first; k < (size_t)n->attr_first + n->attr_count; k++) {
        const xsr_attr *a = &st->attrs[k];
        FUZZ_CHECK(a->name_len > 0 && a->name_off > n->off &&
                       a->name_off + a->name_len < n->off + n->len,
                   "attribute %zu: name outside its element", k);
        FUZZ_CHECK(a->value_off > a->name_off + a->name_len &&
                       a->value_off + a->value_len < n->off + n->len,
                   "attribute %zu: value outside its element", k);
        char q = raw[a->value_off - 1];
        FUZZ_CHECK((q == '\'' || q == '"') && raw[a->value_off + a->value_len] == q,
                   "attribute %zu: value not between matching quotes", k);
        xsr_span aname = xsr_stanza_attr_name(st, a);
        FUZZ_CHECK(!(a->prefix_len == 0 && aname.len == 5 && memcmp(aname.ptr, "xmlns", 5) == 0) &&
                       !(a->prefix_len == 5 && memcmp(raw + a->name_off, "xmlns", 5) == 0),
                   "attribute %zu: namespace declaration listed as an attribute", k);
        FUZZ_CHECK(a->prefix_len != 0 || a->ns == XSR_NS_NONE,
                   "attribute %zu: unprefixed attribute in a namespace", k);
        for (size_t j = n->attr_first; j < k; j++) {
          xsr_span other = xsr_stanza_attr_name(st, &st->attrs[j]);
          FUZZ_CHECK(!(st->attrs[j].ns == a->ns && other.len == aname.len &&
                       memcmp(other.ptr, aname.ptr, aname.len) == 0),
                     "attributes %zu and %zu share an expanded name", j, k);
        }
        xsr_span v = xsr_stanza_attr_raw(st, a);
        FUZZ_CHECK(!has_byte(v.ptr, v.len, '<'), "attribute %zu: '<' in value", k);
        int needs = has_byte(v.ptr, v.len, '&') || has_byte(v.ptr, v.len, '\t') ||
                    has_byte(v.ptr, v.len, '\n') || has_byte(v.ptr, v.len, '\r');
        FUZZ_CHECK(!needs || (a->flags & XSR_F_ESCAPED), "attribute %zu: XSR_F_ESCAPED missing", k);
        check_decode(s, xsr_decode_attr, v, a->flags & XSR_F_ESCAPED, "attribute value");
        fuzz_log_u64(l, a->name_off);
        fuzz_log_u64(l, ((uint64_t)a->name_len << 16) | a->prefix_len);
        fuzz_log_u64(l, a->value_off);
        fuzz_log_u64(l, a->value_len);
        fuzz_log_u64(l, a->flags);
        log_ns(s, a->ns);
      }
      if (!is_header) {
        /* The text content of every element decodes. */
        size_t cap = n->len, got = 0;
        char *out = scratch(s, cap + 1);
        xsr_err r = xsr_stanza_text(st, i, out, cap, &got);
        FUZZ_CHECK(r == XSR_OK && got <= cap, "xsr_stanza_text(node %zu): %s", i, xsr_err_name(r));
        fuzz_log_u64(l, got);
      }
      FUZZ_CHECK(top < sizeof stack / sizeof stack[0], "harness stack too small");
      stack[top++] = i;
    } else {
      FUZZ_CHECK(n->kind == XSR_NODE_TEXT || n->kind == XSR_NODE_CDATA, "node %zu: kind %u", i,
                 n->kind);
      FUZZ_CHECK(!is_header, "stream header view with a text node");
      /* CDATA content may hold '<'; character data may not. */
      FUZZ_CHECK(n->kind == XSR_NODE_CDATA || !has_byte(nraw.ptr, nraw.len, '<'),
                 "text node %zu holds '<'", i);
      int needs = has_byte(nraw.ptr, nraw.len, '\r') ||
                  (n->kind == XSR_NODE_TEXT && has_byte(nraw.ptr, nraw.len, '&'));
      FUZZ_CHECK(!needs || (n->flags & XSR_F_ESCAPED), "text node %zu: XSR_F_ESCAPED missing", i);
      check_decode(s, n->kind == XSR_NODE_TEXT ? xsr_decode_text : xsr_decode_cdata, nraw,
                   n->flags & XSR_F_ESCAPED, "text");
      if (n->kind == XSR_NODE_CDATA)
        FUZZ_CHECK(n->off >= 9 && memcmp(raw + n->off - 9, "<![CDATA[", 9) == 0 &&
                       memcmp(raw + n->off + n->len, "]]>", 3) == 0,
                   "CDATA node %zu not inside <![CDATA[ ]]>", i);
    }
  }
  FUZZ_CHECK(attrs_seen == st->attr_count, "%zu attributes listed, %zu belong to elements",
             st->attr_count, attrs_seen);
}

/* The routing span must be the raw value of the attribute (ns, name) of node 0. */
static void check_routing(const xsr_stanza *st, xsr_span span, unsigned bit, uint32_t ns,
                          const char *name) {
  const xsr_attr *a = xsr_stanza_find_attr(st, 0, ns, name);
  if (a == NULL) {
    FUZZ_CHECK(span.ptr == NULL, "routing '%s' set but the attribute is absent", name);
    FUZZ_CHECK(!(st->escaped & bit), "escaped bit for absent '%s'", name);
    return;
  }
  xsr_span v = xsr_stanza_attr_raw(st, a);
  FUZZ_CHECK(span.ptr == v.ptr && span.len == v.len, "routing '%s' is not its attribute", name);
  FUZZ_CHECK(!(st->escaped & bit) == !(a->flags & XSR_F_ESCAPED),
             "escaped bit for '%s' disagrees with the attribute flag", name);
}

static void check_api_busy(fuzz_session *s) {
  if (!s->opts->check_callbacks)
    return;
  xsr_err r;
  FUZZ_CHECK((r = xsr_parser_feed(s->p, "<", 1)) == XSR_EBUSY, "feed from a callback: %s",
             xsr_err_name(r));
  FUZZ_CHECK((r = xsr_parser_commit(s->p, 0)) == XSR_EBUSY, "commit from a callback: %s",
             xsr_err_name(r));
  FUZZ_CHECK((r = xsr_parser_resume(s->p)) == XSR_EBUSY, "resume from a callback: %s",
             xsr_err_name(r));
  FUZZ_CHECK((r = xsr_parser_restart(s->p)) == XSR_EBUSY, "restart from a callback: %s",
             xsr_err_name(r));
  FUZZ_CHECK(xsr_parser_offset(s->p) <= s->fed, "offset beyond the bytes fed");
}

static void enter_callback(fuzz_session *s, const char *what) {
  FUZZ_CHECK(!s->in_callback, "%s: callback re-entered", what);
  FUZZ_CHECK(!s->failed, "%s: callback after the parser failed", what);
  s->in_callback = 1;
}

static int on_open(void *user, const xsr_stream_header *h) {
  fuzz_session *s = user;
  enter_callback(s, "stream-open");
  FUZZ_CHECK(s->state == 0, "stream-open in state %d", s->state);
  const xsr_stanza *el = h->element;
  FUZZ_CHECK(el != NULL && el->offset == h->offset, "header element view missing or misplaced");
  FUZZ_CHECK(h->offset >= s->last_end, "stream-open at %llu before the previous event's end",
             (unsigned long long)h->offset);
  check_stream_bytes(s, el->offset, el->raw.ptr, el->raw.len, "stream header");
  FUZZ_CHECK(el->raw.len >= 2 && el->raw.ptr[0] == '<' && el->raw.ptr[el->raw.len - 1] == '>',
             "stream header not a tag");
  check_span_in(h->prefix, el->raw, "header prefix");
  check_span_in(h->to, el->raw, "header to");
  check_span_in(h->from, el->raw, "header from");
  check_span_in(h->id, el->raw, "header id");
  check_span_in(h->version, el->raw, "header version");
  check_span_in(h->lang, el->raw, "header lang");
  unsigned accept = s->cfg.accept;
  FUZZ_CHECK((h->content_ns == XSR_NS_CLIENT && (accept & XSR_ACCEPT_CLIENT)) ||
                 (h->content_ns == XSR_NS_SERVER && (accept & XSR_ACCEPT_SERVER)) ||
                 (h->content_ns == XSR_NS_COMPONENT && (accept & XSR_ACCEPT_COMPONENT)),
             "content namespace %u not accepted", h->content_ns);
  FUZZ_CHECK((h->version.ptr == NULL) == (h->version_major == -1),
             "version_major %d but version %s", h->version_major,
             h->version.ptr ? "present" : "absent");
  /* Versions above 1.x are refused; 0.x is a pre-1.0 peer (RFC 6120 4.7.5). */
  FUZZ_CHECK(h->version.ptr == NULL || (h->version_major >= 0 && h->version_major <= 1),
             "accepted version %d.%d", h->version_major, h->version_minor);
  check_index(s, el, 1);
  fuzz_log *l = &s->res->log;
  fuzz_log_bytes(l, "O", 1);
  fuzz_log_u64(l, h->offset);
  fuzz_log_u64(l, el->raw.len);
  fuzz_log_u64(l, h->content_ns);
  fuzz_log_u64(l, h->escaped);
  fuzz_log_u64(l, (uint64_t)(int64_t)h->version_major);
  fuzz_log_u64(l, (uint64_t)(int64_t)h->version_minor);
  log_span(l, h->prefix, el->raw.ptr);
  log_span(l, h->to, el->raw.ptr);
  log_span(l, h->from, el->raw.ptr);
  log_span(l, h->id, el->raw.ptr);
  log_span(l, h->version, el->raw.ptr);
  log_span(l, h->lang, el->raw.ptr);
  s->state = 1;
  s->open_offset = h->offset;
  s->res_stanzas_in_stream = 0;
  s->last_end = h->offset + el->raw.len;
  s->res->opens++;
  note_end(s->res, xsr_parser_offset(s->p), s->base);
  check_api_busy(s);
  s->in_callback = 0;
  return (s->opts->pause_mask & 2) ? XSR_PAUSE : 0;
}

static int on_stanza(void *user, const xsr_stanza *st) {
  fuzz_session *s = user;
  enter_callback(s, "stanza");
  /* The index: carried by the view when the scan built it (eager), else
   * built on demand, once: a second ask gives the same arrays. */
  xsr_stanza v = *st;
  if (s->opts->eager_index) {
    FUZZ_CHECK(st->nodes != NULL && st->index_parser_ == NULL, "eager view without its index");
  } else {
    FUZZ_CHECK(st->nodes == NULL && st->node_count == 0 && st->attrs == NULL && st->attr_count == 0,
               "lazy view carries an index");
    size_t n1 = 0, n2 = 0;
    const xsr_node *a1 = xsr_stanza_nodes(st, &n1);
    if (a1 == NULL) { /* an injected allocation failure: the logs are not comparable */
      FUZZ_CHECK(n1 == 0, "no index, but %zu nodes", n1);
      s->res->enomem = 1;
      s->in_callback = 0;
      return 0;
    }
    xsr_err r = xsr_stanza_index(&v); /* built already: cannot fail */
    FUZZ_CHECK(r == XSR_OK, "xsr_stanza_index: %s", xsr_err_name(r));
    const xsr_node *a2 = xsr_stanza_nodes(st, &n2);
    FUZZ_CHECK(a1 == v.nodes && a2 == v.nodes && n1 == v.node_count && n2 == n1,
               "the index was built twice or moved");
  }
  st = &v;
  size_t mark = s->res->log.len; /* where this event's record starts */
  FUZZ_CHECK(s->state == 1, "stanza in state %d", s->state);
  FUZZ_CHECK(st->offset >= s->last_end, "stanza at %llu overlaps the previous event",
             (unsigned long long)st->offset);
  check_stream_bytes(s, st->offset, st->raw.ptr, st->raw.len, "stanza");
  FUZZ_CHECK(st->raw.len <= s->cfg.max_stanza, "stanza of %zu bytes over max_stanza %zu",
             st->raw.len, s->cfg.max_stanza);
  check_span_in(st->name, st->raw, "stanza name");
  check_span_in(st->prefix, st->raw, "stanza prefix");
  FUZZ_CHECK(st->name.len > 0, "stanza with an empty name");
  xsr_span n0 = xsr_stanza_node_name(st, &st->nodes[0]);
  FUZZ_CHECK(n0.ptr == st->name.ptr && n0.len == st->name.len, "stanza name is not node 0's name");
  FUZZ_CHECK(st->ns == st->nodes[0].ns, "stanza ns is not node 0's ns");
  check_routing(st, st->to, XSR_ROUTE_TO, XSR_NS_NONE, "to");
  check_routing(st, st->from, XSR_ROUTE_FROM, XSR_NS_NONE, "from");
  check_routing(st, st->id, XSR_ROUTE_ID, XSR_NS_NONE, "id");
  check_routing(st, st->type, XSR_ROUTE_TYPE, XSR_NS_NONE, "type");
  check_routing(st, st->lang, XSR_ROUTE_LANG, XSR_NS_XML, "lang");
  check_index(s, st, 0);
  /* find_child agrees with a walk of the index. */
  size_t first = 0;
  for (size_t i = 1; i < st->node_count; i++)
    if (st->nodes[i].kind == XSR_NODE_ELEMENT && st->nodes[i].depth == 2) {
      first = i;
      break;
    }
  if (first) {
    size_t got = xsr_stanza_find_child(st, 0, st->nodes[first].ns, NULL);
    FUZZ_CHECK(got == first, "find_child(any name) = %zu, first child element is %zu", got, first);
  } else {
    FUZZ_CHECK(xsr_stanza_find_child(st, 0, st->ns, NULL) == 0, "find_child found a phantom");
  }
  fuzz_log *l = &s->res->log;
  fuzz_log_bytes(l, "S", 1);
  fuzz_log_u64(l, st->offset);
  fuzz_log_u64(l, st->raw.len);
  fuzz_log_u64(l, st->escaped);
  log_span(l, st->name, st->raw.ptr);
  log_span(l, st->prefix, st->raw.ptr);
  log_span(l, st->to, st->raw.ptr);
  log_span(l, st->from, st->raw.ptr);
  log_span(l, st->id, st->raw.ptr);
  log_span(l, st->type, st->raw.ptr);
  log_span(l, st->lang, st->raw.ptr);
  log_ns(s, st->ns);

  /* XSR_RETRY: a refused stanza is not consumed, so its record leaves the
   * log; the record it makes when reported again must be the same. */
  const fuzz_run_opts *ro = s->opts;
  if (s->retry_off != UINT64_MAX) {
    FUZZ_CHECK(st->offset == s->retry_off,
               "the stanza refused at %llu was not reported again first (next: %llu)",
               (unsigned long long)s->retry_off, (unsigned long long)st->offset);
    FUZZ_CHECK(l->len - mark == s->retry_rec.len &&
                   memcmp(l->buf + mark, s->retry_rec.buf, s->retry_rec.len) == 0,
               "the stanza refused at %llu came back with another view",
               (unsigned long long)st->offset);
    if (s->retry_left > 0) {
      s->retry_left--;
      l->len = mark;
      check_api_busy(s);
      s->in_callback = 0;
      return XSR_RETRY;
    }
    s->retry_off = UINT64_MAX;
  } else if (ro->retry_every > 0 && ro->retry_times > 0 &&
             ++s->fresh % (uint64_t)ro->retry_every == 0) {
    s->retry_rec.len = 0;
    fuzz_log_bytes(&s->retry_rec, l->buf + mark, l->len - mark);
    s->retry_off = st->offset;
    s->retry_len = st->raw.len;
    s->retry_left = ro->retry_times - 1;
    l->len = mark;
    check_api_busy(s);
    s->in_callback = 0;
    return XSR_RETRY;
  }

  s->last_end = st->offset + st->raw.len;
  s->res->stanzas++;
  s->res_stanzas_in_stream++;
  note_end(s->res, xsr_parser_offset(s->p), s->base);
  check_api_busy(s);
  s->in_callback = 0;

  const fuzz_run_opts *o = s->opts;
  if ((o->restart_on && st->name.len == 7 && memcmp(st->name.ptr, "success", 7) == 0) ||
      (o->restart_on && st->name.len == 7 && memcmp(st->name.ptr, "proceed", 7) == 0) ||
      (o->restart_every && s->res->stanzas % (uint64_t)o->restart_every == 0)) {
    s->want_restart = 1;
    return XSR_PAUSE;
  }
  return (o->pause_mask & 1) ? XSR_PAUSE : 0;
}

static int on_close(void *user, uint64_t offset) {
  fuzz_session *s = user;
  enter_callback(s, "stream-close");
  FUZZ_CHECK(s->state == 1, "stream-close in state %d", s->state);
  /* An empty stream element (<stream:stream .../>) closes where it opened. */
  int empty = offset == s->open_offset;
  FUZZ_CHECK((offset >= s->last_end || (empty && s->res_stanzas_in_stream == 0)) &&
                 offset + 3 <= s->fed,
             "stream-close at %llu", (unsigned long long)offset);
  FUZZ_CHECK(memcmp(s->input + (offset - s->base), empty ? "<" : "</", empty ? 1 : 2) == 0,
             "stream-close not at '</'");
  fuzz_log *l = &s->res->log;
  fuzz_log_bytes(l, "C", 1);
  fuzz_log_u64(l, offset);
  s->state = 2;
  if (offset + 2 > s->last_end)
    s->last_end = offset + 2;
  note_end(s->res, xsr_parser_offset(s->p), s->base);
  check_api_busy(s);
  s->in_callback = 0;
  return (s->opts->pause_mask & 2) ? XSR_PAUSE : 0;
}

static const xsr_parser_callbacks fuzz_callbacks = {on_open, on_stanza, on_close};

fuzz_session *fuzz_session_new(const xsr_parser_config *cfg, const xsr_allocator *alloc) {
  fuzz_session *s = calloc(1, sizeof *s);
  FUZZ_CHECK(s != NULL, "out of memory in the harness");
  s->cfg = *cfg;
  s->retry_off = UINT64_MAX;
  s->p = xsr_parser_new(cfg, &fuzz_callbacks, s, alloc);
  if (s->p == NULL) {
    free(s);
    return NULL;
  }
  return s;
}

xsr_parser *fuzz_session_parser(fuzz_session *s) { return s->p; }

void fuzz_session_reset(fuzz_session *s) {
  xsr_parser_reset(s->p);
  s->base = s->fed = 0;
  s->state = 0;
  s->last_end = 0;
  s->failed = 0;
  s->want_restart = 0;
  s->retry_off = UINT64_MAX; /* a reset drops a refused stanza too */
  s->fresh = 0;
  FUZZ_CHECK(xsr_parser_bytes(s->p) == 0 && xsr_parser_offset(s->p) == 0 &&
                 xsr_parser_held(s->p) == 0 && xsr_parser_error(s->p, NULL) == XSR_OK &&
                 !xsr_parser_closed(s->p),
             "reset did not return the parser to its initial state");
}

void fuzz_session_free(fuzz_session *s) {
  if (s == NULL)
    return;
  xsr_parser_free(s->p);
  fuzz_log_free(&s->retry_rec);
  free(s->scratch);
  free(s);
}

/* Continues after XSR_PAUSED (restarting where asked) until the parser
 * stops pausing. */
static xsr_err drain_pauses(fuzz_session *s, xsr_err r) {
  while (r == XSR_PAUSED) {
    if (s->retry_off != UINT64_MAX) {
      /* Stopped before the refused stanza, which the parser keeps. */
      FUZZ_CHECK(xsr_parser_offset(s->p) == s->retry_off,
                 "paused at %llu after refusing the stanza at %llu",
                 (unsigned long long)xsr_parser_offset(s->p), (unsigned long long)s->retry_off);
      FUZZ_CHECK(xsr_parser_held(s->p) >= s->retry_len,
                 "the parser holds %zu bytes, the refused stanza has %zu", xsr_parser_held(s->p),
                 s->retry_len);
    }
    if (s->want_restart) {
      s->want_restart = 0;
      xsr_err rr = xsr_parser_restart(s->p);
      FUZZ_CHECK(rr == XSR_OK, "restart after a pause: %s", xsr_err_name(rr));
      FUZZ_CHECK(!xsr_parser_closed(s->p), "closed() still set after restart");
      fuzz_log_bytes(&s->res->log, "R", 1);
      s->state = 0;
    }
    if (s->opts->between)
      s->opts->between(s->opts->between_user);
    r = xsr_parser_resume(s->p);
  }
  return r;
}

void fuzz_session_run(fuzz_session *s, const fuzz_run_opts *opts, const uint8_t *data, size_t size,
                      fuzz_result *res) {
  xsr_parser *p = s->p;
  s->opts = opts;
  s->res = res;
  s->input = data;
  s->base = s->fed = xsr_parser_bytes(p);
  fuzz_chunks chunks = opts->chunks;
  xsr__parser_eager_index(p, opts->eager_index);
  xsr_err r = xsr_parser_error(p, NULL);
  size_t pos = 0, cut = 0;

  while (r == XSR_OK && pos < size) {
    size_t n = size - pos;
    while (cut < opts->ncuts && opts->cuts[cut] <= pos)
      cut++;
    if (cut < opts->ncuts && opts->cuts[cut] < size) {
      n = opts->cuts[cut] - pos; /* a read that ends where an event ended */
    } else if (opts->way != FUZZ_FEED_WHOLE) {
      size_t c = fuzz_chunks_next(&chunks);
      if (c < n)
        n = c;
    }
    if (opts->way == FUZZ_BUFFER) {
      size_t room = opts->buffer_ask;
      char *buf = xsr_parser_buffer(p, &room);
      if (buf == NULL) {
        FUZZ_CHECK(room == 0, "xsr_parser_buffer returned NULL with room %zu", room);
        r = xsr_parser_error(p, NULL);
        if (r == XSR_OK)
          r = XSR_ENOMEM; /* out of memory before any error was stored */
        break;
      }
      FUZZ_CHECK(room >= (opts->buffer_ask ? opts->buffer_ask : 65536),
                 "xsr_parser_buffer gave %zu bytes, %zu asked", room, opts->buffer_ask);
      if (n > room)
        n = room;
      memcpy(buf, data + pos, n);
      /* Bytes past the commit must not be looked at. */
      memset(buf + n, '<', room - n > 64 ? 64 : room - n);
      s->fed += n;
      r = xsr_parser_commit(p, n);
    } else {
      /* An exact-size heap copy, freed before the next call: ASan catches
       * reads past the chunk and references kept after the call. */
      char *copy = malloc(n ? n : 1);
      FUZZ_CHECK(copy != NULL, "out of memory in the harness");
      memcpy(copy, data + pos, n);
      s->fed += n;
      r = xsr_parser_feed(p, copy, n);
      /* Paused: the parser must have kept its own copy of the rest. */
      free(copy);
    }
    if (opts->between)
      opts->between(opts->between_user);
    r = drain_pauses(s, r);
    pos += n;
    FUZZ_CHECK(xsr_parser_bytes(p) == s->fed, "xsr_parser_bytes %llu, fed %llu",
               (unsigned long long)xsr_parser_bytes(p), (unsigned long long)s->fed);
    FUZZ_CHECK(xsr_parser_offset(p) <= s->fed, "offset past the bytes fed");
    if (r == XSR_OK)
      FUZZ_CHECK(xsr_parser_held(p) <= s->cfg.max_stanza,
                 "parser holds %zu bytes with max_stanza %zu", xsr_parser_held(p),
                 s->cfg.max_stanza);
  }
  FUZZ_CHECK(r != XSR_PAUSED, "still paused after draining");

  uint64_t eoff = 0;
  xsr_err stored = xsr_parser_error(p, &eoff);
  if (r == XSR_ENOMEM)
    res->enomem = 1;
  if (r != XSR_OK && r != XSR_ENOMEM) {
    FUZZ_CHECK(stored == r, "call returned %s, xsr_parser_error says %s", xsr_err_name(r),
               xsr_err_name(stored));
    FUZZ_CHECK(eoff >= s->base && eoff < s->fed, "error offset %llu outside the %llu bytes fed",
               (unsigned long long)eoff, (unsigned long long)s->fed);
    FUZZ_CHECK(*xsr_err_condition(r) != '\0', "error %s without an RFC 6120 condition",
               xsr_err_name(r));
    /* A failed parser refuses everything, the same way, and stays silent. */
    s->failed = 1;
    size_t held = xsr_parser_held(p);
    xsr_err again = xsr_parser_feed(p, "<a/>", 4);
    FUZZ_CHECK(again == r, "feed after %s returned %s", xsr_err_name(r), xsr_err_name(again));
    size_t room = 16;
    char *buf = xsr_parser_buffer(p, &room);
    FUZZ_CHECK(buf == NULL && room == 0, "xsr_parser_buffer after an error gave room");
    FUZZ_CHECK((again = xsr_parser_commit(p, 0)) == r, "commit after error: %s",
               xsr_err_name(again));
    FUZZ_CHECK((again = xsr_parser_resume(p)) == r, "resume after error: %s", xsr_err_name(again));
    FUZZ_CHECK((again = xsr_parser_restart(p)) == r, "restart after error: %s",
               xsr_err_name(again));
    uint64_t eoff2 = 0;
    FUZZ_CHECK(xsr_parser_error(p, &eoff2) == r && eoff2 == eoff, "stored error changed");
    FUZZ_CHECK(xsr_parser_held(p) <= held, "failed parser grew from %zu to %zu bytes", held,
               xsr_parser_held(p));
    s->fed = xsr_parser_bytes(p); /* the refused bytes may or may not be counted */
  }
  res->err = r;
  res->err_offset = eoff;
  res->closed = xsr_parser_closed(p);
  FUZZ_CHECK(res->closed == (s->state == 2), "closed() disagrees with the callbacks");
  fuzz_log *l = &res->log;
  fuzz_log_bytes(l, "E", 1);
  fuzz_log_u64(l, (uint64_t)r);
  fuzz_log_u64(l, r == XSR_OK ? 0 : eoff);
  fuzz_log_u64(l, (uint64_t)res->closed);
}

void fuzz_parse(const xsr_parser_config *cfg, const fuzz_run_opts *opts, const uint8_t *data,
                size_t size, fuzz_result *res) {
  fuzz_session *s = fuzz_session_new(cfg, NULL);
  FUZZ_CHECK(s != NULL, "xsr_parser_new failed");
  fuzz_session_run(s, opts, data, size, res);
  fuzz_session_free(s);
}
