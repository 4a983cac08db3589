/* SPDX-License-Identifier: MIT */
/*
 * xsr/jid.h: XMPP addresses (RFC 7622): parse, normalise, compare, hash.
 *
 *   jid = [ localpart "@" ] domainpart [ "/" resourcepart ]
 *
 * Splitting follows RFC 7622 section 3.1: the resourcepart is everything
 * after the first '/', the localpart everything before the first '@' that
 * precedes that '/', the domainpart what is left.  A final '.' of the
 * domainpart is removed (section 3.2).  Each part present must be 1..1023
 * bytes long *after* normalisation (XSR_JID_PART_MAX).
 *
 * Normalisation (the "enforcement" of RFC 7622 section 3) gives every
 * address one canonical byte string, so that two JIDs are equal exactly
 * when their canonical forms are byte-equal:
 *
 *   localpart    PRECIS UsernameCaseMapped (RFC 8265 section 3.3): width
 *                mapping, Unicode toLowerCase() (the full mapping: U+0130
 *                becomes "i" + U+0307, a capital sigma that ends a word the
 *                final sigma), NFC, the Bidi Rule of RFC 5893 (for strings
 *                that hold R, AL or AN code points), then the
 *                IdentifierClass of RFC 8264; and RFC 7622 also forbids
 *                " & ' / : < > @  in it.
 *   domainpart   IDNA2008 through libidn2 (UTS #46 non-transitional mapping,
 *                which lower-cases and width-maps, then the IDNA2008
 *                validity checks), stored as U-labels (RFC 7622 section
 *                3.2.2), so "xn--mnchen-3ya.de" and "MÜNCHEN.de" are the same
 *                domain "münchen.de".  Labels must be LDH (letters, digits,
 *                hyphen; no underscore), 1..63 bytes, no leading or trailing
 *                hyphen; a U-label holds only RFC 5892's LetterDigits, '-'
 *                and its CONTEXTO code points in their contexts (appendix
 *                A.3 to A.9, checked here: libidn2 checks CONTEXTJ only).
 *                An IP-literal "[...]" must be an IPv6 address (RFC 3986
 *                section 3.2.2; hex digits lower-cased, otherwise as
 *                written, so "[::1]" and "[0::1]" differ); dotted IPv4 is
 *                accepted as written.
 *   resourcepart PRECIS OpaqueString (RFC 8265 section 4.2): non-ASCII spaces
 *                mapped to U+0020, NFC, then the FreeformClass.  No case
 *                mapping: resources are case-sensitive.
 *
 * Which libraries, and why: the PRECIS profiles are computed from utf8proc's
 * Unicode database (general category, decomposition type, bidi class,
 * default-ignorable flag, NFC/NFKC), applying the derivation rules of RFC
 * 8264 section 8 to each code point, rather than from a hand-made table or
 * stringprep: RFC 7622 made PRECIS the rule for XMPP and stringprep is tied
 * to Unicode 3.2.  Domains go through libidn2, the maintained IDNA2008
 * implementation.  Both are used only for non-ASCII input (and ASCII
 * domains holding "xn--" A-labels): plain ASCII, by far the common case,
 * takes a fast path that allocates nothing and calls no library.
 *
 * Known simplifications (stricter than the RFCs, never looser): of the
 * CONTEXTJ/CONTEXTO code points only U+00B7 MIDDLE DOT (between two 'l') is
 * accepted; ZWJ/ZWNJ, Greek keraia, Hebrew geresh/gershayim, Katakana middle
 * dot and Arabic-Indic digits are refused in local- and resourceparts
 * (domains get the full contextual rules, their scripts told by Unicode
 * block).  IPvFuture literals ("[v1.x]") are refused.  The decomposed form
 * of a non-ASCII part must stay below 4096 code points.
 *
 * Threads: every function here is pure and thread-safe.
 */
#ifndef XSR_JID_H
#define XSR_JID_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "stanza.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest part, in bytes, after normalisation (RFC 7622 section 3). */
#define XSR_JID_PART_MAX 1023u
/* Longest canonical JID: three parts plus '@' and '/'. */
#define XSR_JID_MAX      (3u * XSR_JID_PART_MAX + 2u)

typedef enum xsr_jid_part {
  XSR_JID_PART_NONE = 0, /* the JID as a whole (e.g. empty input) */
  XSR_JID_PART_LOCAL,
  XSR_JID_PART_DOMAIN,
  XSR_JID_PART_RESOURCE
} xsr_jid_part;

/* "localpart", "domainpart", "resourcepart" or "jid". */
const char *xsr_jid_part_name(xsr_jid_part part);

/* A parsed JID: spans into the buffer given to xsr_jid_parse().  After a
 * successful parse the canonical form is stored contiguously there as
 * [local '@'] domain ['/' resource], so the bare and full JIDs are spans too.
 * An absent localpart or resourcepart has ptr == NULL and len == 0. */
typedef struct xsr_jid {
  xsr_span local;
  xsr_span domain;
  xsr_span resource;
} xsr_jid;

/* What was wrong: the part and the byte offset in the input of the
 * offending character (or of the part's first byte when the fault is only
 * visible after normalisation, e.g. a part that grew past the limit). */
typedef struct xsr_jid_error {
  xsr_jid_part part;
  size_t offset;
} xsr_jid_error;

/*
 * Parses and normalises the JID in s[0..len) (UTF-8, not NUL-terminated),
 * writing the canonical form into out[0..cap) and setting *jid to spans into
 * `out`.  cap >= XSR_JID_MAX always suffices; a smaller cap may give
 * XSR_ENOSPC.  `out` must not overlap `s`.  `err` may be NULL.
 *
 * Returns XSR_OK, or:
 *   XSR_EJIDSYNTAX  empty input or empty part ("@d", "d/", "a@/r", "@"),
 *                   malformed IP literal, empty domain label
 *   XSR_EJIDLONG    a part longer than XSR_JID_PART_MAX bytes once
 *                   normalised, or a domain label over 63 bytes; a domain
 *                   holding non-ASCII labels is also held to the DNS limit
 *                   of 253 bytes in its A-label form (IDNA2008, libidn2),
 *                   while an all-ASCII one may use RFC 7622's 1023
 *   XSR_EJIDCHAR    a character the part's profile does not allow (this
 *                   includes invalid UTF-8 and the Bidi Rule)
 *   XSR_ENOSPC      `cap` too small
 *   XSR_ENOMEM      a library call failed to allocate (non-ASCII only)
 * On error *jid is zeroed and err names the part and offset.
 *
 * ASCII input allocates nothing.
 */
xsr_err xsr_jid_parse(const char *s, size_t len, char *out, size_t cap, xsr_jid *jid,
                      xsr_jid_error *err);

/* The bare JID ([local@]domain) and the full JID (with /resource when
 * present) of a parsed JID, as spans into its buffer. */
static inline xsr_span xsr_jid_bare(const xsr_jid *j) {
  xsr_span s;
  s.ptr = j->local.ptr ? j->local.ptr : j->domain.ptr;
  s.len = (size_t)(j->domain.ptr + j->domain.len - s.ptr);
  return s;
}
static inline xsr_span xsr_jid_full(const xsr_jid *j) {
  xsr_span s = xsr_jid_bare(j);
  if (j->resource.ptr)
    s.len = (size_t)(j->resource.ptr + j->resource.len - s.ptr);
  return s;
}

/* Equality of two parsed (canonical) JIDs: the bare parts only, or the
 * full JIDs (a JID without a resource equals only another without one).
 * Returns 1 when equal, 0 otherwise. */
int xsr_jid_equal_bare(const xsr_jid *a, const xsr_jid *b);
int xsr_jid_equal_full(const xsr_jid *a, const xsr_jid *b);

/* A 64-bit hash of a canonical JID string (use xsr_jid_bare()/_full() to
 * pick the span).  `seed` varies the hash per table so that inputs chosen
 * against one process do not collide in another. */
uint64_t xsr_jid_hash(xsr_span s, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif /* XSR_JID_H */
