/* SPDX-License-Identifier: MIT */
/*
 * server/sasl.c: server-side SASL (contracts in sasl.h).
 *
 * Runs on the worker loop that owns the stream, except xsr__sasl_work(),
 * which runs on a thread-pool thread (uv_queue_work).
 *
 * SCRAM goes through libgsasl; PLAIN and ANONYMOUS are parsed here.  Their
 * messages are trivial, and doing them here lets PLAIN's PBKDF2 leave the
 * loop: libgsasl would run it inside gsasl_step(), through the
 * GSASL_VALIDATE_SIMPLE callback, on the loop thread.
 *
 * libgsasl notes (2.2):
 *  - One Gsasl context per process with one property callback; the callback
 *    finds its session through gsasl_session_hook_get().  Sessions on
 *    different threads are independent.
 *  - gsasl.h documents GSASL_SCRAM_STOREDKEY / _SERVERKEY as hex, but the
 *    SCRAM server decodes them as base64 (lib/scram/server.c,
 *    extract_serverkey()); the exchange tests pin that down.  GSASL_SCRAM_SALT
 *    is the base64 salt as it appears in server-first ("s="), and
 *    GSASL_SCRAM_ITER a decimal string.
 *  - Without GSASL_SCRAM_SALT the server would invent a random salt on every
 *    attempt, which tells an attacker that the user does not exist; hence the
 *    stable fake salt for unknown users.
 *  - The SCRAM server calls no validation callback: success means the proof
 *    matched the StoredKey, and the authzid is checked here afterwards.
 */
#define _GNU_SOURCE /* getrandom, explicit_bzero */
#include "sasl.h"

#include <gsasl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base64.h"

typedef enum mech { M_NONE, M_SCRAM_SHA256, M_SCRAM_SHA1, M_PLAIN, M_ANONYMOUS } mech;

static const char *const mech_names[] = {"", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "ANONYMOUS"};

typedef enum phase {
  P_IDLE,  /* no exchange: xsr__sasl_start() next */
  P_FIRST, /* started; the next data is from <auth> */
  P_MORE,  /* the next data is from <response> */
  P_WORK,  /* PLAIN: xsr__sasl_work() / xsr__sasl_resume() next */
  P_DONE   /* success or failure sent */
} phase;

struct xsr__sasl {
  Gsasl *gsasl;
  xsr__sasl_config cfg;
  char secret[65]; /* hex; keys the fake salts */
};

struct xsr__sasl_session {
  xsr__sasl *ctx;
  const xsr__users *users;
  mech mech;
  phase phase;
  Gsasl_session *gs;
  char *out; /* the result's data, base64 */

  /* SCRAM: the credentials handed to libgsasl, resolved at its first
   * question; acct is NULL when they are fake. */
  int resolved;
  const xsr__account *acct;
  const xsr__scram_cred *cred;
  xsr__scram_cred fake;

  /* PLAIN: what xsr__sasl_work() needs, copied so it never reads the table. */
  xsr__scram_hash work_hash;
  xsr__scram_cred work_cred;
  char *password; /* SASLprep'd; from gsasl_saslprep() */
  const xsr__account *work_acct;
  int authzid_ok, work_done, work_ok, work_error;

  char anon_local[sizeof "anon-" + 16];
};

const char *xsr__sasl_condition_name(xsr__sasl_condition c) {
  switch (c) {
#define XSR__SASL_COND_CASE(name, str)                                                             \
  case XSR__SASL_COND_##name:                                                                      \
    return str;
    XSR__SASL_COND_MAP(XSR__SASL_COND_CASE)
#undef XSR__SASL_COND_CASE
  }
  return "";
}

static void set_err(char *err, size_t errlen, const char *msg, const char *detail) {
  if (err && errlen)
    snprintf(err, errlen, "%s%s%s", msg, detail ? ": " : "", detail ? detail : "");
}

static int fill_random(void *buf, size_t n) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t r = getrandom(p, n, 0);
    if (r < 0)
      return -1; /* EINTR cannot happen for requests this small */
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static void to_hex(const unsigned char *p, size_t n, char *out) {
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hx[p[i] >> 4];
    out[2 * i + 1] = hx[p[i] & 15];
  }
  out[2 * n] = '\0';
}

/* ---- credentials -------------------------------------------------------- */

static xsr__scram_hash hash_of(mech m) {
  return m == M_SCRAM_SHA1 ? XSR__SCRAM_SHA1 : XSR__SCRAM_SHA256;
}

static Gsasl_hash gsasl_hash(xsr__scram_hash h) {
  return h == XSR__SCRAM_SHA1 ? GSASL_HASH_SHA1 : GSASL_HASH_SHA256;
}

/* Credentials for a user that does not exist: a salt that is the same on
 * every attempt (HMAC-SHA-256 keyed by the process secret over the hash and
 * the localpart, through PBKDF2 with one iteration), the default iteration
 * count, and random keys that no proof can match.  Returns 0 or -1. */
static int make_fake(const xsr__sasl *ctx, const xsr__users *users, xsr__scram_hash h,
                     const char *user, size_t len, xsr__scram_cred *out) {
  char canon_buf[XSR_JID_MAX];
  char msg[1 + XSR_JID_MAX];
  char prf[GSASL_HASH_MAX_SIZE], k1[GSASL_HASH_MAX_SIZE], k2[GSASL_HASH_MAX_SIZE],
      k3[GSASL_HASH_MAX_SIZE];
  xsr_span canon = {user, len};
  /* Salt the canonical form, so "Zed" and "zed" look alike, as they would
   * for a user that exists. */
  if (users && xsr__users_normalise(users, user, len, canon_buf, &canon) != XSR_OK)
    canon = (xsr_span){user, len};
  if (canon.len > XSR_JID_MAX)
    canon.len = XSR_JID_MAX;
  msg[0] = (char)('0' + h);
  memcpy(msg + 1, canon.ptr, canon.len);
  memset(out, 0, sizeof *out);
  if (gsasl_scram_secrets_from_password(GSASL_HASH_SHA256, ctx->secret, 1, msg, 1 + canon.len, prf,
                                        k1, k2, k3) != GSASL_OK)
    return -1;
  out->present = 1;
  out->iterations = XSR__USERS_ITERATIONS;
  out->salt_len = XSR__USERS_SALT_LEN;
  memcpy(out->salt, prf, XSR__USERS_SALT_LEN);
  if (fill_random(out->stored_key, sizeof out->stored_key) < 0 ||
      fill_random(out->server_key, sizeof out->server_key) < 0)
    return -1;
  return 0;
}

/* The SCRAM credentials of the user libgsasl is asking about. */
static const xsr__scram_cred *scram_cred(xsr__sasl_session *s) {
  if (s->resolved)
    return s->cred;
  const char *user = gsasl_property_fast(s->gs, GSASL_AUTHID);
  size_t len = user ? strlen(user) : 0;
  xsr__scram_hash h = hash_of(s->mech);
  const xsr__account *a = user && s->users ? xsr__users_lookup(s->users, user, len) : NULL;
  if (a && a->cred[h].present) {
    s->acct = a;
    s->cred = &a->cred[h];
  } else {
    if (make_fake(s->ctx, s->users, h, user ? user : "", len, &s->fake) < 0)
      return NULL;
    s->acct = NULL;
    s->cred = &s->fake;
  }
  s->resolved = 1;
  return s->cred;
}

/* libgsasl's property callback, for every session of the process. */
static int on_gsasl_property(Gsasl *g, Gsasl_session *gs, Gsasl_property prop) {
  char buf[((XSR__USERS_SALT_MAX + 2) / 3) * 4 + 1];
  xsr__sasl_session *s = gs ? gsasl_session_hook_get(gs) : NULL;
  const xsr__scram_cred *cr;
  (void)g;
  if (!s || (s->mech != M_SCRAM_SHA1 && s->mech != M_SCRAM_SHA256))
    return GSASL_NO_CALLBACK;
  switch (prop) {
  case GSASL_SCRAM_ITER:
  case GSASL_SCRAM_SALT:
  case GSASL_SCRAM_STOREDKEY:
  case GSASL_SCRAM_SERVERKEY:
    break;
  default:
    return GSASL_NO_CALLBACK; /* channel binding data, password, ... */
  }
  if (!(cr = scram_cred(s)))
    return GSASL_CRYPTO_ERROR;
  size_t klen = xsr__scram_key_len(hash_of(s->mech));
  switch (prop) {
  case GSASL_SCRAM_ITER:
    snprintf(buf, sizeof buf, "%u", (unsigned)cr->iterations);
    break;
  case GSASL_SCRAM_SALT:
    xsr__b64_encode(cr->salt, cr->salt_len, buf);
    break;
  case GSASL_SCRAM_STOREDKEY:
    xsr__b64_encode(cr->stored_key, klen, buf);
    break;
  default: /* GSASL_SCRAM_SERVERKEY */
    xsr__b64_encode(cr->server_key, klen, buf);
    break;
  }
  return gsasl_property_set(gs, prop, buf);
}

/* ---- context ------------------------------------------------------------ */

int xsr__sasl_new(const xsr__sasl_config *cfg, xsr__sasl **out, char *err, size_t errlen) {
  unsigned char key[32];
  xsr__sasl *ctx = calloc(1, sizeof *ctx);
  int rc;
  *out = NULL;
  if (!ctx) {
    set_err(err, errlen, "out of memory", NULL);
    return -1;
  }
  if (cfg)
    ctx->cfg = *cfg;
  if (fill_random(key, sizeof key) < 0) {
    set_err(err, errlen, "getrandom failed", NULL);
    free(ctx);
    return -1;
  }
  to_hex(key, sizeof key, ctx->secret);
  explicit_bzero(key, sizeof key);
  if ((rc = gsasl_init(&ctx->gsasl)) != GSASL_OK) {
    set_err(err, errlen, "libgsasl initialisation failed", gsasl_strerror(rc));
    free(ctx);
    return -1;
  }
  for (mech m = M_SCRAM_SHA256; m <= M_SCRAM_SHA1; m++) {
    if (!gsasl_server_support_p(ctx->gsasl, mech_names[m])) {
      set_err(err, errlen, "this libgsasl has no server side for", mech_names[m]);
      gsasl_done(ctx->gsasl);
      free(ctx);
      return -1;
    }
  }
  gsasl_callback_set(ctx->gsasl, on_gsasl_property);
  *out = ctx;
  return 0;
}

void xsr__sasl_free(xsr__sasl *ctx) {
  if (!ctx)
    return;
  gsasl_done(ctx->gsasl);
  explicit_bzero(ctx->secret, sizeof ctx->secret);
  free(ctx);
}

size_t xsr__sasl_mechanisms(const xsr__sasl *ctx, const char *names[XSR__SASL_MECH_MAX]) {
  size_t n = 0;
  names[n++] = mech_names[M_SCRAM_SHA256];
  names[n++] = mech_names[M_SCRAM_SHA1];
  if (ctx->cfg.plain_enabled)
    names[n++] = mech_names[M_PLAIN];
  if (ctx->cfg.anonymous_enabled)
    names[n++] = mech_names[M_ANONYMOUS];
  return n;
}

/* ---- session ------------------------------------------------------------ */

xsr__sasl_session *xsr__sasl_session_new(xsr__sasl *ctx, const xsr__users *users) {
  xsr__sasl_session *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->ctx = ctx;
  s->users = users;
  return s;
}

static void wipe_password(xsr__sasl_session *s) {
  if (s->password) {
    explicit_bzero(s->password, strlen(s->password));
    gsasl_free(s->password);
    s->password = NULL;
  }
}

/* Ends the exchange in progress, if any. */
static void reset(xsr__sasl_session *s) {
  if (s->gs) {
    gsasl_finish(s->gs);
    s->gs = NULL;
  }
  wipe_password(s);
  explicit_bzero(&s->fake, sizeof s->fake);
  explicit_bzero(&s->work_cred, sizeof s->work_cred);
  free(s->out);
  s->out = NULL;
  s->mech = M_NONE;
  s->phase = P_IDLE;
  s->resolved = 0;
  s->acct = NULL;
  s->cred = NULL;
  s->work_acct = NULL;
  s->authzid_ok = s->work_done = s->work_ok = s->work_error = 0;
}

void xsr__sasl_session_free(xsr__sasl_session *s) {
  if (!s)
    return;
  reset(s);
  free(s);
}

xsr__sasl_condition xsr__sasl_start(xsr__sasl_session *s, const char *name, size_t len) {
  mech m = M_NONE;
  reset(s);
  for (mech i = M_SCRAM_SHA256; i <= M_ANONYMOUS; i++)
    if (strlen(mech_names[i]) == len && memcmp(mech_names[i], name, len) == 0)
      m = i;
  if (m == M_NONE || (m == M_PLAIN && !s->ctx->cfg.plain_enabled) ||
      (m == M_ANONYMOUS && !s->ctx->cfg.anonymous_enabled))
    return XSR__SASL_COND_INVALID_MECHANISM;
  if (m == M_SCRAM_SHA1 || m == M_SCRAM_SHA256) {
    if (gsasl_server_start(s->ctx->gsasl, mech_names[m], &s->gs) != GSASL_OK) {
      s->gs = NULL;
      return XSR__SASL_COND_TEMPORARY_AUTH_FAILURE;
    }
    gsasl_session_hook_set(s->gs, s);
  }
  s->mech = m;
  s->phase = P_FIRST;
  return XSR__SASL_COND_NONE;
}

/* ---- results ------------------------------------------------------------ */

static xsr__sasl_status failure(xsr__sasl_session *s, xsr__sasl_result *r, xsr__sasl_condition c) {
  wipe_password(s);
  s->phase = P_DONE;
  r->condition = c;
  return XSR__SASL_FAILURE;
}

/* Puts raw[0..n) into r->data as base64.  Returns 0 or -1 (memory). */
static int set_data(xsr__sasl_session *s, xsr__sasl_result *r, const void *raw, size_t n) {
  free(s->out);
  if (!(s->out = malloc(xsr__b64_encoded_len(n) + 1)))
    return -1;
  r->data_len = xsr__b64_encode(raw, n, s->out);
  r->data = s->out;
  return 0;
}

static xsr__sasl_status challenge(xsr__sasl_session *s, xsr__sasl_result *r, const void *raw,
                                  size_t n) {
  if (set_data(s, r, raw, n) < 0)
    return failure(s, r, XSR__SASL_COND_TEMPORARY_AUTH_FAILURE);
  s->phase = P_MORE;
  return XSR__SASL_CHALLENGE;
}

static xsr__sasl_status success(xsr__sasl_session *s, xsr__sasl_result *r, const char *local,
                                size_t local_len) {
  wipe_password(s);
  s->phase = P_DONE;
  r->local = local;
  r->local_len = local_len;
  return XSR__SASL_SUCCESS;
}

/* Whether authzid z[0..n) is acceptable for account a: absent, or a's own
 * bare JID (compared in canonical form). */
static int authzid_ok(const xsr__sasl_session *s, const char *z, size_t n, const xsr__account *a) {
  char buf[XSR_JID_MAX];
  xsr_jid j;
  if (n == 0)
    return 1;
  if (!a || !s->users || xsr_jid_parse(z, n, buf, sizeof buf, &j, NULL) != XSR_OK)
    return 0;
  const char *dom = xsr__users_domain(s->users);
  return j.local.ptr && !j.resource.ptr && j.local.len == a->local_len &&
         memcmp(j.local.ptr, a->local, a->local_len) == 0 && j.domain.len == strlen(dom) &&
         memcmp(j.domain.ptr, dom, j.domain.len) == 0;
}

/* ---- mechanisms --------------------------------------------------------- */

static xsr__sasl_status step_scram(xsr__sasl_session *s, const unsigned char *in, size_t n,
                                   xsr__sasl_result *r) {
  char *out = NULL;
  size_t outlen = 0;
  xsr__sasl_status st;
  int rc = gsasl_step(s->gs, (const char *)in, n, &out, &outlen);
  switch (rc) {
  case GSASL_NEEDS_MORE:
    st = challenge(s, r, out, outlen);
    break;
  case GSASL_OK:
    if (!s->resolved || !s->acct) { /* cannot happen: fake keys match no proof */
      st = failure(s, r, XSR__SASL_COND_NOT_AUTHORIZED);
      break;
    }
    {
      const char *z = gsasl_property_fast(s->gs, GSASL_AUTHZID);
      if (!authzid_ok(s, z ? z : "", z ? strlen(z) : 0, s->acct)) {
        st = failure(s, r, XSR__SASL_COND_INVALID_AUTHZID);
        break;
      }
    }
    if (outlen > 0 && set_data(s, r, out, outlen) < 0) {
      st = failure(s, r, XSR__SASL_COND_TEMPORARY_AUTH_FAILURE);
      break;
    }
    st = success(s, r, s->acct->local, s->acct->local_len);
    break;
  case GSASL_MECHANISM_PARSE_ERROR:
  case GSASL_BASE64_ERROR: /* c= or p= inside the message */
  case GSASL_MECHANISM_CALLED_TOO_MANY_TIMES:
    st = failure(s, r, XSR__SASL_COND_MALFORMED_REQUEST);
    break;
  case GSASL_MALLOC_ERROR:
  case GSASL_CRYPTO_ERROR:
    st = failure(s, r, XSR__SASL_COND_TEMPORARY_AUTH_FAILURE);
    break;
  default: /* GSASL_AUTHENTICATION_ERROR, GSASL_NO_PASSWORD, SASLprep failures... */
    st = failure(s, r, XSR__SASL_COND_NOT_AUTHORIZED);
    break;
  }
  gsasl_free(out);
  return st;
}

/* PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd. */
static xsr__sasl_status step_plain(xsr__sasl_session *s, const unsigned char *in, size_t n,
                                   xsr__sasl_result *r) {
  const char *p = (const char *)in;
  const char *nul1 = memchr(p, '\0', n);
  const char *nul2 = nul1 ? memchr(nul1 + 1, '\0', n - (size_t)(nul1 + 1 - p)) : NULL;
  if (!nul2 || memchr(nul2 + 1, '\0', n - (size_t)(nul2 + 1 - p)))
    return failure(s, r, XSR__SASL_COND_MALFORMED_REQUEST);
  const char *authcid = nul1 + 1, *pw = nul2 + 1;
  size_t zlen = (size_t)(nul1 - p), clen = (size_t)(nul2 - authcid);
  size_t pwlen = n - (size_t)(pw - p);
  if (clen == 0 || pwlen == 0)
    return failure(s, r, XSR__SASL_COND_MALFORMED_REQUEST);

  /* SASLprep as for a query string (RFC 4013 section 2.7; the stored side
   * was prepared when the account was added). */
  char *pwz = malloc(pwlen + 1);
  if (!pwz)
    return failure(s, r, XSR__SASL_COND_TEMPORARY_AUTH_FAILURE);
  memcpy(pwz, pw, pwlen);
  pwz[pwlen] = '\0';
  int rc = gsasl_saslprep(pwz, GSASL_ALLOW_UNASSIGNED, &s->password, NULL);
  explicit_bzero(pwz, pwlen);
  free(pwz);
  if (rc != GSASL_OK || !s->password || !*s->password)
    return failure(s, r, XSR__SASL_COND_NOT_AUTHORIZED);

  const xsr__account *a = s->users ? xsr__users_lookup(s->users, authcid, clen) : NULL;
  if (a) {
    s->work_hash = a->cred[XSR__SCRAM_SHA256].present ? XSR__SCRAM_SHA256 : XSR__SCRAM_SHA1;
    s->work_cred = a->cred[s->work_hash];
  } else {
    s->work_hash = XSR__SCRAM_SHA256;
    if (make_fake(s->ctx, s->users, s->work_hash, authcid, clen, &s->work_cred) < 0)
      return failure(s, r, XSR__SASL_COND_TEMPORARY_AUTH_FAILURE);
  }
  s->work_acct = a;
  s->authzid_ok = authzid_ok(s, p, zlen, a);
  s->work_done = 0;
  s->phase = P_WORK;
  return XSR__SASL_WORK;
}

static xsr__sasl_status step_anonymous(xsr__sasl_session *s, size_t n, xsr__sasl_result *r) {
  unsigned char rnd[8];
  if (n > XSR__SASL_ANON_MAX)
    return failure(s, r, XSR__SASL_COND_MALFORMED_REQUEST);
  if (fill_random(rnd, sizeof rnd) < 0)
    return failure(s, r, XSR__SASL_COND_TEMPORARY_AUTH_FAILURE);
  memcpy(s->anon_local, "anon-", 5);
  to_hex(rnd, sizeof rnd, s->anon_local + 5);
  r->anonymous = 1;
  return success(s, r, s->anon_local, strlen(s->anon_local));
}

xsr__sasl_status xsr__sasl_step(xsr__sasl_session *s, const char *data, size_t len,
                                xsr__sasl_result *r) {
  memset(r, 0, sizeof *r);
  if (s->phase == P_WORK) { /* a caller bug; the work may be running: touch nothing */
    r->condition = XSR__SASL_COND_MALFORMED_REQUEST;
    return XSR__SASL_FAILURE;
  }
  free(s->out);
  s->out = NULL;
  if (s->phase != P_FIRST && s->phase != P_MORE)
    return failure(s, r, XSR__SASL_COND_MALFORMED_REQUEST);
  int absent = s->phase == P_FIRST && len == 0; /* <auth/> without initial response */
  s->phase = P_MORE;

  unsigned char *in = NULL;
  size_t n = 0;
  if (len > 0 && !(len == 1 && data[0] == '=')) {
    if (xsr__b64_decoded_max(len) > XSR__SASL_INPUT_MAX + 2)
      return failure(s, r, XSR__SASL_COND_MALFORMED_REQUEST);
    if (!(in = malloc(xsr__b64_decoded_max(len) + 1)))
      return failure(s, r, XSR__SASL_COND_TEMPORARY_AUTH_FAILURE);
    if (xsr__b64_decode(data, len, in, xsr__b64_decoded_max(len), &n) < 0) {
      free(in);
      return failure(s, r, XSR__SASL_COND_INCORRECT_ENCODING);
    }
    if (n > XSR__SASL_INPUT_MAX) {
      free(in);
      return failure(s, r, XSR__SASL_COND_MALFORMED_REQUEST);
    }
  }

  xsr__sasl_status st;
  switch (s->mech) {
  case M_SCRAM_SHA1:
  case M_SCRAM_SHA256:
    st = step_scram(s, in ? in : (const unsigned char *)"", n, r);
    break;
  case M_PLAIN:
    if (absent)
      st = challenge(s, r, "", 0);
    else if (n == 0)
      st = failure(s, r, XSR__SASL_COND_MALFORMED_REQUEST);
    else
      st = step_plain(s, in, n, r);
    break;
  case M_ANONYMOUS:
    st = absent ? challenge(s, r, "", 0) : step_anonymous(s, n, r);
    break;
  default:
    st = failure(s, r, XSR__SASL_COND_MALFORMED_REQUEST);
    break;
  }
  if (in) {
    explicit_bzero(in, n); /* may hold a PLAIN password */
    free(in);
  }
  return st;
}

/* Equality of two n-byte strings in time independent of where they differ. */
static int equal_ct(const unsigned char *a, const unsigned char *b, size_t n) {
  volatile unsigned char d = 0;
  for (size_t i = 0; i < n; i++)
    d |= a[i] ^ b[i];
  return d == 0;
}

void xsr__sasl_work(xsr__sasl_session *s) {
  char salted[GSASL_HASH_MAX_SIZE], client_key[GSASL_HASH_MAX_SIZE];
  char server_key[GSASL_HASH_MAX_SIZE], stored_key[GSASL_HASH_MAX_SIZE];
  if (s->phase != P_WORK || s->work_done)
    return;
  const xsr__scram_cred *c = &s->work_cred;
  int rc = gsasl_scram_secrets_from_password(gsasl_hash(s->work_hash), s->password, c->iterations,
                                             (const char *)c->salt, c->salt_len, salted, client_key,
                                             server_key, stored_key);
  s->work_error = rc != GSASL_OK;
  s->work_ok = rc == GSASL_OK &&
               equal_ct((const unsigned char *)stored_key, c->stored_key,
                        xsr__scram_key_len(s->work_hash)) &&
               s->work_acct != NULL;
  explicit_bzero(salted, sizeof salted);
  explicit_bzero(client_key, sizeof client_key);
  explicit_bzero(server_key, sizeof server_key);
  explicit_bzero(stored_key, sizeof stored_key);
  wipe_password(s);
  s->work_done = 1;
}

xsr__sasl_status xsr__sasl_resume(xsr__sasl_session *s, xsr__sasl_result *r) {
  memset(r, 0, sizeof *r);
  if (s->phase != P_WORK)
    return failure(s, r, XSR__SASL_COND_MALFORMED_REQUEST);
  xsr__sasl_work(s);
  explicit_bzero(&s->work_cred, sizeof s->work_cred);
  if (s->work_error)
    return failure(s, r, XSR__SASL_COND_TEMPORARY_AUTH_FAILURE);
  if (!s->work_ok)
    return failure(s, r, XSR__SASL_COND_NOT_AUTHORIZED);
  if (!s->authzid_ok)
    return failure(s, r, XSR__SASL_COND_INVALID_AUTHZID);
  return success(s, r, s->work_acct->local, s->work_acct->local_len);
}
