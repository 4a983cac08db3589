/* SPDX-License-Identifier: MIT */
/*
 * tools/load/hist.c: the log-linear latency histogram (see hist.h).
 *
 * Bucket layout: values 0..2047 map to buckets 0..2047 one to one.  A
 * larger value v with highest set bit k (k >= 11) is shifted right by
 * s = k - 10, which leaves 1024..2047; its bucket is
 * 2048 + (s - 1) * 1024 + ((v >> s) - 1024).  So each range [2^k, 2^(k+1))
 * has 1024 buckets of width 2^s, and the width is at most v / 1024.
 */
#include "hist.h"

#include <string.h>

void xl_hist_reset(xl_hist *h) { memset(h, 0, sizeof *h); }

size_t xl_hist_bucket(uint64_t v) {
  if (v > XL_HIST_MAX)
    v = XL_HIST_MAX;
  if (v < XL_HIST_SUB)
    return (size_t)v;
  unsigned k = 63u - (unsigned)__builtin_clzll(v);
  unsigned s = k - 10u;
  return XL_HIST_SUB + (size_t)(s - 1u) * XL_HIST_HALF + (size_t)((v >> s) - XL_HIST_HALF);
}

uint64_t xl_hist_bucket_high(size_t i) {
  if (i < XL_HIST_SUB)
    return i;
  size_t s = (i - XL_HIST_SUB) / XL_HIST_HALF + 1u;
  uint64_t top = (uint64_t)((i - XL_HIST_SUB) % XL_HIST_HALF) + XL_HIST_HALF;
  return ((top + 1u) << s) - 1u;
}

void xl_hist_record(xl_hist *h, uint64_t v) {
  h->b[xl_hist_bucket(v)]++;
  if (h->count == 0 || v < h->min)
    h->min = v;
  if (v > h->max)
    h->max = v;
  h->count++;
  h->sum += v;
}

void xl_hist_merge(xl_hist *dst, const xl_hist *src) {
  if (src->count == 0)
    return;
  for (size_t i = 0; i < XL_HIST_BUCKETS; i++)
    dst->b[i] += src->b[i];
  if (dst->count == 0 || src->min < dst->min)
    dst->min = src->min;
  if (src->max > dst->max)
    dst->max = src->max;
  dst->count += src->count;
  dst->sum += src->sum;
}

uint64_t xl_hist_percentile(const xl_hist *h, double p) {
  if (h->count == 0)
    return 0;
  if (p > 100.0)
    p = 100.0;
  /* The rank of the value wanted, 1-based: ceil(p% of count), at least 1.
   * p / 100 * count carries a rounding error of a few ulps (99.9 % of 1000
   * is 999.0000000000001): a fraction below 1e-9 of the rank is that error,
   * not a part of a rank, so it does not round up. */
  double r = p / 100.0 * (double)h->count;
  uint64_t rank = (uint64_t)r;
  if (r - (double)rank > 1e-9 * r)
    rank++;
  if (rank < 1)
    rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < XL_HIST_BUCKETS; i++) {
    seen += h->b[i];
    if (seen >= rank) {
      if (i == XL_HIST_BUCKETS - 1)
        return h->max; /* the last bucket also holds everything larger */
      uint64_t v = xl_hist_bucket_high(i);
      if (v > h->max)
        v = h->max;
      if (v < h->min)
        v = h->min;
      return v;
    }
  }
  return h->max;
}

double xl_hist_mean(const xl_hist *h) { return h->count ? (double)h->sum / (double)h->count : 0.0; }
