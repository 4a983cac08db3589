/* SPDX-License-Identifier: MIT */
/*
 * A counting allocator for the allocation tests: counts every call, tracks
 * live blocks and bytes (a size header sits before each block), and can fail
 * the n-th malloc/realloc call to exercise every out-of-memory path.
 */
#include <stdlib.h>
#include <string.h>

#include "xsr_test.h"

#define HDR 16 /* keeps max_align_t alignment for the caller's block */

static int should_fail(countalloc *ca) {
  ca->calls++;
  if (ca->fail_at && ca->calls == ca->fail_at) {
    ca->failed++;
    return 1;
  }
  return 0;
}

static void *ca_malloc(void *user, size_t size) {
  countalloc *ca = user;
  if (should_fail(ca))
    return NULL;
  unsigned char *b = malloc(size + HDR);
  if (!b)
    return NULL;
  memcpy(b, &size, sizeof size);
  ca->mallocs++;
  ca->live++;
  ca->live_bytes += size;
  return b + HDR;
}

static void ca_free(void *user, void *ptr) {
  countalloc *ca = user;
  if (!ptr)
    return;
  unsigned char *b = (unsigned char *)ptr - HDR;
  size_t size;
  memcpy(&size, b, sizeof size);
  ca->frees++;
  ca->live--;
  ca->live_bytes -= size;
  free(b);
}

static void *ca_realloc(void *user, void *ptr, size_t size) {
  countalloc *ca = user;
  if (should_fail(ca))
    return NULL;
  unsigned char *old = ptr ? (unsigned char *)ptr - HDR : NULL;
  size_t old_size = 0;
  if (old)
    memcpy(&old_size, old, sizeof old_size);
  unsigned char *b = realloc(old, size + HDR);
  if (!b)
    return NULL;
  memcpy(b, &size, sizeof size);
  ca->reallocs++;
  if (!old)
    ca->live++;
  ca->live_bytes = ca->live_bytes - old_size + size;
  return b + HDR;
}

xsr_allocator countalloc_make(countalloc *ca) {
  xsr_allocator a = {ca_malloc, ca_realloc, ca_free, ca};
  return a;
}
