/* SPDX-License-Identifier: MIT */
/*
 * server/config.c: the JSON config file and the command line (contracts in
 * config.h).  Runs on the main thread at start-up only.
 *
 * The file goes through yajl's tree API, which is enough for a document of
 * a few hundred bytes.  That API keeps strings NUL-terminated without their
 * length, so a string holding an escaped NUL ("\u0000") would silently lose
 * its tail (a path "a\u0000b" read as "a"): such documents are refused
 * before parsing, as the users file does.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "util.h"
#include "xsr/xsr.h"

const char xsr__config_usage[] =
    "usage: xsr-router [--config FILE.json] [--listen HOST:PORT]... [--domain D]...\n"
    "                  [--users FILE] [--threads N] [--port-file FILE] [--log-level L]\n"
    "       xsr-router --users FILE --add-user JID   (password on standard input)\n"
    "\n"
    "The xsr XMPP server (client-to-server streams).  With no options it serves\n"
    "the domain \"localhost\" on 127.0.0.1:5222 with one worker loop per CPU.\n"
    "\n"
    "  --config FILE     JSON configuration (keys: see docs/server.md); the\n"
    "                    options below override it\n"
    "  --listen H:P      address to listen on, repeatable; H an IPv4 or IPv6\n"
    "                    literal ([::1]:5222) or a name; port 0 picks a free one\n"
    "  --domain D        a domain served (virtual host), repeatable; the first is\n"
    "                    the default (default: the users file's, else localhost)\n"
    "  --users FILE      accounts file (created by --add-user)\n"
    "  --threads N       worker loops (default: online CPUs)\n"
    "  --port-file FILE  once listening, write the bound ports there, one line\n"
    "                    per listen address (written atomically)\n"
    "  --log-level L     error, warn, info (default) or debug\n"
    "  --add-user JID    read a password from the first line of standard input,\n"
    "                    store SCRAM credentials for JID in the --users file\n"
    "                    (created if missing) and exit\n"
    "  -h, --help        print this help and exit\n"
    "  --version         print the version and exit\n"
    "\n"
    "Once listening it prints one line per address on standard error:\n"
    "  xsr-router: listening on 127.0.0.1:5222\n"
    "SIGTERM or SIGINT ends every stream with <system-shutdown/> and exits 0.\n"
    "\n"
    "Exit status: 0 success, 1 the server failed to start or run, 2 usage or\n"
    "configuration error.\n";

const char *xsr__log_level_name(xsr__log_level l) {
  switch (l) {
  case XSR__LOG_ERROR:
    return "error";
  case XSR__LOG_WARN:
    return "warn";
  case XSR__LOG_DEBUG:
    return "debug";
  default:
    return "info";
  }
}

void xsr__config_init(xsr__config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->session_budget = XSR_DEFAULT_SESSION_BUDGET;
  cfg->max_stanza = XSR_DEFAULT_MAX_STANZA;
  cfg->plain = 1;
  cfg->anonymous = 0;
  cfg->max_auth_failures = 3;
  cfg->auth_failure_delay_ms = 1000;
  cfg->conflict = XSR__CONFLICT_NEW_WINS;
  cfg->preauth_timeout_s = 30;
  cfg->idle_timeout_s = 300;
  cfg->slow_consumer_timeout_s = 60;
  cfg->log_level = XSR__LOG_INFO;
}

static void free_listen(xsr__config *cfg) {
  for (size_t i = 0; i < cfg->nlisten; i++)
    free(cfg->listen[i]);
  free(cfg->listen);
  cfg->listen = NULL;
  cfg->nlisten = 0;
}

static void free_domains(xsr__config *cfg) {
  for (size_t i = 0; i < cfg->ndomains; i++)
    free(cfg->domains[i]);
  free(cfg->domains);
  cfg->domains = NULL;
  cfg->ndomains = 0;
  cfg->domain = NULL;
}

void xsr__config_free(xsr__config *cfg) {
  free_domains(cfg);
  free(cfg->users);
  free(cfg->port_file);
  free_listen(cfg);
  xsr__config_init(cfg);
}

/* ---- values ---------------------------------------------------------------- */

static int set_string(char **dst, const char *s) {
  char *copy = strdup(s);
  if (!copy)
    return -1;
  free(*dst);
  *dst = copy;
  return 0;
}

int xsr__config_hostport(const char *s, char *host, size_t hostcap, unsigned *port) {
  const char *colon;
  const char *h = s;
  size_t hlen;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':')
      return -1;
    h = s + 1;
    hlen = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon)
      return -1;
    hlen = (size_t)(colon - s);
    if (memchr(s, ':', hlen)) /* an IPv6 literal must be bracketed */
      return -1;
  }
  if (hlen == 0 || hlen >= hostcap)
    return -1;
  const char *p = colon + 1;
  if (*p == '\0' || strlen(p) > 5)
    return -1;
  unsigned v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return -1;
    v = v * 10 + (unsigned)(*p - '0');
  }
  if (v > 65535)
    return -1;
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  *port = v;
  return 0;
}

static int check_hostport(const char *s) {
  char host[256];
  unsigned port;
  return xsr__config_hostport(s, host, sizeof host, &port);
}

static int add_listen(xsr__config *cfg, const char *s) {
  if (cfg->nlisten >= XSR__CONFIG_LISTEN_MAX)
    return -1;
  char **l = realloc(cfg->listen, (cfg->nlisten + 1) * sizeof *l);
  if (!l)
    return -1;
  cfg->listen = l;
  l[cfg->nlisten] = strdup(s);
  if (!l[cfg->nlisten])
    return -1;
  cfg->nlisten++;
  return 0;
}

/* Appends the canonical form of domain name s to cfg->domains.  Returns 0,
 * or -1 with the reason (not a domain, a duplicate, too many, out of
 * memory) in why[0..whylen). */
static int add_domain(xsr__config *cfg, const char *s, char *why, size_t whylen) {
  char buf[XSR_JID_MAX];
  xsr_jid j;
  xsr_jid_error e;
  xsr_err rc = xsr_jid_parse(s, strlen(s), buf, sizeof buf, &j, &e);
  if (rc != XSR_OK) {
    xsr__errf(why, whylen, "\"%.100s\" is not a valid domain name: %s (byte %zu)", s,
              xsr_err_message(rc), e.offset);
    return -1;
  }
  if (j.local.ptr || j.resource.ptr) {
    xsr__errf(why, whylen, "\"%.100s\" is not a domain name (it has a local or resource part)", s);
    return -1;
  }
  for (size_t i = 0; i < cfg->ndomains; i++)
    if (strlen(cfg->domains[i]) == j.domain.len &&
        memcmp(cfg->domains[i], j.domain.ptr, j.domain.len) == 0) {
      xsr__errf(why, whylen, "\"%.100s\" names %s again (domains are compared in canonical form)",
                s, cfg->domains[i]);
      return -1;
    }
  if (cfg->ndomains >= XSR__CONFIG_DOMAINS_MAX) {
    xsr__errf(why, whylen, "too many domains (at most %u)", XSR__CONFIG_DOMAINS_MAX);
    return -1;
  }
  char **d = realloc(cfg->domains, (cfg->ndomains + 1) * sizeof *d);
  if (d)
    cfg->domains = d;
  char *copy = d ? strndup(j.domain.ptr, j.domain.len) : NULL;
  if (!copy) {
    xsr__errf(why, whylen, "out of memory");
    return -1;
  }
  cfg->domains[cfg->ndomains++] = copy;
  cfg->domain = cfg->domains[0];
  return 0;
}

int xsr__config_set_domains(xsr__config *cfg, const char *what, const char *const *names, size_t n,
                            char *err, size_t errlen) {
  char why[512];
  free_domains(cfg);
  for (size_t i = 0; i < n; i++)
    if (add_domain(cfg, names[i], why, sizeof why)) {
      xsr__errf(err, errlen, "%s: %s", what, why);
      return -1;
    }
  return 0;
}

/* Parses a decimal unsigned integer in [min, max] (the command line). */
static int parse_uint(const char *s, unsigned long long min, unsigned long long max,
                      unsigned long long *out) {
  if (*s < '0' || *s > '9')
    return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

static int parse_log_level(const char *s, xsr__log_level *out) {
  static const xsr__log_level all[] = {XSR__LOG_ERROR, XSR__LOG_WARN, XSR__LOG_INFO,
                                       XSR__LOG_DEBUG};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (strcmp(s, xsr__log_level_name(all[i])) == 0) {
      *out = all[i];
      return 0;
    }
  return -1;
}

static int parse_conflict(const char *s, xsr__conflict_policy *out) {
  if (strcmp(s, "new-wins") == 0)
    *out = XSR__CONFLICT_NEW_WINS;
  else if (strcmp(s, "old-wins") == 0)
    *out = XSR__CONFLICT_OLD_WINS;
  else
    return -1;
  return 0;
}

/* ---- the JSON file --------------------------------------------------------- */

/* Whether the document holds "\u0000" inside a string (an odd run of
 * backslashes before "u0000"). */
static int has_escaped_nul(const char *s, size_t len) {
  size_t run = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '\\') {
      run++;
      continue;
    }
    if ((run & 1) && len - i >= 5 && (s[i] == 'u' || s[i] == 'U') &&
        memcmp(s + i + 1, "0000", 4) == 0)
      return 1;
    run = 0;
  }
  return 0;
}

typedef struct key_ctx {
  const char *name;
  const char *key;
  char *err;
  size_t errlen;
} key_ctx;

static int bad(const key_ctx *k, const char *what) {
  xsr__errf(k->err, k->errlen, "%s: /%s: %s", k->name, k->key, what);
  return -1;
}

static int get_uint(const key_ctx *k, yajl_val v, unsigned long long min, unsigned long long max,
                    unsigned long long *out) {
  if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0 ||
      (unsigned long long)YAJL_GET_INTEGER(v) < min ||
      (unsigned long long)YAJL_GET_INTEGER(v) > max) {
    xsr__errf(k->err, k->errlen, "%s: /%s: expected an integer from %llu to %llu", k->name, k->key,
              min, max);
    return -1;
  }
  *out = (unsigned long long)YAJL_GET_INTEGER(v);
  return 0;
}

static int get_bool(const key_ctx *k, yajl_val v, int *out) {
  if (YAJL_IS_TRUE(v))
    *out = 1;
  else if (YAJL_IS_FALSE(v))
    *out = 0;
  else
    return bad(k, "expected true or false");
  return 0;
}

static int get_str(const key_ctx *k, yajl_val v, const char **out) {
  if (!YAJL_IS_STRING(v))
    return bad(k, "expected a string");
  *out = YAJL_GET_STRING(v);
  if (**out == '\0')
    return bad(k, "must not be empty");
  return 0;
}

static int apply_key(xsr__config *cfg, const key_ctx *k, yajl_val v) {
  const char *key = k->key;
  const char *s;
  unsigned long long n;
  if (strcmp(key, "domain") == 0) {
    char why[512];
    if (get_str(k, v, &s))
      return -1;
    free_domains(cfg);
    if (add_domain(cfg, s, why, sizeof why))
      return bad(k, why);
    return 0;
  }
  if (strcmp(key, "domains") == 0) {
    char why[512];
    if (!YAJL_IS_ARRAY(v))
      return bad(k, "expected an array of domain names");
    size_t len = v->u.array.len;
    if (len == 0)
      return bad(k, "must list at least one domain");
    free_domains(cfg);
    for (size_t i = 0; i < len; i++) {
      yajl_val e = v->u.array.values[i];
      if (!YAJL_IS_STRING(e) || !*YAJL_GET_STRING(e)) {
        xsr__errf(k->err, k->errlen, "%s: /domains/%zu: expected a non-empty string", k->name, i);
        return -1;
      }
      if (add_domain(cfg, YAJL_GET_STRING(e), why, sizeof why)) {
        xsr__errf(k->err, k->errlen, "%s: /domains/%zu: %s", k->name, i, why);
        return -1;
      }
    }
    return 0;
  }
  if (strcmp(key, "users") == 0 || strcmp(key, "port_file") == 0) {
    if (get_str(k, v, &s))
      return -1;
    char **dst = key[0] == 'u' ? &cfg->users : &cfg->port_file;
    if (set_string(dst, s))
      return bad(k, "out of memory");
    return 0;
  }
  if (strcmp(key, "listen") == 0) {
    if (!YAJL_IS_ARRAY(v))
      return bad(k, "expected an array of \"HOST:PORT\" strings");
    size_t len = v->u.array.len;
    if (len == 0)
      return bad(k, "must list at least one address");
    if (len > XSR__CONFIG_LISTEN_MAX)
      return bad(k, "too many addresses");
    free_listen(cfg);
    for (size_t i = 0; i < len; i++) {
      yajl_val e = v->u.array.values[i];
      if (!YAJL_IS_STRING(e) || check_hostport(YAJL_GET_STRING(e))) {
        xsr__errf(k->err, k->errlen,
                  "%s: /listen/%zu: expected \"HOST:PORT\" (IPv6 as \"[::1]:5222\"), port 0..65535",
                  k->name, i);
        return -1;
      }
      if (add_listen(cfg, YAJL_GET_STRING(e)))
        return bad(k, "out of memory");
    }
    return 0;
  }
  if (strcmp(key, "threads") == 0) {
    if (get_uint(k, v, 1, XSR_MAX_WORKERS, &n))
      return -1;
    cfg->threads = (unsigned)n;
    return 0;
  }
  if (strcmp(key, "session_budget") == 0) {
    if (get_uint(k, v, 1, XSR__CONFIG_BUDGET_MAX, &n))
      return -1;
    cfg->session_budget = (size_t)n;
    return 0;
  }
  if (strcmp(key, "max_stanza") == 0) {
    if (get_uint(k, v, XSR__CONFIG_MIN_STANZA, XSR_MAX_STANZA_LIMIT, &n))
      return -1;
    cfg->max_stanza = (size_t)n;
    return 0;
  }
  if (strcmp(key, "plain") == 0)
    return get_bool(k, v, &cfg->plain);
  if (strcmp(key, "anonymous") == 0)
    return get_bool(k, v, &cfg->anonymous);
  if (strcmp(key, "max_auth_failures") == 0) {
    if (get_uint(k, v, 1, 1000, &n))
      return -1;
    cfg->max_auth_failures = (unsigned)n;
    return 0;
  }
  if (strcmp(key, "auth_failure_delay_ms") == 0) {
    if (get_uint(k, v, 0, 60000, &n))
      return -1;
    cfg->auth_failure_delay_ms = (unsigned)n;
    return 0;
  }
  if (strcmp(key, "conflict") == 0) {
    if (!YAJL_IS_STRING(v) || parse_conflict(YAJL_GET_STRING(v), &cfg->conflict))
      return bad(k, "expected \"new-wins\" or \"old-wins\"");
    return 0;
  }
  if (strcmp(key, "preauth_timeout_s") == 0 || strcmp(key, "idle_timeout_s") == 0 ||
      strcmp(key, "slow_consumer_timeout_s") == 0) {
    if (get_uint(k, v, 0, XSR__CONFIG_TIMEOUT_MAX, &n))
      return -1;
    unsigned *dst = key[0] == 'p'   ? &cfg->preauth_timeout_s
                    : key[0] == 'i' ? &cfg->idle_timeout_s
                                    : &cfg->slow_consumer_timeout_s;
    *dst = (unsigned)n;
    return 0;
  }
  if (strcmp(key, "max_connections") == 0) {
    if (get_uint(k, v, 0, 100000000, &n))
      return -1;
    cfg->max_connections = (unsigned)n;
    return 0;
  }
  if (strcmp(key, "read_rate") == 0) {
    if (get_uint(k, v, 0, (unsigned long long)1 << 40, &n))
      return -1;
    cfg->read_rate = (size_t)n;
    return 0;
  }
  if (strcmp(key, "log_level") == 0) {
    if (!YAJL_IS_STRING(v) || parse_log_level(YAJL_GET_STRING(v), &cfg->log_level))
      return bad(k, "expected \"error\", \"warn\", \"info\" or \"debug\"");
    return 0;
  }
  return bad(k, "unknown key");
}

int xsr__config_parse(xsr__config *cfg, const char *name, const char *json, size_t len, char *err,
                      size_t errlen) {
  if (has_escaped_nul(json, len)) {
    xsr__errf(err, errlen, "%s: strings must not contain \\u0000", name);
    return -1;
  }
  if (memchr(json, '\0', len)) {
    xsr__errf(err, errlen, "%s: invalid JSON: NUL byte", name);
    return -1;
  }
  char *text = malloc(len + 1);
  if (!text) {
    xsr__errf(err, errlen, "%s: out of memory", name);
    return -1;
  }
  memcpy(text, json, len);
  text[len] = '\0';
  char msg[512];
  msg[0] = '\0';
  yajl_val root = yajl_tree_parse(text, msg, sizeof msg);
  free(text);
  if (!root) {
    /* yajl's message spans lines (the text, then an arrow): keep the first. */
    msg[strcspn(msg, "\n")] = '\0';
    xsr__errf(err, errlen, "%s: invalid JSON: %s", name, msg[0] ? msg : "parse error");
    return -1;
  }
  int rc = 0;
  if (!YAJL_IS_OBJECT(root)) {
    xsr__errf(err, errlen, "%s: expected a JSON object", name);
    rc = -1;
  }
  for (size_t i = 0; rc == 0 && i < root->u.object.len; i++) {
    const char *key = root->u.object.keys[i];
    /* A repeated key is a mistake whichever copy was meant. */
    for (size_t j = 0; j < i; j++) {
      if (strcmp(root->u.object.keys[j], key) == 0) {
        xsr__errf(err, errlen, "%s: /%s: duplicate key", name, key);
        rc = -1;
        break;
      }
      /* "domain" is the one-element shorthand of "domains": one or the other. */
      if ((strcmp(key, "domain") == 0 && strcmp(root->u.object.keys[j], "domains") == 0) ||
          (strcmp(key, "domains") == 0 && strcmp(root->u.object.keys[j], "domain") == 0)) {
        xsr__errf(err, errlen,
                  "%s: /%s: \"%s\" is given too (\"domain\" is the one-element shorthand of "
                  "\"domains\": give one of them)",
                  name, key, root->u.object.keys[j]);
        rc = -1;
        break;
      }
    }
    if (rc == 0) {
      key_ctx k = {name, key, err, errlen};
      rc = apply_key(cfg, &k, root->u.object.values[i]);
    }
  }
  yajl_tree_free(root);
  return rc;
}

int xsr__config_load(xsr__config *cfg, const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    xsr__errf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  char *buf = malloc(XSR__CONFIG_FILE_MAX + 1);
  if (!buf) {
    fclose(f);
    xsr__errf(err, errlen, "%s: out of memory", path);
    return -1;
  }
  size_t n = fread(buf, 1, XSR__CONFIG_FILE_MAX + 1, f);
  int rd_err = ferror(f);
  fclose(f);
  int rc = -1;
  if (rd_err)
    xsr__errf(err, errlen, "%s: read error", path);
  else if (n > XSR__CONFIG_FILE_MAX)
    xsr__errf(err, errlen, "%s: larger than %zu bytes", path, XSR__CONFIG_FILE_MAX);
  else
    rc = xsr__config_parse(cfg, path, buf, n, err, errlen);
  free(buf);
  return rc;
}

/* ---- the command line ------------------------------------------------------ */

typedef enum opt_id {
  OPT_CONFIG,
  OPT_LISTEN,
  OPT_DOMAIN,
  OPT_USERS,
  OPT_THREADS,
  OPT_PORT_FILE,
  OPT_LOG_LEVEL,
  OPT_ADD_USER,
  OPT_HELP,
  OPT_VERSION
} opt_id;

typedef struct opt_def {
  const char *name;
  opt_id id;
  int has_arg;
} opt_def;

static const opt_def opts[] = {
    {"--config", OPT_CONFIG, 1},       {"--listen", OPT_LISTEN, 1},
    {"--domain", OPT_DOMAIN, 1},       {"--users", OPT_USERS, 1},
    {"--threads", OPT_THREADS, 1},     {"--port-file", OPT_PORT_FILE, 1},
    {"--log-level", OPT_LOG_LEVEL, 1}, {"--add-user", OPT_ADD_USER, 1},
    {"--help", OPT_HELP, 0},           {"-h", OPT_HELP, 0},
    {"--version", OPT_VERSION, 0},
};

/* Matches argv[*i] ("--name", "--name=value" or "--name value"); advances *i
 * past a separate value.  Returns the definition, or NULL with err set. */
static const opt_def *next_opt(int argc, char *const *argv, int *i, const char **val, char *err,
                               size_t errlen) {
  const char *a = argv[*i];
  const char *eq = strchr(a, '=');
  size_t nlen = eq && a[0] == '-' && a[1] == '-' ? (size_t)(eq - a) : strlen(a);
  for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
    const opt_def *o = &opts[k];
    if (strlen(o->name) != nlen || strncmp(a, o->name, nlen) != 0)
      continue;
    *val = NULL;
    if (!o->has_arg) {
      if (a[nlen] == '=') {
        xsr__errf(err, errlen, "option %s takes no value", o->name);
        return NULL;
      }
      return o;
    }
    if (a[nlen] == '=') {
      *val = a + nlen + 1;
    } else if (*i + 1 < argc) {
      *val = argv[++*i];
    } else {
      xsr__errf(err, errlen, "missing value for option %s", o->name);
      return NULL;
    }
    return o;
  }
  if (a[0] == '-')
    xsr__errf(err, errlen, "unknown option '%s'", a);
  else
    xsr__errf(err, errlen, "unexpected argument '%s'", a);
  return NULL;
}

xsr__config_action xsr__config_args(xsr__config *cfg, int argc, char *const *argv,
                                    const char **add_user, char *err, size_t errlen) {
  const char *config_path = NULL;
  const char *val;
  *add_user = NULL;
  /* Pass 1: syntax, --help/--version, and the config file. */
  for (int i = 1; i < argc; i++) {
    const opt_def *o = next_opt(argc, argv, &i, &val, err, errlen);
    if (!o)
      return XSR__CONFIG_ERROR;
    if (o->id == OPT_HELP)
      return XSR__CONFIG_HELP;
    if (o->id == OPT_VERSION)
      return XSR__CONFIG_VERSION;
    if (o->id == OPT_CONFIG) {
      if (config_path) {
        xsr__errf(err, errlen, "--config given twice");
        return XSR__CONFIG_ERROR;
      }
      config_path = val;
    }
  }
  if (config_path && xsr__config_load(cfg, config_path, err, errlen))
    return XSR__CONFIG_ERROR;
  /* Pass 2: every other option over the file. */
  int cli_listen = 0, cli_domain = 0;
  for (int i = 1; i < argc; i++) {
    const opt_def *o = next_opt(argc, argv, &i, &val, err, errlen);
    unsigned long long n;
    int rc = 0;
    switch (o->id) {
    case OPT_LISTEN:
      if (check_hostport(val)) {
        xsr__errf(err, errlen,
                  "--listen '%s': expected HOST:PORT (IPv6 as [::1]:5222), port 0..65535", val);
        return XSR__CONFIG_ERROR;
      }
      if (!cli_listen)
        free_listen(cfg);
      cli_listen = 1;
      if (add_listen(cfg, val)) {
        xsr__errf(err, errlen, "--listen: too many addresses (at most %u)", XSR__CONFIG_LISTEN_MAX);
        return XSR__CONFIG_ERROR;
      }
      break;
    case OPT_DOMAIN:
    case OPT_USERS:
    case OPT_PORT_FILE:
      if (*val == '\0') {
        xsr__errf(err, errlen, "%s: empty value", o->name);
        return XSR__CONFIG_ERROR;
      }
      if (o->id == OPT_DOMAIN) {
        char why[512];
        if (!cli_domain)
          free_domains(cfg);
        cli_domain = 1;
        if (add_domain(cfg, val, why, sizeof why)) {
          xsr__errf(err, errlen, "--domain: %s", why);
          return XSR__CONFIG_ERROR;
        }
        break;
      }
      rc = set_string(o->id == OPT_USERS ? &cfg->users : &cfg->port_file, val);
      break;
    case OPT_THREADS:
      if (parse_uint(val, 1, XSR_MAX_WORKERS, &n)) {
        xsr__errf(err, errlen, "--threads '%s': expected an integer from 1 to %u", val,
                  XSR_MAX_WORKERS);
        return XSR__CONFIG_ERROR;
      }
      cfg->threads = (unsigned)n;
      break;
    case OPT_LOG_LEVEL:
      if (parse_log_level(val, &cfg->log_level)) {
        xsr__errf(err, errlen, "--log-level '%s': expected error, warn, info or debug", val);
        return XSR__CONFIG_ERROR;
      }
      break;
    case OPT_ADD_USER:
      if (*add_user) {
        xsr__errf(err, errlen, "--add-user given twice");
        return XSR__CONFIG_ERROR;
      }
      *add_user = val;
      break;
    default:
      break;
    }
    if (rc) {
      xsr__errf(err, errlen, "out of memory");
      return XSR__CONFIG_ERROR;
    }
  }
  if (*add_user) {
    if (!cfg->users) {
      xsr__errf(err, errlen, "--add-user needs --users FILE");
      return XSR__CONFIG_ERROR;
    }
    return XSR__CONFIG_ADD_USER;
  }
  return XSR__CONFIG_RUN;
}
