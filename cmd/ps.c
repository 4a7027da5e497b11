/* berth ps: what runs, from the engine's labels. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "berth/cleanup.h"
#include "berth/clock.h"
#include "project.h"

static void uptime(int64_t since, char *buf, size_t n) {
  int64_t s = since ? berth_unix_ms() / 1000 - since : -1;
  if (s < 0)
    snprintf(buf, n, "-");
  else if (s < 60)
    snprintf(buf, n, "%llds", (long long)s);
  else if (s < 3600)
    snprintf(buf, n, "%lldm", (long long)s / 60);
  else if (s < 86400)
    snprintf(buf, n, "%lldh%02lldm", (long long)s / 3600, (long long)(s % 3600) / 60);
  else
    snprintf(buf, n, "%lldd", (long long)s / 86400);
}

/* No names: every unit; else the units of the services named. */
static bool wanted(int argc, char **argv, const struct berth_unit_status *u) {
  for (int k = 0; k < argc; k++)
    if (!strcmp(argv[k], u->service))
      return true;
  return argc == 0;
}

static int run(int argc_, char **argv_, const struct berth_globals *g) {
  static const struct berth_flags fl = {.n = 0}; /* none of its own */
  _cleanup_free_ char **argv = NULL;
  int argc;
  int code = berth_cmd_flags(&berth_cmd_ps, &fl, argc_, argv_, NULL, &argc, &argv);
  if (code)
    return code;
  struct berth_project *p = NULL;
  code = berth_cmd_load(g, &p);
  if (code)
    return code;
  struct berth_status st = {0};
  berth_err err = NULL;
  if (berth_engine_ps(p->name, &st, &err) < 0) {
    berth_project_free(p);
    return berth_report(&err, 1);
  }
  if (g->json) {
    _cleanup_json_ cJSON *a = cJSON_CreateArray();
    bool ok = a;
    for (size_t i = 0; ok && i < st.n; i++)
      if (wanted(argc, argv, &st.v[i]))
        ok = cJSON_AddItemToArray(a, berth_cmd_unit_json(&st.v[i]));
    code = berth_out_json(ok ? a : NULL);
  } else {
    printf("%-24s %-10s %-10s %-8s %s\n", "SERVICE", "STATE", "HEALTH", "AGE", "URLS");
    for (size_t i = 0; i < st.n; i++) {
      const struct berth_unit_status *u = &st.v[i];
      if (!wanted(argc, argv, u))
        continue;
      char name[160], age[32];
      berth_cmd_unit_name(u, name, sizeof(name));
      uptime(u->started_at, age, sizeof(age));
      bool running = !strcmp(u->state, "running");
      /* The engine's words and our labels, as text: a label may hold
       * anything a terminal would act on. */
      _cleanup_free_ char *e_name = berth_escape_controls(name, 0);
      _cleanup_free_ char *e_state = berth_escape_controls(u->state, 0);
      _cleanup_free_ char *e_health = berth_escape_controls(u->health ? u->health : "-", 0);
      printf("%-24s %s%-10s%s %-10s %-8s", e_name ? e_name : "?",
             berth_sgr(g, running ? "\033[32m" : "\033[31m"), e_state ? e_state : "?",
             berth_sgr(g, "\033[0m"), e_health ? e_health : "?", age);
      for (size_t k = 0; k < u->n_urls; k++) {
        _cleanup_free_ char *e_url = berth_escape_controls(u->urls[k], 0);
        printf(" %s", e_url ? e_url : "?");
      }
      putchar('\n');
    }
    if (!st.n)
      printf("(nothing of %s runs; berth up starts it)\n", p->name);
  }
  berth_status_release(&st);
  berth_project_free(p);
  return code;
}

const struct berth_cmd berth_cmd_ps = {
    .name = "ps",
    .usage = "berth ps [SERVICE...] [--json]",
    .summary = "List the stack's containers: state, health, age, URLs",
    .run = run,
};
