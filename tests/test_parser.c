/* SPDX-License-Identifier: MIT */
/*
 * Parser tests: every conformance case in tests/cases replayed at every chunk
 * size through both ways in (one Criterion test per case, named in every
 * failure), plus the API contract that the cases cannot express: config
 * validation, callbacks re-entering the parser, abort/pause/resume, commit
 * while paused, restart and reset, and the bytes held.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsr_test.h"

/* ---- conformance cases ---------------------------------------------------- */

struct case_param {
  char name[128];
};

static void free_case_params(struct criterion_test_params *crp) { cr_free(crp->params); }

ParameterizedTestParameters(cases, replay) {
  char **names = NULL;
  size_t n = xt_case_list(xt_cases_dir(), &names);
  struct case_param *params = cr_malloc(sizeof *params * (n ? n : 1));
  for (size_t i = 0; i < n; i++)
    snprintf(params[i].name, sizeof params[i].name, "%s", names[i]);
  if (n == 0)
    snprintf(params[0].name, sizeof params[0].name, "%s", "(no cases found)");
  xt_case_list_free(names, n);
  return cr_make_param_array(struct case_param, params, n ? n : 1, free_case_params);
}

ParameterizedTest(struct case_param *cp, cases, replay, .timeout = 120) {
  xt_case c;
  tbuf err = {0};
  cr_assert_eq(xt_case_load(xt_cases_dir(), cp->name, &c, &err), 0, "case %s: %s", cp->name,
               tbuf_str(&err));
  tbuf report = {0};
  size_t bad = xt_check_case(&c, &report);
  cr_expect_eq(bad, 0, "case %s failed:\n%s", cp->name, tbuf_str(&report));
  tbuf_free(&report);
  tbuf_free(&err);
  xt_case_free(&c);
}

Test(cases, there_are_enough) {
  char **names = NULL;
  size_t n = xt_case_list(xt_cases_dir(), &names);
  xt_case_list_free(names, n);
  cr_expect_geq(n, 100, "only %zu conformance cases in %s", n, xt_cases_dir());
}

/* ---- helpers for the API tests ------------------------------------------- */

#define HDR                                                                                        \
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "          \
  "to='example.com' version='1.0'>"

typedef struct api_ctx {
  xsr_parser *p;
  int opens, stanzas, closes;
  int ret_open, ret_stanza, ret_close; /* what the callbacks return */
  int reenter;                         /* call parser functions from on_stanza */
  xsr_err reenter_results[6];
  uint64_t last_offset;
  char last_name[64];
} api_ctx;

static int api_open(void *user, const xsr_stream_header *h) {
  api_ctx *x = user;
  (void)h;
  x->opens++;
  return x->ret_open;
}

static int api_stanza(void *user, const xsr_stanza *st) {
  api_ctx *x = user;
  x->stanzas++;
  x->last_offset = st->offset;
  snprintf(x->last_name, sizeof x->last_name, "%.*s", (int)st->name.len, st->name.ptr);
  if (x->reenter) {
    size_t len = 16;
    x->reenter_results[0] = xsr_parser_feed(x->p, "<a/>", 4);
    x->reenter_results[1] = xsr_parser_commit(x->p, 0);
    x->reenter_results[2] = xsr_parser_resume(x->p);
    x->reenter_results[3] = xsr_parser_restart(x->p);
    x->reenter_results[4] = xsr_parser_buffer(x->p, &len) == NULL ? XSR_EBUSY : XSR_OK;
    /* The functions allowed from a callback. */
    xsr_span u = xsr_parser_ns_uri(x->p, XSR_NS_CLIENT);
    x->reenter_results[5] = (u.ptr && u.len == 13 && memcmp(u.ptr, "jabber:client", 13) == 0 &&
                             xsr_parser_ns_find(x->p, "jabber:client", 13) == XSR_NS_CLIENT)
                                ? XSR_OK
                                : XSR_EINVAL;
  }
  return x->ret_stanza;
}

static int api_close(void *user, uint64_t off) {
  api_ctx *x = user;
  (void)off;
  x->closes++;
  return x->ret_close;
}

static const xsr_parser_callbacks api_cbs = {api_open, api_stanza, api_close};

static xsr_err feed_str(xsr_parser *p, const char *s) { return xsr_parser_feed(p, s, strlen(s)); }

/* ---- config -------------------------------------------------------------- */

Test(config, defaults) {
  xsr_parser_config c;
  memset(&c, 0xff, sizeof c);
  xsr_parser_config_init(&c);
  cr_expect_eq(c.max_stanza, XSR_DEFAULT_MAX_STANZA);
  cr_expect_eq(c.max_depth, XSR_DEFAULT_MAX_DEPTH);
  cr_expect_eq(c.max_attrs, XSR_DEFAULT_MAX_ATTRS);
  cr_expect_eq(c.max_name, XSR_DEFAULT_MAX_NAME);
  cr_expect_eq(c.max_ns_decls, XSR_DEFAULT_MAX_NS_DECLS);
  cr_expect_eq(c.max_namespaces, XSR_DEFAULT_MAX_NAMESPACES);
  cr_expect_eq(c.accept, XSR_ACCEPT_CLIENT | XSR_ACCEPT_SERVER | XSR_ACCEPT_COMPONENT);
}

Test(config, rejects_zero_limits_and_huge_stanzas) {
  for (int field = 0; field < 6; field++) {
    xsr_parser_config c;
    xsr_parser_config_init(&c);
    switch (field) {
    case 0:
      c.max_stanza = 0;
      break;
    case 1:
      c.max_depth = 0;
      break;
    case 2:
      c.max_attrs = 0;
      break;
    case 3:
      c.max_name = 0;
      break;
    case 4:
      c.max_ns_decls = 0;
      break;
    default:
      c.max_namespaces = 0;
      break;
    }
    xsr_parser *p = xsr_parser_new(&c, NULL, NULL, NULL);
    cr_expect_null(p, "a zero limit (field %d) was accepted", field);
    xsr_parser_free(p);
  }
  xsr_parser_config c;
  xsr_parser_config_init(&c);
  c.max_stanza = (size_t)XSR_MAX_STANZA_LIMIT + 1;
  xsr_parser *p = xsr_parser_new(&c, NULL, NULL, NULL);
  cr_expect_null(p, "max_stanza above XSR_MAX_STANZA_LIMIT was accepted");
  xsr_parser_free(p);
  c.max_stanza = XSR_MAX_STANZA_LIMIT;
  p = xsr_parser_new(&c, NULL, NULL, NULL);
  cr_expect_not_null(p, "max_stanza == XSR_MAX_STANZA_LIMIT was refused");
  xsr_parser_free(p);
  xsr_parser_free(NULL);
}

Test(config, null_callbacks_and_config) {
  xsr_parser *p = xsr_parser_new(NULL, NULL, NULL, NULL);
  cr_assert_not_null(p);
  cr_expect_eq(feed_str(p, HDR "<message to='a@b'><body>x</body></message></stream:stream>"),
               XSR_OK);
  cr_expect(xsr_parser_closed(p));
  xsr_parser_free(p);
}

Test(config, accept_mask) {
  xsr_parser_config c;
  xsr_parser_config_init(&c);
  c.accept = XSR_ACCEPT_SERVER;
  xsr_parser *p = xsr_parser_new(&c, NULL, NULL, NULL);
  cr_assert_not_null(p);
  cr_expect_eq(feed_str(p, HDR), XSR_ECONTENTNS, "jabber:client accepted with accept = server");
  xsr_parser_free(p);
  p = xsr_parser_new(&c, NULL, NULL, NULL);
  cr_expect_eq(feed_str(p, "<stream:stream xmlns='jabber:server' "
                           "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"),
               XSR_OK);
  xsr_parser_free(p);
}

/* ---- callbacks ----------------------------------------------------------- */

Test(callbacks, reentering_the_parser_is_refused) {
  api_ctx x = {0};
  x.reenter = 1;
  xsr_parser *p = xsr_parser_new(NULL, &api_cbs, &x, NULL);
  x.p = p;
  cr_assert_eq(feed_str(p, HDR "<presence/>"), XSR_OK);
  cr_expect_eq(x.stanzas, 1);
  for (int i = 0; i < 5; i++)
    cr_expect_eq(x.reenter_results[i], XSR_EBUSY, "call %d from a callback returned %s", i,
                 xsr_err_name(x.reenter_results[i]));
  cr_expect_eq(x.reenter_results[5], XSR_OK, "ns_uri/ns_find from a callback failed");
  /* The stream goes on normally. */
  x.reenter = 0;
  cr_expect_eq(feed_str(p, "<presence/></stream:stream>"), XSR_OK);
  cr_expect_eq(x.stanzas, 2);
  cr_expect_eq(x.closes, 1);
  xsr_parser_free(p);
}

Test(callbacks, other_return_values_abort) {
  static const int rets[] = {XSR_RETRY, 3, -1, 42};
  for (int k = 0; k < 4; k++) {
    for (int which = 0; which < 3; which++) {
      if (which == 1 && rets[k] == XSR_RETRY)
        continue; /* on_stanza's own: tested below */
      api_ctx x = {0};
      if (which == 0)
        x.ret_open = rets[k];
      else if (which == 1)
        x.ret_stanza = rets[k];
      else
        x.ret_close = rets[k];
      xsr_parser *p = xsr_parser_new(NULL, &api_cbs, &x, NULL);
      xsr_err e = feed_str(p, HDR "<presence/><presence/></stream:stream>");
      cr_expect_eq(e, XSR_EABORTED, "callback %d returning %d gave %s", which, rets[k],
                   xsr_err_name(e));
      cr_expect_eq(xsr_parser_error(p, NULL), XSR_EABORTED);
      cr_expect_eq(feed_str(p, "<presence/>"), XSR_EABORTED, "abort is not sticky");
      int events = x.opens + x.stanzas + x.closes;
      cr_expect_eq(events,
                   which == 0   ? 1
                   : which == 1 ? 2
                                : 4,
                   "events after the abort (%d)", events);
      xsr_parser_free(p);
    }
  }
}

Test(callbacks, pause_keeps_the_rest_and_resume_continues) {
  api_ctx x = {0};
  x.ret_stanza = XSR_PAUSE;
  xsr_parser *p = xsr_parser_new(NULL, &api_cbs, &x, NULL);
  const char *in = HDR "<presence id='1'/><presence id='2'/>";
  size_t hdrlen = strlen(HDR);
  cr_assert_eq(feed_str(p, in), XSR_PAUSED);
  cr_expect_eq(x.stanzas, 1);
  cr_expect_eq(xsr_parser_bytes(p), strlen(in));
  cr_expect_eq(xsr_parser_offset(p), hdrlen + 18, "offset after pausing on the first stanza");
  /* commit while paused appends without parsing */
  size_t want = 20;
  char *b = xsr_parser_buffer(p, &want);
  cr_assert_not_null(b);
  cr_assert_geq(want, 20);
  memcpy(b, "<presence id='3'/>", 18);
  cr_expect_eq(xsr_parser_commit(p, 18), XSR_PAUSED);
  cr_expect_eq(x.stanzas, 1, "commit parsed while paused");
  cr_expect_eq(xsr_parser_resume(p), XSR_PAUSED);
  cr_expect_eq(x.stanzas, 2);
  cr_expect_eq(x.last_offset, hdrlen + 18);
  cr_expect_eq(xsr_parser_resume(p), XSR_PAUSED);
  cr_expect_eq(x.stanzas, 3);
  cr_expect_eq(x.last_offset, hdrlen + 36);
  cr_expect_eq(xsr_parser_resume(p), XSR_OK, "resume with nothing left");
  cr_expect_eq(xsr_parser_resume(p), XSR_OK, "resume when not paused");
  cr_expect_eq(xsr_parser_offset(p), hdrlen + 54);
  xsr_parser_free(p);
}

Test(callbacks, feed_while_paused_is_kept_in_order) {
  api_ctx x = {0};
  x.ret_stanza = XSR_PAUSE;
  xsr_parser *p = xsr_parser_new(NULL, &api_cbs, &x, NULL);
  cr_assert_eq(feed_str(p, HDR "<iq id='a'/><iq id='b'/>"), XSR_PAUSED);
  /* Feeding more while paused: the new bytes queue behind the kept ones. */
  xsr_err e = feed_str(p, "<iq id='c'/>");
  cr_expect(e == XSR_PAUSED || e == XSR_OK, "feed while paused returned %s", xsr_err_name(e));
  int n = x.stanzas;
  while (xsr_parser_resume(p) == XSR_PAUSED && x.stanzas < 10)
    ;
  cr_expect_eq(x.stanzas, 3, "stanzas seen: %d (after feed while paused: %d)", x.stanzas, n);
  xsr_parser_free(p);
}

/* ---- XSR_RETRY: a refused stanza is reported again ----------------------- */

/* Records every stanza (raw bytes, offset, name), refusing the ones whose
 * turn is set in `refuse` (a count per stanza ordinal, by first sight). */
typedef struct retry_ctx {
  int seen;     /* on_stanza calls */
  int distinct; /* distinct stanzas (by offset) */
  uint64_t last_off;
  int refuse[8];  /* how many more times to refuse stanza i */
  char log[2048]; /* "offset:raw\n" for every call */
  size_t loglen;
  uint64_t offset_in_cb;
} retry_ctx;

static int retry_stanza(void *user, const xsr_stanza *st) {
  retry_ctx *x = user;
  if (x->seen == 0 || st->offset != x->last_off)
    x->distinct++;
  x->seen++;
  x->last_off = st->offset;
  int n = snprintf(x->log + x->loglen, sizeof x->log - x->loglen, "%llu:%.*s\n",
                   (unsigned long long)st->offset, (int)st->raw.len, st->raw.ptr);
  if (n > 0 && (size_t)n < sizeof x->log - x->loglen)
    x->loglen += (size_t)n;
  int i = x->distinct - 1;
  if (i < 8 && x->refuse[i] > 0) {
    x->refuse[i]--;
    return XSR_RETRY;
  }
  return 0;
}

static const xsr_parser_callbacks retry_cbs = {NULL, retry_stanza, NULL};

/* Feeds `in` in chunks of `chunk` through feed() or buffer()/commit(),
 * resuming after every pause; returns the last result. */
static xsr_err retry_run(xsr_parser *p, const char *in, size_t len, size_t chunk, int commit) {
  xsr_err r = XSR_OK;
  for (size_t off = 0; off < len; off += chunk) {
    size_t n = len - off < chunk ? len - off : chunk;
    if (commit) {
      size_t want = n;
      char *b = xsr_parser_buffer(p, &want);
      if (!b)
        return XSR_ENOMEM;
      memcpy(b, in + off, n);
      r = xsr_parser_commit(p, n);
    } else {
      r = xsr_parser_feed(p, in + off, n);
    }
    for (int guard = 0; r == XSR_PAUSED && guard < 64; guard++)
      r = xsr_parser_resume(p);
    if (r != XSR_OK)
      return r;
  }
  return r;
}

Test(retry, the_refused_stanza_comes_again_at_every_chunking) {
  const char *in = HDR "<message id='m1'/> <message id='m2'><body>hi &amp; bye</body></message>"
                       "<message id='m3'/></stream:stream>";
  size_t len = strlen(in), hdr = strlen(HDR);
  char expect[1024];
  snprintf(expect, sizeof expect,
           "%zu:<message id='m1'/>\n%zu:<message id='m1'/>\n%zu:<message id='m1'/>\n"
           "%zu:<message id='m2'><body>hi &amp; bye</body></message>\n"
           "%zu:<message id='m2'><body>hi &amp; bye</body></message>\n"
           "%zu:<message id='m3'/>\n",
           hdr, hdr, hdr, hdr + 19, hdr + 19, hdr + 71);
  for (int commit = 0; commit <= 1; commit++) {
    for (size_t chunk = 1; chunk <= len; chunk++) {
      retry_ctx x = {0};
      x.refuse[0] = 2; /* m1 twice */
      x.refuse[1] = 1; /* m2 once */
      xsr_parser *p = xsr_parser_new(NULL, &retry_cbs, &x, NULL);
      xsr_err r = retry_run(p, in, len, chunk, commit);
      cr_expect_eq(r, XSR_OK, "%s chunk %zu: %s", commit ? "commit" : "feed", chunk,
                   xsr_err_name(r));
      cr_expect_str_eq(x.log, expect, "%s chunk %zu", commit ? "commit" : "feed", chunk);
      cr_expect(xsr_parser_closed(p));
      cr_expect_eq(xsr_parser_offset(p), len);
      xsr_parser_free(p);
    }
  }
}

Test(retry, pauses_before_the_stanza) {
  retry_ctx x = {0};
  x.refuse[0] = 1;
  xsr_parser *p = xsr_parser_new(NULL, &retry_cbs, &x, NULL);
  const char *in = HDR "<message id='m1'/><message id='m2'/>";
  size_t hdr = strlen(HDR);
  cr_assert_eq(feed_str(p, in), XSR_PAUSED);
  cr_expect_eq(x.seen, 1);
  cr_expect_eq(xsr_parser_offset(p), hdr, "offset after a refusal is the stanza's first byte");
  cr_expect_eq(xsr_parser_held(p), 36, "the refused stanza and the rest are kept");
  /* Bytes fed while refused queue behind it. */
  cr_expect_eq(feed_str(p, "<message id='m3'/>"), XSR_PAUSED);
  cr_expect_eq(x.seen, 1);
  cr_expect_eq(xsr_parser_resume(p), XSR_OK);
  cr_expect_str_eq(x.log, "116:<message id='m1'/>\n116:<message id='m1'/>\n"
                          "134:<message id='m2'/>\n152:<message id='m3'/>\n");
  xsr_parser_free(p);
}

Test(retry, a_refused_stanza_in_the_callers_buffer_is_copied_once) {
  /* feed() parses in place: the refused stanza must survive the caller
   * reusing its buffer. */
  retry_ctx x = {0};
  x.refuse[1] = 1;
  xsr_parser *p = xsr_parser_new(NULL, &retry_cbs, &x, NULL);
  char buf[256];
  snprintf(buf, sizeof buf, "%s", HDR "<iq type='get' id='a'/><iq type='get' id='b'/>");
  cr_assert_eq(xsr_parser_feed(p, buf, strlen(buf)), XSR_PAUSED);
  memset(buf, 'X', sizeof buf);
  cr_expect_eq(xsr_parser_resume(p), XSR_OK);
  cr_expect_str_eq(x.log, "116:<iq type='get' id='a'/>\n139:<iq type='get' id='b'/>\n"
                          "139:<iq type='get' id='b'/>\n");
  xsr_parser_free(p);
}

Test(retry, restart_parses_the_refused_bytes_as_the_new_stream) {
  retry_ctx x = {0};
  x.refuse[0] = 1;
  xsr_parser *p = xsr_parser_new(NULL, &retry_cbs, &x, NULL);
  cr_assert_eq(feed_str(p, HDR "<message/>"), XSR_PAUSED);
  cr_expect_eq(xsr_parser_restart(p), XSR_OK);
  /* The kept <message/> is now where a stream header must be. */
  cr_expect_eq(xsr_parser_resume(p), XSR_ESTREAMNS);
  xsr_parser_free(p);
}

/* ---- forwarding context ---------------------------------------------------- */

typedef struct fwd_ctx {
  int n;
  char ctx[8][512]; /* per stanza: inherited bindings, stream lang, tag counts */
} fwd_ctx;

static int fwd_stanza(void *user, const xsr_stanza *st) {
  fwd_ctx *x = user;
  if (x->n >= 8)
    return 0;
  char *o = x->ctx[x->n++];
  size_t cap = sizeof x->ctx[0], len = 0;
  for (size_t i = 0; i < st->inherited_count; i++)
    len += (size_t)snprintf(o + len, cap - len, "%.*s=%.*s ", (int)st->inherited[i].prefix.len,
                            st->inherited[i].prefix.ptr, (int)st->inherited[i].uri.len,
                            st->inherited[i].uri.ptr);
  if (st->stream_lang.ptr)
    len += (size_t)snprintf(o + len, cap - len, "lang=%.*s ", (int)st->stream_lang.len,
                            st->stream_lang.ptr);
  snprintf(o + len, cap - len, "attrs=%u decls=%u", st->tag_attrs, st->tag_decls);
  return 0;
}

static const xsr_parser_callbacks fwd_cbs = {NULL, fwd_stanza, NULL};

Test(forwarding, inherited_bindings_lang_and_tag_counts_at_every_chunking) {
  const char *in = "<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' "
                   "xmlns:foo='urn:foo' xmlns:stream='urn:not-streams' xmlns:bar='urn:b&amp;r' "
                   "xml:lang='en&#x2D;GB' version='1.0'>"
                   /* 0: nothing inherited */
                   "<message to='a@b' id='1'><body>x</body></message>"
                   /* 1: foo on a child, bar on an attribute, stream on a grandchild */
                   "<message to='a@b'><foo:x bar:y='1'><stream:z/></foo:x></message>"
                   /* 2: foo redeclared on the stanza: not inherited; s used */
                   "<iq xmlns:foo='urn:other' type='get' id='2' from='x'><foo:q/><s:r/></iq>"
                   /* 3: foo redeclared below a use */
                   "<presence foo:a='1'><x xmlns:foo='urn:o'><foo:b/></x></presence>"
                   /* 4: the stream prefix itself, and xml: (never inherited) */
                   "<message xml:lang='fr'><s:features/></message>"
                   "</s:stream>";
  const char *expect[5] = {
      "lang=en-GB attrs=2 decls=0",
      "foo=urn:foo stream=urn:not-streams bar=urn:b&r lang=en-GB attrs=1 decls=0",
      "s=http://etherx.jabber.org/streams lang=en-GB attrs=4 decls=1",
      "foo=urn:foo lang=en-GB attrs=1 decls=0",
      "s=http://etherx.jabber.org/streams lang=en-GB attrs=1 decls=0",
  };
  size_t len = strlen(in);
  for (int commit = 0; commit <= 1; commit++) {
    for (size_t chunk = 1; chunk <= len; chunk += (chunk < 40 ? 1 : 17)) {
      fwd_ctx x = {0};
      xsr_parser *p = xsr_parser_new(NULL, &fwd_cbs, &x, NULL);
      cr_expect_eq(retry_run(p, in, len, chunk, commit), XSR_OK);
      cr_expect_eq(x.n, 5, "chunk %zu: %d stanzas", chunk, x.n);
      for (int i = 0; i < 5 && i < x.n; i++)
        cr_expect_str_eq(x.ctx[i], expect[i], "%s chunk %zu stanza %d", commit ? "commit" : "feed",
                         chunk, i);
      xsr_parser_free(p);
    }
  }
}

Test(forwarding, context_is_per_stream) {
  /* After a restart the new header's bindings and language apply. */
  fwd_ctx x = {0};
  api_ctx a = {0};
  (void)a;
  xsr_parser *p = xsr_parser_new(NULL, &fwd_cbs, &x, NULL);
  cr_assert_eq(feed_str(p, "<stream:stream xmlns='jabber:client' "
                           "xmlns:stream='http://etherx.jabber.org/streams' xmlns:foo='urn:1' "
                           "xml:lang='de' version='1.0'><message><foo:a/></message>"),
               XSR_OK);
  cr_assert_eq(xsr_parser_restart(p), XSR_OK);
  cr_assert_eq(feed_str(p, HDR "<message><stream:x/></message><message/>"), XSR_OK);
  cr_assert_eq(x.n, 3);
  cr_expect_str_eq(x.ctx[0], "foo=urn:1 lang=de attrs=0 decls=0");
  cr_expect_str_eq(x.ctx[1], "stream=http://etherx.jabber.org/streams attrs=0 decls=0");
  cr_expect_str_eq(x.ctx[2], "attrs=0 decls=0");
  xsr_parser_free(p);
}

/* ---- restart and reset --------------------------------------------------- */

Test(restart, after_success_with_pipelined_header) {
  api_ctx x = {0};
  x.ret_stanza = XSR_PAUSE;
  xsr_parser *p = xsr_parser_new(NULL, &api_cbs, &x, NULL);
#define SUCCESS "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
  const char *in = HDR SUCCESS HDR "<iq id='1'/>";
  cr_assert_eq(feed_str(p, in), XSR_PAUSED);
  cr_expect_str_eq(x.last_name, "success");
  cr_expect_eq(xsr_parser_restart(p), XSR_OK);
  x.ret_stanza = 0;
  cr_expect_eq(xsr_parser_resume(p), XSR_OK);
  cr_expect_eq(x.opens, 2, "the pipelined header was not parsed as a new stream");
  cr_expect_eq(x.stanzas, 2);
  cr_expect_str_eq(x.last_name, "iq");
  cr_expect_eq(x.last_offset, 2 * strlen(HDR) + strlen(SUCCESS));
  xsr_parser_free(p);
}

Test(restart, without_restart_a_second_header_is_a_stanza) {
  api_ctx x = {0};
  xsr_parser *p = xsr_parser_new(NULL, &api_cbs, &x, NULL);
  cr_expect_eq(feed_str(p, HDR "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" HDR), XSR_OK);
  cr_expect_eq(x.opens, 1);
  xsr_parser_free(p);
}

Test(restart, returns_the_stored_error) {
  xsr_parser *p = xsr_parser_new(NULL, NULL, NULL, NULL);
  cr_expect_eq(feed_str(p, HDR "<a></b>"), XSR_ETAGMISMATCH);
  cr_expect_eq(xsr_parser_restart(p), XSR_ETAGMISMATCH);
  xsr_parser_free(p);
}

Test(reset, forgets_errors_and_offsets) {
  api_ctx x = {0};
  xsr_parser *p = xsr_parser_new(NULL, &api_cbs, &x, NULL);
  cr_expect_eq(feed_str(p, HDR "<a></b>"), XSR_ETAGMISMATCH);
  xsr_parser_reset(p);
  cr_expect_eq(xsr_parser_error(p, NULL), XSR_OK);
  cr_expect_eq(xsr_parser_bytes(p), 0);
  cr_expect_eq(xsr_parser_offset(p), 0);
  cr_expect_eq(feed_str(p, HDR "<presence/>"), XSR_OK);
  cr_expect_eq(x.opens, 2);
  cr_expect_eq(x.stanzas, 1);
  cr_expect_eq(x.last_offset, strlen(HDR));
  xsr_parser_free(p);
}

/* ---- memory -------------------------------------------------------------- */

Test(memory, holds_only_the_unfinished_element) {
  xsr_parser *p = xsr_parser_new(NULL, NULL, NULL, NULL);
  cr_assert_eq(feed_str(p, HDR "<message><body>hello</body></message> \n<message><bo"), XSR_OK);
  cr_expect_eq(xsr_parser_held(p), 12, "held %zu bytes, the unfinished stanza is 12",
               xsr_parser_held(p));
  cr_assert_eq(feed_str(p, "dy>x</body></message>"), XSR_OK);
  cr_expect_eq(xsr_parser_held(p), 0, "held %zu bytes after the stanza completed",
               xsr_parser_held(p));
  xsr_parser_free(p);
}

Test(memory, stanza_limit_counts_unfinished_bytes) {
  xsr_parser_config c;
  xsr_parser_config_init(&c);
  c.max_stanza = 200; /* above the header's length */
  xsr_parser *p = xsr_parser_new(&c, NULL, NULL, NULL);
  cr_assert_eq(feed_str(p, HDR), XSR_OK);
  /* An endless start tag: the limit must trip without the tag ever ending. */
  cr_assert_eq(feed_str(p, "<message to='"), XSR_OK);
  xsr_err e = XSR_OK;
  for (int i = 0; i < 1000 && e == XSR_OK; i++)
    e = feed_str(p, "a");
  cr_expect_eq(e, XSR_ELIMITSTANZA);
  uint64_t off = 0;
  xsr_parser_error(p, &off);
  cr_expect_eq(off, strlen(HDR) + 200);
  /* The byte that trips the limit may be held too. */
  cr_expect_leq(xsr_parser_held(p), 201, "held %zu bytes", xsr_parser_held(p));
  xsr_parser_free(p);
}

Test(offsets, error_offset_of_early_error_in_big_chunk) {
  /* The offset is a stream offset even when the error is in a later chunk. */
  xsr_parser *p = xsr_parser_new(NULL, NULL, NULL, NULL);
  cr_assert_eq(feed_str(p, HDR "<presence/>"), XSR_OK);
  cr_expect_eq(feed_str(p, "<presence>\x01</presence>"), XSR_ECHAR);
  uint64_t off = 0;
  xsr_parser_error(p, &off);
  cr_expect_eq(off, strlen(HDR) + 11 + 10);
  xsr_parser_free(p);
}
