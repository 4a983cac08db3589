/* SPDX-License-Identifier: MIT */
/*
 * xsr/parser.h: the incremental, zero-copy XMPP stream parser.
 *
 * An XMPP stream is one long XML document:
 *
 *   [<?xml ...?>] <stream:stream ...>  stanza*  </stream:stream>
 *
 * Push the bytes in as they arrive, in chunks of any size; the parser calls
 *   on_stream_open  once the stream header's start tag is complete,
 *   on_stanza       for each complete top-level element (an xsr_stanza view),
 *   on_stream_close when </stream:stream> is seen.
 * Whitespace between stanzas (keepalives) is accepted and skipped.
 *
 * Two ways in:
 *   - xsr_parser_feed(p, data, len) for callers that own their buffers.
 *     Complete stanzas are reported as views into `data` itself; only the
 *     unfinished tail is copied into the parser (and a stanza that spans
 *     calls is copied into the parser exactly once).
 *   - xsr_parser_buffer(p, &len) + xsr_parser_commit(p, n) for a network
 *     layer that reads straight into the parser's buffer (libuv alloc_cb and
 *     read_cb): nothing is copied at all, except that the unfinished tail is
 *     moved to the front of the buffer when the buffer needs room.
 * Both are linear: bytes already scanned are never scanned again, so a
 * stanza fed one byte at a time costs the same per byte as one fed whole.
 * (A caller that asks for a stanza's index, see stanza.h THE INDEX, ON
 * DEMAND, has that stanza's bytes scanned once more to build it; routing
 * needs no index.)
 *
 * What is checked: XML 1.0 well-formedness (names, including non-ASCII ones,
 * attributes unique, references, character ranges, ']]>' in text), UTF-8
 * (overlongs, surrogates, > U+10FFFF, truncation, U+FFFE/U+FFFF, C0 controls
 * other than TAB/LF/CR), Namespaces in XML (bound prefixes, reserved xml and
 * xmlns prefixes, duplicate attributes by expanded name), the XMPP framing
 * (the stream element in http://etherx.jabber.org/streams, a default
 * namespace of jabber:client, jabber:server or jabber:component:accept, a
 * version of 1.x or lower (0.x, or no version, marks a pre-1.0 peer, RFC 6120
 * section 4.7.5; 2.0 and up fail with unsupported-version), no character
 * data between stanzas, no top-level element in a content namespace other
 * than the stream's: <message xmlns='jabber:server'/> on a jabber:client
 * stream fails with XSR_ESTANZANS, invalid-namespace), and the RFC 6120
 * section 11 restrictions (no comments, processing instructions, DTDs, or
 * entity references beyond the five predefined ones; CDATA is allowed).  An
 * XML declaration is allowed before the stream header (its encoding must be
 * UTF-8); a UTF-8 byte order mark before it is skipped (RFC 6120 section
 * 11.6 says not to send one and to read U+FEFF as a character; xsr accepts
 * a leading one as expat and libxml2 do, rather than fail such a peer).
 *
 * Errors: the first failure stops the stream for good.  The call returns an
 * xsr_err whose xsr_err_condition() is the RFC 6120 stream error to send,
 * and xsr_parser_error() tells the stream offset of the offending byte.
 * Every later call returns the same error; nothing crashes, leaks or grows.
 * The verdict, the offset and the sequence of callbacks do not depend on
 * how the input was split into chunks.
 *
 * Memory: the parser holds at most the bytes of the one unfinished top-level
 * element (bounded by max_stanza: the limit counts bytes held in unfinished
 * tokens too), its index, and whatever free room xsr_parser_buffer() was
 * asked for.  Buffers grow to the largest stanza seen and are reused: in
 * steady state nothing is allocated per stanza.  With a scratch pool (see
 * SCRATCH POOLS), a parser holding no bytes holds no buffer or index
 * either.
 *
 * Threads: a parser is used by one thread at a time; distinct parsers are
 * independent, except that parsers sharing a scratch pool must all be used
 * by one thread at a time.  No global state is written after the first
 * xsr_parser_new() returns.
 */
#ifndef XSR_PARSER_H
#define XSR_PARSER_H

#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "error.h"
#include "stanza.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsr_parser xsr_parser;
typedef struct xsr_parser_pool xsr_parser_pool;

/* Limits and defaults.  Exceeding a limit fails the stream with a
 * policy-violation code (XSR_ELIMIT*) at the first byte past the limit. */
#define XSR_DEFAULT_MAX_STANZA     262144u     /* bytes of one top-level element */
#define XSR_DEFAULT_MAX_DEPTH      64u         /* nesting; the stanza itself is depth 1 */
#define XSR_DEFAULT_MAX_ATTRS      64u         /* attributes per element, xmlns included */
#define XSR_DEFAULT_MAX_NAME       1024u       /* bytes of a qualified name */
#define XSR_DEFAULT_MAX_NS_DECLS   32u         /* xmlns declarations per element */
#define XSR_DEFAULT_MAX_NAMESPACES 1024u       /* distinct non-well-known URIs per parser */
#define XSR_MAX_STANZA_LIMIT       0x40000000u /* largest accepted max_stanza (1 GiB) */

/* Content namespaces accepted as the stream's default namespace. */
#define XSR_ACCEPT_CLIENT    0x1u
#define XSR_ACCEPT_SERVER    0x2u
#define XSR_ACCEPT_COMPONENT 0x4u

typedef struct xsr_parser_config {
  size_t max_stanza;
  unsigned max_depth;
  unsigned max_attrs;
  unsigned max_name;
  unsigned max_ns_decls;
  unsigned max_namespaces;
  unsigned accept; /* XSR_ACCEPT_* bits; default all three */
  /* Where the parser borrows its scratch (see SCRATCH POOLS below); NULL,
   * the default (and what a zeroed field means): the parser owns it. */
  xsr_parser_pool *pool;
} xsr_parser_config;

/* Fills `cfg` with the defaults above (pool NULL). */
void xsr_parser_config_init(xsr_parser_config *cfg);

/*
 * SCRATCH POOLS.  A parser needs two kinds of memory.  Stream-level state
 * lives as long as the stream: the parser itself, the stream header's
 * namespace bindings and element name, the namespaces the stream declared
 * that are not well known, and room for a stanza's forwarding context,
 * each sized to what the stream uses.  Scratch is needed only while a
 * top-level element (or the stream header) is unfinished or while a call
 * parses: the read buffer, the index of nodes and attributes, the stack of
 * open elements, a set for checking duplicate attributes, and room for
 * decoding.  A parser created without a pool owns its scratch for life
 * (grown to the largest stanza seen); one created with cfg.pool borrows a
 * scratch set from the pool when a call has bytes to parse and hands it
 * back whenever a call returns holding no bytes (xsr_parser_held() == 0)
 * or after an error, so an idle connection holds no scratch at all, and a
 * thread serving many connections keeps only as many sets as parsers held
 * an unfinished element at once.  A parser that returns holding bytes (an
 * unfinished element, input kept after a pause, a stanza refused with
 * XSR_RETRY, or the room xsr_parser_buffer() handed out) keeps its set
 * until a later call on it returns holding none: call
 * xsr_parser_commit(p, 0) when a read brings nothing after
 * xsr_parser_buffer().  Sets are reused: in steady state nothing is
 * allocated per stanza; a set is allocated (and fails with XSR_ENOMEM,
 * which fails the stream as any other) only when every set is lent.  A
 * pool keeps the sets it was given back until xsr_parser_pool_trim()
 * frees those that a burst needed and the present load does not (a login
 * storm of parsers paused holding bytes, say): call it now and then (the
 * xsr-router calls it every second on each worker).
 *
 * Threads: a pool is not locked.  Every parser sharing a pool, and the
 * pool itself, must be used by one thread at a time: one pool per worker
 * thread, for that thread's connections.
 */

/* Creates an empty pool; its sets are allocated through `alloc` (NULL:
 * libc), which the parsers using it allocate their scratch with whatever
 * allocator they were given.  NULL when out of memory. */
xsr_parser_pool *xsr_parser_pool_new(const xsr_allocator *alloc);

/* Frees the pool and the sets it holds.  Every parser using it must have
 * been freed first.  NULL is a no-op. */
void xsr_parser_pool_free(xsr_parser_pool *pool);

/* Frees the free sets beyond what the pool's busiest moment since the
 * previous trim (or its creation) needed: afterwards the pool holds at
 * most as many sets, lent and free, as were lent at once in that period,
 * so a load that repeats needs no new allocation and the leftovers of a
 * burst are gone after two trims.  Then starts a new period.  Returns the
 * number of sets freed.  On the pool's thread, not from a callback of one
 * of its parsers.  NULL: returns 0. */
size_t xsr_parser_pool_trim(xsr_parser_pool *pool);

/* The sets the pool holds (lent and free); *lent (when not NULL) gets how
 * many are lent to parsers now.  For statistics and tests.  NULL: 0. */
size_t xsr_parser_pool_sets(const xsr_parser_pool *pool, size_t *lent);

/* The stream header, reported once per stream (again after a restart). */
typedef struct xsr_stream_header {
  uint64_t offset;     /* stream offset of the '<' of the stream element */
  xsr_span prefix;     /* prefix bound to the streams namespace, usually "stream" */
  uint32_t content_ns; /* XSR_NS_CLIENT, XSR_NS_SERVER or XSR_NS_COMPONENT */
  /* Unprefixed to/from/id/version attributes and xml:lang, raw; ptr NULL if
   * absent.  `escaped` has the XSR_ROUTE_* bit of each value whose raw bytes
   * differ from its decoded value (references, or TAB/LF/CR; see
   * xsr_stanza.escaped), XSR_ROUTE_VERSION standing for version. */
  xsr_span to, from, id, version, lang;
  unsigned escaped;
  int version_major; /* -1 when there is no version attribute (pre-1.0 peer) */
  int version_minor; /* numbers above INT_MAX read as INT_MAX */
  /* The stream element as a one-node view (its attributes included); its
   * node has depth 0, one less than a stanza. */
  const xsr_stanza *element;
} xsr_stream_header;

/* The bit of xsr_stream_header.escaped for the version attribute. */
#define XSR_ROUTE_VERSION XSR_ROUTE_TYPE

/* Returned by a callback to stop the parser after this event: the feeding
 * call returns XSR_PAUSED, unparsed input is kept, and xsr_parser_resume()
 * continues with the next event.  The event counts as consumed: its view
 * is gone once the callback returns. */
#define XSR_PAUSE 1

/* Returned by on_stanza to refuse the stanza for now (back-pressure: the
 * router had no room for it, see router.h): the parser stops *before* the
 * stanza, as if it had not yet been parsed.  The feeding call returns
 * XSR_PAUSED; the stanza's bytes and everything after them are kept (the
 * part that was the caller's, in feed(), is copied into the parser once,
 * only when this happens); xsr_parser_offset() is the stanza's first byte;
 * and xsr_parser_resume() reports the same stanza again, with the same
 * bytes, offset and view contents (the pointers may differ: the bytes may
 * have moved into or within the parser's buffer), then goes on as usual.
 * The stanza's bytes are scanned once more on resume; nothing else is.  It
 * may be refused any number of times.  A restart or reset while a stanza is
 * refused treats its bytes as any other unparsed input.  Only on_stanza may
 * return it: from on_stream_open or on_stream_close it fails the stream
 * with XSR_EABORTED, as any other value does. */
#define XSR_RETRY 2

/* Callbacks.  Any may be NULL.  The struct must outlive the parser.  The
 * views passed in are valid only until the callback returns.  A callback
 * may call xsr_parser_offset(), xsr_parser_ns_uri() and xsr_parser_ns_find()
 * but no other parser function (they return XSR_EBUSY). */
typedef struct xsr_parser_callbacks {
  int (*on_stream_open)(void *user, const xsr_stream_header *header);
  int (*on_stanza)(void *user, const xsr_stanza *stanza);
  /* `offset` is the stream offset of the '<' of </stream:stream>. */
  int (*on_stream_close)(void *user, uint64_t offset);
} xsr_parser_callbacks;

/* Creates a parser.  cfg NULL means the defaults; alloc NULL means libc
 * (for everything but the scratch of a parser with cfg->pool, which the
 * pool allocates; the pool must outlive the parser).  Returns NULL when out
 * of memory or when cfg holds a zero limit or a max_stanza above
 * XSR_MAX_STANZA_LIMIT. */
xsr_parser *xsr_parser_new(const xsr_parser_config *cfg, const xsr_parser_callbacks *cb, void *user,
                           const xsr_allocator *alloc);

/* Frees the parser and everything it holds (a borrowed scratch set goes
 * back to its pool).  NULL is a no-op.  Not from a callback. */
void xsr_parser_free(xsr_parser *p);

/* Parses `len` bytes from `data`, calling back for every event completed.
 * `data` is not referenced after the call returns.  Returns XSR_OK when all
 * bytes were consumed (an unfinished tail is kept); XSR_PAUSED when a
 * callback paused (the unparsed rest of `data` is kept); or an error. */
xsr_err xsr_parser_feed(xsr_parser *p, const void *data, size_t len);

/* Returns a pointer to free space at the end of the parser's buffer where
 * the caller may write up to *len bytes, then calls xsr_parser_commit().
 * On entry *len is the room wanted (0: 65536); on return at least that much.
 * Returns NULL (and *len = 0) when out of memory or after an error.  The
 * pointer is valid until the next call on the parser. */
char *xsr_parser_buffer(xsr_parser *p, size_t *len);

/* Takes `n` bytes written into the space returned by xsr_parser_buffer()
 * and parses them; results as for xsr_parser_feed().  While paused, the
 * bytes are appended and XSR_PAUSED is returned without parsing. */
xsr_err xsr_parser_commit(xsr_parser *p, size_t n);

/* Continues after XSR_PAUSED with the bytes kept (first reporting again a
 * stanza that on_stanza refused with XSR_RETRY).  Returns as feed; XSR_OK
 * when not paused. */
xsr_err xsr_parser_resume(xsr_parser *p);

/* Stream restart (RFC 6120 sections 5.4.3.3 and 6.4.6): forgets the current
 * stream's state (open elements, namespace bindings, header) and expects a
 * new stream header; bytes received but not yet parsed are kept and are
 * parsed as the start of the new stream, including any unfinished element.
 * Call it outside callbacks, typically after pausing in the on_stanza for
 * the <success/> or <proceed/> that triggers the restart.  Offsets keep
 * counting.  Whitespace the peer sent after that stanza is skipped, and an
 * XML declaration may follow it (many clients send one with the new
 * header).  Returns XSR_EBUSY from a callback, or the stored error if the
 * stream has failed. */
xsr_err xsr_parser_restart(xsr_parser *p);

/* Puts the parser back in the state xsr_parser_new() left it in, dropping
 * all buffered bytes, errors, interned namespaces and offsets; buffers are
 * kept for reuse (a borrowed scratch set goes back to its pool).  Not from
 * a callback. */
void xsr_parser_reset(xsr_parser *p);

/* The stored error (XSR_OK if none); the stream offset of the offending byte
 * goes to *offset when offset is not NULL. */
xsr_err xsr_parser_error(const xsr_parser *p, uint64_t *offset);

/* Inside a callback: the stream offset just past the event's last byte.
 * After an error: the error's offset, as xsr_parser_error() tells it.
 * Otherwise: the stream offset of the next byte the parser will look at:
 * the total bytes fed, minus the bytes kept unparsed after a pause, minus
 * the first bytes of a UTF-8 sequence or markup token that is cut by the
 * end of the input (at most a few bytes; they are looked at when the rest
 * arrives). */
uint64_t xsr_parser_offset(const xsr_parser *p);

/* Total bytes given to the parser so far. */
uint64_t xsr_parser_bytes(const xsr_parser *p);

/* Bytes held by the parser right now (buffered, unfinished or unparsed). */
size_t xsr_parser_held(const xsr_parser *p);

/* Whether </stream:stream> has been parsed for the current stream. */
int xsr_parser_closed(const xsr_parser *p);

/* The URI of namespace id `ns` (a well-known one or one interned by this
 * parser); ptr NULL for unknown ids.  Valid until reset or free. */
xsr_span xsr_parser_ns_uri(const xsr_parser *p, uint32_t ns);

/* The id of a URI if it is well known or was interned by this parser, else
 * XSR_NS_NONE. */
uint32_t xsr_parser_ns_find(const xsr_parser *p, const char *uri, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* XSR_PARSER_H */
