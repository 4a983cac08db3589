/* SPDX-License-Identifier: MIT */
/*
 * Stanza views and decoding: the xsr_decode_* functions on their own, the
 * lookup helpers (find_attr, find_child, stanza_text) on parsed stanzas, the
 * routing spans and their escaped bits, and namespace ids.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "xsr_test.h"

typedef xsr_err (*decode_fn)(xsr_span, char *, size_t, size_t *);

static void check_decode(decode_fn fn, const char *raw, size_t raw_len, const char *want,
                         size_t want_len) {
  char out[512];
  size_t n = 0;
  xsr_span s = {raw, raw_len};
  cr_assert_lt(raw_len, sizeof out);
  xsr_err e = fn(s, out, raw_len, &n);
  cr_assert_eq(e, XSR_OK, "decoding \"%.*s\": %s", (int)raw_len, raw, xsr_err_name(e));
  cr_expect_eq(n, want_len, "decoding \"%.*s\": length %zu, want %zu", (int)raw_len, raw, n,
               want_len);
  cr_expect(n == want_len && memcmp(out, want, n) == 0, "decoding \"%.*s\" gave \"%.*s\"",
            (int)raw_len, raw, (int)n, out);
  if (want_len > 0) {
    size_t need = 0;
    cr_expect_eq(fn(s, out, want_len - 1, &need), XSR_ENOSPC, "cap one short of \"%.*s\"",
                 (int)raw_len, raw);
    cr_expect_eq(need, want_len);
    need = 0;
    cr_expect_eq(fn(s, NULL, 0, &need), XSR_ENOSPC, "cap 0 for \"%.*s\"", (int)raw_len, raw);
    cr_expect_eq(need, want_len);
  }
  /* An exact-size buffer suffices. */
  n = 0;
  cr_expect_eq(fn(s, out, want_len, &n), XSR_OK);
  cr_expect_eq(n, want_len);
}

#define DEC(fn, raw, want) check_decode(fn, raw, sizeof(raw) - 1, want, sizeof(want) - 1)

Test(decode, text) {
  DEC(xsr_decode_text, "", "");
  DEC(xsr_decode_text, "plain", "plain");
  DEC(xsr_decode_text, "&lt;&gt;&amp;&apos;&quot;", "<>&'\"");
  DEC(xsr_decode_text, "&#65;&#x41;&#0065;&#x00041;", "AAAA");
  DEC(xsr_decode_text, "&#233;&#x20AC;&#128512;&#x10FFFF;",
      "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
  DEC(xsr_decode_text, "a\r\nb\rc\nd\r\r\ne", "a\nb\nc\nd\n\ne");
  DEC(xsr_decode_text, "\r", "\n");
  DEC(xsr_decode_text, "&#13;&#10;&#9;", "\r\n\t");
  DEC(xsr_decode_text, "x&#13;\r\n", "x\r\n");
  DEC(xsr_decode_text, "\xc3\xa9t\xc3\xa9 &amp; \xe6\xb6\x88", "\xc3\xa9t\xc3\xa9 & \xe6\xb6\x88");
  DEC(xsr_decode_text, "\t a \t", "\t a \t");
}

Test(decode, attr) {
  DEC(xsr_decode_attr, "", "");
  DEC(xsr_decode_attr, "a\tb\nc\rd\r\ne", "a b c d e");
  DEC(xsr_decode_attr, "  two  spaces  ", "  two  spaces  ");
  DEC(xsr_decode_attr, "&#9;&#10;&#13;&#x20;", "\t\n\r ");
  DEC(xsr_decode_attr, "a&amp;b&lt;c&gt;d&apos;e&quot;f", "a&b<c>d'e\"f");
  DEC(xsr_decode_attr, "\r\n\r\n", "  ");
  DEC(xsr_decode_attr, "juliet@example.com/balcony", "juliet@example.com/balcony");
}

Test(decode, cdata) {
  DEC(xsr_decode_cdata, "", "");
  DEC(xsr_decode_cdata, "a\r\nb\rc", "a\nb\nc");
  DEC(xsr_decode_cdata, "&amp; <x> &#65;", "&amp; <x> &#65;");
  DEC(xsr_decode_cdata, "]]", "]]");
}

/* ---- views of parsed stanzas --------------------------------------------- */

#define HDR                                                                                        \
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "          \
  "to='example.com' version='1.0'>"

typedef struct seen {
  int count;
  xsr_parser *p;
  void (*check)(struct seen *s, const xsr_stanza *st);
  uint32_t dyn_ns;
  tbuf canon;
  tbuf problems;
} seen;

static int on_stanza(void *user, const xsr_stanza *st) {
  xsr_stanza indexed_ = *st; /* the index is built on demand */
  if (xsr_stanza_index(&indexed_) == XSR_OK)
    st = &indexed_;
  seen *s = user;
  s->count++;
  xt_canon_stanza(s->p, st, &s->canon, &s->problems);
  if (s->check)
    s->check(s, st);
  return 0;
}

static const xsr_parser_callbacks cbs = {NULL, on_stanza, NULL};

static void parse(seen *s, const char *input) {
  xsr_parser *p = xsr_parser_new(NULL, &cbs, s, NULL);
  cr_assert_not_null(p);
  s->p = p;
  xsr_err e = xsr_parser_feed(p, input, strlen(input));
  cr_expect_eq(e, XSR_OK, "parse failed: %s", xsr_err_name(e));
  cr_expect_eq(s->problems.len, 0, "index problems:\n%s", tbuf_str(&s->problems));
  xsr_parser_free(p);
  tbuf_free(&s->canon);
  tbuf_free(&s->problems);
}

static int span_is(xsr_span s, const char *want) {
  return s.ptr && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static void check_message(seen *s, const xsr_stanza *st) {
  cr_expect(span_is(st->name, "message"));
  cr_expect_eq(st->prefix.len, 0);
  cr_expect_eq(st->ns, XSR_NS_CLIENT);
  cr_expect(span_is(st->to, "romeo@example.net"));
  cr_expect(span_is(st->from, "juliet@example.com/balcony"));
  cr_expect(span_is(st->id, "a&amp;b"), "id is raw, undecoded");
  cr_expect(span_is(st->type, "chat"));
  cr_expect(span_is(st->lang, "en"));
  cr_expect_eq(st->escaped, XSR_ROUTE_ID, "escaped bits %#x", st->escaped);

  const xsr_attr *a = xsr_stanza_find_attr(st, 0, XSR_NS_NONE, "to");
  cr_assert_not_null(a);
  cr_expect(span_is(xsr_stanza_attr_raw(st, a), "romeo@example.net"));
  cr_expect_null(xsr_stanza_find_attr(st, 0, XSR_NS_NONE, "lang"),
                 "xml:lang is not unprefixed lang");
  cr_expect_not_null(xsr_stanza_find_attr(st, 0, XSR_NS_XML, "lang"));
  cr_expect_null(xsr_stanza_find_attr(st, 0, XSR_NS_NONE, "xmlns"), "xmlns is not an attribute");
  cr_expect_null(xsr_stanza_find_attr(st, 0, XSR_NS_NONE, "nope"));

  size_t body = xsr_stanza_find_child(st, 0, XSR_NS_CLIENT, "body");
  cr_assert_neq(body, 0);
  cr_expect(span_is(xsr_stanza_node_name(st, &st->nodes[body]), "body"));
  char out[128];
  size_t n = 0;
  cr_expect_eq(xsr_stanza_text(st, body, out, sizeof out, &n), XSR_OK);
  cr_expect(n == 19 && memcmp(out, "Wherefore <art> x\ny", 19) == 0, "body text \"%.*s\"", (int)n,
            out);
  /* The message's own direct text is only the white space between children. */
  cr_expect_eq(xsr_stanza_text(st, 0, out, sizeof out, &n), XSR_OK);
  cr_expect(n == 2 && memcmp(out, "\n\n", 2) == 0, "message text \"%.*s\"", (int)n, out);

  size_t thread = xsr_stanza_find_child(st, 0, XSR_NS_CLIENT, "thread");
  cr_assert_neq(thread, 0);
  cr_expect_gt(thread, body);
  const xsr_attr *parent = xsr_stanza_find_attr(st, thread, XSR_NS_NONE, "parent");
  cr_assert_not_null(parent);
  cr_expect(span_is(xsr_stanza_attr_raw(st, parent), "e0ff"));
  cr_expect_eq(xsr_stanza_find_child(st, 0, XSR_NS_CLIENT, "subject"), 0);
  cr_expect_eq(xsr_stanza_find_child(st, body, XSR_NS_CLIENT, NULL), 0,
               "body has no child element");
  /* Indices out of range, the largest included (el + 1 must not wrap). */
  cr_expect_eq(xsr_stanza_find_child(st, st->node_count, XSR_NS_CLIENT, NULL), 0);
  cr_expect_eq(xsr_stanza_find_child(st, (size_t)-1, XSR_NS_CLIENT, NULL), 0);
  cr_expect_null(xsr_stanza_find_attr(st, (size_t)-1, XSR_NS_NONE, "to"));

  size_t req = xsr_stanza_find_child(st, 0, XSR_NS_RECEIPTS, NULL);
  cr_assert_neq(req, 0);
  cr_expect(span_is(xsr_stanza_node_name(st, &st->nodes[req]), "request"));
  size_t x =
      xsr_stanza_find_child(st, 0, s->dyn_ns = xsr_parser_ns_find(s->p, "urn:example:x", 13), "x");
  cr_expect_neq(x, 0, "child in a dynamic namespace");
  cr_expect_geq(s->dyn_ns, XSR_NS_FIRST_DYNAMIC);
  cr_expect_eq(st->nodes[x].prefix_len, 2);
  cr_expect(span_is(xsr_stanza_node_name(st, &st->nodes[x]), "x"));
  const xsr_attr *px = xsr_stanza_find_attr(st, x, s->dyn_ns, "k");
  cr_assert_not_null(px);
  cr_expect_eq(px->prefix_len, 2);
  cr_expect(px->flags & XSR_F_ESCAPED);
  char v[16];
  cr_expect_eq(xsr_decode_attr(xsr_stanza_attr_raw(st, px), v, sizeof v, &n), XSR_OK);
  cr_expect(n == 3 && memcmp(v, "a b", 3) == 0);
}

Test(view, message_lookups) {
  seen s = {0};
  s.check = check_message;
  parse(&s, HDR "<message to='romeo@example.net' from='juliet@example.com/balcony' id='a&amp;b' "
                "type='chat' xml:lang='en'>\n<body>Wherefore &lt;art&gt; x\r\ny</body>\n"
                "<thread parent='e0ff'>t1</thread><request xmlns='urn:xmpp:receipts'/>"
                "<ex:x xmlns:ex='urn:example:x' ex:k='a\tb'/></message>");
  cr_expect_eq(s.count, 1);
}

static void check_text_nodes(seen *s, const xsr_stanza *st) {
  (void)s;
  /* <body>a<![CDATA[<b>]]>&amp;c<i/>d</body>: text, cdata, text, element, text */
  size_t body = xsr_stanza_find_child(st, 0, XSR_NS_CLIENT, "body");
  cr_assert_eq(body, 1);
  cr_assert_geq(st->node_count, 7);
  static const uint8_t kinds[] = {XSR_NODE_TEXT, XSR_NODE_CDATA, XSR_NODE_TEXT, XSR_NODE_ELEMENT,
                                  XSR_NODE_TEXT};
  size_t k = 0;
  for (size_t c = body + 1; c && k < 5; c = st->nodes[c].next, k++) {
    cr_expect_eq(st->nodes[c].kind, kinds[k], "child %zu of body has kind %u", k,
                 (unsigned)st->nodes[c].kind);
    cr_expect_eq(st->nodes[c].depth, 3);
  }
  cr_expect_eq(k, 5);
  cr_expect(span_is(xsr_stanza_node_raw(st, &st->nodes[body + 2]), "<b>"));
  cr_expect(span_is(xsr_stanza_node_raw(st, &st->nodes[body + 3]), "&amp;c"));
  cr_expect(st->nodes[body + 3].flags & XSR_F_ESCAPED);
  cr_expect(!(st->nodes[body + 1].flags & XSR_F_ESCAPED));
  char out[64];
  size_t n = 0;
  cr_expect_eq(xsr_stanza_text(st, body, out, sizeof out, &n), XSR_OK);
  cr_expect(n == 7 && memcmp(out, "a<b>&cd", 7) == 0, "text \"%.*s\"", (int)n, out);
  cr_expect_eq(xsr_stanza_text(st, body, out, 6, &n), XSR_ENOSPC);
  cr_expect_eq(n, 7);
}

Test(view, text_cdata_and_elements) {
  seen s = {0};
  s.check = check_text_nodes;
  parse(&s, HDR "<message><body>a<![CDATA[<b>]]>&amp;c<i/>d</body></message>");
  cr_expect_eq(s.count, 1);
}

/* ---- namespace ids ------------------------------------------------------- */

/* The index is built on demand: the view the callback gets carries none,
 * the lookups build it (once), xsr_stanza_index() fills a copy of the view,
 * and once the callback has returned nothing can be built. */
typedef struct lazy_seen {
  xsr_parser *p;
  int calls, carried;
  size_t body, n_first, n_again;
  const xsr_node *first, *again;
  xsr_err index_err;
  int prefixed_attr_found;
  xsr_stanza saved;
} lazy_seen;

static int lazy_on_stanza(void *user, const xsr_stanza *st) {
  lazy_seen *s = user;
  s->calls++;
  s->carried = st->nodes != NULL || st->node_count != 0 || st->attrs != NULL || st->attr_count;
  s->body = xsr_stanza_find_child(st, 0, XSR_NS_CLIENT, "body");
  s->first = xsr_stanza_nodes(st, &s->n_first);
  xsr_stanza v = *st;
  s->index_err = xsr_stanza_index(&v);
  s->again = v.nodes;
  s->n_again = v.node_count;
  uint32_t nsx = xsr_parser_ns_find(s->p, "urn:x", 5);
  size_t y = xsr_stanza_find_child(&v, 0, nsx, "y");
  s->prefixed_attr_found = y == 3 && xsr_stanza_find_attr(&v, y, nsx, "a") != NULL &&
                           xsr_stanza_find_attr(st, y, XSR_NS_NONE, "a") == NULL;
  s->saved = *st;
  return 0;
}

Test(view, index_on_demand) {
  static const xsr_parser_callbacks cb = {NULL, lazy_on_stanza, NULL};
  static const char in[] = "<stream:stream xmlns='jabber:client' "
                           "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
                           "<message to='a@b'><body>hi &amp; bye</body>"
                           "<x:y xmlns:x='urn:x' x:a='1'/></message>";
  lazy_seen s = {0};
  s.p = xsr_parser_new(NULL, &cb, &s, NULL);
  cr_assert_not_null(s.p);
  cr_assert_eq(xsr_parser_feed(s.p, in, sizeof in - 1), XSR_OK);
  cr_assert_eq(s.calls, 1);
  cr_expect(!s.carried, "the view passed to on_stanza carries an index");
  cr_expect_eq(s.body, 1);
  cr_expect_eq(s.n_first, 4, "message, body, its text, x:y: %zu nodes", s.n_first);
  cr_expect_eq(s.index_err, XSR_OK);
  cr_expect(s.first != NULL && s.first == s.again && s.n_again == s.n_first,
            "the index was built twice");
  cr_expect(s.prefixed_attr_found, "x:a not found in urn:x on x:y");
  /* After the callback the view is gone: nothing is built from it. */
  size_t n = 7;
  cr_expect_eq(xsr_stanza_index(&s.saved), XSR_EINVAL);
  cr_expect_null(xsr_stanza_nodes(&s.saved, &n));
  cr_expect_eq(n, 0);
  cr_expect_eq(xsr_stanza_find_child(&s.saved, 0, XSR_NS_CLIENT, "body"), 0);
  xsr_parser_free(s.p);
}

Test(ns, wellknown) {
#define CHECK_NS(name, uri) cr_expect_str_eq(xsr_ns_wellknown_uri(XSR_NS_##name), uri, #name);
  XSR_NS_MAP(CHECK_NS)
#undef CHECK_NS
  cr_expect_null(xsr_ns_wellknown_uri(XSR_NS_FIRST_DYNAMIC));
  cr_expect_null(xsr_ns_wellknown_uri(0xffffffffu));
  xsr_parser *p = xsr_parser_new(NULL, NULL, NULL, NULL);
  cr_expect_eq(xsr_parser_ns_find(p, "jabber:client", 13), XSR_NS_CLIENT);
  cr_expect_eq(xsr_parser_ns_find(p, "urn:xmpp:sm:3", 13), XSR_NS_SM);
  cr_expect_eq(xsr_parser_ns_find(p, "urn:unknown", 11), XSR_NS_NONE);
  xsr_span u = xsr_parser_ns_uri(p, XSR_NS_STREAMS);
  cr_expect(span_is(u, "http://etherx.jabber.org/streams"));
  cr_expect_null(xsr_parser_ns_uri(p, XSR_NS_FIRST_DYNAMIC + 100).ptr);
  xsr_parser_free(p);
}

Test(ns, dynamic_ids_are_stable_across_restart) {
  xsr_parser *p = xsr_parser_new(NULL, NULL, NULL, NULL);
  const char *in = HDR "<message><x xmlns='urn:a'/><y xmlns='urn:b'/></message>";
  cr_assert_eq(xsr_parser_feed(p, in, strlen(in)), XSR_OK);
  uint32_t a = xsr_parser_ns_find(p, "urn:a", 5), b = xsr_parser_ns_find(p, "urn:b", 5);
  cr_expect_geq(a, XSR_NS_FIRST_DYNAMIC);
  cr_expect_geq(b, XSR_NS_FIRST_DYNAMIC);
  cr_expect_neq(a, b);
  cr_expect(span_is(xsr_parser_ns_uri(p, a), "urn:a"));
  cr_expect_eq(xsr_parser_restart(p), XSR_OK);
  const char *in2 = HDR "<message><y xmlns='urn:b'/><z xmlns='urn:c'/></message>";
  cr_assert_eq(xsr_parser_feed(p, in2, strlen(in2)), XSR_OK);
  cr_expect_eq(xsr_parser_ns_find(p, "urn:a", 5), a);
  cr_expect_eq(xsr_parser_ns_find(p, "urn:b", 5), b);
  cr_expect(span_is(xsr_parser_ns_uri(p, b), "urn:b"));
  xsr_parser_reset(p);
  cr_expect_eq(xsr_parser_ns_find(p, "urn:a", 5), XSR_NS_NONE, "reset drops interned namespaces");
  xsr_parser_free(p);
}
