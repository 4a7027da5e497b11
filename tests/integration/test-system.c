/* System endpoints and the events stream against the real engine. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "harness.h"

static void test_ping_version_info(void **state) {
  berth_err err = NULL;
  it_ok(berth_docker_ping(it.d, &err), &err);
  _cleanup_json_ cJSON *v = NULL, *info = NULL;
  it_ok(berth_docker_version(it.d, &v, &err), &err);
  const char *engine_api = it_json_str(v, "ApiVersion", NULL);
  assert_non_null(engine_api);
  assert_non_null(it_json_str(v, "Version", NULL));
  const char *api = NULL;
  it_ok(berth_docker_api_version(it.d, &api, &err), &err);
  /* Negotiated: never newer than the engine, never older than 1.41. */
  assert_true(berth_docker_version_cmp(api, engine_api) <= 0);
  assert_true(berth_docker_version_cmp(api, BERTH_DOCKER_API_MIN) >= 0);
  assert_true(berth_docker_version_cmp(api, BERTH_DOCKER_API_MAX) <= 0);
  it_ok(berth_docker_info(it.d, &info, &err), &err);
  assert_non_null(it_json_str(info, "Driver", NULL));
  assert_true(cJSON_IsNumber(it_json_get(info, "Containers", NULL)));
}

struct seen {
  char actions[16][32];
  int n;
  const char *stop_on;
};

static int on_event(const cJSON *ev, void *ud) {
  struct seen *s = ud;
  const char *action = it_json_str(ev, "Action", NULL);
  const char *label = it_json_str(ev, "Actor", "Attributes", "berth.test", NULL);
  /* The filter must have kept everything else out. */
  assert_non_null(label);
  assert_string_equal(label, strchr(it.run_label, '=') + 1);
  if (action && s->n < 16)
    snprintf(s->actions[s->n++], sizeof(s->actions[0]), "%s", action);
  return s->stop_on && action && !strcmp(action, s->stop_on);
}

static bool saw(const struct seen *s, const char *action) {
  for (int i = 0; i < s->n; i++)
    if (!strcmp(s->actions[i], action))
      return true;
  return false;
}

static void run_short_container(const char *name) {
  berth_err err = NULL;
  const char *cmd[] = {"true", NULL};
  struct berth_docker_container_spec spec = {
      .name = it_name(name), .image = it.base_image, .cmd = cmd, .labels = it.labels};
  _cleanup_free_ char *id = NULL;
  int status;
  it_ok(berth_docker_container_create(it.d, &spec, &id, &err), &err);
  it_ok(berth_docker_container_start(it.d, id, &err), &err);
  it_ok(berth_docker_container_wait(it.d, id, NULL, &status, &err), &err);
  it_ok(berth_docker_container_remove(it.d, id, false, false, &err), &err);
}

static void test_events_window(void **state) {
  berth_err err = NULL;
  int64_t since = time(NULL) - 1;
  run_short_container("ev1");
  /* Unrelated container: must be filtered out by the label filter. */
  const char *cmd[] = {"true", NULL};
  const char *other[] = {"berth.test=someone-else", NULL};
  struct berth_docker_container_spec spec = {
      .name = it_name("ev-other"), .image = it.base_image, .cmd = cmd, .labels = other};
  _cleanup_free_ char *oid = NULL;
  it_ok(berth_docker_container_create(it.d, &spec, &oid, &err), &err);
  it_ok(berth_docker_container_remove(it.d, oid, true, false, &err), &err);

  const char *labels[] = {it.run_label, NULL};
  const char *types[] = {"container", NULL};
  struct berth_docker_events_opts o = {
      .labels = labels, .types = types, .since = since, .until = time(NULL) + 1};
  struct seen s = {0};
  it_ok(berth_docker_events(it.d, &o, on_event, &s, &err), &err);
  assert_true(saw(&s, "create"));
  assert_true(saw(&s, "start"));
  assert_true(saw(&s, "die"));
  assert_true(saw(&s, "destroy"));
}

static void *start_later(void *arg) {
  usleep(300 * 1000);
  struct it *saved = arg;
  (void)saved;
  /* A client of its own: one berth_docker per thread. */
  struct berth_docker *d = NULL;
  berth_err err = NULL;
  if (berth_docker_open(&d, NULL, &err) < 0)
    return NULL;
  const char *cmd[] = {"true", NULL};
  struct berth_docker_container_spec spec = {
      .name = it_name("ev-live"), .image = it.base_image, .cmd = cmd, .labels = it.labels};
  char *id = NULL;
  if (berth_docker_container_create(d, &spec, &id, &err) >= 0)
    berth_docker_container_start(d, id, &err);
  berth_err_free(&err);
  free(id);
  berth_docker_close(d);
  return NULL;
}

static void test_events_live_stream(void **state) {
  berth_err err = NULL;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, start_later, &it), 0);
  const char *labels[] = {it.run_label, NULL};
  struct berth_docker_events_opts o = {.labels = labels};
  struct seen s = {.stop_on = "start"};
  it_ok(berth_docker_events(it.d, &o, on_event, &s, &err), &err);
  pthread_join(t, NULL);
  assert_true(saw(&s, "create"));
  assert_string_equal(s.actions[s.n - 1], "start");
  /* The client stays usable after a stream was stopped midway. */
  it_ok(berth_docker_ping(it.d, &err), &err);
}

int main(void) {
  it_init("system");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ping_version_info),
      cmocka_unit_test(test_events_window),
      cmocka_unit_test(test_events_live_stream),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
