/* SPDX-License-Identifier: MIT */
/*
 * The parser suite: xsr against expat and libxml2 (incremental, fed the
 * same bytes in the same chunks) and pugixml (whole document, in place),
 * with the machine's own limits measured in the same rounds: a memchr pass
 * over the corpus looking for '<' and a memcpy of the corpus.
 *
 * Method.  For each corpus and chunk size the suite runs R rounds; a round
 * runs every subject once, in a fixed order, so slow drifts of the machine
 * (frequency, other load) hit all subjects alike.  One untimed warm-up
 * round first checks that every parser accepts the corpus and reports the
 * generator's stanza count; any disagreement fails the run.  Each figure
 * recorded is the median over the rounds, with spread (max - min) / median.
 * Ratios ("vs expat", "of memcpy") are taken per round and then their
 * median, which cancels noise shared by the two runs of a round.  The
 * baselines repeat their pass over small corpora (baseline_passes()).
 *
 * pugixml parses in place and so destroys its input: the corpus is copied
 * into a mutable buffer before each of its runs, outside the timed region.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "corpus.h"
#include "parsers.h"
#include "xsr/parser.h"

enum subject_id { S_XSR, S_EXPAT, S_LIBXML2, S_PUGIXML, S_MEMCHR, S_MEMCPY, S_COUNT };

static const char *const subject_names[S_COUNT] = {"xsr",     "expat",  "libxml2",
                                                   "pugixml", "memchr", "memcpy"};

/* Sink for the baselines, so the compiler cannot drop them. */
static volatile size_t sink;

typedef struct run_ctx {
  const xsr_bench_corpus *c;
  size_t chunk;        /* bytes per read; 0: the corpus's reads, a stanza each */
  const size_t *reads; /* c->reads when chunk is 0, else NULL */
  size_t max_stanza;
  char *scratch; /* c->len bytes: pugixml's input, memcpy's destination */
  size_t peak;   /* xsr's peak heap bytes, from the last xsr run */
  char err[256];
} run_ctx;

static size_t max_stanza_for(const xsr_bench_corpus *c) {
  size_t need = c->size_max + 1024;
  return need > XSR_DEFAULT_MAX_STANZA ? need : 0;
}

/*
 * Runs one subject once over the corpus; returns the stanza count, or
 * (size_t)-1 when the parser rejected the input.  Not inlined, so that the
 * instruction-count script can collect exactly this function
 * (callgrind --toggle-collect=xsr_bench_parse_once).
 */
__attribute__((noinline)) size_t xsr_bench_parse_once(int subject, run_ctx *r);

__attribute__((noinline)) size_t xsr_bench_parse_once(int subject, run_ctx *r) {
  const xsr_bench_corpus *c = r->c;
  size_t n = 0;
  int rc = 0;
  switch (subject) {
  case S_XSR:
    rc = xsr_bench_xsr_parse(c->data, c->len, r->chunk, r->reads, r->max_stanza, &n, &r->peak,
                             r->err, sizeof r->err);
    break;
  case S_EXPAT:
    rc = xsr_bench_expat_parse(c->data, c->len, r->chunk, r->reads, &n, r->err, sizeof r->err);
    break;
  case S_LIBXML2:
    rc = xsr_bench_libxml2_parse(c->data, c->len, r->chunk, r->reads, &n, r->err, sizeof r->err);
    break;
  case S_PUGIXML:
    rc = xsr_bench_pugixml_parse(r->scratch, c->len, &n);
    if (rc)
      snprintf(r->err, sizeof r->err, "pugixml rejected the corpus");
    break;
  case S_MEMCHR: {
    const char *p = c->data, *e = c->data + c->len;
    while ((p = memchr(p, '<', (size_t)(e - p))) != NULL) {
      n++;
      p++;
    }
    sink = n;
    break;
  }
  case S_MEMCPY:
    memcpy(r->scratch, c->data, c->len);
    sink = (size_t)(unsigned char)r->scratch[c->len / 2];
    break;
  }
  return rc ? (size_t)-1 : n;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median and spread of v[0..n) (sorts v). */
static void summarize(double *v, size_t n, double *median, double *spread) {
  qsort(v, n, sizeof *v, cmp_double);
  *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  *spread = *median > 0 ? (v[n - 1] - v[0]) / *median : 0;
}

static void chunk_label(size_t chunk, char *out, size_t cap) {
  if (chunk == 0)
    snprintf(out, cap, "stanza");
  else if (chunk >= 1024 && chunk % 1024 == 0)
    snprintf(out, cap, "%zuK", chunk / 1024);
  else
    snprintf(out, cap, "%zu", chunk);
}

static int is_parser(int s) { return s <= S_PUGIXML; }

/* The baselines (memchr, memcpy) pass over a corpus smaller than
 * BASELINE_BYTES again and again within one timed sample, until they have
 * covered that much: one pass over a 128 KiB slice takes a few
 * microseconds, too short to time alone (the 1-byte rows' "of memcpy"
 * spread was over 1000% with single passes).  The 8 MiB corpora take one
 * pass, as before. */
#define BASELINE_BYTES ((size_t)4 << 20)

static unsigned baseline_passes(size_t len) {
  return len >= BASELINE_BYTES ? 1u : (unsigned)((BASELINE_BYTES + len - 1) / len);
}

/* Measures every subject on one corpus and chunk size and records it. */
static int measure(xsr_bench_env *env, const xsr_bench_corpus *c, size_t chunk, unsigned rounds,
                   const char *scenario) {
  run_ctx r = {
      .c = c, .chunk = chunk, .reads = chunk ? NULL : c->reads, .max_stanza = max_stanza_for(c)};
  r.scratch = malloc(c->len ? c->len : 1);
  double *secs = calloc((size_t)S_COUNT * rounds, sizeof *secs);
  double *tmp = calloc(rounds, sizeof *tmp);
  if (!r.scratch || !secs || !tmp) {
    fprintf(stderr, "xsr-bench: out of memory\n");
    free(r.scratch), free(secs), free(tmp);
    return 1;
  }
  int failed = 0;
  size_t peak = 0;
  for (unsigned round = 0; round <= rounds && !failed; round++) {
    if (round == 0)
      xsr_bench_progress(env, "parser: %s, checking stanza counts", scenario);
    else
      xsr_bench_progress(env, "parser: %s, round %u/%u", scenario, round, rounds);
    for (int s = 0; s < S_COUNT; s++) {
      if (s == S_PUGIXML)
        memcpy(r.scratch, c->data, c->len);
      r.err[0] = 0;
      unsigned passes = is_parser(s) ? 1 : baseline_passes(c->len);
      size_t n = 0;
      uint64_t t0 = xsr_bench_now_ns();
      for (unsigned k = 0; k < passes; k++)
        n = xsr_bench_parse_once(s, &r);
      uint64_t t1 = xsr_bench_now_ns();
      if (is_parser(s) && n != c->stanzas) {
        if (n == (size_t)-1)
          fprintf(stderr, "xsr-bench: %s: %s rejected the corpus: %s\n", scenario, subject_names[s],
                  r.err);
        else
          fprintf(stderr, "xsr-bench: %s: %s counted %zu stanzas, the corpus has %zu\n", scenario,
                  subject_names[s], n, c->stanzas);
        failed = 1;
        break;
      }
      if (s == S_XSR && r.peak > peak)
        peak = r.peak;
      if (round > 0)
        secs[(size_t)s * rounds + round - 1] = (double)(t1 - t0 ? t1 - t0 : 1) * 1e-9 / passes;
    }
  }
  if (!failed) {
    double mb = (double)c->len / 1e6;
    for (int s = 0; s < S_COUNT; s++) {
      double med, spread;
      const double *t = secs + (size_t)s * rounds;
      for (unsigned i = 0; i < rounds; i++)
        tmp[i] = mb / t[i];
      summarize(tmp, rounds, &med, &spread);
      xsr_bench_record(env, "parser", subject_names[s], scenario, "MB/s", med, spread);
      if (!is_parser(s))
        continue;
      for (unsigned i = 0; i < rounds; i++)
        tmp[i] = (double)c->stanzas / t[i];
      summarize(tmp, rounds, &med, &spread);
      xsr_bench_record(env, "parser", subject_names[s], scenario, "stanzas/s", med, spread);
      if (s != S_EXPAT) {
        const double *te = secs + (size_t)S_EXPAT * rounds;
        for (unsigned i = 0; i < rounds; i++)
          tmp[i] = te[i] / t[i];
        summarize(tmp, rounds, &med, &spread);
        xsr_bench_record(env, "parser", subject_names[s], scenario, "x expat", med, spread);
      }
      const double *tm = secs + (size_t)S_MEMCPY * rounds;
      for (unsigned i = 0; i < rounds; i++)
        tmp[i] = tm[i] / t[i];
      summarize(tmp, rounds, &med, &spread);
      xsr_bench_record(env, "parser", subject_names[s], scenario, "of memcpy", med, spread);
    }
    xsr_bench_record(env, "parser", "xsr", scenario, "peak heap bytes", (double)peak, 0);
    xsr_bench_record(env, "parser", "target", scenario, "peak heap bytes",
                     2.0 * (double)c->size_max + 65536.0, 0);
  }
  free(r.scratch);
  free(secs);
  free(tmp);
  return failed;
}

static void record_corpus(xsr_bench_env *env, const xsr_bench_corpus *c, const char *name) {
  xsr_bench_record(env, "parser", "corpus", name, "bytes", (double)c->len, 0);
  xsr_bench_record(env, "parser", "corpus", name, "stanzas", (double)c->stanzas, 0);
  xsr_bench_record(env, "parser", "corpus", name, "min", (double)c->size_min, 0);
  xsr_bench_record(env, "parser", "corpus", name, "p50", (double)c->size_p50, 0);
  xsr_bench_record(env, "parser", "corpus", name, "p90", (double)c->size_p90, 0);
  xsr_bench_record(env, "parser", "corpus", name, "p99", (double)c->size_p99, 0);
  xsr_bench_record(env, "parser", "corpus", name, "max", (double)c->size_max, 0);
  xsr_bench_record(env, "parser", "corpus", name, "mean", c->size_mean, 0);
}

/* Corpus and slice sizes, rounds. */
#define FULL_BYTES   ((size_t)8 << 20)
#define FULL_SLICE   ((size_t)128 << 10)
#define FULL_ROUNDS  21u
#define QUICK_BYTES  ((size_t)256 << 10)
#define QUICK_SLICE  ((size_t)16 << 10)
#define QUICK_ROUNDS 3u

/* Chunk sizes; 0 is a read per stanza (see corpus.h), what a server reads
 * from a client that sends each stanza when it has it. */
static const size_t chunks[] = {0, 1460, 16384, 65536};

int xsr_bench_suite_parser(xsr_bench_env *env) {
  int quick = xsr_bench_quick(env);
  size_t bytes = quick ? QUICK_BYTES : FULL_BYTES;
  size_t slice = quick ? QUICK_SLICE : FULL_SLICE;
  unsigned rounds = quick ? QUICK_ROUNDS : FULL_ROUNDS;
  int failed = 0;
  xsr_bench_libxml2_init();
  for (size_t k = 0; xsr_bench_corpus_kinds[k] && !failed; k++) {
    const char *kind = xsr_bench_corpus_kinds[k];
    xsr_bench_corpus c, s;
    char scenario[96], label[24];
    xsr_bench_progress(env, "parser: generating %s corpus", kind);
    if (xsr_bench_corpus_make(kind, bytes, XSR_BENCH_SEED, &c) != 0) {
      fprintf(stderr, "xsr-bench: out of memory generating %s\n", kind);
      return 1;
    }
    record_corpus(env, &c, kind);
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0] && !failed; i++) {
      chunk_label(chunks[i], label, sizeof label);
      snprintf(scenario, sizeof scenario, "%s @%s", kind, label);
      failed = measure(env, &c, chunks[i], rounds, scenario);
    }
    xsr_bench_corpus_free(&c);
    if (failed)
      break;
    /* One-byte chunks on a smaller corpus of the same kind. */
    if (xsr_bench_corpus_make(kind, slice, XSR_BENCH_SEED, &s) != 0) {
      fprintf(stderr, "xsr-bench: out of memory generating %s\n", kind);
      return 1;
    }
    snprintf(scenario, sizeof scenario, "%s.slice", kind);
    record_corpus(env, &s, scenario);
    snprintf(scenario, sizeof scenario, "%s.slice @1", kind);
    failed = measure(env, &s, 1, rounds, scenario);
    xsr_bench_corpus_free(&s);
  }
  return failed;
}

int xsr_bench_parser_once(const char *subject, const char *kind, size_t chunk, int quick) {
  int s;
  for (s = 0; s < S_COUNT; s++)
    if (strcmp(subject, subject_names[s]) == 0)
      break;
  if (s == S_COUNT || !xsr_bench_corpus_known(kind))
    return 2;
  xsr_bench_corpus c;
  size_t bytes = quick ? QUICK_BYTES : FULL_BYTES;
  if (xsr_bench_corpus_make(kind, bytes, XSR_BENCH_SEED, &c) != 0) {
    fprintf(stderr, "xsr-bench: out of memory generating %s\n", kind);
    return 1;
  }
  xsr_bench_libxml2_init();
  run_ctx r = {
      .c = &c, .chunk = chunk, .reads = chunk ? NULL : c.reads, .max_stanza = max_stanza_for(&c)};
  r.scratch = malloc(c.len);
  if (!r.scratch) {
    xsr_bench_corpus_free(&c);
    return 1;
  }
  memcpy(r.scratch, c.data, c.len);
  size_t n = xsr_bench_parse_once(s, &r);
  int rc = 0;
  if (is_parser(s) && n != c.stanzas) {
    fprintf(stderr, "xsr-bench: %s on %s: %s\n", subject, kind,
            n == (size_t)-1 ? r.err : "stanza count differs from the corpus");
    rc = 1;
  }
  char label[24];
  chunk_label(chunk, label, sizeof label);
  printf("subject=%s corpus=%s chunk=%s bytes=%zu stanzas=%zu counted=%zu", subject, kind, label,
         c.len, c.stanzas, n);
  if (s == S_XSR)
    printf(" peak_heap=%zu", r.peak);
  printf("\n");
  free(r.scratch);
  xsr_bench_corpus_free(&c);
  return rc;
}
