/* cmd/flags.c and cmd/out.c: the flag parser, the log mux's line
 * splitter, the progress formatting, and what reaches the terminal:
 * control characters escaped, secrets masked by one rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth/manifest.h"
#include "berth/model.h"
#include "berth/strv.h"
#include "fixture.h"
#include "flags.h"
#include "out.h"

/* ---- the flag parser ---- */

struct opts {
  bool follow, all, off;
  int count, tail, quiet;
  const char *user;
  int64_t timeout;
  struct berth_strv profiles;
};

static const struct berth_flag table[] = {
    BERTH_FLAG("follow", 'f', BERTH_FLAG_BOOL, struct opts, follow),
    BERTH_FLAG("all", 'a', BERTH_FLAG_BOOL, struct opts, all),
    BERTH_FLAG("no-color", 0, BERTH_FLAG_CLEAR, struct opts, off),
    BERTH_FLAG("verbose", 'v', BERTH_FLAG_COUNT, struct opts, count),
    BERTH_FLAG("tail", 'n', BERTH_FLAG_INT, struct opts, tail, .bad = "is not a number of lines"),
    BERTH_FLAG("quiet-ms", 0, BERTH_FLAG_INT, struct opts, quiet, .min = 1, .max = 60000),
    BERTH_FLAG("user", 'u', BERTH_FLAG_STRING, struct opts, user),
    BERTH_FLAG("timeout", 0, BERTH_FLAG_DURATION, struct opts, timeout),
    BERTH_FLAG("profile", 'P', BERTH_FLAG_LIST, struct opts, profiles),
};

struct result {
  struct opts o;
  int r, argc;
  char **rest;
  berth_err err;
};

static struct result parse_mode(unsigned mode, const char *const *args) {
  int argc = 0;
  while (args[argc])
    argc++;
  char **argv = calloc((size_t)argc + 1, sizeof(*argv));
  assert_non_null(argv);
  for (int i = 0; i < argc; i++)
    argv[i] = (char *)args[i];
  struct berth_flags fl = {.v = table, .n = sizeof(table) / sizeof(*table), .mode = mode};
  struct result res = {.o = {.tail = -1, .off = true}, .argc = -1};
  res.r = berth_flags_parse(&fl, argc, argv, &res.o, &res.argc, &res.rest, &res.err);
  free(argv);
  return res;
}

static struct result parse(const char *const *args) {
  return parse_mode(0, args);
}

static void release(struct result *res) {
  free(res->rest);
  berth_strv_release(&res->o.profiles);
  berth_err_free(&res->err);
}

static void assert_rest(const struct result *res, const char *const *want) {
  assert_argv(res->argc, res->rest, want);
}

static void assert_fails(const char *const *args, const char *message) {
  struct result res = parse(args);
  assert_int_equal(res.r, -BERTH_E_INVALID);
  assert_int_equal(berth_err_code(res.err), BERTH_E_INVALID);
  assert_string_equal(berth_err_root_msg(res.err), message);
  release(&res);
}

static void test_long_forms(void **state) {
  struct result res = parse(
      ARGS("--follow", "api", "--tail", "10", "--user=root", "db", "--timeout=90s", "--no-color"));
  assert_int_equal(res.r, 0);
  assert_true(res.o.follow);
  assert_false(res.o.off);
  assert_int_equal(res.o.tail, 10);
  assert_string_equal(res.o.user, "root");
  assert_int_equal(res.o.timeout, 90000);
  assert_rest(&res, ARGS("api", "db")); /* flags after arguments count too */
  release(&res);
}

static void test_short_forms(void **state) {
  struct result res = parse(ARGS("-f", "-n5", "-u", "app", "-vv", "-fa", "x", "-ua=b"));
  assert_int_equal(res.r, 0);
  assert_true(res.o.follow);
  assert_true(res.o.all);
  assert_int_equal(res.o.tail, 5);
  assert_int_equal(res.o.count, 2);
  assert_string_equal(res.o.user, "a=b"); /* the last one counts */
  assert_rest(&res, ARGS("x"));
  release(&res);

  /* A bundle may end in a flag that takes the rest as its value. */
  res = parse(ARGS("-fn7", "-an", "8"));
  assert_int_equal(res.r, 0);
  assert_true(res.o.follow && res.o.all);
  assert_int_equal(res.o.tail, 8);
  release(&res);
}

static void test_values_and_lists(void **state) {
  /* A value that looks like a flag is the value. */
  struct result res = parse(ARGS("--user", "--follow", "-P", "a", "--profile=b", "-Pc"));
  assert_int_equal(res.r, 0);
  assert_string_equal(res.o.user, "--follow");
  assert_false(res.o.follow);
  assert_int_equal(res.o.profiles.n, 3);
  assert_string_equal(res.o.profiles.v[0], "a");
  assert_string_equal(res.o.profiles.v[1], "b");
  assert_string_equal(res.o.profiles.v[2], "c");
  assert_null(res.o.profiles.v[3]);
  assert_rest(&res, (const char *const[]){NULL});
  release(&res);
}

static void test_double_dash(void **state) {
  struct result res = parse(ARGS("a", "--", "-f", "--tail", "--"));
  assert_int_equal(res.r, 0);
  assert_false(res.o.follow);
  assert_rest(&res, ARGS("a", "-f", "--tail", "--"));
  release(&res);
  /* "-" alone is an argument (stdin, by convention). */
  res = parse(ARGS("-", "-f"));
  assert_int_equal(res.r, 0);
  assert_true(res.o.follow);
  assert_rest(&res, ARGS("-"));
  release(&res);
}

static void test_in_order(void **state) {
  /* exec SERVICE -- CMD: flags end at the first argument. */
  struct result res = parse_mode(BERTH_FLAGS_IN_ORDER, ARGS("-u", "root", "api", "-f", "--", "ls"));
  assert_int_equal(res.r, 0);
  assert_string_equal(res.o.user, "root");
  assert_false(res.o.follow);
  assert_rest(&res, ARGS("api", "-f", "--", "ls"));
  release(&res);
  res = parse_mode(BERTH_FLAGS_IN_ORDER, ARGS("-f", "--", "api", "ls"));
  assert_true(res.o.follow);
  assert_rest(&res, ARGS("api", "ls"));
  release(&res);
}

static void test_pass_through(void **state) {
  struct result res = parse_mode(
      BERTH_FLAGS_PASS, ARGS("logs", "-f", "--frob", "-x", "-fa", "--follow=1", "-n3", "--", "-f"));
  assert_int_equal(res.r, 0);
  assert_true(res.o.follow);
  assert_false(res.o.all); /* -fa is not exactly ours: it stays */
  assert_int_equal(res.o.tail, 3);
  assert_rest(&res, ARGS("logs", "--frob", "-x", "-fa", "--follow=1", "--", "-f"));
  release(&res);
}

static void test_errors(void **state) {
  assert_fails(ARGS("--frob"), "unknown flag --frob");
  assert_fails(ARGS("--frob=1"), "unknown flag --frob=1");
  assert_fails(ARGS("-x"), "unknown flag -x");
  assert_fails(ARGS("-fx"), "unknown flag -x (in -fx)");
  assert_fails(ARGS("--tail"), "--tail needs a value");
  assert_fails(ARGS("api", "-n"), "-n needs a value");
  assert_fails(ARGS("--user="), "--user needs a non-empty value");
  assert_fails(ARGS("--follow=yes"), "--follow takes no value");
  assert_fails(ARGS("--tail", "ten"), "--tail ten is not a number of lines");
  assert_fails(ARGS("-n-1"), "--tail -1 is not a number of lines");
  assert_fails(ARGS("--quiet-ms", "0"), "--quiet-ms 0 is not a number");
  assert_fails(ARGS("--quiet-ms=60001"), "--quiet-ms 60001 is not a number");
  assert_fails(ARGS("--timeout", "soon"), "--timeout soon is not a duration (5m, 90s)");
  assert_fails(ARGS("--timeout", "0s"), "--timeout 0s is not a duration (5m, 90s)");
  /* What was stored before the error is the caller's to release. */
  struct result res = parse(ARGS("-P", "a", "--frob"));
  assert_int_equal(res.r, -BERTH_E_INVALID);
  assert_int_equal(res.o.profiles.n, 1);
  release(&res);
}

static void test_abbreviations(void **state) {
  /* A unique abbreviation is the flag, as getopt_long allowed. */
  struct result res = parse(ARGS("--foll", "--tai=3", "--ti", "90s", "--us", "root"));
  assert_int_equal(res.r, 0);
  assert_true(res.o.follow);
  assert_int_equal(res.o.tail, 3);
  assert_int_equal(res.o.timeout, 90000);
  assert_string_equal(res.o.user, "root");
  release(&res);
  /* Ambiguous (--t: tail, timeout) or empty is unknown; PASS never guesses. */
  assert_fails(ARGS("--t", "1"), "unknown flag --t");
  res = parse_mode(BERTH_FLAGS_PASS, ARGS("--foll", "x"));
  assert_int_equal(res.r, 0);
  assert_false(res.o.follow);
  assert_rest(&res, ARGS("--foll", "x"));
  release(&res);
}

static void test_no_flags(void **state) {
  struct berth_flags none = {.n = 0};
  char *argv[] = {"a", "--", "b", NULL};
  int argc;
  char **rest;
  berth_err err = NULL;
  assert_int_equal(berth_flags_parse(&none, 3, argv, NULL, &argc, &rest, &err), 0);
  assert_int_equal(argc, 2);
  assert_string_equal(rest[1], "b");
  free(rest);
  char *bad[] = {"--json", NULL};
  assert_int_equal(berth_flags_parse(&none, 1, bad, NULL, &argc, &rest, &err), -BERTH_E_INVALID);
  assert_string_equal(berth_err_root_msg(err), "unknown flag --json");
  berth_err_free(&err);
}

/* ---- the line splitter ---- */

struct collected {
  struct berth_strv lines;
};

static void collect(const char *line, size_t len, void *ud) {
  struct collected *c = ud;
  assert_int_equal(berth_strv_pushf(&c->lines, "%.*s", (int)len, line), 0);
}

static void feed_all(struct berth_lines *l, struct collected *c, const char *const *chunks) {
  for (size_t i = 0; chunks[i]; i++)
    berth_lines_feed(l, chunks[i], strlen(chunks[i]), collect, c);
}

static void assert_lines(const struct collected *c, const char *const *want) {
  size_t n = 0;
  while (want[n])
    n++;
  assert_int_equal(c->lines.n, n);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(c->lines.v[i], want[i]);
}

static void test_lines_partial_and_crlf(void **state) {
  struct berth_lines l;
  struct collected c = {0};
  berth_lines_init(&l, 1024);
  feed_all(&l, &c, ARGS("hel", "lo\nwor", "ld\r", "\n\n", "a\r\nb\r\n", "last"));
  assert_lines(&c, ARGS("hello", "world", "", "a", "b"));
  berth_lines_finish(&l, collect, &c); /* a final line without a newline */
  assert_lines(&c, ARGS("hello", "world", "", "a", "b", "last"));
  berth_lines_finish(&l, collect, &c); /* nothing more */
  assert_int_equal(c.lines.n, 6);
  berth_lines_release(&l);
  berth_strv_release(&c.lines);
}

static void test_lines_long(void **state) {
  struct berth_lines l;
  struct collected c = {0};
  berth_lines_init(&l, 4);
  feed_all(&l, &c, ARGS("abcdefghij\n", "xy", "zw", "v\n", "1234\n"));
  /* Cut into pieces of the maximum; nothing lost. */
  assert_lines(&c, ARGS("abcd", "efgh", "ij", "xyzw", "v", "1234"));
  berth_lines_release(&l);
  berth_strv_release(&c.lines);
}

/* ---- progress ---- */

static struct berth_progress_item bytes(int64_t done, int64_t total, int64_t ms) {
  return (struct berth_progress_item){.name = "db",
                                      .what = "seeding",
                                      .unit = BERTH_UNIT_BYTES,
                                      .done = done,
                                      .total = total,
                                      .elapsed_ms = ms};
}

static void test_sizes_and_eta(void **state) {
  char b[64];
  const struct {
    int64_t n;
    const char *want;
  } sizes[] = {{0, "0 B"},          {999, "999 B"},         {1000, "1.0 kB"},   {1234, "1.2 kB"},
               {12345, "12 kB"},    {999499, "999 kB"},     {999500, "1.0 MB"}, {1200000, "1.2 MB"},
               {40000000, "40 MB"}, {1500000000, "1.5 GB"}, {-5, "0 B"}};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
    berth_format_size(sizes[i].n, b, sizeof(b));
    assert_string_equal(b, sizes[i].want);
  }
  berth_format_eta(12, b, sizeof(b));
  assert_string_equal(b, "12s");
  berth_format_eta(184, b, sizeof(b));
  assert_string_equal(b, "3m04s");
  berth_format_eta(3720, b, sizeof(b));
  assert_string_equal(b, "1h02m");
}

static void test_progress_format(void **state) {
  char b[160];
  /* 1.2 MB in 387 ms: 3.1 MB/s, 38.8 MB to go: 13 s (rounded up). */
  struct berth_progress_item it = bytes(1200000, 40000000, 387);
  berth_progress_format(&it, b, sizeof(b));
  assert_string_equal(b, "db  seeding 1.2 MB/40 MB  3.1 MB/s  ETA 13s");
  /* Unknown or zero total: no ETA. */
  it = bytes(1200000, 0, 1000);
  berth_progress_amount(&it, b, sizeof(b));
  assert_string_equal(b, "1.2 MB  1.2 MB/s");
  it = bytes(1200000, -1, 1000);
  berth_progress_amount(&it, b, sizeof(b));
  assert_string_equal(b, "1.2 MB  1.2 MB/s");
  /* Nothing done yet, or no time passed: no rate either. */
  it = bytes(0, 40000000, 1000);
  berth_progress_amount(&it, b, sizeof(b));
  assert_string_equal(b, "0 B/40 MB");
  it = bytes(5000, 40000000, 0);
  berth_progress_amount(&it, b, sizeof(b));
  assert_string_equal(b, "5.0 kB/40 MB");
  /* Done: no ETA. */
  it = bytes(40000000, 40000000, 10000);
  berth_progress_amount(&it, b, sizeof(b));
  assert_string_equal(b, "40 MB/40 MB  4.0 MB/s");
  /* Rows. */
  it = (struct berth_progress_item){.name = "db",
                                    .what = "loading",
                                    .unit = BERTH_UNIT_ROWS,
                                    .done = 1200,
                                    .total = 40000,
                                    .elapsed_ms = 400};
  berth_progress_format(&it, b, sizeof(b));
  assert_string_equal(b, "db  loading 1200/40000 rows  3000 rows/s  ETA 13s");
}

/* ---- what reaches the terminal ---- */

static void assert_escaped(const char *in, unsigned flags, const char *want) {
  char *got = berth_escape_controls(in, flags);
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

static void test_escape_controls(void **state) {
  (void)state;
  /* A title change, a screen clear, a bell: shown, not done. */
  assert_escaped("x\x1b]0;pwned\x07y", 0, "x\\x1b]0;pwned\\x07y");
  assert_escaped("\x1b[2J\x1b[H", 0, "\\x1b[2J\\x1b[H");
  assert_escaped("a\x7f\x01\x1f", 0, "a\\x7f\\x01\\x1f");
  assert_escaped("a\nb\tc\rd", 0, "a\\nb\\tc\\rd");
  assert_escaped("a\nb\tc\rd", BERTH_ESCAPE_LINES, "a\nb\tc\\rd");
  /* C1 CSI (U+009B) and a right-to-left override in UTF-8; a lone
   * continuation byte, which is not UTF-8. */
  assert_escaped("a\xc2\x9b"
                 "2Jb",
                 0, "a\\u009b2Jb");
  assert_escaped("x\xe2\x80\xaey", 0, "x\\u202ey");
  assert_escaped("\x9b", 0, "\\x9b");
  assert_escaped("\xc0\xaf", 0, "\\xc0\\xaf"); /* overlong '/' */
  /* Text stays text: UTF-8 letters, backslashes, quotes. */
  assert_escaped("café ✓ \\ \"", 0, "café ✓ \\ \"");
  assert_escaped("a\\b\"\x1b", BERTH_ESCAPE_QUOTED, "a\\\\b\\\"\\x1b");
  /* In JSON: \u escapes only, the layout kept. */
  assert_escaped("{\n\t\"a\":\t\"\x7f\xc2\x85\"\n}", BERTH_ESCAPE_LINES | BERTH_ESCAPE_JSON,
                 "{\n\t\"a\":\t\"\\u007f\\u0085\"\n}");
  assert_escaped("", 0, "");
}

static void test_diag_is_one_line(void **state) {
  (void)state;
  struct berth_diag d = {.severity = BERTH_DIAG_ERROR,
                         .file = "/p/berth\x1b[2J.yaml",
                         .line = 3,
                         .col = 5,
                         .path = "services.a\x1b]0;t\x07",
                         .message = "unknown key \"x\ny\""};
  char *s = berth_diag_format(&d);
  assert_non_null(s);
  assert_string_equal(s, "/p/berth\\x1b[2J.yaml:3:5: error: services.a\\x1b]0;t\\x07: unknown key "
                         "\"x\\ny\"");
  free(s);
}

/* What fn prints on fd (1 or 2), read back from a temporary file. */
static char *captured(int fd, void (*fn)(void *), void *ud) {
  FILE *f = tmpfile();
  assert_non_null(f);
  fflush(fd == 1 ? stdout : stderr);
  int saved = dup(fd);
  dup2(fileno(f), fd);
  fn(ud);
  fflush(fd == 1 ? stdout : stderr);
  dup2(saved, fd);
  close(saved);
  long n = ftell(f);
  char *s = calloc(1, (size_t)n + 1);
  assert_non_null(s);
  rewind(f);
  assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  return s;
}

static void print_json(void *ud) {
  berth_out_json(ud);
}

static void print_event(void *ud) {
  struct berth_globals g = {0};
  struct berth_progress pr;
  berth_progress_init(&pr, &g);
  berth_progress_event(ud, &pr);
}

static void test_json_and_progress_escaped(void **state) {
  (void)state;
  cJSON *o = cJSON_CreateObject();
  assert_non_null(cJSON_AddStringToObject(o, "image", "x\x1b]0;t\x07\x7f\xc2\x9b"));
  char *s = captured(1, print_json, o);
  assert_string_equal(s, "{\n\t\"image\":\t\"x\\u001b]0;t\\u0007\\u007f\\u009b\"\n}\n");
  cJSON *back = cJSON_Parse(s);
  assert_string_equal(cJSON_GetObjectItem(back, "image")->valuestring, "x\x1b]0;t\x07\x7f\xc2\x9b");
  cJSON_Delete(back);
  cJSON_Delete(o);
  free(s);
  struct berth_engine_event ev = {.service = "api\x1b[2J",
                                  .replica = 1,
                                  .phase = BERTH_PHASE_FAILED,
                                  .detail = "exited \x1b]0;x\x07\nlog line 2"};
  s = captured(2, print_event, &ev);
  assert_null(strchr(s, '\x1b'));
  assert_non_null(strstr(s, "api\\x1b[2J"));
  assert_non_null(strstr(s, "exited \\x1b]0;x\\x07\n"));
  assert_null(strstr(s, "log line 2"));
  free(s);
}

/* ---- secrets: one rule for every value ---- */

static void assert_masked(const char *name, const char *value, const char *want) {
  char *got = berth_mask_secrets(name, value);
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

static void test_mask_secrets(void **state) {
  (void)state;
  assert_masked("DB_PASSWORD", "pw", "***");
  assert_masked("com.example.api-token", "t", "***");
  assert_masked("HOST", "db", "db");
  assert_masked(NULL, "postgres://u:pw@h/db", "postgres://u:***@h/db");
  assert_masked(NULL, "https://ghp_abc@github.com/o/r.git", "https://***@github.com/o/r.git");
  assert_masked(NULL, "https://u:@h/", "https://u:@h/");
  assert_masked(NULL, "redis-server --requirepass pw --port 6379",
                "redis-server --requirepass *** --port 6379");
  assert_masked(NULL, "--masterauth 'a b' --token=t --password=\"x y\" -v",
                "--masterauth '***' --token=*** --password=\"***\" -v");
  assert_masked(NULL, "PGPASSWORD=pw psql", "PGPASSWORD=*** psql");
  assert_masked(NULL, "jdbc:postgresql://db/app?user=app&password=pw",
                "jdbc:postgresql://db/app?user=app&password=***");
  /* A reference is where the secret comes from, not the secret. */
  assert_masked(NULL, "--password=\"$(cat /run/secrets/pw)\"",
                "--password=\"$(cat /run/secrets/pw)\"");
  assert_masked(NULL, "--password $DB_PASSWORD", "--password $DB_PASSWORD");
  /* Not secrets: a flag followed by a flag, a file's path, plain words. */
  assert_masked(NULL, "--no-auth --port 80 BYPASS=1 PASSENGER_COUNT=4",
                "--no-auth --port 80 BYPASS=1 PASSENGER_COUNT=4");
  assert_masked("PASSWORD_FILE", "/run/secrets/pw", "/run/secrets/pw");
  assert_null(berth_mask_secrets("X", NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_long_forms),       cmocka_unit_test(test_short_forms),
      cmocka_unit_test(test_values_and_lists), cmocka_unit_test(test_double_dash),
      cmocka_unit_test(test_in_order),         cmocka_unit_test(test_pass_through),
      cmocka_unit_test(test_errors),           cmocka_unit_test(test_abbreviations),
      cmocka_unit_test(test_no_flags),         cmocka_unit_test(test_lines_partial_and_crlf),
      cmocka_unit_test(test_lines_long),       cmocka_unit_test(test_sizes_and_eta),
      cmocka_unit_test(test_progress_format),  cmocka_unit_test(test_escape_controls),
      cmocka_unit_test(test_diag_is_one_line), cmocka_unit_test(test_json_and_progress_escaped),
      cmocka_unit_test(test_mask_secrets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
