/* berth up: the stack (or some services and what they need) running and
 * ready. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/clock.h"
#include "project.h"

static void print_summary(const struct berth_project *p, const struct berth_status *st,
                          int64_t elapsed_ms, const struct berth_globals *g) {
  if (g->json) {
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "project", p->name);
    cJSON_AddBoolToObject(o, "ready", true);
    cJSON_AddNumberToObject(o, "elapsed_ms", (double)elapsed_ms);
    cJSON *svcs = cJSON_AddArrayToObject(o, "services");
    for (size_t i = 0; i < st->n; i++)
      cJSON_AddItemToArray(svcs, berth_cmd_unit_json(&st->v[i]));
    _cleanup_free_ char *text = cJSON_Print(o);
    if (text)
      puts(text);
    return;
  }
  printf("%s%s is ready%s in %.1f s\n", berth_sgr(g, "\033[1;32m"), p->name,
         berth_sgr(g, "\033[0m"), (double)elapsed_ms / 1000);
  for (size_t i = 0; i < st->n; i++) {
    const struct berth_unit_status *u = &st->v[i];
    char name[160];
    printf("  %-24s %-9s", berth_cmd_unit_name(u, name, sizeof(name)), u->state);
    for (size_t k = 0; k < u->n_urls; k++)
      printf(" %s", u->urls[k]);
    putchar('\n');
  }
}

static int run(int argc, char **argv, const struct berth_globals *g) {
  static const struct option opts[] = {
      {"wait", no_argument, NULL, 'w'},           {"no-wait", no_argument, NULL, 'W'},
      {"timeout", required_argument, NULL, 't'},  {"build", no_argument, NULL, 'b'},
      {"remove-orphans", no_argument, NULL, 'o'}, {"detach", no_argument, NULL, 'd'},
      {"watch", no_argument, NULL, 'H'},          {NULL, 0, NULL, 0}};
  struct berth_engine_opts eo = {0};
  bool watch = false;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "d", opts, NULL)) != -1) {
    switch (c) {
    case 'w':
    case 'd':
      break; /* berth up always returns once the stack is ready */
    case 'W':
      eo.no_wait = true;
      break;
    case 't':
      if ((eo.timeout_ms = berth_cmd_duration(optarg)) <= 0) {
        fprintf(stderr, "berth up: --timeout %s is not a duration (5m, 90s)\n", optarg);
        return 2;
      }
      break;
    case 'b':
      eo.build = true;
      break;
    case 'o':
      eo.remove_orphans = true;
      break;
    case 'H':
      watch = true;
      break;
    default:
      fprintf(stderr, "berth up: unknown flag %s\nusage: %s\n", argv[optind - 1],
              berth_cmd_up.usage);
      return 2;
    }
  }
  struct berth_project *p;
  struct berth_state *st;
  int lock_fd;
  int code = berth_cmd_open(g, &p, &st, &lock_fd);
  if (code)
    return code;
  struct berth_progress pr;
  berth_cmd_engine_opts(&eo, &pr, g, st, argv + optind, argc - optind);
  struct berth_status status = {0};
  berth_err err = NULL;
  int64_t run_id = 0;
  berth_err se = NULL;
  if (berth_state_run_begin(st, p->name, "up", &run_id, &se) < 0)
    berth_err_free(&se);
  int64_t t0 = berth_now_ms();
  int r = berth_engine_up(p, &eo, &status, &err);
  int64_t elapsed = berth_now_ms() - t0;
  if (r < 0) {
    if (g->json) {
      _cleanup_json_ cJSON *o = cJSON_CreateObject();
      _cleanup_free_ char *msg = berth_err_string(err);
      cJSON_AddStringToObject(o, "project", p->name);
      cJSON_AddBoolToObject(o, "ready", false);
      cJSON_AddStringToObject(o, "error", msg ? msg : "");
      _cleanup_free_ char *text = cJSON_Print(o);
      if (text)
        puts(text);
    }
    code = berth_report(&err, 1);
  } else {
    for (size_t i = 0; i < status.n; i++)
      if (status.v[i].ready_ms >= 0 && berth_state_timing(st, run_id, status.v[i].service, "ready",
                                                          status.v[i].ready_ms, &se) < 0)
        berth_err_free(&se);
    print_summary(p, &status, elapsed, g);
    /* Watching may last all day: let other berths change the project. */
    close(lock_fd);
    lock_fd = -1;
    if (watch)
      code = berth_cmd_watch_run(g, p, st, eo.services, eo.n_services, 0);
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
