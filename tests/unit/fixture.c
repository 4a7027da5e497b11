/* tests/unit/fixture.h */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fixture.h"

char *fixture_root;

int fixture_setup(void **state) {
  (void)state;
  const char *tmp = getenv("TMPDIR");
  unsetenv("COMPOSE_PROJECT_NAME");
  unsetenv("COMPOSE_PROFILES");
  /* named after the program, so a root left behind says whose it is */
  if (asprintf(&fixture_root, "%s/berth-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp",
               program_invocation_short_name) < 0) {
    fixture_root = NULL;
    return -1;
  }
  return mkdtemp(fixture_root) ? 0 : -1;
}

int fixture_teardown(void **state) {
  (void)state;
  char *cmd = NULL;
  if (fixture_root && asprintf(&cmd, "rm -rf '%s'", fixture_root) > 0)
    (void)!system(cmd);
  free(cmd);
  free(fixture_root);
  fixture_root = NULL;
  return 0;
}

char *fixture_path(const char *dir, const char *rel) {
  char *path = NULL;
  assert_true(asprintf(&path, "%s/%s", dir, rel) > 0);
  return path;
}

char *fixture_dir(const char *name) {
  char *dir = fixture_path(fixture_root, name ? name : "p-XXXXXX");
  if (name) {
    if (mkdir(dir, 0755) < 0)
      fail_msg("mkdir %s: %s", dir, strerror(errno));
  } else {
    assert_non_null(mkdtemp(dir));
  }
  return dir;
}

char *fixture_write(const char *dir, const char *file, const char *text) {
  char *path = fixture_path(dir, file);
  FILE *f = fopen(path, "w");
  if (!f)
    fail_msg("creating %s: %s", path, strerror(errno));
  assert_true(fputs(text, f) >= 0);
  assert_int_equal(fclose(f), 0);
  return path;
}

char *fixture_diags_text(const struct berth_diags *d) {
  char *all = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&all, &len);
  assert_non_null(m);
  for (size_t i = 0; i < d->n; i++) {
    char *s = berth_diag_format(&d->v[i]);
    assert_non_null(s);
    assert_true(fprintf(m, "%s\n", s) >= 0);
    free(s);
  }
  assert_int_equal(fclose(m), 0);
  return all;
}

struct berth_project *fixture_load_opts(const struct berth_load_opts *o, char **ret_diags) {
  struct berth_project *p = NULL;
  struct berth_diags d = {0};
  berth_err err = NULL;
  int r = berth_manifest_load(o, &p, &d, &err);
  char *all = fixture_diags_text(&d);
  if (ret_diags) {
    *ret_diags = all;
  } else {
    if (r < 0 || err || d.errors)
      fail_msg("load failed: %s\n%s", err ? err->msg : "(no error)", all);
    assert_non_null(p);
    free(all);
  }
  berth_diags_release(&d);
  berth_err_free(&err);
  return r < 0 ? berth_project_free(p) : p;
}

struct berth_project *fixture_load(const char *text, char **ret_diags) {
  char *dir = fixture_path(fixture_root, "demo");
  if (mkdir(dir, 0755) < 0 && errno != EEXIST)
    fail_msg("mkdir %s: %s", dir, strerror(errno));
  free(fixture_write(dir, "berth.yaml", text));
  struct berth_load_opts o = {.dir = dir};
  struct berth_project *p = fixture_load_opts(&o, ret_diags);
  free(dir);
  return p;
}

void assert_contains(const char *haystack, const char *needle) {
  if (!haystack || !strstr(haystack, needle))
    fail_msg("\"%s\" does not contain \"%s\"", haystack ? haystack : "(null)", needle);
}

void assert_argv(int argc, char *const *argv, const char *const *want) {
  int n = 0;
  while (want[n])
    n++;
  assert_int_equal(argc, n);
  for (int i = 0; i < n; i++)
    assert_string_equal(argv[i], want[i]);
  assert_null(argv[n]);
}
