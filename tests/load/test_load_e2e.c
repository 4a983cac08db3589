/* SPDX-License-Identifier: MIT */
/*
 * tests/load/test_load_e2e.c: xsr-load end to end against the real
 * xsr-router, and its command-line contract.
 *
 *   test_load_e2e XSR_LOAD XSR_ROUTER MAKE_USERS_SH [TEST ...]
 *
 * A plain program, not Criterion, so that it runs under TSan too (as
 * tests/server/test_router_e2e.c).  It writes a users file with
 * tools/load/make-users.sh, starts xsr-router on 127.0.0.1 port 0
 * (--port-file, tests/server/daemon.c), runs xsr-load with short durations
 * and checks its exit status and its --json: every pattern in the closed
 * and the open loop delivers everything it sends (sent == delivered > 0,
 * nothing misrouted or duplicated); a wrong password is exit 3 with the
 * SASL condition; a daemon killed mid-run is reported as loss (exit 1, or
 * 3) without hanging; idle mode reads the daemon's RSS.  Every run is
 * bounded (td_run kills a child after 30 s) and each daemon is stopped by
 * PID, expecting exit 0.  XSR_LOAD_E2E_SCALE (default 1) multiplies the
 * durations (the sanitizer builds set it).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "daemon.h"

static const char *load_bin, *router_bin, *make_users;
static char dir[512], users[600];
static td_daemon d;
static double scale = 1.0;

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

static char *read_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  size_t cap = 4096, len = 0;
  char *b = malloc(cap);
  size_t n;
  while (b && (n = fread(b + len, 1, cap - len - 1, f)) > 0) {
    len += n;
    if (cap - len < 2) {
      char *nb = realloc(b, cap *= 2);
      if (!nb) {
        free(b);
        b = NULL;
      }
      b = nb;
    }
  }
  fclose(f);
  if (b)
    b[len] = 0;
  return b;
}

static void dump(const char *path) {
  char *s = read_file(path);
  fprintf(stderr, "---- %s ----\n%s\n----\n", path, s ? s : "(unreadable)");
  free(s);
}

/* A number of the JSON document at path (e.g. "latency_us", "p99"); -1 if absent. */
static double jnum(yajl_val doc, const char *a, const char *b) {
  const char *path[3] = {a, b, NULL};
  yajl_val v = yajl_tree_get(doc, path, yajl_t_number);
  return v ? YAJL_GET_DOUBLE(v) : -1;
}

static int jtrue(yajl_val doc, const char *key) {
  const char *path[2] = {key, NULL};
  return YAJL_IS_TRUE(yajl_tree_get(doc, path, yajl_t_true));
}

static yajl_val load_json(const char *path) {
  char *s = read_file(path);
  char err[256];
  yajl_val v = s ? yajl_tree_parse(s, err, sizeof err) : NULL;
  if (s && !v)
    fprintf(stderr, "%s: %s\n", path, err);
  free(s);
  return v;
}

/* Runs xsr-load against the daemon with extra args (NULL-terminated) and
 * --json DIR/out.json; returns its exit status; *doc gets the JSON. */
static int run_load(const char *const *extra, yajl_val *doc, const char *out) {
  char server[64], json[600];
  snprintf(server, sizeof server, "127.0.0.1:%u", d.port);
  snprintf(json, sizeof json, "%s/out.json", dir);
  unlink(json);
  const char *args[64] = {"--server", server, "--domain", "localhost", "--json", json, "--quiet"};
  size_t n = 7;
  for (size_t i = 0; extra[i] && n < 63; i++)
    args[n++] = extra[i];
  args[n] = NULL;
  int st = td_run(load_bin, args, NULL, out);
  *doc = load_json(json);
  return st;
}

static const char *dur(double s, char *buf) {
  snprintf(buf, 32, "%g", s * scale);
  return buf;
}

/* One pattern, closed or open loop: everything sent is delivered. */
static int run_ok(const char *pattern, const char *k, const char *threads, const char *loadopt,
                  const char *loadval) {
  int rc = 0;
  char out[600], d1[32], d2[32];
  snprintf(out, sizeof out, "%s/load.log", dir);
  const char *extra[] = {
      "--clients", k,       "--threads",  threads,      "--pattern", pattern,
      loadopt,     loadval, "--duration", dur(0.5, d1), "--warmup",  dur(0.2, d2),
      "--drain",   "10",    NULL};
  yajl_val doc = NULL;
  int st = run_load(extra, &doc, out);
  CHECK(st == 0, "%s K=%s threads %s %s %s: exit %d", pattern, k, threads, loadopt, loadval, st);
  CHECK(doc, "no JSON");
  double sent = jnum(doc, "sent", NULL), delivered = jnum(doc, "delivered", NULL);
  CHECK(sent > 0 && sent == delivered, "sent %g delivered %g", sent, delivered);
  CHECK(jnum(doc, "misrouted", NULL) == 0, "misrouted %g", jnum(doc, "misrouted", NULL));
  CHECK(jnum(doc, "duplicated", NULL) == 0, "duplicated");
  CHECK(jnum(doc, "lost", NULL) == 0, "lost");
  CHECK(jnum(doc, "login", "ok") == atof(k), "login ok %g", jnum(doc, "login", "ok"));
  CHECK(jnum(doc, "clients_sent", NULL) == atof(k) &&
            jnum(doc, "clients_received", NULL) == atof(k),
        "clients sent %g received %g", jnum(doc, "clients_sent", NULL),
        jnum(doc, "clients_received", NULL));
  CHECK(jnum(doc, "latency_us", "p50") > 0, "p50 %g", jnum(doc, "latency_us", "p50"));
  CHECK(jnum(doc, "latency_us", "max") >= jnum(doc, "latency_us", "p99"), "max < p99");
  CHECK(jnum(doc, "msgs_per_s", NULL) > 0, "msgs_per_s");
  CHECK(jtrue(doc, "ok"), "ok is not true");
  printf("ok %s K=%s threads=%s %s %s: %g delivered\n", pattern, k, threads, loadopt, loadval,
         delivered);
out:
  if (rc)
    dump(out);
  yajl_tree_free(doc);
  return rc;
}

static int t_patterns(void) {
  static const char *const pats[] = {"ring", "bare", "presence", "ping"};
  for (size_t i = 0; i < 4; i++) {
    if (run_ok(pats[i], "20", "1", "--in-flight", "4") ||
        run_ok(pats[i], "20", "2", "--rate", "400"))
      return -1;
  }
  return run_ok("ring", "50", "2", "--in-flight", "16");
}

static int t_bad_password(void) {
  int rc = 0;
  char out[600];
  snprintf(out, sizeof out, "%s/load.log", dir);
  const char *extra[] = {"--clients", "2", "--duration", "1", "--password", "wrong", NULL};
  yajl_val doc = NULL;
  int st = run_load(extra, &doc, out);
  CHECK(st == 3, "exit %d", st);
  CHECK(td_file_has(out, "not-authorized"), "no SASL condition in the output");
  CHECK(doc && jnum(doc, "login", "failed") == 2 && !jtrue(doc, "ok"), "json");
  {
    const char *path[] = {"error", NULL};
    yajl_val e = yajl_tree_get(doc, path, yajl_t_string);
    const char *es = e ? YAJL_GET_STRING(e) : NULL;
    CHECK(es && strstr(es, "not-authorized"), "the JSON's error: %s", es ? es : "(none)");
  }
out:
  if (rc)
    dump(out);
  yajl_tree_free(doc);
  return rc;
}

static int t_forced_mech(void) {
  int rc = 0;
  char out[600];
  snprintf(out, sizeof out, "%s/load.log", dir);
  static const char *const mechs[] = {"PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"};
  for (size_t i = 0; i < 3; i++) {
    const char *extra[] = {"--clients", "3",      "--duration", "0.2", "--warmup",
                           "0",         "--mech", mechs[i],     NULL};
    yajl_val doc = NULL;
    int st = run_load(extra, &doc, out);
    const char *path[] = {"mechanism", NULL};
    yajl_val m = doc ? yajl_tree_get(doc, path, yajl_t_string) : NULL;
    const char *ms = m ? YAJL_GET_STRING(m) : NULL;
    int same = ms && strcmp(ms, mechs[i]) == 0;
    yajl_tree_free(doc);
    CHECK(st == 0 && same, "%s: exit %d, mechanism reported %s", mechs[i], st,
          same ? "as asked" : "otherwise");
  }
out:
  if (rc)
    dump(out);
  return rc;
}

static int t_idle(void) {
  int rc = 0;
  char out[600], pid[32];
  snprintf(out, sizeof out, "%s/load.log", dir);
  snprintf(pid, sizeof pid, "%ld", (long)d.pid);
  const char *extra[] = {"--clients", "20",           "--duration", "1.2",
                         "--idle",    "--server-pid", pid,          NULL};
  yajl_val doc = NULL;
  int st = run_load(extra, &doc, out);
  CHECK(st == 0, "exit %d", st);
  CHECK(doc && jnum(doc, "idle", "rss_before_kib") > 0 && jnum(doc, "idle", "rss_after_kib") > 0,
        "no RSS readings");
  CHECK(jnum(doc, "login", "ok") == 20, "login");
out:
  if (rc)
    dump(out);
  yajl_tree_free(doc);
  return rc;
}

/* A daemon killed mid-run: xsr-load reports loss and ends (exit 1 or 3). */
static int t_killed(void) {
  int rc = 0;
  td_daemon k;
  const char *dargs[] = {"--users", users, "--listen", "127.0.0.1:0", "--threads", "1", NULL};
  if (td_start(&k, router_bin, dir, dargs))
    return -1;
  char server[64], json[600], out[600];
  snprintf(server, sizeof server, "127.0.0.1:%u", k.port);
  snprintf(json, sizeof json, "%s/killed.json", dir);
  snprintf(out, sizeof out, "%s/killed.log", dir);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execl(load_bin, load_bin, "--server", server, "--domain", "localhost", "--clients", "10",
          "--duration", "4", "--warmup", "0", "--drain", "1", "--in-flight", "8", "--json", json,
          "--quiet", (char *)NULL);
    _exit(127);
  }
  CHECK(pid > 0, "fork");
  {
    /* Kill the daemon once messages flow (or after 10 s). */
    long long until = td_now_ms() + 1000;
    while (td_now_ms() < until)
      usleep(20000);
    td_stop(&k, SIGKILL, 5000);
    long long end = td_now_ms() + 20000;
    int st = -1, ws;
    while (td_now_ms() < end) {
      pid_t r = waitpid(pid, &ws, WNOHANG);
      if (r == pid) {
        st = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        break;
      }
      usleep(20000);
    }
    if (st < 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
    }
    CHECK(st == 1 || st == 3, "exit %d (want 1 or 3; -1: it hung)", st);
    yajl_val doc = load_json(json);
    int lost = doc && jnum(doc, "sent", NULL) > jnum(doc, "delivered", NULL) &&
               jnum(doc, "lost", NULL) > 0 && !jtrue(doc, "ok");
    int errs = doc && jnum(doc, "errors", NULL) > 0;
    yajl_tree_free(doc);
    CHECK(st == 3 || (lost && errs), "loss and errors not reported");
    CHECK(td_file_has(out, "run failed") || st == 3, "no failure message");
  }
out:
  if (rc)
    dump(out);
  if (td_running(&k))
    td_stop(&k, SIGKILL, 5000);
  return rc;
}

/* Usage errors: exit 2 and a message naming the option. */
static int t_usage(void) {
  int rc = 0;
  char out[600];
  snprintf(out, sizeof out, "%s/usage.log", dir);
  struct {
    const char *args[16];
    const char *want;
  } cases[] = {
      {{"--domain", "x", "--clients", "1", "--duration", "1", NULL}, "--server"},
      {{"--server", "127.0.0.1", "--domain", "x", "--clients", "1", "--duration", "1", NULL},
       "--server"},
      {{"--server", "127.0.0.1:1", "--clients", "1", "--duration", "1", NULL}, "--domain"},
      {{"--server", "127.0.0.1:1", "--domain", "x", "--duration", "1", NULL}, "--clients"},
      {{"--server", "127.0.0.1:1", "--domain", "x", "--clients", "0", "--duration", "1", NULL},
       "--clients"},
      {{"--server", "127.0.0.1:1", "--domain", "x", "--clients", "1", NULL}, "--duration"},
      {{"--server", "127.0.0.1:1", "--domain", "x", "--clients", "1", "--duration", "1",
        "--pattern", "star", NULL},
       "--pattern"},
      {{"--server", "127.0.0.1:1", "--domain", "x", "--clients", "1", "--duration", "1", "--rate",
        "5", "--in-flight", "2", NULL},
       "--in-flight"},
      {{"--server", "127.0.0.1:1", "--domain", "x", "--clients", "1", "--duration", "1", "--mech",
        "MD5", NULL},
       "--mech"},
      {{"--server", "127.0.0.1:1", "--domain", "x'y", "--clients", "1", "--duration", "1", NULL},
       "--domain"},
      {{"--server", "127.0.0.1:1", "--domain", "x", "--clients", "1", "--duration", "1",
        "--frobnicate", NULL},
       "--frobnicate"},
      {{"--server", "127.0.0.1:1", "--domain", "x", "--clients", "1", "--duration", "1",
        "--server-pid", "12", NULL},
       "--idle"},
      {{"--server", "127.0.0.1:1", "--domain", "x", "--clients", "1", "--duration", "abc", NULL},
       "--duration"},
      {{"--server", "127.0.0.1:1", "--domain", "x", "--clients", "1", "--duration", "1",
        "--login-timeout", "-1", NULL},
       "--login-timeout"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int st = td_run(load_bin, cases[i].args, NULL, out);
    CHECK(st == 2, "case %zu: exit %d", i, st);
    CHECK(td_file_has(out, cases[i].want), "case %zu: no mention of %s", i, cases[i].want);
  }
  {
    const char *args[] = {"--help", NULL};
    CHECK(td_run(load_bin, args, NULL, out) == 0 && td_file_has(out, "--in-flight"), "--help");
  }
  {
    /* Nothing listens there: exit 3, naming the server. */
    const char *args[] = {"--server", "127.0.0.1:1", "--domain", "x", "--clients",
                          "1",        "--duration",  "1",        NULL};
    int st = td_run(load_bin, args, NULL, out);
    CHECK(st == 3 && td_file_has(out, "127.0.0.1:1"), "unreachable server: exit %d", st);
  }
out:
  if (rc)
    dump(out);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: test_load_e2e XSR_LOAD XSR_ROUTER MAKE_USERS_SH [TEST ...]\n");
    return 2;
  }
  load_bin = argv[1];
  router_bin = argv[2];
  make_users = argv[3];
  const char *sc = getenv("XSR_LOAD_E2E_SCALE");
  if (sc && atof(sc) > 0)
    scale = atof(sc);
  signal(SIGPIPE, SIG_IGN);
  if (td_tmpdir(dir, sizeof dir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(users, sizeof users, "%s/users.json", dir);
  char log[600];
  snprintf(log, sizeof log, "%s/make-users.log", dir);
  const char *margs[] = {make_users, router_bin, users, "localhost", "50", NULL};
  if (td_run("/bin/sh", margs, NULL, log) != 0) {
    dump(log);
    td_rmdir(dir);
    return 1;
  }
  /* No failure delay: the bad-password test needs no second of waiting. */
  char cfg[600];
  snprintf(cfg, sizeof cfg, "%s/router.json", dir);
  FILE *f = fopen(cfg, "w");
  if (!f || fprintf(f, "{\"auth_failure_delay_ms\": 0}\n") < 0 || fclose(f)) {
    td_rmdir(dir);
    return 1;
  }
  const char *dargs[] = {"--config",    cfg,         "--users", users, "--listen",
                         "127.0.0.1:0", "--threads", "2",       NULL};
  if (td_start(&d, router_bin, dir, dargs)) {
    td_rmdir(dir);
    return 1;
  }
  struct {
    const char *name;
    int (*fn)(void);
  } tests[] = {{"usage", t_usage},
               {"patterns", t_patterns},
               {"bad_password", t_bad_password},
               {"forced_mech", t_forced_mech},
               {"idle", t_idle},
               {"killed", t_killed}};
  int failed = 0;
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    int want = argc == 4;
    for (int a = 4; a < argc; a++)
      if (strcmp(argv[a], tests[i].name) == 0)
        want = 1;
    if (!want)
      continue;
    long long t0 = td_now_ms();
    int r = tests[i].fn();
    printf("%s %s (%.1f s)\n", r ? "FAIL" : "PASS", tests[i].name,
           (double)(td_now_ms() - t0) / 1000.0);
    fflush(stdout);
    if (r)
      failed++;
  }
  int st = td_stop(&d, SIGTERM, 10000);
  if (st != 0) {
    fprintf(stderr, "xsr-router exited %d\n", st);
    td_dump_log(&d);
    failed++;
  }
  if (!failed)
    td_rmdir(dir);
  else
    fprintf(stderr, "files kept in %s\n", dir);
  return failed ? 1 : 0;
}
