/* Error values: a code, a message and an optional cause chain.
 *
 * The contract (see CONTRIBUTING.md, "Errors"):
 *   int berth_x(..., berth_err *err);
 * returns >= 0 on success and leaves *err alone; on failure it returns a
 * negative value and fills *err. Callers add context on the way up with
 * berth_err_wrap(). Only cmd/ reports an error, once, and frees it.
 */
#ifndef BERTH_ERR_H
#define BERTH_ERR_H

#include <stdarg.h>

enum berth_errc {
  BERTH_E_FAILED = 1, /* anything without a better code */
  BERTH_E_NOMEM,
  BERTH_E_IO,          /* local file or socket I/O */
  BERTH_E_UNREACHABLE, /* the engine does not answer */
  BERTH_E_API,         /* the engine answered with an error status */
  BERTH_E_NOT_FOUND,   /* HTTP 404 */
  BERTH_E_CONFLICT,    /* HTTP 409 */
  BERTH_E_PROTOCOL,    /* malformed answer from the engine */
  BERTH_E_TOO_BIG,     /* an input exceeded its bound */
  BERTH_E_INVALID,     /* bad argument or input */
  BERTH_E_UNSUPPORTED,
  BERTH_E_TIMEOUT,
};

struct berth_error {
  int code;   /* enum berth_errc */
  int status; /* HTTP status from the engine, 0 if none */
  char *msg;
  struct berth_error *cause;
};

typedef struct berth_error *berth_err;

/* Fills *err with a new error and returns -code. If *err already holds an
 * error it becomes the cause of the new one. */
int berth_err_set(berth_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int berth_err_setv(berth_err *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Like berth_err_set() with errno_value's strerror appended. */
int berth_err_errno(berth_err *err, int errno_value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds context to the error in *err; the code and status are kept. Returns
 * -code. */
int berth_err_wrap(berth_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The code of the innermost error (the root cause). */
int berth_err_code(berth_err err);
int berth_err_status(berth_err err);
/* The message of the root cause alone. */
const char *berth_err_root_msg(berth_err err);
/* "context: context: root message" — caller frees. */
char *berth_err_string(berth_err err);
/* Frees the chain and sets *err to NULL; accepts NULL. */
void berth_err_free(berth_err *err);

#endif
