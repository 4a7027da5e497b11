/* Scope-bound cleanup, after systemd's macros. Needs gnu11.
 * Ownership moves out of a cleanup variable with TAKE_PTR / TAKE_FD.
 * core/cleanup.h adds the cleanups of libcurl's types. */
#ifndef BERTH_PUBLIC_CLEANUP_H
#define BERTH_PUBLIC_CLEANUP_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "berth/err.h"
#include "berth/strv.h"

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
  static inline void func##p(type *p) {                                                            \
    if (*p)                                                                                        \
      func(*p);                                                                                    \
  }

static inline void freep(void *p) {
  free(*(void **)p);
}
static inline void closep(int *fd) {
  if (*fd >= 0)
    close(*fd);
}
static inline void fclosep(FILE **f) {
  if (*f)
    fclose(*f);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete)

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_json_ _cleanup_(cJSON_Deletep)
#define _cleanup_err_ _cleanup_(berth_err_free)
#define _cleanup_strv_ _cleanup_(berth_strv_release)

#define TAKE_PTR(p)                                                                                \
  ({                                                                                               \
    __typeof__(p) _p = (p);                                                                        \
    (p) = NULL;                                                                                    \
    _p;                                                                                            \
  })
#define TAKE_FD(fd)                                                                                \
  ({                                                                                               \
    int _fd = (fd);                                                                                \
    (fd) = -1;                                                                                     \
    _fd;                                                                                           \
  })

#endif
