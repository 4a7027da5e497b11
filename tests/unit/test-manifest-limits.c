/* The bounds the manifest reader puts on values that would overflow or
 * exhaust something downstream (core/manifest-ports.c, manifest-value.c,
 * manifest-runtime.c): each is refused with a diagnostic that names the
 * limit, and the value just inside it is accepted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "berth/model.h"
#include "fixture.h"

/* A one-service manifest with extra lines under the service. */
static struct berth_project *load_service(const char *lines, char **ret_diags) {
  char *text = NULL;
  assert_true(asprintf(&text, "services:\n  api:\n    image: hockeyhub/api\n%s", lines) > 0);
  struct berth_project *p = fixture_load(text, ret_diags);
  free(text);
  return p;
}

static void refused(const char *lines, const char *want) {
  char *diags = NULL;
  struct berth_project *p = load_service(lines, &diags);
  assert_null(p);
  assert_contains(diags, want);
  free(diags);
}

static const struct berth_service *only(const struct berth_project *p) {
  assert_non_null(p);
  assert_int_equal(p->n_services, 1);
  return &p->services[0];
}

static void test_port_ranges(void **state) {
  refused("    ports: [\"65535:1-100\"]\n",
          "the host ports of \"65535:1-100\" would run from 65535 to 65634, past 65535");
  refused("    ports: [\"127.0.0.1:65500:1-100\"]\n", "would run from 65500 to 65599");
  refused("    ports: [\"1-65535\"]\n",
          "the container range \"1-65535\" holds 65535 ports; write a range of at most 1000");
  refused("    ports: [\"1-2000:1-2000\"]\n", "the container range \"1-2000\" holds 2000 ports");
  refused("    ports: [\"0-100:80\"]\n", "the host range \"0-100\" starts at 0; ranges start at 1");
  refused("    ports: [{target: 80, published: \"0-2000\"}]\n",
          "ports[0].published: the host range \"0-2000\" starts at 0");

  /* Just inside: the last port, a range of 1000, any free port, and a
   * host range to pick one port from (the Compose Specification's). */
  struct berth_project *p = load_service(
      "    ports: [\"65436:1-100\", \"2000-2999:3000-3999\", \"0:81\", \"8000-9000:80\"]\n", NULL);
  const struct berth_service *s = only(p);
  assert_int_equal(s->n_ports, 4);
  assert_int_equal(s->ports[0].host_start, 65436);
  assert_int_equal(s->ports[0].host_end, 65535);
  assert_int_equal(s->ports[1].host_end - s->ports[1].host_start + 1, 1000);
  assert_int_equal(s->ports[2].host_start, 0); /* 0: the engine picks */
  berth_project_free(p);
}

static void test_durations(void **state) {
  refused("    stop_grace_period: 25h\n",
          "\"25h\" is longer than 24h, the longest duration berth takes; write 24h or less");
  /* The one that overflowed int64 nanoseconds at up. */
  refused("    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 2562048h\n",
          "services.api.healthcheck.interval: \"2562048h\" is longer than 24h");
  struct berth_project *p = load_service("    stop_grace_period: 24h\n", NULL);
  assert_int_equal(only(p)->stop_grace_ms, 24LL * 3600 * 1000);
  berth_project_free(p);
}

static void test_cpus(void **state) {
  refused("    cpus: 1025\n", "\"1025\" is more than 1024 CPUs, the most berth gives a container");
  refused("    resources:\n      cpu: 1000000000000\n", "is more than 1024 CPUs");
  struct berth_project *p = load_service("    cpus: 1024\n", NULL);
  assert_int_equal(only(p)->cpu_millis, 1024 * 1000);
  berth_project_free(p);
}

/* A command string of text, YAML-quoted ('' needs no escape for these). */
static char *command_line(size_t words, size_t len) {
  char *cmd = malloc(words * (len + 1) + 64);
  assert_non_null(cmd);
  size_t n = (size_t)sprintf(cmd, "    command: '");
  for (size_t w = 0; w < words; w++) {
    memset(cmd + n, 'a' + (int)(w % 26), len);
    n += len;
    cmd[n++] = w + 1 < words ? ' ' : '\'';
  }
  strcpy(cmd + n, "\n");
  return cmd;
}

static void test_command_word_too_long(void **state) {
  /* One argument of 2 MiB was cut to 1 MiB without a word. */
  char *cmd = command_line(1, 2u << 20);
  refused(cmd, "services.api.command: an argument is longer than 1 MiB, the most berth takes in "
               "one; pass the data in a file instead");
  free(cmd);
}

static void test_long_command_of_short_words(void **state) {
  /* 1.2 MiB in words of 1000 bytes: every word kept whole. */
  char *cmd = command_line(1200, 1000);
  struct berth_project *p = load_service(cmd, NULL);
  free(cmd);
  const struct berth_service *s = only(p);
  assert_int_equal(s->command.n, 1200);
  assert_int_equal(strlen(s->command.v[1199]), 1000);
  assert_int_equal(s->command.v[1199][999], 'a' + 1199 % 26);
  berth_project_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_port_ranges),
      cmocka_unit_test(test_durations),
      cmocka_unit_test(test_cpus),
      cmocka_unit_test(test_command_word_too_long),
      cmocka_unit_test(test_long_command_of_short_words),
  };
  return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
