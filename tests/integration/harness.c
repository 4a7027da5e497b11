#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "berth/buf.h"
#include "berth/images.h"
#include "cleanup.h"
#include "harness.h"

struct it it;

void it_init(const char *suite) {
  _cleanup_err_ berth_err err = NULL;
  bool ci = getenv("CI") && *getenv("CI");
  snprintf(it.run_label, sizeof(it.run_label), "berth.test=it-%s-%d-%lld", suite, (int)getpid(),
           (long long)time(NULL));
  snprintf(it.prefix, sizeof(it.prefix), "berth-it-%s-%d-", suite, (int)getpid());
  it.labels[0] = it.run_label;
  it.labels[1] = "berth.owner=tests";
  it.labels[2] = NULL;
  if (berth_docker_open(&it.d, NULL, &err) < 0 || berth_docker_ping(it.d, &err) < 0) {
    _cleanup_free_ char *msg = berth_err_string(err);
    fprintf(stderr, "%s: no Docker engine: %s\n", suite, msg ? msg : "");
    /* A missing engine never passes CI. */
    exit(ci ? 1 : 77);
  }
  struct berth_image_refs refs;
  if (berth_images_load(&refs, &err) < 0) {
    fprintf(stderr, "%s: %s\n", suite, berth_err_root_msg(err));
    exit(1);
  }
  snprintf(it.base_image, sizeof(it.base_image), "%s", berth_images_get(&refs, "BERTH_BASE_IMAGE"));
  berth_images_release(&refs);
  int present = berth_docker_image_exists(it.d, it.base_image, &err);
  if (present != 1) {
    fprintf(stderr, "%s: the image %s is missing; build it with tests/images/build.sh\n", suite,
            it.base_image);
    exit(ci ? 1 : 77);
  }
  atexit(it_cleanup);
}

static void remove_all(const char *what, cJSON *list, const char *idkey) {
  const cJSON *item;
  cJSON_ArrayForEach (item, list) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, idkey));
    if (!id)
      continue;
    berth_err err = NULL;
    int r = 0;
    if (!strcmp(what, "container"))
      r = berth_docker_container_remove(it.d, id, true, true, &err);
    else if (!strcmp(what, "network"))
      r = berth_docker_network_remove(it.d, id, &err);
    else if (!strcmp(what, "volume"))
      r = berth_docker_volume_remove(it.d, id, true, &err);
    else
      r = berth_docker_image_remove(it.d, id, true, &err);
    if (r < 0 && berth_err_code(err) != BERTH_E_NOT_FOUND)
      fprintf(stderr, "cleanup: %s %s: %s\n", what, id, berth_err_root_msg(err));
    berth_err_free(&err);
  }
}

void it_cleanup(void) {
  if (!it.d)
    return;
  const char *labels[] = {it.run_label, NULL};
  berth_err err = NULL;
  cJSON *list = NULL;
  if (berth_docker_container_list(it.d, labels, true, &list, &err) >= 0)
    remove_all("container", list, "Id");
  cJSON_Delete(list);
  list = NULL;
  if (berth_docker_network_list(it.d, labels, &list, &err) >= 0)
    remove_all("network", list, "Id");
  cJSON_Delete(list);
  list = NULL;
  if (berth_docker_volume_list(it.d, labels, &list, &err) >= 0)
    remove_all("volume", cJSON_GetObjectItemCaseSensitive(list, "Volumes"), "Name");
  cJSON_Delete(list);
  list = NULL;
  if (berth_docker_image_list(it.d, labels, &list, &err) >= 0)
    remove_all("image", list, "Id");
  cJSON_Delete(list);
  berth_err_free(&err);
  it.d = berth_docker_close(it.d);
}

void it_check(int r, berth_err *err, const char *file, int line) {
  if (r >= 0)
    return;
  _cleanup_free_ char *msg = berth_err_string(*err);
  berth_err_free(err);
  print_error("%s\n", msg ? msg : "out of memory");
  _fail(file, line);
}

const char *it_name(const char *name) {
  static char bufs[8][160];
  static int slot;
  char *b = bufs[slot++ % 8];
  snprintf(b, sizeof(bufs[0]), "%s%s", it.prefix, name);
  return b;
}

char *it_sleeper(const char *name, const char *network, const char *const *aliases) {
  const char *cmd[] = {"sleep", "infinity", NULL};
  struct berth_docker_container_spec spec = {.name = it_name(name),
                                             .image = it.base_image,
                                             .cmd = cmd,
                                             .labels = it.labels,
                                             .init = true,
                                             .network = network,
                                             .aliases = aliases};
  char *id = NULL;
  berth_err err = NULL;
  it_ok(berth_docker_container_create(it.d, &spec, &id, &err), &err);
  it_ok(berth_docker_container_start(it.d, id, &err), &err);
  return id;
}

struct collect {
  struct berth_buf out, err;
};

static int collect(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  struct collect *c = ud;
  return berth_buf_add(s == BERTH_STDERR ? &c->err : &c->out, data, len) < 0;
}

int it_exec(const char *id, const char *const *cmd, char **ret_out, char **ret_err) {
  struct collect c = {.out = BERTH_BUF_INIT(64 << 20), .err = BERTH_BUF_INIT(64 << 20)};
  struct berth_docker_exec_opts o = {.cmd = cmd, .stdin_fd = -1};
  int code = -1;
  berth_err err = NULL;
  it_ok(berth_docker_exec(it.d, id, &o, collect, &c, &code, &err), &err);
  if (ret_out)
    *ret_out = berth_buf_detach(&c.out);
  if (ret_err)
    *ret_err = berth_buf_detach(&c.err);
  berth_buf_release(&c.out);
  berth_buf_release(&c.err);
  return code;
}

static int collect_all(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  return berth_buf_add(ud, data, len) < 0;
}

char *it_logs(const char *id) {
  struct berth_buf out = BERTH_BUF_INIT(64 << 20);
  struct berth_docker_logs_opts o = {.tail = -1};
  berth_err err = NULL;
  it_ok(berth_docker_container_logs(it.d, id, &o, collect_all, &out, &err), &err);
  return berth_buf_detach(&out);
}

static const cJSON *json_getv(const cJSON *o, va_list ap) {
  const char *key;
  while (o && (key = va_arg(ap, const char *)))
    o = cJSON_GetObjectItemCaseSensitive(o, key);
  return o;
}

const cJSON *it_json_get(const cJSON *o, ...) {
  va_list ap;
  va_start(ap, o);
  const cJSON *r = json_getv(o, ap);
  va_end(ap);
  return r;
}

const char *it_json_str(const cJSON *o, ...) {
  va_list ap;
  va_start(ap, o);
  const cJSON *r = json_getv(o, ap);
  va_end(ap);
  return cJSON_GetStringValue(r);
}
