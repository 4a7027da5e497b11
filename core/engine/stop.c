/* down, stop and restart: from the engine's labels, so they work for a
 * project whose manifest no longer names what runs. Containers stop in
 * the graph's reverse waves, dependents before what they depend on, every
 * container of one wave at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "engine-internal.h"

struct stop_job {
  char *id, *name, *service;
  size_t wave;
  int timeout_s;
  bool remove;
  struct berth__engine *e;
  int rc;
  berth_err err;
};

static void *stop_one(void *arg) {
  struct stop_job *j = arg;
  struct berth_docker *d = NULL;
  if (berth_docker_clone(j->e->d, &d, &j->err) < 0) {
    j->rc = -1;
    return NULL;
  }
  berth__emit_name(j->e, j->service, BERTH_PHASE_STOPPING, "stopping %s", j->name);
  int r = berth_docker_container_stop(d, j->id, j->timeout_s, &j->err);
  if (r < 0 && berth_err_code(j->err) == BERTH_E_NOT_FOUND) {
    berth_err_free(&j->err);
    r = 0;
  }
  if (r >= 0 && j->remove) {
    /* With --volumes, the anonymous volumes of the image's VOLUMEs too,
     * as `docker-compose down -v` does; named ones go below. */
    r = berth_docker_container_remove(d, j->id, true, j->e->o->volumes, &j->err);
    if (r < 0 && berth_err_code(j->err) == BERTH_E_NOT_FOUND) {
      berth_err_free(&j->err);
      r = 0;
    }
  }
  if (r >= 0)
    berth__emit_name(j->e, j->service, j->remove ? BERTH_PHASE_REMOVED : BERTH_PHASE_STOPPING,
                     j->remove ? "removed %s" : "stopped %s", j->name);
  j->rc = r;
  berth_docker_close(d);
  return NULL;
}

static bool wanted(const struct berth_engine_opts *o, const char *service) {
  if (!o->n_services)
    return true;
  for (size_t i = 0; i < o->n_services; i++)
    if (!strcmp(o->services[i], service))
      return true;
  return false;
}

static void jobs_release(struct stop_job *jobs, size_t n) {
  for (size_t i = 0; jobs && i < n; i++) {
    free(jobs[i].id);
    free(jobs[i].name);
    free(jobs[i].service);
    berth_err_free(&jobs[i].err);
  }
  free(jobs);
}

/* One job per wanted container; its wave from the project's graph (a
 * service the manifest no longer has stops in the first). */
static int collect_jobs(struct berth__engine *e, const cJSON *list, bool remove,
                        struct stop_job **ret, size_t *ret_n, size_t *ret_waves, berth_err *err) {
  struct berth_graph g = BERTH_GRAPH_INIT;
  size_t total = (size_t)cJSON_GetArraySize(list), n = 0, waves = 0;
  struct stop_job *jobs = calloc(total + 1, sizeof(*jobs));
  size_t *wave = NULL;
  int r = jobs ? berth__project_graph(e->p, &g, err)
               : berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  if (r >= 0 && !(wave = calloc(g.n + 1, sizeof(*wave))))
    r = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  if (r >= 0)
    r = berth_graph_waves(&g, true, wave, err);
  const cJSON *c;
  cJSON_ArrayForEach (c, list) {
    const char *svc = berth__label_of(c, BERTH_LABEL_SERVICE);
    if (r < 0 || !svc || !wanted(e->o, svc))
      continue;
    const char *name =
        cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "Names"), 0));
    /* Every entry has an Id (berth_docker_container_list checks). */
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "Id"));
    if (!id)
      continue;
    struct stop_job *j = &jobs[n++];
    long node = berth_graph_find(&g, svc);
    const struct berth_service *s = berth_project_service(e->p, svc);
    *j = (struct stop_job){
        .id = strdup(id),
        .name = strdup(name && name[0] == '/' ? name + 1
                       : name                 ? name
                                              : "?"),
        .service = strdup(svc),
        .wave = node >= 0 ? wave[node] : 0,
        .timeout_s = s && s->stop_grace_ms >= 0 ? (int)((s->stop_grace_ms + 999) / 1000) : 10,
        .remove = remove,
        .e = e};
    if (!j->id || !j->name || !j->service)
      r = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    if (j->wave + 1 > waves)
      waves = j->wave + 1;
  }
  free(wave);
  berth_graph_release(&g);
  if (r < 0) {
    jobs_release(jobs, n);
    return r;
  }
  *ret = jobs;
  *ret_n = n;
  *ret_waves = waves;
  return 0;
}

static int run_waves(struct stop_job *jobs, size_t n, size_t waves, berth_err *err) {
  _cleanup_free_ pthread_t *threads = calloc(n + 1, sizeof(*threads));
  _cleanup_free_ bool *started = calloc(n + 1, sizeof(*started));
  if (!threads || !started)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  for (size_t w = 0; w < waves; w++) {
    for (size_t i = 0; i < n; i++)
      if (jobs[i].wave == w &&
          !(started[i] = !pthread_create(&threads[i], NULL, stop_one, &jobs[i])))
        stop_one(&jobs[i]); /* no thread: stop it here */
    for (size_t i = 0; i < n; i++)
      if (jobs[i].wave == w && started[i])
        pthread_join(threads[i], NULL);
    for (size_t i = 0; i < n; i++)
      if (jobs[i].wave == w && jobs[i].rc < 0) {
        *err = TAKE_PTR(jobs[i].err);
        return berth_err_wrap(err, "stopping %s", jobs[i].name);
      }
  }
  return 0;
}

/* Networks, and volumes when asked: everything labelled with the
 * project. */
static int remove_objects(struct berth__engine *e, const char *const *labels, berth_err *err) {
  struct berth_docker *d = e->d;
  _cleanup_json_ cJSON *nets = NULL, *vols = NULL;
  if (berth_docker_network_list(d, labels, &nets, err) < 0)
    return -berth_err_code(*err);
  const cJSON *c;
  cJSON_ArrayForEach (c, nets) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "Id"));
    if (id && berth_docker_network_remove(d, id, err) < 0) { /* the list has Ids: checked */
      if (berth_err_code(*err) != BERTH_E_NOT_FOUND)
        return -berth_err_code(*err);
      berth_err_free(err);
    }
  }
  if (!e->o->volumes)
    return 0;
  if (berth_docker_volume_list(d, labels, &vols, err) < 0)
    return -berth_err_code(*err);
  cJSON_ArrayForEach (c, cJSON_GetObjectItemCaseSensitive(vols, "Volumes")) {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "Name"));
    if (!name) /* the list has names: checked */
      continue;
    if (berth_docker_volume_remove(d, name, false, err) < 0) {
      if (berth_err_code(*err) != BERTH_E_NOT_FOUND)
        return -berth_err_code(*err);
      berth_err_free(err);
    }
    berth__emit_name(e, name, BERTH_PHASE_REMOVED, "removed volume %s", name);
  }
  /* The credentials protected data that is gone now. */
  if (e->o->state && berth_state_forget_secrets(e->o->state, e->p->name, err) < 0)
    return -berth_err_code(*err);
  return 0;
}

static int stop_containers(const struct berth_project *p, const struct berth_engine_opts *o,
                           bool remove, berth_err *err) {
  struct berth__engine e;
  berth__engine_init(&e, p, o);
  char label[300];
  snprintf(label, sizeof(label), BERTH_LABEL_PROJECT "=%s", p->name);
  const char *labels[] = {label, NULL};
  _cleanup_json_ cJSON *list = NULL;
  struct stop_job *jobs = NULL;
  size_t n = 0, waves = 0;
  int r = berth_docker_open(&e.d, NULL, err);
  if (r >= 0)
    r = berth_docker_container_list(e.d, labels, true, &list, err);
  if (r >= 0)
    r = collect_jobs(&e, list, remove, &jobs, &n, &waves, err);
  if (r >= 0)
    r = run_waves(jobs, n, waves, err);
  if (r >= 0 && remove && !o->n_services)
    r = remove_objects(&e, labels, err);
  jobs_release(jobs, n);
  berth_docker_close(e.d);
  berth__engine_release(&e);
  return r < 0 ? r : 0;
}

int berth_engine_down(const struct berth_project *p, const struct berth_engine_opts *o,
                      berth_err *err) {
  return stop_containers(p, o, true, err);
}

int berth_engine_stop(const struct berth_project *p, const struct berth_engine_opts *o,
                      berth_err *err) {
  return stop_containers(p, o, false, err);
}

int berth_engine_restart(const struct berth_project *p, const struct berth_engine_opts *o,
                         berth_err *err) {
  int r = stop_containers(p, o, false, err);
  return r < 0 ? r : berth_engine_up(p, o, NULL, err);
}
