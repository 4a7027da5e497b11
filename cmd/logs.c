/* berth logs: every service's output, one aligned coloured prefix each. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/attach.h"
#include "berth/cleanup.h"
#include "berth/clock.h"
#include "project.h"

/* Set by Ctrl-C: the followers end their streams and are joined. */
static atomic_int interrupted;

static void on_signal(int sig) {
  atomic_store(&interrupted, sig);
}

struct logs_opts {
  bool follow, timestamps;
  const char *since;
  int tail;
};

static const struct berth_flag logs_flags[] = {
    BERTH_FLAG("follow", 'f', BERTH_FLAG_BOOL, struct logs_opts, follow),
    BERTH_FLAG("since", 0, BERTH_FLAG_STRING, struct logs_opts, since),
    BERTH_FLAG("tail", 'n', BERTH_FLAG_INT, struct logs_opts, tail,
               .bad = "is not a number of lines"),
    BERTH_FLAG("timestamps", 't', BERTH_FLAG_BOOL, struct logs_opts, timestamps),
};

/* Also berth_cmd_logs.flags: after "logs", -f is --follow (as in
 * docker compose logs -f), not the global -f FILE. */
static const struct berth_flags logs_fl = BERTH_FLAGS(logs_flags, 0);

struct stream {
  struct berth_mux_source src;
  const char *id;
  const struct berth_logs_opts *o;
  pthread_t thread;
  bool started;
  berth_err err;
};

static void *follow(void *arg) {
  struct stream *s = arg;
  berth_attach_logs(s->id, s->o, berth_mux_output, &s->src, &s->err);
  berth_mux_source_flush(&s->src);
  return NULL;
}

/* --since: a duration back from now (10m), or unix seconds. */
static int parse_since(const char *v, int64_t *ret) {
  int64_t ms = berth_cmd_duration(v);
  char *end;
  long long abs = strtoll(v, &end, 10);
  if (!*end && abs > 1000000000LL)
    *ret = abs;
  else if (ms >= 0)
    *ret = berth_unix_ms() / 1000 - ms / 1000;
  else {
    fprintf(stderr, "berth logs: --since %s is neither a duration (10m) nor unix time\n", v);
    return 2;
  }
  return 0;
}

/* The units to show: all, or those of the services named. Says which
 * named service has no container (code 1). */
static int pick(const struct berth_status *st, int argc, char **argv, struct berth_mux *mux,
                const struct berth_logs_opts *lo, struct stream *streams, size_t *ret_n) {
  size_t n = 0;
  int code = 0;
  for (size_t i = 0; i < st->n; i++) {
    bool want = argc == 0;
    for (int k = 0; k < argc && !want; k++)
      want = !strcmp(argv[k], st->v[i].service);
    if (!want)
      continue;
    char prefix[160];
    berth_cmd_unit_name(&st->v[i], prefix, sizeof(prefix));
    berth_mux_source_init(&streams[n].src, mux, prefix, berth_mux_color(n));
    streams[n].id = st->v[i].id;
    streams[n].o = lo;
    berth_mux_widen(mux, prefix);
    n++;
  }
  for (int k = 0; k < argc; k++) {
    bool found = false;
    for (size_t i = 0; i < n; i++)
      found |= !strncmp(streams[i].src.prefix, argv[k], strlen(argv[k]));
    if (!found) {
      fprintf(stderr, "berth logs: %s has no container; berth ps lists what runs\n", argv[k]);
      code = 1;
    }
  }
  *ret_n = n;
  return code;
}

/* One thread per stream; all joined. Ctrl-C ends the streams first. */
static int follow_all(struct stream *streams, size_t n, bool follow_mode) {
  struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
  if (follow_mode) {
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  int code = 0;
  for (size_t i = 0; i < n; i++)
    streams[i].started = pthread_create(&streams[i].thread, NULL, follow, &streams[i]) == 0;
  for (size_t i = 0; i < n; i++) {
    if (streams[i].started)
      pthread_join(streams[i].thread, NULL);
    else
      follow(&streams[i]); /* no thread to be had: this one in turn */
    if (streams[i].err)
      code = berth_report(&streams[i].err, 1);
    berth_mux_source_release(&streams[i].src);
  }
  if (follow_mode) {
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
  }
  return code;
}

static int show(const struct berth_globals *g, const char *project, int argc, char **argv,
                const struct berth_logs_opts *lo) {
  struct berth_status st = {0};
  berth_err err = NULL;
  if (berth_engine_ps(project, &st, &err) < 0)
    return berth_report(&err, 1);
  struct stream *streams = calloc(st.n + 1, sizeof(*streams));
  if (!streams) {
    berth_status_release(&st);
    fputs("berth: out of memory\n", stderr);
    return 1;
  }
  struct berth_mux mux;
  berth_mux_init(&mux, g, 0);
  size_t n;
  int code = pick(&st, argc, argv, &mux, lo, streams, &n);
  int r = follow_all(streams, n, lo->follow);
  free(streams);
  berth_status_release(&st);
  return r ? r : code;
}

static int run(int argc_, char **argv_, const struct berth_globals *g) {
  struct logs_opts opts = {.tail = -1};
  _cleanup_free_ char **argv = NULL;
  int argc;
  int code = berth_cmd_flags(&berth_cmd_logs, &logs_fl, argc_, argv_, &opts, &argc, &argv);
  if (code)
    return code;
  struct berth_logs_opts lo = {.follow = opts.follow,
                               .timestamps = opts.timestamps,
                               .tail = opts.tail,
                               .stop = &interrupted};
  if (opts.since && (code = parse_since(opts.since, &lo.since)) != 0)
    return code;
  struct berth_project *p = NULL;
  code = berth_cmd_load(g, &p);
  if (code)
    return code;
  code = show(g, p->name, argc, argv, &lo);
  berth_project_free(p);
  int sig = atomic_load(&interrupted);
  if (sig) { /* end as Ctrl-C ends a program, now that all is released */
    fflush(stdout);
    signal(sig, SIG_DFL);
    raise(sig);
  }
  return code;
}

const struct berth_cmd berth_cmd_logs = {
    .name = "logs",
    .usage = "berth logs [-f] [--since 10m] [--tail N] [-t] [SERVICE...]",
    .summary = "Show the services' output, one prefix per service",
    .help = "  -f, --follow       keep printing new output until Ctrl-C\n"
            "      --since T      output since a duration ago (10m) or unix time\n"
            "  -n, --tail N       the last N lines of each service\n"
            "  -t, --timestamps   each line with its time\n"
            "\n"
            "After 'logs', -f is --follow; name a manifest before it\n"
            "(berth -f dev.yaml logs -f) or as --file dev.yaml.\n",
    .flags = &logs_fl,
    .run = run,
};
