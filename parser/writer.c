/* SPDX-License-Identifier: MIT */
/*
 * The stanza writer: escaping and validation into caller memory.
 *
 * Output goes through put(), which copies what fits and counts everything,
 * so an undersized buffer still yields the exact length a retry needs (as
 * snprintf does).  Text and attribute values are copied in runs: a byte
 * class table tells bytes that pass through unchanged from those that must
 * be escaped, rejected, or decoded as the start of a multi-byte sequence,
 * so the common case is one memcpy per run.  Every UTF-8 sequence is
 * checked in full (shortest form, no surrogates, at most U+10FFFF) and
 * decoded to reject the non-characters U+FFFE and U+FFFF, because XML 1.0
 * does not allow them.
 *
 * The first failure is stored in w->err and every later call returns at
 * once, so callers check one result at the end.
 */
#include "xsr/writer.h"

#include "internal.h"

#include <stdint.h>
#include <string.h>

#define STREAMS_NS "http://etherx.jabber.org/streams"

/* Byte classes for text and attribute values. */
enum {
  C_COPY = 0, /* written as is */
  C_ESC,      /* replaced by a reference */
  C_CTRL,     /* a C0 control XML does not allow */
  C_UTF8      /* first byte of a multi-byte sequence (or a stray byte) */
};

/* The class of byte c in character data (attr 0) or an attribute value
 * (attr 1); a constant expression, so it can fill the tables below. */
#define XSR__CLASS(c, attr)                                                                        \
  ((c) >= 0x80                                                           ? C_UTF8                  \
   : (c) == '&' || (c) == '<' || (c) == '>' || (c) == '\r'               ? C_ESC                   \
   : (attr) && ((c) == '\'' || (c) == '"' || (c) == '\t' || (c) == '\n') ? C_ESC                   \
   : (c) < 0x20 && (c) != '\t' && (c) != '\n'                            ? C_CTRL                  \
                                                                         : C_COPY)
#define XSR__C4(b, a)                                                                              \
  XSR__CLASS((b), a), XSR__CLASS((b) + 1, a), XSR__CLASS((b) + 2, a), XSR__CLASS((b) + 3, a)
#define XSR__C16(b, a) XSR__C4(b, a), XSR__C4((b) + 4, a), XSR__C4((b) + 8, a), XSR__C4((b) + 12, a)
#define XSR__C64(b, a)                                                                             \
  XSR__C16(b, a), XSR__C16((b) + 16, a), XSR__C16((b) + 32, a), XSR__C16((b) + 48, a)
#define XSR__C256(a) XSR__C64(0, a), XSR__C64(64, a), XSR__C64(128, a), XSR__C64(192, a)

/* Index 0: character data; index 1: attribute values. */
static const uint8_t byte_class[2][256] = {{XSR__C256(0)}, {XSR__C256(1)}};

#undef XSR__C256
#undef XSR__C64
#undef XSR__C16
#undef XSR__C4
#undef XSR__CLASS

static void fail(xsr_writer *w, xsr_err err) {
  if (w->err == XSR_OK)
    w->err = err;
}

/* Copies what fits and counts all of it. */
static void put(xsr_writer *w, const char *s, size_t n) {
  if (n == 0)
    return;
  if (n > SIZE_MAX - w->len) {
    fail(w, XSR_ENOSPC);
    return;
  }
  if (w->len < w->cap) {
    size_t room = w->cap - w->len;
    memcpy(w->buf + w->len, s, n < room ? n : room);
  }
  w->len += n;
}

static void put_char(xsr_writer *w, char c) {
  if (w->len == SIZE_MAX) {
    fail(w, XSR_ENOSPC);
    return;
  }
  if (w->len < w->cap)
    w->buf[w->len] = c;
  w->len++;
}

/* Decodes one UTF-8 sequence at s[0..n) (n >= 1, s[0] >= 0x80) with the
 * parser's decoder (Unicode table 3-7: no overlongs, no surrogates, nothing
 * past U+10FFFF).  Returns its length and stores the code point, or 0 when
 * the sequence is ill-formed or truncated. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  int k = xsr__utf8_decode(s, s + n, cp);
  return k > 0 ? (size_t)k : 0;
}

/* XML 1.0 Char, for code points >= 0x80 that are valid Unicode scalars. */
static int xml_char_high(uint32_t cp) { return cp != 0xFFFE && cp != 0xFFFF; }

static void put_escaped(xsr_writer *w, const char *text, size_t len, int attr) {
  const unsigned char *s = (const unsigned char *)text;
  const uint8_t *cls_of = byte_class[attr];
  size_t run = 0, i = 0;
  while (i < len) {
    unsigned c = s[i];
    unsigned cls = cls_of[c];
    if (cls == C_COPY) {
      i++;
      continue;
    }
    if (cls == C_UTF8) {
      uint32_t cp;
      size_t n = utf8_decode(s + i, len - i, &cp);
      if (n == 0) {
        fail(w, XSR_EUTF8);
        return;
      }
      if (!xml_char_high(cp)) {
        fail(w, XSR_ECHAR);
        return;
      }
      i += n;
      continue;
    }
    if (cls == C_CTRL) {
      fail(w, XSR_ECHAR);
      return;
    }
    put(w, text + run, i - run);
    switch (c) {
    case '&':
      put(w, "&amp;", 5);
      break;
    case '<':
      put(w, "&lt;", 4);
      break;
    case '>':
      put(w, "&gt;", 4);
      break;
    case '\'':
      put(w, "&apos;", 6);
      break;
    case '"':
      put(w, "&quot;", 6);
      break;
    case '\t':
      put(w, "&#9;", 4);
      break;
    case '\n':
      put(w, "&#10;", 5);
      break;
    default: /* '\r' */
      put(w, "&#13;", 5);
      break;
    }
    i++;
    run = i;
  }
  put(w, text + run, len - run);
}

/* XML 1.0 (fifth edition) NameStartChar and NameChar, colon excluded (the
 * qualified-name check in check_name() handles it): the parser's tables. */
static int name_start_char(uint32_t c) {
  return c < 0x80 ? c != ':' && (xsr__name_class[c] & XSR__NAME_START) : xsr__name_start_cp(c);
}

static int name_char(uint32_t c) {
  return c < 0x80 ? c != ':' && (xsr__name_class[c] & XSR__NAME_CHAR) : xsr__name_cp(c);
}

/*
 * Checks that name[0..len) is a qualified name (Namespaces in XML, QName):
 * an XML name with at most one colon, which separates two non-empty parts.
 * Returns XSR_OK, XSR_EUTF8, XSR_ENAME or XSR_EQNAME.
 */
static xsr_err check_name(const char *name, size_t len) {
  const unsigned char *s = (const unsigned char *)name;
  int colons = 0, at_start = 1;
  size_t i = 0;
  if (len == 0)
    return XSR_ENAME;
  while (i < len) {
    uint32_t cp = s[i];
    size_t n = 1;
    if (cp >= 0x80) {
      n = utf8_decode(s + i, len - i, &cp);
      if (n == 0)
        return XSR_EUTF8;
    }
    if (cp == ':') {
      if (at_start || ++colons > 1)
        return XSR_EQNAME;
      at_start = 1;
    } else if (at_start) {
      if (!name_start_char(cp))
        return i == 0 || !name_char(cp) ? XSR_ENAME : XSR_EQNAME;
      at_start = 0;
    } else if (!name_char(cp)) {
      return XSR_ENAME;
    }
    i += n;
  }
  return at_start ? XSR_EQNAME : XSR_OK; /* a trailing colon */
}

/* Ends the open start tag so content can follow. */
static void close_start_tag(xsr_writer *w) {
  if (w->open) {
    put_char(w, '>');
    w->open = 0;
  }
}

void xsr_writer_init(xsr_writer *w, char *buf, size_t cap) {
  w->buf = buf;
  w->cap = buf ? cap : 0;
  w->len = 0;
  w->err = XSR_OK;
  w->depth = 0;
  w->open = 0;
}

void xsr_writer_start(xsr_writer *w, const char *name) {
  if (w->err != XSR_OK)
    return;
  if (!name) {
    fail(w, XSR_EINVAL);
    return;
  }
  xsr_writer_start_n(w, name, strlen(name));
}

/* Whether a qualified name has the reserved prefix "xmlns". */
static int xmlns_prefixed(const char *name, size_t len) {
  return len > 6 && memcmp(name, "xmlns:", 6) == 0;
}

void xsr_writer_start_n(xsr_writer *w, const char *name, size_t len) {
  if (w->err != XSR_OK)
    return;
  if (!name || w->depth >= XSR_WRITER_MAX_DEPTH) {
    fail(w, XSR_EINVAL);
    return;
  }
  xsr_err e = check_name(name, len);
  if (e != XSR_OK) {
    fail(w, e);
    return;
  }
  close_start_tag(w);
  if (xmlns_prefixed(name, len)) {
    fail(w, XSR_EINVAL); /* the reserved prefix (Namespaces in XML 1.0) */
    return;
  }
  put_char(w, '<');
  put(w, name, len);
  w->nattrs = 0;
  w->stack[w->depth].name = name;
  w->stack[w->depth].len = len;
  w->depth++;
  w->open = 1;
}

void xsr_writer_attr(xsr_writer *w, const char *name, const char *value) {
  if (w->err != XSR_OK)
    return;
  if (!name || !value) {
    fail(w, XSR_EINVAL);
    return;
  }
  xsr_writer_attr_n(w, name, strlen(name), value, strlen(value));
}

void xsr_writer_attr_n(xsr_writer *w, const char *name, size_t name_len, const char *value,
                       size_t value_len) {
  if (w->err != XSR_OK)
    return;
  if (!w->open || !name || (!value && value_len)) {
    fail(w, XSR_EINVAL);
    return;
  }
  xsr_err e = check_name(name, name_len);
  if (e != XSR_OK) {
    fail(w, e);
    return;
  }
  if (value_len == 0 && xmlns_prefixed(name, name_len)) {
    fail(w, XSR_EINVAL); /* undeclaring a prefix: not in Namespaces in XML 1.0 */
    return;
  }
  /* A repeated name makes the element not well-formed (XML 1.0 3.1): the
   * names so far are kept as 64-bit hashes (FNV-1a), no copies. */
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < name_len; i++)
    h = (h ^ (unsigned char)name[i]) * 0x100000001b3ull;
  for (unsigned i = 0; i < w->nattrs; i++) {
    if (w->attr_hash[i] == h) {
      fail(w, XSR_EINVAL);
      return;
    }
  }
  if (w->nattrs < XSR_WRITER_MAX_ATTRS)
    w->attr_hash[w->nattrs++] = h;
  put_char(w, ' ');
  put(w, name, name_len);
  put(w, "='", 2);
  put_escaped(w, value, value_len, 1);
  put_char(w, '\'');
}

void xsr_writer_text(xsr_writer *w, const char *text, size_t len) {
  if (w->err != XSR_OK)
    return;
  if (!text && len) {
    fail(w, XSR_EINVAL);
    return;
  }
  close_start_tag(w);
  put_escaped(w, text, len, 0);
}

void xsr_writer_raw(xsr_writer *w, const char *data, size_t len) {
  if (w->err != XSR_OK)
    return;
  if (!data && len) {
    fail(w, XSR_EINVAL);
    return;
  }
  close_start_tag(w);
  put(w, data, len);
}

void xsr_writer_end(xsr_writer *w) {
  if (w->err != XSR_OK)
    return;
  if (w->depth == 0) {
    fail(w, XSR_EINVAL);
    return;
  }
  w->depth--;
  if (w->open) {
    put(w, "/>", 2);
    w->open = 0;
    return;
  }
  put(w, "</", 2);
  put(w, w->stack[w->depth].name, w->stack[w->depth].len);
  put_char(w, '>');
}

static void stream_attr(xsr_writer *w, const char *name, const char *value) {
  if (value) {
    put_char(w, ' ');
    put(w, name, strlen(name));
    put(w, "='", 2);
    put_escaped(w, value, strlen(value), 1);
    put_char(w, '\'');
  }
}

void xsr_writer_stream_open(xsr_writer *w, const char *content_ns, const char *to, const char *from,
                            const char *id, const char *lang) {
  if (w->err != XSR_OK)
    return;
  if (!content_ns || w->depth != 0 || w->open) {
    fail(w, XSR_EINVAL);
    return;
  }
  static const char head[] = "<?xml version='1.0'?><stream:stream";
  put(w, head, sizeof head - 1);
  stream_attr(w, "xmlns", content_ns);
  static const char mid[] = " xmlns:stream='" STREAMS_NS "' version='1.0'";
  put(w, mid, sizeof mid - 1);
  stream_attr(w, "to", to);
  stream_attr(w, "from", from);
  stream_attr(w, "id", id);
  stream_attr(w, "xml:lang", lang);
  put_char(w, '>');
}

void xsr_writer_stream_close(xsr_writer *w) {
  if (w->err != XSR_OK)
    return;
  if (w->depth != 0) {
    fail(w, XSR_EINVAL);
    return;
  }
  put(w, "</stream:stream>", 16);
}

xsr_err xsr_writer_finish(xsr_writer *w, size_t *len) {
  if (w->err == XSR_OK && w->depth != 0)
    fail(w, XSR_EINVAL);
  if (w->err == XSR_OK && w->len > w->cap)
    fail(w, XSR_ENOSPC);
  if (len)
    *len = (w->err == XSR_OK || w->err == XSR_ENOSPC) ? w->len : 0;
  return w->err;
}
