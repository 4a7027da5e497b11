/* berth: the table of commands and the dispatch. Nothing else lives here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/manifest.h"
#include "cmd.h"

static const struct berth_cmd berth_cmd_help;

static const struct berth_cmd *const commands[] = {
    &berth_cmd_up,     &berth_cmd_down,   &berth_cmd_ps,      &berth_cmd_logs,    &berth_cmd_exec,
    &berth_cmd_env,    &berth_cmd_stop,   &berth_cmd_start,   &berth_cmd_restart, &berth_cmd_watch,
    &berth_cmd_config, &berth_cmd_doctor, &berth_cmd_version, &berth_cmd_help,
};

static const char global_flags[] =
    "Global flags (before or after the command; after it, a flag the command\n"
    "has is the command's: in 'berth logs -f', -f is --follow):\n"
    "  -f, --file FILE          manifest to read (repeatable; later files override)\n"
    "  -p, --project-name NAME  project name (default: the manifest's name)\n"
    "      --ns NAME            namespace: an isolated copy of the stack\n"
    "      --json               machine-readable output\n"
    "  -v, --verbose            more detail (repeatable)\n"
    "      --no-color           no colours (also NO_COLOR=1)\n";

static const struct berth_cmd *find(const char *name) {
  for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
    if (!strcmp(commands[i]->name, name))
      return commands[i];
  return NULL;
}

static void print_usage(FILE *f) {
  fputs("usage: berth [global flags] COMMAND [ARGS...]\n\nCommands:\n", f);
  for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
    fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
  fprintf(f, "\n%s\nRun 'berth help COMMAND' for more about a command.\n", global_flags);
}

static void print_command_help(const struct berth_cmd *c) {
  printf("usage: %s\n\n%s\n", c->usage, c->summary);
  if (c->help)
    printf("\n%s", c->help);
  printf("\n%s", global_flags);
}

static int run_help(int argc, char **argv, const struct berth_globals *g) {
  if (argc < 2) {
    print_usage(stdout);
    return 0;
  }
  const struct berth_cmd *c = find(argv[1]);
  if (!c) {
    _cleanup_free_ char *shown = berth_escape_controls(argv[1], 0);
    fprintf(stderr, "berth help: no command named %s; 'berth help' lists them\n",
            shown ? shown : "?");
    return 2;
  }
  print_command_help(c);
  return 0;
}

static const struct berth_cmd berth_cmd_help = {
    .name = "help",
    .usage = "berth help [COMMAND]",
    .summary = "Show the commands, or one command's usage",
    .run = run_help,
};

static bool wants_help(int argc, char **argv) {
  for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
      return true;
  return false;
}

/* The flags of the command named in argv, which win over global flags of
 * the same name after that name; NULL for none or no such command. */
static const struct berth_flags *command_flags(int argc, char **argv) {
  int at = berth_globals_command(argc, argv);
  const struct berth_cmd *c = at < argc ? find(argv[at]) : NULL;
  return c ? c->flags : NULL;
}

int main(int argc, char **argv) {
  struct berth_globals g;
  _cleanup_free_ char **rest = NULL;
  berth_err err = NULL;
  int n;
  const struct berth_flags *cf = command_flags(argc - 1, argv + 1);
  if (berth_globals_parse(argc - 1, argv + 1, cf, &g, &n, &rest, &err) < 0) {
    return berth_report(&err, 2);
  }
  int code;
  if (n == 0) {
    print_usage(stderr);
    code = 2;
  } else if (!strcmp(rest[0], "--help") || !strcmp(rest[0], "-h")) {
    print_usage(stdout);
    code = 0;
  } else if (!strcmp(rest[0], "--version")) {
    code = berth_cmd_version.run(1, rest, &g);
  } else {
    const struct berth_cmd *c = find(rest[0]);
    if (!c) {
      _cleanup_free_ char *shown = berth_escape_controls(rest[0], 0);
      fprintf(stderr, "berth: unknown command '%s'; 'berth help' lists the commands\n",
              shown ? shown : "?");
      code = 2;
    } else if (wants_help(n, rest)) {
      print_command_help(c);
      code = 0;
    } else {
      code = c->run(n, rest, &g);
    }
  }
  berth_globals_release(&g);
  return code;
}
