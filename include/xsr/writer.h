/* SPDX-License-Identifier: MIT */
/*
 * xsr/writer.h: builds XML stanzas into caller memory, escaping correctly.
 *
 *   char buf[512];
 *   xsr_writer w;
 *   xsr_writer_init(&w, buf, sizeof buf);
 *   xsr_writer_start(&w, "message");
 *   xsr_writer_attr(&w, "to", "juliet@example.com");
 *   xsr_writer_attr(&w, "type", "chat");
 *   xsr_writer_start(&w, "body");
 *   xsr_writer_text(&w, "Art thou not Romeo, & a Montague?", 33);
 *   xsr_writer_end(&w);            // </body>
 *   xsr_writer_end(&w);            // </message>
 *   size_t n;
 *   if (xsr_writer_finish(&w, &n) == XSR_OK) send(buf, n);
 *
 * Escaping: text escapes & < > and CR (as &#13;, so it survives line-end
 * normalisation); attribute values (always single-quoted) escape & < > ' "
 * and TAB, LF, CR as character references, so the parser decodes exactly
 * the value given.  Text and values must be valid UTF-8 made of XML
 * characters: anything else (C0 controls, U+FFFE, broken sequences) makes
 * the writer fail with XSR_ECHAR or XSR_EUTF8 rather than emit a document no
 * parser accepts.  Names are written as given and must be valid XML
 * qualified names; an attribute name repeated on one element (among its
 * first XSR_WRITER_MAX_ATTRS), an element named with the reserved prefix
 * "xmlns", and a prefix declaration with an empty value (xmlns:p='', which
 * Namespaces in XML 1.0 does not allow) fail with XSR_EINVAL.  Binding the
 * prefixes used is the caller's part: the writer does not track scopes.
 *
 * Errors are sticky and reported by xsr_writer_finish(); the calls return
 * nothing, so a builder reads straight.  When the buffer is too small the
 * writer keeps counting, and finish returns XSR_ENOSPC with the length a
 * retry needs in *len, as snprintf does.  Element names passed to
 * xsr_writer_start() are referenced (not copied) until the element ends.
 *
 * No allocation; a writer is a plain struct on the caller's stack.
 */
#ifndef XSR_WRITER_H
#define XSR_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XSR_WRITER_MAX_DEPTH 64
#define XSR_WRITER_MAX_ATTRS 64 /* attributes per element checked for repeats */

typedef struct xsr_writer {
  char *buf;
  size_t cap;
  size_t len; /* bytes produced (may exceed cap after overflow) */
  xsr_err err;
  unsigned depth;
  int open;                                 /* a start tag is open: attributes may still be added */
  unsigned nattrs;                          /* attributes of the open start tag */
  uint64_t attr_hash[XSR_WRITER_MAX_ATTRS]; /* their names, hashed */
  struct {
    const char *name;
    size_t len;
  } stack[XSR_WRITER_MAX_DEPTH];
} xsr_writer;

void xsr_writer_init(xsr_writer *w, char *buf, size_t cap);

/* Opens an element: writes "<name" (attributes may follow).  The name is a
 * NUL-terminated qualified name; _n takes a length. */
void xsr_writer_start(xsr_writer *w, const char *name);
void xsr_writer_start_n(xsr_writer *w, const char *name, size_t len);

/* Adds an attribute to the element just started; fails with XSR_EINVAL
 * after content was written. */
void xsr_writer_attr(xsr_writer *w, const char *name, const char *value);
void xsr_writer_attr_n(xsr_writer *w, const char *name, size_t name_len, const char *value,
                       size_t value_len);

/* Escaped character data. */
void xsr_writer_text(xsr_writer *w, const char *text, size_t len);

/* Bytes copied verbatim (already-serialised XML, e.g. a stanza child). */
void xsr_writer_raw(xsr_writer *w, const char *data, size_t len);

/* Closes the innermost open element: "/>" if it has no content, else
 * "</name>". */
void xsr_writer_end(xsr_writer *w);

/* Writes "<?xml version='1.0'?><stream:stream xmlns='NS'
 * xmlns:stream='http://etherx.jabber.org/streams' version='1.0' ...>" with
 * the optional to/from/id/lang attributes (NULL to omit).  The stream element
 * stays open and is not on the element stack. */
void xsr_writer_stream_open(xsr_writer *w, const char *content_ns, const char *to, const char *from,
                            const char *id, const char *lang);

/* Writes "</stream:stream>". */
void xsr_writer_stream_close(xsr_writer *w);

/* Checks that every element was closed and no error occurred; stores the
 * output length (or, for XSR_ENOSPC, the length needed) in *len. */
xsr_err xsr_writer_finish(xsr_writer *w, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* XSR_WRITER_H */
