/* What every subcommand shares. To add a command, see CONTRIBUTING.md. */
#ifndef BERTH_CMD_H
#define BERTH_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/err.h"
#include "berth/strv.h"

struct berth_flags; /* flags.h */

/* Global flags, parsed once by main.c wherever they appear before "--",
 * except where the command has a flag of the same name (see .flags). */
struct berth_globals {
  union {
    struct berth_strv file_list; /* what the flag parser fills */
    struct {
      char **files; /* -f FILE, repeatable, in order */
      size_t n_files;
    };
  };
  const char *project; /* -p NAME */
  const char *ns;      /* --ns NAME */
  bool json;           /* --json */
  int verbose;         /* -v, repeatable */
  bool color;          /* false with --no-color, NO_COLOR, or no TTY */
};

struct berth_cmd {
  const char *name;
  const char *usage;   /* "berth doctor [--json]" */
  const char *summary; /* one line for `berth help` */
  const char *help;    /* the rest of `berth help NAME`, or NULL */
  /* The command's own flags, or NULL. After the command's name, a flag
   * this declares (long name or letter) is the command's, not a global
   * flag: logs' -f is --follow, while `berth up -f x.yml` is the manifest.
   * A command with a flag named like a global one must set this. */
  const struct berth_flags *flags;
  /* argv[0] is the command name; global flags are already removed.
   * Returns the process exit code. */
  int (*run)(int argc, char **argv, const struct berth_globals *g);
};

extern const struct berth_cmd berth_cmd_version;
extern const struct berth_cmd berth_cmd_doctor;
extern const struct berth_cmd berth_cmd_config;
extern const struct berth_cmd berth_cmd_up;
extern const struct berth_cmd berth_cmd_down;
extern const struct berth_cmd berth_cmd_ps;
extern const struct berth_cmd berth_cmd_logs;
extern const struct berth_cmd berth_cmd_exec;
extern const struct berth_cmd berth_cmd_env;
extern const struct berth_cmd berth_cmd_stop;
extern const struct berth_cmd berth_cmd_start;
extern const struct berth_cmd berth_cmd_restart;
extern const struct berth_cmd berth_cmd_watch;

/* The index in argv (program name excluded) of the command's name: the
 * first argument that is neither a global flag nor a global flag's value
 * (`-f x.yml -v logs -f` -> 3), or argc when none comes before a "--". */
int berth_globals_command(int argc, char **argv);

/* Splits global flags out of argv (program name excluded), wherever they
 * are before a "--", except that after the command's name a flag that
 * cmd_flags (the command's .flags; may be NULL) declares stays, with its
 * value, for the command. The remaining arguments, in order, go to
 * ret_rest (NULL-terminated, caller frees the array, not the strings). */
int berth_globals_parse(int argc, char **argv, const struct berth_flags *cmd_flags,
                        struct berth_globals *g, int *ret_argc, char ***ret_rest, berth_err *err);
void berth_globals_release(struct berth_globals *g);

/* Reports an error the one way cmd/ does: "berth: message" on stderr.
 * Frees it. Returns exit_code. */
int berth_report(berth_err *err, int exit_code);

/* Colour helpers: the escape when colour is on, "" when not. */
const char *berth_sgr(const struct berth_globals *g, const char *code);

#endif
