/* berth doctor's checks, as data. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/doctor.h"
#include "berth/images.h"
#include "docker.h"

#define NOMEM (-BERTH_E_NOMEM)

static int dup_into(char **dst, const char *s) {
  return (*dst = strdup(s ? s : "")) ? 0 : NOMEM;
}

static int add_check(struct berth_doctor_report *rep, enum berth_check_status status,
                     const char *name, const char *problem, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int add_check(struct berth_doctor_report *rep, enum berth_check_status status,
                     const char *name, const char *problem, const char *fix, const char *fmt, ...) {
  struct berth_check *v = realloc(rep->checks, (rep->n_checks + 1) * sizeof(*v));
  if (!v)
    return NOMEM;
  rep->checks = v;
  struct berth_check *c = &v[rep->n_checks];
  *c = (struct berth_check){.status = status};
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&c->detail, fmt, ap);
  va_end(ap);
  if (n < 0)
    c->detail = NULL;
  rep->n_checks++; /* released with the report, even half filled */
  if (status == BERTH_CHECK_FAIL)
    rep->ready = false;
  if (n < 0 || dup_into(&c->name, name) < 0 || (problem && dup_into(&c->problem, problem) < 0) ||
      (fix && dup_into(&c->fix, fix) < 0))
    return NOMEM;
  return 0;
}

static const char *str(const cJSON *o, const char *key) {
  const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
  return s ? s : "";
}

/* A check whose detail and problem are the error's message. */
static int failed(struct berth_doctor_report *rep, const char *name, const char *msg,
                  const char *fix) {
  return add_check(rep, BERTH_CHECK_FAIL, name, msg, fix, "%s", msg);
}

static int check_version(struct berth_doctor_report *rep, struct berth_docker *d) {
  struct berth_doctor_engine *e = &rep->engine;
  _cleanup_err_ berth_err err = NULL;
  _cleanup_json_ cJSON *version = NULL;
  const char *api = NULL;
  if (berth_docker_version(d, &version, &err) < 0 || berth_docker_api_version(d, &api, &err) < 0) {
    _cleanup_free_ char *msg = berth_err_string(err);
    if (!msg)
      return NOMEM;
    int r = failed(rep, "api version", msg, "upgrade the Docker engine to 20.10 or newer");
    return r < 0 ? r : 1;
  }
  if (dup_into(&e->version, str(version, "Version")) < 0 ||
      dup_into(&e->api_version, str(version, "ApiVersion")) < 0 ||
      dup_into(&e->negotiated_api_version, api) < 0 || dup_into(&e->os, str(version, "Os")) < 0 ||
      dup_into(&e->arch, str(version, "Arch")) < 0 ||
      dup_into(&e->kernel, str(version, "KernelVersion")) < 0)
    return NOMEM;
  return add_check(rep, BERTH_CHECK_OK, "engine version", NULL, NULL,
                   "Docker %s (API %s, berth speaks %s)", e->version, e->api_version, api);
}

static int check_info(struct berth_doctor_report *rep, struct berth_docker *d) {
  struct berth_doctor_engine *e = &rep->engine;
  _cleanup_err_ berth_err err = NULL;
  _cleanup_json_ cJSON *info = NULL;
  if (berth_docker_info(d, &info, &err) < 0) {
    _cleanup_free_ char *msg = berth_err_string(err);
    return msg ? failed(rep, "engine info", msg, "check the engine's log") : NOMEM;
  }
  if (dup_into(&e->storage_driver, str(info, "Driver")) < 0 ||
      dup_into(&e->cgroup_driver, str(info, "CgroupDriver")) < 0 ||
      dup_into(&e->root_dir, str(info, "DockerRootDir")) < 0)
    return NOMEM;
  /* Any driver works; overlay2 is the one that is fast for image builds. */
  const char *driver = e->storage_driver;
  return add_check(rep, BERTH_CHECK_OK, "storage driver", NULL, NULL, "%s%s", driver,
                   strcmp(driver, "overlay2") ? " (overlay2 is faster for builds)" : "");
}

static int check_engine(struct berth_doctor_report *rep, struct berth_docker *d) {
  struct berth_doctor_engine *e = &rep->engine;
  if (dup_into(&e->endpoint, berth_docker_endpoint(d)) < 0)
    return NOMEM;
  _cleanup_err_ berth_err err = NULL;
  e->reachable = berth_docker_ping(d, &err) >= 0;
  if (!e->reachable)
    return failed(rep, "engine", berth_err_root_msg(err),
                  "start the engine (sudo systemctl start docker, or sudo dockerd &) or set "
                  "DOCKER_HOST=unix:///path/to/docker.sock");
  int r = add_check(rep, BERTH_CHECK_OK, "engine", NULL, NULL, "reachable at %s", e->endpoint);
  if (r >= 0)
    r = check_version(rep, d);
  if (r == 0)
    r = check_info(rep, d);
  return r < 0 ? r : 0;
}

static int check_image(struct berth_doctor_report *rep, struct berth_docker *d, bool engine_ok,
                       const struct berth_image_ref *ref) {
  struct berth_doctor_image *im = &rep->images[rep->n_images++];
  *im = (struct berth_doctor_image){.present = -1};
  if (dup_into(&im->key, ref->key) < 0 || dup_into(&im->name, ref->name) < 0 ||
      dup_into(&im->purpose, ref->purpose) < 0)
    return NOMEM;
  if (!engine_ok)
    return 0; /* the engine check already failed and said why */
  _cleanup_err_ berth_err err = NULL;
  im->present = berth_docker_image_exists(d, ref->name, &err);
  if (im->present < 0) {
    im->present = -1;
    return 0;
  }
  if (im->present == 1)
    return add_check(rep, BERTH_CHECK_OK, "image", NULL, NULL, "%s (%s)", ref->name, ref->key);
  char fix[512], msg[512];
  bool local = !strncmp(ref->name, "berth-local/", 12);
  snprintf(fix, sizeof(fix),
           local ? "build the local images: tests/images/build.sh (about 3 minutes)"
                 : "pull it: docker pull %s (or set %s to a local image)",
           ref->name, ref->key);
  snprintf(msg, sizeof(msg), "image %s is not on this engine", ref->name);
  return add_check(rep, BERTH_CHECK_FAIL, "image", msg, fix, "%s (%s) is missing", ref->name,
                   ref->key);
}

static int check_images(struct berth_doctor_report *rep, struct berth_docker *d) {
  struct berth_image_refs refs = {0};
  _cleanup_err_ berth_err err = NULL;
  bool engine_ok = rep->ready; /* every engine check passed */
  rep->images_checked = true;
  if (berth_images_load(&refs, &err) < 0)
    return add_check(rep, BERTH_CHECK_FAIL, "images", NULL, NULL, "%s", berth_err_root_msg(err));
  int r = 0;
  if (refs.n && !(rep->images = calloc(refs.n, sizeof(*rep->images))))
    r = NOMEM;
  for (size_t i = 0; r >= 0 && i < refs.n; i++)
    r = check_image(rep, d, engine_ok, &refs.items[i]);
  berth_images_release(&refs);
  return r;
}

int berth_doctor_run(struct berth_doctor_report *ret, berth_err *err) {
  *ret = (struct berth_doctor_report){.ready = true};
  struct berth_docker *d = NULL;
  _cleanup_err_ berth_err open_err = NULL;
  int r;
  if (berth_docker_open(&d, NULL, &open_err) < 0) {
    r = failed(ret, "engine", berth_err_root_msg(open_err),
               "set DOCKER_HOST=unix:///path/to/docker.sock");
  } else {
    r = check_engine(ret, d);
    if (r >= 0)
      r = check_images(ret, d);
  }
  berth_docker_close(d);
  if (r < 0) {
    berth_doctor_release(ret);
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  }
  return 0;
}

void berth_doctor_release(struct berth_doctor_report *r) {
  for (size_t i = 0; i < r->n_checks; i++) {
    free(r->checks[i].name);
    free(r->checks[i].detail);
    free(r->checks[i].problem);
    free(r->checks[i].fix);
  }
  free(r->checks);
  struct berth_doctor_engine *e = &r->engine;
  char **fields[] = {
      &e->endpoint, &e->version, &e->api_version,    &e->negotiated_api_version, &e->os,
      &e->arch,     &e->kernel,  &e->storage_driver, &e->cgroup_driver,          &e->root_dir};
  for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++)
    free(*fields[i]);
  for (size_t i = 0; i < r->n_images; i++) {
    free(r->images[i].key);
    free(r->images[i].name);
    free(r->images[i].purpose);
  }
  free(r->images);
  *r = (struct berth_doctor_report){0};
}

void berth_doctor_api_range(const char **ret_min, const char **ret_max) {
  *ret_min = BERTH_DOCKER_API_MIN;
  *ret_max = BERTH_DOCKER_API_MAX;
}
