/* Containers against the real engine: create with every option berth
 * uses, then the lifecycle, logs, wait and the engine's own errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/buf.h"
#include "cleanup.h"
#include "harness.h"

static void test_create_full_spec(void **state) {
  berth_err err = NULL;
  _cleanup_free_ char *net = NULL;
  struct berth_docker_network_spec ns = {.name = it_name("net"), .labels = it.labels};
  it_ok(berth_docker_network_create(it.d, &ns, &net, &err), &err);
  _cleanup_json_ cJSON *vol = NULL;
  it_ok(berth_docker_volume_create(it.d, it_name("data"), it.labels, &vol, &err), &err);

  const char *cmd[] = {"sh", "-c", "echo started; exec sleep infinity", NULL};
  const char *entry[] = {"/usr/bin/env", NULL};
  const char *env[] = {"GREETING=hello", "EMPTY=", NULL};
  const char *aliases[] = {"db", "primary", NULL};
  const char *hc[] = {"CMD-SHELL", "test -e /proc/1", NULL};
  struct berth_docker_port ports[] = {{.container_port = 5432},
                                      {.container_port = 53, .proto = "udp"}};
  struct berth_docker_mount mounts[] = {
      {.type = BERTH_MOUNT_BIND, .source = "/etc", .target = "/host-etc", .read_only = true},
      {.type = BERTH_MOUNT_VOLUME, .source = it_name("data"), .target = "/data"},
      {.type = BERTH_MOUNT_TMPFS, .target = "/scratch", .tmpfs_size = 8 << 20},
  };
  struct berth_docker_healthcheck h = {
      .test = hc, .interval_ns = 200000000, .timeout_ns = 1000000000, .retries = 3};
  struct berth_docker_container_spec spec = {.name = it_name("full"),
                                             .image = it.base_image,
                                             .cmd = cmd,
                                             .entrypoint = entry,
                                             .env = env,
                                             .labels = it.labels,
                                             .ports = ports,
                                             .n_ports = 2,
                                             .mounts = mounts,
                                             .n_mounts = 3,
                                             .network = ns.name,
                                             .aliases = aliases,
                                             .healthcheck = &h,
                                             .hostname = "full-host",
                                             .working_dir = "/tmp",
                                             .stop_signal = "SIGTERM",
                                             .stop_timeout = 3,
                                             .init = true,
                                             .restart = "on-failure",
                                             .restart_max_retries = 2,
                                             .nano_cpus = 500000000,
                                             .memory = 64 << 20};
  _cleanup_free_ char *id = NULL;
  it_ok(berth_docker_container_create(it.d, &spec, &id, &err), &err);
  it_ok(berth_docker_container_start(it.d, id, &err), &err);

  _cleanup_json_ cJSON *info = NULL;
  it_ok(berth_docker_container_inspect(it.d, id, &info, &err), &err);
  assert_string_equal(it_json_str(info, "State", "Status", NULL), "running");
  assert_string_equal(it_json_str(info, "Config", "Hostname", NULL), "full-host");
  assert_string_equal(it_json_str(info, "Config", "WorkingDir", NULL), "/tmp");
  assert_true(cJSON_IsTrue(it_json_get(info, "HostConfig", "Init", NULL)));
  assert_string_equal(it_json_str(info, "HostConfig", "RestartPolicy", "Name", NULL), "on-failure");
  assert_int_equal(it_json_get(info, "HostConfig", "NanoCpus", NULL)->valuedouble, 500000000);
  assert_int_equal(it_json_get(info, "HostConfig", "Memory", NULL)->valuedouble, 64 << 20);
  const char *label = strchr(it.run_label, '=') + 1;
  assert_string_equal(it_json_str(info, "Config", "Labels", "berth.test", NULL), label);
  /* The published port binds to loopback with an engine-chosen port. */
  const cJSON *b =
      cJSON_GetArrayItem(it_json_get(info, "NetworkSettings", "Ports", "5432/tcp", NULL), 0);
  assert_non_null(b);
  assert_string_equal(it_json_str(b, "HostIp", NULL), "127.0.0.1");
  assert_true(atoi(it_json_str(b, "HostPort", NULL)) > 0);
  assert_non_null(it_json_get(info, "NetworkSettings", "Ports", "53/udp", NULL));
  const cJSON *ep = it_json_get(info, "NetworkSettings", "Networks", ns.name, NULL);
  assert_non_null(ep);
  bool has_alias = false;
  const cJSON *a;
  cJSON_ArrayForEach (a, cJSON_GetObjectItemCaseSensitive(ep, "Aliases"))
    has_alias |= !strcmp(cJSON_GetStringValue(a), "db");
  assert_true(has_alias);

  /* Inside: env, mounts (ro bind, volume, tmpfs) are what was asked. */
  _cleanup_free_ char *out = NULL;
  const char *check[] = {
      "sh", "-c",
      "echo $GREETING; test -r /host-etc/hostname && ! touch /host-etc/x 2>/dev/null"
      " && echo ro; echo v > /data/f && cat /data/f; grep -c ' /scratch tmpfs' /proc/mounts",
      NULL};
  assert_int_equal(it_exec(id, check, &out, NULL), 0);
  assert_string_equal(out, "hello\nro\nv\n1\n");

  /* The healthcheck runs: the engine reports healthy within a few
   * intervals. */
  const char *status = NULL;
  for (int i = 0; i < 100; i++) {
    cJSON_Delete(info);
    info = NULL;
    it_ok(berth_docker_container_inspect(it.d, id, &info, &err), &err);
    status = it_json_str(info, "State", "Health", "Status", NULL);
    if (status && !strcmp(status, "healthy"))
      break;
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
  }
  assert_string_equal(status, "healthy");
}

static void test_lifecycle(void **state) {
  berth_err err = NULL;
  _cleanup_free_ char *id = it_sleeper("life", NULL, NULL);
  /* Starting a running container is "already started", not an error. */
  assert_int_equal(berth_docker_container_start(it.d, id, &err), 1);

  const char *labels[] = {it.run_label, NULL};
  _cleanup_json_ cJSON *list = NULL;
  it_ok(berth_docker_container_list(it.d, labels, false, &list, &err), &err);
  bool found = false;
  const cJSON *c;
  cJSON_ArrayForEach (c, list)
    found |= !strcmp(it_json_str(c, "Id", NULL), id);
  assert_true(found);

  /* With init as PID 1, sleep gets SIGTERM and the stop is quick. */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(berth_docker_container_stop(it.d, id, 10, &err), 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_true(t1.tv_sec - t0.tv_sec < 5);
  assert_int_equal(berth_docker_container_stop(it.d, id, 10, &err), 1);

  _cleanup_json_ cJSON *info = NULL;
  it_ok(berth_docker_container_inspect(it.d, id, &info, &err), &err);
  assert_string_equal(it_json_str(info, "State", "Status", NULL), "exited");

  /* Stopped containers appear only with all=true. */
  cJSON_Delete(list);
  list = NULL;
  it_ok(berth_docker_container_list(it.d, labels, false, &list, &err), &err);
  cJSON_ArrayForEach (c, list)
    assert_string_not_equal(it_json_str(c, "Id", NULL), id);

  it_ok(berth_docker_container_restart(it.d, id, 5, &err), &err);
  cJSON_Delete(info);
  info = NULL;
  it_ok(berth_docker_container_inspect(it.d, id, &info, &err), &err);
  assert_string_equal(it_json_str(info, "State", "Status", NULL), "running");

  it_ok(berth_docker_container_kill(it.d, id, "SIGKILL", &err), &err);
  int status = 0;
  it_ok(berth_docker_container_wait(it.d, id, NULL, &status, &err), &err);
  assert_int_equal(status, 137);

  it_ok(berth_docker_container_remove(it.d, id, false, false, &err), &err);
  assert_true(berth_docker_container_inspect(it.d, id, &info, &err) < 0);
  assert_int_equal(berth_err_code(err), BERTH_E_NOT_FOUND);
  assert_int_equal(berth_err_status(err), 404);
  assert_non_null(strstr(berth_err_root_msg(err), "No such container"));
  berth_err_free(&err);
}

static void test_wait_exit_code(void **state) {
  berth_err err = NULL;
  const char *cmd[] = {"sh", "-c", "exit 3", NULL};
  struct berth_docker_container_spec spec = {
      .name = it_name("exit3"), .image = it.base_image, .cmd = cmd, .labels = it.labels};
  _cleanup_free_ char *id = NULL;
  it_ok(berth_docker_container_create(it.d, &spec, &id, &err), &err);
  it_ok(berth_docker_container_start(it.d, id, &err), &err);
  int status = -1;
  it_ok(berth_docker_container_wait(it.d, id, "not-running", &status, &err), &err);
  assert_int_equal(status, 3);
}

struct logs {
  struct berth_buf out, err;
  int frames;
};

static int on_log(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  struct logs *l = ud;
  l->frames++;
  berth_buf_add(s == BERTH_STDERR ? &l->err : &l->out, data, len);
  return 0;
}

/* Both streams; the pause lets the engine's log copier catch up before
 * the exit: on a loaded machine a TTY container's last output can
 * otherwise miss the log (an engine race, not ours). */
static const char both_streams[] = "for i in 1 2 3; do echo out$i; echo err$i >&2; done; sleep 0.5";

static void run_and_read_logs(bool tty, const char *script, const struct berth_docker_logs_opts *o,
                              struct logs *l) {
  berth_err err = NULL;
  const char *cmd[] = {"sh", "-c", script, NULL};
  static int n;
  char name[32];
  snprintf(name, sizeof(name), "logs-%d", n++);
  struct berth_docker_container_spec spec = {
      .name = it_name(name), .image = it.base_image, .cmd = cmd, .labels = it.labels, .tty = tty};
  _cleanup_free_ char *id = NULL;
  it_ok(berth_docker_container_create(it.d, &spec, &id, &err), &err);
  it_ok(berth_docker_container_start(it.d, id, &err), &err);
  int status;
  it_ok(berth_docker_container_wait(it.d, id, NULL, &status, &err), &err);
  *l = (struct logs){.out = BERTH_BUF_INIT(1 << 20), .err = BERTH_BUF_INIT(1 << 20)};
  it_ok(berth_docker_container_logs(it.d, id, o, on_log, l, &err), &err);
}

static void test_logs_demultiplexed(void **state) {
  struct logs l;
  struct berth_docker_logs_opts o = {.tail = -1};
  run_and_read_logs(false, both_streams, &o, &l);
  assert_non_null(l.out.data);
  assert_string_equal(l.out.data, "out1\nout2\nout3\n");
  assert_string_equal(l.err.data, "err1\nerr2\nerr3\n");
  berth_buf_release(&l.out);
  berth_buf_release(&l.err);
}

static void test_logs_tail_and_tty(void **state) {
  struct logs l;
  /* The engine applies tail before the stream filter, and the order of
   * lines across stdout and stderr is not fixed: tail one stream only. */
  struct berth_docker_logs_opts o = {.tail = 2, .stdout_ = true};
  run_and_read_logs(false, "for i in 1 2 3; do echo out$i; done; sleep 0.5", &o, &l);
  assert_non_null(l.out.data);
  assert_string_equal(l.out.data, "out2\nout3\n");
  assert_null(l.err.data);
  berth_buf_release(&l.out);
  /* A TTY container has one raw stream with both outputs, CRLF ends. */
  o = (struct berth_docker_logs_opts){.tail = -1};
  run_and_read_logs(true, both_streams, &o, &l);
  assert_non_null(l.out.data);
  assert_non_null(strstr(l.out.data, "out1\r\n"));
  assert_non_null(strstr(l.out.data, "err3\r\n"));
  assert_null(l.err.data);
  berth_buf_release(&l.out);
}

struct follow {
  struct berth_buf out;
};

static int on_follow(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  struct follow *f = ud;
  berth_buf_add(&f->out, data, len);
  return strstr(f->out.data, "tick3\n") != NULL; /* stop once seen */
}

static void test_logs_follow(void **state) {
  berth_err err = NULL;
  const char *cmd[] = {"sh", "-c", "for i in 1 2 3 4 5 6 7 8 9; do echo tick$i; sleep 0.2; done",
                       NULL};
  struct berth_docker_container_spec spec = {.name = it_name("follow"),
                                             .image = it.base_image,
                                             .cmd = cmd,
                                             .labels = it.labels,
                                             .init = true};
  _cleanup_free_ char *id = NULL;
  it_ok(berth_docker_container_create(it.d, &spec, &id, &err), &err);
  it_ok(berth_docker_container_start(it.d, id, &err), &err);
  struct follow f = {.out = BERTH_BUF_INIT(1 << 20)};
  struct berth_docker_logs_opts o = {.follow = true, .tail = -1};
  it_ok(berth_docker_container_logs(it.d, id, &o, on_follow, &f, &err), &err);
  assert_non_null(strstr(f.out.data, "tick1\ntick2\ntick3\n"));
  assert_null(strstr(f.out.data, "tick9"));
  berth_buf_release(&f.out);
}

static void test_engine_errors(void **state) {
  berth_err err = NULL;
  _cleanup_free_ char *id = it_sleeper("dup", NULL, NULL);
  assert_non_null(id);
  /* Same name again: the engine's conflict, with its message. */
  const char *cmd[] = {"true", NULL};
  struct berth_docker_container_spec spec = {
      .name = it_name("dup"), .image = it.base_image, .cmd = cmd, .labels = it.labels};
  assert_true(berth_docker_container_create(it.d, &spec, NULL, &err) < 0);
  assert_int_equal(berth_err_code(err), BERTH_E_CONFLICT);
  assert_int_equal(berth_err_status(err), 409);
  assert_non_null(strstr(berth_err_root_msg(err), "is already in use"));
  berth_err_free(&err);

  /* Missing image. */
  spec = (struct berth_docker_container_spec){
      .name = it_name("noimg"), .image = "berth-local/does-not-exist:1", .labels = it.labels};
  assert_true(berth_docker_container_create(it.d, &spec, NULL, &err) < 0);
  assert_int_equal(berth_err_code(err), BERTH_E_NOT_FOUND);
  assert_non_null(strstr(berth_err_root_msg(err), "No such image"));
  berth_err_free(&err);

  /* Two containers publishing the same host port: the second start fails
   * with the engine's "port is already allocated". */
  struct berth_docker_port p1 = {.container_port = 80};
  const char *sleep_cmd[] = {"sleep", "infinity", NULL};
  spec = (struct berth_docker_container_spec){.name = it_name("port1"),
                                              .image = it.base_image,
                                              .cmd = sleep_cmd,
                                              .labels = it.labels,
                                              .ports = &p1,
                                              .n_ports = 1,
                                              .init = true};
  _cleanup_free_ char *id1 = NULL, *id2 = NULL;
  it_ok(berth_docker_container_create(it.d, &spec, &id1, &err), &err);
  it_ok(berth_docker_container_start(it.d, id1, &err), &err);
  _cleanup_json_ cJSON *info = NULL;
  it_ok(berth_docker_container_inspect(it.d, id1, &info, &err), &err);
  const cJSON *b =
      cJSON_GetArrayItem(it_json_get(info, "NetworkSettings", "Ports", "80/tcp", NULL), 0);
  struct berth_docker_port p2 = {.container_port = 80,
                                 .host_port = (uint16_t)atoi(it_json_str(b, "HostPort", NULL))};
  spec.name = it_name("port2");
  spec.ports = &p2;
  it_ok(berth_docker_container_create(it.d, &spec, &id2, &err), &err);
  assert_true(berth_docker_container_start(it.d, id2, &err) < 0);
  assert_non_null(strstr(berth_err_root_msg(err), "already allocated"));
  assert_true(berth_err_status(err) >= 500);
  berth_err_free(&err);
}

int main(void) {
  it_init("containers");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create_full_spec),  cmocka_unit_test(test_lifecycle),
      cmocka_unit_test(test_wait_exit_code),    cmocka_unit_test(test_logs_demultiplexed),
      cmocka_unit_test(test_logs_tail_and_tty), cmocka_unit_test(test_logs_follow),
      cmocka_unit_test(test_engine_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
