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
};

int xsr_bench_quick(const xsr_bench_env *env) { return env->quick; }

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
  else if (strcmp(metric, "x expat") == 0 || strcmp(metric, "ratio") == 0)
    snprintf(num, sizeof num, "%.2f", v);
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
        if (strcmp(r->suite, suite) == 0 && strcmp(r->subject, single_subjects.v[k]) == 0)
          strlist_add(&rows, r->scenario);
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
 * Horizontal grouped bars of every "MB/s" record: one group per scenario,
 * one bar per subject, on a log scale (memcpy and a 1-byte-chunk parser
 * differ by four orders of magnitude).  Returns 0, -1 when the file cannot
 * be written (errno), 1 when there is no MB/s record to draw.
 */
static int write_plot(const xsr_bench_env *env, const char *path, const char *cpu) {
  static const char *const colors[] = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd",
                                       "#8c564b", "#7f7f7f", "#e377c2", "#bcbd22"};
  strlist rows = {0}, subjects = {0};
  double lo = 1e300, hi = 0;
  for (size_t i = 0; i < env->n; i++) {
    const record *r = &env->recs[i];
    if (strcmp(r->metric, "MB/s") != 0 || r->value <= 0)
      continue;
    strlist_add(&rows, r->scenario);
    strlist_add(&subjects, r->subject);
    lo = r->value < lo ? r->value : lo;
    hi = r->value > hi ? r->value : hi;
  }
  if (rows.n == 0)
    return 1; /* nothing to draw */
  double dlo = floor(log10(lo)), dhi = ceil(log10(hi));
  if (dhi <= dlo)
    dhi = dlo + 1;
  const int left = 170, right = 90, top = 70, bar = 9, gap = 14;
  const int plot_w = 640, group_h = (int)subjects.n * bar + gap;
  const int height = top + (int)rows.n * group_h + 40, width = left + plot_w + right;
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  fprintf(f,
          "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
          "font-family='sans-serif' font-size='11'>\n<rect width='100%%' height='100%%' "
          "fill='white'/>\n",
          width, height);
  fprintf(f,
          "<text x='%d' y='18' font-size='14' font-weight='bold'>xsr-bench: throughput, "
          "MB/s (log scale), median of rounds%s</text>\n",
          left, env->quick ? " (--quick)" : "");
  fprintf(f, "<text x='%d' y='34' fill='#555'>", left);
  xml_escaped(f, cpu);
  fprintf(f, "; same bytes, same chunks for every incremental parser</text>\n");
  for (size_t j = 0; j < subjects.n; j++) {
    int x = left + (int)j * 95;
    fprintf(f, "<rect x='%d' y='44' width='12' height='12' fill='%s'/>", x,
            colors[j % (sizeof colors / sizeof colors[0])]);
    fprintf(f, "<text x='%d' y='54'>", x + 16);
    xml_escaped(f, subjects.v[j]);
    fprintf(f, "</text>\n");
  }
  for (double d = dlo; d <= dhi; d += 1) {
    int x = left + (int)((d - dlo) / (dhi - dlo) * plot_w);
    fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#ddd'/>", x, top - 4, x, height - 30);
    fprintf(f, "<text x='%d' y='%d' text-anchor='middle' fill='#555'>%g</text>\n", x, height - 16,
            pow(10, d));
  }
  for (size_t i = 0; i < rows.n; i++) {
    int y0 = top + (int)i * group_h;
    fprintf(f, "<text x='%d' y='%d' text-anchor='end'>", left - 8,
            y0 + (int)subjects.n * bar / 2 + 4);
    xml_escaped(f, rows.v[i]);
    fprintf(f, "</text>\n");
    for (size_t j = 0; j < subjects.n; j++) {
      const record *r = NULL;
      for (size_t k = 0; k < env->n && !r; k++) {
        const record *c = &env->recs[k];
        if (strcmp(c->metric, "MB/s") == 0 && strcmp(c->scenario, rows.v[i]) == 0 &&
            strcmp(c->subject, subjects.v[j]) == 0 && c->value > 0)
          r = c;
      }
      if (!r)
        continue;
      double frac = (log10(r->value) - dlo) / (dhi - dlo);
      int w = (int)(frac * plot_w);
      int y = y0 + (int)j * bar;
      fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='%s'><title>", left, y,
              w > 1 ? w : 1, bar - 1, colors[j % (sizeof colors / sizeof colors[0])]);
      xml_escaped(f, r->subject);
      fprintf(f, " %s: %.1f MB/s</title></rect>", rows.v[i], r->value);
      fprintf(f, "<text x='%d' y='%d' font-size='8' fill='#333'>%.0f</text>\n", left + w + 3,
              y + bar - 2, r->value);
    }
  }
  fprintf(f, "</svg>\n");
  return fclose(f) == 0 ? 0 : -1;
}

/* ---- command line ---------------------------------------------------------- */

static const char usage[] =
    "usage: xsr-bench [--quick] [--json FILE] [--plot FILE.svg] [SUITE ...]\n"
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
    "\n"
    "options:\n"
    "  --quick             small corpora, few rounds: seconds, for tests\n"
    "  --json FILE         write every figure, with the machine, as JSON\n"
    "  --plot FILE.svg     draw MB/s per subject and scenario\n"
    "  --once SUBJECT      parse one corpus once with one subject (xsr, expat,\n"
    "                      libxml2, pugixml, memchr, memcpy) and print counts;\n"
    "                      for valgrind/callgrind (see scripts/bench-callgrind.sh)\n"
    "  --corpus NAME       corpus for --once: chat, iq, large, adversarial,\n"
    "                      stanza1k, stanza1m\n"
    "  --chunk N|stanza    chunk size for --once (default 65536), or one read\n"
    "                      per stanza\n"
    "  --dump-corpus NAME  write a corpus to stdout\n"
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
      fprintf(stderr, "xsr-bench: nothing to plot in %s: the suites run recorded no MB/s\n", plot);
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
