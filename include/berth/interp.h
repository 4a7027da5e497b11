/* Compose-style variable interpolation and .env files.
 *
 * Interpolation rules (the Compose Specification, "Interpolation"):
 *   $VAR, ${VAR}          value, or "" when unset
 *   ${VAR:-default}       default when VAR is unset or empty
 *   ${VAR-default}        default when VAR is unset
 *   ${VAR:?message}       error with message when VAR is unset or empty
 *   ${VAR?message}        error with message when VAR is unset
 *   ${VAR:+replacement}   replacement when VAR is set and non-empty, else ""
 *   ${VAR+replacement}    replacement when VAR is set, else ""
 *   $$                    a literal $
 * Defaults, messages and replacements are themselves interpolated
 * (${A:-${B}}). VAR is [A-Za-z_][A-Za-z0-9_]*. A lone '$' before a
 * character that cannot start a name is kept as it is.
 */
#ifndef BERTH_INTERP_H
#define BERTH_INTERP_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/err.h"

/* An ordered set of NAME=VALUE pairs (a later set() of a name replaces
 * its value in place). */
struct berth_vars {
  char **names;
  char **values;
  size_t n, cap;
};

void berth_vars_init(struct berth_vars *v);
void berth_vars_release(struct berth_vars *v);
int berth_vars_set(struct berth_vars *v, const char *name, const char *value, berth_err *err);
/* NULL when unset. */
const char *berth_vars_get(const struct berth_vars *v, const char *name);

/* Looks a variable up: returns its value or NULL when unset. */
typedef const char *(*berth_lookup_fn)(const char *name, void *ud);

/* Looks up the process environment first, then vars (the .env file):
 * Compose's precedence. ud is a const struct berth_vars * (may be NULL). */
const char *berth_lookup_env_then_vars(const char *name, void *ud);

/* Interpolates s into a new string (*ret, caller frees). On a
 * ${VAR:?message} of an unset variable or a malformed expression
 * ("${", "${VAR", "${1X}") fails with BERTH_E_INVALID and a message
 * naming the variable or the problem and the column (1-based, in s) in
 * *ret_col when ret_col is non-NULL. */
int berth_interpolate(const char *s, berth_lookup_fn lookup, void *ud, char **ret, int *ret_col,
                      berth_err *err);

/* Parses a .env file with Compose's syntax into vars (appending):
 *   KEY=VALUE, export KEY=VALUE, KEY= (empty), blank lines, # comments;
 *   unquoted values are trimmed and end at " #" (an inline comment);
 *   'single quotes' are literal; "double quotes" understand \n \t \r \\ \"
 *   and \$ and may span lines; unquoted and double-quoted values are
 *   interpolated (${VAR} etc.) against lookup (then the pairs already read
 *   from this file); single-quoted ones are not.
 * A missing file fails with BERTH_E_IO unless missing_ok. Errors name
 * path:line and what is wrong ("expected KEY=VALUE", "unterminated
 * quote"). The file is read with a size bound of 4 MiB. */
int berth_dotenv_load(const char *path, bool missing_ok, berth_lookup_fn lookup, void *ud,
                      struct berth_vars *vars, berth_err *err);
/* Same from a buffer; name is used in messages. */
int berth_dotenv_parse(const char *name, const char *text, size_t len, berth_lookup_fn lookup,
                       void *ud, struct berth_vars *vars, berth_err *err);

#endif
