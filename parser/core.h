/* SPDX-License-Identifier: MIT */
/*
 * parser/core.h: the parser object (struct xsr_parser, its scratch set and
 * the pool's) and what parser.c, pool.c, ns.c and index.c share about it:
 * the small helpers that must stay inlinable where they are called (the
 * scan's hot paths), and the few functions one of those files defines for
 * another.  Private to the parser: only its own files include it (the
 * scanners' interface, which the tests and benchmarks use too, is
 * internal.h).  See the map of the parser's files at the top of parser.c.
 */
#ifndef XSR_PARSER_CORE_H
#define XSR_PARSER_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* Defined in one of the parser's files for another, never exported from
 * the shared library; as cheap to call as a static function. */
#define XSR__HIDDEN __attribute__((visibility("hidden")))

#define NONE32     0xFFFFFFFFu
#define ATTR_XMLNS 0x80u /* private attr flag: a namespace declaration */

typedef struct binding {
  uint32_t prefix_off; /* relative to base, or into the arena when persistent */
  uint32_t prefix_len;
  uint32_t ns;
  uint32_t persistent;
} binding;

typedef struct open_el {
  uint32_t node;
  uint32_t nbinds; /* bindings in force before this element */
  uint32_t defns;  /* the default namespace before this element */
} open_el;

typedef struct ns_entry {
  const char *uri;
  uint32_t len;
} ns_entry;

/*
 * Scratch: what the parser needs only while a top-level construct is open
 * or while it is parsing.  A parser without a pool owns one set for life;
 * with a pool, it borrows a set on entry and hands it back whenever a call
 * returns with nothing held (scratch_get, scratch_done), so an idle
 * connection holds none of it.  Contents never carry over from one
 * construct to the next: a set may serve another parser in between.
 */
typedef struct scratch {
  char *buf; /* held bytes: buf[start, end) */
  size_t cap;
  xsr_node *nodes; /* the index of the construct being parsed */
  xsr_attr *attrs;
  uint32_t capnodes, capattrs;
  open_el *stack;     /* open elements: depth_cap entries (max_depth + 2) */
  uint32_t *last;     /* last node at each depth under the current parent */
  uint32_t depth_cap; /* entries of stack and last */
  uint32_t aset_cap;  /* slots of aset */
  uint32_t *aset;     /* duplicate-attribute set for elements with many attributes:
                         attribute index + 1 per slot, open addressing */
  char *tmp;          /* for decoding xmlns values and xml:lang that hold references */
  size_t tmp_cap;
} scratch;

/* A pool's holder of one scratch set (free, or lent to p->set's parser). */
struct pool_set {
  struct pool_set *next;
  scratch sc;
};

struct xsr_parser_pool {
  xsr_allocator a;
  struct pool_set *free; /* sets not lent */
  size_t nfree;          /* sets on the free list */
  size_t lent;           /* sets lent to parsers now */
  size_t peak;           /* the most lent at once since the last trim */
};

struct xsr_parser {
  xsr_allocator a;
  const xsr_parser_callbacks *cb;
  void *user;
  xsr_parser_config cfg;

  /* Scratch: owned (pool NULL), or borrowed from the pool while `set` is
   * not NULL (see scratch_get). */
  scratch sc;
  const xsr_allocator *sa; /* allocates the scratch: &a, or the pool's */
  struct pool_set *set;    /* the pool's holder of sc while lent to this parser */
  uint8_t need_sc;         /* a pool parser without its scratch: borrow before parsing */

  /* Held bytes: sc.buf[start, end); sc.buf[start] is at stream offset
   * base_off. */
  size_t start, end;
  uint64_t base_off;
  uint64_t fed;

  /* Scan state; offsets relative to the base. */
  uint32_t pos;
  uint8_t state, phase, intop, paused, in_cb, decl_ok, ret_state, quote;
  uint8_t ws, ref_hex, text_flags, closed;
  uint8_t pending_close; /* an empty stream element still owes its close event */
  uint8_t join_stop;     /* run() returns once the held construct completes: see feed_slow */
  uint8_t whole_reads; /* run() parses a read that began with nothing held: feed_in_place, commit */
  uint8_t lenient_decl; /* after a restart: whitespace may precede <?xml */
  uint32_t tok;         /* start of the name or value being scanned */
  uint32_t text_start;  /* start of the current text run */
  uint32_t ref_start;   /* the '&' of the current reference */
  uint32_t ref_val, ref_digits;
  uint32_t etag_lt;  /* '<' of the end tag being parsed */
  uint32_t cur_node; /* element whose start tag is being parsed */
  uint32_t cdata_start;
  uint32_t etag_len; /* length of the end tag's name */
  uint64_t close_off;
  uint64_t cb_off; /* xsr_parser_offset() while a callback runs */
  unsigned depth;  /* open elements inside the stream element */
  unsigned el_nsdecls;
  unsigned el_prefixed; /* prefixed attributes in the start tag */
  unsigned name_colon;  /* a ':' was seen in the part of the name scanned before */
  uint32_t route[5];    /* attr index of to/from/id/type/lang in the stanza, NONE32 */

  /* Small chunks (see set_cont): when every held byte is scanned and the
   * parser sits in a run, `cont` is the cont_class bit of the bytes that
   * merely continue it and `cont_left` how many may, before a limit needs
   * a look or the buffer's free space (cap - end) runs out.  Both 0
   * whenever anything else holds (set only by run()'s normal exit), so
   * `len <= cont_left` alone says a chunk may be taken. */
  unsigned cont;
  size_t cont_left;
  /* A non-ASCII character begun in such a run: its first u8pend of u8need
   * bytes are held after pos, not yet scanned (0 when none). */
  uint8_t u8pend, u8need;
  uint8_t has_slang;
  /* The index: built during the scan (eager_index, for the tests and the
   * fuzzers' reference) or on demand (see index.c); then
   * index_ready says the arrays in sc hold the current stanza's. */
  uint8_t eager_index;
  uint8_t index_ready;
  const char *view_raw; /* raw.ptr and offset of the stanza view being reported */
  uint64_t view_off;

  xsr_err err;
  uint64_t err_off;

  /* Index of the construct being parsed (arrays in sc). */
  uint32_t nnodes, nattrs;
  uint32_t aset_mask, aset_n; /* the duplicate-attribute set in sc.aset */

  /* Namespace bindings in force: the stream header's, then the open
   * elements'. */
  binding *binds;
  uint32_t nbinds, capbinds;
  uint32_t defns; /* the default namespace in force: the innermost binding of "" */

  /* Stream-level data that outlives the header's bytes. */
  uint32_t arena_len, arena_cap;
  char *arena;
  uint32_t stream_qname_off, stream_qname_len;
  uint32_t stream_ns;            /* the stream's content namespace */
  uint32_t slang_off, slang_len; /* the header's xml:lang, decoded, in the arena */

  /* Forwarding context (xsr_stanza.inherited): binds[0, nstream_binds) are
   * the stream header's bindings; inh_used has bit min(i, 63) set when the
   * stanza being parsed resolved a prefix through binds[i]; inh holds the
   * declarations reported (room for every prefixed stream-level binding). */
  uint32_t nstream_binds;
  uint32_t capinh;
  uint64_t inh_used;
  xsr_ns_decl *inh;
  unsigned tag_attrs, tag_decls; /* the stanza's start tag (see find_route) */

  /* Namespace interning: ids below XSR_NS_FIRST_DYNAMIC are the shared
   * well-known table's (wk_ns, wk_hash); `dyn` holds the rest, id
   * XSR_NS_FIRST_DYNAMIC + i at dyn[i]; `nshash` (dynamic ids only, none
   * until the first) holds id + 1.  nns counts every id. */
  uint32_t nns, capdyn;
  ns_entry *dyn;
  uint32_t *nshash;
  uint32_t nshash_cap;
  uint32_t nscache[16]; /* recent declarations: id + 1 (see ns_intern) */
};

/* ---- allocation ---------------------------------------------------------- */

static inline void *xalloc(xsr_parser *p, size_t n) { return p->a.malloc(p->a.user, n); }
static inline void xfree(xsr_parser *p, void *ptr) {
  if (ptr)
    p->a.free(p->a.user, ptr);
}

/* Grows *arr (of `size`-byte elements) to hold at least `need`, through
 * allocator a, doubling from `min`. */
static inline int grow(const xsr_allocator *a, void **arr, uint32_t *cap, uint32_t need,
                       size_t size, uint32_t min) {
  if (need <= *cap)
    return 1;
  uint64_t n = *cap ? *cap : min;
  while (n < need)
    n *= 2;
  if (n > 0xFFFFFFFFu)
    n = 0xFFFFFFFFu;
  void *q = a->realloc(a->user, *arr, (size_t)n * size);
  if (!q)
    return 0;
  *arr = q;
  *cap = (uint32_t)n;
  return 1;
}

/* ---- pool.c: the scratch set, borrowed from a pool ----------------------- */

/* Borrows a scratch set from the pool (a new, empty one when none is
 * free).  0 when out of memory, with nothing borrowed. */
int xsr__scratch_borrow(xsr_parser *p);

/* Hands the borrowed scratch back to the pool. */
void xsr__scratch_put(xsr_parser *p);

/* Before parsing: the scratch is at hand (borrowed if need be). */
static inline int scratch_get(xsr_parser *p) {
  return XSR_LIKELY(!p->need_sc) || xsr__scratch_borrow(p);
}

/* Before returning from a call that parsed: a pool parser holding nothing
 * hands its scratch back.  Returns rc. */
static inline xsr_err scratch_done(xsr_parser *p, xsr_err rc) {
  if (XSR_UNLIKELY(p->set != NULL) && (p->start == p->end || p->err))
    xsr__scratch_put(p);
  return rc;
}

/* ---- ns.c: interned namespace URIs --------------------------------------- */

/* The well-known namespaces' entries, shared by every parser. */
extern const ns_entry xsr__wk_ns[XSR_NS_FIRST_DYNAMIC];

/* Builds the shared hash table of the well-known namespaces, once
 * (xsr_parser_new calls it); thread-safe. */
void xsr__ns_init(void);

/* The hash of a URI, as the tables key it. */
uint32_t xsr__ns_hash(const char *s, size_t n);

/* The id of the URI [uri, uri + len) with hash h, or NONE32 when not
 * interned. */
uint32_t xsr__ns_lookup(const xsr_parser *p, const char *uri, size_t len, uint32_t h);

/* Adds a dynamic id for a copy of the URI.  Returns the id or NONE32 on
 * ENOMEM. */
uint32_t xsr__ns_add(xsr_parser *p, const char *uri, size_t len);

/* Forgets the stream's dynamic ids (a new stream starts). */
void xsr__ns_clear(xsr_parser *p);

/* The entry of a valid id (below p->nns). */
static inline const ns_entry *ns_ent(const xsr_parser *p, uint32_t id) {
  return id < XSR_NS_FIRST_DYNAMIC ? &xsr__wk_ns[id] : &p->dyn[id - XSR_NS_FIRST_DYNAMIC];
}

static inline uint64_t load8(const char *s) {
  uint64_t w;
  memcpy(&w, s, 8);
  return w;
}

/* Whether the n >= 8 bytes at x and y are equal: word compares (the last
 * one overlapping), no call. */
static inline int same_bytes(const char *x, const char *y, size_t n) {
  for (size_t i = 0; i + 8 < n; i += 8)
    if (load8(x + i) != load8(y + i))
      return 0;
  return load8(x + n - 8) == load8(y + n - 8);
}

/* The slot of the namespace cache (see ns_intern) for the URI v of
 * vlen >= 8 bytes. */
static inline unsigned ns_cache_slot(const char *v, size_t vlen) {
  uint64_t k = (load8(v) ^ (load8(v + vlen - 8) + vlen)) * 0x9E3779B97F4A7C15ull;
  return (unsigned)(k >> 60);
}

/* The id the cache's slot holds for the URI v of vlen >= 8 bytes, or
 * NONE32. */
static inline uint32_t ns_cached(const xsr_parser *p, unsigned slot, const char *v, size_t vlen) {
  uint32_t c = p->nscache[slot];
  if (c && c <= p->nns) {
    const ns_entry *n = ns_ent(p, c - 1);
    if (n->len == vlen && same_bytes(n->uri, v, vlen))
      return c - 1;
  }
  return NONE32;
}

/*
 * The id of a declared namespace URI, added when new.  A stream declares
 * the same few URIs over and over (chat states, receipts, caps), so a
 * direct-mapped cache keyed by the length and the first and last eight
 * bytes answers most declarations with one compare; the hash table, keyed
 * by every byte, answers the rest (a URI made to collide in the cache only
 * misses it).  Returns NONE32 with *err set (too many namespaces, ENOMEM).
 */
static inline uint32_t ns_intern(xsr_parser *p, const char *v, size_t vlen, xsr_err *err) {
  unsigned slot = 0;
  if (vlen >= 8) {
    slot = ns_cache_slot(v, vlen);
    uint32_t c = ns_cached(p, slot, v, vlen);
    if (c != NONE32)
      return c;
  }
  uint32_t ns = xsr__ns_lookup(p, v, vlen, xsr__ns_hash(v, vlen));
  if (ns == NONE32) {
    if (p->nns - XSR_NS_FIRST_DYNAMIC >= p->cfg.max_namespaces) {
      *err = XSR_ELIMITNS;
      return NONE32;
    }
    ns = xsr__ns_add(p, v, vlen);
    if (ns == NONE32) {
      *err = XSR_ENOMEM;
      return NONE32;
    }
  }
  if (vlen >= 8)
    p->nscache[slot] = ns + 1;
  return ns;
}

/* ---- parser.c: helpers index.c shares ------------------------------------ */

/* xsr__scan3 for the short ranges that small chunks produce: a call through
 * the dispatch pointer costs more than looking at a few bytes here. */
static inline const char *scan3(const char *s, const char *e, unsigned char c1, unsigned char c2,
                                unsigned char c3) {
  if (e - s >= 32)
    return __atomic_load_n(&xsr__scan3, __ATOMIC_RELAXED)(s, e, c1, c2, c3);
  for (; s < e; s++) {
    unsigned char b = (unsigned char)*s;
    if (b < 0x20 || b >= 0x80 || b == c1 || b == c2 || b == c3)
      break;
  }
  return s;
}

/* xsr__scan_text with the same short-range shortcut; TAB and LF pass. */
static inline const char *scan_text(const char *s, const char *e, unsigned char c1,
                                    unsigned char c2, unsigned char c3) {
  if (e - s >= 32)
    return __atomic_load_n(&xsr__scan_text, __ATOMIC_RELAXED)(s, e, c1, c2, c3);
  for (; s < e; s++) {
    unsigned char b = (unsigned char)*s;
    if ((b < 0x20 && b != '\n' && b != '\t') || b >= 0x80 || b == c1 || b == c2 || b == c3)
      break;
  }
  return s;
}

/* Links node `idx` at element depth `d` after its previous sibling. */
static inline void link_sibling(xsr_parser *p, unsigned d, uint32_t idx) {
  if (p->sc.last[d])
    p->sc.nodes[p->sc.last[d]].next = idx;
  p->sc.last[d] = idx;
}

/* Whether the attribute name [an, an + len) with a prefix of pl bytes is a
 * namespace declaration: "xmlns" or "xmlns:...". */
static inline int is_xmlns_attr(const char *an, size_t len, size_t pl) {
  /* Most names fail the first compare; the memcmp is two loads. */
  return an[0] == 'x' && (pl == 0 ? len == 5 : pl == 5) && memcmp(an, "xmlns", 5) == 0;
}

/* A new node at the end of the index: its number in *idx.  0 when out of
 * memory. */
XSR__HIDDEN int xsr__push_node(xsr_parser *p, uint32_t *idx);

/* The namespace bound to a prefix ("" = default), or NONE32 if unbound. */
XSR__HIDDEN uint32_t xsr__resolve(xsr_parser *p, const char *b, const char *pre, size_t len);

/* Decodes an attribute value that holds references into p->sc.tmp. */
XSR__HIDDEN int xsr__decode_value(xsr_parser *p, const char *v, size_t len, const char **out,
                                  size_t *out_len);

#endif /* XSR_PARSER_CORE_H */
