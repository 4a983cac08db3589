/* SPDX-License-Identifier: MIT */
/*
 * xsr/stanza.h: zero-copy views of parsed XML, and on-demand decoding.
 *
 * The parser reports each top-level element of the stream (a "stanza":
 * <message/>, <presence/>, <iq/>, and also <stream:features/>, SASL and
 * stream-management elements) as an `xsr_stanza`: the raw bytes as received,
 * what routing needs (name, namespace, the to/from/id/type/xml:lang spans
 * and the forwarding context), all computed during the scan, and an index
 * of every element, attribute and text run inside it, built on demand.
 * Nothing is copied or decoded: positions in the index are byte offsets
 * relative to `raw.ptr`, and text or attribute values that contain
 * references are decoded only when asked, into caller memory.
 *
 * THE INDEX, ON DEMAND.  Routing needs no index, so the parser does not
 * build one while scanning: a view passed to on_stanza has nodes NULL and
 * node_count 0.  The first call of xsr_stanza_index(), xsr_stanza_nodes(),
 * xsr_stanza_attrs(), xsr_stanza_find_child(), xsr_stanza_find_attr() or
 * xsr_stanza_text() on it builds the index from the stanza's bytes, which
 * the scan has already checked (every check is made during the scan, index
 * or not): that scans the stanza's bytes once more, in the parser's
 * scratch memory (nothing is allocated once it has grown to the largest
 * stanza).  Later calls for the same stanza reuse it.  The parser's promise
 * never to rescan is about feeding; building an index is this one rescan,
 * paid only by callers who ask.  The stream header's view (in
 * xsr_stream_header) carries its one-node index.
 *
 * Lifetime: every pointer in a view (raw.ptr, the index arrays, the routing
 * spans, the forwarding context) is valid only until the callback that
 * received the view returns, and the index can be built only until then:
 * afterwards, while the parser lives, the calls above find nothing and
 * xsr_stanza_index() fails with XSR_EINVAL (a view reported by a parser
 * that has been freed must not be used at all).  Copy `raw` if the stanza
 * must outlive the callback; the index can be recomputed from the copy by
 * parsing it again.
 *
 * Namespaces are interned: each element and attribute carries a namespace
 * id.  Ids below XSR_NS_FIRST_DYNAMIC are the constants listed here and mean
 * the same in every parser; larger ids are assigned per parser, stay stable
 * for that parser's lifetime (stream restarts included) and are turned back
 * into URIs with xsr_parser_ns_uri().
 */
#ifndef XSR_STANZA_H
#define XSR_STANZA_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A byte range.  Not NUL-terminated.  An absent value has ptr == NULL. */
typedef struct xsr_span {
  const char *ptr;
  size_t len;
} xsr_span;

/* Well-known namespace ids.  XSR_NS_NONE means "no namespace". */
#define XSR_NS_MAP(XX)                                                                             \
  XX(NONE, "")                                                                                     \
  XX(XML, "http://www.w3.org/XML/1998/namespace")                                                  \
  XX(XMLNS, "http://www.w3.org/2000/xmlns/")                                                       \
  XX(STREAMS, "http://etherx.jabber.org/streams")                                                  \
  XX(CLIENT, "jabber:client")                                                                      \
  XX(SERVER, "jabber:server")                                                                      \
  XX(COMPONENT, "jabber:component:accept")                                                         \
  XX(XMPP_STREAMS, "urn:ietf:params:xml:ns:xmpp-streams")                                          \
  XX(XMPP_STANZAS, "urn:ietf:params:xml:ns:xmpp-stanzas")                                          \
  XX(XMPP_TLS, "urn:ietf:params:xml:ns:xmpp-tls")                                                  \
  XX(XMPP_SASL, "urn:ietf:params:xml:ns:xmpp-sasl")                                                \
  XX(XMPP_BIND, "urn:ietf:params:xml:ns:xmpp-bind")                                                \
  XX(XMPP_SESSION, "urn:ietf:params:xml:ns:xmpp-session")                                          \
  XX(ROSTER, "jabber:iq:roster")                                                                   \
  XX(DISCO_INFO, "http://jabber.org/protocol/disco#info")                                          \
  XX(DISCO_ITEMS, "http://jabber.org/protocol/disco#items")                                        \
  XX(PUBSUB, "http://jabber.org/protocol/pubsub")                                                  \
  XX(CAPS, "http://jabber.org/protocol/caps")                                                      \
  XX(CHATSTATES, "http://jabber.org/protocol/chatstates")                                          \
  XX(RECEIPTS, "urn:xmpp:receipts")                                                                \
  XX(SM, "urn:xmpp:sm:3")                                                                          \
  XX(PING, "urn:xmpp:ping")                                                                        \
  XX(DELAY, "urn:xmpp:delay")                                                                      \
  XX(CARBONS, "urn:xmpp:carbons:2")                                                                \
  XX(FORWARD, "urn:xmpp:forward:0")                                                                \
  XX(MAM, "urn:xmpp:mam:2")                                                                        \
  XX(XHTML_IM, "http://jabber.org/protocol/xhtml-im")                                              \
  XX(XHTML, "http://www.w3.org/1999/xhtml")                                                        \
  XX(MUC, "http://jabber.org/protocol/muc")                                                        \
  XX(MUC_USER, "http://jabber.org/protocol/muc#user")                                              \
  XX(DATA_FORMS, "jabber:x:data")                                                                  \
  XX(VERSION, "jabber:iq:version")

enum {
#define XSR__NS_ENUM(name, uri) XSR_NS_##name,
  XSR_NS_MAP(XSR__NS_ENUM)
#undef XSR__NS_ENUM
      XSR_NS_FIRST_DYNAMIC
};

/* The URI of a well-known id; NULL for ids >= XSR_NS_FIRST_DYNAMIC. */
const char *xsr_ns_wellknown_uri(uint32_t ns);

/* Node kinds and flags. */
enum {
  XSR_NODE_ELEMENT = 1,
  XSR_NODE_TEXT = 2, /* character data; may hold references and CRs */
  XSR_NODE_CDATA = 3 /* the inside of <![CDATA[...]]>: literal, but may hold CRs */
};

/* Set on text nodes and attribute values whose raw bytes differ from their
 * decoded value: they hold references, CRs (line ends are normalised), or,
 * in attribute values, TAB/LF/CR (normalised to spaces).  Values without the
 * flag can be used raw. */
#define XSR_F_ESCAPED 0x1u

/*
 * One node of the index, in document order (pre-order).  Node 0 is the
 * stanza element itself.  Offsets are relative to xsr_stanza.raw.ptr.
 *
 * Element: `off` is its '<'; `len` runs to just past the '>' of its end tag
 * (or of its empty-element tag).  The qualified name starts at off + 1 and is
 * `name_len` bytes long; its first `prefix_len` bytes are the prefix (0 when
 * unprefixed; the colon follows the prefix).  `ns` is the namespace id,
 * `attr_first`/`attr_count` select its attributes in xsr_stanza.attrs (xmlns
 * declarations are not listed), `depth` is 1 for the stanza itself.
 * `next` is the index of the next sibling node (element or text), 0 if none;
 * the first child, if any, is the node right after it (check its depth).
 *
 * Text/CDATA: `off`/`len` is the raw content.  Adjacent character data and
 * references form one text node; each CDATA section is its own node.
 */
typedef struct xsr_node {
  uint32_t off;
  uint32_t len;
  uint32_t ns;
  uint32_t next;
  uint32_t attr_first;
  uint16_t attr_count;
  uint16_t name_len;
  uint16_t prefix_len;
  uint8_t kind;
  uint8_t flags;
  uint16_t depth;
  uint16_t reserved_;
} xsr_node;

/* One attribute.  The qualified name is at name_off (prefix as for nodes);
 * the raw value, between the quotes, at value_off.  `ns` is XSR_NS_NONE for
 * unprefixed attributes (Namespaces in XML: no default namespace applies),
 * XSR_NS_XML for xml:lang and friends. */
typedef struct xsr_attr {
  uint32_t name_off;
  uint32_t value_off;
  uint32_t value_len;
  uint32_t ns;
  uint16_t name_len;
  uint16_t prefix_len;
  uint8_t flags;
  uint8_t reserved_[3];
} xsr_attr;

/* Bits of xsr_stanza.escaped: which routing values need decoding. */
#define XSR_ROUTE_TO   0x01u
#define XSR_ROUTE_FROM 0x02u
#define XSR_ROUTE_ID   0x04u
#define XSR_ROUTE_TYPE 0x08u
#define XSR_ROUTE_LANG 0x10u

/* A namespace binding: prefix (never empty) and its URI, decoded. */
typedef struct xsr_ns_decl {
  xsr_span prefix;
  xsr_span uri;
} xsr_ns_decl;

/* A complete top-level element. */
typedef struct xsr_stanza {
  xsr_span raw;    /* '<' ... final '>', exactly as received */
  uint64_t offset; /* stream offset of raw.ptr[0] */
  xsr_span name;   /* local name, e.g. "message" */
  xsr_span prefix; /* "" unless prefixed, e.g. "stream" for stream:features */
  uint32_t ns;     /* namespace id of the element */
  /* Unprefixed to/from/id/type attributes and xml:lang, raw; ptr == NULL when
   * absent.  A set bit in `escaped` says that value's raw bytes differ from
   * its decoded value (references, or TAB/LF/CR, which decode to spaces:
   * XSR_F_ESCAPED); decode it with xsr_decode_attr() before use. */
  xsr_span to, from, id, type, lang;
  unsigned escaped;
  /* The index: NULL and 0 in views the parser reports until
   * xsr_stanza_index() fills them (see THE INDEX, ON DEMAND); the other
   * accessors read it whether or not the view carries it. */
  const xsr_node *nodes; /* nodes[0] is this element */
  size_t node_count;
  const xsr_attr *attrs;
  size_t attr_count;
  /* Forwarding context: what a copy of `raw` needs to mean the same on
   * another stream (the router's rewrite, see router.h FROM STAMPING).
   * `inherited` lists the prefix bindings declared on the stream header
   * (the stream prefix included) that the stanza uses, on an element or an
   * attribute, without declaring them itself, in the header's order; most
   * stanzas use none (inherited_count 0).  The default namespace is not
   * listed: it is the stream's content namespace.  `stream_lang` is the
   * stream header's xml:lang, decoded (ptr NULL when the header has none).
   * `tag_attrs` counts the attributes of the stanza's start tag, namespace
   * declarations included, as the max_attrs limit does; `tag_decls` the
   * declarations among them. */
  const xsr_ns_decl *inherited;
  size_t inherited_count;
  xsr_span stream_lang;
  unsigned tag_attrs;
  unsigned tag_decls;
  /* Private: the parser that builds the index on demand (NULL when the
   * view carries its index, or in a view made by hand with one). */
  struct xsr_parser *index_parser_;
} xsr_stanza;

/* Makes `st` carry its index: when st->nodes is NULL, builds the index
 * (see THE INDEX, ON DEMAND) and sets nodes, node_count, attrs and
 * attr_count; a view that already has it is left as it is.  For code that
 * walks the arrays itself: copy the view the callback got
 * (`xsr_stanza v = *st;`) and call this on the copy.  Returns XSR_OK;
 * XSR_ENOMEM when the index could not grow (the fields stay NULL and 0);
 * XSR_EINVAL after the callback has returned. */
xsr_err xsr_stanza_index(xsr_stanza *st);

/* The index of `st`, built if needed as xsr_stanza_index() does, without
 * changing the view: the nodes (count in *count) or the attributes.  NULL
 * (and 0) when building failed. */
const xsr_node *xsr_stanza_nodes(const xsr_stanza *st, size_t *count);
const xsr_attr *xsr_stanza_attrs(const xsr_stanza *st, size_t *count);

/* Span helpers: positions in the index turned into spans. */
static inline xsr_span xsr_stanza_node_raw(const xsr_stanza *st, const xsr_node *n) {
  xsr_span s = {st->raw.ptr + n->off, n->len};
  return s;
}
static inline xsr_span xsr_stanza_node_name(const xsr_stanza *st, const xsr_node *n) {
  /* Local name of an element node. */
  size_t skip = n->prefix_len ? (size_t)n->prefix_len + 1 : 0;
  xsr_span s = {st->raw.ptr + n->off + 1 + skip, (size_t)n->name_len - skip};
  return s;
}
static inline xsr_span xsr_stanza_attr_name(const xsr_stanza *st, const xsr_attr *a) {
  /* Local name of an attribute. */
  size_t skip = a->prefix_len ? (size_t)a->prefix_len + 1 : 0;
  xsr_span s = {st->raw.ptr + a->name_off + skip, (size_t)a->name_len - skip};
  return s;
}
static inline xsr_span xsr_stanza_attr_raw(const xsr_stanza *st, const xsr_attr *a) {
  xsr_span s = {st->raw.ptr + a->value_off, a->value_len};
  return s;
}

/* Finds the attribute (ns, local name) of element node `el` (an index into
 * the nodes, see xsr_stanza_nodes(); 0 is the stanza element; the index is
 * built if needed).  Returns NULL when absent.  `name` is NUL-terminated. */
const xsr_attr *xsr_stanza_find_attr(const xsr_stanza *st, size_t el, uint32_t ns,
                                     const char *name);

/* Finds the first child element of node `el` with the given namespace and
 * local name (name NULL matches any name).  Returns its node index, or 0
 * when there is none (0 is never a child). */
size_t xsr_stanza_find_child(const xsr_stanza *st, size_t el, uint32_t ns, const char *name);

/*
 * Decoding.  Each function writes the decoded value into out[0..cap) and
 * stores its length in *out_len.  When cap is too small it writes nothing
 * useful, stores the length needed in *out_len and returns XSR_ENOSPC.
 * The decoded value is never longer than the raw one, so cap == raw length
 * always suffices.  The raw bytes must have been accepted by the parser (the
 * functions rely on that and do not re-validate); out must not overlap raw.
 */

/* Character data: references replaced, CR LF and lone CR turned into LF. */
xsr_err xsr_decode_text(xsr_span raw, char *out, size_t cap, size_t *out_len);

/* CDATA content: only line ends are normalised. */
xsr_err xsr_decode_cdata(xsr_span raw, char *out, size_t cap, size_t *out_len);

/* Attribute values: references replaced; literal TAB, LF, CR, and CR LF each
 * become one space (XML 1.0 section 3.3.3, CDATA attribute). */
xsr_err xsr_decode_attr(xsr_span raw, char *out, size_t cap, size_t *out_len);

/* The text content of element node `el`: the decoded concatenation of its
 * direct text and CDATA children (child elements skipped), e.g. the body of
 * <body>.  Builds the index if needed (XSR_ENOMEM, XSR_EINVAL as
 * xsr_stanza_index()); XSR_EINVAL when `el` is not an element node. */
xsr_err xsr_stanza_text(const xsr_stanza *st, size_t el, char *out, size_t cap, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif /* XSR_STANZA_H */
