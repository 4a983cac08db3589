/* SPDX-License-Identifier: MIT */
/*
 * bench/bench.h: what a benchmark suite of xsr-bench sees.
 *
 * xsr-bench's main parses options, then calls each selected suite's entry
 * point with an xsr_bench_env.  A suite measures and reports every figure
 * through xsr_bench_record(); main prints the table, writes --json and
 * --plot from what was recorded.  Suites never print results themselves.
 */
#ifndef XSR_BENCH_H
#define XSR_BENCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct xsr_bench_env xsr_bench_env;

/* Whether --quick was given: suites shrink corpora and repetitions so the
 * whole run takes seconds (used by the tests). */
int xsr_bench_quick(const xsr_bench_env *env);

/* Progress for a terminal ("router: 2 threads, bare fan-out"); ignored when
 * stderr is not a terminal. */
void xsr_bench_progress(xsr_bench_env *env, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records one measured figure.
 *   suite   "parser", "router", "e2e"
 *   subject what was measured: "xsr", "expat", "libxml2", "memcpy", ...
 *   scenario the case: corpus and chunk size, thread count, ...
 *   metric  "MB/s", "stanzas/s", "lookups/s", "ns/op", "ratio", "bytes", ...
 *   value   the median over the repetitions
 *   spread  (max - min) / median over the repetitions, 0 if one run */
void xsr_bench_record(xsr_bench_env *env, const char *suite, const char *subject,
                      const char *scenario, const char *metric, double value, double spread);

/* Monotonic clock in nanoseconds. */
uint64_t xsr_bench_now_ns(void);

/* Suite entry points; each returns 0 on success, non-zero when the run
 * failed (for example two parsers disagreeing on a stanza count). */
int xsr_bench_suite_parser(xsr_bench_env *env);
int xsr_bench_suite_router(xsr_bench_env *env);
int xsr_bench_suite_e2e(xsr_bench_env *env);

/* The e2e suite's options.  --peer NAME=HOST:PORT[,pid=PID][,domain=D]
 * [,users=PREFIX][,password=P], in command-line order (i < count); the
 * worker threads of the xsr-router it starts (--router-threads; 0: one
 * per online CPU) and of xsr-load (--load-threads; 0: xsr-load's default). */
size_t xsr_bench_peer_count(const xsr_bench_env *env);
const char *xsr_bench_peer(const xsr_bench_env *env, size_t i);
unsigned xsr_bench_router_threads(const xsr_bench_env *env);
unsigned xsr_bench_load_threads(const xsr_bench_env *env);

/* Checks a --peer argument before anything runs: 0, or -1 with a message
 * in err[0..errlen). */
int xsr_bench_e2e_peer_check(const char *spec, char *err, size_t errlen);

/* Runs one parser-suite subject ("xsr", "expat", "libxml2", "pugixml",
 * "memchr", "memcpy") once over corpus `kind` (see corpus.h) fed in
 * `chunk`-byte pieces (0: the corpus's reads, one stanza each), and prints
 * one line "subject=... bytes=N
 * stanzas=N counted=N [peak_heap=N]".  For instruction counting: the parse
 * itself runs in xsr_bench_parse_once().  Returns 0, 1 when the parser
 * failed or miscounted, 2 for an unknown subject or corpus. */
int xsr_bench_parser_once(const char *subject, const char *kind, size_t chunk, int quick);

#endif /* XSR_BENCH_H */
