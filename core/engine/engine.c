/* up and env, and what the phases share. `up` is plan (plan.c, pure) ->
 * pre-flight (preflight.c: images, the config hashes, ports, networks,
 * volumes) -> run (run.c: one worker per unit, woken by the engine's
 * events, events.c) -> the summary (status.c). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "engine-internal.h"

#define DEFAULT_TIMEOUT_MS (5 * 60 * 1000)

static void emit(struct berth__engine *e, const char *name, int replica, enum berth_phase ph,
                 const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
static void emit(struct berth__engine *e, const char *name, int replica, enum berth_phase ph,
                 const char *fmt, va_list ap) {
  if (!e->o->on_event)
    return;
  char detail[1024] = "";
  if (fmt)
    vsnprintf(detail, sizeof(detail), fmt, ap);
  struct berth_engine_event ev = {.service = name,
                                  .replica = replica,
                                  .phase = ph,
                                  .detail = fmt ? detail : NULL,
                                  .elapsed_ms = berth_now_ms() - e->t0};
  static pthread_mutex_t emit_mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&emit_mu);
  e->o->on_event(&ev, e->o->ud);
  pthread_mutex_unlock(&emit_mu);
}

void berth__emit(struct berth__engine *e, const struct berth__unit *u, enum berth_phase ph,
                 const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(e, u ? u->name : NULL, u ? u->replica : 0, ph, fmt, ap);
  va_end(ap);
}

void berth__emit_name(struct berth__engine *e, const char *name, enum berth_phase ph,
                      const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(e, name, 1, ph, fmt, ap);
  va_end(ap);
}

char *berth__object_name(const char *project, const char *name) {
  char *s = NULL;
  return asprintf(&s, "%s_%s", project, name) < 0 ? NULL : s;
}

const char *berth__label_of(const cJSON *c, const char *key) {
  return cJSON_GetStringValue(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "Labels"), key));
}

const cJSON *berth__existing(const struct berth__engine *e, const char *name) {
  const cJSON *c;
  cJSON_ArrayForEach (c, e->existing) {
    const cJSON *n;
    cJSON_ArrayForEach (n, cJSON_GetObjectItemCaseSensitive(c, "Names")) {
      const char *s = cJSON_GetStringValue(n);
      if (s && s[0] == '/' && !strcmp(s + 1, name))
        return c;
    }
  }
  return NULL;
}

void berth_status_release(struct berth_status *s) {
  for (size_t i = 0; i < s->n; i++) {
    struct berth_unit_status *u = &s->v[i];
    free(u->service);
    free(u->container);
    free(u->id);
    free(u->state);
    free(u->health);
    for (size_t k = 0; k < u->n_urls; k++)
      free(u->urls[k]);
    free(u->urls);
  }
  free(s->v);
  *s = (struct berth_status){0};
}

void berth__engine_init(struct berth__engine *e, const struct berth_project *p,
                        const struct berth_engine_opts *o) {
  *e = (struct berth__engine){.p = p, .o = o};
  pthread_mutex_init(&e->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&e->cv, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&e->ev_stop, false);
  e->t0 = berth_now_ms();
  e->deadline = e->t0 + (o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS);
}

void berth__engine_release(struct berth__engine *e) {
  berth__events_stop(e);
  berth__plan_release(&e->pl);
  cJSON_Delete(e->existing);
  berth_err_free(&e->err);
  pthread_mutex_destroy(&e->mu);
  pthread_cond_destroy(&e->cv);
}

int berth__engine_secret(void *ud, const char *scope, const char *key, char **ret, berth_err *err) {
  struct berth__engine *e = ud;
  if (!e->o->state)
    return berth_err_set(err, BERTH_E_INVALID, "infra %s needs berth's state for its credentials",
                         scope);
  return berth_state_secret(e->o->state, e->p->name, scope, key, ret, err);
}

int berth_engine_up(const struct berth_project *p, const struct berth_engine_opts *o,
                    struct berth_status *ret, berth_err *err) {
  struct berth__engine e;
  berth__engine_init(&e, p, o);
  struct berth__plan_opts po = {.services = o->services,
                                .n_services = o->n_services,
                                .secret = berth__engine_secret,
                                .ud = &e};
  int r = berth_docker_open(&e.d, NULL, err);
  if (r >= 0)
    r = berth__plan(p, &po, &e.pl, err);
  if (r >= 0)
    r = berth__preflight(&e, err);
  if (r >= 0)
    r = berth__run(&e, err);
  if (r >= 0 && ret) {
    r = berth__status(e.d, p->name, NULL, ret, err);
    for (size_t i = 0; r >= 0 && i < ret->n; i++) {
      long ui = berth__unit_index(&e.pl, ret->v[i].service, ret->v[i].replica);
      if (ui >= 0) {
        ret->v[i].ready_ms = e.pl.u[ui].ready_ms;
        ret->v[i].infra = e.pl.u[ui].infra != NULL;
      }
    }
  }
  berth__events_stop(&e);
  berth_docker_close(e.d);
  berth__engine_release(&e);
  return r < 0 ? r : 0;
}

/* One variable for a use of an instance, with its published port. */
static int env_var(struct berth__engine *e, const struct berth_infra *in, struct berth_use use,
                   const struct berth_status *s, struct berth_kvv *ret, berth_err *err) {
  const struct berth__infra_kind *k = berth__infra_kind_of(in->kind);
  if (!k)
    return berth_err_set(err, BERTH_E_INVALID, "infra %s: unknown kind", in->name);
  char var[128], scheme[32];
  if (!use.as) {
    /* All infra: one variable per instance, named after it. */
    snprintf(var, sizeof(var), "%s_%s", in->name, k->env_var);
    for (char *c = var; *c; c++)
      *c = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
    use.as = var;
  }
  snprintf(scheme, sizeof(scheme), "%s://", k->scheme);
  uint16_t port = 0;
  for (size_t j = 0; j < s->n; j++)
    for (size_t m = 0; !strcmp(s->v[j].service, in->name) && m < s->v[j].n_urls; m++)
      if (!strncmp(s->v[j].urls[m], scheme, strlen(scheme))) {
        const char *colon = strrchr(s->v[j].urls[m], ':');
        port = colon ? (uint16_t)atoi(colon + 1) : 0;
      }
  if (!port)
    return berth_err_set(err, BERTH_E_NOT_FOUND, "%s is not running; run berth up first", in->name);
  _cleanup_free_ char *kv = NULL;
  int r = berth__use_env(e->p, in, berth__engine_secret, e, &use, "127.0.0.1", port, &kv, err);
  if (r < 0)
    return r;
  char *eq = strchr(kv, '=');
  struct berth_kv *v = realloc(ret->v, (ret->n + 1) * sizeof(*v));
  if (!v)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  ret->v = v;
  v += ret->n;
  *v = (struct berth_kv){.key = strndup(kv, (size_t)(eq - kv)), .value = strdup(eq + 1)};
  ret->n++; /* counted even when a copy failed, so the release frees the other */
  return v->key && v->value ? 0 : berth_err_set(err, BERTH_E_NOMEM, "out of memory");
}

int berth_engine_env(const struct berth_project *p, const char *service, struct berth_state *st,
                     struct berth_kvv *ret, berth_err *err) {
  struct berth_engine_opts o = {.state = st};
  struct berth__engine e;
  berth__engine_init(&e, p, &o);
  struct berth_status s = {0};
  int r = berth_docker_open(&e.d, NULL, err);
  if (r >= 0)
    r = berth__status(e.d, p->name, NULL, &s, err);
  const struct berth_service *svc = service ? berth_project_service(p, service) : NULL;
  if (r >= 0 && service && !svc)
    r = berth_err_set(err, BERTH_E_NOT_FOUND, "no service named %s in %s", service, p->name);
  for (size_t i = 0; r >= 0 && i < p->n_infra; i++) {
    const struct berth_infra *in = &p->infra[i];
    struct berth_use dflt = {.infra = in->name};
    const struct berth_use *uses = svc ? svc->uses : &dflt;
    size_t nu = svc ? svc->n_uses : 1;
    for (size_t k = 0; r >= 0 && k < nu; k++)
      if (!strcmp(uses[k].infra, in->name))
        r = env_var(&e, in, uses[k], &s, ret, err);
  }
  berth_status_release(&s);
  berth_docker_close(e.d);
  berth__engine_release(&e);
  return r < 0 ? r : 0;
}
