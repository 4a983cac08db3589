/* SPDX-License-Identifier: MIT */
/* Stands in for suite_e2e.c when xsr-router is not built: records nothing
 * and says so. */
#include <stdio.h>

#include "bench.h"

int xsr_bench_suite_e2e(xsr_bench_env *env) {
  (void)env;
  fprintf(stderr, "xsr-bench: the e2e suite is not built (XSR_BUILD_SERVER=OFF); skipping it\n");
  return 0;
}

int xsr_bench_e2e_peer_check(const char *spec, char *err, size_t errlen) {
  (void)spec;
  snprintf(err, errlen, "--peer: the e2e suite is not built (XSR_BUILD_SERVER=OFF)");
  return -1;
}
