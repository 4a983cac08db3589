/* SPDX-License-Identifier: MIT */
/*
 * tools/load/hist.h: the latency histogram of xsr-load (log-linear, three
 * significant digits), private to the tool.
 *
 * Values are unsigned integers (xsr-load records microseconds).  Values
 * below XL_HIST_SUB (2048) each have their own bucket; above that, every
 * power of two [2^k, 2^(k+1)) is cut into 1024 equal buckets, so a value is
 * known to within 1/1024 of itself (better than 0.1 %: three significant
 * digits), as HdrHistogram does.  The largest value tracked in a bucket is
 * XL_HIST_MAX (2^32 - 1 us, about 71.6 minutes); larger values are counted
 * in the last bucket, and max keeps the exact largest value recorded.
 *
 * A histogram is one fixed array (about 190 KB), never allocated: recording
 * is a few shifts and an increment.  It is owned by one thread; merge the
 * per-thread histograms once the threads are joined.
 */
#ifndef XSR_TOOLS_LOAD_HIST_H
#define XSR_TOOLS_LOAD_HIST_H

#include <stddef.h>
#include <stdint.h>

#define XL_HIST_SUB     2048u
#define XL_HIST_HALF    1024u
#define XL_HIST_MAX     UINT64_C(0xFFFFFFFF)
#define XL_HIST_BUCKETS (XL_HIST_SUB + 21u * XL_HIST_HALF)

typedef struct xl_hist {
  uint64_t count;
  uint64_t sum; /* of the values recorded, for the mean */
  uint64_t min, max;
  uint64_t b[XL_HIST_BUCKETS];
} xl_hist;

/* Empties h. */
void xl_hist_reset(xl_hist *h);

/* Counts one value. */
void xl_hist_record(xl_hist *h, uint64_t v);

/* Adds every count of src to dst. */
void xl_hist_merge(xl_hist *dst, const xl_hist *src);

/* The value at percentile p (0 < p <= 100): the smallest bucket bound at or
 * below which at least p % of the values lie, reported as the bucket's
 * highest value (never above max, never below min); 0 when empty. */
uint64_t xl_hist_percentile(const xl_hist *h, double p);

/* The mean of the values recorded (exact); 0 when empty. */
double xl_hist_mean(const xl_hist *h);

/* Bucket of v, and the highest value of bucket i (for the tests). */
size_t xl_hist_bucket(uint64_t v);
uint64_t xl_hist_bucket_high(size_t i);

#endif
