/* SPDX-License-Identifier: MIT */
/*
 * expat_diff_fuzzer: differential test of the well-formedness verdict
 * against expat (with namespace processing).
 *
 * Input: the body of a stream.  The document parsed by both is
 *   <stream:stream xmlns='jabber:client' xmlns:stream='...' version='1.0'>
 *   BODY</stream:stream>
 * xsr runs with limits too high to trigger; expat parses it as one final
 * buffer.
 *
 * The verdicts are compared only where XMPP and plain XML agree, i.e. when
 * the input holds nothing RFC 6120 restricts or frames differently:
 *   - no "<!" other than "<![CDATA[" (comments, DTDs) and no "<?" (PIs);
 *   - no character data or CDATA directly inside the stream element other
 *     than literal whitespace (xsr: bad-format), judged from expat's events;
 *   - no stanza in a content namespace other than the stream's
 *     (jabber:server or jabber:component:accept: xsr invalid-namespace);
 *   - no non-ASCII bytes inside markup (expat's name tables follow the
 *     XML 1.0 fourth edition, xsr the fifth);
 *   - and, as a documented expat leniency, expat does not check that a
 *     qualified name has at most one colon: when only xsr refuses, with
 *     XSR_EQNAME, the input is skipped.
 * Checks: both accept or both refuse; when both accept, xsr reported as
 * many stanzas as expat saw children of the stream element.
 */
#include <string.h>

#include <expat.h>

#include "fuzz.h"

static const char head[] = "<stream:stream xmlns='jabber:client' "
                           "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
static const char tail[] = "</stream:stream>";

typedef struct ex_state {
  XML_Parser p;
  const char *doc;
  int depth;
  int skip;
  unsigned long stanzas;
} ex_state;

static void XMLCALL ex_start(void *user, const XML_Char *name, const XML_Char **atts) {
  (void)atts;
  ex_state *s = user;
  if (++s->depth == 2 && (strncmp(name, "jabber:server\x01", 14) == 0 ||
                          strncmp(name, "jabber:component:accept\x01", 24) == 0))
    s->skip = 1;
}

static void XMLCALL ex_end(void *user, const XML_Char *name) {
  (void)name;
  ex_state *s = user;
  if (--s->depth == 1)
    s->stanzas++;
}

static void XMLCALL ex_text(void *user, const XML_Char *text, int len) {
  (void)text, (void)len;
  ex_state *s = user;
  if (s->depth != 1)
    return;
  /* Only literal whitespace may sit between stanzas: look at the raw bytes,
   * since a reference such as &#32; reaches here as a space too. */
  XML_Index at = XML_GetCurrentByteIndex(s->p);
  int n = XML_GetCurrentByteCount(s->p);
  for (int i = 0; i < n; i++) {
    char c = s->doc[at + i];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      s->skip = 1;
  }
}

static void XMLCALL ex_cdata(void *user) {
  ex_state *s = user;
  if (s->depth == 1)
    s->skip = 1;
}

static int on_stanza(void *user, const xsr_stanza *st) {
  (void)st;
  ++*(unsigned long *)user;
  return 0;
}

/* The lexical filter on the body. */
static int comparable(const uint8_t *b, size_t n) {
  int in_tag = 0;
  uint8_t quote = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = b[i];
    if (c == '<' && i + 1 < n && b[i + 1] == '?')
      return 0;
    if (c == '<' && i + 1 < n && b[i + 1] == '!' &&
        !(n - i >= 9 && memcmp(b + i, "<![CDATA[", 9) == 0))
      return 0;
    if (quote) {
      if (c == quote)
        quote = 0;
    } else if (in_tag) {
      if (c == '\'' || c == '"')
        quote = c;
      else if (c == '>')
        in_tag = 0;
      else if (c >= 0x80)
        return 0;
    } else if (c == '<') {
      in_tag = 1;
    }
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!comparable(data, size))
    return 0;
  size_t len = sizeof head - 1 + size + sizeof tail - 1;
  char *doc = malloc(len);
  FUZZ_CHECK(doc != NULL, "out of memory in the harness");
  memcpy(doc, head, sizeof head - 1);
  if (size)
    memcpy(doc + sizeof head - 1, data, size);
  memcpy(doc + sizeof head - 1 + size, tail, sizeof tail - 1);

  ex_state ex = {0};
  ex.doc = doc;
  ex.p = XML_ParserCreateNS(NULL, '\x01');
  FUZZ_CHECK(ex.p != NULL, "XML_ParserCreateNS failed");
  XML_SetUserData(ex.p, &ex);
  XML_SetElementHandler(ex.p, ex_start, ex_end);
  XML_SetCharacterDataHandler(ex.p, ex_text);
  XML_SetStartCdataSectionHandler(ex.p, ex_cdata);
  int ex_ok = XML_Parse(ex.p, doc, (int)len, 1) == XML_STATUS_OK;
  enum XML_Error ex_err = XML_GetErrorCode(ex.p);
  XML_Index ex_at = XML_GetCurrentByteIndex(ex.p);

  unsigned long stanzas = 0;
  static const xsr_parser_callbacks cb = {NULL, on_stanza, NULL};
  xsr_parser_config cfg;
  fuzz_config_generous(&cfg);
  xsr_parser *p = xsr_parser_new(&cfg, &cb, &stanzas, NULL);
  FUZZ_CHECK(p != NULL, "xsr_parser_new failed");
  xsr_err r = xsr_parser_feed(p, doc, len);
  uint64_t off = 0;
  xsr_parser_error(p, &off);
  int xsr_ok = r == XSR_OK && xsr_parser_closed(p);

  if (!ex.skip && !(r == XSR_EQNAME && ex_ok)) {
    FUZZ_CHECK(ex_ok == xsr_ok,
               "verdicts differ: expat %s (%s at %ld), xsr %s (%s at %llu: '%.*s')",
               ex_ok ? "accepts" : "refuses", ex_ok ? "-" : XML_ErrorString(ex_err), (long)ex_at,
               xsr_ok ? "accepts" : "refuses", r == XSR_OK ? "not closed" : xsr_err_name(r),
               (unsigned long long)off, (int)(len - off < 24 ? len - off : 24), doc + off);
    if (ex_ok)
      FUZZ_CHECK(ex.stanzas == stanzas, "expat saw %lu stanzas, xsr %lu", ex.stanzas, stanzas);
  }
  xsr_parser_free(p);
  XML_ParserFree(ex.p);
  free(doc);
  return 0;
}
