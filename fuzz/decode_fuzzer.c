/* SPDX-License-Identifier: MIT */
/*
 * decode_fuzzer: xsr_decode_text(), xsr_decode_cdata(), xsr_decode_attr()
 * and xsr_stanza_text() against an independent reference decoder.
 *
 * Input: [quote][attribute value] 0x00 [text] 0x00 [CDATA content]
 *   The bytes are wrapped into a stream,
 *     <message a='VALUE'>TEXT<![CDATA[CDATA]]></message>
 *   (quote bit 0 picks ' or "), and parsed.  The decoders may rely on
 *   input the parser accepted, so only accepted stanzas are decoded.
 *
 * Checks: for every attribute, text and CDATA node of the stanza, the
 * decoded value equals the reference decoding written here from XML 1.0
 * sections 2.11, 3.3.3 and 4.1 (references, line ends, attribute-value
 * normalisation); xsr_stanza_text() equals the concatenation of the
 * element's decoded text children; a buffer one byte short gives
 * XSR_ENOSPC with the exact length; decoding never writes past `cap`.
 */
#include <string.h>

#include "fuzz.h"

static const char head[] = "<stream:stream xmlns='jabber:client' "
                           "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

static size_t put_utf8(uint8_t *o, uint32_t c) {
  if (c < 0x80)
    return o[0] = (uint8_t)c, 1;
  if (c < 0x800)
    return o[0] = (uint8_t)(0xc0 | c >> 6), o[1] = (uint8_t)(0x80 | (c & 0x3f)), 2;
  if (c < 0x10000) {
    o[0] = (uint8_t)(0xe0 | c >> 12);
    o[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
    o[2] = (uint8_t)(0x80 | (c & 0x3f));
    return 3;
  }
  o[0] = (uint8_t)(0xf0 | c >> 18);
  o[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
  o[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
  o[3] = (uint8_t)(0x80 | (c & 0x3f));
  return 4;
}

/* The reference: kind 't' text, 'c' CDATA, 'a' attribute value.  The raw
 * input was accepted by the parser, so references are well formed. */
static size_t ref_decode(int kind, const uint8_t *s, size_t n, uint8_t *o) {
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    uint8_t c = s[i];
    if (c == '\r') {
      o[k++] = kind == 'a' ? ' ' : '\n';
      i += (i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
    } else if (kind == 'a' && (c == '\t' || c == '\n')) {
      o[k++] = ' ';
      i++;
    } else if (c == '&' && kind != 'c') {
      const uint8_t *semi = memchr(s + i, ';', n - i);
      FUZZ_CHECK(semi != NULL, "accepted reference without ';'");
      size_t len = (size_t)(semi - (s + i)) + 1;
      const char *r = (const char *)s + i;
      if (len == 4 && memcmp(r, "&lt;", 4) == 0)
        o[k++] = '<';
      else if (len == 4 && memcmp(r, "&gt;", 4) == 0)
        o[k++] = '>';
      else if (len == 5 && memcmp(r, "&amp;", 5) == 0)
        o[k++] = '&';
      else if (len == 6 && memcmp(r, "&apos;", 6) == 0)
        o[k++] = '\'';
      else if (len == 6 && memcmp(r, "&quot;", 6) == 0)
        o[k++] = '"';
      else {
        FUZZ_CHECK(len > 3 && r[1] == '#', "accepted unknown entity reference %.*s", (int)len, r);
        uint32_t cp = 0;
        int hex = r[2] == 'x';
        for (size_t j = hex ? 3 : 2; j + 1 < len; j++) {
          uint8_t d = (uint8_t)r[j];
          uint32_t v = d <= '9' ? d - '0' : (d | 0x20) - 'a' + 10;
          if (cp < 0x110000)
            cp = cp * (hex ? 16 : 10) + v;
        }
        FUZZ_CHECK(cp < 0x110000, "accepted character reference out of range");
        k += put_utf8(o + k, cp);
      }
      i += len;
    } else {
      o[k++] = c;
      i++;
    }
  }
  return k;
}

static void expect_decoded(xsr_err (*dec)(xsr_span, char *, size_t, size_t *), int kind,
                           xsr_span raw) {
  uint8_t *want = malloc(raw.len * 4 / 3 + 8); /* a reference is never shorter than its UTF-8 */
  char *got = malloc(raw.len ? raw.len : 1);
  FUZZ_CHECK(want && got, "out of memory in the harness");
  size_t wn = ref_decode(kind, (const uint8_t *)raw.ptr, raw.len, want), gn = 0;
  xsr_err r = dec(raw, got, raw.len, &gn);
  FUZZ_CHECK(r == XSR_OK, "decode(%c) failed: %s", kind, xsr_err_name(r));
  FUZZ_CHECK(gn == wn && memcmp(got, want, wn) == 0,
             "decode(%c) of %zu raw bytes gives %zu bytes, the reference %zu", kind, raw.len, gn,
             wn);
  if (wn > 0) {
    size_t need = 0;
    char *tiny = malloc(wn - 1 ? wn - 1 : 1);
    FUZZ_CHECK(tiny != NULL, "out of memory in the harness");
    r = dec(raw, tiny, wn - 1, &need);
    free(tiny);
    FUZZ_CHECK(r == XSR_ENOSPC && need == wn, "decode(%c) with cap %zu: %s, need %zu", kind, wn - 1,
               xsr_err_name(r), need);
  }
  free(want);
  free(got);
}

static int on_stanza(void *user, const xsr_stanza *st) {
  xsr_stanza indexed_ = *st; /* the index is built on demand */
  if (xsr_stanza_index(&indexed_) == XSR_OK)
    st = &indexed_;
  (void)user;
  for (size_t i = 0; i < st->attr_count; i++)
    expect_decoded(xsr_decode_attr, 'a', xsr_stanza_attr_raw(st, &st->attrs[i]));
  for (size_t i = 0; i < st->node_count; i++) {
    const xsr_node *n = &st->nodes[i];
    if (n->kind == XSR_NODE_TEXT)
      expect_decoded(xsr_decode_text, 't', xsr_stanza_node_raw(st, n));
    if (n->kind == XSR_NODE_CDATA)
      expect_decoded(xsr_decode_cdata, 'c', xsr_stanza_node_raw(st, n));
    if (n->kind != XSR_NODE_ELEMENT)
      continue;
    /* xsr_stanza_text: the direct text children, decoded, in order. */
    uint8_t *want = malloc(n->len * 4 / 3 + 8);
    char *got = malloc(n->len);
    FUZZ_CHECK(want && got, "out of memory in the harness");
    size_t wn = 0, gn = 0;
    for (size_t c = i + 1; c < st->node_count && c != 0; c = st->nodes[c].next) {
      const xsr_node *ch = &st->nodes[c];
      if (ch->depth != n->depth + 1)
        break;
      if (ch->kind == XSR_NODE_ELEMENT)
        continue;
      wn += ref_decode(ch->kind == XSR_NODE_TEXT ? 't' : 'c',
                       (const uint8_t *)st->raw.ptr + ch->off, ch->len, want + wn);
    }
    xsr_err r = xsr_stanza_text(st, i, got, n->len, &gn);
    FUZZ_CHECK(r == XSR_OK && gn == wn && memcmp(got, want, wn) == 0,
               "xsr_stanza_text(node %zu): %s, %zu bytes, the reference %zu", i, xsr_err_name(r),
               gn, wn);
    free(want);
    free(got);
  }
  return 0;
}

static const xsr_parser_callbacks callbacks = {NULL, on_stanza, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input in = {data, size};
  char q = (fuzz_take_byte(&in) & 1) ? '"' : '\'';
  const uint8_t *parts[3] = {in.data, NULL, NULL};
  size_t lens[3] = {in.size, 0, 0};
  for (int k = 0; k < 2; k++) {
    const uint8_t *z = lens[k] ? memchr(parts[k], 0, lens[k]) : NULL;
    if (z == NULL)
      break;
    parts[k + 1] = z + 1;
    lens[k + 1] = lens[k] - (size_t)(z + 1 - parts[k]);
    lens[k] = (size_t)(z - parts[k]);
  }
  size_t cap = sizeof head + in.size + 128;
  char *doc = malloc(cap);
  FUZZ_CHECK(doc != NULL, "out of memory in the harness");
  size_t n = 0;
#define PUT(p, len) (memcpy(doc + n, (p), (len)), n += (len))
  PUT(head, sizeof head - 1);
  PUT("<message a=", 11);
  PUT(&q, 1);
  if (lens[0])
    PUT(parts[0], lens[0]);
  PUT(&q, 1);
  PUT(">", 1);
  if (lens[1])
    PUT(parts[1], lens[1]);
  if (parts[2] != NULL) {
    PUT("<![CDATA[", 9);
    if (lens[2])
      PUT(parts[2], lens[2]);
    PUT("]]>", 3);
  }
  PUT("</message>", 10);
#undef PUT
  xsr_parser_config cfg;
  fuzz_config_generous(&cfg);
  xsr_parser *p = xsr_parser_new(&cfg, &callbacks, NULL, NULL);
  FUZZ_CHECK(p != NULL, "xsr_parser_new failed");
  xsr_parser_feed(p, doc, n);
  xsr_parser_free(p);
  free(doc);
  return 0;
}
