/* SPDX-License-Identifier: MIT */
/*
 * server/base64.h: strict base64 (RFC 4648 section 4) for the users file
 * and the SASL exchange.
 *
 * Strict means what RFC 6120 section 6.4.2 asks of SASL data on the wire:
 * the standard alphabet, '=' padding to a multiple of four, no whitespace,
 * and (RFC 4648 section 3.5) zero pad bits, so every byte string has exactly
 * one accepted encoding.
 *
 * Threads: pure functions, safe anywhere.
 */
#ifndef XSR_SERVER_BASE64_H
#define XSR_SERVER_BASE64_H

#include <stddef.h>

/* Characters needed to encode n bytes, not counting the NUL. */
static inline size_t xsr__b64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }

/* Largest number of bytes `len` characters of base64 can decode to. */
static inline size_t xsr__b64_decoded_max(size_t len) { return len / 4 * 3; }

/* Encodes in[0..n) into out, which must hold xsr__b64_encoded_len(n) + 1
 * bytes; the result is NUL-terminated.  Returns its length. */
size_t xsr__b64_encode(const void *in, size_t n, char *out);

/* Decodes in[0..len) into out[0..cap).  Returns 0 and sets *outlen, or -1
 * when the input is not strict base64 (or does not fit in cap; a cap of
 * xsr__b64_decoded_max(len) always suffices).  The empty string decodes to
 * zero bytes. */
int xsr__b64_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen);

#endif /* XSR_SERVER_BASE64_H */
