/* SPDX-License-Identifier: MIT */
/*
 * JID parsing and normalisation (RFC 7622, PRECIS RFC 8264/8265).
 *
 * Design: every part first tries a byte loop over ASCII that validates,
 * lower-cases (local, domain) and copies in one pass.  The first non-ASCII
 * byte sends that part to the slow path, which decodes to code points, maps
 * (width, case, spaces), normalises to NFC with utf8proc and then checks each
 * resulting code point against the PRECIS derived property computed from
 * utf8proc's property table (RFC 8264 section 8).  Domains leave the fast
 * path for libidn2 also when a label looks like an A-label ("xn--"), so that
 * A- and U-label spellings of one domain end up the same bytes.
 */
#include "xsr/jid.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

const char *xsr_jid_part_name(xsr_jid_part part) {
  switch (part) {
  case XSR_JID_PART_LOCAL:
    return "localpart";
  case XSR_JID_PART_DOMAIN:
    return "domainpart";
  case XSR_JID_PART_RESOURCE:
    return "resourcepart";
  default:
    return "jid";
  }
}

static xsr_err fail(xsr_jid_error *err, xsr_err code, xsr_jid_part part, size_t off) {
  if (err) {
    err->part = part;
    err->offset = off;
  }
  return code;
}

/* Characters RFC 7622 section 3.3.1 forbids in a localpart, beyond what the
 * IdentifierClass already refuses. */
static int local_forbidden_ascii(int32_t c) {
  return c == '"' || c == '&' || c == '\'' || c == '/' || c == ':' || c == '<' || c == '>' ||
         c == '@';
}

/* ---- PRECIS derived property (RFC 8264 section 8) ---------------------- */

enum precis { P_PVALID, P_FREE_PVAL, P_CONTEXTJ, P_CONTEXTO, P_DISALLOWED };

/* Whether NFKC(cp) differs from cp, for a code point already in NFC: true
 * exactly when its compatibility decomposition differs from its canonical
 * one (composition is injective on decomposed sequences). */
static int has_compat(int32_t cp) {
  utf8proc_int32_t a[32], b[32];
  int bc1 = 0, bc2 = 0;
  utf8proc_ssize_t na = utf8proc_decompose_char(cp, a, 32, UTF8PROC_DECOMPOSE, &bc1);
  utf8proc_ssize_t nb =
      utf8proc_decompose_char(cp, b, 32, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &bc2);
  if (na < 0 || nb < 0 || na > 32 || nb > 32)
    return 1;
  return na != nb || memcmp(a, b, (size_t)na * sizeof a[0]) != 0;
}

static enum precis precis_class(int32_t cp, int freeform) {
  /* Exceptions (RFC 5892 section 2.6). */
  switch (cp) {
  case 0x00DF:
  case 0x03C2:
  case 0x06FD:
  case 0x06FE:
  case 0x0F0B:
  case 0x3007:
    return P_PVALID;
  case 0x00B7:
  case 0x0375:
  case 0x05F3:
  case 0x05F4:
  case 0x30FB:
    return P_CONTEXTO;
  case 0x0640:
  case 0x07FA:
  case 0x302E:
  case 0x302F:
  case 0x3031:
  case 0x3032:
  case 0x3033:
  case 0x3034:
  case 0x3035:
  case 0x303B:
    return P_DISALLOWED;
  default:
    break;
  }
  if ((cp >= 0x0660 && cp <= 0x0669) || (cp >= 0x06F0 && cp <= 0x06F9))
    return P_CONTEXTO;
  const utf8proc_property_t *pr = utf8proc_get_property(cp);
  /* Unassigned; noncharacters are Cn too and are refused either way. */
  if (pr->category == UTF8PROC_CATEGORY_CN)
    return P_DISALLOWED;
  if (cp >= 0x21 && cp <= 0x7E)
    return P_PVALID; /* ASCII7 */
  if (cp == 0x200C || cp == 0x200D)
    return P_CONTEXTJ;
  if ((cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0xA960 && cp <= 0xA97C) ||
      (cp >= 0xD7B0 && cp <= 0xD7FB))
    return P_DISALLOWED; /* OldHangulJamo */
  if (pr->ignorable)
    return P_DISALLOWED; /* Default_Ignorable_Code_Point */
  if (pr->category == UTF8PROC_CATEGORY_CC)
    return P_DISALLOWED;
  enum precis idfree = freeform ? P_FREE_PVAL : P_DISALLOWED;
  if (has_compat(cp))
    return idfree;
  switch (pr->category) {
  case UTF8PROC_CATEGORY_LL:
  case UTF8PROC_CATEGORY_LU:
  case UTF8PROC_CATEGORY_LO:
  case UTF8PROC_CATEGORY_ND:
  case UTF8PROC_CATEGORY_LM:
  case UTF8PROC_CATEGORY_MN:
  case UTF8PROC_CATEGORY_MC:
    return P_PVALID; /* LetterDigits */
  case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_NL:
  case UTF8PROC_CATEGORY_NO:
  case UTF8PROC_CATEGORY_ME: /* OtherLetterDigits */
  case UTF8PROC_CATEGORY_ZS: /* Spaces */
  case UTF8PROC_CATEGORY_SM:
  case UTF8PROC_CATEGORY_SC:
  case UTF8PROC_CATEGORY_SK:
  case UTF8PROC_CATEGORY_SO: /* Symbols */
  case UTF8PROC_CATEGORY_PC:
  case UTF8PROC_CATEGORY_PD:
  case UTF8PROC_CATEGORY_PS:
  case UTF8PROC_CATEGORY_PE:
  case UTF8PROC_CATEGORY_PI:
  case UTF8PROC_CATEGORY_PF:
  case UTF8PROC_CATEGORY_PO: /* Punctuation */
    return idfree;
  default:
    return P_DISALLOWED;
  }
}

/* The Bidi Rule of RFC 5893 section 2, applied when the string holds a
 * right-to-left code point (RFC 8265 section 3.3.1 step 5). */
static int bidi_rule_ok(const int32_t *cp, size_t n) {
  int rtl = 0;
  for (size_t i = 0; i < n; i++) {
    int bc = utf8proc_get_property(cp[i])->bidi_class;
    /* RFC 5893 section 1.4: a string is right-to-left when it holds an R,
     * AL or AN code point (Arabic-Indic digits too). */
    if (bc == UTF8PROC_BIDI_CLASS_R || bc == UTF8PROC_BIDI_CLASS_AL || bc == UTF8PROC_BIDI_CLASS_AN)
      rtl = 1;
  }
  if (!rtl || n == 0)
    return 1;
  int first = utf8proc_get_property(cp[0])->bidi_class;
  if (first == UTF8PROC_BIDI_CLASS_L) {
    /* LTR string containing RTL code points: rule 5 refuses R, AL, AN. */
    return 0;
  }
  if (first != UTF8PROC_BIDI_CLASS_R && first != UTF8PROC_BIDI_CLASS_AL)
    return 0;
  int en = 0, an = 0;
  for (size_t i = 0; i < n; i++) {
    int bc = utf8proc_get_property(cp[i])->bidi_class;
    switch (bc) {
    case UTF8PROC_BIDI_CLASS_EN:
      en = 1;
      break;
    case UTF8PROC_BIDI_CLASS_AN:
      an = 1;
      break;
    case UTF8PROC_BIDI_CLASS_R:
    case UTF8PROC_BIDI_CLASS_AL:
    case UTF8PROC_BIDI_CLASS_ES:
    case UTF8PROC_BIDI_CLASS_CS:
    case UTF8PROC_BIDI_CLASS_ET:
    case UTF8PROC_BIDI_CLASS_ON:
    case UTF8PROC_BIDI_CLASS_BN:
    case UTF8PROC_BIDI_CLASS_NSM:
      break;
    default:
      return 0; /* rule 2 */
    }
  }
  if (en && an)
    return 0; /* rule 4 */
  size_t last = n;
  while (last > 0 && utf8proc_get_property(cp[last - 1])->bidi_class == UTF8PROC_BIDI_CLASS_NSM)
    last--;
  if (last == 0)
    return 0;
  int lc = utf8proc_get_property(cp[last - 1])->bidi_class;
  return lc == UTF8PROC_BIDI_CLASS_R || lc == UTF8PROC_BIDI_CLASS_AL ||
         lc == UTF8PROC_BIDI_CLASS_EN || lc == UTF8PROC_BIDI_CLASS_AN; /* rule 3 */
}

/* ---- slow path: non-ASCII local- and resourceparts ---------------------- */

/* Unicode's Cased and Case_Ignorable properties (Unicode 3.13), as far as
 * utf8proc's table gives them: cased letters by category or case mapping,
 * case-ignorable ones by category plus the Word_Break MidLetter, MidNumLet
 * and Single_Quote code points.  For the Final_Sigma condition. */
static int is_cased(int32_t cp) {
  const utf8proc_property_t *pr = utf8proc_get_property(cp);
  return pr->category == UTF8PROC_CATEGORY_LU || pr->category == UTF8PROC_CATEGORY_LL ||
         pr->category == UTF8PROC_CATEGORY_LT || utf8proc_tolower(cp) != cp ||
         utf8proc_toupper(cp) != cp;
}

static int is_case_ignorable(int32_t cp) {
  switch (utf8proc_get_property(cp)->category) {
  case UTF8PROC_CATEGORY_MN:
  case UTF8PROC_CATEGORY_ME:
  case UTF8PROC_CATEGORY_CF:
  case UTF8PROC_CATEGORY_LM:
  case UTF8PROC_CATEGORY_SK:
    return 1;
  default:
    break;
  }
  switch (cp) {
  case 0x0027:
  case 0x002E:
  case 0x003A:
  case 0x00B7:
  case 0x0387:
  case 0x055F:
  case 0x05F4:
  case 0x2018:
  case 0x2019:
  case 0x2024:
  case 0x2027:
  case 0xFE13:
  case 0xFE52:
  case 0xFE55:
  case 0xFF07:
  case 0xFF0E:
  case 0xFF1A:
    return 1;
  default:
    return 0;
  }
}

/* Unicode toLowerCase() of one code point (RFC 8265 section 3.3.1 step 3
 * prefers it to the simple mapping): the full mappings SpecialCasing.txt
 * gives without a language, which are U+0130 (to "i" + U+0307) and capital
 * sigma at the end of a word (to final sigma).  `done` holds what was
 * mapped before, `rest` the input after this code point.  Writes 1 or 2
 * code points to out and returns how many. */
static int full_lower(int32_t cp, const int32_t *done, size_t ndone, const char *rest, size_t nrest,
                      int32_t out[2]) {
  if (cp == 0x0130) {
    out[0] = 'i';
    out[1] = 0x0307;
    return 2;
  }
  out[0] = utf8proc_tolower(cp);
  if (cp != 0x03A3)
    return 1;
  /* Final_Sigma: a cased letter before (case-ignorable ones skipped), and
   * none after. */
  size_t k = ndone;
  while (k > 0 && is_case_ignorable(done[k - 1]))
    k--;
  if (k == 0 || !is_cased(done[k - 1]))
    return 1;
  for (size_t i = 0; i < nrest;) {
    utf8proc_int32_t c;
    utf8proc_ssize_t r =
        utf8proc_iterate((const uint8_t *)rest + i, (utf8proc_ssize_t)(nrest - i), &c);
    if (r <= 0)
      break;
    if (!is_case_ignorable(c)) {
      if (is_cased(c))
        return 1;
      break;
    }
    i += (size_t)r;
  }
  out[0] = 0x03C2;
  return 1;
}

#define CP_MAX 4096

typedef struct part_out {
  char *out;
  size_t cap;
  size_t len;
} part_out;

/* Maps, normalises and checks one non-ASCII local (identifier, case-mapped)
 * or resource (freeform) part.  `base` is the part's offset in the input. */
static xsr_err prep_unicode(const char *p, size_t n, size_t base, int resource, part_out *po,
                            xsr_jid_error *err) {
  xsr_jid_part part = resource ? XSR_JID_PART_RESOURCE : XSR_JID_PART_LOCAL;
  if (n > 4 * (size_t)XSR_JID_PART_MAX)
    return fail(err, XSR_EJIDLONG, part, base);
  int32_t *cps = malloc(CP_MAX * sizeof *cps);
  uint8_t *tmp = malloc(CP_MAX * 4);
  utf8proc_uint8_t *nfc = NULL;
  xsr_err rc = XSR_OK;
  if (!cps || !tmp) {
    rc = XSR_ENOMEM;
    goto out;
  }
  size_t ncp = 0, i = 0;
  while (i < n) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t r = utf8proc_iterate((const uint8_t *)p + i, (utf8proc_ssize_t)(n - i), &cp);
    if (r <= 0) {
      rc = fail(err, XSR_EJIDCHAR, part, base + i);
      goto out;
    }
    /* Refuse controls and (for localparts) RFC 7622's forbidden ASCII here,
     * where the offset still points at the character itself. */
    if (cp < 0x20 || cp == 0x7F || (!resource && (cp == 0x20 || local_forbidden_ascii(cp)))) {
      rc = fail(err, XSR_EJIDCHAR, part, base + i);
      goto out;
    }
    utf8proc_int32_t m[8];
    utf8proc_ssize_t nm = 1;
    m[0] = cp;
    const utf8proc_property_t *pr = utf8proc_get_property(cp);
    if (!resource && (pr->decomp_type == UTF8PROC_DECOMP_TYPE_WIDE ||
                      pr->decomp_type == UTF8PROC_DECOMP_TYPE_NARROW)) {
      int bc = 0;
      nm = utf8proc_decompose_char(cp, m, 8, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &bc);
      if (nm < 1 || nm > 8) {
        rc = fail(err, XSR_EJIDCHAR, part, base + i);
        goto out;
      }
    } else if (resource && pr->category == UTF8PROC_CATEGORY_ZS) {
      m[0] = 0x20; /* OpaqueString additional mapping rule */
    }
    for (utf8proc_ssize_t k = 0; k < nm; k++) {
      int32_t lc[2] = {m[k], 0};
      int nl = resource ? 1 : full_lower(m[k], cps, ncp, p + i + r, n - i - (size_t)r, lc);
      for (int q = 0; q < nl; q++) {
        if (ncp == CP_MAX) {
          rc = fail(err, XSR_EJIDLONG, part, base);
          goto out;
        }
        cps[ncp++] = lc[q];
      }
    }
    i += (size_t)r;
  }
  size_t tl = 0;
  for (size_t k = 0; k < ncp; k++)
    tl += (size_t)utf8proc_encode_char(cps[k], tmp + tl);
  utf8proc_ssize_t nl =
      utf8proc_map(tmp, (utf8proc_ssize_t)tl, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  if (nl < 0) {
    rc = nl == UTF8PROC_ERROR_NOMEM ? XSR_ENOMEM : fail(err, XSR_EJIDCHAR, part, base);
    goto out;
  }
  if ((size_t)nl > XSR_JID_PART_MAX) {
    rc = fail(err, XSR_EJIDLONG, part, base);
    goto out;
  }
  /* Check every code point of the normalised string. */
  ncp = 0;
  for (utf8proc_ssize_t k = 0; k < nl;) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t r = utf8proc_iterate(nfc + k, nl - k, &cp);
    if (r <= 0) {
      rc = fail(err, XSR_EJIDCHAR, part, base);
      goto out;
    }
    cps[ncp++] = cp;
    k += r;
  }
  for (size_t k = 0; k < ncp; k++) {
    int32_t cp = cps[k];
    enum precis c = precis_class(cp, resource);
    int ok = c == P_PVALID || (resource && c == P_FREE_PVAL);
    if (c == P_CONTEXTO && cp == 0x00B7) /* RFC 5892 A.3: between two 'l' */
      ok = k > 0 && k + 1 < ncp && cps[k - 1] == 'l' && cps[k + 1] == 'l';
    if (!resource && local_forbidden_ascii(cp))
      ok = 0; /* e.g. a fullwidth '@' */
    if (!ok) {
      rc = fail(err, XSR_EJIDCHAR, part, base);
      goto out;
    }
  }
  if (!resource && !bidi_rule_ok(cps, ncp)) {
    rc = fail(err, XSR_EJIDCHAR, part, base);
    goto out;
  }
  if (po->len + (size_t)nl > po->cap) {
    rc = fail(err, XSR_ENOSPC, part, base);
    goto out;
  }
  memcpy(po->out + po->len, nfc, (size_t)nl);
  po->len += (size_t)nl;
out:
  free(nfc);
  free(tmp);
  free(cps);
  return rc;
}

/* ---- fast paths -------------------------------------------------------- */

/* Localpart or resourcepart.  Returns 1 when the part holds non-ASCII bytes
 * and must take the slow path (nothing written in that case). */
static int prep_ascii(const char *p, size_t n, size_t base, int resource, part_out *po, xsr_err *rc,
                      xsr_jid_error *err) {
  xsr_jid_part part = resource ? XSR_JID_PART_RESOURCE : XSR_JID_PART_LOCAL;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)p[i] >= 0x80)
      return 1;
  if (n > XSR_JID_PART_MAX) {
    *rc = fail(err, XSR_EJIDLONG, part, base);
    return 0;
  }
  if (po->len + n > po->cap) {
    *rc = fail(err, XSR_ENOSPC, part, base);
    return 0;
  }
  char *o = po->out + po->len;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (resource) {
      if (c < 0x20 || c == 0x7F) {
        *rc = fail(err, XSR_EJIDCHAR, part, base + i);
        return 0;
      }
    } else {
      if (c <= 0x20 || c == 0x7F || local_forbidden_ascii(c)) {
        *rc = fail(err, XSR_EJIDCHAR, part, base + i);
        return 0;
      }
      if (c >= 'A' && c <= 'Z')
        c = (unsigned char)(c + 32);
    }
    o[i] = (char)c;
  }
  po->len += n;
  *rc = XSR_OK;
  return 0;
}

/* Checks and lower-cases an ASCII domain into out (room for n bytes).
 * Returns XSR_OK; or 1 (cast) when the slow path is needed: non-ASCII bytes,
 * or a label with hyphens in positions 3 and 4 (an A-label or reserved). */
#define NEED_IDNA ((xsr_err)-1)
static xsr_err check_ascii_domain(const char *p, size_t n, size_t base, char *o,
                                  int allow_idna_labels, xsr_jid_error *err) {
  const xsr_jid_part D = XSR_JID_PART_DOMAIN;
  if (p[0] == '[') { /* IP-literal (RFC 3986 section 3.2.2): an IPv6 address */
    if (n < 3 || p[n - 1] != ']')
      return fail(err, XSR_EJIDSYNTAX, D, base);
    for (size_t i = 1; i + 1 < n; i++) {
      char c = p[i];
      int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
               c == ':' || c == '.';
      if (!ok)
        return fail(err, XSR_EJIDCHAR, D, base + i);
    }
    /* The IPv6address grammar of RFC 3986 (eight groups, one "::", an
     * optional dotted IPv4 tail) is what inet_pton reads; IPvFuture
     * ("[v1.x]") is not accepted. */
    char addr[64];
    unsigned char bin[16];
    if (n - 2 >= sizeof addr)
      return fail(err, XSR_EJIDSYNTAX, D, base);
    memcpy(addr, p + 1, n - 2);
    addr[n - 2] = '\0';
    if (inet_pton(AF_INET6, addr, bin) != 1)
      return fail(err, XSR_EJIDSYNTAX, D, base);
    for (size_t i = 0; i < n; i++)
      o[i] = (p[i] >= 'A' && p[i] <= 'Z') ? (char)(p[i] + 32) : p[i];
    return XSR_OK;
  }
  size_t lstart = 0;
  for (size_t i = 0; i <= n; i++) {
    unsigned char c = i < n ? (unsigned char)p[i] : '.';
    if (c >= 0x80)
      return NEED_IDNA;
    if (c == '.') {
      size_t ll = i - lstart;
      if (ll == 0)
        return fail(err, XSR_EJIDSYNTAX, D, base + i);
      if (ll > 63)
        return fail(err, XSR_EJIDLONG, D, base + lstart);
      if (p[lstart] == '-')
        return fail(err, XSR_EJIDCHAR, D, base + lstart);
      if (p[i - 1] == '-')
        return fail(err, XSR_EJIDCHAR, D, base + i - 1);
      if (ll >= 4 && p[lstart + 2] == '-' && p[lstart + 3] == '-' && !allow_idna_labels)
        return NEED_IDNA;
      lstart = i + 1;
      if (i < n)
        o[i] = '.';
      continue;
    }
    if (c >= 'A' && c <= 'Z')
      c = (unsigned char)(c + 32);
    else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return fail(err, XSR_EJIDCHAR, D, base + i);
    o[i] = (char)c;
  }
  return XSR_OK;
}

/* The length of the label separator at p: '.' or one of the dots UTS #46
 * maps to it (U+3002, U+FF0E, U+FF61), 0 for anything else. */
static size_t dot_len(const char *p, size_t n) {
  const unsigned char *u = (const unsigned char *)p;
  if (u[0] == '.')
    return 1;
  if (n >= 3 && ((u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x82) ||
                 (u[0] == 0xEF && u[1] == 0xBC && u[2] == 0x8E) ||
                 (u[0] == 0xEF && u[1] == 0xBD && u[2] == 0xA1)))
    return 3;
  return 0;
}

/* Rough script tests for the CONTEXTO rules below, by Unicode block. */
static int in_greek(int32_t c) {
  return (c >= 0x0370 && c <= 0x03FF) || (c >= 0x1F00 && c <= 0x1FFF);
}
static int in_hebrew(int32_t c) {
  return (c >= 0x0591 && c <= 0x05F4) || (c >= 0xFB1D && c <= 0xFB4F);
}
static int in_kana_han(int32_t c) {
  return (c >= 0x3041 && c <= 0x30FF && c != 0x30FB) || (c >= 0x31F0 && c <= 0x31FF) ||
         (c >= 0x2E80 && c <= 0x2FDF) || c == 0x3005 || c == 0x3007 ||
         (c >= 0x3021 && c <= 0x3029) || (c >= 0x3038 && c <= 0x303B) ||
         (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x1B000 && c <= 0x1B16F) ||
         (c >= 0x20000 && c <= 0x3FFFF);
}

/* RFC 5892's LetterDigits category (section 2.1), its exceptions (2.6)
 * and the CONTEXTO code points: what a U-label may hold besides '-'.
 * libidn2 lets some symbols through (UTS #46 "disallowed_STD3_valid" ones
 * such as U+2260 NOT EQUAL TO; its STD3 flag deletes them instead). */
static int idna_letter_digit(int32_t c) {
  switch (utf8proc_get_property(c)->category) {
  case UTF8PROC_CATEGORY_LL:
  case UTF8PROC_CATEGORY_LU:
  case UTF8PROC_CATEGORY_LO:
  case UTF8PROC_CATEGORY_LM:
  case UTF8PROC_CATEGORY_MN:
  case UTF8PROC_CATEGORY_MC:
  case UTF8PROC_CATEGORY_ND:
    return 1;
  default:
    return c == '-' || c == 0x00B7 || c == 0x0375 || c == 0x05F3 || c == 0x05F4 || c == 0x30FB ||
           c == 0x06FD || c == 0x06FE || c == 0x0F0B || c == 0x3007;
  }
}

/* RFC 5892 appendix A.3 to A.9, the CONTEXTO rules, on one U-label
 * cp[0..n) (libidn2 applies the CONTEXTJ ones only), and the categories
 * above. */
static int contexto_ok(const int32_t *cp, size_t n) {
  int arabic_indic = 0, extended = 0, kana_han = 0;
  for (size_t i = 0; i < n; i++) {
    if (!idna_letter_digit(cp[i]))
      return 0;
    arabic_indic |= cp[i] >= 0x0660 && cp[i] <= 0x0669;
    extended |= cp[i] >= 0x06F0 && cp[i] <= 0x06F9;
    kana_han |= in_kana_han(cp[i]);
  }
  if (arabic_indic && extended)
    return 0; /* A.8, A.9 */
  for (size_t i = 0; i < n; i++) {
    switch (cp[i]) {
    case 0x00B7: /* A.3 MIDDLE DOT: between two 'l' */
      if (i == 0 || i + 1 == n || cp[i - 1] != 'l' || cp[i + 1] != 'l')
        return 0;
      break;
    case 0x0375: /* A.4 GREEK LOWER NUMERAL SIGN: before a Greek letter */
      if (i + 1 == n || !in_greek(cp[i + 1]))
        return 0;
      break;
    case 0x05F3: /* A.5, A.6 HEBREW GERESH, GERSHAYIM: after a Hebrew letter */
    case 0x05F4:
      if (i == 0 || !in_hebrew(cp[i - 1]))
        return 0;
      break;
    case 0x30FB: /* A.7 KATAKANA MIDDLE DOT: in a Hiragana, Katakana or Han label */
      if (!kana_han)
        return 0;
      break;
    default:
      break;
    }
  }
  return 1;
}

/* contexto_ok() on every label of the UTF-8 domain u. */
static int domain_contexto_ok(const char *u) {
  int32_t cp[64];
  size_t n = 0;
  for (size_t i = 0;;) {
    utf8proc_int32_t c = 0;
    utf8proc_ssize_t r = 0;
    if (u[i]) {
      r = utf8proc_iterate((const uint8_t *)u + i, -1, &c);
      if (r <= 0)
        return 0;
    }
    if (!u[i] || c == '.') {
      if (!contexto_ok(cp, n))
        return 0;
      if (!u[i])
        return 1;
      n = 0;
    } else if (n < 64) {
      cp[n++] = c; /* a U-label has at most 63 code points (its A-label 63 bytes) */
    } else {
      return 0;
    }
    i += (size_t)r;
  }
}

static xsr_err prep_domain(const char *p, size_t n, size_t base, part_out *po, xsr_jid_error *err) {
  const xsr_jid_part D = XSR_JID_PART_DOMAIN;
  if (n <= XSR_JID_PART_MAX) {
    if (po->len + n > po->cap)
      return fail(err, XSR_ENOSPC, D, base);
    xsr_err rc = check_ascii_domain(p, n, base, po->out + po->len, 0, err);
    if (rc == XSR_OK)
      po->len += n;
    if (rc != NEED_IDNA)
      return rc;
  } else {
    /* Might still be an ASCII domain that is simply too long. */
    size_t i = 0;
    while (i < n && (unsigned char)p[i] < 0x80)
      i++;
    if (i == n)
      return fail(err, XSR_EJIDLONG, D, base);
  }
  if (n > 4 * (size_t)XSR_JID_PART_MAX)
    return fail(err, XSR_EJIDLONG, D, base);
  /* An empty label is a syntax error whatever the labels hold, as on the
   * ASCII path (libidn2 would call it a bad character); one final dot is
   * the root label, which RFC 7622 section 3.2 strips. */
  for (size_t i = 0, prev_dot = 1; i < n;) {
    size_t d = dot_len(p + i, n - i);
    if (d && prev_dot)
      return fail(err, XSR_EJIDSYNTAX, D, base + i);
    prev_dot = d != 0;
    i += d ? d : 1;
  }
  /* Slow path: libidn2 wants a NUL-terminated string. */
  char *src = malloc(n + 1);
  if (!src)
    return XSR_ENOMEM;
  memcpy(src, p, n);
  src[n] = '\0';
  if (memchr(src, '\0', n)) {
    free(src);
    return fail(err, XSR_EJIDCHAR, D, base + (size_t)((char *)memchr(p, '\0', n) - p));
  }
  uint8_t *ascii = NULL;
  char *uni = NULL;
  xsr_err rc = XSR_OK;
  int r = idn2_lookup_u8((const uint8_t *)src, &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  if (r != IDN2_OK) {
    rc = r == IDN2_MALLOC                                        ? XSR_ENOMEM
         : (r == IDN2_TOO_BIG_DOMAIN || r == IDN2_TOO_BIG_LABEL) ? fail(err, XSR_EJIDLONG, D, base)
                                                                 : fail(err, XSR_EJIDCHAR, D, base);
    goto out;
  }
  {
    /* The A-label form must itself be LDH (TR46 alone lets '_' through). */
    size_t al = strlen((const char *)ascii);
    char *scratch = malloc(al + 1);
    if (!scratch) {
      rc = XSR_ENOMEM;
      goto out;
    }
    xsr_jid_error e2;
    xsr_err c2 =
        al ? check_ascii_domain((const char *)ascii, al, 0, scratch, 1, &e2) : XSR_EJIDSYNTAX;
    free(scratch);
    if (c2 != XSR_OK) {
      rc = fail(err, c2 == XSR_EJIDLONG ? XSR_EJIDLONG : XSR_EJIDCHAR, D, base);
      goto out;
    }
  }
  r = idn2_to_unicode_8z8z((const char *)ascii, &uni, 0);
  if (r != IDN2_OK) {
    rc = r == IDN2_MALLOC ? XSR_ENOMEM : fail(err, XSR_EJIDCHAR, D, base);
    goto out;
  }
  {
    /* An A-label can decode to a U-label that IDNA2008 itself refuses
     * (libidn2 checks A-labels only for Punycode validity): the canonical
     * form must be a domain this function accepts and maps to the same
     * A-label, or normalising would not be idempotent. */
    uint8_t *again = NULL;
    int r2 = idn2_lookup_u8((const uint8_t *)uni, &again, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    int same = r2 == IDN2_OK && strcmp((const char *)again, (const char *)ascii) == 0;
    idn2_free(again);
    if (r2 == IDN2_MALLOC) {
      rc = XSR_ENOMEM;
      goto out;
    }
    if (!same) {
      rc = fail(err, XSR_EJIDCHAR, D, base);
      goto out;
    }
  }
  if (!domain_contexto_ok(uni)) {
    rc = fail(err, XSR_EJIDCHAR, D, base);
    goto out;
  }
  size_t ul = strlen(uni);
  if (ul > XSR_JID_PART_MAX) {
    rc = fail(err, XSR_EJIDLONG, D, base);
    goto out;
  }
  if (po->len + ul > po->cap) {
    rc = fail(err, XSR_ENOSPC, D, base);
    goto out;
  }
  memcpy(po->out + po->len, uni, ul);
  po->len += ul;
out:
  idn2_free(uni);
  idn2_free(ascii);
  free(src);
  return rc;
}

static xsr_err prep_part(const char *p, size_t n, size_t base, int resource, part_out *po,
                         xsr_jid_error *err) {
  xsr_err rc = XSR_OK;
  if (!prep_ascii(p, n, base, resource, po, &rc, err))
    return rc;
  return prep_unicode(p, n, base, resource, po, err);
}

/* ---- the common case in one pass ----------------------------------------
 *
 * Nearly every JID a server sees is plain ASCII, already valid and often
 * already lower case.  For those, each part is checked and copied in one
 * table-driven pass: the table gives, per byte, the parts it may not appear
 * in; the pass ORs the entries together (lower-casing the local- and
 * domainpart as it copies) and tests the result once at the end.  A part the
 * pass does not accept outright (a refused or non-ASCII byte, a length
 * limit, a doubtful domain label, an IP literal) is simply handed to the
 * careful code above, which finds the exact error and offset or takes the
 * Unicode path.  So the pass only ever accepts what that code accepts, and
 * writes the same bytes. */

/* Per byte: the byte as the local- and domainpart store it (ASCII lower
 * case) in the low 8 bits, and above them the parts that refuse it. */
enum {
  JB_LOCAL = 0x100,    /* refused in a localpart, or non-ASCII */
  JB_DOMAIN = 0x200,   /* not letter, digit, '-' or '.' (or non-ASCII) */
  JB_RESOURCE = 0x400, /* refused in a resourcepart, or non-ASCII */
};
#define JB_LOWER_(c) ((c) >= 'A' && (c) <= 'Z' ? (c) + 32 : (c))
#define JB_LOCAL_BAD_(c)                                                                           \
  ((c) <= 0x20 || (c) >= 0x7F || (c) == '"' || (c) == '&' || (c) == '\'' || (c) == '/' ||          \
   (c) == ':' || (c) == '<' || (c) == '>' || (c) == '@')
#define JB_LDH_(c)                                                                                 \
  (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9') ||       \
   (c) == '-' || (c) == '.')
#define JB_(c)                                                                                     \
  (JB_LOWER_(c) | (JB_LOCAL_BAD_(c) ? JB_LOCAL : 0) | (JB_LDH_(c) ? 0 : JB_DOMAIN) |               \
   ((c) < 0x20 || (c) >= 0x7F ? JB_RESOURCE : 0))
#define JB4_(c)  JB_(c), JB_((c) + 1), JB_((c) + 2), JB_((c) + 3)
#define JB16_(c) JB4_(c), JB4_((c) + 4), JB4_((c) + 8), JB4_((c) + 12)
#define JB64_(c) JB16_(c), JB16_((c) + 16), JB16_((c) + 32), JB16_((c) + 48)
static const uint16_t jid_byte[256] = {JB64_(0), JB64_(64), JB64_(128), JB64_(192)};

/* Copies an ASCII local- or resourcepart that needs no further thought;
 * returns 0 when it did, 1 when the careful path must decide. */
static inline int quick_part(const char *p, size_t n, int resource, part_out *po) {
  if (n > XSR_JID_PART_MAX || po->cap - po->len < n)
    return 1;
  const unsigned char *u = (const unsigned char *)p;
  char *o = po->out + po->len;
  unsigned acc = 0;
  if (resource) {
    for (size_t i = 0; i < n; i++) {
      acc |= jid_byte[u[i]];
      o[i] = (char)u[i];
    }
    if (acc & JB_RESOURCE)
      return 1;
  } else {
    for (size_t i = 0; i < n; i++) {
      unsigned e = jid_byte[u[i]];
      acc |= e;
      o[i] = (char)e;
    }
    if (acc & JB_LOCAL)
      return 1;
  }
  po->len += n;
  return 0;
}

/* A domain label check_ascii_domain() accepts without libidn2's help:
 * 1..63 bytes, no hyphen first or last, not "??--" (an A-label). */
static inline int quick_label(const char *l, size_t n) {
  return n - 1 < 63 && l[0] != '-' && l[n - 1] != '-' && !(n >= 4 && l[2] == '-' && l[3] == '-');
}

/* The domainpart counterpart of quick_part(). */
static inline int quick_domain(const char *p, size_t n, part_out *po) {
  if (n > XSR_JID_PART_MAX || po->cap - po->len < n)
    return 1;
  const unsigned char *u = (const unsigned char *)p;
  char *o = po->out + po->len;
  unsigned acc = 0;
  size_t lstart = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned e = jid_byte[u[i]];
    acc |= e;
    o[i] = (char)e;
    if (u[i] == '.') {
      if (!quick_label(p + lstart, i - lstart))
        return 1;
      lstart = i + 1;
    }
  }
  if ((acc & JB_DOMAIN) || !quick_label(p + lstart, n - lstart))
    return 1;
  po->len += n;
  return 0;
}

xsr_err xsr_jid_parse(const char *s, size_t len, char *out, size_t cap, xsr_jid *jid,
                      xsr_jid_error *err) {
  if (jid)
    memset(jid, 0, sizeof *jid);
  if (err) {
    err->part = XSR_JID_PART_NONE;
    err->offset = 0;
  }
  if (!jid || !out || (!s && len))
    return XSR_EINVAL;
  if (len == 0)
    return fail(err, XSR_EJIDSYNTAX, XSR_JID_PART_NONE, 0);

  const char *slash = memchr(s, '/', len);
  size_t head = slash ? (size_t)(slash - s) : len;
  const char *at = memchr(s, '@', head);
  size_t dom_off = at ? (size_t)(at - s) + 1 : 0;
  size_t dom_len = head - dom_off;
  if (at && at == s)
    return fail(err, XSR_EJIDSYNTAX, XSR_JID_PART_LOCAL, 0);
  if (dom_len > 0 && s[dom_off + dom_len - 1] == '.')
    dom_len--; /* RFC 7622 3.2 */
  if (dom_len == 0)
    return fail(err, XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, dom_off);
  if (slash && head + 1 == len)
    return fail(err, XSR_EJIDSYNTAX, XSR_JID_PART_RESOURCE, head + 1);

  part_out po = {out, cap, 0};
  xsr_err rc;
  size_t local_len = 0, dom_start, res_start = 0;
  if (at) {
    if (quick_part(s, (size_t)(at - s), 0, &po)) {
      rc = prep_part(s, (size_t)(at - s), 0, 0, &po, err);
      if (rc != XSR_OK)
        goto fail_out;
    }
    local_len = po.len;
    if (po.len + 1 > po.cap) {
      rc = fail(err, XSR_ENOSPC, XSR_JID_PART_LOCAL, 0);
      goto fail_out;
    }
    out[po.len++] = '@';
  }
  dom_start = po.len;
  if (quick_domain(s + dom_off, dom_len, &po)) {
    rc = prep_domain(s + dom_off, dom_len, dom_off, &po, err);
    if (rc != XSR_OK)
      goto fail_out;
  }
  size_t dom_out = po.len - dom_start;
  if (slash) {
    if (po.len + 1 > po.cap) {
      rc = fail(err, XSR_ENOSPC, XSR_JID_PART_RESOURCE, head);
      goto fail_out;
    }
    out[po.len++] = '/';
    res_start = po.len;
    if (quick_part(s + head + 1, len - head - 1, 1, &po)) {
      rc = prep_part(s + head + 1, len - head - 1, head + 1, 1, &po, err);
      if (rc != XSR_OK)
        goto fail_out;
    }
    if (po.len == res_start) {
      rc = fail(err, XSR_EJIDSYNTAX, XSR_JID_PART_RESOURCE, head + 1);
      goto fail_out;
    }
  }
  if (at) {
    jid->local.ptr = out;
    jid->local.len = local_len;
  }
  jid->domain.ptr = out + dom_start;
  jid->domain.len = dom_out;
  if (slash) {
    jid->resource.ptr = out + res_start;
    jid->resource.len = po.len - res_start;
  }
  return XSR_OK;
fail_out:
  memset(jid, 0, sizeof *jid);
  return rc;
}

static int span_eq(xsr_span a, xsr_span b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int xsr_jid_equal_bare(const xsr_jid *a, const xsr_jid *b) {
  return (a->local.ptr != NULL) == (b->local.ptr != NULL) && span_eq(a->local, b->local) &&
         span_eq(a->domain, b->domain);
}

int xsr_jid_equal_full(const xsr_jid *a, const xsr_jid *b) {
  return xsr_jid_equal_bare(a, b) && (a->resource.ptr != NULL) == (b->resource.ptr != NULL) &&
         span_eq(a->resource, b->resource);
}

/* A word-at-a-time multiplicative hash with the murmur3 finaliser: a few
 * cycles for a typical 20-byte JID, good enough avalanche for cds_lfht,
 * which uses both the low bits (bucket) and the bit-reversed value (order). */
uint64_t xsr_jid_hash(xsr_span s, uint64_t seed) {
  const uint64_t m = 0x9E3779B97F4A7C15ull;
  uint64_t h = seed ^ (s.len * m);
  const unsigned char *p = (const unsigned char *)s.ptr;
  size_t n = s.len;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * m;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n) {
    /* The last n bytes as a little-endian word, i.e. the value of
     * memcpy(&w, p, n) into w = 0, read without a library call: one
     * overlapping load when the string has 8 bytes before its end, else
     * two smaller ones. */
    uint64_t w = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (s.len >= 8) {
      memcpy(&w, p + n - 8, 8);
      w >>= 8 * (8 - n);
    } else if (n >= 4) {
      uint32_t lo, hi;
      memcpy(&lo, p, 4);
      memcpy(&hi, p + n - 4, 4);
      w = lo | (uint64_t)hi << 8 * (n - 4);
    } else {
      w = (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 * (n / 2) | (uint64_t)p[n - 1] << 8 * (n - 1);
    }
#else
    memcpy(&w, p, n);
#endif
    h = (h ^ w) * m;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}
