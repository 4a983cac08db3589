/* SPDX-License-Identifier: MIT */
/*
 * server/sasl.h: server-side SASL for c2s streams (RFC 6120 section 6),
 * checked against the SCRAM credentials of the users file (users.h).
 *
 * Mechanisms, strongest first: SCRAM-SHA-256 (RFC 7677), SCRAM-SHA-1
 * (RFC 5802), PLAIN (RFC 4616; only when enabled), ANONYMOUS (RFC 4505; only
 * when enabled).  No channel binding (-PLUS) yet: there is no TLS layer.
 *
 *  - SCRAM runs in libgsasl, which asks for the account's iteration count,
 *    salt, StoredKey and ServerKey through its property callback; the
 *    password is never known to the server.  A user that does not exist (or
 *    has no credentials for that hash) gets a salt derived from a per-process
 *    secret and the localpart, so it looks the same on every attempt and the
 *    exchange fails only at the proof, like a wrong password.
 *  - PLAIN derives the salted password from the password sent, with the
 *    stored salt and iteration count (SCRAM-SHA-256 credentials when the
 *    account has them, else SCRAM-SHA-1), and compares the StoredKey in
 *    constant time.  That is PBKDF2 with thousands of iterations per login:
 *    too slow for an event loop, hence the WORK step below.  An unknown user
 *    costs the same PBKDF2 as a known one (XSR__USERS_ITERATIONS iterations:
 *    accounts stored with another count differ in timing from unknown ones).
 *  - ANONYMOUS succeeds with a random localpart "anon-<16 hex digits>".
 *
 * One exchange, as the c2s state machine drives it:
 *
 *   <auth mechanism=M>DATA</auth>
 *       xsr__sasl_start(s, M)        -> XSR__SASL_COND_NONE, or a condition
 *                                       to send in <failure/> (invalid-mechanism)
 *       xsr__sasl_step(s, DATA, &r)  -> CHALLENGE | SUCCESS | FAILURE | WORK
 *   <response>DATA</response>
 *       xsr__sasl_step(s, DATA, &r)  -> the same
 *   WORK: run xsr__sasl_work(s) off the loop (uv_queue_work's work_cb), then
 *       xsr__sasl_resume(s, &r)      -> SUCCESS | FAILURE   (back on the loop)
 *   <abort/>: send <failure><aborted/></failure>; xsr__sasl_start() or
 *       xsr__sasl_session_free() next.
 *
 * DATA is the XML character data exactly as received: base64.  In <auth>, an
 * empty DATA means "no initial response" and "=" a zero-length one (RFC 6120
 * section 6.4.2); in <response>, empty and "=" both mean zero-length.  Data
 * that is not strict base64 fails with incorrect-encoding; data that breaks
 * the mechanism's syntax with malformed-request.  A wrong password, an
 * unknown user and anything else that fails authentication give
 * not-authorized, so a client cannot tell which.  An authorization identity
 * is accepted only when it is the user's own bare JID (localpart@domain);
 * any other gives invalid-authzid, checked after the credentials.  Internal
 * failures (out of memory, libgsasl errors) give temporary-auth-failure.
 *
 * Threads: one xsr__sasl per process (it owns the one libgsasl context);
 * create it before starting the loops.  Sessions are independent: any number
 * may run in parallel on any threads, each used by one thread at a time.
 * xsr__sasl_work() may run on another thread than the rest, while nothing
 * else touches that session.
 */
#ifndef XSR_SERVER_SASL_H
#define XSR_SERVER_SASL_H

#include <stddef.h>

#include "users.h"

/* XX(NAME, "rfc6120-condition"): RFC 6120 section 6.5 conditions. */
#define XSR__SASL_COND_MAP(XX)                                                                     \
  XX(NONE, "")                                                                                     \
  XX(ABORTED, "aborted")                                                                           \
  XX(ACCOUNT_DISABLED, "account-disabled")                                                         \
  XX(CREDENTIALS_EXPIRED, "credentials-expired")                                                   \
  XX(ENCRYPTION_REQUIRED, "encryption-required")                                                   \
  XX(INCORRECT_ENCODING, "incorrect-encoding")                                                     \
  XX(INVALID_AUTHZID, "invalid-authzid")                                                           \
  XX(INVALID_MECHANISM, "invalid-mechanism")                                                       \
  XX(MALFORMED_REQUEST, "malformed-request")                                                       \
  XX(MECHANISM_TOO_WEAK, "mechanism-too-weak")                                                     \
  XX(NOT_AUTHORIZED, "not-authorized")                                                             \
  XX(TEMPORARY_AUTH_FAILURE, "temporary-auth-failure")

typedef enum xsr__sasl_condition {
#define XSR__SASL_COND_ENUM(name, str) XSR__SASL_COND_##name,
  XSR__SASL_COND_MAP(XSR__SASL_COND_ENUM)
#undef XSR__SASL_COND_ENUM
} xsr__sasl_condition;

/* The element name for <failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>,
 * e.g. "not-authorized"; "" for NONE and for unknown values. */
const char *xsr__sasl_condition_name(xsr__sasl_condition c);

typedef enum xsr__sasl_status {
  XSR__SASL_CHALLENGE, /* send <challenge>r.data</challenge>; wait for <response> */
  XSR__SASL_SUCCESS,   /* send <success>r.data</success> (empty when r.data is NULL) */
  XSR__SASL_FAILURE,   /* send <failure><r.condition/></failure> */
  XSR__SASL_WORK       /* call xsr__sasl_work() off the loop, then xsr__sasl_resume() */
} xsr__sasl_status;

/* What a step produced.  Pointers are owned by the session and stay valid
 * until the next call on it (or its free). */
typedef struct xsr__sasl_result {
  xsr__sasl_condition condition; /* FAILURE: why; NONE otherwise */
  /* CHALLENGE: the challenge in base64 ("" for a zero-length one, which
   * RFC 6120 sends as an empty <challenge/>).  SUCCESS: the additional data
   * in base64 (SCRAM's server signature), or NULL when there is none. */
  const char *data;
  size_t data_len;
  /* SUCCESS: the authenticated account's canonical localpart (for
   * ANONYMOUS, a fresh random one).  NULL otherwise. */
  const char *local;
  size_t local_len;
  int anonymous; /* SUCCESS through ANONYMOUS */
} xsr__sasl_result;

typedef struct xsr__sasl_config {
  int plain_enabled;     /* offer PLAIN (sends the password: only over TLS) */
  int anonymous_enabled; /* offer ANONYMOUS */
} xsr__sasl_config;

#define XSR__SASL_MECH_MAX  4u
#define XSR__SASL_INPUT_MAX 8192u /* decoded bytes in one <auth>/<response> */
#define XSR__SASL_ANON_MAX  1020u /* bytes of ANONYMOUS trace data: 255 characters (RFC 4505) */

typedef struct xsr__sasl xsr__sasl;
typedef struct xsr__sasl_session xsr__sasl_session;

/* Creates the process's SASL context (gsasl_init).  `cfg` is copied; NULL
 * means SCRAM only.  Returns 0 and *out, or -1 and a message (libgsasl
 * missing a SCRAM mechanism, no randomness, out of memory). */
int xsr__sasl_new(const xsr__sasl_config *cfg, xsr__sasl **out, char *err, size_t errlen);

/* Frees the context (gsasl_done).  Every session must be freed first. */
void xsr__sasl_free(xsr__sasl *ctx);

/* The mechanisms to advertise in <mechanisms/>, strongest first, as static
 * strings into names[0..n); returns n (at most XSR__SASL_MECH_MAX). */
size_t xsr__sasl_mechanisms(const xsr__sasl *ctx, const char *names[XSR__SASL_MECH_MAX]);

/* A session for one stream.  `users` (may be NULL: then only ANONYMOUS can
 * succeed) must outlive the session.  Returns NULL when out of memory. */
xsr__sasl_session *xsr__sasl_session_new(xsr__sasl *ctx, const xsr__users *users);

/* Frees the session and everything it holds (NULL is fine).  Secrets it
 * held (the PLAIN password) are wiped first.  Not while xsr__sasl_work() may
 * be running on it: free it from uv_queue_work's after_work_cb. */
void xsr__sasl_session_free(xsr__sasl_session *s);

/*
 * Begins an exchange with mechanism mech[0..len) (as in <auth mechanism=>),
 * abandoning any exchange in progress (but not one whose xsr__sasl_work()
 * may be running).  Returns XSR__SASL_COND_NONE, or
 * INVALID_MECHANISM for a mechanism not offered (unknown, or PLAIN/ANONYMOUS
 * when disabled), or TEMPORARY_AUTH_FAILURE.  Cheap.
 */
xsr__sasl_condition xsr__sasl_start(xsr__sasl_session *s, const char *mech, size_t len);

/*
 * Feeds the client's data (base64 as on the wire, see above) for the
 * <auth> right after xsr__sasl_start() and then for each <response>, and
 * fills *r.  Cheap for every mechanism: SCRAM uses the stored keys, and
 * PLAIN returns XSR__SASL_WORK instead of hashing.  After SUCCESS or FAILURE
 * the exchange is over: further steps fail with malformed-request until the
 * next xsr__sasl_start().
 */
xsr__sasl_status xsr__sasl_step(xsr__sasl_session *s, const char *data, size_t len,
                                xsr__sasl_result *r);

/*
 * The heavy part of a step that returned XSR__SASL_WORK: PBKDF2 over the
 * password (XSR__USERS_ITER_MAX bounds it).  Meant for a thread pool
 * (uv_queue_work); it touches only the session, not the users table.  Does
 * nothing when no work is pending.
 */
void xsr__sasl_work(xsr__sasl_session *s);

/*
 * Finishes a step that returned XSR__SASL_WORK: SUCCESS or FAILURE into *r.
 * When xsr__sasl_work() has not run, it runs here, on the calling thread.
 * Without pending work it fails with malformed-request.
 */
xsr__sasl_status xsr__sasl_resume(xsr__sasl_session *s, xsr__sasl_result *r);

#endif /* XSR_SERVER_SASL_H */
