/* berth watch: one worker thread per watched service. The loop thread
 * hands it batches (berth__watch_hand_over); the worker works out what
 * really changed, adds what an earlier action could not deliver, and runs
 * the rule's action with its own Docker client. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "berth/clock.h"
#include "berth/engine.h" /* rebuild */
#include "cleanup.h"
#include "watch-internal.h"

/* How often changes an action could not deliver (container stopped or
 * gone) are tried again while nothing else happens. */
#define RETRY_MS 1000

struct batch {
  struct berth_strv files;   /* relative paths written into the container */
  struct berth_strv deleted; /* relative paths removed from it */
};

static int nomem(berth_err *err) {
  return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
}

/* Appends s unless the list has it. */
static int add_once(struct berth_strv *v, const char *s) {
  return berth_strv_find(v, s) >= 0 ? 0 : berth_strv_push(v, s);
}

/* ---- the hand-over (loop thread) ---- */

int berth__watch_hand_over(struct watch_rule *r, berth_err *err) {
  struct watch_worker *wk = r->wk;
  int rc = 0;
  pthread_mutex_lock(&wk->mu);
  if (!r->queued.n && !r->queued_gone.n) {
    /* The worker took the last batch: this one moves over whole. */
    r->queued = r->pending;
    r->queued_gone = r->pending_gone;
    r->pending = (struct berth_strv){0};
    r->pending_gone = (struct berth_strv){0};
  } else {
    /* An action runs and a batch waits already: they become one. */
    for (size_t i = 0; rc >= 0 && i < r->pending.n; i++)
      rc = add_once(&r->queued, r->pending.v[i]);
    for (size_t i = 0; rc >= 0 && i < r->pending_gone.n; i++)
      rc = add_once(&r->queued_gone, r->pending_gone.v[i]);
    if (rc >= 0) {
      berth_strv_release(&r->pending);
      berth_strv_release(&r->pending_gone);
    }
  }
  if (rc >= 0 && !r->in_queue && (r->queued.n || r->queued_gone.n)) {
    wk->queue[(wk->q_head + wk->q_n++) % wk->n_rules] = r;
    r->in_queue = true;
    pthread_cond_signal(&wk->cv);
  }
  pthread_mutex_unlock(&wk->mu);
  return rc < 0 ? berth_err_set(err, BERTH_E_NOMEM, "out of memory handing %zu changes over",
                                r->pending.n)
                : 0;
}

/* ---- what a batch carries ---- */

/* A path that no longer exists: a file berth knew, or a directory that
 * went away (what was below it goes too). True when it is a deletion. */
static bool vanished(struct watch_rule *r, const char *rel) {
  struct watch_entry *e = berth__watch_lookup(r, rel, false);
  if (e) {
    berth__watch_forget(r, e);
    return true;
  }
  bool any = berth_strv_find(&r->gone, rel) >= 0;
  size_t rl = strlen(rel);
  for (size_t k = 0; k < r->tab_cap; k++)
    if (r->tab[k].rel && !strncmp(r->tab[k].rel, rel, rl) && r->tab[k].rel[rl] == '/') {
      berth__watch_forget(r, &r->tab[k]);
      k = (size_t)-1; /* the table moved: start again */
      any = true;
    }
  return any;
}

/* What really changed: the content differs from what berth knows. */
static int what_changed(struct watch_rule *r, const struct berth_strv *paths, struct batch *b,
                        berth_err *err) {
  for (size_t i = 0; i < paths->n; i++) {
    const char *rel = berth__watch_rel(r, paths->v[i]);
    if (!rel || !*rel || berth__watch_ignored(r, rel))
      continue;
    struct stat st;
    if (lstat(paths->v[i], &st) < 0) {
      if (vanished(r, rel) && add_once(&b->deleted, rel) < 0)
        return nomem(err);
      continue;
    }
    if (S_ISDIR(st.st_mode))
      continue;
    uint64_t h = 0;
    if (S_ISREG(st.st_mode) && berth__watch_hash_file(paths->v[i], &h) < 0)
      continue; /* vanished or unreadable between the event and now */
    struct watch_entry *e = berth__watch_lookup(r, rel, false);
    if (e && e->hash == h && S_ISREG(st.st_mode))
      continue; /* saved without a change */
    if (add_once(&b->files, rel) < 0 || (!e && !(e = berth__watch_lookup(r, rel, true))))
      return nomem(err);
    e->hash = h;
    e->synced = true;
  }
  return 0;
}

/* What an earlier action could not deliver goes with this one. */
static int add_retries(struct watch_rule *r, struct batch *b, berth_err *err) {
  for (size_t k = 0; k < r->retry.n; k++) {
    const char *rel = r->retry.v[k];
    if (berth_strv_find(&b->files, rel) >= 0 || berth_strv_find(&b->deleted, rel) >= 0)
      continue;
    if (berth_strv_push(berth__watch_lookup(r, rel, false) ? &b->files : &b->deleted, rel) < 0)
      return nomem(err); /* the retry list stays: nothing is lost */
  }
  berth_strv_release(&r->retry);
  return 0;
}

static int deeper_first(const void *a, const void *b) {
  size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
  return la < lb ? 1 : la > lb ? -1 : 0;
}

/* A container recreated since the last batch has none of the files
 * synced before, so they go again, and what was deleted since watching
 * began, as the image may have it. */
static int resend_all(struct watch_rule *r, struct batch *b, berth_err *err) {
  for (size_t k = 0; k < r->tab_cap; k++)
    if (r->tab[k].rel && r->tab[k].synced && add_once(&b->files, r->tab[k].rel) < 0)
      return nomem(err);
  for (size_t g = 0; g < r->gone.n; g++) {
    _cleanup_free_ char *again = NULL;
    struct stat st;
    if (asprintf(&again, "%s/%s", r->root, r->gone.v[g]) < 0)
      return nomem(err);
    if (berth__watch_lookup(r, r->gone.v[g], false) || lstat(again, &st) == 0)
      continue;
    if (add_once(&b->deleted, r->gone.v[g]) < 0)
      return nomem(err);
  }
  return 0;
}

/* ---- the actions ---- */

static int rebuild(struct watch_rule *r, const struct batch *b, int64_t t0, berth_err *err) {
  struct watch_session *s = r->s;
  struct berth_engine_opts eo = {.services = (const char *[]){r->svc->name},
                                 .n_services = 1,
                                 .build = true,
                                 .state = s->o->state};
  pthread_mutex_lock(&s->engine_mu);
  int rc = berth_engine_up(s->p, &eo, NULL, err);
  pthread_mutex_unlock(&s->engine_mu);
  if (rc >= 0)
    berth__watch_emit(r, BERTH_WATCH_EV_REBUILT, b->files.n, b->deleted.n, berth_now_ms() - t0,
                      NULL);
  return rc;
}

static int run_command(struct watch_rule *r, const char *id, const struct batch *b, int64_t t0,
                       berth_err *err) {
  struct berth_buf out = BERTH_BUF_INIT(1 << 20);
  int code = -1;
  int rc = berth__watch_exec(r, id, (const char *const *)r->w->command.v, &out, &code, err);
  if (rc >= 0) {
    for (char *save = NULL, *l = out.data ? strtok_r(out.data, "\n", &save) : NULL; l;
         l = strtok_r(NULL, "\n", &save))
      berth__watch_emit(r, BERTH_WATCH_EV_OUTPUT, 0, 0, 0, l);
    char detail[512];
    snprintf(detail, sizeof(detail), "%s exited with %d", r->w->command.v[0], code);
    berth__watch_emit(r, code == 0 ? BERTH_WATCH_EV_EXECUTED : BERTH_WATCH_EV_ERROR, b->files.n,
                      b->deleted.n, berth_now_ms() - t0, detail);
  }
  berth_buf_release(&out);
  return rc;
}

/* Writes the batch into the container (sync, sync+restart, exec). A
 * write that fails makes the target unknown: the retry asks the engine
 * where the container is, in case an event has not said it yet. */
static int write_into(struct watch_rule *r, const char *id, int pid, const struct batch *b,
                      berth_err *err) {
  if (berth__watch_sync(r, id, pid, &b->files, &b->deleted, err) < 0) {
    berth__watch_target_forget(r->wk);
    return -1;
  }
  return 0;
}

static int apply(struct watch_rule *r, struct batch *b, int64_t t0, berth_err *err) {
  enum berth_watch_action a = r->w->action;
  if (a == BERTH_WATCH_REBUILD)
    return rebuild(r, b, t0, err);
  _cleanup_free_ char *id = NULL;
  int pid = 0;
  if (berth__watch_container(r->wk, &id, &pid, err) < 0)
    return -1;
  if (!r->container || strcmp(r->container, id)) {
    if (r->container && r->w->target && resend_all(r, b, err) < 0)
      return -1;
    free(r->container);
    if (!(r->container = strdup(id)))
      return nomem(err);
  }
  if (r->w->target &&
      (a == BERTH_WATCH_SYNC || a == BERTH_WATCH_SYNC_RESTART || a == BERTH_WATCH_EXEC)) {
    if (write_into(r, id, pid, b, err) < 0)
      return -1;
    if (a == BERTH_WATCH_SYNC) {
      berth__watch_emit(r, BERTH_WATCH_EV_SYNCED, b->files.n, b->deleted.n, berth_now_ms() - t0,
                        NULL);
      return 0;
    }
  }
  if (a == BERTH_WATCH_RESTART || a == BERTH_WATCH_SYNC_RESTART) {
    int grace = r->svc->stop_grace_ms > 0 ? (int)(r->svc->stop_grace_ms / 1000) : 10;
    int rc = berth_docker_container_restart(r->wk->d, id, grace, err);
    /* A new process: its PID is looked up, whichever of the events and
     * the next action comes first. */
    berth__watch_target_forget(r->wk);
    if (rc < 0)
      return -1;
    berth__watch_emit(r, BERTH_WATCH_EV_RESTARTED, b->files.n, b->deleted.n, berth_now_ms() - t0,
                      NULL);
  } else if (a == BERTH_WATCH_EXEC) {
    return run_command(r, id, b, t0, err);
  }
  return 0;
}

/* Nothing is half-applied silently: says what did not reach the
 * container; it is sent again with the next change. */
static void failed(struct watch_rule *r, const struct batch *b, int64_t t0, berth_err *err) {
  _cleanup_free_ char *msg = berth_err_string(*err);
  size_t n = b->files.n + b->deleted.n, kept = 0;
  for (size_t f = 0; f < n; f++) {
    const char *rel = f < b->files.n ? b->files.v[f] : b->deleted.v[f - b->files.n];
    kept += add_once(&r->retry, rel) >= 0;
  }
  char detail[1024];
  if (kept == n)
    snprintf(detail, sizeof(detail), "%zu change%s not applied yet (retried): %s", n,
             n == 1 ? "" : "s", msg ? msg : "error");
  else
    snprintf(detail, sizeof(detail),
             "%zu change%s not applied, %zu of them lost (out of memory; save them again): %s", n,
             n == 1 ? "" : "s", n - kept, msg ? msg : "error");
  berth__watch_emit(r, BERTH_WATCH_EV_ERROR, b->files.n, b->deleted.n, berth_now_ms() - t0, detail);
  berth_err_free(err);
}

/* One batch of a rule: paths changed (absolute) and directories that went
 * away (relative), both taken from the hand-over. */
static void run_batch(struct watch_rule *r, const struct berth_strv *paths,
                      const struct berth_strv *gone_dirs) {
  int64_t t0 = berth_now_ms();
  struct batch b = {0};
  berth_err err = NULL;
  int rc = 0;
  for (size_t i = 0; rc >= 0 && i < gone_dirs->n; i++)
    if (add_once(&r->gone, gone_dirs->v[i]) < 0)
      rc = nomem(&err);
  if (rc >= 0)
    rc = what_changed(r, paths, &b, &err);
  if (rc >= 0)
    rc = add_retries(r, &b, &err);
  for (size_t f = 0; rc >= 0 && f < b.deleted.n; f++)
    if (add_once(&r->gone, b.deleted.v[f]) < 0)
      rc = nomem(&err);
  if (b.deleted.n > 1)
    qsort(b.deleted.v, b.deleted.n, sizeof(*b.deleted.v), deeper_first);
  if (rc >= 0 && (b.files.n || b.deleted.n))
    rc = apply(r, &b, t0, &err);
  if (rc < 0)
    failed(r, &b, t0, &err);
  berth_strv_release(&b.files);
  berth_strv_release(&b.deleted);
}

/* ---- the worker ---- */

/* Changes an action could not deliver are tried again once the container
 * runs. A failed rebuild waits for the next change: its container still
 * runs, and building the same broken tree again helps no one. */
static bool wants_retry(const struct watch_rule *r) {
  return r->retry.n && r->w->action != BERTH_WATCH_REBUILD;
}

static void retry_failed(struct watch_worker *wk) {
  static const struct berth_strv none = {0};
  for (size_t i = 0; i < wk->n_rules; i++) {
    struct watch_rule *r = &wk->rules[i];
    if (!wants_retry(r))
      continue;
    _cleanup_free_ char *id = NULL;
    int pid = 0;
    berth_err err = NULL;
    if (berth__watch_container(wk, &id, &pid, &err) < 0) {
      berth_err_free(&err);
      continue;
    }
    run_batch(r, &none, &none);
  }
}

static void wait_until(struct watch_worker *wk, int64_t deadline_ms) {
  struct timespec ts = {.tv_sec = (time_t)(deadline_ms / 1000),
                        .tv_nsec = (long)(deadline_ms % 1000) * 1000000};
  pthread_cond_timedwait(&wk->cv, &wk->mu, &ts);
}

static void *worker_main(void *arg) {
  struct watch_worker *wk = arg;
  int64_t next_retry = berth_now_ms() + RETRY_MS;
  pthread_mutex_lock(&wk->mu);
  while (!wk->quit) {
    if (wk->q_n) {
      struct watch_rule *r = wk->queue[wk->q_head];
      wk->q_head = (wk->q_head + 1) % wk->n_rules;
      wk->q_n--;
      r->in_queue = false;
      struct berth_strv paths = r->queued, gone = r->queued_gone;
      r->queued = r->queued_gone = (struct berth_strv){0};
      pthread_mutex_unlock(&wk->mu);
      run_batch(r, &paths, &gone);
      berth_strv_release(&paths);
      berth_strv_release(&gone);
      pthread_mutex_lock(&wk->mu);
      continue;
    }
    if (berth__watch_target_stale(wk)) {
      /* The container started or the events stream came back: its
       * target is looked up now, not by the next save; what could not
       * be delivered goes at once. */
      pthread_mutex_unlock(&wk->mu);
      berth__watch_target_refresh(wk);
      pthread_mutex_lock(&wk->mu);
      next_retry = berth_now_ms();
      continue;
    }
    bool retry = false;
    for (size_t i = 0; i < wk->n_rules && !retry; i++)
      retry = wants_retry(&wk->rules[i]);
    if (!retry || berth__watch_target_down(wk)) {
      /* Nothing to retry, or nothing runs to retry on: the events say
       * when it does. */
      pthread_cond_wait(&wk->cv, &wk->mu);
      next_retry = retry ? berth_now_ms() : berth_now_ms() + RETRY_MS;
    } else if (berth_now_ms() < next_retry) {
      wait_until(wk, next_retry);
    } else {
      pthread_mutex_unlock(&wk->mu);
      retry_failed(wk);
      pthread_mutex_lock(&wk->mu);
      next_retry = berth_now_ms() + RETRY_MS;
    }
  }
  pthread_mutex_unlock(&wk->mu);
  return NULL;
}

static int worker_init(struct watch_worker *wk, berth_err *err) {
  if (!(wk->queue = calloc(wk->n_rules, sizeof(*wk->queue))))
    return nomem(err);
  if (berth_docker_open(&wk->d, NULL, err) < 0)
    return -1;
  int rc = pthread_create(&wk->th, NULL, worker_main, wk);
  if (rc)
    return berth_err_errno(err, rc, "starting the watch of %s", wk->rules[0].svc->name);
  wk->started = true;
  return 0;
}

/* One worker per service: the session's rules are grouped by service. */
int berth__watch_workers_start(struct watch_session *s, berth_err *err) {
  size_t n = 0;
  for (size_t i = 0; i < s->n_rules; i++)
    n += !i || s->rules[i].svc != s->rules[i - 1].svc;
  if (!(s->workers = calloc(n ? n : 1, sizeof(*s->workers))))
    return nomem(err);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  for (size_t i = 0; i < s->n_rules; i++) {
    if (!i || s->rules[i].svc != s->rules[i - 1].svc) {
      struct watch_worker *wk = &s->workers[s->n_workers++];
      *wk = (struct watch_worker){.s = s, .rules = &s->rules[i]};
      pthread_mutex_init(&wk->mu, NULL);
      pthread_cond_init(&wk->cv, &ca); /* cannot fail on Linux without attributes to refuse */
    }
    struct watch_worker *wk = &s->workers[s->n_workers - 1];
    wk->n_rules++;
    wk->wants_target |= s->rules[i].w->action != BERTH_WATCH_REBUILD;
    s->rules[i].wk = wk;
  }
  pthread_condattr_destroy(&ca);
  for (size_t i = 0; i < s->n_workers; i++)
    if (worker_init(&s->workers[i], err) < 0)
      return -1;
  return 0;
}

/* Lets every worker finish the action it runs, then joins it. */
void berth__watch_workers_stop(struct watch_session *s) {
  for (size_t i = 0; i < s->n_workers; i++) {
    struct watch_worker *wk = &s->workers[i];
    if (!wk->started)
      continue;
    pthread_mutex_lock(&wk->mu);
    wk->quit = true;
    pthread_cond_broadcast(&wk->cv);
    pthread_mutex_unlock(&wk->mu);
  }
  for (size_t i = 0; i < s->n_workers; i++) {
    struct watch_worker *wk = &s->workers[i];
    if (wk->started)
      pthread_join(wk->th, NULL);
    pthread_cond_destroy(&wk->cv);
    pthread_mutex_destroy(&wk->mu);
    free(wk->queue);
    free(wk->tgt.id);
    berth_docker_close(wk->d);
  }
  free(s->workers);
  s->workers = NULL;
  s->n_workers = 0;
}
