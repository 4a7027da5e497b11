/* core/docker/containers.c: the body of POST /containers/create, checked
 * field by field against what the Docker Engine API v1.41 reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "docker-internal.h"

/* ---- JSON access by path: "HostConfig.PortBindings.5432/tcp.0.HostIp" ---- */

static const cJSON *at(const cJSON *j, const char *path) {
  char *copy = strdup(path);
  assert_non_null(copy);
  char *save = NULL;
  for (char *k = strtok_r(copy, ".", &save); k && j; k = strtok_r(NULL, ".", &save)) {
    if (cJSON_IsArray(j)) {
      char *end;
      long i = strtol(k, &end, 10);
      j = *end ? NULL : cJSON_GetArrayItem(j, (int)i);
    } else {
      j = cJSON_GetObjectItemCaseSensitive(j, k);
    }
  }
  free(copy);
  return j;
}

static void assert_str_at(const cJSON *j, const char *path, const char *want) {
  const cJSON *v = at(j, path);
  if (!cJSON_IsString(v))
    fail_msg("%s: not a string", path);
  if (strcmp(v->valuestring, want) != 0)
    fail_msg("%s: \"%s\" != \"%s\"", path, v->valuestring, want);
}

static void assert_num_at(const cJSON *j, const char *path, double want) {
  const cJSON *v = at(j, path);
  if (!cJSON_IsNumber(v))
    fail_msg("%s: not a number", path);
  if (v->valuedouble != want)
    fail_msg("%s: %.0f != %.0f", path, v->valuedouble, want);
}

static void assert_bool_at(const cJSON *j, const char *path, bool want) {
  const cJSON *v = at(j, path);
  if (!cJSON_IsBool(v))
    fail_msg("%s: not a boolean", path);
  if (cJSON_IsTrue(v) != want)
    fail_msg("%s: %s != %s", path, cJSON_IsTrue(v) ? "true" : "false", want ? "true" : "false");
}

static void assert_json_at(const cJSON *j, const char *path, const char *want) {
  const cJSON *v = at(j, path);
  if (!v)
    fail_msg("%s: missing", path);
  char *s = cJSON_PrintUnformatted(v);
  if (strcmp(s, want) != 0)
    fail_msg("%s: %s != %s", path, s, want);
  free(s);
}

static void assert_absent(const cJSON *j, const char *path) {
  if (at(j, path))
    fail_msg("%s: present but should not be", path);
}

/* ---- a complete spec ---- */

static const char *const env[] = {"POSTGRES_PASSWORD=secret", "PGDATA=/var/lib/postgresql/data",
                                  "EMPTY=", NULL};
static const char *const cmd[] = {"postgres", "-c", "fsync=off", NULL};
static const char *const entrypoint[] = {"/usr/local/bin/docker-entrypoint.sh", NULL};
static const char *const labels[] = {"berth.project=demo", "berth.service=db",
                                     "berth.config-hash=3f2a", NULL};
static const char *const aliases[] = {"db", "postgres", NULL};
static const char *const hc_test[] = {"CMD-SHELL", "pg_isready -U postgres", NULL};

static const struct berth_docker_port ports[] = {
    {.container_port = 5432, .host_port = 15432}, /* loopback by default */
    {.container_port = 8080, .host_port = 8080, .host_ip = "0.0.0.0"},
    {.container_port = 53, .host_port = 1053, .proto = "udp"},
    {.container_port = 9000, .host_port = 0}, /* the engine picks */
    {.container_port = 80, .host_port = 8081, .proto = "tcp"},
    {.container_port = 80, .host_port = 8082, .host_ip = "::1"}, /* same port twice */
};

static const struct berth_docker_mount mounts[] = {
    {.type = BERTH_MOUNT_BIND,
     .source = "/home/u/app/src",
     .target = "/app/src",
     .read_only = true},
    {.type = BERTH_MOUNT_VOLUME, .source = "demo_pgdata", .target = "/var/lib/postgresql/data"},
    {.type = BERTH_MOUNT_TMPFS, .target = "/tmp", .tmpfs_size = 64 << 20},
    {.type = BERTH_MOUNT_TMPFS, .source = "ignored", .target = "/run"},
};

static const struct berth_docker_healthcheck hc = {
    .test = hc_test,
    .interval_ns = 2000000000, /* 2s */
    .timeout_ns = 5000000000,  /* 5s: above 2^32 */
    .start_period_ns = 30000000000,
    .retries = 15,
};

static struct berth_docker_container_spec full_spec(void) {
  return (struct berth_docker_container_spec){
      .name = "demo-db-1",
      .image = "berth-local/postgres:15",
      .cmd = cmd,
      .entrypoint = entrypoint,
      .env = env,
      .labels = labels,
      .ports = ports,
      .n_ports = sizeof(ports) / sizeof(*ports),
      .mounts = mounts,
      .n_mounts = sizeof(mounts) / sizeof(*mounts),
      .network = "demo_default",
      .aliases = aliases,
      .healthcheck = &hc,
      .hostname = "db",
      .user = "999:999",
      .working_dir = "/var/lib/postgresql",
      .stop_signal = "SIGINT",
      .stop_timeout = 20,
      .init = true,
      .tty = true,
      .open_stdin = true,
      .restart = "on-failure",
      .restart_max_retries = 5,
      .nano_cpus = 500000000,
      .memory = INT64_C(3) << 30, /* 3 GiB: beyond 32 bits */
  };
}

static cJSON *body_of(const struct berth_docker_container_spec *s) {
  cJSON *b = NULL;
  berth_err err = NULL;
  int r = berth_docker_container_body(s, &b, &err);
  if (r < 0)
    fail_msg("container_body failed: %s", berth_err_root_msg(err));
  assert_null(err);
  assert_non_null(b);
  return b;
}

static void test_config_fields(void **state) {
  struct berth_docker_container_spec s = full_spec();
  cJSON *b = body_of(&s);
  assert_str_at(b, "Image", "berth-local/postgres:15");
  assert_json_at(b, "Cmd", "[\"postgres\",\"-c\",\"fsync=off\"]");
  assert_json_at(b, "Entrypoint", "[\"/usr/local/bin/docker-entrypoint.sh\"]");
  assert_json_at(b, "Env",
                 "[\"POSTGRES_PASSWORD=secret\",\"PGDATA=/var/lib/postgresql/data\",\"EMPTY=\"]");
  assert_json_at(b, "Labels",
                 "{\"berth.project\":\"demo\",\"berth.service\":\"db\","
                 "\"berth.config-hash\":\"3f2a\"}");
  assert_str_at(b, "Hostname", "db");
  assert_str_at(b, "User", "999:999");
  assert_str_at(b, "WorkingDir", "/var/lib/postgresql");
  assert_str_at(b, "StopSignal", "SIGINT");
  assert_num_at(b, "StopTimeout", 20);
  assert_bool_at(b, "Tty", true);
  assert_bool_at(b, "OpenStdin", true);
  /* The name goes in the query string, not the body. */
  assert_absent(b, "Name");
  assert_absent(b, "name");
  cJSON_Delete(b);
}

static void test_ports(void **state) {
  struct berth_docker_container_spec s = full_spec();
  cJSON *b = body_of(&s);
  /* ExposedPorts: {"5432/tcp": {}, ...}, one key per container port. */
  const cJSON *exposed = at(b, "ExposedPorts");
  assert_true(cJSON_IsObject(exposed));
  assert_int_equal(cJSON_GetArraySize(exposed), 5);
  assert_json_at(exposed, "5432/tcp", "{}");
  assert_json_at(exposed, "8080/tcp", "{}");
  assert_json_at(exposed, "53/udp", "{}");
  assert_json_at(exposed, "9000/tcp", "{}");
  assert_json_at(exposed, "80/tcp", "{}");
  assert_absent(exposed, "53/tcp");

  const cJSON *pb = at(b, "HostConfig.PortBindings");
  assert_true(cJSON_IsObject(pb));
  assert_int_equal(cJSON_GetArraySize(pb), 5);
  assert_json_at(b, "HostConfig.PortBindings.5432/tcp",
                 "[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"15432\"}]");
  assert_str_at(b, "HostConfig.PortBindings.5432/tcp.0.HostIp", "127.0.0.1");
  assert_str_at(b, "HostConfig.PortBindings.5432/tcp.0.HostPort", "15432");
  assert_json_at(b, "HostConfig.PortBindings.8080/tcp",
                 "[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8080\"}]");
  assert_json_at(b, "HostConfig.PortBindings.53/udp",
                 "[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"1053\"}]");
  /* HostPort "" lets the engine pick a free port. */
  assert_json_at(b, "HostConfig.PortBindings.9000/tcp",
                 "[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"\"}]");
  /* Two bindings of one container port share one list. */
  assert_json_at(b, "HostConfig.PortBindings.80/tcp",
                 "[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"8081\"},"
                 "{\"HostIp\":\"::1\",\"HostPort\":\"8082\"}]");
  cJSON_Delete(b);
}

static void test_port_extremes(void **state) {
  static const struct berth_docker_port p[] = {
      {.container_port = 65535, .host_port = 65535},
      {.container_port = 1, .host_port = 1, .proto = "sctp"},
  };
  struct berth_docker_container_spec s = {.image = "x", .ports = p, .n_ports = 2};
  cJSON *b = body_of(&s);
  assert_json_at(b, "HostConfig.PortBindings.65535/tcp",
                 "[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"65535\"}]");
  assert_json_at(b, "ExposedPorts.1/sctp", "{}");
  cJSON_Delete(b);
}

static void test_mounts(void **state) {
  struct berth_docker_container_spec s = full_spec();
  cJSON *b = body_of(&s);
  const cJSON *m = at(b, "HostConfig.Mounts");
  assert_true(cJSON_IsArray(m));
  assert_int_equal(cJSON_GetArraySize(m), 4);

  assert_str_at(m, "0.Type", "bind");
  assert_str_at(m, "0.Source", "/home/u/app/src");
  assert_str_at(m, "0.Target", "/app/src");
  assert_bool_at(m, "0.ReadOnly", true);
  assert_absent(m, "0.TmpfsOptions");

  assert_str_at(m, "1.Type", "volume");
  assert_str_at(m, "1.Source", "demo_pgdata");
  assert_str_at(m, "1.Target", "/var/lib/postgresql/data");
  assert_bool_at(m, "1.ReadOnly", false);

  assert_str_at(m, "2.Type", "tmpfs");
  assert_str_at(m, "2.Target", "/tmp");
  assert_absent(m, "2.Source");
  assert_num_at(m, "2.TmpfsOptions.SizeBytes", 64 << 20);

  /* tmpfs has no source, even when one was given; no size = engine default. */
  assert_str_at(m, "3.Type", "tmpfs");
  assert_absent(m, "3.Source");
  assert_absent(m, "3.TmpfsOptions");

  /* Mounts, not the legacy Binds/Volumes fields. */
  assert_absent(b, "HostConfig.Binds");
  assert_absent(b, "Volumes");
  cJSON_Delete(b);
}

static void test_network(void **state) {
  struct berth_docker_container_spec s = full_spec();
  cJSON *b = body_of(&s);
  assert_str_at(b, "HostConfig.NetworkMode", "demo_default");
  const cJSON *eps = at(b, "NetworkingConfig.EndpointsConfig");
  assert_true(cJSON_IsObject(eps));
  assert_int_equal(cJSON_GetArraySize(eps), 1);
  assert_json_at(eps, "demo_default", "{\"Aliases\":[\"db\",\"postgres\"]}");
  cJSON_Delete(b);
}

static void test_network_without_aliases(void **state) {
  struct berth_docker_container_spec s = {.image = "x", .network = "n1"};
  cJSON *b = body_of(&s);
  assert_json_at(b, "NetworkingConfig", "{\"EndpointsConfig\":{\"n1\":{}}}");
  assert_str_at(b, "HostConfig.NetworkMode", "n1");
  cJSON_Delete(b);
}

static void test_healthcheck(void **state) {
  struct berth_docker_container_spec s = full_spec();
  cJSON *b = body_of(&s);
  assert_json_at(b, "Healthcheck.Test", "[\"CMD-SHELL\",\"pg_isready -U postgres\"]");
  /* Durations in nanoseconds. */
  assert_num_at(b, "Healthcheck.Interval", 2e9);
  assert_num_at(b, "Healthcheck.Timeout", 5e9);
  assert_num_at(b, "Healthcheck.StartPeriod", 30e9);
  assert_num_at(b, "Healthcheck.Retries", 15);
  assert_absent(b, "HostConfig.Healthcheck");
  /* Printed as integers, the way the engine's Go decoder wants int64s. */
  char *text = cJSON_PrintUnformatted(at(b, "Healthcheck"));
  assert_non_null(strstr(text, "\"Timeout\":5000000000"));
  assert_non_null(strstr(text, "\"StartPeriod\":30000000000"));
  free(text);
  cJSON_Delete(b);
}

static void test_healthcheck_none(void **state) {
  static const char *const none[] = {"NONE", NULL};
  struct berth_docker_healthcheck h = {.test = none};
  struct berth_docker_container_spec s = {.image = "x", .healthcheck = &h};
  cJSON *b = body_of(&s);
  assert_json_at(b, "Healthcheck.Test", "[\"NONE\"]");
  cJSON_Delete(b);
}

static void test_host_config(void **state) {
  struct berth_docker_container_spec s = full_spec();
  cJSON *b = body_of(&s);
  assert_bool_at(b, "HostConfig.Init", true);
  assert_json_at(b, "HostConfig.RestartPolicy",
                 "{\"Name\":\"on-failure\",\"MaximumRetryCount\":5}");
  assert_num_at(b, "HostConfig.NanoCpus", 500000000);
  assert_num_at(b, "HostConfig.Memory", 3221225472.0);
  char *text = cJSON_PrintUnformatted(at(b, "HostConfig"));
  assert_non_null(strstr(text, "\"Memory\":3221225472"));
  assert_non_null(strstr(text, "\"NanoCpus\":500000000"));
  free(text);
  /* These belong to HostConfig, not to the top level. */
  assert_absent(b, "Init");
  assert_absent(b, "RestartPolicy");
  assert_absent(b, "Memory");
  assert_absent(b, "PortBindings");
  assert_absent(b, "Mounts");
  cJSON_Delete(b);
}

static void test_restart_policies(void **state) {
  static const char *const names[] = {"no", "always", "unless-stopped"};
  for (size_t i = 0; i < 3; i++) {
    struct berth_docker_container_spec s = {
        .image = "x", .restart = names[i], .restart_max_retries = 3};
    cJSON *b = body_of(&s);
    assert_str_at(b, "HostConfig.RestartPolicy.Name", names[i]);
    /* Only on-failure takes a retry count; the engine rejects it otherwise. */
    assert_absent(b, "HostConfig.RestartPolicy.MaximumRetryCount");
    cJSON_Delete(b);
  }
}

static void test_minimal_spec(void **state) {
  struct berth_docker_container_spec s = {.image = "busybox"};
  cJSON *b = body_of(&s);
  assert_str_at(b, "Image", "busybox");
  /* Unset means the image's or engine's default: the fields are absent. */
  static const char *const absent[] = {"Cmd",
                                       "Entrypoint",
                                       "Env",
                                       "Hostname",
                                       "User",
                                       "WorkingDir",
                                       "StopSignal",
                                       "StopTimeout",
                                       "Tty",
                                       "OpenStdin",
                                       "ExposedPorts",
                                       "Healthcheck",
                                       "NetworkingConfig",
                                       "HostConfig.PortBindings",
                                       "HostConfig.Mounts",
                                       "HostConfig.NetworkMode",
                                       "HostConfig.Init",
                                       "HostConfig.RestartPolicy",
                                       "HostConfig.NanoCpus",
                                       "HostConfig.Memory"};
  for (size_t i = 0; i < sizeof(absent) / sizeof(*absent); i++)
    assert_absent(b, absent[i]);
  assert_true(cJSON_IsObject(at(b, "HostConfig")));
  /* Labels are always an object, so "no labels" is explicit. */
  assert_json_at(b, "Labels", "{}");
  cJSON_Delete(b);
}

static void test_empty_cmd_is_kept(void **state) {
  /* An empty list is not the same as no list: it overrides the image's. */
  static const char *const empty[] = {NULL};
  struct berth_docker_container_spec s = {.image = "x", .cmd = empty, .entrypoint = empty};
  cJSON *b = body_of(&s);
  assert_json_at(b, "Cmd", "[]");
  assert_json_at(b, "Entrypoint", "[]");
  cJSON_Delete(b);
}

static void test_missing_image(void **state) {
  struct berth_docker_container_spec s = full_spec();
  s.image = NULL;
  cJSON *b = NULL;
  berth_err err = NULL;
  int r = berth_docker_container_body(&s, &b, &err);
  assert_int_equal(r, -BERTH_E_INVALID);
  assert_int_equal(berth_err_code(err), BERTH_E_INVALID);
  assert_null(b);
  assert_non_null(strstr(berth_err_root_msg(err), "image"));
  berth_err_free(&err);
}

/* A mount without a target is a mistake in the spec, not a lack of memory:
 * the error must say so. */
static void test_mount_without_target(void **state) {
  static const struct berth_docker_mount m[] = {{.type = BERTH_MOUNT_VOLUME, .source = "data"}};
  struct berth_docker_container_spec s = {.image = "x", .mounts = m, .n_mounts = 1};
  cJSON *b = NULL;
  berth_err err = NULL;
  int r = berth_docker_container_body(&s, &b, &err);
  assert_null(b);
  assert_int_equal(r, -BERTH_E_INVALID);
  assert_int_equal(berth_err_code(err), BERTH_E_INVALID);
  berth_err_free(&err);
}

static void test_body_is_valid_json_text(void **state) {
  struct berth_docker_container_spec s = full_spec();
  cJSON *b = body_of(&s);
  char *text = cJSON_PrintUnformatted(b);
  cJSON *again = cJSON_Parse(text);
  assert_non_null(again);
  assert_true(cJSON_Compare(b, again, true));
  cJSON_Delete(again);
  free(text);
  cJSON_Delete(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_fields),
      cmocka_unit_test(test_ports),
      cmocka_unit_test(test_port_extremes),
      cmocka_unit_test(test_mounts),
      cmocka_unit_test(test_network),
      cmocka_unit_test(test_network_without_aliases),
      cmocka_unit_test(test_healthcheck),
      cmocka_unit_test(test_healthcheck_none),
      cmocka_unit_test(test_host_config),
      cmocka_unit_test(test_restart_policies),
      cmocka_unit_test(test_minimal_spec),
      cmocka_unit_test(test_empty_cmd_is_kept),
      cmocka_unit_test(test_missing_image),
      cmocka_unit_test(test_mount_without_target),
      cmocka_unit_test(test_body_is_valid_json_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
