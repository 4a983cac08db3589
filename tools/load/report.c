/* SPDX-License-Identifier: MIT */
/*
 * tools/load/report.c: xsr-load's results: the summary table on standard
 * output and the --json document (yajl_gen), whose keys are a contract
 * (docs/load.md; xsr-bench e2e reads them): keys may be added, never
 * renamed.  Main thread, after the loop threads have been joined.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "load.h"

const char *xl_pattern_name(int p) {
  static const char *const n[] = {"ring", "bare", "presence", "ping"};
  return p >= 0 && p <= XL_PING ? n[p] : "?";
}

const char *xl_mech_name(int m) {
  static const char *const n[] = {"", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"};
  return m >= 0 && m <= XL_MECH_PLAIN ? n[m] : "";
}

static double ms(uint64_t us) { return (double)us / 1000.0; }

void xl_report_table(const xl_opts *o, const xl_result *res) {
  const xl_counts *c = &res->c;
  printf("xsr-load %s: %s, domain %s, %u clients on %u thread(s), %s\n", XSR_VERSION_STRING,
         o->server, o->domain, o->clients, o->threads, res->mechanism);
  printf("  login      %" PRIu64 " ok, %" PRIu64 " failed in %.2f s\n", c->login_ok,
         c->login_failed, res->login_s);
  if (c->login_ok < o->clients) {
    /* Nothing was measured. */
  } else if (o->idle) {
    printf("  idle       %.1f s", o->duration_s);
    if (res->rss_before >= 0 && res->rss_after >= 0)
      printf(", server RSS %ld -> %ld KiB: %.2f KiB per connection", res->rss_before,
             res->rss_after,
             c->login_ok ? (double)(res->rss_after - res->rss_before) / (double)c->login_ok : 0.0);
    printf("\n");
  } else {
    if (o->rate > 0)
      printf("  load       %s, open loop at %.0f msg/s (fell behind by at most %.3f s), %.1f s\n",
             xl_pattern_name(o->pattern), o->rate, c->behind_s, o->duration_s);
    else
      printf("  load       %s, closed loop, %u in flight per sender, %.1f s\n",
             xl_pattern_name(o->pattern), o->in_flight, o->duration_s);
    printf("  messages   sent %" PRIu64 ", delivered %" PRIu64 ", lost %" PRIu64
           ", misrouted %" PRIu64 ", duplicated %" PRIu64 ", reordered %" PRIu64
           ", bounces %" PRIu64 ", errors %" PRIu64 "\n",
           c->sent, c->delivered, res->lost, c->misrouted, c->duplicated, c->reordered, c->bounces,
           c->errors);
    if (o->pattern == XL_PRESENCE)
      printf("  fan-out    %" PRIu64 " presence copies delivered to other clients\n", c->fanout);
    printf("  clients    %" PRIu64 " sent, %" PRIu64 " received\n", c->clients_sent,
           c->clients_received);
    printf("  throughput %.0f msg/s delivered\n", res->msgs_per_s);
    printf("  latency    p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f ms\n",
           ms(xl_hist_percentile(&res->lat, 50)), ms(xl_hist_percentile(&res->lat, 90)),
           ms(xl_hist_percentile(&res->lat, 99)), ms(xl_hist_percentile(&res->lat, 99.9)),
           ms(res->lat.max), xl_hist_mean(&res->lat) / 1000.0);
  }
  printf("  cpu        %.2f s user, %.2f s sys (xsr-load)\n", res->user_s, res->sys_s);
  printf("  result     %s\n", res->ok ? "ok" : "FAILED");
}

#define S(str) yajl_gen_string(g, (const unsigned char *)(str), strlen(str))
#define I(v)   yajl_gen_integer(g, (long long)(v))
#define D(v)   gen_double(g, (double)(v))

/* Six significant digits, not yajl's %.20g. */
static yajl_gen_status gen_double(yajl_gen g, double v) {
  char buf[64];
  int n = snprintf(buf, sizeof buf, "%.6g", v);
  if (!strpbrk(buf, ".eEni"))
    n = snprintf(buf, sizeof buf, "%.1f", v);
  return yajl_gen_number(g, buf, (size_t)n);
}

int xl_report_json(const xl_opts *o, const xl_result *res, const char *path) {
  yajl_gen g = yajl_gen_alloc(NULL);
  if (!g)
    return -1;
  const xl_counts *c = &res->c;
  yajl_gen_map_open(g);
  S("tool"), S("xsr-load");
  S("version"), S(XSR_VERSION_STRING);
  S("server"), S(o->server);
  S("domain"), S(o->domain);
  S("clients"), I(o->clients);
  S("threads"), I(o->threads);
  S("pattern"), S(xl_pattern_name(o->pattern));
  S("idle_mode"), yajl_gen_bool(g, o->idle);
  S("mode"), S(o->rate > 0 ? "open" : "closed");
  S("in_flight"), I(o->rate > 0 ? 0 : o->in_flight);
  S("rate"), D(o->rate);
  S("duration_s"), D(o->duration_s);
  S("warmup_s"), D(o->warmup_s);
  S("mechanism"), S(res->mechanism);
  S("login");
  yajl_gen_map_open(g);
  S("ok"), I(c->login_ok);
  S("failed"), I(c->login_failed);
  S("seconds"), D(res->login_s);
  yajl_gen_map_close(g);
  S("sent"), I(c->sent);
  S("delivered"), I(c->delivered);
  S("lost"), I(res->lost);
  S("misrouted"), I(c->misrouted);
  S("duplicated"), I(c->duplicated);
  S("reordered"), I(c->reordered);
  S("errors"), I(c->errors);
  S("bounces"), I(c->bounces);
  S("fanout"), I(c->fanout);
  S("measured_delivered"), I(c->measured);
  S("clients_sent"), I(c->clients_sent);
  S("clients_received"), I(c->clients_received);
  S("msgs_per_s"), D(res->msgs_per_s);
  S("behind_s"), D(c->behind_s);
  S("latency_us");
  yajl_gen_map_open(g);
  S("p50"), I(xl_hist_percentile(&res->lat, 50));
  S("p90"), I(xl_hist_percentile(&res->lat, 90));
  S("p99"), I(xl_hist_percentile(&res->lat, 99));
  S("p999"), I(xl_hist_percentile(&res->lat, 99.9));
  S("max"), I(res->lat.max);
  S("mean"), D(xl_hist_mean(&res->lat));
  S("count"), I(res->lat.count);
  yajl_gen_map_close(g);
  S("cpu");
  yajl_gen_map_open(g);
  S("user_s"), D(res->user_s);
  S("sys_s"), D(res->sys_s);
  yajl_gen_map_close(g);
  if (o->idle) {
    S("idle");
    yajl_gen_map_open(g);
    S("rss_before_kib"), I(res->rss_before);
    S("rss_after_kib"), I(res->rss_after);
    S("kib_per_conn"), D(c->login_ok && res->rss_before >= 0 && res->rss_after >= 0
                             ? (double)(res->rss_after - res->rss_before) / (double)c->login_ok
                             : 0.0);
    yajl_gen_map_close(g);
  }
  S("error");
  if (res->error)
    S(res->error);
  else
    yajl_gen_null(g);
  S("ok"), yajl_gen_bool(g, res->ok);
  yajl_gen_map_close(g);
  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  int rc = -1;
  FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
  if (f) {
    rc = fwrite(buf, 1, len, f) == len && fputc('\n', f) != EOF ? 0 : -1;
    if (f != stdout && fclose(f))
      rc = -1;
  }
  yajl_gen_free(g);
  return rc;
}
