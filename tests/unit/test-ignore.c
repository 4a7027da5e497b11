/* core/docker/ignore.c: .dockerignore rules with the Docker engine's
 * semantics (moby/patternmatcher and its ignorefile reader): patterns are
 * anchored at the context root, '*' and '?' stay within one path element,
 * '**' crosses elements, a match on a directory covers what is below it,
 * and the last matching rule wins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth/ignore.h"
#include "fixture.h"

static struct berth_ignore *rules(const char *const *lines) {
  struct berth_ignore *ign = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_ignore_new(&ign, &err), 0);
  for (; *lines; lines++)
    assert_int_equal(berth_ignore_add(ign, *lines, &err), 0);
  assert_null(err);
  return ign;
}

static void expect(const struct berth_ignore *ign, const char *path, bool excluded) {
  if (berth_ignore_match(ign, path) != excluded)
    fail_msg("\"%s\" should %sbe excluded", path, excluded ? "" : "not ");
}

#define EXCLUDED(ign, ...)                                                                         \
  do {                                                                                             \
    static const char *const p_[] = {__VA_ARGS__};                                                 \
    for (size_t i_ = 0; i_ < sizeof(p_) / sizeof(*p_); i_++)                                       \
      expect(ign, p_[i_], true);                                                                   \
  } while (0)
#define KEPT(ign, ...)                                                                             \
  do {                                                                                             \
    static const char *const p_[] = {__VA_ARGS__};                                                 \
    for (size_t i_ = 0; i_ < sizeof(p_) / sizeof(*p_); i_++)                                       \
      expect(ign, p_[i_], false);                                                                  \
  } while (0)

static void test_star(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"*.log", NULL});
  EXCLUDED(ign, "a.log", "debug.log", ".log", "x.y.log");
  /* '*' does not cross '/': only the context root's .log files. */
  KEPT(ign, "sub/a.log", "a/b/c.log", "a.log.txt", "log", "alog");
  berth_ignore_free(ign);
}

static void test_plain_name_is_anchored(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"secret.txt", NULL});
  EXCLUDED(ign, "secret.txt");
  KEPT(ign, "a/secret.txt", "secret.txt.bak", "xsecret.txt");
  berth_ignore_free(ign);
}

static void test_directory(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"build/", NULL});
  EXCLUDED(ign, "build", "build/x.o", "build/a/b/c.o");
  KEPT(ign, "buildx", "buildx/y", "src/build", "src/build/x.o", "build.sh");
  berth_ignore_free(ign);

  /* Without the trailing slash it is the same rule. */
  ign = rules((const char *const[]){"node_modules", NULL});
  EXCLUDED(ign, "node_modules", "node_modules/left-pad/index.js");
  KEPT(ign, "web/node_modules/x.js");
  berth_ignore_free(ign);
}

static void test_double_star_prefix(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"**/node_modules", NULL});
  EXCLUDED(ign, "node_modules", "node_modules/x/y.js", "a/node_modules", "a/b/node_modules",
           "a/b/node_modules/c/d.js");
  KEPT(ign, "xnode_modules", "a/xnode_modules", "a/node_modules_x", "node_modules_x/y");
  berth_ignore_free(ign);

  ign = rules((const char *const[]){"**/*.pyc", NULL});
  EXCLUDED(ign, "a.pyc", "pkg/a.pyc", "pkg/sub/a.pyc");
  KEPT(ign, "a.py", "pkg/a.pyc.txt");
  berth_ignore_free(ign);
}

static void test_double_star_middle(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"docs/**/*.md", NULL});
  EXCLUDED(ign, "docs/a.md", "docs/x/a.md", "docs/x/y/z/a.md");
  KEPT(ign, "a.md", "docs/a.txt", "other/docs/a.md", "docsx/a.md", "docs", "docs/x");
  berth_ignore_free(ign);
}

static void test_double_star_suffix(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"a/**", NULL});
  EXCLUDED(ign, "a/x", "a/x/y", "a/.hidden");
  /* Everything inside a, not a itself. */
  KEPT(ign, "a", "ab", "ab/x", "b/a/x");
  berth_ignore_free(ign);
}

static void test_double_star_alone(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"**", NULL});
  EXCLUDED(ign, "a", "a/b", "a/b/c.txt", ".dockerignore", "Dockerfile");
  berth_ignore_free(ign);

  /* The usual allow-list: exclude everything, re-include what is sent. */
  ign = rules((const char *const[]){"**", "!src", "!package.json", NULL});
  KEPT(ign, "src", "src/main.c", "src/a/b.c", "package.json");
  EXCLUDED(ign, "README.md", "test/x.c", "package.json.bak");
  berth_ignore_free(ign);
}

static void test_exceptions_last_match_wins(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"*.log", "!keep.log", NULL});
  EXCLUDED(ign, "a.log", "debug.log");
  KEPT(ign, "keep.log", "README");
  assert_true(berth_ignore_has_exceptions(ign));
  berth_ignore_free(ign);

  /* The same rules the other way round: the exclusion comes last. */
  ign = rules((const char *const[]){"!keep.log", "*.log", NULL});
  EXCLUDED(ign, "keep.log", "a.log");
  berth_ignore_free(ign);

  /* Exclude, re-include, exclude again. */
  ign = rules((const char *const[]){"*.md", "!README*.md", "README-secret.md", NULL});
  EXCLUDED(ign, "CHANGES.md", "README-secret.md");
  KEPT(ign, "README.md", "README-en.md");
  berth_ignore_free(ign);
}

static void test_exception_inside_excluded_dir(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"build", "!build/keep.txt", NULL});
  EXCLUDED(ign, "build", "build/other.o", "build/sub/keep.txt");
  KEPT(ign, "build/keep.txt");
  berth_ignore_free(ign);

  /* A re-included directory covers its contents too. */
  ign = rules((const char *const[]){"vendor", "!vendor/ours", NULL});
  KEPT(ign, "vendor/ours", "vendor/ours/a.go");
  EXCLUDED(ign, "vendor/theirs/b.go");
  berth_ignore_free(ign);
}

static void test_exception_with_spaces(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"*.log", "!   keep.log  ", NULL});
  KEPT(ign, "keep.log");
  EXCLUDED(ign, "a.log");
  berth_ignore_free(ign);
}

static void test_question_mark(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"file?.txt", NULL});
  EXCLUDED(ign, "file1.txt", "fileA.txt", "file..txt");
  KEPT(ign, "file.txt", "file12.txt", "file/.txt", "sub/file1.txt");
  berth_ignore_free(ign);
}

static void test_character_class(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"log[a-c].txt", "v[0-9][0-9]", NULL});
  EXCLUDED(ign, "loga.txt", "logb.txt", "logc.txt", "v00", "v42", "v99/x");
  KEPT(ign, "logd.txt", "logA.txt", "log.txt", "logab.txt", "v4", "v4x", "v/1");
  berth_ignore_free(ign);

  ign = rules((const char *const[]){"x[abc]y", NULL});
  EXCLUDED(ign, "xay", "xby", "xcy");
  KEPT(ign, "xdy", "xy", "xaby");
  berth_ignore_free(ign);
}

static void test_character_class_caret(void **state) {
  /* '^' negates, as in Go's filepath.Match. */
  struct berth_ignore *ign = rules((const char *const[]){"x[^a]y", NULL});
  EXCLUDED(ign, "xby", "x!y", "xzy");
  KEPT(ign, "xay", "xy");
  berth_ignore_free(ign);
}

/* Go's filepath.Match (and the engine's regexp translation of it) has no
 * '!' negation: "[!a]" is the set {'!', 'a'}, unlike a shell glob. */
static void test_character_class_bang(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"x[!a]y", NULL});
  EXCLUDED(ign, "xay", "x!y");
  KEPT(ign, "xby", "xzy");
  berth_ignore_free(ign);
}

static void test_escapes(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"\\*.txt", "a\\?b", "c\\[d\\]", NULL});
  EXCLUDED(ign, "*.txt", "a?b", "c[d]");
  KEPT(ign, "a.txt", "x.txt", "axb", "cd", "c[d");
  berth_ignore_free(ign);
}

static void test_cleaned_patterns(void **state) {
  struct berth_ignore *ign =
      rules((const char *const[]){"./tmp", "/secret", "a/../b", "x/./y", "//z//w//", NULL});
  EXCLUDED(ign, "tmp", "tmp/x", "secret", "secret/key.pem", "b", "b/c", "x/y", "z/w", "z/w/v");
  KEPT(ign, "a", "a/b", "x", "z", "a/tmp", "sub/secret");
  berth_ignore_free(ign);
}

static void test_comments_and_blank_lines(void **state) {
  struct berth_ignore *ign =
      rules((const char *const[]){"# a comment", "", "   ", "\t", "#*.log", "*.tmp", NULL});
  EXCLUDED(ign, "a.tmp");
  /* The commented-out pattern is not a rule; neither is the comment. */
  KEPT(ign, "a.log", "# a comment", "#*.log", "", "a");
  assert_false(berth_ignore_has_exceptions(ign));
  berth_ignore_free(ign);

  /* "/" and "." alone exclude nothing. */
  ign = rules((const char *const[]){"/", ".", "./", NULL});
  KEPT(ign, "a", "a/b", "Dockerfile");
  berth_ignore_free(ign);
}

/* The engine's reader takes '#' as a comment only as the first byte of the
 * line; after leading blanks it is part of a pattern. */
static void test_comment_only_at_line_start(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"  #notes.txt", NULL});
  EXCLUDED(ign, "#notes.txt");
  berth_ignore_free(ign);
}

static void test_surrounding_spaces(void **state) {
  struct berth_ignore *ign =
      rules((const char *const[]){"*.tmp   ", "   *.bak", "\t*.swp\t\r\n", NULL});
  EXCLUDED(ign, "a.tmp", "a.bak", "a.swp");
  KEPT(ign, "a.tmp   ", "a.bak ");
  berth_ignore_free(ign);
}

static void test_null_and_empty(void **state) {
  assert_false(berth_ignore_match(NULL, "anything"));
  assert_false(berth_ignore_has_exceptions(NULL));
  struct berth_ignore *ign = rules((const char *const[]){NULL});
  KEPT(ign, "a", "a/b");
  assert_false(berth_ignore_has_exceptions(ign));
  berth_ignore_free(ign);
  assert_null(berth_ignore_free(NULL));
}

static void test_has_exceptions(void **state) {
  struct berth_ignore *ign = rules((const char *const[]){"*.log", "build", NULL});
  assert_false(berth_ignore_has_exceptions(ign));
  berth_err err = NULL;
  assert_int_equal(berth_ignore_add(ign, "!build/keep", &err), 0);
  assert_true(berth_ignore_has_exceptions(ign));
  berth_ignore_free(ign);
}

static void test_many_rules(void **state) {
  /* More rules than the first allocation holds. */
  struct berth_ignore *ign = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_ignore_new(&ign, &err), 0);
  char line[32];
  for (int i = 0; i < 100; i++) {
    snprintf(line, sizeof(line), "dir%d", i);
    assert_int_equal(berth_ignore_add(ign, line, &err), 0);
  }
  EXCLUDED(ign, "dir0", "dir17/x", "dir99");
  KEPT(ign, "dir100", "dir");
  berth_ignore_free(ign);
}

/* ---- berth_ignore_load ---- */

static void test_load(void **state) {
  static const char text[] = "# build output\n"
                             "build/\r\n"
                             "\n"
                             "*.log\n"
                             "!keep.log\n"
                             "  **/node_modules  \n"
                             "/.env";
  char *path = fixture_write(fixture_root, "dockerignore", text);
  struct berth_ignore *ign = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_ignore_new(&ign, &err), 0);
  assert_int_equal(berth_ignore_load(ign, path, &err), 0);
  assert_null(err);
  EXCLUDED(ign, "build", "build/out.o", "debug.log", "node_modules", "web/node_modules/x.js",
           ".env");
  KEPT(ign, "keep.log", "src/main.c", "Dockerfile", "# build output", "sub/.env");
  assert_true(berth_ignore_has_exceptions(ign));
  berth_ignore_free(ign);
  unlink(path);
  free(path);
}

static void test_load_missing_file(void **state) {
  char *path = NULL;
  assert_true(asprintf(&path, "%s/no-such-dir/.dockerignore", fixture_root) > 0);
  struct berth_ignore *ign = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_ignore_new(&ign, &err), 0);
  assert_int_equal(berth_ignore_load(ign, path, &err), 0);
  assert_null(err);
  KEPT(ign, "a", "build", "x.log");
  assert_false(berth_ignore_has_exceptions(ign));
  berth_ignore_free(ign);
  free(path);
}

static void test_load_unreadable(void **state) {
  /* A directory where the file should be. */
  struct berth_ignore *ign = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_ignore_new(&ign, &err), 0);
  int r = berth_ignore_load(ign, fixture_root, &err);
  assert_true(r < 0);
  assert_int_equal(berth_err_code(err), BERTH_E_IO);
  assert_non_null(strstr(berth_err_root_msg(err), fixture_root));
  berth_err_free(&err);
  berth_ignore_free(ign);
}

static void test_load_long_line(void **state) {
  char text[6000];
  memset(text, 'x', 5000);
  memcpy(text + 5000, "\n*.log\n", 8);
  char *path = fixture_write(fixture_root, "long", text);
  struct berth_ignore *ign = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_ignore_new(&ign, &err), 0);
  assert_int_equal(berth_ignore_load(ign, path, &err), 0);
  EXCLUDED(ign, "a.log");
  text[5000] = '\0';
  expect(ign, text, true);
  berth_ignore_free(ign);
  unlink(path);
  free(path);
}

/* Editors on Windows save .dockerignore with a UTF-8 byte order mark; the
 * engine drops it from the first line. */
static void test_load_utf8_bom(void **state) {
  static const char text[] = "\xEF\xBB\xBF*.log\nbuild\n";
  char *path = fixture_write(fixture_root, "bom", text);
  struct berth_ignore *ign = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_ignore_new(&ign, &err), 0);
  assert_int_equal(berth_ignore_load(ign, path, &err), 0);
  EXCLUDED(ign, "build", "a.log");
  berth_ignore_free(ign);
  unlink(path);
  free(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_star),
      cmocka_unit_test(test_plain_name_is_anchored),
      cmocka_unit_test(test_directory),
      cmocka_unit_test(test_double_star_prefix),
      cmocka_unit_test(test_double_star_middle),
      cmocka_unit_test(test_double_star_suffix),
      cmocka_unit_test(test_double_star_alone),
      cmocka_unit_test(test_exceptions_last_match_wins),
      cmocka_unit_test(test_exception_inside_excluded_dir),
      cmocka_unit_test(test_exception_with_spaces),
      cmocka_unit_test(test_question_mark),
      cmocka_unit_test(test_character_class),
      cmocka_unit_test(test_character_class_caret),
      cmocka_unit_test(test_character_class_bang),
      cmocka_unit_test(test_escapes),
      cmocka_unit_test(test_cleaned_patterns),
      cmocka_unit_test(test_comments_and_blank_lines),
      cmocka_unit_test(test_comment_only_at_line_start),
      cmocka_unit_test(test_surrounding_spaces),
      cmocka_unit_test(test_null_and_empty),
      cmocka_unit_test(test_has_exceptions),
      cmocka_unit_test(test_many_rules),
      cmocka_unit_test(test_load),
      cmocka_unit_test(test_load_missing_file),
      cmocka_unit_test(test_load_unreadable),
      cmocka_unit_test(test_load_long_line),
      cmocka_unit_test(test_load_utf8_bom),
  };
  return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
