/* SPDX-License-Identifier: MIT */
/*
 * fuzz/fuzz.h: helpers shared by the xsr fuzz harnesses.
 *
 * Every harness is one fuzz/<entry>_fuzzer.c defining LLVMFuzzerTestOneInput;
 * the same file links against libFuzzer, AFL++'s driver, or fuzz/replay.c
 * (a plain main() that runs files and corpus directories, for CI without
 * clang).
 *
 * Harnesses check invariants, not only "does not crash": a violated
 * invariant calls FUZZ_CHECK's failure path, which prints the condition and
 * aborts, so every engine records the input as a crash.
 */
#ifndef XSR_FUZZ_H
#define XSR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <xsr/xsr.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((noreturn, format(printf, 4, 5)))
#endif
    ;

/* FUZZ_CHECK(cond, printf-args): aborts with a message when cond is false. */
#define FUZZ_CHECK(cond, ...)                                                                      \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                           \
  } while (0)

/* ---- reading options from the leading bytes -------------------------------- */

typedef struct fuzz_input {
  const uint8_t *data;
  size_t size;
} fuzz_input;

/* The next option byte, or 0 when the input is exhausted. */
uint8_t fuzz_take_byte(fuzz_input *in);

/* Fills a parser configuration from two option bytes: mostly the defaults,
 * sometimes small limits (max_stanza 64..4144, depth 1..16, ...) so that the
 * limit paths run.  `generous` (for differential runs) instead raises every
 * limit so that none can trigger on fuzz-sized input. */
void fuzz_config(xsr_parser_config *cfg, uint8_t a, uint8_t b);
void fuzz_config_generous(xsr_parser_config *cfg);

/* A chunk-size pattern: eight sizes drawn from four option bytes (one of
 * 16 sizes from 1 byte to 64 KiB per nibble), used cyclically. */
typedef struct fuzz_chunks {
  size_t size[8];
  unsigned next;
} fuzz_chunks;

void fuzz_chunks_init(fuzz_chunks *c, fuzz_input *in);
size_t fuzz_chunks_next(fuzz_chunks *c);

/* ---- growable byte log -------------------------------------------------------- */

typedef struct fuzz_log {
  uint8_t *buf;
  size_t len, cap;
} fuzz_log;

void fuzz_log_bytes(fuzz_log *l, const void *p, size_t n);
void fuzz_log_u64(fuzz_log *l, uint64_t v);
void fuzz_log_free(fuzz_log *l);
/* Aborts with both logs' first difference unless a and b are identical. */
void fuzz_log_expect_equal(const fuzz_log *a, const fuzz_log *b, const char *what);

/* ---- instrumented parser run --------------------------------------------------- */

/* How the bytes reach the parser. */
typedef enum fuzz_way {
  FUZZ_FEED_WHOLE,  /* one xsr_parser_feed() of everything (the reference) */
  FUZZ_FEED_CHUNKS, /* xsr_parser_feed() in chunks, each in its own exact-size heap copy */
  FUZZ_BUFFER       /* xsr_parser_buffer() + xsr_parser_commit() */
} fuzz_way;

typedef struct fuzz_run_opts {
  fuzz_way way;
  fuzz_chunks chunks;
  int pause_mask;      /* bit 0: pause after stanzas, bit 1: after open/close */
  size_t buffer_ask;   /* FUZZ_BUFFER: room asked of xsr_parser_buffer() (0: default) */
  int restart_on;      /* restart the stream after every stanza named "success"/"proceed" */
  int restart_every;   /* ... or after every n-th stanza (0: never) */
  int check_callbacks; /* poke the API from callbacks: must answer XSR_EBUSY */
  /* FUZZ_FEED_CHUNKS: when ncuts > 0, each read ends at the next of these
   * offsets into the data (a reference run's event ends: whole stanzas per
   * read, as a server gets them), and the chunk pattern takes the rest. */
  const size_t *cuts;
  size_t ncuts;
  /* on_stanza refuses (XSR_RETRY) every retry_every-th stanza the first time
   * it is reported, retry_times times in a row (0: never).  The parser must
   * stop before it (offset at its first byte) and report it again on resume
   * at the same offset with the same bytes and view; the log records it once,
   * so it must still equal a run without refusals. */
  int retry_every;
  int retry_times;
  /* Called (when not NULL) after every call that parses (feed, commit,
   * resume): a second parser sharing the session's scratch pool parses
   * there, so every hand-over of the pool's sets happens mid-stream. */
  void (*between)(void *user);
  void *between_user;
  /* The parser builds every stanza's index during the scan (the reference:
   * xsr__parser_eager_index) instead of on demand, the default; the index
   * is logged either way, so comparing the logs of an eager run and a lazy
   * one compares the two indexes. */
  int eager_index;
} fuzz_run_opts;

/* The outcome of one or more runs, plus the event log compared across
 * chunkings. */
typedef struct fuzz_result {
  fuzz_log log;
  xsr_err err;
  uint64_t err_offset;
  uint64_t stanzas;
  int closed;
  int opens;
  int enomem;   /* the run hit XSR_ENOMEM (injected): logs are not comparable */
  size_t *ends; /* offsets into the data just past each event (see cuts) */
  size_t nends, capends;
} fuzz_result;

/* A parser plus the bookkeeping the invariant checks need.  `alloc` may be
 * NULL (libc). */
typedef struct fuzz_session fuzz_session;
fuzz_session *fuzz_session_new(const xsr_parser_config *cfg, const xsr_allocator *alloc);
xsr_parser *fuzz_session_parser(fuzz_session *s);
/* xsr_parser_reset(), and the session's bookkeeping with it. */
void fuzz_session_reset(fuzz_session *s);
void fuzz_session_free(fuzz_session *s);

/* Feeds data[0..size) the way opts says, checking every invariant of
 * parser.h and stanza.h on the way and after an error, and appends the
 * events and the final state to res->log. */
void fuzz_session_run(fuzz_session *s, const fuzz_run_opts *opts, const uint8_t *data, size_t size,
                      fuzz_result *res);

/* fuzz_session_new + run + free. */
void fuzz_parse(const xsr_parser_config *cfg, const fuzz_run_opts *opts, const uint8_t *data,
                size_t size, fuzz_result *res);

void fuzz_result_free(fuzz_result *res);

/* 1 when s[0..n) is valid UTF-8 made only of XML 1.0 characters. */
int fuzz_xml_chars_ok(const uint8_t *s, size_t n);

#endif /* XSR_FUZZ_H */
