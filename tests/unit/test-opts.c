/* cmd/opts.c: global flags, before and after the subcommand, up to "--";
 * after it, the command's own flags win. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd.h"
#include "fixture.h"
#include "flags.h"

struct parsed {
  struct berth_globals g;
  int argc;
  char **rest;
  int r;
  berth_err err;
};

/* Parses a NULL-terminated argument list (program name excluded) for a
 * command with the flags cmd_flags (NULL: none). */
static struct parsed parse_for(const struct berth_flags *cmd_flags, const char *const *args) {
  int argc = 0;
  while (args[argc])
    argc++;
  /* argv is writable in main(): give the parser a copy of the pointers. */
  char **argv = calloc((size_t)argc + 1, sizeof(*argv));
  assert_non_null(argv);
  for (int i = 0; i < argc; i++)
    argv[i] = (char *)args[i];
  struct parsed p = {.argc = -1};
  p.r = berth_globals_parse(argc, argv, cmd_flags, &p.g, &p.argc, &p.rest, &p.err);
  free(argv); /* the strings belong to args, the rest array to p */
  return p;
}

static struct parsed parse(const char *const *args) {
  return parse_for(NULL, args);
}

static void parsed_release(struct parsed *p) {
  free(p->rest);
  berth_globals_release(&p->g);
  berth_err_free(&p->err);
}

static void assert_rest(const struct parsed *p, const char *const *want) {
  assert_argv(p->argc, p->rest, want);
}

static void test_flags_before_and_after(void **state) {
  struct parsed p = parse(ARGS("-f", "a.yaml", "-p", "demo", "up", "--wait", "-f", "b.yaml"));
  assert_int_equal(p.r, 0);
  assert_null(p.err);
  assert_int_equal(p.g.n_files, 2);
  assert_string_equal(p.g.files[0], "a.yaml");
  assert_string_equal(p.g.files[1], "b.yaml");
  assert_string_equal(p.g.project, "demo");
  assert_null(p.g.ns);
  assert_false(p.g.json);
  assert_int_equal(p.g.verbose, 0);
  assert_rest(&p, ARGS("up", "--wait"));
  parsed_release(&p);
}

static void test_value_forms(void **state) {
  struct parsed p =
      parse(ARGS("--file=x.yaml", "-fy.yaml", "--file", "z.yaml", "--project-name=proj", "ps"));
  assert_int_equal(p.r, 0);
  assert_int_equal(p.g.n_files, 3);
  assert_string_equal(p.g.files[0], "x.yaml");
  assert_string_equal(p.g.files[1], "y.yaml");
  assert_string_equal(p.g.files[2], "z.yaml");
  assert_string_equal(p.g.project, "proj");
  assert_rest(&p, ARGS("ps"));
  parsed_release(&p);

  p = parse(ARGS("-pdemo", "--project-name", "other", "down"));
  assert_int_equal(p.r, 0);
  assert_string_equal(p.g.project, "other"); /* the last one counts */
  assert_rest(&p, ARGS("down"));
  parsed_release(&p);

  /* A value that looks like a flag is still the value. */
  p = parse(ARGS("-f", "--json", "up"));
  assert_int_equal(p.r, 0);
  assert_int_equal(p.g.n_files, 1);
  assert_string_equal(p.g.files[0], "--json");
  assert_false(p.g.json);
  assert_rest(&p, ARGS("up"));
  parsed_release(&p);
}

static void test_ns_json_verbose(void **state) {
  struct parsed p = parse(ARGS("--ns", "ci-1", "up", "--json", "-v", "-v", "--verbose"));
  assert_int_equal(p.r, 0);
  assert_string_equal(p.g.ns, "ci-1");
  assert_true(p.g.json);
  assert_int_equal(p.g.verbose, 3);
  assert_int_equal(p.g.n_files, 0);
  assert_null(p.g.files);
  assert_null(p.g.project);
  assert_rest(&p, ARGS("up"));
  parsed_release(&p);

  p = parse(ARGS("status", "-v", "-v", "--ns=pr-42"));
  assert_int_equal(p.r, 0);
  assert_int_equal(p.g.verbose, 2);
  assert_string_equal(p.g.ns, "pr-42");
  assert_rest(&p, ARGS("status"));
  parsed_release(&p);
}

static void test_double_dash_passes_through(void **state) {
  struct parsed p = parse(
      ARGS("-p", "demo", "exec", "api", "--", "ls", "-f", "x", "--json", "-v", "--ns", "n", "--"));
  assert_int_equal(p.r, 0);
  assert_string_equal(p.g.project, "demo");
  assert_int_equal(p.g.n_files, 0);
  assert_false(p.g.json);
  assert_int_equal(p.g.verbose, 0);
  assert_null(p.g.ns);
  assert_rest(&p, ARGS("exec", "api", "--", "ls", "-f", "x", "--json", "-v", "--ns", "n", "--"));
  parsed_release(&p);

  /* Flags before the "--" still count. */
  p = parse(ARGS("exec", "-v", "api", "--", "-v"));
  assert_int_equal(p.g.verbose, 1);
  assert_rest(&p, ARGS("exec", "api", "--", "-v"));
  parsed_release(&p);
}

static void test_unknown_flags_stay(void **state) {
  struct parsed p = parse(ARGS("logs", "--follow", "-n", "10", "--since=5m", "db"));
  assert_int_equal(p.r, 0);
  assert_rest(&p, ARGS("logs", "--follow", "-n", "10", "--since=5m", "db"));
  parsed_release(&p);
}

static void test_no_arguments(void **state) {
  struct parsed p = parse((const char *const[]){NULL});
  assert_int_equal(p.r, 0);
  assert_int_equal(p.argc, 0);
  assert_non_null(p.rest);
  assert_null(p.rest[0]);
  parsed_release(&p);
}

static void test_missing_values(void **state) {
  const char *const *const cases[] = {
      ARGS("-f"),   ARGS("up", "-f"), ARGS("-p"),
      ARGS("--ns"), ARGS("--file"),   ARGS("-f", "a.yaml", "up", "--project-name"),
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    struct parsed p = parse(cases[i]);
    assert_int_equal(p.r, -BERTH_E_INVALID);
    assert_int_equal(berth_err_code(p.err), BERTH_E_INVALID);
    assert_non_null(strstr(berth_err_root_msg(p.err), "needs a value"));
    /* Nothing to free on failure but the error. */
    assert_null(p.g.files);
    assert_int_equal(p.g.n_files, 0);
    parsed_release(&p);
  }
  struct parsed p = parse(ARGS("up", "-f"));
  assert_string_equal(berth_err_root_msg(p.err), "-f needs a value");
  parsed_release(&p);
}

static void test_empty_values(void **state) {
  const char *const *const cases[] = {ARGS("--file="), ARGS("--ns="),
                                      ARGS("--project-name=", "up")};
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    struct parsed p = parse(cases[i]);
    assert_int_equal(p.r, -BERTH_E_INVALID);
    assert_non_null(strstr(berth_err_root_msg(p.err), "non-empty"));
    parsed_release(&p);
  }
}

/* ---- a command's own flags: logs' table, as cmd/logs.c declares it ---- */

struct logs_opts {
  bool follow, timestamps;
  const char *since;
  int tail;
};

static const struct berth_flag logs_table[] = {
    BERTH_FLAG("follow", 'f', BERTH_FLAG_BOOL, struct logs_opts, follow),
    BERTH_FLAG("since", 0, BERTH_FLAG_STRING, struct logs_opts, since),
    BERTH_FLAG("tail", 'n', BERTH_FLAG_INT, struct logs_opts, tail),
    BERTH_FLAG("timestamps", 't', BERTH_FLAG_BOOL, struct logs_opts, timestamps),
};
static const struct berth_flags logs_flags = BERTH_FLAGS(logs_table, 0);

static void test_command_flag_wins_after_its_name(void **state) {
  /* What docker compose users type: follow api, no manifest named api. */
  struct parsed p = parse_for(&logs_flags, ARGS("logs", "-f", "api"));
  assert_int_equal(p.r, 0);
  assert_int_equal(p.g.n_files, 0);
  assert_rest(&p, ARGS("logs", "-f", "api"));
  parsed_release(&p);

  p = parse_for(&logs_flags, ARGS("logs", "-f", "--tail", "2"));
  assert_int_equal(p.r, 0);
  assert_int_equal(p.g.n_files, 0);
  assert_rest(&p, ARGS("logs", "-f", "--tail", "2"));
  parsed_release(&p);

  /* Before the command's name -f is the manifest, after it --follow. */
  p = parse_for(&logs_flags, ARGS("-f", "x.yml", "logs", "-f", "api"));
  assert_int_equal(p.r, 0);
  assert_int_equal(p.g.n_files, 1);
  assert_string_equal(p.g.files[0], "x.yml");
  assert_rest(&p, ARGS("logs", "-f", "api"));
  parsed_release(&p);

  /* A global's value is not the command's name, even when it reads "logs". */
  p = parse_for(&logs_flags, ARGS("-f", "logs", "logs", "-f"));
  assert_int_equal(p.r, 0);
  assert_int_equal(p.g.n_files, 1);
  assert_string_equal(p.g.files[0], "logs");
  assert_rest(&p, ARGS("logs", "-f"));
  parsed_release(&p);
}

/* exec's flags end at the service: the command it runs is its own. */
struct exec_opts {
  const char *user;
  bool no_tty;
};

static const struct berth_flag exec_table[] = {
    BERTH_FLAG("user", 'u', BERTH_FLAG_STRING, struct exec_opts, user),
    BERTH_FLAG("no-tty", 'T', BERTH_FLAG_BOOL, struct exec_opts, no_tty),
};
static const struct berth_flags exec_flags = BERTH_FLAGS(exec_table, BERTH_FLAGS_IN_ORDER);

static void test_exec_command_keeps_its_flags(void **state) {
  /* tail -f and ls -v are the command's, not the manifest and verbosity. */
  struct parsed p = parse_for(&exec_flags, ARGS("exec", "api", "tail", "-f", "/var/log/x", "-v"));
  assert_int_equal(p.r, 0);
  assert_int_equal(p.g.n_files, 0);
  assert_int_equal(p.g.verbose, 0);
  assert_rest(&p, ARGS("exec", "api", "tail", "-f", "/var/log/x", "-v"));
  parsed_release(&p);

  /* Globals before the service still count; exec's own -u keeps its value. */
  p = parse_for(&exec_flags, ARGS("exec", "-f", "x.yml", "-u", "-v", "api", "ls", "-f"));
  assert_int_equal(p.r, 0);
  assert_int_equal(p.g.n_files, 1);
  assert_string_equal(p.g.files[0], "x.yml");
  assert_int_equal(p.g.verbose, 0);
  assert_rest(&p, ARGS("exec", "-u", "-v", "api", "ls", "-f"));
  parsed_release(&p);
}

static void test_other_globals_stay_global(void **state) {
  /* --file is not logs': still the manifest, after the name too. */
  struct parsed p = parse_for(&logs_flags, ARGS("logs", "--file", "x.yml", "-f", "--file=y.yml"));
  assert_int_equal(p.r, 0);
  assert_int_equal(p.g.n_files, 2);
  assert_string_equal(p.g.files[0], "x.yml");
  assert_string_equal(p.g.files[1], "y.yml");
  assert_rest(&p, ARGS("logs", "-f"));
  parsed_release(&p);

  p = parse_for(&logs_flags,
                ARGS("logs", "-ft", "-v", "api", "--json", "--no-color", "-p", "demo", "--ns=n"));
  assert_int_equal(p.r, 0);
  assert_int_equal(p.g.verbose, 1);
  assert_true(p.g.json);
  assert_string_equal(p.g.project, "demo");
  assert_string_equal(p.g.ns, "n");
  assert_rest(&p, ARGS("logs", "-ft", "api"));
  parsed_release(&p);

  /* A command without -f of its own: -f after its name is the manifest. */
  static const struct berth_flag up_table[] = {
      BERTH_FLAG("detach", 'd', BERTH_FLAG_BOOL, struct logs_opts, follow),
  };
  static const struct berth_flags up_flags = BERTH_FLAGS(up_table, 0);
  p = parse_for(&up_flags, ARGS("up", "-d", "-f", "x.yml"));
  assert_int_equal(p.r, 0);
  assert_int_equal(p.g.n_files, 1);
  assert_string_equal(p.g.files[0], "x.yml");
  assert_rest(&p, ARGS("up", "-d"));
  parsed_release(&p);
}

static void test_command_flag_keeps_its_value(void **state) {
  /* The value of the command's flag is the command's, even "-v". */
  struct parsed p = parse_for(&logs_flags, ARGS("logs", "--since", "-v", "-n", "-p", "-tn", "-f"));
  assert_int_equal(p.r, 0);
  assert_int_equal(p.g.verbose, 0);
  assert_null(p.g.project);
  assert_int_equal(p.g.n_files, 0);
  assert_rest(&p, ARGS("logs", "--since", "-v", "-n", "-p", "-tn", "-f"));
  parsed_release(&p);

  /* ... but not past a "--", nor when the value is inline. */
  p = parse_for(&logs_flags, ARGS("logs", "--since=1m", "-v", "-n5", "-v", "--", "-v"));
  assert_int_equal(p.r, 0);
  assert_int_equal(p.g.verbose, 2);
  assert_rest(&p, ARGS("logs", "--since=1m", "-n5", "--", "-v"));
  parsed_release(&p);
}

static int command_at(const char *const *args) {
  int argc = 0;
  while (args[argc])
    argc++;
  return berth_globals_command(argc, (char **)args);
}

static void test_command_position(void **state) {
  assert_int_equal(command_at(ARGS("logs", "-f")), 0);
  assert_int_equal(command_at(ARGS("-f", "x.yml", "-v", "logs", "-f")), 3);
  assert_int_equal(command_at(ARGS("--file=x.yml", "-fy.yml", "-pdemo", "--json", "up")), 4);
  assert_int_equal(command_at(ARGS("--file", "x.yml", "--ns", "n", "-p", "d", "ps")), 6);
  assert_int_equal(command_at(ARGS("-f", "--json", "up")), 2); /* --json is -f's value */
  assert_int_equal(command_at(ARGS("--frob", "up")), 1);
  /* No command: the end of the arguments. */
  assert_int_equal(command_at(ARGS("-v", "--json")), 2);
  assert_int_equal(command_at(ARGS("-f")), 1);
  assert_int_equal(command_at(ARGS("-v", "--", "up")), 3);
  assert_int_equal(command_at((const char *const[]){NULL}), 0);
}

/* ---- colour: on only for a terminal, off with --no-color, NO_COLOR or
 * TERM=dumb. Standard output is made a terminal for these tests. ---- */

struct tty {
  int saved;
  int master;
};

static struct tty stdout_to_tty(void) {
  struct tty t = {.saved = -1, .master = posix_openpt(O_RDWR | O_NOCTTY)};
  if (t.master < 0)
    return t;
  assert_int_equal(grantpt(t.master), 0);
  assert_int_equal(unlockpt(t.master), 0);
  int slave = open(ptsname(t.master), O_RDWR | O_NOCTTY);
  assert_true(slave >= 0);
  fflush(stdout);
  t.saved = dup(STDOUT_FILENO);
  assert_true(t.saved >= 0);
  assert_true(dup2(slave, STDOUT_FILENO) >= 0);
  close(slave);
  return t;
}

static void stdout_restore(struct tty *t) {
  if (t->saved >= 0) {
    fflush(stdout);
    dup2(t->saved, STDOUT_FILENO);
    close(t->saved);
  }
  if (t->master >= 0)
    close(t->master);
}

/* Parses args with stdout on a terminal, NO_COLOR and TERM as given
 * (NULL = unset); assertions run after stdout is back. */
static bool color_with(const char *no_color, const char *term, const char *const *args) {
  char *old_nc = getenv("NO_COLOR") ? strdup(getenv("NO_COLOR")) : NULL;
  char *old_term = getenv("TERM") ? strdup(getenv("TERM")) : NULL;
  no_color ? setenv("NO_COLOR", no_color, 1) : unsetenv("NO_COLOR");
  term ? setenv("TERM", term, 1) : unsetenv("TERM");
  struct tty t = stdout_to_tty();
  if (t.master < 0)
    fail_msg("no pseudo-terminal to stand in for a terminal: %s", strerror(errno));
  struct parsed p = parse(args);
  stdout_restore(&t);
  old_nc ? setenv("NO_COLOR", old_nc, 1) : unsetenv("NO_COLOR");
  old_term ? setenv("TERM", old_term, 1) : unsetenv("TERM");
  free(old_nc);
  free(old_term);
  assert_int_equal(p.r, 0);
  bool color = p.g.color;
  parsed_release(&p);
  return color;
}

static void test_color(void **state) {
  assert_true(color_with(NULL, "xterm-256color", ARGS("up")));
  assert_false(color_with(NULL, "xterm-256color", ARGS("up", "--no-color")));
  assert_false(color_with(NULL, "xterm-256color", ARGS("--no-color", "up")));
  /* NO_COLOR: any non-empty value disables colour (no-color.org). */
  assert_false(color_with("1", "xterm-256color", ARGS("up")));
  assert_false(color_with("0", "xterm-256color", ARGS("up")));
  assert_true(color_with("", "xterm-256color", ARGS("up")));
  assert_false(color_with(NULL, "dumb", ARGS("up")));
  /* "--no-color" after "--" belongs to the command. */
  assert_true(color_with(NULL, "xterm", ARGS("exec", "api", "--", "ls", "--no-color")));
}

static void test_no_color_without_tty(void **state) {
  /* Standard output to a file: never colour. */
  char path[] = "/tmp/berth-opts-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  dup2(fd, STDOUT_FILENO);
  unsetenv("NO_COLOR");
  struct parsed p = parse(ARGS("up"));
  fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  close(fd);
  assert_int_equal(p.r, 0);
  assert_false(p.g.color);
  parsed_release(&p);
}

static void test_sgr(void **state) {
  struct berth_globals g = {.color = true};
  assert_string_equal(berth_sgr(&g, "\033[1m"), "\033[1m");
  g.color = false;
  assert_string_equal(berth_sgr(&g, "\033[1m"), "");
}

static void test_release_twice(void **state) {
  struct parsed p = parse(ARGS("-f", "a", "-f", "b"));
  berth_globals_release(&p.g);
  assert_null(p.g.files);
  assert_int_equal(p.g.n_files, 0);
  parsed_release(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flags_before_and_after),
      cmocka_unit_test(test_value_forms),
      cmocka_unit_test(test_ns_json_verbose),
      cmocka_unit_test(test_double_dash_passes_through),
      cmocka_unit_test(test_unknown_flags_stay),
      cmocka_unit_test(test_no_arguments),
      cmocka_unit_test(test_missing_values),
      cmocka_unit_test(test_command_flag_wins_after_its_name),
      cmocka_unit_test(test_other_globals_stay_global),
      cmocka_unit_test(test_command_flag_keeps_its_value),
      cmocka_unit_test(test_command_position),
      cmocka_unit_test(test_exec_command_keeps_its_flags),
      cmocka_unit_test(test_empty_values),
      cmocka_unit_test(test_color),
      cmocka_unit_test(test_no_color_without_tty),
      cmocka_unit_test(test_sgr),
      cmocka_unit_test(test_release_twice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
