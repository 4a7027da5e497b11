/* berth doctor: is this machine ready to run stacks? The checks are
 * core's (berth/doctor.h); this prints them. */
#include <stdio.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/doctor.h"
#include "cmd.h"
#include "flags.h"
#include "out.h"

static void print_plain(const struct berth_doctor_report *rep, const struct berth_globals *g) {
  for (size_t i = 0; i < rep->n_checks; i++) {
    const struct berth_check *c = &rep->checks[i];
    static const char *const words[] = {
        [BERTH_CHECK_OK] = "ok  ", [BERTH_CHECK_WARN] = "warn", [BERTH_CHECK_FAIL] = "FAIL"};
    static const char *const colors[] = {[BERTH_CHECK_OK] = "\033[32m",
                                         [BERTH_CHECK_WARN] = "\033[33m",
                                         [BERTH_CHECK_FAIL] = "\033[31m"};
    /* Details quote the engine (versions, errors): shown as text. */
    _cleanup_free_ char *detail = berth_escape_controls(c->detail ? c->detail : "", 0);
    _cleanup_free_ char *fix = c->fix ? berth_escape_controls(c->fix, 0) : NULL;
    printf("%s%s%s %-16s %s\n", berth_sgr(g, colors[c->status]), words[c->status],
           berth_sgr(g, "\033[0m"), c->name, detail ? detail : "(out of memory)");
    if (c->fix)
      printf("     %-16s fix: %s\n", "", fix ? fix : "(out of memory)");
  }
  printf("\n%s\n", rep->ready ? "This machine is ready for berth."
                              : "This machine is not ready: apply the fixes above, then run berth "
                                "doctor again.");
}

/* Adds key: s, or nothing when s was not learned. */
static bool add_known(cJSON *o, const char *key, const char *s) {
  return !s || cJSON_AddStringToObject(o, key, s);
}

static bool engine_json(cJSON *root, const struct berth_doctor_engine *e) {
  if (!e->endpoint)
    return true; /* no client could be made: nothing learned */
  cJSON *o = cJSON_AddObjectToObject(root, "engine");
  return o && cJSON_AddStringToObject(o, "endpoint", e->endpoint) &&
         cJSON_AddBoolToObject(o, "reachable", e->reachable) &&
         add_known(o, "version", e->version) && add_known(o, "api_version", e->api_version) &&
         add_known(o, "negotiated_api_version", e->negotiated_api_version) &&
         add_known(o, "os", e->os) && add_known(o, "arch", e->arch) &&
         add_known(o, "kernel", e->kernel) && add_known(o, "storage_driver", e->storage_driver) &&
         add_known(o, "cgroup_driver", e->cgroup_driver) && add_known(o, "root_dir", e->root_dir);
}

static bool images_json(cJSON *root, const struct berth_doctor_report *rep) {
  if (!rep->images_checked)
    return true;
  cJSON *list = cJSON_AddArrayToObject(root, "images");
  bool ok = list;
  for (size_t i = 0; ok && i < rep->n_images; i++) {
    const struct berth_doctor_image *im = &rep->images[i];
    cJSON *o = cJSON_CreateObject();
    ok = o && cJSON_AddItemToArray(list, o);
    if (!ok) {
      cJSON_Delete(o);
      break;
    }
    ok = cJSON_AddStringToObject(o, "key", im->key) &&
         cJSON_AddStringToObject(o, "name", im->name) &&
         cJSON_AddStringToObject(o, "purpose", im->purpose) &&
         (im->present >= 0 ? cJSON_AddBoolToObject(o, "present", im->present == 1) != NULL
                           : cJSON_AddNullToObject(o, "present") != NULL);
  }
  return ok;
}

static int print_json(const struct berth_doctor_report *rep) {
  _cleanup_json_ cJSON *root = cJSON_CreateObject();
  cJSON *problems = NULL;
  bool ok = root && (problems = cJSON_AddArrayToObject(root, "problems"));
  for (size_t i = 0; ok && i < rep->n_checks; i++) {
    const struct berth_check *c = &rep->checks[i];
    if (!c->fix)
      continue;
    cJSON *p = cJSON_CreateObject();
    ok = p && cJSON_AddItemToArray(problems, p);
    if (!ok) {
      cJSON_Delete(p);
      break;
    }
    ok = cJSON_AddStringToObject(p, "check", c->name) &&
         cJSON_AddStringToObject(p, "message", c->problem ? c->problem : c->detail) &&
         cJSON_AddStringToObject(p, "fix", c->fix);
  }
  ok = ok && cJSON_AddStringToObject(root, "berth_version", BERTH_VERSION) &&
       engine_json(root, &rep->engine) && images_json(root, rep) &&
       cJSON_AddBoolToObject(root, "ready", rep->ready);
  return berth_out_json(ok ? root : NULL);
}

static int run(int argc, char **argv, const struct berth_globals *g) {
  static const struct berth_flags fl = {.n = 0};
  _cleanup_free_ char **args = NULL;
  int n;
  int code = berth_cmd_flags(&berth_cmd_doctor, &fl, argc, argv, NULL, &n, &args);
  if (!code)
    code = berth_cmd_at_most(&berth_cmd_doctor, n, args, 0);
  if (code)
    return code;
  struct berth_doctor_report rep;
  berth_err err = NULL;
  if (berth_doctor_run(&rep, &err) < 0)
    return berth_report(&err, 1);
  if (g->json)
    code = print_json(&rep);
  else
    print_plain(&rep, g);
  if (!code && !rep.ready)
    code = 1;
  berth_doctor_release(&rep);
  return code;
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
