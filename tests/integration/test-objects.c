/* Networks and volumes against the real engine. */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "harness.h"

static bool listed(const cJSON *list, const char *key, const char *value) {
  const cJSON *o;
  cJSON_ArrayForEach (o, list)
    if (!strcmp(it_json_str(o, key, NULL), value))
      return true;
  return false;
}

static void test_network_lifecycle_and_dns(void **state) {
  berth_err err = NULL;
  const char *name = it_name("net");
  struct berth_docker_network_spec s = {.name = name, .labels = it.labels};
  _cleanup_free_ char *id = NULL;
  it_ok(berth_docker_network_create(it.d, &s, &id, &err), &err);

  /* A second network of the same name is refused, not duplicated. */
  assert_true(berth_docker_network_create(it.d, &s, NULL, &err) < 0);
  assert_int_equal(berth_err_code(err), BERTH_E_CONFLICT);
  berth_err_free(&err);

  _cleanup_json_ cJSON *info = NULL, *list = NULL;
  it_ok(berth_docker_network_inspect(it.d, name, &info, &err), &err);
  assert_string_equal(it_json_str(info, "Id", NULL), id);
  assert_string_equal(it_json_str(info, "Driver", NULL), "bridge");
  const char *labels[] = {it.run_label, NULL};
  it_ok(berth_docker_network_list(it.d, labels, &list, &err), &err);
  assert_true(listed(list, "Name", name));

  /* Service names and aliases resolve by DNS on the network. */
  const char *aliases[] = {"postgres", NULL};
  _cleanup_free_ char *db = it_sleeper("db", name, aliases);
  _cleanup_free_ char *app = it_sleeper("app", name, NULL);
  const char *lookup[] = {"getent", "hosts", "postgres", NULL};
  _cleanup_free_ char *out = NULL;
  assert_int_equal(it_exec(app, lookup, &out, NULL), 0);
  assert_non_null(strstr(out, "postgres"));

  /* Connecting a container to a second network with another alias. */
  struct berth_docker_network_spec s2 = {.name = it_name("net2"), .labels = it.labels};
  it_ok(berth_docker_network_create(it.d, &s2, NULL, &err), &err);
  const char *aliases2[] = {"cache", NULL};
  it_ok(berth_docker_network_connect(it.d, s2.name, db, aliases2, &err), &err);
  it_ok(berth_docker_network_connect(it.d, s2.name, app, NULL, &err), &err);
  const char *lookup2[] = {"getent", "hosts", "cache", NULL};
  assert_int_equal(it_exec(app, lookup2, NULL, NULL), 0);

  /* In use: removing fails with the engine's message; after the
   * containers are gone it succeeds. */
  assert_true(berth_docker_network_remove(it.d, name, &err) < 0);
  assert_non_null(strstr(berth_err_root_msg(err), "active endpoints"));
  berth_err_free(&err);
  it_ok(berth_docker_container_remove(it.d, db, true, false, &err), &err);
  it_ok(berth_docker_container_remove(it.d, app, true, false, &err), &err);
  it_ok(berth_docker_network_remove(it.d, name, &err), &err);
  assert_true(berth_docker_network_inspect(it.d, name, &info, &err) < 0);
  assert_int_equal(berth_err_code(err), BERTH_E_NOT_FOUND);
  berth_err_free(&err);
}

static void test_volume_lifecycle_and_data(void **state) {
  berth_err err = NULL;
  const char *name = it_name("vol");
  _cleanup_json_ cJSON *created = NULL, *info = NULL, *list = NULL;
  it_ok(berth_docker_volume_create(it.d, name, it.labels, &created, &err), &err);
  assert_string_equal(it_json_str(created, "Name", NULL), name);
  it_ok(berth_docker_volume_inspect(it.d, name, &info, &err), &err);
  assert_string_equal(it_json_str(info, "Labels", "berth.owner", NULL), "tests");
  const char *labels[] = {it.run_label, NULL};
  it_ok(berth_docker_volume_list(it.d, labels, &list, &err), &err);
  assert_true(listed(cJSON_GetObjectItemCaseSensitive(list, "Volumes"), "Name", name));

  /* Data written by one container is there for the next. */
  const char *write_cmd[] = {"sh", "-c", "echo kept > /v/f", NULL};
  struct berth_docker_mount m = {.type = BERTH_MOUNT_VOLUME, .source = name, .target = "/v"};
  struct berth_docker_container_spec spec = {.name = it_name("writer"),
                                             .image = it.base_image,
                                             .cmd = write_cmd,
                                             .labels = it.labels,
                                             .mounts = &m,
                                             .n_mounts = 1};
  _cleanup_free_ char *w = NULL;
  int status = -1;
  it_ok(berth_docker_container_create(it.d, &spec, &w, &err), &err);
  it_ok(berth_docker_container_start(it.d, w, &err), &err);
  it_ok(berth_docker_container_wait(it.d, w, NULL, &status, &err), &err);
  assert_int_equal(status, 0);
  it_ok(berth_docker_container_remove(it.d, w, false, false, &err), &err);
  const char *read_cmd[] = {"cat", "/v/f", NULL};
  spec.name = it_name("reader2");
  spec.cmd = (const char *[]){"sleep", "infinity", NULL};
  spec.init = true;
  _cleanup_free_ char *rd = NULL;
  it_ok(berth_docker_container_create(it.d, &spec, &rd, &err), &err);
  it_ok(berth_docker_container_start(it.d, rd, &err), &err);
  _cleanup_free_ char *out = NULL;
  assert_int_equal(it_exec(rd, read_cmd, &out, NULL), 0);
  assert_string_equal(out, "kept\n");

  /* In use: refused unless forced... then removed. */
  assert_true(berth_docker_volume_remove(it.d, name, false, &err) < 0);
  assert_int_equal(berth_err_code(err), BERTH_E_CONFLICT);
  berth_err_free(&err);
  it_ok(berth_docker_container_remove(it.d, rd, true, false, &err), &err);
  it_ok(berth_docker_volume_remove(it.d, name, false, &err), &err);
  assert_true(berth_docker_volume_inspect(it.d, name, &info, &err) < 0);
  assert_int_equal(berth_err_code(err), BERTH_E_NOT_FOUND);
  berth_err_free(&err);
}

int main(void) {
  it_init("objects");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_network_lifecycle_and_dns),
      cmocka_unit_test(test_volume_lifecycle_and_data),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
