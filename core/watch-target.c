/* berth watch: which container a service's rules act on. A save must not
 * wait for the engine: under load (healthcheck execs every second) a
 * container list or inspect queues behind the engine's own work and costs
 * tens to hundreds of milliseconds. So each worker keeps its target (id,
 * PID, running), and one thread reads the engine's events for the
 * project's replica-1 containers: a start or restart makes the worker look
 * the container up again at once (one inspect, before the next save
 * needs it), a die marks it stopped (changes are kept and sent when it
 * runs again), a destroy forgets it. If the stream ends, nothing is known
 * and every action looks the container up as it did before the stream,
 * until the stream is open again (tried every second). The thread is
 * stopped by interrupting its connection, and joined. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "berth/clock.h"
#include "berth/engine.h" /* labels */
#include "cleanup.h"
#include "watch-internal.h"

/* How long after the stream ends it is opened again. */
#define REOPEN_MS 1000

static int nomem(berth_err *err) {
  return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
}

static int not_running(struct watch_worker *wk, berth_err *err) {
  return berth_err_set(err, BERTH_E_NOT_FOUND,
                       "no running container (berth up %s starts it; changes are kept and "
                       "sent once it runs)",
                       wk->rules[0].svc->name);
}

/* ---- looking it up (the worker's client) ---- */

/* The running container's PID, 0 when it does not run; -1 on an engine
 * error other than "no such container". */
static int inspect_pid(struct watch_worker *wk, const char *id, int *ret_pid, berth_err *err) {
  _cleanup_json_ cJSON *info = NULL;
  *ret_pid = 0;
  if (berth_docker_container_inspect(wk->d, id, &info, err) < 0) {
    if (berth_err_code(*err) != BERTH_E_NOT_FOUND)
      return -1;
    berth_err_free(err);
    return 0;
  }
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(info, "State");
  const cJSON *pid = cJSON_GetObjectItemCaseSensitive(st, "Pid");
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "Running")))
    *ret_pid = cJSON_IsNumber(pid) && pid->valueint > 0 ? pid->valueint : -1;
  return 0;
}

/* The service's running replica 1: the container an event named (hint)
 * if it still runs, else the one a list by labels finds. *ret_id NULL:
 * none runs. *ret_pid -1: it runs, its PID is not known. */
static int look_up(struct watch_worker *wk, const char *hint, char **ret_id, int *ret_pid,
                   berth_err *err) {
  int pid = 0;
  *ret_id = NULL;
  if (hint && inspect_pid(wk, hint, &pid, err) < 0)
    return -1;
  if (pid)
    return (*ret_id = strdup(hint)) ? (*ret_pid = pid, 0) : nomem(err);
  const struct watch_rule *r = &wk->rules[0];
  char l1[300], l2[300];
  snprintf(l1, sizeof(l1), BERTH_LABEL_PROJECT "=%s", r->s->p->name);
  snprintf(l2, sizeof(l2), BERTH_LABEL_SERVICE "=%s", r->svc->name);
  const char *labels[] = {l1, l2, BERTH_LABEL_REPLICA "=1", NULL};
  _cleanup_json_ cJSON *list = NULL;
  if (berth_docker_container_list(wk->d, labels, false, &list, err) < 0)
    return -1;
  const char *id =
      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, 0), "Id"));
  if (!id)
    return 0;
  if (inspect_pid(wk, id, &pid, err) < 0)
    return -1;
  if (!pid)
    return 0; /* stopped or removed between the list and the inspect */
  return (*ret_id = strdup(id)) ? (*ret_pid = pid, 0) : nomem(err);
}

/* Looks the target up and keeps what it found, unless an event came
 * meanwhile (what it found may be older than the event) or the stream is
 * lost (no event would correct it). */
static int refresh(struct watch_worker *wk, char **ret_id, int *ret_pid, berth_err *err) {
  struct watch_target *t = &wk->tgt;
  pthread_mutex_lock(&wk->mu);
  uint64_t seq = t->seq;
  t->seen = seq;
  _cleanup_free_ char *hint = t->id ? strdup(t->id) : NULL;
  pthread_mutex_unlock(&wk->mu);
  _cleanup_free_ char *id = NULL;
  int pid = 0;
  if (look_up(wk, hint, &id, &pid, err) < 0)
    return -1;
  pthread_mutex_lock(&wk->mu);
  if (t->seq == seq && atomic_load(&wk->s->ev_live)) {
    char *keep = id ? strdup(id) : NULL;
    if (keep || !id) {
      free(t->id);
      t->id = keep;
      t->pid = pid > 0 ? pid : 0;
      t->running = id != NULL;
      t->known = true;
    }
  }
  pthread_mutex_unlock(&wk->mu);
  if (!id)
    return not_running(wk, err);
  *ret_pid = pid > 0 ? pid : 0;
  *ret_id = TAKE_PTR(id);
  return 0;
}

int berth__watch_container(struct watch_worker *wk, char **ret_id, int *ret_pid, berth_err *err) {
  struct watch_target *t = &wk->tgt;
  pthread_mutex_lock(&wk->mu);
  if (t->known && atomic_load(&wk->s->ev_live)) {
    int rc = !t->running || !t->id        ? not_running(wk, err)
             : !(*ret_id = strdup(t->id)) ? nomem(err)
                                          : (*ret_pid = t->pid, 0);
    pthread_mutex_unlock(&wk->mu);
    return rc;
  }
  pthread_mutex_unlock(&wk->mu);
  return refresh(wk, ret_id, ret_pid, err);
}

bool berth__watch_target_stale(const struct watch_worker *wk) {
  const struct watch_target *t = &wk->tgt;
  return wk->wants_target && !t->known && t->seq != t->seen && atomic_load(&wk->s->ev_live);
}

bool berth__watch_target_down(const struct watch_worker *wk) {
  const struct watch_target *t = &wk->tgt;
  return t->known && !t->running && atomic_load(&wk->s->ev_live);
}

void berth__watch_target_refresh(struct watch_worker *wk) {
  _cleanup_free_ char *id = NULL;
  int pid = 0;
  berth_err err = NULL;
  if (refresh(wk, &id, &pid, &err) < 0)
    berth_err_free(&err);
}

/* Under wk->mu. */
static void target_forget(struct watch_worker *wk) {
  wk->tgt.known = false;
  wk->tgt.seq++;
  pthread_cond_signal(&wk->cv);
}

void berth__watch_target_forget(struct watch_worker *wk) {
  pthread_mutex_lock(&wk->mu);
  target_forget(wk);
  pthread_mutex_unlock(&wk->mu);
}

/* ---- the events thread ---- */

/* What an event about the service's container says (under wk->mu). An
 * event about another container (the old one of a recreate) changes
 * nothing, but still bumps seq: a lookup running meanwhile may have seen
 * the state before it. */
static void on_container(struct watch_worker *wk, const char *action, const char *id) {
  struct watch_target *t = &wk->tgt;
  bool same = t->id && !strcmp(t->id, id);
  if (!strcmp(action, "restart") && same && t->running)
    return; /* its start said it all (docker restart sends both) */
  t->seq++;
  if (!strcmp(action, "start") || !strcmp(action, "restart")) {
    if (!same) {
      free(t->id);
      t->id = strdup(id); /* NULL: the lookup lists it */
    }
    t->running = true;
    t->pid = 0;
    t->known = false; /* the worker inspects it for its PID now */
    pthread_cond_signal(&wk->cv);
  } else if (same) { /* die, destroy */
    t->running = false;
    t->pid = 0;
    t->known = true;
    if (!strcmp(action, "destroy")) {
      free(t->id);
      t->id = NULL;
    }
  }
}

static struct watch_worker *worker_of(struct watch_session *s, const char *service) {
  for (size_t i = 0; service && i < s->n_workers; i++)
    if (!strcmp(s->workers[i].rules[0].svc->name, service))
      return &s->workers[i];
  return NULL;
}

static int on_event(const cJSON *ev, void *ud) {
  struct watch_session *s = ud;
  if (atomic_load(&s->ev_stop))
    return 1;
  const char *action = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "Action"));
  const cJSON *actor = cJSON_GetObjectItemCaseSensitive(ev, "Actor");
  const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(actor, "ID"));
  const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(actor, "Attributes");
  const char *service =
      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(attrs, BERTH_LABEL_SERVICE));
  if (!action || !id ||
      (strcmp(action, "start") && strcmp(action, "restart") && strcmp(action, "die") &&
       strcmp(action, "destroy")))
    return 0;
  struct watch_worker *wk = worker_of(s, service);
  if (!wk)
    return 0;
  pthread_mutex_lock(&wk->mu);
  on_container(wk, action, id);
  pthread_mutex_unlock(&wk->mu);
  return 0;
}

/* The stream opened or lost: whatever the targets say may be old. */
static void forget_all(struct watch_session *s) {
  for (size_t i = 0; i < s->n_workers; i++)
    berth__watch_target_forget(&s->workers[i]);
}

/* Waits before the stream is opened again; false when watching ends. */
static bool pause_before_reopen(struct watch_session *s) {
  int64_t end = berth_now_ms() + REOPEN_MS;
  pthread_mutex_lock(&s->ev_mu);
  while (!atomic_load(&s->ev_stop) && berth_now_ms() < end) {
    struct timespec ts = {.tv_sec = (time_t)(end / 1000), .tv_nsec = (long)(end % 1000) * 1000000};
    pthread_cond_timedwait(&s->ev_cv, &s->ev_mu, &ts);
  }
  pthread_mutex_unlock(&s->ev_mu);
  return !atomic_load(&s->ev_stop);
}

static void *events_main(void *arg) {
  struct watch_session *s = arg;
  char label[300];
  snprintf(label, sizeof(label), BERTH_LABEL_PROJECT "=%s", s->p->name);
  const char *labels[] = {label, BERTH_LABEL_REPLICA "=1", NULL}, *types[] = {"container", NULL};
  do {
    /* A second back: what happened while the stream was being opened is
     * replayed, so a lookup made meanwhile is corrected. */
    struct berth_docker_events_opts eo = {
        .labels = labels, .types = types, .since = berth_unix_ms() / 1000 - 1};
    atomic_store(&s->ev_live, true);
    forget_all(s);
    berth_err err = NULL;
    berth_docker_events(s->ev_d, &eo, on_event, s, &err);
    berth_err_free(&err);
    atomic_store(&s->ev_live, false);
    forget_all(s);
  } while (pause_before_reopen(s));
  return NULL;
}

int berth__watch_events_start(struct watch_session *s, berth_err *err) {
  bool wanted = false;
  for (size_t i = 0; i < s->n_workers; i++)
    wanted |= s->workers[i].wants_target;
  if (!wanted)
    return 0; /* only rebuilds: no container to keep */
  if (berth_docker_open(&s->ev_d, NULL, err) < 0)
    return -1;
  int rc = pthread_create(&s->ev_th, NULL, events_main, s);
  if (rc) {
    s->ev_d = berth_docker_close(s->ev_d);
    return berth_err_errno(err, rc, "starting the thread that reads the engine's events");
  }
  s->ev_started = true;
  return 0;
}

void berth__watch_events_stop(struct watch_session *s) {
  if (s->ev_started) {
    pthread_mutex_lock(&s->ev_mu);
    atomic_store(&s->ev_stop, true);
    pthread_cond_broadcast(&s->ev_cv);
    pthread_mutex_unlock(&s->ev_mu);
    berth_docker_interrupt(s->ev_d);
    pthread_join(s->ev_th, NULL);
    s->ev_started = false;
  }
  s->ev_d = berth_docker_close(s->ev_d);
}
