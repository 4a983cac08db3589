/* SPDX-License-Identifier: MIT */
/*
 * writer_fuzzer: the writer round trip.  What xsr_writer emits, the parser
 * accepts, and decodes back to the values given.
 *
 * Input: a program of byte-coded operations, run against a writer:
 *   op % 4 == 0  start an element (name from a fixed list, by the next byte)
 *   op % 4 == 1  attribute: name from a fixed list (unused on this element),
 *                value of `next byte % 64` bytes taken from the input
 *   op % 4 == 2  text of `next byte % 64` bytes taken from the input
 *   op % 4 == 3  end the innermost element
 * Top-level elements become stanzas of one stream (xsr_writer_stream_open,
 * _close).  Values and text are arbitrary bytes.
 *
 * Checks: the writer succeeds exactly when every value and text is UTF-8
 * made of XML characters, and otherwise fails with XSR_ECHAR or XSR_EUTF8;
 * with a buffer one byte short it reports XSR_ENOSPC and the exact length,
 * writing nothing past the buffer; the parser accepts its output with no
 * error, the stream closed, and every stanza comes back with the same
 * element names in the same order, every attribute decoding
 * (xsr_decode_attr) to its value, and every element's text
 * (xsr_stanza_text) equal to the text written into it.
 */
#include <string.h>

#include "fuzz.h"

#define MAX_ELEMS 512
#define MAX_ATTRS 8

static const char *const names[8] = {"message", "body", "x",   "item",
                                     "query",   "a-b",  "c.d", "\xc3\xa9l"};
static const char *const attr_names[MAX_ATTRS] = {"to",       "from", "id",  "type",
                                                  "xml:lang", "a",    "b_c", "d-e"};

typedef struct elem {
  int name;
  int parent; /* -1 for a stanza */
  unsigned attrs_used;
  const uint8_t *attr_val[MAX_ATTRS];
  size_t attr_len[MAX_ATTRS];
  uint8_t *text;
  size_t text_len;
} elem;

typedef struct program {
  elem el[MAX_ELEMS];
  size_t count;
  int valid; /* every value and text is XML characters in UTF-8 */
} program;

/* Runs the program from the input against w; when prog is not NULL, also
 * records the expected tree. */
static void run(const uint8_t *data, size_t size, xsr_writer *w, program *prog) {
  fuzz_input in = {data, size};
  /* The decisions below depend only on the input, never on prog, so every
   * pass writes the same document. */
  int stack[XSR_WRITER_MAX_DEPTH];
  unsigned used[XSR_WRITER_MAX_DEPTH];
  int depth = 0;
  size_t count = 0;
  int content = 0; /* the innermost element has content: no more attributes */
  xsr_writer_stream_open(w, "jabber:client", "example.com", NULL, "s1", "en");
  while (in.size > 0) {
    uint8_t op = fuzz_take_byte(&in);
    uint8_t arg = fuzz_take_byte(&in);
    switch (op & 3) {
    case 0:
      if (depth == XSR_WRITER_MAX_DEPTH - 1 || count == MAX_ELEMS)
        break;
      if (prog != NULL) {
        elem *e = &prog->el[count];
        memset(e, 0, sizeof *e);
        e->name = arg & 7;
        e->parent = depth ? stack[depth - 1] : -1;
        prog->count = count + 1;
      }
      stack[depth] = (int)count++;
      used[depth] = 0;
      xsr_writer_start(w, names[arg & 7]);
      depth++;
      content = 0;
      break;
    case 1: {
      size_t len = (size_t)((op >> 2) % 64);
      if (len > in.size)
        len = in.size;
      const uint8_t *v = in.data;
      in.data += len, in.size -= len;
      int k = arg % MAX_ATTRS;
      if (depth == 0 || content || (used[depth - 1] & (1u << k)))
        break;
      used[depth - 1] |= 1u << k;
      if (prog != NULL) {
        elem *e = &prog->el[stack[depth - 1]];
        e->attrs_used |= 1u << k;
        e->attr_val[k] = v;
        e->attr_len[k] = len;
        if (!fuzz_xml_chars_ok(v, len))
          prog->valid = 0;
      }
      xsr_writer_attr_n(w, attr_names[k], strlen(attr_names[k]), (const char *)v, len);
      break;
    }
    case 2: {
      size_t len = (size_t)((op >> 2) % 64) + ((size_t)arg << 6) % 256;
      if (len > in.size)
        len = in.size;
      const uint8_t *v = in.data;
      in.data += len, in.size -= len;
      if (depth == 0)
        break; /* no text between stanzas */
      if (prog != NULL) {
        elem *e = &prog->el[stack[depth - 1]];
        uint8_t *t = realloc(e->text, e->text_len + len + 1);
        FUZZ_CHECK(t != NULL, "out of memory in the harness");
        if (len)
          memcpy(t + e->text_len, v, len);
        e->text = t;
        e->text_len += len;
        if (!fuzz_xml_chars_ok(v, len))
          prog->valid = 0;
      }
      xsr_writer_text(w, (const char *)v, len);
      content = 1;
      break;
    }
    default:
      if (depth == 0)
        break;
      xsr_writer_end(w);
      depth--;
      content = 1;
      break;
    }
  }
  while (depth-- > 0)
    xsr_writer_end(w);
  xsr_writer_stream_close(w);
}

typedef struct check {
  program *prog;
  size_t next; /* next expected element, in document order */
  size_t stanzas;
  char *buf;
  size_t cap;
} check;

static int on_stanza(void *user, const xsr_stanza *st) {
  xsr_stanza indexed_ = *st; /* the index is built on demand */
  if (xsr_stanza_index(&indexed_) == XSR_OK)
    st = &indexed_;
  check *c = user;
  size_t first = c->next;
  for (size_t i = 0; i < st->node_count; i++) {
    const xsr_node *n = &st->nodes[i];
    if (n->kind != XSR_NODE_ELEMENT)
      continue;
    FUZZ_CHECK(c->next < c->prog->count, "the parser reports more elements than were written");
    const elem *e = &c->prog->el[c->next];
    FUZZ_CHECK((i == 0) == (e->parent < 0), "element %zu: stanza boundary moved", c->next);
    xsr_span name = xsr_stanza_node_name(st, n);
    const char *want = names[e->name];
    FUZZ_CHECK(name.len == strlen(want) && memcmp(name.ptr, want, name.len) == 0,
               "element %zu: name %.*s, written %s", c->next, (int)name.len, name.ptr, want);
    FUZZ_CHECK(n->attr_count == (unsigned)__builtin_popcount(e->attrs_used),
               "element %zu: %u attributes, %d written", c->next, n->attr_count,
               __builtin_popcount(e->attrs_used));
    for (int k = 0; k < MAX_ATTRS; k++) {
      if (!(e->attrs_used & (1u << k)))
        continue;
      int is_lang = k == 4;
      const xsr_attr *a = xsr_stanza_find_attr(st, i, is_lang ? XSR_NS_XML : XSR_NS_NONE,
                                               is_lang ? "lang" : attr_names[k]);
      FUZZ_CHECK(a != NULL, "element %zu: attribute %s lost", c->next, attr_names[k]);
      size_t got = 0;
      xsr_err r = xsr_decode_attr(xsr_stanza_attr_raw(st, a), c->buf, c->cap, &got);
      FUZZ_CHECK(r == XSR_OK && got == e->attr_len[k] && memcmp(c->buf, e->attr_val[k], got) == 0,
                 "element %zu: attribute %s decodes to something else than written", c->next,
                 attr_names[k]);
    }
    size_t got = 0;
    xsr_err r = xsr_stanza_text(st, i, c->buf, c->cap, &got);
    FUZZ_CHECK(r == XSR_OK && got == e->text_len && (got == 0 || memcmp(c->buf, e->text, got) == 0),
               "element %zu: text of %zu bytes decodes to %zu other bytes (%s)", c->next,
               e->text_len, got, xsr_err_name(r));
    c->next++;
  }
  FUZZ_CHECK(c->next > first, "stanza without elements");
  c->stanzas++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static program prog; /* large: kept off the stack */
  prog.count = 0;
  prog.valid = 1;

  /* Measure, then write for real into an exact-size buffer. */
  xsr_writer w;
  xsr_writer_init(&w, NULL, 0);
  run(data, size, &w, &prog);
  size_t need = 0;
  xsr_err r = xsr_writer_finish(&w, &need);
  if (!prog.valid) {
    FUZZ_CHECK(r == XSR_ECHAR || r == XSR_EUTF8, "writer given non-XML characters returns %s",
               xsr_err_name(r));
    goto out;
  }
  FUZZ_CHECK(r == XSR_ENOSPC && need > 0, "measuring pass returns %s", xsr_err_name(r));

  char *buf = malloc(need);
  FUZZ_CHECK(buf != NULL, "out of memory in the harness");
  if (need > 1) {
    /* One byte short: ENOSPC, the same length, nothing written past cap. */
    xsr_writer_init(&w, buf, need - 1);
    run(data, size, &w, NULL);
    size_t again = 0;
    r = xsr_writer_finish(&w, &again);
    FUZZ_CHECK(r == XSR_ENOSPC && again == need, "cap one short: %s, need %zu, want %zu",
               xsr_err_name(r), again, need);
  }
  xsr_writer_init(&w, buf, need);
  run(data, size, &w, NULL);
  size_t len = 0;
  r = xsr_writer_finish(&w, &len);
  FUZZ_CHECK(r == XSR_OK && len == need, "exact cap: %s, length %zu, measured %zu", xsr_err_name(r),
             len, need);

  check c = {&prog, 0, 0, malloc(need), need};
  FUZZ_CHECK(c.buf != NULL, "out of memory in the harness");
  static const xsr_parser_callbacks cb = {NULL, on_stanza, NULL};
  xsr_parser_config cfg;
  fuzz_config_generous(&cfg);
  xsr_parser *p = xsr_parser_new(&cfg, &cb, &c, NULL);
  FUZZ_CHECK(p != NULL, "xsr_parser_new failed");
  r = xsr_parser_feed(p, buf, len);
  uint64_t off = 0;
  xsr_parser_error(p, &off);
  FUZZ_CHECK(r == XSR_OK, "the parser rejects the writer's output: %s at offset %llu: %.*s",
             xsr_err_name(r), (unsigned long long)off, (int)(len - off < 40 ? len - off : 40),
             buf + off);
  FUZZ_CHECK(xsr_parser_closed(p), "the writer's stream is not closed");
  FUZZ_CHECK(c.next == prog.count, "%zu elements written, %zu parsed", prog.count, c.next);
  xsr_parser_free(p);
  free(c.buf);
  free(buf);
out:
  for (size_t i = 0; i < prog.count; i++)
    free(prog.el[i].text);
  return 0;
}
