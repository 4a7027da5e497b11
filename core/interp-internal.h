/* Shared by core/interp.c (interpolation, berth_vars) and core/dotenv.c
 * (.env files, which interpolate their values). */
#ifndef BERTH_INTERP_INTERNAL_H
#define BERTH_INTERP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/buf.h"
#include "berth/interp.h"
#include "cleanup.h"

#define BERTH__INTERP_MAX_VALUE ((size_t)1 << 20) /* 1 MiB per interpolated value */
#define BERTH__EXCERPT_MAX 40                     /* bytes of input quoted in messages */

static inline void berth__buf_releasep(struct berth_buf *b) {
  berth_buf_release(b);
}
#define _cleanup_buf_ _cleanup_(berth__buf_releasep)

static inline bool berth__is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static inline bool berth__is_name_char(char c) {
  return berth__is_name_start(c) || (c >= '0' && c <= '9');
}

static inline bool berth__is_key_char(char c) {
  return berth__is_name_char(c) || c == '.' || c == '-';
}

static inline bool berth__is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Like strndup(), for text that need not be NUL-terminated (a .env
 * buffer is a pointer and a length). */
char *berth__dup_slice(const char *s, size_t n);
/* At most max bytes of s[0..n), not cutting a UTF-8 sequence. */
int berth__excerpt_len(const char *s, size_t n, size_t max);
/* 1-based column of byte off in s: characters since the last newline. */
int berth__column_of(const char *s, size_t off);
/* Room for extra more pairs in v; -BERTH_E_NOMEM. */
int berth__vars_reserve(struct berth_vars *v, size_t extra);

/* One interpolation run over s[0..len). */
struct berth__interp {
  const char *s;
  size_t len, pos;
  berth_lookup_fn lookup;
  void *ud;
  unsigned depth;
  /* The failure: byte offset in s, what is wrong, what to do (may be
   * NULL), and whether the message already says everything (a required
   * variable: Compose's wording, no column). */
  size_t fail_off;
  char *fail_msg;
  const char *fail_hint;
  bool fail_whole;
};

/* Interpolates s[0..len) into *ret; on failure in->fail_* say why and
 * the caller frees in->fail_msg. */
int berth__interp_run(struct berth__interp *in, const char *s, size_t len, berth_lookup_fn lookup,
                      void *ud, char **ret);

#endif
