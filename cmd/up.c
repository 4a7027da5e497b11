/* berth up: the stack (or some services and what they need) running and
 * ready. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/clock.h"
#include "project.h"

static int print_summary(const struct berth_project *p, const struct berth_status *st,
                         int64_t elapsed_ms, const struct berth_globals *g) {
  if (g->json) {
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    cJSON *svcs = NULL;
    bool ok = o && cJSON_AddStringToObject(o, "project", p->name) &&
              cJSON_AddBoolToObject(o, "ready", true) &&
              cJSON_AddNumberToObject(o, "elapsed_ms", (double)elapsed_ms) &&
              (svcs = cJSON_AddArrayToObject(o, "services"));
    for (size_t i = 0; ok && i < st->n; i++)
      ok = cJSON_AddItemToArray(svcs, berth_cmd_unit_json(&st->v[i]));
    return berth_out_json(ok ? o : NULL);
  }
  _cleanup_free_ char *e_project = berth_escape_controls(p->name, 0);
  printf("%s%s is ready%s in %.1f s\n", berth_sgr(g, "\033[1;32m"), e_project ? e_project : "?",
         berth_sgr(g, "\033[0m"), (double)elapsed_ms / 1000);
  for (size_t i = 0; i < st->n; i++) {
    const struct berth_unit_status *u = &st->v[i];
    char name[160];
    /* A job's exit 0 is what it was for (up fails on any other exit). */
    bool done = !strcmp(u->state, "exited") && u->exit_code == 0;
    /* The engine's words and our labels, as text (see ps). */
    _cleanup_free_ char *e_name =
        berth_escape_controls(berth_cmd_unit_name(u, name, sizeof(name)), 0);
    _cleanup_free_ char *e_state = berth_escape_controls(done ? "completed" : u->state, 0);
    printf("  %-24s %-9s", e_name ? e_name : "?", e_state ? e_state : "?");
    for (size_t k = 0; k < u->n_urls; k++) {
      _cleanup_free_ char *e_url = berth_escape_controls(u->urls[k], 0);
      printf(" %s", e_url ? e_url : "?");
    }
    putchar('\n');
  }
  return 0;
}

struct up_opts {
  struct berth_engine_opts eo;
  bool watch, ignored;
};

static const struct berth_flag up_flags[] = {
    BERTH_FLAG("wait", 0, BERTH_FLAG_BOOL, struct up_opts, ignored),
    BERTH_FLAG("detach", 'd', BERTH_FLAG_BOOL, struct up_opts, ignored),
    BERTH_FLAG("no-wait", 0, BERTH_FLAG_BOOL, struct up_opts, eo.no_wait),
    BERTH_FLAG("timeout", 0, BERTH_FLAG_DURATION, struct up_opts, eo.timeout_ms),
    BERTH_FLAG("build", 0, BERTH_FLAG_BOOL, struct up_opts, eo.build),
    BERTH_FLAG("remove-orphans", 0, BERTH_FLAG_BOOL, struct up_opts, eo.remove_orphans),
    BERTH_FLAG("watch", 0, BERTH_FLAG_BOOL, struct up_opts, watch),
};

static void print_failure(const struct berth_project *p, berth_err err) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  _cleanup_free_ char *msg = berth_err_string(err);
  bool ok = o && msg && cJSON_AddStringToObject(o, "project", p->name) &&
            cJSON_AddBoolToObject(o, "ready", false) && cJSON_AddStringToObject(o, "error", msg);
  berth_out_json(ok ? o : NULL);
}

static int run(int argc, char **argv, const struct berth_globals *g) {
  static const struct berth_flags fl = BERTH_FLAGS(up_flags, 0);
  struct up_opts uo = {0};
  _cleanup_free_ char **names = NULL;
  int n_names;
  int code = berth_cmd_flags(&berth_cmd_up, &fl, argc, argv, &uo, &n_names, &names);
  if (code)
    return code;
  struct berth_project *p;
  struct berth_state *st;
  int lock_fd;
  code = berth_cmd_open(g, &p, &st, &lock_fd);
  if (code)
    return code;
  struct berth_progress pr;
  berth_cmd_engine_opts(&uo.eo, &pr, g, st, names, n_names);
  struct berth_status status = {0};
  berth_err err = NULL;
  int64_t run_id = 0;
  berth_err se = NULL;
  if (berth_state_run_begin(st, p->name, "up", &run_id, &se) < 0)
    berth_err_free(&se);
  int64_t t0 = berth_now_ms();
  int r = berth_engine_up(p, &uo.eo, &status, &err);
  int64_t elapsed = berth_now_ms() - t0;
  if (r < 0) {
    if (g->json)
      print_failure(p, err);
    code = berth_report(&err, 1);
  } else {
    for (size_t i = 0; i < status.n; i++)
      if (status.v[i].ready_ms >= 0 && berth_state_timing(st, run_id, status.v[i].service, "ready",
                                                          status.v[i].ready_ms, &se) < 0)
        berth_err_free(&se);
    code = print_summary(p, &status, elapsed, g);
    /* Watching may last all day: let other berths change the project. */
    close(lock_fd);
    lock_fd = -1;
    if (uo.watch && !code)
      code = berth_cmd_watch_run(g, p, st, uo.eo.services, uo.eo.n_services, 0);
  }
  if (berth_state_run_end(st, run_id, code, &se) < 0)
    berth_err_free(&se);
  berth_status_release(&status);
  berth_cmd_close(&p, &st, &lock_fd);
  return code;
}

const struct berth_cmd berth_cmd_up = {
    .name = "up",
    .usage = "berth up [SERVICE...] [--timeout 5m] [--build] [--no-wait] [--remove-orphans] "
             "[--watch] [--json]",
    .summary = "Create and start the stack; return when every service answers",
    .help = "Converges the engine to the manifest: creates networks, volumes and containers,\n"
            "recreates only what changed, leaves the rest running. Each service starts the\n"
            "moment its dependencies meet their conditions; infra (postgres, redis,\n"
            "rabbitmq) is ready when it answers its own protocol, then provisioned.\n"
            "\n"
            "  --timeout D        give up after D (default 5m) naming the service, its last\n"
            "                     probe and its last log lines\n"
            "  --build            rebuild the images of services with build:\n"
            "  --no-wait          return once started (dependents still wait as declared)\n"
            "  --remove-orphans   remove containers of services no longer in the manifest\n"
            "  --watch            then keep the services in step with the source (berth watch)\n"
            "  --wait, -d         accepted for Compose habits; berth always waits\n",
    .run = run,
};
