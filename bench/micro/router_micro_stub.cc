/* SPDX-License-Identifier: MIT */
// Stands in for router_micro.cc when the router core is not built.
#include <benchmark/benchmark.h>

static void BM_router_not_built(benchmark::State &state) {
  for (auto _ : state)
    state.SkipWithError("the router is not built (XSR_BUILD_ROUTER=OFF or no router_micro.cc)");
}
BENCHMARK(BM_router_not_built);
