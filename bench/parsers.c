/* SPDX-License-Identifier: MIT */
/*
 * The parsers of the parser suite, each doing the same job: accept the
 * stream, count its stanzas.  Each is given its best case: no character
 * data handlers, no tree, no decoding beyond what the library always does.
 */
#include "parsers.h"

#include <expat.h>
#include <libxml/parser.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsr/parser.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* ---- xsr --------------------------------------------------------------- */

/* Counts live heap bytes through the allocator hook; a size header in
 * front of each block lets free and realloc know what they release. */
typedef struct counting {
  size_t live, peak;
} counting;

#define HDR 16 /* keeps malloc's alignment */

static void *c_malloc(void *user, size_t size) {
  counting *c = user;
  if (size > SIZE_MAX - HDR)
    return NULL;
  unsigned char *p = malloc(size + HDR);
  if (!p)
    return NULL;
  memcpy(p, &size, sizeof size);
  c->live += size;
  if (c->live > c->peak)
    c->peak = c->live;
  return p + HDR;
}

static void c_free(void *user, void *ptr) {
  if (!ptr)
    return;
  counting *c = user;
  unsigned char *p = (unsigned char *)ptr - HDR;
  size_t size;
  memcpy(&size, p, sizeof size);
  c->live -= size;
  free(p);
}

static void *c_realloc(void *user, void *ptr, size_t size) {
  if (!ptr)
    return c_malloc(user, size);
  counting *c = user;
  unsigned char *old = (unsigned char *)ptr - HDR;
  size_t old_size;
  memcpy(&old_size, old, sizeof old_size);
  if (size > SIZE_MAX - HDR)
    return NULL;
  unsigned char *p = realloc(old, size + HDR);
  if (!p)
    return NULL;
  memcpy(p, &size, sizeof size);
  c->live = c->live - old_size + size;
  if (c->live > c->peak)
    c->peak = c->live;
  return p + HDR;
}

static int x_on_stanza(void *user, const xsr_stanza *st) {
  (void)st;
  ++*(size_t *)user;
  return 0;
}

static const xsr_parser_callbacks x_callbacks = {NULL, x_on_stanza, NULL};

/*
 * The feeding loops, one per parser: the reads at the given end offsets,
 * else chunk-byte pieces.  Functions of their own, where the loop's values
 * stay in registers: the chunked loop's instructions are part of the
 * 1-byte figures.
 */
__attribute__((noinline)) static xsr_err x_feed_all(xsr_parser *p, const char *data, size_t len,
                                                    size_t chunk, const size_t *reads) {
  xsr_err e;
  if (reads) {
    for (size_t off = 0, i = 0; off < len; off = reads[i++])
      if ((e = xsr_parser_feed(p, data + off, reads[i] - off)) != XSR_OK)
        return e;
    return XSR_OK;
  }
  for (size_t off = 0; off < len; off += chunk) {
    size_t k = len - off < chunk ? len - off : chunk;
    if ((e = xsr_parser_feed(p, data + off, k)) != XSR_OK)
      return e;
  }
  return XSR_OK;
}

int xsr_bench_xsr_parse(const char *data, size_t len, size_t chunk, const size_t *reads,
                        size_t max_stanza, size_t *stanzas, size_t *peak, char *err,
                        size_t errlen) {
  counting c = {0, 0};
  xsr_allocator a = {c_malloc, c_realloc, c_free, &c};
  xsr_parser_config cfg;
  xsr_parser_config_init(&cfg);
  if (max_stanza)
    cfg.max_stanza = max_stanza;
  size_t n = 0;
  xsr_parser *p = xsr_parser_new(&cfg, &x_callbacks, &n, &a);
  if (!p) {
    set_err(err, errlen, "xsr_parser_new failed");
    return -1;
  }
  int rc = 0;
  xsr_err e = x_feed_all(p, data, len, chunk, reads);
  if (e != XSR_OK) {
    uint64_t at = 0;
    xsr_parser_error(p, &at);
    set_err(err, errlen, "%s (%s) at offset %llu", xsr_err_name(e), xsr_err_message(e),
            (unsigned long long)at);
    rc = -1;
  }
  if (rc == 0 && !xsr_parser_closed(p)) {
    set_err(err, errlen, "stream not closed after %zu bytes", len);
    rc = -1;
  }
  xsr_parser_free(p);
  *stanzas = n;
  if (peak)
    *peak = c.peak;
  return rc;
}

/* ---- expat ------------------------------------------------------------- */

typedef struct depth_count {
  unsigned depth;
  size_t stanzas;
} depth_count;

static void XMLCALL e_start(void *user, const XML_Char *name, const XML_Char **atts) {
  (void)name;
  (void)atts;
  depth_count *d = user;
  if (++d->depth == 2)
    d->stanzas++;
}

static void XMLCALL e_end(void *user, const XML_Char *name) {
  (void)name;
  ((depth_count *)user)->depth--;
}

/* The last read is final (an empty stream: one empty final call). */
__attribute__((noinline)) static int e_feed_all(XML_Parser p, const char *data, size_t len,
                                                size_t chunk, const size_t *reads) {
  if (reads) {
    for (size_t off = 0, i = 0; off < len; off = reads[i++])
      if (XML_Parse(p, data + off, (int)(reads[i] - off), reads[i] == len) != XML_STATUS_OK)
        return XML_STATUS_ERROR;
    return XML_STATUS_OK;
  }
  for (size_t off = 0; off <= len; off += chunk) {
    size_t k = len - off < chunk ? len - off : chunk;
    int final = off + k == len;
    if (XML_Parse(p, data + off, (int)k, final) != XML_STATUS_OK)
      return XML_STATUS_ERROR;
    if (final)
      break;
  }
  return XML_STATUS_OK;
}

int xsr_bench_expat_parse(const char *data, size_t len, size_t chunk, const size_t *reads,
                          size_t *stanzas, char *err, size_t errlen) {
  depth_count d = {0, 0};
  XML_Parser p = XML_ParserCreateNS("UTF-8", '\x01');
  if (!p) {
    set_err(err, errlen, "XML_ParserCreateNS failed");
    return -1;
  }
  XML_SetUserData(p, &d);
  XML_SetElementHandler(p, e_start, e_end);
  if (chunk > INT32_MAX)
    chunk = INT32_MAX;
  int rc = e_feed_all(p, data, len, chunk, reads);
  if (rc != XML_STATUS_OK) {
    set_err(err, errlen, "%s at offset %lld", XML_ErrorString(XML_GetErrorCode(p)),
            (long long)XML_GetCurrentByteIndex(p));
    rc = -1;
  } else {
    rc = 0;
  }
  XML_ParserFree(p);
  *stanzas = d.stanzas;
  return rc;
}

/* ---- libxml2 ----------------------------------------------------------- */

typedef struct l_ctx {
  depth_count d;
  char msg[160];
} l_ctx;

static void l_start(void *user, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                    int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
                    int nb_defaulted, const xmlChar **attributes) {
  (void)localname, (void)prefix, (void)uri, (void)nb_namespaces, (void)namespaces;
  (void)nb_attributes, (void)nb_defaulted, (void)attributes;
  l_ctx *c = user;
  if (++c->d.depth == 2)
    c->d.stanzas++;
}

static void l_end(void *user, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri) {
  (void)localname, (void)prefix, (void)uri;
  ((l_ctx *)user)->d.depth--;
}

#if LIBXML_VERSION >= 21200
static void l_error(void *user, const xmlError *e) {
#else
static void l_error(void *user, xmlErrorPtr e) {
#endif
  /* serror's user is the SAX user data when set through the handler */
  l_ctx *c = user;
  if (c && !c->msg[0] && e && e->message)
    snprintf(c->msg, sizeof c->msg, "%s", e->message);
}

void xsr_bench_libxml2_init(void) { xmlInitParser(); }

__attribute__((noinline)) static int l_feed_all(xmlParserCtxtPtr ctxt, const char *data, size_t len,
                                                size_t chunk, const size_t *reads) {
  if (reads) {
    for (size_t off = 0, i = 0; off < len; off = reads[i++])
      if (xmlParseChunk(ctxt, data + off, (int)(reads[i] - off), 0) != 0)
        return -1;
    return 0;
  }
  for (size_t off = 0; off < len; off += chunk) {
    size_t k = len - off < chunk ? len - off : chunk;
    if (xmlParseChunk(ctxt, data + off, (int)k, 0) != 0)
      return -1;
  }
  return 0;
}

int xsr_bench_libxml2_parse(const char *data, size_t len, size_t chunk, const size_t *reads,
                            size_t *stanzas, char *err, size_t errlen) {
  xmlSAXHandler sax;
  memset(&sax, 0, sizeof sax);
  sax.initialized = XML_SAX2_MAGIC;
  sax.startElementNs = l_start;
  sax.endElementNs = l_end;
  sax.serror = l_error;
  l_ctx c = {{0, 0}, {0}};
  xmlParserCtxtPtr ctxt = xmlCreatePushParserCtxt(&sax, &c, NULL, 0, NULL);
  if (!ctxt) {
    set_err(err, errlen, "xmlCreatePushParserCtxt failed");
    return -1;
  }
  xmlCtxtUseOptions(ctxt, XML_PARSE_NONET);
  int rc = 0;
  if (chunk > INT32_MAX)
    chunk = INT32_MAX;
  if (l_feed_all(ctxt, data, len, chunk, reads) != 0)
    rc = -1;
  if (rc == 0 && (xmlParseChunk(ctxt, NULL, 0, 1) != 0 || !ctxt->wellFormed))
    rc = -1;
  if (rc != 0)
    set_err(err, errlen, "%s", c.msg[0] ? c.msg : "not well-formed");
  if (ctxt->myDoc)
    xmlFreeDoc(ctxt->myDoc);
  xmlFreeParserCtxt(ctxt);
  *stanzas = c.d.stanzas;
  return rc;
}
