/* SPDX-License-Identifier: MIT */
/*
 * jid_fuzzer: JID parsing and normalisation (xsr_jid_parse).
 *
 * Input: [cap selector] JID bytes.
 *
 * Checks: the canonical form lies in the output buffer (exact-size heap,
 * so a write past `cap` faults) as [local '@'] domain ['/' resource], each
 * part 1..XSR_JID_PART_MAX bytes; parsing is idempotent (parsing the
 * canonical full JID again succeeds and gives the same bytes and parts);
 * equal_full/equal_bare and the hash agree with that; a failure zeroes the
 * JID and names a part and an offset inside the input; a smaller cap gives
 * either the same result or XSR_ENOSPC; and ASCII case does not matter in
 * the localpart and domainpart: upper-casing their ASCII letters yields
 * the same bare JID.
 */
#include <string.h>

#include <xsr/jid.h>

#include "fuzz.h"

static void check_part(xsr_span part, const char *out, size_t cap, const char *what) {
  if (part.ptr == NULL) {
    FUZZ_CHECK(part.len == 0, "%s: absent with length %zu", what, part.len);
    return;
  }
  FUZZ_CHECK(part.len >= 1 && part.len <= XSR_JID_PART_MAX, "%s: length %zu", what, part.len);
  FUZZ_CHECK(part.ptr >= out && (size_t)(part.ptr - out) + part.len <= cap,
             "%s: outside the output buffer", what);
}

static xsr_err parse(const char *s, size_t n, char *out, size_t cap, xsr_jid *j) {
  xsr_jid_error e = {XSR_JID_PART_LOCAL, (size_t)-1};
  memset(j, 0xa5, sizeof *j);
  xsr_err r = xsr_jid_parse(s, n, out, cap, j, &e);
  if (r == XSR_OK) {
    check_part(j->local, out, cap, "localpart");
    check_part(j->domain, out, cap, "domainpart");
    check_part(j->resource, out, cap, "resourcepart");
    FUZZ_CHECK(j->domain.ptr != NULL, "no domainpart");
    xsr_span full = xsr_jid_full(j);
    FUZZ_CHECK(full.ptr == out, "canonical form does not start the buffer");
    if (j->local.ptr)
      FUZZ_CHECK(j->local.ptr == out && out[j->local.len] == '@' &&
                     j->domain.ptr == out + j->local.len + 1,
                 "localpart not followed by '@' and the domain");
    else
      FUZZ_CHECK(j->domain.ptr == out, "domainpart does not start the buffer");
    if (j->resource.ptr)
      FUZZ_CHECK(j->domain.ptr[j->domain.len] == '/' &&
                     j->resource.ptr == j->domain.ptr + j->domain.len + 1,
                 "resourcepart not after '/'");
    FUZZ_CHECK(fuzz_xml_chars_ok((const uint8_t *)full.ptr, full.len) ||
                   !fuzz_xml_chars_ok((const uint8_t *)s, n),
               "canonical form of valid UTF-8 is not valid UTF-8");
  } else if (r != XSR_ENOMEM && r != XSR_ENOSPC) {
    FUZZ_CHECK(r == XSR_EJIDSYNTAX || r == XSR_EJIDLONG || r == XSR_EJIDCHAR, "unexpected error %s",
               xsr_err_name(r));
    static const xsr_jid zero;
    FUZZ_CHECK(memcmp(j, &zero, sizeof zero) == 0, "failed parse left a JID behind");
    FUZZ_CHECK(e.offset <= n, "error offset %zu beyond %zu bytes", e.offset, n);
    FUZZ_CHECK(e.part <= XSR_JID_PART_RESOURCE, "error part %d", (int)e.part);
  }
  return r;
}

static int same_jid(const xsr_jid *a, const xsr_jid *b) {
  xsr_span fa = xsr_jid_full(a), fb = xsr_jid_full(b);
  return fa.len == fb.len && memcmp(fa.ptr, fb.ptr, fa.len) == 0 &&
         (a->local.ptr == NULL) == (b->local.ptr == NULL) && a->local.len == b->local.len &&
         a->domain.len == b->domain.len && (a->resource.ptr == NULL) == (b->resource.ptr == NULL) &&
         a->resource.len == b->resource.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input in = {data, size};
  uint8_t sel = fuzz_take_byte(&in);
  const char *s = (const char *)in.data;
  size_t n = in.size;

  char *out = malloc(XSR_JID_MAX), *out2 = malloc(XSR_JID_MAX);
  FUZZ_CHECK(out && out2, "out of memory in the harness");
  xsr_jid j, j2;
  xsr_err r = parse(s, n, out, XSR_JID_MAX, &j);
  FUZZ_CHECK(r != XSR_ENOSPC, "XSR_ENOSPC with cap XSR_JID_MAX");
  if (r == XSR_OK) {
    xsr_span full = xsr_jid_full(&j);
    /* Idempotent: the canonical form is its own canonical form. */
    xsr_err r2 = parse(full.ptr, full.len, out2, XSR_JID_MAX, &j2);
    FUZZ_CHECK(r2 == XSR_OK || r2 == XSR_ENOMEM, "canonical form '%.*s' does not parse: %s",
               (int)full.len, full.ptr, xsr_err_name(r2));
    if (r2 == XSR_OK) {
      FUZZ_CHECK(same_jid(&j, &j2), "normalising twice changes '%.*s'", (int)full.len, full.ptr);
      FUZZ_CHECK(xsr_jid_equal_full(&j, &j2) && xsr_jid_equal_bare(&j, &j2), "equal_* disagree");
      FUZZ_CHECK(xsr_jid_hash(xsr_jid_full(&j), 7) == xsr_jid_hash(xsr_jid_full(&j2), 7),
                 "equal JIDs hash differently");
    }
    /* A smaller buffer: the same result or XSR_ENOSPC, never an overflow. */
    size_t cap = full.len ? (sel % (full.len + 1)) : 0;
    char *small = malloc(cap ? cap : 1);
    FUZZ_CHECK(small != NULL, "out of memory in the harness");
    xsr_jid js;
    r2 = parse(s, n, small, cap, &js);
    FUZZ_CHECK(r2 == XSR_ENOSPC || r2 == XSR_ENOMEM || (r2 == XSR_OK && same_jid(&j, &js)),
               "cap %zu of %zu: %s", cap, full.len, xsr_err_name(r2));
    free(small);
  }

  /* ASCII case in local and domain parts does not matter. */
  char *up = malloc(n ? n : 1);
  FUZZ_CHECK(up != NULL, "out of memory in the harness");
  if (n)
    memcpy(up, s, n);
  const char *slash = n ? memchr(s, '/', n) : NULL;
  size_t bare_len = slash ? (size_t)(slash - s) : n;
  for (size_t i = 0; i < bare_len; i++)
    if (up[i] >= 'a' && up[i] <= 'z')
      up[i] = (char)(up[i] - 32);
  xsr_err ru = parse(up, n, out2, XSR_JID_MAX, &j2);
  if (ru != XSR_ENOMEM && r != XSR_ENOMEM) {
    FUZZ_CHECK((ru == XSR_OK) == (r == XSR_OK), "upper-casing ASCII changes the verdict: %s vs %s",
               xsr_err_name(r), xsr_err_name(ru));
    if (r == XSR_OK)
      FUZZ_CHECK(xsr_jid_equal_bare(&j, &j2) && xsr_jid_equal_full(&j, &j2),
                 "upper-casing ASCII changes the JID");
  }
  free(up);
  free(out);
  free(out2);
  return 0;
}
