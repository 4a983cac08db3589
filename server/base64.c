/* SPDX-License-Identifier: MIT */
/*
 * server/base64.c: strict base64, see base64.h.
 */
#include "base64.h"

#include <stdint.h>

static const char enc_table[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t xsr__b64_encode(const void *in, size_t n, char *out) {
  const unsigned char *p = in;
  char *o = out;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = enc_table[v >> 18];
    *o++ = enc_table[v >> 12 & 63];
    *o++ = enc_table[v >> 6 & 63];
    *o++ = enc_table[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    *o++ = enc_table[v >> 18];
    *o++ = enc_table[v >> 12 & 63];
    *o++ = '=';
    *o++ = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    *o++ = enc_table[v >> 18];
    *o++ = enc_table[v >> 12 & 63];
    *o++ = enc_table[v >> 6 & 63];
    *o++ = '=';
  }
  *o = '\0';
  return (size_t)(o - out);
}

/* The value of one alphabet character, or -1. */
static int dec(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

int xsr__b64_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen) {
  const unsigned char *p = (const unsigned char *)in;
  size_t o = 0;
  if (len % 4 != 0)
    return -1;
  for (size_t i = 0; i < len; i += 4) {
    int last = i + 4 == len;
    int a = dec(p[i]), b = dec(p[i + 1]), c, d;
    if (a < 0 || b < 0)
      return -1;
    if (last && p[i + 2] == '=' && p[i + 3] == '=') {
      if (b & 15) /* pad bits must be zero */
        return -1;
      if (o + 1 > cap)
        return -1;
      out[o++] = (unsigned char)(a << 2 | b >> 4);
      break;
    }
    c = dec(p[i + 2]);
    if (c < 0)
      return -1;
    if (last && p[i + 3] == '=') {
      if (c & 3)
        return -1;
      if (o + 2 > cap)
        return -1;
      out[o++] = (unsigned char)(a << 2 | b >> 4);
      out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
      break;
    }
    d = dec(p[i + 3]);
    if (d < 0)
      return -1;
    if (o + 3 > cap)
      return -1;
    out[o++] = (unsigned char)(a << 2 | b >> 4);
    out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
    out[o++] = (unsigned char)((c & 3) << 6 | d);
  }
  *outlen = o;
  return 0;
}
