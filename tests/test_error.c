/* SPDX-License-Identifier: MIT */
/*
 * The error table: every code has a name, an RFC 6120 condition and a
 * message; conditions are the stream error conditions of RFC 6120 4.9.3
 * (or, for the JID codes, the stanza error conditions of 8.3.3).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "xsr/xsr.h"

/* RFC 6120 section 4.9.3: the defined stream error conditions. */
static const char *const stream_conditions[] = {"bad-format",
                                                "bad-namespace-prefix",
                                                "conflict",
                                                "connection-timeout",
                                                "host-gone",
                                                "host-unknown",
                                                "improper-addressing",
                                                "internal-server-error",
                                                "invalid-from",
                                                "invalid-namespace",
                                                "invalid-xml",
                                                "not-authorized",
                                                "not-well-formed",
                                                "policy-violation",
                                                "remote-connection-failed",
                                                "reset",
                                                "resource-constraint",
                                                "restricted-xml",
                                                "see-other-host",
                                                "system-shutdown",
                                                "undefined-condition",
                                                "unsupported-encoding",
                                                "unsupported-feature",
                                                "unsupported-stanza-type",
                                                "unsupported-version"};

/* RFC 6120 section 8.3.3: the defined stanza error conditions. */
static const char *const stanza_conditions[] = {"bad-request",
                                                "conflict",
                                                "feature-not-implemented",
                                                "forbidden",
                                                "gone",
                                                "internal-server-error",
                                                "item-not-found",
                                                "jid-malformed",
                                                "not-acceptable",
                                                "not-allowed",
                                                "not-authorized",
                                                "policy-violation",
                                                "recipient-unavailable",
                                                "redirect",
                                                "registration-required",
                                                "remote-server-not-found",
                                                "remote-server-timeout",
                                                "resource-constraint",
                                                "service-unavailable",
                                                "subscription-required",
                                                "undefined-condition",
                                                "unexpected-request"};

static int in_list(const char *s, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(s, list[i]) == 0)
      return 1;
  return 0;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

Test(error, every_code_has_name_condition_message) {
  cr_assert_eq(XSR_OK, 0);
  for (int e = 0; e < XSR__ERR_MAX; e++) {
    const char *name = xsr_err_name((xsr_err)e);
    const char *cond = xsr_err_condition((xsr_err)e);
    const char *msg = xsr_err_message((xsr_err)e);
    cr_assert_not_null(name, "code %d has no name", e);
    cr_assert_not_null(cond, "code %d has no condition", e);
    cr_assert_not_null(msg, "code %d has no message", e);
    cr_expect_eq(strncmp(name, "XSR_", 4), 0, "code %d name %s", e, name);
    cr_expect_gt(strlen(msg), 3, "code %s: message too short", name);
    if (e == XSR_OK || e == XSR_PAUSED) {
      cr_expect_str_empty(cond, "%s is not a failure, its condition must be empty", name);
      continue;
    }
    if (strncmp(name, "XSR_EJID", 8) == 0)
      cr_expect(in_list(cond, stanza_conditions, COUNT(stanza_conditions)),
                "%s: '%s' is not an RFC 6120 stanza error condition", name, cond);
    else /* error.h: the others are stream conditions, for <stream:error> */
      cr_expect(in_list(cond, stream_conditions, COUNT(stream_conditions)),
                "%s: '%s' is not an RFC 6120 stream error condition", name, cond);
  }
}

Test(error, names_are_unique_and_match_the_enum) {
  for (int a = 0; a < XSR__ERR_MAX; a++)
    for (int b = a + 1; b < XSR__ERR_MAX; b++)
      cr_expect_str_neq(xsr_err_name((xsr_err)a), xsr_err_name((xsr_err)b));
  cr_expect_str_eq(xsr_err_name(XSR_OK), "XSR_OK");
  cr_expect_str_eq(xsr_err_name(XSR_EUTF8), "XSR_EUTF8");
  cr_expect_str_eq(xsr_err_name(XSR_ELIMITNSDECL), "XSR_ELIMITNSDECL");
}

Test(error, parser_conditions) {
  /* The mapping the parser contract (parser.h, DESIGN.md) relies on. */
  static const struct {
    xsr_err e;
    const char *cond;
  } want[] = {
      {XSR_ESYNTAX, "not-well-formed"},
      {XSR_EUTF8, "not-well-formed"},
      {XSR_ECHAR, "not-well-formed"},
      {XSR_ENAME, "not-well-formed"},
      {XSR_ETAGMISMATCH, "not-well-formed"},
      {XSR_EDUPATTR, "not-well-formed"},
      {XSR_EATTRLT, "not-well-formed"},
      {XSR_EREF, "not-well-formed"},
      {XSR_ECHARREF, "not-well-formed"},
      {XSR_ECDATAEND, "not-well-formed"},
      {XSR_EXMLDECL, "not-well-formed"},
      {XSR_EJUNK, "not-well-formed"},
      {XSR_ENSDECL, "not-well-formed"},
      {XSR_EQNAME, "not-well-formed"},
      {XSR_ECOMMENT, "restricted-xml"},
      {XSR_EPI, "restricted-xml"},
      {XSR_EDTD, "restricted-xml"},
      {XSR_EENTITY, "restricted-xml"},
      {XSR_EPREFIX, "bad-namespace-prefix"},
      {XSR_ESTREAMNS, "invalid-namespace"},
      {XSR_ECONTENTNS, "invalid-namespace"},
      {XSR_EENCODING, "unsupported-encoding"},
      {XSR_EVERSION, "unsupported-version"},
      {XSR_EBADVERSION, "bad-format"},
      {XSR_ETEXT, "bad-format"},
      {XSR_ELIMITSTANZA, "policy-violation"},
      {XSR_ELIMITDEPTH, "policy-violation"},
      {XSR_ELIMITATTRS, "policy-violation"},
      {XSR_ELIMITNAME, "policy-violation"},
      {XSR_ELIMITNSDECL, "policy-violation"},
      {XSR_ELIMITNS, "policy-violation"},
      {XSR_ENOMEM, "resource-constraint"},
  };
  for (size_t i = 0; i < COUNT(want); i++)
    cr_expect_str_eq(xsr_err_condition(want[i].e), want[i].cond, "%s", xsr_err_name(want[i].e));
}

Test(error, unknown_values) {
  cr_expect_str_eq(xsr_err_name(XSR__ERR_MAX), "XSR_UNKNOWN");
  cr_expect_str_eq(xsr_err_name((xsr_err)-1), "XSR_UNKNOWN");
  cr_expect_str_eq(xsr_err_condition((xsr_err)9999), "undefined-condition");
  cr_expect_not_null(xsr_err_message((xsr_err)9999));
  cr_expect_not_null(xsr_err_message((xsr_err)-5));
}
