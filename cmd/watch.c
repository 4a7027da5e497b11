/* berth watch: hot reload, attached — the watched services' logs plus one
 * line per action ("user-service  synced 3 files in 18 ms"). */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "berth/attach.h"
#include "berth/cleanup.h"
#include "berth/clock.h"
#include "berth/watch.h"
#include "project.h"

static atomic_int stopping;
/* Set once watching ends: the log followers end their streams and are
 * joined. */
static atomic_int followers_stop;

struct follower {
  const char *project;
  const char *service;
  struct berth_mux_source src;
  pthread_t thread;
};

/* Follows the service's log across restarts and recreations. */
static void *follow(void *arg) {
  struct follower *f = arg;
  int64_t since = berth_unix_ms() / 1000;
  while (!atomic_load(&followers_stop)) {
    _cleanup_free_ char *id = NULL;
    berth_err err = NULL;
    if (berth_engine_container(f->project, f->service, 1, &id, &err) >= 0) {
      struct berth_logs_opts o = {
          .follow = true, .since = since, .tail = -1, .stop = &followers_stop};
      berth_attach_logs(id, &o, berth_mux_output, &f->src, &err);
      since = berth_unix_ms() / 1000;
    }
    berth_err_free(&err); /* no container yet, or it went away: try again */
    for (int i = 0; i < 5 && !atomic_load(&followers_stop); i++)
      berth_sleep_ms(100);
  }
  berth_mux_source_flush(&f->src);
  return NULL;
}

static void on_watch(const struct berth_watch_event *ev, void *ud) {
  struct berth_mux *mux = ud;
  const struct berth_globals *g = mux->g;
  char text[1200];
  const char *color = "\033[32m";
  switch (ev->what) {
  case BERTH_WATCH_EV_WATCHING:
    snprintf(text, sizeof(text), "%s", ev->detail);
    color = "\033[2m";
    break;
  case BERTH_WATCH_EV_SYNCED:
    snprintf(text, sizeof(text), "synced %zu file%s%s%.0zu%s in %lld ms", ev->files,
             ev->files == 1 ? "" : "s", ev->deleted ? ", deleted " : "", ev->deleted,
             ev->deleted ? "" : "", (long long)ev->ms);
    break;
  case BERTH_WATCH_EV_RESTARTED:
    snprintf(text, sizeof(text), "synced %zu file%s and restarted in %lld ms", ev->files,
             ev->files == 1 ? "" : "s", (long long)ev->ms);
    break;
  case BERTH_WATCH_EV_EXECUTED:
    snprintf(text, sizeof(text), "ran the rule's command after %zu change%s: %s (%lld ms)",
             ev->files + ev->deleted, ev->files + ev->deleted == 1 ? "" : "s", ev->detail,
             (long long)ev->ms);
    break;
  case BERTH_WATCH_EV_REBUILT:
    snprintf(text, sizeof(text), "rebuilt and recreated in %.1f s", (double)ev->ms / 1000);
    break;
  case BERTH_WATCH_EV_OUTPUT:
    snprintf(text, sizeof(text), "  %s", ev->detail);
    color = "\033[2m";
    break;
  case BERTH_WATCH_EV_ERROR:
    snprintf(text, sizeof(text), "%s", ev->detail);
    color = "\033[31m";
    break;
  }
  if (g->json) {
    static const char *const names[] = {"watching", "synced", "restarted", "executed",
                                        "rebuilt",  "output", "error"};
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "service", ev->service) &&
              cJSON_AddStringToObject(o, "event", names[ev->what]) &&
              cJSON_AddNumberToObject(o, "files", (double)ev->files) &&
              cJSON_AddNumberToObject(o, "deleted", (double)ev->deleted) &&
              cJSON_AddNumberToObject(o, "ms", (double)ev->ms) &&
              cJSON_AddStringToObject(o, "detail", text);
    berth_mux_json(mux, ok ? o : NULL);
    return;
  }
  /* berth's own lines carry paths, commands and engine errors: shown as
   * text. A command's output stays as it is, like the logs around it. */
  _cleanup_free_ char *shown =
      ev->what == BERTH_WATCH_EV_OUTPUT ? NULL : berth_escape_controls(text, 0);
  const char *line = ev->what == BERTH_WATCH_EV_OUTPUT ? text : shown ? shown : "(out of memory)";
  berth_mux_line(mux, ev->service, color, line, strlen(line));
}

/* Followers for the watched services (none with --json); returns how
 * many run, or -1 out of memory. */
static int start_followers(const struct berth_project *p, const char *const *services,
                           size_t n_services, struct berth_mux *mux, struct follower *fs) {
  int n = 0;
  for (size_t i = 0; i < p->n_services; i++) {
    const struct berth_service *s = &p->services[i];
    bool want = s->n_watch && !n_services;
    for (size_t k = 0; k < n_services && !want; k++)
      want = !strcmp(services[k], s->name);
    if (want)
      berth_mux_widen(mux, s->name);
  }
  for (size_t i = 0; !mux->g->json && i < p->n_services; i++) {
    const struct berth_service *s = &p->services[i];
    bool want = s->n_watch && !n_services;
    for (size_t k = 0; k < n_services && !want; k++)
      want = !strcmp(services[k], s->name);
    if (!want)
      continue;
    struct follower *f = &fs[n];
    *f = (struct follower){.project = p->name, .service = s->name};
    berth_mux_source_init(&f->src, mux, s->name, "\033[36m");
    if (pthread_create(&f->thread, NULL, follow, f) != 0) {
      berth_mux_source_release(&f->src);
      fprintf(stderr, "berth watch: cannot follow the log of %s: no thread to be had\n", s->name);
      continue;
    }
    n++;
  }
  return n;
}

int berth_cmd_watch_run(const struct berth_globals *g, const struct berth_project *p,
                        struct berth_state *st, const char *const *services, size_t n_services,
                        int quiet_ms) {
  struct follower *fs = calloc(p->n_services + 1, sizeof(*fs));
  if (!fs) {
    fputs("berth: out of memory\n", stderr);
    return 1;
  }
  struct berth_mux mux;
  berth_mux_init(&mux, g, 12);
  atomic_store(&followers_stop, 0);
  int n = start_followers(p, services, n_services, &mux, fs);
  struct berth_watch_opts wo = {.services = services,
                                .n_services = n_services,
                                .quiet_ms = quiet_ms,
                                .state = st,
                                .on_event = on_watch,
                                .ud = &mux,
                                .stop = &stopping};
  berth_err err = NULL;
  int code = 0;
  if (berth_watch_run(p, &wo, &err) < 0)
    code = berth_report(&err, 1);
  atomic_store(&followers_stop, 1);
  for (int i = 0; i < n; i++) {
    pthread_join(fs[i].thread, NULL);
    berth_mux_source_release(&fs[i].src);
  }
  free(fs);
  return code;
}

struct watch_opts {
  int quiet_ms;
};

static const struct berth_flag watch_flags[] = {
    BERTH_FLAG("quiet-ms", 0, BERTH_FLAG_INT, struct watch_opts, quiet_ms, .min = 1, .max = 60000,
               .bad = "is not a number of milliseconds from 1 to 60000"),
};

static int run(int argc_, char **argv_, const struct berth_globals *g) {
  static const struct berth_flags fl = BERTH_FLAGS(watch_flags, 0);
  struct watch_opts wopts = {0};
  _cleanup_free_ char **argv = NULL;
  int argc;
  int code = berth_cmd_flags(&berth_cmd_watch, &fl, argc_, argv_, &wopts, &argc, &argv);
  if (code)
    return code;
  struct berth_project *p;
  struct berth_state *st;
  code = berth_cmd_open(g, &p, &st, NULL);
  for (int k = 0; !code && k < argc; k++) {
    const struct berth_service *s = berth_project_service(p, argv[k]);
    if (!s || !s->n_watch) {
      fprintf(stderr, "berth watch: %s %s; services with watch rules: ", argv[k],
              s ? "has no watch rules" : "is not a service of this project");
      for (size_t i = 0, n = 0; i < p->n_services; i++)
        if (p->services[i].n_watch)
          fprintf(stderr, "%s%s", n++ ? ", " : "", p->services[i].name);
      fputc('\n', stderr);
      code = 2;
    }
  }
  if (!code)
    code = berth_cmd_watch_run(g, p, st, (const char *const *)argv, (size_t)argc, wopts.quiet_ms);
  berth_cmd_close(&p, &st, NULL);
  return code;
}

const struct berth_cmd berth_cmd_watch = {
    .name = "watch",
    .usage = "berth watch [SERVICE...] [--quiet-ms N] [--json]",
    .summary = "Keep running services in step with the source tree (hot reload)",
    .help = "Follows the watch rules of the services (watch: or Compose's develop.watch):\n"
            "changed files are synced into the container, or the service is restarted,\n"
            "rebuilt, or a command is run, within milliseconds of a save. A burst of changes\n"
            "(a git checkout) becomes one action after a quiet period (--quiet-ms, default\n"
            "20); a save that leaves the content unchanged does nothing. .dockerignore,\n"
            ".gitignore, the rule's ignore globs and editor temp files are skipped. Shows\n"
            "the watched services' logs too. Ctrl-C stops watching; the stack keeps running.\n",
    .run = run,
};
