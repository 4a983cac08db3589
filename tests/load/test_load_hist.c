/* SPDX-License-Identifier: MIT */
/*
 * tests/load/test_load_hist.c: xsr-load's latency histogram
 * (tools/load/hist.h): bucket bounds and precision (three significant
 * digits), percentiles against exact ranks, merging, the range up to an
 * hour and beyond.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

static xl_hist *new_hist(void) {
  xl_hist *h = malloc(sizeof *h);
  cr_assert_not_null(h);
  xl_hist_reset(h);
  return h;
}

Test(load_hist, small_values_are_exact) {
  xl_hist *h = new_hist();
  for (uint64_t v = 0; v < XL_HIST_SUB; v++) {
    cr_assert_eq(xl_hist_bucket(v), v);
    cr_assert_eq(xl_hist_bucket_high(v), v);
  }
  xl_hist_record(h, 7);
  xl_hist_record(h, 9);
  xl_hist_record(h, 11);
  cr_assert_eq(xl_hist_percentile(h, 50), 9);
  cr_assert_eq(xl_hist_percentile(h, 100), 11);
  cr_assert_eq(xl_hist_percentile(h, 1), 7);
  cr_assert_float_eq(xl_hist_mean(h), 9.0, 1e-9);
  free(h);
}

/* Every value lies in its bucket, the bucket is at most 1/1024 of the value
 * wide, and buckets are contiguous and increasing. */
Test(load_hist, three_significant_digits_up_to_an_hour) {
  uint64_t hour = UINT64_C(3600) * 1000000u;
  uint64_t prev_high = 0;
  for (size_t i = 1; i < XL_HIST_BUCKETS; i++) {
    uint64_t hi = xl_hist_bucket_high(i);
    cr_assert_gt(hi, prev_high, "bucket %zu", i);
    cr_assert_eq(xl_hist_bucket(prev_high + 1), i, "bucket %zu", i);
    cr_assert_eq(xl_hist_bucket(hi), i, "bucket %zu", i);
    prev_high = hi;
  }
  cr_assert_eq(prev_high, XL_HIST_MAX);
  cr_assert_gt(XL_HIST_MAX, hour);
  for (uint64_t v = XL_HIST_SUB; v < hour; v = v * 3 / 2 + 7) {
    size_t b = xl_hist_bucket(v);
    uint64_t hi = xl_hist_bucket_high(b);
    uint64_t lo = b ? xl_hist_bucket_high(b - 1) + 1 : 0;
    cr_assert(lo <= v && v <= hi, "%llu not in [%llu, %llu]", (unsigned long long)v,
              (unsigned long long)lo, (unsigned long long)hi);
    cr_assert_leq((hi - lo + 1) * 1024, v, "bucket of %llu too wide", (unsigned long long)v);
  }
}

Test(load_hist, percentiles_match_exact_ranks) {
  xl_hist *h = new_hist();
  /* 1..100000 once each: the p-th percentile is p * 1000 within 0.1 %. */
  for (uint64_t v = 1; v <= 100000; v++)
    xl_hist_record(h, v);
  const double ps[] = {50, 90, 99, 99.9};
  for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
    double exact = ps[i] * 1000.0;
    double got = (double)xl_hist_percentile(h, ps[i]);
    cr_assert(got >= exact && got <= exact * 1.001, "p%g: %g, exact %g", ps[i], got, exact);
  }
  cr_assert_eq(xl_hist_percentile(h, 100), 100000);
  cr_assert_eq(h->max, 100000);
  cr_assert_eq(h->min, 1);
  cr_assert_float_eq(xl_hist_mean(h), 50000.5, 1e-6);
  free(h);
}

/* Ranks are exact: p% of a count that makes a whole number is that rank,
 * not the next one (99.9 / 100 * 1000 is 999.0000000000001 in doubles, which
 * rounded up to rank 1000 reported the maximum as p99.9). */
Test(load_hist, percentile_rank_is_not_rounded_past_a_whole_number) {
  xl_hist *h = new_hist();
  for (uint64_t v = 1; v <= 1000; v++) /* exact buckets: below XL_HIST_SUB */
    xl_hist_record(h, v);
  cr_assert_eq(xl_hist_percentile(h, 99.9), 999);
  cr_assert_eq(xl_hist_percentile(h, 99), 990);
  cr_assert_eq(xl_hist_percentile(h, 90), 900);
  cr_assert_eq(xl_hist_percentile(h, 50), 500);
  cr_assert_eq(xl_hist_percentile(h, 0.1), 1);
  cr_assert_eq(xl_hist_percentile(h, 100), 1000);
  /* A fraction of a rank still rounds up: 99.95 % of 1000 is 999.5. */
  cr_assert_eq(xl_hist_percentile(h, 99.95), 1000);
  xl_hist_reset(h);
  for (uint64_t v = 1; v <= 2000; v++)
    xl_hist_record(h, v);
  cr_assert_eq(xl_hist_percentile(h, 99.9), 1998);
  free(h);
}

Test(load_hist, merge_equals_recording_into_one) {
  xl_hist *a = new_hist(), *b = new_hist(), *all = new_hist();
  for (uint64_t v = 0; v < 50000; v++) {
    uint64_t x = (v * 2654435761u) % 5000000u;
    xl_hist_record(v % 3 ? a : b, x);
    xl_hist_record(all, x);
  }
  xl_hist *m = new_hist();
  xl_hist_merge(m, a);
  xl_hist_merge(m, b);
  cr_assert_eq(m->count, all->count);
  cr_assert_eq(m->sum, all->sum);
  cr_assert_eq(m->min, all->min);
  cr_assert_eq(m->max, all->max);
  cr_assert_eq(memcmp(m->b, all->b, sizeof m->b), 0);
  cr_assert_eq(xl_hist_percentile(m, 99), xl_hist_percentile(all, 99));
  /* Merging an empty histogram changes nothing. */
  xl_hist *e = new_hist();
  xl_hist_merge(m, e);
  cr_assert_eq(m->count, all->count);
  free(a), free(b), free(all), free(m), free(e);
}

Test(load_hist, empty_and_out_of_range) {
  xl_hist *h = new_hist();
  cr_assert_eq(xl_hist_percentile(h, 99), 0);
  cr_assert_float_eq(xl_hist_mean(h), 0.0, 1e-12);
  uint64_t huge = UINT64_C(1) << 40;
  xl_hist_record(h, huge);
  cr_assert_eq(xl_hist_bucket(huge), XL_HIST_BUCKETS - 1);
  cr_assert_eq(h->max, huge);
  /* Reported as the exact max, not the last bucket's bound. */
  cr_assert_eq(xl_hist_percentile(h, 50), huge);
  xl_hist_record(h, 5);
  cr_assert_eq(xl_hist_percentile(h, 50), 5);
  cr_assert_eq(xl_hist_percentile(h, 100), huge);
  free(h);
}
