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
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

/* ---- a misbehaving server -------------------------------------------------- */

/* A child process that logs one xsr-load client in (PLAIN, bind
 * load1@localhost/r1) and then misbehaves: FAKE_STOP_READING never reads
 * again; FAKE_DOUBLE_BOUNCE answers each message with its error bounce,
 * twice in one write; FAKE_PING_QUOTE pings the client with an id in double
 * quotes that holds an apostrophe and exits 0 when the answer carries it
 * well-formed, else 2.  Every wait is bounded (10 s of silence ends it). */
enum { FAKE_STOP_READING, FAKE_DOUBLE_BOUNCE, FAKE_PING_QUOTE };

typedef struct fake_conn {
  int fd;
  size_t len;
  char buf[1 << 16];
} fake_conn;

/* Reads until `tok` (or `alt`, when not NULL) is in the buffer; returns the
 * offset just past the first found (*which: 0 tok, 1 alt), or -1. */
static long fake_until(fake_conn *f, const char *tok, const char *alt, int *which) {
  for (;;) {
    char *p = memmem(f->buf, f->len, tok, strlen(tok));
    char *q = alt ? memmem(f->buf, f->len, alt, strlen(alt)) : NULL;
    if (p && (!q || p < q)) {
      *which = 0;
      return (long)(p - f->buf) + (long)strlen(tok);
    }
    if (q) {
      *which = 1;
      return (long)(q - f->buf) + (long)strlen(alt);
    }
    if (f->len == sizeof f->buf)
      return -1;
    struct pollfd pfd = {f->fd, POLLIN, 0};
    if (poll(&pfd, 1, 10000) <= 0)
      return -1;
    ssize_t n = read(f->fd, f->buf + f->len, sizeof f->buf - f->len);
    if (n <= 0)
      return -1;
    f->len += (size_t)n;
  }
}

static void fake_consume(fake_conn *f, size_t n) {
  memmove(f->buf, f->buf + n, f->len - n);
  f->len -= n;
}

static int fake_send(int fd, const char *s) {
  size_t n = strlen(s);
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w <= 0)
      return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

static int fake_step(fake_conn *f, const char *tok, const char *answer) {
  int which;
  long k = fake_until(f, tok, NULL, &which);
  if (k < 0)
    return -1;
  fake_consume(f, (size_t)k);
  return answer ? fake_send(f->fd, answer) : 0;
}

static void fake_serve(int lfd, int mode) {
  static fake_conn f;
  struct pollfd pfd = {lfd, POLLIN, 0};
  if (poll(&pfd, 1, 20000) <= 0)
    _exit(1);
  f.fd = accept(lfd, NULL, NULL);
  close(lfd);
  if (f.fd < 0)
    _exit(1);
#define FAKE_HDR                                                                                   \
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "                                     \
  "xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='fake' version='1.0'>"
  if (fake_step(&f, "version='1.0'>",
                FAKE_HDR "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                         "<mechanism>PLAIN</mechanism></mechanisms></stream:features>") ||
      fake_step(&f, "</auth>", "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>") ||
      fake_step(&f, "version='1.0'>",
                FAKE_HDR "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
                         "</stream:features>") ||
      fake_step(&f, "</iq>",
                "<iq type='result' id='xb'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                "<jid>load1@localhost/r1</jid></bind></iq>") ||
      fake_step(&f, "<presence/>", NULL))
    _exit(1);
  if (mode == FAKE_STOP_READING) {
    sleep(60); /* the test kills it */
    _exit(0);
  }
  if (mode == FAKE_PING_QUOTE) {
    int which;
    if (fake_send(f.fd, "<iq type='get' id=\"p'1\" from='localhost' to='load1@localhost/r1'>"
                        "<ping xmlns='urn:xmpp:ping'/></iq>"))
      _exit(1);
    long k = fake_until(&f, "/>", NULL, &which);
    if (k < 0)
      _exit(1);
    static const char want[] = "<iq type='result' id=\"p'1\" to='localhost'/>";
    int good = memmem(f.buf, (size_t)k, want, sizeof want - 1) != NULL;
    if (!good)
      fprintf(stderr, "fake server: the ping's answer: %.*s\n", (int)k, f.buf);
    fake_consume(&f, (size_t)k);
    if (fake_until(&f, "</stream:stream>", NULL, &which) >= 0)
      fake_send(f.fd, "</stream:stream>");
    _exit(good ? 0 : 2);
  }
  for (;;) {
    int which;
    long k = fake_until(&f, "</message>", "</stream:stream>", &which);
    if (k < 0)
      _exit(1);
    if (which == 1) {
      fake_send(f.fd, "</stream:stream>");
      _exit(0);
    }
    char id[128] = "", out[1024];
    char *p = memmem(f.buf, (size_t)k, " id='", 5);
    if (p) {
      p += 5;
      size_t n = 0;
      while (p + n < f.buf + k && p[n] != '\'' && n + 1 < sizeof id)
        n++;
      memcpy(id, p, n);
      id[n] = 0;
    }
    fake_consume(&f, (size_t)k);
#define FAKE_BOUNCE                                                                                \
  "<message type='error' from='load1@localhost/r1' to='load1@localhost/r1' id='%s'><error "        \
  "type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"       \
  "</message>"
    snprintf(out, sizeof out, FAKE_BOUNCE FAKE_BOUNCE, id, id);
    if (fake_send(f.fd, out))
      _exit(1);
  }
}

/* Starts the fake server; *port gets its port.  Returns its PID or -1. */
static pid_t fake_start(int mode, unsigned *port) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 4) ||
      getsockname(lfd, (struct sockaddr *)&a, &al)) {
    if (lfd >= 0)
      close(lfd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  pid_t pid = fork();
  if (pid == 0)
    fake_serve(lfd, mode);
  close(lfd);
  return pid;
}

/* Runs xsr-load (args NULL-terminated, without the program name) with its
 * output in `out`, 30 s at most (then killed: -1); *maxrss_kib gets its
 * peak RSS. */
static int run_measured(const char *const *args, const char *out, long *maxrss_kib) {
  const char *argv[64] = {load_bin};
  size_t n = 1;
  for (size_t i = 0; args[i] && n < 63; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execv(load_bin, (char *const *)argv);
    _exit(127);
  }
  if (pid < 0)
    return -1;
  long long end = td_now_ms() + 30000;
  int ws;
  struct rusage ru;
  while (td_now_ms() < end) {
    pid_t r = wait4(pid, &ws, WNOHANG, &ru);
    if (r == pid) {
      *maxrss_kib = ru.ru_maxrss;
      return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    }
    usleep(20000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

static void fake_stop(pid_t pid) {
  if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
}

/* Open loop against a server that stops reading once logged in: the
 * connection fails with the reason and a bounded backlog (32 MiB), where
 * xsr-load used to queue the whole schedule (memory without bound).  The
 * run ends when its only client fails: the duration is only the most a
 * slow (sanitizer) build may need to fill the backlog. */
static int t_stalled_server(void) {
  int rc = 0;
  unsigned port;
  char server[64], json[600], out[600];
  long rss = 0;
  yajl_val doc = NULL;
  pid_t fp = fake_start(FAKE_STOP_READING, &port);
  CHECK(fp > 0, "fake server");
  snprintf(server, sizeof server, "127.0.0.1:%u", port);
  snprintf(json, sizeof json, "%s/stalled.json", dir);
  snprintf(out, sizeof out, "%s/stalled.log", dir);
  const char *args[] = {"--server", server,    "--domain",   "localhost", "--clients", "1",
                        "--rate",   "2000000", "--duration", "15",        "--warmup",  "0",
                        "--drain",  "0.2",     "--json",     json,        "--quiet",   NULL};
  int st = run_measured(args, out, &rss);
  CHECK(st == 1, "exit %d (want 1; -1: it hung)", st);
  doc = load_json(json);
  {
    const char *path[] = {"error", NULL};
    yajl_val e = doc ? yajl_tree_get(doc, path, yajl_t_string) : NULL;
    const char *es = e ? YAJL_GET_STRING(e) : NULL;
    CHECK(es && strstr(es, "stopped reading"), "the JSON's error: %s", es ? es : "(none)");
  }
  CHECK(jnum(doc, "errors", NULL) == 1 && !jtrue(doc, "ok"), "errors %g",
        jnum(doc, "errors", NULL));
  /* 32 MiB queued and the buffer being written, with a sanitizer's shadow
   * memory: well under 768 MiB (the whole 15 s schedule is gigabytes). */
  CHECK(rss > 0 && rss < 768 * 1024, "peak RSS %ld KiB", rss);
  printf("ok stalled server: %s, peak RSS %ld KiB\n", "stopped reading", rss);
out:
  if (rc)
    dump(out);
  yajl_tree_free(doc);
  fake_stop(fp);
  return rc;
}

/* A server that bounces each message twice: one bounce per message is
 * counted (the copy is a duplicate) and acknowledged.  Every copy used to
 * count, so bounces came out at twice sent (lost hidden under them, the
 * drain waiting its full time), and each copy let the closed loop put one
 * more message in flight than --in-flight allows. */
static int t_double_bounce(void) {
  int rc = 0;
  unsigned port;
  char server[64], json[600], out[600], d1[32];
  long rss = 0;
  yajl_val doc = NULL;
  pid_t fp = fake_start(FAKE_DOUBLE_BOUNCE, &port);
  CHECK(fp > 0, "fake server");
  snprintf(server, sizeof server, "127.0.0.1:%u", port);
  snprintf(json, sizeof json, "%s/bounce.json", dir);
  snprintf(out, sizeof out, "%s/bounce.log", dir);
  const char *args[] = {"--server",    server, "--domain",   "localhost",  "--clients", "1",
                        "--in-flight", "1",    "--duration", dur(0.3, d1), "--warmup",  "0",
                        "--drain",     "5",    "--json",     json,         "--quiet",   NULL};
  int st = run_measured(args, out, &rss);
  CHECK(st == 1, "exit %d (want 1: bounces; -1: it hung)", st);
  doc = load_json(json);
  double sent = jnum(doc, "sent", NULL), bounces = jnum(doc, "bounces", NULL),
         dup = jnum(doc, "duplicated", NULL);
  CHECK(sent > 2, "sent %g: the sender stopped", sent);
  CHECK(bounces == sent, "sent %g bounces %g", sent, bounces);
  CHECK(dup >= sent - 2 && dup <= sent, "sent %g duplicated %g", sent, dup);
  CHECK(jnum(doc, "lost", NULL) == 0 && jnum(doc, "delivered", NULL) == 0 &&
            jnum(doc, "misrouted", NULL) == 0,
        "lost %g delivered %g misrouted %g", jnum(doc, "lost", NULL), jnum(doc, "delivered", NULL),
        jnum(doc, "misrouted", NULL));
  printf("ok double bounce: sent %g, bounces %g, duplicated %g\n", sent, bounces, dup);
out:
  if (rc)
    dump(out);
  yajl_tree_free(doc);
  fake_stop(fp);
  return rc;
}

/* A server ping whose id was written in double quotes and holds an
 * apostrophe: the answer quotes it so that it stays well-formed (it was
 * copied raw into single quotes, which ended the client's stream). */
static int t_ping_quote(void) {
  int rc = 0;
  unsigned port;
  char server[64], out[600];
  long rss = 0;
  pid_t fp = fake_start(FAKE_PING_QUOTE, &port);
  CHECK(fp > 0, "fake server");
  snprintf(server, sizeof server, "127.0.0.1:%u", port);
  snprintf(out, sizeof out, "%s/pingq.log", dir);
  const char *args[] = {"--server", server,       "--domain", "localhost", "--clients", "1",
                        "--idle",   "--duration", "0.5",      "--quiet",   NULL};
  int st = run_measured(args, out, &rss);
  int ws = 0;
  pid_t r = -1;
  for (long long end = td_now_ms() + 15000; td_now_ms() < end; usleep(20000))
    if ((r = waitpid(fp, &ws, WNOHANG)) == fp)
      break;
  int fst = r == fp && WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
  if (r == fp)
    fp = -1;
  CHECK(fst == 0, "the fake server: %d (2: the answer was ill-formed)", fst);
  CHECK(st == 0, "xsr-load: exit %d", st);
  printf("ok ping answered with its id quoted\n");
out:
  if (rc)
    dump(out);
  fake_stop(fp);
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
               {"killed", t_killed},
               {"stalled_server", t_stalled_server},
               {"double_bounce", t_double_bounce},
               {"ping_quote", t_ping_quote}};
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
