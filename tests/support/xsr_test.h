/* SPDX-License-Identifier: MIT */
/*
 * tests/support/xsr_test.h: helpers shared by the parser tests.
 *
 *   tbuf        a growable byte string (logs, messages)
 *   canonical   the canonical serialisation of a stanza view, built from the
 *               index only (names with namespace URIs, decoded values) and
 *               cross-checked against the raw bytes as it goes
 *   cases       loading tests/cases/<name>.{xml,events} and replaying them
 *               through the parser in every chunking (see tests/cases/README.md)
 *   countalloc  an xsr_allocator that counts calls and can fail the n-th one
 *
 * Nothing here uses Criterion, so the helpers can be reused by tools and
 * fuzzers; problems are reported as text in a tbuf.
 */
#ifndef XSR_TEST_H
#define XSR_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "xsr/xsr.h"

/* ---- growable string ---------------------------------------------------- */

typedef struct tbuf {
  char *p; /* always NUL-terminated once anything was added */
  size_t len;
  size_t cap;
} tbuf;

void tbuf_add(tbuf *b, const void *data, size_t len);
void tbuf_puts(tbuf *b, const char *s);
void tbuf_printf(tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tbuf_clear(tbuf *b);
void tbuf_free(tbuf *b);
const char *tbuf_str(const tbuf *b); /* "" when empty */

/* ---- canonical serialisation ------------------------------------------- */

/* Appends the canonical form of `st` (see tests/cases/README.md) to `out`.
 * Every inconsistency found in the view (index out of range, flags that do
 * not match the decoded value, routing spans that disagree with the
 * attributes, ...) is appended to `problems`, one line each. */
void xt_canon_stanza(const xsr_parser *p, const xsr_stanza *st, tbuf *out, tbuf *problems);

/* Appends the "open" event line body for a stream header (without "open "). */
void xt_canon_header(const xsr_parser *p, const xsr_stream_header *h, tbuf *out, tbuf *problems);

/* Appends `len` bytes escaped canonically (& < > " TAB LF CR and other
 * controls as references; other bytes verbatim). */
void xt_escape(tbuf *out, const char *s, size_t len);

/* ---- conformance cases -------------------------------------------------- */

typedef struct xt_case {
  char name[128];
  unsigned char *input;
  size_t len;
  char *expected; /* the .events file without its config line */
  xsr_parser_config cfg;
  int restart;      /* "config restart": restart after SASL <success/> / TLS <proceed/> */
  size_t max_chunk; /* "config max_chunk=N": largest chunk size replayed (0: len) */
} xt_case;

/* Directory of the cases: $XSR_TEST_CASES, else "tests/cases". */
const char *xt_cases_dir(void);

/* Lists the case names (files *.xml with a matching .events), sorted.
 * Returns the count; *names is malloc'd, each entry too. */
size_t xt_case_list(const char *dir, char ***names);
void xt_case_list_free(char **names, size_t n);

/* Loads a case.  Returns 0, or -1 with a message in `err`. */
int xt_case_load(const char *dir, const char *name, xt_case *c, tbuf *err);
void xt_case_free(xt_case *c);

enum { XT_FEED = 0, XT_COMMIT = 1 };

typedef struct xt_replay {
  int mode;       /* XT_FEED or XT_COMMIT */
  size_t chunk;   /* bytes per call */
  int pause_each; /* 1: return XSR_PAUSE from every callback, then resume;
                     2: XSR_RETRY from on_stanza for every stanza the first
                     time (it must come again, the same, right away) */
  int pooled;     /* 1: the parser borrows its scratch from a pool shared with
                     a second parser, fed a chunk of another stream after
                     every call on the first (see xt_other_*) */
} xt_replay;

/* The second parser of a pooled replay: parses an endless chat stream (a
 * header, then stanzas of a few shapes, some with namespaces and
 * references) in chunks of 1 to 97 bytes, so that it holds partial stanzas
 * at times and nothing at others, and checks that every stanza it gets is
 * the one it was sent. */
typedef struct xt_other {
  xsr_parser *p;
  size_t off;     /* bytes of the stream fed so far */
  size_t step;    /* calls so far: picks the chunk size */
  size_t stanzas; /* stanzas reported */
  tbuf *problems;
} xt_other;

/* Creates the second parser on `pool`; 0 on failure (with a problem). */
int xt_other_init(xt_other *o, xsr_parser_pool *pool, tbuf *problems);
/* Feeds it one more chunk. */
void xt_other_step(xt_other *o);
void xt_other_free(xt_other *o);

/* Replays a case once; appends the event log to `log` and every contract
 * violation seen on the way (see the README) to `problems`. */
void xt_replay_case(const xt_case *c, const xt_replay *how, tbuf *log, tbuf *problems);

/* Replays a case in every chunking and mode; returns the number of
 * mismatches and describes the first few in `report`. */
size_t xt_check_case(const xt_case *c, tbuf *report);

/* ---- counting allocator -------------------------------------------------- */

typedef struct countalloc {
  size_t mallocs, reallocs, frees; /* calls that did something */
  size_t calls;                    /* malloc + realloc calls, failed ones included */
  size_t fail_at;                  /* fail the fail_at-th call (1-based); 0: never */
  size_t failed;                   /* calls failed so far */
  long live;                       /* blocks currently allocated */
  size_t live_bytes;
} countalloc;

/* An allocator that counts into `ca` (kept by pointer in `user`). */
xsr_allocator countalloc_make(countalloc *ca);

#endif /* XSR_TEST_H */
