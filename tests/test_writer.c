/* SPDX-License-Identifier: MIT */
/*
 * Tests of the stanza writer (include/xsr/writer.h): exact output, escaping,
 * validation, sticky errors, snprintf-like overflow, and a round trip through
 * expat proving that a parser decodes exactly the values given.
 */
#include <criterion/criterion.h>
#include <expat.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "xsr/writer.h"

#define BUFSZ 4096

/* Finishes w and checks it succeeded with exactly `want`. */
static void expect_output(xsr_writer *w, const char *want) {
  size_t n = 12345;
  xsr_err e = xsr_writer_finish(w, &n);
  cr_assert_eq(e, XSR_OK, "finish: %s", xsr_err_name(e));
  cr_assert_eq(n, strlen(want), "length %zu, want %zu (%.*s)", n, strlen(want), (int)n, w->buf);
  cr_assert(memcmp(w->buf, want, n) == 0, "got  %.*s\nwant %s", (int)n, w->buf, want);
}

static void expect_error(xsr_writer *w, xsr_err want) {
  size_t n = 12345;
  xsr_err e = xsr_writer_finish(w, &n);
  cr_assert_eq(e, want, "finish: %s, want %s", xsr_err_name(e), xsr_err_name(want));
  cr_assert_eq(n, 0, "a failed writer reports length 0, got %zu", n);
}

/* The example of writer.h (whose length argument, 34, counts the string's
 * NUL and would fail with XSR_ECHAR; the string is 33 bytes). */
Test(writer, header_example) {
  char buf[512];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "message");
  xsr_writer_attr(&w, "to", "juliet@example.com");
  xsr_writer_attr(&w, "type", "chat");
  xsr_writer_start(&w, "body");
  xsr_writer_text(&w, "Art thou not Romeo, & a Montague?", 33);
  xsr_writer_end(&w);
  xsr_writer_end(&w);
  expect_output(&w, "<message to='juliet@example.com' type='chat'><body>Art thou not Romeo, "
                    "&amp; a Montague?</body></message>");
}

/* What no namespace-aware parser accepts fails instead of being written:
 * a repeated attribute (XML 1.0 3.1), the reserved prefix on an element, a
 * prefix undeclared (Namespaces in XML 1.0 allows xmlns='' only). */
Test(writer, refuses_what_parsers_refuse) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  /* Each element is closed: the failure is the call's, not an unclosed
   * element's (which finish reports as XSR_EINVAL too). */
  xsr_writer_start(&w, "message");
  xsr_writer_attr(&w, "to", "a@b");
  xsr_writer_attr(&w, "to", "c@d");
  xsr_writer_end(&w);
  expect_error(&w, XSR_EINVAL);
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "xmlns:message");
  xsr_writer_end(&w);
  expect_error(&w, XSR_EINVAL);
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "message");
  xsr_writer_attr(&w, "xmlns:p", "");
  xsr_writer_end(&w);
  expect_error(&w, XSR_EINVAL);
  /* The same names on different elements, prefixed look-alikes and an
   * empty default namespace are fine. */
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "message");
  xsr_writer_attr(&w, "to", "a@b");
  xsr_writer_attr(&w, "p:to", "c@d");
  xsr_writer_attr(&w, "xmlns:p", "urn:p");
  xsr_writer_start(&w, "x");
  xsr_writer_attr(&w, "to", "e@f");
  xsr_writer_attr(&w, "xmlns", "");
  xsr_writer_end(&w);
  xsr_writer_end(&w);
  expect_output(&w,
                "<message to='a@b' p:to='c@d' xmlns:p='urn:p'><x to='e@f' xmlns=''/></message>");
}

Test(writer, empty_and_nested_elements) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "iq");
  xsr_writer_attr(&w, "type", "get");
  xsr_writer_start(&w, "query");
  xsr_writer_attr(&w, "xmlns", "jabber:iq:roster");
  xsr_writer_end(&w);
  xsr_writer_start(&w, "a");
  xsr_writer_start(&w, "b");
  xsr_writer_end(&w);
  xsr_writer_end(&w);
  xsr_writer_end(&w);
  expect_output(&w, "<iq type='get'><query xmlns='jabber:iq:roster'/><a><b/></a></iq>");
}

Test(writer, empty_text_makes_content) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "body");
  xsr_writer_text(&w, NULL, 0);
  xsr_writer_end(&w);
  expect_output(&w, "<body></body>");
}

Test(writer, start_n_uses_length_and_references_name) {
  char buf[BUFSZ];
  char name[] = "presenceXYZ";
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start_n(&w, name, 8);
  xsr_writer_attr_n(&w, "idXX", 2, "a'b", 3);
  xsr_writer_text(&w, "x", 1);
  xsr_writer_end(&w);
  expect_output(&w, "<presence id='a&apos;b'>x</presence>");
}

Test(writer, text_escaping) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "b");
  const char t[] = "a&b<c>d]]>e\rf\ng\th'i\"j\r\n";
  xsr_writer_text(&w, t, sizeof t - 1);
  xsr_writer_end(&w);
  expect_output(&w, "<b>a&amp;b&lt;c&gt;d]]&gt;e&#13;f\ng\th'i\"j&#13;\n</b>");
}

Test(writer, attribute_escaping) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "x");
  xsr_writer_attr(&w, "v", "a&b<c>d'e\"f\tg\nh\ri");
  xsr_writer_end(&w);
  expect_output(&w, "<x v='a&amp;b&lt;c&gt;d&apos;e&quot;f&#9;g&#10;h&#13;i'/>");
}

Test(writer, utf8_passes_through) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  /* 2-, 3- and 4-byte sequences, the C1 range, the last characters below
   * the surrogates and U+FFFE, and U+10FFFF. */
  const char t[] = "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \xc2\x85 \xed\x9f\xbf "
                   "\xef\xbf\xbd \xf4\x8f\xbf\xbf";
  xsr_writer_start(&w, "caf\xc3\xa9:\xe6\x97\xa5");
  xsr_writer_attr(&w, "v", t);
  xsr_writer_text(&w, t, sizeof t - 1);
  xsr_writer_end(&w);
  char want[BUFSZ];
  snprintf(want, sizeof want, "<caf\xc3\xa9:\xe6\x97\xa5 v='%s'>%s</caf\xc3\xa9:\xe6\x97\xa5>", t,
           t);
  expect_output(&w, want);
}

/* Each bad input must fail both as text and as an attribute value. */
static void expect_text_and_attr_error(const char *s, size_t len, xsr_err want) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "b");
  xsr_writer_text(&w, s, len);
  xsr_writer_end(&w);
  expect_error(&w, want);

  char value[64];
  cr_assert(len < sizeof value);
  memcpy(value, s, len);
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "b");
  xsr_writer_attr_n(&w, "v", 1, value, len);
  xsr_writer_end(&w);
  expect_error(&w, want);
}

Test(writer, rejects_control_characters) {
  for (unsigned c = 0; c < 0x20; c++) {
    if (c == '\t' || c == '\n' || c == '\r')
      continue;
    char s[3] = {'a', (char)c, 'b'};
    expect_text_and_attr_error(s, sizeof s, XSR_ECHAR);
  }
}

Test(writer, allows_del_and_whitespace) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "b");
  xsr_writer_text(&w, "\x7f\t\n", 3);
  xsr_writer_end(&w);
  expect_output(&w, "<b>\x7f\t\n</b>");
}

Test(writer, rejects_noncharacters) {
  expect_text_and_attr_error("x\xef\xbf\xbe", 4, XSR_ECHAR); /* U+FFFE */
  expect_text_and_attr_error("\xef\xbf\xbfy", 4, XSR_ECHAR); /* U+FFFF */
}

Test(writer, rejects_ill_formed_utf8) {
  static const struct {
    const char *s;
    size_t len;
  } bad[] = {
      {"\x80", 1},             /* lone continuation */
      {"\xbf", 1},             /* lone continuation */
      {"\xc0\xaf", 2},         /* overlong '/' */
      {"\xc1\xbf", 2},         /* overlong */
      {"\xe0\x80\xaf", 3},     /* overlong three-byte */
      {"\xe0\x9f\xbf", 3},     /* overlong three-byte, upper edge */
      {"\xed\xa0\x80", 3},     /* surrogate U+D800 */
      {"\xed\xbf\xbf", 3},     /* surrogate U+DFFF */
      {"\xf0\x80\x80\xaf", 4}, /* overlong four-byte */
      {"\xf0\x8f\xbf\xbf", 4}, /* overlong four-byte, upper edge */
      {"\xf4\x90\x80\x80", 4}, /* U+110000 */
      {"\xf5\x80\x80\x80", 4}, /* lead byte past U+10FFFF */
      {"\xff", 1},             /* never valid */
      {"\xc3", 1},             /* truncated at end */
      {"\xe6\x97", 2},         /* truncated at end */
      {"\xf0\x9f\x98", 3},     /* truncated at end */
      {"\xc3(", 2},            /* bad continuation */
      {"\xe6\x97(", 3},        /* bad continuation */
      {"\xf0\x9f\x98(", 4},    /* bad continuation */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    expect_text_and_attr_error(bad[i].s, bad[i].len, XSR_EUTF8);
}

Test(writer, names_are_validated) {
  static const struct {
    const char *name;
    xsr_err want;
  } cases[] = {
      {"message", XSR_OK},     {"stream:features", XSR_OK}, {"_a-b.c9", XSR_OK},
      {"a\xc2\xb7", XSR_OK},   {"\xc3\x80x", XSR_OK},       {"", XSR_ENAME},
      {"1a", XSR_ENAME},       {"-a", XSR_ENAME},           {"a b", XSR_ENAME},
      {"a>", XSR_ENAME},       {"a'", XSR_ENAME},           {"a=b", XSR_ENAME},
      {"\xc2\xb7", XSR_ENAME}, {":a", XSR_EQNAME},          {"a:", XSR_EQNAME},
      {"a:b:c", XSR_EQNAME},   {"a:1", XSR_EQNAME},         {"a\xc3", XSR_EUTF8},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[BUFSZ];
    xsr_writer w;
    size_t n;
    xsr_writer_init(&w, buf, sizeof buf);
    xsr_writer_start(&w, cases[i].name);
    xsr_writer_end(&w);
    cr_expect_eq(xsr_writer_finish(&w, &n), cases[i].want, "element name '%s'", cases[i].name);

    xsr_writer_init(&w, buf, sizeof buf);
    xsr_writer_start(&w, "x");
    xsr_writer_attr(&w, cases[i].name, "v");
    xsr_writer_end(&w);
    cr_expect_eq(xsr_writer_finish(&w, &n), cases[i].want, "attribute name '%s'", cases[i].name);
  }
}

Test(writer, attr_after_content_is_einval) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "a");
  xsr_writer_text(&w, "t", 1);
  xsr_writer_attr(&w, "x", "y");
  xsr_writer_end(&w);
  expect_error(&w, XSR_EINVAL);

  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "a");
  xsr_writer_start(&w, "b");
  xsr_writer_end(&w);
  xsr_writer_attr(&w, "x", "y"); /* <a> already has content */
  xsr_writer_end(&w);
  expect_error(&w, XSR_EINVAL);

  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "a");
  xsr_writer_raw(&w, "<b/>", 4);
  xsr_writer_attr(&w, "x", "y");
  xsr_writer_end(&w);
  expect_error(&w, XSR_EINVAL);

  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_attr(&w, "x", "y"); /* no element at all */
  expect_error(&w, XSR_EINVAL);
}

Test(writer, end_without_start_is_einval) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_end(&w);
  expect_error(&w, XSR_EINVAL);

  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "a");
  xsr_writer_end(&w);
  xsr_writer_end(&w);
  expect_error(&w, XSR_EINVAL);
}

Test(writer, unclosed_element_fails_finish) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "a");
  expect_error(&w, XSR_EINVAL);
}

Test(writer, depth_limit) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  for (int i = 0; i < XSR_WRITER_MAX_DEPTH; i++)
    xsr_writer_start(&w, "d");
  for (int i = 0; i < XSR_WRITER_MAX_DEPTH; i++)
    xsr_writer_end(&w);
  size_t n;
  cr_assert_eq(xsr_writer_finish(&w, &n), XSR_OK);
  cr_assert_eq(n, (XSR_WRITER_MAX_DEPTH - 1) * (3 + 4) + 4);

  xsr_writer_init(&w, buf, sizeof buf);
  for (int i = 0; i <= XSR_WRITER_MAX_DEPTH; i++)
    xsr_writer_start(&w, "d");
  expect_error(&w, XSR_EINVAL);
}

Test(writer, errors_are_sticky) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "a");
  xsr_writer_text(&w, "ok", 2);
  size_t before = w.len;
  xsr_writer_text(&w, "\x01", 1);
  cr_assert_eq(w.err, XSR_ECHAR);
  cr_assert_eq(w.len, before, "nothing of a rejected call is counted");
  /* Later calls, even ones that would fail differently, change nothing. */
  xsr_writer_end(&w);
  xsr_writer_end(&w);
  xsr_writer_text(&w, "\xff", 1);
  xsr_writer_start(&w, "b");
  xsr_writer_raw(&w, "zzz", 3);
  cr_assert_eq(w.len, before);
  cr_assert_eq(w.depth, 1);
  expect_error(&w, XSR_ECHAR);
  expect_error(&w, XSR_ECHAR); /* finish is repeatable */
}

/* Builds a stanza exercising every call; used by the overflow tests. */
static void build_sample(xsr_writer *w) {
  xsr_writer_stream_open(w, "jabber:client", "example.com", NULL, NULL, "en");
  xsr_writer_start(w, "message");
  xsr_writer_attr(w, "to", "romeo@example.net/orchard");
  xsr_writer_attr(w, "id", "a'b\"c");
  xsr_writer_start(w, "body");
  xsr_writer_text(w, "O Romeo, Romeo! & wherefore <art> thou\r\n", 40);
  xsr_writer_end(w);
  xsr_writer_start(w, "active");
  xsr_writer_attr(w, "xmlns", "http://jabber.org/protocol/chatstates");
  xsr_writer_end(w);
  xsr_writer_raw(w, "<x xmlns='y'/>", 14);
  xsr_writer_end(w);
  xsr_writer_stream_close(w);
}

Test(writer, overflow_counts_like_snprintf) {
  char full[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, full, sizeof full);
  build_sample(&w);
  size_t total;
  cr_assert_eq(xsr_writer_finish(&w, &total), XSR_OK);
  cr_assert_gt(total, 100);

  for (size_t cap = 0; cap <= total; cap++) {
    char buf[BUFSZ];
    memset(buf, '#', sizeof buf);
    xsr_writer_init(&w, buf, cap);
    build_sample(&w);
    size_t n = 0;
    xsr_err e = xsr_writer_finish(&w, &n);
    if (cap < total) {
      cr_assert_eq(e, XSR_ENOSPC, "cap %zu: %s", cap, xsr_err_name(e));
      cr_assert_eq(n, total, "cap %zu: needed %zu, want %zu", cap, n, total);
    } else {
      cr_assert_eq(e, XSR_OK);
      cr_assert_eq(n, total);
    }
    /* What fits is the prefix of the full output; nothing past cap. */
    cr_assert(memcmp(buf, full, cap) == 0, "cap %zu: prefix differs", cap);
    cr_assert_eq(buf[cap], '#', "cap %zu: wrote past the end", cap);
  }
}

Test(writer, overflow_does_not_hide_other_errors) {
  char buf[8];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "message");
  xsr_writer_text(&w, "a long body that does not fit", 29);
  xsr_writer_text(&w, "\x02", 1);
  xsr_writer_end(&w);
  expect_error(&w, XSR_ECHAR);
}

Test(writer, null_buffer_measures) {
  xsr_writer w;
  xsr_writer_init(&w, NULL, 0);
  build_sample(&w);
  size_t need;
  cr_assert_eq(xsr_writer_finish(&w, &need), XSR_ENOSPC);
  char buf[BUFSZ];
  cr_assert_lt(need, sizeof buf);
  xsr_writer_init(&w, buf, need);
  build_sample(&w);
  size_t n;
  cr_assert_eq(xsr_writer_finish(&w, &n), XSR_OK);
  cr_assert_eq(n, need);
}

Test(writer, stream_open_and_close) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_stream_open(&w, "jabber:server", "example.com", "a&b.example", "i'd", "en");
  xsr_writer_start(&w, "presence");
  xsr_writer_end(&w);
  xsr_writer_text(&w, "\n", 1); /* whitespace keepalive between stanzas */
  xsr_writer_stream_close(&w);
  expect_output(&w, "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' "
                    "to='example.com' from='a&amp;b.example' id='i&apos;d' xml:lang='en'>"
                    "<presence/>\n</stream:stream>");

  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_stream_open(&w, "jabber:client", NULL, NULL, NULL, NULL);
  expect_output(&w, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>");
}

Test(writer, stream_helpers_need_depth_zero) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "a");
  xsr_writer_stream_close(&w);
  xsr_writer_end(&w);
  expect_error(&w, XSR_EINVAL);

  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "a");
  xsr_writer_stream_open(&w, "jabber:client", NULL, NULL, NULL, NULL);
  xsr_writer_end(&w);
  expect_error(&w, XSR_EINVAL);

  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_stream_open(&w, NULL, NULL, NULL, NULL, NULL);
  expect_error(&w, XSR_EINVAL);

  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_stream_open(&w, "jabber:client", "bad\x01", NULL, NULL, NULL);
  expect_error(&w, XSR_ECHAR);
}

Test(writer, null_arguments_are_einval) {
  char buf[BUFSZ];
  xsr_writer w;
  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, NULL);
  expect_error(&w, XSR_EINVAL);

  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "a");
  xsr_writer_attr(&w, "x", NULL);
  expect_error(&w, XSR_EINVAL);

  xsr_writer_init(&w, buf, sizeof buf);
  xsr_writer_start(&w, "a");
  xsr_writer_text(&w, NULL, 3);
  expect_error(&w, XSR_EINVAL);
}

/*
 * Round trip: random values made of every kind of XML character (specials,
 * whitespace, multi-byte UTF-8) are written as attribute values and text,
 * parsed by expat, and must come back exactly: the attribute value and the
 * text as given (text CRs survive as &#13;).
 */
struct roundtrip {
  const char *want_attr;
  size_t want_attr_len;
  char text[BUFSZ];
  size_t text_len;
  int attrs_seen;
};

static void XMLCALL rt_start(void *user, const XML_Char *name, const XML_Char **atts) {
  struct roundtrip *rt = user;
  if (strcmp(name, "r") != 0)
    return;
  cr_assert(atts[0] && strcmp(atts[0], "v") == 0);
  cr_assert_eq(strlen(atts[1]), rt->want_attr_len);
  cr_assert(memcmp(atts[1], rt->want_attr, rt->want_attr_len) == 0, "attribute value differs");
  rt->attrs_seen++;
}

static void XMLCALL rt_text(void *user, const XML_Char *s, int len) {
  struct roundtrip *rt = user;
  cr_assert(rt->text_len + (size_t)len <= sizeof rt->text);
  memcpy(rt->text + rt->text_len, s, (size_t)len);
  rt->text_len += (size_t)len;
}

static uint64_t rng_next(uint64_t *s) {
  /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static size_t random_value(uint64_t *rng, char *out, size_t cap) {
  static const char *const pieces[] = {
      "a",
      "Z",
      "0",
      " ",
      "&",
      "<",
      ">",
      "'",
      "\"",
      "\t",
      "\n",
      "\r",
      "]]>",
      ";",
      "&amp;",
      "#",
      "\xc3\xa9",
      "\xe2\x82\xac",
      "\xf0\x9f\x98\x80",
      "\xc2\x85",
      "\xef\xbf\xbd",
      "=",
      "/",
  };
  size_t n = 0, count = rng_next(rng) % 40;
  for (size_t i = 0; i < count; i++) {
    const char *p = pieces[rng_next(rng) % (sizeof pieces / sizeof pieces[0])];
    size_t l = strlen(p);
    cr_assert(n + l < cap);
    memcpy(out + n, p, l);
    n += l;
  }
  return n;
}

Test(writer, roundtrip_through_expat) {
  uint64_t rng = 42;
  for (int iter = 0; iter < 500; iter++) {
    char value[512], text[512], doc[BUFSZ];
    size_t vlen = random_value(&rng, value, sizeof value);
    size_t tlen = random_value(&rng, text, sizeof text);

    xsr_writer w;
    xsr_writer_init(&w, doc, sizeof doc);
    xsr_writer_start(&w, "r");
    xsr_writer_attr_n(&w, "v", 1, value, vlen);
    xsr_writer_text(&w, text, tlen);
    xsr_writer_end(&w);
    size_t dlen;
    cr_assert_eq(xsr_writer_finish(&w, &dlen), XSR_OK);

    struct roundtrip rt = {.want_attr = value, .want_attr_len = vlen};
    XML_Parser p = XML_ParserCreate("UTF-8");
    cr_assert_not_null(p);
    XML_SetUserData(p, &rt);
    XML_SetStartElementHandler(p, rt_start);
    XML_SetCharacterDataHandler(p, rt_text);
    enum XML_Status st = XML_Parse(p, doc, (int)dlen, 1);
    cr_assert_eq(st, XML_STATUS_OK, "iteration %d: expat: %s in %.*s", iter,
                 XML_ErrorString(XML_GetErrorCode(p)), (int)dlen, doc);
    XML_ParserFree(p);
    cr_assert_eq(rt.attrs_seen, 1);
    cr_assert_eq(rt.text_len, tlen, "iteration %d: text length", iter);
    cr_assert(memcmp(rt.text, text, tlen) == 0, "iteration %d: text differs", iter);
  }
}
