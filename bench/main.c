/* SPDX-License-Identifier: MIT */
/*
 * xsr-bench: runs the selected suites, then prints what they recorded as
 * tables, and writes --json (yajl) and --plot (SVG).
 *
 * Tables are derived from the records alone, so a new suite needs no code
 * here: for each suite and metric, a metric measured for several subjects
 * becomes a table with one row per scenario and one column per subject;
 * metrics measured for a single subject are gathered into one table for
 * that subject, one column per metric.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <expat.h>
#include <libxml/xmlversion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "bench.h"
#include "corpus.h"
#include "xsr/xsr.h"

#ifndef XSR_BENCH_FLAGS
#define XSR_BENCH_FLAGS "unknown"
#endif

typedef struct record {
  char *suite, *subject, *scenario, *metric;
  double value, spread;
} record;

struct xsr_bench_env {
  int quick;
  int tty;
  int progress_shown;
  record *recs;
  size_t n, cap;
  int oom;
  const char **peers; /* --peer arguments, in order */
  size_t npeers;
  unsigned router_threads, load_threads;
};

int xsr_bench_quick(const xsr_bench_env *env) { return env->quick; }
size_t xsr_bench_peer_count(const xsr_bench_env *env) { return env->npeers; }
const char *xsr_bench_peer(const xsr_bench_env *env, size_t i) {
  return i < env->npeers ? env->peers[i] : NULL;
}
unsigned xsr_bench_router_threads(const xsr_bench_env *env) { return env->router_threads; }
unsigned xsr_bench_load_threads(const xsr_bench_env *env) { return env->load_threads; }

void xsr_bench_progress(xsr_bench_env *env, const char *fmt, ...) {
  if (!env->tty)
    return;
  va_list ap;
  va_start(ap, fmt);
  fputs("\r\033[K", stderr);
  vfprintf(stderr, fmt, ap);
  fflush(stderr);
  va_end(ap);
  env->progress_shown = 1;
}

static void progress_clear(xsr_bench_env *env) {
  if (env->progress_shown) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
    env->progress_shown = 0;
  }
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p)
    memcpy(p, s, n);
  return p;
}

void xsr_bench_record(xsr_bench_env *env, const char *suite, const char *subject,
                      const char *scenario, const char *metric, double value, double spread) {
  if (env->n == env->cap) {
    size_t cap = env->cap ? env->cap * 2 : 256;
    record *r = realloc(env->recs, cap * sizeof *r);
    if (!r) {
      env->oom = 1;
      return;
    }
    env->recs = r;
    env->cap = cap;
  }
  record *r = &env->recs[env->n];
  r->suite = dup_str(suite);
  r->subject = dup_str(subject);
  r->scenario = dup_str(scenario);
  r->metric = dup_str(metric);
  if (!r->suite || !r->subject || !r->scenario || !r->metric) {
    free(r->suite), free(r->subject), free(r->scenario), free(r->metric);
    env->oom = 1;
    return;
  }
  r->value = value;
  r->spread = spread;
  env->n++;
}

uint64_t xsr_bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- machine description ----------------------------------------------- */

static void cpu_model(char *out, size_t cap) {
  snprintf(out, cap, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f)
    return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) == 0) {
      char *v = strchr(line, ':');
      if (v) {
        v++;
        while (*v == ' ' || *v == '\t')
          v++;
        v[strcspn(v, "\n")] = 0;
        snprintf(out, cap, "%s", v);
      }
      break;
    }
  }
  fclose(f);
}

/* ---- unique lists in first-seen order ----------------------------------- */

typedef struct strlist {
  const char *v[256];
  size_t n;
} strlist;

static size_t strlist_add(strlist *l, const char *s) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0)
      return i;
  if (l->n < sizeof l->v / sizeof l->v[0])
    l->v[l->n++] = s;
  return l->n - 1;
}

static const record *find(const xsr_bench_env *env, const char *suite, const char *subject,
                          const char *scenario, const char *metric) {
  for (size_t i = 0; i < env->n; i++) {
    const record *r = &env->recs[i];
    if (strcmp(r->suite, suite) == 0 && strcmp(r->subject, subject) == 0 &&
        strcmp(r->scenario, scenario) == 0 && strcmp(r->metric, metric) == 0)
      return r;
  }
  return NULL;
}

/* ---- terminal tables ----------------------------------------------------- */

static void format_value(char *out, size_t cap, const char *metric, double v, double spread) {
  char num[48];
  if (strcmp(metric, "of memcpy") == 0)
    snprintf(num, sizeof num, "%.2f%%", v * 100);
  else if (strcmp(metric, "x expat") == 0 || strstr(metric, "ratio"))
    snprintf(num, sizeof num, "%.2f", v);
  else if (strlen(metric) > 3 && strcmp(metric + strlen(metric) - 3, " ms") == 0)
    snprintf(num, sizeof num, "%.3g", v); /* 0.0412 ms, not 0.0 */
  else if (fabs(v) >= 1e9)
    snprintf(num, sizeof num, "%.3gG", v / 1e9);
  else if (fabs(v) >= 1e7)
    snprintf(num, sizeof num, "%.1fM", v / 1e6);
  else if (v == floor(v))
    snprintf(num, sizeof num, "%.0f", v);
  else
    snprintf(num, sizeof num, "%.1f", v);
  if (spread > 0.005)
    snprintf(out, cap, "%s ±%.0f%%", num, spread * 50);
  else
    snprintf(out, cap, "%s", num);
}

/* Columns on a terminal: characters, not bytes ("\u00b1" takes two). */
static int display_width(const char *s) {
  int w = 0;
  for (; *s; s++)
    w += ((unsigned char)*s & 0xC0) != 0x80;
  return w;
}

static void print_cell(const char *s, int width) {
  for (int pad = width - display_width(s); pad > 0; pad--)
    putchar(' ');
  fputs(s, stdout);
}

static void print_table(const xsr_bench_env *env, const char *suite, const char *title,
                        const strlist *rows, const strlist *cols, int cols_are_metrics,
                        const char *fixed) {
  int w0 = 10;
  for (size_t i = 0; i < rows->n; i++)
    if (display_width(rows->v[i]) > w0)
      w0 = display_width(rows->v[i]);
  /* Every cell first, so that each column is as wide as its widest one. */
  size_t ncells = rows->n * cols->n;
  char(*cells)[64] = calloc(ncells ? ncells : 1, sizeof *cells);
  int cw[256];
  if (!cells)
    return;
  for (size_t j = 0; j < cols->n; j++) {
    cw[j] = display_width(cols->v[j]) + 5 > 14 ? display_width(cols->v[j]) + 5 : 14;
    for (size_t i = 0; i < rows->n; i++) {
      const char *subject = cols_are_metrics ? fixed : cols->v[j];
      const char *metric = cols_are_metrics ? cols->v[j] : fixed;
      const record *r = find(env, suite, subject, rows->v[i], metric);
      char *cell = cells[i * cols->n + j];
      snprintf(cell, 64, "-");
      if (r)
        format_value(cell, 64, metric, r->value, r->spread);
      if (display_width(cell) > cw[j])
        cw[j] = display_width(cell);
    }
  }
  printf("\n%s\n%-*s", title, w0, "");
  for (size_t j = 0; j < cols->n; j++) {
    putchar(' ');
    print_cell(cols->v[j], cw[j]);
  }
  printf("\n");
  for (size_t i = 0; i < rows->n; i++) {
    fputs(rows->v[i], stdout);
    for (int pad = w0 - display_width(rows->v[i]); pad > 0; pad--)
      putchar(' ');
    for (size_t j = 0; j < cols->n; j++) {
      putchar(' ');
      print_cell(cells[i * cols->n + j], cw[j]);
    }
    printf("\n");
  }
  free(cells);
}

static void print_tables(const xsr_bench_env *env) {
  strlist suites = {0};
  for (size_t i = 0; i < env->n; i++)
    strlist_add(&suites, env->recs[i].suite);
  for (size_t s = 0; s < suites.n; s++) {
    const char *suite = suites.v[s];
    strlist metrics = {0};
    for (size_t i = 0; i < env->n; i++)
      if (strcmp(env->recs[i].suite, suite) == 0)
        strlist_add(&metrics, env->recs[i].metric);
    strlist single_subjects = {0};
    for (size_t m = 0; m < metrics.n; m++) {
      strlist subjects = {0}, rows = {0};
      for (size_t i = 0; i < env->n; i++) {
        const record *r = &env->recs[i];
        if (strcmp(r->suite, suite) == 0 && strcmp(r->metric, metrics.v[m]) == 0) {
          strlist_add(&subjects, r->subject);
          strlist_add(&rows, r->scenario);
        }
      }
      if (subjects.n == 1) {
        strlist_add(&single_subjects, subjects.v[0]);
        continue;
      }
      char title[160];
      snprintf(title, sizeof title, "%s: %s", suite, metrics.v[m]);
      print_table(env, suite, title, &rows, &subjects, 0, metrics.v[m]);
    }
    for (size_t k = 0; k < single_subjects.n; k++) {
      strlist cols = {0}, rows = {0};
      for (size_t m = 0; m < metrics.n; m++) {
        strlist subjects = {0};
        for (size_t i = 0; i < env->n; i++) {
          const record *r = &env->recs[i];
          if (strcmp(r->suite, suite) == 0 && strcmp(r->metric, metrics.v[m]) == 0)
            strlist_add(&subjects, r->subject);
        }
        if (subjects.n == 1 && strcmp(subjects.v[0], single_subjects.v[k]) == 0)
          strlist_add(&cols, metrics.v[m]);
      }
      for (size_t i = 0; i < env->n; i++) {
        const record *r = &env->recs[i];
        if (strcmp(r->suite, suite) != 0 || strcmp(r->subject, single_subjects.v[k]) != 0)
          continue;
        for (size_t m = 0; m < cols.n; m++)
          if (strcmp(r->metric, cols.v[m]) == 0) {
            strlist_add(&rows, r->scenario); /* only rows with a figure in this table */
            break;
          }
      }
      char title[160];
      snprintf(title, sizeof title, "%s: %s", suite, single_subjects.v[k]);
      print_table(env, suite, title, &rows, &cols, 1, single_subjects.v[k]);
    }
  }
}

/* ---- JSON ---------------------------------------------------------------- */

static void gen_str(yajl_gen g, const char *s) {
  yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_kv(yajl_gen g, const char *k, const char *v) {
  gen_str(g, k);
  gen_str(g, v);
}

static int write_json(const xsr_bench_env *env, const char *path, const char *cpu) {
  yajl_gen g = yajl_gen_alloc(NULL);
  if (!g)
    return -1;
  yajl_gen_config(g, yajl_gen_beautify, 1);
  yajl_gen_map_open(g);
  gen_kv(g, "tool", "xsr-bench");
  gen_kv(g, "xsr_version", xsr_version());
  gen_str(g, "quick");
  yajl_gen_bool(g, env->quick);
  gen_str(g, "machine");
  yajl_gen_map_open(g);
  gen_kv(g, "cpu", cpu);
  gen_str(g, "cpus");
  yajl_gen_integer(g, sysconf(_SC_NPROCESSORS_ONLN));
  gen_kv(g, "compiler", __VERSION__);
  gen_kv(g, "flags", XSR_BENCH_FLAGS);
  gen_kv(g, "expat", XML_ExpatVersion());
  gen_kv(g, "libxml2", LIBXML_DOTTED_VERSION);
  yajl_gen_map_close(g);
  gen_str(g, "results");
  yajl_gen_array_open(g);
  for (size_t i = 0; i < env->n; i++) {
    const record *r = &env->recs[i];
    yajl_gen_map_open(g);
    gen_kv(g, "suite", r->suite);
    gen_kv(g, "subject", r->subject);
    gen_kv(g, "scenario", r->scenario);
    gen_kv(g, "metric", r->metric);
    gen_str(g, "value");
    yajl_gen_double(g, isfinite(r->value) ? r->value : 0);
    gen_str(g, "spread");
    yajl_gen_double(g, isfinite(r->spread) ? r->spread : 0);
    yajl_gen_map_close(g);
  }
  yajl_gen_array_close(g);
  yajl_gen_map_close(g);
  const unsigned char *buf;
  size_t len;
  yajl_gen_get_buf(g, &buf, &len);
  FILE *f = fopen(path, "w");
  int rc = -1;
  if (f) {
    rc = fwrite(buf, 1, len, f) == len ? 0 : -1;
    if (fclose(f) != 0)
      rc = -1;
  }
  yajl_gen_free(g);
  return rc;
}

/* ---- SVG plot -------------------------------------------------------------- */

static void xml_escaped(FILE *f, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '<':
      fputs("&lt;", f);
      break;
    case '>':
      fputs("&gt;", f);
      break;
    case '&':
      fputs("&amp;", f);
      break;
    default:
      fputc(*s, f);
    }
  }
}

/*
 * One panel of the plot: horizontal grouped bars on a log scale, one group
 * per scenario, one bar per subject.  A panel has up to three layers, drawn
 * over each other from the first (widest, palest) to the last: one metric
 * (MB/s, msg/s) or latency percentiles (p99.9, p99, p50 in one bar).
 */
typedef struct plot_panel {
  const char *layers[3]; /* metrics, NULL-terminated */
  const char *title;
  const char *note;
} plot_panel;

static const plot_panel panels[] = {
    {{"MB/s", NULL},
     "xsr-bench: throughput, MB/s (log scale), median of rounds",
     "same bytes, same chunks for every incremental parser"},
    {{"msg/s", NULL},
     "xsr-bench e2e: delivered messages/s (log scale)",
     "same generator (xsr-load), same machine, same run; K clients, W in flight"},
    {{"p99.9 ms", "p99 ms", "p50 ms"},
     "xsr-bench e2e: latency, ms (log scale)",
     "each bar: p50 (dark), p99 (medium), p99.9 (pale)"},
};
#define NPANELS (sizeof panels / sizeof panels[0])

static const record *plot_find(const xsr_bench_env *env, const char *metric, const char *scenario,
                               const char *subject) {
  for (size_t k = 0; k < env->n; k++) {
    const record *c = &env->recs[k];
    if (strcmp(c->metric, metric) == 0 && strcmp(c->scenario, scenario) == 0 &&
        strcmp(c->subject, subject) == 0 && c->value > 0)
      return c;
  }
  return NULL;
}

typedef struct panel_layout {
  strlist rows, subjects;
  double dlo, dhi;
  int height;
} panel_layout;

static void panel_measure(const xsr_bench_env *env, const plot_panel *p, panel_layout *l) {
  double lo = 1e300, hi = 0;
  memset(l, 0, sizeof *l);
  for (size_t i = 0; i < env->n; i++) {
    const record *r = &env->recs[i];
    int hit = 0;
    for (int k = 0; k < 3 && p->layers[k]; k++)
      hit |= strcmp(r->metric, p->layers[k]) == 0;
    if (!hit || r->value <= 0)
      continue;
    strlist_add(&l->rows, r->scenario);
    strlist_add(&l->subjects, r->subject);
    lo = r->value < lo ? r->value : lo;
    hi = r->value > hi ? r->value : hi;
  }
  if (l->rows.n == 0)
    return;
  l->dlo = floor(log10(lo));
  l->dhi = ceil(log10(hi));
  if (l->dhi <= l->dlo)
    l->dhi = l->dlo + 1;
  const int top = 70, bar = 9, gap = 14;
  l->height = top + (int)l->rows.n * ((int)l->subjects.n * bar + gap) + 40;
}

static void panel_draw(FILE *f, const xsr_bench_env *env, const plot_panel *p,
                       const panel_layout *l, int y_off, const char *cpu) {
  static const char *const colors[] = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd",
                                       "#8c564b", "#7f7f7f", "#e377c2", "#bcbd22"};
  static const double opacity[3][3] = {{1, 0, 0}, {0.6, 1, 0}, {0.3, 0.6, 1}};
  const int left = 170, top = 70, bar = 9, gap = 14, plot_w = 640;
  const int group_h = (int)l->subjects.n * bar + gap, bottom = y_off + l->height;
  int nlayers = 0;
  while (nlayers < 3 && p->layers[nlayers])
    nlayers++;
  fprintf(f, "<text x='%d' y='%d' font-size='14' font-weight='bold'>%s%s</text>\n", left,
          y_off + 18, p->title, env->quick ? " (--quick)" : "");
  fprintf(f, "<text x='%d' y='%d' fill='#555'>", left, y_off + 34);
  xml_escaped(f, cpu);
  fprintf(f, "; %s</text>\n", p->note);
  for (size_t j = 0; j < l->subjects.n; j++) {
    int x = left + (int)j * 110;
    fprintf(f, "<rect x='%d' y='%d' width='12' height='12' fill='%s'/>", x, y_off + 44,
            colors[j % (sizeof colors / sizeof colors[0])]);
    fprintf(f, "<text x='%d' y='%d'>", x + 16, y_off + 54);
    xml_escaped(f, l->subjects.v[j]);
    fprintf(f, "</text>\n");
  }
  for (double d = l->dlo; d <= l->dhi; d += 1) {
    int x = left + (int)((d - l->dlo) / (l->dhi - l->dlo) * plot_w);
    fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#ddd'/>", x, y_off + top - 4, x,
            bottom - 30);
    fprintf(f, "<text x='%d' y='%d' text-anchor='middle' fill='#555'>%g</text>\n", x, bottom - 16,
            pow(10, d));
  }
  for (size_t i = 0; i < l->rows.n; i++) {
    int y0 = y_off + top + (int)i * group_h;
    fprintf(f, "<text x='%d' y='%d' text-anchor='end'>", left - 8,
            y0 + (int)l->subjects.n * bar / 2 + 4);
    xml_escaped(f, l->rows.v[i]);
    fprintf(f, "</text>\n");
    for (size_t j = 0; j < l->subjects.n; j++) {
      int y = y0 + (int)j * bar;
      for (int k = 0; k < nlayers; k++) {
        const record *r = plot_find(env, p->layers[k], l->rows.v[i], l->subjects.v[j]);
        if (!r)
          continue;
        double frac = (log10(r->value) - l->dlo) / (l->dhi - l->dlo);
        int w = (int)(frac * plot_w);
        fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='%s' fill-opacity='%.1f'>",
                left, y, w > 1 ? w : 1, bar - 1, colors[j % (sizeof colors / sizeof colors[0])],
                opacity[nlayers - 1][k]);
        fprintf(f, "<title>");
        xml_escaped(f, r->subject);
        fprintf(f, " %s: %s %.4g</title></rect>", l->rows.v[i], r->metric, r->value);
        if (k == 0)
          fprintf(f,
                  r->value >= 1000 ? "<text x='%d' y='%d' font-size='8' fill='#333'>%.0f</text>"
                                   : "<text x='%d' y='%d' font-size='8' fill='#333'>%.3g</text>",
                  left + w + 3, y + bar - 2, r->value);
      }
      fprintf(f, "\n");
    }
  }
}

/*
 * The plot: one panel per kind of figure recorded (parser MB/s, e2e msg/s,
 * e2e latency percentiles), stacked.  Returns 0, -1 when the file cannot be
 * written (errno), 1 when nothing was recorded that can be drawn.
 */
static int write_plot(const xsr_bench_env *env, const char *path, const char *cpu) {
  panel_layout layout[NPANELS];
  int height = 0;
  for (size_t p = 0; p < NPANELS; p++) {
    panel_measure(env, &panels[p], &layout[p]);
    height += layout[p].height;
  }
  if (height == 0)
    return 1; /* nothing to draw */
  const int width = 170 + 640 + 90;
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  fprintf(f,
          "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
          "font-family='sans-serif' font-size='11'>\n<rect width='100%%' height='100%%' "
          "fill='white'/>\n",
          width, height);
  int y = 0;
  for (size_t p = 0; p < NPANELS; p++) {
    if (layout[p].height == 0)
      continue;
    panel_draw(f, env, &panels[p], &layout[p], y, cpu);
    y += layout[p].height;
  }
  fprintf(f, "</svg>\n");
  return fclose(f) == 0 ? 0 : -1;
}

/* ---- command line ---------------------------------------------------------- */

static const char usage[] =
    "usage: xsr-bench [--quick] [--json FILE] [--plot FILE.svg] [SUITE ...]\n"
    "                 [--peer NAME=HOST:PORT[,...]]... [--router-threads N]\n"
    "                 [--load-threads N]\n"
    "       xsr-bench [--quick] --once SUBJECT --corpus NAME [--chunk N|stanza]\n"
    "       xsr-bench [--quick] --dump-corpus NAME\n"
    "\n"
    "Runs xsr's benchmark suites on built-in, deterministic corpora and prints\n"
    "the results as tables (all suites when none is named).\n"
    "\n"
    "suites:\n"
    "  parser   xsr vs expat, libxml2 (same bytes, same chunks) and pugixml\n"
    "           (whole document), with memchr and memcpy of the corpus as the\n"
    "           machine's limits; corpora chat, iq, large, adversarial; one\n"
    "           read per stanza (as a server reads a client that sends each\n"
    "           stanza when it has it), chunks of 1460, 16384 and 65536 bytes,\n"
    "           and 1 byte on a smaller slice\n"
    "  router   the routing core (when built with XSR_BUILD_ROUTER)\n"
    "  e2e      xsr-router and any --peer servers measured by xsr-load (both\n"
    "           found beside xsr-bench): delivered msg/s, latency, CPU, idle\n"
    "           memory; K = 2..1000 clients, W = 1 and 64 in flight, open loop\n"
    "           at half the closed-loop rate, ping; minutes (--quick: ~30 s)\n"
    "\n"
    "options:\n"
    "  --quick             small corpora, few rounds: seconds, for tests\n"
    "  --json FILE         write every figure, with the machine, as JSON\n"
    "  --plot FILE.svg     draw MB/s (parser), msg/s and latency percentiles\n"
    "                      (e2e) per subject and scenario\n"
    "  --once SUBJECT      parse one corpus once with one subject (xsr, expat,\n"
    "                      libxml2, pugixml, memchr, memcpy) and print counts;\n"
    "                      for valgrind/callgrind (see scripts/bench-callgrind.sh)\n"
    "  --corpus NAME       corpus for --once: chat, iq, large, adversarial,\n"
    "                      stanza1k, stanza1m\n"
    "  --chunk N|stanza    chunk size for --once (default 65536), or one read\n"
    "                      per stanza\n"
    "  --dump-corpus NAME  write a corpus to stdout\n"
    "  --peer NAME=HOST:PORT[,pid=PID][,domain=D][,users=PREFIX][,password=P]\n"
    "                      e2e: measure this server too (repeatable; accounts\n"
    "                      PREFIX1..PREFIXn@D, default load1.. @xsr.test with\n"
    "                      password secret; pid= adds its CPU and idle RSS;\n"
    "                      see scripts/e2e-peers.sh)\n"
    "  --router-threads N  e2e: xsr-router worker threads (default: online CPUs)\n"
    "  --load-threads N    e2e: xsr-load threads (default: xsr-load's)\n"
    "  -h, --help          this text\n"
    "\n"
    "exit status: 0 success, 1 a run failed (e.g. parsers disagree), 2 usage\n";

/* Prints "xsr-bench: WHAT 'ARG'" and the usage; returns the usage exit code. */
static int usage_error(const char *what, const char *arg) {
  fprintf(stderr, "xsr-bench: %s%s%s%s\n%s", what, arg ? " '" : "", arg ? arg : "", arg ? "'" : "",
          usage);
  return 2;
}

static int parse_size(const char *s, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || v == 0 || s[0] == '-')
    return -1;
  *out = (size_t)v;
  return 0;
}

typedef struct suite {
  const char *name;
  int (*run)(xsr_bench_env *);
} suite;

static const suite suites[] = {
    {"parser", xsr_bench_suite_parser},
    {"router", xsr_bench_suite_router},
    {"e2e", xsr_bench_suite_e2e},
};
#define NSUITES (sizeof suites / sizeof suites[0])

/*
 * glibc serves large blocks with mmap until the first such block is freed,
 * and then raises its threshold: until that happens in a run, a subject
 * that allocates large blocks (pugixml's document) pays fresh pages on
 * every parse, and only in the first scenarios (measured: pugixml at 120
 * MB/s on the first corpus and chunk size, 870 on the next).  Fixed
 * thresholds give every scenario the steady state of a long-running
 * process, where freed memory is reused.
 */
static void steady_malloc(void) {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

int main(int argc, char **argv) {
  steady_malloc();
  xsr_bench_env env = {0};
  const char *json = NULL, *plot = NULL, *once = NULL, *corpus = NULL, *dump = NULL;
  size_t chunk = 65536;
  int chunk_given = 0;
  int selected[NSUITES] = {0}, any = 0;
  enum { peer_cap = 8 };
  const char *peers[peer_cap];
  int e2e_opts = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      return 0;
    } else if (strcmp(a, "--quick") == 0) {
      env.quick = 1;
    } else if (strcmp(a, "--json") == 0 || strcmp(a, "--plot") == 0 || strcmp(a, "--once") == 0 ||
               strcmp(a, "--corpus") == 0 || strcmp(a, "--chunk") == 0 ||
               strcmp(a, "--dump-corpus") == 0) {
      if (i + 1 >= argc)
        return usage_error("missing argument for", a);
      const char *v = argv[++i];
      if (strcmp(a, "--json") == 0)
        json = v;
      else if (strcmp(a, "--plot") == 0)
        plot = v;
      else if (strcmp(a, "--once") == 0)
        once = v;
      else if (strcmp(a, "--corpus") == 0)
        corpus = v;
      else if (strcmp(a, "--dump-corpus") == 0)
        dump = v;
      else if ((chunk_given = 1) && strcmp(v, "stanza") == 0)
        chunk = 0;
      else if (parse_size(v, &chunk) != 0)
        return usage_error("--chunk wants a positive number or 'stanza', not", v);
    } else if (strcmp(a, "--peer") == 0) {
      char err[512];
      if (i + 1 >= argc)
        return usage_error("missing argument for", a);
      if (xsr_bench_e2e_peer_check(argv[i + 1], err, sizeof err) != 0) {
        fprintf(stderr, "xsr-bench: %s\n%s", err, usage);
        return 2;
      }
      if (env.npeers == peer_cap)
        return usage_error("too many --peer options (at most 8)", NULL);
      env.peers = peers;
      peers[env.npeers++] = argv[++i];
    } else if (strcmp(a, "--router-threads") == 0 || strcmp(a, "--load-threads") == 0) {
      size_t v;
      if (i + 1 >= argc)
        return usage_error("missing argument for", a);
      if (parse_size(argv[++i], &v) != 0 || v > 1024)
        return usage_error("a thread count is 1..1024, not", argv[i]);
      *(a[2] == 'r' ? &env.router_threads : &env.load_threads) = (unsigned)v;
      e2e_opts = 1;
    } else if (a[0] == '-') {
      return usage_error("unknown option", a);
    } else {
      size_t k;
      for (k = 0; k < NSUITES; k++)
        if (strcmp(a, suites[k].name) == 0)
          break;
      if (k == NSUITES)
        return usage_error("unknown suite", a);
      selected[k] = 1;
      any = 1;
    }
  }

  /* Options that the chosen mode would ignore are mistakes: say so. */
  if (env.npeers || e2e_opts) {
    size_t k = 0;
    while (k < NSUITES && strcmp(suites[k].name, "e2e") != 0)
      k++;
    if (dump || once || corpus || (any && !selected[k]))
      return usage_error("--peer, --router-threads and --load-threads go with the e2e suite", NULL);
  }
  if ((dump || once || corpus) && (json || plot || any))
    return usage_error("--json, --plot and suites go with a suite run, not with",
                       dump ? "--dump-corpus" : "--once");
  if (dump && (once || corpus))
    return usage_error("--dump-corpus goes alone, not with", "--once");
  if (chunk_given && !once && !corpus)
    return usage_error("--chunk goes with --once, not with", "a suite run");
  if (dump) {
    if (!xsr_bench_corpus_known(dump))
      return usage_error("unknown corpus", dump);
    xsr_bench_corpus c;
    if (xsr_bench_corpus_make(dump, env.quick ? (size_t)256 << 10 : (size_t)8 << 20, XSR_BENCH_SEED,
                              &c) != 0)
      return 1;
    int ok = fwrite(c.data, 1, c.len, stdout) == c.len;
    xsr_bench_corpus_free(&c);
    return ok && fflush(stdout) == 0 ? 0 : 1;
  }
  if (once || corpus) {
    if (!once || !corpus)
      return usage_error("--once and --corpus go together", NULL);
    if (!xsr_bench_corpus_known(corpus))
      return usage_error("unknown corpus", corpus);
    int rc = xsr_bench_parser_once(once, corpus, chunk, env.quick);
    if (rc == 2)
      return usage_error("unknown subject for --once", once);
    if (fflush(stdout) != 0 || ferror(stdout)) {
      fprintf(stderr, "xsr-bench: error writing output\n");
      return 1;
    }
    return rc;
  }
  /* Files asked for are opened now, not after minutes of measuring. */
  const char *const outs[2] = {json, plot};
  for (int k = 0; k < 2; k++) {
    FILE *f = outs[k] ? fopen(outs[k], "a") : NULL; /* "a": nothing lost yet */
    if (outs[k] && !f) {
      fprintf(stderr, "xsr-bench: cannot write %s: %s\n", outs[k], strerror(errno));
      return 1;
    }
    if (f)
      fclose(f);
  }

  char cpu[256];
  cpu_model(cpu, sizeof cpu);
  env.tty = isatty(STDERR_FILENO);
  printf("xsr-bench %s%s\ncpu: %s (%ld online)\ncompiler: %s\nflags: %s\nexpat %s, libxml2 %s\n",
         xsr_version(), env.quick ? " --quick" : "", cpu, sysconf(_SC_NPROCESSORS_ONLN),
         __VERSION__, XSR_BENCH_FLAGS, XML_ExpatVersion(), LIBXML_DOTTED_VERSION);
  fflush(stdout);
  int failed = 0;
  for (size_t k = 0; k < NSUITES; k++) {
    if (any && !selected[k])
      continue;
    uint64_t t0 = xsr_bench_now_ns();
    size_t before = env.n;
    int rc = suites[k].run(&env);
    progress_clear(&env);
    if (rc != 0) {
      fprintf(stderr, "xsr-bench: suite %s failed\n", suites[k].name);
      failed = 1;
    } else if (env.n > before) {
      xsr_bench_record(&env, "xsr-bench", "wall time", suites[k].name, "seconds",
                       (double)(xsr_bench_now_ns() - t0) / 1e9, 0);
    }
  }
  if (env.oom) {
    fprintf(stderr, "xsr-bench: out of memory recording results\n");
    failed = 1;
  }
  print_tables(&env);
  if (json && write_json(&env, json, cpu) != 0) {
    fprintf(stderr, "xsr-bench: cannot write %s: %s\n", json, strerror(errno));
    failed = 1;
  }
  if (plot) {
    int pr = write_plot(&env, plot, cpu);
    if (pr < 0) {
      fprintf(stderr, "xsr-bench: cannot write %s: %s\n", plot, strerror(errno));
      failed = 1;
    } else if (pr > 0) {
      fprintf(
          stderr,
          "xsr-bench: nothing to plot in %s: the suites run recorded no MB/s, msg/s or latency\n",
          plot);
      remove(plot);
      failed = 1;
    }
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "xsr-bench: error writing output\n");
    failed = 1;
  }
  for (size_t i = 0; i < env.n; i++) {
    free(env.recs[i].suite);
    free(env.recs[i].subject);
    free(env.recs[i].scenario);
    free(env.recs[i].metric);
  }
  free(env.recs);
  return failed;
}
