/* berth watch: hot reload, attached — the watched services' logs plus one
 * line per action ("user-service  synced 3 files in 18 ms"). */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "berth/buf.h"
#include "berth/cleanup.h"
#include "berth/watch.h"
#include "docker.h"
#include "project.h"

static atomic_int stopping;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static int width = 12;

struct follower {
  const struct berth_globals *g;
  char *project; /* owned: outlives the project (leaked at exit) */
  char *service;
  struct berth_buf line;
};

static void print_line(const struct berth_globals *g, const char *service, const char *color,
                       const char *text, size_t n) {
  pthread_mutex_lock(&out_mu);
  printf("%s%-*s |%s %.*s\n", berth_sgr(g, color), width, service, berth_sgr(g, "\033[0m"), (int)n,
         text);
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
}

static int on_output(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  struct follower *f = ud;
  while (len) {
    const char *nl = memchr(data, '\n', len);
    size_t take = nl ? (size_t)(nl - data) : len;
    berth_buf_add(&f->line, data, take);
    if (!nl)
      break;
    print_line(f->g, f->service, "\033[36m", f->line.data ? f->line.data : "", f->line.len);
    berth_buf_reset(&f->line);
    data += take + 1;
    len -= take + 1;
  }
  return stopping;
}

/* Follows the service's log across restarts and recreations. */
static void *follow(void *arg) {
  struct follower *f = arg;
  int64_t since = (int64_t)time(NULL);
  while (!stopping) {
    _cleanup_free_ char *id = NULL;
    berth_err err = NULL;
    struct berth_docker *d = NULL;
    if (berth_engine_container(f->project, f->service, 1, &id, &err) >= 0 &&
        berth_docker_open(&d, NULL, &err) >= 0) {
      struct berth_docker_logs_opts o = {.follow = true, .since = since, .tail = -1};
      berth_docker_container_logs(d, id, &o, on_output, f, &err);
      since = (int64_t)time(NULL);
    }
    berth_err_free(&err);
    berth_docker_close(d);
    for (int i = 0; i < 5 && !stopping; i++)
      usleep(100 * 1000);
  }
  return NULL;
}

static void on_watch(const struct berth_watch_event *ev, void *ud) {
  const struct berth_globals *g = ud;
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
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    static const char *const names[] = {"watching", "synced", "restarted", "executed",
                                        "rebuilt",  "output", "error"};
    cJSON_AddStringToObject(o, "service", ev->service);
    cJSON_AddStringToObject(o, "event", names[ev->what]);
    cJSON_AddNumberToObject(o, "files", (double)ev->files);
    cJSON_AddNumberToObject(o, "deleted", (double)ev->deleted);
    cJSON_AddNumberToObject(o, "ms", (double)ev->ms);
    cJSON_AddStringToObject(o, "detail", text);
    _cleanup_free_ char *s = cJSON_PrintUnformatted(o);
    pthread_mutex_lock(&out_mu);
    if (s)
      puts(s);
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
    return;
  }
  print_line(g, ev->service, color, text, strlen(text));
}

int berth_cmd_watch_run(const struct berth_globals *g, const struct berth_project *p,
                        struct berth_state *st, const char *const *services, size_t n_services,
                        int quiet_ms) {
  /* Log followers for the watched services. */
  size_t n = 0;
  struct follower *fs = calloc(p->n_services + 1, sizeof(*fs));
  pthread_t *th = calloc(p->n_services + 1, sizeof(*th));
  for (size_t i = 0; fs && th && i < p->n_services; i++) {
    const struct berth_service *s = &p->services[i];
    bool want = s->n_watch && !n_services;
    for (size_t k = 0; k < n_services && !want; k++)
      want = !strcmp(services[k], s->name);
    if (!want)
      continue;
    if ((int)strlen(s->name) > width)
      width = (int)strlen(s->name);
    /* Copies: the followers outlive the project at exit. */
    fs[n] = (struct follower){.g = g,
                              .project = strdup(p->name),
                              .service = strdup(s->name),
                              .line = BERTH_BUF_INIT(1 << 20)};
    if (!fs[n].project || !fs[n].service)
      continue;
    if (!g->json && pthread_create(&th[n], NULL, follow, &fs[n]) == 0)
      n++;
  }
  struct berth_watch_opts wo = {.services = services,
                                .n_services = n_services,
                                .quiet_ms = quiet_ms,
                                .state = st,
                                .on_event = on_watch,
                                .ud = (void *)g,
                                .stop = &stopping};
  berth_err err = NULL;
  int code = 0;
  if (berth_watch_run(p, &wo, &err) < 0)
    code = berth_report(&err, 1);
  stopping = 1;
  for (size_t i = 0; i < n; i++) {
    /* A follower blocked in a quiet log stream is let go with the process. */
    pthread_detach(th[i]);
  }
  free(th);
  (void)fs; /* followers may still read it until exit */
  return code;
}

static int run(int argc, char **argv, const struct berth_globals *g) {
  static const struct option opts[] = {{"quiet-ms", required_argument, NULL, 'q'},
                                       {NULL, 0, NULL, 0}};
  int quiet = 0;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    char *end = NULL;
    long v = c == 'q' ? strtol(optarg, &end, 10) : 0;
    if (c == 'q' && end && !*end && v > 0 && v <= 60000) {
      quiet = (int)v;
    } else {
      fprintf(stderr, "berth watch: bad flag %s\nusage: %s\n", argv[optind - 1],
              berth_cmd_watch.usage);
      return 2;
    }
  }
  struct berth_project *p;
  struct berth_state *st;
  int code = berth_cmd_open(g, &p, &st, NULL);
  for (int k = optind; !code && k < argc; k++) {
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
    code = berth_cmd_watch_run(g, p, st, (const char *const *)argv + optind,
                               (size_t)(argc - optind), quiet);
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
