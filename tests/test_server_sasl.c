/* SPDX-License-Identifier: MIT */
/* Criterion suite for server/sasl.h: real SCRAM-SHA-1 and SCRAM-SHA-256
 * exchanges between libgsasl's client side (which knows the password) and
 * xsr's server side (which knows only the stored keys), PLAIN through the
 * off-loop work step, ANONYMOUS, and the RFC 6120 section 6.5 condition for
 * every kind of failure. */
#define _GNU_SOURCE /* mkdtemp */
#include <criterion/criterion.h>
#include <errno.h>
#include <gsasl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "sasl.h"

static Gsasl *cli;
static xsr__sasl *srv, *srv_all;
static xsr__users *users;
static char err[1024];

#define DAVE_PW "I\xc2\xadX" /* RFC 4013 example: SASLprep maps it to "IX" */

static void setup(void) {
  char dir[256], path[300];
  const char *t = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/xsr-sasl-XXXXXX", t && *t ? t : "/tmp");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/users.json", dir);
  static const char *const acc[][2] = {
      {"alice@example.com", "secret"},
      {"bob@example.com", "bobpw"},
      {"dave@example.com", DAVE_PW},
      {"o,k=1@example.com", "pw"}}; /* SCRAM escapes ',' and '=' in names */
  for (size_t i = 0; i < sizeof acc / sizeof acc[0]; i++)
    cr_assert_eq(xsr__users_add(path, acc[i][0], strlen(acc[i][0]), acc[i][1], strlen(acc[i][1]),
                                err, sizeof err),
                 0, "%s", err);
  cr_assert_eq(xsr__users_load(path, &users, err, sizeof err), 0, "%s", err);
  unlink(path);
  rmdir(dir);

  xsr__sasl_config all = {.plain_enabled = 1, .anonymous_enabled = 1};
  cr_assert_eq(xsr__sasl_new(NULL, &srv, err, sizeof err), 0, "%s", err);
  cr_assert_eq(xsr__sasl_new(&all, &srv_all, err, sizeof err), 0, "%s", err);
  cr_assert_eq(gsasl_init(&cli), GSASL_OK);
}

static void teardown(void) {
  gsasl_done(cli);
  xsr__sasl_free(srv);
  xsr__sasl_free(srv_all);
  xsr__users_free(users);
}

TestSuite(sasl, .init = setup, .fini = teardown);

static char *b64(const void *p, size_t n) {
  char *s = malloc(xsr__b64_encoded_len(n) + 1);
  cr_assert_not_null(s);
  xsr__b64_encode(p, n, s);
  return s;
}

/* ---- SCRAM against libgsasl's client ----------------------------------- */

typedef struct scram_run {
  xsr__sasl_status status;
  xsr__sasl_condition condition;
  char local[64];
  char salt[64];       /* s= of server-first */
  int iterations;      /* i= of server-first */
  int client_verified; /* the client accepted the server's signature */
} scram_run;

/* Reads s= and i= out of a base64 server-first message. */
static void parse_server_first(const char *data, scram_run *out) {
  unsigned char raw[512];
  size_t n;
  cr_assert_eq(xsr__b64_decode(data, strlen(data), raw, sizeof raw - 1, &n), 0);
  raw[n] = '\0';
  const char *s = strstr((char *)raw, ",s="), *i = strstr((char *)raw, ",i=");
  cr_assert(s && i, "server-first: %s", raw);
  size_t len = strcspn(s + 3, ",");
  cr_assert_lt(len, sizeof out->salt);
  memcpy(out->salt, s + 3, len);
  out->salt[len] = '\0';
  out->iterations = atoi(i + 3);
}

/* One exchange on a new session of srv; the client knows the password. */
static scram_run scram(const char *mech, const char *user, const char *pw, const char *authzid,
                       int no_initial_response) {
  scram_run run;
  Gsasl_session *c;
  xsr__sasl_result r;
  char *out = NULL;
  memset(&run, 0, sizeof run);
  cr_assert_eq(gsasl_client_start(cli, mech, &c), GSASL_OK);
  gsasl_property_set(c, GSASL_AUTHID, user);
  gsasl_property_set(c, GSASL_PASSWORD, pw);
  if (authzid)
    gsasl_property_set(c, GSASL_AUTHZID, authzid);

  xsr__sasl_session *s = xsr__sasl_session_new(srv, users);
  cr_assert_not_null(s);
  cr_assert_eq(xsr__sasl_start(s, mech, strlen(mech)), XSR__SASL_COND_NONE);
  xsr__sasl_status st;
  if (no_initial_response) {
    st = xsr__sasl_step(s, "", 0, &r);
    cr_assert_eq(st, XSR__SASL_CHALLENGE);
    cr_assert_str_eq(r.data, "", "an empty challenge asks for client-first");
    cr_assert_eq(r.data_len, 0);
  }
  cr_assert_eq(gsasl_step64(c, "", &out), GSASL_NEEDS_MORE); /* client-first */
  st = xsr__sasl_step(s, out, strlen(out), &r);
  gsasl_free(out);
  int round = 0;
  while (st == XSR__SASL_CHALLENGE) {
    cr_assert_lt(++round, 3, "too many rounds");
    if (round == 1)
      parse_server_first(r.data, &run);
    out = NULL; /* gsasl_step64 leaves it alone on some failures */
    int rc = gsasl_step64(c, r.data, &out);
    cr_assert_eq(rc, GSASL_NEEDS_MORE, "client: %s", gsasl_strerror(rc));
    st = xsr__sasl_step(s, out, strlen(out), &r);
    gsasl_free(out);
  }
  cr_assert_eq(round, 1, "SCRAM takes exactly one challenge before the outcome");
  run.status = st;
  run.condition = r.condition;
  if (st == XSR__SASL_SUCCESS) {
    cr_assert_eq(r.condition, XSR__SASL_COND_NONE);
    cr_assert_not_null(r.data, "SCRAM success carries the server signature");
    cr_assert_eq(strlen(r.data), r.data_len);
    snprintf(run.local, sizeof run.local, "%.*s", (int)r.local_len, r.local);
    out = NULL;
    int rc = gsasl_step64(c, r.data, &out);
    run.client_verified = rc == GSASL_OK;
    gsasl_free(out);
    /* The exchange is over: more data is a protocol error. */
    cr_assert_eq(xsr__sasl_step(s, "=", 1, &r), XSR__SASL_FAILURE);
    cr_assert_eq(r.condition, XSR__SASL_COND_MALFORMED_REQUEST);
  } else {
    cr_assert_eq(st, XSR__SASL_FAILURE);
    cr_assert_null(r.local);
  }
  xsr__sasl_session_free(s);
  gsasl_finish(c);
  return run;
}

static void expect_salt_of(const char *user, xsr__scram_hash h, const scram_run *run) {
  const xsr__account *a = xsr__users_lookup(users, user, strlen(user));
  cr_assert_not_null(a);
  char *want = b64(a->cred[h].salt, a->cred[h].salt_len);
  cr_assert_str_eq(run->salt, want, "server-first does not carry the stored salt");
  cr_assert_eq(run->iterations, (int)a->cred[h].iterations);
  free(want);
}

Test(sasl, scram_sha256_real_exchange) {
  scram_run run = scram("SCRAM-SHA-256", "alice", "secret", NULL, 0);
  cr_assert_eq(run.status, XSR__SASL_SUCCESS, "failed: %s",
               xsr__sasl_condition_name(run.condition));
  cr_assert_str_eq(run.local, "alice");
  cr_assert(run.client_verified, "the client rejected the server signature (ServerKey wrong)");
  expect_salt_of("alice", XSR__SCRAM_SHA256, &run);
}

Test(sasl, scram_sha1_real_exchange) {
  scram_run run = scram("SCRAM-SHA-1", "bob", "bobpw", NULL, 0);
  cr_assert_eq(run.status, XSR__SASL_SUCCESS, "failed: %s",
               xsr__sasl_condition_name(run.condition));
  cr_assert_str_eq(run.local, "bob");
  cr_assert(run.client_verified);
  expect_salt_of("bob", XSR__SCRAM_SHA1, &run);
}

Test(sasl, scram_without_initial_response) {
  scram_run run = scram("SCRAM-SHA-256", "bob", "bobpw", NULL, 1);
  cr_assert_eq(run.status, XSR__SASL_SUCCESS);
  cr_assert(run.client_verified);
}

Test(sasl, scram_normalises_user_and_password) {
  scram_run run = scram("SCRAM-SHA-1", "Alice", "secret", NULL, 0);
  cr_assert_eq(run.status, XSR__SASL_SUCCESS);
  cr_assert_str_eq(run.local, "alice", "the canonical localpart is reported");
  run = scram("SCRAM-SHA-256", "dave", "IX", NULL, 0);
  cr_assert_eq(run.status, XSR__SASL_SUCCESS, "SASLprep differs between storing and the client");
}

Test(sasl, scram_username_with_comma_and_equals) {
  scram_run run = scram("SCRAM-SHA-256", "o,k=1", "pw", "o,k=1@example.com", 0);
  cr_assert_eq(run.status, XSR__SASL_SUCCESS, "%s", xsr__sasl_condition_name(run.condition));
  cr_assert_str_eq(run.local, "o,k=1");
}

Test(sasl, scram_wrong_password_and_unknown_user_look_alike) {
  for (int h = 0; h < 2; h++) {
    const char *mech = h ? "SCRAM-SHA-256" : "SCRAM-SHA-1";
    scram_run bad = scram(mech, "alice", "Secret", NULL, 0);
    cr_assert_eq(bad.status, XSR__SASL_FAILURE);
    cr_assert_eq(bad.condition, XSR__SASL_COND_NOT_AUTHORIZED);

    scram_run n1 = scram(mech, "zed", "secret", NULL, 0);
    scram_run n2 = scram(mech, "ZED", "other", NULL, 0);
    cr_assert_eq(n1.status, XSR__SASL_FAILURE);
    cr_assert_eq(n1.condition, XSR__SASL_COND_NOT_AUTHORIZED, "unknown user: %s",
                 xsr__sasl_condition_name(n1.condition));
    cr_assert_eq(n2.condition, XSR__SASL_COND_NOT_AUTHORIZED);
    /* The fake salt is stable and shaped like a real one. */
    cr_assert_str_eq(n1.salt, n2.salt, "an unknown user's salt changes between attempts");
    cr_assert_eq(strlen(n1.salt), strlen(bad.salt));
    cr_assert_eq(n1.iterations, bad.iterations);
    scram_run n3 = scram(mech, "yves", "secret", NULL, 0);
    cr_assert_str_neq(n3.salt, n1.salt, "all unknown users share one salt");
  }
}

Test(sasl, scram_authzid) {
  scram_run run = scram("SCRAM-SHA-256", "alice", "secret", "alice@example.com", 0);
  cr_assert_eq(run.status, XSR__SASL_SUCCESS, "own bare JID refused: %s",
               xsr__sasl_condition_name(run.condition));
  run = scram("SCRAM-SHA-256", "alice", "secret", "bob@example.com", 0);
  cr_assert_eq(run.status, XSR__SASL_FAILURE);
  cr_assert_eq(run.condition, XSR__SASL_COND_INVALID_AUTHZID);
  run = scram("SCRAM-SHA-1", "alice", "secret", "alice@example.com/phone", 0);
  cr_assert_eq(run.condition, XSR__SASL_COND_INVALID_AUTHZID);
  /* The authzid is judged only after the credentials. */
  run = scram("SCRAM-SHA-256", "alice", "wrong", "bob@example.com", 0);
  cr_assert_eq(run.condition, XSR__SASL_COND_NOT_AUTHORIZED);
}

/* ---- wire-level failures ------------------------------------------------ */

/* Starts `mech` on a new session of ctx and feeds `data`; returns the
 * condition of the failure (NONE when the step did not fail). */
static xsr__sasl_condition one_step(xsr__sasl *ctx, const char *mech, const char *data) {
  xsr__sasl_result r;
  xsr__sasl_session *s = xsr__sasl_session_new(ctx, users);
  cr_assert_eq(xsr__sasl_start(s, mech, strlen(mech)), XSR__SASL_COND_NONE);
  xsr__sasl_status st = xsr__sasl_step(s, data, strlen(data), &r);
  if (st == XSR__SASL_WORK)
    st = xsr__sasl_resume(s, &r);
  xsr__sasl_condition c = st == XSR__SASL_FAILURE ? r.condition : XSR__SASL_COND_NONE;
  if (st == XSR__SASL_FAILURE)
    cr_assert_neq(c, XSR__SASL_COND_NONE, "failure without a condition");
  xsr__sasl_session_free(s);
  return c;
}

Test(sasl, bad_base64_is_incorrect_encoding) {
  static const char *const bad[] = {"abc",           "!!!!",     "bj1hbGljZQ",
                                    "bj1h bGljZQ==", "YQ==YQ==", "YR=="};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_expect_eq(one_step(srv, "SCRAM-SHA-256", bad[i]), XSR__SASL_COND_INCORRECT_ENCODING, "'%s'",
                 bad[i]);
    cr_expect_eq(one_step(srv_all, "PLAIN", bad[i]), XSR__SASL_COND_INCORRECT_ENCODING, "'%s'",
                 bad[i]);
  }
}

Test(sasl, scram_syntax_errors_are_malformed_request) {
  char *d = b64("hello", 5);
  cr_assert_eq(one_step(srv, "SCRAM-SHA-256", d), XSR__SASL_COND_MALFORMED_REQUEST);
  free(d);
  d = b64("n,,n=alice", 10); /* no nonce */
  cr_assert_eq(one_step(srv, "SCRAM-SHA-1", d), XSR__SASL_COND_MALFORMED_REQUEST);
  free(d);

  /* A client-final that does not parse. */
  xsr__sasl_result r;
  xsr__sasl_session *s = xsr__sasl_session_new(srv, users);
  cr_assert_eq(xsr__sasl_start(s, "SCRAM-SHA-256", 13), XSR__SASL_COND_NONE);
  d = b64("n,,n=alice,r=abcdefghijklmnop", 29);
  cr_assert_eq(xsr__sasl_step(s, d, strlen(d), &r), XSR__SASL_CHALLENGE);
  free(d);
  d = b64("c=biws,r=nonsense", 17);
  cr_assert_eq(xsr__sasl_step(s, d, strlen(d), &r), XSR__SASL_FAILURE);
  cr_assert(r.condition == XSR__SASL_COND_MALFORMED_REQUEST ||
                r.condition == XSR__SASL_COND_NOT_AUTHORIZED,
            "%s", xsr__sasl_condition_name(r.condition));
  free(d);
  xsr__sasl_session_free(s);
}

Test(sasl, mechanisms_and_invalid_mechanism) {
  const char *names[XSR__SASL_MECH_MAX];
  size_t n = xsr__sasl_mechanisms(srv, names);
  cr_assert_eq(n, 2);
  cr_assert_str_eq(names[0], "SCRAM-SHA-256");
  cr_assert_str_eq(names[1], "SCRAM-SHA-1");
  n = xsr__sasl_mechanisms(srv_all, names);
  cr_assert_eq(n, 4);
  cr_assert_str_eq(names[2], "PLAIN");
  cr_assert_str_eq(names[3], "ANONYMOUS");

  xsr__sasl_session *s = xsr__sasl_session_new(srv, users);
  static const char *const bad[] = {
      "PLAIN", "ANONYMOUS", "DIGEST-MD5", "scram-sha-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-25", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    cr_expect_eq(xsr__sasl_start(s, bad[i], strlen(bad[i])), XSR__SASL_COND_INVALID_MECHANISM,
                 "'%s'", bad[i]);
  /* A step without an exchange is a protocol error, not a crash. */
  xsr__sasl_result r;
  cr_assert_eq(xsr__sasl_step(s, "=", 1, &r), XSR__SASL_FAILURE);
  cr_assert_eq(r.condition, XSR__SASL_COND_MALFORMED_REQUEST);
  cr_assert_eq(xsr__sasl_resume(s, &r), XSR__SASL_FAILURE);
  cr_assert_eq(r.condition, XSR__SASL_COND_MALFORMED_REQUEST);
  xsr__sasl_session_free(s);

  cr_assert_str_eq(xsr__sasl_condition_name(XSR__SASL_COND_NOT_AUTHORIZED), "not-authorized");
  cr_assert_str_eq(xsr__sasl_condition_name(XSR__SASL_COND_INCORRECT_ENCODING),
                   "incorrect-encoding");
  cr_assert_str_eq(xsr__sasl_condition_name(XSR__SASL_COND_TEMPORARY_AUTH_FAILURE),
                   "temporary-auth-failure");
  cr_assert_str_eq(xsr__sasl_condition_name(XSR__SASL_COND_NONE), "");
}

/* ---- PLAIN -------------------------------------------------------------- */

typedef struct plain_run {
  xsr__sasl_status first;  /* what the step returned */
  xsr__sasl_status status; /* the outcome */
  xsr__sasl_condition condition;
  char local[64];
} plain_run;

static void *work_thread(void *s) {
  xsr__sasl_work(s);
  return NULL;
}

/* PLAIN message msg[0..len); the work step runs on another thread, as it
 * would under uv_queue_work. */
static plain_run plain(const xsr__users *tbl, const char *msg, size_t len) {
  plain_run run;
  xsr__sasl_result r;
  memset(&run, 0, sizeof run);
  xsr__sasl_session *s = xsr__sasl_session_new(srv_all, tbl);
  cr_assert_eq(xsr__sasl_start(s, "PLAIN", 5), XSR__SASL_COND_NONE);
  char *d = b64(msg, len);
  run.first = run.status = xsr__sasl_step(s, d, strlen(d), &r);
  free(d);
  if (run.status == XSR__SASL_WORK) {
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, work_thread, s), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    run.status = xsr__sasl_resume(s, &r);
  }
  run.condition = r.condition;
  if (run.status == XSR__SASL_SUCCESS) {
    cr_assert_null(r.data, "PLAIN success has no additional data");
    cr_assert_eq(r.anonymous, 0);
    snprintf(run.local, sizeof run.local, "%.*s", (int)r.local_len, r.local);
  }
  xsr__sasl_session_free(s);
  return run;
}
#define PLAIN(m) plain(users, (m), sizeof(m) - 1)

Test(sasl, plain_good_bad_unknown) {
  plain_run run = PLAIN("\0alice\0secret");
  cr_assert_eq(run.first, XSR__SASL_WORK, "PBKDF2 must not run inside the step");
  cr_assert_eq(run.status, XSR__SASL_SUCCESS, "%s", xsr__sasl_condition_name(run.condition));
  cr_assert_str_eq(run.local, "alice");

  run = PLAIN("\0ALICE\0secret");
  cr_assert_eq(run.status, XSR__SASL_SUCCESS);
  cr_assert_str_eq(run.local, "alice");

  run = PLAIN("\0bob\0bobpw");
  cr_assert_eq(run.status, XSR__SASL_SUCCESS);
  cr_assert_str_eq(run.local, "bob");

  run = PLAIN("\0dave\0IX"); /* stored from "I<SOFT HYPHEN>X" */
  cr_assert_eq(run.status, XSR__SASL_SUCCESS, "SASLprep differs between storing and PLAIN");

  run = PLAIN("\0alice\0secreT");
  cr_assert_eq(run.first, XSR__SASL_WORK);
  cr_assert_eq(run.status, XSR__SASL_FAILURE);
  cr_assert_eq(run.condition, XSR__SASL_COND_NOT_AUTHORIZED);

  run = PLAIN("\0alice\0bobpw");
  cr_assert_eq(run.condition, XSR__SASL_COND_NOT_AUTHORIZED, "another user's password");

  run = PLAIN("\0nobody\0secret");
  cr_assert_eq(run.first, XSR__SASL_WORK, "an unknown user must cost the same as a known one");
  cr_assert_eq(run.status, XSR__SASL_FAILURE);
  cr_assert_eq(run.condition, XSR__SASL_COND_NOT_AUTHORIZED);

  run = PLAIN("\0al ice\0secret");
  cr_assert_eq(run.condition, XSR__SASL_COND_NOT_AUTHORIZED);

  run = plain(NULL, "\0alice\0secret", 13);
  cr_assert_eq(run.condition, XSR__SASL_COND_NOT_AUTHORIZED, "no users table");
}

Test(sasl, plain_authzid) {
  plain_run run = PLAIN("alice@example.com\0alice\0secret");
  cr_assert_eq(run.status, XSR__SASL_SUCCESS, "%s", xsr__sasl_condition_name(run.condition));
  run = PLAIN("Alice@EXAMPLE.com\0alice\0secret");
  cr_assert_eq(run.status, XSR__SASL_SUCCESS, "authzid compared in canonical form");

  run = PLAIN("bob@example.com\0alice\0secret");
  cr_assert_eq(run.status, XSR__SASL_FAILURE);
  cr_assert_eq(run.condition, XSR__SASL_COND_INVALID_AUTHZID);
  run = PLAIN("alice@example.com/phone\0alice\0secret");
  cr_assert_eq(run.condition, XSR__SASL_COND_INVALID_AUTHZID);
  run = PLAIN("alice@example.net\0alice\0secret");
  cr_assert_eq(run.condition, XSR__SASL_COND_INVALID_AUTHZID);
  run = PLAIN("alice\0alice\0secret");
  cr_assert_eq(run.condition, XSR__SASL_COND_INVALID_AUTHZID, "a bare domain is not the user");
  run = PLAIN("bob@example.com\0alice\0wrong");
  cr_assert_eq(run.condition, XSR__SASL_COND_NOT_AUTHORIZED, "credentials are checked first");
}

Test(sasl, plain_malformed) {
  static const struct {
    const char *m;
    size_t len;
  } bad[] = {{"alice\0secret", 12},     {"\0alice\0", 7},    {"\0\0secret", 8},
             {"\0alice\0sec\0ret", 14}, {"alicesecret", 11}, {"\0", 1}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    plain_run run = plain(users, bad[i].m, bad[i].len);
    cr_expect_eq(run.status, XSR__SASL_FAILURE, "case %zu", i);
    cr_expect_eq(run.condition, XSR__SASL_COND_MALFORMED_REQUEST, "case %zu: %s", i,
                 xsr__sasl_condition_name(run.condition));
  }
  /* "=" is a zero-length initial response: not a PLAIN message. */
  cr_assert_eq(one_step(srv_all, "PLAIN", "="), XSR__SASL_COND_MALFORMED_REQUEST);
}

Test(sasl, plain_without_initial_response_and_inline_resume) {
  xsr__sasl_result r;
  xsr__sasl_session *s = xsr__sasl_session_new(srv_all, users);
  cr_assert_eq(xsr__sasl_start(s, "PLAIN", 5), XSR__SASL_COND_NONE);
  cr_assert_eq(xsr__sasl_step(s, "", 0, &r), XSR__SASL_CHALLENGE);
  cr_assert_str_eq(r.data, "");
  char *d = b64("\0bob\0bobpw", 10);
  cr_assert_eq(xsr__sasl_step(s, d, strlen(d), &r), XSR__SASL_WORK);
  free(d);
  /* Resume without a separate work call: the work runs inline. */
  cr_assert_eq(xsr__sasl_resume(s, &r), XSR__SASL_SUCCESS);
  cr_assert_eq(r.local_len, 3);
  cr_assert(memcmp(r.local, "bob", 3) == 0);
  /* A new exchange on the same session (a client may retry). */
  cr_assert_eq(xsr__sasl_start(s, "PLAIN", 5), XSR__SASL_COND_NONE);
  d = b64("\0bob\0nope", 9);
  cr_assert_eq(xsr__sasl_step(s, d, strlen(d), &r), XSR__SASL_WORK);
  free(d);
  xsr__sasl_work(s);
  cr_assert_eq(xsr__sasl_resume(s, &r), XSR__SASL_FAILURE);
  cr_assert_eq(r.condition, XSR__SASL_COND_NOT_AUTHORIZED);
  xsr__sasl_session_free(s);

  /* Freed with work pending (the stream closed before the work ran). */
  s = xsr__sasl_session_new(srv_all, users);
  cr_assert_eq(xsr__sasl_start(s, "PLAIN", 5), XSR__SASL_COND_NONE);
  d = b64("\0bob\0bobpw", 10);
  cr_assert_eq(xsr__sasl_step(s, d, strlen(d), &r), XSR__SASL_WORK);
  free(d);
  xsr__sasl_session_free(s);
}

/* ---- ANONYMOUS ---------------------------------------------------------- */

Test(sasl, anonymous_only_when_enabled) {
  xsr__sasl_result r;
  xsr__sasl_session *s = xsr__sasl_session_new(srv, users);
  cr_assert_eq(xsr__sasl_start(s, "ANONYMOUS", 9), XSR__SASL_COND_INVALID_MECHANISM);
  xsr__sasl_session_free(s);

  char first[32];
  s = xsr__sasl_session_new(srv_all, NULL);
  cr_assert_eq(xsr__sasl_start(s, "ANONYMOUS", 9), XSR__SASL_COND_NONE);
  cr_assert_eq(xsr__sasl_step(s, "=", 1, &r), XSR__SASL_SUCCESS);
  cr_assert(r.anonymous);
  cr_assert_null(r.data);
  cr_assert_eq(r.local_len, 21);
  cr_assert(strncmp(r.local, "anon-", 5) == 0);
  snprintf(first, sizeof first, "%.*s", (int)r.local_len, r.local);

  /* Without initial response: an empty challenge, then the trace. */
  cr_assert_eq(xsr__sasl_start(s, "ANONYMOUS", 9), XSR__SASL_COND_NONE);
  cr_assert_eq(xsr__sasl_step(s, "", 0, &r), XSR__SASL_CHALLENGE);
  char *d = b64("trace@example.org", 17);
  cr_assert_eq(xsr__sasl_step(s, d, strlen(d), &r), XSR__SASL_SUCCESS);
  free(d);
  cr_assert(r.anonymous);
  cr_assert(strncmp(r.local, first, r.local_len) != 0, "two anonymous logins share a localpart");

  char big[XSR__SASL_ANON_MAX + 1];
  memset(big, 'x', sizeof big);
  d = b64(big, sizeof big);
  cr_assert_eq(xsr__sasl_start(s, "ANONYMOUS", 9), XSR__SASL_COND_NONE);
  cr_assert_eq(xsr__sasl_step(s, d, strlen(d), &r), XSR__SASL_FAILURE);
  cr_assert_eq(r.condition, XSR__SASL_COND_MALFORMED_REQUEST);
  free(d);
  xsr__sasl_session_free(s);
}

Test(sasl, abandoned_and_oversized_exchanges_free_everything) {
  /* Freed mid-exchange, restarted mid-exchange: ASan's leak check is the
   * assertion here, plus the outcomes below. */
  Gsasl_session *c;
  xsr__sasl_result r;
  char *out;
  xsr__sasl_session *s = xsr__sasl_session_new(srv, users);
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(gsasl_client_start(cli, "SCRAM-SHA-1", &c), GSASL_OK);
    gsasl_property_set(c, GSASL_AUTHID, "alice");
    gsasl_property_set(c, GSASL_PASSWORD, "secret");
    cr_assert_eq(gsasl_step64(c, "", &out), GSASL_NEEDS_MORE);
    cr_assert_eq(xsr__sasl_start(s, "SCRAM-SHA-1", 11), XSR__SASL_COND_NONE);
    cr_assert_eq(xsr__sasl_step(s, out, strlen(out), &r), XSR__SASL_CHALLENGE);
    gsasl_free(out);
    gsasl_finish(c);
  }
  xsr__sasl_session_free(s);

  /* More than XSR__SASL_INPUT_MAX bytes in one step. */
  size_t n = XSR__SASL_INPUT_MAX + 3;
  char *big = calloc(1, n);
  char *d = b64(big, n);
  cr_assert_eq(one_step(srv, "SCRAM-SHA-256", d), XSR__SASL_COND_MALFORMED_REQUEST);
  free(d);
  free(big);
}
