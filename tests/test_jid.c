/* SPDX-License-Identifier: MIT */
/* Criterion suite for xsr/jid.h: RFC 7622 syntax, limits, normalisation. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsr/jid.h"

static char buf[XSR_JID_MAX];

/* Parses `in`, expects success and the canonical full JID `want`. */
static void ok(const char *in, const char *want) {
  xsr_jid j;
  xsr_jid_error e;
  xsr_err rc = xsr_jid_parse(in, strlen(in), buf, sizeof buf, &j, &e);
  cr_assert_eq(rc, XSR_OK, "'%s': %s (%s at %zu)", in, xsr_err_name(rc), xsr_jid_part_name(e.part),
               e.offset);
  xsr_span f = xsr_jid_full(&j);
  cr_assert_eq(f.len, strlen(want), "'%s' -> '%.*s', want '%s'", in, (int)f.len, f.ptr, want);
  cr_assert(memcmp(f.ptr, want, f.len) == 0, "'%s' -> '%.*s', want '%s'", in, (int)f.len, f.ptr,
            want);
}

/* Expects failure `code` in part `part` at `off` (off < 0: any offset). */
static void bad(const char *in, size_t len, xsr_err code, xsr_jid_part part, long off) {
  xsr_jid j;
  xsr_jid_error e;
  xsr_err rc = xsr_jid_parse(in, len, buf, sizeof buf, &j, &e);
  cr_assert_eq(rc, code, "'%.*s': got %s want %s", (int)(len > 60 ? 60 : len), in, xsr_err_name(rc),
               xsr_err_name(code));
  cr_assert_eq(e.part, part, "'%.*s': part %s want %s", (int)(len > 60 ? 60 : len), in,
               xsr_jid_part_name(e.part), xsr_jid_part_name(part));
  if (off >= 0)
    cr_assert_eq(e.offset, (size_t)off, "'%s': offset %zu want %ld", in, e.offset, off);
  cr_assert_null(j.domain.ptr);
}
#define BAD(s, code, part, off) bad((s), strlen(s), (code), (part), (off))

Test(jid, rfc7622_examples_valid) {
  /* RFC 7622 section 3.5 examples (the ASCII and Unicode ones). */
  ok("juliet@example.com", "juliet@example.com");
  ok("juliet@example.com/foo", "juliet@example.com/foo");
  ok("juliet@example.com/foo bar", "juliet@example.com/foo bar");
  ok("juliet@example.com/foo@bar", "juliet@example.com/foo@bar");
  ok("foo\\20bar@example.com", "foo\\20bar@example.com");
  ok("fussball@example.com", "fussball@example.com");
  ok("fu\xc3\x9f"
     "ball@example.com",
     "fu\xc3\x9f"
     "ball@example.com");                                     /* ß stays */
  ok("\xcf\x80@example.com", "\xcf\x80@example.com");         /* π */
  ok("\xce\xa3@example.com/foo", "\xcf\x83@example.com/foo"); /* Σ -> σ */
  ok("\xcf\x83@example.com/foo", "\xcf\x83@example.com/foo");
  ok("\xcf\x82@example.com/foo", "\xcf\x82@example.com/foo");           /* final sigma kept */
  ok("king@example.com/\xe2\x99\x9a", "king@example.com/\xe2\x99\x9a"); /* ♚ in resource */
  ok("example.com", "example.com");
  ok("example.com/foobar", "example.com/foobar");
  ok("a.example.com/b@example.net", "a.example.com/b@example.net");
}

Test(jid, rfc7622_examples_invalid) {
  BAD("\"juliet\"@example.com", XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 0);
  BAD("foo bar@example.com", XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 3);
}

Test(jid, rfc7622_examples_invalid_more) {
  BAD("@example.com/", XSR_EJIDSYNTAX, XSR_JID_PART_LOCAL, 0);
  BAD("henry\xe2\x85\xa3@example.com", XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 0); /* Ⅳ: compat */
  BAD("\xe2\x99\x9a@example.com", XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 0);      /* ♚ symbol */
  BAD("juliet@", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 7);
  BAD("/foobar", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 0);
}

Test(jid, split_rules) {
  /* The first '/' starts the resource even if '@' follows it. */
  xsr_jid j;
  cr_assert_eq(xsr_jid_parse("a/b@c", 5, buf, sizeof buf, &j, NULL), XSR_OK);
  cr_assert_null(j.local.ptr);
  cr_assert_eq(j.domain.len, 1);
  cr_assert_eq(j.resource.len, 3);
  cr_assert(memcmp(j.resource.ptr, "b@c", 3) == 0);
  /* Only the first '@' before the '/' separates the localpart; a second one
   * lands in the domain, where it is not allowed. */
  BAD("a@b@c", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 3);
  ok("a@b/c/d", "a@b/c/d");
  ok("User@Example.COM/Res", "user@example.com/Res"); /* resources keep case */
  ok("example.com.", "example.com");                  /* trailing dot stripped */
  ok("u@example.com./r", "u@example.com/r");
  ok("u@[::1]/r", "u@[::1]/r");
  ok("u@[FE80::1]", "u@[fe80::1]");
  ok("u@192.168.0.1", "u@192.168.0.1");
}

Test(jid, empty_parts) {
  BAD("", XSR_EJIDSYNTAX, XSR_JID_PART_NONE, 0);
  BAD("@", XSR_EJIDSYNTAX, XSR_JID_PART_LOCAL, 0);
  BAD("a@", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 2);
  BAD("a@/r", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 2);
  BAD("a@b/", XSR_EJIDSYNTAX, XSR_JID_PART_RESOURCE, 4);
  BAD(".", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 0);
  BAD("a@b..c", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 4);
  BAD("a@.b", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 2);
  BAD("a@[]", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 2);
  BAD("a@[1::", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 2);
}

Test(jid, forbidden_ascii) {
  const char *forbidden = "\"&'/:<>@";
  for (const char *c = forbidden; *c; c++) {
    if (*c == '/' || *c == '@')
      continue; /* separators, tested above */
    char in[32];
    snprintf(in, sizeof in, "a%cb@example.com", *c);
    BAD(in, XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 1);
  }
  BAD("a\tb@example.com", XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 1);
  BAD("a\x7f@example.com", XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 1);
  BAD("a@exa mple.com", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 5);
  BAD("a@exa_mple.com", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 5);
  BAD("a@-example.com", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2);
  BAD("a@example-.com", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 9);
  BAD("a@[::g]", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 5);
  BAD("a@b/r\x01", XSR_EJIDCHAR, XSR_JID_PART_RESOURCE, 5);
  BAD("a@b/r\x7f", XSR_EJIDCHAR, XSR_JID_PART_RESOURCE, 5);
  /* NUL bytes are characters like any other: refused, never a terminator. */
  bad("a\0b@example.com", 15, XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 1);
  bad("a@b/\0", 5, XSR_EJIDCHAR, XSR_JID_PART_RESOURCE, 4);
  bad("a@ex\0.com", 9, XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 4);
  /* Resources allow every printable ASCII character, including space. */
  ok("a@b/ !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "a@b/ !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
}

static void repeat(char *dst, char c, size_t n) {
  memset(dst, c, n);
  dst[n] = '\0';
}

Test(jid, length_limits) {
  static char in[8192];
  /* localpart: 1023 ok, 1024 too long. */
  repeat(in, 'a', 1023);
  strcat(in, "@example.com");
  xsr_jid j;
  cr_assert_eq(xsr_jid_parse(in, strlen(in), buf, sizeof buf, &j, NULL), XSR_OK);
  cr_assert_eq(j.local.len, 1023);
  repeat(in, 'a', 1024);
  strcat(in, "@example.com");
  BAD(in, XSR_EJIDLONG, XSR_JID_PART_LOCAL, 0);
  /* resourcepart */
  strcpy(in, "a@b/");
  repeat(in + 4, 'r', 1023);
  cr_assert_eq(xsr_jid_parse(in, strlen(in), buf, sizeof buf, &j, NULL), XSR_OK);
  cr_assert_eq(j.resource.len, 1023);
  strcpy(in, "a@b/");
  repeat(in + 4, 'r', 1024);
  BAD(in, XSR_EJIDLONG, XSR_JID_PART_RESOURCE, 4);
  /* domainpart: 1023 bytes of 63-byte labels; 1024 too long. */
  size_t n = 0;
  while (n < 1023) {
    size_t l = 1023 - n >= 64 ? 63 : 1023 - n;
    memset(in + n, 'd', l);
    n += l;
    if (n < 1023)
      in[n++] = '.';
  }
  in[n] = '\0';
  cr_assert_eq(strlen(in), 1023);
  cr_assert_eq(xsr_jid_parse(in, 1023, buf, sizeof buf, &j, NULL), XSR_OK, "%s",
               xsr_err_name(xsr_jid_parse(in, 1023, buf, sizeof buf, &j, NULL)));
  cr_assert_eq(j.domain.len, 1023);
  in[1023] = 'x';
  in[1024] = '\0';
  BAD(in, XSR_EJIDLONG, XSR_JID_PART_DOMAIN, 0);
  /* A 63-byte label is fine, 64 is not. */
  repeat(in, 'l', 63);
  strcat(in, ".com");
  cr_assert_eq(xsr_jid_parse(in, strlen(in), buf, sizeof buf, &j, NULL), XSR_OK);
  repeat(in, 'l', 64);
  strcat(in, ".com");
  BAD(in, XSR_EJIDLONG, XSR_JID_PART_DOMAIN, 0);
  /* The longest JID fits XSR_JID_MAX exactly. */
  static char big[4096];
  repeat(big, 'a', 1023);
  big[1023] = '@';
  memcpy(big + 1024, in, 0);
  n = 1024;
  for (size_t k = 0; k < 1023;) {
    size_t l = 1023 - k >= 64 ? 63 : 1023 - k;
    memset(big + n, 'd', l);
    n += l;
    k += l;
    if (k < 1023) {
      big[n++] = '.';
      k++;
    }
  }
  big[n++] = '/';
  memset(big + n, 'r', 1023);
  n += 1023;
  cr_assert_eq(n, XSR_JID_MAX);
  cr_assert_eq(xsr_jid_parse(big, n, buf, sizeof buf, &j, NULL), XSR_OK);
  cr_assert_eq(xsr_jid_full(&j).len, XSR_JID_MAX);
  /* ... and a buffer one byte short reports ENOSPC, not a crash. */
  cr_assert_eq(xsr_jid_parse(big, n, buf, sizeof buf - 1, &j, NULL), XSR_ENOSPC);
}

Test(jid, unicode_normalisation) {
  /* Width mapping: fullwidth Latin letters become ASCII in localparts ... */
  ok("\xef\xbc\xa1\xef\xbd\x82@example.com", "ab@example.com"); /* ＡＢ(b fullwidth) */
  /* ... but not in resources (OpaqueString keeps them: FREE_PVAL). */
  ok("a@b/\xef\xbc\xa1", "a@b/\xef\xbc\xa1");
  /* NFC: e + combining acute == é, in both parts. */
  ok("caf"
     "e\xcc\x81@example.com/r",
     "caf\xc3\xa9@example.com/r");
  ok("a@b/caf"
     "e\xcc\x81",
     "a@b/caf\xc3\xa9");
  /* Case mapping of non-ASCII letters. */
  ok("\xc3\x89LODIE@example.com", "\xc3\xa9lodie@example.com");
  /* Non-ASCII spaces in resources become U+0020 (OpaqueString). */
  ok("a@b/x\xc2\xa0y", "a@b/x y");
  /* No-break space in a localpart is a space: refused. */
  BAD("x\xc2\xa0y@example.com", XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 0);
  /* Fullwidth '@' maps to '@', which RFC 7622 forbids in a localpart. */
  BAD("a\xef\xbc\xa0"
      "b@example.com",
      XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 0);
  /* Zero-width joiner and soft hyphen (default ignorable) are refused. */
  BAD("a\xe2\x80\x8d"
      "b@example.com",
      XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 0);
  BAD("a@b/r\xc2\xad", XSR_EJIDCHAR, XSR_JID_PART_RESOURCE, 4);
  /* Unassigned code point (U+0378) refused. */
  BAD("\xcd\xb8@example.com", XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 0);
  /* Invalid UTF-8 points at the offending byte. */
  BAD("ab\xc3@example.com", XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 2);
  BAD("a@b/\xff", XSR_EJIDCHAR, XSR_JID_PART_RESOURCE, 4);
  BAD("a@b/\xed\xa0\x80", XSR_EJIDCHAR, XSR_JID_PART_RESOURCE, 4); /* surrogate */
  /* Middle dot is allowed between two 'l' (Catalan) only. */
  ok("col\xc2\xb7la@example.com", "col\xc2\xb7la@example.com");
  BAD("co\xc2\xb7la@example.com", XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 0);
  /* Bidi rule: an RTL string is fine; RTL after an LTR start is not. */
  ok("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d@example.com",
     "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d@example.com");
  BAD("a\xd7\xa9@example.com", XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 0);
}

Test(jid, idna_domains) {
  ok("u@M\xc3\x9c"
     "NCHEN.de",
     "u@m\xc3\xbc"
     "nchen.de");
  ok("u@xn--mnchen-3ya.de", "u@m\xc3\xbc"
                            "nchen.de"); /* A-label -> U-label */
  ok("u@XN--MNCHEN-3YA.DE/r", "u@m\xc3\xbc"
                              "nchen.de/r");
  ok("u@\xef\xbd\x85xample.com", "u@example.com");            /* fullwidth e, mapped by UTS 46 */
  BAD("u@xn--zz-.de", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 8);  /* trailing hyphen */
  BAD("u@xn--ls8h.de", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2); /* A-label of an emoji */
  BAD("u@\xe2\x99\x9a.de", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2); /* symbol */
  BAD("u@ex\xc3"
      "ample.de",
      XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2);
  BAD("u@a_\xc3\xa9.de", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 3);
  BAD("u@\xc3\xa9_a.de", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN,
      2); /* TR46 lets _ through; LDH does not */
}

/* Full case mapping (RFC 8265 3.3.1 step 3 prefers Unicode toLowerCase():
 * U+0130 and final sigma), the Bidi Rule for AN-only strings, and the
 * domain rules libidn2 leaves to its caller. */
Test(jid, full_lowercase_bidi_an) {
  ok("\xc4\xb0stanbul@x", "i\xcc\x87stanbul@x"); /* U+0130 -> i U+0307, not i */
  /* ODYSSEUS: the last capital sigma ends the word, the middle ones do not */
  ok("\xce\x9f\xce\x94\xce\xa5\xce\xa3\xce\xa3\xce\x95\xce\xa5\xce\xa3@x",
     "\xce\xbf\xce\xb4\xcf\x85\xcf\x83\xcf\x83\xce\xb5\xcf\x85\xcf\x82@x");
  ok("\xce\xa3@x", "\xcf\x83@x");       /* alone: no cased letter before it */
  ok("a\xce\xa3.b@x", "a\xcf\x83.b@x"); /* '.' is case-ignorable: 'b' follows */
  ok("a\xce\xa3-b@x", "a\xcf\x82-b@x"); /* '-' is not: the word ended */
  /* Hanifi Rohingya digits (Bidi AN): a right-to-left string whose first
   * character is not R or AL (RFC 5893 rule 1), or AN in an LTR one (rule 5). */
  BAD("\xf0\x90\xb4\xb0@x", XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 0);
  BAD("a\xf0\x90\xb4\xb1@x", XSR_EJIDCHAR, XSR_JID_PART_LOCAL, 0);
}

Test(jid, idna_contexto_symbols_ip_literals) {
  /* RFC 5892 appendix A: CONTEXTO code points in their contexts, and out. */
  ok("a@col\xc2\xb7legi.cat", "a@col\xc2\xb7legi.cat"); /* A.3 l.l */
  ok("a@\xe3\x82\xa2\xe3\x83\xbb\xe3\x82\xa4.jp",
     "a@\xe3\x82\xa2\xe3\x83\xbb\xe3\x82\xa4.jp");      /* A.7 */
  ok("a@\xcd\xb5\xce\xb1.gr", "a@\xcd\xb5\xce\xb1.gr"); /* A.4 keraia, Greek after */
  ok("a@\xd7\x90\xd7\xb3.il", "a@\xd7\x90\xd7\xb3.il"); /* A.5 geresh after Hebrew */
  BAD("a@\xc2\xb7.com", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2);
  BAD("a@xn--uba.com", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2);
  BAD("a@\xc5\x80.com", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2); /* U+0140 maps to l + U+00B7 */
  BAD("a@x\xcd\xb5.com", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2);
  BAD("a@\xd7\xb3.com", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2);
  BAD("a@\xe3\x83\xbb.com", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2);
  BAD("a@\xd8\xa7\xd9\xa1\xdb\xb1.com", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2); /* A.8 */
  /* Symbols UTS #46 calls disallowed_STD3_valid are not LetterDigits. */
  BAD("a@\xe2\x89\xa0.com", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2); /* U+2260 */
  BAD("a@xn--1ch.com", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2);
  BAD("a@=\xcc\xb8.com", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2);
  /* Empty labels however the dot is written (UTS #46 maps these to '.'). */
  BAD("a@a\xe3\x80\x82\xe3\x80\x82"
      "b",
      XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 6);
  BAD("a@\xef\xbc\x8e", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 2);
  /* IP-literal: an IPv6 address (RFC 3986 3.2.2), nothing looser. */
  ok("a@[2001:DB8::1]", "a@[2001:db8::1]");
  ok("a@[::ffff:1.2.3.4]", "a@[::ffff:1.2.3.4]");
  BAD("a@[:]", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 2);
  BAD("a@[1.2.3.4]", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 2);
  BAD("a@[1:2]", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 2);
  BAD("a@[abc]", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 2);
}

Test(jid, compare_and_hash) {
  char b1[XSR_JID_MAX], b2[XSR_JID_MAX], b3[XSR_JID_MAX], b4[XSR_JID_MAX];
  xsr_jid a, b, c, d;
  cr_assert_eq(xsr_jid_parse("Juliet@Example.com/Balcony", 26, b1, sizeof b1, &a, NULL), XSR_OK);
  cr_assert_eq(xsr_jid_parse("juliet@example.com/Balcony", 26, b2, sizeof b2, &b, NULL), XSR_OK);
  cr_assert_eq(xsr_jid_parse("juliet@example.com/balcony", 26, b3, sizeof b3, &c, NULL), XSR_OK);
  cr_assert_eq(xsr_jid_parse("juliet@example.com", 18, b4, sizeof b4, &d, NULL), XSR_OK);
  cr_assert(xsr_jid_equal_full(&a, &b));
  cr_assert_not(xsr_jid_equal_full(&a, &c));
  cr_assert(xsr_jid_equal_bare(&a, &c));
  cr_assert(xsr_jid_equal_bare(&a, &d));
  cr_assert_not(xsr_jid_equal_full(&a, &d));
  cr_assert_not(xsr_jid_equal_full(&d, &a));
  cr_assert_eq(xsr_jid_hash(xsr_jid_full(&a), 7), xsr_jid_hash(xsr_jid_full(&b), 7));
  cr_assert_eq(xsr_jid_hash(xsr_jid_bare(&a), 7), xsr_jid_hash(xsr_jid_full(&d), 7));
  cr_assert_neq(xsr_jid_hash(xsr_jid_full(&a), 7), xsr_jid_hash(xsr_jid_full(&c), 7));
  cr_assert_neq(xsr_jid_hash(xsr_jid_full(&a), 7), xsr_jid_hash(xsr_jid_full(&a), 8));
  /* "example.com" (no local) differs from "@example.com"-like bare forms. */
  char b5[XSR_JID_MAX];
  xsr_jid e;
  cr_assert_eq(xsr_jid_parse("example.com", 11, b5, sizeof b5, &e, NULL), XSR_OK);
  cr_assert_not(xsr_jid_equal_bare(&e, &d));
  /* Hashes spread: 10000 similar JIDs give (nearly) 10000 distinct low
   * 16-bit buckets' worth of values; check no full-hash collisions. */
  enum { N = 10000 };
  uint64_t *hs = malloc(N * sizeof *hs);
  for (int i = 0; i < N; i++) {
    char s[32];
    int n = snprintf(s, sizeof s, "user%d@example.com", i);
    xsr_span sp = {s, (size_t)n};
    hs[i] = xsr_jid_hash(sp, 1);
    for (int k = 0; k < i; k++)
      cr_assert_neq(hs[k], hs[i]);
  }
  free(hs);
}

/* The one-pass ASCII path hands anything doubtful to the careful code:
 * the edges of what it accepts by itself, every byte value in each part,
 * and room in the output. */
Test(jid, ascii_one_pass_edges) {
  ok("USER@EXAMPLE.COM/RES", "user@example.com/RES");
  ok("a-b@x-y.z-0/r", "a-b@x-y.z-0/r");
  ok("a@ab-c.d", "a@ab-c.d");
  ok("a@abc--d.e", "a@abc--d.e"); /* hyphens in positions 4 and 5 */
  ok("a@EXAMPLE.COM.", "a@example.com");
  ok("a@127.0.0.1/r", "a@127.0.0.1/r");
  ok("a@[::1]/r", "a@[::1]/r");
  BAD("a@-b.c", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 2);
  BAD("a@b.c-", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 5);
  BAD("a@b-.c", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 3);
  BAD("a@b.-c", XSR_EJIDCHAR, XSR_JID_PART_DOMAIN, 4);
  BAD("a@b..c/r", XSR_EJIDSYNTAX, XSR_JID_PART_DOMAIN, 4);
  /* Every byte value in each part: accepted exactly as the profile says. */
  for (int c = 1; c < 256; c++) {
    char in[16];
    xsr_jid j;
    snprintf(in, sizeof in, "a%cb@d/r", c);
    int want = c > 0x20 && c < 0x7F && !strchr("\"&'/:<>@", c);
    if (c != '/') /* would start the resource */
      cr_assert_eq(xsr_jid_parse(in, 7, buf, sizeof buf, &j, NULL) == XSR_OK, want, "local %#x", c);
    snprintf(in, sizeof in, "a@d%cd/r", c);
    want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
    if (c != '/' && c != '@' && c < 0x80)
      cr_assert_eq(xsr_jid_parse(in, 7, buf, sizeof buf, &j, NULL) == XSR_OK, want, "domain %#x",
                   c);
    snprintf(in, sizeof in, "a@d/r%cr", c);
    want = c >= 0x20 && c != 0x7F;
    if (c < 0x80)
      cr_assert_eq(xsr_jid_parse(in, 7, buf, sizeof buf, &j, NULL) == XSR_OK, want, "resource %#x",
                   c);
  }
  /* Output room: each part, and each separator, exactly. */
  xsr_jid j;
  for (size_t cap = 0; cap < 9; cap++)
    cr_assert_eq(xsr_jid_parse("ab@cd/ef", 8, buf, cap, &j, NULL), cap < 8 ? XSR_ENOSPC : XSR_OK,
                 "cap %zu", cap);
}

/* The hash reads a string's last partial word with overlapping loads: the
 * bytes around the span must never leak into it, and every byte inside
 * must count. */
Test(jid, hash_reads_only_the_span) {
  const char *text = "user12345@example.com/resource-abcdefgh";
  for (size_t n = 0; n <= 32; n++) {
    uint64_t want = 0;
    for (size_t off = 0; off < 16; off++) {
      char area[64];
      memset(area, (int)(0x5A + off), sizeof area);
      memcpy(area + off, text, n);
      xsr_span sp = {area + off, n};
      uint64_t h = xsr_jid_hash(sp, 3);
      if (off == 0)
        want = h;
      cr_assert_eq(h, want, "len %zu at %zu: bytes outside the span changed the hash", n, off);
      for (size_t i = 0; i < n; i++) {
        area[off + i] ^= 0x20;
        cr_assert_neq(xsr_jid_hash(sp, 3), want, "len %zu: byte %zu ignored", n, i);
        area[off + i] ^= 0x20;
      }
    }
  }
}

Test(jid, part_names_and_errors) {
  cr_assert_str_eq(xsr_jid_part_name(XSR_JID_PART_LOCAL), "localpart");
  cr_assert_str_eq(xsr_jid_part_name(XSR_JID_PART_DOMAIN), "domainpart");
  cr_assert_str_eq(xsr_jid_part_name(XSR_JID_PART_RESOURCE), "resourcepart");
  cr_assert_str_eq(xsr_err_condition(XSR_EJIDCHAR), "jid-malformed");
  xsr_jid j;
  cr_assert_eq(xsr_jid_parse(NULL, 3, buf, sizeof buf, &j, NULL), XSR_EINVAL);
  cr_assert_eq(xsr_jid_parse("a@b", 3, buf, 2, &j, NULL), XSR_ENOSPC);
  cr_assert_eq(xsr_jid_parse("a@b", 3, buf, 3, &j, NULL), XSR_OK);
}

/* Every byte string of length <= 3 over an alphabet of JID-relevant bytes:
 * parse never crashes, and success always yields spans inside the buffer
 * whose canonical form re-parses to itself (idempotence). */
Test(jid, exhaustive_short_inputs) {
  const char alpha[] = {'a', 'A', '@', '/', '.', ' ', '[', ']', ':', '\xc3', '\xa9', '-'};
  size_t na = sizeof alpha;
  char in[4], again[XSR_JID_MAX];
  for (size_t len = 0; len <= 3; len++) {
    size_t total = 1;
    for (size_t k = 0; k < len; k++)
      total *= na;
    for (size_t v = 0; v < total; v++) {
      size_t x = v;
      for (size_t k = 0; k < len; k++) {
        in[k] = alpha[x % na];
        x /= na;
      }
      xsr_jid j, j2;
      if (xsr_jid_parse(in, len, buf, sizeof buf, &j, NULL) != XSR_OK)
        continue;
      xsr_span f = xsr_jid_full(&j);
      cr_assert(f.ptr >= buf && f.ptr + f.len <= buf + sizeof buf);
      cr_assert_eq(xsr_jid_parse(f.ptr, f.len, again, sizeof again, &j2, NULL), XSR_OK);
      xsr_span f2 = xsr_jid_full(&j2);
      cr_assert(f2.len == f.len && memcmp(f2.ptr, f.ptr, f.len) == 0, "not idempotent: %.*s",
                (int)len, in);
    }
  }
}
