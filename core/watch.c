/* berth watch: the loop thread. libuv watches every directory under each
 * rule's path and waits out each rule's quiet period (watch-tree.c); the
 * batches go to one worker thread per service (watch-worker.c), so the
 * loop keeps noticing saves while an action runs. See watch-internal.h
 * for who owns what. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "watch-internal.h"

/* How often an outside stop flag is looked at, for a plain store into
 * it; berth_watch_stop() and signals stop the loop at once. */
#define STOP_CHECK_MS 100

/* The running sessions, so that berth_watch_stop() can wake the ones
 * given its flag. */
static pthread_mutex_t running_mu = PTHREAD_MUTEX_INITIALIZER;
static struct watch_session *running;

void berth__watch_emit(struct watch_rule *r, enum berth_watch_what what, size_t files,
                       size_t deleted, int64_t ms, const char *detail) {
  struct watch_session *s = r->s;
  if (!s->o->on_event)
    return;
  struct berth_watch_event ev = {.service = r->svc->name,
                                 .what = what,
                                 .files = files,
                                 .deleted = deleted,
                                 .ms = ms,
                                 .detail = detail};
  pthread_mutex_lock(&s->emit_mu);
  s->o->on_event(&ev, s->o->ud);
  pthread_mutex_unlock(&s->emit_mu);
}

/* An error event: shown on the service's line, watching goes on. */
void berth__watch_emitf(struct watch_rule *r, const char *fmt, ...) {
  char detail[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof(detail), fmt, ap);
  va_end(ap);
  berth__watch_emit(r, BERTH_WATCH_EV_ERROR, 0, 0, 0, detail);
}

bool berth_watch_is_temp(const char *name) {
  const char *base = strrchr(name, '/');
  base = base ? base + 1 : name;
  size_t n = strlen(base);
  if (!n)
    return true;
  if (base[n - 1] == '~' || !strcmp(base, "4913") || !strncmp(base, ".#", 2) ||
      (base[0] == '#' && base[n - 1] == '#'))
    return true;
  const char *dot = strrchr(base, '.');
  return dot && (!strcmp(dot, ".swp") || !strcmp(dot, ".swx") || !strcmp(dot, ".swo") ||
                 !strcmp(dot, ".tmp") || !strcmp(dot, ".crswap"));
}

/* Adds the rules of an ignore file that lives in base to the rule's
 * matcher, which matches paths relative to the rule's root. git: the
 * .gitignore reading (a name without a slash matches at any depth, a
 * leading slash anchors); else .dockerignore's (anchored to base). */
static int add_ignore_file(struct watch_rule *r, const char *file, const char *base, bool git,
                           berth_err *err) {
  size_t bl = strlen(base);
  if (strncmp(r->root, base, bl) || (r->root[bl] && r->root[bl] != '/'))
    return 0; /* the rule is not below that file's directory */
  const char *prefix = r->root[bl] ? r->root + bl + 1 : "";
  size_t pl = strlen(prefix);
  _cleanup_fclose_ FILE *f = fopen(file, "re");
  if (!f)
    return errno == ENOENT || errno == ENOTDIR ? 0 : berth_err_errno(err, errno, "%s", file);
  _cleanup_free_ char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) >= 0) {
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
      line[--n] = '\0';
    char *pat = line;
    if (!*pat || *pat == '#')
      continue;
    bool neg = *pat == '!';
    if (neg)
      pat++;
    size_t len = strlen(pat);
    while (len > 1 && pat[len - 1] == '/')
      pat[--len] = '\0';
    char buf[4096];
    if (git) {
      bool anchored = strchr(pat, '/') != NULL;
      while (*pat == '/')
        pat++;
      snprintf(buf, sizeof(buf), "%s%s", anchored ? "" : "**/", pat);
    } else {
      snprintf(buf, sizeof(buf), "%s", pat[0] == '/' ? pat + 1 : pat);
    }
    const char *rel = buf;
    if (pl && strncmp(buf, "**/", 3)) {
      if (strncmp(buf, prefix, pl) || buf[pl] != '/')
        continue; /* about a place outside the rule's root */
      rel = buf + pl + 1;
    }
    char rule_line[4200];
    snprintf(rule_line, sizeof(rule_line), "%s%s", neg ? "!" : "", rel);
    int rc = berth_ignore_add(r->ign, rule_line, err);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int load_ignores(struct watch_rule *r, berth_err *err) {
  int rc = berth_ignore_new(&r->ign, err);
  for (size_t i = 0; rc >= 0 && i < r->w->ignore.n; i++)
    rc = berth_ignore_add(r->ign, r->w->ignore.v[i], err);
  /* .dockerignore of the build context, the .gitignore of the project and
   * of the rule's root, each read from where it lives. */
  _cleanup_free_ char *d1 = NULL, *g1 = NULL, *g2 = NULL;
  if (rc >= 0 && r->svc->build && asprintf(&d1, "%s/.dockerignore", r->svc->build->context) >= 0)
    rc = add_ignore_file(r, d1, r->svc->build->context, false, err);
  if (rc >= 0 && asprintf(&g2, "%s/.gitignore", r->s->p->dir) >= 0)
    rc = add_ignore_file(r, g2, r->s->p->dir, true, err);
  if (rc >= 0 && strcmp(r->root, r->s->p->dir) && asprintf(&g1, "%s/.gitignore", r->root) >= 0)
    rc = add_ignore_file(r, g1, r->root, true, err);
  return rc;
}

/* Sets up one rule: its root (a rule on one file watches its directory
 * for that name), its ignore rules, its timer. */
static int rule_init(struct watch_session *s, struct watch_rule *r, const struct berth_service *svc,
                     const struct berth_watch *w, berth_err *err) {
  r->s = s;
  r->svc = svc;
  r->w = w;
  uv_timer_init(&s->loop, &r->timer);
  r->timer.data = r;
  if (!(r->root = strdup(w->path)))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  struct stat st;
  if (stat(r->root, &st) == 0 && !S_ISDIR(st.st_mode)) {
    char *slash = strrchr(r->root, '/');
    if (!slash || !(r->only = strdup(slash + 1)))
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    *slash = '\0';
  }
  return load_ignores(r, err);
}

/* Records the rule's tree and starts watching it. */
static int rule_start(struct watch_rule *r, berth_err *err) {
  struct stat st;
  if (stat(r->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
    berth__watch_emitf(r, "%s is not a directory; this rule waits for nothing", r->root);
    return 0;
  }
  if (berth__watch_tree(r, r->root, true, err) < 0)
    return berth_err_wrap(err, "watching %s", r->root);
  char msg[700];
  snprintf(msg, sizeof(msg), "watching %s (%zu files, %s%s%s)", r->root, r->tab_n,
           berth_watch_action_name(r->w->action), r->w->target ? " to " : "",
           r->w->target ? r->w->target : "");
  berth__watch_emit(r, BERTH_WATCH_EV_WATCHING, 0, 0, 0, msg);
  return 0;
}

static bool wanted(const struct berth_watch_opts *o, const struct berth_service *svc) {
  bool want = !o->n_services;
  for (size_t k = 0; k < o->n_services && !want; k++)
    want = !strcmp(o->services[k], svc->name);
  return want;
}

static int rules_init(struct watch_session *s, berth_err *err) {
  const struct berth_project *p = s->p;
  size_t n = 0;
  for (size_t i = 0; i < p->n_services; i++)
    n += p->services[i].n_watch;
  if (!(s->rules = calloc(n + 1, sizeof(*s->rules))))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  for (size_t i = 0; i < p->n_services; i++) {
    const struct berth_service *svc = &p->services[i];
    for (size_t w = 0; wanted(s->o, svc) && w < svc->n_watch; w++) {
      struct watch_rule *r = &s->rules[s->n_rules++];
      if (rule_init(s, r, svc, &svc->watch[w], err) < 0 || rule_start(r, err) < 0)
        return -1;
    }
  }
  if (!s->n_rules)
    return berth_err_set(
        err, BERTH_E_INVALID,
        "nothing to watch: no service%s has watch rules (watch: or develop.watch:)",
        s->o->n_services ? " named" : "");
  return 0;
}

static void rules_free(struct watch_session *s) {
  for (size_t i = 0; i < s->n_rules; i++) {
    struct watch_rule *r = &s->rules[i];
    free(r->root);
    free(r->only);
    berth_ignore_free(r->ign);
    free(r->dirs);
    for (size_t k = 0; k < r->tab_cap; k++)
      free(r->tab[k].rel);
    free(r->tab);
    free(r->container);
    berth_strv_release(&r->pending);
    berth_strv_release(&r->pending_gone);
    berth_strv_release(&r->queued);
    berth_strv_release(&r->queued_gone);
    berth_strv_release(&r->retry);
    berth_strv_release(&r->gone);
  }
  free(s->rules);
}

static void on_signal(uv_signal_t *h, int signum) {
  uv_stop(h->loop);
}

static void on_stop_check(uv_timer_t *t) {
  struct watch_session *s = t->data;
  if (atomic_load(s->o->stop))
    uv_stop(&s->loop);
}

/* Sent only by berth_watch_stop(). */
static void on_wake(uv_async_t *h) {
  uv_stop(h->loop);
}

void berth_watch_stop(atomic_int *stop) {
  atomic_store(stop, 1);
  pthread_mutex_lock(&running_mu);
  for (struct watch_session *s = running; s; s = s->next_running)
    if (s->o->stop == stop)
      uv_async_send(&s->wake);
  pthread_mutex_unlock(&running_mu);
}

static void set_running(struct watch_session *s, bool on) {
  pthread_mutex_lock(&running_mu);
  struct watch_session **at = &running;
  while (*at && *at != s)
    at = &(*at)->next_running;
  if (on && !*at)
    *at = s;
  else if (!on && *at)
    *at = s->next_running;
  pthread_mutex_unlock(&running_mu);
}

static void close_cb(uv_handle_t *h) {}

static void walk_close(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h))
    uv_close(h, h->type == UV_FS_EVENT ? berth__watch_close_dir : close_cb);
}

static void run_loop(struct watch_session *s) {
  uv_signal_init(&s->loop, &s->sigint);
  uv_signal_init(&s->loop, &s->sigterm);
  uv_signal_start(&s->sigint, on_signal, SIGINT);
  uv_signal_start(&s->sigterm, on_signal, SIGTERM);
  if (s->o->stop) {
    uv_timer_init(&s->loop, &s->stop_check);
    s->stop_check.data = s;
    uv_timer_start(&s->stop_check, on_stop_check, STOP_CHECK_MS, STOP_CHECK_MS);
    uv_async_init(&s->loop, &s->wake, on_wake);
    s->wake.data = s;
    set_running(s, true);
  }
  if (!s->o->stop || !atomic_load(s->o->stop))
    uv_run(&s->loop, UV_RUN_DEFAULT);
  if (s->o->stop)
    set_running(s, false);
}

int berth_watch_run(const struct berth_project *p, const struct berth_watch_opts *o,
                    berth_err *err) {
  struct watch_session s = {.p = p, .o = o};
  s.quiet_ms = o->quiet_ms > 0 ? o->quiet_ms : BERTH_WATCH_QUIET_MS;
  int rc = uv_loop_init(&s.loop);
  if (rc < 0)
    return berth_err_set(err, BERTH_E_FAILED, "starting the event loop: %s", uv_strerror(rc));
  pthread_mutex_init(&s.emit_mu, NULL);
  pthread_mutex_init(&s.engine_mu, NULL);
  pthread_mutex_init(&s.ev_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s.ev_cv, &ca);
  pthread_condattr_destroy(&ca);
  rc = rules_init(&s, err);
  if (rc >= 0)
    rc = berth__watch_workers_start(&s, err);
  if (rc >= 0)
    rc = berth__watch_events_start(&s, err);
  if (rc >= 0)
    run_loop(&s);
  /* The events thread ends first (it updates the workers), then the
   * workers finish what they run and are joined; then every handle is
   * closed and the loop runs their close callbacks. */
  berth__watch_events_stop(&s);
  berth__watch_workers_stop(&s);
  uv_walk(&s.loop, walk_close, NULL);
  uv_run(&s.loop, UV_RUN_DEFAULT);
  uv_loop_close(&s.loop);
  rules_free(&s);
  pthread_cond_destroy(&s.ev_cv);
  pthread_mutex_destroy(&s.ev_mu);
  pthread_mutex_destroy(&s.engine_mu);
  pthread_mutex_destroy(&s.emit_mu);
  return rc;
}
