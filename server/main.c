/* SPDX-License-Identifier: MIT */
/*
 * xsr-router: the xsr XMPP server (client-to-server streams).
 *
 *   xsr-router [--config FILE.json] [--listen HOST:PORT]... [--domain D]...
 *              [--users FILE] [--threads N] [--port-file FILE] [--log-level L]
 *   xsr-router --users FILE --add-user JID     (password on standard input)
 *
 * Main thread only: reads the configuration (config.c), loads the users
 * file, creates the SASL context, then hands over to the network layer
 * (net.c), which binds, prints "xsr-router: listening on ADDR" for each
 * address, runs the worker loops until SIGINT/SIGTERM and returns.
 *
 * Exit status: 0 success (and after a signal-driven shutdown), 1 the server
 * could not start or run (an address that does not bind, out of memory), 2
 * usage or configuration errors (options, the config file, the users file).
 */
#define _GNU_SOURCE /* explicit_bzero */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "net.h"
#include "sasl.h"
#include "users.h"
#include "xsr/xsr.h"

#define EXIT_RUN   1
#define EXIT_USAGE 2

static int fail(int status, const char *msg) {
  fprintf(stderr, "xsr-router: %s\n", msg);
  return status;
}

/* --add-user: the password is the first line of standard input.  With the
 * domains served configured (--config, --domain), the JID's domain must be
 * one of them: the daemon refuses a users file holding a domain it does not
 * serve, at start and on SIGHUP, so a misspelt domain added here would stop
 * the next start.  Without them, the file's domains are the ones served. */
static int add_user(const xsr__config *cfg, const char *jid) {
  char pw[XSR__USERS_PASSWORD_MAX + 3];
  char err[512];
  char jbuf[XSR_JID_MAX];
  xsr_jid j;
  if (cfg->ndomains > 0 && xsr_jid_parse(jid, strlen(jid), jbuf, sizeof jbuf, &j, NULL) == XSR_OK) {
    size_t i = 0;
    while (i < cfg->ndomains && (strlen(cfg->domains[i]) != j.domain.len ||
                                 memcmp(cfg->domains[i], j.domain.ptr, j.domain.len) != 0))
      i++;
    if (i == cfg->ndomains) {
      snprintf(err, sizeof err,
               "--add-user: %.300s: %.*s is not a domain served (add it to \"domains\" or "
               "--domain first)",
               jid, (int)j.domain.len, j.domain.ptr);
      return fail(EXIT_USAGE, err);
    }
  }
  if (!fgets(pw, sizeof pw, stdin)) {
    explicit_bzero(pw, sizeof pw);
    return fail(EXIT_RUN, "--add-user: no password on standard input");
  }
  size_t len = strlen(pw);
  int whole_line = len > 0 && pw[len - 1] == '\n';
  if (whole_line)
    pw[--len] = '\0';
  if (len > 0 && pw[len - 1] == '\r')
    pw[--len] = '\0';
  int rc;
  if (!whole_line && !feof(stdin)) {
    rc = fail(EXIT_RUN, "--add-user: password longer than 1024 bytes");
  } else if (len == 0) {
    rc = fail(EXIT_RUN, "--add-user: empty password");
  } else if (xsr__users_add(cfg->users, jid, strlen(jid), pw, len, err, sizeof err)) {
    rc = fail(EXIT_RUN, err);
  } else {
    fprintf(stderr, "xsr-router: %s: stored credentials for %s\n", cfg->users, jid);
    rc = 0;
  }
  explicit_bzero(pw, sizeof pw);
  return rc;
}

/* Appends s to the growing buffer *buf (NUL-terminated).  Returns 0 or -1. */
static int buf_add(char **buf, size_t *len, size_t *cap, const char *s) {
  size_t n = strlen(s);
  if (*len + n + 1 > *cap) {
    size_t ncap = (*len + n + 1) * 2;
    char *nb = realloc(*buf, ncap);
    if (!nb)
      return -1;
    *buf = nb;
    *cap = ncap;
  }
  memcpy(*buf + *len, s, n + 1);
  *len += n;
  return 0;
}

/* An empty users table holding every domain served (no --users file). */
static int empty_table(const xsr__config *cfg, xsr__users **users, char *err, size_t errlen) {
  char *json = NULL;
  size_t len = 0, cap = 0;
  int bad = buf_add(&json, &len, &cap, "{\"version\":2,\"domains\":{");
  for (size_t i = 0; i < cfg->ndomains; i++) {
    /* Canonical domains: no control characters, quotes or backslashes. */
    bad |= buf_add(&json, &len, &cap, i ? ",\"" : "\"");
    bad |= buf_add(&json, &len, &cap, cfg->domains[i]);
    bad |= buf_add(&json, &len, &cap, "\":{\"users\":{}}");
  }
  bad |= buf_add(&json, &len, &cap, "}}");
  int rc = -1;
  if (bad)
    snprintf(err, errlen, "out of memory");
  else
    rc = xsr__users_parse("(no users file)", json, len, users, err, errlen);
  free(json);
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The users table (an empty one when there is no file) and the domains
 * served: the configured ones, else the users file's, else "localhost"; a
 * users file holding accounts of a domain not served is refused.  Leaves
 * cfg->domains sorted (xsr__server binary-searches them) and cfg->domain
 * the default host.  Returns 0 or an exit status. */
static int load_accounts(xsr__config *cfg, xsr__users **users) {
  char err[1024];
  *users = NULL;
  if (cfg->users && xsr__users_load(cfg->users, users, err, sizeof err))
    return fail(EXIT_USAGE, err);
  if (cfg->ndomains == 0) {
    size_t n = *users ? xsr__users_host_count(*users) : 1;
    const char **names = malloc(n * sizeof *names);
    if (!names)
      return fail(EXIT_RUN, "out of memory");
    for (size_t i = 0; i < n; i++)
      names[i] = *users ? xsr__users_domain(xsr__users_host_at(*users, i)) : "localhost";
    int rc = xsr__config_set_domains(cfg, cfg->users ? cfg->users : "--domain", names, n, err,
                                     sizeof err);
    free(names);
    if (rc)
      return fail(EXIT_USAGE, err);
  }
  if (*users && xsr__users_check_served(*users, cfg->users, (const char *const *)cfg->domains,
                                        cfg->ndomains, err, sizeof err))
    return fail(EXIT_USAGE, err);
  if (!*users && empty_table(cfg, users, err, sizeof err))
    return fail(EXIT_RUN, err);
  qsort(cfg->domains, cfg->ndomains, sizeof *cfg->domains, cmp_str);
  return 0;
}

/* One line per domain when there are several (after the listening lines,
 * which come first in the log). */
static void log_hosts(const xsr__config *cfg, const xsr__users *users) {
  for (size_t i = 0; cfg->ndomains > 1 && i < cfg->ndomains; i++) {
    const char *d = cfg->domains[i];
    const xsr__users *h = xsr__users_host(users, d, strlen(d));
    size_t k = h ? xsr__users_count(h) : 0;
    xsr__log(XSR__LOG_INFO, "virtual host %s: %zu account%s%s", d, k, k == 1 ? "" : "s",
             d == cfg->domain ? " (the default)" : "");
  }
}

/* Writes the bound addresses to `path` atomically (temporary + rename). */
static int write_port_file(const char *path, const xsr__net *net) {
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 32);
  if (!tmp)
    return -1;
  snprintf(tmp, plen + 32, "%s.%ld.tmp", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  int rc = -1;
  if (f) {
    for (size_t i = 0; i < xsr__net_bound_count(net); i++)
      fprintf(f, "%s\n", xsr__net_bound_name(net, i));
    rc = fclose(f) == 0 && rename(tmp, path) == 0 ? 0 : -1;
    if (rc)
      unlink(tmp);
  }
  free(tmp);
  return rc;
}

static unsigned online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1)
    return 1;
  return n > (long)XSR_MAX_WORKERS ? XSR_MAX_WORKERS : (unsigned)n;
}

/* 10,000 connections need more than the usual soft limit of 1024. */
static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl))
      xsr__log(XSR__LOG_WARN, "cannot raise the open-files limit: %s", strerror(errno));
  }
}

static int run(xsr__config *cfg) {
  char err[1024];
  xsr__users *users = NULL;
  int rc = load_accounts(cfg, &users);
  if (rc) {
    xsr__users_free(users);
    return rc;
  }
  if (!cfg->threads)
    cfg->threads = online_cpus();
  /* PLAIN's PBKDF2 runs on libuv's pool (4 threads unless told). */
  if (!getenv("UV_THREADPOOL_SIZE")) {
    char n[16];
    snprintf(n, sizeof n, "%u", cfg->threads > 4 ? (cfg->threads > 128 ? 128 : cfg->threads) : 4);
    setenv("UV_THREADPOOL_SIZE", n, 1);
  }
  raise_nofile();

  xsr__sasl_config sc = {cfg->plain, cfg->anonymous};
  xsr__sasl *sasl = NULL;
  xsr__net *net = NULL;
  if (xsr__sasl_new(&sc, &sasl, err, sizeof err)) {
    rc = fail(EXIT_RUN, err);
  } else if (xsr__net_new(cfg, cfg->domain, users, sasl, &net, err, sizeof err)) {
    rc = fail(EXIT_RUN, err);
  } else {
    for (size_t i = 0; i < xsr__net_bound_count(net); i++)
      fprintf(stderr, "xsr-router: listening on %s\n", xsr__net_bound_name(net, i));
    fflush(stderr);
    log_hosts(cfg, users);
    if (cfg->port_file && write_port_file(cfg->port_file, net)) {
      snprintf(err, sizeof err, "--port-file %s: %s", cfg->port_file, strerror(errno));
      rc = fail(EXIT_RUN, err);
    } else if (xsr__net_run(net, err, sizeof err)) {
      rc = fail(EXIT_RUN, err);
    }
  }
  xsr__net_free(net);
  xsr__sasl_free(sasl);
  xsr__users_free(users);
  return rc;
}

int main(int argc, char **argv) {
  /* A peer that resets while we write must not kill the process. */
  signal(SIGPIPE, SIG_IGN);
  xsr__config cfg;
  xsr__config_init(&cfg);
  char err[1024];
  const char *jid = NULL;
  int rc;
  switch (xsr__config_args(&cfg, argc, argv, &jid, err, sizeof err)) {
  case XSR__CONFIG_HELP:
    fputs(xsr__config_usage, stdout);
    rc = 0;
    break;
  case XSR__CONFIG_VERSION:
    printf("xsr-router %s\n", XSR_VERSION_STRING);
    rc = 0;
    break;
  case XSR__CONFIG_ADD_USER:
    rc = add_user(&cfg, jid);
    break;
  case XSR__CONFIG_RUN:
    xsr__log_set_level(cfg.log_level);
    rc = run(&cfg);
    break;
  default:
    fprintf(stderr, "xsr-router: %s\n(try xsr-router --help)\n", err);
    rc = EXIT_USAGE;
    break;
  }
  xsr__config_free(&cfg);
  return rc;
}
