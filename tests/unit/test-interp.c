/* berth/interp.h: Compose-style interpolation and .env files. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth/interp.h"
#include "fixture.h"

/* The variables every interpolation case sees; anything else is unset. */
static const char *const fixed[][2] = {
    {"SET", "value"}, {"EMPTY", ""},    {"A", "a"},           {"B", "b"},
    {"_A1", "u"},     {"FILE", ".env"}, {"DOLLAR", "$A${B}"}, {"BRACE", "}"},
};

static const char *fixed_lookup(const char *name, void *ud) {
  (void)ud;
  for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++)
    if (strcmp(fixed[i][0], name) == 0)
      return fixed[i][1];
  return NULL;
}

static const char *vars_lookup(const char *name, void *ud) {
  return berth_vars_get(ud, name);
}

static void expect_interp(const char *in, const char *want) {
  char *out = NULL;
  berth_err err = NULL;
  int col = -1;
  int r = berth_interpolate(in, fixed_lookup, NULL, &out, &col, &err);
  if (r < 0)
    fail_msg("\"%s\": unexpected error: %s", in, err ? err->msg : "(none)");
  assert_null(err);
  assert_int_equal(col, -1); /* untouched on success */
  if (strcmp(out, want) != 0)
    fail_msg("\"%s\" gave \"%s\", want \"%s\"", in, out, want);
  free(out);
}

static void expect_interp_error(const char *in, int code, int want_col, const char *want_msg) {
  char *out = (char *)"untouched";
  berth_err err = NULL;
  int col = -1;
  int r = berth_interpolate(in, fixed_lookup, NULL, &out, &col, &err);
  if (r >= 0)
    fail_msg("\"%s\" should fail, gave \"%s\"", in, out);
  assert_int_equal(r, -code);
  assert_non_null(err);
  assert_int_equal(berth_err_code(err), code);
  if (col != want_col)
    fail_msg("\"%s\": column %d, want %d", in, col, want_col);
  if (want_msg && strcmp(err->msg, want_msg) != 0)
    fail_msg("\"%s\": message\n  \"%s\"\nwant\n  \"%s\"", in, err->msg, want_msg);
  assert_string_equal(out, "untouched");
  berth_err_free(&err);
}

static void test_interpolate_table(void **state) {
  static const char *const cases[][2] = {
      /* plain text and unbraced names */
      {"", ""},
      {"plain text", "plain text"},
      {"$SET", "value"},
      {"${SET}", "value"},
      {"$SET-x", "value-x"},
      {"$SET.x", "value.x"},
      {"$SETx", ""},
      {"${SET}x", "valuex"},
      {"$SET$SET", "valuevalue"},
      {"{$SET}", "{value}"},
      {"$_A1", "u"},
      {"${_A1}!", "u!"},
      {"$UNSET", ""},
      {"${UNSET}", ""},
      {"${a}", ""}, /* names are case-sensitive */
      {"${A}${B}", "ab"},
      {"${DOLLAR}", "$A${B}"}, /* values are not expanded again */
      /* $$ and lone dollars */
      {"$$", "$"},
      {"$$SET", "$SET"},
      {"$${SET}", "${SET}"},
      {"$$$SET", "$value"},
      {"100$", "100$"},
      {"$ 5", "$ 5"},
      {"$5", "$5"},
      {"$-x", "$-x"},
      {"$}", "$}"},
      {"}", "}"},
      {"a}b{c", "a}b{c"},
      {"$é", "$é"},
      /* defaults: unset vs empty */
      {"${UNSET:-def}", "def"},
      {"${EMPTY:-def}", "def"},
      {"${SET:-def}", "value"},
      {"${UNSET-def}", "def"},
      {"${EMPTY-def}", ""},
      {"${SET-def}", "value"},
      {"${UNSET:-}", ""},
      {"${UNSET-}", ""},
      {"${UNSET:-a b c}", "a b c"},
      {"${UNSET:-:-}", ":-"},
      {"${UNSET:-x:y?z+w}", "x:y?z+w"},
      {"${UNSET:-é}", "é"},
      {"${UNSET:-a\nb}", "a\nb"},
      /* replacements */
      {"${UNSET:+rep}", ""},
      {"${EMPTY:+rep}", ""},
      {"${SET:+rep}", "rep"},
      {"${UNSET+rep}", ""},
      {"${EMPTY+rep}", "rep"},
      {"${SET+rep}", "rep"},
      {"${SET:+${A}-${B}}", "a-b"},
      /* required values that are there */
      {"${SET:?msg}", "value"},
      {"${SET?msg}", "value"},
      {"${EMPTY?msg}", ""},
      /* nesting */
      {"${UNSET:-${A}}", "a"},
      {"${UNSET:-${UNSET2:-x}}", "x"},
      {"${UNSET:-${EMPTY:-${B}}}", "b"},
      {"${UNSET:-${UNSET2-${SET}}}x", "valuex"},
      {"${UNSET-${SET:+y}}", "y"},
      {"${UNSET:-$A$B}", "ab"},
      {"${UNSET:-$$}", "$"},
      {"${UNSET:-$$A}", "$A"},
      {"x${UNSET:-$}", "x$"},
      {"${UNSET:-${BRACE}}", "}"},
      /* a '}' closes only at its own level */
      {"${UNSET:-a}b}", "ab}"},
      {"${UNSET:-{x}}", "{x}"},
      {"${SET:-{x}}", "value}"},
      {"${UNSET:-${A}}}", "a}"},
      /* the unused word is not evaluated */
      {"${SET:-${UNSET:?never}}", "value"},
      {"${UNSET:+${UNSET2:?never}}", ""},
      {"${SET?${UNSET:?never}}", "value"},
      {"${A}-${UNSET:-}-", "a--"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
    expect_interp(cases[i][0], cases[i][1]);
}

#define UNCLOSED ": add the matching \"}\" (or write \"$$\" for a literal \"$\")"
#define BADNAME ": variable names match [A-Za-z_][A-Za-z0-9_]*"
#define BADOP ": expected \"}\" or one of :- - :? ? :+ +"

static void test_interpolate_malformed(void **state) {
  static const struct {
    const char *in;
    int col;
    const char *msg;
  } cases[] = {
      {"${", 1, "unclosed \"${\" at column 1" UNCLOSED},
      {"${VAR", 1, "unclosed \"${\" at column 1" UNCLOSED},
      {"${VAR:", 1, "unclosed \"${\" at column 1" UNCLOSED},
      {"x ${VAR:-abc", 3, "unclosed \"${\" at column 3" UNCLOSED},
      {"${A:-${B}", 1, "unclosed \"${\" at column 1" UNCLOSED},
      {"${A:-${B", 6, "unclosed \"${\" at column 6" UNCLOSED},
      {"ok $SET ${", 9, "unclosed \"${\" at column 9" UNCLOSED},
      {"${}", 1,
       "empty variable name in \"${}\" at column 1: write ${NAME}, or \"$$\" for a literal \"$\""},
      {"${1X}", 3, "invalid variable name \"1X\" at column 3" BADNAME},
      {"${#A}", 3, "invalid variable name \"#A\" at column 3" BADNAME},
      {"${ A}", 3, "invalid variable name \" A\" at column 3" BADNAME},
      {"${é}", 3, "invalid variable name \"é\" at column 3" BADNAME},
      {"${VAR:x}", 6, "unexpected \":x\" after \"${VAR\" at column 6" BADOP},
      {"${VAR:}", 6, "unexpected \":\" after \"${VAR\" at column 6" BADOP},
      {"${VAR:=x}", 6, "unexpected \":=\" after \"${VAR\" at column 6" BADOP},
      {"${VAR x}", 6, "unexpected \" \" after \"${VAR\" at column 6" BADOP},
      {"${VAR/a/b}", 6, "unexpected \"/\" after \"${VAR\" at column 6" BADOP},
      {"${A.B}", 4, "unexpected \".\" after \"${A\" at column 4" BADOP},
      /* columns count characters, not bytes */
      {"é${", 2, "unclosed \"${\" at column 2" UNCLOSED},
      {"€€ ${1}", 6, "invalid variable name \"1\" at column 6" BADNAME},
      /* the syntax of an unused word is still checked */
      {"${SET:-${1}}", 10, "invalid variable name \"1\" at column 10" BADNAME},
      {"${SET:+${}}", 8, NULL},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
    expect_interp_error(cases[i].in, BERTH_E_INVALID, cases[i].col, cases[i].msg);
}

static void test_interpolate_required(void **state) {
  expect_interp_error("${API_KEY:?set it in .env}", BERTH_E_INVALID, 1,
                      "required variable API_KEY is missing a value: set it in .env");
  expect_interp_error("${API_KEY?set it in .env}", BERTH_E_INVALID, 1,
                      "required variable API_KEY is missing a value: set it in .env");
  expect_interp_error("${EMPTY:?must not be empty}", BERTH_E_INVALID, 1,
                      "required variable EMPTY is missing a value: must not be empty");
  expect_interp_error("${EMPTY:?}", BERTH_E_INVALID, 1,
                      "required variable EMPTY is missing a value");
  /* the message is interpolated; the column is that of the '$' */
  expect_interp_error("ab ${TOKEN?set it in $FILE}", BERTH_E_INVALID, 4,
                      "required variable TOKEN is missing a value: set it in .env");
  expect_interp_error("${UNSET:-${UNSET2:?inner}}", BERTH_E_INVALID, 10,
                      "required variable UNSET2 is missing a value: inner");
  expect_interp_error("${UNSET:?${A}${UNSET2:-!}}", BERTH_E_INVALID, 1,
                      "required variable UNSET is missing a value: a!");
  /* a malformed message is a syntax error */
  expect_interp_error("${UNSET:?oops ${}", BERTH_E_INVALID, 15, NULL);
}

static void test_interpolate_no_lookup(void **state) {
  char *out = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_interpolate("a${X:-d}$Y${Z-e}", NULL, NULL, &out, NULL, &err), 0);
  assert_string_equal(out, "ade");
  free(out);
  /* ret_col may be NULL on failure too */
  assert_int_equal(berth_interpolate("${X:?gone}", NULL, NULL, &out, NULL, &err), -BERTH_E_INVALID);
  assert_string_equal(err->msg, "required variable X is missing a value: gone");
  berth_err_free(&err);
}

static void test_interpolate_output_bound(void **state) {
  struct berth_vars v;
  berth_vars_init(&v);
  berth_err err = NULL;
  char *big = malloc(65536 + 1);
  assert_non_null(big);
  memset(big, 'x', 65536);
  big[65536] = '\0';
  assert_int_equal(berth_vars_set(&v, "BIG", big, &err), 0);
  free(big);

  /* 16 x 64 KiB is exactly 1 MiB: allowed */
  char in[256] = "";
  for (int i = 0; i < 16; i++)
    strcat(in, "${BIG}");
  char *out = NULL;
  assert_int_equal(berth_interpolate(in, vars_lookup, &v, &out, NULL, &err), 0);
  assert_int_equal(strlen(out), 1 << 20);
  free(out);

  /* one byte more is refused, at the expression that overflows */
  strcat(in, "$$");
  int col = 0;
  assert_int_equal(berth_interpolate(in, vars_lookup, &v, &out, &col, &err), -BERTH_E_TOO_BIG);
  assert_int_equal(col, 16 * 6 + 1);
  assert_string_equal(err->msg, "the value grows beyond 1 MiB once interpolated at column 97");
  berth_err_free(&err);

  /* also when the growth comes from a default */
  in[0] = '\0';
  for (int i = 0; i < 17; i++)
    strcat(in, "${X:-$BIG}");
  assert_int_equal(berth_interpolate(in, vars_lookup, &v, &out, NULL, &err), -BERTH_E_TOO_BIG);
  berth_err_free(&err);
  berth_vars_release(&v);
}

static char *nested(int levels, const char *inner) {
  size_t n = (size_t)levels, in_len = strlen(inner);
  char *s = malloc(n * 6 + in_len + 1);
  assert_non_null(s);
  for (size_t i = 0; i < n; i++)
    memcpy(s + i * 5, "${U:-", 5);
  memcpy(s + n * 5, inner, in_len);
  memset(s + n * 5 + in_len, '}', n);
  s[n * 6 + in_len] = '\0';
  return s;
}

static void test_interpolate_depth_bound(void **state) {
  berth_err err = NULL;
  char *out = NULL;
  int col = 0;

  char *s = nested(64, "deep");
  assert_int_equal(berth_interpolate(s, fixed_lookup, NULL, &out, NULL, &err), 0);
  assert_string_equal(out, "deep");
  free(out);
  free(s);

  s = nested(65, "deep");
  assert_int_equal(berth_interpolate(s, fixed_lookup, NULL, &out, &col, &err), -BERTH_E_TOO_BIG);
  assert_int_equal(col, 64 * 5 + 1);
  assert_string_equal(err->msg, "\"${\" nested more than 64 levels deep at column 321");
  berth_err_free(&err);
  free(s);

  /* a bomb of 200000 levels neither overflows the stack nor allocates */
  s = nested(200000, "x");
  assert_int_equal(berth_interpolate(s, fixed_lookup, NULL, &out, NULL, &err), -BERTH_E_TOO_BIG);
  berth_err_free(&err);
  free(s);
}

static void test_vars(void **state) {
  struct berth_vars v;
  berth_err err = NULL;
  berth_vars_init(&v);
  assert_null(berth_vars_get(&v, "A"));
  assert_int_equal(berth_vars_set(&v, "A", "1", &err), 0);
  assert_int_equal(berth_vars_set(&v, "B", "", &err), 0);
  assert_int_equal(berth_vars_set(&v, "C", "3", &err), 0);
  assert_int_equal(berth_vars_set(&v, "A", "one", &err), 0); /* in place */
  assert_null(err);
  assert_int_equal(v.n, 3);
  assert_string_equal(v.names[0], "A");
  assert_string_equal(v.values[0], "one");
  assert_string_equal(v.names[1], "B");
  assert_string_equal(berth_vars_get(&v, "B"), "");
  assert_string_equal(berth_vars_get(&v, "C"), "3");
  assert_null(berth_vars_get(&v, "a"));
  assert_null(berth_vars_get(NULL, "A"));

  for (int i = 0; i < 100; i++) {
    char name[16];
    snprintf(name, sizeof(name), "V%d", i);
    assert_int_equal(berth_vars_set(&v, name, name, &err), 0);
  }
  assert_int_equal(v.n, 103);
  assert_string_equal(berth_vars_get(&v, "V99"), "V99");

  assert_int_equal(berth_vars_set(&v, "X", NULL, &err), -BERTH_E_INVALID);
  berth_err_free(&err);

  berth_vars_release(&v);
  assert_int_equal(v.n, 0);
  assert_null(v.names);
  berth_vars_release(&v); /* twice is fine */
  berth_vars_release(NULL);
}

static void test_lookup_env_then_vars(void **state) {
  struct berth_vars v;
  berth_err err = NULL;
  berth_vars_init(&v);
  assert_int_equal(berth_vars_set(&v, "BERTH_TEST_INTERP_BOTH", "file", &err), 0);
  assert_int_equal(berth_vars_set(&v, "BERTH_TEST_INTERP_FILE", "file", &err), 0);
  assert_int_equal(setenv("BERTH_TEST_INTERP_BOTH", "env", 1), 0);
  assert_int_equal(setenv("BERTH_TEST_INTERP_EMPTY", "", 1), 0);
  unsetenv("BERTH_TEST_INTERP_FILE");
  unsetenv("BERTH_TEST_INTERP_NONE");

  assert_string_equal(berth_lookup_env_then_vars("BERTH_TEST_INTERP_BOTH", &v), "env");
  assert_string_equal(berth_lookup_env_then_vars("BERTH_TEST_INTERP_FILE", &v), "file");
  assert_string_equal(berth_lookup_env_then_vars("BERTH_TEST_INTERP_EMPTY", &v), "");
  assert_null(berth_lookup_env_then_vars("BERTH_TEST_INTERP_NONE", &v));
  assert_null(berth_lookup_env_then_vars("BERTH_TEST_INTERP_FILE", NULL));

  char *out = NULL;
  assert_int_equal(berth_interpolate("${BERTH_TEST_INTERP_BOTH}/${BERTH_TEST_INTERP_FILE}/"
                                     "${BERTH_TEST_INTERP_EMPTY-unset}",
                                     berth_lookup_env_then_vars, &v, &out, NULL, &err),
                   0);
  assert_string_equal(out, "env/file/");
  free(out);
  unsetenv("BERTH_TEST_INTERP_BOTH");
  unsetenv("BERTH_TEST_INTERP_EMPTY");
  berth_vars_release(&v);
}

/* ---- .env ---- */

static void parse_ok(const char *text, size_t len, berth_lookup_fn lookup, void *ud,
                     struct berth_vars *v) {
  berth_err err = NULL;
  int r = berth_dotenv_parse(".env", text, len, lookup, ud, v, &err);
  if (r < 0)
    fail_msg("unexpected error: %s", err ? err->msg : "(none)");
  assert_null(err);
}

static void expect_var(const struct berth_vars *v, const char *name, const char *want) {
  const char *got = berth_vars_get(v, name);
  if (!got)
    fail_msg("%s is not set, want \"%s\"", name, want);
  if (strcmp(got, want) != 0)
    fail_msg("%s is \"%s\", want \"%s\"", name, got, want);
}

static void test_dotenv_syntax(void **state) {
  static const char text[] = "# a comment\n"
                             "\n"
                             "   \t\n"
                             "  # an indented comment\n"
                             "A=1\n"
                             "export B=2\n"
                             "export\tC = 3\n"
                             "  D = spaced value  \n"
                             "E=\n"
                             "F=b#c\n"
                             "G=b #c\n"
                             "H=b\t#c\n"
                             "I= #only a comment\n"
                             "J=a#b #c\n"
                             "K=url?x=1&y=#frag\n"
                             "M.dot-dash_9=ok\n"
                             "exportN=4\n"
                             "export_O=5\n"
                             "P=a=b=c\n"
                             "Q=x\"y'z\n"
                             "R=   leading\n"
                             "_S=under\n"
                             "T=$$A\n"
                             "LAST=end";
  struct berth_vars v;
  berth_vars_init(&v);
  parse_ok(text, sizeof(text) - 1, NULL, NULL, &v);
  static const char *const want[][2] = {
      {"A", "1"},
      {"B", "2"},
      {"C", "3"},
      {"D", "spaced value"},
      {"E", ""},
      {"F", "b#c"},
      {"G", "b"},
      {"H", "b"},
      {"I", ""},
      {"J", "a#b"},
      {"K", "url?x=1&y=#frag"},
      {"M.dot-dash_9", "ok"},
      {"exportN", "4"},
      {"export_O", "5"},
      {"P", "a=b=c"},
      {"Q", "x\"y'z"},
      {"R", "leading"},
      {"_S", "under"},
      {"T", "$A"},
      {"LAST", "end"},
  };
  assert_int_equal(v.n, sizeof(want) / sizeof(*want));
  for (size_t i = 0; i < v.n; i++) {
    assert_string_equal(v.names[i], want[i][0]); /* file order */
    expect_var(&v, want[i][0], want[i][1]);
  }
  berth_vars_release(&v);
}

static void test_dotenv_quotes(void **state) {
  static const char text[] = "A=1\n"
                             "SQ='single $A ${B:?x} #not a comment' # a comment\n"
                             "DQ=\"double $A #not a comment\"   # a comment\n"
                             "ESC=\"n\\nt\\tr\\rbs\\\\q\\\"d\\$A\\${A}\"\n"
                             "WIN=\"C:\\Users\\x\"\n"
                             "SQBS='a\\nb\\'\n"
                             "MULTI=\"first\n"
                             "  second $A\n"
                             "third\"\n"
                             "SQMULTI='one\n"
                             "two'\n"
                             "EMPTYDQ=\"\"\n"
                             "EMPTYSQ=''  \n"
                             "  SPACED = \"  kept  \"\n"
                             "HASH=\"a#b\"#c\n"
                             "NEST=\"${UNSET:-${A}-x}\"\n"
                             "AFTER=ok\n";
  struct berth_vars v;
  berth_vars_init(&v);
  parse_ok(text, sizeof(text) - 1, NULL, NULL, &v);
  expect_var(&v, "SQ", "single $A ${B:?x} #not a comment");
  expect_var(&v, "DQ", "double 1 #not a comment");
  expect_var(&v, "ESC", "n\nt\tr\rbs\\q\"d$A${A}");
  expect_var(&v, "WIN", "C:\\Users\\x");
  expect_var(&v, "SQBS", "a\\nb\\");
  expect_var(&v, "MULTI", "first\n  second 1\nthird");
  expect_var(&v, "SQMULTI", "one\ntwo");
  expect_var(&v, "EMPTYDQ", "");
  expect_var(&v, "EMPTYSQ", "");
  expect_var(&v, "SPACED", "  kept  ");
  expect_var(&v, "HASH", "a#b");
  expect_var(&v, "NEST", "1-x");
  expect_var(&v, "AFTER", "ok");
  assert_int_equal(v.n, 14);
  berth_vars_release(&v);
}

static void test_dotenv_crlf_and_bom(void **state) {
  static const char text[] = "\xEF\xBB\xBF"
                             "A=1\r\n"
                             "B=\"x\r\ny\"\r\n"
                             "C=two words  \r\n"
                             "D='q'\r\n"
                             "# comment\r\n"
                             "\r\n"
                             "E=${A}\r\n"
                             "F=f # c\r\n"
                             "G";
  struct berth_vars v;
  berth_vars_init(&v);
  parse_ok(text, sizeof(text) - 1, NULL, NULL, &v);
  assert_string_equal(v.names[0], "A"); /* not "\xEF\xBB\xBFA" */
  expect_var(&v, "A", "1");
  expect_var(&v, "B", "x\ny");
  expect_var(&v, "C", "two words");
  expect_var(&v, "D", "q");
  expect_var(&v, "E", "1");
  expect_var(&v, "F", "f");
  assert_int_equal(v.n, 6); /* bare G is unset everywhere */
  berth_vars_release(&v);
}

static const char *env_lookup(const char *name, void *ud) {
  (void)ud;
  if (strcmp(name, "A") == 0)
    return "env";
  if (strcmp(name, "FROM_ENV") == 0)
    return "passed";
  return NULL;
}

static void test_dotenv_references(void **state) {
  static const char text[] = "A=file\n"
                             "B=${A}-x\n" /* the lookup comes first */
                             "C=${C0}\n"  /* not read yet */
                             "C0=z\n"
                             "D=${C0}-$C0\n" /* read earlier */
                             "E=\"${C0:+set}\"\n"
                             "F='${C0}'\n"
                             "C0=again\n"
                             "G=$C0\n"
                             "FROM_ENV\n" /* a bare key takes the lookup's value */
                             "export NOT_THERE\n";
  struct berth_vars v;
  berth_vars_init(&v);
  parse_ok(text, sizeof(text) - 1, env_lookup, NULL, &v);
  expect_var(&v, "A", "file");
  expect_var(&v, "B", "env-x");
  expect_var(&v, "C", "");
  expect_var(&v, "D", "z-z");
  expect_var(&v, "E", "set");
  expect_var(&v, "F", "${C0}");
  expect_var(&v, "C0", "again");
  expect_var(&v, "G", "again");
  expect_var(&v, "FROM_ENV", "passed");
  assert_null(berth_vars_get(&v, "NOT_THERE"));
  /* a repeated key keeps its first place */
  assert_string_equal(v.names[3], "C0");
  assert_int_equal(v.n, 9);
  berth_vars_release(&v);
}

static void test_dotenv_appends(void **state) {
  struct berth_vars v;
  berth_err err = NULL;
  berth_vars_init(&v);
  assert_int_equal(berth_vars_set(&v, "X", "prior", &err), 0);
  assert_int_equal(berth_vars_set(&v, "A", "old", &err), 0);
  static const char text[] = "B=${X}-${A}\nA=new\nC=${A}\n";
  parse_ok(text, sizeof(text) - 1, NULL, NULL, &v);
  assert_int_equal(v.n, 4);
  assert_string_equal(v.names[0], "X");
  assert_string_equal(v.names[1], "A");
  assert_string_equal(v.values[1], "new"); /* replaced in place */
  assert_string_equal(v.names[2], "B");
  assert_string_equal(v.values[2], "prior-old");
  assert_string_equal(v.names[3], "C");
  assert_string_equal(v.values[3], "new");

  /* berth_lookup_env_then_vars over the same vars, as cmd/ uses it */
  static const char more[] = "D=${C}${X}\n";
  parse_ok(more, sizeof(more) - 1, berth_lookup_env_then_vars, &v, &v);
  expect_var(&v, "D", "newprior");
  berth_vars_release(&v);
}

static void test_dotenv_many_keys(void **state) {
  /* enough keys that a quadratic reader would show */
  size_t n = 50000, cap = n * 24 + 64, len = 0;
  char *text = malloc(cap);
  assert_non_null(text);
  for (size_t i = 0; i < n; i++)
    len += (size_t)snprintf(text + len, cap - len, "K%zu=%zu\n", i, i);
  len += (size_t)snprintf(text + len, cap - len, "LAST=${K49999}-${K0}\nK7=seven\n");
  struct berth_vars v;
  berth_vars_init(&v);
  parse_ok(text, len, NULL, NULL, &v);
  assert_int_equal(v.n, n + 1);
  expect_var(&v, "LAST", "49999-0");
  assert_string_equal(v.values[7], "seven");
  berth_vars_release(&v);
  free(text);
}

static void expect_dotenv_error(const char *text, size_t len, int code, const char *want_msg) {
  struct berth_vars v;
  berth_err err = NULL;
  berth_vars_init(&v);
  assert_int_equal(berth_vars_set(&v, "KEEP", "me", &err), 0);
  int r = berth_dotenv_parse(".env", text, len, fixed_lookup, NULL, &v, &err);
  if (r >= 0)
    fail_msg("\"%s\" should fail", text);
  assert_int_equal(r, -code);
  assert_int_equal(berth_err_code(err), code);
  if (want_msg && strcmp(err->msg, want_msg) != 0)
    fail_msg("message\n  \"%s\"\nwant\n  \"%s\"", err->msg, want_msg);
  /* all or nothing: vars is as it was */
  assert_int_equal(v.n, 1);
  assert_string_equal(v.values[0], "me");
  berth_err_free(&err);
  berth_vars_release(&v);
}

#define DOTENV_ERROR(text, msg) expect_dotenv_error(text, sizeof(text) - 1, BERTH_E_INVALID, msg)

static void test_dotenv_errors(void **state) {
  DOTENV_ERROR("A=1\n=x\n", ".env:2:1: expected KEY=VALUE: the key before \"=\" is missing");
  DOTENV_ERROR("A=1\n  = x\n", ".env:2:3: expected KEY=VALUE: the key before \"=\" is missing");
  DOTENV_ERROR("lol$wut\n", ".env:1:1: expected KEY=VALUE, got \"lol$wut\"");
  DOTENV_ERROR("KEY value\n", ".env:1:1: expected KEY=VALUE, got \"KEY value\"");
  DOTENV_ERROR("KEY: value\n", ".env:1:1: expected KEY=VALUE, got \"KEY: value\"");
  DOTENV_ERROR("A=1\n1A=2\n", ".env:2:1: invalid key \"1A\": keys match [A-Za-z_][A-Za-z0-9_.-]*");
  DOTENV_ERROR("A B=1\n", ".env:1:1: invalid key \"A B\": keys match [A-Za-z_][A-Za-z0-9_.-]*");
  DOTENV_ERROR("export -A=1\n",
               ".env:1:8: invalid key \"-A\": keys match [A-Za-z_][A-Za-z0-9_.-]*");
  DOTENV_ERROR("K\xC3\xA9=1\n",
               ".env:1:1: invalid key \"K\xC3\xA9\": keys match [A-Za-z_][A-Za-z0-9_.-]*");
  DOTENV_ERROR("A=1\nB=\"abc\n\nC=1\n", ".env:2:3: unterminated quote: add the closing \"");
  DOTENV_ERROR("B='abc", ".env:1:3: unterminated quote: add the closing '");
  DOTENV_ERROR("B=\"a\\\"", ".env:1:3: unterminated quote: add the closing \"");
  DOTENV_ERROR("A=\"x\" y\n", ".env:1:7: unexpected text after the closing quote: \"y\"");
  DOTENV_ERROR("A='x'y z  \r\n", ".env:1:6: unexpected text after the closing quote: \"y z\"");
  DOTENV_ERROR("A=\"multi\nline\"tail\n",
               ".env:2:6: unexpected text after the closing quote: \"tail\"");
  DOTENV_ERROR("A=1\0B=2", ".env:1:4: unexpected NUL byte: is this a text file?");

  /* interpolation errors point into the file */
  DOTENV_ERROR("\n\nB=${C:?set C in .env}\n",
               ".env:3:3: required variable C is missing a value: set C in .env");
  DOTENV_ERROR("B=x ${C?}\n", ".env:1:5: required variable C is missing a value");
  DOTENV_ERROR("A=\"line1\n  ${\"\n", ".env:2:3: unclosed \"${\"" UNCLOSED);
  DOTENV_ERROR("A=\"\\t${1}\"", ".env:1:8: invalid variable name \"1\"" BADNAME);
  DOTENV_ERROR("A=\"\\$x ${\"", ".env:1:8: unclosed \"${\"" UNCLOSED);
  DOTENV_ERROR("A=\"\r\n\\n€ ${X:x}\"", ".env:2:8: unexpected \":x\" after \"${X\"" BADOP);
  DOTENV_ERROR("\xEF\xBB\xBF"
               "A=${}",
               ".env:1:3: empty variable name in \"${}\": write ${NAME}, or \"$$\" for a literal "
               "\"$\"");
  DOTENV_ERROR("A=${B:-${C}", ".env:1:3: unclosed \"${\"" UNCLOSED);
  /* a comment cuts the value before interpolation, as in Compose */
  DOTENV_ERROR("A=${B:-x #y}\n", ".env:1:3: unclosed \"${\"" UNCLOSED);
}

static void test_dotenv_bounds(void **state) {
  /* each value at most 1 MiB: 16^5 is exactly that, one more byte fails */
  static const char bomb[] = "P=xxxxxxxxxxxxxxxx\n"
                             "Q=$P$P$P$P$P$P$P$P$P$P$P$P$P$P$P$P\n"
                             "R=$Q$Q$Q$Q$Q$Q$Q$Q$Q$Q$Q$Q$Q$Q$Q$Q\n"
                             "S=$R$R$R$R$R$R$R$R$R$R$R$R$R$R$R$R\n"
                             "T=$S$S$S$S$S$S$S$S$S$S$S$S$S$S$S$S\n"
                             "U=$T$P\n";
  expect_dotenv_error(bomb, sizeof(bomb) - 1, BERTH_E_TOO_BIG,
                      ".env:6:5: the value grows beyond 1 MiB once interpolated");
  struct berth_vars v;
  berth_vars_init(&v);
  parse_ok(bomb, sizeof(bomb) - 1 - strlen("U=$T$P\n"), NULL, NULL, &v);
  assert_int_equal(strlen(berth_vars_get(&v, "T")), 1 << 20);
  berth_vars_release(&v);

  /* a single-quoted value is bounded too */
  size_t len = 3 + (1 << 20) + 2;
  char *text = malloc(len);
  assert_non_null(text);
  memcpy(text, "A='", 3);
  memset(text + 3, 'y', (1 << 20) + 1);
  text[len - 1] = '\'';
  expect_dotenv_error(text, len, BERTH_E_TOO_BIG, NULL);
  free(text);

  /* and so is the sum of the values of one file: 17 x 1 MiB */
  size_t big = (1 << 20) - 8;
  len = 2 + big + 1 + 17 * 7; /* "Bnn=$Z\n" */
  text = malloc(len + 1);
  assert_non_null(text);
  memcpy(text, "Z=", 2);
  memset(text + 2, 'z', big);
  size_t off = 2 + big;
  text[off++] = '\n';
  for (int i = 0; i < 17; i++)
    off += (size_t)snprintf(text + off, len + 1 - off, "B%02d=$Z\n", i);
  assert_int_equal(off, len);
  expect_dotenv_error(text, len, BERTH_E_TOO_BIG,
                      ".env:17:1: the values of .env add up to more than 16 MiB");
  free(text);

  /* the input itself: 4 MiB */
  len = ((size_t)4 << 20) + 1;
  text = malloc(len);
  assert_non_null(text);
  memset(text, '\n', len);
  expect_dotenv_error(text, len, BERTH_E_TOO_BIG,
                      ".env is larger than 4 MiB, the limit for .env files");
  parse_ok(text, len - 1, NULL, NULL, &v); /* exactly 4 MiB of blank lines */
  assert_int_equal(v.n, 0);
  berth_vars_release(&v);
  free(text);
}

/* ---- berth_dotenv_load ---- */

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

static void test_dotenv_load(void **state) {
  char path[512];
  snprintf(path, sizeof(path), "%s/.env", fixture_root);
  write_file(path, "\xEF\xBB\xBF# project settings\r\nexport PORT = 8080\r\n"
                   "URL=\"http://localhost:${PORT}/\"\r\n");
  struct berth_vars v;
  berth_err err = NULL;
  berth_vars_init(&v);
  assert_int_equal(berth_dotenv_load(path, false, NULL, NULL, &v, &err), 0);
  assert_null(err);
  expect_var(&v, "PORT", "8080");
  expect_var(&v, "URL", "http://localhost:8080/");

  /* errors name the file */
  write_file(path, "OK=1\nBAD=${\n");
  assert_int_equal(berth_dotenv_load(path, false, NULL, NULL, &v, &err), -BERTH_E_INVALID);
  char want[1024];
  snprintf(want, sizeof(want), "%s:2:5: unclosed \"${\"" UNCLOSED, path);
  assert_string_equal(err->msg, want);
  berth_err_free(&err);
  assert_int_equal(v.n, 2);
  berth_vars_release(&v);
}

static void test_dotenv_load_missing(void **state) {
  char path[512];
  snprintf(path, sizeof(path), "%s/missing.env", fixture_root);
  struct berth_vars v;
  berth_err err = NULL;
  berth_vars_init(&v);
  assert_int_equal(berth_dotenv_load(path, true, NULL, NULL, &v, &err), 0);
  assert_null(err);
  assert_int_equal(v.n, 0);

  assert_int_equal(berth_dotenv_load(path, false, NULL, NULL, &v, &err), -BERTH_E_IO);
  assert_int_equal(berth_err_code(err), BERTH_E_IO);
  assert_non_null(strstr(err->msg, path));
  assert_non_null(strstr(err->msg, strerror(ENOENT)));
  berth_err_free(&err);

  /* a directory is not a missing file, even with missing_ok */
  snprintf(path, sizeof(path), "%s/sub", fixture_root);
  assert_int_equal(mkdir(path, 0700), 0);
  assert_int_equal(berth_dotenv_load(path, true, NULL, NULL, &v, &err), -BERTH_E_INVALID);
  char want[1024];
  snprintf(want, sizeof(want), "%s is a directory, not a regular file; name a file", path);
  assert_string_equal(berth_err_root_msg(err), want);
  berth_err_free(&err);
  berth_vars_release(&v);
}

static void watchdog(int sig) {
  (void)sig;
  static const char m[] = "test_dotenv_load_fifo: reading a FIFO blocked for 10 s\n";
  (void)!write(2, m, sizeof(m) - 1);
  _exit(1);
}

/* env_file: a named pipe nobody writes to. Opening it for reading would
 * wait for a writer forever; it is refused at once, by name. The alarm
 * turns a hang into a failure. */
static void test_dotenv_load_fifo(void **state) {
  char path[512];
  snprintf(path, sizeof(path), "%s/pipe.env", fixture_root);
  assert_int_equal(mkfifo(path, 0600), 0);
  struct berth_vars v;
  berth_err err = NULL;
  berth_vars_init(&v);
  signal(SIGALRM, watchdog);
  alarm(10);
  int r = berth_dotenv_load(path, true, NULL, NULL, &v, &err);
  alarm(0);
  signal(SIGALRM, SIG_DFL);
  assert_int_equal(r, -BERTH_E_INVALID);
  char want[1024];
  snprintf(want, sizeof(want), "%s is a named pipe (FIFO), not a regular file; name a file", path);
  assert_string_equal(berth_err_root_msg(err), want);
  berth_err_free(&err);
  assert_int_equal(v.n, 0);
  /* a device is no .env file either */
  assert_int_equal(berth_dotenv_load("/dev/null", false, NULL, NULL, &v, &err), -BERTH_E_INVALID);
  assert_string_equal(berth_err_root_msg(err),
                      "/dev/null is a device, not a regular file; name a file");
  berth_err_free(&err);
  berth_vars_release(&v);
}

static void test_dotenv_load_too_big(void **state) {
  char path[512];
  snprintf(path, sizeof(path), "%s/big.env", fixture_root);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, ((off_t)4 << 20) + 1), 0);
  close(fd);
  struct berth_vars v;
  berth_err err = NULL;
  berth_vars_init(&v);
  assert_int_equal(berth_dotenv_load(path, false, NULL, NULL, &v, &err), -BERTH_E_TOO_BIG);
  char want[1024];
  snprintf(want, sizeof(want), "%s is larger than 4 MiB, the limit for .env files", path);
  assert_string_equal(err->msg, want);
  berth_err_free(&err);
  assert_int_equal(v.n, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_interpolate_table),
      cmocka_unit_test(test_interpolate_malformed),
      cmocka_unit_test(test_interpolate_required),
      cmocka_unit_test(test_interpolate_no_lookup),
      cmocka_unit_test(test_interpolate_output_bound),
      cmocka_unit_test(test_interpolate_depth_bound),
      cmocka_unit_test(test_vars),
      cmocka_unit_test(test_lookup_env_then_vars),
      cmocka_unit_test(test_dotenv_syntax),
      cmocka_unit_test(test_dotenv_quotes),
      cmocka_unit_test(test_dotenv_crlf_and_bom),
      cmocka_unit_test(test_dotenv_references),
      cmocka_unit_test(test_dotenv_appends),
      cmocka_unit_test(test_dotenv_many_keys),
      cmocka_unit_test(test_dotenv_errors),
      cmocka_unit_test(test_dotenv_bounds),
      cmocka_unit_test(test_dotenv_load),
      cmocka_unit_test(test_dotenv_load_missing),
      cmocka_unit_test(test_dotenv_load_fifo),
      cmocka_unit_test(test_dotenv_load_too_big),
  };
  return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
