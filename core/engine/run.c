/* Running the plan: each selected unit gets a worker thread with its own
 * client. A worker waits until its dependencies (the graph's edges, each
 * tagged with its condition) are met, converges its container (keep,
 * start, or recreate when the config hash differs), then waits for it:
 * to complete (a job others wait for), or to be ready (ready.c), and
 * provisions it. Exits and health come from the events stream
 * (events.c). When all are done, a unit whose container exited or
 * restarted after it was found ready fails the run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "berth/buf.h"
#include "cleanup.h"
#include "engine-internal.h"

static bool cond_met(const struct berth__unit *d, enum berth_condition c) {
  switch (c) {
  case BERTH_COND_STARTED:
    return d->st == U_STARTED || d->st == U_READY || d->st == U_COMPLETED;
  case BERTH_COND_HEALTHY:
    return d->st == U_READY || d->st == U_COMPLETED;
  case BERTH_COND_COMPLETED:
    return d->st == U_COMPLETED;
  }
  return false;
}

static void set_state(struct berth__engine *e, struct berth__unit *u, enum berth__ustate st) {
  pthread_mutex_lock(&e->mu);
  u->st = st;
  pthread_cond_broadcast(&e->cv);
  pthread_mutex_unlock(&e->mu);
}

/* Marks u failed with err (taken); the first failure becomes the
 * command's error. */
static void fail(struct berth__engine *e, struct berth__unit *u, berth_err *err) {
  _cleanup_free_ char *msg = berth_err_string(*err);
  pthread_mutex_lock(&e->mu);
  u->st = U_FAILED;
  if (!e->err)
    e->err = TAKE_PTR(*err);
  pthread_cond_broadcast(&e->cv);
  pthread_mutex_unlock(&e->mu);
  berth_err_free(err);
  berth__emit(e, u, BERTH_PHASE_FAILED, "%s", msg ? msg : "failed");
}

void berth__wait_locked(struct berth__engine *e, int64_t ms) {
  int64_t now = berth_now_ms();
  int64_t wake = now + ms < e->deadline ? now + ms : e->deadline;
  struct timespec ts = {.tv_sec = wake / 1000, .tv_nsec = (wake % 1000) * 1000000};
  pthread_cond_timedwait(&e->cv, &e->mu, &ts);
}

/* The first dependency not met yet (*ret_wait) or failed (*ret_failed),
 * over the graph's edges of u's node and every unit of the node each
 * leads to. Called with e->mu held. */
static void deps_state(struct berth__engine *e, const struct berth__unit *u,
                       const struct berth__unit **ret_wait, enum berth_condition *ret_cond,
                       const struct berth__unit **ret_failed) {
  const struct berth__plan *pl = &e->pl;
  *ret_wait = *ret_failed = NULL;
  for (size_t k = 0; k < pl->g.n_out[u->node]; k++) {
    const struct berth_graph_edge *ed = &pl->g.out[u->node][k];
    for (size_t j = pl->first[ed->to]; j < pl->first[ed->to] + pl->count[ed->to]; j++) {
      const struct berth__unit *du = &pl->u[j];
      if (du->st == U_FAILED)
        *ret_failed = du;
      else if (!cond_met(du, (enum berth_condition)ed->tag) && !*ret_wait) {
        *ret_wait = du;
        *ret_cond = (enum berth_condition)ed->tag;
      }
    }
  }
}

static int wait_deps(struct berth__engine *e, struct berth__unit *u, berth_err *err) {
  bool announced = false;
  pthread_mutex_lock(&e->mu);
  for (;;) {
    const struct berth__unit *waiting, *failed;
    enum berth_condition wc = BERTH_COND_STARTED;
    deps_state(e, u, &waiting, &wc, &failed);
    if (failed) {
      pthread_mutex_unlock(&e->mu);
      return berth_err_set(err, BERTH_E_FAILED, "%s was not started: its dependency %s failed",
                           u->name, failed->name);
    }
    if (!waiting)
      break;
    if (berth_now_ms() >= e->deadline) {
      pthread_mutex_unlock(&e->mu);
      return berth_err_set(err, BERTH_E_TIMEOUT, "%s: timed out waiting for %s", u->name,
                           waiting->name);
    }
    if (!announced) {
      announced = true;
      pthread_mutex_unlock(&e->mu);
      berth__emit(e, u, BERTH_PHASE_WAITING, "waiting for %s%s", waiting->name,
                  wc == BERTH_COND_HEALTHY     ? ""
                  : wc == BERTH_COND_COMPLETED ? " to complete"
                                               : " to start");
      pthread_mutex_lock(&e->mu);
      continue;
    }
    berth__wait_locked(e, 500);
  }
  pthread_mutex_unlock(&e->mu);
  return 0;
}

static int collect_output(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  berth_buf_add(ud, data, len); /* bounded: what does not fit is not shown */
  return 0;
}

/* Provisioning runs once per container: the state remembers it, so a
 * re-run `up` skips it and one killed before it finished redoes it. */
static int provision(struct berth__engine *e, struct berth__unit *u, struct berth_docker *d,
                     berth_err *err) {
  if (!u->provision || !u->provision_cmd)
    return 0;
  char key[128];
  snprintf(key, sizeof(key), "provisioned:%s", u->id);
  int done = berth_state_marked(e->o->state, e->p->name, key, err);
  if (done != 0)
    return done < 0 ? done : 0;
  berth__emit(e, u, BERTH_PHASE_PROVISIONING, "provisioning");
  size_t len = strlen(u->provision);
  _cleanup_close_ int fd = memfd_create("berth-provision", MFD_CLOEXEC);
  if (fd < 0 || write(fd, u->provision, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) < 0)
    return berth_err_errno(err, errno, "preparing the provisioning of %s", u->name);
  struct berth_buf out = BERTH_BUF_INIT(1 << 20);
  struct berth_docker_exec_opts xo = {.cmd = u->provision_cmd,
                                      .env =
                                          u->exec_env.n ? (const char *const *)u->exec_env.v : NULL,
                                      .stdin_fd = fd};
  int code = -1;
  int r = berth_docker_exec(d, u->id, &xo, collect_output, &out, &code, err);
  if (r >= 0 && code != 0)
    r = berth_err_set(err, BERTH_E_FAILED, "provisioning %s failed (exit %d): %.2000s", u->name,
                      code, out.data ? out.data : "");
  berth_buf_release(&out);
  if (r < 0)
    return r;
  return berth_state_mark(e->o->state, e->p->name, key, err);
}

static int set_id(struct berth__engine *e, struct berth__unit *u, char *id, berth_err *err) {
  pthread_mutex_lock(&e->mu);
  free(u->id);
  u->id = id;
  pthread_mutex_unlock(&e->mu);
  return id ? 0 : berth_err_set(err, BERTH_E_NOMEM, "out of memory");
}

static int create_container(struct berth__engine *e, struct berth__unit *u, struct berth_docker *d,
                            berth_err *err) {
  berth_err ce = NULL;
  char *id = NULL;
  int r = berth_docker_container_create(d, &u->spec, &id, &ce);
  if (r < 0 && berth_err_code(ce) == BERTH_E_CONFLICT) {
    /* A container of that name appeared since the listing (a racing or
     * killed up): replace it. */
    berth_err_free(&ce);
    if (berth_docker_container_remove(d, u->container, true, false, err) < 0)
      return r;
    r = berth_docker_container_create(d, &u->spec, &id, &ce);
  }
  if (r < 0) {
    *err = ce;
    return r;
  }
  if ((r = set_id(e, u, id, err)) < 0)
    return r;
  for (size_t i = 1; i < u->networks.n; i++)
    if ((r = berth_docker_network_connect(d, u->networks.v[i], u->id,
                                          (const char *const *)u->aliases[i].v, err)) < 0)
      return r;
  return 0;
}

/* Keeps, starts or recreates u's container; *ret_unchanged when it was
 * running with this config already. */
static int converge(struct berth__engine *e, struct berth__unit *u, struct berth_docker *d,
                    bool *ret_unchanged, berth_err *err) {
  const cJSON *have = berth__existing(e, u->container);
  const char *hash = berth__label_of(have, BERTH_LABEL_HASH);
  const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(have, "State"));
  const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(have, "Id"));
  if (have && hash && !strcmp(hash, u->hash)) {
    int r = set_id(e, u, id ? strdup(id) : NULL, err);
    if (r < 0 || (*ret_unchanged = st && !strcmp(st, "running")))
      return r;
    berth__emit(e, u, BERTH_PHASE_STARTING, "starting");
    return berth_docker_container_start(d, u->id, err);
  }
  if (have) {
    berth__emit(e, u, BERTH_PHASE_CREATING, "recreating: its configuration changed");
    int grace = u->svc && u->svc->stop_grace_ms > 0 ? (int)(u->svc->stop_grace_ms / 1000) : 10;
    if (berth_docker_container_stop(d, id, grace, err) < 0 ||
        berth_docker_container_remove(d, id, true, false, err) < 0) {
      if (berth_err_code(*err) != BERTH_E_NOT_FOUND)
        return -1;
      berth_err_free(err);
    }
  } else {
    berth__emit(e, u, BERTH_PHASE_CREATING, "creating");
  }
  if (create_container(e, u, d, err) < 0)
    return berth_err_wrap(err, "%s", u->name);
  berth__emit(e, u, BERTH_PHASE_STARTING, "starting");
  if (berth_docker_container_start(d, u->id, err) < 0)
    return berth_err_wrap(err, "starting %s", u->name);
  return 0;
}

struct worker {
  struct berth__engine *e;
  size_t i;
  bool needed_started; /* a dependent waits for it to have started */
  bool needed_ready;   /* a dependent waits for it to be healthy */
  bool needed_done;    /* a dependent waits for it to complete */
};

/* A job: restart "no", and no dependent needs it running. */
static bool may_complete(const struct worker *w) {
  const struct berth__unit *u = &w->e->pl.u[w->i];
  return u->svc && !strcmp(u->svc->restart, "no") && !w->needed_started && !w->needed_ready;
}

static void completed(struct berth__engine *e, struct berth__unit *u, int64_t t0) {
  u->ready_ms = berth_now_ms() - t0;
  set_state(e, u, U_COMPLETED);
  berth__emit(e, u, BERTH_PHASE_COMPLETED, "completed in %.1f s", (double)u->ready_ms / 1000);
}

static int work_unit(struct worker *w, struct berth_docker *d, bool *unchanged, berth_err *err) {
  struct berth__engine *e = w->e;
  struct berth__unit *u = &e->pl.u[w->i];
  int r = wait_deps(e, u, err);
  int64_t t0 = berth_now_ms();
  if (r < 0 || (r = converge(e, u, d, unchanged, err)) < 0)
    return r;
  set_state(e, u, U_STARTED);
  if (w->needed_done) {
    if ((r = berth__await_completion(e, d, u, err)) < 0)
      return r;
    completed(e, u, t0);
    return 0;
  }
  if (!e->o->no_wait || w->needed_ready) {
    struct berth__ready_opts ro = {
        .unchanged = *unchanged, .needed_ready = w->needed_ready, .may_complete = may_complete(w)};
    if ((r = berth__await_ready(e, d, u, &ro, err)) == BERTH__COMPLETED) {
      completed(e, u, t0);
      return 0;
    }
    if (r < 0 || (r = provision(e, u, d, err)) < 0)
      return r;
  }
  u->ready_ms = berth_now_ms() - t0;
  set_state(e, u, U_READY);
  if (*unchanged)
    berth__emit(e, u, BERTH_PHASE_UNCHANGED, "running, unchanged");
  else
    berth__emit(e, u, BERTH_PHASE_READY, "ready in %.1f s", (double)u->ready_ms / 1000);
  if (e->o->state && !*unchanged) {
    berth_err se = NULL; /* history is best effort: a busy state does not fail up */
    if (berth_state_event(e->o->state, e->p->name, u->name, "ready", u->hash, &se) < 0)
      berth_err_free(&se);
  }
  return 0;
}

static void *work(void *arg) {
  struct worker *w = arg;
  struct berth__unit *u = &w->e->pl.u[w->i];
  struct berth_docker *d = NULL;
  berth_err err = NULL;
  bool unchanged = false;
  if (berth_docker_clone(w->e->d, &d, &err) < 0 || work_unit(w, d, &unchanged, &err) < 0)
    fail(w->e, u, &err);
  berth_docker_close(d);
  return NULL;
}

/* Exits and restarts since each unit was found ready, as the events
 * reported them: an inspect only where there is news. */
static void recheck(struct berth__engine *e, const struct worker *workers) {
  for (size_t i = 0; !e->err && i < e->pl.n; i++) {
    struct berth__unit *u = &e->pl.u[i];
    if (!u->selected || u->st != U_READY)
      continue;
    berth_err re = NULL;
    int r = berth__recheck(e, e->d, u, may_complete(&workers[i]), &re);
    if (r == BERTH__COMPLETED)
      completed(e, u, berth_now_ms() - u->ready_ms);
    else if (r < 0)
      fail(e, u, &re);
  }
}

int berth__run(struct berth__engine *e, berth_err *err) {
  const struct berth__plan *pl = &e->pl;
  _cleanup_free_ struct worker *workers = calloc(pl->n + 1, sizeof(*workers));
  _cleanup_free_ pthread_t *threads = calloc(pl->n + 1, sizeof(*threads));
  _cleanup_free_ bool *started = calloc(pl->n + 1, sizeof(*started));
  if (!workers || !threads || !started)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int r = berth__events_start(e, err);
  if (r < 0)
    return r;
  /* What a unit's dependents wait for: the graph's edges into its node. */
  for (size_t i = 0; i < pl->n; i++) {
    const struct berth__unit *u = &pl->u[i];
    workers[i] = (struct worker){.e = e, .i = i};
    for (size_t k = 0; k < pl->g.n_in[u->node]; k++) {
      size_t from = pl->g.in[u->node][k];
      for (size_t j = pl->first[from]; j < pl->first[from] + pl->count[from]; j++)
        for (size_t x = 0; pl->u[j].selected && x < pl->g.n_out[from]; x++)
          if (pl->g.out[from][x].to == u->node) {
            workers[i].needed_started |= pl->g.out[from][x].tag == BERTH_COND_STARTED;
            workers[i].needed_ready |= pl->g.out[from][x].tag == BERTH_COND_HEALTHY;
            workers[i].needed_done |= pl->g.out[from][x].tag == BERTH_COND_COMPLETED;
          }
    }
  }
  for (size_t i = 0; i < pl->n; i++) {
    if (!pl->u[i].selected)
      continue;
    if (pthread_create(&threads[i], NULL, work, &workers[i]) != 0) {
      berth_err te = NULL;
      berth_err_set(&te, BERTH_E_FAILED, "cannot start a thread for %s", pl->u[i].name);
      fail(e, &pl->u[i], &te);
      continue;
    }
    started[i] = true;
  }
  for (size_t i = 0; i < pl->n; i++)
    if (started[i])
      pthread_join(threads[i], NULL);
  recheck(e, workers);
  berth__events_stop(e);
  if (!e->err)
    return 0;
  *err = TAKE_PTR(e->err);
  r = -berth_err_code(*err);
  return r ? r : -BERTH_E_FAILED;
}
