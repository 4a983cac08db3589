/* SPDX-License-Identifier: MIT */
/*
 * tests/support/fwdcheck.h: what a forwarded stanza must mean, checked
 * independently of the router.
 *
 * A stanza read on the sender's stream and the copy the router delivers
 * must be the same XML once each is read in its own stream context: the
 * original inside the sender's stream header (whose prefix bindings and
 * xml:lang it may rely on), the copy inside a plain jabber:client header
 * such as any recipient has.  Both are reduced to one canonical form:
 *
 *   <{uri}local {uri}attr="value" ...>text<{uri}child ...></></>
 *
 * expanded names, attributes sorted by expanded name with decoded values,
 * namespace declarations left out, adjacent character data and CDATA merged
 * into one decoded text, every element closed by "</>".  The stanza's own
 * 'from' attribute and xml:lang are not in the form; they are reported in
 * an fc_top, since the router replaces the one and may add the other.
 *
 * The form is computed two ways that share no code: from expat's events
 * (XML_ParserCreateNS) and from an xsr stanza view.  Nothing here uses
 * Criterion: the fuzz harnesses link it too.  Problems are returned as
 * text.
 */
#ifndef XSR_FWDCHECK_H
#define XSR_FWDCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "xsr/parser.h"
#include "xsr/stanza.h"

/* ---- growable string ---------------------------------------------------- */

typedef struct fc_buf {
  char *p; /* NUL-terminated once anything was added */
  size_t len;
  size_t cap;
} fc_buf;

void fc_add(fc_buf *b, const void *data, size_t len);
void fc_puts(fc_buf *b, const char *s);
void fc_printf(fc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fc_clear(fc_buf *b);
void fc_free(fc_buf *b);
const char *fc_str(const fc_buf *b); /* "" when empty */
int fc_eq(const fc_buf *a, const fc_buf *b);

/* Appends the value escaped as in the canonical form (& < > " and control
 * characters as references). */
void fc_escape(fc_buf *out, const char *s, size_t len);

/* ---- canonical forms ------------------------------------------------------ */

/* What the canonical form leaves out of a stanza's start tag, and counts. */
typedef struct fc_top {
  unsigned from_count; /* unprefixed 'from' attributes */
  fc_buf from;         /* the (last) one's decoded value */
  int has_lang;
  fc_buf lang; /* xml:lang, decoded */
  int has_id;
  fc_buf id;      /* unprefixed 'id', decoded (also in the form) */
  unsigned attrs; /* attributes of the start tag, declarations excluded */
  unsigned decls; /* namespace declarations on it (expat only; 0 from a view) */
  fc_buf name;    /* expanded name of the stanza element */
} fc_top;

void fc_top_clear(fc_top *t);
void fc_top_free(fc_top *t);

/* A prefix binding declared on the stream element (prefix "" = default). */
typedef struct fc_decl {
  char *prefix;
  char *uri; /* decoded; "" for xmlns='' */
} fc_decl;

/* One stream document read by expat. */
typedef struct fc_doc {
  int ok;         /* expat accepted the whole document */
  fc_buf err;     /* why not */
  size_t stanzas; /* children of the stream element */
  fc_buf canon;   /* the canonical form of the first one */
  fc_top top;
  int stream_has_lang; /* xml:lang on the stream element */
  fc_buf stream_lang;
  fc_decl *decls; /* bindings declared on the stream element */
  size_t ndecls;
} fc_doc;

/* Parses doc[0..len) (a whole stream: header, stanzas, end tag) with expat,
 * namespace-aware, as one final buffer.  Returns out->ok. */
int fc_expat_doc(const char *doc, size_t len, fc_doc *out);
void fc_doc_free(fc_doc *d);

/* The canonical form of a view reported by parser p (namespace ids are
 * turned into URIs with xsr_parser_ns_uri).  Decoding failures and index
 * inconsistencies found on the way go to `problems`. */
void fc_canon_view(const xsr_parser *p, const xsr_stanza *st, fc_buf *canon, fc_top *top,
                   fc_buf *problems);

/* ---- the delivered copy ------------------------------------------------- */

/* The stream header a recipient reads deliveries in, and its end tag. */
extern const char fc_client_header[];
extern const char fc_client_trailer[];

/* doc = fc_client_header + bytes + fc_client_trailer. */
void fc_wrap_client(fc_buf *doc, const char *bytes, size_t len);

/* Reads the delivered `bytes` on a fresh xsr parser (cfg NULL: defaults)
 * inside fc_client_header.  Succeeds (returns 1) when the parser accepts
 * the whole document with exactly one stanza that inherits nothing from
 * the recipient's header; canon/top/ns get the stanza's form, else `why`
 * says what went wrong. */
int fc_reparse_xsr(const xsr_parser_config *cfg, const char *bytes, size_t len, fc_buf *canon,
                   fc_top *top, fc_buf *why);

/* The forwarding check proper.  `orig` is the sender-side form and top of
 * the stanza (read in the sender's stream), `stream_lang` (NULL: none) the
 * sender's stream xml:lang, decoded; `got` the delivered copy's, read in
 * fc_client_header; `jid` the sender's full JID as the router stamps it
 * (canonical).  The copy must have exactly one 'from', equal to jid, the
 * stanza's own xml:lang or else the stream's (or none), and otherwise the
 * same form.  Returns 1, or 0 with the difference in `why`. */
int fc_check_forward(const fc_buf *orig, const fc_top *orig_top, const char *stream_lang,
                     size_t stream_lang_len, const fc_buf *got, const fc_top *got_top,
                     const char *jid, size_t jid_len, fc_buf *why);

/* Checks a view's forwarding context against what expat read on the
 * sender's stream (`sender`: the header plus this stanza): every inherited
 * binding is declared on the stream element with that URI, no prefix is
 * listed twice, stream_lang is the stream element's xml:lang, tag_attrs and
 * tag_decls count the start tag as expat saw it.  Returns 1, or 0 with the
 * problem in `why`. */
int fc_check_context(const xsr_stanza *st, const fc_doc *sender, fc_buf *why);

#endif /* XSR_FWDCHECK_H */
