/* The one flag parser of the CLI: each command declares its flags as data
 * and this parses --flag, --flag=value, --flag value, -x, -xVALUE, -x VALUE,
 * bundled -xy, and "--". */
#ifndef BERTH_CMD_FLAGS_H
#define BERTH_CMD_FLAGS_H

#include <stddef.h> /* offsetof, for BERTH_FLAG */

#include "berth/err.h"
#include "cmd.h"

enum berth_flag_type {
  BERTH_FLAG_BOOL,     /* bool = true */
  BERTH_FLAG_CLEAR,    /* bool = false (--no-color) */
  BERTH_FLAG_COUNT,    /* int += 1 (-v -v) */
  BERTH_FLAG_STRING,   /* const char *, pointing into argv; the last one counts */
  BERTH_FLAG_INT,      /* int within [min, max] */
  BERTH_FLAG_DURATION, /* int64_t milliseconds > 0: 90s, 5m, 1h30m */
  BERTH_FLAG_LIST,     /* struct berth_strv, repeatable, in order (copies) */
};

struct berth_flag {
  const char *name; /* long name without "--", or NULL */
  char short_name;  /* 'f' for -f, or 0 */
  enum berth_flag_type type;
  size_t offset;    /* of the value in the command's options struct */
  const char *help; /* for generated help; may be NULL */
  int min, max;     /* BERTH_FLAG_INT */
  const char *bad;  /* INT, DURATION: ends "--tail x is not a number of lines" */
};

/* One table row: BERTH_FLAG("tail", 'n', BERTH_FLAG_INT, struct logs_opts, tail,
 * .bad = "is not a number of lines") */
#define BERTH_FLAG(long_name, letter, flag_type, opts_type, field, ...)                            \
  {                                                                                                \
    .name = (long_name), .short_name = (letter), .type = (flag_type),                              \
    .offset = offsetof(opts_type, field), __VA_ARGS__                                              \
  }

enum berth_flags_mode {
  /* Flags end at the first argument: `exec [flags] SERVICE -- CMD -x`. */
  BERTH_FLAGS_IN_ORDER = 1 << 0,
  /* Unknown flags, arguments, and "--" with all after it stay in the rest,
   * in order (the global flags, taken out wherever they are). */
  BERTH_FLAGS_PASS = 1 << 1,
};

struct berth_flags {
  const struct berth_flag *v;
  size_t n;
  unsigned mode; /* enum berth_flags_mode */
  /* PASS: after the first argument (the command's name), a flag that this
   * table declares (its long name, or the letter after the "-") is not
   * ours even when ours has it too: it stays in the rest, and so does the
   * next argument when that is its value (berth logs -f, --tail N). When
   * the command's table is IN_ORDER, its first argument ends the parse:
   * that and all after it stay in the rest (berth exec api tail -f log). */
  const struct berth_flags *theirs;
};

#define BERTH_FLAGS(table, m)                                                                      \
  { .v = (table), .n = sizeof(table) / sizeof(*(table)), .mode = (m) }

/* Parses argv[0..argc) into opts. The arguments that are not flags go to
 * *ret_rest (NULL-terminated; the caller frees the array, not the strings)
 * and their count to *ret_argc. On failure (-BERTH_E_INVALID: "unknown
 * flag -x", "--tail needs a value", "--tail x is not a number of lines")
 * the values already stored stay in opts for the caller to release. */
int berth_flags_parse(const struct berth_flags *fl, int argc, char **argv, void *opts,
                      int *ret_argc, char ***ret_rest, berth_err *err);

/* The index of the first argument that is neither a flag of fl nor the
 * value of one (where PASS finds the command's name: `-f x.yml logs` -> 2),
 * or argc when there is none before a "--". */
int berth_flags_first_arg(const struct berth_flags *fl, int argc, char **argv);

/* A command's flags (argv[0] is its name): 0, or the exit code after
 * saying what is wrong, the one way every command says it:
 *   berth logs: unknown flag --frob
 *   usage: berth logs [-f] ...
 * On failure LIST values already stored stay in opts for the caller to
 * release. */
int berth_cmd_flags(const struct berth_cmd *self, const struct berth_flags *fl, int argc,
                    char **argv, void *opts, int *ret_argc, char ***ret_rest);
/* 0 when the command got at most max arguments besides its flags (rest,
 * as berth_cmd_flags left them), else 2 after saying so the one way:
 *   berth doctor: unexpected argument x
 *   usage: berth doctor [--json] */
int berth_cmd_at_most(const struct berth_cmd *self, int argc, char **rest, int max);

#endif
