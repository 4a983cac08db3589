/* SPDX-License-Identifier: MIT */
/*
 * server/config.h: xsr-router's configuration: the JSON file (--config,
 * read through yajl) and the command line, which overrides the file.
 * Private to xsr-router; never installed.  No libuv here: the parsing is
 * unit-tested on its own (tests/test_server_config.c).
 *
 *   xsr-router [--config FILE.json] [--listen HOST:PORT]... [--domain D]...
 *              [--users FILE] [--threads N] [--port-file FILE]
 *   xsr-router --users FILE --add-user JID      (password on standard input)
 *
 * The file is one JSON object; every key is optional, and any other key is
 * an error (a misspelt key is reported, not ignored).  docs/server.md is the
 * reference; in short (defaults in brackets):
 *
 *   domains                 array of strings, the domains served (virtual
 *                           hosts), 1..XSR__CONFIG_DOMAINS_MAX; the first is
 *                           the default host [the users file's domains, else
 *                           ["localhost"]]
 *   domain                  string, shorthand for a one-element "domains"
 *                           (giving both is an error)
 *   listen                  array of "HOST:PORT" strings, HOST an IPv4 or
 *                           IPv6 literal ("[::1]:5222") or a name resolved at
 *                           start-up [["127.0.0.1:5222"]]
 *   users                   string, the users file [none: no accounts]
 *   threads                 integer 1..XSR_MAX_WORKERS, worker loops [0:
 *                           online CPUs]
 *   session_budget          integer bytes queued per session [1048576]
 *   max_stanza              integer bytes of a delivered stanza [262144]
 *   plain                   bool, offer SASL PLAIN [true until TLS lands]
 *   anonymous               bool, offer SASL ANONYMOUS [false]
 *   max_auth_failures       integer 1..1000 [3]
 *   auth_failure_delay_ms   integer 0..60000 [1000]
 *   conflict                "new-wins" | "old-wins" ["new-wins"]
 *   preauth_timeout_s       integer seconds to authenticate and bind, 0 off [30]
 *   idle_timeout_s          integer seconds without a byte read, 0 off [300]
 *   slow_consumer_timeout_s integer seconds a blocked write may stall, 0 off [60]
 *   max_connections         integer, 0 unlimited [0]
 *   read_rate               integer bytes/s read per connection, 0 unlimited [0]
 *   log_level               "error" | "warn" | "info" | "debug" ["info"]
 *   port_file               string, where to write the bound ports [none]
 *
 * Errors name the file and the key, one line, e.g.
 *   "router.json: /threads: expected an integer from 1 to 1024"
 *   "router.json: /lisen: unknown key"
 */
#ifndef XSR_SERVER_CONFIG_H
#define XSR_SERVER_CONFIG_H

#include <stddef.h>

#include "c2s.h"

#define XSR__CONFIG_FILE_MAX       ((size_t)1 << 20) /* bytes of a config file */
#define XSR__CONFIG_LISTEN_MAX     64u               /* listen addresses */
#define XSR__CONFIG_DOMAINS_MAX    1024u             /* domains served */
#define XSR__CONFIG_DEFAULT_PORT   5222u
#define XSR__CONFIG_MIN_STANZA     16384u /* room for the 'from' stamp and the header's context */
#define XSR__CONFIG_BUDGET_MAX     ((size_t)1 << 30)
#define XSR__CONFIG_TIMEOUT_MAX    86400u /* seconds */
#define XSR__CONFIG_DEFAULT_LISTEN "127.0.0.1:5222"

typedef enum xsr__log_level {
  XSR__LOG_ERROR = 0,
  XSR__LOG_WARN,
  XSR__LOG_INFO,
  XSR__LOG_DEBUG
} xsr__log_level;

/* "error", "warn", "info", "debug". */
const char *xsr__log_level_name(xsr__log_level l);

typedef struct xsr__config {
  /* Strings are owned by the config (xsr__config_free). */
  /* The domains served, canonical (xsr_jid_parse), unique, in the order
   * given (main.c sorts them in place before the server starts, for
   * xsr__server's binary search; `domain` keeps naming the default);
   * ndomains 0: the users file's, else "localhost". */
  char **domains;
  size_t ndomains;
  const char *domain; /* the default host: the first domain given (NULL when none) */
  char **listen;      /* "HOST:PORT", syntax checked; nlisten 0 means the default */
  size_t nlisten;
  char *users;      /* NULL: no users file */
  char *port_file;  /* NULL: none */
  unsigned threads; /* 0: online CPUs */
  size_t session_budget;
  size_t max_stanza;
  int plain;
  int anonymous;
  unsigned max_auth_failures;
  unsigned auth_failure_delay_ms;
  xsr__conflict_policy conflict;
  unsigned preauth_timeout_s;
  unsigned idle_timeout_s;
  unsigned slow_consumer_timeout_s;
  unsigned max_connections;
  size_t read_rate;
  xsr__log_level log_level;
} xsr__config;

/* Fills `cfg` with the defaults above (nothing allocated). */
void xsr__config_init(xsr__config *cfg);

/* Frees what the config owns and re-initialises it.  */
void xsr__config_free(xsr__config *cfg);

/* Applies the JSON document json[0..len) to `cfg` (keys present override
 * what is there; "listen", and "domains" or "domain", replace the whole
 * list).  `name` stands for the
 * file in messages.  Returns 0, or -1 with one line in err (cfg may then be
 * partly updated: free it). */
int xsr__config_parse(xsr__config *cfg, const char *name, const char *json, size_t len, char *err,
                      size_t errlen);

/* The same for the file at `path` (at most XSR__CONFIG_FILE_MAX bytes). */
int xsr__config_load(xsr__config *cfg, const char *path, char *err, size_t errlen);

/* What the command line asks for. */
typedef enum xsr__config_action {
  XSR__CONFIG_ERROR = -1, /* usage error: message in err, exit 2 */
  XSR__CONFIG_RUN = 0,    /* run the daemon */
  XSR__CONFIG_HELP,       /* print the usage and exit 0 */
  XSR__CONFIG_VERSION,    /* print the version and exit 0 */
  XSR__CONFIG_ADD_USER    /* xsr__users_add(cfg->users, *add_user, password) */
} xsr__config_action;

/* Reads argv[1..argc): first the --config file, if any, then every other
 * option over it, whatever their order (the command line wins).  The first
 * --listen replaces the file's list, and so does the first --domain; later
 * ones add to it (a domain given twice, once canonical, is an error).  For
 * --add-user, *add_user points into argv and --users is required.  Errors
 * (unknown option, missing or bad value, a config file that does not
 * load) return XSR__CONFIG_ERROR with one line in err. */
xsr__config_action xsr__config_args(xsr__config *cfg, int argc, char *const *argv,
                                    const char **add_user, char *err, size_t errlen);

/* Sets cfg->domains to the canonical forms of the n names (replacing the
 * list), refusing a name that is not a domain and duplicates once
 * canonical.  `what` names the source in messages ("--domain").  Returns 0,
 * or -1 with one line in err. */
int xsr__config_set_domains(xsr__config *cfg, const char *what, const char *const *names, size_t n,
                            char *err, size_t errlen);

/* Splits "HOST:PORT" (HOST may be "[IPv6]") into host[0..hostcap) and
 * *port (0..65535).  Returns 0, or -1 when malformed. */
int xsr__config_hostport(const char *s, char *host, size_t hostcap, unsigned *port);

/* The usage text (--help). */
extern const char xsr__config_usage[];

#endif /* XSR_SERVER_CONFIG_H */
