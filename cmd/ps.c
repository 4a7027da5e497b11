/* berth ps: what runs, from the engine's labels. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "berth/cleanup.h"
#include "project.h"

static void uptime(int64_t since, char *buf, size_t n) {
  int64_t s = since ? (int64_t)time(NULL) - since : -1;
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
  for (int k = 1; k < argc; k++)
    if (!strcmp(argv[k], u->service))
      return true;
  return argc <= 1;
}

static int run(int argc, char **argv, const struct berth_globals *g) {
  if (argc > 1 && argv[1][0] == '-') {
    fprintf(stderr, "berth ps: unknown flag %s\nusage: %s\n", argv[1], berth_cmd_ps.usage);
    return 2;
  }
  struct berth_project *p = NULL;
  int code = berth_cmd_load(g, &p);
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
    for (size_t i = 0; i < st.n; i++) {
      const struct berth_unit_status *u = &st.v[i];
      if (!wanted(argc, argv, u))
        continue;
      cJSON *o = berth_cmd_unit_json(u);
      cJSON_AddItemToArray(a, o);
    }
    _cleanup_free_ char *text = cJSON_Print(a);
    if (text)
      puts(text);
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
      printf("%-24s %s%-10s%s %-10s %-8s", name, berth_sgr(g, running ? "\033[32m" : "\033[31m"),
             u->state, berth_sgr(g, "\033[0m"), u->health ? u->health : "-", age);
      for (size_t k = 0; k < u->n_urls; k++)
        printf(" %s", u->urls[k]);
      putchar('\n');
    }
    if (!st.n)
      printf("(nothing of %s runs; berth up starts it)\n", p->name);
  }
  berth_status_release(&st);
  berth_project_free(p);
  return 0;
}

const struct berth_cmd berth_cmd_ps = {
    .name = "ps",
    .usage = "berth ps [SERVICE...] [--json]",
    .summary = "List the stack's containers: state, health, age, URLs",
    .run = run,
};
