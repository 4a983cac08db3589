/* SPDX-License-Identifier: MIT */
/*
 * Conformance cases: loading tests/cases/<name>.{xml,events} and replaying
 * them through the parser in every chunking, both ways in, with and without
 * pausing.  The format is described in tests/cases/README.md.
 *
 * Besides the event log itself, each replay checks the parts of the contract
 * that a log cannot show: stanza views point at exactly the bytes fed, the
 * error offset never exceeds the bytes fed, an error is sticky (same code,
 * same offset, no more events), xsr_parser_buffer() refuses after an error,
 * and the parser's byte counters add up.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsr_test.h"

const char *xt_cases_dir(void) {
  const char *d = getenv("XSR_TEST_CASES");
  return d && *d ? d : "tests/cases";
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t xt_case_list(const char *dir, char ***names) {
  DIR *d = opendir(dir);
  size_t n = 0, cap = 0;
  char **v = NULL;
  *names = NULL;
  if (!d)
    return 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l <= 4 || strcmp(e->d_name + l - 4, ".xml") != 0)
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%.*s.events", dir, (int)(l - 4), e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f)
      continue;
    fclose(f);
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      v = realloc(v, cap * sizeof *v);
      if (!v)
        abort();
    }
    v[n] = malloc(l - 3);
    if (!v[n])
      abort();
    memcpy(v[n], e->d_name, l - 4);
    v[n][l - 4] = '\0';
    n++;
  }
  closedir(d);
  if (n)
    qsort(v, n, sizeof *v, cmp_str);
  *names = v;
  return n;
}

void xt_case_list_free(char **names, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

static int read_file(const char *path, unsigned char **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return -1;
  size_t cap = 4096, n = 0;
  unsigned char *p = malloc(cap + 1);
  if (!p)
    abort();
  for (;;) {
    if (n == cap) {
      cap *= 2;
      p = realloc(p, cap + 1);
      if (!p)
        abort();
    }
    size_t r = fread(p + n, 1, cap - n, f);
    n += r;
    if (r == 0)
      break;
  }
  fclose(f);
  p[n] = '\0';
  *data = p;
  *len = n;
  return 0;
}

static int parse_config(char *line, xt_case *c, tbuf *err) {
  char *save = NULL;
  for (char *tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
    if (strcmp(tok, "config") == 0)
      continue;
    if (strcmp(tok, "restart") == 0) {
      c->restart = 1;
      continue;
    }
    char *eq = strchr(tok, '=');
    if (!eq) {
      tbuf_printf(err, "%s: bad config token '%s'\n", c->name, tok);
      return -1;
    }
    *eq = '\0';
    const char *k = tok, *v = eq + 1;
    if (strcmp(k, "accept") == 0) {
      unsigned bits = 0;
      char vb[128];
      snprintf(vb, sizeof vb, "%s", v);
      char *s2 = NULL;
      for (char *a = strtok_r(vb, ",", &s2); a; a = strtok_r(NULL, ",", &s2)) {
        if (strcmp(a, "client") == 0)
          bits |= XSR_ACCEPT_CLIENT;
        else if (strcmp(a, "server") == 0)
          bits |= XSR_ACCEPT_SERVER;
        else if (strcmp(a, "component") == 0)
          bits |= XSR_ACCEPT_COMPONENT;
        else {
          tbuf_printf(err, "%s: bad accept value '%s'\n", c->name, a);
          return -1;
        }
      }
      c->cfg.accept = bits;
      continue;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || !end || *end) {
      tbuf_printf(err, "%s: bad number in config %s=%s\n", c->name, k, v);
      return -1;
    }
    if (strcmp(k, "max_stanza") == 0)
      c->cfg.max_stanza = (size_t)n;
    else if (strcmp(k, "max_depth") == 0)
      c->cfg.max_depth = (unsigned)n;
    else if (strcmp(k, "max_attrs") == 0)
      c->cfg.max_attrs = (unsigned)n;
    else if (strcmp(k, "max_name") == 0)
      c->cfg.max_name = (unsigned)n;
    else if (strcmp(k, "max_ns_decls") == 0)
      c->cfg.max_ns_decls = (unsigned)n;
    else if (strcmp(k, "max_namespaces") == 0)
      c->cfg.max_namespaces = (unsigned)n;
    else if (strcmp(k, "max_chunk") == 0)
      c->max_chunk = (size_t)n;
    else {
      tbuf_printf(err, "%s: unknown config key '%s'\n", c->name, k);
      return -1;
    }
  }
  return 0;
}

int xt_case_load(const char *dir, const char *name, xt_case *c, tbuf *err) {
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", name);
  xsr_parser_config_init(&c->cfg);
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.xml", dir, name);
  if (read_file(path, &c->input, &c->len) != 0) {
    tbuf_printf(err, "cannot read %s\n", path);
    return -1;
  }
  unsigned char *ev = NULL;
  size_t evlen = 0;
  snprintf(path, sizeof path, "%s/%s.events", dir, name);
  if (read_file(path, &ev, &evlen) != 0) {
    tbuf_printf(err, "cannot read %s\n", path);
    xt_case_free(c);
    return -1;
  }
  /* Keep event lines; drop comments (#) and blank lines; apply config. */
  tbuf exp = {0};
  char *save = NULL;
  int rc = 0;
  for (char *line = strtok_r((char *)ev, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    size_t l = strlen(line);
    if (l && line[l - 1] == '\r')
      line[--l] = '\0';
    if (l == 0 || line[0] == '#')
      continue;
    if (strncmp(line, "config ", 7) == 0 || strcmp(line, "config") == 0) {
      if (parse_config(line, c, err) != 0)
        rc = -1;
      continue;
    }
    tbuf_add(&exp, line, l);
    tbuf_add(&exp, "\n", 1);
  }
  free(ev);
  c->expected = exp.p ? exp.p : calloc(1, 1);
  if (rc != 0)
    xt_case_free(c);
  return rc;
}

void xt_case_free(xt_case *c) {
  free(c->input);
  free(c->expected);
  c->input = NULL;
  c->expected = NULL;
}

/* ---- replay -------------------------------------------------------------- */

typedef struct rctx {
  const xt_case *c;
  const xt_replay *how;
  xsr_parser *p;
  tbuf *log;
  tbuf *problems;
  uint64_t fed;
  int restart_pending;
  int closed_seen;
  /* pause_each == 2: the stanza refused last (XSR_RETRY), to be reported
   * again identically before anything else */
  int refused;
  uint64_t refused_off;
  tbuf refused_canon;
} rctx;

static int cb_open(void *user, const xsr_stream_header *h) {
  rctx *x = user;
  tbuf_puts(x->log, "open ");
  xt_canon_header(x->p, h, x->log, x->problems);
  tbuf_puts(x->log, "\n");
  if (h->offset >= x->fed)
    tbuf_printf(x->problems, "open: header offset %llu not below the bytes fed %llu\n",
                (unsigned long long)h->offset, (unsigned long long)x->fed);
  else if (x->c->input[h->offset] != '<')
    tbuf_printf(x->problems, "open: header offset %llu is not a '<'\n",
                (unsigned long long)h->offset);
  x->closed_seen = 0;
  return x->how->pause_each == 1 ? XSR_PAUSE : 0;
}

static int cb_stanza(void *user, const xsr_stanza *st) {
  rctx *x = user;
  if (x->how->pause_each == 2) {
    /* Refuse every stanza once: it must come again, the same, right away. */
    tbuf canon = {0};
    tbuf_printf(&canon, "@%llu+%zu ", (unsigned long long)st->offset, st->raw.len);
    xt_canon_stanza(x->p, st, &canon, x->problems);
    int again = x->refused && x->refused_off == st->offset;
    if (x->refused && (!again || strcmp(tbuf_str(&canon), tbuf_str(&x->refused_canon)) != 0))
      tbuf_printf(x->problems, "refused stanza %s came back as %s\n", tbuf_str(&x->refused_canon),
                  tbuf_str(&canon));
    x->refused = !again;
    if (!again) {
      tbuf_clear(&x->refused_canon);
      tbuf_add(&x->refused_canon, canon.p, canon.len);
      x->refused_off = st->offset;
    }
    tbuf_free(&canon);
    if (!again)
      return XSR_RETRY;
  }
  tbuf_printf(x->log, "stanza @%llu+%zu ", (unsigned long long)st->offset, st->raw.len);
  xt_canon_stanza(x->p, st, x->log, x->problems);
  tbuf_puts(x->log, "\n");
  if (st->offset + st->raw.len > x->fed || st->offset + st->raw.len > x->c->len)
    tbuf_printf(x->problems, "stanza @%llu+%zu runs past the %llu bytes fed\n",
                (unsigned long long)st->offset, st->raw.len, (unsigned long long)x->fed);
  else if (memcmp(st->raw.ptr, x->c->input + st->offset, st->raw.len) != 0)
    tbuf_printf(x->problems, "stanza @%llu+%zu: raw bytes differ from the input there\n",
                (unsigned long long)st->offset, st->raw.len);
  int pause = x->how->pause_each == 1;
  if (x->c->restart && ((st->ns == XSR_NS_XMPP_SASL && st->name.len == 7 &&
                         memcmp(st->name.ptr, "success", 7) == 0) ||
                        (st->ns == XSR_NS_XMPP_TLS && st->name.len == 7 &&
                         memcmp(st->name.ptr, "proceed", 7) == 0))) {
    x->restart_pending = 1;
    pause = 1;
  }
  return pause ? XSR_PAUSE : 0;
}

static int cb_close(void *user, uint64_t offset) {
  rctx *x = user;
  tbuf_printf(x->log, "close @%llu\n", (unsigned long long)offset);
  if (offset + 2 > x->fed || x->c->input[offset] != '<' || x->c->input[offset + 1] != '/')
    tbuf_printf(x->problems, "close offset %llu is not at a '</' already fed\n",
                (unsigned long long)offset);
  x->closed_seen = 1;
  return x->how->pause_each == 1 ? XSR_PAUSE : 0;
}

static const xsr_parser_callbacks replay_cbs = {cb_open, cb_stanza, cb_close};

/* ---- the second parser of a pooled replay ---------------------------- */

static const char other_header[] =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "to='example.com' version='1.0'>";
static const char *const other_stanzas[] = {
    "<message to='a@example.com' id='1' type='chat'><body>one &amp; two</body>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>",
    "<presence><x xmlns='urn:example:other' a='1' b='2'><y>z</y></x></presence>",
    "<iq type='get' id='q'><query xmlns='jabber:iq:roster' xmlns:e='urn:e'><e:i/></query></iq>",
    "<message><body>a longer body that spans a few of the chunks it is fed in, "
    "\xc3\xa9t\xc3\xa9 &lt;3</body><stream:error/></message>",
};
#define OTHER_N (sizeof other_stanzas / sizeof other_stanzas[0])

static int other_stanza(void *user, const xsr_stanza *st) {
  xt_other *o = user;
  const char *want = other_stanzas[o->stanzas % OTHER_N];
  if (st->raw.len != strlen(want) || memcmp(st->raw.ptr, want, st->raw.len) != 0)
    tbuf_printf(o->problems, "pooled replay: the second parser's stanza %zu is wrong\n",
                o->stanzas);
  o->stanzas++;
  return 0;
}
static const xsr_parser_callbacks other_cbs = {NULL, other_stanza, NULL};

int xt_other_init(xt_other *o, xsr_parser_pool *pool, tbuf *problems) {
  memset(o, 0, sizeof *o);
  o->problems = problems;
  xsr_parser_config cfg;
  xsr_parser_config_init(&cfg);
  cfg.pool = pool;
  o->p = xsr_parser_new(&cfg, &other_cbs, o, NULL);
  if (!o->p)
    tbuf_puts(problems, "pooled replay: xsr_parser_new failed for the second parser\n");
  return o->p != NULL;
}

void xt_other_step(xt_other *o) {
  if (!o->p)
    return;
  static const size_t sizes[] = {1, 7, 97, 13, 2, 64, 31, 5};
  size_t n = sizes[o->step++ % (sizeof sizes / sizeof sizes[0])];
  /* The stream: the header, then the stanzas in turn, forever. */
  char chunk[128];
  size_t k = 0;
  size_t hl = sizeof other_header - 1;
  while (k < n) {
    size_t at = o->off + k;
    if (at < hl) {
      chunk[k++] = other_header[at];
      continue;
    }
    /* Find the byte: stanzas repeat with a period of their total length. */
    size_t period = 0;
    for (size_t i = 0; i < OTHER_N; i++)
      period += strlen(other_stanzas[i]);
    size_t r = (at - hl) % period, i = 0;
    while (r >= strlen(other_stanzas[i]))
      r -= strlen(other_stanzas[i++]);
    chunk[k++] = other_stanzas[i][r];
  }
  xsr_err e = o->step % 2 ? xsr_parser_feed(o->p, chunk, n) : XSR_OK;
  if (!(o->step % 2)) {
    size_t want = n;
    char *b = xsr_parser_buffer(o->p, &want);
    if (!b) {
      e = XSR_ENOMEM;
    } else {
      memcpy(b, chunk, n);
      e = xsr_parser_commit(o->p, n);
    }
  }
  o->off += n;
  if (e != XSR_OK) {
    tbuf_printf(o->problems, "pooled replay: the second parser failed: %s\n", xsr_err_name(e));
    xsr_parser_free(o->p);
    o->p = NULL;
  }
}

void xt_other_free(xt_other *o) {
  xsr_parser_free(o->p);
  o->p = NULL;
}

void xt_replay_case(const xt_case *c, const xt_replay *how, tbuf *log, tbuf *problems) {
  rctx x = {c, how, NULL, log, problems, 0, 0, 0, 0, 0, {0}};
  xsr_parser_config cfg = c->cfg;
  xsr_parser_pool *pool = NULL;
  xt_other other = {0};
  if (how->pooled) {
    pool = xsr_parser_pool_new(NULL);
    cfg.pool = pool;
    if (!pool || !xt_other_init(&other, pool, problems)) {
      xsr_parser_pool_free(pool);
      return;
    }
  }
  xsr_parser *p = xsr_parser_new(&cfg, &replay_cbs, &x, NULL);
  if (!p) {
    tbuf_puts(problems, "xsr_parser_new failed\n");
    xt_other_free(&other);
    xsr_parser_pool_free(pool);
    return;
  }
  x.p = p;
  size_t off = 0;
  xsr_err r = XSR_OK;
  while (off < c->len) {
    size_t n = c->len - off < how->chunk ? c->len - off : how->chunk;
    if (how->mode == XT_COMMIT) {
      size_t want = n;
      char *b = xsr_parser_buffer(p, &want);
      if (!b) {
        tbuf_printf(problems, "xsr_parser_buffer(%zu) returned NULL without an error\n", n);
        break;
      }
      if (want < n)
        tbuf_printf(problems, "xsr_parser_buffer gave %zu bytes, %zu asked\n", want, n);
      memcpy(b, c->input + off, n);
      x.fed += n;
      r = xsr_parser_commit(p, n);
    } else {
      x.fed += n;
      r = xsr_parser_feed(p, c->input + off, n);
    }
    off += n;
    xt_other_step(&other);
    while (r == XSR_PAUSED) {
      if (x.restart_pending) {
        x.restart_pending = 0;
        xsr_err rr = xsr_parser_restart(p);
        if (rr != XSR_OK)
          tbuf_printf(problems, "xsr_parser_restart returned %s\n", xsr_err_name(rr));
        xt_other_step(&other);
      }
      r = xsr_parser_resume(p);
      xt_other_step(&other);
    }
    if (r != XSR_OK)
      break;
  }
  if (x.restart_pending)
    tbuf_puts(problems, "a restart was requested but the parser never returned XSR_PAUSED\n");

  if (r != XSR_OK) {
    uint64_t eoff = ~(uint64_t)0;
    xsr_err stored = xsr_parser_error(p, &eoff);
    tbuf_printf(log, "error %s %s @%llu\n", xsr_err_condition(r), xsr_err_name(r),
                (unsigned long long)eoff);
    if (stored != r)
      tbuf_printf(problems, "call returned %s but xsr_parser_error says %s\n", xsr_err_name(r),
                  xsr_err_name(stored));
    if (eoff > x.fed)
      tbuf_printf(problems, "error offset %llu beyond the %llu bytes fed\n",
                  (unsigned long long)eoff, (unsigned long long)x.fed);
    /* parser.h: after an error, the error's offset (whatever the chunking). */
    if (xsr_parser_offset(p) != eoff)
      tbuf_printf(problems, "xsr_parser_offset = %llu after the error, want its offset %llu\n",
                  (unsigned long long)xsr_parser_offset(p), (unsigned long long)eoff);
    /* Sticky: the same error for any further input, and no more events. */
    size_t loglen = log->len;
    const char more[] = "<a/>x";
    xsr_err r2 = xsr_parser_feed(p, more, sizeof more - 1);
    uint64_t eoff2 = ~(uint64_t)0;
    xsr_err stored2 = xsr_parser_error(p, &eoff2);
    if (r2 != r || stored2 != r || eoff2 != eoff)
      tbuf_printf(problems, "after the error, feed returned %s (stored %s @%llu), want %s @%llu\n",
                  xsr_err_name(r2), xsr_err_name(stored2), (unsigned long long)eoff2,
                  xsr_err_name(r), (unsigned long long)eoff);
    size_t want = 16;
    if (xsr_parser_buffer(p, &want) != NULL || want != 0)
      tbuf_puts(problems, "xsr_parser_buffer did not return NULL/0 after an error\n");
    xsr_err r3 = xsr_parser_commit(p, 0);
    if (r3 != r)
      tbuf_printf(problems, "after the error, commit(0) returned %s\n", xsr_err_name(r3));
    xsr_err r4 = xsr_parser_resume(p);
    if (r4 != r)
      tbuf_printf(problems, "after the error, resume returned %s\n", xsr_err_name(r4));
    if (log->len != loglen)
      tbuf_puts(problems, "events were reported after the error\n");
  } else {
    if (xsr_parser_error(p, NULL) != XSR_OK)
      tbuf_printf(problems, "all calls returned XSR_OK but xsr_parser_error says %s\n",
                  xsr_err_name(xsr_parser_error(p, NULL)));
    if (xsr_parser_bytes(p) != c->len)
      tbuf_printf(problems, "xsr_parser_bytes = %llu, want %zu\n",
                  (unsigned long long)xsr_parser_bytes(p), c->len);
    /* parser.h: "the next byte the parser will look at (the total bytes fed
     * minus the bytes kept unparsed after a pause)".  A UTF-8 sequence cut by
     * the end of the input is not looked at yet, so allow up to 3 bytes. */
    uint64_t po = xsr_parser_offset(p);
    if (po > c->len || po + 3 < c->len)
      tbuf_printf(problems,
                  "xsr_parser_offset = %llu after all input, want %zu (or up to 3 less)\n",
                  (unsigned long long)po, c->len);
    if (!!xsr_parser_closed(p) != x.closed_seen)
      tbuf_printf(problems, "xsr_parser_closed = %d, but the close event was %sseen\n",
                  xsr_parser_closed(p), x.closed_seen ? "" : "not ");
  }
  if (x.refused)
    tbuf_printf(problems, "refused stanza %s was never reported again\n",
                tbuf_str(&x.refused_canon));
  tbuf_free(&x.refused_canon);
  xsr_parser_free(p);
  xt_other_free(&other);
  xsr_parser_pool_free(pool);
}

static const char *mode_name(int mode) { return mode == XT_COMMIT ? "buffer/commit" : "feed"; }

size_t xt_check_case(const xt_case *c, tbuf *report) {
  size_t bad = 0;
  size_t maxc = c->max_chunk && c->max_chunk < c->len ? c->max_chunk : c->len;
  if (maxc == 0)
    maxc = 1;
  tbuf log = {0}, problems = {0};
  /* Each way once more with the scratch borrowed from a pool that a second
   * parser uses between every two calls (pausing at every event aside). */
  for (int round = 0; round <= 4; round++)
    for (int mode = XT_FEED; mode <= XT_COMMIT; mode++)
      for (size_t chunk = 1; chunk <= maxc + 1; chunk++) {
        int pause = round <= 2 ? round : round == 3 ? 0 : 2, pooled = round > 2;
        /* The extra round uses the whole input at once even when capped. */
        xt_replay how = {mode, chunk <= maxc ? chunk : (c->len ? c->len : 1), pause, pooled};
        if (chunk > maxc && maxc == c->len)
          break;
        tbuf_clear(&log);
        tbuf_clear(&problems);
        xt_replay_case(c, &how, &log, &problems);
        int mismatch = strcmp(tbuf_str(&log), c->expected) != 0;
        if (mismatch || problems.len) {
          if (bad < 3) {
            tbuf_printf(report, "case %s, %s, chunk %zu%s%s:\n", c->name, mode_name(mode),
                        how.chunk,
                        pause == 1   ? ", pausing at every event"
                        : pause == 2 ? ", refusing every stanza once"
                                     : "",
                        pooled ? ", scratch from a pool shared with another parser" : "");
            if (mismatch)
              tbuf_printf(report, "--- expected\n%s--- actual\n%s", c->expected, tbuf_str(&log));
            if (problems.len)
              tbuf_printf(report, "--- contract violations\n%s", tbuf_str(&problems));
          }
          bad++;
        }
      }
  if (bad > 3)
    tbuf_printf(report, "case %s: %zu replays failed in all (first 3 shown)\n", c->name, bad);
  tbuf_free(&log);
  tbuf_free(&problems);
  return bad;
}
