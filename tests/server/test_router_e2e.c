/* SPDX-License-Identifier: MIT */
/*
 * tests/server/test_router_e2e.c: end-to-end tests of the real xsr-router
 * binary over TCP on 127.0.0.1 (and [::1] where it can be bound), through
 * raw sockets (client.c) whose every received byte goes through xsr's own
 * parser.
 *
 *   test_router_e2e PATH/TO/xsr-router [TEST ...]
 *
 * A plain program rather than Criterion so that it also runs under TSan
 * (Criterion cannot start there).  It creates a users file with
 * `xsr-router --add-user`, starts daemons on ephemeral ports (--port-file),
 * runs each test with bounded waits, and stops each daemon by PID with
 * SIGTERM, expecting exit status 0 (which, under ASan, also means no leak).
 * Environment: XSR_E2E_CLIENTS (connections in the "many" test, default
 * 1000), XSR_E2E_MESSAGES (messages each sends there, default 20).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "daemon.h"

#define T_MS 10000 /* the wait for any one expected stanza */

static const char *bin;
static char dir[512];
static char users[600];
static td_daemon main_d; /* shared by most tests */
static int have6;

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                     \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
      rc = -1;                                                                                     \
      goto out;                                                                                    \
    }                                                                                              \
  } while (0)

/* Expects the stream to end with <stream:error><COND/>, </stream:stream>
 * and the connection's close. */
static int expect_stream_error(xc *c, const char *cond) {
  char want[128];
  snprintf(want, sizeof want, "<%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", cond);
  long long end = td_now_ms() + T_MS;
  for (;;) {
    xc_stanza *s = xc_next(c, (int)(end - td_now_ms() > 0 ? end - td_now_ms() : 0));
    if (!s) {
      fprintf(stderr, "expected a %s stream error, got nothing (eof %d)\n", cond, c->eof);
      return -1;
    }
    int is_err = strcmp(s->name, "error") == 0 && strncmp(s->raw, "<stream:error", 13) == 0;
    if (is_err) {
      int ok = strstr(s->raw, want) != NULL;
      if (!ok)
        fprintf(stderr, "expected %s, got %s\n", cond, s->raw);
      xc_stanza_free(s);
      if (!ok)
        return -1;
      break;
    }
    xc_stanza_free(s); /* anything before it (features, routed stanzas) */
  }
  if (xc_wait_eof(c, T_MS)) {
    fprintf(stderr, "the server did not close after the stream error\n");
    return -1;
  }
  if (!c->closed) {
    fprintf(stderr, "no </stream:stream> after the stream error\n");
    return -1;
  }
  return c->perr ? -1 : 0;
}

/* Gives account `local` of the users file `path` a roster item (the file as
 * --add-user writes it: each account an object opening with
 * `"local": {`), by inserting "roster" as its first key. */
static int add_roster(const char *path, const char *local, const char *item) {
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char key[128];
  snprintf(key, sizeof key, "\"%s\": {", local);
  char *at = strstr(buf, key);
  if (!at || n == sizeof buf - 1)
    return -1;
  at += strlen(key);
  f = fopen(path, "w");
  if (!f)
    return -1;
  fwrite(buf, 1, (size_t)(at - buf), f);
  fprintf(f, "\n      \"roster\": [%s],", item);
  fputs(at, f);
  return fclose(f) == 0 ? 0 : -1;
}

/* The next stanza called `name` whose start tag has from='from' (others are
 * skipped: presences from other tests' sessions, broadcasts), or NULL. */
static xc_stanza *expect_from(xc *c, const char *name, const char *from, int timeout_ms) {
  long long end = td_now_ms() + timeout_ms;
  char v[512];
  for (;;) {
    long long left = end - td_now_ms();
    xc_stanza *s = xc_next(c, (int)(left > 0 ? left : 0));
    if (!s)
      return NULL;
    if (strcmp(s->name, name) == 0 && xc_attr(s->raw, "from", v, sizeof v) == 0 &&
        strcmp(v, from) == 0)
      return s;
    xc_stanza_free(s);
  }
}

/* A PLAIN login that must fail with <not-authorized/>. */
static int login_refused(unsigned port, const char *user, const char *password) {
  int rc = 0;
  xc a;
  memset(&a, 0, sizeof a);
  a.fd = -1;
  char auth[1024];
  xc_stanza *s = NULL;
  CHECK(xc_connect(&a, port, 0, 0) == 0, "connect");
  xc_send(&a, xc_header);
  CHECK((s = xc_expect(&a, "features", T_MS)) != NULL, "features");
  xc_stanza_free(s);
  xc_plain_auth(auth, sizeof auth, user, password);
  xc_send(&a, auth);
  CHECK((s = xc_expect(&a, "failure", T_MS)) != NULL && strstr(s->raw, "<not-authorized"),
        "%s: want not-authorized, got %s", user, s ? s->raw : "nothing");
out:
  xc_stanza_free(s);
  xc_free(&a);
  return rc;
}

/* ---- the tests ---------------------------------------------------------------- */

/* Two clients log in; a forged 'from' is replaced; full and bare JIDs. */
static int t_message(void) {
  int rc = 0;
  xc a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.fd = b.fd = -1;
  xc_stanza *s = NULL;
  CHECK(xc_connect(&a, main_d.port, 0, 0) == 0, "connect");
  CHECK(xc_connect(&b, main_d.port, 0, 0) == 0, "connect");
  CHECK(xc_login(&a, "alice", "alice-pw", "phone", T_MS) == 0, "alice login");
  CHECK(strcmp(a.jid, "alice@localhost/phone") == 0, "bound %s", a.jid);
  CHECK(xc_login(&b, "bob", "bob-pw", "desk", T_MS) == 0, "bob login");
  xc_send(&b, "<presence/>");
  xc_send(&a, "<presence/>");
  xc_send(&a, "<message to='bob@localhost/desk' from='mallory@evil.example/x' type='chat' "
              "id='m1'><body>hello &amp; &lt;bob&gt; \xc3\xa9</body></message>");
  /* Presences from the server (broadcasts) may come first: skip them. */
  do {
    xc_stanza_free(s);
    s = xc_next(&b, T_MS);
  } while (s && strcmp(s->name, "presence") == 0);
  CHECK(s && strcmp(s->name, "message") == 0, "bob got %s", s ? s->raw : "nothing");
  char v[256];
  CHECK(xc_attr(s->raw, "from", v, sizeof v) == 0 && strcmp(v, "alice@localhost/phone") == 0,
        "from stamped: %s", s->raw);
  CHECK(strstr(s->raw, "mallory") == NULL, "forged from kept: %s", s->raw);
  CHECK(xc_element_text(s->raw, "body", v, sizeof v) == 0 &&
            strcmp(v, "hello &amp; &lt;bob&gt; \xc3\xa9") == 0,
        "body: %s", s->raw);
  xc_stanza_free(s);
  s = NULL;
  /* Bare JID: to the available resource. */
  xc_send(&b, "<message to='alice@localhost' type='chat'><body>hi back</body></message>");
  do {
    xc_stanza_free(s);
    s = xc_next(&a, T_MS);
  } while (s && strcmp(s->name, "presence") == 0);
  CHECK(s && strcmp(s->name, "message") == 0 && strstr(s->raw, "<body>hi back</body>") &&
            strstr(s->raw, "from='bob@localhost/desk'"),
        "alice got %s", s ? s->raw : "nothing");
  xc_stanza_free(s);
  s = NULL;
  /* A normal message to a resource that does not exist bounces. */
  xc_send(&a, "<message to='bob@localhost/nowhere' id='x1'><body>lost</body></message>");
  do {
    xc_stanza_free(s);
    s = xc_next(&a, T_MS);
  } while (s && strcmp(s->name, "presence") == 0);
  CHECK(s && strstr(s->raw, "type='error'") && strstr(s->raw, "service-unavailable"), "bounce: %s",
        s ? s->raw : "nothing");
  xc_stanza_free(s);
  s = NULL;
  xc_send(&a, "</stream:stream>");
  CHECK(xc_wait_eof(&a, T_MS) == 0 && a.closed, "alice's stream closed");
  CHECK(!a.perr && !b.perr, "every byte parsed");
out:
  xc_stanza_free(s);
  xc_free(&a);
  xc_free(&b);
  return rc;
}

/* Everything in one write, across the SASL restart. */
static int t_pipelined(void) {
  int rc = 0;
  xc a;
  memset(&a, 0, sizeof a);
  a.fd = -1;
  char auth[1024];
  CHECK(xc_connect(&a, main_d.port, 0, 0) == 0, "connect");
  xc_plain_auth(auth, sizeof auth, "alice", "alice-pw");
  xc_send(&a, xc_header);
  xc_send(&a, auth);
  xc_send(&a, xc_header);
  xc_send(&a, "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
              "<resource>pipe</resource></bind></iq>"
              "<message to='alice@localhost/pipe' id='self'><body>to myself</body></message>");
  const char *want[] = {"features", "success", "features", "iq", "message"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    xc_stanza *s = xc_expect(&a, want[i], T_MS);
    CHECK(s != NULL, "step %zu", i);
    int ok = i != 4 || (strstr(s->raw, "<body>to myself</body>") &&
                        strstr(s->raw, "from='alice@localhost/pipe'"));
    xc_stanza_free(s);
    CHECK(ok, "the message to myself");
  }
  CHECK(a.headers == 2, "two stream headers, got %d", a.headers);
out:
  xc_free(&a);
  return rc;
}

/* The whole login one byte per write. */
static int t_one_byte(void) {
  int rc = 0;
  xc a;
  memset(&a, 0, sizeof a);
  a.fd = -1;
  char buf[2048];
  xc_stanza *s = NULL;
  CHECK(xc_connect(&a, main_d.port, 0, 0) == 0, "connect");
  const char *steps[3];
  char auth[1024];
  xc_plain_auth(auth, sizeof auth, "bob", "bob-pw");
  steps[0] = xc_header;
  steps[1] = auth;
  steps[2] = xc_header;
  const char *want[] = {"features", "success", "features"};
  for (int k = 0; k < 3; k++) {
    for (const char *p = steps[k]; *p; p++) {
      xc_sendn(&a, p, 1);
      CHECK(xc_flush(&a, T_MS) == 0, "write");
      usleep(200);
    }
    CHECK((s = xc_expect(&a, want[k], T_MS)) != NULL, "step %d", k);
    xc_stanza_free(s);
    s = NULL;
  }
  snprintf(buf, sizeof buf,
           "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
           "</iq>");
  for (const char *p = buf; *p; p++) {
    xc_sendn(&a, p, 1);
    CHECK(xc_flush(&a, T_MS) == 0, "write");
  }
  CHECK((s = xc_expect(&a, "iq", T_MS)) != NULL && strstr(s->raw, "<jid>bob@localhost/"),
        "generated resource: %s", s ? s->raw : "nothing");
out:
  xc_stanza_free(s);
  xc_free(&a);
  return rc;
}

/* Input that fails the stream: each gets its stream error, then the close. */
static int bad_input(const char *input, int login, const char *cond) {
  int rc = 0;
  xc a;
  memset(&a, 0, sizeof a);
  a.fd = -1;
  CHECK(xc_connect(&a, main_d.port, 0, 0) == 0, "connect");
  if (login)
    CHECK(xc_login(&a, "alice", "alice-pw", NULL, T_MS) == 0, "login");
  else
    xc_send(&a, xc_header);
  xc_send(&a, input);
  CHECK(expect_stream_error(&a, cond) == 0, "%s for %s", cond, input);
out:
  xc_free(&a);
  return rc;
}

static int t_not_well_formed(void) {
  return bad_input("<message to='bob@localhost'><body>x</bdy></message>", 1, "not-well-formed");
}

static int t_restricted_xml(void) {
  return bad_input("<message to='bob@localhost'><!-- a comment --></message>", 1, "restricted-xml");
}

static int t_before_auth(void) {
  return bad_input("<message to='bob@localhost'><body>early</body></message>", 0, "not-authorized");
}

static int t_oversize(void) {
  /* The daemon's max_stanza is 65536: a 70,000-byte body cannot pass. */
  size_t n = 70000;
  char *big = malloc(n + 128);
  if (!big)
    return -1;
  int off = snprintf(big, n + 128, "<message to='bob@localhost'><body>");
  memset(big + off, 'x', n);
  strcpy(big + off + n, "</body></message>");
  int rc = bad_input(big, 1, "policy-violation");
  free(big);
  return rc;
}

/* A wrong password: <failure><not-authorized/>, and the third closes. */
static int t_wrong_password(void) {
  int rc = 0;
  xc a;
  memset(&a, 0, sizeof a);
  a.fd = -1;
  char auth[1024];
  xc_stanza *s = NULL;
  CHECK(xc_connect(&a, main_d.port, 0, 0) == 0, "connect");
  xc_send(&a, xc_header);
  CHECK((s = xc_expect(&a, "features", T_MS)) != NULL, "features");
  xc_stanza_free(s);
  s = NULL;
  xc_plain_auth(auth, sizeof auth, "alice", "wrong");
  for (int i = 0; i < 3; i++) {
    xc_send(&a, auth);
    CHECK((s = xc_expect(&a, "failure", T_MS)) != NULL && strstr(s->raw, "<not-authorized"),
          "failure %d: %s", i, s ? s->raw : "nothing");
    xc_stanza_free(s);
    s = NULL;
  }
  CHECK(xc_wait_eof(&a, T_MS) == 0, "closed after the third failure");
out:
  xc_stanza_free(s);
  xc_free(&a);
  return rc;
}

/* The same full JID bound twice: the new session wins, the old one gets
 * <conflict/>. */
static int t_conflict(void) {
  int rc = 0;
  xc a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.fd = b.fd = -1;
  CHECK(xc_connect(&a, main_d.port, 0, 0) == 0, "connect");
  CHECK(xc_connect(&b, main_d.port, 0, 0) == 0, "connect");
  CHECK(xc_login(&a, "alice", "alice-pw", "twin", T_MS) == 0, "first login");
  CHECK(xc_login(&b, "alice", "alice-pw", "twin", T_MS) == 0, "second login");
  CHECK(expect_stream_error(&a, "conflict") == 0, "the first one is replaced");
  xc_send(&b, "<message to='alice@localhost/twin' id='still'><body>alive</body></message>");
  xc_stanza *s = xc_expect(&b, "message", T_MS);
  CHECK(s && strstr(s->raw, "<body>alive</body>"), "the new session works");
  xc_stanza_free(s);
out:
  xc_free(&a);
  xc_free(&b);
  return rc;
}

/* A roster get over the network (RFC 6121 2.1.3): the items of the users
 * file, subscription both where both sides list each other. */
static int t_roster(void) {
  int rc = 0;
  xc a;
  memset(&a, 0, sizeof a);
  a.fd = -1;
  xc_stanza *s = NULL;
  CHECK(xc_connect(&a, main_d.port, 0, 0) == 0, "connect");
  CHECK(xc_login(&a, "alice", "alice-pw", "roster", T_MS) == 0, "login");
  xc_send(&a, "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
  CHECK((s = xc_expect(&a, "iq", T_MS)) != NULL, "roster result");
  CHECK(strstr(s->raw, "type='result'") && strstr(s->raw, "id='r1'") &&
            strstr(s->raw, "<query xmlns='jabber:iq:roster'>") &&
            strstr(s->raw, "jid='bob@localhost'") && strstr(s->raw, "name='Bob'") &&
            strstr(s->raw, "subscription='both'") && strstr(s->raw, "<group>Friends</group>"),
        "roster: %s", s->raw);
  xc_stanza_free(s);
  s = NULL;
  /* Read-only: a roster set is refused. */
  xc_send(&a, "<iq type='set' id='r2'><query xmlns='jabber:iq:roster'>"
              "<item jid='carol@localhost'/></query></iq>");
  CHECK((s = xc_expect(&a, "iq", T_MS)) != NULL && strstr(s->raw, "type='error'") &&
            strstr(s->raw, "id='r2'") && strstr(s->raw, "not-allowed"),
        "roster set: %s", s ? s->raw : "nothing");
out:
  xc_stanza_free(s);
  xc_free(&a);
  return rc;
}

/* Contacts that list each other send initial presence; one connection is
 * closed without </stream:stream> (a FIN, then a reset for the other):
 * the contact receives its unavailable presence in bounded time. */
static int abrupt(int reset) {
  int rc = 0;
  xc a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.fd = b.fd = -1;
  xc_stanza *s = NULL;
  const char *res = reset ? "rst" : "fin";
  char ajid[64];
  snprintf(ajid, sizeof ajid, "alice@localhost/%s", res);
  CHECK(xc_connect(&a, main_d.port, 0, 0) == 0, "connect");
  CHECK(xc_connect(&b, main_d.port, 0, 0) == 0, "connect");
  CHECK(xc_login(&b, "bob", "bob-pw", res, T_MS) == 0, "bob login");
  CHECK(xc_login(&a, "alice", "alice-pw", res, T_MS) == 0, "alice login");
  xc_send(&b, "<presence/>");
  CHECK(xc_flush(&b, T_MS) == 0, "bob's presence");
  xc_send(&a, "<presence><status>here</status></presence>");
  s = expect_from(&b, "presence", ajid, T_MS);
  CHECK(s && !strstr(s->raw, "type=") && strstr(s->raw, "<status>here</status>"),
        "bob sees alice available: %s", s ? s->raw : "nothing");
  xc_stanza_free(s);
  s = NULL;
  if (reset) {
    struct linger lg = {1, 0}; /* close() sends a RST */
    setsockopt(a.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  long long t0 = td_now_ms();
  close(a.fd); /* no </stream:stream> */
  a.fd = -1;
  s = expect_from(&b, "presence", ajid, 5000);
  CHECK(s && strstr(s->raw, "type='unavailable'"), "bob sees alice gone: %s",
        s ? s->raw : "nothing within 5 s");
  fprintf(stderr, "(unavailable presence after %lld ms, %s)\n", td_now_ms() - t0,
          reset ? "reset" : "FIN");
  CHECK(!b.perr, "every byte parsed");
out:
  xc_stanza_free(s);
  xc_free(&a);
  xc_free(&b);
  return rc;
}

static int t_abrupt(void) { return abrupt(0) || abrupt(1) ? -1 : 0; }

/* SIGHUP reloads the users file (a daemon of its own): an account added
 * with --add-user while it runs can log in after the reload; one removed
 * cannot log in anew while its connected session keeps working; a file
 * that does not load changes nothing. */
static int wait_log(const td_daemon *d, const char *needle) {
  long long end = td_now_ms() + T_MS;
  while (td_now_ms() < end) {
    if (td_log_has(d, needle))
      return 0;
    usleep(20000);
  }
  fprintf(stderr, "no '%s' in the log\n", needle);
  return -1;
}

static int t_sighup(void) {
  int rc = 0;
  td_daemon d;
  memset(&d, 0, sizeof d);
  xc a, b, e;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&e, 0, sizeof e);
  a.fd = b.fd = e.fd = -1;
  xc_stanza *s = NULL;
  char cfg[700], ufile[700], next[700], want[800];
  snprintf(cfg, sizeof cfg, "%s/sighup.json", dir);
  snprintf(ufile, sizeof ufile, "%s/reload-users.json", dir);
  snprintf(next, sizeof next, "%s/reload-next.json", dir);
  FILE *f = fopen(cfg, "w");
  CHECK(f != NULL, "config");
  fprintf(f, "{\"auth_failure_delay_ms\": 50, \"threads\": 2, \"log_level\": \"debug\"}\n");
  fclose(f);
  CHECK(td_add_user(bin, ufile, "alice@localhost", "alice-pw") == 0, "add alice");
  CHECK(td_add_user(bin, ufile, "bob@localhost", "bob-pw") == 0, "add bob");
  const char *args[] = {"--config", cfg, "--users", ufile, "--listen", "127.0.0.1:0", NULL};
  CHECK(td_start(&d, bin, dir, args) == 0, "start");
  CHECK(xc_connect(&a, d.port, 0, 0) == 0, "connect");
  CHECK(xc_connect(&b, d.port, 0, 0) == 0, "connect");
  CHECK(xc_login(&a, "alice", "alice-pw", "stay", T_MS) == 0, "alice");
  CHECK(xc_login(&b, "bob", "bob-pw", "stay", T_MS) == 0, "bob");
  CHECK(login_refused(d.port, "erin", "erin-pw") == 0, "erin before she is added");

  /* Added while running: in after the reload. */
  CHECK(td_add_user(bin, ufile, "erin@localhost", "erin-pw") == 0, "add erin");
  CHECK(kill(d.pid, SIGHUP) == 0, "SIGHUP");
  snprintf(want, sizeof want, "SIGHUP: reloaded %s: 3 accounts", ufile);
  CHECK(wait_log(&d, want) == 0, "first reload");
  CHECK(xc_connect(&e, d.port, 0, 0) == 0, "connect");
  CHECK(xc_login(&e, "erin", "erin-pw", "new", T_MS) == 0, "erin after the reload");
  xc_send(&e, "<message to='alice@localhost/stay' id='e1'><body>from erin</body></message>");
  s = expect_from(&a, "message", "erin@localhost/new", T_MS);
  CHECK(s && strstr(s->raw, "<body>from erin</body>"), "alice got %s", s ? s->raw : "nothing");
  xc_stanza_free(s);
  s = NULL;

  /* bob removed (a file written anew, renamed over the old one). */
  CHECK(td_add_user(bin, next, "alice@localhost", "alice-pw") == 0, "next: alice");
  CHECK(td_add_user(bin, next, "erin@localhost", "erin-pw") == 0, "next: erin");
  CHECK(rename(next, ufile) == 0, "rename");
  CHECK(kill(d.pid, SIGHUP) == 0, "SIGHUP");
  snprintf(want, sizeof want, "SIGHUP: reloaded %s: 2 accounts", ufile);
  CHECK(wait_log(&d, want) == 0, "second reload");
  CHECK(login_refused(d.port, "bob", "bob-pw") == 0, "bob cannot log in anew");
  /* ... but his session goes on, both ways (his bare JID still routes). */
  xc_send(&b, "<message to='alice@localhost/stay' id='b1'><body>still here</body></message>");
  s = expect_from(&a, "message", "bob@localhost/stay", T_MS);
  CHECK(s && strstr(s->raw, "<body>still here</body>"), "alice got %s", s ? s->raw : "nothing");
  xc_stanza_free(s);
  s = NULL;
  xc_send(&b, "<presence/>"); /* available: a chat to the bare JID reaches him */
  s = expect_from(&b, "presence", "bob@localhost/stay", T_MS);
  CHECK(s != NULL, "bob's presence reflected");
  xc_stanza_free(s);
  s = NULL;
  xc_send(&a, "<message to='bob@localhost' type='chat' id='a1'><body>hi bob</body></message>");
  s = expect_from(&b, "message", "alice@localhost/stay", T_MS);
  CHECK(s && strstr(s->raw, "<body>hi bob</body>"), "bob got %s", s ? s->raw : "nothing");
  xc_stanza_free(s);
  s = NULL;
  xc_send(&b, "<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
  CHECK((s = xc_expect(&b, "iq", T_MS)) != NULL && strstr(s->raw, "type='result'"),
        "bob's ping: %s", s ? s->raw : "nothing");
  xc_stanza_free(s);
  s = NULL;
  xc_free(&e);
  CHECK(xc_connect(&e, d.port, 0, 0) == 0, "connect");
  CHECK(xc_login(&e, "alice", "alice-pw", "again", T_MS) == 0, "alice with the new table");
  xc_free(&e);

  /* A file that does not load: one error line, the accounts stay. */
  f = fopen(ufile, "w");
  CHECK(f != NULL, "users");
  fputs("{\"version\": 1, \"domain\": \"localhost\", \"users\": {\"x\": []}\n", f);
  fclose(f);
  CHECK(kill(d.pid, SIGHUP) == 0, "SIGHUP");
  CHECK(wait_log(&d, "SIGHUP: users file not reloaded, keeping the accounts in force") == 0,
        "bad file reported");
  CHECK(xc_connect(&e, d.port, 0, 0) == 0, "connect");
  CHECK(xc_login(&e, "erin", "erin-pw", "after-bad", T_MS) == 0, "erin after the bad file");
  CHECK(login_refused(d.port, "bob", "bob-pw") == 0, "bob still out");
  CHECK(!a.perr && !b.perr && !e.perr, "every byte parsed");
out:
  xc_stanza_free(s);
  xc_free(&a);
  xc_free(&b);
  xc_free(&e);
  if (d.pid) {
    int st = td_stop(&d, SIGTERM, 20000);
    if (st != 0) {
      fprintf(stderr, "daemon exit status %d\n", st);
      rc = -1;
    }
  }
  if (rc)
    td_dump_log(&d);
  return rc;
}

/* ---- virtual hosts -------------------------------------------------------------- */

/* xc_login with a stream header for `domain` (both headers).  Returns 0, or
 * -1 at the first step that does not come. */
static int login_to(xc *c, const char *domain, const char *user, const char *password,
                    const char *resource) {
  char hdr[512], auth[1024], bind[512], from[256];
  xc_stanza *s;
  snprintf(hdr, sizeof hdr,
           "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
           "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
           domain);
  xc_send(c, hdr);
  if (!(s = xc_expect(c, "features", T_MS)))
    return -1;
  xc_stanza_free(s);
  xc_plain_auth(auth, sizeof auth, user, password);
  xc_send(c, auth);
  if (!(s = xc_expect(c, "success", T_MS)))
    return -1;
  xc_stanza_free(s);
  xc_send(c, hdr);
  if (!(s = xc_expect(c, "features", T_MS)))
    return -1;
  xc_stanza_free(s);
  snprintf(bind, sizeof bind,
           "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>%s</resource></bind></iq>",
           resource);
  xc_send(c, bind);
  if (!(s = xc_expect(c, "iq", T_MS)))
    return -1;
  int ok = xc_element_text(s->raw, "jid", c->jid, sizeof c->jid) == 0;
  xc_stanza_free(s);
  (void)from;
  return ok ? 0 : -1;
}

/* Two domains served by one daemon ("domains" in the config), their
 * accounts in one users file that --add-user turned into version 2:
 * logins on each host, a host's accounts refused on the other, host-unknown,
 * messages and presence across hosts, the server's answers from the host
 * addressed, a reload adding an account to the second host, a start that
 * takes the domains from the users file, and one refused because the file
 * holds a domain not served. */
static int t_vhosts(void) {
  int rc = 0;
  td_daemon d, d2;
  memset(&d, 0, sizeof d);
  memset(&d2, 0, sizeof d2);
  xc a, e, x;
  memset(&a, 0, sizeof a);
  memset(&e, 0, sizeof e);
  memset(&x, 0, sizeof x);
  a.fd = e.fd = x.fd = -1;
  xc_stanza *s = NULL;
  char cfg[700], ufile[700], want[800], out[700];
  snprintf(cfg, sizeof cfg, "%s/vhosts.json", dir);
  snprintf(ufile, sizeof ufile, "%s/vhosts-users.json", dir);
  snprintf(out, sizeof out, "%s/vhosts.out", dir);
  FILE *f = fopen(cfg, "w");
  CHECK(f != NULL, "config");
  fprintf(f, "{\"domains\": [\"localhost\", \"B.example\"], \"auth_failure_delay_ms\": 50,"
             " \"threads\": 2, \"log_level\": \"debug\"}\n");
  fclose(f);
  CHECK(td_add_user(bin, ufile, "alice@localhost", "alice-pw") == 0, "add alice");
  CHECK(td_add_user(bin, ufile, "erin@B.example", "erin-pw") == 0, "add erin");
  CHECK(td_file_has(ufile, "\"version\": 2") && td_file_has(ufile, "\"b.example\": {"),
        "--add-user of a second domain writes version 2");
  CHECK(add_roster(ufile, "alice", "{\"jid\": \"erin@b.example\"}") == 0 &&
            add_roster(ufile, "erin", "{\"jid\": \"alice@localhost\"}") == 0,
        "rosters");
  const char *args[] = {"--config", cfg, "--users", ufile, "--listen", "127.0.0.1:0", NULL};
  CHECK(td_start(&d, bin, dir, args) == 0, "start");
  CHECK(wait_log(&d, "virtual host b.example: 1 account") == 0, "the hosts are logged");

  CHECK(xc_connect(&a, d.port, 0, 0) == 0, "connect");
  CHECK(xc_connect(&e, d.port, 0, 0) == 0, "connect");
  CHECK(login_to(&a, "localhost", "alice", "alice-pw", "pc") == 0, "alice on localhost");
  CHECK(strcmp(a.jid, "alice@localhost/pc") == 0, "bound %s", a.jid);
  CHECK(login_to(&e, "b.example", "erin", "erin-pw", "tab") == 0, "erin on b.example");
  CHECK(strcmp(e.jid, "erin@b.example/tab") == 0, "bound %s", e.jid);
  /* erin is no account of localhost (xc_header says to='localhost') */
  CHECK(login_refused(d.port, "erin", "erin-pw") == 0, "erin on localhost");
  CHECK(xc_connect(&x, d.port, 0, 0) == 0, "connect");
  xc_send(&x, "<?xml version='1.0'?><stream:stream to='c.example' xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>");
  CHECK(expect_stream_error(&x, "host-unknown") == 0, "a domain not served");
  xc_free(&x);

  /* presence across hosts (each lists the other), then a chat to the bare JID */
  xc_send(&e, "<presence/>");
  s = expect_from(&e, "presence", "erin@b.example/tab", T_MS);
  CHECK(s != NULL, "erin's own presence");
  xc_stanza_free(s);
  xc_send(&a, "<presence><status>here</status></presence>");
  s = expect_from(&e, "presence", "alice@localhost/pc", T_MS);
  CHECK(s && strstr(s->raw, "<status>here</status>"), "erin sees alice: %s",
        s ? s->raw : "nothing");
  xc_stanza_free(s);
  s = expect_from(&a, "presence", "erin@b.example/tab", T_MS);
  CHECK(s != NULL, "alice's initial presence is answered with erin's");
  xc_stanza_free(s);
  xc_send(&a, "<message to='erin@B.EXAMPLE' type='chat' id='m1'><body>across</body></message>");
  s = expect_from(&e, "message", "alice@localhost/pc", T_MS);
  CHECK(s && strstr(s->raw, "<body>across</body>"), "erin got %s", s ? s->raw : "nothing");
  xc_stanza_free(s);
  xc_send(&e, "<iq type='get' id='p1' to='b.example'><ping xmlns='urn:xmpp:ping'/></iq>");
  s = expect_from(&e, "iq", "b.example", T_MS);
  CHECK(s && strstr(s->raw, "type='result'") && strstr(s->raw, "id='p1'"), "ping: %s",
        s ? s->raw : "nothing");
  xc_stanza_free(s);
  xc_send(&e, "<message to='bob@nowhere.example' id='m2'><body>x</body></message>");
  s = xc_expect(&e, "message", T_MS);
  CHECK(s && strstr(s->raw, "type='error'") && strstr(s->raw, "<service-unavailable"),
        "no server-to-server: %s", s ? s->raw : "nothing");
  xc_stanza_free(s);
  s = NULL;

  /* a reload adds an account to the second host */
  CHECK(td_add_user(bin, ufile, "frank@b.example", "frank-pw") == 0, "add frank");
  CHECK(kill(d.pid, SIGHUP) == 0, "SIGHUP");
  snprintf(want, sizeof want, "SIGHUP: reloaded %s: 3 accounts", ufile);
  CHECK(wait_log(&d, want) == 0, "reload");
  CHECK(xc_connect(&x, d.port, 0, 0) == 0, "connect");
  CHECK(login_to(&x, "b.example", "frank", "frank-pw", "r") == 0, "frank after the reload");
  xc_free(&x);
  CHECK(!a.perr && !e.perr, "every byte parsed");

  /* no domains given: the users file's, both */
  const char *args2[] = {"--users", ufile, "--listen", "127.0.0.1:0", NULL};
  CHECK(td_start(&d2, bin, dir, args2) == 0, "start without domains");
  CHECK(xc_connect(&x, d2.port, 0, 0) == 0, "connect");
  CHECK(login_to(&x, "b.example", "erin", "erin-pw", "r") == 0, "erin on the file's domain");
  xc_free(&x);
  /* a users file with accounts of a domain not served is refused */
  const char *args3[] = {"--users",  ufile,         "--domain", "localhost",
                         "--listen", "127.0.0.1:0", NULL};
  CHECK(td_run(bin, args3, NULL, out) == 2 &&
            td_file_has(out, "holds accounts of b.example, which is not a domain served"),
        "a domain not served");
  /* --add-user with the domains configured: an account of a domain not
   * served is refused (exit 2, the file untouched), since the daemon would
   * then refuse the whole file at its next start or reload; one of a
   * domain served, in any case, is added. */
  const char *args4[] = {"--config", cfg, "--users", ufile, "--add-user", "zoe@C.example", NULL};
  CHECK(td_run(bin, args4, "zoe-pw\n", out) == 2 &&
            td_file_has(out, "c.example is not a domain served") &&
            !td_file_has(ufile, "c.example"),
        "--add-user of a domain not served");
  const char *args5[] = {"--config", cfg, "--users", ufile, "--add-user", "gus@B.EXAMPLE", NULL};
  CHECK(td_run(bin, args5, "gus-pw\n", out) == 0 && td_file_has(ufile, "\"gus\""),
        "--add-user of a domain served");
out:
  xc_stanza_free(s);
  xc_free(&a);
  xc_free(&e);
  xc_free(&x);
  int st;
  if (d.pid && (st = td_stop(&d, SIGTERM, 20000)) != 0) {
    fprintf(stderr, "daemon exit status %d\n", st);
    rc = -1;
  }
  if (d2.pid && (st = td_stop(&d2, SIGTERM, 20000)) != 0) {
    fprintf(stderr, "second daemon exit status %d\n", st);
    rc = -1;
  }
  if (rc) {
    td_dump_log(&d);
    td_dump_log(&d2);
  }
  return rc;
}

/* Over IPv6 when [::1] can be bound. */
static int t_ipv6(void) {
  if (!have6 || !main_d.port6) {
    fprintf(stderr, "(no [::1] here: skipped)\n");
    return 0;
  }
  int rc = 0;
  xc a;
  memset(&a, 0, sizeof a);
  a.fd = -1;
  CHECK(xc_connect(&a, main_d.port6, 1, 0) == 0, "connect");
  CHECK(xc_login(&a, "bob", "bob-pw", "v6", T_MS) == 0, "login over IPv6");
out:
  xc_free(&a);
  return rc;
}

/* Many connections at once, each sending a numbered sequence to the next
 * one's full JID: nothing lost, duplicated or reordered per sender. */
static int t_many(void) {
  int rc = 0;
  unsigned n = 1000, m = 20;
  const char *e = getenv("XSR_E2E_CLIENTS");
  if (e && atoi(e) > 1)
    n = (unsigned)atoi(e);
  if ((e = getenv("XSR_E2E_MESSAGES")) && atoi(e) > 0)
    m = (unsigned)atoi(e);
  xc *cs = calloc(n, sizeof *cs);
  xc **ps = calloc(n, sizeof *ps);
  char auth[1024], buf[512];
  unsigned bound = 0, done = 0, closed = 0;
  long long t0 = td_now_ms(), end = t0 + 120000;
  if (!cs || !ps) {
    free(cs);
    free(ps);
    return -1;
  }
  for (unsigned i = 0; i < n; i++)
    cs[i].fd = -1;
  xc_plain_auth(auth, sizeof auth, "load", "load-pw");
  for (unsigned i = 0; i < n; i++) {
    ps[i] = &cs[i];
    CHECK(xc_connect(&cs[i], main_d.port, 0, 0) == 0, "connect %u", i);
    cs[i].idx = i;
    /* The whole login pipelined; no presence (a thousand resources of
     * one account would broadcast to each other). */
    xc_send(&cs[i], xc_header);
    xc_send(&cs[i], auth);
    xc_send(&cs[i], xc_header);
    snprintf(buf, sizeof buf,
             "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
             "<resource>r%u</resource></bind></iq>",
             i);
    xc_send(&cs[i], buf);
  }
  /* Phase 1: every client bound. */
  while (bound < n && td_now_ms() < end) {
    CHECK(xc_pump(ps, n, 100) == 0, "poll");
    for (unsigned i = 0; i < n; i++) {
      xc *c = &cs[i];
      CHECK(!c->eof && !c->perr, "client %u: connection lost while logging in", i);
      xc_stanza *s;
      while (c->state == 0 && c->qlen && (s = xc_next(c, 0)) != NULL) {
        if (strcmp(s->name, "iq") == 0) {
          CHECK(strstr(s->raw, "type='result'"), "client %u: bind: %s", i, s->raw);
          c->state = 1;
          bound++;
        }
        xc_stanza_free(s);
      }
    }
  }
  CHECK(bound == n, "%u of %u bound in time", bound, n);
  long long t1 = td_now_ms();
  /* Phase 2: each sends m messages to the next. */
  for (unsigned i = 0; i < n; i++)
    for (unsigned k = 0; k < m; k++) {
      snprintf(buf, sizeof buf,
               "<message to='load@localhost/r%u' id='%u-%u'><body>%u:%u</body>"
               "</message>",
               (i + 1) % n, i, k, i, k);
      xc_send(&cs[i], buf);
    }
  while (done < n && td_now_ms() < end) {
    CHECK(xc_pump(ps, n, 100) == 0, "poll");
    for (unsigned i = 0; i < n; i++) {
      xc *c = &cs[i];
      CHECK(!c->eof && !c->perr, "client %u: connection lost", i);
      xc_stanza *s;
      while (c->qlen && (s = xc_next(c, 0)) != NULL) {
        unsigned from = (i + n - 1) % n, src, k;
        char body[64], want_from[64];
        snprintf(want_from, sizeof want_from, "from='load@localhost/r%u'", from);
        int ok = strcmp(s->name, "message") == 0 &&
                 xc_element_text(s->raw, "body", body, sizeof body) == 0 &&
                 sscanf(body, "%u:%u", &src, &k) == 2 && src == from && k == c->recvd &&
                 strstr(s->raw, want_from);
        if (!ok)
          fprintf(stderr, "client %u: expected message %u from r%u, got %s\n", i, c->recvd, from,
                  s->raw);
        xc_stanza_free(s);
        CHECK(ok, "in order, from the right sender");
        if (++c->recvd == m)
          done++;
      }
    }
  }
  CHECK(done == n, "%u of %u clients received all %u messages", done, n, m);
  long long t2 = td_now_ms();
  /* Phase 3: close every stream. */
  for (unsigned i = 0; i < n; i++)
    xc_send(&cs[i], "</stream:stream>");
  while (closed < n && td_now_ms() < end) {
    CHECK(xc_pump(ps, n, 100) == 0, "poll");
    closed = 0;
    for (unsigned i = 0; i < n; i++)
      closed += cs[i].eof;
  }
  CHECK(closed == n, "%u of %u closed by the server", closed, n);
  fprintf(stderr, "(%u clients: logged in in %lld ms, %u messages delivered in %lld ms)\n", n,
          t1 - t0, n * m, t2 - t1);
out:
  for (unsigned i = 0; i < n; i++)
    xc_free(&cs[i]);
  free(cs);
  free(ps);
  return rc;
}

/* A daemon of its own with short timeouts: the pre-authentication
 * timeout, and a slow consumer closed while its sender goes on. */
static int t_timeouts(void) {
  int rc = 0;
  td_daemon d;
  memset(&d, 0, sizeof d);
  xc a, b, c;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&c, 0, sizeof c);
  a.fd = b.fd = c.fd = -1;
  char cfg[700];
  snprintf(cfg, sizeof cfg, "%s/timeouts.json", dir);
  FILE *f = fopen(cfg, "w");
  CHECK(f != NULL, "config");
  fprintf(f, "{\"preauth_timeout_s\": 1, \"slow_consumer_timeout_s\": 2,\n"
             " \"session_budget\": 65536, \"threads\": 2, \"log_level\": \"debug\"}\n");
  fclose(f);
  const char *args[] = {"--config", cfg, "--users", users, "--listen", "127.0.0.1:0", NULL};
  CHECK(td_start(&d, bin, dir, args) == 0, "start");
  /* Pre-authentication timeout. */
  CHECK(xc_connect(&a, d.port, 0, 0) == 0, "connect");
  xc_send(&a, xc_header);
  long long t0 = td_now_ms();
  CHECK(expect_stream_error(&a, "connection-timeout") == 0, "pre-auth timeout");
  long long dt = td_now_ms() - t0;
  CHECK(dt >= 900 && dt < 5000, "after %lld ms", dt);
  /* A slow consumer: b never reads (a small receive buffer), c floods it. */
  long long t1 = td_now_ms();
  CHECK(xc_connect(&b, d.port, 0, 4096) == 0, "connect");
  CHECK(xc_connect(&c, d.port, 0, 0) == 0, "connect");
  CHECK(xc_login(&b, "bob", "bob-pw", "slow", T_MS) == 0, "bob");
  CHECK(xc_login(&c, "alice", "alice-pw", "fast", T_MS) == 0, "alice");
  size_t big = 16000;
  char *msg = malloc(big + 200);
  CHECK(msg != NULL, "memory");
  int off = snprintf(msg, big + 200, "<message to='bob@localhost/slow'><body>");
  memset(msg + off, 'y', big);
  strcpy(msg + off + big, "</body></message>");
  /* At most 64 MiB: c's output backs up once the server stops reading it
   * (blocked on b's budget). */
  long long end = td_now_ms() + 30000;
  size_t sent = 0;
  while (sent < 4096 && td_now_ms() < end && !td_log_has(&d, "slow consumer")) {
    while (c.outlen < 1 << 20 && sent < 4096) {
      xc_send(&c, msg);
      sent++;
    }
    xc *cc = &c;
    xc_pump(&cc, 1, 20);
    CHECK(!c.eof, "the sender must not be cut off");
  }
  free(msg);
  while (td_now_ms() < end && !td_log_has(&d, "slow consumer"))
    usleep(50000);
  CHECK(td_log_has(&d, "slow consumer"), "the slow consumer was closed (%zu messages sent)", sent);
  fprintf(stderr,
          "(pre-auth timeout after %lld ms; slow consumer closed after %lld ms, %zu "
          "messages of 16 kB sent)\n",
          dt, td_now_ms() - t1, sent);
  /* The sender goes on: its blocked stanza is retried once b is gone. */
  xc_send(&c, "<message to='alice@localhost/fast' id='after'><body>after</body></message>");
  end = td_now_ms() + T_MS;
  int got = 0;
  while (!got && td_now_ms() < end) {
    xc_stanza *s = xc_next(&c, 200);
    if (s && strstr(s->raw, "<body>after</body>"))
      got = 1;
    xc_stanza_free(s);
  }
  CHECK(got, "alice is served again after the slow consumer is gone");
out:
  xc_free(&a);
  xc_free(&b);
  xc_free(&c);
  if (d.pid) {
    int st = td_stop(&d, SIGTERM, 20000);
    if (st != 0) {
      fprintf(stderr, "daemon exit status %d\n", st);
      rc = -1;
    }
  }
  if (rc)
    td_dump_log(&d);
  return rc;
}

/* A daemon with a read rate, a connection limit and an idle timeout. */
static int t_limits(void) {
  int rc = 0;
  td_daemon d;
  memset(&d, 0, sizeof d);
  xc a, b, c, e;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&c, 0, sizeof c);
  memset(&e, 0, sizeof e);
  a.fd = b.fd = c.fd = e.fd = -1;
  char cfg[700], *big = NULL;
  snprintf(cfg, sizeof cfg, "%s/limits.json", dir);
  FILE *f = fopen(cfg, "w");
  CHECK(f != NULL, "config");
  fprintf(f, "{\"read_rate\": 50000, \"max_connections\": 3, \"idle_timeout_s\": 2,"
             " \"threads\": 1, \"log_level\": \"debug\"}\n");
  fclose(f);
  const char *args[] = {"--config", cfg, "--users", users, "--listen", "127.0.0.1:0", NULL};
  CHECK(td_start(&d, bin, dir, args) == 0, "start");
  CHECK(xc_connect(&a, d.port, 0, 0) == 0, "connect");
  CHECK(xc_login(&a, "alice", "alice-pw", "rate", T_MS) == 0, "alice");
  CHECK(xc_connect(&b, d.port, 0, 0) == 0, "connect");
  CHECK(xc_login(&b, "bob", "bob-pw", "idle", T_MS) == 0, "bob");
  long long t_idle = td_now_ms();
  CHECK(xc_connect(&c, d.port, 0, 0) == 0, "connect");
  xc_send(&c, xc_header);
  xc_stanza *s = xc_expect(&c, "features", T_MS);
  CHECK(s != NULL, "the third connection is served");
  xc_stanza_free(s);
  /* The fourth is over max_connections. */
  CHECK(xc_connect(&e, d.port, 0, 0) == 0, "connect");
  xc_send(&e, xc_header);
  CHECK(expect_stream_error(&e, "resource-constraint") == 0, "over max_connections");
  /* 150 kB at 50 kB/s (a 50 kB burst): about 2 s, nothing lost. */
  size_t n = 150000;
  big = malloc(n + 128);
  CHECK(big != NULL, "memory");
  int off = snprintf(big, n + 128, "<message to='alice@localhost/rate'><body>");
  memset(big + off, 'r', n);
  strcpy(big + off + n, "</body></message>");
  long long t0 = td_now_ms();
  xc_send(&a, big);
  s = NULL;
  while (!s && td_now_ms() - t0 < 3 * T_MS) {
    s = xc_next(&a, 100);
    if (s && strcmp(s->name, "message") != 0) {
      xc_stanza_free(s);
      s = NULL;
    }
  }
  long long dt = td_now_ms() - t0;
  CHECK(s && s->len > n, "the big message came back");
  xc_stanza_free(s);
  CHECK(dt >= 1500, "read at the configured rate: %lld ms for 150 kB", dt);
  /* Bob said nothing since binding: the idle timeout ended him. */
  CHECK(expect_stream_error(&b, "connection-timeout") == 0, "idle timeout");
  long long idle = td_now_ms() - t_idle;
  CHECK(idle >= 1900, "after %lld ms", idle);
  fprintf(stderr, "(150 kB read in %lld ms at 50 kB/s; idle timeout after %lld ms)\n", dt, idle);
out:
  free(big);
  xc_free(&a);
  xc_free(&b);
  xc_free(&c);
  xc_free(&e);
  if (d.pid) {
    int st = td_stop(&d, SIGTERM, 20000);
    if (st != 0) {
      fprintf(stderr, "daemon exit status %d\n", st);
      rc = -1;
    }
  }
  if (rc)
    td_dump_log(&d);
  return rc;
}

/* The command-line contract: exit codes and messages. */
static int t_cli(void) {
  int rc = 0;
  char out[700], cfg[700], port[32], other[700];
  snprintf(out, sizeof out, "%s/cli.out", dir);
  snprintf(cfg, sizeof cfg, "%s/bad.json", dir);
  snprintf(other, sizeof other, "%s/other.json", dir);
  FILE *f = fopen(cfg, "w");
  CHECK(f != NULL, "config");
  fprintf(f, "{\"threads\": 2, \"lisen\": [\"127.0.0.1:0\"]}\n");
  fclose(f);
  snprintf(port, sizeof port, "127.0.0.1:%u", main_d.port);
  struct {
    const char *args[8];
    const char *input;
    int status;
    const char *says;
  } cases[] = {
      {{"--help", NULL}, NULL, 0, "usage: xsr-router"},
      {{"--version", NULL}, NULL, 0, "xsr-router " XSR_VERSION_STRING},
      {{"--bogus", NULL}, NULL, 2, "unknown option '--bogus'"},
      {{"--threads", "0", NULL}, NULL, 2, "--threads '0'"},
      {{"--config", cfg, NULL}, NULL, 2, "/lisen: unknown key"},
      {{"--config", "/nonexistent/x.json", NULL}, NULL, 2, "/nonexistent/x.json: No such file"},
      {{"--users", "/nonexistent/u.json", "--listen", "127.0.0.1:0", NULL},
       NULL,
       2,
       "/nonexistent/u.json"},
      {{"--users", users, "--domain", "example.org", "--listen", "127.0.0.1:0", NULL},
       NULL,
       2,
       "differs from the domain of"},
      {{"--users", users, "--listen", port, NULL}, NULL, 1, "Address already in use"},
      {{"--listen", "256.1.1.1:5222", NULL}, NULL, 1, "listen 256.1.1.1:5222"},
      {{"--add-user", "x@localhost", NULL}, "pw\n", 2, "--add-user needs --users FILE"},
      {{"--users", other, "--add-user", "x@localhost", NULL}, "\n", 1, "empty password"},
      {{"--users", other, "--add-user", "not a jid", NULL}, "pw\n", 1, "not a valid JID"},
      {{"--users", other, "--add-user", "carol@localhost", NULL},
       "carol's pw\r\n",
       0,
       "stored credentials for carol@localhost"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int st = td_run(bin, cases[i].args, cases[i].input, out);
    int says = td_file_has(out, cases[i].says);
    if (st != cases[i].status || !says) {
      fprintf(stderr, "case %zu (%s ...): exit %d (want %d), output:\n", i, cases[i].args[0], st,
              cases[i].status);
      FILE *o = fopen(out, "r");
      char line[512];
      while (o && fgets(line, sizeof line, o))
        fputs(line, stderr);
      if (o)
        fclose(o);
    }
    CHECK(st == cases[i].status && says, "case %zu: want '%s'", i, cases[i].says);
  }
out:
  return rc;
}

/* Last, on the shared daemon: SIGTERM ends every stream with
 * <system-shutdown/> and the daemon exits 0. */
static int t_sigterm(void) {
  int rc = 0;
  xc a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.fd = b.fd = -1;
  CHECK(xc_connect(&a, main_d.port, 0, 0) == 0, "connect");
  CHECK(xc_connect(&b, main_d.port, 0, 0) == 0, "connect");
  CHECK(xc_login(&a, "alice", "alice-pw", "last", T_MS) == 0, "login");
  xc_send(&b, xc_header); /* b has not authenticated */
  xc_stanza *s = xc_expect(&b, "features", T_MS);
  CHECK(s != NULL, "features");
  xc_stanza_free(s);
  CHECK(kill(main_d.pid, SIGTERM) == 0, "kill");
  CHECK(expect_stream_error(&a, "system-shutdown") == 0, "a");
  CHECK(expect_stream_error(&b, "system-shutdown") == 0, "b");
  int st = td_stop(&main_d, 0, 20000); /* signal 0: just wait */
  CHECK(st == 0, "exit status %d", st);
out:
  xc_free(&a);
  xc_free(&b);
  return rc;
}

typedef struct test {
  const char *name;
  int (*fn)(void);
} test;

static const test tests[] = {
    {"message", t_message},
    {"pipelined", t_pipelined},
    {"one-byte", t_one_byte},
    {"not-well-formed", t_not_well_formed},
    {"restricted-xml", t_restricted_xml},
    {"before-auth", t_before_auth},
    {"oversize", t_oversize},
    {"wrong-password", t_wrong_password},
    {"conflict", t_conflict},
    {"roster", t_roster},
    {"abrupt-disconnect", t_abrupt},
    {"ipv6", t_ipv6},
    {"many", t_many},
    {"timeouts", t_timeouts},
    {"limits", t_limits},
    {"sighup", t_sighup},
    {"vhosts", t_vhosts},
    {"cli", t_cli},
    {"sigterm", t_sigterm},
};

static int selected(int argc, char **argv, const char *name) {
  if (argc <= 2)
    return 1;
  for (int i = 2; i < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return 1;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_router_e2e PATH/TO/xsr-router [TEST ...]\n");
    return 2;
  }
  bin = argv[1];
  signal(SIGPIPE, SIG_IGN);
  if (td_tmpdir(dir, sizeof dir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(users, sizeof users, "%s/users.json", dir);
  const char *accounts[][2] = {
      {"alice@localhost", "alice-pw"}, {"bob@localhost", "bob-pw"}, {"load@localhost", "load-pw"}};
  for (size_t i = 0; i < 3; i++)
    if (td_add_user(bin, users, accounts[i][0], accounts[i][1]) != 0) {
      fprintf(stderr, "xsr-router --add-user %s failed\n", accounts[i][0]);
      td_rmdir(dir);
      return 1;
    }
  /* alice and bob list each other (presence, roster get). */
  if (add_roster(users, "alice",
                 "{\"jid\": \"bob@localhost\", \"name\": \"Bob\", "
                 "\"groups\": [\"Friends\"]}") ||
      add_roster(users, "bob", "{\"jid\": \"alice@localhost\"}")) {
    fprintf(stderr, "cannot add the rosters to %s\n", users);
    td_rmdir(dir);
    return 1;
  }
  /* The shared daemon: a config file whose listen address the command
   * line overrides. */
  char cfg[700];
  snprintf(cfg, sizeof cfg, "%s/router.json", dir);
  FILE *f = fopen(cfg, "w");
  if (!f) {
    perror(cfg);
    return 1;
  }
  fprintf(f, "{\"listen\": [\"127.0.0.1:5222\"], \"auth_failure_delay_ms\": 100,\n"
             " \"max_stanza\": 65536, \"threads\": 2, \"log_level\": \"debug\"}\n");
  fclose(f);
  have6 = td_have_ipv6();
  const char *args4[] = {"--config", cfg, "--users", users, "--listen", "127.0.0.1:0", NULL};
  const char *args6[] = {"--config",    cfg,        "--users", users, "--listen",
                         "127.0.0.1:0", "--listen", "[::1]:0", NULL};
  if (td_start(&main_d, bin, dir, have6 ? args6 : args4)) {
    td_rmdir(dir);
    return 1;
  }
  int failed = 0, ran = 0;
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    if (!selected(argc, argv, tests[i].name))
      continue;
    if (!td_running(&main_d)) {
      fprintf(stderr, "FAIL %s: the daemon is not running\n", tests[i].name);
      failed++;
      continue;
    }
    long long t0 = td_now_ms();
    int r = tests[i].fn();
    ran++;
    fprintf(stderr, "%s %s (%lld ms)\n", r ? "FAIL" : "PASS", tests[i].name, td_now_ms() - t0);
    failed += r != 0;
  }
  if (main_d.pid) {
    int st = td_stop(&main_d, SIGTERM, 20000);
    if (st != 0) {
      fprintf(stderr, "FAIL: the daemon's exit status %d\n", st);
      failed++;
    }
  }
  if (failed)
    td_dump_log(&main_d);
  fprintf(stderr, "%d of %d tests failed\n", failed, ran);
  td_rmdir(dir);
  return failed ? 1 : 0;
}
