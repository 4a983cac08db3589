/* SPDX-License-Identifier: MIT */
/*
 * c2s_fuzzer: one client connection of xsr-router (server/c2s.h), from the
 * stream header through SASL and binding into routing, fed arbitrary bytes
 * in arbitrary chunks, as server/net.c drives it but without sockets: an
 * in-memory io whose write appends to the connection's output, a
 * queue_work and a timer run by the harness between chunks, and the
 * router's worker queues popped into the recipients' outputs through
 * xsr__c2s_popped() (tests/test_server_c2s.c does the same by hand).
 *
 * The server: domains example.com (the default host) and other.example
 * (a virtual host without accounts: only ANONYMOUS logs in there), accounts
 * of example.com alice (password "secret";
 * roster: bob both, carol@example.com from) and bob ("bobpw"; roster:
 * alice both), credentials derived once at start through the users API;
 * SCRAM-SHA-256, SCRAM-SHA-1, PLAIN and ANONYMOUS offered; two workers.
 * Before the input runs, bob logs in on worker 1 by a fixed script
 * (SCRAM-SHA-1 through libgsasl's client, with the salted password
 * precomputed so that no PBKDF2 runs per input), binds bob@example.com/r
 * and, unless the options say otherwise, sends initial presence: the
 * fuzzed connection has someone to route to, to probe and to kick.  A
 * PLAIN login is "\0alice\0secret" (base64 in fuzz/xsr.dict and the seeds).
 *
 * Input: [mode][srv][drain][4 chunk-pattern bytes] BODY
 *   mode bit 0     before each chunk, settle (run the work, fire the timer,
 *                  drain, retry) while reading is paused, as net does; else
 *                  feed regardless (the c2s keeps what it cannot parse yet)
 *        bit 1     queued work runs one chunk late (after the next chunk
 *                  is fed) instead of right after the input call
 *        bit 2     the timer fires one chunk late
 *        bit 3     abrupt end: the peer goes with work, timer, blocked
 *                  stanzas and messages still pending (else settle first)
 *        bit 4     free the fuzzed connection after bob instead of before
 *        bit 5     the fuzzed connection is on worker 1, with bob
 *        bit 6     retry blocked connections only when on_room came (or a
 *                  session closed), not after every drain
 *        bit 7     popped messages stay unreleased until the next chunk
 *                  (writes in flight: the budget counts them)
 *   srv  bits 0-1  session budget: the default (1 MiB), 200, 600, 2000 bytes
 *        bit 2     auth_failure_delay_ms 1000 (the timer) instead of 0
 *        bits 3-4  max_auth_failures 0 (unlimited), 1, 2, 3
 *        bit 5     conflict policy old-wins instead of new-wins
 *        bit 6     bob sends no initial presence
 *        bit 7     small header limits (no declaration but the stream prefix's, 64 bytes)
 *   drain          seed of the drain pattern (messages per pop)
 * BODY is the client's byte stream.
 *
 * Checks:
 *   - everything written to a connection (its io->write bytes and the
 *     routed messages net would write for it, in order) parses with a fresh
 *     xsr parser as a client reads it: one stream from the server (header
 *     from a domain served, the same on the restart; jabber:client,
 *     version 1.x, an id), restarted after
 *     <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>; no parser
 *     error; top-level elements only stream:features/stream:error, SASL
 *     challenge/success/failure (before the restart) and message, presence
 *     and iq (after it); writes and routed messages are whole elements;
 *     nothing after </stream:stream>; the same for bob's output;
 *   - a connection whose stream the server closed (io->close, or a popped
 *     XSR__C2S_LAST) got </stream:stream> as its last bytes, and one whose
 *     output has </stream:stream> was closed; xsr__c2s_input() returns -1
 *     exactly once closed; after close, popped answers DROP;
 *   - the io contract: no write after io->close or peer_gone, close once,
 *     read_pause toggles, one queue_work at a time;
 *   - liveness: once everything settles (work run, timers fired, queues
 *     drained, blocked connections retried) no connection is still paused;
 *   - at the end (peer_gone, everything popped and released, both freed,
 *     every grace period run) the router holds no session and no table entry, and
 *     LeakSanitizer (libFuzzer's per-input leak check) finds nothing.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <gsasl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "base64.h"
#include "c2s.h"
#include "fuzz.h"
#include "sasl.h"
#include "users.h"

#define DOMAIN  "example.com"
#define OTHER   "other.example" /* a second domain served, without accounts */
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"

static const char *const domains[] = {DOMAIN, OTHER}; /* strcmp order */

enum {
  M_SETTLE = 1,
  M_WORK_LATE = 2,
  M_TIMER_LATE = 4,
  M_ABRUPT = 8,
  M_BOB_FIRST = 16,
  M_SAME_WORKER = 32,
  M_ROOM_ONLY = 64,
  M_HOLD = 128
};

/* ---- the client's view of a connection's output --------------------------------------- */

typedef struct reader {
  xsr_parser *p;
  fuzz_log out; /* every byte written to the socket */
  size_t fed;
  uint64_t last_end; /* just past the last event */
  int in_stream, closed, restart, authed, headers, stream_error;
  int host_other;     /* the headers are from OTHER */
  char sasl_name[16]; /* the last SASL element and its text */
  char sasl_text[2048];
  size_t sasl_len;
} reader;

static int span_is(xsr_span s, const char *lit) {
  return s.ptr && s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static int rd_open(void *user, const xsr_stream_header *h) {
  reader *r = user;
  FUZZ_CHECK(!r->in_stream && !r->closed, "a second stream header from the server");
  FUZZ_CHECK(h->content_ns == XSR_NS_CLIENT, "the server's stream is not jabber:client");
  FUZZ_CHECK(span_is(h->from, DOMAIN) || span_is(h->from, OTHER),
             "the server's header is not from a domain served");
  FUZZ_CHECK(!r->headers || (r->host_other == span_is(h->from, OTHER)),
             "the restarted stream's header is from another host");
  r->host_other = span_is(h->from, OTHER);
  FUZZ_CHECK(h->version_major == 1, "the server's header has version %d", h->version_major);
  FUZZ_CHECK(h->id.ptr && h->id.len > 0, "the server's header has no id");
  r->in_stream = 1;
  r->headers++;
  r->last_end = xsr_parser_offset(r->p);
  return 0;
}

static int rd_stanza(void *user, const xsr_stanza *st) {
  reader *r = user;
  FUZZ_CHECK(r->in_stream, "an element outside a stream");
  FUZZ_CHECK(st->prefix.len == 0 || st->ns == XSR_NS_STREAMS, "a prefixed %.*s from the server",
             (int)st->name.len, st->name.ptr);
  r->last_end = xsr_parser_offset(r->p);
  if (st->ns == XSR_NS_STREAMS) {
    FUZZ_CHECK(span_is(st->name, "features") || span_is(st->name, "error"),
               "stream:%.*s from the server", (int)st->name.len, st->name.ptr);
    r->stream_error |= span_is(st->name, "error");
    return 0;
  }
  if (st->ns == XSR_NS_XMPP_SASL) {
    FUZZ_CHECK(!r->authed, "SASL %.*s after <success/>", (int)st->name.len, st->name.ptr);
    FUZZ_CHECK(span_is(st->name, "challenge") || span_is(st->name, "success") ||
                   span_is(st->name, "failure"),
               "SASL %.*s from the server", (int)st->name.len, st->name.ptr);
    snprintf(r->sasl_name, sizeof r->sasl_name, "%.*s", (int)st->name.len, st->name.ptr);
    r->sasl_len = 0;
    if (xsr_stanza_text(st, 0, r->sasl_text, sizeof r->sasl_text - 1, &r->sasl_len) != XSR_OK)
      r->sasl_len = 0; /* (bob's script checks what it needs) */
    r->sasl_text[r->sasl_len] = '\0';
    if (span_is(st->name, "success")) {
      r->authed = 1;
      r->restart = 1; /* RFC 6120 6.4.6: a new stream follows */
      return XSR_PAUSE;
    }
    return 0;
  }
  FUZZ_CHECK(st->ns == XSR_NS_CLIENT && (span_is(st->name, "message") ||
                                         span_is(st->name, "presence") || span_is(st->name, "iq")),
             "a top-level %.*s (namespace %u) from the server", (int)st->name.len, st->name.ptr,
             (unsigned)st->ns);
  FUZZ_CHECK(r->authed, "a %.*s before authentication", (int)st->name.len, st->name.ptr);
  return 0;
}

static int rd_close(void *user, uint64_t offset) {
  reader *r = user;
  (void)offset;
  r->closed = 1;
  r->in_stream = 0;
  r->last_end = xsr_parser_offset(r->p);
  return 0;
}

static const xsr_parser_callbacks rd_callbacks = {rd_open, rd_stanza, rd_close};

/* Reads what was written since the last call, from an exact-size copy. */
static void rd_feed(reader *r, const char *who) {
  if (r->fed == r->out.len)
    return;
  size_t n = r->out.len - r->fed;
  char *copy = malloc(n);
  FUZZ_CHECK(copy != NULL, "out of memory in the harness");
  memcpy(copy, r->out.buf + r->fed, n);
  xsr_err rc = xsr_parser_feed(r->p, copy, n);
  free(copy);
  r->fed = r->out.len;
  while (rc == XSR_PAUSED && r->restart) {
    r->restart = 0;
    r->in_stream = 0;
    rc = xsr_parser_restart(r->p);
    if (rc == XSR_OK)
      rc = xsr_parser_resume(r->p);
  }
  uint64_t off = 0;
  xsr_parser_error(r->p, &off);
  FUZZ_CHECK(rc == XSR_OK,
             "%s: the server wrote what a client cannot parse (%s at byte %llu):\n%.*s", who,
             xsr_err_name(rc), (unsigned long long)off, (int)r->out.len, (const char *)r->out.buf);
}

/* ---- connections ------------------------------------------------------------------------- */

typedef struct conn {
  const char *name;
  xsr__c2s *c;
  unsigned worker;
  int io_closed; /* io->close was called */
  int last;      /* xsr__c2s_popped said LAST */
  int gone;      /* xsr__c2s_peer_gone was called */
  int freed;
  int paused;
  void (*work)(void *), (*done)(void *);
  void *warg;
  unsigned work_age;
  void (*fire)(xsr__c2s *);
  unsigned fire_age;
  reader rd;
} conn;

#define CLOSED(k) ((k)->io_closed || (k)->last)

static int io_write(void *u, const void *d, size_t n) {
  conn *k = u;
  FUZZ_CHECK(!CLOSED(k) && !k->gone && !k->freed, "%s: a write after the stream ended: %.*s",
             k->name, (int)n, (const char *)d);
  fuzz_log_bytes(&k->rd.out, d, n);
  return 0;
}

static void io_close(void *u) {
  conn *k = u;
  FUZZ_CHECK(!CLOSED(k) && !k->gone && !k->freed, "%s: io->close after the stream ended", k->name);
  k->io_closed = 1;
  k->fire = NULL; /* net stops the timer */
}

static void io_read_pause(void *u, int p) {
  conn *k = u;
  FUZZ_CHECK(k->paused != p, "%s: read_pause(%d) twice", k->name, p);
  k->paused = p;
}

static void io_queue_work(void *u, void (*work)(void *), void (*done)(void *), void *arg) {
  conn *k = u;
  FUZZ_CHECK(k->work == NULL, "%s: work queued twice", k->name);
  k->work = work;
  k->done = done;
  k->warg = arg;
  k->work_age = 0;
}

static void io_timer(void *u, unsigned ms, void (*fire)(xsr__c2s *)) {
  conn *k = u;
  FUZZ_CHECK(!k->freed, "%s: timer after free", k->name);
  k->fire = ms ? fire : NULL;
  k->fire_age = 0;
}

static const xsr__c2s_io io = {io_write, io_close, io_read_pause, io_queue_work, io_timer};

/* Runs the queued work, then its done (which frees the c2s when
 * xsr__c2s_free came first). */
static int run_work(conn *k) {
  if (!k->work)
    return 0;
  void (*work)(void *) = k->work, (*done)(void *) = k->done;
  void *arg = k->warg;
  k->work = NULL;
  work(arg);
  done(arg);
  if (!k->freed)
    rd_feed(&k->rd, k->name);
  return 1;
}

static int fire_timer(conn *k) {
  if (!k->fire || CLOSED(k) || k->gone || k->freed)
    return 0;
  void (*fire)(xsr__c2s *) = k->fire;
  k->fire = NULL;
  fire(k->c);
  rd_feed(&k->rd, k->name);
  return 1;
}

/* ---- grace periods ----------------------------------------------------------------------- */

/* liburcu's call_rcu(), replaced (a weak definition in the executable takes
 * precedence over the shared library's): its thread sleeps 10 ms between
 * batches, so an rcu_barrier() per input would cap the harness at ~70
 * inputs a second.  This thread is the only one registered with RCU, so
 * once it has passed a quiescent state (xsr_router_quiescent() in drain())
 * every callback queued before has had its grace period: they run right
 * there, frees as early as the real thread could do them (ASan sees any use
 * after), and all of them by the end of the input (LeakSanitizer sees what
 * is left).  Where the replacement is not used (liburcu linked statically),
 * the input ends with a real rcu_barrier() instead. */
static struct rcu_head **deferred;
static size_t ndeferred, capdeferred;
static int interposed;

__attribute__((weak)) void call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *head)) {
  if (ndeferred == capdeferred) {
    size_t cap = capdeferred ? 2 * capdeferred : 64;
    struct rcu_head **d = realloc(deferred, cap * sizeof *d);
    FUZZ_CHECK(d != NULL, "out of memory in the harness");
    deferred = d;
    capdeferred = cap;
  }
  head->func = func;
  deferred[ndeferred++] = head;
  interposed = 1;
}

/* After a quiescent state of this thread: the callbacks queued so far (and
 * those they queue, after another quiescent state). */
static void run_deferred(void) {
  while (ndeferred > 0) {
    size_t n = ndeferred;
    struct rcu_head **batch = malloc(n * sizeof *batch);
    FUZZ_CHECK(batch != NULL, "out of memory in the harness");
    memcpy(batch, deferred, n * sizeof *batch);
    ndeferred = 0;
    for (size_t i = 0; i < n; i++)
      batch[i]->func(batch[i]);
    free(batch);
    xsr_router_quiescent();
  }
}

/* ---- the server ----------------------------------------------------------------------------- */

enum { NBUDGET = 4 };
static const size_t budgets[NBUDGET] = {0, 200, 600, 2000};

static xsr__users *users;
static xsr__sasl *sasl;
static Gsasl *gcli;
static char bob_salted[2 * 20 + 1]; /* hex, SCRAM-SHA-1 */
static struct variant {
  xsr_router_config rc;
  xsr_router *router;
  xsr__server srv;
} variants[NBUDGET];

/* The current input (on_room and the drains reach it here). */
static struct {
  conn k[2]; /* 0: the fuzzed connection, 1: bob */
  struct variant *v;
  int room;
  int hold;
  uint32_t rnd;
  xsr_msg *held[64];
  size_t nheld;
} H;

static void on_room(void *user, xsr_session *s) {
  (void)user;
  (void)s;
  H.room = 1;
}

static void put_cred(fuzz_log *j, const char *key, const xsr__scram_cred *c, xsr__scram_hash h) {
  char b[512], line[256];
  size_t kl = xsr__scram_key_len(h);
  int n = snprintf(line, sizeof line, "\"%s\":{\"iterations\":%u,\"salt\":\"", key,
                   (unsigned)c->iterations);
  fuzz_log_bytes(j, line, (size_t)n);
  fuzz_log_bytes(j, b, xsr__b64_encode(c->salt, c->salt_len, b));
  fuzz_log_bytes(j, "\",\"stored-key\":\"", 16);
  fuzz_log_bytes(j, b, xsr__b64_encode(c->stored_key, kl, b));
  fuzz_log_bytes(j, "\",\"server-key\":\"", 16);
  fuzz_log_bytes(j, b, xsr__b64_encode(c->server_key, kl, b));
  fuzz_log_bytes(j, "\"}", 2);
}

static void puts_log(fuzz_log *j, const char *s) { fuzz_log_bytes(j, s, strlen(s)); }

/* The accounts: passwords turned into credentials by xsr__users_add (in a
 * temporary file), then written back with rosters and parsed. */
static void make_users(void) {
  static const char *const acc[2][3] = {
      {"alice", "secret",
       "\"roster\":[{\"jid\":\"bob@" DOMAIN "\",\"name\":\"Bob\",\"groups\":[\"Friends\"]},"
       "{\"jid\":\"carol@" DOMAIN "\",\"subscription\":\"from\"}]"},
      {"bob", "bobpw", "\"roster\":[{\"jid\":\"alice@" DOMAIN "\"}]"}};
  char dir[256], path[300], err[512];
  const char *t = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/xsr-c2s-fuzz-XXXXXX", t && *t ? t : "/tmp");
  FUZZ_CHECK(mkdtemp(dir) != NULL, "mkdtemp %s", dir);
  snprintf(path, sizeof path, "%s/users.json", dir);
  for (size_t i = 0; i < 2; i++) {
    char jid[64];
    snprintf(jid, sizeof jid, "%s@" DOMAIN, acc[i][0]);
    FUZZ_CHECK(
        xsr__users_add(path, jid, strlen(jid), acc[i][1], strlen(acc[i][1]), err, sizeof err) == 0,
        "%s", err);
  }
  xsr__users *plain;
  FUZZ_CHECK(xsr__users_load(path, &plain, err, sizeof err) == 0, "%s", err);
  unlink(path);
  rmdir(dir);
  fuzz_log j = {0};
  puts_log(&j, "{\"version\":1,\"domain\":\"" DOMAIN "\",\"users\":{");
  for (size_t i = 0; i < 2; i++) {
    const xsr__account *a = xsr__users_lookup(plain, acc[i][0], strlen(acc[i][0]));
    FUZZ_CHECK(a != NULL, "no account %s", acc[i][0]);
    puts_log(&j, i ? ",\"" : "\"");
    puts_log(&j, acc[i][0]);
    puts_log(&j, "\":{");
    put_cred(&j, "scram-sha-1", &a->cred[XSR__SCRAM_SHA1], XSR__SCRAM_SHA1);
    puts_log(&j, ",");
    put_cred(&j, "scram-sha-256", &a->cred[XSR__SCRAM_SHA256], XSR__SCRAM_SHA256);
    puts_log(&j, ",");
    puts_log(&j, acc[i][2]);
    puts_log(&j, "}");
  }
  puts_log(&j, "}}");
  xsr__users_free(plain);
  FUZZ_CHECK(xsr__users_parse("users.json", (const char *)j.buf, j.len, &users, err, sizeof err) ==
                 0,
             "%s", err);
  fuzz_log_free(&j);

  /* bob's SCRAM-SHA-1 SaltedPassword, for the client's side of his login. */
  const xsr__scram_cred *bc = &xsr__users_lookup(users, "bob", 3)->cred[XSR__SCRAM_SHA1];
  char salted[20], ck[20], sk[20], stk[20];
  FUZZ_CHECK(gsasl_scram_secrets_from_password(GSASL_HASH_SHA1, "bobpw", bc->iterations,
                                               (const char *)bc->salt, bc->salt_len, salted, ck, sk,
                                               stk) == GSASL_OK,
             "gsasl_scram_secrets_from_password");
  for (size_t i = 0; i < 20; i++)
    snprintf(bob_salted + 2 * i, 3, "%02x", (unsigned char)salted[i]);
}

static void init_once(void) {
  static int done;
  if (done)
    return;
  done = 1;
  xsr_router_thread_register();
  make_users();
  char err[512];
  xsr__sasl_config sc = {.plain_enabled = 1, .anonymous_enabled = 1};
  FUZZ_CHECK(xsr__sasl_new(&sc, &sasl, err, sizeof err) == 0, "%s", err);
  FUZZ_CHECK(gsasl_init(&gcli) == GSASL_OK, "gsasl_init");
  /* Routers are kept across inputs, one per budget: freeing one waits for
   * liburcu's call_rcu thread.  Each input closes its sessions. */
  for (unsigned i = 0; i < NBUDGET; i++) {
    struct variant *v = &variants[i];
    xsr_router_config_init(&v->rc);
    v->rc.workers = 2;
    if (budgets[i])
      v->rc.session_budget = budgets[i];
    v->rc.on_room = on_room;
    v->rc.account_exists = xsr__server_account_exists;
    v->rc.user = &v->srv;
    v->router = xsr_router_new(&v->rc, NULL);
    FUZZ_CHECK(v->router != NULL, "xsr_router_new");
    v->srv.domain = DOMAIN;
    v->srv.domain_len = strlen(DOMAIN);
    v->srv.domains = domains;
    v->srv.ndomains = 2;
    v->srv.router = v->router;
    v->srv.users = users;
    v->srv.sasl = sasl;
    v->srv.version = "0.2.0";
  }
}

/* ---- routed messages ------------------------------------------------------------------------ */

static conn *conn_of(const xsr_msg *m) {
  xsr__c2s *c = xsr_session_user(xsr_msg_session(m));
  for (unsigned i = 0; i < 2; i++)
    if (H.k[i].c == c && !H.k[i].freed)
      return &H.k[i];
  return NULL;
}

/* What net does with a popped message: ask the c2s, write it. */
static void deliver(xsr_msg *m) {
  conn *k = conn_of(m);
  FUZZ_CHECK(k != NULL, "a message for a session of no live connection");
  int what = xsr__c2s_popped(k->c, m);
  FUZZ_CHECK(what == XSR__C2S_WRITE || what == XSR__C2S_DROP || what == XSR__C2S_LAST,
             "popped answered %d", what);
  if (CLOSED(k) || k->gone)
    FUZZ_CHECK(what == XSR__C2S_DROP, "%s: popped answered %d after the stream ended", k->name,
               what);
  if (what != XSR__C2S_DROP) {
    xsr_span b = xsr_msg_bytes(m);
    fuzz_log_bytes(&k->rd.out, b.ptr, b.len);
    rd_feed(&k->rd, k->name);
    FUZZ_CHECK(k->rd.last_end == k->rd.out.len, "%s: a routed message is not whole elements: %.*s",
               k->name, (int)b.len, b.ptr);
  }
  if (what == XSR__C2S_LAST) {
    k->last = 1;
    FUZZ_CHECK(k->rd.closed, "%s: LAST, but its bytes did not close the stream", k->name);
  }
}

static uint32_t rnd(void) {
  H.rnd = H.rnd * 1103515245u + 12345u;
  return H.rnd >> 16;
}

static void release_held(int all) {
  size_t keep = 0;
  for (size_t i = 0; i < H.nheld; i++) {
    if (all || rnd() % 2)
      xsr_msg_release(H.held[i]);
    else
      H.held[keep++] = H.held[i];
  }
  H.nheld = keep;
}

static void take(xsr_msg *m) {
  deliver(m);
  if (H.hold && H.nheld < sizeof H.held / sizeof H.held[0] && rnd() % 2)
    H.held[H.nheld++] = m;
  else
    xsr_msg_release(m);
}

/* Pops a few messages (all: every one) from both workers; returns how many. */
static size_t drain(int all) {
  size_t total = 0;
  release_held(all);
  for (unsigned w = 0; w < 2; w++) {
    xsr_worker *wk = xsr_router_worker(H.v->router, w);
    xsr_msg *m[16];
    size_t n;
    do {
      n = xsr_worker_pop_owner(wk, m, all ? 16 : 1 + rnd() % 8);
      for (size_t i = 0; i < n; i++)
        take(m[i]);
      total += n;
    } while (all && n > 0);
  }
  if (all)
    release_held(1);
  xsr_router_quiescent();
  run_deferred();
  return total;
}

static int live(const conn *k) { return k->c && !CLOSED(k) && !k->gone && !k->freed; }

/* Retries blocked connections (net: on on_room, and when a session closes). */
static int retry(int force) {
  int moved = 0;
  if (!H.room && !force)
    return 0;
  H.room = 0;
  for (unsigned i = 0; i < 2; i++) {
    conn *k = &H.k[i];
    if (live(k) && xsr__c2s_blocked(k->c)) {
      xsr__c2s_retry(k->c);
      rd_feed(&k->rd, k->name);
      moved = 1;
    }
  }
  return moved;
}

/* Runs everything that waits until nothing moves. */
static void settle(int room_only) {
  for (int round = 0; round < 10000; round++) {
    int moved = 0;
    for (unsigned i = 0; i < 2; i++) {
      moved |= run_work(&H.k[i]);
      moved |= fire_timer(&H.k[i]);
    }
    moved |= drain(1) > 0;
    moved |= retry(!room_only);
    if (!moved)
      return;
  }
  FUZZ_CHECK(0, "the connections never settle");
}

/* ---- bob ------------------------------------------------------------------------------------ */

static const char header[] =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='" DOMAIN "' version='1.0'>";

static void bob_send(const char *s) {
  conn *k = &H.k[1];
  FUZZ_CHECK(xsr__c2s_input(k->c, s, strlen(s)) == 0, "bob's script: the stream ended at %s", s);
  rd_feed(&k->rd, k->name);
  settle(0);
}

/* bob@example.com/r logs in with SCRAM-SHA-1 and binds. */
static void bob_login(int presence) {
  conn *k = &H.k[1];
  Gsasl_session *s;
  char *out = NULL, x[1024];
  bob_send(header);
  FUZZ_CHECK(gsasl_client_start(gcli, "SCRAM-SHA-1", &s) == GSASL_OK, "gsasl_client_start");
  gsasl_property_set(s, GSASL_AUTHID, "bob");
  gsasl_property_set(s, GSASL_SCRAM_SALTED_PASSWORD, bob_salted);
  FUZZ_CHECK(gsasl_step64(s, "", &out) == GSASL_NEEDS_MORE, "SCRAM client first");
  snprintf(x, sizeof x, "<auth xmlns='" NS_SASL "' mechanism='SCRAM-SHA-1'>%s</auth>", out);
  gsasl_free(out);
  bob_send(x);
  FUZZ_CHECK(strcmp(k->rd.sasl_name, "challenge") == 0, "bob: no challenge but %s",
             k->rd.sasl_name);
  out = NULL;
  FUZZ_CHECK(gsasl_step64(s, k->rd.sasl_text, &out) == GSASL_NEEDS_MORE, "SCRAM client final");
  snprintf(x, sizeof x, "<response xmlns='" NS_SASL "'>%s</response>", out);
  gsasl_free(out);
  bob_send(x);
  FUZZ_CHECK(strcmp(k->rd.sasl_name, "success") == 0, "bob: no success but %s", k->rd.sasl_name);
  out = NULL;
  FUZZ_CHECK(gsasl_step64(s, k->rd.sasl_text, &out) == GSASL_OK, "the server's SCRAM signature");
  gsasl_free(out);
  gsasl_finish(s);
  bob_send(header);
  bob_send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>r</resource></bind></iq>");
  FUZZ_CHECK(xsr__c2s_session(k->c) != NULL, "bob is not bound");
  if (presence)
    bob_send("<presence><priority>1</priority></presence>");
}

/* ---- the input ------------------------------------------------------------------------------ */

static void conn_open(conn *k, const char *name, unsigned worker) {
  memset(k, 0, sizeof *k);
  k->name = name;
  k->worker = worker;
  k->rd.p = xsr_parser_new(NULL, &rd_callbacks, &k->rd, NULL);
  FUZZ_CHECK(k->rd.p != NULL, "xsr_parser_new");
  k->c = xsr__c2s_new(&H.v->srv, worker, &io, k);
  FUZZ_CHECK(k->c != NULL, "xsr__c2s_new");
}

/* The end state of a connection's output. */
static void check_output(conn *k, int settled) {
  reader *r = &k->rd;
  if (CLOSED(k))
    FUZZ_CHECK(r->closed, "%s: the server closed the stream without </stream:stream>:\n%.*s",
               k->name, (int)r->out.len, (const char *)r->out.buf);
  if (r->closed)
    FUZZ_CHECK(CLOSED(k), "%s: </stream:stream> written, the connection left open", k->name);
  FUZZ_CHECK(r->last_end == r->out.len, "%s: the output ends inside an element:\n%.*s", k->name,
             (int)r->out.len, (const char *)r->out.buf);
  if (settled && live(k))
    FUZZ_CHECK(!k->paused && !xsr__c2s_blocked(k->c),
               "%s: reading still paused once everything settled (blocked %d)", k->name,
               xsr__c2s_blocked(k->c));
}

static void conn_free(conn *k) {
  if (live(k)) {
    xsr__c2s_peer_gone(k->c);
    k->gone = 1;
  }
  FUZZ_CHECK(!k->paused || k->work || k->gone || CLOSED(k), "%s: paused after the end", k->name);
  drain(1);
  xsr__c2s_free(k->c);
  k->freed = 1;
  k->fire = NULL;
  run_work(k); /* a pending work's done frees it */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_once();
  fuzz_input in = {data, size};
  uint8_t mode = fuzz_take_byte(&in);
  uint8_t sb = fuzz_take_byte(&in);
  uint8_t seed = fuzz_take_byte(&in);
  fuzz_chunks chunks;
  fuzz_chunks_init(&chunks, &in);

  memset(&H, 0, sizeof H);
  H.v = &variants[sb & 3];
  H.rnd = seed;
  H.hold = (mode & M_HOLD) != 0;
  xsr__server *srv = &H.v->srv;
  srv->auth_failure_delay_ms = (sb & 4) ? 1000 : 0;
  srv->max_auth_failures = (sb >> 3) & 3;
  srv->conflict = (sb & 32) ? XSR__CONFLICT_OLD_WINS : XSR__CONFLICT_NEW_WINS;
  srv->header_max_decls = (sb & 128) ? 0 : 2;
  srv->header_max_room = (sb & 128) ? 64 : 200;
  xsr_parser_config_init(&srv->parser_cfg);
  xsr__server_limits(srv, &H.v->rc);

  conn *bob = &H.k[1], *k = &H.k[0];
  conn_open(bob, "bob", 1);
  bob_login(!(sb & 64));
  conn_open(k, "client", (mode & M_SAME_WORKER) ? 1 : 0);

  int room_only = (mode & M_ROOM_ONLY) != 0;
  for (size_t pos = 0; pos < in.size && !CLOSED(k);) {
    if ((mode & M_SETTLE) && k->paused) {
      settle(room_only);
      check_output(k, 1);
      if (CLOSED(k))
        break;
    }
    size_t n = fuzz_chunks_next(&chunks);
    if (n > in.size - pos)
      n = in.size - pos;
    char *copy = malloc(n);
    FUZZ_CHECK(copy != NULL, "out of memory in the harness");
    memcpy(copy, in.data + pos, n);
    int rc = xsr__c2s_input(k->c, copy, n);
    free(copy);
    pos += n;
    FUZZ_CHECK(rc == (CLOSED(k) ? -1 : 0), "input returned %d, the stream is %s", rc,
               CLOSED(k) ? "closed" : "open");
    rd_feed(&k->rd, k->name);
    FUZZ_CHECK(k->rd.last_end == k->rd.out.len, "the server wrote part of an element:\n%.*s",
               (int)k->rd.out.len, (const char *)k->rd.out.buf);
    /* The work and the timer: now, or one chunk late. */
    if (k->work && k->work_age++ >= ((mode & M_WORK_LATE) ? 1u : 0u))
      run_work(k);
    if (k->fire && k->fire_age++ >= ((mode & M_TIMER_LATE) ? 1u : 0u))
      fire_timer(k);
    drain(0);
    retry(!room_only);
  }

  int settled = !(mode & M_ABRUPT);
  if (settled)
    settle(room_only);
  check_output(k, settled);
  check_output(bob, settled);

  /* The end: the peers go, everything is popped and released, both
   * connections are freed, and after a grace period nothing is left. */
  conn *first = (mode & M_BOB_FIRST) ? bob : k, *second = first == bob ? k : bob;
  conn_free(first);
  retry(1); /* net retries blocked connections when a session closes */
  conn_free(second);
  check_output(k, 0);
  check_output(bob, 0);
  drain(1);
  if (!interposed)
    rcu_barrier(); /* the c2s frees and the sessions' tombstones */
  drain(1);        /* the tombstones, and the sessions with them */
  FUZZ_CHECK(H.nheld == 0, "messages still held");
  xsr_router_stats st;
  xsr_router_stats_get(H.v->router, &st);
  FUZZ_CHECK(st.sessions == 0 && st.bare_jids == 0,
             "the router still holds %zu sessions and %zu entries", st.sessions, st.bare_jids);
  static int debug = -1;
  if (debug < 0)
    debug = getenv("XSR_C2S_DEBUG") != NULL;
  for (unsigned i = 0; i < 2; i++) {
    if (debug)
      fprintf(stderr, "== %s wrote %zu bytes:\n%.*s\n", H.k[i].name, H.k[i].rd.out.len,
              (int)H.k[i].rd.out.len, (const char *)H.k[i].rd.out.buf);
    xsr_parser_free(H.k[i].rd.p);
    fuzz_log_free(&H.k[i].rd.out);
  }
  return 0;
}
