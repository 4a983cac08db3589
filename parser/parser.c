/* SPDX-License-Identifier: MIT */
/*
 * parser/parser.c: the incremental stream parser.
 *
 * Design.
 *
 * Held bytes.  The parser keeps exactly the bytes of the top-level construct
 * being parsed (a stanza, the stream header, the XML declaration) and,
 * after a pause, the bytes not yet parsed.  Every position it stores is
 * relative to the first of those bytes (the "base"), so parsing can resume
 * on a copy of them, in a moved buffer, or in the caller's next chunk,
 * without looking at any byte twice.  run() parses the bytes in
 * [base, base + avail) from the stored position and reports how far the
 * base moved: everything before it may be dropped.
 *
 * feed() parses the caller's chunk in place and copies only what remains
 * held at the end.  When bytes are already held, the next bytes must join
 * them to keep the construct contiguous: they are appended in pieces (512
 * bytes to 4 KiB; parsing resumes where it stopped, so more pieces cost a
 * call each and no rescan) until the held construct completes; run() stops
 * right there (join_stop) and parsing continues in the caller's chunk at
 * the same relative position, so the piece's bytes past the construct are
 * copied but parsed once, in place.  A byte is copied at most once.
 *
 * buffer()/commit() let the caller write into the free end of the parser's
 * buffer; the held construct is moved to the front only when room runs out.
 *
 * Limits.  While inside a top-level construct, scanning never goes past
 * base + max_stanza: reaching that point with more input present is the
 * policy-violation, at exactly that offset, whatever the chunking.
 *
 * The index (nodes, attributes) is not built while scanning: the scan
 * keeps in those arrays only what its checks need (a slot per open
 * element, the attributes of the start tag being parsed and of the
 * stanza element), and the index is built on demand from the stanza's
 * bytes (THE INDEX, ON DEMAND, at the end of this file), into the same
 * arrays, which grow to the largest stanza seen and are then reused.
 * eager_index (tests and fuzzers only) builds it during the scan instead:
 * the reference the on-demand index is compared with.
 *
 * Fast paths.  The byte-wise states below are the grammar; a few
 * accelerators sit in front of them and hand over to them, in a state they
 * would have reached themselves, whenever the input is not the common
 * case, so every result (index, errors and their offsets) is theirs:
 *   - inside the stream, an element loop (elems_avx2) that takes start
 *     tags, their completion, end tags and the text between them one after
 *     the other, with few values to keep in memory, and returns to run()
 *     at the first thing it does not take, or within 64 bytes of the limit;
 *     for a read that began with nothing held (whole stanzas, as a server
 *     reads them: feed_in_place), a copy whose windows may end at the
 *     limit goes on to 8 bytes before it (parser/elems.h);
 *   - attributes of start tags from 64-byte AVX2 bitmaps (stag_body, in the
 *     element loop, or stag_avx2 from run()), when 64 bytes lie ahead below
 *     the limit;
 *   - the usual completions of a start tag (no declarations or prefixes;
 *     one default-namespace declaration, with a cache of recent URIs in
 *     front of the namespace table);
 *   - the end tag of the open element matched by one compare;
 *   - the five predefined entities matched whole;
 *   - character data scanned by xsr__scan3, or by xsr__scan_content (UTF-8
 *     validated and predefined entities passed in the vector loop) once a
 *     text has shown non-ASCII;
 *   - small chunks that only continue a run (text, a value, a name) taken
 *     by a table lookup per byte in feed()/commit() (set_cont).
 * XSR_FORCE_SCALAR=1 turns the SIMD ones off; the tests run both ways and
 * the fuzzers compare every chunking, which moves the hand-over points.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "states.h"
#include "tagmask.h"

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
 * returns with nothing held (scratch_get, scratch_put), so an idle
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
   * fuzzers' reference) or on demand (see THE INDEX, ON DEMAND); then
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

static void *lib_malloc(void *u, size_t n) {
  (void)u;
  return malloc(n);
}
static void *lib_realloc(void *u, void *ptr, size_t n) {
  (void)u;
  return realloc(ptr, n);
}
static void lib_free(void *u, void *ptr) {
  (void)u;
  free(ptr);
}

static void *xalloc(xsr_parser *p, size_t n) { return p->a.malloc(p->a.user, n); }
static void xfree(xsr_parser *p, void *ptr) {
  if (ptr)
    p->a.free(p->a.user, ptr);
}

/* Grows *arr (of `size`-byte elements) to hold at least `need`, through
 * allocator a, doubling from `min`. */
static int grow(const xsr_allocator *a, void **arr, uint32_t *cap, uint32_t need, size_t size,
                uint32_t min) {
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

/* Makes room for `n` more held bytes at the end of the buffer. */
static int buf_reserve(xsr_parser *p, size_t n) {
  if (p->sc.cap - p->end >= n)
    return 1;
  if (n > SIZE_MAX / 2 - (p->end - p->start))
    return 0; /* no buffer that large can exist */
  if (p->start > 0) {
    memmove(p->sc.buf, p->sc.buf + p->start, p->end - p->start);
    p->end -= p->start;
    p->start = 0;
    if (p->sc.cap - p->end >= n)
      return 1;
  }
  size_t need = p->end + n;
  size_t ncap = p->sc.cap + p->sc.cap / 2;
  if (ncap < need)
    ncap = need;
  char *q = p->sa->realloc(p->sa->user, p->sc.buf, ncap);
  if (!q)
    return 0;
  p->sc.buf = q;
  p->sc.cap = ncap;
  return 1;
}

static inline int buf_append(xsr_parser *p, const char *d, size_t n) {
  if (XSR_UNLIKELY(p->sc.cap - p->end < n) && !buf_reserve(p, n))
    return 0;
  if (n <= 8) { /* small chunks: a call to memcpy costs more than the copy */
    for (size_t i = 0; i < n; i++)
      p->sc.buf[p->end + i] = d[i];
  } else {
    memcpy(p->sc.buf + p->end, d, n);
  }
  p->end += n;
  return 1;
}

/* ---- namespaces ---------------------------------------------------------- */

/* Namespace URIs are hashed on every declaration: eight bytes at a time. */
static uint32_t hash_bytes(const char *s, size_t n) {
  const size_t len = n;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    s += 8;
    n -= 8;
  }
  uint64_t w = 0;
  if (XSR_LIKELY(len >= 8)) { /* the tail as the last 8 bytes: no memcpy call */
    memcpy(&w, s + n - 8, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w &= n ? ~0ull >> (64 - 8 * n) : 0; /* the last n bytes are the low ones */
#else
    w >>= 8 * (8 - n) & 63; /* the last n bytes are the high ones */
#endif
  } else {
    for (size_t i = 0; i < n; i++)
      w |= (uint64_t)(unsigned char)s[i] << 8 * i;
  }
  h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 29;
  return (uint32_t)h;
}

/* The well-known namespaces, shared by every parser: their entries, and a
 * hash table of id + 1 built once (wk_init, from xsr_parser_new). */
#define WK_ENTRY(name, uri) {uri, sizeof uri - 1},
static const ns_entry wk_ns[XSR_NS_FIRST_DYNAMIC] = {XSR_NS_MAP(WK_ENTRY)};
#undef WK_ENTRY
#define WK_HASH 128 /* at most a quarter full */
static uint32_t wk_hash[WK_HASH];

static void wk_init_once(void) {
  for (uint32_t id = 0; id < XSR_NS_FIRST_DYNAMIC; id++) {
    uint32_t i = hash_bytes(wk_ns[id].uri, wk_ns[id].len) & (WK_HASH - 1);
    while (wk_hash[i])
      i = (i + 1) & (WK_HASH - 1);
    wk_hash[i] = id + 1;
  }
}

static void wk_init(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, wk_init_once);
}

/* The entry of a valid id (below p->nns). */
static inline const ns_entry *ns_ent(const xsr_parser *p, uint32_t id) {
  return id < XSR_NS_FIRST_DYNAMIC ? &wk_ns[id] : &p->dyn[id - XSR_NS_FIRST_DYNAMIC];
}

static uint32_t ns_lookup(const xsr_parser *p, const char *uri, size_t len, uint32_t h) {
  for (uint32_t i = h & (WK_HASH - 1);; i = (i + 1) & (WK_HASH - 1)) {
    uint32_t v = wk_hash[i];
    if (!v)
      break;
    const ns_entry *e = &wk_ns[v - 1];
    if (e->len == len && memcmp(e->uri, uri, len) == 0)
      return v - 1;
  }
  uint32_t mask = p->nshash_cap - 1;
  for (uint32_t i = h & mask; p->nshash;
       i = (i + 1) & mask) { /* no table before the first dynamic id */
    uint32_t v = p->nshash[i];
    if (!v)
      break;
    const ns_entry *e = ns_ent(p, v - 1);
    if (e->len == len && memcmp(e->uri, uri, len) == 0)
      return v - 1;
  }
  return NONE32;
}

static void ns_insert_slot(xsr_parser *p, uint32_t id, uint32_t h) {
  uint32_t mask = p->nshash_cap - 1;
  uint32_t i = h & mask;
  while (p->nshash[i])
    i = (i + 1) & mask;
  p->nshash[i] = id + 1;
}

/* Adds a dynamic id for a copy of the URI.  Returns the id or NONE32 on
 * ENOMEM.  The table and the entries start small (4 ids, 8 slots): most
 * streams declare only a few namespaces that are not well known. */
static uint32_t ns_add(xsr_parser *p, const char *uri, size_t len) {
  uint32_t ndyn = p->nns - XSR_NS_FIRST_DYNAMIC;
  if ((ndyn + 1) * 2 > p->nshash_cap) {
    uint32_t ncap = p->nshash_cap ? p->nshash_cap * 2 : 8;
    uint32_t *h = xalloc(p, ncap * sizeof *h);
    if (!h)
      return NONE32;
    memset(h, 0, ncap * sizeof *h);
    xfree(p, p->nshash);
    p->nshash = h;
    p->nshash_cap = ncap;
    for (uint32_t i = 0; i < ndyn; i++)
      ns_insert_slot(p, XSR_NS_FIRST_DYNAMIC + i, hash_bytes(p->dyn[i].uri, p->dyn[i].len));
  }
  if (!grow(&p->a, (void **)&p->dyn, &p->capdyn, ndyn + 1, sizeof *p->dyn, 4))
    return NONE32;
  char *c = xalloc(p, len ? len : 1);
  if (!c)
    return NONE32;
  memcpy(c, uri, len);
  uint32_t id = p->nns++;
  p->dyn[ndyn].uri = c;
  p->dyn[ndyn].len = (uint32_t)len;
  ns_insert_slot(p, id, hash_bytes(c, len));
  return id;
}

static void ns_clear(xsr_parser *p) {
  for (uint32_t i = 0; i < p->nns - XSR_NS_FIRST_DYNAMIC; i++)
    xfree(p, (void *)p->dyn[i].uri);
  p->nns = XSR_NS_FIRST_DYNAMIC;
  if (p->nshash)
    memset(p->nshash, 0, p->nshash_cap * sizeof *p->nshash);
  memset(p->nscache, 0, sizeof p->nscache);
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
static uint32_t ns_intern(xsr_parser *p, const char *v, size_t vlen, xsr_err *err) {
  unsigned slot = 0;
  if (vlen >= 8) {
    slot = ns_cache_slot(v, vlen);
    uint32_t c = ns_cached(p, slot, v, vlen);
    if (c != NONE32)
      return c;
  }
  uint32_t ns = ns_lookup(p, v, vlen, hash_bytes(v, vlen));
  if (ns == NONE32) {
    if (p->nns - XSR_NS_FIRST_DYNAMIC >= p->cfg.max_namespaces) {
      *err = XSR_ELIMITNS;
      return NONE32;
    }
    ns = ns_add(p, v, vlen);
    if (ns == NONE32) {
      *err = XSR_ENOMEM;
      return NONE32;
    }
  }
  if (vlen >= 8)
    p->nscache[slot] = ns + 1;
  return ns;
}

xsr_span xsr_parser_ns_uri(const xsr_parser *p, uint32_t ns) {
  xsr_span s = {NULL, 0};
  if (ns < p->nns) {
    s.ptr = ns_ent(p, ns)->uri;
    s.len = ns_ent(p, ns)->len;
  }
  return s;
}

uint32_t xsr_parser_ns_find(const xsr_parser *p, const char *uri, size_t len) {
  if (!uri)
    return XSR_NS_NONE;
  uint32_t id = ns_lookup(p, uri, len, hash_bytes(uri, len));
  return id == NONE32 ? XSR_NS_NONE : id;
}

/* ---- life cycle ---------------------------------------------------------- */

void xsr_parser_config_init(xsr_parser_config *cfg) {
  cfg->max_stanza = XSR_DEFAULT_MAX_STANZA;
  cfg->max_depth = XSR_DEFAULT_MAX_DEPTH;
  cfg->max_attrs = XSR_DEFAULT_MAX_ATTRS;
  cfg->max_name = XSR_DEFAULT_MAX_NAME;
  cfg->max_ns_decls = XSR_DEFAULT_MAX_NS_DECLS;
  cfg->max_namespaces = XSR_DEFAULT_MAX_NAMESPACES;
  cfg->accept = XSR_ACCEPT_CLIENT | XSR_ACCEPT_SERVER | XSR_ACCEPT_COMPONENT;
  cfg->pool = NULL;
}

static void stream_state_init(xsr_parser *p) {
  p->pos = 0;
  p->state = ST_DOC;
  p->phase = PH_PROLOG;
  p->intop = 1;
  p->depth = 0;
  p->nbinds = 0;
  p->nstream_binds = 0;
  p->inh_used = 0;
  p->has_slang = 0;
  p->stream_ns = XSR_NS_NONE;
  p->defns = XSR_NS_NONE;
  p->nnodes = p->nattrs = 0;
  p->arena_len = 0;
  p->closed = 0;
  p->decl_ok = 1;
  p->pending_close = 0;
  p->name_colon = 0;
  p->lenient_decl = 0;
  p->cont = 0;
  p->cont_left = 0;
}

/* Gives the scratch room for max_depth + 2 open elements.  0 when out of
 * memory (depth_cap unchanged; an array that grew is kept). */
static int scratch_fit(xsr_parser *p) {
  uint32_t n = p->cfg.max_depth + 2;
  open_el *st = p->sa->realloc(p->sa->user, p->sc.stack, n * sizeof *st);
  if (!st)
    return 0;
  p->sc.stack = st;
  uint32_t *l = p->sa->realloc(p->sa->user, p->sc.last, n * sizeof *l);
  if (!l)
    return 0;
  p->sc.last = l;
  p->sc.depth_cap = n;
  return 1;
}

/* Hands the borrowed scratch back to the pool.  Nothing in it is needed
 * once nothing is held (or the stream has failed): the next construct
 * starts its index afresh. */
__attribute__((noinline)) static void scratch_put(xsr_parser *p) {
  struct pool_set *s = p->set;
  xsr_parser_pool *pl = p->cfg.pool;
  s->sc = p->sc;
  s->next = pl->free;
  pl->free = s;
  pl->nfree++;
  pl->lent--;
  p->set = NULL;
  memset(&p->sc, 0, sizeof p->sc);
  p->cont = 0; /* the small-chunk path writes into the buffer: off */
  p->cont_left = 0;
  p->need_sc = 1;
}

/* Borrows a scratch set from the pool (a new, empty one when none is
 * free).  0 when out of memory, with nothing borrowed. */
__attribute__((noinline)) static int scratch_borrow(xsr_parser *p) {
  xsr_parser_pool *pl = p->cfg.pool;
  struct pool_set *s = pl->free;
  if (s) {
    pl->free = s->next;
    pl->nfree--;
  } else {
    s = pl->a.malloc(pl->a.user, sizeof *s);
    if (!s)
      return 0;
    memset(s, 0, sizeof *s);
  }
  if (++pl->lent > pl->peak)
    pl->peak = pl->lent;
  p->set = s;
  p->sc = s->sc;
  p->need_sc = 0;
  if (XSR_UNLIKELY(p->sc.depth_cap < p->cfg.max_depth + 2) && !scratch_fit(p)) {
    scratch_put(p);
    return 0;
  }
  return 1;
}

/* Before parsing: the scratch is at hand (borrowed if need be). */
static inline int scratch_get(xsr_parser *p) {
  return XSR_LIKELY(!p->need_sc) || scratch_borrow(p);
}

/* Before returning from a call that parsed: a pool parser holding nothing
 * hands its scratch back.  Returns rc. */
static inline xsr_err scratch_done(xsr_parser *p, xsr_err rc) {
  if (XSR_UNLIKELY(p->set != NULL) && (p->start == p->end || p->err))
    scratch_put(p);
  return rc;
}

xsr_parser_pool *xsr_parser_pool_new(const xsr_allocator *alloc) {
  xsr_allocator a = {lib_malloc, lib_realloc, lib_free, NULL};
  if (alloc)
    a = *alloc;
  xsr_parser_pool *pl = a.malloc(a.user, sizeof *pl);
  if (!pl)
    return NULL;
  pl->a = a;
  pl->free = NULL;
  pl->nfree = pl->lent = pl->peak = 0;
  return pl;
}

static void scratch_free(const xsr_allocator *a, scratch *sc) {
  void *arr[] = {sc->buf, sc->nodes, sc->attrs, sc->stack, sc->last, sc->aset, sc->tmp};
  for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++)
    if (arr[i])
      a->free(a->user, arr[i]);
}

void xsr_parser_pool_free(xsr_parser_pool *pl) {
  if (!pl)
    return;
  while (pl->free) {
    struct pool_set *s = pl->free;
    pl->free = s->next;
    scratch_free(&pl->a, &s->sc);
    pl->a.free(pl->a.user, s);
  }
  pl->a.free(pl->a.user, pl);
}

size_t xsr_parser_pool_trim(xsr_parser_pool *pl) {
  if (!pl)
    return 0;
  /* Keep the first sets of the list (the last given back: warm in the
   * cache), as many as the period's peak could lend beyond those lent now;
   * free the rest. */
  size_t keep = pl->peak > pl->lent ? pl->peak - pl->lent : 0, freed = 0;
  struct pool_set **link = &pl->free;
  for (size_t i = 0; i < keep && *link; i++)
    link = &(*link)->next;
  while (*link) {
    struct pool_set *s = *link;
    *link = s->next;
    scratch_free(&pl->a, &s->sc);
    pl->a.free(pl->a.user, s);
    freed++;
  }
  pl->nfree -= freed;
  pl->peak = pl->lent;
  return freed;
}

size_t xsr_parser_pool_sets(const xsr_parser_pool *pl, size_t *lent) {
  if (lent)
    *lent = pl ? pl->lent : 0;
  return pl ? pl->lent + pl->nfree : 0;
}

xsr_parser *xsr_parser_new(const xsr_parser_config *cfg, const xsr_parser_callbacks *cb, void *user,
                           const xsr_allocator *alloc) {
  xsr_parser_config c;
  if (cfg)
    c = *cfg;
  else
    xsr_parser_config_init(&c);
  if (!c.max_stanza || c.max_stanza > XSR_MAX_STANZA_LIMIT || !c.max_depth || !c.max_attrs ||
      !c.max_name || !c.max_ns_decls || !c.max_namespaces || c.max_depth > 0xFFFE ||
      c.max_attrs > 0xFFFF || c.max_name > 0xFFFF || !(c.accept & 7))
    return NULL;
  xsr_allocator a = {lib_malloc, lib_realloc, lib_free, NULL};
  if (alloc)
    a = *alloc;
  xsr__scan_init();
  wk_init();
  xsr_parser *p = a.malloc(a.user, sizeof *p);
  if (!p)
    return NULL;
  memset(p, 0, sizeof *p);
  p->a = a;
  p->cb = cb;
  p->user = user;
  p->cfg = c;
  p->nns = XSR_NS_FIRST_DYNAMIC;
  if (c.pool) {
    p->sa = &c.pool->a; /* the scratch comes when there is something to parse */
    p->need_sc = 1;
  } else {
    p->sa = &p->a;
    if (!scratch_fit(p)) {
      xsr_parser_free(p);
      return NULL;
    }
  }
  stream_state_init(p);
  return p;
}

void xsr_parser_free(xsr_parser *p) {
  if (!p)
    return;
  ns_clear(p);
  xfree(p, p->dyn);
  xfree(p, p->nshash);
  if (p->set)
    scratch_put(p); /* kept by the pool for the next parser */
  else if (!p->cfg.pool)
    scratch_free(&p->a, &p->sc);
  xfree(p, p->binds);
  xfree(p, p->arena);
  xfree(p, p->inh);
  p->a.free(p->a.user, p);
}

void xsr_parser_reset(xsr_parser *p) {
  if (!p || p->in_cb)
    return;
  ns_clear(p);
  p->start = p->end = 0;
  p->base_off = p->fed = 0;
  p->err = XSR_OK;
  p->err_off = 0;
  p->paused = 0;
  if (p->set)
    scratch_put(p);
  stream_state_init(p);
}

xsr_err xsr_parser_restart(xsr_parser *p) {
  if (p->in_cb)
    return XSR_EBUSY;
  if (p->err)
    return p->err;
  /* Whatever is held (an unfinished element or unparsed bytes) starts at
   * the base: parse it again as the beginning of the new stream.  The
   * whitespace a peer sent after the stanza that caused the restart is
   * still part of the held bytes, so an XML declaration may follow it. */
  stream_state_init(p);
  p->lenient_decl = 1;
  return XSR_OK;
}

xsr_err xsr_parser_error(const xsr_parser *p, uint64_t *offset) {
  if (offset)
    *offset = p->err ? p->err_off : 0;
  return p->err;
}

uint64_t xsr_parser_offset(const xsr_parser *p) {
  /* A failed run() keeps no position (the stream is over): the error's
   * offset, which does not depend on the chunking. */
  return p->in_cb ? p->cb_off : p->err ? p->err_off : p->base_off + p->pos;
}
uint64_t xsr_parser_bytes(const xsr_parser *p) { return p->fed; }
size_t xsr_parser_held(const xsr_parser *p) { return p->end - p->start; }
int xsr_parser_closed(const xsr_parser *p) { return p->closed; }

/* ---- scanning helpers ---------------------------------------------------- */

static inline int is_ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

enum { NAME_DONE, NAME_MORE, NAME_FAIL };

/* Scans name characters from *ps up to lim.  `start` is the name's first
 * byte (the first character must be a NameStartChar; the caller has checked
 * an ASCII one).  On NAME_FAIL, err and errp say why. */
static int scan_name(const char **ps, const char *lim, const char *start, unsigned max,
                     xsr_err *err, const char **errp) {
  const unsigned char *s = (const unsigned char *)*ps;
  const unsigned char *l = (const unsigned char *)lim;
  int rc;
  for (;;) {
    while (s < l && (xsr__name_class[*s] & XSR__NAME_CHAR))
      s++;
    if (s >= l || *s < 0x80) {
      rc = s >= l ? NAME_MORE : NAME_DONE;
      break;
    }
    uint32_t cp;
    int n = xsr__utf8_decode(s, l, &cp);
    if (n == 0) {
      rc = NAME_MORE;
      break;
    }
    if (n < 0 || !((const char *)s == start ? xsr__name_start_cp(cp) : xsr__name_cp(cp))) {
      /* The name ends before a byte that cannot continue it; if the name
       * is already too long, that comes first in the stream. */
      if ((size_t)((const char *)s - start) > max)
        break;
      *err = n < 0 ? XSR_EUTF8 : (cp == 0xFFFE || cp == 0xFFFF) ? XSR_ECHAR : XSR_ENAME;
      *errp = (const char *)s;
      *ps = (const char *)s;
      return NAME_FAIL;
    }
    s += n;
  }
  if ((size_t)((const char *)s - start) > max) {
    *err = XSR_ELIMITNAME;
    *errp = start + max;
    return NAME_FAIL;
  }
  *ps = (const char *)s;
  return rc;
}

/* The ASCII fast path of scan_name, inlined into the states: returns
 * NAME_DONE or NAME_MORE when the name is plain ASCII (and sets *colon when
 * it holds a ':'), or -1 when the slow path must look (non-ASCII byte or
 * name too long). */
static inline int scan_name_ascii(const char **ps, const char *lim, const char *start, unsigned max,
                                  unsigned *colon) {
  const unsigned char *s = (const unsigned char *)*ps;
  const unsigned char *l = (const unsigned char *)lim;
  unsigned acc = 0, k;
  while (l - s >= 4) { /* four at a time: names are short, branches dominate */
    unsigned k0 = xsr__name_class[s[0]], k1 = xsr__name_class[s[1]];
    unsigned k2 = xsr__name_class[s[2]], k3 = xsr__name_class[s[3]];
    if (!(k0 & k1 & k2 & k3 & XSR__NAME_CHAR))
      break;
    acc |= k0 | k1 | k2 | k3;
    s += 4;
  }
  while (s < l && ((k = xsr__name_class[*s]) & XSR__NAME_CHAR)) {
    acc |= k;
    s++;
  }
  if ((s < l && *s >= 0x80) || (size_t)((const char *)s - start) > max)
    return -1;
  *colon = acc & XSR__NAME_COLON;
  *ps = (const char *)s;
  return s < l ? NAME_DONE : NAME_MORE;
}

/* scan_name_ascii, falling back to the full scan. */
static inline int scan_name_fast(xsr_parser *p, const char **ps, const char *lim, const char *start,
                                 unsigned max, unsigned *colon, xsr_err *err, const char **errp) {
  int r = scan_name_ascii(ps, lim, start, max, colon);
  if (XSR_UNLIKELY(r < 0)) {
    *colon = 1; /* unknown: let qname_prefix look */
    r = scan_name(ps, lim, start, max, err, errp);
  }
  /* A name cut by the end of the input is resumed later: remember whether
   * its first part held a colon. */
  if (r == NAME_MORE) {
    p->name_colon |= *colon;
  } else {
    *colon |= p->name_colon;
    p->name_colon = 0;
  }
  return r;
}

/* Checks QName syntax of [n, n + len): at most one colon, not first or
 * last.  Returns the prefix length (0 for none) or -1 with *errp set. */
static int qname_prefix(const char *n, size_t len, const char **errp) {
  const char *c = memchr(n, ':', len);
  if (!c)
    return 0;
  if (c == n) {
    *errp = c;
    return -1;
  }
  const char *c2 = memchr(c + 1, ':', len - (size_t)(c + 1 - n));
  if (c2) {
    *errp = c2;
    return -1;
  }
  if (c == n + len - 1) {
    *errp = c + 1; /* the byte that should have started the local name */
    return -1;
  }
  /* Both parts are NCNames: the local part must start with a
   * NameStartChar (the prefix starts the name, already checked). */
  const unsigned char *l = (const unsigned char *)c + 1;
  if (*l < 0x80) {
    if (!(xsr__name_class[*l] & XSR__NAME_START)) {
      *errp = (const char *)l;
      return -1;
    }
  } else {
    uint32_t cp;
    if (xsr__utf8_decode(l, (const unsigned char *)n + len, &cp) > 0 && !xsr__name_start_cp(cp)) {
      *errp = (const char *)l;
      return -1;
    }
  }
  return (int)(c - n);
}

static const char *binding_prefix(const xsr_parser *p, const binding *bd, const char *b) {
  return bd->persistent ? p->arena + bd->prefix_off : b + bd->prefix_off;
}

/* The namespace bound to a prefix ("" = default), or NONE32 if unbound.
 * A prefix bound on the stream header is marked as inherited by the
 * stanza being parsed. */
static uint32_t resolve(xsr_parser *p, const char *b, const char *pre, size_t len) {
  if (len == 0) /* the default namespace: the common case */
    return p->defns;
  if (len == 3 && memcmp(pre, "xml", 3) == 0)
    return XSR_NS_XML;
  for (uint32_t i = p->nbinds; i-- > 0;) {
    const binding *bd = &p->binds[i];
    if (bd->prefix_len == len && memcmp(binding_prefix(p, bd, b), pre, len) == 0) {
      if (i < p->nstream_binds)
        p->inh_used |= 1ull << (i < 63 ? i : 63);
      return bd->ns;
    }
  }
  return len == 0 ? XSR_NS_NONE : NONE32;
}

static int push_node(xsr_parser *p, uint32_t *idx) {
  if (XSR_UNLIKELY(p->nnodes == p->sc.capnodes) &&
      !grow(p->sa, (void **)&p->sc.nodes, &p->sc.capnodes, p->nnodes + 1, sizeof *p->sc.nodes, 16))
    return 0;
  *idx = p->nnodes++;
  return 1;
}

/* Links node `idx` at element depth `d` after its previous sibling. */
static inline void link_sibling(xsr_parser *p, unsigned d, uint32_t idx) {
  if (p->sc.last[d])
    p->sc.nodes[p->sc.last[d]].next = idx;
  p->sc.last[d] = idx;
}

/* The node of an element at depth d (the stream element is 0) whose '<'
 * is at s, b being the construct's base: a fresh index for a new top-level
 * construct, linked after its previous sibling, current for the start-tag
 * states, its name's start in p->tok.  0 when out of memory. */
__attribute__((always_inline)) static inline int open_element(xsr_parser *p, const char *b,
                                                              const char *s, unsigned d) {
  uint32_t idx;
  if (d <= 1) {
    p->nnodes = 0;
    p->nattrs = 0;
    p->sc.last[d] = 0;
    p->inh_used = 0;
    if (!push_node(p, &idx))
      return 0;
  } else if (XSR_LIKELY(!p->eager_index)) {
    /* No index during the scan: the element at depth d takes slot d - 1
     * (what its end tag and its start tag's checks need), and its
     * attributes follow the stanza element's, whose routing values the
     * view reports. */
    idx = d - 1;
    if (XSR_UNLIKELY(d > p->sc.capnodes) &&
        !grow(p->sa, (void **)&p->sc.nodes, &p->sc.capnodes, d, sizeof *p->sc.nodes, 16))
      return 0;
    p->nattrs = p->sc.nodes[0].attr_count;
  } else {
    if (!push_node(p, &idx))
      return 0;
    link_sibling(p, d, idx);
  }
  p->sc.nodes[idx] = (xsr_node){.off = (uint32_t)(s - b),
                                .attr_first = p->nattrs,
                                .kind = XSR_NODE_ELEMENT,
                                .depth = (uint16_t)d};
  if (d <= 1 || p->eager_index)
    p->sc.last[d + 1] = 0;
  p->cur_node = idx;
  p->el_nsdecls = 0;
  p->el_prefixed = 0;
  p->tok = (uint32_t)(s + 1 - b);
  return 1;
}

static inline int add_text_node(xsr_parser *p, uint8_t kind, uint32_t off, uint32_t len,
                                uint8_t flags) {
  if (XSR_LIKELY(!p->eager_index))
    return 1; /* built on demand */
  uint32_t idx;
  if (!push_node(p, &idx))
    return 0;
  xsr_node *n = &p->sc.nodes[idx];
  memset(n, 0, sizeof *n);
  n->off = off;
  n->len = len;
  n->kind = kind;
  n->flags = flags;
  n->depth = (uint16_t)(p->depth + 1);
  link_sibling(p, p->depth + 1, idx);
  return 1;
}

/* Decodes an attribute value that holds references into p->sc.tmp. */
static int decode_value(xsr_parser *p, const char *v, size_t len, const char **out,
                        size_t *out_len) {
  if (len > p->sc.tmp_cap) {
    char *t = p->sa->realloc(p->sa->user, p->sc.tmp, len);
    if (!t)
      return 0;
    p->sc.tmp = t;
    p->sc.tmp_cap = len;
  }
  xsr_span raw = {v, len};
  xsr_decode_attr(raw, p->sc.tmp, p->sc.tmp_cap, out_len);
  *out = p->sc.tmp;
  return 1;
}

/*
 * Duplicate attributes.  The usual element has a handful of attributes,
 * compared pairwise; from ATTR_LINEAR on, a hash set of attribute indexes
 * keeps the check linear however many attributes max_attrs lets through.
 * The set holds the element's attributes checked so far; slots hold
 * index + 1.
 */
#define ATTR_LINEAR 16

static uint32_t fnv1a(const char *s, size_t n, uint32_t h) {
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* Empties the set, with room for n entries at half load. */
static int aset_clear(xsr_parser *p, uint32_t n) {
  uint32_t cap = 64;
  while (cap < 2 * n)
    cap *= 2;
  if (cap > p->sc.aset_cap) {
    uint32_t *t = p->sa->realloc(p->sa->user, p->sc.aset, (size_t)cap * sizeof *t);
    if (!t)
      return 0;
    p->sc.aset = t;
    p->sc.aset_cap = cap;
  }
  memset(p->sc.aset, 0, (size_t)cap * sizeof *p->sc.aset);
  p->aset_mask = cap - 1;
  p->aset_n = 0;
  return 1;
}

/* The slot for hash h: holding an index equal to `idx` under `same`, or
 * empty. */
#define ASET_PROBE(slot, h, same_as)                                                               \
  do {                                                                                             \
    for (uint32_t i_ = (h)&p->aset_mask;; i_ = (i_ + 1) & p->aset_mask) {                          \
      uint32_t v_ = p->sc.aset[i_];                                                                \
      if (!v_ || same_as(v_ - 1)) {                                                                \
        (slot) = i_;                                                                               \
        break;                                                                                     \
      }                                                                                            \
    }                                                                                              \
  } while (0)

/* Whether attribute `idx` repeats the qualified name of one of the
 * element's attributes [first, idx): 1, 0, or -1 when out of memory.
 * Called for every attribute in order. */
static int qname_dup_set(xsr_parser *p, const char *b, uint32_t first, uint32_t idx);

static inline int qname_dup(xsr_parser *p, const char *b, uint32_t first, uint32_t idx) {
  if (XSR_UNLIKELY(idx - first >= ATTR_LINEAR))
    return qname_dup_set(p, b, first, idx);
  const xsr_attr *a = &p->sc.attrs[idx];
  const char *an = b + a->name_off;
  size_t len = a->name_len;
  for (uint32_t i = first; i < idx; i++) {
    const xsr_attr *o = &p->sc.attrs[i];
    const char *on = b + o->name_off;
    if (o->name_len == len && on[0] == an[0] && memcmp(on, an, len) == 0)
      return 1;
  }
  return 0;
}

__attribute__((noinline)) static int qname_dup_set(xsr_parser *p, const char *b, uint32_t first,
                                                   uint32_t idx) {
  const xsr_attr *a = &p->sc.attrs[idx];
  const char *an = b + a->name_off;
  size_t len = a->name_len;
#define SAME_QNAME(j)                                                                              \
  (p->sc.attrs[j].name_len == len && memcmp(b + p->sc.attrs[j].name_off, an, len) == 0)
  uint32_t slot;
  if (idx - first == ATTR_LINEAR || 2 * (p->aset_n + 1) > p->aset_mask + 1) {
    /* First use for this element, or full: rebuild from its attributes
     * so far (distinct: each was checked when it came). */
    if (!aset_clear(p, 2 * (idx - first + 1)))
      return -1;
    for (uint32_t i = first; i < idx; i++) {
      const xsr_attr *o = &p->sc.attrs[i];
      uint32_t h = fnv1a(b + o->name_off, o->name_len, 2166136261u), v;
      for (v = h & p->aset_mask; p->sc.aset[v]; v = (v + 1) & p->aset_mask) {
      }
      p->sc.aset[v] = i + 1;
      p->aset_n++;
    }
  }
  ASET_PROBE(slot, fnv1a(an, len, 2166136261u), SAME_QNAME);
#undef SAME_QNAME
  if (p->sc.aset[slot])
    return 1;
  p->sc.aset[slot] = idx + 1;
  p->aset_n++;
  return 0;
}

/* Whether the attribute name [an, an + len) with a prefix of pl bytes is a
 * namespace declaration: "xmlns" or "xmlns:...". */
static inline int is_xmlns_attr(const char *an, size_t len, size_t pl) {
  /* Most names fail the first compare; the memcmp is two loads. */
  return an[0] == 'x' && (pl == 0 ? len == 5 : pl == 5) && memcmp(an, "xmlns", 5) == 0;
}

static const char XML_NS_URI[] = "http://www.w3.org/XML/1998/namespace";
static const char XMLNS_NS_URI[] = "http://www.w3.org/2000/xmlns/";

/* Binds the prefix [pre, pre + pre_len) ("" for the default namespace) to
 * the URI v of declaration a (checked by the caller; decoded when it held
 * references) until the element ends. */
static xsr_err bind_ns(xsr_parser *p, const char *b, const xsr_attr *a, const char *v, size_t vlen,
                       const char *pre, size_t pre_len, const char **errp) {
  uint32_t ns = XSR_NS_NONE;
  if (vlen) {
    xsr_err e;
    ns = ns_intern(p, v, vlen, &e);
    if (ns == NONE32) {
      if (e == XSR_ELIMITNS)
        *errp = b + a->value_off;
      return e;
    }
  }
  if (XSR_UNLIKELY(p->nbinds == p->capbinds) &&
      !grow(&p->a, (void **)&p->binds, &p->capbinds, p->nbinds + 1, sizeof *p->binds, 4))
    return XSR_ENOMEM;
  p->binds[p->nbinds++] = (binding){(uint32_t)(pre - b), (uint32_t)pre_len, ns, 0};
  if (pre_len == 0)
    p->defns = ns;
  return XSR_OK;
}

/*
 * finish_start_tag() for an element without prefixes whose one declaration
 * is of the default namespace, written without references: usually the
 * last or only attribute (<active xmlns='...'/>).  What the general loops
 * would do, in one pass, in a function small enough to call cheaply.
 * Returns 0 when the declaration is not of that kind (the general code
 * decides), else 1 with *err set.
 */
__attribute__((noinline)) static int finish_default_decl(xsr_parser *p, const char *b,
                                                         const char **errp, xsr_err *err) {
  xsr_node *el = &p->sc.nodes[p->cur_node];
  uint32_t first = el->attr_first, n = p->nattrs - first;
  uint32_t i = first + n - 1;
  while (!(p->sc.attrs[i].flags & ATTR_XMLNS))
    i--;
  xsr_attr *a = &p->sc.attrs[i];
  if (a->prefix_len != 0 || (a->flags & XSR_F_ESCAPED))
    return 0;
  const char *v = b + a->value_off;
  size_t vlen = a->value_len;
  if ((vlen == sizeof XML_NS_URI - 1 && memcmp(v, XML_NS_URI, vlen) == 0) ||
      (vlen == sizeof XMLNS_NS_URI - 1 && memcmp(v, XMLNS_NS_URI, vlen) == 0)) {
    *errp = b + a->name_off;
    *err = XSR_ENSDECL;
    return 1;
  }
  /* bind_ns(), without its calls when the URI is in the cache (bind_ns
   * with this path inline counted more instructions in both callers) */
  uint32_t ns = vlen >= 8 ? ns_cached(p, ns_cache_slot(v, vlen), v, vlen) : NONE32;
  if (XSR_LIKELY(ns != NONE32 && p->nbinds < p->capbinds)) {
    p->binds[p->nbinds++] = (binding){a->name_off, 0, ns, 0};
    p->defns = ns;
  } else {
    *errp = b + el->off; /* for XSR_ENOMEM */
    *err = bind_ns(p, b, a, v, vlen, b + a->name_off, 0, errp);
    if (*err)
      return 1;
  }
  *err = XSR_OK;
  el->ns = p->defns;
  if (i + 1 < first + n) /* the other attributes keep their order */
    memmove(a, a + 1, (first + n - i - 1) * sizeof *a);
  p->nattrs--;
  el->attr_count = (uint16_t)(n - 1);
  return 1;
}

/*
 * A start tag is complete: bind its namespace declarations, resolve the
 * element's and attributes' namespaces, drop xmlns attributes from the
 * index and check expanded-name uniqueness.  Returns XSR_OK or an error
 * with *errp set.  The general case: complete_start_tag() takes the usual
 * ones first.
 */
static xsr_err finish_start_tag(xsr_parser *p, const char *b, const char **errp) {
  xsr_node *el = &p->sc.nodes[p->cur_node];
  *errp = b + el->off; /* for XSR_ENOMEM: the element's '<', whatever the chunking */
  uint32_t first = el->attr_first, n = p->nattrs - first;

  /* Namespace declarations first: they apply to the element itself. */
  for (uint32_t i = first; i < first + n; i++) {
    xsr_attr *a = &p->sc.attrs[i];
    if (!(a->flags & ATTR_XMLNS))
      continue;
    const char *name = b + a->name_off;
    const char *pre = a->prefix_len ? name + a->prefix_len + 1 : name; /* declared prefix */
    size_t pre_len = a->prefix_len ? (size_t)a->name_len - a->prefix_len - 1 : 0;
    const char *v = b + a->value_off;
    size_t vlen = a->value_len;
    if (a->flags & XSR_F_ESCAPED) {
      if (!decode_value(p, v, vlen, &v, &vlen))
        return XSR_ENOMEM;
    }
    int is_xml_uri = vlen == sizeof XML_NS_URI - 1 && memcmp(v, XML_NS_URI, vlen) == 0;
    int is_xmlns_uri = vlen == sizeof XMLNS_NS_URI - 1 && memcmp(v, XMLNS_NS_URI, vlen) == 0;
    int pre_xml = pre_len == 3 && memcmp(pre, "xml", 3) == 0;
    int pre_xmlns = pre_len == 5 && memcmp(pre, "xmlns", 5) == 0;
    if (pre_xmlns || is_xmlns_uri || (pre_xml != is_xml_uri) || (a->prefix_len && vlen == 0)) {
      *errp = name;
      return XSR_ENSDECL;
    }
    if (pre_xml)
      continue; /* xmlns:xml with its own URI: allowed, binds nothing new */
    xsr_err err = bind_ns(p, b, a, v, vlen, pre, pre_len, errp);
    if (err)
      return err;
  }

  /* The element's own namespace. */
  const char *ename = b + el->off + 1;
  if (el->prefix_len == 5 && memcmp(ename, "xmlns", 5) == 0) {
    *errp = ename;
    return XSR_ENSDECL;
  }
  uint32_t ens = resolve(p, b, ename, el->prefix_len);
  if (ens == NONE32) {
    *errp = ename;
    return XSR_EPREFIX;
  }
  el->ns = ens;

  /* Attributes: drop declarations, resolve prefixes, check expanded names
   * (pairwise, or through the set for elements with many attributes). */
  uint32_t out = first;
  int use_set = n > ATTR_LINEAR;
  if (use_set && !aset_clear(p, n))
    return XSR_ENOMEM;
  for (uint32_t i = first; i < first + n; i++) {
    xsr_attr a = p->sc.attrs[i];
    if (a.flags & ATTR_XMLNS)
      continue;
    if (a.prefix_len) {
      const char *an = b + a.name_off;
      uint32_t ans = resolve(p, b, an, a.prefix_len);
      if (ans == NONE32) {
        *errp = an;
        return XSR_EPREFIX;
      }
      a.ns = ans;
      /* Same namespace and local name as an earlier prefixed attribute? */
      size_t ll = (size_t)a.name_len - a.prefix_len - 1;
      const char *lp = an + a.prefix_len + 1;
#define SAME_EXPANDED(j)                                                                           \
  (p->sc.attrs[j].prefix_len && p->sc.attrs[j].ns == a.ns &&                                       \
   (size_t)p->sc.attrs[j].name_len - p->sc.attrs[j].prefix_len - 1 == ll &&                        \
   memcmp(b + p->sc.attrs[j].name_off + p->sc.attrs[j].prefix_len + 1, lp, ll) == 0)
      if (use_set) {
        uint32_t slot;
        ASET_PROBE(slot, fnv1a(lp, ll, a.ns * 2654435761u), SAME_EXPANDED);
        if (p->sc.aset[slot]) {
          *errp = an;
          return XSR_EDUPATTR;
        }
        p->sc.aset[slot] = out + 1; /* p->sc.attrs[out] is written below */
        p->aset_n++;
      } else {
        for (uint32_t j = first; j < out; j++) {
          if (SAME_EXPANDED(j)) {
            *errp = an;
            return XSR_EDUPATTR;
          }
        }
      }
#undef SAME_EXPANDED
    } else {
      a.ns = XSR_NS_NONE;
    }
    p->sc.attrs[out++] = a;
  }
  p->nattrs = out;
  el->attr_count = (uint16_t)(out - first);
  return XSR_OK;
}

/* A start tag is complete: its two usual cases here (no declarations or
 * prefixes: the element is in the default namespace, its attributes in
 * none; one default-namespace declaration), the rest in
 * finish_start_tag(). */
static inline xsr_err complete_start_tag(xsr_parser *p, const char *b, const char **errp) {
  xsr_node *n = &p->sc.nodes[p->cur_node];
  if (!p->el_prefixed && !n->prefix_len) {
    if (!p->el_nsdecls) {
      n->ns = p->defns;
      n->attr_count = (uint16_t)(p->nattrs - n->attr_first);
      return XSR_OK;
    }
    xsr_err err;
    if (p->el_nsdecls == 1 && finish_default_decl(p, b, errp, &err))
      return err;
  }
  return finish_start_tag(p, b, errp);
}

/* Finds the routing attributes of the stanza element (node 0), and counts
 * its start tag's attributes (its declarations were dropped from the
 * index; el_nsdecls still counts them). */
static void find_route(xsr_parser *p, const char *b) {
  for (int k = 0; k < 5; k++)
    p->route[k] = NONE32;
  const xsr_node *el = &p->sc.nodes[0];
  p->tag_decls = p->el_nsdecls;
  p->tag_attrs = el->attr_count + p->el_nsdecls;
  for (uint32_t i = el->attr_first; i < el->attr_first + el->attr_count; i++) {
    const xsr_attr *a = &p->sc.attrs[i];
    const char *an = b + a->name_off;
    if (a->prefix_len == 0) {
      /* Every stanza has a few of these: dispatch on the length, then
       * compare the name as one 2- or 4-byte load. */
      if (a->name_len == 2) {
        if (memcmp(an, "to", 2) == 0)
          p->route[0] = i;
        else if (memcmp(an, "id", 2) == 0)
          p->route[2] = i;
      } else if (a->name_len == 4) {
        if (memcmp(an, "from", 4) == 0)
          p->route[1] = i;
        else if (memcmp(an, "type", 4) == 0)
          p->route[3] = i;
      }
    } else if (a->ns == XSR_NS_XML && a->name_len == 8 && memcmp(an + 4, "lang", 4) == 0) {
      p->route[4] = i;
    }
  }
}

/* Whether a stanza in namespace `ns` is in a content namespace other than
 * the stream's (checked once its start tag is complete, on every path, so
 * the error's offset, the element name, does not depend on the chunking). */
static inline int foreign_content_ns(const xsr_parser *p, uint32_t ns) {
  return ns - XSR_NS_CLIENT <= XSR_NS_COMPONENT - XSR_NS_CLIENT && ns != p->stream_ns;
}

/* The element p->cur_node, its start tag complete, becomes the open one;
 * nbinds and defns are the bindings in force before its declarations,
 * restored at its end. */
static inline void push_open(xsr_parser *p, const char *b, uint32_t nbinds, uint32_t defns) {
  open_el *o = &p->sc.stack[++p->depth];
  o->node = p->cur_node;
  o->nbinds = nbinds;
  o->defns = defns;
  if (p->depth == 1)
    find_route(p, b);
}

/* The open element ends just before s: its length, its bindings popped.
 * Returns the depth left. */
static inline unsigned pop_open(xsr_parser *p, const char *b, const char *s) {
  const open_el *o = &p->sc.stack[p->depth];
  xsr_node *n = &p->sc.nodes[o->node];
  n->len = (uint32_t)(s - b) - n->off;
  p->nbinds = o->nbinds;
  p->defns = o->defns;
  return --p->depth;
}

static xsr_span route_span(const xsr_parser *p, const char *b, int k, unsigned *escaped) {
  xsr_span s = {NULL, 0};
  if (p->route[k] != NONE32) {
    const xsr_attr *a = &p->sc.attrs[p->route[k]];
    s.ptr = b + a->value_off;
    s.len = a->value_len;
    if (a->flags & XSR_F_ESCAPED)
      *escaped |= 1u << k;
  }
  return s;
}

/* The stream-level bindings the stanza used, in the header's order (bit
 * 63 stands for every binding from the 64th on). */
__attribute__((noinline)) static void fill_inherited(xsr_parser *p, xsr_stanza *st) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < p->nstream_binds; i++) {
    if (!(p->inh_used & (1ull << (i < 63 ? i : 63))))
      continue;
    const binding *bd = &p->binds[i];
    if (bd->prefix_len == 0)
      continue; /* the default namespace is never looked up this way */
    p->inh[n].prefix.ptr = p->arena + bd->prefix_off;
    p->inh[n].prefix.len = bd->prefix_len;
    p->inh[n].uri.ptr = ns_ent(p, bd->ns)->uri;
    p->inh[n].uri.len = ns_ent(p, bd->ns)->len;
    n++;
  }
  st->inherited = p->inh;
  st->inherited_count = n;
}

static void fill_view(xsr_parser *p, const char *b, size_t len, uint64_t off, xsr_stanza *st) {
  const xsr_node *el = &p->sc.nodes[0];
  st->raw.ptr = b;
  st->raw.len = len;
  st->offset = off;
  st->prefix.ptr = b + 1;
  st->prefix.len = el->prefix_len;
  st->name = xsr_stanza_node_name(st, el);
  st->ns = el->ns;
  st->escaped = 0;
  st->to = route_span(p, b, 0, &st->escaped);
  st->from = route_span(p, b, 1, &st->escaped);
  st->id = route_span(p, b, 2, &st->escaped);
  st->type = route_span(p, b, 3, &st->escaped);
  st->lang = route_span(p, b, 4, &st->escaped);
  st->nodes = p->sc.nodes;
  st->node_count = p->nnodes;
  st->attrs = p->sc.attrs;
  st->attr_count = p->nattrs;
  st->inherited = NULL;
  st->inherited_count = 0;
  if (XSR_UNLIKELY(p->inh_used))
    fill_inherited(p, st);
  st->stream_lang.ptr = p->has_slang ? p->arena + p->slang_off : NULL;
  st->stream_lang.len = p->slang_len;
  st->tag_attrs = p->tag_attrs;
  st->tag_decls = p->tag_decls;
  st->index_parser_ = NULL;
}

/* One number of a version: digits only, at least one, saturating at
 * INT_MAX (leading zeros are allowed: RFC 6120 section 4.7.5 compares the
 * numbers, not the strings).  Returns 0 for anything else. */
static int version_number(const char *q, const char *e, int *out) {
  if (q == e)
    return 0;
  int n = 0;
  for (; q < e; q++) {
    if (*q < '0' || *q > '9')
      return 0;
    int d = *q - '0';
    n = n > (INT_MAX - d) / 10 ? INT_MAX : n * 10 + d;
  }
  *out = n;
  return 1;
}

/* Parses a version attribute value "major.minor".  Once per stream: out
 * of line, or GCC inlines it where the start-tag code is hot (measured:
 * 2% more instructions on the adversarial corpus). */
__attribute__((noinline, cold)) static int parse_version(const char *v, size_t len, int *maj,
                                                         int *min) {
  const char *dot = memchr(v, '.', len);
  return dot && version_number(v, dot, maj) && version_number(dot + 1, v + len, min);
}

/* Copies stream-level bindings, the stream element's name and its
 * xml:lang (decoded) out of the header's bytes, which are about to be
 * released, and makes room for the stanzas' forwarding context. */
static int persist_stream(xsr_parser *p, const char *b, const xsr_stream_header *h) {
  const xsr_node *el = &p->sc.nodes[0];
  const char *lang = h->lang.ptr;
  size_t lang_len = h->lang.len;
  if (lang && (h->escaped & XSR_ROUTE_LANG) && !decode_value(p, lang, lang_len, &lang, &lang_len))
    return 0;
  uint32_t need = el->name_len + (uint32_t)lang_len; /* both within max_stanza */
  for (uint32_t i = 0; i < p->nbinds; i++)
    need += p->binds[i].prefix_len;
  uint32_t npre = 0; /* the forwarding context has room for each prefixed binding */
  for (uint32_t i = 0; i < p->nbinds; i++)
    npre += p->binds[i].prefix_len != 0;
  /* Both sized to what this stream needs, not rounded up: they are kept
   * for the stream's life, per connection. */
  if (need + 1 > p->arena_cap) {
    char *q = p->a.realloc(p->a.user, p->arena, need + 1);
    if (!q)
      return 0;
    p->arena = q;
    p->arena_cap = need + 1;
  }
  if (npre > p->capinh) {
    xsr_ns_decl *q = p->a.realloc(p->a.user, p->inh, npre * sizeof *q);
    if (!q)
      return 0;
    p->inh = q;
    p->capinh = npre;
  }
  p->arena_len = 0;
  memcpy(p->arena, b + el->off + 1, el->name_len);
  p->stream_qname_off = 0;
  p->stream_qname_len = el->name_len;
  p->arena_len = el->name_len;
  for (uint32_t i = 0; i < p->nbinds; i++) {
    binding *bd = &p->binds[i];
    memcpy(p->arena + p->arena_len, b + bd->prefix_off, bd->prefix_len);
    bd->prefix_off = p->arena_len;
    bd->persistent = 1;
    p->arena_len += bd->prefix_len;
  }
  p->nstream_binds = p->nbinds;
  p->stream_ns = h->content_ns;
  p->has_slang = lang != NULL;
  p->slang_off = p->arena_len;
  p->slang_len = (uint32_t)lang_len;
  if (lang_len)
    memcpy(p->arena + p->arena_len, lang, lang_len);
  p->arena_len += (uint32_t)lang_len;
  return 1;
}

/* Validates the stream element and builds the header view. */
static xsr_err check_header(xsr_parser *p, const char *b, xsr_stream_header *h) {
  const xsr_node *el = &p->sc.nodes[0];
  xsr_span local = {b + el->off + 1 + (el->prefix_len ? el->prefix_len + 1 : 0),
                    (size_t)el->name_len - (el->prefix_len ? el->prefix_len + 1 : 0)};
  if (el->ns != XSR_NS_STREAMS || local.len != 6 || memcmp(local.ptr, "stream", 6) != 0)
    return XSR_ESTREAMNS;
  uint32_t def = resolve(p, b, "", 0);
  unsigned bit = def == XSR_NS_CLIENT      ? XSR_ACCEPT_CLIENT
                 : def == XSR_NS_SERVER    ? XSR_ACCEPT_SERVER
                 : def == XSR_NS_COMPONENT ? XSR_ACCEPT_COMPONENT
                                           : 0;
  if (!(bit & p->cfg.accept))
    return XSR_ECONTENTNS;
  memset(h, 0, sizeof *h);
  h->prefix.ptr = b + el->off + 1;
  h->prefix.len = el->prefix_len;
  h->content_ns = def;
  h->version_major = h->version_minor = -1;
  for (int k = 0; k < 5; k++)
    p->route[k] = NONE32;
  for (uint32_t i = el->attr_first; i < el->attr_first + el->attr_count; i++) {
    const xsr_attr *a = &p->sc.attrs[i];
    const char *an = b + a->name_off;
    if (a->prefix_len == 0) {
      if (a->name_len == 2 && memcmp(an, "to", 2) == 0)
        p->route[0] = i;
      else if (a->name_len == 4 && memcmp(an, "from", 4) == 0)
        p->route[1] = i;
      else if (a->name_len == 2 && memcmp(an, "id", 2) == 0)
        p->route[2] = i;
      else if (a->name_len == 7 && memcmp(an, "version", 7) == 0)
        p->route[3] = i;
    } else if (a->ns == XSR_NS_XML && a->name_len == 8 && memcmp(an + 4, "lang", 4) == 0) {
      p->route[4] = i;
    }
  }
  h->to = route_span(p, b, 0, &h->escaped);
  h->from = route_span(p, b, 1, &h->escaped);
  h->id = route_span(p, b, 2, &h->escaped);
  h->version = route_span(p, b, 3, &h->escaped);
  h->lang = route_span(p, b, 4, &h->escaped);
  if (h->version.ptr) {
    const char *v = h->version.ptr;
    size_t vlen = h->version.len;
    if (h->escaped & XSR_ROUTE_VERSION) {
      if (!decode_value(p, v, vlen, &v, &vlen))
        return XSR_ENOMEM;
    }
    if (!parse_version(v, vlen, &h->version_major, &h->version_minor))
      return XSR_EBADVERSION;
    if (h->version_major > 1)
      return XSR_EVERSION;
  }
  return XSR_OK;
}

/* Parses the XML declaration [d, e) = "<?xml ... ?>" strictly. */
static xsr_err check_xmldecl(const char *d, const char *e, const char **errp) {
  const char *s = d + 5;   /* after "<?xml" */
  const char *end = e - 2; /* at "?>" */
  static const char *const names[3] = {"version", "encoding", "standalone"};
  int seen = 0; /* index of the next pseudo-attribute allowed */
  for (;;) {
    const char *ws0 = s;
    while (s < end && is_ws((unsigned char)*s))
      s++;
    if (s == end)
      break;
    if (s == ws0) {
      *errp = s;
      return XSR_EXMLDECL;
    }
    int k;
    size_t nl = 0;
    for (k = seen; k < 3; k++) {
      nl = strlen(names[k]);
      if ((size_t)(end - s) >= nl && memcmp(s, names[k], nl) == 0)
        break;
    }
    if (k == 3 || (k > 0 && seen == 0)) {
      *errp = s;
      return XSR_EXMLDECL;
    }
    s += nl;
    while (s < end && is_ws((unsigned char)*s))
      s++;
    if (s == end || *s != '=') {
      *errp = s;
      return XSR_EXMLDECL;
    }
    s++;
    while (s < end && is_ws((unsigned char)*s))
      s++;
    if (s == end || (*s != '"' && *s != '\'')) {
      *errp = s;
      return XSR_EXMLDECL;
    }
    char q = *s++;
    const char *v = s;
    while (s < end && *s != q)
      s++;
    if (s == end) {
      *errp = s;
      return XSR_EXMLDECL;
    }
    size_t vl = (size_t)(s - v);
    if (k == 0) { /* VersionNum ::= '1.' [0-9]+ */
      int ok = vl >= 3 && v[0] == '1' && v[1] == '.';
      for (size_t i = 2; ok && i < vl; i++)
        ok = v[i] >= '0' && v[i] <= '9';
      if (!ok) {
        *errp = v;
        return XSR_EXMLDECL;
      }
    } else if (k == 1) { /* EncName ::= [A-Za-z] ([A-Za-z0-9._] | '-')* */
      int ok = vl > 0 && ((v[0] | 0x20) >= 'a' && (v[0] | 0x20) <= 'z');
      for (size_t i = 1; ok && i < vl; i++) {
        char c = v[i];
        ok = ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
             c == '_' || c == '-';
      }
      if (!ok) {
        *errp = v;
        return XSR_EXMLDECL;
      }
      if (!(vl == 5 && (v[0] | 0x20) == 'u' && (v[1] | 0x20) == 't' && (v[2] | 0x20) == 'f' &&
            v[3] == '-' && v[4] == '8')) {
        *errp = v;
        return XSR_EENCODING;
      }
    } else {
      if (!((vl == 3 && memcmp(v, "yes", 3) == 0) || (vl == 2 && memcmp(v, "no", 2) == 0))) {
        *errp = v;
        return XSR_EXMLDECL;
      }
    }
    s++; /* closing quote */
    seen = k + 1;
  }
  if (seen == 0) {
    *errp = s;
    return XSR_EXMLDECL;
  }
  return XSR_OK;
}

/* ---- the state machine --------------------------------------------------- */

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

/* Element content, as scan_text(s, e, '<', '&', '>') but passing over
 * predefined entities (xsr__scan_content), which mark the text escaped.
 * With max_name < 4 the entity names "quot" and "apos" are too long, so
 * the byte-wise states must see every reference. */
static inline const char *scan_content(xsr_parser *p, const char *s, const char *e) {
  if (e - s >= 32 && p->cfg.max_name >= 4) {
    unsigned esc = 0;
    s = __atomic_load_n(&xsr__scan_content, __ATOMIC_RELAXED)(s, e, &esc);
    p->text_flags |= esc ? XSR_F_ESCAPED : 0;
    return s;
  }
  return scan_text(s, e, '<', '&', '>');
}

/* Validates one non-ASCII character at s: returns its length, 0 when lim
 * cuts it, -1 for invalid UTF-8, -2 for U+FFFE/U+FFFF.  The two common
 * shapes (2 bytes; 3 bytes outside the E0/ED/EF special cases) are checked
 * inline. */
static inline int xml_utf8(const char *s, const char *lim) {
  const unsigned char *u = (const unsigned char *)s;
  ptrdiff_t room = lim - s;
  if (u[0] >= 0xC2 && u[0] <= 0xDF && room >= 2 && (u[1] & 0xC0) == 0x80)
    return 2;
  if (u[0] >= 0xE1 && u[0] <= 0xEC && room >= 3 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80)
    return 3;
  uint32_t cp;
  int n = xsr__utf8_decode(u, (const unsigned char *)lim, &cp);
  if (n <= 0)
    return n < 0 ? -1 : 0;
  return (cp >= 0xFFFE && cp <= 0xFFFF) ? -2 : n;
}

/* Whether the len bytes (len >= 1) at x, below lim, equal those at y < x. */
static inline int same_name(const char *x, const char *y, size_t len, const char *lim) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (len <= 8 && lim - x >= 8) { /* names are short: no call */
    uint64_t u, v;
    memcpy(&u, x, 8);
    memcpy(&v, y, 8);
    return ((u ^ v) << (64 - 8 * len)) == 0;
  }
#else
  (void)lim;
#endif
  return memcmp(x, y, len) == 0;
}

/* At s, a '<' below lim with p->depth > 0: the length of the open
 * element's end tag when it is written the usual way, "</" name ">" with
 * the same bytes (the byte-wise states would accept it with the same
 * result), else 0 (they decide). */
static inline size_t open_etag_len(const xsr_parser *p, const char *b, const char *s,
                                   const char *lim) {
  const xsr_node *open = &p->sc.nodes[p->sc.stack[p->depth].node];
  size_t len = open->name_len;
  if ((size_t)(lim - s) >= len + 3 && s[2 + len] == '>' &&
      same_name(s + 2, b + open->off + 1, len, lim))
    return len + 3;
  return 0;
}

static inline const char *limit_for(const xsr_parser *p, const char *b, const char *e) {
  size_t max = p->cfg.max_stanza;
  return (size_t)(e - b) > max ? b + max : e;
}

/*
 * Small chunks.  When every held byte has been scanned and the parser sits
 * in a run (character data, an attribute value, a name), a chunk made only
 * of bytes that merely continue that run changes nothing but the position.
 * feed() and commit() recognise that with one table lookup per byte instead
 * of a call into run(); the resulting state is exactly the one run() would
 * leave, so chunking stays invisible.  cont_class has one bit per kind of
 * run, set for the bytes that continue it: never a markup byte, a control
 * byte the state must look at (CR, TAB and LF in values), a byte >= 0x80
 * (UTF-8 is validated in run()) or a colon in names (run() tracks it for
 * the QName check).
 */
enum { CONT_CONTENT = 1, CONT_APOS = 2, CONT_QUOT = 4, CONT_NAME = 8 };
#define CONT_TEXTLIKE (CONT_CONTENT | CONT_APOS | CONT_QUOT) /* runs that may hold UTF-8 */
#define CONT_TEXT(c)  ((c) >= 0x20 && (c) < 0x80 && (c) != '<' && (c) != '&')
#define CONT_NCHAR(c)                                                                              \
  (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9') ||       \
   (c) == '-' || (c) == '.' || (c) == '_')
#define CONT_BITS(c)                                                                               \
  (((CONT_TEXT(c) && (c) != '>') || (c) == '\n' || (c) == '\t' ? CONT_CONTENT : 0) |               \
   (CONT_TEXT(c) && (c) != '\'' ? CONT_APOS : 0) | (CONT_TEXT(c) && (c) != '"' ? CONT_QUOT : 0) |  \
   (CONT_NCHAR(c) ? CONT_NAME : 0))
#define CONT_ROW(r)                                                                                \
  CONT_BITS(r + 0), CONT_BITS(r + 1), CONT_BITS(r + 2), CONT_BITS(r + 3), CONT_BITS(r + 4),        \
      CONT_BITS(r + 5), CONT_BITS(r + 6), CONT_BITS(r + 7), CONT_BITS(r + 8), CONT_BITS(r + 9),    \
      CONT_BITS(r + 10), CONT_BITS(r + 11), CONT_BITS(r + 12), CONT_BITS(r + 13),                  \
      CONT_BITS(r + 14), CONT_BITS(r + 15)
static const unsigned char cont_class[256] = {
    CONT_ROW(0x00), CONT_ROW(0x10), CONT_ROW(0x20), CONT_ROW(0x30), CONT_ROW(0x40), CONT_ROW(0x50),
    CONT_ROW(0x60), CONT_ROW(0x70), CONT_ROW(0x80), CONT_ROW(0x90), CONT_ROW(0xA0), CONT_ROW(0xB0),
    CONT_ROW(0xC0), CONT_ROW(0xD0), CONT_ROW(0xE0), CONT_ROW(0xF0)};
#undef CONT_ROW
#undef CONT_BITS
#undef CONT_NCHAR
#undef CONT_TEXT

/* Called when run() stops at the end of its input inside a top-level
 * construct of `held` bytes. */
static inline void set_cont(xsr_parser *p, size_t held) {
  size_t left = p->cfg.max_stanza - held; /* held <= max_stanza here */
  switch (p->state) {
  case ST_CONTENT:
    p->cont = CONT_CONTENT;
    break;
  case ST_ATTR_VALUE:
    p->cont = p->quote == '"' ? CONT_QUOT : CONT_APOS;
    break;
  case ST_ETAG_NAME:
    if (p->pos == p->tok)
      return; /* the first character has its own checks */
    /* fall through */
  case ST_STAG_NAME:
  case ST_ATTR_NAME: {
    size_t name_left = p->cfg.max_name - (p->pos - p->tok);
    if (p->pos - p->tok > p->cfg.max_name)
      return;
    if (name_left < left)
      left = name_left;
    p->cont = CONT_NAME;
    break;
  }
  default:
    return;
  }
  if (left > p->sc.cap - p->end) /* when run() parsed the caller's bytes, feed_slow */
    left = p->sc.cap - p->end;   /* calls again once their rest is in the buffer */
  p->cont_left = left;
  p->u8pend = 0;
}

/*
 * The start-tag fast path.
 *
 * A start tag, token by token from 64-byte bitmaps (tagmask.h), in a
 * function of its own compiled for AVX2 (the classifier is inlined, its
 * masks live in registers).  It takes only the common shapes: ASCII
 * names, name="value" with optional whitespace around '=', values without
 * references, control or non-ASCII bytes.  At anything else it hands over
 * to the byte-wise state for the token it is in, positioned at that
 * token's first byte with nothing of the token recorded yet (STAG_NAME,
 * STAG_WS0/1) or, inside a value, at the byte that needs a closer look
 * (STAG_VALUE); from there the byte-wise states finish the tag exactly as
 * they would have alone.  When the attribute array cannot grow, STAG_NOMEM
 * at the attribute's name, where those states report it (they would not
 * try again).  Windows lie wholly below lim, so limits and
 * chunking look the same.  *ps is the first byte of the element name on
 * entry (its '<' is behind it, the node is pushed, p->tok is set); for
 * stag_body the caller guarantees lim - *ps >= 64, for stag_body_tail that
 * the 64 bytes before lim are input and win->last = lim - 64 (the window
 * that ends at lim, used within 64 bytes of it).  Both are made from
 * parser/elems.h.
 */
enum { STAG_NAME, STAG_WS0, STAG_WS1, STAG_VALUE, STAG_END, STAG_EMPTY, STAG_SLASH, STAG_NOMEM };

/* A window of masks, kept by run() across the tags of one call (the bytes
 * do not change while run() looks at them): w NULL means none yet. */
struct tagwin {
  const char *w;
  xsr__tagmask m;
  const char *last; /* lim - 64, for the tail variant: set by run() before each call */
};

#ifdef XSR__TAGMASK_AVX2
/*
 * The element loop.  From a '<' inside the stream element, as long as the
 * markup has the usual shapes: start tags (stag_body, then what run() does
 * when one is complete), end tags written "</" name ">" with the open
 * element's name, and character data between tags, one after
 * the other in this function, whose few live values stay in registers
 * (run() is one large function and keeps reloading them).  It returns as
 * soon as anything needs run(), leaving the parser exactly as run()'s own
 * states would at that byte:
 *   EL_LT       *ps at a '<' that run() parses from st_lt (64 bytes or
 *               fewer before lim, 8 for elems_tail_avx2 (parser/elems.h),
 *               an end tag of another shape, a comment,
 *               CDATA, the stream's end tag, a name that is not ASCII, the
 *               depth limit: run() reports what is wrong);
 *   EL_CONTENT  in element content, text_start and text_flags set, at the
 *               byte the scan stopped at (a reference it does not pass,
 *               '>', a control byte, lim, non-ASCII it leaves to the
 *               byte-wise check): run() continues at st_content;
 *   EL_STANZA   past the stanza's last '>': run() reports the stanza;
 *   EL_FAIL     *errc and *errp say what finish_start_tag() rejected, or
 *               ENOMEM (at the byte where run() would report it; an
 *               allocation is never tried twice, so a failure that would
 *               not repeat gives the same result on every path);
 *   a STAG_*    code that is not END or EMPTY: stag_body's hand-over, for
 *               run()'s byte-wise start-tag states.
 */
enum { EL_LT = 16, EL_CONTENT, EL_STANZA, EL_FAIL };

/* stag_body and elems_avx2, and their variants for the end of a chunk. */
#define XSR__TAIL 0
#include "elems.h"
#undef XSR__TAIL
#define XSR__TAIL 1
#include "elems.h"
#undef XSR__TAIL

/* From run()'s byte-wise states: the variant that works up to lim. */
__attribute__((target("avx2"))) static int stag_avx2(xsr_parser *p, const char *b, const char *lim,
                                                     const char **ps, struct tagwin *win) {
  return stag_body_tail(p, b, lim, ps, win);
}

#else
static int stag_avx2(xsr_parser *p, const char *b, const char *lim, const char **ps,
                     struct tagwin *win) {
  (void)p, (void)b, (void)lim, (void)ps, (void)win;
  return STAG_NAME; /* never called: xsr__tagmask_simd is NULL */
}
enum { EL_LT = 16, EL_CONTENT, EL_STANZA, EL_FAIL };
static int elems_avx2(xsr_parser *p, const char *b, const char *lim, const char **ps,
                      struct tagwin *win, xsr_err *errc, const char **errp) {
  (void)p, (void)b, (void)lim, (void)ps, (void)win, (void)errc, (void)errp;
  return EL_LT; /* never called: xsr__tagmask_simd is NULL */
}
#define elems_tail_avx2 elems_avx2
#endif

/*
 * Parses [base + p->pos, base + avail).  base is the first held byte.  On
 * return *advanced says how many bytes at base were released (complete
 * constructs, whitespace between them); the rest must stay available for
 * the next call, at the same relative positions.
 */
static xsr_err run(xsr_parser *p, const char *base, size_t avail, size_t *advanced) {
  const char *b = base; /* first byte of the current construct */
  const char *const e = base + avail;
  const char *s = b + p->pos;
  const char *lim = p->intop ? limit_for(p, b, e) : e;
  xsr_err err = XSR_OK;
  const char *errp = s;
  unsigned char c;
  int cbrc = 0;
  int empty = 0;
  int srt; /* what stag_avx2() or elems_avx2() returned */
  /* Whether the CPU has AVX2 (set once by xsr__scan_init, perhaps by
   * another thread's first parser: hence the atomic load). */
  const int fast_tags = __atomic_load_n(&xsr__tagmask_simd, __ATOMIC_RELAXED) != NULL;
  unsigned wide = 0; /* the current text has held non-ASCII characters */
  struct tagwin win; /* see stag_avx2: the masks are read only once w is set */
  win.w = NULL;

  p->cont = 0;
  p->cont_left = 0;

#define REL(x) ((uint32_t)((x)-b))
#define AT(o)  (b + (o))
#define FAIL(code, at)                                                                             \
  do {                                                                                             \
    err = (code);                                                                                  \
    errp = (at);                                                                                   \
    goto fail;                                                                                     \
  } while (0)
#define NEED(n)                                                                                    \
  do {                                                                                             \
    if (lim - s < (ptrdiff_t)(n))                                                                  \
      goto out;                                                                                    \
  } while (0)
#define ENTER(st) p->state = (st)
/* At a byte below 0x20 in character data or CDATA: TAB and LF pass, CR
 * marks the node for line-end normalisation, anything else is not XML. */
#define TEXT_CONTROL()                                                                             \
  do {                                                                                             \
    if (c == '\r')                                                                                 \
      p->text_flags |= XSR_F_ESCAPED;                                                              \
    else if (c != '\n' && c != '\t')                                                               \
      FAIL(XSR_ECHAR, s);                                                                          \
    s++;                                                                                           \
  } while (0)
/* At a byte >= 0x80: validates the run of non-ASCII characters there. */
#define UTF8_RUN()                                                                                 \
  do {                                                                                             \
    int n_;                                                                                        \
    do {                                                                                           \
      n_ = xml_utf8(s, lim);                                                                       \
      if (n_ <= 0) {                                                                               \
        if (n_ == 0)                                                                               \
          goto out;                                                                                \
        FAIL(n_ == -1 ? XSR_EUTF8 : XSR_ECHAR, s);                                                 \
      }                                                                                            \
      s += n_;                                                                                     \
    } while (s < lim && (unsigned char)*s >= 0x80);                                                \
  } while (0)
#define STREAM_OFF(x) (p->base_off + (uint64_t)((x)-base))

  switch ((enum xsr__state)p->state) {
  case ST_DOC:
    goto st_doc;
  case ST_PROLOG:
    goto st_prolog;
  case ST_XMLDECL:
    goto st_xmldecl;
  case ST_BETWEEN:
    goto st_between;
  case ST_EPILOG:
    goto st_epilog;
  case ST_LT:
    goto st_lt;
  case ST_STAG_NAME:
    goto st_stag_name;
  case ST_STAG_WS:
    goto st_stag_ws;
  case ST_ATTR_NAME:
    goto st_attr_name;
  case ST_ATTR_EQ:
    goto st_attr_eq;
  case ST_ATTR_Q:
    goto st_attr_q;
  case ST_ATTR_VALUE:
    goto st_attr_value;
  case ST_EMPTY_GT:
    goto st_empty_gt;
  case ST_ETAG_NAME:
    goto st_etag_name;
  case ST_ETAG_WS:
    goto st_etag_ws;
  case ST_CONTENT:
    goto st_content;
  case ST_CDATA:
    goto st_cdata;
  case ST_REF:
    goto st_ref;
  case ST_REF_NUM:
    goto st_ref_num;
  case ST_REF_NAME:
    goto st_ref_name;
  case ST_FAILED:
    break;
  }
  *advanced = 0;
  return p->err;

  /* -- prolog ------------------------------------------------------------ */
st_doc:
  ENTER(ST_DOC);
  if (s >= lim)
    goto out;
  c = (unsigned char)*s;
  if (c == 0xEF) {
    NEED(3);
    if ((unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF) {
      s += 3;
      goto st_prolog_decl;
    }
    FAIL(XSR_ESYNTAX, s);
  }
  if (c == 0xFE || c == 0xFF) {
    NEED(2);
    if ((c == 0xFE && (unsigned char)s[1] == 0xFF) || (c == 0xFF && (unsigned char)s[1] == 0xFE))
      FAIL(XSR_EENCODING, s);
    FAIL(XSR_EUTF8, s);
  }
  if (c == 0x00)
    FAIL(XSR_EENCODING, s);
  if (c == '<') {
    NEED(2);
    if (s[1] == 0)
      FAIL(XSR_EENCODING, s + 1);
  }
st_prolog_decl:
  p->decl_ok = 1;
  p->state = ST_PROLOG;
  /* fall through to the prolog with the declaration still allowed */
  goto st_prolog_body;

st_prolog:
  ENTER(ST_PROLOG);
st_prolog_body:
  /* Whitespace before the stream element is released as it is scanned, so
   * it does not count against max_stanza. */
  while (s < e && is_ws((unsigned char)*s)) {
    s++;
    p->decl_ok = p->lenient_decl;
  }
  b = s; /* nothing before this needs keeping */
  lim = limit_for(p, b, e);
  if (s >= lim)
    goto out;
  if (*s != '<')
    FAIL(XSR_ESYNTAX, s);
  goto st_lt;

st_xmldecl:
  ENTER(ST_XMLDECL);
  /* Look for '?>'.  The declaration is short and ASCII: a '<', a control
   * character or a non-ASCII byte cannot be part of it, so fail there at
   * once rather than holding bytes until max_stanza. */
  for (;; s++) {
    if (s >= lim)
      goto out;
    c = (unsigned char)*s;
    if (c == '>' && s[-1] == '?' && s - 1 >= AT(p->tok) + 6) {
      s++;
      break;
    }
    if (c == '<' || c >= 0x80 || (c < 0x20 && !is_ws(c)))
      FAIL(XSR_EXMLDECL, s);
  }
  err = check_xmldecl(AT(p->tok), s, &errp);
  if (err)
    goto fail;
  p->decl_ok = 0;
  b = s;
  lim = limit_for(p, b, e);
  p->state = ST_PROLOG;
  goto st_prolog_body;

  /* -- between stanzas --------------------------------------------------- */
st_between:
  ENTER(ST_BETWEEN);
  p->intop = 0;
  while (s < e && is_ws((unsigned char)*s))
    s++;
  b = s;
  lim = e;
  if (s >= e || (p->join_stop && s != base)) /* the joined construct is complete */
    goto out;
  if (*s != '<') {
    /* Text between stanzas: report what is wrong with it first. */
    c = (unsigned char)*s;
    if (c < 0x20)
      FAIL(XSR_ECHAR, s);
    if (c >= 0x80) {
      uint32_t cp;
      int n = xsr__utf8_decode((const unsigned char *)s, (const unsigned char *)e, &cp);
      if (n == 0)
        goto out; /* wait for the whole character */
      if (n < 0)
        FAIL(XSR_EUTF8, s);
      if (cp >= 0xFFFE && cp <= 0xFFFF)
        FAIL(XSR_ECHAR, s);
    }
    FAIL(XSR_ETEXT, s);
  }
  p->intop = 1;
  lim = limit_for(p, b, e);
  goto st_lt;

st_epilog:
  ENTER(ST_EPILOG);
  p->intop = 0;
  if (p->pending_close) {
    p->pending_close = 0;
    p->closed = 1;
    b = s;
    if (p->cb && p->cb->on_stream_close) {
      p->in_cb = 1;
      p->cb_off = STREAM_OFF(s);
      cbrc = p->cb->on_stream_close(p->user, p->close_off);
      p->in_cb = 0;
    }
    if (cbrc)
      goto after_callback;
  }
  while (s < e && is_ws((unsigned char)*s))
    s++;
  b = s;
  lim = e;
  if (s >= e)
    goto out;
  if (*s == '<') {
    /* XML allows comments and processing instructions after the root
     * element; RFC 6120 section 11.1 does not, here as between stanzas. */
    NEED(2);
    if (s[1] == '?')
      FAIL(XSR_EPI, s);
    if (s[1] == '!') {
      NEED(4);
      if (s[2] == '-' && s[3] == '-')
        FAIL(XSR_ECOMMENT, s);
    }
  }
  FAIL(XSR_EJUNK, s);

  /* -- markup ------------------------------------------------------------ */
st_lt:
  ENTER(ST_LT);
  if (fast_tags && p->phase == PH_STREAM &&
      (p->whole_reads ? lim - s > 8 && lim - base >= 64 : lim - s > 64)) {
    /* Reads of whole stanzas (see feed_in_place) end where a stanza ends:
     * the variant whose windows reach lim takes their ends too. */
    win.last = lim - 64;
    srt = p->whole_reads ? elems_tail_avx2(p, b, lim, &s, &win, &err, &errp)
                         : elems_avx2(p, b, lim, &s, &win, &err, &errp);
    switch (srt) {
    case EL_LT:
      break;
    case EL_CONTENT:
      wide = 0;
      goto st_content;
    case EL_STANZA:
      goto stanza_end;
    case EL_FAIL:
      goto fail;
    default:
      goto stag_dispatch;
    }
  }
  NEED(2);
  c = (unsigned char)s[1];
  if (c == '/') {
    if (p->phase != PH_STREAM)
      FAIL(XSR_ESYNTAX, s + 1);
    p->etag_lt = REL(s);
    if (p->depth > 0) {
      size_t n = open_etag_len(p, b, s, lim);
      if (n) {
        s += n;
        goto element_end;
      }
    }
    s += 2;
    p->tok = REL(s);
    goto st_etag_name;
  }
  if (c == '!') {
    NEED(3);
    if (s[2] == '-') {
      NEED(4);
      if (s[3] == '-')
        FAIL(XSR_ECOMMENT, s);
      FAIL(XSR_ESYNTAX, s + 3);
    }
    if (s[2] == 'D') {
      static const char kw[] = "<!DOCTYPE";
      NEED(9);
      for (int i = 3; i < 9; i++)
        if (s[i] != kw[i])
          FAIL(XSR_ESYNTAX, s + i);
      FAIL(XSR_EDTD, s);
    }
    if (s[2] == '[' && p->phase == PH_STREAM) {
      if (p->depth == 0)
        FAIL(XSR_ETEXT, s);
      static const char kw[] = "<![CDATA[";
      NEED(9);
      for (int i = 3; i < 9; i++)
        if (s[i] != kw[i])
          FAIL(XSR_ESYNTAX, s + i);
      s += 9;
      p->cdata_start = REL(s);
      p->text_flags = 0; /* the CDATA node's own flags (CR only) */
      goto st_cdata;
    }
    FAIL(XSR_ESYNTAX, s + 2);
  }
  if (c == '?') {
    if (p->phase == PH_PROLOG && p->decl_ok) {
      NEED(6);
      if (memcmp(s + 2, "xml", 3) == 0) {
        unsigned char c5 = (unsigned char)s[5];
        if (is_ws(c5)) {
          p->tok = REL(s);
          s += 6;
          goto st_xmldecl;
        }
        if (c5 == '?')
          FAIL(XSR_EXMLDECL, s + 5);
      }
    }
    FAIL(XSR_EPI, s);
  }
  if (!(xsr__name_class[c] & XSR__NAME_START) && c < 0x80) {
    if (xsr__name_class[c] & XSR__NAME_CHAR)
      FAIL(XSR_ENAME, s + 1);
    FAIL(XSR_ESYNTAX, s + 1);
  }
  {
    /* A start tag: a new element at depth+1 (the stream element is 0). */
    unsigned d = p->phase == PH_PROLOG ? 0 : p->depth + 1;
    if (d > p->cfg.max_depth)
      FAIL(XSR_ELIMITDEPTH, s);
    if (!open_element(p, b, s, d))
      FAIL(XSR_ENOMEM, s);
    s += 1;
  }
  if (fast_tags && (p->whole_reads ? lim - s > 8 && lim - base >= 64 : lim - s >= 64)) {
    win.last = lim - 64;
    srt = stag_avx2(p, b, lim, &s, &win);
  stag_dispatch:
    switch (srt) {
    case STAG_END:
      empty = 0;
      goto start_tag_done;
    case STAG_EMPTY:
      empty = 1;
      goto start_tag_done;
    case STAG_SLASH:
      goto st_empty_gt;
    case STAG_NOMEM:
      FAIL(XSR_ENOMEM, s);
    case STAG_VALUE:
      goto st_attr_value;
    case STAG_WS0:
      p->ws = 0;
      goto st_stag_ws;
    case STAG_WS1:
      p->ws = 1;
      goto st_stag_ws;
    default: /* STAG_NAME: s is at the name */
      break;
    }
  }
  /* fall through */
st_stag_name:
  ENTER(ST_STAG_NAME);
  {
    unsigned colon;
    int r = scan_name_fast(p, &s, lim, AT(p->tok), p->cfg.max_name, &colon, &err, &errp);
    if (r == NAME_MORE)
      goto out;
    if (r == NAME_FAIL)
      goto fail;
    xsr_node *n = &p->sc.nodes[p->cur_node];
    size_t len = (size_t)(s - AT(p->tok));
    int pl = colon ? qname_prefix(AT(p->tok), len, &errp) : 0;
    if (pl < 0)
      FAIL(XSR_EQNAME, errp);
    n->name_len = (uint16_t)len;
    n->prefix_len = (uint16_t)pl;
    p->ws = 0;
  }
st_stag_ws:
  ENTER(ST_STAG_WS);
  for (;;) {
    if (s >= lim)
      goto out;
    c = (unsigned char)*s;
    if (is_ws(c)) {
      p->ws = 1;
      s++;
      continue;
    }
    if (c == '>') {
      s++;
      empty = 0;
      goto start_tag_done;
    }
    if (c == '/') {
      s++;
      goto st_empty_gt;
    }
    if ((xsr__name_class[c] & XSR__NAME_START) || c >= 0x80) {
      if (!p->ws)
        FAIL(XSR_ESYNTAX, s);
      xsr_node *n = &p->sc.nodes[p->cur_node];
      if (p->nattrs - n->attr_first >= p->cfg.max_attrs)
        FAIL(XSR_ELIMITATTRS, s);
      if (XSR_UNLIKELY(p->nattrs == p->sc.capattrs) &&
          !grow(p->sa, (void **)&p->sc.attrs, &p->sc.capattrs, p->nattrs + 1, sizeof *p->sc.attrs,
                16))
        FAIL(XSR_ENOMEM, s);
      xsr_attr *a = &p->sc.attrs[p->nattrs++];
      memset(a, 0, sizeof *a);
      a->name_off = REL(s);
      p->tok = REL(s);
      goto st_attr_name;
    }
    FAIL(XSR_ESYNTAX, s);
  }

st_attr_name:
  ENTER(ST_ATTR_NAME);
  {
    unsigned colon;
    int r = scan_name_fast(p, &s, lim, AT(p->tok), p->cfg.max_name, &colon, &err, &errp);
    if (r == NAME_MORE)
      goto out;
    if (r == NAME_FAIL)
      goto fail;
    xsr_attr *a = &p->sc.attrs[p->nattrs - 1];
    const char *an = AT(p->tok);
    size_t len = (size_t)(s - an);
    int pl = colon ? qname_prefix(an, len, &errp) : 0;
    if (pl < 0)
      FAIL(XSR_EQNAME, errp);
    a->name_len = (uint16_t)len;
    a->prefix_len = (uint16_t)pl;
    if (is_xmlns_attr(an, len, (size_t)pl)) {
      if (++p->el_nsdecls > p->cfg.max_ns_decls)
        FAIL(XSR_ELIMITNSDECL, an);
      a->flags |= ATTR_XMLNS;
    } else if (pl) {
      p->el_prefixed = 1;
    }
    /* Same qualified name as an earlier attribute of this element? */
    int dup = qname_dup(p, b, p->sc.nodes[p->cur_node].attr_first, p->nattrs - 1);
    if (dup)
      FAIL(dup < 0 ? XSR_ENOMEM : XSR_EDUPATTR, an);
  }
st_attr_eq:
  ENTER(ST_ATTR_EQ);
  while (s < lim && is_ws((unsigned char)*s))
    s++;
  if (s >= lim)
    goto out;
  if (*s != '=')
    FAIL(XSR_ESYNTAX, s);
  s++;
st_attr_q:
  ENTER(ST_ATTR_Q);
  while (s < lim && is_ws((unsigned char)*s))
    s++;
  if (s >= lim)
    goto out;
  if (*s != '"' && *s != '\'')
    FAIL(XSR_ESYNTAX, s);
  p->quote = (uint8_t)*s;
  s++;
  p->sc.attrs[p->nattrs - 1].value_off = REL(s);
st_attr_value:
  ENTER(ST_ATTR_VALUE);
  {
    const unsigned char q = p->quote;
    for (;;) {
      s = scan3(s, lim, q, '<', '&');
      if (s >= lim)
        goto out;
      c = (unsigned char)*s;
      if (c == q) {
        xsr_attr *a = &p->sc.attrs[p->nattrs - 1];
        a->value_len = REL(s) - a->value_off;
        s++;
        p->ws = 0;
        goto st_stag_ws;
      }
      if (c == '<')
        FAIL(XSR_EATTRLT, s);
      if (c == '&') {
        p->sc.attrs[p->nattrs - 1].flags |= XSR_F_ESCAPED;
        p->ret_state = ST_ATTR_VALUE;
        p->ref_start = REL(s);
        goto st_ref;
      }
      if (c < 0x20) {
        if (c == '\t' || c == '\n' || c == '\r') {
          p->sc.attrs[p->nattrs - 1].flags |= XSR_F_ESCAPED;
          s++;
          continue;
        }
        FAIL(XSR_ECHAR, s);
      }
      UTF8_RUN();
    }
  }

st_empty_gt:
  ENTER(ST_EMPTY_GT);
  if (s >= lim)
    goto out;
  if (*s != '>')
    FAIL(XSR_ESYNTAX, s);
  s++;
  empty = 1;
  goto start_tag_done;

start_tag_done : {
  uint32_t nbinds_before = p->nbinds, defns_before = p->defns;
  err = complete_start_tag(p, b, &errp);
  if (err)
    goto fail;
  xsr_node *n = &p->sc.nodes[p->cur_node];
  if (p->phase == PH_PROLOG) {
    /* The stream header. */
    xsr_stream_header h;
    xsr_stanza view;
    err = check_header(p, b, &h);
    if (err)
      FAIL(err, (err == XSR_EVERSION || err == XSR_EBADVERSION) ? h.version.ptr : b);
    if (!persist_stream(p, b, &h))
      FAIL(XSR_ENOMEM, b);
    n->len = REL(s);
    fill_view(p, b, REL(s), STREAM_OFF(b), &view);
    view.node_count = 1;
    view.type.ptr = NULL; /* route slot 3 holds the version here */
    view.type.len = 0;
    view.escaped &= ~(unsigned)XSR_ROUTE_TYPE;
    h.offset = STREAM_OFF(b);
    h.element = &view;
    p->phase = PH_STREAM;
    p->depth = 0;
    p->state = ST_BETWEEN;
    if (empty) { /* <stream:stream/>: opened and closed at once */
      p->phase = PH_EPILOG;
      p->state = ST_EPILOG;
      p->pending_close = 1;
      p->close_off = h.offset;
    }
    if (p->cb && p->cb->on_stream_open) {
      p->in_cb = 1;
      p->cb_off = STREAM_OFF(s);
      cbrc = p->cb->on_stream_open(p->user, &h);
      p->in_cb = 0;
    }
    /* The header's bytes are released; its bindings now live in the arena. */
    b = s;
    p->intop = 0;
    lim = e;
    goto after_callback;
  }
  if (p->depth == 0 && XSR_UNLIKELY(foreign_content_ns(p, n->ns)))
    FAIL(XSR_ESTANZANS, AT(n->off + 1));
  push_open(p, b, nbinds_before, defns_before);
  if (empty)
    goto element_end;
  p->text_start = REL(s);
  p->text_flags = 0;
  goto st_content;
}

  /* -- content ----------------------------------------------------------- */
st_content:
  ENTER(ST_CONTENT);
  for (;;) {
    if (s < lim && *s == '<') /* no text at all: the usual case between tags */
      goto content_lt;
    /* Short ASCII texts (<show>, <priority>, base64) are cheapest with
     * scan3.  Once a text has shown a non-ASCII character, the scanner that
     * validates UTF-8 in its vector loop takes over until the text ends:
     * measured with callgrind on the chat and large corpora, this beats
     * either scanner alone. */
    s = wide ? scan_content(p, s, lim) : scan3(s, lim, '<', '&', '>');
    if (s >= lim)
      goto out;
    c = (unsigned char)*s;
    if (c == '<') {
    content_lt:
      wide = 0;
      if (REL(s) > p->text_start &&
          !add_text_node(p, XSR_NODE_TEXT, p->text_start, REL(s) - p->text_start, p->text_flags))
        FAIL(XSR_ENOMEM, s);
      goto st_lt;
    }
    if (c == '&') {
      p->text_flags |= XSR_F_ESCAPED;
      p->ret_state = ST_CONTENT;
      p->ref_start = REL(s);
      goto st_ref;
    }
    if (c == '>') {
      if (s - 2 >= AT(p->text_start) && s[-1] == ']' && s[-2] == ']')
        FAIL(XSR_ECDATAEND, s);
      s++;
      continue;
    }
    if (c < 0x20) {
      TEXT_CONTROL();
      continue;
    }
    UTF8_RUN();
    wide = 1;
  }

st_cdata:
  ENTER(ST_CDATA);
  for (;;) {
    s = scan_text(s, lim, ']', ']', ']');
    if (s >= lim)
      goto out;
    c = (unsigned char)*s;
    if (c == ']') {
      NEED(3);
      if (s[1] == ']' && s[2] == '>') {
        uint32_t off = p->cdata_start, len = REL(s) - off;
        if (!add_text_node(p, XSR_NODE_CDATA, off, len, p->text_flags))
          FAIL(XSR_ENOMEM, s);
        s += 3;
        p->text_start = REL(s);
        p->text_flags = 0;
        goto st_content;
      }
      s++;
      continue;
    }
    if (c < 0x20) {
      TEXT_CONTROL();
      continue;
    }
    UTF8_RUN();
  }

  /* -- references -------------------------------------------------------- */
st_ref:
  ENTER(ST_REF);
  /* The five predefined entities, whole and in reach: compared at once
   * (with max_name < 4, st_ref_name's limit applies to "quot"/"apos"). */
  if (lim - s >= 6 && p->cfg.max_name >= 4) { /* else the byte-wise states decide */
    size_t n = xsr__predef_len(s, lim);
    if (n) {
      s += n;
      goto ref_done;
    }
  }
  NEED(2);
  c = (unsigned char)s[1];
  if (c == '#') {
    NEED(3);
    if (s[2] == 'x') {
      p->ref_hex = 1;
      s += 3;
    } else {
      p->ref_hex = 0;
      s += 2;
    }
    p->ref_val = 0;
    p->ref_digits = 0;
    goto st_ref_num;
  }
  if (((xsr__name_class[c] & XSR__NAME_START) && c != ':') || c >= 0x80) {
    s += 1;
    p->tok = REL(s);
    goto st_ref_name;
  }
  FAIL(XSR_EREF, s + 1);

st_ref_num:
  ENTER(ST_REF_NUM);
  for (;; s++) {
    if (s >= lim)
      goto out;
    c = (unsigned char)*s;
    if (c == ';') {
      if (!p->ref_digits)
        FAIL(XSR_EREF, s);
      if (!xsr__is_xml_char(p->ref_val))
        FAIL(XSR_ECHARREF, AT(p->ref_start));
      s++;
      goto ref_done;
    }
    unsigned d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (p->ref_hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
      d = (unsigned)((c | 0x20) - 'a' + 10);
    else
      FAIL(XSR_EREF, s);
    uint32_t v = p->ref_val * (p->ref_hex ? 16u : 10u) + d;
    p->ref_val = p->ref_val > 0x10FFFF ? 0x110000 : (v > 0x10FFFF ? 0x110000 : v);
    p->ref_digits++;
  }

st_ref_name:
  ENTER(ST_REF_NAME);
  {
    int r = scan_name(&s, lim, AT(p->tok), p->cfg.max_name, &err, &errp);
    if (r == NAME_MORE)
      goto out;
    if (r == NAME_FAIL)
      goto fail;
    if (*s != ';')
      FAIL(XSR_EREF, s);
    const char *nm = AT(p->tok);
    size_t len = (size_t)(s - nm);
    int ok = (len == 2 && (memcmp(nm, "lt", 2) == 0 || memcmp(nm, "gt", 2) == 0)) ||
             (len == 3 && memcmp(nm, "amp", 3) == 0) ||
             (len == 4 && (memcmp(nm, "apos", 4) == 0 || memcmp(nm, "quot", 4) == 0));
    if (!ok)
      FAIL(XSR_EENTITY, AT(p->ref_start));
    s++;
  }
ref_done:
  if (p->ret_state == ST_ATTR_VALUE)
    goto st_attr_value;
  goto st_content;

  /* -- end tags ---------------------------------------------------------- */
st_etag_name:
  ENTER(ST_ETAG_NAME);
  if (s == AT(p->tok)) {
    if (s >= lim)
      goto out;
    c = (unsigned char)*s;
    if (!(xsr__name_class[c] & XSR__NAME_START) && c < 0x80) {
      if (xsr__name_class[c] & XSR__NAME_CHAR)
        FAIL(XSR_ENAME, s);
      FAIL(XSR_ESYNTAX, s);
    }
  }
  {
    unsigned colon;
    int r = scan_name_fast(p, &s, lim, AT(p->tok), p->cfg.max_name, &colon, &err, &errp);
    if (r == NAME_MORE)
      goto out;
    if (r == NAME_FAIL)
      goto fail;
    p->etag_len = REL(s) - p->tok;
  }
st_etag_ws:
  ENTER(ST_ETAG_WS);
  while (s < lim && is_ws((unsigned char)*s))
    s++;
  if (s >= lim)
    goto out;
  if (*s != '>')
    FAIL(XSR_ESYNTAX, s);
  {
    const char *nm = AT(p->tok);
    size_t len = p->etag_len;
    s++;
    if (p->depth == 0) {
      /* </stream:stream> */
      if (len != p->stream_qname_len || memcmp(nm, p->arena + p->stream_qname_off, len) != 0)
        FAIL(XSR_ETAGMISMATCH, nm);
      uint64_t off = STREAM_OFF(AT(p->etag_lt));
      p->closed = 1;
      p->phase = PH_EPILOG;
      p->state = ST_EPILOG;
      p->nbinds = 0;
      p->defns = XSR_NS_NONE;
      b = s;
      p->intop = 0;
      lim = e;
      if (p->cb && p->cb->on_stream_close) {
        p->in_cb = 1;
        p->cb_off = STREAM_OFF(s);
        cbrc = p->cb->on_stream_close(p->user, off);
        p->in_cb = 0;
      }
      goto after_callback;
    }
    const xsr_node *open = &p->sc.nodes[p->sc.stack[p->depth].node];
    if (len != open->name_len || memcmp(nm, AT(open->off + 1), len) != 0)
      FAIL(XSR_ETAGMISMATCH, nm);
  }
element_end:
  if (pop_open(p, b, s) > 0) {
    p->text_start = REL(s);
    p->text_flags = 0;
    goto st_content;
  }
stanza_end : {
  xsr_stanza st;
  const char *first = b;
  fill_view(p, b, REL(s), STREAM_OFF(b), &st);
  if (XSR_LIKELY(!p->eager_index)) { /* built on demand: xsr__parser_index() */
    st.nodes = NULL;
    st.node_count = 0;
    st.attrs = NULL;
    st.attr_count = 0;
    st.index_parser_ = p;
    p->view_raw = b;
    p->view_off = st.offset;
    p->index_ready = 0;
  }
  b = s;
  p->intop = 0;
  lim = e;
  p->state = ST_BETWEEN;
  if (p->cb && p->cb->on_stanza) {
    p->in_cb = 1;
    p->cb_off = STREAM_OFF(s);
    cbrc = p->cb->on_stanza(p->user, &st);
    p->in_cb = 0;
    if (XSR_UNLIKELY(cbrc == XSR_RETRY)) {
      /* Refused: stop before the stanza, its bytes unreleased; resume()
       * parses them again from ST_BETWEEN, the state they began in. */
      p->pos = 0;
      *advanced = (size_t)(first - base);
      p->paused = 1;
      return XSR_PAUSED;
    }
  }
}
after_callback:
  if (cbrc) {
    p->pos = 0;
    *advanced = (size_t)(b - base);
    if (cbrc == XSR_PAUSE) {
      p->paused = 1;
      return XSR_PAUSED;
    }
    err = XSR_EABORTED;
    errp = b;
    goto fail;
  }
  if (p->state == ST_EPILOG)
    goto st_epilog;
  goto st_between;

out:
  if (p->intop && lim < e)
    FAIL(XSR_ELIMITSTANZA, lim);
  p->pos = REL(s);
  *advanced = (size_t)(b - base);
  if (s == e && p->intop)
    set_cont(p, (size_t)(e - b));
  return XSR_OK;

fail:
  p->err = err;
  p->err_off = STREAM_OFF(errp);
  p->state = ST_FAILED;
  p->pos = 0;
  *advanced = 0;
  return err;

#undef REL
#undef AT
#undef FAIL
#undef NEED
#undef ENTER
#undef UTF8_RUN
#undef TEXT_CONTROL
#undef STREAM_OFF
}

/* ---- entry points -------------------------------------------------------- */

static xsr_err fail_nomem(xsr_parser *p) {
  p->cont = 0;
  p->cont_left = 0;
  p->err = XSR_ENOMEM;
  p->err_off = p->base_off + p->pos;
  p->state = ST_FAILED;
  return XSR_ENOMEM;
}

/* Parses what is held in the buffer. */
static xsr_err run_held(xsr_parser *p) {
  static const char nothing[1];
  size_t adv;
  xsr_err rc = run(p, p->sc.buf ? p->sc.buf + p->start : nothing, p->end - p->start, &adv);
  p->start += adv;
  p->base_off += adv;
  if (p->start == p->end)
    p->start = p->end = 0;
  return rc;
}

static xsr_err feed_slow(xsr_parser *p, const char *d, size_t len);
static inline xsr_err feed_parse(xsr_parser *p, const void *data, size_t len);
static xsr_err feed_pooled(xsr_parser *p, const void *data, size_t len);

/* Parses d[0, len) in place with nothing held, and keeps what stays
 * unparsed.  whole: the read began with nothing held (a server's read of
 * whole stanzas), whose end the element loop's tail copy takes (see
 * parser/elems.h); feed_slow's rest of a chunk after a join is not. */
static inline xsr_err parse_in_place(xsr_parser *p, const char *d, size_t len, int whole) {
  size_t adv;
  p->whole_reads = (uint8_t)whole;
  xsr_err rc = run(p, d, len, &adv);
  p->whole_reads = 0;
  if (rc != XSR_OK && rc != XSR_PAUSED)
    return rc;
  p->base_off += adv;
  if (adv < len) {
    if (!buf_append(p, d + adv, len - adv))
      return fail_nomem(p);
    if (p->cont) /* set_cont counted on the room before the append */
      set_cont(p, p->end - p->start);
  }
  return rc;
}

/* feed() with nothing held and not paused: parse_in_place() from a small
 * function of its own, without feed_slow's checks. */
__attribute__((noinline)) static xsr_err feed_in_place(xsr_parser *p, const char *d, size_t len) {
  p->fed += len;
  return parse_in_place(p, d, len, 1);
}

/*
 * Takes n (1..64) bytes that continue the run p->cont describes, copying
 * them from src to the buffer's free end (src may be that end itself).
 * In text and values a non-ASCII character is held unscanned until its
 * last byte comes, each byte checked on arrival with the scanner's own
 * xml_utf8(), so a character split across chunks costs no call into run()
 * either.
 * Returns 0, with nothing taken, at the first byte that needs run().
 * Out of line: feed() and commit() try plain ASCII inline first.
 */
__attribute__((noinline)) static int cont_take(xsr_parser *p, const unsigned char *src, size_t n) {
  const unsigned t = p->cont;
  unsigned char *dst = (unsigned char *)p->sc.buf + p->end;
  size_t pos = p->pos;
  unsigned pend = p->u8pend, need = p->u8need;
  size_t i = 0;
  do {
    unsigned c = src[i];
    dst[i] = (unsigned char)c;
    if (XSR_LIKELY(!pend)) {
      if (cont_class[c] & t) {
        pos++;
        continue;
      }
      if (!(t & CONT_TEXTLIKE) || c < 0xC2 || c > 0xF4)
        return 0; /* markup, a control, or a byte no character starts with */
      need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      pend = 1;
      continue;
    }
    /* Each byte is checked as it comes, as run() would: a prefix that no
     * character can complete is an error now, not when its last byte
     * arrives (an input may end there). */
    const char *ch = p->sc.buf + p->start + pos;
    pend++;
    if (xml_utf8(ch, ch + pend) != (pend < need ? 0 : (int)need))
      return 0; /* run() finds the error and its offset */
    if (pend < need)
      continue;
    pos += need;
    pend = 0;
  } while (++i < n);
  p->end += n;
  p->pos = (uint32_t)pos;
  p->u8pend = (uint8_t)pend;
  p->u8need = (uint8_t)need;
  p->cont_left -= n;
  return 1;
}

/* feed() for what its inline fast path does not take: a non-ASCII
 * character continuing a run (carry: the fast path saw one may start, or
 * one is pending, in a text-like run with room), a small chunk joining
 * what is held, or the general case.  Out of line, so that the fast path
 * needs no stack frame. */
__attribute__((noinline)) static xsr_err feed_more(xsr_parser *p, const void *data, size_t len,
                                                   int carry) {
  if (carry && cont_take(p, data, len)) {
    p->fed += len;
    return XSR_OK;
  }
  if (p->in_cb)
    return XSR_EBUSY;
  if (p->err)
    return p->err;
  if (XSR_UNLIKELY(p->cfg.pool != NULL))
    return feed_pooled(p, data, len);
  return feed_parse(p, data, len);
}

/* feed() for a parser on a pool: the scratch borrowed around the parse. */
__attribute__((noinline)) static xsr_err feed_pooled(xsr_parser *p, const void *data, size_t len) {
  if (!scratch_get(p))
    return fail_nomem(p);
  return scratch_done(p, feed_parse(p, data, len));
}

/* feed() with the scratch at hand. */
static inline xsr_err feed_parse(xsr_parser *p, const void *data, size_t len) {
  size_t held = p->end - p->start;
  if (held > 0 && len - 1 < 64 && !p->paused && len <= p->sc.cap - p->end &&
      (!p->intop || held + len <= p->cfg.max_stanza + 1)) {
    /* A small chunk joins what is held: append it and parse on; what
     * stays held afterwards stays in the buffer. */
    const char *src = data;
    char *dst = p->sc.buf + p->end;
    for (size_t i = 0; i < len; i++) /* at most 64 bytes: no call */
      dst[i] = src[i];
    p->end += len;
    p->fed += len;
    return run_held(p);
  }
  if (held == 0 && !p->paused && len > 0)
    return feed_in_place(p, data, len);
  return feed_slow(p, data, len);
}

xsr_err xsr_parser_feed(xsr_parser *p, const void *data, size_t len) {
  /* Small chunk continuing a run, with room in the buffer: take it here,
   * checking and copying in one pass (bytes copied before a byte that
   * stops the run land in free buffer space and are simply not counted).
   * cont_left is 0 inside callbacks, after errors and while paused. */
  if (len - 1 < 64 && len <= p->cont_left) {
    const unsigned t = p->cont;
    if (XSR_UNLIKELY(p->u8pend))
      return feed_more(p, data, len, 1);
    const unsigned char *src = data;
    char *dst = p->sc.buf + p->end;
    size_t i = 0;
    do {
      unsigned char c = src[i];
      if (!(cont_class[c] & t)) /* markup, or a character to carry */
        return feed_more(p, data, len, c >= 0xC2 && (t & CONT_TEXTLIKE));
      dst[i] = (char)c;
    } while (++i < len);
    p->end += len;
    p->fed += len;
    p->pos += (uint32_t)len;
    p->cont_left -= len;
    return XSR_OK;
  }
  return feed_more(p, data, len, 0);
}

__attribute__((noinline)) static xsr_err feed_slow(xsr_parser *p, const char *d, size_t len) {
  p->fed += len;
  if (p->paused) {
    if (!buf_append(p, d, len))
      return fail_nomem(p);
    return XSR_PAUSED;
  }
  while (len > 0) {
    size_t held = p->end - p->start;
    if (held == 0)
      return parse_in_place(p, d, len, 0);
    /* Join the held construct: append a piece as large as what is held,
     * from 512 bytes up to 4 KiB, and parse on.  run() returns as soon as
     * the construct is complete (join_stop), and parsing goes on in the
     * caller's chunk below, where the fast paths see more than the piece's
     * end; the piece's bytes past the construct were copied for nothing,
     * which the 4 KiB cap bounds.  Resuming rescans nothing, so more pieces
     * cost only a call each (measured with callgrind on the large corpus
     * at 64 KiB chunks: 2.01 instructions a byte with pieces as large as
     * what is held, 1.58 with the cap; chat at 1460-byte chunks: 12.39
     * without join_stop, 12.09 with it).  Never more than max_stanza + 1
     * bytes of one construct are held. */
    if (p->sc.cap - p->end < 4096 && len > 4096 && held >= 4096) {
      /* A large construct grows in one step, not piece by piece (which
       * would copy the held bytes again at each): by as much as is held,
       * or, from 16 KiB on, by what this chunk may add, 64 KiB at most;
       * the buffer stays below twice the construct plus 64 KiB.  A best
       * effort: the pieces ask for their own room if this fails. */
      size_t want = held < 16384 ? held : 65536;
      if (want > len)
        want = len;
      if (p->intop && held + want > p->cfg.max_stanza + 1)
        want = held <= p->cfg.max_stanza ? p->cfg.max_stanza + 1 - held : 1;
      if (want > p->sc.cap - p->end)
        buf_reserve(p, want);
    }
    size_t piece = held < 512 ? 512 : held > 4096 ? 4096 : held;
    if (piece > len)
      piece = len;
    if (p->intop && held + piece > p->cfg.max_stanza + 1)
      piece = held <= p->cfg.max_stanza ? p->cfg.max_stanza + 1 - held : 1;
    if (!buf_append(p, d, piece))
      return fail_nomem(p);
    d += piece;
    len -= piece;
    size_t adv;
    p->join_stop = 1;
    xsr_err rc = run(p, p->sc.buf + p->start, p->end - p->start, &adv);
    p->join_stop = 0;
    if (rc != XSR_OK && rc != XSR_PAUSED)
      return rc;
    p->start += adv;
    p->base_off += adv;
    if (rc == XSR_PAUSED) {
      if (!buf_append(p, d, len))
        return fail_nomem(p);
      return rc;
    }
    if (adv >= held) {
      /* The held construct completed inside the piece: what is still held
       * is the piece's tail, also at d - k in the caller's chunk.  Continue
       * there, at the same relative position. */
      size_t k = p->end - p->start;
      d -= k;
      len += k;
      p->start = p->end = 0;
    }
  }
  return XSR_OK;
}

char *xsr_parser_buffer(xsr_parser *p, size_t *len) {
  size_t want = *len ? *len : 65536;
  *len = 0;
  if (p->in_cb || p->err || want > SIZE_MAX / 4)
    return NULL; /* an impossible request does not fail the stream */
  if (!scratch_get(p) || !buf_reserve(p, want)) {
    scratch_done(p, fail_nomem(p));
    return NULL;
  }
  *len = p->sc.cap - p->end;
  return p->sc.buf + p->end;
}

xsr_err xsr_parser_commit(xsr_parser *p, size_t n) {
  if (p->in_cb)
    return XSR_EBUSY;
  if (p->err)
    return p->err;
  if (n > p->sc.cap - p->end)
    return XSR_EINVAL;
  p->fed += n;
  if (n - 1 < 64 && n <= p->cont_left && cont_take(p, (const unsigned char *)p->sc.buf + p->end, n))
    return XSR_OK;
  if (!scratch_get(p)) /* n == 0 here, or a misuse caught above */
    return fail_nomem(p);
  int whole = p->start == p->end; /* a read that begins with nothing held: see feed_in_place */
  p->end += n;
  if (p->paused)
    return scratch_done(p, XSR_PAUSED);
  p->whole_reads = (uint8_t)whole;
  xsr_err rc = run_held(p);
  p->whole_reads = 0;
  return scratch_done(p, rc);
}

xsr_err xsr_parser_resume(xsr_parser *p) {
  if (p->in_cb)
    return XSR_EBUSY;
  if (p->err)
    return p->err;
  if (!p->paused)
    return XSR_OK;
  if (!scratch_get(p))
    return fail_nomem(p);
  p->paused = 0;
  return scratch_done(p, run_held(p));
}

/*
 * THE INDEX, ON DEMAND.  Routing needs none of the index, so the scan keeps
 * only what its checks need (the open elements' slots, the attributes of
 * the start tag being parsed and the stanza element's) and a stanza view
 * carries no index; the first xsr_stanza_index() (or find_child,
 * find_attr, text) from the on_stanza callback builds it here, from the
 * stanza's bytes.  Those bytes were accepted by the scan, so this is a
 * plain walk that checks nothing: markup at each '<', a text node for each
 * run of other bytes, attribute values to their closing quote, and the
 * namespaces through the same bindings and interned ids (the stream's, in
 * p->binds below nbinds, and the stanza's own, pushed above them here and
 * dropped at the end).  It gives exactly the index the scan gives with
 * eager_index set: the fuzzers compare the two on every input.
 */

/* Byte classes of the walk: IX_END ends a name, IX_COLON. */
#define IX_END   1
#define IX_COLON 2
static const unsigned char ix_class[256] = {
    [' '] = IX_END, ['\t'] = IX_END, ['\n'] = IX_END, ['\r'] = IX_END,
    ['/'] = IX_END, ['>'] = IX_END,  ['='] = IX_END,  [':'] = IX_COLON};

/* The end of the name at s (validated: it ends before the tag does), and
 * its prefix length in *pl (0 when unprefixed). */
static inline const char *ix_name(const char *s, size_t *pl) {
  const char *n = s;
  unsigned c;
  *pl = 0;
  for (;;) { /* each read follows a name byte, so lies before the tag's end */
    if ((c = ix_class[(unsigned char)s[0]]))
      break;
    if ((c = ix_class[(unsigned char)s[1]])) {
      s += 1;
      break;
    }
    if ((c = ix_class[(unsigned char)s[2]])) {
      s += 2;
      break;
    }
    if ((c = ix_class[(unsigned char)s[3]])) {
      s += 3;
      break;
    }
    s += 4;
  }
  if (c & IX_COLON) { /* a QName has one colon, not at the end */
    *pl = (size_t)(s - n);
    s++;
    while (!(ix_class[(unsigned char)*s] & IX_END))
      s++;
  }
  return s;
}

static inline int ix_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static xsr_err build_index(xsr_parser *p, const char *r, size_t len) {
  const uint32_t nbinds0 = p->nbinds, defns0 = p->defns;
  const uint64_t inh0 = p->inh_used;
  const char *const e = r + len;
  xsr_err err = XSR_OK;
  unsigned depth = 0;
  const char *s = r;
  uint32_t idx;
  p->nnodes = p->nattrs = 0;
  p->sc.last[1] = 0;
  while (s < e) {
    if (*s != '<' || s[1] == '!') { /* character data, or <![CDATA[ ... ]]> */
      uint8_t kind = XSR_NODE_TEXT, flags = 0;
      const char *t, *end;
      if (*s == '<') {
        kind = XSR_NODE_CDATA;
        t = end = s + 9;
        for (;;) {
          end = scan_text(end, e, ']', '\r', ']');
          if (*end == '\r') {
            flags = XSR_F_ESCAPED;
            end++;
          } else if (end[1] == ']' && end[2] == '>') {
            break;
          } else {
            end++; /* a lone ']' or non-ASCII */
          }
        }
        s = end + 3;
      } else {
        /* memchr's: one call costs less than one of the text scanners
         * on the short texts of stanzas */
        t = s;
        end = memchr(t, '<', (size_t)(e - t));
        if (!end)
          end = e;
        if (memchr(t, '&', (size_t)(end - t)) || memchr(t, '\r', (size_t)(end - t)))
          flags = XSR_F_ESCAPED;
        s = end;
      }
      if (!push_node(p, &idx)) {
        err = XSR_ENOMEM;
        break;
      }
      p->sc.nodes[idx] = (xsr_node){.off = (uint32_t)(t - r),
                                    .len = (uint32_t)(end - t),
                                    .kind = kind,
                                    .flags = flags,
                                    .depth = (uint16_t)(depth + 1)};
      link_sibling(p, depth + 1, idx);
      continue;
    }
    if (s[1] == '/') { /* the end tag of the open element */
      const open_el *o = &p->sc.stack[depth];
      xsr_node *n = &p->sc.nodes[o->node];
      s += 2 + n->name_len;
      while (*s != '>')
        s++;
      s++;
      n->len = (uint32_t)(s - r) - n->off;
      p->nbinds = o->nbinds;
      p->defns = o->defns;
      depth--;
      continue;
    }
    /* A start tag. */
    unsigned d = depth + 1;
    if (!push_node(p, &idx)) {
      err = XSR_ENOMEM;
      break;
    }
    if (d >= 2)
      link_sibling(p, d, idx);
    p->sc.last[d + 1] = 0;
    size_t pl;
    const char *k = ix_name(s + 1, &pl);
    const uint32_t first = p->nattrs, nb = p->nbinds, dn = p->defns;
    p->sc.nodes[idx] = (xsr_node){.off = (uint32_t)(s - r),
                                  .attr_first = first,
                                  .name_len = (uint16_t)(k - (s + 1)),
                                  .prefix_len = (uint16_t)pl,
                                  .kind = XSR_NODE_ELEMENT,
                                  .depth = (uint16_t)d};
    int empty = 0, prefixed = 0;
    for (;;) {
      while (ix_ws((unsigned char)*k))
        k++;
      if (*k == '>') {
        k++;
        break;
      }
      if (*k == '/') {
        k += 2;
        empty = 1;
        break;
      }
      const char *an = k;
      size_t apl;
      k = ix_name(an, &apl);
      size_t alen = (size_t)(k - an);
      while (*k != '\'' && *k != '"')
        k++;
      const unsigned char q = (unsigned char)*k;
      const char *v = k + 1, *ve = v;
      uint8_t flags = 0;
      for (;;) { /* to the quote, past references and TAB/LF/CR (all below 0x20) */
        ve = scan3(ve, e, q, '&', q);
        if ((unsigned char)*ve == q)
          break;
        if ((unsigned char)*ve < 0x80)
          flags = XSR_F_ESCAPED;
        ve++;
      }
      k = ve + 1;
      size_t vlen = (size_t)(ve - v);
      if (is_xmlns_attr(an, alen, apl)) {
        /* A declaration (checked by the scan): bound as bind_ns did. */
        const char *pre = an + (apl ? 6 : 0);
        size_t pre_len = apl ? alen - 6 : 0;
        if (pre_len == 3 && memcmp(pre, "xml", 3) == 0)
          continue;
        const char *u = v;
        size_t ulen = vlen;
        if (flags && !decode_value(p, u, ulen, &u, &ulen)) {
          err = XSR_ENOMEM;
          break;
        }
        uint32_t ns = XSR_NS_NONE;
        if (ulen) {
          ns = ulen >= 8 ? ns_cached(p, ns_cache_slot(u, ulen), u, ulen) : NONE32;
          if (ns == NONE32)
            ns = xsr_parser_ns_find(p, u, ulen);
        }
        if (XSR_UNLIKELY(p->nbinds == p->capbinds) &&
            !grow(&p->a, (void **)&p->binds, &p->capbinds, p->nbinds + 1, sizeof *p->binds, 4)) {
          err = XSR_ENOMEM;
          break;
        }
        p->binds[p->nbinds++] = (binding){(uint32_t)(pre - r), (uint32_t)pre_len, ns, 0};
        if (pre_len == 0)
          p->defns = ns;
        continue;
      }
      if (XSR_UNLIKELY(p->nattrs == p->sc.capattrs) &&
          !grow(p->sa, (void **)&p->sc.attrs, &p->sc.capattrs, p->nattrs + 1, sizeof *p->sc.attrs,
                16)) {
        err = XSR_ENOMEM;
        break;
      }
      prefixed |= apl != 0;
      p->sc.attrs[p->nattrs++] = (xsr_attr){.name_off = (uint32_t)(an - r),
                                            .value_off = (uint32_t)(v - r),
                                            .value_len = (uint32_t)vlen,
                                            .name_len = (uint16_t)alen,
                                            .ns = XSR_NS_NONE, /* prefixed: below */
                                            .prefix_len = (uint16_t)apl,
                                            .flags = flags};
    }
    if (err)
      break;
    /* Namespaces, now that the tag's declarations are bound. */
    xsr_node *n = &p->sc.nodes[idx];
    n->ns = pl ? resolve(p, r, s + 1, pl) : p->defns;
    n->attr_count = (uint16_t)(p->nattrs - first);
    for (uint32_t a = first; prefixed && a < p->nattrs; a++) { /* unprefixed: XSR_NS_NONE */
      xsr_attr *at = &p->sc.attrs[a];
      if (at->prefix_len)
        at->ns = resolve(p, r, r + at->name_off, at->prefix_len);
    }
    if (empty) {
      n->len = (uint32_t)(k - s);
      p->nbinds = nb;
      p->defns = dn;
    } else {
      depth = d;
      p->sc.stack[d] = (open_el){idx, nb, dn};
    }
    s = k;
  }
  p->nbinds = nbinds0;
  p->defns = defns0;
  p->inh_used = inh0;
  return err;
}

xsr_err xsr__parser_index(xsr_parser *p, const xsr_stanza *st, const xsr_node **nodes,
                          size_t *node_count, const xsr_attr **attrs, size_t *attr_count) {
  *nodes = NULL;
  *attrs = NULL;
  *node_count = *attr_count = 0;
  /* Only the view of the stanza being reported, during its callback. */
  if (!p->in_cb || p->view_raw != st->raw.ptr || p->view_off != st->offset)
    return XSR_EINVAL;
  if (!p->index_ready) {
    xsr_err err = build_index(p, st->raw.ptr, st->raw.len);
    if (err)
      return err;
    p->index_ready = 1;
  }
  *nodes = p->sc.nodes;
  *node_count = p->nnodes;
  *attrs = p->sc.attrs;
  *attr_count = p->nattrs;
  return XSR_OK;
}

void xsr__parser_eager_index(xsr_parser *p, int on) { p->eager_index = on ? 1 : 0; }
