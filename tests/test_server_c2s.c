/* SPDX-License-Identifier: MIT */
/* Criterion suite for server/c2s.h and server/local.c: client connections
 * driven without a network.  Each connection has an in-memory io (the bytes
 * it writes are collected and read back by an xsr parser, as a client would
 * read them: every byte the server writes must parse), a queue_work that
 * runs when the test pumps, and a timer the test fires by hand.  The
 * router's worker queues are popped by pump() into the recipients' output,
 * through xsr__c2s_popped() as the network layer does.  Logins use
 * libgsasl's client side for SCRAM. */
#define _GNU_SOURCE /* mkdtemp */
#include <criterion/criterion.h>
#include <gsasl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "c2s.h"
#include "sasl.h"
#include "users.h"
#include "xsr/xsr.h"

#define DOMAIN "example.com"
#define MAXC   8

/* ---- the server ------------------------------------------------------------ */

static xsr__server srv;
static xsr_router *router;
static xsr__users *users;
static xsr__sasl *sasl;
static Gsasl *gcli;
static char err[1024];
static xsr_session *room_for[64]; /* on_room reports */
static size_t nroom;

static void on_room(void *user, xsr_session *s) {
  (void)user;
  if (nroom < 64)
    room_for[nroom++] = s;
}

typedef struct tstr {
  char *p;
  size_t len, cap;
} tstr;

static void tadd(tstr *b, const void *d, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    cr_assert_not_null(b->p);
  }
  memcpy(b->p + b->len, d, n);
  b->len += n;
  b->p[b->len] = '\0';
}
static void tputs(tstr *b, const char *s) { tadd(b, s, strlen(s)); }

static void put_cred(tstr *j, const char *key, const xsr__scram_cred *c, xsr__scram_hash h) {
  char b[512], line[2048];
  size_t kl = xsr__scram_key_len(h);
  snprintf(line, sizeof line, "\"%s\":{\"iterations\":%u,\"salt\":\"", key, c->iterations);
  tputs(j, line);
  xsr__b64_encode(c->salt, c->salt_len, b);
  tputs(j, b);
  tputs(j, "\",\"stored-key\":\"");
  xsr__b64_encode(c->stored_key, kl, b);
  tputs(j, b);
  tputs(j, "\",\"server-key\":\"");
  xsr__b64_encode(c->server_key, kl, b);
  tputs(j, b);
  tputs(j, "\"}");
}

/* Accounts with passwords (through xsr__users_add), then the same
 * credentials written back with rosters:
 *   alice: bob (both, "Bob", groups Friends + Work), carol (from), dave (to)
 *   bob:   alice (both)
 *   carol: alice (to)
 *   dave:  no roster (so alice's 'to' gets her nothing) */
static const char *const rosters[][2] = {
    {"alice", "\"roster\":[{\"jid\":\"bob@" DOMAIN "\",\"name\":\"Bob\",\"groups\":[\"Friends\","
              "\"Work\"]},{\"jid\":\"carol@" DOMAIN "\",\"subscription\":\"from\"},"
              "{\"jid\":\"dave@" DOMAIN "\",\"subscription\":\"to\"}]"},
    {"bob", "\"roster\":[{\"jid\":\"alice@" DOMAIN "\"}]"},
    {"carol", "\"roster\":[{\"jid\":\"alice@" DOMAIN "\",\"subscription\":\"to\"}]"},
    {"dave", NULL}};

static void make_users(void) {
  char dir[256], path[300];
  const char *t = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/xsr-c2s-XXXXXX", t && *t ? t : "/tmp");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/users.json", dir);
  static const char *const acc[][2] = {{"alice@" DOMAIN, "secret"},
                                       {"bob@" DOMAIN, "bobpw"},
                                       {"carol@" DOMAIN, "carolpw"},
                                       {"dave@" DOMAIN, "davepw"}};
  for (size_t i = 0; i < 4; i++)
    cr_assert_eq(xsr__users_add(path, acc[i][0], strlen(acc[i][0]), acc[i][1], strlen(acc[i][1]),
                                err, sizeof err),
                 0, "%s", err);
  xsr__users *plain;
  cr_assert_eq(xsr__users_load(path, &plain, err, sizeof err), 0, "%s", err);
  unlink(path);
  rmdir(dir);
  tstr j = {0};
  tputs(&j, "{\"version\":1,\"domain\":\"" DOMAIN "\",\"users\":{");
  for (size_t i = 0; i < 4; i++) {
    const xsr__account *a = xsr__users_lookup(plain, rosters[i][0], strlen(rosters[i][0]));
    cr_assert_not_null(a);
    if (i)
      tputs(&j, ",");
    tputs(&j, "\"");
    tputs(&j, rosters[i][0]);
    tputs(&j, "\":{");
    put_cred(&j, "scram-sha-1", &a->cred[XSR__SCRAM_SHA1], XSR__SCRAM_SHA1);
    tputs(&j, ",");
    put_cred(&j, "scram-sha-256", &a->cred[XSR__SCRAM_SHA256], XSR__SCRAM_SHA256);
    if (rosters[i][1]) {
      tputs(&j, ",");
      tputs(&j, rosters[i][1]);
    }
    tputs(&j, "}");
  }
  tputs(&j, "}}");
  xsr__users_free(plain);
  cr_assert_eq(xsr__users_parse("users.json", j.p, j.len, &users, err, sizeof err), 0, "%s", err);
  free(j.p);
}

/* The router and server, with `budget` bytes per session (0: default). */
static void start(size_t budget) {
  xsr_router_config rc;
  xsr_router_config_init(&rc);
  rc.workers = 2;
  if (budget)
    rc.session_budget = budget;
  rc.on_room = on_room;
  rc.account_exists = xsr__server_account_exists;
  rc.user = &srv;
  router = xsr_router_new(&rc, NULL);
  cr_assert_not_null(router);
  srv.router = router;
  xsr_parser_config_init(&srv.parser_cfg);
  xsr__server_limits(&srv, &rc);
}

static void setup(void) {
  xsr_router_thread_register();
  make_users();
  xsr__sasl_config sc = {.plain_enabled = 1, .anonymous_enabled = 1};
  cr_assert_eq(xsr__sasl_new(&sc, &sasl, err, sizeof err), 0, "%s", err);
  cr_assert_eq(gsasl_init(&gcli), GSASL_OK);
  memset(&srv, 0, sizeof srv);
  srv.domain = DOMAIN;
  srv.domain_len = strlen(DOMAIN);
  srv.users = users;
  srv.sasl = sasl;
  srv.max_auth_failures = 3;
  srv.auth_failure_delay_ms = 1000;
  srv.conflict = XSR__CONFLICT_NEW_WINS;
  srv.version = "0.2.0";
  srv.header_max_decls = 2;
  srv.header_max_room = 200;
  nroom = 0;
  router = NULL;
}

/* ---- connections --------------------------------------------------------------- */

typedef struct conn {
  xsr__c2s *c;
  unsigned worker;
  tstr out; /* every byte written to the socket */
  int closed, freed, paused, pause_calls;
  int fail_writes;
  void (*work)(void *), (*done)(void *);
  void *warg;
  unsigned timer_ms;
  void (*fire)(xsr__c2s *);
  /* the client's view */
  xsr_parser *cp;
  size_t fed;
  int headers, stream_closed, restart;
  xsr_err cerr;
  char **st; /* top-level elements received, NUL-terminated copies */
  int *seen;
  size_t nst, capst;
  char id[80];
  char jid[256];    /* bound full JID */
  const char *host; /* the 'from' its stream headers must have (NULL: DOMAIN) */
  const char *hdr;  /* the header it restarts with (NULL: header) */
} conn;

static conn conns[MAXC];
static size_t nconns;

static int io_write(void *u, const void *d, size_t n) {
  conn *k = u;
  cr_assert(!k->closed, "write after close");
  if (k->fail_writes)
    return -1;
  tadd(&k->out, d, n);
  return 0;
}
static void io_close(void *u) {
  conn *k = u;
  cr_assert(!k->closed, "closed twice");
  k->closed = 1;
}
static void io_read_pause(void *u, int p) {
  conn *k = u;
  cr_assert_neq(k->paused, p, "read_pause(%d) twice", p);
  k->paused = p;
  k->pause_calls++;
}
static void io_queue_work(void *u, void (*work)(void *), void (*done)(void *), void *arg) {
  conn *k = u;
  cr_assert_null(k->work, "work queued twice");
  k->work = work;
  k->done = done;
  k->warg = arg;
}
static void io_timer(void *u, unsigned ms, void (*fire)(xsr__c2s *)) {
  conn *k = u;
  k->timer_ms = ms;
  k->fire = ms ? fire : NULL;
}
static const xsr__c2s_io io = {io_write, io_close, io_read_pause, io_queue_work, io_timer};

/* The client's parser. */
static int cl_open(void *u, const xsr_stream_header *h) {
  conn *k = u;
  k->headers++;
  cr_assert_not_null(h->id.ptr, "the server's header has an id");
  snprintf(k->id, sizeof k->id, "%.*s", (int)h->id.len, h->id.ptr);
  const char *want = k->host ? k->host : DOMAIN;
  cr_assert(h->from.len == strlen(want) && !memcmp(h->from.ptr, want, h->from.len),
            "header from '%.*s', want '%s'", (int)h->from.len, h->from.ptr, want);
  cr_assert_eq(h->version_major, 1);
  return 0;
}
static int cl_stanza(void *u, const xsr_stanza *st) {
  conn *k = u;
  if (k->nst == k->capst) {
    k->capst = k->capst ? 2 * k->capst : 16;
    k->st = realloc(k->st, k->capst * sizeof *k->st);
    k->seen = realloc(k->seen, k->capst * sizeof *k->seen);
  }
  k->st[k->nst] = strndup(st->raw.ptr, st->raw.len);
  k->seen[k->nst++] = 0;
  if (st->ns == XSR_NS_XMPP_SASL && st->name.len == 7 && !memcmp(st->name.ptr, "success", 7)) {
    k->restart = 1; /* RFC 6120 6.4.6: a new stream follows */
    return XSR_PAUSE;
  }
  return 0;
}
static int cl_close(void *u, uint64_t off) {
  conn *k = u;
  (void)off;
  k->stream_closed = 1;
  return 0;
}
static const xsr_parser_callbacks client_cb = {cl_open, cl_stanza, cl_close};

/* Reads what the server wrote since the last call. */
static void client_read(conn *k) {
  if (k->fed == k->out.len)
    return;
  xsr_err rc = xsr_parser_feed(k->cp, k->out.p + k->fed, k->out.len - k->fed);
  k->fed = k->out.len;
  while (rc == XSR_PAUSED && k->restart) {
    k->restart = 0;
    cr_assert_eq(xsr_parser_restart(k->cp), XSR_OK);
    rc = xsr_parser_resume(k->cp);
  }
  uint64_t off = 0;
  xsr_parser_error(k->cp, &off);
  cr_assert_eq(rc, XSR_OK, "the server wrote what a client cannot parse (%s at %llu): %s",
               xsr_err_name(rc), (unsigned long long)off, k->out.p);
}

static conn *find_conn(const xsr__c2s *c) {
  for (size_t i = 0; i < nconns; i++)
    if (conns[i].c == c && !conns[i].freed)
      return &conns[i];
  return NULL;
}

/* Runs queued work, delivers every routed message, until nothing moves. */
static void pump(void) {
  for (int again = 1; again;) {
    again = 0;
    for (size_t i = 0; i < nconns; i++) {
      conn *k = &conns[i];
      if (k->work) {
        void (*done)(void *) = k->done;
        void *arg = k->warg;
        k->work(arg);
        k->work = NULL;
        done(arg);
        again = 1;
      }
    }
    for (unsigned w = 0; w < 2; w++) {
      xsr_msg *m[32];
      size_t n;
      while ((n = xsr_worker_pop_owner(xsr_router_worker(router, w), m, 32)) > 0) {
        again = 1;
        for (size_t i = 0; i < n; i++) {
          conn *k = find_conn(xsr_session_user(xsr_msg_session(m[i])));
          cr_assert_not_null(k);
          cr_assert_eq(k->worker, w, "a message popped by another worker");
          int what = k->closed ? XSR__C2S_DROP : xsr__c2s_popped(k->c, m[i]);
          if (what != XSR__C2S_DROP) {
            xsr_span b = xsr_msg_bytes(m[i]);
            tadd(&k->out, b.ptr, b.len);
          }
          if (what == XSR__C2S_LAST)
            k->closed = 1;
          xsr_msg_release(m[i]);
        }
      }
    }
  }
  for (size_t i = 0; i < nconns; i++)
    if (!conns[i].freed)
      client_read(&conns[i]);
}

static void send_raw(conn *k, const char *s, size_t n) {
  cr_assert(!k->closed);
  int rc = xsr__c2s_input(k->c, s, n);
  cr_assert_eq(rc, k->closed ? -1 : 0, "input returned %d, closed %d", rc, k->closed);
  pump();
}
static void send(conn *k, const char *s) { send_raw(k, s, strlen(s)); }

/* The first unread element containing every needle (NULL-terminated list),
 * marked read; NULL when there is none. */
static const char *take_v(conn *k, const char *const *needles) {
  for (size_t i = 0; i < k->nst; i++) {
    if (k->seen[i])
      continue;
    int ok = 1;
    for (size_t j = 0; needles[j] && ok; j++)
      ok = strstr(k->st[i], needles[j]) != NULL;
    if (ok) {
      k->seen[i] = 1;
      return k->st[i];
    }
  }
  return NULL;
}
#define TAKE(k, ...) take_v((k), (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT(k, ...)                                                                             \
  ({                                                                                               \
    const char *got_ = TAKE(k, __VA_ARGS__);                                                       \
    cr_assert_not_null(got_, "%s did not receive an element with %s; output: %s", (k)->jid,        \
                       #__VA_ARGS__, (k)->out.p ? (k)->out.p : "");                                \
    got_;                                                                                          \
  })

static size_t unread(const conn *k) {
  size_t n = 0;
  for (size_t i = 0; i < k->nst; i++)
    n += !k->seen[i];
  return n;
}
static void drain(conn *k) {
  for (size_t i = 0; i < k->nst; i++)
    k->seen[i] = 1;
}
static void expect_nothing(conn *k) {
  for (size_t i = 0; i < k->nst; i++)
    cr_assert(k->seen[i], "%s got an unexpected %s", k->jid, k->st[i]);
}

static const char header[] =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='" DOMAIN "' version='1.0'>";

static conn *connect_on(unsigned worker, const char *hdr) {
  cr_assert_lt(nconns, MAXC);
  conn *k = &conns[nconns++];
  memset(k, 0, sizeof *k);
  k->worker = worker;
  k->c = xsr__c2s_new(&srv, worker, &io, k);
  cr_assert_not_null(k->c);
  k->cp = xsr_parser_new(NULL, &client_cb, k, NULL);
  cr_assert_not_null(k->cp);
  strcpy(k->jid, "(unbound)");
  if (hdr)
    send(k, hdr);
  return k;
}

static void stream_error_is(conn *k, const char *cond) {
  char want[160];
  snprintf(want, sizeof want, "<%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", cond);
  const char *e = EXPECT(k, "<stream:error>", want);
  cr_assert(k->closed, "the stream is closed after %s", e);
  cr_assert(k->stream_closed, "the error is followed by </stream:stream>");
  cr_assert_eq(xsr__c2s_input(k->c, "<x/>", 4), -1, "input after close");
}

static void release(conn *k) {
  if (k->freed)
    return;
  xsr__c2s_free(k->c);
  k->freed = 1;
  xsr_parser_free(k->cp);
  for (size_t i = 0; i < k->nst; i++)
    free(k->st[i]);
  free(k->st);
  free(k->seen);
  free(k->out.p);
}

static void teardown(void) {
  for (size_t i = 0; i < nconns; i++)
    release(&conns[i]);
  nconns = 0;
  if (router) {
    pump();
    xsr_router_free(router);
  }
  gsasl_done(gcli);
  xsr__sasl_free(sasl);
  xsr__users_free(users);
  xsr_router_thread_unregister();
}

TestSuite(c2s, .init = setup, .fini = teardown);

/* ---- logging in ---------------------------------------------------------------- */

static char *b64(const void *p, size_t n) {
  char *s = malloc(xsr__b64_encoded_len(n) + 1);
  xsr__b64_encode(p, n, s);
  return s;
}

/* The character data of a received element such as <challenge>X</challenge>. */
static char *inner(const char *el) {
  const char *a = strchr(el, '>');
  cr_assert_not_null(a);
  if (a[-1] == '/')
    return strdup("");
  const char *b = strrchr(el, '<');
  return strndup(a + 1, (size_t)(b - a - 1));
}

static void features_pre_auth(conn *k) {
  const char *f =
      EXPECT(k, "<stream:features>", "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>");
  cr_assert(strstr(f, "<mechanism>SCRAM-SHA-256</mechanism>"), "%s", f);
  cr_assert(strstr(f, "<mechanism>SCRAM-SHA-1</mechanism>"), "%s", f);
  cr_assert(strstr(f, "<mechanism>PLAIN</mechanism>"), "%s", f);
  cr_assert_null(strstr(f, "bind"), "no bind before authentication: %s", f);
}

static void restart_and_features(conn *k) {
  int before = k->headers;
  char old[80];
  strcpy(old, k->id);
  send(k, k->hdr ? k->hdr : header);
  cr_assert_eq(k->headers, before + 1);
  cr_assert_str_neq(k->id, old, "a new stream gets a new id");
  const char *f = EXPECT(k, "<stream:features>");
  cr_assert(strstr(f, "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"), "%s", f);
  cr_assert(strstr(f, "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>"),
            "%s", f);
  cr_assert_null(strstr(f, "mechanisms"), "%s", f);
}

static void plain_auth(conn *k, const char *user, const char *pw) {
  char msg[256], x[512];
  size_t n = (size_t)snprintf(msg, sizeof msg, "%c%s%c%s", 0, user, 0, pw);
  char *b = b64(msg, n);
  snprintf(x, sizeof x,
           "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>", b);
  free(b);
  send(k, x);
}

static void login_plain(conn *k, const char *user, const char *pw) {
  features_pre_auth(k);
  plain_auth(k, user, pw);
  EXPECT(k, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'");
  restart_and_features(k);
}

/* A SCRAM exchange through libgsasl's client; returns 1 on <success/>
 * (and checks the server's signature), 0 after <failure/>. */
static int scram(conn *k, const char *mech, const char *user, const char *pw) {
  Gsasl_session *s;
  char *out = NULL, x[4096];
  cr_assert_eq(gsasl_client_start(gcli, mech, &s), GSASL_OK);
  gsasl_property_set(s, GSASL_AUTHID, user);
  gsasl_property_set(s, GSASL_PASSWORD, pw);
  cr_assert_eq(gsasl_step64(s, "", &out), GSASL_NEEDS_MORE);
  snprintf(x, sizeof x, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='%s'>%s</auth>",
           mech, out);
  gsasl_free(out);
  send(k, x);
  const char *ch = EXPECT(k, "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>");
  char *data = inner(ch);
  out = NULL;
  cr_assert_eq(gsasl_step64(s, data, &out), GSASL_NEEDS_MORE);
  free(data);
  snprintf(x, sizeof x, "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>", out);
  gsasl_free(out);
  send(k, x);
  int ok = 0;
  const char *r = TAKE(k, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'");
  if (r) {
    data = inner(r);
    out = NULL;
    cr_assert_eq(gsasl_step64(s, data, &out), GSASL_OK, "the client rejects the server signature");
    gsasl_free(out);
    free(data);
    ok = 1;
  }
  gsasl_finish(s);
  return ok;
}

/* Binds; resource NULL asks the server to pick one.  Returns the full JID. */
static const char *bind_as(conn *k, const char *resource) {
  char x[512];
  if (resource)
    snprintf(x, sizeof x,
             "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
             "<resource>%s</resource></bind></iq>",
             resource);
  else
    snprintf(x, sizeof x,
             "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  send(k, x);
  const char *r = EXPECT(k, "<iq ", "id='b1'");
  cr_assert(strstr(r, "type='result'"), "bind failed: %s", r);
  const char *j = strstr(r, "<jid>");
  cr_assert_not_null(j, "%s", r);
  j += 5;
  snprintf(k->jid, sizeof k->jid, "%.*s", (int)(strstr(j, "</jid>") - j), j);
  cr_assert_not_null(xsr__c2s_session(k->c));
  return k->jid;
}

static conn *online(unsigned worker, const char *user, const char *pw, const char *res) {
  conn *k = connect_on(worker, header);
  login_plain(k, user, pw);
  bind_as(k, res);
  return k;
}

static void avail(conn *k, const char *extra) {
  char x[512];
  snprintf(x, sizeof x, "<presence>%s</presence>", extra ? extra : "");
  send(k, x);
}

/* ---- negotiation ----------------------------------------------------------------- */

Test(c2s, scram_sha256_login_restart_bind) {
  start(0);
  conn *k = connect_on(0, header);
  cr_assert_eq(k->headers, 1);
  cr_assert_eq(strlen(k->id), 32, "128 random bits in hex: %s", k->id);
  cr_assert_eq(strspn(k->id, "0123456789abcdef"), 32);
  features_pre_auth(k);
  cr_assert(scram(k, "SCRAM-SHA-256", "alice", "secret"));
  restart_and_features(k);
  cr_assert_str_eq(bind_as(k, "balcony"), "alice@" DOMAIN "/balcony");
  /* a second connection's stream id differs */
  conn *k2 = connect_on(1, header);
  cr_assert_str_neq(k2->id, k->id);
  features_pre_auth(k2);
  cr_assert(scram(k2, "SCRAM-SHA-1", "Bob", "bobpw"), "SCRAM-SHA-1 and a non-canonical name");
  restart_and_features(k2);
  cr_assert_str_eq(bind_as(k2, NULL) + 0, k2->jid);
  cr_assert(!strncmp(k2->jid, "bob@" DOMAIN "/", strlen("bob@" DOMAIN "/")), "%s", k2->jid);
  expect_nothing(k);
  expect_nothing(k2);
}

Test(c2s, pipelined_in_one_write_across_the_restart) {
  start(0);
  conn *k = connect_on(0, NULL);
  char msg[64], x[2048];
  size_t n = (size_t)snprintf(msg, sizeof msg, "%c%s%c%s", 0, "alice", 0, "secret");
  char *b = b64(msg, n);
  snprintf(
      x, sizeof x,
      "%s<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>%s"
      "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
      "<resource>pipe</resource></bind></iq><iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/>"
      "</iq>",
      header, b, header);
  free(b);
  /* One byte at a time: the parser keeps whatever the pause left. */
  for (size_t i = 0; x[i]; i++)
    send_raw(k, x + i, 1);
  cr_assert_eq(k->headers, 2);
  EXPECT(k, "<success");
  EXPECT(k, "id='b1'", "<jid>alice@" DOMAIN "/pipe</jid>");
  EXPECT(k, "id='p1'", "type='result'");
}

Test(c2s, plain_runs_off_the_loop_with_reading_paused) {
  start(0);
  conn *k = connect_on(0, header);
  features_pre_auth(k);
  char msg[64], x[512];
  size_t n = (size_t)snprintf(msg, sizeof msg, "%c%s%c%s", 0, "dave", 0, "davepw");
  char *b = b64(msg, n);
  snprintf(x, sizeof x,
           "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>", b);
  free(b);
  cr_assert_eq(xsr__c2s_input(k->c, x, strlen(x)), 0);
  cr_assert_not_null(k->work, "PLAIN's PBKDF2 goes to the thread pool");
  cr_assert(k->paused, "reading is paused while it runs");
  cr_assert_eq(unread(k), 0);
  /* bytes that still arrive are kept, not parsed */
  cr_assert_eq(xsr__c2s_input(k->c, header, 10), 0);
  pump();
  cr_assert(!k->paused);
  EXPECT(k, "<success");
  send(k, header + 10);
  cr_assert_eq(k->headers, 2);
}

Test(c2s, peer_gone_while_work_runs_frees_in_done) {
  start(0);
  conn *k = connect_on(0, header);
  plain_auth(k, "dave", "davepw");
  cr_assert_eq(k->work, NULL, "pump ran it");
  /* again, but the peer goes while it runs */
  conn *k2 = connect_on(1, header);
  char msg[64], x[512];
  size_t n = (size_t)snprintf(msg, sizeof msg, "%c%s%c%s", 0, "dave", 0, "davepw");
  char *b = b64(msg, n);
  snprintf(x, sizeof x,
           "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>", b);
  free(b);
  cr_assert_eq(xsr__c2s_input(k2->c, x, strlen(x)), 0);
  cr_assert_not_null(k2->work);
  xsr__c2s_peer_gone(k2->c);
  xsr__c2s_free(k2->c); /* deferred: done still has to run */
  void (*done)(void *) = k2->done;
  void *arg = k2->warg;
  k2->work(arg);
  k2->work = NULL;
  k2->freed = 1; /* the connection is gone; done frees the c2s (ASan checks) */
  done(arg);
  xsr_parser_free(k2->cp);
  for (size_t i = 0; i < k2->nst; i++)
    free(k2->st[i]);
  free(k2->st);
  free(k2->seen);
  free(k2->out.p);
}

Test(c2s, wrong_password_is_delayed_then_not_authorized) {
  start(0);
  conn *k = connect_on(0, header);
  features_pre_auth(k);
  plain_auth(k, "alice", "wrong");
  cr_assert_eq(unread(k), 0, "no <failure/> before the delay");
  cr_assert_eq(k->timer_ms, 1000);
  cr_assert(k->paused, "reading paused during the delay");
  /* the client's retry waits in the parser */
  cr_assert_eq(xsr__c2s_input(k->c, "<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", 49), 0);
  cr_assert_eq(unread(k), 0);
  k->fire(k->c);
  pump();
  EXPECT(k, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>");
  /* the abort then ran: a second failure, delayed too */
  cr_assert(k->paused);
  k->fire(k->c);
  pump();
  EXPECT(k, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><aborted/></failure>");
  cr_assert(!k->paused);
  /* and SCRAM with a wrong password fails the same way */
  cr_assert(!scram(k, "SCRAM-SHA-256", "bob", "nope"));
  cr_assert_eq(unread(k), 0);
  k->fire(k->c);
  pump();
  EXPECT(k, "<failure", "<not-authorized/>");
  /* that was the third: the stream is closed (RFC 6120 6.4.5) */
  stream_error_is(k, "policy-violation");
}

Test(c2s, failures_up_to_the_limit_then_close_and_other_conditions) {
  srv.auth_failure_delay_ms = 0;
  srv.max_auth_failures = 4;
  start(0);
  conn *k = connect_on(0, header);
  send(k, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-NOPE'/>");
  EXPECT(k, "<failure", "<invalid-mechanism/>");
  send(k, "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>AAAA</response>");
  EXPECT(k, "<failure", "<malformed-request/>");
  send(k, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>!!!!</auth>");
  EXPECT(k, "<failure", "<incorrect-encoding/>");
  cr_assert(!k->closed, "three of four");
  plain_auth(k, "carol", "bad");
  EXPECT(k, "<failure", "<not-authorized/>");
  stream_error_is(k, "policy-violation");
  cr_assert_eq(k->timer_ms, 0, "no delay configured, no timer");
}

Test(c2s, stanza_before_auth_or_bind_is_not_authorized) {
  start(0);
  conn *k = connect_on(0, header);
  send(k, "<message to='bob@" DOMAIN "'><body>hi</body></message>");
  stream_error_is(k, "not-authorized");
  conn *k2 = connect_on(0, header);
  login_plain(k2, "bob", "bobpw");
  send(k2, "<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>");
  stream_error_is(k2, "not-authorized");
}

Test(c2s, parser_errors_become_their_stream_error) {
  start(0);
  conn *k = connect_on(0, header);
  send(k, "<!-- no -->");
  stream_error_is(k, "restricted-xml");
  const char *t = TAKE(k, "x");
  (void)t;
  cr_assert(strstr(k->out.p, "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>"), "%s", k->out.p);
  cr_assert(strstr(k->out.p, "at byte "), "the text names the offset: %s", k->out.p);
  conn *k2 = online(1, "bob", "bobpw", "r");
  send(k2, "<message xmlns='jabber:server' to='alice@" DOMAIN "'/>");
  stream_error_is(k2, "invalid-namespace");
  conn *k3 = connect_on(0, header);
  send(k3, "<a></b>");
  stream_error_is(k3, "not-well-formed");
  /* a wrong stream namespace fails before our header was sent: one is sent first */
  conn *k4 = connect_on(0, "<stream:stream xmlns='jabber:server' "
                           "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>");
  cr_assert_eq(k4->headers, 1);
  stream_error_is(k4, "invalid-namespace");
}

Test(c2s, wrong_domain_version_and_header_limits) {
  start(0);
  conn *k = connect_on(0, "<stream:stream xmlns='jabber:client' "
                          "xmlns:stream='http://etherx.jabber.org/streams' to='other.org' "
                          "version='1.0'>");
  cr_assert_eq(k->headers, 1, "a header precedes the error (RFC 6120 4.9.1.2)");
  stream_error_is(k, "host-unknown");
  conn *k2 = connect_on(0, "<stream:stream xmlns='jabber:client' "
                           "xmlns:stream='http://etherx.jabber.org/streams' to='EXAMPLE.com'>");
  stream_error_is(k2, "unsupported-version");
  /* the domain is compared in canonical form: EXAMPLE.com is ours */
  conn *k3 = connect_on(0, "<stream:stream xmlns='jabber:client' "
                           "xmlns:stream='http://etherx.jabber.org/streams' to='EXAMPLE.com' "
                           "version='1.0' xmlns:a='urn:a' xmlns:b='urn:b'>");
  cr_assert(!k3->closed, "two extra declarations are allowed");
  features_pre_auth(k3);
  conn *k4 = connect_on(0, "<stream:stream xmlns='jabber:client' "
                           "xmlns:stream='http://etherx.jabber.org/streams' to='" DOMAIN "' "
                           "version='1.0' xmlns:a='urn:a' xmlns:b='urn:b' xmlns:c='urn:c'>");
  stream_error_is(k4, "policy-violation");
  conn *k5 = connect_on(
      0, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
         "to='" DOMAIN "' version='1.0' xml:lang='en' xmlns:a=\"urn:''''''''''''''''''''''''\">");
  /* 28 bytes as sent, but 148 as the router writes them (&apos;), with the
   * stream prefix and xml:lang: 221 > 200 */
  stream_error_is(k5, "policy-violation");
}

Test(c2s, client_closes_the_stream) {
  start(0);
  conn *a = online(0, "alice", "secret", "r1");
  conn *b = online(1, "bob", "bobpw", "r1");
  avail(b, NULL);
  avail(a, NULL);
  drain(a);
  drain(b);
  send(a, "</stream:stream>");
  cr_assert(a->closed && a->stream_closed);
  EXPECT(b, "<presence", "from='alice@" DOMAIN "/r1'", "type='unavailable'");
}

/* What a client asked for in the same read as its closing tag is answered
 * before ours (found by fuzz/c2s_fuzzer.c: the answers were dropped). */
Test(c2s, answers_come_before_the_closing_tag) {
  start(0);
  conn *a = online(0, "alice", "secret", "r1");
  drain(a);
  send(a, "<iq type='get' id='last1'><ping xmlns='urn:xmpp:ping'/></iq>"
          "<iq type='get' id='last2' to='" DOMAIN "'><query xmlns='jabber:iq:version'/></iq>"
          "</stream:stream>");
  cr_assert(a->closed && a->stream_closed);
  EXPECT(a, "id='last1'", "type='result'");
  EXPECT(a, "id='last2'", "type='result'", "xsr-router");
  const char *tail = strstr(a->out.p, "</stream:stream>");
  cr_assert(tail && tail > strstr(a->out.p, "id='last2'"), "%s", a->out.p);
}

Test(c2s, output_over_its_bound_fails_the_stream) {
  start(0);
  conn *k = connect_on(0, header);
  k->fail_writes = 1;
  send(k, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>"
          "biwsbj1hbGljZSxyPWFiY2RlZmdoaWprbG1ub3A=</auth>");
  cr_assert(k->closed, "io->write's -1 closes the stream");
}

/* ---- binding -------------------------------------------------------------------- */

Test(c2s, bind_chosen_generated_and_refused_resources) {
  start(0);
  conn *a = online(0, "alice", "secret", "Balcony");
  cr_assert_str_eq(a->jid, "alice@" DOMAIN "/Balcony", "resources keep their case");
  conn *g = online(1, "alice", "secret", NULL);
  cr_assert(!strncmp(g->jid, "alice@" DOMAIN "/xsr-", strlen("alice@" DOMAIN "/xsr-")), "%s",
            g->jid);
  cr_assert_eq(strlen(g->jid), strlen("alice@" DOMAIN "/xsr-") + 16);
  conn *e = online(0, "carol", "carolpw", "");
  cr_assert(strstr(e->jid, "/xsr-"), "an empty resource is server-generated: %s", e->jid);
  /* a resource over 1023 bytes: bad-request (RFC 6120 7.7.2.1) */
  conn *k = connect_on(0, header);
  login_plain(k, "dave", "davepw");
  char x[2400];
  int n = snprintf(x, sizeof x,
                   "<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                   "<resource>");
  memset(x + n, 'r', 1100);
  strcpy(x + n + 1100, "</resource></bind></iq>");
  send(k, x);
  EXPECT(k, "id='b2'", "type='error'", "<error type='modify'>",
         "<bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>");
  cr_assert_null(xsr__c2s_session(k->c));
  send(k, "<iq type='get' id='b3'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  EXPECT(k, "id='b3'", "<bad-request");
  cr_assert_str_eq(bind_as(k, "ok"), "dave@" DOMAIN "/ok");
}

Test(c2s, legacy_session_is_answered) {
  start(0);
  conn *k = connect_on(0, header);
  login_plain(k, "alice", "secret");
  send(k, "<iq type='set' id='s0'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
  EXPECT(k, "id='s0'", "type='result'");
  bind_as(k, "r");
  send(k, "<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
  EXPECT(k, "id='s1'", "type='result'", "to='alice@" DOMAIN "/r'");
  expect_nothing(k);
}

Test(c2s, conflict_new_wins_kicks_the_old_session_on_another_worker) {
  start(0);
  conn *old = online(0, "alice", "secret", "home");
  conn *bob = online(1, "bob", "bobpw", "pc");
  avail(bob, NULL);
  drain(bob);
  avail(old, "<show>away</show>");
  EXPECT(bob, "<presence", "from='alice@" DOMAIN "/home'", "<show>away</show>");
  drain(old);
  conn *nu = online(1, "alice", "secret", "home");
  cr_assert_str_eq(nu->jid, "alice@" DOMAIN "/home");
  /* the old one got the conflict stream error through its own queue and
   * worker, as its last bytes */
  cr_assert(old->closed);
  EXPECT(old, "<stream:error>", "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>");
  cr_assert(old->stream_closed);
  /* bob saw it go before the new session says anything */
  EXPECT(bob, "<presence", "from='alice@" DOMAIN "/home'", "type='unavailable'");
  avail(nu, NULL);
  EXPECT(bob, "<presence", "from='alice@" DOMAIN "/home'");
  expect_nothing(bob);
  /* messages to the full JID reach the new session */
  send(bob, "<message to='alice@" DOMAIN "/home' type='chat'><body>new</body></message>");
  EXPECT(nu, "<body>new</body>");
  /* the old connection's end sends no second unavailable */
  xsr__c2s_peer_gone(old->c);
  pump();
  expect_nothing(bob);
  drain(nu);

  /* A kicked session that speaks before its owner pops the conflict: it
   * is refused there and then, and nothing of it is routed. */
  conn *third = connect_on(0, header);
  login_plain(third, "alice", "secret");
  static const char b3[] = "<iq type='set' id='b3'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                           "<resource>home</resource></bind></iq>";
  cr_assert_eq(xsr__c2s_input(third->c, b3, sizeof b3 - 1), 0); /* no pump: nu has not popped */
  static const char late[] = "<presence><status>stale</status></presence>";
  cr_assert_eq(xsr__c2s_input(nu->c, late, sizeof late - 1), -1);
  pump();
  EXPECT(third, "id='b3'", "type='result'");
  EXPECT(nu, "<stream:error>", "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>");
  EXPECT(bob, "from='alice@" DOMAIN "/home'", "type='unavailable'");
  cr_assert_null(TAKE(bob, "stale"), "a kicked session's presence is not broadcast");
  expect_nothing(bob);
}

Test(c2s, conflict_old_wins_refuses_the_new_bind) {
  srv.conflict = XSR__CONFLICT_OLD_WINS;
  start(0);
  conn *old = online(0, "alice", "secret", "home");
  conn *k = connect_on(1, header);
  login_plain(k, "alice", "secret");
  send(k, "<iq type='set' id='b9'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
          "<resource>home</resource></bind></iq>");
  EXPECT(k, "id='b9'", "type='error'", "<error type='cancel'>",
         "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>");
  cr_assert_null(xsr__c2s_session(k->c));
  cr_assert(!old->closed);
  cr_assert_str_eq(bind_as(k, "work"), "alice@" DOMAIN "/work");
  expect_nothing(old);
}

/* ---- routing and what the server answers ------------------------------------------- */

Test(c2s, message_between_clients_is_stamped) {
  start(0);
  conn *a = online(0, "alice", "secret", "r1");
  conn *b = online(1, "bob", "bobpw", "r2");
  send(a, "<message to='bob@" DOMAIN "/r2' from='eve@evil.org' type='chat' id='m1'>"
          "<body>hi &amp; bye</body></message>");
  const char *m = EXPECT(b, "<message", "id='m1'", "<body>hi &amp; bye</body>");
  cr_assert(strstr(m, " from='alice@" DOMAIN "/r1'"), "%s", m);
  cr_assert_null(strstr(m, "evil"), "a forged from is replaced: %s", m);
  /* to the bare JID: bob is not available yet, so a chat is bounced */
  send(a, "<message to='bob@" DOMAIN "' type='chat' id='m2'><body>x</body></message>");
  EXPECT(a, "id='m2'", "type='error'", "<service-unavailable");
  avail(b, NULL);
  drain(b);
  drain(a);
  send(a, "<message to='bob@" DOMAIN "' type='chat' id='m3'><body>y</body></message>");
  EXPECT(b, "id='m3'", "from='alice@" DOMAIN "/r1'");
  /* no 'to': for the sender's own bare JID (RFC 6120 10.3.1) */
  send(b, "<message type='chat' id='m4'><body>self</body></message>");
  EXPECT(b, "id='m4'", "from='bob@" DOMAIN "/r2'");
  /* to the domain: nothing takes messages there */
  send(a, "<message to='" DOMAIN "' id='m5'><body>z</body></message>");
  EXPECT(a, "id='m5'", "type='error'", "<service-unavailable");
  /* a top-level element that is no stanza */
  send(a, "<foo xmlns='jabber:client'/>");
  stream_error_is(a, "unsupported-stanza-type");
}

Test(c2s, presence_broadcast_to_own_resources_and_contacts) {
  start(0);
  conn *a1 = online(0, "alice", "secret", "r1");
  conn *a2 = online(1, "alice", "secret", "r2");
  conn *b = online(1, "bob", "bobpw", "pc");
  conn *c = online(0, "carol", "carolpw", "c");
  conn *d = online(0, "dave", "davepw", "d");
  avail(a2, NULL);
  avail(b, NULL);
  avail(c, NULL);
  avail(d, NULL);
  drain(a1);
  drain(a2);
  drain(b);
  drain(c);
  drain(d);
  avail(a1, "<priority>5</priority><status>here</status>");
  /* the sender itself, its other available resource, bob (both), carol (from) */
  const char *want = "from='alice@" DOMAIN "/r1'";
  EXPECT(a1, "<presence", want, "<status>here</status>");
  EXPECT(a2, "<presence", want, "<status>here</status>");
  EXPECT(b, "<presence", want, "<priority>5</priority>");
  EXPECT(c, "<presence", want);
  expect_nothing(d); /* alice lists dave as 'to': he does not see her */
  expect_nothing(b);
  /* initial presence: alice/r1 learns its other resource and bob (bob's
   * roster lets alice see him); carol's roster lists alice as 'to' only,
   * so carol's presence stays hidden */
  EXPECT(a1, "<presence", "from='alice@" DOMAIN "/r2'");
  EXPECT(a1, "<presence", "from='bob@" DOMAIN "/pc'");
  cr_assert_null(TAKE(a1, "from='carol@"), "carol does not share her presence with alice");
  cr_assert_null(TAKE(a1, "from='dave@"), "alice lists dave as 'to', but dave's roster decides");
  expect_nothing(a1);
  /* an update is not initial: no probes again */
  send(a1, "<presence from='eve@evil.org' id='u'><show>dnd</show></presence>");
  EXPECT(a1, "<show>dnd</show>");
  const char *u = EXPECT(b, "<show>dnd</show>");
  cr_assert(strstr(u, "<presence from='alice@" DOMAIN "/r1' id='u'>"), "stamped: %s", u);
  cr_assert_null(strstr(u, "evil"), "%s", u);
  expect_nothing(a1);
  /* unavailable goes the same way */
  send(a1, "<presence type='unavailable'/>");
  EXPECT(b, "from='alice@" DOMAIN "/r1'", "type='unavailable'");
  EXPECT(a2, "from='alice@" DOMAIN "/r1'", "type='unavailable'");
  EXPECT(c, "type='unavailable'");
  /* and nothing on disconnect after it */
  xsr__c2s_peer_gone(a1->c);
  pump();
  expect_nothing(b);
}

Test(c2s, probes_answered_with_the_last_presence) {
  start(0);
  conn *b = online(1, "bob", "bobpw", "pc");
  avail(b, "<status>at work</status>");
  conn *a = online(0, "alice", "secret", "r1");
  avail(a, NULL);
  const char *p = EXPECT(a, "<presence", "from='bob@" DOMAIN "/pc'", "<status>at work</status>");
  cr_assert_null(strstr(p, " to="), "%s", p);
  drain(a);
  /* an explicit probe gets it again */
  send(a, "<presence type='probe' to='bob@" DOMAIN "'/>");
  EXPECT(a, "from='bob@" DOMAIN "/pc'", "<status>at work</status>");
  /* a probe of someone whose roster does not allow it: nothing */
  conn *d = online(1, "dave", "davepw", "d");
  avail(d, NULL);
  drain(a);
  send(a, "<presence type='probe' to='dave@" DOMAIN "'/>");
  expect_nothing(a);
  /* bob goes: a probe is answered with unavailable from his bare JID */
  xsr__c2s_peer_gone(b->c);
  pump();
  EXPECT(a, "from='bob@" DOMAIN "/pc'", "type='unavailable'");
  send(a, "<presence type='probe' to='bob@" DOMAIN "'/>");
  EXPECT(a, "<presence from='bob@" DOMAIN "' type='unavailable'/>");
}

Test(c2s, unavailable_on_peer_gone_and_subscriptions) {
  start(0);
  conn *a = online(0, "alice", "secret", "r1");
  conn *b = online(1, "bob", "bobpw", "pc");
  conn *c = online(1, "carol", "carolpw", "c");
  avail(b, NULL);
  avail(c, NULL);
  avail(a, NULL);
  drain(b);
  drain(c);
  drain(a);
  xsr__c2s_peer_gone(a->c);
  pump();
  EXPECT(b, "<presence from='alice@" DOMAIN "/r1' type='unavailable'/>");
  EXPECT(c, "<presence from='alice@" DOMAIN "/r1' type='unavailable'/>");
  /* subscribe: granted when the contact's roster already says so */
  send(c, "<presence type='subscribe' to='alice@" DOMAIN "'/>");
  EXPECT(c, "<presence from='alice@" DOMAIN "' type='subscribed'/>");
  send(b, "<presence type='subscribe' to='dave@" DOMAIN "'/>");
  EXPECT(b, "<presence from='dave@" DOMAIN "' type='unsubscribed'/>");
  send(b, "<presence type='unsubscribed' to='alice@" DOMAIN "'/>");
  expect_nothing(b);
}

/* RFC 6121 4.6.3: directed presence to an address outside alice's
 * subscriptions (dave: alice lists him 'to' only) is followed by unavailable
 * when she drops; bob (both) and carol (from) hear it once, through the
 * broadcast, even when the directed presence went to them too. */
Test(c2s, directed_presence_gets_unavailable_on_peer_gone) {
  start(0);
  conn *a = online(0, "alice", "secret", "r1");
  conn *b = online(1, "bob", "bobpw", "pc");
  conn *c = online(1, "carol", "carolpw", "c");
  conn *d1 = online(1, "dave", "davepw", "d1");
  conn *d2 = online(0, "dave", "davepw", "d2");
  avail(b, NULL);
  avail(c, NULL);
  avail(d1, NULL);
  avail(d2, NULL);
  avail(a, NULL);
  send(a, "<presence to='dave@" DOMAIN "'><status>hi dave</status></presence>");
  send(a, "<presence to='bob@" DOMAIN "/pc'/>");
  send(a, "<presence to='carol@" DOMAIN "/c'/>");
  EXPECT(d1, "from='alice@" DOMAIN "/r1'", "<status>hi dave</status>");
  EXPECT(d2, "from='alice@" DOMAIN "/r1'", "<status>hi dave</status>");
  for (conn *k = a; k <= d2; k++)
    drain(k);
  xsr__c2s_peer_gone(a->c);
  pump();
  EXPECT(d1, "<presence from='alice@" DOMAIN "/r1' to='dave@" DOMAIN "' type='unavailable'/>");
  EXPECT(d2, "<presence from='alice@" DOMAIN "/r1' to='dave@" DOMAIN "' type='unavailable'/>");
  EXPECT(b, "<presence from='alice@" DOMAIN "/r1' type='unavailable'/>");
  EXPECT(c, "<presence from='alice@" DOMAIN "/r1' type='unavailable'/>");
  expect_nothing(b);
  expect_nothing(c);
  expect_nothing(d1);
  expect_nothing(d2);
}

/* The same on unavailable presence without 'to'; an address that got
 * directed unavailable already gets nothing more; the address is
 * remembered normalised; and directed presence sent while unavailable is
 * followed by unavailable when the session drops. */
Test(c2s, directed_presence_gets_unavailable_with_the_broadcast) {
  start(0);
  conn *a = online(0, "alice", "secret", "r1");
  conn *d1 = online(1, "dave", "davepw", "d1");
  conn *d2 = online(0, "dave", "davepw", "d2");
  avail(a, NULL);
  send(a, "<presence to='Dave@" DOMAIN "/d1'/>");
  send(a, "<presence to='dave@" DOMAIN "/d2'/>");
  send(a, "<presence to='dave@" DOMAIN "/d2' type='unavailable'/>");
  EXPECT(d1, "<presence", "from='alice@" DOMAIN "/r1'");
  EXPECT(d2, "<presence", "from='alice@" DOMAIN "/r1'");
  EXPECT(d2, "<presence", "from='alice@" DOMAIN "/r1'", "type='unavailable'");
  expect_nothing(d1);
  expect_nothing(d2);
  send(a, "<presence type='unavailable'><status>bye</status></presence>");
  EXPECT(d1, "<presence from='alice@" DOMAIN "/r1' to='dave@" DOMAIN "/d1' type='unavailable'/>");
  expect_nothing(d1);
  expect_nothing(d2);
  /* told once: nothing again when she drops */
  xsr__c2s_peer_gone(a->c);
  pump();
  expect_nothing(d1);
  expect_nothing(d2);
  /* directed presence from a session that is not available */
  conn *a2 = online(1, "alice", "secret", "r2");
  send(a2, "<presence to='dave@" DOMAIN "/d2'/>");
  EXPECT(d2, "<presence", "from='alice@" DOMAIN "/r2'");
  send(a2, "<presence type='unavailable'/>");
  EXPECT(d2, "<presence from='alice@" DOMAIN "/r2' to='dave@" DOMAIN "/d2' type='unavailable'/>");
  send(a2, "<presence to='dave@" DOMAIN "/d1'/>");
  EXPECT(d1, "<presence", "from='alice@" DOMAIN "/r2'");
  xsr__c2s_peer_gone(a2->c);
  pump();
  EXPECT(d1, "<presence from='alice@" DOMAIN "/r2' to='dave@" DOMAIN "/d1' type='unavailable'/>");
  expect_nothing(d1);
  expect_nothing(d2);
}

Test(c2s, roster_ping_disco_version_and_the_rest) {
  start(0);
  conn *a = online(0, "alice", "secret", "r1");
  send(a, "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
  const char *r = EXPECT(a, "id='r1'", "type='result'");
  cr_assert(strstr(r, "<query xmlns='jabber:iq:roster'><item jid='bob@" DOMAIN
                      "' name='Bob' subscription='both'><group>Friends</group><group>Work</group>"
                      "</item><item jid='carol@" DOMAIN
                      "' subscription='from'/><item jid='dave@" DOMAIN
                      "' subscription='to'/></query>"),
            "%s", r);
  cr_assert_null(strstr(r, "ver="), "no roster versioning");
  send(a, "<iq type='set' id='r2'><query xmlns='jabber:iq:roster'><item jid='x@y'/></query></iq>");
  EXPECT(a, "id='r2'", "type='error'", "<not-allowed");
  send(a, "<iq type='get' id='r3' to='bob@" DOMAIN "'><query xmlns='jabber:iq:roster'/></iq>");
  EXPECT(a, "id='r3'", "<forbidden");
  send(a, "<iq type='get' id='p1' to='" DOMAIN "'><ping xmlns='urn:xmpp:ping'/></iq>");
  const char *p = EXPECT(a, "id='p1'", "type='result'", "from='" DOMAIN "'");
  cr_assert(strstr(p, "to='alice@" DOMAIN "/r1'"), "%s", p);
  send(a, "<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>");
  p = EXPECT(a, "id='p2'", "type='result'");
  cr_assert_null(strstr(p, "from="), "no 'to' asked, no 'from' answered: %s", p);
  send(a, "<iq type='get' id='d1' to='" DOMAIN "'>"
          "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
  const char *d = EXPECT(a, "id='d1'", "<identity category='server' type='im'");
  cr_assert(strstr(d, "<feature var='urn:xmpp:ping'/>"), "%s", d);
  cr_assert(strstr(d, "<feature var='jabber:iq:version'/>"), "%s", d);
  cr_assert(strstr(d, "<feature var='http://jabber.org/protocol/disco#items'/>"), "%s", d);
  send(a, "<iq type='get' id='d2' to='alice@" DOMAIN "'>"
          "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
  EXPECT(a, "id='d2'", "<identity category='account' type='registered'/>");
  send(a, "<iq type='get' id='d3' to='" DOMAIN "'>"
          "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>");
  EXPECT(a, "id='d3'", "<query xmlns='http://jabber.org/protocol/disco#items'/>");
  send(a, "<iq type='get' id='d4' to='" DOMAIN "'>"
          "<query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>");
  EXPECT(a, "id='d4'", "<item-not-found");
  send(a, "<iq type='get' id='v1' to='" DOMAIN "'><query xmlns='jabber:iq:version'/></iq>");
  const char *v = EXPECT(a, "id='v1'", "<name>xsr-router</name>", "<version>0.2.0</version>");
  cr_assert_null(strstr(v, "<os>"), "%s", v);
  send(a, "<iq type='get' id='u1' to='" DOMAIN "'><query xmlns='urn:unknown'/></iq>");
  EXPECT(a, "id='u1'", "type='error'", "<service-unavailable");
  send(a, "<iq type='get' id='u2' to='remote.org'><ping xmlns='urn:xmpp:ping'/></iq>");
  EXPECT(a, "id='u2'", "<remote-server-not-found");
  send(a, "<iq type='result' id='u3' to='" DOMAIN "'/>");
  send(a, "<iq id='u4'><ping xmlns='urn:xmpp:ping'/></iq>");
  EXPECT(a, "id='u4'", "<bad-request");
  send(a, "<iq type='get' id='&lt;x&gt;'><ping xmlns='urn:xmpp:ping'/></iq>");
  EXPECT(a, "id='&lt;x&gt;'", "type='result'");
  expect_nothing(a);
}

Test(c2s, back_pressure_blocks_the_sender_and_loses_nothing) {
  start(600); /* bytes per session */
  conn *a = online(0, "alice", "secret", "r1");
  conn *b = online(1, "bob", "bobpw", "r2");
  /* Deliver nothing to bob for now: his queue fills. */
  char x[8192] = "";
  size_t n = 0;
  for (int i = 0; i < 10; i++)
    n += (size_t)snprintf(x + n, sizeof x - n,
                          "<message to='bob@" DOMAIN "/r2' id='q%d'><body>%060d</body></message>",
                          i, i);
  cr_assert_eq(xsr__c2s_input(a->c, x, n), 0);
  cr_assert(xsr__c2s_blocked(a->c), "bob's budget refused a stanza");
  cr_assert(a->paused, "reading stops");
  /* bytes that come meanwhile wait too */
  cr_assert_eq(
      xsr__c2s_input(a->c, "<iq type='get' id='last'><ping xmlns='urn:xmpp:ping'/></iq>", 59), 0);
  /* drain: on_room fires; the network layer then retries the sender */
  for (int rounds = 0; xsr__c2s_blocked(a->c); rounds++) {
    cr_assert_lt(rounds, 50);
    nroom = 0;
    pump();
    cr_assert_gt(nroom, 0, "on_room after the drain");
    xsr__c2s_retry(a->c);
  }
  pump();
  cr_assert(!a->paused);
  for (int i = 0; i < 10; i++) {
    char id[16];
    snprintf(id, sizeof id, "id='q%d'", i);
    EXPECT(b, id);
    cr_assert_eq(b->seen[i], 1, "in order: q%d is element %d", i, i);
  }
  expect_nothing(b);
  EXPECT(a, "id='last'", "type='result'");
  expect_nothing(a);
}

Test(c2s, anonymous_login) {
  start(0);
  conn *k = connect_on(0, header);
  features_pre_auth(k);
  send(k, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'>=</auth>");
  EXPECT(k, "<success");
  restart_and_features(k);
  bind_as(k, "x");
  cr_assert(!strncmp(k->jid, "anon-", 5), "%s", k->jid);
  send(k, "<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>");
  EXPECT(k, "id='r'", "<query xmlns='jabber:iq:roster'/>");
  avail(k, NULL);
  EXPECT(k, "<presence");
  /* its bare JID exists while it is connected */
  conn *b = online(1, "bob", "bobpw", "pc");
  char m[512];
  snprintf(m, sizeof m,
           "<iq type='get' id='dd' to='%.*s'><query "
           "xmlns='http://jabber.org/protocol/disco#info'/></iq>",
           (int)(strchr(k->jid, '/') - k->jid), k->jid);
  send(b, m);
  EXPECT(b, "id='dd'", "type='result'");
}

Test(c2s, a_client_that_does_not_read_its_answers_stops_being_read) {
  start(600);
  conn *a = online(0, "alice", "secret", "r1");
  tstr x = {0};
  for (int i = 0; i < 30; i++) {
    char one[128];
    snprintf(one, sizeof one, "<iq type='get' id='p%d'><ping xmlns='urn:xmpp:ping'/></iq>", i);
    tputs(&x, one);
  }
  /* No pump: the answers pile up in alice's own queue. */
  cr_assert_eq(xsr__c2s_input(a->c, x.p, x.len), 0);
  free(x.p);
  cr_assert(xsr__c2s_blocked(a->c), "the server's answers are under her budget too");
  cr_assert(a->paused);
  for (int rounds = 0; xsr__c2s_blocked(a->c); rounds++) {
    cr_assert_lt(rounds, 50);
    nroom = 0;
    pump();
    cr_assert_gt(nroom, 0);
    xsr__c2s_retry(a->c);
  }
  pump();
  for (int i = 0; i < 30; i++) {
    char id[16];
    snprintf(id, sizeof id, "id='p%d'", i);
    EXPECT(a, id, "type='result'");
  }
  expect_nothing(a);
}

Test(c2s, broadcast_carries_the_stream_context) {
  start(0);
  conn *b = online(1, "bob", "bobpw", "pc");
  avail(b, NULL);
  drain(b);
  static const char hdr[] = "<stream:stream xmlns='jabber:client' "
                            "xmlns:stream='http://etherx.jabber.org/streams' to='" DOMAIN "' "
                            "version='1.0' xml:lang='fr' xmlns:x='urn:x'>";
  conn *a = connect_on(0, hdr);
  features_pre_auth(a);
  plain_auth(a, "alice", "secret");
  EXPECT(a, "<success");
  send(a, hdr);
  EXPECT(a, "<stream:features>");
  bind_as(a, "r1");
  send(a, "<presence><x:caps a='1'/></presence>");
  /* bob's client parser read it (pump checks): the prefix came along */
  const char *p = EXPECT(b, "<x:caps a='1'/>");
  cr_assert(strstr(p, "<presence from='alice@" DOMAIN "/r1' xmlns:x='urn:x' xml:lang='fr'>"), "%s",
            p);
}

/* ---- virtual hosts -------------------------------------------------------------- */

#define OTHER "other.example"
#define VHDR(d)                                                                                    \
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "                                     \
  "xmlns:stream='http://etherx.jabber.org/streams' to='" d "' version='1.0'>"

static const char *const two_hosts[] = {DOMAIN, OTHER}; /* strcmp order */

/* Serves DOMAIN and OTHER from one version 2 users table:
 *   alice@DOMAIN (secret): roster erin@OTHER (both), bob@DOMAIN (both)
 *   bob@DOMAIN (bobpw)
 *   erin@OTHER (erinpw): roster alice@DOMAIN (both)
 *   alice@OTHER (otherpw): another account with the same localpart */
static void vhosts(void) {
  char dir[256], path[300];
  const char *t = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/xsr-c2s-XXXXXX", t && *t ? t : "/tmp");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/users.json", dir);
  static const char *const acc[][3] = {
      {"alice@" DOMAIN, "secret",
       "\"roster\":[{\"jid\":\"erin@" OTHER "\"},{\"jid\":\"bob@" DOMAIN "\"}]"},
      {"bob@" DOMAIN, "bobpw", NULL},
      {"erin@" OTHER, "erinpw", "\"roster\":[{\"jid\":\"alice@" DOMAIN "\"}]"},
      {"alice@" OTHER, "otherpw", NULL}};
  for (size_t i = 0; i < 4; i++)
    cr_assert_eq(xsr__users_add(path, acc[i][0], strlen(acc[i][0]), acc[i][1], strlen(acc[i][1]),
                                err, sizeof err),
                 0, "%s", err);
  xsr__users *plain;
  cr_assert_eq(xsr__users_load(path, &plain, err, sizeof err), 0, "%s", err);
  unlink(path);
  rmdir(dir);
  tstr j = {0};
  tputs(&j, "{\"version\":2,\"domains\":{");
  for (size_t d = 0; d < 2; d++) {
    tputs(&j, d ? ",\"" : "\"");
    tputs(&j, two_hosts[d]);
    tputs(&j, "\":{\"users\":{");
    int first = 1;
    for (size_t i = 0; i < 4; i++) {
      const char *at = strchr(acc[i][0], '@');
      if (strcmp(at + 1, two_hosts[d]) != 0)
        continue;
      const xsr__users *h = xsr__users_host(plain, two_hosts[d], strlen(two_hosts[d]));
      cr_assert_not_null(h);
      const xsr__account *a = xsr__users_lookup(h, acc[i][0], (size_t)(at - acc[i][0]));
      cr_assert_not_null(a);
      tputs(&j, first ? "\"" : ",\"");
      first = 0;
      tadd(&j, acc[i][0], (size_t)(at - acc[i][0]));
      tputs(&j, "\":{");
      put_cred(&j, "scram-sha-1", &a->cred[XSR__SCRAM_SHA1], XSR__SCRAM_SHA1);
      tputs(&j, ",");
      put_cred(&j, "scram-sha-256", &a->cred[XSR__SCRAM_SHA256], XSR__SCRAM_SHA256);
      if (acc[i][2]) {
        tputs(&j, ",");
        tputs(&j, acc[i][2]);
      }
      tputs(&j, "}");
    }
    tputs(&j, "}}");
  }
  tputs(&j, "}}");
  xsr__users_free(plain);
  xsr__users_free(users);
  cr_assert_eq(xsr__users_parse("users.json", j.p, j.len, &users, err, sizeof err), 0, "%s", err);
  free(j.p);
  srv.users = users;
  srv.domains = two_hosts;
  srv.ndomains = 2;
  start(0);
}

/* A connection whose stream header names `host`. */
static conn *connect_host(unsigned worker, const char *host, const char *hdr) {
  cr_assert_lt(nconns, MAXC);
  conn *k = connect_on(worker, NULL);
  k->host = host;
  k->hdr = hdr;
  send(k, hdr);
  return k;
}

static conn *online_host(unsigned worker, const char *host, const char *hdr, const char *user,
                         const char *pw, const char *res) {
  conn *k = connect_host(worker, host, hdr);
  login_plain(k, user, pw);
  bind_as(k, res);
  return k;
}

Test(c2s, vhost_header_picks_the_host_for_sasl_and_bind) {
  vhosts();
  cr_assert_eq(xsr__server_host_count(&srv), 2);
  cr_assert_eq(xsr__server_host(&srv, OTHER, strlen(OTHER)), 1);
  cr_assert_eq(xsr__server_host(&srv, DOMAIN, strlen(DOMAIN)), 0);
  cr_assert_eq(xsr__server_host(&srv, "nowhere.example", 15), -1);
  cr_assert_eq(xsr__server_host(&srv, "other.exampl", 12), -1);
  /* SCRAM against the other host's accounts; the header answers from it */
  conn *e = connect_host(0, OTHER, VHDR(OTHER));
  cr_assert_eq(e->headers, 1);
  features_pre_auth(e);
  cr_assert(scram(e, "SCRAM-SHA-256", "erin", "erinpw"), "erin logs in on " OTHER);
  restart_and_features(e);
  cr_assert_str_eq(bind_as(e, "phone"), "erin@" OTHER "/phone");
  /* the same localpart in each domain is two accounts, with their own passwords */
  conn *a = online_host(1, OTHER, VHDR(OTHER), "alice", "otherpw", "r");
  cr_assert_str_eq(a->jid, "alice@" OTHER "/r");
  conn *a2 = online_host(1, DOMAIN, VHDR("EXAMPLE.COM"), "alice", "secret", "r");
  cr_assert_str_eq(a2->jid, "alice@" DOMAIN "/r");
  /* no 'to': the default host (srv.domain) */
  conn *b = online(0, "bob", "bobpw", NULL);
  cr_assert(strncmp(b->jid, "bob@" DOMAIN "/", strlen("bob@" DOMAIN "/")) == 0, "%s", b->jid);
}

Test(c2s, vhost_accounts_of_another_host_are_refused) {
  vhosts();
  srv.auth_failure_delay_ms = 0;
  srv.max_auth_failures = 5;
  conn *k = connect_host(0, DOMAIN, VHDR(DOMAIN));
  features_pre_auth(k);
  cr_assert(!scram(k, "SCRAM-SHA-256", "erin", "erinpw"), "erin is not an account of " DOMAIN);
  EXPECT(k, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>");
  plain_auth(k, "erin", "erinpw");
  EXPECT(k, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>");
  conn *o = connect_host(0, OTHER, VHDR(OTHER));
  features_pre_auth(o);
  plain_auth(o, "bob", "bobpw");
  EXPECT(o, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>");
  /* alice@OTHER's password is not alice@DOMAIN's */
  plain_auth(o, "alice", "secret");
  EXPECT(o, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>");
  plain_auth(o, "alice", "otherpw");
  EXPECT(o, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'");
  /* the restarted stream must stay on the host it authenticated on */
  send(o, VHDR(DOMAIN));
  stream_error_is(o, "host-unknown");
  /* a domain not served */
  conn *n = connect_host(0, DOMAIN, VHDR("nowhere.example"));
  stream_error_is(n, "host-unknown");
  conn *j = connect_host(0, DOMAIN, VHDR("erin@" OTHER));
  stream_error_is(j, "host-unknown");
}

Test(c2s, vhost_answers_come_from_the_host_addressed) {
  vhosts();
  conn *e = online_host(0, OTHER, VHDR(OTHER), "erin", "erinpw", "r");
  send(e, "<iq type='get' id='d1' to='" OTHER "'>"
          "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
  EXPECT(e, "id='d1'", "type='result'", "from='" OTHER "'", "to='erin@" OTHER "/r'",
         "<identity category='server' type='im'");
  send(e, "<iq type='get' id='v1' to='" OTHER "'><query xmlns='jabber:iq:version'/></iq>");
  EXPECT(e, "id='v1'", "from='" OTHER "'", "<name>xsr-router</name>");
  /* the other domain served is local too: it answers as itself */
  send(e, "<iq type='get' id='p1' to='" DOMAIN "'><ping xmlns='urn:xmpp:ping'/></iq>");
  EXPECT(e, "id='p1'", "type='result'", "from='" DOMAIN "'");
  send(e, "<iq type='get' id='d2' to='alice@" DOMAIN "'>"
          "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
  EXPECT(e, "id='d2'", "from='alice@" DOMAIN "'", "<identity category='account'");
  /* a domain not served: no server-to-server */
  send(e, "<iq type='get' id='p2' to='nowhere.example'><ping xmlns='urn:xmpp:ping'/></iq>");
  EXPECT(e, "id='p2'", "<remote-server-not-found");
  /* the roster of an account of the other host */
  send(e, "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
  EXPECT(e, "id='r1'", "type='result'", "<item jid='alice@" DOMAIN "' subscription='both'/>");
  expect_nothing(e);
}

Test(c2s, vhost_messages_and_presence_cross_hosts) {
  vhosts();
  conn *a = online(0, "alice", "secret", "r1");
  conn *e = online_host(1, OTHER, VHDR(OTHER), "erin", "erinpw", "r2");
  conn *x = online_host(1, OTHER, VHDR(OTHER), "alice", "otherpw", "r3");
  send(a, "<message to='erin@" OTHER "/r2' type='chat' id='m1'><body>hi</body></message>");
  EXPECT(e, "id='m1'", "from='alice@" DOMAIN "/r1'", "<body>hi</body>");
  /* the same localpart in the other domain is someone else */
  send(a, "<message to='alice@" OTHER "/r3' id='m2'><body>twin</body></message>");
  EXPECT(x, "id='m2'", "from='alice@" DOMAIN "/r1'");
  expect_nothing(a);
  /* unknown account of a domain served, and a domain not served */
  send(a, "<message to='nobody@" OTHER "' id='m3'><body>x</body></message>");
  EXPECT(a, "id='m3'", "type='error'", "<service-unavailable");
  send(a, "<message to='bob@nowhere.example' id='m4'><body>x</body></message>");
  EXPECT(a, "id='m4'", "type='error'", "<service-unavailable");
  /* presence across hosts: each lists the other (both) */
  avail(e, NULL);
  drain(e);
  drain(x);
  avail(a, "<status>hello</status>");
  EXPECT(e, "<presence", "from='alice@" DOMAIN "/r1'", "<status>hello</status>");
  EXPECT(a, "<presence", "from='alice@" DOMAIN "/r1'"); /* its own */
  EXPECT(a, "<presence", "from='erin@" OTHER "/r2'");   /* the probe's answer */
  expect_nothing(x);                                    /* alice@OTHER is not a contact */
  /* a probe across hosts, and unavailable on disconnect */
  send(a, "<presence type='probe' to='erin@" OTHER "'/>");
  EXPECT(a, "<presence", "from='erin@" OTHER "/r2'");
  xsr__c2s_peer_gone(e->c);
  pump();
  EXPECT(a, "from='erin@" OTHER "/r2'", "type='unavailable'");
}

/* A domain served without accounts in the users table: SCRAM and PLAIN fail
 * as for an unknown user (no crash, no reveal), ANONYMOUS binds there. */
Test(c2s, vhost_without_accounts) {
  static const char *const three[] = {"empty.example", DOMAIN, OTHER}; /* strcmp order */
  vhosts();
  srv.domains = three;
  srv.ndomains = 3;
  srv.auth_failure_delay_ms = 0;
  cr_assert_eq(xsr__server_host(&srv, "empty.example", 13), 0);
  cr_assert_eq(xsr__server_host(&srv, OTHER, strlen(OTHER)), 2);
  conn *k = connect_host(0, "empty.example", VHDR("empty.example"));
  features_pre_auth(k);
  cr_assert(!scram(k, "SCRAM-SHA-1", "alice", "secret"), "no accounts on empty.example");
  EXPECT(k, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>");
  plain_auth(k, "alice", "secret");
  EXPECT(k, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>");
  send(k, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'>=</auth>");
  EXPECT(k, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'");
  restart_and_features(k);
  const char *jid = bind_as(k, "r");
  cr_assert(!strncmp(jid, "anon-", 5) && strstr(jid, "@empty.example/r") != NULL, "%s", jid);
  /* the default host is still srv.domain, whatever its index */
  conn *b = online(1, "bob", "bobpw", "b");
  cr_assert_str_eq(b->jid, "bob@" DOMAIN "/b");
  send(b, "<iq type='get' id='i1' to='empty.example'>"
          "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
  EXPECT(b, "id='i1'", "from='empty.example'", "<identity category='server' type='im'");
}
