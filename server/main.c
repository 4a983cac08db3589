/* SPDX-License-Identifier: MIT */
/*
 * xsr-router: the xsr XMPP server (client-to-server streams).
 *
 *   xsr-router [--config FILE.json] [--listen HOST:PORT]... [--domain D]
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

/* --add-user: the password is the first line of standard input. */
static int add_user(const xsr__config *cfg, const char *jid) {
  char pw[XSR__USERS_PASSWORD_MAX + 3];
  char err[512];
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

/* Escapes s for a JSON string (a domain: no control characters expected). */
static int json_escape(const char *s, char *out, size_t cap) {
  size_t o = 0;
  for (; *s; s++) {
    if ((unsigned char)*s < 0x20)
      return -1;
    if (o + 3 > cap)
      return -1;
    if (*s == '"' || *s == '\\')
      out[o++] = '\\';
    out[o++] = *s;
  }
  out[o] = '\0';
  return 0;
}

/* The users table, or an empty one for `domain` when there is no file;
 * and the canonical domain served.  Returns 0 or an exit status. */
static int load_accounts(const xsr__config *cfg, xsr__users **users, char *domain, size_t domcap) {
  char err[1024];
  *users = NULL;
  if (cfg->users && xsr__users_load(cfg->users, users, err, sizeof err))
    return fail(EXIT_USAGE, err);
  const char *want = cfg->domain ? cfg->domain : *users ? xsr__users_domain(*users) : "localhost";
  xsr_jid j;
  xsr_jid_error je;
  if (xsr_jid_parse(want, strlen(want), domain, domcap - 1, &j, &je) != XSR_OK || j.local.ptr ||
      j.resource.ptr) {
    snprintf(err, sizeof err, "domain '%.255s' is not a valid domain name", want);
    return fail(EXIT_USAGE, err);
  }
  memmove(domain, j.domain.ptr, j.domain.len);
  domain[j.domain.len] = '\0';
  if (*users && strcmp(domain, xsr__users_domain(*users)) != 0) {
    snprintf(err, sizeof err, "domain %.255s differs from the domain of %.255s (%.255s)", domain,
             cfg->users, xsr__users_domain(*users));
    return fail(EXIT_USAGE, err);
  }
  if (!*users) {
    char esc[2 * XSR_JID_MAX + 1], json[2 * XSR_JID_MAX + 64];
    if (json_escape(domain, esc, sizeof esc))
      return fail(EXIT_USAGE, "domain holds control characters");
    int n = snprintf(json, sizeof json, "{\"version\":1,\"domain\":\"%s\",\"users\":{}}", esc);
    if (xsr__users_parse("(no users file)", json, (size_t)n, users, err, sizeof err))
      return fail(EXIT_RUN, err);
  }
  return 0;
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
  char domain[XSR_JID_MAX + 1];
  int rc = load_accounts(cfg, &users, domain, sizeof domain);
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
  } else if (xsr__net_new(cfg, domain, users, sasl, &net, err, sizeof err)) {
    rc = fail(EXIT_RUN, err);
  } else {
    for (size_t i = 0; i < xsr__net_bound_count(net); i++)
      fprintf(stderr, "xsr-router: listening on %s\n", xsr__net_bound_name(net, i));
    fflush(stderr);
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
