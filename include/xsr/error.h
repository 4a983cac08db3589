/* SPDX-License-Identifier: MIT */
/*
 * xsr/error.h: one error enum for the whole library.
 *
 * Every code maps to an RFC 6120 section 4.9.3 stream error condition, so a
 * server can answer a parse failure with <stream:error><CONDITION/> without a
 * table of its own; the JID codes (XSR_EJID*) map to the stanza error
 * condition jid-malformed (section 8.3.3.8) instead, since an address is
 * refused in a stanza's error, not by closing the stream.  XSR_OK is 0; every other value is
 * positive.  XSR_PAUSED is not a failure: it says a callback asked the parser to stop for now.
 *
 * The list below is the single source of truth: code, condition, message.
 */
#ifndef XSR_ERROR_H
#define XSR_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* XX(NAME, "rfc6120-condition", "message") */
#define XSR_ERR_MAP(XX)                                                                            \
  XX(OK, "", "success")                                                                            \
  XX(PAUSED, "", "paused by a callback")                                                           \
  XX(ENOMEM, "resource-constraint", "out of memory")                                               \
  XX(EINVAL, "undefined-condition", "invalid argument")                                            \
  XX(EBUSY, "undefined-condition", "call not allowed from a callback")                             \
  XX(ENOSPC, "undefined-condition", "output buffer too small")                                     \
  XX(EABORTED, "undefined-condition", "aborted by a callback")                                     \
  XX(ESYNTAX, "not-well-formed", "XML syntax error")                                               \
  XX(EUTF8, "not-well-formed", "invalid UTF-8 sequence")                                           \
  XX(ECHAR, "not-well-formed", "character not allowed in XML")                                     \
  XX(ENAME, "not-well-formed", "invalid XML name")                                                 \
  XX(ETAGMISMATCH, "not-well-formed", "end tag does not match start tag")                          \
  XX(EDUPATTR, "not-well-formed", "duplicate attribute")                                           \
  XX(EATTRLT, "not-well-formed", "'<' in attribute value")                                         \
  XX(EREF, "not-well-formed", "malformed character or entity reference")                           \
  XX(ECHARREF, "not-well-formed", "character reference to a character not allowed in XML")         \
  XX(ECDATAEND, "not-well-formed", "']]>' in character data")                                      \
  XX(EXMLDECL, "not-well-formed", "malformed XML declaration")                                     \
  XX(EJUNK, "not-well-formed", "data after the end of the stream")                                 \
  XX(ENSDECL, "not-well-formed", "illegal namespace declaration")                                  \
  XX(EQNAME, "not-well-formed", "malformed qualified name")                                        \
  XX(ECOMMENT, "restricted-xml", "XML comments are not allowed in XMPP")                           \
  XX(EPI, "restricted-xml", "processing instructions are not allowed in XMPP")                     \
  XX(EDTD, "restricted-xml", "document type declarations are not allowed in XMPP")                 \
  XX(EENTITY, "restricted-xml", "only the five predefined entities are allowed in XMPP")           \
  XX(EPREFIX, "bad-namespace-prefix", "namespace prefix is not bound")                             \
  XX(ESTREAMNS, "invalid-namespace", "stream element is not in the streams namespace")             \
  XX(ECONTENTNS, "invalid-namespace", "default namespace is not a supported content namespace")    \
  XX(EENCODING, "unsupported-encoding", "stream is not encoded in UTF-8")                          \
  XX(EVERSION, "unsupported-version", "unsupported XMPP version")                                  \
  XX(EBADVERSION, "bad-format", "malformed version attribute")                                     \
  XX(ETEXT, "bad-format", "character data between stanzas")                                        \
  XX(ELIMITSTANZA, "policy-violation", "stanza exceeds the size limit")                            \
  XX(ELIMITDEPTH, "policy-violation", "element nesting exceeds the depth limit")                   \
  XX(ELIMITATTRS, "policy-violation", "element has too many attributes")                           \
  XX(ELIMITNAME, "policy-violation", "name exceeds the length limit")                              \
  XX(ELIMITNSDECL, "policy-violation", "element declares too many namespaces")                     \
  XX(ELIMITNS, "policy-violation", "stream uses too many distinct namespaces")                     \
  XX(EJIDSYNTAX, "jid-malformed", "malformed JID")                                                 \
  XX(EJIDLONG, "jid-malformed", "JID part too long")                                               \
  XX(EJIDCHAR, "jid-malformed", "character not allowed in this JID part")                          \
  XX(EQUEUEFULL, "policy-violation", "session queue byte budget exceeded")                         \
  XX(ENOTFOUND, "undefined-condition", "not found")                                                \
  XX(EEXIST, "conflict", "already exists")                                                         \
  XX(ESTANZANS, "invalid-namespace", "stanza is in a content namespace other than the stream's")

typedef enum xsr_err {
#define XSR__ERR_ENUM(name, cond, msg) XSR_##name,
  XSR_ERR_MAP(XSR__ERR_ENUM)
#undef XSR__ERR_ENUM
      XSR__ERR_MAX
} xsr_err;

/* "XSR_EUTF8" for XSR_EUTF8; "XSR_UNKNOWN" for values outside the enum. */
const char *xsr_err_name(xsr_err err);

/* The RFC 6120 condition element name, e.g. "not-well-formed"; "" for XSR_OK
 * and XSR_PAUSED; "undefined-condition" for unknown values. The JID codes name
 * the stanza error condition of RFC 6120 section 8.3.3 instead. */
const char *xsr_err_condition(xsr_err err);

/* A one-line English description; never NULL. */
const char *xsr_err_message(xsr_err err);

#ifdef __cplusplus
}
#endif
#endif /* XSR_ERROR_H */
