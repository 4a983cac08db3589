/* SPDX-License-Identifier: MIT */
/*
 * parser/ns.c: interned namespace URIs.  Every namespace a stream declares
 * gets an id: the well-known ones (xsr/parser.h's XSR_NS_MAP) share a table
 * built once for every parser, the others are the parser's own, added as
 * they are declared and forgotten when a new stream starts.  The limit
 * max_namespaces is checked in ns_intern (core.h), whose cache of recent
 * declarations answers most of them inline where they are bound; the
 * tables and the public lookups are here.  Which prefix is bound to which
 * id at a given point of the stream (the scoping) is parser.c's.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* Namespace URIs are hashed on every declaration: eight bytes at a time. */
uint32_t xsr__ns_hash(const char *s, size_t n) {
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
 * hash table of id + 1 built once (xsr__ns_init, from xsr_parser_new). */
#define WK_ENTRY(name, uri) {uri, sizeof uri - 1},
const ns_entry xsr__wk_ns[XSR_NS_FIRST_DYNAMIC] = {XSR_NS_MAP(WK_ENTRY)};
#undef WK_ENTRY
#define WK_HASH 128 /* at most a quarter full */
static uint32_t wk_hash[WK_HASH];

static void wk_init_once(void) {
  for (uint32_t id = 0; id < XSR_NS_FIRST_DYNAMIC; id++) {
    uint32_t i = xsr__ns_hash(xsr__wk_ns[id].uri, xsr__wk_ns[id].len) & (WK_HASH - 1);
    while (wk_hash[i])
      i = (i + 1) & (WK_HASH - 1);
    wk_hash[i] = id + 1;
  }
}

void xsr__ns_init(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, wk_init_once);
}

uint32_t xsr__ns_lookup(const xsr_parser *p, const char *uri, size_t len, uint32_t h) {
  for (uint32_t i = h & (WK_HASH - 1);; i = (i + 1) & (WK_HASH - 1)) {
    uint32_t v = wk_hash[i];
    if (!v)
      break;
    const ns_entry *e = &xsr__wk_ns[v - 1];
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
uint32_t xsr__ns_add(xsr_parser *p, const char *uri, size_t len) {
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
      ns_insert_slot(p, XSR_NS_FIRST_DYNAMIC + i, xsr__ns_hash(p->dyn[i].uri, p->dyn[i].len));
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
  ns_insert_slot(p, id, xsr__ns_hash(c, len));
  return id;
}

void xsr__ns_clear(xsr_parser *p) {
  for (uint32_t i = 0; i < p->nns - XSR_NS_FIRST_DYNAMIC; i++)
    xfree(p, (void *)p->dyn[i].uri);
  p->nns = XSR_NS_FIRST_DYNAMIC;
  if (p->nshash)
    memset(p->nshash, 0, p->nshash_cap * sizeof *p->nshash);
  memset(p->nscache, 0, sizeof p->nscache);
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
  uint32_t id = xsr__ns_lookup(p, uri, len, xsr__ns_hash(uri, len));
  return id == NONE32 ? XSR_NS_NONE : id;
}
