/* berth env: the connection URLs of the running infra, for tools on the
 * laptop (host ports on 127.0.0.1). */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "berth/cleanup.h"
#include "project.h"

/* A POSIX shell variable name: what eval can assign, nothing it runs. */
static bool var_name_ok(const char *s) {
  if (!(isalpha((unsigned char)*s) || *s == '_'))
    return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_')
      return false;
  return true;
}

/* KEY='VALUE' for eval "$(berth env)": the value single-quoted, each '
 * inside as '\''; nothing is printed unless every name is plain. */
static int print_shell(const struct berth_kvv *vars) {
  for (size_t i = 0; i < vars->n; i++)
    if (!var_name_ok(vars->v[i].key)) {
      berth_err err = NULL;
      berth_err_set(&err, BERTH_E_INVALID,
                    "\"%.64s\" is not a shell variable name (use letters, digits and _, not "
                    "starting with a digit); nothing printed",
                    vars->v[i].key);
      return berth_report(&err, 1);
    }
  for (size_t i = 0; i < vars->n; i++) {
    printf("%s='", vars->v[i].key);
    for (const char *c = vars->v[i].value; *c; c++)
      if (*c == '\'')
        fputs("'\\''", stdout);
      else
        putchar(*c);
    puts("'");
  }
  return 0;
}

static int run(int argc_, char **argv_, const struct berth_globals *g) {
  static const struct berth_flags fl = {.n = 0};
  _cleanup_free_ char **argv = NULL;
  int argc;
  int code = berth_cmd_flags(&berth_cmd_env, &fl, argc_, argv_, NULL, &argc, &argv);
  if (!code)
    code = berth_cmd_at_most(&berth_cmd_env, argc, argv, 1);
  if (code)
    return code;
  struct berth_project *p;
  struct berth_state *st;
  code = berth_cmd_open(g, &p, &st, NULL);
  if (code)
    return code;
  struct berth_kvv vars = {0};
  berth_err err = NULL;
  if (berth_engine_env(p, argc == 1 ? argv[0] : NULL, st, &vars, &err) < 0) {
    code = berth_report(&err, 1);
  } else if (g->json) {
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    bool ok = o;
    for (size_t i = 0; ok && i < vars.n; i++)
      ok = cJSON_AddStringToObject(o, vars.v[i].key, vars.v[i].value);
    code = berth_out_json(ok ? o : NULL);
  } else {
    code = print_shell(&vars); /* eval "$(berth env api)" */
  }
  for (size_t i = 0; i < vars.n; i++) {
    free(vars.v[i].key);
    free(vars.v[i].value);
  }
  free(vars.v);
  berth_cmd_close(&p, &st, NULL);
  return code;
}

const struct berth_cmd berth_cmd_env = {
    .name = "env",
    .usage = "berth env [SERVICE] [--json]",
    .summary = "Print the infra's connection URLs for tools on this machine",
    .help = "With a SERVICE: the variables it gets from `uses`, pointing at 127.0.0.1 and the\n"
            "published ports. Without: one URL per infra instance. They hold passwords:\n"
            "printing them is what this command is for. eval \"$(berth env api)\" sets them.\n",
    .run = run,
};
