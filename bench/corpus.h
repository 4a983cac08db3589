/* SPDX-License-Identifier: MIT */
/*
 * bench/corpus.h: the deterministic corpora of xsr-bench.
 *
 * Each corpus is one complete XMPP stream,
 *
 *   <?xml version='1.0'?><stream:stream xmlns='jabber:client' ...>
 *     stanza* </stream:stream>
 *
 * generated with the xsr writer from a seeded PRNG, so every run on every
 * machine parses the same bytes.  Kinds:
 *
 *   chat         small chat messages (bodies with some non-ASCII and escaped
 *                characters, chat states, receipts) and presence with caps
 *   iq           roster pushes and results, disco#info results, pubsub
 *                items: nested, namespaced children, many attributes
 *   large        4 to 64 KiB stanzas: base64 payloads (IBB, BoB), long bodies
 *   adversarial  nesting to the depth limit, elements with the maximum
 *                number of attributes, dense entity and character
 *                references, CDATA, names near the length limit
 *   stanza1k     1 KiB stanzas, 1 MiB of them }  used by the instruction-count
 *   stanza1m     one stanza of about 1 MiB     }  script to show linearity:
 *                the same bytes per stanza kind, the same stream size, so
 *                the set-up and the stream header weigh the same in both
 *
 * Every corpus is valid for xsr's default limits except stanza1m, whose one
 * stanza exceeds XSR_DEFAULT_MAX_STANZA: parse it with max_stanza raised.
 */
#ifndef XSR_BENCH_CORPUS_H
#define XSR_BENCH_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsr_bench_corpus {
  const char *kind;
  char *data;     /* the stream, malloc'ed */
  size_t len;     /* bytes */
  size_t stanzas; /* top-level elements of the stream */
  /* Stanza size distribution in bytes. */
  size_t size_min, size_p50, size_p90, size_p99, size_max;
  double size_mean;
  /* The stream as a peer sends it, one top-level element at a time: the
   * end offset of each read a server makes when every element comes in a
   * segment of its own (the stream header, each stanza with the keepalive
   * space before it, the stream's end tag).  reads[nreads - 1] == len. */
  size_t *reads;
  size_t nreads;
} xsr_bench_corpus;

/* The kinds, NULL-terminated, in the order the suite runs them (the two
 * single-stanza kinds are not listed). */
extern const char *const xsr_bench_corpus_kinds[];

/* Whether `kind` names a corpus, listed or not. */
int xsr_bench_corpus_known(const char *kind);

/* Generates corpus `kind` of at least `target` bytes (the last stanza makes
 * it slightly longer) from `seed`.  Returns 0, or -1 when out of memory or
 * `kind` is unknown.  The same arguments always give the same bytes. */
int xsr_bench_corpus_make(const char *kind, size_t target, uint64_t seed, xsr_bench_corpus *out);

void xsr_bench_corpus_free(xsr_bench_corpus *c);

/* The seed every run uses. */
#define XSR_BENCH_SEED 0x7873722d62656e63u /* "xsr-benc" */

#ifdef __cplusplus
}
#endif
#endif /* XSR_BENCH_CORPUS_H */
