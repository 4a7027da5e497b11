/* core/images.c: the image list of templates/images.env and its
 * environment overrides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "berth/images.h"

static const struct berth_image_ref *ref(const struct berth_image_refs *refs, const char *key) {
  for (size_t i = 0; i < refs->n; i++)
    if (!strcmp(refs->items[i].key, key))
      return &refs->items[i];
  fail_msg("%s is not in the list", key);
  return NULL;
}

static void test_parse(void **state) {
  static const char text[] = "# Header of the file, not about any key.\n"
                             "#\n"
                             "\n"
                             "# PostgreSQL 15 (like postgres:15)\n"
                             "BERTH_UT_PG=berth-local/postgres:15\n"
                             "BERTH_UT_NOCOMMENT=registry.example:5000/team/img@sha256:abc\n"
                             "   # indented comment  \n"
                             "  BERTH_UT_SPACED=spaced:1  \n"
                             "\n"
                             "# first\n"
                             "# second wins\n"
                             "BERTH_UT_TWO=two:2\r\n"
                             "BERTH_UT_LAST=last:3";
  unsetenv("BERTH_UT_PG");
  unsetenv("BERTH_UT_NOCOMMENT");
  struct berth_image_refs refs = {0};
  berth_err err = NULL;
  assert_int_equal(berth_images_parse(text, &refs, &err), 0);
  assert_null(err);
  assert_int_equal(refs.n, 5);

  assert_string_equal(refs.items[0].key, "BERTH_UT_PG");
  assert_string_equal(refs.items[0].name, "berth-local/postgres:15");
  assert_string_equal(refs.items[0].default_name, "berth-local/postgres:15");
  assert_string_equal(refs.items[0].purpose, "PostgreSQL 15 (like postgres:15)");

  /* The comment belongs to the first key below it only. */
  const struct berth_image_ref *r = ref(&refs, "BERTH_UT_NOCOMMENT");
  assert_string_equal(r->name, "registry.example:5000/team/img@sha256:abc");
  assert_null(r->purpose);

  r = ref(&refs, "BERTH_UT_SPACED");
  assert_string_equal(r->name, "spaced:1");
  assert_string_equal(r->purpose, "indented comment");

  r = ref(&refs, "BERTH_UT_TWO");
  assert_string_equal(r->name, "two:2");
  assert_string_equal(r->purpose, "second wins");

  r = ref(&refs, "BERTH_UT_LAST"); /* no final newline */
  assert_string_equal(r->name, "last:3");
  assert_null(r->purpose);

  assert_string_equal(berth_images_get(&refs, "BERTH_UT_TWO"), "two:2");
  assert_null(berth_images_get(&refs, "BERTH_UT_NOPE"));
  berth_images_release(&refs);
  assert_null(refs.items);
  assert_int_equal(refs.n, 0);
}

static void test_blank_line_detaches_comment(void **state) {
  static const char text[] = "# about nothing below\n\nBERTH_UT_A=a\n";
  struct berth_image_refs refs = {0};
  berth_err err = NULL;
  assert_int_equal(berth_images_parse(text, &refs, &err), 0);
  assert_int_equal(refs.n, 1);
  assert_null(refs.items[0].purpose);
  berth_images_release(&refs);
}

static void test_environment_override(void **state) {
  static const char text[] = "# db\nBERTH_UT_DB=berth-local/postgres:15\nBERTH_UT_CACHE=redis:7\n";
  setenv("BERTH_UT_DB", "postgres:16-alpine", 1);
  setenv("BERTH_UT_CACHE", "", 1); /* empty: not an override */
  struct berth_image_refs refs = {0};
  berth_err err = NULL;
  int r = berth_images_parse(text, &refs, &err);
  unsetenv("BERTH_UT_DB");
  unsetenv("BERTH_UT_CACHE");
  assert_int_equal(r, 0);
  const struct berth_image_ref *db = ref(&refs, "BERTH_UT_DB");
  assert_string_equal(db->name, "postgres:16-alpine");
  assert_string_equal(db->default_name, "berth-local/postgres:15");
  assert_string_equal(db->purpose, "db");
  assert_string_equal(berth_images_get(&refs, "BERTH_UT_DB"), "postgres:16-alpine");
  const struct berth_image_ref *cache = ref(&refs, "BERTH_UT_CACHE");
  assert_string_equal(cache->name, "redis:7");
  berth_images_release(&refs);

  /* Read at parse time: without the variable the default is back. */
  assert_int_equal(berth_images_parse(text, &refs, &err), 0);
  assert_string_equal(berth_images_get(&refs, "BERTH_UT_DB"), "berth-local/postgres:15");
  berth_images_release(&refs);
}

static void check_malformed(const char *text, int line, const char *quoted) {
  struct berth_image_refs refs = {0};
  berth_err err = NULL;
  int r = berth_images_parse(text, &refs, &err);
  assert_int_equal(r, -BERTH_E_INVALID);
  assert_int_equal(berth_err_code(err), BERTH_E_INVALID);
  char where[32];
  snprintf(where, sizeof(where), "images.env:%d:", line);
  const char *msg = berth_err_root_msg(err);
  if (!strstr(msg, where) || !strstr(msg, quoted) || !strstr(msg, "KEY=VALUE"))
    fail_msg("message \"%s\" should name %s and \"%s\"", msg, where, quoted);
  assert_int_equal(refs.n, 0);
  assert_null(refs.items);
  berth_err_free(&err);
}

static void test_malformed(void **state) {
  check_malformed("# c\nBERTH_UT_A=a\n\nnot a pair\nBERTH_UT_B=b\n", 4, "not a pair");
  check_malformed("=nokey\n", 1, "=nokey");
  check_malformed("A=1\r\nB=2\r\n   \r\njunk\r\n", 4, "junk");
}

static void test_empty(void **state) {
  struct berth_image_refs refs = {0};
  berth_err err = NULL;
  assert_int_equal(berth_images_parse("", &refs, &err), 0);
  assert_int_equal(refs.n, 0);
  assert_int_equal(berth_images_parse("# only\n# comments\n\n", &refs, &err), 0);
  assert_int_equal(refs.n, 0);
  berth_images_release(&refs);
  berth_images_release(&refs); /* twice is fine */
}

static void test_value_with_equals(void **state) {
  struct berth_image_refs refs = {0};
  berth_err err = NULL;
  assert_int_equal(berth_images_parse("BERTH_UT_EQ=a=b\nBERTH_UT_EMPTY=\n", &refs, &err), 0);
  assert_string_equal(berth_images_get(&refs, "BERTH_UT_EQ"), "a=b");
  assert_string_equal(berth_images_get(&refs, "BERTH_UT_EMPTY"), "");
  berth_images_release(&refs);
}

static char *read_source_list(void) {
  /* BERTH_TEST_DATA is tests/; the list is ../templates/images.env. */
  const char *data = getenv("BERTH_TEST_DATA");
  if (!data)
    return NULL;
  char *path = NULL;
  assert_true(asprintf(&path, "%s/../templates/images.env", data) > 0);
  FILE *f = fopen(path, "r");
  free(path);
  if (!f)
    return NULL;
  char *text = calloc(1, 1 << 20);
  assert_non_null(text);
  size_t n = fread(text, 1, (1 << 20) - 1, f);
  text[n] = '\0';
  fclose(f);
  return text;
}

static void test_load_embedded(void **state) {
  unsetenv("BERTH_POSTGRES_IMAGE");
  struct berth_image_refs refs = {0};
  berth_err err = NULL;
  assert_int_equal(berth_images_load(&refs, &err), 0);
  assert_null(err);
  assert_true(refs.n >= 1);
  const struct berth_image_ref *pg = ref(&refs, "BERTH_POSTGRES_IMAGE");
  assert_true(strlen(pg->default_name) > 0);
  assert_string_equal(pg->name, pg->default_name);
  assert_non_null(pg->purpose);
  assert_non_null(strstr(pg->purpose, "PostgreSQL"));
  for (size_t i = 0; i < refs.n; i++) {
    assert_true(strncmp(refs.items[i].key, "BERTH_", 6) == 0);
    assert_true(strlen(refs.items[i].name) > 0);
  }

  /* The embedded copy is the file in the source tree. */
  char *text = read_source_list();
  if (text) {
    struct berth_image_refs src = {0};
    assert_int_equal(berth_images_parse(text, &src, &err), 0);
    assert_int_equal(src.n, refs.n);
    for (size_t i = 0; i < src.n; i++) {
      assert_string_equal(src.items[i].key, refs.items[i].key);
      assert_string_equal(src.items[i].default_name, refs.items[i].default_name);
    }
    berth_images_release(&src);
    free(text);
  }
  berth_images_release(&refs);

  /* The environment wins over the embedded default. */
  setenv("BERTH_POSTGRES_IMAGE", "postgres:15", 1);
  assert_int_equal(berth_images_load(&refs, &err), 0);
  unsetenv("BERTH_POSTGRES_IMAGE");
  assert_string_equal(berth_images_get(&refs, "BERTH_POSTGRES_IMAGE"), "postgres:15");
  assert_string_not_equal(ref(&refs, "BERTH_POSTGRES_IMAGE")->default_name, "postgres:15");
  berth_images_release(&refs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_blank_line_detaches_comment),
      cmocka_unit_test(test_environment_override),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_value_with_equals),
      cmocka_unit_test(test_load_embedded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
