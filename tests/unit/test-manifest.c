/* berth/manifest.h: the unit parsers, paths, suggestions, diagnostics,
 * and berth_manifest_load on small manifests written to a temp dir. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
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

#include "berth/buf.h"
#include "berth/manifest.h"
#include "berth/model.h"
#include "berth/node.h"
#include "fixture.h"
#include "manifest-internal.h"

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

/* ---- units ---- */

static void expect_cpu(const char *s, int64_t want) {
  int64_t v = -12345;
  int r = berth_parse_cpu(s, &v);
  if (r < 0)
    fail_msg("cpu \"%s\": error %d, want %lld", s, r, (long long)want);
  if (v != want)
    fail_msg("cpu \"%s\" gave %lld, want %lld", s, (long long)v, (long long)want);
}

static void expect_cpu_invalid(const char *s) {
  int64_t v = -12345;
  int r = berth_parse_cpu(s, &v);
  if (r != -BERTH_E_INVALID)
    fail_msg("cpu \"%s\": returned %d (value %lld), want -BERTH_E_INVALID", s, r, (long long)v);
  assert_int_equal(v, -12345); /* untouched */
}

static void test_parse_cpu(void **state) {
  (void)state;
  expect_cpu("500m", 500);
  expect_cpu("0.5", 500);
  expect_cpu("2", 2000);
  expect_cpu("1.5", 1500);
  expect_cpu("0.1", 100);
  expect_cpu("250m", 250);
  expect_cpu("0", 0);
  expect_cpu("0m", 0);
  expect_cpu("4000m", 4000);
  expect_cpu_invalid("1.5m");
  expect_cpu_invalid("-1");
  expect_cpu_invalid("-500m");
  expect_cpu_invalid("");
  expect_cpu_invalid("m");
  expect_cpu_invalid("abc");
  expect_cpu_invalid("2 cores");
  expect_cpu_invalid("500M");
  expect_cpu_invalid("500mm");
  expect_cpu_invalid("nan");
  expect_cpu_invalid("inf");
}

static void test_parse_cpu_out_of_range(void **state) {
  (void)state;
  /* Beyond what millicores in an int64 can hold: an error, not an
   * arbitrary number. */
  expect_cpu_invalid("1e30");
  expect_cpu_invalid("1e30m");
}

static void expect_bytes(const char *s, bool compose, int64_t want) {
  int64_t v = -12345;
  int r = berth_parse_bytes(s, compose, &v);
  if (r < 0)
    fail_msg("bytes \"%s\" (%s): error %d, want %lld", s, compose ? "compose" : "k8s", r,
             (long long)want);
  if (v != want)
    fail_msg("bytes \"%s\" (%s) gave %lld, want %lld", s, compose ? "compose" : "k8s", (long long)v,
             (long long)want);
}

static void expect_bytes_invalid(const char *s, bool compose) {
  int64_t v = -12345;
  int r = berth_parse_bytes(s, compose, &v);
  if (r != -BERTH_E_INVALID)
    fail_msg("bytes \"%s\" (%s): returned %d (value %lld), want -BERTH_E_INVALID", s,
             compose ? "compose" : "k8s", r, (long long)v);
  assert_int_equal(v, -12345);
}

#define KiB 1024LL
#define MiB (1024LL * 1024)
#define GiB (1024LL * 1024 * 1024)

static void test_parse_bytes_kubernetes(void **state) {
  (void)state;
  expect_bytes("512Mi", false, 512 * MiB);
  expect_bytes("1Gi", false, GiB);
  expect_bytes("1Ki", false, KiB);
  expect_bytes("1Ti", false, 1024 * GiB);
  expect_bytes("1.5Gi", false, 3 * GiB / 2);
  expect_bytes("500M", false, 500000000);
  expect_bytes("1k", false, 1000);
  expect_bytes("2G", false, 2000000000);
  expect_bytes("1T", false, 1000000000000LL);
  expect_bytes("128974848", false, 128974848);
  expect_bytes("1e3", false, 1000);
  expect_bytes("0", false, 0);
  /* Compose spellings are not Kubernetes quantities */
  expect_bytes_invalid("512MB", false);
  expect_bytes_invalid("100kb", false);
  expect_bytes_invalid("1g", false);
  expect_bytes_invalid("1K", false);
  expect_bytes_invalid("10b", false);
  expect_bytes_invalid("", false);
  expect_bytes_invalid("-1", false);
  expect_bytes_invalid("-1Mi", false);
  expect_bytes_invalid("Mi", false);
  expect_bytes_invalid("12 Mi", false);
  expect_bytes_invalid(" 12Mi", false);
  expect_bytes_invalid("12Mib", false);
  expect_bytes_invalid("1e30", false);
  expect_bytes_invalid("10000000Ti", false);
}

static void test_parse_bytes_compose(void **state) {
  (void)state;
  expect_bytes("512m", true, 512 * MiB);
  expect_bytes("1g", true, GiB);
  expect_bytes("100kb", true, 100 * KiB);
  expect_bytes("512MB", true, 512 * MiB);
  expect_bytes("512mb", true, 512 * MiB);
  expect_bytes("500M", true, 500 * MiB); /* M is MiB in Compose */
  expect_bytes("1k", true, KiB);
  expect_bytes("1K", true, KiB);
  expect_bytes("1KB", true, KiB);
  expect_bytes("2gb", true, 2 * GiB);
  expect_bytes("2GB", true, 2 * GiB);
  expect_bytes("2G", true, 2 * GiB);
  expect_bytes("10b", true, 10);
  expect_bytes("4096", true, 4096);
  /* Kubernetes spellings are not Compose byte strings */
  expect_bytes_invalid("512Mi", true);
  expect_bytes_invalid("1Gi", true);
  expect_bytes_invalid("", true);
  expect_bytes_invalid("-1", true);
  expect_bytes_invalid("-1m", true);
  expect_bytes_invalid("m", true);
  expect_bytes_invalid("1 g", true);
  expect_bytes_invalid("1xb", true);
  expect_bytes_invalid("1e30", true);
}

static void expect_duration(const char *s, int64_t want) {
  int64_t v = -12345;
  int r = berth_parse_duration_ms(s, &v);
  if (r < 0)
    fail_msg("duration \"%s\": error %d, want %lld", s, r, (long long)want);
  if (v != want)
    fail_msg("duration \"%s\" gave %lld, want %lld", s, (long long)v, (long long)want);
}

static void expect_duration_invalid(const char *s) {
  int64_t v = -12345;
  int r = berth_parse_duration_ms(s, &v);
  if (r != -BERTH_E_INVALID)
    fail_msg("duration \"%s\": returned %d (value %lld), want -BERTH_E_INVALID", s, r,
             (long long)v);
  assert_int_equal(v, -12345);
}

static void test_parse_duration(void **state) {
  (void)state;
  expect_duration("1m30s", 90000);
  expect_duration("250ms", 250);
  expect_duration("10us", 0);
  expect_duration("10\xc2\xb5s", 0); /* µs */
  expect_duration("1500us", 2);      /* rounded */
  expect_duration("1000000ns", 1);
  expect_duration("1h", 3600000);
  expect_duration("1h2m3s", 3723000);
  expect_duration("2.5s", 2500);
  expect_duration(".5s", 500);
  expect_duration("30", 30000);
  expect_duration("0.25", 250);
  expect_duration("0", 0);
  expect_duration("0s", 0);
  expect_duration("1s500ms", 1500);
  expect_duration("90m", 5400000);
  expect_duration_invalid("10 seconds");
  expect_duration_invalid("");
  expect_duration_invalid("1x");
  expect_duration_invalid("s");
  expect_duration_invalid("-1s");
  expect_duration_invalid("-5");
  expect_duration_invalid("1s2");
  expect_duration_invalid("1 s");
  expect_duration_invalid("1.5.5s");
  expect_duration_invalid("1d");
  expect_duration_invalid("nan");
  expect_duration_invalid("100000000000h");
}

static void test_parse_duration_out_of_range(void **state) {
  (void)state;
  /* A bare number of seconds too big for milliseconds in an int64 (or
   * infinite) is an error, like the same amount written with units. */
  expect_duration_invalid("1e30");
  expect_duration_invalid("inf");
}

/* ---- paths ---- */

static void expect_abspath(const char *dir, const char *rel, const char *want) {
  char *got = berth__abspath(dir, rel);
  assert_non_null(got);
  if (strcmp(got, want))
    fail_msg("abspath(\"%s\", \"%s\") = \"%s\", want \"%s\"", dir, rel, got, want);
  free(got);
}

static void test_abspath(void **state) {
  (void)state;
  expect_abspath("/a/b", "c", "/a/b/c");
  expect_abspath("/a/b", "./c", "/a/b/c");
  expect_abspath("/a/b", "c/", "/a/b/c");
  expect_abspath("/a/b", "c//d/./e", "/a/b/c/d/e");
  expect_abspath("/a/b", "../c", "/a/c");
  expect_abspath("/a/b", "../../c", "/c");
  expect_abspath("/a/b", "../../../../c", "/c");
  expect_abspath("/a/b", "..", "/a");
  expect_abspath("/a/b", ".", "/a/b");
  expect_abspath("/a/b", "", "/a/b");
  expect_abspath("/a/b", "/etc/x", "/etc/x");
  expect_abspath("/a/b", "/etc/../x/./y/", "/x/y");
  expect_abspath("/a/b", "/", "/");
  expect_abspath("/", "x", "/x");
  expect_abspath("/", "..", "/");
  expect_abspath("/a//b/", "c", "/a/b/c");
  expect_abspath("/a/b", "c..d/..e", "/a/b/c..d/..e");

  /* ~/ is the home directory; ~user and ~x are plain names */
  char *old = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
  assert_int_equal(setenv("HOME", "/home/me", 1), 0);
  expect_abspath("/a/b", "~/x", "/home/me/x");
  expect_abspath("/a/b", "~", "/home/me");
  expect_abspath("/a/b", "~/../y", "/home/y");
  expect_abspath("/a/b", "~user/x", "/a/b/~user/x");
  expect_abspath("/a/b", "x/~/y", "/a/b/x/~/y");
  if (old) {
    setenv("HOME", old, 1);
    free(old);
  } else {
    unsetenv("HOME");
  }
}

/* ---- suggestions ---- */

static void test_suggest(void **state) {
  (void)state;
  static const char *const keys[] = {
      "image",   "build",          "environment",      "ports",       "depends_on", "healthcheck",
      "volumes", "container_name", "abcdefghijklmnop", "abcdefghijk", NULL};
  static const struct {
    const char *key, *want;
  } cases[] = {
      {"image", "image"}, /* itself */
      {"imgae", "image"}, /* 2 edits */
      {"IMAGE", "image"}, /* case does not count */
      {"imag", "image"},  /* 1 edit */
      {"port", "ports"},
      {"enviroment", "environment"},
      {"depend_on", "depends_on"},
      {"dependson", "depends_on"},
      {"volume", "volumes"},
      {"helthcheck", "healthcheck"},
      {"containr_nme", "container_name"},       /* 2 edits */
      {"abcdefghijklmXYZ", "abcdefghijklmnop"}, /* 3 edits, 16 chars: a quarter is 4 */
      {"xyz", NULL},
      {"imxxx", NULL},       /* 3 edits on 5 chars */
      {"abcdefghXYZ", NULL}, /* 3 edits on 11 chars: only 2 allowed */
      {"command", NULL},
      {"", NULL},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    const char *got = berth__suggest(cases[i].key, keys);
    if ((got == NULL) != (cases[i].want == NULL) || (got && strcmp(got, cases[i].want)))
      fail_msg("suggest(\"%s\") = %s, want %s", cases[i].key, got ? got : "NULL",
               cases[i].want ? cases[i].want : "NULL");
  }
  static const char *const none[] = {NULL};
  assert_null(berth__suggest("image", none));
  /* the first of equally close keys */
  static const char *const tie[] = {"abc", "abd", NULL};
  assert_string_equal(berth__suggest("abx", tie), "abc");
  /* very long keys are not compared (bounded work), never a crash */
  char long_key[200];
  memset(long_key, 'a', sizeof(long_key) - 1);
  long_key[sizeof(long_key) - 1] = '\0';
  const char *const long_keys[] = {long_key, NULL};
  (void)berth__suggest(long_key, long_keys);
  assert_null(berth__suggest("image", long_keys));
}

/* ---- diagnostics ---- */

static void expect_format(struct berth_diag d, const char *want) {
  char *s = berth_diag_format(&d);
  assert_non_null(s);
  if (strcmp(s, want))
    fail_msg("\"%s\", want \"%s\"", s, want);
  free(s);
}

static void test_diag_format(void **state) {
  (void)state;
  expect_format((struct berth_diag){.severity = BERTH_DIAG_ERROR,
                                    .file = "/p/berth.yaml",
                                    .line = 12,
                                    .col = 7,
                                    .path = "services.api.ports[1]",
                                    .message = "bad port"},
                "/p/berth.yaml:12:7: error: services.api.ports[1]: bad port");
  expect_format((struct berth_diag){.severity = BERTH_DIAG_WARNING,
                                    .file = "/p/compose.yaml",
                                    .line = 1,
                                    .col = 1,
                                    .path = "version",
                                    .message = "obsolete"},
                "/p/compose.yaml:1:1: warning: version: obsolete");
  expect_format((struct berth_diag){.severity = BERTH_DIAG_ERROR,
                                    .file = "/p/berth.yaml",
                                    .line = 3,
                                    .col = 2,
                                    .message = "no path"},
                "/p/berth.yaml:3:2: error: no path");
  expect_format((struct berth_diag){.severity = BERTH_DIAG_ERROR,
                                    .file = "/p/berth.yaml",
                                    .path = "name",
                                    .message = "no position"},
                "/p/berth.yaml: error: name: no position");
  expect_format((struct berth_diag){.severity = BERTH_DIAG_ERROR, .message = "project-wide"},
                "error: project-wide");
  expect_format((struct berth_diag){.severity = BERTH_DIAG_WARNING, .message = "%s %n"},
                "warning: %s %n"); /* the message is text, not a format */
}

static void test_diags_release(void **state) {
  (void)state;
  struct berth_diags d = {0};
  berth_diags_release(&d); /* empty: fine */
  assert_null(d.v);
  assert_int_equal(d.n, 0);

  /* filled through the reader, as the loader does */
  struct berth__reader r = {.diags = &d};
  struct berth_node at = {.file = "f.yaml", .line = 4, .col = 9};
  berth__error(&r, &at, "services.a", "bad %s", "thing");
  berth__warn(&r, NULL, NULL, "careful");
  berth__error(&r, &at, NULL, "%d more", 2);
  assert_false(r.oom);
  assert_int_equal(d.n, 3);
  assert_int_equal(d.errors, 2);
  assert_int_equal(d.warnings, 1);
  assert_int_equal(d.v[0].severity, BERTH_DIAG_ERROR);
  assert_string_equal(d.v[0].file, "f.yaml");
  assert_ptr_not_equal(d.v[0].file, at.file); /* owned by the diags */
  assert_int_equal(d.v[0].line, 4);
  assert_int_equal(d.v[0].col, 9);
  assert_string_equal(d.v[0].path, "services.a");
  assert_string_equal(d.v[0].message, "bad thing");
  assert_int_equal(d.v[1].severity, BERTH_DIAG_WARNING);
  assert_null(d.v[1].file);
  assert_int_equal(d.v[1].line, 0);
  assert_null(d.v[1].path);
  assert_string_equal(d.v[2].message, "2 more");
  char *s = berth_diag_format(&d.v[0]);
  assert_string_equal(s, "f.yaml:4:9: error: services.a: bad thing");
  free(s);
  berth_diags_release(&d);
  assert_null(d.v);
  assert_int_equal(d.n, 0);
  assert_int_equal(d.errors, 0);
  assert_int_equal(d.warnings, 0);
  berth_diags_release(&d); /* twice: fine */
}

/* ---- berth_manifest_load ---- */

static const char *env_of(const struct berth_service *s, const char *key) {
  for (size_t i = 0; i < s->environment.n; i++)
    if (!strcmp(s->environment.v[i].key, key))
      return s->environment.v[i].value;
  return NULL;
}

static void test_load_autodetect_order(void **state) {
  (void)state;
  size_t n_names = 0;
  while (berth_manifest_names[n_names])
    n_names++;
  assert_int_equal(n_names, 6);
  assert_string_equal(berth_manifest_names[0], "berth.yaml");
  /* With names[i..] all present, names[i] is read. */
  for (size_t i = 0; i < n_names; i++) {
    char *dir = fixture_dir(NULL);
    for (size_t j = i; j < n_names; j++) {
      char text[128];
      snprintf(text, sizeof(text), "name: demo\nservices:\n  s%zu:\n    image: nginx\n", j);
      free(fixture_write(dir, berth_manifest_names[j], text));
    }
    struct berth_load_opts o = {.dir = dir};
    struct berth_project *p = fixture_load_opts(&o, NULL);
    char want[32];
    snprintf(want, sizeof(want), "s%zu", i);
    assert_int_equal(p->n_services, 1);
    if (strcmp(p->services[0].name, want))
      fail_msg("with %s and later names present, read service %s, want %s", berth_manifest_names[i],
               p->services[0].name, want);
    assert_int_equal(p->files.n, 1);
    assert_true(ends_with(p->files.v[0], berth_manifest_names[i]));
    assert_string_equal(p->dir, dir);
    assert_int_equal(p->format, i < 2 ? BERTH_FORMAT_BERTH : BERTH_FORMAT_COMPOSE);
    berth_project_free(p);
    free(dir);
  }
}

static void test_load_berth_yaml_wins(void **state) {
  (void)state;
  char *dir = fixture_dir(NULL);
  free(fixture_write(dir, "compose.yaml", "services:\n  from_compose:\n    image: nginx\n"));
  free(fixture_write(dir, "berth.yaml", "services:\n  from_berth:\n    image: nginx\n"));
  struct berth_load_opts o = {.dir = dir};
  struct berth_project *p = fixture_load_opts(&o, NULL);
  assert_int_equal(p->n_services, 1);
  assert_string_equal(p->services[0].name, "from_berth");
  assert_int_equal(p->format, BERTH_FORMAT_BERTH);
  assert_int_equal(p->files.n, 1);
  char *want = NULL;
  assert_true(asprintf(&want, "%s/berth.yaml", dir) > 0);
  assert_string_equal(p->files.v[0], want);
  free(want);
  berth_project_free(p);
  free(dir);
}

static void test_load_missing_manifest(void **state) {
  (void)state;
  char *dir = fixture_dir(NULL);
  free(fixture_write(dir, "berth.yml.bak", "services: {}\n"));
  struct berth_load_opts o = {.dir = dir};
  struct berth_project *p = NULL;
  struct berth_diags d = {0};
  berth_err err = NULL;
  int r = berth_manifest_load(&o, &p, &d, &err);
  assert_true(r < 0);
  assert_null(p);
  assert_non_null(err);
  assert_int_equal(r, -berth_err_code(err));
  char *s = berth_err_string(err);
  assert_contains(s, dir);
  assert_contains(s, "berth.yaml");
  assert_contains(s, "-f");
  free(s);
  berth_err_free(&err);
  berth_diags_release(&d);
  free(dir);
}

static void test_load_missing_named_file(void **state) {
  (void)state;
  char *dir = fixture_dir(NULL);
  char *path = NULL;
  assert_true(asprintf(&path, "%s/nope.yaml", dir) > 0);
  const char *files[] = {path};
  struct berth_load_opts o = {.files = files, .n_files = 1};
  struct berth_project *p = NULL;
  struct berth_diags d = {0};
  berth_err err = NULL;
  int r = berth_manifest_load(&o, &p, &d, &err);
  assert_true(r < 0);
  assert_null(p);
  assert_int_equal(berth_err_code(err), BERTH_E_IO);
  char *s = berth_err_string(err);
  assert_contains(s, path);
  free(s);
  berth_err_free(&err);
  berth_diags_release(&d);
  free(path);
  free(dir);
}

static void test_load_merges_files(void **state) {
  (void)state;
  char *dir = fixture_dir(NULL);
  char *base = fixture_write(dir, "base.yaml",
                             "name: merged\n"
                             "services:\n"
                             "  api:\n"
                             "    image: nginx:1\n"
                             "    environment:\n"
                             "      A: \"1\"\n"
                             "      B: \"2\"\n"
                             "    ports:\n"
                             "      - \"8080:80\"\n");
  char *over = fixture_write(dir, "override.yaml",
                             "services:\n"
                             "  api:\n"
                             "    image: nginx:2\n"
                             "    environment:\n"
                             "      - B=3\n"
                             "      - C=4\n"
                             "    ports:\n"
                             "      - \"9090:90\"\n"
                             "  worker:\n"
                             "    image: busybox\n");
  const char *files[] = {base, over};
  struct berth_load_opts o = {.files = files, .n_files = 2};
  struct berth_project *p = fixture_load_opts(&o, NULL);
  assert_string_equal(p->name, "merged");
  assert_string_equal(p->dir, dir);
  assert_int_equal(p->files.n, 2);
  assert_string_equal(p->files.v[0], base);
  assert_string_equal(p->files.v[1], over);
  assert_int_equal(p->n_services, 2);
  const struct berth_service *api = berth_project_service(p, "api");
  assert_non_null(api);
  assert_non_null(berth_project_service(p, "worker"));
  assert_string_equal(api->image, "nginx:2"); /* scalars: the later file wins */
  /* environment merges by key */
  assert_int_equal(api->environment.n, 3);
  assert_string_equal(env_of(api, "A"), "1");
  assert_string_equal(env_of(api, "B"), "3");
  assert_string_equal(env_of(api, "C"), "4");
  /* ports are appended, in file order */
  assert_int_equal(api->n_ports, 2);
  assert_int_equal(api->ports[0].host_start, 8080);
  assert_int_equal(api->ports[0].container_start, 80);
  assert_int_equal(api->ports[1].host_start, 9090);
  assert_int_equal(api->ports[1].container_start, 90);
  /* each port remembers its own file */
  assert_string_equal(api->ports[0].pos.file, base);
  assert_int_equal(api->ports[0].pos.line, 9);
  assert_string_equal(api->ports[1].pos.file, over);
  assert_int_equal(api->ports[1].pos.line, 8);
  berth_project_free(p);
  free(base);
  free(over);
  free(dir);
}

static void test_load_project_name(void **state) {
  (void)state;
  /* the name: key */
  char *dir = fixture_dir("Web.App_2");
  free(fixture_write(dir, "compose.yaml", "name: shop\nservices:\n  api:\n    image: nginx\n"));
  struct berth_load_opts o = {.dir = dir};
  struct berth_project *p = fixture_load_opts(&o, NULL);
  assert_string_equal(p->name, "shop");
  berth_project_free(p);

  /* -p wins over name:, normalised */
  o.project_name = "My_Project-1";
  p = fixture_load_opts(&o, NULL);
  assert_string_equal(p->name, "my_project-1");
  berth_project_free(p);
  o.project_name = "Shop.Front End";
  p = fixture_load_opts(&o, NULL);
  assert_string_equal(p->name, "shopfrontend");
  berth_project_free(p);
  free(dir);

  /* no name: the directory's, normalised */
  dir = fixture_dir("Web.App_2-x");
  free(fixture_write(dir, "compose.yaml", "services:\n  api:\n    image: nginx\n"));
  o = (struct berth_load_opts){.dir = dir};
  p = fixture_load_opts(&o, NULL);
  assert_string_equal(p->name, "webapp_2-x");
  berth_project_free(p);
  o.project_name = "OVERRIDE";
  p = fixture_load_opts(&o, NULL);
  assert_string_equal(p->name, "override");
  berth_project_free(p);
  free(dir);
}

static const struct berth_diag *find_diag(const struct berth_diags *d, const char *path) {
  for (size_t i = 0; i < d->n; i++)
    if (d->v[i].path && !strcmp(d->v[i].path, path))
      return &d->v[i];
  return NULL;
}

static void expect_diag(const struct berth_diags *d, const char *path, const char *file, int line,
                        int col, const char *msg_part) {
  const struct berth_diag *g = find_diag(d, path);
  if (!g)
    fail_msg("no diagnostic for %s", path);
  assert_int_equal(g->severity, BERTH_DIAG_ERROR);
  assert_non_null(g->file);
  assert_string_equal(g->file, file);
  if (g->line != line || g->col != col)
    fail_msg("%s at %d:%d, want %d:%d", path, g->line, g->col, line, col);
  assert_contains(g->message, msg_part);
}

static void test_load_collects_every_error(void **state) {
  (void)state;
  char *dir = fixture_dir(NULL);
  char *path = fixture_write(dir, "berth.yaml",
                             "services:\n"
                             "  api:\n"
                             "    image: nginx\n"
                             "    imgae: nginx\n"
                             "    ports:\n"
                             "      - \"99999:80\"\n"
                             "  worker:\n"
                             "    image: busybox\n"
                             "    depends_on: [dbx]\n");
  struct berth_load_opts o = {.dir = dir};
  struct berth_project *p = NULL;
  struct berth_diags d = {0};
  berth_err err = NULL;
  int r = berth_manifest_load(&o, &p, &d, &err);
  assert_int_equal(r, -BERTH_E_INVALID);
  assert_null(p);
  assert_int_equal(berth_err_code(err), BERTH_E_INVALID);
  assert_contains(err->msg, "3 errors");
  berth_err_free(&err);
  if (d.errors != 3)
    fail_msg("%zu errors, want 3:\n%s", d.errors, fixture_diags_text(&d));
  expect_diag(&d, "services.api.imgae", path, 4, 5, "did you mean \"image\"");
  expect_diag(&d, "services.api.ports[0]", path, 6, 9, "99999");
  expect_diag(&d, "services.worker.depends_on.dbx", path, 9, 18, "dbx");
  /* and they read as the user sees them */
  char *s = berth_diag_format(find_diag(&d, "services.api.imgae"));
  char *want = NULL;
  assert_true(asprintf(&want, "%s:4:5: error: services.api.imgae: ", path) > 0);
  assert_int_equal(strncmp(s, want, strlen(want)), 0);
  free(want);
  free(s);
  berth_diags_release(&d);
  free(path);
  free(dir);
}

/* Each cycle is reported once, from its first service, at the dependency
 * that closes it; a self-dependency is a cycle too. */
static void test_load_dependency_cycles(void **state) {
  (void)state;
  char *dir = fixture_dir(NULL);
  char *path = fixture_write(dir, "berth.yaml",
                             "services:\n"
                             "  a:\n"
                             "    image: a\n"
                             "    depends_on: [b]\n"
                             "  b:\n"
                             "    image: b\n"
                             "    depends_on: [a]\n"
                             "  c:\n"
                             "    image: c\n"
                             "    depends_on: [a, c]\n");
  struct berth_load_opts o = {.dir = dir};
  struct berth_project *p = NULL;
  struct berth_diags d = {0};
  berth_err err = NULL;
  assert_int_equal(berth_manifest_load(&o, &p, &d, &err), -BERTH_E_INVALID);
  berth_err_free(&err);
  assert_int_equal(d.errors, 2);
  expect_diag(&d, "services.b.depends_on", path, 7, 18, "dependency cycle: a -> b -> a;");
  expect_diag(&d, "services.c.depends_on", path, 10, 21, "dependency cycle: c -> c;");
  berth_diags_release(&d);
  free(path);
  free(dir);
}

static size_t count_of(const char *s, const char *needle) {
  size_t n = 0;
  for (const char *at = s; s && (at = strstr(at, needle)); at++)
    n++;
  return n;
}

/* Host ports collide by protocol, overlapping range and address (0.0.0.0
 * meets every address); a port colliding with several earlier ones is
 * reported once, naming the earliest; a range the engine picks one port
 * from is not compared. */
static void test_load_host_port_collisions(void **state) {
  (void)state;
  char *diags = NULL;
  struct berth_project *p = fixture_load(
      "services:\n"
      "  a:\n"
      "    image: x\n"
      "    ports: [\"8000-8010:8000-8010\", \"9000:9000/udp\", \"0.0.0.0:7000:7000\"]\n"
      "  b:\n"
      "    image: x\n"
      "    ports: [\"8005:80\", \"9000:9000\", \"127.0.0.2:7000:7000\", \"8000-8100:80\"]\n"
      "  c:\n"
      "    image: x\n"
      "    ports: [\"127.0.0.3:8005:80\", \"127.0.0.2:9000:9000/udp\", \"8005:81\"]\n"
      "  d:\n"
      "    image: x\n"
      "    ports: [\"0.0.0.0:9000:9000\", \"0.0.0.0:8090:80\"]\n",
      &diags);
  assert_null(p);
  if (count_of(diags, ": error: ") != 4)
    fail_msg("want 4 errors:\n%s", diags);
  assert_contains(diags, "error: services.b.ports[0]: host port 127.0.0.1:8005/tcp is also "
                         "published by services.a (line 4)");
  assert_contains(diags, "error: services.b.ports[2]: host port 127.0.0.2:7000/tcp is also "
                         "published by services.a (line 4)");
  assert_contains(diags, "error: services.c.ports[2]: host port 127.0.0.1:8005/tcp is also "
                         "published by services.a (line 4)");
  assert_contains(diags, "error: services.d.ports[0]: host port 0.0.0.0:9000/tcp is also "
                         "published by services.b (line 7)");
  free(diags);
}

/* extends cycles are named, each once, with no error that only follows
 * from them (no "unknown key", no "neither image nor build"); a service
 * extending a cycle is left at that. */
static void test_load_extends_cycles(void **state) {
  (void)state;
  char *diags = NULL;
  struct berth_project *p = fixture_load("services:\n"
                                         "  a:\n"
                                         "    extends: {service: b}\n"
                                         "    image: x\n"
                                         "  b:\n"
                                         "    extends:\n"
                                         "      service: c\n"
                                         "  c:\n"
                                         "    extends: a\n"
                                         "  d:\n"
                                         "    extends: d\n"
                                         "  e:\n"
                                         "    extends: a\n"
                                         "  f:\n"
                                         "    image: y\n"
                                         "    depends_on: [e]\n",
                                         &diags);
  assert_null(p);
  char *want = NULL;
  assert_true(asprintf(&want,
                       "%s/demo/berth.yaml:3:14: error: services.a.extends: extends forms a "
                       "cycle: a -> b -> c -> a; remove one of these extends\n"
                       "%s/demo/berth.yaml:11:14: error: services.d.extends: extends forms a "
                       "cycle: d -> d; remove one of these extends\n",
                       fixture_root, fixture_root) > 0);
  assert_string_equal(diags, want);
  free(want);
  free(diags);

  /* a chain of 20, written base last, takes more passes than extends
   * makes: said once */
  struct berth_buf b = BERTH_BUF_INIT(1 << 16);
  assert_int_equal(berth_buf_addf(&b, "services:\n"), 0);
  for (int i = 0; i < 20; i++)
    assert_int_equal(berth_buf_addf(&b, "  s%d:\n    extends: s%d\n", i, i + 1), 0);
  assert_int_equal(berth_buf_addf(&b, "  s20:\n    image: x\n"), 0);
  p = fixture_load(b.data, &diags);
  berth_buf_release(&b);
  assert_null(p);
  assert_contains(diags, "error: services.s0.extends: extends chains more than 16 services: "
                         "s0 -> s1 -> s2 -> s3 -> s4 -> ...; make the chain shorter\n");
  assert_null(strstr(strchr(diags, '\n') + 1, "error"));
  free(diags);
}

/* A file including itself, directly or through another: refused at the
 * include that closes the cycle, with the files named (diagnostics in the
 * order their files first appear among them). */
static void test_load_include_cycle(void **state) {
  (void)state;
  char *dir = fixture_dir(NULL);
  char *a = fixture_write(dir, "compose.yaml",
                          "include: [b.yaml, compose.yaml]\nservices:\n  api:\n    image: x\n");
  char *b = fixture_write(dir, "b.yaml", "include:\n  - compose.yaml\n");
  struct berth_load_opts o = {.dir = dir};
  char *diags = NULL;
  assert_null(fixture_load_opts(&o, &diags));
  char *want = NULL;
  assert_true(asprintf(&want,
                       "%s:2:5: error: include[0]: include/extends form a cycle: compose.yaml -> "
                       "b.yaml -> compose.yaml; remove the include or extends that reads "
                       "compose.yaml again\n"
                       "%s:1:19: error: include[1]: include/extends form a cycle: compose.yaml "
                       "-> compose.yaml; remove the include or extends that reads compose.yaml "
                       "again\n",
                       b, a) > 0);
  assert_string_equal(diags, want);
  free(want);
  free(diags);
  free(a);
  free(b);
  free(dir);
}

/* 2,000 services, each depending on the one before: every lookup by
 * name answers (the indexes agree with a scan). */
static void test_load_many_services(void **state) {
  (void)state;
  struct berth_buf b = BERTH_BUF_INIT(4u << 20);
  assert_int_equal(berth_buf_addf(&b, "services:\n"), 0);
  assert_int_equal(berth_buf_addf(&b, "  s0:\n    image: x\n"), 0);
  for (int i = 1; i < 2000; i++)
    assert_int_equal(berth_buf_addf(&b, "  s%d:\n    image: x\n    depends_on: [s%d]\n", i, i - 1),
                     0);
  struct berth_project *p = fixture_load(b.data, NULL);
  berth_buf_release(&b);
  assert_int_equal(p->n_services, 2000);
  char name[32];
  for (int i = 0; i < 2000; i += 97) {
    snprintf(name, sizeof(name), "s%d", i);
    const struct berth_service *s = berth_project_service(p, name);
    assert_non_null(s);
    assert_string_equal(s->name, name);
  }
  assert_null(berth_project_service(p, "s2000"));
  berth_project_free(p);
}

/* env_file naming a named pipe: refused at once, by name. */
static void test_load_env_file_fifo(void **state) {
  (void)state;
  char *dir = fixture_dir(NULL);
  char *fifo = NULL;
  assert_true(asprintf(&fifo, "%s/pipe.env", dir) > 0);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  char *path = fixture_write(dir, "compose.yaml",
                             "services:\n  api:\n    image: x\n    env_file: pipe.env\n");
  struct berth_load_opts o = {.dir = dir};
  char *diags = NULL;
  alarm(10); /* a hang becomes a failure (SIGALRM ends the run) */
  assert_null(fixture_load_opts(&o, &diags));
  alarm(0);
  char *want = NULL;
  assert_true(asprintf(&want,
                       "%s:4:15: error: services.api.env_file: %s is a named pipe (FIFO), not a "
                       "regular file; name a file\n",
                       path, fifo) > 0);
  assert_string_equal(diags, want);
  free(want);
  free(diags);
  free(path);
  free(fifo);
  free(dir);
}

/* ---- the key table ---- */

struct read_log {
  char order[64];
};

static void log_key(struct berth__reader *r, void *obj, const struct berth_node *v,
                    const char *path) {
  (void)r;
  struct read_log *l = obj;
  strncat(l->order, path, sizeof(l->order) - strlen(l->order) - 2);
  strcat(l->order, "=");
  strncat(l->order, v->value, sizeof(l->order) - strlen(l->order) - 2);
  strcat(l->order, " ");
}

/* One table: known keys are read in the table's order, unsupported ones
 * warned about, unknown ones errors with a suggestion among the known
 * names only, x- keys pass. */
static void test_read_keys(void **state) {
  (void)state;
  static const struct berth__key keys[] = {
      {"alpha", log_key, 0},
      {"beta", log_key, 0},
      {"gamma", NULL, BERTH__KEY_UNSUPPORTED},
      {"delta", NULL, 0}, /* known, read by the caller */
      {0},
  };
  const char *text = "beta: 2\nalphx: 9\ngamma: 3\nalpha: 1\nx-any: 5\ndelta: 4\ngammx: 6\n";
  struct berth_node *root = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_yaml_parse("t.yaml", text, strlen(text), &root, &err), 0);
  struct berth_diags d = {0};
  struct berth__reader r = {.diags = &d};
  struct read_log log = {{0}};
  berth__read_keys(&r, root, "svc", keys, &log);
  assert_false(r.oom);
  assert_string_equal(log.order, "svc.alpha=1 svc.beta=2 ");
  assert_int_equal(d.errors, 2);
  assert_int_equal(d.warnings, 1);
  expect_diag(&d, "svc.alphx", "t.yaml", 2, 1, "unknown key \"alphx\" (did you mean \"alpha\"?)");
  /* Close to an unsupported key only: no suggestion. */
  assert_string_equal(find_diag(&d, "svc.gammx")->message, "unknown key \"gammx\"");
  const struct berth_diag *w = find_diag(&d, "svc.gamma");
  assert_non_null(w);
  assert_int_equal(w->severity, BERTH_DIAG_WARNING);
  assert_string_equal(w->message, "not supported by berth yet; ignored");
  assert_null(find_diag(&d, "svc.x-any"));
  berth_diags_release(&d);
  berth_node_free(root);
}

/* The table's order, not the document's: env_file's values come first
 * and environment: overrides them wherever it is written. */
static void test_load_environment_over_env_file(void **state) {
  (void)state;
  char *dir = fixture_dir(NULL);
  free(fixture_write(dir, "app.env", "MODE=file\nONLY=file\n"));
  free(fixture_write(dir, "berth.yaml",
                     "services:\n"
                     "  api:\n"
                     "    image: nginx\n"
                     "    environment:\n"
                     "      MODE: inline\n"
                     "    env_file: app.env\n"));
  struct berth_load_opts o = {.dir = dir};
  struct berth_project *p = fixture_load_opts(&o, NULL);
  assert_string_equal(env_of(&p->services[0], "MODE"), "inline");
  assert_string_equal(env_of(&p->services[0], "ONLY"), "file");
  berth_project_free(p);
  free(dir);
}

/* Diagnostics come in the order of the file, whichever reader found them. */
static void test_load_diagnostics_in_file_order(void **state) {
  (void)state;
  char *dir = fixture_dir(NULL);
  char *path = fixture_write(dir, "berth.yaml",
                             "services:\n"
                             "  api:\n"
                             "    image: nginx\n"
                             "    cpus: lots\n"
                             "    restart: whenever\n"
                             "    imgae: x\n");
  struct berth_load_opts o = {.dir = dir};
  struct berth_project *p = NULL;
  struct berth_diags d = {0};
  berth_err err = NULL;
  assert_int_equal(berth_manifest_load(&o, &p, &d, &err), -BERTH_E_INVALID);
  berth_err_free(&err);
  assert_int_equal(d.n, 3);
  assert_string_equal(d.v[0].path, "services.api.cpus");
  assert_string_equal(d.v[1].path, "services.api.restart");
  assert_string_equal(d.v[2].path, "services.api.imgae");
  berth_diags_release(&d);
  free(path);
  free(dir);
}

static void test_load_errors_of_several_files(void **state) {
  (void)state;
  char *dir = fixture_dir(NULL);
  char *a =
      fixture_write(dir, "a.yaml", "services:\n  api:\n    image: nginx\n    restrat: always\n");
  char *b = fixture_write(dir, "b.yaml", "services:\n  api:\n    portz: []\n");
  char *c = fixture_write(dir, "c.yaml", "services:\n  api: {image: x\n");
  const char *files[] = {a, b, c};
  struct berth_load_opts o = {.files = files, .n_files = 3};
  struct berth_project *p = NULL;
  struct berth_diags d = {0};
  berth_err err = NULL;
  int r = berth_manifest_load(&o, &p, &d, &err);
  assert_int_equal(r, -BERTH_E_INVALID);
  assert_null(p);
  berth_err_free(&err);
  assert_int_equal(d.errors, 3);
  expect_diag(&d, "services.api.restrat", a, 4, 5, "restart");
  expect_diag(&d, "services.api.portz", b, 3, 5, "ports");
  /* the syntax error of c.yaml says where it is */
  bool found = false;
  char *where = NULL;
  assert_true(asprintf(&where, "%s:", c) > 0);
  for (size_t i = 0; i < d.n; i++) {
    char *s = berth_diag_format(&d.v[i]);
    if (strstr(s, where) && strstr(s, "invalid YAML"))
      found = true;
    free(s);
  }
  if (!found)
    fail_msg("no invalid YAML diagnostic naming %s", c);
  free(where);
  berth_diags_release(&d);
  free(a);
  free(b);
  free(c);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_cpu),
      cmocka_unit_test(test_parse_cpu_out_of_range),
      cmocka_unit_test(test_parse_bytes_kubernetes),
      cmocka_unit_test(test_parse_bytes_compose),
      cmocka_unit_test(test_parse_duration),
      cmocka_unit_test(test_parse_duration_out_of_range),
      cmocka_unit_test(test_abspath),
      cmocka_unit_test(test_suggest),
      cmocka_unit_test(test_diag_format),
      cmocka_unit_test(test_diags_release),
      cmocka_unit_test(test_load_autodetect_order),
      cmocka_unit_test(test_load_berth_yaml_wins),
      cmocka_unit_test(test_load_missing_manifest),
      cmocka_unit_test(test_load_missing_named_file),
      cmocka_unit_test(test_load_merges_files),
      cmocka_unit_test(test_load_project_name),
      cmocka_unit_test(test_load_collects_every_error),
      cmocka_unit_test(test_load_dependency_cycles),
      cmocka_unit_test(test_load_host_port_collisions),
      cmocka_unit_test(test_load_extends_cycles),
      cmocka_unit_test(test_load_include_cycle),
      cmocka_unit_test(test_load_many_services),
      cmocka_unit_test(test_load_env_file_fifo),
      cmocka_unit_test(test_read_keys),
      cmocka_unit_test(test_load_environment_over_env_file),
      cmocka_unit_test(test_load_diagnostics_in_file_order),
      cmocka_unit_test(test_load_errors_of_several_files),
  };
  return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
