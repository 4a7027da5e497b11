/* The engine's events for the project's containers, while `up` runs: one
 * thread reads the stream and, for a start, die, restart or health change,
 * bumps the unit's event count and wakes the workers. So a worker waiting
 * for a job to complete or for the engine's healthcheck sleeps on the
 * condition variable instead of polling inspect, and one probing a
 * protocol learns of an exit without asking; on news it inspects once.
 * The stream starts a second before `up`'s first container call (the
 * engine replays from since), so no event of a container this `up` starts
 * is missed; it is stopped by interrupting its connection, and joined. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine-internal.h"

static struct berth__unit *unit_by_id(struct berth__engine *e, const char *id) {
  for (size_t i = 0; id && i < e->pl.n; i++)
    if (e->pl.u[i].id && !strcmp(e->pl.u[i].id, id))
      return &e->pl.u[i];
  return NULL;
}

static int on_event(const cJSON *ev, void *ud) {
  struct berth__engine *e = ud;
  if (atomic_load(&e->ev_stop))
    return 1;
  const char *action = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "Action"));
  const cJSON *actor = cJSON_GetObjectItemCaseSensitive(ev, "Actor");
  const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(actor, "ID"));
  if (!action || !id)
    return 0;
  if (strcmp(action, "die") && strcmp(action, "start") && strcmp(action, "restart") &&
      strncmp(action, "health_status", 13))
    return 0;
  pthread_mutex_lock(&e->mu);
  struct berth__unit *u = unit_by_id(e, id);
  if (u) {
    u->ev_seq++;
    pthread_cond_broadcast(&e->cv);
  }
  pthread_mutex_unlock(&e->mu);
  return 0;
}

static void *events_main(void *arg) {
  struct berth__engine *e = arg;
  char label[300];
  snprintf(label, sizeof(label), BERTH_LABEL_PROJECT "=%s", e->p->name);
  const char *labels[] = {label, NULL}, *types[] = {"container", NULL};
  struct berth_docker_events_opts eo = {.labels = labels, .types = types, .since = e->ev_since};
  berth_err err = NULL;
  int r = berth_docker_events(e->ev_d, &eo, on_event, e, &err);
  pthread_mutex_lock(&e->mu);
  /* A stream that ended by itself leaves the workers to ask the engine. */
  if (!atomic_load(&e->ev_stop))
    e->ev_lost = true;
  pthread_cond_broadcast(&e->cv);
  pthread_mutex_unlock(&e->mu);
  (void)r;
  berth_err_free(&err);
  return NULL;
}

int berth__events_start(struct berth__engine *e, berth_err *err) {
  /* Taken here, not in the thread: however late it is scheduled, the
   * stream replays what the workers started meanwhile. */
  e->ev_since = berth_unix_ms() / 1000 - 1;
  int r = berth_docker_clone(e->d, &e->ev_d, err);
  if (r < 0)
    return r;
  if (pthread_create(&e->ev_thread, NULL, events_main, e) != 0) {
    e->ev_d = berth_docker_close(e->ev_d);
    return berth_err_set(err, BERTH_E_FAILED, "cannot start a thread for the engine's events");
  }
  e->ev_running = true;
  return 0;
}

void berth__events_stop(struct berth__engine *e) {
  if (!e->ev_running)
    return;
  atomic_store(&e->ev_stop, true);
  berth_docker_interrupt(e->ev_d);
  pthread_join(e->ev_thread, NULL);
  e->ev_running = false;
  e->ev_d = berth_docker_close(e->ev_d);
}
