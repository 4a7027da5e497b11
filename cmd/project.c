/* What the commands that work on a project share: loading the manifest
 * (problems reported once, here), opening the state, and showing the
 * engine's progress. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/manifest.h"
#include "project.h"

void berth_cmd_print_diags(const struct berth_globals *g, const struct berth_diags *d) {
  for (size_t i = 0; i < d->n; i++) {
    _cleanup_free_ char *line = berth_diag_format(&d->v[i]);
    bool error = d->v[i].severity == BERTH_DIAG_ERROR;
    fprintf(stderr, "%s%s%s\n", berth_sgr(g, error ? "\033[31m" : "\033[33m"),
            line ? line : "out of memory", berth_sgr(g, "\033[0m"));
  }
}

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
      .files = g->files, .n_files = g->n_files, .project_name = g->project};
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

cJSON *berth_cmd_unit_json(const struct berth_unit_status *u) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "service", u->service);
  cJSON_AddNumberToObject(o, "replica", u->replica);
  cJSON_AddStringToObject(o, "container", u->container);
  cJSON_AddStringToObject(o, "id", u->id);
  cJSON_AddStringToObject(o, "state", u->state);
  if (u->health)
    cJSON_AddStringToObject(o, "health", u->health);
  else
    cJSON_AddNullToObject(o, "health");
  cJSON_AddBoolToObject(o, "infra", u->infra);
  cJSON_AddNumberToObject(o, "created", (double)u->started_at);
  if (!strcmp(u->state, "exited"))
    cJSON_AddNumberToObject(o, "exit_code", u->exit_code);
  if (u->ready_ms >= 0)
    cJSON_AddNumberToObject(o, "ready_ms", (double)u->ready_ms);
  else
    cJSON_AddNullToObject(o, "ready_ms");
  cJSON *urls = cJSON_AddArrayToObject(o, "urls");
  for (size_t k = 0; k < u->n_urls; k++)
    cJSON_AddItemToArray(urls, cJSON_CreateString(u->urls[k]));
  return o;
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

/* ---- progress ---- */

static const char *phase_word(enum berth_phase ph) {
  static const char *const words[] = {
      [BERTH_PHASE_WAITING] = "waiting",
      [BERTH_PHASE_BUILDING] = "building",
      [BERTH_PHASE_PULLING] = "pulling",
      [BERTH_PHASE_CREATING] = "creating",
      [BERTH_PHASE_STARTING] = "starting",
      [BERTH_PHASE_PROBING] = "probing",
      [BERTH_PHASE_PROVISIONING] = "provisioning",
      [BERTH_PHASE_READY] = "ready",
      [BERTH_PHASE_UNCHANGED] = "unchanged",
      [BERTH_PHASE_COMPLETED] = "completed",
      [BERTH_PHASE_STOPPING] = "stopping",
      [BERTH_PHASE_REMOVED] = "removed",
      [BERTH_PHASE_FAILED] = "failed",
  };
  return words[ph];
}

static const char *phase_color(enum berth_phase ph) {
  switch (ph) {
  case BERTH_PHASE_READY:
  case BERTH_PHASE_COMPLETED:
  case BERTH_PHASE_UNCHANGED:
  case BERTH_PHASE_REMOVED:
    return "\033[32m";
  case BERTH_PHASE_FAILED:
    return "\033[31m";
  default:
    return "\033[33m";
  }
}

void berth_progress_init(struct berth_progress *pr, const struct berth_globals *g) {
  *pr = (struct berth_progress){
      .g = g, .live = isatty(STDERR_FILENO) && g->color && !g->json, .quiet = g->json};
}

static void line_for(const struct berth_progress *pr, const struct berth_progress_line *l) {
  const struct berth_globals *g = pr->g;
  fprintf(stderr, "%s%-24s%s %s%-12s%s %s\n", berth_sgr(g, "\033[1m"), l->name,
          berth_sgr(g, "\033[0m"), berth_sgr(g, phase_color(l->phase)), phase_word(l->phase),
          berth_sgr(g, "\033[0m"), l->detail);
}

void berth_progress_event(const struct berth_engine_event *ev, void *ud) {
  struct berth_progress *pr = ud;
  if (pr->quiet || !ev->service)
    return;
  char name[128];
  if (ev->replica > 1)
    snprintf(name, sizeof(name), "%s-%d", ev->service, ev->replica);
  else
    snprintf(name, sizeof(name), "%s", ev->service);
  struct berth_progress_line *l = NULL;
  for (size_t i = 0; i < pr->n; i++)
    if (!strcmp(pr->lines[i].name, name))
      l = &pr->lines[i];
  if (!l && pr->n < BERTH_PROGRESS_MAX)
    l = &pr->lines[pr->n++];
  if (!l)
    return;
  snprintf(l->name, sizeof(l->name), "%s", name);
  l->phase = ev->phase;
  /* A failure's detail can hold a log excerpt: first line only here. */
  snprintf(l->detail, sizeof(l->detail), "%s", ev->detail ? ev->detail : "");
  l->detail[strcspn(l->detail, "\n")] = '\0';
  if (!pr->live) {
    line_for(pr, l);
    return;
  }
  /* One live line per service: go back over what was drawn and redraw. */
  if (pr->drawn)
    fprintf(stderr, "\033[%zuA", pr->drawn);
  for (size_t i = 0; i < pr->n; i++) {
    fputs("\033[2K", stderr);
    line_for(pr, &pr->lines[i]);
  }
  pr->drawn = pr->n;
  fflush(stderr);
}

int64_t berth_cmd_duration(const char *s) {
  int64_t ms;
  return berth_parse_duration_ms(s, &ms) < 0 ? -1 : ms;
}

int berth_cmd_lifecycle(int argc, char **argv, const struct berth_globals *g,
                        const struct berth_cmd *self, berth_lifecycle_fn fn, bool is_down) {
  static const struct option opts[] = {{"volumes", no_argument, NULL, 'V'},
                                       {"remove-orphans", no_argument, NULL, 'o'},
                                       {"timeout", required_argument, NULL, 't'},
                                       {NULL, 0, NULL, 0}};
  struct berth_engine_opts eo = {0};
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'V' && is_down) {
      eo.volumes = true;
    } else if (c == 'o' && is_down) {
      eo.remove_orphans = true; /* down removes every container of the project anyway */
    } else if (c == 't' && !is_down) {
      if ((eo.timeout_ms = berth_cmd_duration(optarg)) <= 0) {
        fprintf(stderr, "berth %s: --timeout %s is not a duration\n", self->name, optarg);
        return 2;
      }
    } else {
      fprintf(stderr, "berth %s: unknown flag %s\nusage: %s\n", self->name, argv[optind - 1],
              self->usage);
      return 2;
    }
  }
  if (is_down && optind < argc) {
    fprintf(stderr, "berth down: takes no services (use berth stop SERVICE)\nusage: %s\n",
            self->usage);
    return 2;
  }
  struct berth_project *p;
  struct berth_state *st;
  int lock_fd;
  int code = berth_cmd_open(g, &p, &st, &lock_fd);
  if (code)
    return code;
  struct berth_progress pr;
  berth_cmd_engine_opts(&eo, &pr, g, st, argv + optind, argc - optind);
  for (size_t i = 0; i < eo.n_services; i++) {
    bool known = berth_project_service(p, eo.services[i]) != NULL;
    for (size_t k = 0; k < p->n_infra && !known; k++)
      known = !strcmp(p->infra[k].name, eo.services[i]);
    if (!known) {
      fprintf(stderr, "berth %s: no service or infra named %s in %s\n", self->name, eo.services[i],
              p->name);
      berth_state_close(st);
      berth_project_free(p);
      return 2;
    }
  }
  berth_err err = NULL;
  if (fn(p, &eo, &err) < 0)
    code = berth_report(&err, 1);
  berth_cmd_close(&p, &st, &lock_fd);
  return code;
}
