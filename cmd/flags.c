/* The one flag parser: tables of struct berth_flag, see flags.h. */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/manifest.h"
#include "berth/strv.h"
#include "flags.h"

struct parse {
  const struct berth_flags *fl;
  int argc;
  char **argv;
  int i; /* the argument being read */
  char *base;
  char **rest;
  int n;
  int first; /* the first argument that is no flag nor a value, or -1 */
  berth_err *err;
};

static bool takes_value(const struct berth_flag *f) {
  return f->type >= BERTH_FLAG_STRING;
}

/* The flag named name, or, for a command's own flags (not the global ones
 * passed through), the only one it abbreviates: --foll is --follow, as
 * getopt_long has always allowed. An ambiguous abbreviation is unknown. */
static const struct berth_flag *by_name(const struct berth_flags *fl, const char *name,
                                        size_t len) {
  const struct berth_flag *prefix = NULL;
  size_t n_prefix = 0;
  for (size_t i = 0; i < fl->n; i++) {
    if (!fl->v[i].name || strncmp(fl->v[i].name, name, len))
      continue;
    if (strlen(fl->v[i].name) == len)
      return &fl->v[i];
    prefix = &fl->v[i];
    n_prefix++;
  }
  return len > 0 && n_prefix == 1 && !(fl->mode & BERTH_FLAGS_PASS) ? prefix : NULL;
}

static const struct berth_flag *by_letter(const struct berth_flags *fl, char c) {
  for (size_t i = 0; i < fl->n; i++)
    if (fl->v[i].short_name && fl->v[i].short_name == c)
      return &fl->v[i];
  return NULL;
}

/* "--tail", or "-n" for a flag without a long name. */
static const char *shown(const struct berth_flag *f, char *buf, size_t size) {
  if (f->name)
    snprintf(buf, size, "--%s", f->name);
  else
    snprintf(buf, size, "-%c", f->short_name);
  return buf;
}

static int store(struct parse *ps, const struct berth_flag *f, const char *v) {
  void *at = ps->base + f->offset;
  char name[64];
  if (takes_value(f) && !*v)
    return berth_err_set(ps->err, BERTH_E_INVALID, "%s needs a non-empty value",
                         shown(f, name, sizeof(name)));
  switch (f->type) {
  case BERTH_FLAG_BOOL:
  case BERTH_FLAG_CLEAR:
    *(bool *)at = f->type == BERTH_FLAG_BOOL;
    return 0;
  case BERTH_FLAG_COUNT:
    (*(int *)at)++;
    return 0;
  case BERTH_FLAG_STRING:
    *(const char **)at = v;
    return 0;
  case BERTH_FLAG_LIST:
    if (berth_strv_push(at, v) < 0)
      return berth_err_set(ps->err, BERTH_E_NOMEM, "out of memory");
    return 0;
  case BERTH_FLAG_INT: {
    char *end;
    long n = strtol(v, &end, 10);
    int max = f->max ? f->max : INT_MAX;
    if (*end || n < f->min || n > max)
      return berth_err_set(ps->err, BERTH_E_INVALID, "%s %s %s", shown(f, name, sizeof(name)), v,
                           f->bad ? f->bad : "is not a number");
    *(int *)at = (int)n;
    return 0;
  }
  case BERTH_FLAG_DURATION: {
    int64_t ms;
    if (berth_parse_duration_ms(v, &ms) < 0 || ms <= 0)
      return berth_err_set(ps->err, BERTH_E_INVALID, "%s %s %s", shown(f, name, sizeof(name)), v,
                           f->bad ? f->bad : "is not a duration (5m, 90s)");
    *(int64_t *)at = ms;
    return 0;
  }
  }
  return berth_err_set(ps->err, BERTH_E_FAILED, "flag type %d unknown", (int)f->type);
}

/* The value of a flag that takes one: what follows it in the same
 * argument, else the next argument (even when that looks like a flag). */
static int value_of(struct parse *ps, const struct berth_flag *f, const char *inline_value) {
  if (inline_value)
    return store(ps, f, inline_value);
  if (ps->i + 1 >= ps->argc)
    return berth_err_set(ps->err, BERTH_E_INVALID, "%s needs a value", ps->argv[ps->i]);
  return store(ps, f, ps->argv[++ps->i]);
}

static void keep(struct parse *ps) {
  ps->rest[ps->n++] = ps->argv[ps->i];
}

/* Whether the flag argument a ("--tail", "-tn", "-f") is one of fl's and
 * takes its value from the next argument: read as fl's mode reads it (when
 * passing through, only the first letter of "-xy" counts). *ret_f: the
 * flag, or NULL when a is not fl's. */
static bool value_follows(const struct berth_flags *fl, const char *a,
                          const struct berth_flag **ret_f) {
  if (a[1] == '-') {
    const char *name = a + 2, *eq = strchr(name, '=');
    *ret_f = by_name(fl, name, eq ? (size_t)(eq - name) : strlen(name));
    return *ret_f && !eq && takes_value(*ret_f);
  }
  *ret_f = by_letter(fl, a[1]);
  for (size_t j = 1; a[j]; j++) {
    const struct berth_flag *f = by_letter(fl, a[j]);
    if (!f)
      return false;
    if (takes_value(f))
      return !a[j + 1];
    if (fl->mode & BERTH_FLAGS_PASS)
      return false;
  }
  return false;
}

/* After the first argument, a flag of fl->theirs stays in the rest, with
 * its value when that is the next argument. */
static bool theirs(struct parse *ps) {
  const struct berth_flag *f;
  if (!ps->fl->theirs || ps->first < 0)
    return false;
  bool value = value_follows(ps->fl->theirs, ps->argv[ps->i], &f);
  if (!f)
    return false;
  keep(ps);
  if (value && ps->i + 1 < ps->argc) {
    ps->i++;
    keep(ps);
  }
  return true;
}

static int long_flag(struct parse *ps) {
  const char *a = ps->argv[ps->i];
  const char *name = a + 2, *eq = strchr(name, '=');
  const struct berth_flag *f = by_name(ps->fl, name, eq ? (size_t)(eq - name) : strlen(name));
  bool pass = ps->fl->mode & BERTH_FLAGS_PASS;
  if (f && eq && !takes_value(f) && !pass)
    return berth_err_set(ps->err, BERTH_E_INVALID, "--%s takes no value", f->name);
  if (!f || (eq && !takes_value(f))) {
    if (pass) {
      keep(ps);
      return 0;
    }
    return berth_err_set(ps->err, BERTH_E_INVALID, "unknown flag %s", a);
  }
  return takes_value(f) ? value_of(ps, f, eq ? eq + 1 : NULL) : store(ps, f, NULL);
}

static int short_flags(struct parse *ps) {
  const char *a = ps->argv[ps->i];
  bool pass = ps->fl->mode & BERTH_FLAGS_PASS;
  for (size_t j = 1; a[j]; j++) {
    const struct berth_flag *f = by_letter(ps->fl, a[j]);
    /* Passing through, only an exact -x or -xVALUE is ours. */
    if (pass && (!f || (j == 1 && a[2] && !takes_value(f)))) {
      keep(ps);
      return 0;
    }
    if (!f && j == 1)
      return berth_err_set(ps->err, BERTH_E_INVALID, "unknown flag %s", a);
    if (!f)
      return berth_err_set(ps->err, BERTH_E_INVALID, "unknown flag -%c (in %s)", a[j], a);
    if (takes_value(f))
      return value_of(ps, f, a[j + 1] ? a + j + 1 : NULL);
    int r = store(ps, f, NULL);
    if (r < 0)
      return r;
  }
  return 0;
}

int berth_flags_parse(const struct berth_flags *fl, int argc, char **argv, void *opts,
                      int *ret_argc, char ***ret_rest, berth_err *err) {
  _cleanup_free_ char **rest = calloc((size_t)argc + 1, sizeof(*rest));
  if (!rest)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  struct parse ps = {
      .fl = fl, .argc = argc, .argv = argv, .base = opts, .rest = rest, .first = -1, .err = err};
  for (; ps.i < argc; ps.i++) {
    const char *a = argv[ps.i];
    int r = 0;
    if (!strcmp(a, "--")) {
      /* Passing through keeps the "--" for the command to see. */
      for (int k = ps.i + ((fl->mode & BERTH_FLAGS_PASS) ? 0 : 1); k < argc; k++)
        rest[ps.n++] = argv[k];
      break;
    } else if (a[0] == '-' && a[1] && theirs(&ps)) {
      continue;
    } else if (a[0] == '-' && a[1] == '-') {
      r = long_flag(&ps);
    } else if (a[0] == '-' && a[1]) {
      r = short_flags(&ps);
    } else if (fl->mode & BERTH_FLAGS_IN_ORDER) {
      while (ps.i < argc)
        rest[ps.n++] = argv[ps.i++];
      break;
    } else if (ps.first >= 0 && fl->theirs && (fl->theirs->mode & BERTH_FLAGS_IN_ORDER)) {
      /* The command's flags end at its first argument (exec SERVICE CMD
       * -f ...): what follows is its own, globals included. */
      while (ps.i < argc)
        rest[ps.n++] = argv[ps.i++];
      break;
    } else {
      if (ps.first < 0)
        ps.first = ps.i;
      keep(&ps);
    }
    if (r < 0)
      return r;
  }
  rest[ps.n] = NULL;
  *ret_argc = ps.n;
  *ret_rest = TAKE_PTR(rest);
  return 0;
}

int berth_flags_first_arg(const struct berth_flags *fl, int argc, char **argv) {
  const struct berth_flag *f;
  for (int i = 0; i < argc && strcmp(argv[i], "--"); i++) {
    if (argv[i][0] != '-' || !argv[i][1])
      return i;
    if (value_follows(fl, argv[i], &f))
      i++;
  }
  return argc;
}

int berth_cmd_flags(const struct berth_cmd *self, const struct berth_flags *fl, int argc,
                    char **argv, void *opts, int *ret_argc, char ***ret_rest) {
  berth_err err = NULL;
  if (berth_flags_parse(fl, argc - 1, argv + 1, opts, ret_argc, ret_rest, &err) >= 0)
    return 0;
  int code = berth_err_code(err) == BERTH_E_NOMEM ? 1 : 2;
  _cleanup_free_ char *msg = berth_err_string(err);
  fprintf(stderr, "berth %s: %s\nusage: %s\n", self->name, msg ? msg : "out of memory",
          self->usage);
  berth_err_free(&err);
  return code;
}

int berth_cmd_at_most(const struct berth_cmd *self, int argc, char **rest, int max) {
  if (argc <= max)
    return 0;
  fprintf(stderr, "berth %s: unexpected argument %s\nusage: %s\n", self->name, rest[max],
          self->usage);
  return 2;
}
