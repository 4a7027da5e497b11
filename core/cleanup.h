/* Scope-bound cleanup, after systemd's macros. Needs gnu11.
 * Ownership moves out of a cleanup variable with TAKE_PTR / TAKE_FD. */
#ifndef BERTH_CLEANUP_H
#define BERTH_CLEANUP_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "berth/err.h"

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
DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all)

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_json_ _cleanup_(cJSON_Deletep)
#define _cleanup_curl_ _cleanup_(curl_easy_cleanupp)
#define _cleanup_slist_ _cleanup_(curl_slist_free_allp)
#define _cleanup_err_ _cleanup_(berth_err_free)

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
