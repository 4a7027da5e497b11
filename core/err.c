#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/err.h"

/* Used when even the error cannot be allocated. Never freed. */
static struct berth_error oom_error = {.code = BERTH_E_NOMEM, .msg = (char *)"out of memory"};

static void error_free_chain(struct berth_error *e) {
  while (e && e != &oom_error) {
    struct berth_error *next = e->cause;
    free(e->msg);
    free(e);
    e = next;
  }
}

int berth_err_setv(berth_err *err, int code, const char *fmt, va_list ap) {
  struct berth_error *e = calloc(1, sizeof(*e));
  if (!e || vasprintf(&e->msg, fmt, ap) < 0) {
    free(e);
    error_free_chain(*err);
    *err = &oom_error;
    return -BERTH_E_NOMEM;
  }
  e->code = code;
  e->cause = *err;
  if (e->cause)
    e->status = e->cause->status;
  *err = e;
  return -code;
}

int berth_err_set(berth_err *err, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = berth_err_setv(err, code, fmt, ap);
  va_end(ap);
  return r;
}

int berth_err_errno(berth_err *err, int errno_value, const char *fmt, ...) {
  char *what = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&what, fmt, ap);
  va_end(ap);
  if (n < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int r = berth_err_set(err, BERTH_E_IO, "%s: %s", what, strerror(errno_value));
  free(what);
  return r;
}

int berth_err_wrap(berth_err *err, const char *fmt, ...) {
  int code = *err ? (*err)->code : BERTH_E_FAILED;
  va_list ap;
  va_start(ap, fmt);
  int r = berth_err_setv(err, code, fmt, ap);
  va_end(ap);
  return r;
}

static const struct berth_error *root(berth_err err) {
  while (err && err->cause)
    err = err->cause;
  return err;
}

int berth_err_code(berth_err err) {
  const struct berth_error *r = root(err);
  return r ? r->code : 0;
}

int berth_err_status(berth_err err) {
  const struct berth_error *r = root(err);
  return r ? r->status : 0;
}

const char *berth_err_root_msg(berth_err err) {
  const struct berth_error *r = root(err);
  return r ? r->msg : "";
}

char *berth_err_string(berth_err err) {
  size_t len = 1;
  for (const struct berth_error *e = err; e; e = e->cause)
    len += strlen(e->msg) + 2;
  char *s = malloc(len);
  if (!s)
    return NULL;
  s[0] = '\0';
  for (const struct berth_error *e = err; e; e = e->cause) {
    strcat(s, e->msg);
    if (e->cause)
      strcat(s, ": ");
  }
  return s;
}

void berth_err_free(berth_err *err) {
  if (!err)
    return;
  error_free_chain(*err);
  *err = NULL;
}
