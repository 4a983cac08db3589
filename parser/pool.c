/* SPDX-License-Identifier: MIT */
/*
 * parser/pool.c: the parser's life cycle and memory: the default
 * allocator, the configuration's defaults and checks (xsr_parser_new), the
 * scratch set (the held-bytes buffer, the index arrays, the open-element
 * stack) and the pool that lends scratch sets to idle connections' parsers,
 * reset and restart, and the plain getters.  What happens to the held
 * bytes while feeding is parser.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "states.h"

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
void xsr__scratch_put(xsr_parser *p) {
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
int xsr__scratch_borrow(xsr_parser *p) {
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
    xsr__scratch_put(p);
    return 0;
  }
  return 1;
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
  xsr__ns_init();
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
  xsr__ns_clear(p);
  xfree(p, p->dyn);
  xfree(p, p->nshash);
  if (p->set)
    xsr__scratch_put(p); /* kept by the pool for the next parser */
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
  xsr__ns_clear(p);
  p->start = p->end = 0;
  p->base_off = p->fed = 0;
  p->err = XSR_OK;
  p->err_off = 0;
  p->paused = 0;
  if (p->set)
    xsr__scratch_put(p);
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
