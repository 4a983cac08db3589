/* SPDX-License-Identifier: MIT */
/*
 * server/users.h: the accounts store of xsr-router (the --users file).
 *
 * The file is JSON, read through yajl and written with yajl_gen.  Two
 * versions are read.  Version 1 holds the accounts of one domain:
 *
 *   {
 *     "version": 1,
 *     "domain": "example.com",
 *     "users": {
 *       "alice": {
 *         "scram-sha-1":   {"salt": "<base64>", "iterations": 4096,
 *                           "stored-key": "<base64>", "server-key": "<base64>"},
 *         "scram-sha-256": {"salt": "<base64>", "iterations": 4096,
 *                           "stored-key": "<base64>", "server-key": "<base64>"},
 *         "roster": [
 *           {"jid": "bob@example.com", "name": "Bob", "groups": ["Friends"]}
 *         ]
 *       }
 *     }
 *   }
 *
 * Version 2 holds the accounts of several domains (virtual hosts), each an
 * object whose "users" is what version 1's is:
 *
 *   {
 *     "version": 2,
 *     "domains": {
 *       "a.example": {"users": {"alice": {...}}},
 *       "b.example": {"users": {"bob": {...}}}
 *     }
 *   }
 *
 * Field by field:
 *   version      required, the integer 1 or 2; any other value is refused (a
 *                later format gets a new number and its own reader).
 *   domain       version 1 only, required: the domain every account belongs
 *                to (RFC 7622 domainpart; stored and written in canonical
 *                form).
 *   domains      version 2 only, required: domain -> {"users": {...}}, at
 *                least one.  Keys are domainparts, canonicalised as "domain"
 *                is; two keys with the same canonical form are an error.  A
 *                domain object has no other key ("users" is required).
 *   users        required, localpart -> account.  Keys are normalised
 *                (PRECIS UsernameCaseMapped, as xsr_jid_parse does); two keys
 *                with the same canonical form are an error.  A localpart
 *                longer than XSR_JID_PART_MAX bytes once normalised is refused.
 *   scram-sha-1, scram-sha-256
 *                the SCRAM credentials of RFC 5802 / RFC 7677: salt (base64,
 *                1..XSR__USERS_SALT_MAX bytes), iterations (integer,
 *                XSR__USERS_ITER_MIN..XSR__USERS_ITER_MAX), StoredKey and
 *                ServerKey (base64 of 20 bytes for SHA-1, 32 for SHA-256).  An
 *                account has at least one of the two.  Never a password.
 *   roster       optional array of items: "jid" (required, a bare JID of any
 *                domain, stored canonical; unique within the roster), "name"
 *                (optional string), "groups" (optional array of non-empty
 *                strings), "subscription" (optional: "none", "to", "from" or
 *                "both"; absent means "both", and "both" is not written out).
 * Any other key is an error, so a misspelt field is reported, not ignored.
 * Strings must be valid UTF-8 (yajl checks).  Files over XSR__USERS_FILE_MAX
 * bytes are refused before they are read.
 *
 * Writing (xsr__users_save, xsr__users_add): a file of one domain is written
 * as version 1, unless it was read as version 2 (it stays 2); a file of
 * several domains as version 2 (which xsr-router 0.2 and older cannot
 * read).  Domains are written in canonical byte order, accounts in
 * canonical-localpart order.
 *
 * Tables and hosts: a loaded file is one reference-counted object holding
 * one table per domain (a "host").  An `xsr__users *` is one host's table;
 * every host of a file shares the file's reference count and memory, so
 * xsr__users_ref() / xsr__users_free() on any of them count for the whole
 * file, and a pointer to one host keeps every host of its file alive.
 * xsr__users_load()/xsr__users_parse() return the first host in canonical
 * byte order (for a version 1 file, its only one); xsr__users_host() finds
 * the others.
 *
 * Errors: every function that can fail writes one line into the caller's
 * `err` buffer naming the file and what is wrong, with a JSON pointer
 * (RFC 6901) to the offending value, e.g.
 *   "users.json: /users/alice/scram-sha-256/salt: not valid base64"
 *   "users.json:3:17: invalid JSON: parse error: invalid object key (must be a string)"
 *
 * Threads: a loaded table is immutable (but for its reference count); any
 * number of threads may look up in it concurrently.  Loading and xsr__users_add() do blocking file
 * I/O: call them at start-up or from a thread pool, never on a worker loop.
 */
#ifndef XSR_SERVER_USERS_H
#define XSR_SERVER_USERS_H

#include <stddef.h>
#include <stdint.h>

#include "xsr/jid.h"

#define XSR__USERS_VERSION      2                  /* the newest version read and written */
#define XSR__USERS_FILE_MAX     ((size_t)64 << 20) /* bytes */
#define XSR__USERS_ITERATIONS   4096u              /* for new credentials */
#define XSR__USERS_ITER_MIN     4096u              /* RFC 7677 section 4 */
#define XSR__USERS_ITER_MAX     1000000u           /* bounds a PLAIN login's cost */
#define XSR__USERS_SALT_LEN     16u                /* bytes, for new credentials */
#define XSR__USERS_SALT_MAX     128u               /* bytes, accepted on load */
#define XSR__USERS_KEY_MAX      32u                /* SHA-256 output */
#define XSR__USERS_PASSWORD_MAX 1024u              /* bytes, for xsr__users_add */

typedef enum xsr__scram_hash {
  XSR__SCRAM_SHA1 = 0, /* 20-byte keys */
  XSR__SCRAM_SHA256,   /* 32-byte keys */
  XSR__SCRAM_NHASH
} xsr__scram_hash;

/* 20 or 32. */
size_t xsr__scram_key_len(xsr__scram_hash h);
/* "scram-sha-1" / "scram-sha-256": the key in the file. */
const char *xsr__scram_file_key(xsr__scram_hash h);

/* One mechanism's stored SCRAM credentials. */
typedef struct xsr__scram_cred {
  int present; /* 0: the account has none for this hash */
  uint32_t iterations;
  size_t salt_len;
  unsigned char salt[XSR__USERS_SALT_MAX];
  unsigned char stored_key[XSR__USERS_KEY_MAX]; /* xsr__scram_key_len() bytes used */
  unsigned char server_key[XSR__USERS_KEY_MAX];
} xsr__scram_cred;

typedef enum xsr__subscription {
  XSR__SUB_BOTH = 0, /* the default */
  XSR__SUB_NONE,
  XSR__SUB_TO,
  XSR__SUB_FROM
} xsr__subscription;

/* "both", "none", "to", "from". */
const char *xsr__subscription_name(xsr__subscription s);

/* One roster item.  Strings are NUL-terminated and owned by the table. */
typedef struct xsr__roster_item {
  const char *jid;  /* canonical bare JID */
  const char *name; /* NULL when absent */
  const char *const *groups;
  size_t ngroups;
  xsr__subscription subscription;
} xsr__roster_item;

/* One account.  Owned by the table; valid until xsr__users_free(). */
typedef struct xsr__account {
  const char *local; /* canonical localpart, NUL-terminated */
  size_t local_len;
  xsr__scram_cred cred[XSR__SCRAM_NHASH]; /* indexed by xsr__scram_hash */
  const xsr__roster_item *roster;
  size_t nroster;
} xsr__account;

/* The loaded file: an immutable table hashed by canonical localpart. */
typedef struct xsr__users xsr__users;

/*
 * Reads and validates the users file at `path`.  On success returns 0 and
 * sets *out (free with xsr__users_free); on failure returns -1, sets *out to
 * NULL and writes a message into err[0..errlen) (always NUL-terminated when
 * errlen > 0).  A missing file is an error here (see xsr__users_add for the
 * one place where it is not).
 */
int xsr__users_load(const char *path, xsr__users **out, char *err, size_t errlen);

/* The same for a document in memory; `name` stands for the file name in
 * messages.  json[0..len) need not be NUL-terminated. */
int xsr__users_parse(const char *name, const char *json, size_t len, xsr__users **out, char *err,
                     size_t errlen);

/* Drops a reference to a table and frees it with the last one (NULL is
 * fine).  Every pointer into it dies with it.  A loaded table starts with
 * one reference, so without xsr__users_ref() this simply frees it. */
void xsr__users_free(xsr__users *u);

/* Adds a reference (xsr-router's SIGHUP reload: each connection holds the
 * table it authenticated against).  Returns u.  Atomic: any thread, and
 * concurrently with xsr__users_free() of other references; the caller must
 * already hold a reference or otherwise know the table is alive. */
const xsr__users *xsr__users_ref(const xsr__users *u);

/* The canonical domain of this host, NUL-terminated. */
const char *xsr__users_domain(const xsr__users *u);

/* The number of hosts (domains) in u's file, at least 1, and the i-th in
 * canonical byte order (strcmp of xsr__users_domain), NULL when i is out of
 * range.  The pointers live as long as u's file. */
size_t xsr__users_host_count(const xsr__users *u);
const xsr__users *xsr__users_host_at(const xsr__users *u, size_t i);

/* The host of u's file for the canonical domain domain[0..len) (compared
 * byte for byte: canonicalise first, as xsr_jid_parse does), or NULL when
 * the file holds no accounts of that domain (or u is NULL).  Binary search;
 * allocates nothing.  Thread-safe. */
const xsr__users *xsr__users_host(const xsr__users *u, const char *domain, size_t len);

/* The version u's file was read as (1 or 2; a table that
 * xsr__users_add() creates counts as 1). */
int xsr__users_version(const xsr__users *u);

/*
 * Whether every domain of u's file is one of domains[0..n) (canonical,
 * NUL-terminated): xsr-router refuses a users file holding accounts of a
 * domain it does not serve (a misspelt domain is reported, not ignored).
 * Returns 0, or -1 with one line in err naming `name` (the file) and the
 * first domain not served.
 */
int xsr__users_check_served(const xsr__users *u, const char *name, const char *const *domains,
                            size_t n, char *err, size_t errlen);

/* Number of accounts of this host, and the i-th in canonical-localpart
 * byte order (i < xsr__users_count()). */
size_t xsr__users_count(const xsr__users *u);
const xsr__account *xsr__users_at(const xsr__users *u, size_t i);

/*
 * Looks up an account of this host by localpart: `local[0..len)` is
 * normalised first (so "Alice" finds "alice"); input that is not a valid
 * localpart, or contains '@' or '/', finds nothing.  Returns NULL when there
 * is no such account.  ASCII input allocates nothing.  Thread-safe.
 */
const xsr__account *xsr__users_lookup(const xsr__users *u, const char *local, size_t len);

/*
 * The canonical form of the localpart local[0..len) as xsr__users_lookup()
 * computes it, written into out[0..XSR_JID_MAX) and spanned by *canon.
 * Returns XSR_OK or the xsr_jid_parse() error (XSR_EJIDCHAR for '@' or '/').
 */
xsr_err xsr__users_normalise(const xsr__users *u, const char *local, size_t len, char *out,
                             xsr_span *canon);

/*
 * Writes u's file (every host, in the version "Writing" above names) to
 * `path` atomically: a temporary file in the same directory (mode 0600),
 * fsync, rename over `path`, fsync of the directory.  On any failure `path`
 * is left as it was and the temporary file removed.  Domains and accounts
 * are written in canonical order, so saving a loaded table twice gives the
 * same bytes.  Returns 0, or -1 with a message.
 */
int xsr__users_save(const xsr__users *u, const char *path, char *err, size_t errlen);

/*
 * Adds the account `jid` (localpart@domain, no resource) with `password`, or
 * replaces the credentials of an existing one (keeping its roster), in the
 * file at `path`, which is created when it does not exist (version 1, its
 * domain the JID's).  The account goes to the JID's domain, which is added
 * to the file when it holds none of its accounts yet (a version 1 file of
 * another domain is then rewritten as version 2).  The password is SASLprep'd (RFC 4013) and turned
 * into SCRAM- SHA-1 and SCRAM-SHA-256 credentials, each with a fresh random salt of
 * XSR__USERS_SALT_LEN bytes (getrandom) and XSR__USERS_ITERATIONS
 * iterations; the password itself is not stored.  Every other account is
 * kept.  The file is written as by xsr__users_save().  A file that exists but
 * does not load is reported and left untouched.  Returns 0, or -1 with a
 * message.  Blocking; CPU-heavy (two PBKDF2 runs).  There is no locking:
 * of two concurrent adds to one file, the last rename wins.
 */
int xsr__users_add(const char *path, const char *jid, size_t jid_len, const char *password,
                   size_t password_len, char *err, size_t errlen);

#endif /* XSR_SERVER_USERS_H */
