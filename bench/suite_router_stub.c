/* SPDX-License-Identifier: MIT */
/* Stands in for suite_router.c when the router core is not built: records
 * nothing and says so. */
#include <stdio.h>

#include "bench.h"

int xsr_bench_suite_router(xsr_bench_env *env) {
  (void)env;
  fprintf(stderr, "xsr-bench: the router suite is not built (XSR_BUILD_ROUTER=OFF or no "
                  "bench/suite_router.c); skipping it\n");
  return 0;
}
