/* berth doctor: is this machine ready to run stacks? */
#include <stdio.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/images.h"
#include "cmd.h"
#include "docker.h"

struct report {
  cJSON *root;     /* the --json document */
  cJSON *problems; /* [{check, message, fix}] */
  const struct berth_globals *g;
};

static void line(const struct report *r, bool ok, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void line(const struct report *r, bool ok, const char *label, const char *fmt, ...) {
  if (r->g->json)
    return;
  printf("%s%s%s %-16s ", berth_sgr(r->g, ok ? "\033[32m" : "\033[31m"), ok ? "ok  " : "FAIL",
         berth_sgr(r->g, "\033[0m"), label);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

static void problem(struct report *r, const char *check, const char *message, const char *fix) {
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "check", check);
  cJSON_AddStringToObject(p, "message", message);
  cJSON_AddStringToObject(p, "fix", fix);
  cJSON_AddItemToArray(r->problems, p);
  if (!r->g->json)
    printf("     %-16s fix: %s\n", "", fix);
}

static const char *str(const cJSON *o, const char *key) {
  const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
  return s ? s : "";
}

static void check_engine(struct report *r, struct berth_docker *d, bool *ret_ok) {
  cJSON *engine = cJSON_AddObjectToObject(r->root, "engine");
  cJSON_AddStringToObject(engine, "endpoint", berth_docker_endpoint(d));
  _cleanup_err_ berth_err err = NULL;
  _cleanup_json_ cJSON *version = NULL, *info = NULL;
  const char *api = NULL;
  bool ok = berth_docker_ping(d, &err) >= 0;
  cJSON_AddBoolToObject(engine, "reachable", ok);
  if (!ok) {
    line(r, false, "engine", "%s", berth_err_root_msg(err));
    problem(r, "engine", berth_err_root_msg(err),
            "start the engine (sudo systemctl start docker, or sudo dockerd &) or set "
            "DOCKER_HOST=unix:///path/to/docker.sock");
    *ret_ok = false;
    return;
  }
  line(r, true, "engine", "reachable at %s", berth_docker_endpoint(d));
  if (berth_docker_version(d, &version, &err) < 0 || berth_docker_api_version(d, &api, &err) < 0) {
    _cleanup_free_ char *msg = berth_err_string(err);
    line(r, false, "api version", "%s", msg ? msg : "");
    problem(r, "api version", msg ? msg : "", "upgrade the Docker engine to 20.10 or newer");
    *ret_ok = false;
    return;
  }
  cJSON_AddStringToObject(engine, "version", str(version, "Version"));
  cJSON_AddStringToObject(engine, "api_version", str(version, "ApiVersion"));
  cJSON_AddStringToObject(engine, "negotiated_api_version", api);
  cJSON_AddStringToObject(engine, "os", str(version, "Os"));
  cJSON_AddStringToObject(engine, "arch", str(version, "Arch"));
  cJSON_AddStringToObject(engine, "kernel", str(version, "KernelVersion"));
  line(r, true, "engine version", "Docker %s (API %s, berth speaks %s)", str(version, "Version"),
       str(version, "ApiVersion"), api);
  if (berth_docker_info(d, &info, &err) < 0) {
    _cleanup_free_ char *msg = berth_err_string(err);
    line(r, false, "engine info", "%s", msg ? msg : "");
    problem(r, "engine info", msg ? msg : "", "check the engine's log");
    *ret_ok = false;
    return;
  }
  const char *driver = str(info, "Driver");
  cJSON_AddStringToObject(engine, "storage_driver", driver);
  cJSON_AddStringToObject(engine, "cgroup_driver", str(info, "CgroupDriver"));
  cJSON_AddStringToObject(engine, "root_dir", str(info, "DockerRootDir"));
  /* Any driver works; overlay2 is the one that is fast for image builds. */
  line(r, true, "storage driver", "%s%s", driver,
       strcmp(driver, "overlay2") ? " (overlay2 is faster for builds)" : "");
}

static void check_images(struct report *r, struct berth_docker *d, bool engine_ok, bool *ret_ok) {
  cJSON *list = cJSON_AddArrayToObject(r->root, "images");
  struct berth_image_refs refs = {0};
  _cleanup_err_ berth_err err = NULL;
  if (berth_images_load(&refs, &err) < 0) {
    line(r, false, "images", "%s", berth_err_root_msg(err));
    *ret_ok = false;
    return;
  }
  for (size_t i = 0; i < refs.n; i++) {
    const struct berth_image_ref *ref = &refs.items[i];
    int present = engine_ok ? berth_docker_image_exists(d, ref->name, &err) : -1;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", ref->key);
    cJSON_AddStringToObject(o, "name", ref->name);
    cJSON_AddStringToObject(o, "purpose", ref->purpose ? ref->purpose : "");
    if (present >= 0)
      cJSON_AddBoolToObject(o, "present", present == 1);
    else
      cJSON_AddNullToObject(o, "present");
    cJSON_AddItemToArray(list, o);
    if (present < 0) {
      berth_err_free(&err);
      continue; /* the engine check already failed and said why */
    }
    line(r, present == 1, "image", "%s (%s)%s", ref->name, ref->key,
         present == 1 ? "" : " is missing");
    if (present != 1) {
      char fix[512];
      bool local = !strncmp(ref->name, "berth-local/", 12);
      snprintf(fix, sizeof(fix),
               local ? "build the local images: tests/images/build.sh (about 3 minutes)"
                     : "pull it: docker pull %s (or set %s to a local image)",
               ref->name, ref->key);
      char msg[512];
      snprintf(msg, sizeof(msg), "image %s is not on this engine", ref->name);
      problem(r, "image", msg, fix);
      *ret_ok = false;
    }
  }
  berth_images_release(&refs);
}

static int run(int argc, char **argv, const struct berth_globals *g) {
  if (argc > 1) {
    fprintf(stderr, "berth doctor: unexpected argument %s\nusage: %s\n", argv[1],
            berth_cmd_doctor.usage);
    return 2;
  }
  _cleanup_json_ cJSON *root = cJSON_CreateObject();
  struct report r = {.root = root, .g = g};
  if (!root || !(r.problems = cJSON_AddArrayToObject(root, "problems")))
    return 1;
  cJSON_AddStringToObject(root, "berth_version", BERTH_VERSION);
  struct berth_docker *d = NULL;
  _cleanup_err_ berth_err err = NULL;
  bool ok = true;
  if (berth_docker_open(&d, NULL, &err) < 0) {
    line(&r, false, "engine", "%s", berth_err_root_msg(err));
    problem(&r, "engine", berth_err_root_msg(err), "set DOCKER_HOST=unix:///path/to/docker.sock");
    ok = false;
  } else {
    check_engine(&r, d, &ok);
    check_images(&r, d, ok, &ok);
  }
  berth_docker_close(d);
  cJSON_AddBoolToObject(root, "ready", ok);
  if (g->json) {
    _cleanup_free_ char *s = cJSON_Print(root);
    if (s)
      puts(s);
  } else {
    printf("\n%s\n", ok ? "This machine is ready for berth."
                        : "This machine is not ready: apply the fixes above, then run berth "
                          "doctor again.");
  }
  return ok ? 0 : 1;
}

const struct berth_cmd berth_cmd_doctor = {
    .name = "doctor",
    .usage = "berth doctor [--json]",
    .summary = "Check that the Docker engine and the images berth needs are ready",
    .help = "Checks the engine (reachable, version, API version, storage driver) and that the\n"
            "images of templates/images.env are present. Exit status 0 when ready, 1 when\n"
            "not, with the fix for each problem.\n",
    .run = run,
};
