/* SPDX-License-Identifier: MIT */
/*
 * tools/load/main.c: xsr-load's command line and the run's supervision,
 * on the main thread: options (exit 2 on a usage error naming the option),
 * the open-files limit, the loop threads (client.c) and the phases they
 * follow (log in, warm-up, measure, drain, close), the progress line, idle
 * mode's RSS readings, the merged results (report.c) and the exit status.
 * See docs/load.md for the manual.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "load.h"

static const char usage_text[] =
    "usage: xsr-load --server HOST:PORT --domain D --clients K --duration SECONDS\n"
    "                [--in-flight W | --rate R] [--pattern ring|bare|presence|ping]\n"
    "                [--users PREFIX] [--password P] [--mech SCRAM-SHA-256|SCRAM-SHA-1|PLAIN]\n"
    "                [--threads N] [--ramp LOGINS_PER_S] [--warmup S] [--drain S]\n"
    "                [--login-timeout S]\n"
    "                [--idle [--server-pid PID]] [--json FILE] [--quiet]\n"
    "Logs K clients (PREFIX1@D .. PREFIXK@D, default prefix 'load', password 'secret')\n"
    "into an XMPP server over plaintext TCP, runs a traffic pattern and reports\n"
    "delivered messages/s, latency percentiles, and lost/misrouted/duplicated counts.\n"
    "Defaults: --in-flight 1 (closed loop), --pattern ring, --threads 1, --warmup 1,\n"
    "--drain 5.  Exit status: 0 ok, 1 the run lost, misrouted or duplicated messages,\n"
    "2 usage error, 3 could not connect or log in.  See docs/load.md.\n";

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("xsr-load: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\n(xsr-load --help for usage)\n", stderr);
  exit(2);
}

static double parse_num(const char *opt, const char *v, double lo, double hi) {
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || end == v || *end || !isfinite(d) || d < lo || d > hi)
    usage_error("%s: expected a number from %g to %g, got '%s'", opt, lo, hi, v);
  return d;
}

/* Characters that would need escaping in an attribute or a JID: refused. */
static void check_text(const char *opt, const char *v, size_t cap, int jidpart) {
  if (!*v)
    usage_error("%s: must not be empty", opt);
  if (strlen(v) >= cap)
    usage_error("%s: longer than %zu bytes", opt, cap - 1);
  for (const char *p = v; *p; p++)
    if (*p == '\'' || *p == '"' || *p == '<' || *p == '>' || *p == '&' ||
        (unsigned char)*p <= ' ' || (jidpart && (*p == '@' || *p == '/')))
      usage_error("%s: '%s' contains '%c', which is not allowed here", opt, v, *p);
}

static void parse_server(xl_opts *o, const char *v) {
  if (strlen(v) >= sizeof o->server - 1)
    usage_error("--server: too long");
  snprintf(o->server, sizeof o->server, "%s", v);
  const char *colon = strrchr(v, ':');
  if (!colon || colon == v || !colon[1])
    usage_error("--server: expected HOST:PORT (IPv6 as [ADDR]:PORT), got '%s'", v);
  size_t hl = (size_t)(colon - v);
  const char *h = v;
  if (v[0] == '[') {
    if (hl < 3 || v[hl - 1] != ']')
      usage_error("--server: expected [ADDR]:PORT, got '%s'", v);
    h++;
    hl -= 2;
  }
  if (hl >= sizeof o->host)
    usage_error("--server: host too long");
  memcpy(o->host, h, hl);
  o->host[hl] = 0;
  o->port = (unsigned)parse_num("--server port", colon + 1, 1, 65535);
  if (floor((double)o->port) != (double)o->port)
    usage_error("--server: bad port");
}

static void parse_opts(xl_opts *o, int argc, char **argv) {
  enum {
    O_SERVER = 256,
    O_DOMAIN,
    O_CLIENTS,
    O_DURATION,
    O_INFLIGHT,
    O_RATE,
    O_PATTERN,
    O_USERS,
    O_PASSWORD,
    O_MECH,
    O_THREADS,
    O_RAMP,
    O_WARMUP,
    O_DRAIN,
    O_IDLE,
    O_PID,
    O_JSON,
    O_QUIET,
    O_HELP,
    O_VERSION,
    O_LOGIN_TIMEOUT
  };
  static const struct option lo[] = {{"server", required_argument, 0, O_SERVER},
                                     {"domain", required_argument, 0, O_DOMAIN},
                                     {"clients", required_argument, 0, O_CLIENTS},
                                     {"duration", required_argument, 0, O_DURATION},
                                     {"in-flight", required_argument, 0, O_INFLIGHT},
                                     {"rate", required_argument, 0, O_RATE},
                                     {"pattern", required_argument, 0, O_PATTERN},
                                     {"users", required_argument, 0, O_USERS},
                                     {"password", required_argument, 0, O_PASSWORD},
                                     {"mech", required_argument, 0, O_MECH},
                                     {"threads", required_argument, 0, O_THREADS},
                                     {"ramp", required_argument, 0, O_RAMP},
                                     {"warmup", required_argument, 0, O_WARMUP},
                                     {"drain", required_argument, 0, O_DRAIN},
                                     {"idle", no_argument, 0, O_IDLE},
                                     {"server-pid", required_argument, 0, O_PID},
                                     {"json", required_argument, 0, O_JSON},
                                     {"quiet", no_argument, 0, O_QUIET},
                                     {"help", no_argument, 0, O_HELP},
                                     {"version", no_argument, 0, O_VERSION},
                                     {"login-timeout", required_argument, 0, O_LOGIN_TIMEOUT},
                                     {0, 0, 0, 0}};
  int have_inflight = 0, have_duration = 0;
  memset(o, 0, sizeof *o);
  snprintf(o->prefix, sizeof o->prefix, "load");
  snprintf(o->password, sizeof o->password, "secret");
  o->in_flight = 1;
  o->threads = 1;
  o->warmup_s = 1;
  o->drain_s = 5;
  o->server_pid = -1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (ch) {
    case O_SERVER:
      parse_server(o, optarg);
      break;
    case O_DOMAIN:
      check_text("--domain", optarg, sizeof o->domain, 1);
      snprintf(o->domain, sizeof o->domain, "%s", optarg);
      break;
    case O_CLIENTS:
      o->clients = (unsigned)parse_num("--clients", optarg, 1, 1000000);
      break;
    case O_DURATION:
      o->duration_s = parse_num("--duration", optarg, 0.001, 86400);
      have_duration = 1;
      break;
    case O_INFLIGHT:
      o->in_flight = (unsigned)parse_num("--in-flight", optarg, 1, 1000000);
      have_inflight = 1;
      break;
    case O_RATE:
      o->rate = parse_num("--rate", optarg, 0.001, 1e9);
      break;
    case O_PATTERN:
      if (strcmp(optarg, "ring") == 0)
        o->pattern = XL_RING;
      else if (strcmp(optarg, "bare") == 0)
        o->pattern = XL_BARE;
      else if (strcmp(optarg, "presence") == 0)
        o->pattern = XL_PRESENCE;
      else if (strcmp(optarg, "ping") == 0)
        o->pattern = XL_PING;
      else
        usage_error("--pattern: expected ring, bare, presence or ping, got '%s'", optarg);
      break;
    case O_USERS:
      check_text("--users", optarg, sizeof o->prefix - 12, 1);
      snprintf(o->prefix, sizeof o->prefix, "%s", optarg);
      break;
    case O_PASSWORD:
      if (!*optarg || strlen(optarg) >= sizeof o->password)
        usage_error("--password: must be 1 to %zu bytes", sizeof o->password - 1);
      snprintf(o->password, sizeof o->password, "%s", optarg);
      break;
    case O_MECH:
      if (strcmp(optarg, "SCRAM-SHA-256") == 0)
        o->mech = XL_MECH_SCRAM256;
      else if (strcmp(optarg, "SCRAM-SHA-1") == 0)
        o->mech = XL_MECH_SCRAM1;
      else if (strcmp(optarg, "PLAIN") == 0)
        o->mech = XL_MECH_PLAIN;
      else
        usage_error("--mech: expected SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN, got '%s'", optarg);
      break;
    case O_THREADS:
      o->threads = (unsigned)parse_num("--threads", optarg, 1, XL_MAX_THREADS);
      break;
    case O_RAMP:
      o->ramp = parse_num("--ramp", optarg, 0.001, 1e9);
      break;
    case O_WARMUP:
      o->warmup_s = parse_num("--warmup", optarg, 0, 86400);
      break;
    case O_DRAIN:
      o->drain_s = parse_num("--drain", optarg, 0, 86400);
      break;
    case O_IDLE:
      o->idle = 1;
      break;
    case O_PID:
      o->server_pid = (long)parse_num("--server-pid", optarg, 1, 4194304);
      break;
    case O_JSON:
      o->json = optarg;
      break;
    case O_QUIET:
      o->quiet = 1;
      break;
    case O_LOGIN_TIMEOUT:
      o->login_timeout_s = parse_num("--login-timeout", optarg, 0.001, 86400);
      break;
    case O_HELP:
      fputs(usage_text, stdout);
      exit(0);
    case O_VERSION:
      printf("xsr-load %s\n", XSR_VERSION_STRING);
      exit(0);
    case ':':
      usage_error("%s: needs a value", argv[optind - 1]);
      break;
    default:
      usage_error("unknown option '%s'", argv[optind - 1]);
      break;
    }
  }
  if (optind < argc)
    usage_error("unexpected argument '%s'", argv[optind]);
  if (!o->server[0])
    usage_error("--server HOST:PORT is required");
  if (!o->domain[0])
    usage_error("--domain is required");
  if (!o->clients)
    usage_error("--clients is required");
  if (!have_duration)
    usage_error("--duration is required");
  if (have_inflight && o->rate > 0)
    usage_error("--in-flight and --rate exclude each other (closed or open loop)");
  if (o->server_pid > 0 && !o->idle)
    usage_error("--server-pid is for --idle");
  if (o->threads > o->clients)
    o->threads = o->clients;
  if (o->login_timeout_s <= 0)
    o->login_timeout_s = 60.0 + (o->ramp > 0 ? (double)o->clients / o->ramp : 0);
  /* Integer thread and client counts, checked above to be whole. */
  if (floor(o->duration_s * 1e6) < 1)
    usage_error("--duration: too small");
}

static void resolve(xl_opts *o) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  char port[16];
  snprintf(port, sizeof port, "%u", o->port);
  int e = getaddrinfo(o->host, port, &hints, &res);
  if (e || !res) {
    fprintf(stderr, "xsr-load: cannot resolve %s: %s\n", o->host, gai_strerror(e));
    exit(3);
  }
  memcpy(&o->addr, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
}

/* Raises RLIMIT_NOFILE to its hard limit; 0 when K sockets fit. */
static int raise_nofile(unsigned k) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl))
    return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)k + 32 > rl.rlim_cur) {
    fprintf(stderr,
            "xsr-load: %u clients need %u open files but the limit is %llu (hard limit "
            "%llu): raise it (ulimit -n) or use fewer clients\n",
            k, k + 32, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    return -1;
  }
  return 0;
}

/* VmRSS of pid in KiB, or -1. */
static long read_rss(long pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%ld/status", pid);
  FILE *f = fopen(path, "r");
  long kib = -1;
  if (!f)
    return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kib = strtol(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kib;
}

static void sleep_us(uint64_t us) {
  struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
  nanosleep(&ts, NULL);
}

typedef struct totals {
  uint64_t sent, delivered, measured, ready, failed, dead, p99;
  int finished;
} totals;

static totals sum(xl_run *r) {
  totals s;
  memset(&s, 0, sizeof s);
  s.finished = 1;
  for (unsigned i = 0; i < r->nstarted; i++) {
    xl_thread *t = &r->threads[i];
    s.sent += atomic_load_explicit(&t->pub_sent, memory_order_relaxed);
    s.delivered += atomic_load_explicit(&t->pub_delivered, memory_order_relaxed);
    s.measured += atomic_load_explicit(&t->pub_measured, memory_order_relaxed);
    s.ready += atomic_load_explicit(&t->pub_ready, memory_order_acquire);
    s.failed += atomic_load_explicit(&t->pub_failed, memory_order_acquire);
    s.dead += atomic_load_explicit(&t->pub_dead, memory_order_relaxed);
    uint64_t p = atomic_load_explicit(&t->pub_p99, memory_order_relaxed);
    if (p > s.p99)
      s.p99 = p;
    if (!atomic_load_explicit(&t->finished, memory_order_acquire))
      s.finished = 0;
  }
  return s;
}

static void set_phase(xl_run *r, int ph) {
  atomic_store_explicit(&r->phase, ph, memory_order_release);
  for (unsigned i = 0; i < r->nstarted; i++)
    uv_async_send(&r->threads[i].wake);
}

static int progress_on(const xl_opts *o) { return !o->quiet && isatty(2); }

static void progress(xl_run *r, const char *what, const totals *s, uint64_t *last_deliv,
                     uint64_t *last_us) {
  uint64_t now = xl_now_us(r);
  if (!progress_on(&r->o) || now - *last_us < 1000000u)
    return;
  double dt = (double)(now - *last_us) / 1e6;
  double rate = (double)(s->delivered - *last_deliv) / dt;
  *last_deliv = s->delivered;
  *last_us = now;
  fprintf(stderr, "\r\033[K[%6.1fs] %-8s logged in %llu/%u  %.0f msg/s  p99 %.3f ms",
          (double)now / 1e6, what, (unsigned long long)s->ready, r->o.clients, rate,
          (double)s->p99 / 1000.0);
}

int main(int argc, char **argv) {
  static xl_run run;
  xl_run *r = &run;
  parse_opts(&r->o, argc, argv);
  xl_opts *o = &r->o;
  signal(SIGPIPE, SIG_IGN);
  if (raise_nofile(o->clients))
    return 2;
  resolve(o);
  long rss_before = -1, rss_after = -1;
  if (o->idle && o->server_pid > 0) {
    rss_before = read_rss(o->server_pid);
    if (rss_before < 0) {
      fprintf(stderr, "xsr-load: --server-pid %ld: cannot read /proc/%ld/status\n", o->server_pid,
              o->server_pid);
      return 2;
    }
  }

  r->epoch_ns = uv_hrtime();
  r->threads = calloc(o->threads, sizeof *r->threads);
  r->all = calloc(o->clients, sizeof *r->all);
  xl_client *clients = calloc(o->clients, sizeof *clients);
  if (!r->threads || !r->all || !clients) {
    fprintf(stderr, "xsr-load: out of memory\n");
    return 1;
  }
  for (unsigned i = 0; i < o->clients; i++) {
    clients[i].idx = i;
    clients[i].peer = (o->pattern == XL_RING || o->pattern == XL_BARE) ? (i + 1) % o->clients : i;
    r->all[i] = &clients[i];
  }
  /* Contiguous blocks, so that a ring crosses threads only at block ends. */
  unsigned first = 0;
  for (unsigned i = 0; i < o->threads; i++) {
    xl_thread *t = &r->threads[i];
    t->id = i;
    t->run = r;
    t->tfd = -1;
    t->first = first;
    t->n = o->clients / o->threads + (i < o->clients % o->threads ? 1 : 0);
    t->clients = &clients[first];
    t->remote_senders = calloc(t->n ? t->n : 1, sizeof *t->remote_senders);
    if (!t->remote_senders) {
      fprintf(stderr, "xsr-load: out of memory\n");
      return 1;
    }
    first += t->n;
  }
  struct rusage ru0;
  getrusage(RUSAGE_SELF, &ru0);
  unsigned started = 0;
  for (unsigned i = 0; i < o->threads; i++, started++)
    if (xl_thread_start(&r->threads[i])) {
      fprintf(stderr, "xsr-load: cannot start thread %u\n", i);
      break;
    }
  r->nstarted = started;

  /* Log in. */
  uint64_t last_deliv = 0, last_us = 0;
  double login_limit = o->login_timeout_s;
  uint64_t t_login_end = 0;
  totals s;
  int login_ok = started == o->threads;
  while (login_ok) {
    s = sum(r);
    progress(r, "login", &s, &last_deliv, &last_us);
    if (s.ready + s.failed >= o->clients) {
      login_ok = s.failed == 0;
      break;
    }
    if (s.failed > 0 || (double)xl_now_us(r) / 1e6 > login_limit) {
      login_ok = 0;
      break;
    }
    sleep_us(2000);
  }
  t_login_end = xl_now_us(r);
  s = sum(r);
  double login_s = (double)t_login_end / 1e6;

  if (login_ok && o->idle) {
    uint64_t settle = t_login_end + 1000000u;
    uint64_t end = t_login_end + (uint64_t)(o->duration_s * 1e6);
    int measured = 0;
    for (;;) {
      uint64_t now = xl_now_us(r);
      s = sum(r);
      progress(r, "idle", &s, &last_deliv, &last_us);
      if (!measured && (now >= settle || now >= end) && o->server_pid > 0) {
        rss_after = read_rss(o->server_pid);
        measured = 1;
      }
      if (now >= end || s.dead > 0)
        break;
      sleep_us(10000);
    }
    if (!measured && o->server_pid > 0)
      rss_after = read_rss(o->server_pid);
  } else if (login_ok) {
    uint64_t now = xl_now_us(r);
    r->t_start = now + 20000u;
    r->t_measure = r->t_start + (uint64_t)(o->warmup_s * 1e6);
    r->t_end = r->t_measure + (uint64_t)(o->duration_s * 1e6);
    uint64_t drain_end = r->t_end + (uint64_t)(o->drain_s * 1e6);
    set_phase(r, XL_PH_RUN);
    for (;;) {
      now = xl_now_us(r);
      s = sum(r);
      progress(r,
               now < r->t_measure ? "warm-up"
               : now < r->t_end   ? "measure"
                                  : "drain",
               &s, &last_deliv, &last_us);
      /* Drained: everything sent was answered (counters are published on
       * the threads' 5 ms ticks: wait two of them past the end). */
      if (now >= r->t_end + 15000u && s.sent == s.delivered) {
        s = sum(r);
        if (s.sent == s.delivered)
          break;
      }
      if (now >= drain_end)
        break;
      if (s.dead >= o->clients)
        break;
      sleep_us(2000);
    }
  }
  /* Connections lost before the close (a connection the server closes
   * while we close ours is not a failure of the run). */
  const uint64_t dead_before_close = s.dead;
  /* Close: every stream, then the loops. */
  set_phase(r, XL_PH_CLOSE);
  for (;;) {
    s = sum(r);
    if (s.finished)
      break;
    sleep_us(2000);
  }
  set_phase(r, XL_PH_EXIT);
  for (unsigned i = 0; i < started; i++)
    uv_thread_join(&r->threads[i].thr);
  if (progress_on(o))
    fputs("\r\033[K", stderr);

  struct rusage ru1;
  getrusage(RUSAGE_SELF, &ru1);
  xl_result res;
  memset(&res, 0, sizeof res);
  res.rss_before = rss_before;
  res.rss_after = rss_after;
  const char *first_error = NULL;
  int mech = o->mech;
  for (unsigned i = 0; i < o->threads; i++) {
    xl_thread *t = &r->threads[i];
    xl_counts *c = &t->c;
    res.c.sent += c->sent;
    res.c.delivered += c->delivered;
    res.c.measured += c->measured;
    res.c.misrouted += c->misrouted;
    res.c.duplicated += c->duplicated;
    res.c.reordered += c->reordered;
    res.c.errors += c->errors;
    res.c.bounces += c->bounces;
    res.c.fanout += c->fanout;
    res.c.login_ok += c->login_ok;
    res.c.clients_sent += c->clients_sent;
    res.c.clients_received += c->clients_received;
    res.c.login_failed += c->login_failed;
    if (c->behind_s > res.c.behind_s)
      res.c.behind_s = c->behind_s;
    xl_hist_merge(&res.lat, &t->lat);
    if (!first_error && t->error[0])
      first_error = t->error;
    if (t->mech_used)
      mech = t->mech_used;
  }
  res.c.login_failed = o->clients - res.c.login_ok;
  res.mechanism = xl_mech_name(mech);
  res.error = first_error;
  if (!login_ok && !first_error)
    res.error = "login timed out";
  res.login_s = login_s;
  res.measure_s = o->duration_s;
  res.msgs_per_s = o->idle ? 0 : (double)res.c.measured / o->duration_s;
  uint64_t accounted = res.c.delivered + res.c.bounces;
  res.lost = res.c.sent > accounted ? res.c.sent - accounted : 0;
  res.user_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
               (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
  res.sys_s = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
              (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
  int status;
  if (!login_ok) {
    status = 3;
  } else if (o->idle) {
    status = dead_before_close > 0 ? 1 : 0;
  } else {
    status = res.c.sent > 0 && res.c.sent == res.c.delivered && res.c.misrouted == 0 &&
                     res.c.duplicated == 0 && res.c.bounces == 0 && res.c.errors == 0
                 ? 0
                 : 1;
  }
  res.ok = status == 0;
  if (!o->quiet || status)
    xl_report_table(o, &res);
  if (status == 3)
    fprintf(stderr, "xsr-load: %llu of %u clients logged in: %s\n",
            (unsigned long long)res.c.login_ok, o->clients,
            first_error ? first_error : "login timed out");
  else if (status == 1) {
    fprintf(stderr, "xsr-load: run failed:");
    if (res.lost)
      fprintf(stderr, " %llu lost", (unsigned long long)res.lost);
    if (res.c.misrouted)
      fprintf(stderr, " %llu misrouted", (unsigned long long)res.c.misrouted);
    if (res.c.duplicated)
      fprintf(stderr, " %llu duplicated", (unsigned long long)res.c.duplicated);
    if (res.c.bounces)
      fprintf(stderr, " %llu bounced", (unsigned long long)res.c.bounces);
    if (res.c.errors)
      fprintf(stderr, " %llu errors", (unsigned long long)res.c.errors);
    if (res.c.sent == 0 && !o->idle)
      fprintf(stderr, " nothing was sent");
    fprintf(stderr, "%s%s\n", first_error ? "; first error: " : "", first_error ? first_error : "");
  }
  if (o->json && xl_report_json(o, &res, o->json)) {
    fprintf(stderr, "xsr-load: cannot write %s: %s\n", o->json, strerror(errno));
    if (!status)
      status = 1;
  }
  for (unsigned i = 0; i < started; i++)
    xl_thread_cleanup(&r->threads[i]);
  for (unsigned i = 0; i < o->threads; i++)
    free(r->threads[i].remote_senders);
  free(clients);
  free(r->all);
  free(r->threads);
  return status;
}
