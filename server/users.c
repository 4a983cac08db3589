/* SPDX-License-Identifier: MIT */
/*
 * server/users.c: the users file (format and contracts in users.h).
 *
 * Runs at start-up and in `xsr-router --add-user`, never on a worker loop:
 * everything here may block on the file system.
 *
 * A table is built in two phases: the loader appends accounts (strings in an
 * arena owned by the table), then finish() sorts them by canonical localpart,
 * rejects duplicates and builds an open-addressing index.  After that the
 * table is never written again, so lookups need no locks.
 *
 * yajl's tree API keeps strings NUL-terminated without their length, so a
 * string holding an escaped NUL ("\u0000") would silently lose its tail;
 * such documents are refused before parsing (check_no_escaped_nul).
 */
#define _GNU_SOURCE /* getrandom, explicit_bzero, mkostemp */
#include "users.h"

#include <errno.h>
#include <fcntl.h>
#include <gsasl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "base64.h"
#include "util.h"

/* ---- small helpers ------------------------------------------------------ */

size_t xsr__scram_key_len(xsr__scram_hash h) { return h == XSR__SCRAM_SHA1 ? 20u : 32u; }

const char *xsr__scram_file_key(xsr__scram_hash h) {
  return h == XSR__SCRAM_SHA1 ? "scram-sha-1" : "scram-sha-256";
}

const char *xsr__subscription_name(xsr__subscription s) {
  switch (s) {
  case XSR__SUB_NONE:
    return "none";
  case XSR__SUB_TO:
    return "to";
  case XSR__SUB_FROM:
    return "from";
  default:
    return "both";
  }
}

/* Fills buf with n bytes from the kernel's CSPRNG.  Returns 0 or -1. */
static int fill_random(void *buf, size_t n) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t r = getrandom(p, n, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* ---- the table ---------------------------------------------------------- */

typedef struct arena_blk {
  struct arena_blk *next;
  size_t used, cap;
  _Alignas(max_align_t) unsigned char data[];
} arena_blk;

/* The loaded file: the arena, the reference count and every host. */
typedef struct users_file {
  arena_blk *arena;
  atomic_size_t refs; /* xsr__users_ref / xsr__users_free, on any host */
  xsr__users **hosts; /* sorted by domain (strcmp) once loaded */
  size_t nhosts, cap;
  int version; /* read as; what save writes at least */
} users_file;

/* One domain's accounts. */
struct xsr__users {
  users_file *file;
  char *domain; /* in the arena */
  size_t domain_len;
  xsr__account *acct;
  size_t n, cap;
  uint32_t *index; /* slot -> account index + 1; 0 = empty */
  size_t mask;
  uint64_t seed;
};

static void *arena_alloc(xsr__users *u, size_t n) {
  users_file *f = u->file;
  size_t align = _Alignof(max_align_t);
  n = (n + align - 1) / align * align;
  if (!f->arena || f->arena->cap - f->arena->used < n) {
    size_t cap = n > 16384 ? n : 16384;
    arena_blk *b = malloc(sizeof *b + cap);
    if (!b)
      return NULL;
    b->next = f->arena;
    b->used = 0;
    b->cap = cap;
    f->arena = b;
  }
  void *p = f->arena->data + f->arena->used;
  f->arena->used += n;
  return p;
}

static char *arena_strndup(xsr__users *u, const char *s, size_t len) {
  char *p = arena_alloc(u, len + 1);
  if (p) {
    memcpy(p, s, len);
    p[len] = '\0';
  }
  return p;
}

static users_file *file_new(void) {
  users_file *f = calloc(1, sizeof *f);
  if (!f)
    return NULL;
  atomic_init(&f->refs, 1);
  f->version = 1;
  return f;
}

/* A new, empty host of f (its domain not set yet), appended to f->hosts. */
static xsr__users *host_new(users_file *f) {
  if (f->nhosts == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 4;
    xsr__users **h = realloc(f->hosts, cap * sizeof *h);
    if (!h)
      return NULL;
    f->hosts = h;
    f->cap = cap;
  }
  xsr__users *u = calloc(1, sizeof *u);
  if (!u)
    return NULL;
  u->file = f;
  if (getrandom(&u->seed, sizeof u->seed, GRND_NONBLOCK) != (ssize_t)sizeof u->seed)
    u->seed = (uint64_t)(uintptr_t)u; /* only spreads lookups; the keys are the admin's */
  f->hosts[f->nhosts++] = u;
  return u;
}

static void file_free(users_file *f) {
  for (size_t i = 0; i < f->nhosts; i++) {
    xsr__users *u = f->hosts[i];
    for (xsr__account *a = u->acct; a && a < u->acct + u->n; a++)
      explicit_bzero(a->cred, sizeof a->cred);
    free(u->acct);
    free(u->index);
    free(u);
  }
  free(f->hosts);
  while (f->arena) {
    arena_blk *b = f->arena;
    f->arena = b->next;
    free(b);
  }
  free(f);
}

const xsr__users *xsr__users_ref(const xsr__users *u) {
  if (u)
    atomic_fetch_add_explicit(&u->file->refs, 1, memory_order_relaxed);
  return u;
}

void xsr__users_free(xsr__users *u) {
  if (!u)
    return;
  /* The last reference frees: acq_rel orders every holder's reads before it. */
  if (atomic_fetch_sub_explicit(&u->file->refs, 1, memory_order_acq_rel) != 1)
    return;
  file_free(u->file);
}

const char *xsr__users_domain(const xsr__users *u) { return u->domain; }
size_t xsr__users_count(const xsr__users *u) { return u->n; }
const xsr__account *xsr__users_at(const xsr__users *u, size_t i) {
  return i < u->n ? &u->acct[i] : NULL;
}

size_t xsr__users_host_count(const xsr__users *u) { return u->file->nhosts; }

const xsr__users *xsr__users_host_at(const xsr__users *u, size_t i) {
  return i < u->file->nhosts ? u->file->hosts[i] : NULL;
}

int xsr__users_version(const xsr__users *u) { return u->file->version; }

static int cmp_domain(const char *a, size_t alen, const char *b, size_t blen) {
  int c = memcmp(a, b, alen < blen ? alen : blen);
  return c ? c : (alen > blen) - (alen < blen);
}

static int cmp_host(const void *pa, const void *pb) {
  const xsr__users *a = *(xsr__users *const *)pa, *b = *(xsr__users *const *)pb;
  return cmp_domain(a->domain, a->domain_len, b->domain, b->domain_len);
}

const xsr__users *xsr__users_host(const xsr__users *u, const char *domain, size_t len) {
  if (!u || !domain)
    return NULL;
  const users_file *f = u->file;
  size_t lo = 0, hi = f->nhosts;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const xsr__users *h = f->hosts[mid];
    int c = cmp_domain(h->domain, h->domain_len, domain, len);
    if (c == 0)
      return h;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

int xsr__users_check_served(const xsr__users *u, const char *name, const char *const *domains,
                            size_t n, char *err, size_t errlen) {
  const users_file *f = u->file;
  for (size_t i = 0; i < f->nhosts; i++) {
    const xsr__users *h = f->hosts[i];
    size_t k = 0;
    while (k < n && strcmp(domains[k], h->domain) != 0)
      k++;
    if (k < n)
      continue;
    if (n == 1 && f->nhosts == 1) /* the single-domain wording of xsr-router 0.2 */
      xsr__errf(err, errlen, "domain %.255s differs from the domain of %.255s (%.255s)", domains[0],
                name, h->domain);
    else
      xsr__errf(err, errlen,
                "%.255s holds accounts of %.255s, which is not a domain served (add it to "
                "\"domains\" or --domain, or remove its accounts)",
                name, h->domain);
    return -1;
  }
  return 0;
}

static xsr__account *append_account(xsr__users *u) {
  if (u->n == u->cap) {
    size_t cap = u->cap ? u->cap * 2 : 16;
    xsr__account *a = realloc(u->acct, cap * sizeof *a);
    if (!a)
      return NULL;
    u->acct = a;
    u->cap = cap;
  }
  xsr__account *a = &u->acct[u->n++];
  memset(a, 0, sizeof *a);
  return a;
}

static int cmp_local(const char *a, size_t alen, const char *b, size_t blen) {
  int c = memcmp(a, b, alen < blen ? alen : blen);
  return c ? c : (alen > blen) - (alen < blen);
}

static int cmp_account(const void *pa, const void *pb) {
  const xsr__account *a = pa, *b = pb;
  return cmp_local(a->local, a->local_len, b->local, b->local_len);
}

static size_t slot_of(const xsr__users *u, const char *s, size_t len) {
  xsr_span sp = {s, len};
  return (size_t)xsr_jid_hash(sp, u->seed) & u->mask;
}

/* Sorts, rejects duplicate localparts (message into err, without the JSON
 * pointer of "users") and builds the index.  Returns 0, -1 on a duplicate,
 * -2 when out of memory. */
static int finish(xsr__users *u, char *err, size_t errlen) {
  if (u->n > UINT32_MAX / 4)
    return -2;
  if (u->n > 1)
    qsort(u->acct, u->n, sizeof *u->acct, cmp_account);
  for (size_t i = 1; i < u->n; i++) {
    if (cmp_account(&u->acct[i - 1], &u->acct[i]) == 0) {
      xsr__errf(err, errlen,
                "two keys name the account \"%s\" (localparts are compared in "
                "normalised form)",
                u->acct[i].local);
      return -1;
    }
  }
  size_t nslots = 8;
  while (nslots < u->n * 2)
    nslots *= 2;
  uint32_t *index = calloc(nslots, sizeof *index);
  if (!index)
    return -2;
  free(u->index);
  u->index = index;
  u->mask = nslots - 1;
  for (size_t i = 0; i < u->n; i++) {
    size_t s = slot_of(u, u->acct[i].local, u->acct[i].local_len);
    while (index[s])
      s = (s + 1) & u->mask;
    index[s] = (uint32_t)i + 1;
  }
  return 0;
}

/* The canonical form of the localpart s[0..len) of `domain` (canonical),
 * written into out[0..XSR_JID_MAX) and spanned by *canon. */
static xsr_err canon_local(const char *domain, size_t dlen, const char *s, size_t len, char *out,
                           xsr_span *canon) {
  char in[4 * XSR_JID_PART_MAX + 1 + XSR_JID_PART_MAX];
  xsr_jid j;
  if (len == 0)
    return XSR_EJIDSYNTAX;
  if (len > 4 * XSR_JID_PART_MAX || dlen > XSR_JID_PART_MAX)
    return XSR_EJIDLONG;
  /* Either would move the split between the parts. */
  if (memchr(s, '@', len) || memchr(s, '/', len))
    return XSR_EJIDCHAR;
  memcpy(in, s, len);
  in[len] = '@';
  memcpy(in + len + 1, domain, dlen);
  xsr_err rc = xsr_jid_parse(in, len + 1 + dlen, out, XSR_JID_MAX, &j, NULL);
  if (rc != XSR_OK)
    return rc;
  if (!j.local.ptr || j.resource.ptr)
    return XSR_EJIDSYNTAX;
  *canon = j.local;
  return XSR_OK;
}

xsr_err xsr__users_normalise(const xsr__users *u, const char *local, size_t len, char *out,
                             xsr_span *canon) {
  return canon_local(u->domain, u->domain_len, local, len, out, canon);
}

const xsr__account *xsr__users_lookup(const xsr__users *u, const char *local, size_t len) {
  char buf[XSR_JID_MAX];
  xsr_span c;
  if (!u || u->n == 0)
    return NULL;
  if (canon_local(u->domain, u->domain_len, local, len, buf, &c) != XSR_OK)
    return NULL;
  for (size_t s = slot_of(u, c.ptr, c.len);; s = (s + 1) & u->mask) {
    uint32_t i = u->index[s];
    if (!i)
      return NULL;
    const xsr__account *a = &u->acct[i - 1];
    if (a->local_len == c.len && memcmp(a->local, c.ptr, c.len) == 0)
      return a;
  }
}

/* ---- loading ------------------------------------------------------------ */

typedef struct pctx {
  const char *name;
  char *err;
  size_t errlen;
  users_file *file;
  xsr__users *u;  /* the host being read */
  char path[512]; /* JSON pointer of the value being read */
  size_t plen;
} pctx;

/* Appends "/seg" (escaped per RFC 6901, cut short when long) to the path;
 * returns the previous length, to give back to path_pop(). */
static size_t path_push(pctx *c, const char *seg) {
  size_t old = c->plen;
  size_t room = sizeof c->path - 1;
  if (c->plen < room)
    c->path[c->plen++] = '/';
  for (const char *p = seg; *p && c->plen < room; p++) {
    if (p - seg >= 64) { /* long keys: enough to recognise them */
      for (const char *d = "..."; *d && c->plen < room; d++)
        c->path[c->plen++] = *d;
      break;
    }
    if (*p == '~' || *p == '/') {
      if (c->plen + 2 > room)
        break;
      c->path[c->plen++] = '~';
      c->path[c->plen++] = *p == '~' ? '0' : '1';
    } else {
      c->path[c->plen++] = *p;
    }
  }
  c->path[c->plen] = '\0';
  return old;
}

static size_t path_push_index(pctx *c, size_t i) {
  char num[24];
  snprintf(num, sizeof num, "%zu", i);
  return path_push(c, num);
}

static void path_pop(pctx *c, size_t old) {
  c->plen = old;
  c->path[old] = '\0';
}

static int fail(pctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(pctx *c, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  xsr__errf(c->err, c->errlen, "%s: %s: %s", c->name, c->plen ? c->path : "/", msg);
  return -1;
}

static int oom(pctx *c) { return fail(c, "out of memory"); }

static const char *type_name(yajl_val v) {
  switch (v->type) {
  case yajl_t_string:
    return "a string";
  case yajl_t_number:
    return "a number";
  case yajl_t_object:
    return "an object";
  case yajl_t_array:
    return "an array";
  case yajl_t_true:
  case yajl_t_false:
    return "a boolean";
  case yajl_t_null:
    return "null";
  default:
    return "a value";
  }
}

/* Finds the value of `key` in object `obj`; a key given twice is an error
 * (returned as -1 after the message); absent gives 0 and *out NULL. */
static int get_key(pctx *c, yajl_val obj, const char *key, yajl_val *out) {
  *out = NULL;
  for (size_t i = 0; i < obj->u.object.len; i++) {
    if (strcmp(obj->u.object.keys[i], key) == 0) {
      if (*out)
        return fail(c, "key \"%s\" given twice", key);
      *out = obj->u.object.values[i];
    }
  }
  return 0;
}

/* Every key of `obj` must be one of the NULL-terminated `allowed`. */
static int only_keys(pctx *c, yajl_val obj, const char *const *allowed) {
  for (size_t i = 0; i < obj->u.object.len; i++) {
    const char *const *a = allowed;
    while (*a && strcmp(*a, obj->u.object.keys[i]) != 0)
      a++;
    if (!*a)
      return fail(c, "unknown key \"%s\"", obj->u.object.keys[i]);
  }
  return 0;
}

/* Required (or optional, when `required` is 0) member of a given type. */
static int member(pctx *c, yajl_val obj, const char *key, yajl_type type, int required,
                  yajl_val *out) {
  if (get_key(c, obj, key, out) < 0)
    return -1;
  if (!*out)
    return required ? fail(c, "missing \"%s\"", key) : 0;
  if ((*out)->type != type) {
    static const char *const want[] = {"", "a string", "a number", "an object", "an array"};
    size_t old = path_push(c, key);
    fail(c, "must be %s, not %s", type < 5 ? want[type] : "?", type_name(*out));
    path_pop(c, old);
    return -1;
  }
  return 0;
}

static int read_b64(pctx *c, yajl_val obj, const char *key, unsigned char *out, size_t min,
                    size_t max, size_t *outlen) {
  yajl_val v;
  unsigned char
      tmp[XSR__USERS_SALT_MAX > XSR__USERS_KEY_MAX ? XSR__USERS_SALT_MAX : XSR__USERS_KEY_MAX];
  size_t n;
  if (member(c, obj, key, yajl_t_string, 1, &v) < 0)
    return -1;
  size_t old = path_push(c, key);
  const char *s = v->u.string;
  size_t len = strlen(s);
  if (xsr__b64_decode(s, len, tmp, sizeof tmp, &n) < 0) {
    if (len % 4 == 0 && xsr__b64_decoded_max(len) > sizeof tmp)
      return fail(c, "too long (at most %zu bytes)", max);
    return fail(c, "not valid base64");
  }
  if (n < min || n > max) {
    if (min == max)
      return fail(c, "must decode to %zu bytes, not %zu", min, n);
    return fail(c, "must decode to %zu..%zu bytes, not %zu", min, max, n);
  }
  memcpy(out, tmp, n);
  *outlen = n;
  path_pop(c, old);
  return 0;
}

static int read_cred(pctx *c, yajl_val obj, xsr__scram_hash h, xsr__scram_cred *cred) {
  static const char *const keys[] = {"salt", "iterations", "stored-key", "server-key", NULL};
  size_t klen = xsr__scram_key_len(h), n;
  yajl_val it;
  if (only_keys(c, obj, keys) < 0)
    return -1;
  if (read_b64(c, obj, "salt", cred->salt, 1, XSR__USERS_SALT_MAX, &cred->salt_len) < 0 ||
      read_b64(c, obj, "stored-key", cred->stored_key, klen, klen, &n) < 0 ||
      read_b64(c, obj, "server-key", cred->server_key, klen, klen, &n) < 0)
    return -1;
  if (member(c, obj, "iterations", yajl_t_number, 1, &it) < 0)
    return -1;
  size_t old = path_push(c, "iterations");
  if (!YAJL_IS_INTEGER(it))
    return fail(c, "must be an integer, not %s", it->u.number.r ? it->u.number.r : "?");
  long long iters = YAJL_GET_INTEGER(it);
  if (iters < XSR__USERS_ITER_MIN || iters > XSR__USERS_ITER_MAX)
    return fail(c, "%lld is outside %u..%u", iters, XSR__USERS_ITER_MIN, XSR__USERS_ITER_MAX);
  path_pop(c, old);
  cred->iterations = (uint32_t)iters;
  cred->present = 1;
  return 0;
}

/* A bare JID in canonical form, copied into the arena. */
static int read_bare_jid(pctx *c, const char *s, const char **out) {
  char buf[XSR_JID_MAX];
  xsr_jid j;
  xsr_jid_error e;
  xsr_err rc = xsr_jid_parse(s, strlen(s), buf, sizeof buf, &j, &e);
  if (rc != XSR_OK)
    return fail(c, "\"%.100s\" is not a valid JID: %s (%s at byte %zu)", s, xsr_err_message(rc),
                xsr_jid_part_name(e.part), e.offset);
  if (j.resource.ptr)
    return fail(c, "\"%.100s\" must be a bare JID (no resource)", s);
  xsr_span b = xsr_jid_bare(&j);
  if (!(*out = arena_strndup(c->u, b.ptr, b.len)))
    return oom(c);
  return 0;
}

static int read_roster_item(pctx *c, yajl_val v, xsr__roster_item *item) {
  static const char *const keys[] = {"jid", "name", "groups", "subscription", NULL};
  yajl_val jid, name, groups, sub;
  memset(item, 0, sizeof *item);
  if (v->type != yajl_t_object)
    return fail(c, "must be an object, not %s", type_name(v));
  if (only_keys(c, v, keys) < 0 || member(c, v, "jid", yajl_t_string, 1, &jid) < 0 ||
      member(c, v, "name", yajl_t_string, 0, &name) < 0 ||
      member(c, v, "groups", yajl_t_array, 0, &groups) < 0 ||
      member(c, v, "subscription", yajl_t_string, 0, &sub) < 0)
    return -1;
  size_t old = path_push(c, "jid");
  if (read_bare_jid(c, jid->u.string, &item->jid) < 0)
    return -1;
  path_pop(c, old);
  if (name) {
    size_t len = strlen(name->u.string);
    old = path_push(c, "name");
    if (len > XSR_JID_PART_MAX)
      return fail(c, "longer than %u bytes", XSR_JID_PART_MAX);
    if (!(item->name = arena_strndup(c->u, name->u.string, len)))
      return oom(c);
    path_pop(c, old);
  }
  if (sub) {
    static const xsr__subscription all[] = {XSR__SUB_BOTH, XSR__SUB_NONE, XSR__SUB_TO,
                                            XSR__SUB_FROM};
    size_t i = 0;
    while (i < 4 && strcmp(sub->u.string, xsr__subscription_name(all[i])) != 0)
      i++;
    if (i == 4) {
      old = path_push(c, "subscription");
      return fail(c, "\"%.40s\" is not one of none, to, from, both", sub->u.string);
    }
    item->subscription = all[i];
  }
  if (groups && groups->u.array.len > 0) {
    size_t ng = groups->u.array.len;
    const char **g = arena_alloc(c->u, ng * sizeof *g);
    if (!g)
      return oom(c);
    old = path_push(c, "groups");
    for (size_t i = 0; i < ng; i++) {
      yajl_val gv = groups->u.array.values[i];
      size_t o2 = path_push_index(c, i);
      if (gv->type != yajl_t_string)
        return fail(c, "must be a string, not %s", type_name(gv));
      size_t len = strlen(gv->u.string);
      if (len == 0 || len > XSR_JID_PART_MAX)
        return fail(c, "a group name must be 1..%u bytes long", XSR_JID_PART_MAX);
      if (!(g[i] = arena_strndup(c->u, gv->u.string, len)))
        return oom(c);
      path_pop(c, o2);
    }
    path_pop(c, old);
    item->groups = g;
    item->ngroups = ng;
  }
  return 0;
}

static int read_account(pctx *c, const char *key, yajl_val v) {
  static const char *const keys[] = {"scram-sha-1", "scram-sha-256", "roster", NULL};
  char buf[XSR_JID_MAX];
  xsr_span local;
  xsr__account *a;
  yajl_val roster;
  xsr_err rc = canon_local(c->u->domain, c->u->domain_len, key, strlen(key), buf, &local);
  if (rc == XSR_EJIDLONG)
    return fail(c, "the localpart is longer than %u bytes (once normalised)", XSR_JID_PART_MAX);
  if (rc != XSR_OK)
    return fail(c, "not a valid localpart: %s", xsr_err_message(rc));
  if (v->type != yajl_t_object)
    return fail(c, "must be an object, not %s", type_name(v));
  if (only_keys(c, v, keys) < 0)
    return -1;
  if (!(a = append_account(c->u)))
    return oom(c);
  if (!(a->local = arena_strndup(c->u, local.ptr, local.len)))
    return oom(c);
  a->local_len = local.len;
  for (int h = 0; h < XSR__SCRAM_NHASH; h++) {
    yajl_val cv;
    if (member(c, v, xsr__scram_file_key(h), yajl_t_object, 0, &cv) < 0)
      return -1;
    if (cv) {
      size_t old = path_push(c, xsr__scram_file_key(h));
      if (read_cred(c, cv, h, &a->cred[h]) < 0)
        return -1;
      path_pop(c, old);
    }
  }
  if (!a->cred[XSR__SCRAM_SHA1].present && !a->cred[XSR__SCRAM_SHA256].present)
    return fail(c, "no credentials (needs \"scram-sha-1\" or \"scram-sha-256\")");
  if (member(c, v, "roster", yajl_t_array, 0, &roster) < 0)
    return -1;
  if (roster && roster->u.array.len > 0) {
    size_t n = roster->u.array.len;
    xsr__roster_item *items = arena_alloc(c->u, n * sizeof *items);
    if (!items)
      return oom(c);
    size_t old = path_push(c, "roster");
    for (size_t i = 0; i < n; i++) {
      size_t o2 = path_push_index(c, i);
      if (read_roster_item(c, roster->u.array.values[i], &items[i]) < 0)
        return -1;
      for (size_t k = 0; k < i; k++)
        if (strcmp(items[k].jid, items[i].jid) == 0)
          return fail(c, "\"%.100s\" is already in the roster (item %zu)", items[i].jid, k);
      path_pop(c, o2);
    }
    path_pop(c, old);
    a->roster = items;
    a->nroster = n;
  }
  return 0;
}

static int set_domain(xsr__users *u, const char *s, size_t len, char *msg, size_t msglen) {
  char buf[XSR_JID_MAX];
  xsr_jid j;
  xsr_jid_error e;
  xsr_err rc = xsr_jid_parse(s, len, buf, sizeof buf, &j, &e);
  if (rc != XSR_OK) {
    xsr__errf(msg, msglen, "\"%.100s\" is not a valid domain: %s (byte %zu)", s,
              xsr_err_message(rc), e.offset);
    return -1;
  }
  if (j.local.ptr || j.resource.ptr) {
    xsr__errf(msg, msglen, "\"%.100s\" is not a domain (it has a local or resource part)", s);
    return -1;
  }
  if (!(u->domain = arena_strndup(u, j.domain.ptr, j.domain.len))) {
    xsr__errf(msg, msglen, "out of memory");
    return -1;
  }
  u->domain_len = j.domain.len;
  return 0;
}

/* Reads the accounts of host c->u (its domain set) from `users`, the value
 * at the current path, and indexes them. */
static int read_users(pctx *c, yajl_val users) {
  for (size_t i = 0; i < users->u.object.len; i++) {
    size_t o2 = path_push(c, users->u.object.keys[i]);
    if (read_account(c, users->u.object.keys[i], users->u.object.values[i]) < 0)
      return -1;
    path_pop(c, o2);
  }
  char msg[600];
  msg[0] = '\0';
  int f = finish(c->u, msg, sizeof msg);
  if (f == -1)
    return fail(c, "%s", msg);
  if (f < 0)
    return oom(c);
  return 0;
}

static int read_v1(pctx *c, yajl_val root) {
  static const char *const keys[] = {"version", "domain", "users", NULL};
  yajl_val domain, users;
  char msg[256];
  if (only_keys(c, root, keys) < 0 || member(c, root, "domain", yajl_t_string, 1, &domain) < 0 ||
      member(c, root, "users", yajl_t_object, 1, &users) < 0)
    return -1;
  if (!(c->u = host_new(c->file)))
    return oom(c);
  size_t old = path_push(c, "domain");
  if (set_domain(c->u, domain->u.string, strlen(domain->u.string), msg, sizeof msg) < 0)
    return fail(c, "%s", msg);
  path_pop(c, old);
  old = path_push(c, "users");
  if (read_users(c, users) < 0)
    return -1;
  path_pop(c, old);
  return 0;
}

static int read_v2(pctx *c, yajl_val root) {
  static const char *const keys[] = {"version", "domains", NULL};
  static const char *const dkeys[] = {"users", NULL};
  yajl_val domains;
  char msg[256];
  if (only_keys(c, root, keys) < 0 || member(c, root, "domains", yajl_t_object, 1, &domains) < 0)
    return -1;
  size_t old = path_push(c, "domains");
  if (domains->u.object.len == 0)
    return fail(c, "names no domain (a file holds at least one)");
  for (size_t i = 0; i < domains->u.object.len; i++) {
    const char *key = domains->u.object.keys[i];
    yajl_val d = domains->u.object.values[i], users;
    size_t o2 = path_push(c, key);
    if (d->type != yajl_t_object)
      return fail(c, "must be an object, not %s", type_name(d));
    if (!(c->u = host_new(c->file)))
      return oom(c);
    if (set_domain(c->u, key, strlen(key), msg, sizeof msg) < 0)
      return fail(c, "%s", msg);
    for (size_t k = 0; k + 1 < c->file->nhosts; k++)
      if (strcmp(c->file->hosts[k]->domain, c->u->domain) == 0)
        return fail(c, "names the domain %s again (domains are compared in canonical form)",
                    c->u->domain);
    if (only_keys(c, d, dkeys) < 0 || member(c, d, "users", yajl_t_object, 1, &users) < 0)
      return -1;
    size_t o3 = path_push(c, "users");
    if (read_users(c, users) < 0)
      return -1;
    path_pop(c, o3);
    path_pop(c, o2);
  }
  path_pop(c, old);
  return 0;
}

static int read_doc(pctx *c, yajl_val root) {
  yajl_val version;
  if (root->type != yajl_t_object)
    return fail(c, "the document must be an object, not %s", type_name(root));
  if (member(c, root, "version", yajl_t_number, 1, &version) < 0)
    return -1;
  long long v = YAJL_IS_INTEGER(version) ? YAJL_GET_INTEGER(version) : 0;
  if (v != 1 && v != 2) {
    size_t old = path_push(c, "version");
    fail(c, "unsupported version %s (this xsr-router reads versions 1 and 2)",
         version->u.number.r ? version->u.number.r : "?");
    path_pop(c, old);
    return -1;
  }
  c->file->version = (int)v;
  if (v == 1 ? read_v1(c, root) < 0 : read_v2(c, root) < 0)
    return -1;
  if (c->file->nhosts > 1)
    qsort(c->file->hosts, c->file->nhosts, sizeof *c->file->hosts, cmp_host);
  return 0;
}

/* An escaped NUL inside a string: a backslash run of odd length before
 * "u0000".  (Outside strings valid JSON has no backslashes.) */
static const char *find_escaped_nul(const char *s, size_t len) {
  for (const char *p = s; (p = memchr(p, '\\', (size_t)(s + len - p))) != NULL;) {
    size_t run = 0;
    while (p + run < s + len && p[run] == '\\')
      run++;
    const char *q = p + run;
    if ((run & 1) && s + len - q >= 5 && q[0] == 'u' && memcmp(q + 1, "0000", 4) == 0)
      return q - 1;
    p = q;
  }
  return NULL;
}

/* Line and column (1-based, columns in bytes) of offset `off`. */
static void line_col(const char *s, size_t off, size_t *line, size_t *col) {
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < off; i++) {
    if (s[i] == '\n') {
      ++*line;
      *col = 1;
    } else {
      ++*col;
    }
  }
}

/* Says where and why yajl rejects s[0..len): the tree API gives the reason
 * but not the position, so the document is parsed once more with a bare
 * handle, configured as yajl_tree_parse configures its own. */
static void json_error(const char *name, const char *s, size_t len, char *err, size_t errlen) {
  yajl_handle h = yajl_alloc(NULL, NULL, NULL);
  size_t line = 0, col = 0;
  char why[200] = "invalid JSON";
  if (h) {
    yajl_config(h, yajl_allow_comments, 1);
    yajl_status st = yajl_parse(h, (const unsigned char *)s, len);
    size_t off = yajl_get_bytes_consumed(h);
    if (st == yajl_status_ok) {
      st = yajl_complete_parse(h);
      off = len;
    }
    if (st != yajl_status_ok) {
      unsigned char *e = yajl_get_error(h, 0, (const unsigned char *)s, len);
      if (e) {
        snprintf(why, sizeof why, "%s", (const char *)e);
        why[strcspn(why, "\r\n")] = '\0';
        yajl_free_error(h, e);
      }
      line_col(s, off < len ? off : len, &line, &col);
    }
    yajl_free(h);
  }
  if (line)
    xsr__errf(err, errlen, "%s:%zu:%zu: invalid JSON: %s", name, line, col, why);
  else
    xsr__errf(err, errlen, "%s: invalid JSON: %s", name, why);
}

int xsr__users_parse(const char *name, const char *json, size_t len, xsr__users **out, char *err,
                     size_t errlen) {
  pctx c = {.name = name, .err = err, .errlen = errlen};
  char yerr[256];
  char *text = NULL;
  yajl_val root = NULL;
  int rc = -1;
  *out = NULL;
  if (len > XSR__USERS_FILE_MAX) {
    xsr__errf(err, errlen, "%s: %zu bytes, more than the limit of %zu", name, len,
              XSR__USERS_FILE_MAX);
    return -1;
  }
  if (memchr(json, '\0', len)) {
    xsr__errf(err, errlen, "%s: contains a NUL byte at offset %zu", name,
              (size_t)((const char *)memchr(json, '\0', len) - json));
    return -1;
  }
  const char *nul = find_escaped_nul(json, len);
  if (nul) {
    size_t line, col;
    line_col(json, (size_t)(nul - json), &line, &col);
    xsr__errf(err, errlen, "%s:%zu:%zu: the escape \\u0000 (NUL) is not allowed", name, line, col);
    return -1;
  }
  if (!(text = malloc(len + 1))) {
    xsr__errf(err, errlen, "%s: out of memory", name);
    return -1;
  }
  memcpy(text, json, len);
  text[len] = '\0';
  yerr[0] = '\0';
  root = yajl_tree_parse(text, yerr, sizeof yerr);
  if (!root) {
    json_error(name, text, len, err, errlen);
    goto out;
  }
  if (!(c.file = file_new())) {
    xsr__errf(err, errlen, "%s: out of memory", name);
    goto out;
  }
  if (read_doc(&c, root) < 0)
    goto out;
  *out = c.file->hosts[0];
  c.file = NULL;
  rc = 0;
out:
  if (c.file)
    file_free(c.file);
  if (root)
    yajl_tree_free(root);
  free(text);
  return rc;
}

/* Reads the whole file.  *missing is set when it does not exist. */
static int read_file(const char *path, char **data, size_t *len, int *missing, char *err,
                     size_t errlen) {
  struct stat st;
  *data = NULL;
  *len = 0;
  *missing = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *missing = errno == ENOENT;
    xsr__errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  if (fstat(fd, &st) < 0) {
    xsr__errf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    xsr__errf(err, errlen, "%s: not a regular file", path);
    close(fd);
    return -1;
  }
  if ((uintmax_t)st.st_size > XSR__USERS_FILE_MAX) {
    xsr__errf(err, errlen, "%s: %jd bytes, more than the limit of %zu (64 MiB)", path,
              (intmax_t)st.st_size, XSR__USERS_FILE_MAX);
    close(fd);
    return -1;
  }
  /* One byte more than the size, to notice a file that grew meanwhile. */
  size_t cap = (size_t)st.st_size + 1, n = 0;
  char *buf = malloc(cap);
  if (!buf) {
    xsr__errf(err, errlen, "%s: out of memory", path);
    close(fd);
    return -1;
  }
  for (;;) {
    if (n == cap) {
      if (cap > XSR__USERS_FILE_MAX) {
        xsr__errf(err, errlen, "%s: more than the limit of %zu bytes", path, XSR__USERS_FILE_MAX);
        free(buf);
        close(fd);
        return -1;
      }
      size_t ncap = cap * 2 > XSR__USERS_FILE_MAX + 1 ? XSR__USERS_FILE_MAX + 1 : cap * 2;
      char *nb = realloc(buf, ncap);
      if (!nb) {
        xsr__errf(err, errlen, "%s: out of memory", path);
        free(buf);
        close(fd);
        return -1;
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      xsr__errf(err, errlen, "%s: read error: %s", path, strerror(errno));
      free(buf);
      close(fd);
      return -1;
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  close(fd);
  *data = buf;
  *len = n;
  return 0;
}

int xsr__users_load(const char *path, xsr__users **out, char *err, size_t errlen) {
  char *data;
  size_t len;
  int missing;
  *out = NULL;
  if (read_file(path, &data, &len, &missing, err, errlen) < 0)
    return -1;
  int rc = xsr__users_parse(path, data, len, out, err, errlen);
  free(data);
  return rc;
}

/* ---- saving ------------------------------------------------------------- */

static int gen_str(yajl_gen g, const char *s) {
  return yajl_gen_string(g, (const unsigned char *)s, strlen(s)) != yajl_gen_status_ok;
}

static int gen_b64(yajl_gen g, const unsigned char *p, size_t n) {
  char b64[((XSR__USERS_SALT_MAX + 2) / 3) * 4 + 1];
  size_t len = xsr__b64_encode(p, n, b64);
  return yajl_gen_string(g, (const unsigned char *)b64, len) != yajl_gen_status_ok;
}

static int gen_account(yajl_gen g, const xsr__account *a) {
  int bad = 0;
  bad |= yajl_gen_string(g, (const unsigned char *)a->local, a->local_len) != yajl_gen_status_ok;
  bad |= yajl_gen_map_open(g) != yajl_gen_status_ok;
  for (int h = 0; h < XSR__SCRAM_NHASH; h++) {
    const xsr__scram_cred *cr = &a->cred[h];
    size_t klen = xsr__scram_key_len(h);
    if (!cr->present)
      continue;
    bad |= gen_str(g, xsr__scram_file_key(h));
    bad |= yajl_gen_map_open(g) != yajl_gen_status_ok;
    bad |= gen_str(g, "salt") | gen_b64(g, cr->salt, cr->salt_len);
    bad |= gen_str(g, "iterations");
    bad |= yajl_gen_integer(g, cr->iterations) != yajl_gen_status_ok;
    bad |= gen_str(g, "stored-key") | gen_b64(g, cr->stored_key, klen);
    bad |= gen_str(g, "server-key") | gen_b64(g, cr->server_key, klen);
    bad |= yajl_gen_map_close(g) != yajl_gen_status_ok;
  }
  if (a->nroster > 0) {
    bad |= gen_str(g, "roster");
    bad |= yajl_gen_array_open(g) != yajl_gen_status_ok;
    for (size_t i = 0; i < a->nroster; i++) {
      const xsr__roster_item *it = &a->roster[i];
      bad |= yajl_gen_map_open(g) != yajl_gen_status_ok;
      bad |= gen_str(g, "jid") | gen_str(g, it->jid);
      if (it->name)
        bad |= gen_str(g, "name") | gen_str(g, it->name);
      if (it->ngroups > 0) {
        bad |= gen_str(g, "groups");
        bad |= yajl_gen_array_open(g) != yajl_gen_status_ok;
        for (size_t k = 0; k < it->ngroups; k++)
          bad |= gen_str(g, it->groups[k]);
        bad |= yajl_gen_array_close(g) != yajl_gen_status_ok;
      }
      if (it->subscription != XSR__SUB_BOTH)
        bad |= gen_str(g, "subscription") | gen_str(g, xsr__subscription_name(it->subscription));
      bad |= yajl_gen_map_close(g) != yajl_gen_status_ok;
    }
    bad |= yajl_gen_array_close(g) != yajl_gen_status_ok;
  }
  bad |= yajl_gen_map_close(g) != yajl_gen_status_ok;
  return bad;
}

/* "users": {...} of one host, accounts in the order finish() sorted them. */
static int gen_users(yajl_gen g, const xsr__users *u) {
  int bad = gen_str(g, "users");
  bad |= yajl_gen_map_open(g) != yajl_gen_status_ok;
  for (size_t i = 0; i < u->n; i++)
    bad |= gen_account(g, &u->acct[i]);
  bad |= yajl_gen_map_close(g) != yajl_gen_status_ok;
  return bad;
}

/* Writes data[0..len) to path through a temporary file beside it. */
static int write_atomic(const char *path, const unsigned char *data, size_t len, char *err,
                        size_t errlen) {
  size_t plen = strlen(path);
  char *tmp = malloc(plen + sizeof ".tmp.XXXXXX");
  int fd = -1;
  if (!tmp) {
    xsr__errf(err, errlen, "%s: out of memory", path);
    return -1;
  }
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
  fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
  if (fd < 0) {
    xsr__errf(err, errlen, "%s: cannot create a temporary file beside it: %s", path,
              strerror(errno));
    free(tmp);
    return -1;
  }
  const char *what = NULL;
  if (fchmod(fd, 0600) < 0)
    what = "chmod";
  for (size_t off = 0; !what && off < len;) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      if (w == 0)
        errno = EIO;
      what = "write";
      break;
    }
    off += (size_t)w;
  }
  if (!what && fsync(fd) < 0)
    what = "fsync";
  int saved = errno;
  if (close(fd) < 0 && !what) {
    what = "close";
    saved = errno;
  }
  if (!what && rename(tmp, path) < 0) {
    what = "rename";
    saved = errno;
  }
  if (what) {
    unlink(tmp);
    xsr__errf(err, errlen, "%s: cannot write (%s of %s failed: %s); the file is unchanged", path,
              what, tmp, strerror(saved));
    free(tmp);
    return -1;
  }
  free(tmp);
  /* Make the rename itself durable. */
  char *dir = strdup(path);
  if (dir) {
    char *slash = strrchr(dir, '/');
    const char *d = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
    int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)fsync(dfd);
      close(dfd);
    }
    free(dir);
  }
  return 0;
}

int xsr__users_save(const xsr__users *u, const char *path, char *err, size_t errlen) {
  yajl_gen g = yajl_gen_alloc(NULL);
  const unsigned char *buf;
  size_t len;
  int bad = 0;
  if (!g) {
    xsr__errf(err, errlen, "%s: out of memory", path);
    return -1;
  }
  yajl_gen_config(g, yajl_gen_beautify, 1);
  yajl_gen_config(g, yajl_gen_indent_string, "  ");
  yajl_gen_config(g, yajl_gen_validate_utf8, 1);
  const users_file *f = u->file;
  int version = f->nhosts > 1 ? 2 : f->version;
  bad |= yajl_gen_map_open(g) != yajl_gen_status_ok;
  bad |= gen_str(g, "version");
  bad |= yajl_gen_integer(g, version) != yajl_gen_status_ok;
  if (version == 1) {
    bad |= gen_str(g, "domain") | gen_str(g, f->hosts[0]->domain);
    bad |= gen_users(g, f->hosts[0]);
  } else {
    bad |= gen_str(g, "domains");
    bad |= yajl_gen_map_open(g) != yajl_gen_status_ok;
    for (size_t i = 0; i < f->nhosts; i++) { /* sorted by domain */
      bad |= gen_str(g, f->hosts[i]->domain);
      bad |= yajl_gen_map_open(g) != yajl_gen_status_ok;
      bad |= gen_users(g, f->hosts[i]);
      bad |= yajl_gen_map_close(g) != yajl_gen_status_ok;
    }
    bad |= yajl_gen_map_close(g) != yajl_gen_status_ok;
  }
  bad |= yajl_gen_map_close(g) != yajl_gen_status_ok;
  if (bad || yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
    xsr__errf(err, errlen, "%s: cannot serialise the table (out of memory or invalid UTF-8)", path);
    yajl_gen_free(g);
    return -1;
  }
  int rc = write_atomic(path, buf, len, err, errlen);
  yajl_gen_free(g);
  return rc;
}

/* ---- adding an account -------------------------------------------------- */

static const Gsasl_hash gsasl_hash_of[XSR__SCRAM_NHASH] = {GSASL_HASH_SHA1, GSASL_HASH_SHA256};

int xsr__users_add(const char *path, const char *jid, size_t jid_len, const char *password,
                   size_t password_len, char *err, size_t errlen) {
  char jbuf[XSR_JID_MAX], msg[300];
  xsr_jid j;
  xsr_jid_error je;
  xsr__users *file = NULL, *u = NULL; /* the file (one of its hosts), the JID's host */
  users_file *f = NULL;               /* a new file, while `file` is NULL */
  xsr__scram_cred cred[XSR__SCRAM_NHASH];
  char *pw = NULL, *prepped = NULL;
  int rc = -1;

  memset(cred, 0, sizeof cred);
  xsr_err jrc = xsr_jid_parse(jid, jid_len, jbuf, sizeof jbuf, &j, &je);
  if (jrc != XSR_OK) {
    xsr__errf(err, errlen, "%.*s: not a valid JID: %s (%s at byte %zu)",
              (int)(jid_len > 200 ? 200 : jid_len), jid, xsr_err_message(jrc),
              xsr_jid_part_name(je.part), je.offset);
    return -1;
  }
  if (!j.local.ptr || j.resource.ptr) {
    xsr__errf(err, errlen, "%.*s: an account is localpart@domain, without a resource",
              (int)(jid_len > 200 ? 200 : jid_len), jid);
    return -1;
  }
  if (password_len == 0 || password_len > XSR__USERS_PASSWORD_MAX ||
      memchr(password, '\0', password_len)) {
    xsr__errf(err, errlen, "the password must be 1..%u bytes long, without NUL bytes",
              XSR__USERS_PASSWORD_MAX);
    return -1;
  }

  /* The existing file, or a new one; then the JID's domain in it. */
  {
    char *data;
    size_t len;
    int missing;
    if (read_file(path, &data, &len, &missing, err, errlen) == 0) {
      int prc = xsr__users_parse(path, data, len, &file, err, errlen);
      free(data);
      if (prc < 0)
        return -1; /* a broken file is reported, never overwritten */
    } else if (!missing) {
      return -1;
    }
  }
  if (file) {
    u = (xsr__users *)xsr__users_host(file, j.domain.ptr, j.domain.len);
  } else if (!(f = file_new())) {
    xsr__errf(err, errlen, "%s: out of memory", path);
    goto out;
  }
  if (!u) {
    users_file *into = file ? file->file : f;
    if (!(u = host_new(into)) || set_domain(u, j.domain.ptr, j.domain.len, msg, sizeof msg) < 0) {
      xsr__errf(err, errlen, "%s: %s", path, u ? msg : "out of memory");
      goto out;
    }
    if (into->nhosts > 1)
      qsort(into->hosts, into->nhosts, sizeof *into->hosts, cmp_host);
  }

  /* Credentials: SASLprep once here, so the stored keys match what a client
   * derives whether or not its library prepares the password again. */
  if (!(pw = malloc(password_len + 1))) {
    xsr__errf(err, errlen, "out of memory");
    goto out;
  }
  memcpy(pw, password, password_len);
  pw[password_len] = '\0';
  int grc = gsasl_saslprep(pw, 0, &prepped, NULL);
  if (grc != GSASL_OK || !prepped || !*prepped) {
    xsr__errf(err, errlen, "the password is not valid UTF-8 text (SASLprep, RFC 4013): %s",
              grc != GSASL_OK ? gsasl_strerror(grc) : "empty once prepared");
    goto out;
  }
  for (int h = 0; h < XSR__SCRAM_NHASH; h++) {
    char salted[GSASL_HASH_MAX_SIZE], client_key[GSASL_HASH_MAX_SIZE];
    char server_key[GSASL_HASH_MAX_SIZE], stored_key[GSASL_HASH_MAX_SIZE];
    cred[h].present = 1;
    cred[h].iterations = XSR__USERS_ITERATIONS;
    cred[h].salt_len = XSR__USERS_SALT_LEN;
    if (fill_random(cred[h].salt, XSR__USERS_SALT_LEN) < 0) {
      xsr__errf(err, errlen, "getrandom: %s", strerror(errno));
      goto out;
    }
    grc = gsasl_scram_secrets_from_password(gsasl_hash_of[h], prepped, XSR__USERS_ITERATIONS,
                                            (const char *)cred[h].salt, XSR__USERS_SALT_LEN, salted,
                                            client_key, server_key, stored_key);
    if (grc != GSASL_OK) {
      xsr__errf(err, errlen, "deriving SCRAM credentials failed: %s", gsasl_strerror(grc));
      goto out;
    }
    memcpy(cred[h].stored_key, stored_key, xsr__scram_key_len(h));
    memcpy(cred[h].server_key, server_key, xsr__scram_key_len(h));
    explicit_bzero(salted, sizeof salted);
    explicit_bzero(client_key, sizeof client_key);
  }

  xsr__account *a = NULL;
  for (size_t i = 0; i < u->n; i++)
    if (u->acct[i].local_len == j.local.len &&
        memcmp(u->acct[i].local, j.local.ptr, j.local.len) == 0)
      a = &u->acct[i];
  if (!a) {
    if (!(a = append_account(u)) || !(a->local = arena_strndup(u, j.local.ptr, j.local.len))) {
      xsr__errf(err, errlen, "out of memory");
      goto out;
    }
    a->local_len = j.local.len;
  }
  memcpy(a->cred, cred, sizeof cred);
  msg[0] = '\0';
  if (finish(u, msg, sizeof msg) < 0) {
    xsr__errf(err, errlen, "%s: %s", path, msg[0] ? msg : "out of memory");
    goto out;
  }
  rc = xsr__users_save(u, path, err, errlen);
out:
  if (f)
    file_free(f);
  explicit_bzero(cred, sizeof cred);
  if (pw) {
    explicit_bzero(pw, password_len);
    free(pw);
  }
  if (prepped) {
    explicit_bzero(prepped, strlen(prepped));
    gsasl_free(prepped);
  }
  xsr__users_free(file);
  return rc;
}
