/* What the commands that work on a project share: loading the manifest
 * (problems reported once, here), opening the state, and showing the
 * engine's progress. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/manifest.h"
#include "project.h"

int berth_cmd_load(const struct berth_globals *g, struct berth_project **ret) {
  if (g->ns) {
    /* Namespaces (isolated copies of the stack) come with `berth ns`;
     * running against the main stack instead would be a surprise. */
    fprintf(stderr,
            "berth: --ns %s: namespaces are not supported yet; run without --ns, or use "
            "-p NAME for a separate copy of the stack\n",
            g->ns);
    return 2;
  }
  struct berth_load_opts lo = {
      .files = (const char *const *)g->files, .n_files = g->n_files, .project_name = g->project};
  struct berth_diags diags = {0};
  berth_err err = NULL;
  int r = berth_manifest_load(&lo, ret, &diags, &err);
  berth_cmd_print_diags(g, &diags);
  berth_diags_release(&diags);
  if (r < 0)
    return berth_report(&err, berth_err_code(err) == BERTH_E_INVALID ? 2 : 1);
  return 0;
}

const char *berth_cmd_unit_name(const struct berth_unit_status *u, char *buf, size_t size) {
  snprintf(buf, size, u->replica > 1 ? "%s-%d" : "%s", u->service, u->replica);
  return buf;
}

static cJSON *string_or_null(const char *s) {
  return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

cJSON *berth_cmd_unit_json(const struct berth_unit_status *u) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  cJSON *urls = NULL;
  bool ok = o && cJSON_AddStringToObject(o, "service", u->service) &&
            cJSON_AddNumberToObject(o, "replica", u->replica) &&
            cJSON_AddStringToObject(o, "container", u->container) &&
            cJSON_AddStringToObject(o, "id", u->id) &&
            cJSON_AddStringToObject(o, "state", u->state) &&
            cJSON_AddItemToObject(o, "health", string_or_null(u->health)) &&
            cJSON_AddBoolToObject(o, "infra", u->infra) &&
            cJSON_AddNumberToObject(o, "created", (double)u->started_at) &&
            (strcmp(u->state, "exited") || cJSON_AddNumberToObject(o, "exit_code", u->exit_code)) &&
            (u->ready_ms >= 0 ? cJSON_AddNumberToObject(o, "ready_ms", (double)u->ready_ms) != NULL
                              : cJSON_AddNullToObject(o, "ready_ms") != NULL) &&
            (urls = cJSON_AddArrayToObject(o, "urls"));
  for (size_t k = 0; ok && k < u->n_urls; k++)
    ok = cJSON_AddItemToArray(urls, cJSON_CreateString(u->urls[k]));
  return ok ? TAKE_PTR(o) : NULL;
}

void berth_cmd_engine_opts(struct berth_engine_opts *eo, struct berth_progress *pr,
                           const struct berth_globals *g, struct berth_state *st, char **services,
                           int n_services) {
  berth_progress_init(pr, g);
  eo->services = (const char *const *)services;
  eo->n_services = (size_t)n_services;
  eo->state = st;
  eo->on_event = berth_progress_event;
  eo->ud = pr;
}

int berth_cmd_state(struct berth_state **ret) {
  berth_err err = NULL;
  if (berth_state_open(ret, NULL, &err) < 0)
    return berth_report(&err, 1);
  return 0;
}

int berth_cmd_open(const struct berth_globals *g, struct berth_project **ret_p,
                   struct berth_state **ret_st, int *ret_lock) {
  *ret_p = NULL;
  *ret_st = NULL;
  if (ret_lock)
    *ret_lock = -1;
  int code = berth_cmd_load(g, ret_p);
  if (!code)
    code = berth_cmd_state(ret_st);
  if (!code && ret_lock)
    code = berth_cmd_lock(*ret_st, (*ret_p)->name, ret_lock);
  if (code)
    berth_cmd_close(ret_p, ret_st, ret_lock);
  return code;
}

void berth_cmd_close(struct berth_project **p, struct berth_state **st, int *lock) {
  if (lock && *lock >= 0) {
    close(*lock);
    *lock = -1;
  }
  *st = berth_state_close(*st);
  *p = berth_project_free(*p);
}

static void say_waiting(void *ud) {
  fprintf(stderr, "berth: another berth is changing %s; waiting for it to finish\n",
          (const char *)ud);
}

int berth_cmd_lock(struct berth_state *st, const char *project, int *ret_fd) {
  berth_err err = NULL;
  *ret_fd = -1;
  if (berth_state_lock(st, project, say_waiting, (void *)project, ret_fd, &err) < 0)
    return berth_report(&err, 1);
  return 0;
}

int64_t berth_cmd_duration(const char *s) {
  int64_t ms;
  return berth_parse_duration_ms(s, &ms) < 0 ? -1 : ms;
}

static const struct berth_flag down_flags[] = {
    BERTH_FLAG("volumes", 0, BERTH_FLAG_BOOL, struct berth_engine_opts, volumes),
    /* down removes every container of the project anyway */
    BERTH_FLAG("remove-orphans", 0, BERTH_FLAG_BOOL, struct berth_engine_opts, remove_orphans),
};
static const struct berth_flag lifecycle_flags[] = {
    BERTH_FLAG("timeout", 0, BERTH_FLAG_DURATION, struct berth_engine_opts, timeout_ms),
};

/* Every name is a service or an infra instance of p; else says which is
 * not. */
static bool all_known(const struct berth_project *p, const struct berth_engine_opts *eo,
                      const char *cmd) {
  for (size_t i = 0; i < eo->n_services; i++) {
    bool known = berth_project_service(p, eo->services[i]) != NULL;
    for (size_t k = 0; k < p->n_infra && !known; k++)
      known = !strcmp(p->infra[k].name, eo->services[i]);
    if (!known) {
      fprintf(stderr, "berth %s: no service or infra named %s in %s\n", cmd, eo->services[i],
              p->name);
      return false;
    }
  }
  return true;
}

int berth_cmd_lifecycle(int argc, char **argv, const struct berth_globals *g,
                        const struct berth_cmd *self, berth_lifecycle_fn fn, bool is_down) {
  static const struct berth_flags down = BERTH_FLAGS(down_flags, 0);
  static const struct berth_flags others = BERTH_FLAGS(lifecycle_flags, 0);
  struct berth_engine_opts eo = {0};
  _cleanup_free_ char **names = NULL;
  int n;
  int code = berth_cmd_flags(self, is_down ? &down : &others, argc, argv, &eo, &n, &names);
  if (code)
    return code;
  if (is_down && n > 0) {
    fprintf(stderr, "berth down: takes no services (use berth stop SERVICE)\nusage: %s\n",
            self->usage);
    return 2;
  }
  struct berth_project *p;
  struct berth_state *st;
  int lock_fd;
  code = berth_cmd_open(g, &p, &st, &lock_fd);
  if (code)
    return code;
  struct berth_progress pr;
  berth_cmd_engine_opts(&eo, &pr, g, st, names, n);
  berth_err err = NULL;
  if (!all_known(p, &eo, self->name))
    code = 2;
  else if (fn(p, &eo, &err) < 0)
    code = berth_report(&err, 1);
  berth_cmd_close(&p, &st, &lock_fd);
  return code;
}
