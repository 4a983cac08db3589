/* SPDX-License-Identifier: MIT */
/*
 * bench/parsers.h: the parsers the parser suite compares, behind one shape.
 *
 * Each function parses the complete stream data[0..len) fed in chunks of
 * `chunk` bytes (the last one shorter) or, when `reads` is not NULL, in
 * the reads that end at those offsets, in order up to len (a corpus's
 * reads: one top-level element each), counts the top-level children of
 * the stream element into *stanzas, and returns 0 when the parser accepted
 * the whole stream, -1 otherwise (with a reason in err[0..errlen) when err
 * is not NULL).  Parsers are created and freed inside the call, so a
 * measurement includes setup, as a server accepting a connection pays it.
 */
#ifndef XSR_BENCH_PARSERS_H
#define XSR_BENCH_PARSERS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* xsr through xsr_parser_feed(), with a counting allocator: *peak gets the
 * most heap bytes held at once.  max_stanza raises the stanza size limit
 * (0: the default). */
int xsr_bench_xsr_parse(const char *data, size_t len, size_t chunk, const size_t *reads,
                        size_t max_stanza, size_t *stanzas, size_t *peak, char *err, size_t errlen);

/* expat: XML_ParserCreateNS, XML_Parse per chunk with isFinal 0, then a
 * final empty XML_Parse; start/end handlers count depth-2 elements. */
int xsr_bench_expat_parse(const char *data, size_t len, size_t chunk, const size_t *reads,
                          size_t *stanzas, char *err, size_t errlen);

/* libxml2: SAX2 push parser (xmlCreatePushParserCtxt + xmlParseChunk);
 * startElementNs/endElementNs count depth-2 elements; no tree is built. */
int xsr_bench_libxml2_parse(const char *data, size_t len, size_t chunk, const size_t *reads,
                            size_t *stanzas, char *err, size_t errlen);

/* Once per process before the first libxml2 parse. */
void xsr_bench_libxml2_init(void);

/* pugixml: load_buffer_inplace on a mutable copy (buf is modified); counts
 * element children of the document element.  Not incremental. */
int xsr_bench_pugixml_parse(char *buf, size_t len, size_t *stanzas);

#ifdef __cplusplus
}
#endif
#endif /* XSR_BENCH_PARSERS_H */
