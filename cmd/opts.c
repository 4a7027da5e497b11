/* Global flags: accepted before the subcommand (berth -f x.yaml up) and
 * after it (berth up -f x.yaml), up to a "--"; after it, a flag the command
 * declares is the command's (berth logs -f api follows api). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/manifest.h"
#include "cmd.h"
#include "flags.h"

static const struct berth_flag global_flags[] = {
    BERTH_FLAG("file", 'f', BERTH_FLAG_LIST, struct berth_globals, file_list),
    BERTH_FLAG("project-name", 'p', BERTH_FLAG_STRING, struct berth_globals, project),
    BERTH_FLAG("ns", 0, BERTH_FLAG_STRING, struct berth_globals, ns),
    BERTH_FLAG("json", 0, BERTH_FLAG_BOOL, struct berth_globals, json),
    BERTH_FLAG("verbose", 'v', BERTH_FLAG_COUNT, struct berth_globals, verbose),
    BERTH_FLAG("no-color", 0, BERTH_FLAG_CLEAR, struct berth_globals, color),
};

static const struct berth_flags globals = BERTH_FLAGS(global_flags, BERTH_FLAGS_PASS);

int berth_globals_command(int argc, char **argv) {
  return berth_flags_first_arg(&globals, argc, argv);
}

int berth_globals_parse(int argc, char **argv, const struct berth_flags *cmd_flags,
                        struct berth_globals *g, int *ret_argc, char ***ret_rest, berth_err *err) {
  const char *no_color = getenv("NO_COLOR");
  *g = (struct berth_globals){.color = isatty(STDOUT_FILENO) && !(no_color && *no_color)};
  const char *term = getenv("TERM");
  if (term && !strcmp(term, "dumb"))
    g->color = false;
  struct berth_flags fl = globals;
  fl.theirs = cmd_flags;
  int r = berth_flags_parse(&fl, argc, argv, g, ret_argc, ret_rest, err);
  if (r < 0)
    berth_globals_release(g);
  return r;
}

void berth_globals_release(struct berth_globals *g) {
  berth_strv_release(&g->file_list);
}

int berth_report(berth_err *err, int exit_code) {
  _cleanup_free_ char *msg = berth_err_string(*err);
  /* Messages quote the manifest and the engine: their controls as text. */
  _cleanup_free_ char *shown = msg ? berth_escape_controls(msg, BERTH_ESCAPE_LINES) : NULL;
  fprintf(stderr, "berth: %s\n", shown ? shown : "out of memory");
  berth_err_free(err);
  return exit_code;
}

const char *berth_sgr(const struct berth_globals *g, const char *code) {
  return g->color ? code : "";
}
