/* SPDX-License-Identifier: MIT */
/*
 * xsr/alloc.h: the allocator hook.
 *
 * Every object that allocates takes an optional `const xsr_allocator *` at
 * creation; NULL means the C library's malloc/realloc/free.  The struct is
 * copied, so it need not outlive the call; `user` is passed back verbatim.
 * `realloc(user, NULL, n)` must behave like malloc and `free(user, NULL)`
 * must do nothing, as in C.
 */
#ifndef XSR_ALLOC_H
#define XSR_ALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsr_allocator {
  void *(*malloc)(void *user, size_t size);
  void *(*realloc)(void *user, void *ptr, size_t size);
  void (*free)(void *user, void *ptr);
  void *user;
} xsr_allocator;

#ifdef __cplusplus
}
#endif
#endif /* XSR_ALLOC_H */
