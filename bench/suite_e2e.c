/* SPDX-License-Identifier: MIT */
/*
 * xsr-bench suite "e2e": whole XMPP servers measured from the outside by
 * xsr-load, xsr-router and any peers (Prosody, ejabberd, ...) in one run.
 *
 * The suite writes a users file for PREFIX1..PREFIXn@DOMAIN, starts the
 * xsr-router found beside xsr-bench on 127.0.0.1 port 0 (--port-file), and
 * runs the xsr-load found there against it and against every --peer:
 *
 *   idle        K=10,000 (--quick: 200) idle logins, RSS growth per
 *               connection; only for servers whose PID is known; first, so
 *               that memory freed by other runs does not hide the growth
 *   closed      K = 2, 50, 200, 1000 x W = 1, 64 (--quick: K = 2, 50), ring
 *   ping        K=2, iq ping round trips, one in flight: unloaded latency
 *   open        K=200 (--quick: 50) at half of that server's own W=64
 *               rate: latency from each message's scheduled send time;
 *               and (full run) at 5k, 20k and 100k msg/s for every server
 *               whose closed-loop rate is at least 1/0.9 of that
 *
 * Scenarios run in that order, each against every server before the next
 * (so slow drift of the machine hits all servers alike).  The server's CPU
 * time comes from /proc/PID/stat around each run (login and warm-up
 * included), the generator's from its JSON.  A run that loses or misroutes
 * a message, or that does not complete, fails the suite once every run has
 * been recorded and printed.  The daemon is stopped by its PID and the
 * temporary directory removed, on failure too.
 *
 * The accounts share one password, so they share one SCRAM derivation (one
 * salt): the users file is written directly (measured on the 2-vCPU
 * development VM: 10,000 accounts in 13-28 ms, where `xsr-router
 * --add-user`, which rewrites and fsyncs the whole file once per account,
 * took 6.7 s for 50).  A login costs the server the same HMACs as with
 * distinct salts.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gsasl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "base64.h"
#include "bench.h"

#define E2E_DOMAIN     "xsr.test"
#define E2E_USERS      "load"
#define E2E_PASSWORD   "secret"
#define E2E_ITERATIONS 4096u
#define E2E_MAX_PEERS  8

typedef struct e2e_server {
  char name[64];
  char addr[300]; /* HOST:PORT, as xsr-load takes it */
  long pid;       /* 0: unknown (no CPU figures, no idle run) */
  char domain[256];
  char users[64];
  char password[256];
} e2e_server;

typedef struct e2e_result {
  double sent, delivered, lost, misrouted, duplicated, errors, bounces;
  double msgs_per_s, p50, p99, p999; /* latency in microseconds */
  double load_cpu_s, kib_per_conn;
  int ok;
} e2e_result;

typedef struct e2e_ctx {
  xsr_bench_env *env;
  int quick;
  char dir[512];
  char bin_dir[PATH_MAX];
  char load[PATH_MAX + 16];
  unsigned load_threads;
  int runs, failed_runs;
} e2e_ctx;

/* ---- peer specifications --------------------------------------------------- */

static int name_ok(const char *s, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.'))
      return 0;
  }
  return 1;
}

/* HOST:PORT with a port in 1..65535; HOST may be [v6]. */
static int addr_ok(const char *s, size_t n) {
  const char *colon = NULL;
  for (size_t i = 0; i < n; i++)
    if (s[i] == ':')
      colon = s + i;
  if (!colon || colon == s || (size_t)(colon - s) + 1 >= n)
    return 0;
  if (s[0] == '[' && colon[-1] != ']')
    return 0;
  unsigned long port = 0;
  for (const char *p = colon + 1; p < s + n; p++) {
    if (*p < '0' || *p > '9')
      return 0;
    port = port * 10 + (unsigned long)(*p - '0');
    if (port > 65535)
      return 0;
  }
  return port > 0;
}

static int peer_parse(const char *spec, e2e_server *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  snprintf(out->domain, sizeof out->domain, "%s", E2E_DOMAIN);
  snprintf(out->users, sizeof out->users, "%s", E2E_USERS);
  snprintf(out->password, sizeof out->password, "%s", E2E_PASSWORD);
  const char *eq = strchr(spec, '=');
  if (!eq || !name_ok(spec, (size_t)(eq - spec)) || (size_t)(eq - spec) >= sizeof out->name) {
    snprintf(err, errlen,
             "--peer wants NAME=HOST:PORT[,pid=PID][,domain=D][,users=PREFIX]"
             "[,password=P] with NAME of letters, digits, '-', '_', '.'");
    return -1;
  }
  memcpy(out->name, spec, (size_t)(eq - spec));
  if (strcmp(out->name, "xsr-router") == 0) {
    snprintf(err, errlen, "--peer: the name xsr-router is taken by the server the suite starts");
    return -1;
  }
  const char *p = eq + 1;
  size_t n = strcspn(p, ",");
  if (!addr_ok(p, n) || n >= sizeof out->addr) {
    snprintf(err, errlen, "--peer %s: '%.*s' is not HOST:PORT", out->name, (int)n, p);
    return -1;
  }
  memcpy(out->addr, p, n);
  for (p += n; *p == ','; p += n) {
    p++;
    n = strcspn(p, ",");
    const char *v = memchr(p, '=', n);
    size_t klen = v ? (size_t)(v - p) : n, vlen = v ? n - klen - 1 : 0;
    char *dst = NULL;
    size_t cap = 0;
    if (v && klen == 3 && memcmp(p, "pid", 3) == 0) {
      char num[24];
      char *end;
      if (vlen == 0 || vlen >= sizeof num)
        goto bad;
      memcpy(num, v + 1, vlen);
      num[vlen] = '\0';
      errno = 0;
      long pid = strtol(num, &end, 10);
      if (errno || *end || pid <= 0 || num[0] == '+')
        goto bad;
      out->pid = pid;
      continue;
    } else if (v && klen == 6 && memcmp(p, "domain", 6) == 0) {
      dst = out->domain, cap = sizeof out->domain;
    } else if (v && klen == 5 && memcmp(p, "users", 5) == 0) {
      dst = out->users, cap = sizeof out->users;
    } else if (v && klen == 8 && memcmp(p, "password", 8) == 0) {
      dst = out->password, cap = sizeof out->password;
    } else {
      goto bad;
    }
    if (vlen == 0 || vlen >= cap || (dst != out->password && !name_ok(v + 1, vlen)))
      goto bad;
    memcpy(dst, v + 1, vlen);
    dst[vlen] = '\0';
  }
  return 0;
bad:
  snprintf(err, errlen,
           "--peer %s: bad option '%.*s' (pid=PID, domain=D, users=PREFIX or password=P)",
           out->name, (int)n, p);
  return -1;
}

int xsr_bench_e2e_peer_check(const char *spec, char *err, size_t errlen) {
  e2e_server s;
  return peer_parse(spec, &s, err, errlen);
}

/* ---- processes ----------------------------------------------------------------- */

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Starts argv[0] with standard input from /dev/null and standard output and
 * error into `log`.  Returns the PID or -1. */
static pid_t spawn(char *const *argv, const char *log) {
  pid_t pid = fork();
  if (pid != 0)
    return pid;
  int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
  }
  int nul = open("/dev/null", O_RDONLY);
  if (nul >= 0) {
    dup2(nul, 0);
    close(nul);
  }
  execv(argv[0], argv);
  fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

/* Waits at most timeout_ms for pid, then kills it (SIGKILL) and reaps it.
 * Returns its exit status, 128+N after signal N, or -1 on the timeout. */
static int wait_bounded(pid_t pid, long timeout_ms) {
  uint64_t end = xsr_bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r < 0 && errno != EINTR)
      return -1;
    if (xsr_bench_now_ns() >= end) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      return -1;
    }
    sleep_ms(5);
  }
}

static void dump_file(const char *what, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  fprintf(stderr, "---- %s (%s, last 4 KiB)\n", what, path);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, size > 4096 ? size - 4096 : 0, SEEK_SET);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    fwrite(buf, 1, n, stderr);
  fclose(f);
  fprintf(stderr, "----\n");
}

/* utime + stime of a process in seconds, or -1 when it cannot be read. */
static double proc_cpu_s(long pid) {
  if (pid <= 0)
    return -1;
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  unsigned long long ut, st;
  /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt
   * cmajflt utime stime */
  if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- the users file ------------------------------------------------------------ */

/*
 * Writes the xsr-router users file (server/users.h, version 1) for
 * PREFIX1..PREFIXn@domain, all with `password`, SCRAM-SHA-1 and -256.
 */
static int write_users(const char *path, const char *domain, const char *prefix,
                       const char *password, unsigned n) {
  static const Gsasl_hash hashes[2] = {GSASL_HASH_SHA1, GSASL_HASH_SHA256};
  static const size_t key_len[2] = {20, 32};
  static const char *const keys[2] = {"scram-sha-1", "scram-sha-256"};
  char cred[2][512];
  unsigned char salt[16];
  char *prepped = NULL;
  if (getrandom(salt, sizeof salt, 0) != (ssize_t)sizeof salt ||
      gsasl_saslprep(password, 0, &prepped, NULL) != GSASL_OK || !prepped) {
    fprintf(stderr, "xsr-bench e2e: cannot derive SCRAM credentials\n");
    gsasl_free(prepped);
    return -1;
  }
  for (int h = 0; h < 2; h++) {
    char salted[GSASL_HASH_MAX_SIZE], ck[GSASL_HASH_MAX_SIZE];
    char sk[GSASL_HASH_MAX_SIZE], stored[GSASL_HASH_MAX_SIZE];
    char b_salt[64], b_stored[64], b_server[64];
    if (gsasl_scram_secrets_from_password(hashes[h], prepped, E2E_ITERATIONS, (const char *)salt,
                                          sizeof salt, salted, ck, sk, stored) != GSASL_OK) {
      fprintf(stderr, "xsr-bench e2e: cannot derive SCRAM credentials\n");
      gsasl_free(prepped);
      return -1;
    }
    xsr__b64_encode(salt, sizeof salt, b_salt);
    xsr__b64_encode(stored, key_len[h], b_stored);
    xsr__b64_encode(sk, key_len[h], b_server);
    snprintf(cred[h], sizeof cred[h],
             "\"%s\":{\"salt\":\"%s\",\"iterations\":%u,\"stored-key\":\"%s\",\"server-key\":"
             "\"%s\"}",
             keys[h], b_salt, E2E_ITERATIONS, b_stored, b_server);
  }
  gsasl_free(prepped);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "xsr-bench e2e: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  fprintf(f, "{\"version\":1,\"domain\":\"%s\",\"users\":{\n", domain);
  for (unsigned i = 1; i <= n; i++)
    fprintf(f, "\"%s%u\":{%s,%s}%s\n", prefix, i, cred[0], cred[1], i < n ? "," : "");
  fprintf(f, "}}\n");
  if (fclose(f) != 0) {
    fprintf(stderr, "xsr-bench e2e: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

/* ---- xsr-router ---------------------------------------------------------------- */

/* Starts xsr-router and fills srv; returns its PID, or -1 (log printed). */
static pid_t start_router(e2e_ctx *c, e2e_server *srv, const char *users_file) {
  char bin[PATH_MAX + 16], portfile[640], log[640], threads[16];
  snprintf(bin, sizeof bin, "%s/xsr-router", c->bin_dir);
  snprintf(portfile, sizeof portfile, "%s/port", c->dir);
  snprintf(log, sizeof log, "%s/xsr-router.log", c->dir);
  unsigned nthreads = xsr_bench_router_threads(c->env);
  if (nthreads == 0) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    nthreads = online > 0 ? (unsigned)online : 1;
  }
  snprintf(threads, sizeof threads, "%u", nthreads);
  char *argv[] = {bin,       "--listen",         "127.0.0.1:0", "--domain", srv->domain,
                  "--users", (char *)users_file, "--threads",   threads,    "--port-file",
                  portfile,  "--log-level",      "warn",        NULL};
  if (access(bin, X_OK) != 0) {
    fprintf(stderr, "xsr-bench e2e: no xsr-router beside xsr-bench (%s): build it\n", bin);
    return -1;
  }
  pid_t pid = spawn(argv, log);
  if (pid < 0) {
    fprintf(stderr, "xsr-bench e2e: fork: %s\n", strerror(errno));
    return -1;
  }
  uint64_t end = xsr_bench_now_ns() + 20000000000u;
  while (xsr_bench_now_ns() < end) {
    FILE *f = fopen(portfile, "r");
    if (f) {
      char line[128];
      int found = fgets(line, sizeof line, f) != NULL;
      fclose(f);
      if (found) {
        line[strcspn(line, "\r\n")] = '\0';
        snprintf(srv->addr, sizeof srv->addr, "%s", line);
        srv->pid = pid;
        return pid;
      }
    }
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      fprintf(stderr, "xsr-bench e2e: xsr-router exited at start-up (status %d)\n",
              WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
      dump_file("xsr-router", log);
      return -1;
    }
    sleep_ms(10);
  }
  fprintf(stderr, "xsr-bench e2e: xsr-router wrote no port file in 20 s\n");
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  dump_file("xsr-router", log);
  return -1;
}

static int stop_router(e2e_ctx *c, pid_t pid) {
  kill(pid, SIGTERM);
  int st = wait_bounded(pid, 10000);
  if (st != 0) {
    char log[640];
    snprintf(log, sizeof log, "%s/xsr-router.log", c->dir);
    fprintf(stderr, "xsr-bench e2e: xsr-router (pid %ld) %s %d\n", (long)pid,
            st < 0 ? "did not stop in 10 s: killed;" : "exited with status", st);
    dump_file("xsr-router", log);
    return -1;
  }
  return 0;
}

/* ---- xsr-load runs --------------------------------------------------------------- */

typedef enum { RUN_PING, RUN_CLOSED, RUN_OPEN, RUN_IDLE } run_kind;

typedef struct run_spec {
  run_kind kind;
  unsigned k, w;
  double rate; /* RUN_OPEN: msg/s over all clients */
  char scenario[64];
} run_spec;

static double jnum(yajl_val root, const char *a, const char *b) {
  const char *path[3] = {a, b, NULL};
  yajl_val v = yajl_tree_get(root, path, yajl_t_number);
  return v ? YAJL_GET_DOUBLE(v) : -1;
}

static int read_result(const char *path, e2e_result *r) {
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  char *buf = malloc(1 << 16);
  size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
  fclose(f);
  if (!buf)
    return -1;
  buf[n] = '\0';
  char msg[256];
  yajl_val root = yajl_tree_parse(buf, msg, sizeof msg);
  free(buf);
  if (!root) {
    fprintf(stderr, "xsr-bench e2e: %s: %s\n", path, msg);
    return -1;
  }
  r->sent = jnum(root, "sent", NULL);
  r->delivered = jnum(root, "delivered", NULL);
  r->lost = jnum(root, "lost", NULL);
  r->misrouted = jnum(root, "misrouted", NULL);
  r->duplicated = jnum(root, "duplicated", NULL);
  r->errors = jnum(root, "errors", NULL);
  r->bounces = jnum(root, "bounces", NULL);
  r->msgs_per_s = jnum(root, "msgs_per_s", NULL);
  r->p50 = jnum(root, "latency_us", "p50");
  r->p99 = jnum(root, "latency_us", "p99");
  r->p999 = jnum(root, "latency_us", "p999");
  double u = jnum(root, "cpu", "user_s"), s = jnum(root, "cpu", "sys_s");
  r->load_cpu_s = u >= 0 && s >= 0 ? u + s : -1;
  r->kib_per_conn = jnum(root, "idle", "kib_per_conn");
  const char *okp[] = {"ok", NULL};
  yajl_val ok = yajl_tree_get(root, okp, yajl_t_any);
  r->ok = ok && YAJL_IS_TRUE(ok);
  yajl_tree_free(root);
  if (r->sent < 0 || r->delivered < 0 || r->lost < 0 || r->misrouted < 0) {
    fprintf(stderr, "xsr-bench e2e: %s lacks sent, delivered, lost or misrouted\n", path);
    return -1;
  }
  return 0;
}

/* Seconds of each phase: measured, warm-up, drain. */
static void phases(const e2e_ctx *c, const run_spec *rs, unsigned *dur, unsigned *warm,
                   unsigned *drain) {
  *dur = c->quick ? 2 : rs->kind == RUN_IDLE ? 5 : 10;
  *warm = c->quick ? 1 : 2;
  *drain = c->quick ? 2 : 5;
  /* Everything still in flight when the measurement ends must arrive before
   * the drain does, or it counts as lost: K*W messages, at a rate that can
   * be as low as a few thousand per second for some servers.  xsr-load ends
   * the drain as soon as all have arrived, so a long one costs nothing. */
  if (rs->kind == RUN_CLOSED) {
    unsigned need = *drain + rs->k * rs->w / 1000;
    *drain = need < 120 ? need : 120;
  } else if (rs->kind == RUN_OPEN) {
    *drain += 10;
  }
}

/*
 * One xsr-load run against one server; records its figures.  Returns 0
 * when the run completed with nothing lost or misrouted, 1 when it
 * completed with losses (recorded), -1 when it did not complete.
 */
static int run_one(e2e_ctx *c, const e2e_server *srv, const run_spec *rs, e2e_result *res) {
  char json[640], log[640];
  char k[16], w[16], rate[32], d[16], wu[16], dr[16], th[16], pid[24];
  unsigned dur, warm, drain;
  phases(c, rs, &dur, &warm, &drain);
  c->runs++;
  snprintf(json, sizeof json, "%s/run%d.json", c->dir, c->runs);
  snprintf(log, sizeof log, "%s/run%d.log", c->dir, c->runs);
  snprintf(k, sizeof k, "%u", rs->k);
  snprintf(w, sizeof w, "%u", rs->w);
  snprintf(rate, sizeof rate, "%.0f", rs->rate);
  snprintf(d, sizeof d, "%u", dur);
  snprintf(wu, sizeof wu, "%u", warm);
  snprintf(dr, sizeof dr, "%u", drain);
  snprintf(th, sizeof th, "%u", c->load_threads);
  snprintf(pid, sizeof pid, "%ld", srv->pid);
  char *argv[40];
  int n = 0;
  argv[n++] = c->load;
  argv[n++] = "--server", argv[n++] = (char *)srv->addr;
  argv[n++] = "--domain", argv[n++] = (char *)srv->domain;
  argv[n++] = "--users", argv[n++] = (char *)srv->users;
  argv[n++] = "--password", argv[n++] = (char *)srv->password;
  argv[n++] = "--clients", argv[n++] = k;
  argv[n++] = "--duration", argv[n++] = d;
  if (rs->kind == RUN_IDLE) {
    /* Logins paced at 500/s: a burst of 10,000 connects overflows some
     * servers' accept queues, and xsr-load's login timeout grows by K/ramp
     * (a server with a salt per account costs the generator a PBKDF2 per
     * login: ejabberd's 10,000 take about a minute here). */
    argv[n++] = "--idle", argv[n++] = "--server-pid", argv[n++] = pid;
    argv[n++] = "--ramp", argv[n++] = "500";
  } else {
    argv[n++] = "--pattern", argv[n++] = rs->kind == RUN_PING ? "ping" : "ring";
    if (rs->kind == RUN_OPEN)
      argv[n++] = "--rate", argv[n++] = rate;
    else
      argv[n++] = "--in-flight", argv[n++] = w;
    argv[n++] = "--warmup", argv[n++] = wu;
    argv[n++] = "--drain", argv[n++] = dr;
  }
  if (c->load_threads)
    argv[n++] = "--threads", argv[n++] = th;
  argv[n++] = "--json", argv[n++] = json;
  argv[n++] = "--quiet";
  argv[n] = NULL;

  xsr_bench_progress(c->env, "e2e: %s %s", srv->name, rs->scenario);
  double cpu0 = proc_cpu_s(srv->pid);
  pid_t p = spawn(argv, log);
  if (p < 0) {
    fprintf(stderr, "xsr-bench e2e: fork: %s\n", strerror(errno));
    return -1;
  }
  /* Logins: allow 20 ms each on top of a fixed minute. */
  long budget_ms = (long)(dur + warm + drain) * 1000 + 60000 + (long)rs->k * 20;
  int st = wait_bounded(p, budget_ms);
  double cpu1 = proc_cpu_s(srv->pid);
  memset(res, 0, sizeof *res);
  if (st < 0 || (st != 0 && st != 1) || read_result(json, res) != 0) {
    fprintf(stderr, "xsr-bench e2e: %s %s: xsr-load %s %d\n", srv->name, rs->scenario,
            st < 0 ? "did not finish in time: killed;" : "exited with status", st);
    dump_file("xsr-load", log);
    return -1;
  }
  const char *sub = srv->name, *sc = rs->scenario;
  if (rs->kind == RUN_IDLE) {
    if (res->kib_per_conn >= 0)
      xsr_bench_record(c->env, "e2e", sub, sc, "KiB/conn", res->kib_per_conn, 0);
  } else {
    if (rs->kind != RUN_PING)
      xsr_bench_record(c->env, "e2e", sub, sc, "msg/s", res->msgs_per_s, 0);
    if (rs->kind == RUN_OPEN)
      xsr_bench_record(c->env, "e2e", sub, sc, "offered msg/s", rs->rate, 0);
    xsr_bench_record(c->env, "e2e", sub, sc, "p50 ms", res->p50 / 1000, 0);
    xsr_bench_record(c->env, "e2e", sub, sc, "p99 ms", res->p99 / 1000, 0);
    xsr_bench_record(c->env, "e2e", sub, sc, "p99.9 ms", res->p999 / 1000, 0);
    xsr_bench_record(c->env, "e2e", sub, sc, "lost", res->lost, 0);
    xsr_bench_record(c->env, "e2e", sub, sc, "misrouted", res->misrouted, 0);
  }
  if (cpu0 >= 0 && cpu1 >= cpu0) {
    xsr_bench_record(c->env, "e2e", sub, sc, "server CPU s", cpu1 - cpu0, 0);
    if (rs->kind != RUN_IDLE && res->delivered > 0)
      xsr_bench_record(c->env, "e2e", sub, sc, "server us/msg",
                       (cpu1 - cpu0) * 1e6 / res->delivered, 0);
  }
  if (res->load_cpu_s >= 0)
    xsr_bench_record(c->env, "e2e", sub, sc, "load CPU s", res->load_cpu_s, 0);
  if (st == 1 || res->lost > 0 || res->misrouted > 0 || !res->ok) {
    fprintf(stderr,
            "xsr-bench e2e: %s %s: sent %.0f, delivered %.0f, lost %.0f, misrouted %.0f, "
            "duplicated %.0f, errors %.0f, bounces %.0f\n",
            srv->name, rs->scenario, res->sent, res->delivered, res->lost, res->misrouted,
            res->duplicated, res->errors, res->bounces);
    return 1;
  }
  return 0;
}

/* ---- the matrix --------------------------------------------------------------------- */

/* Removes the suite's temporary directory and the plain files in it. */
static void rmdir_all(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  char path[1024];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
  if (rmdir(dir) != 0)
    fprintf(stderr, "xsr-bench e2e: could not remove %s: %s\n", dir, strerror(errno));
}

static void record_ratios(e2e_ctx *c, const e2e_server *srv, size_t nsrv, const run_spec *specs,
                          size_t nspecs, e2e_result (*res)[E2E_MAX_PEERS + 1],
                          int (*done)[E2E_MAX_PEERS + 1]) {
  for (size_t s = 1; s < nsrv; s++) {
    char sub[160];
    for (size_t i = 0; i < nspecs; i++) {
      if (!done[i][0] || !done[i][s])
        continue;
      const e2e_result *x = &res[i][0], *p = &res[i][s];
      if (specs[i].kind == RUN_CLOSED && p->msgs_per_s > 0) {
        snprintf(sub, sizeof sub, "xsr-router/%s", srv[s].name);
        xsr_bench_record(c->env, "e2e", sub, specs[i].scenario, "msg/s ratio",
                         x->msgs_per_s / p->msgs_per_s, 0);
      }
      if (specs[i].kind != RUN_IDLE && x->p99 > 0 && p->p99 > 0) {
        snprintf(sub, sizeof sub, "%s/xsr-router", srv[s].name);
        xsr_bench_record(c->env, "e2e", sub, specs[i].scenario, "p99 ratio", p->p99 / x->p99, 0);
      }
      if (specs[i].kind == RUN_IDLE && x->kib_per_conn > 0 && p->kib_per_conn > 0) {
        snprintf(sub, sizeof sub, "%s/xsr-router", srv[s].name);
        xsr_bench_record(c->env, "e2e", sub, specs[i].scenario, "KiB/conn ratio",
                         p->kib_per_conn / x->kib_per_conn, 0);
      }
    }
  }
}

int xsr_bench_suite_e2e(xsr_bench_env *env) {
  static const unsigned full_k[] = {2, 50, 200, 1000}, quick_k[] = {2, 50};
  static const unsigned ws[] = {1, 64};
  e2e_ctx c = {.env = env, .quick = xsr_bench_quick(env)};
  c.load_threads = xsr_bench_load_threads(env);
  const unsigned *ks = c.quick ? quick_k : full_k;
  size_t nk = c.quick ? 2 : 4;
  unsigned open_k = c.quick ? 50 : 200, idle_k = c.quick ? 200 : 10000;
  /* The server and xsr-load each hold a socket per client and raise their
   * open-files limit to the hard limit: an idle run that cannot fit under
   * it is made smaller rather than failed (the closed-loop runs need at
   * most 1,000 clients). */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
      rl.rlim_max < (rlim_t)idle_k + 256) {
    unsigned fit = rl.rlim_max > 256 + 1000 ? (unsigned)(rl.rlim_max - 256) : 1000;
    if (fit < idle_k) {
      fprintf(stderr,
              "xsr-bench e2e: the open-files hard limit is %llu: the idle run has %u clients, "
              "not %u\n",
              (unsigned long long)rl.rlim_max, fit, idle_k);
      idle_k = fit;
    }
  }

  /* Servers: xsr-router first, then the peers in command-line order. */
  e2e_server srv[E2E_MAX_PEERS + 1];
  size_t nsrv = 1;
  memset(&srv[0], 0, sizeof srv[0]);
  snprintf(srv[0].name, sizeof srv[0].name, "xsr-router");
  snprintf(srv[0].domain, sizeof srv[0].domain, "%s", E2E_DOMAIN);
  snprintf(srv[0].users, sizeof srv[0].users, "%s", E2E_USERS);
  snprintf(srv[0].password, sizeof srv[0].password, "%s", E2E_PASSWORD);
  for (size_t i = 0; i < xsr_bench_peer_count(env); i++) {
    char err[256];
    if (nsrv > E2E_MAX_PEERS) {
      fprintf(stderr, "xsr-bench e2e: at most %d peers\n", E2E_MAX_PEERS);
      return 1;
    }
    if (peer_parse(xsr_bench_peer(env, i), &srv[nsrv], err, sizeof err) != 0) {
      fprintf(stderr, "xsr-bench e2e: %s\n", err);
      return 1;
    }
    for (size_t j = 1; j < nsrv; j++)
      if (strcmp(srv[j].name, srv[nsrv].name) == 0) {
        fprintf(stderr, "xsr-bench e2e: two peers named %s\n", srv[j].name);
        return 1;
      }
    nsrv++;
  }

  /* The binaries beside xsr-bench. */
  ssize_t len = readlink("/proc/self/exe", c.bin_dir, sizeof c.bin_dir - 1);
  if (len <= 0) {
    fprintf(stderr, "xsr-bench e2e: cannot find my own directory: %s\n", strerror(errno));
    return 1;
  }
  c.bin_dir[len] = '\0';
  *strrchr(c.bin_dir, '/') = '\0';
  snprintf(c.load, sizeof c.load, "%s/xsr-load", c.bin_dir);
  if (access(c.load, X_OK) != 0) {
    fprintf(stderr, "xsr-bench e2e: no xsr-load beside xsr-bench (%s): build it\n", c.load);
    return 1;
  }

  /* The matrix.  Idle first: on a fresh server, RSS growth is the
   * connections' (later, memory freed by earlier runs would be reused). */
  run_spec specs[16];
  size_t nspecs = 0;
  specs[nspecs] = (run_spec){RUN_IDLE, idle_k, 0, 0, ""};
  snprintf(specs[nspecs++].scenario, sizeof specs[0].scenario, "K=%u idle", idle_k);
  for (size_t i = 0; i < nk; i++)
    for (size_t j = 0; j < 2; j++) {
      run_spec *r = &specs[nspecs++];
      *r = (run_spec){RUN_CLOSED, ks[i], ws[j], 0, ""};
      snprintf(r->scenario, sizeof r->scenario, "K=%u W=%u", ks[i], ws[j]);
    }
  specs[nspecs++] = (run_spec){RUN_PING, 2, 1, 0, "K=2 ping"};
  size_t open_at = nspecs;
  specs[nspecs] = (run_spec){RUN_OPEN, open_k, 0, 0, ""};
  snprintf(specs[nspecs++].scenario, sizeof specs[0].scenario, "K=%u open 50%%", open_k);
  /* The same fixed rates for every server (the full run only): where each
   * one keeps its latency, whatever its closed-loop maximum. */
  static const double fixed_rates[] = {5000, 20000, 100000};
  for (size_t i = 0; !c.quick && i < sizeof fixed_rates / sizeof fixed_rates[0]; i++) {
    run_spec *r = &specs[nspecs++];
    *r = (run_spec){RUN_OPEN, open_k, 0, fixed_rates[i], ""};
    snprintf(r->scenario, sizeof r->scenario, "K=%u open %.0fk/s", open_k, fixed_rates[i] / 1000);
  }

  const char *base = getenv("TMPDIR");
  int dl = snprintf(c.dir, sizeof c.dir, "%s/xsr-bench-e2e-XXXXXX", base && *base ? base : "/tmp");
  if (dl < 0 || (size_t)dl >= sizeof c.dir) {
    fprintf(stderr, "xsr-bench e2e: TMPDIR is too long\n");
    return 1;
  }
  if (!mkdtemp(c.dir)) {
    fprintf(stderr, "xsr-bench e2e: mkdtemp %s: %s\n", c.dir, strerror(errno));
    return 1;
  }
  char users_file[640];
  snprintf(users_file, sizeof users_file, "%s/users.json", c.dir);
  xsr_bench_progress(env, "e2e: writing %u accounts", idle_k);
  uint64_t t0 = xsr_bench_now_ns();
  if (write_users(users_file, srv[0].domain, srv[0].users, srv[0].password, idle_k) != 0) {
    rmdir_all(c.dir);
    return 1;
  }
  xsr_bench_record(env, "e2e", "xsr-router", "users file", "accounts", idle_k, 0);
  xsr_bench_record(env, "e2e", "xsr-router", "users file", "write ms",
                   (double)(xsr_bench_now_ns() - t0) / 1e6, 0);
  pid_t router = start_router(&c, &srv[0], users_file);
  if (router < 0) {
    rmdir_all(c.dir);
    return 1;
  }

  static e2e_result res[16][E2E_MAX_PEERS + 1];
  static int done[16][E2E_MAX_PEERS + 1];
  memset(done, 0, sizeof done);
  int failed = 0;
  for (size_t i = 0; i < nspecs; i++) {
    for (size_t s = 0; s < nsrv; s++) {
      run_spec rs = specs[i];
      if (rs.kind == RUN_IDLE && srv[s].pid <= 0)
        continue;
      if (rs.kind == RUN_OPEN) {
        /* This server's own closed-loop rate at the same K, W=64. */
        double max = 0;
        for (size_t j = 0; j < open_at; j++)
          if (specs[j].kind == RUN_CLOSED && specs[j].k == rs.k && specs[j].w == 64 && done[j][s])
            max = res[j][s].msgs_per_s;
        if (rs.rate > 0) {
          /* A fixed rate beyond what the server delivers at all only
           * measures how long its backlog grows: skipped (it would also
           * leave messages undelivered after the drain). */
          if (rs.rate > 0.9 * max) {
            fprintf(
                stderr,
                "xsr-bench e2e: %s: %s skipped: over 90%% of its closed-loop rate (%.0f msg/s)\n",
                srv[s].name, rs.scenario, max);
            continue;
          }
        } else if (max < 2) {
          fprintf(stderr, "xsr-bench e2e: %s: no closed-loop rate at K=%u to halve; no open run\n",
                  srv[s].name, rs.k);
          failed = 1;
          continue;
        } else {
          rs.rate = max / 2; /* half of it */
        }
      }
      int rc = run_one(&c, &srv[s], &rs, &res[i][s]);
      if (rc < 0)
        failed = 1;
      else
        done[i][s] = 1;
      if (rc > 0) {
        failed = 1;
        c.failed_runs++;
      }
      if (s == 0 && (kill(router, 0) != 0 || waitpid(router, NULL, WNOHANG) == router)) {
        fprintf(stderr, "xsr-bench e2e: xsr-router died during %s\n", rs.scenario);
        char log[640];
        snprintf(log, sizeof log, "%s/xsr-router.log", c.dir);
        dump_file("xsr-router", log);
        router = -1;
        i = nspecs; /* nothing more can run against it */
        failed = 1;
        break;
      }
    }
  }
  record_ratios(&c, srv, nsrv, specs, nspecs, res, done);
  if (router > 0 && stop_router(&c, router) != 0)
    failed = 1;
  if (c.failed_runs)
    fprintf(stderr, "xsr-bench e2e: %d run(s) lost or misrouted messages\n", c.failed_runs);
  rmdir_all(c.dir);
  return failed;
}
