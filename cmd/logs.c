/* berth logs: every service's output, one aligned coloured prefix each. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/buf.h"
#include "berth/cleanup.h"
#include "docker.h"
#include "project.h"

struct stream {
  char prefix[160];
  const char *id;
  const struct berth_docker_logs_opts *o;
  const struct berth_globals *g;
  int color;
  struct berth_buf line[3]; /* partial lines per stream */
  berth_err err;
};

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static int width;

static void emit_line(struct stream *s, const char *text, size_t n) {
  static const char *const colors[] = {"\033[36m", "\033[33m", "\033[32m", "\033[35m",
                                       "\033[34m", "\033[91m", "\033[92m", "\033[96m"};
  pthread_mutex_lock(&out_mu);
  printf("%s%-*s |%s %.*s\n", berth_sgr(s->g, colors[s->color % 8]), width, s->prefix,
         berth_sgr(s->g, "\033[0m"), (int)n, text);
  fflush(stdout);
  pthread_mutex_unlock(&out_mu);
}

static int on_output(enum berth_docker_stream which, const char *data, size_t len, void *ud) {
  struct stream *s = ud;
  struct berth_buf *b = &s->line[which];
  while (len) {
    const char *nl = memchr(data, '\n', len);
    size_t take = nl ? (size_t)(nl - data) : len;
    if (berth_buf_add(b, data, take) < 0) { /* an endless line: print what we have */
      emit_line(s, b->data, b->len);
      berth_buf_reset(b);
    }
    if (!nl)
      break;
    size_t n = b->len;
    if (n && b->data[n - 1] == '\r')
      n--;
    emit_line(s, b->data ? b->data : "", n);
    berth_buf_reset(b);
    data += take + 1;
    len -= take + 1;
  }
  return 0;
}

static void *follow(void *arg) {
  struct stream *s = arg;
  struct berth_docker *d = NULL;
  if (berth_docker_open(&d, NULL, &s->err) >= 0)
    berth_docker_container_logs(d, s->id, s->o, on_output, s, &s->err);
  for (int i = 0; i < 3; i++)
    if (s->line[i].len)
      emit_line(s, s->line[i].data, s->line[i].len);
  berth_docker_close(d);
  return NULL;
}

static int run(int argc, char **argv, const struct berth_globals *g) {
  static const struct option opts[] = {{"follow", no_argument, NULL, 'f'},
                                       {"since", required_argument, NULL, 's'},
                                       {"tail", required_argument, NULL, 'n'},
                                       {"timestamps", no_argument, NULL, 't'},
                                       {NULL, 0, NULL, 0}};
  struct berth_docker_logs_opts lo = {.tail = -1};
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "ftn:", opts, NULL)) != -1) {
    switch (c) {
    case 'f':
      lo.follow = true;
      break;
    case 't':
      lo.timestamps = true;
      break;
    case 'n': {
      char *end;
      long n = strtol(optarg, &end, 10);
      if (*end || n < 0) {
        fprintf(stderr, "berth logs: --tail %s is not a number of lines\n", optarg);
        return 2;
      }
      lo.tail = (int)n;
      break;
    }
    case 's': {
      /* A duration back from now (10m), or unix seconds. */
      int64_t ms = berth_cmd_duration(optarg);
      char *end;
      long long abs = strtoll(optarg, &end, 10);
      if (!*end && abs > 1000000000LL)
        lo.since = abs;
      else if (ms >= 0)
        lo.since = (int64_t)time(NULL) - ms / 1000;
      else {
        fprintf(stderr, "berth logs: --since %s is neither a duration (10m) nor unix time\n",
                optarg);
        return 2;
      }
      break;
    }
    default:
      fprintf(stderr, "berth logs: unknown flag %s\nusage: %s\n", argv[optind - 1],
              berth_cmd_logs.usage);
      return 2;
    }
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
  struct stream *streams = calloc(st.n + 1, sizeof(*streams));
  pthread_t *threads = calloc(st.n + 1, sizeof(*threads));
  size_t n = 0;
  for (size_t i = 0; streams && threads && i < st.n; i++) {
    bool want = optind >= argc;
    for (int k = optind; k < argc && !want; k++)
      want = !strcmp(argv[k], st.v[i].service);
    if (!want)
      continue;
    struct stream *s = &streams[n];
    berth_cmd_unit_name(&st.v[i], s->prefix, sizeof(s->prefix));
    s->id = st.v[i].id;
    s->o = &lo;
    s->g = g;
    s->color = (int)n;
    for (int k = 0; k < 3; k++)
      berth_buf_init(&s->line[k], 1 << 20);
    if ((int)strlen(s->prefix) > width)
      width = (int)strlen(s->prefix);
    n++;
  }
  for (int k = optind; k < argc; k++) {
    bool found = false;
    for (size_t i = 0; i < n; i++)
      found |= !strncmp(streams[i].prefix, argv[k], strlen(argv[k]));
    if (!found) {
      fprintf(stderr, "berth logs: %s has no container; berth ps lists what runs\n", argv[k]);
      code = 1;
    }
  }
  for (size_t i = 0; i < n; i++)
    if (pthread_create(&threads[i], NULL, follow, &streams[i]) != 0)
      follow(&streams[i]);
  for (size_t i = 0; i < n; i++) {
    if (threads[i])
      pthread_join(threads[i], NULL);
    if (streams[i].err) {
      code = berth_report(&streams[i].err, 1);
    }
    for (int k = 0; k < 3; k++)
      berth_buf_release(&streams[i].line[k]);
  }
  free(streams);
  free(threads);
  berth_status_release(&st);
  berth_project_free(p);
  return code;
}

const struct berth_cmd berth_cmd_logs = {
    .name = "logs",
    .usage = "berth logs [-f] [--since 10m] [--tail N] [-t] [SERVICE...]",
    .summary = "Show the services' output, one prefix per service",
    .run = run,
};
