/* up, down, stop, restart, ps: the model against the engine's labelled
 * objects. Each unit (a service replica or an infra instance) gets a
 * worker thread with its own client; a worker starts its container the
 * moment its dependencies meet their conditions, then probes it until it
 * answers its protocol. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "berth/buf.h"
#include "berth/clock.h"
#include "cleanup.h"
#include "engine-internal.h"
#include "hash.h"

#define DEFAULT_TIMEOUT_MS (5 * 60 * 1000)
#define PROBE_INTERVAL_MS 100
#define LOG_TAIL 20

void berth__emit(struct berth__engine *e, const struct berth__unit *u, enum berth_phase ph,
                 const char *fmt, ...) {
  if (!e->o->on_event)
    return;
  char detail[1024] = "";
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
  }
  struct berth_engine_event ev = {.service = u ? u->name : NULL,
                                  .replica = u ? u->replica : 0,
                                  .phase = ph,
                                  .detail = fmt ? detail : NULL,
                                  .elapsed_ms = berth_now_ms() - e->t0};
  static pthread_mutex_t emit_mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&emit_mu);
  e->o->on_event(&ev, e->o->ud);
  pthread_mutex_unlock(&emit_mu);
}

void berth__strv_add(struct berth__engine *e, struct berth_strv *v, const char *fmt, ...) {
  char *s = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  char **p = n >= 0 ? realloc(v->v, (v->n + 2) * sizeof(*p)) : NULL;
  if (!p) {
    free(s);
    e->oom = true;
    return;
  }
  v->v = p;
  v->v[v->n++] = s;
  v->v[v->n] = NULL; /* usable as a NULL-terminated argv */
}

char *berth__object_name(const char *project, const char *name) {
  char *s = NULL;
  return asprintf(&s, "%s_%s", project, name) < 0 ? NULL : s;
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

static void hash_text(const char *s, char out[24]) {
  snprintf(out, 24, "%016llx", (unsigned long long)berth_fnv1a(BERTH_FNV_INIT, s, strlen(s)));
}

static void unit_free(struct berth__unit *u) {
  free(u->name);
  free(u->container);
  free(u->image);
  berth_strv_release(&u->env);
  berth_strv_release(&u->cmd);
  berth_strv_release(&u->entrypoint);
  berth_strv_release(&u->labels);
  berth_strv_release(&u->hc_test);
  berth_strv_release(&u->probe_exec);
  for (size_t i = 0; i < u->n_mounts; i++)
    free((char *)u->mounts[i].source);
  free(u->mounts);
  free(u->ports);
  for (size_t i = 0; i < u->networks.n && u->aliases; i++)
    berth_strv_release(&u->aliases[i]);
  free(u->aliases);
  berth_strv_release(&u->networks);
  free(u->redis_password);
  free(u->provision_sh);
  free(u->provision_sql);
  free(u->deps);
  free(u->conds);
  free(u->id);
  free(u->why);
  free(u->body);
}

static void engine_release(struct berth__engine *e) {
  for (size_t i = 0; i < e->n; i++)
    unit_free(&e->u[i]);
  free(e->u);
  cJSON_Delete(e->existing);
  berth_err_free(&e->err);
  pthread_mutex_destroy(&e->mu);
  pthread_cond_destroy(&e->cv);
}

/* ---- planning: model -> units ---- */

static long unit_index(const struct berth__engine *e, const char *name, int replica) {
  for (size_t i = 0; i < e->n; i++)
    if (!strcmp(e->u[i].name, name) && (replica == 0 || e->u[i].replica == replica))
      return (long)i;
  return -1;
}

static const char *network_engine_name(const struct berth__engine *e, const char *net, char *buf,
                                       size_t size) {
  for (size_t i = 0; i < e->p->n_networks; i++) {
    const struct berth_network *n = &e->p->networks[i];
    if (strcmp(n->name, net))
      continue;
    if (n->external)
      return n->external_name ? n->external_name : n->name;
    if (n->external_name) /* name: set explicitly */
      return n->external_name;
  }
  snprintf(buf, size, "%s_%s", e->p->name, net);
  return buf;
}

static const char *volume_engine_name(const struct berth__engine *e, const char *vol, char *buf,
                                      size_t size) {
  for (size_t i = 0; i < e->p->n_volumes; i++) {
    const struct berth_volume *v = &e->p->volumes[i];
    if (strcmp(v->name, vol))
      continue;
    if (v->external || v->external_name)
      return v->external_name ? v->external_name : v->name;
  }
  snprintf(buf, size, "%s_%s", e->p->name, vol);
  return buf;
}

static void add_network(struct berth__engine *e, struct berth__unit *u, const char *net,
                        const struct berth_strv *extra_aliases) {
  char buf[512];
  const char *name = network_engine_name(e, net, buf, sizeof(buf));
  for (size_t i = 0; i < u->networks.n; i++)
    if (!strcmp(u->networks.v[i], name))
      return;
  struct berth_strv *a = realloc(u->aliases, (u->networks.n + 1) * sizeof(*a));
  if (!a) {
    e->oom = true;
    return;
  }
  u->aliases = a;
  a[u->networks.n] = (struct berth_strv){0};
  berth__strv_add(e, &a[u->networks.n], "%s", u->name);
  for (size_t i = 0; extra_aliases && i < extra_aliases->n; i++)
    berth__strv_add(e, &a[u->networks.n], "%s", extra_aliases->v[i]);
  berth__strv_add(e, &u->networks, "%s", name);
}

static int plan_service(struct berth__engine *e, struct berth__unit *u, berth_err *err) {
  const struct berth_service *s = u->svc;
  char buf[512];
  /* A built image is named after the project and service unless the
   * manifest names it. */
  if (s->image ? !(u->image = strdup(s->image))
               : asprintf(&u->image, "%s-%s", e->p->name, s->name) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  for (size_t i = 0; i < s->environment.n; i++)
    if (s->environment.v[i].value) /* declared without a value: not passed */
      berth__strv_add(e, &u->env, "%s=%s", s->environment.v[i].key, s->environment.v[i].value);
  for (size_t i = 0; i < s->command.n; i++)
    berth__strv_add(e, &u->cmd, "%s", s->command.v[i]);
  for (size_t i = 0; i < s->entrypoint.n; i++)
    berth__strv_add(e, &u->entrypoint, "%s", s->entrypoint.v[i]);
  for (size_t i = 0; i < s->labels.n; i++)
    berth__strv_add(e, &u->labels, "%s=%s", s->labels.v[i].key, s->labels.v[i].value);
  /* Ports: ranges become one binding per port. Replicas beyond the first
   * cannot share a fixed host port: they publish none. */
  size_t np = 0;
  for (size_t i = 0; i < s->n_ports; i++)
    np += (size_t)(s->ports[i].container_end - s->ports[i].container_start) + 1;
  u->ports = calloc(np + 1, sizeof(*u->ports));
  if (!u->ports)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  for (size_t i = 0; i < s->n_ports; i++) {
    const struct berth_port *p = &s->ports[i];
    for (unsigned k = 0; k <= (unsigned)(p->container_end - p->container_start); k++) {
      if (p->host_start && u->replica > 1)
        continue;
      bool pick = p->container_end == p->container_start && p->host_end > p->host_start;
      u->ports[u->n_ports++] =
          (struct berth_docker_port){.host_ip = p->host_ip,
                                     .host_port = p->host_start ? (uint16_t)(p->host_start + k) : 0,
                                     .host_port_end = pick ? p->host_end : 0,
                                     .container_port = (uint16_t)(p->container_start + k),
                                     .proto = p->protocol};
    }
  }
  u->mounts = calloc(s->n_mounts + s->n_secrets + s->n_configs + 1, sizeof(*u->mounts));
  if (!u->mounts)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  for (size_t i = 0; i < s->n_mounts; i++) {
    const struct berth_mount *m = &s->mounts[i];
    struct berth_docker_mount *d = &u->mounts[u->n_mounts++];
    d->type = m->type == BERTH_MOUNT_T_BIND    ? BERTH_MOUNT_BIND
              : m->type == BERTH_MOUNT_T_TMPFS ? BERTH_MOUNT_TMPFS
                                               : BERTH_MOUNT_VOLUME;
    d->target = m->target;
    d->read_only = m->read_only;
    d->tmpfs_size = m->tmpfs_size;
    if (m->source)
      d->source =
          strdup(d->type == BERTH_MOUNT_VOLUME ? volume_engine_name(e, m->source, buf, sizeof(buf))
                                               : m->source);
  }
  /* File-based secrets and configs are read-only binds at their target. */
  for (size_t k = 0; k < 2; k++) {
    const struct berth_file_ref *refs = k ? s->configs : s->secrets;
    size_t nr = k ? s->n_configs : s->n_secrets;
    const struct berth_file_def *defs = k ? e->p->configs : e->p->secrets;
    size_t nd = k ? e->p->n_configs : e->p->n_secrets;
    for (size_t i = 0; i < nr; i++)
      for (size_t j = 0; j < nd; j++)
        if (!strcmp(defs[j].name, refs[i].source) && defs[j].file)
          u->mounts[u->n_mounts++] = (struct berth_docker_mount){.type = BERTH_MOUNT_BIND,
                                                                 .source = strdup(defs[j].file),
                                                                 .target = refs[i].target,
                                                                 .read_only = true};
  }
  for (size_t i = 0; i < s->n_networks; i++)
    add_network(e, u, s->networks[i].network, &s->networks[i].aliases);
  /* Readiness: a recognised kind answers its protocol; else the manifest's
   * probe. */
  const struct berth_probe *pr = &s->probe;
  static const struct {
    const char *kind;
    enum berth_probe_proto proto;
    uint16_t port;
  } kinds[] = {{"postgres", BERTH_PROTO_POSTGRES, 5432},
               {"redis", BERTH_PROTO_REDIS, 6379},
               {"rabbitmq", BERTH_PROTO_AMQP, 5672}};
  u->target.timeout_ms = 1000;
  for (size_t k = 0; s->kind && k < 3; k++)
    if (!strcmp(s->kind, kinds[k].kind) && pr->kind != BERTH_PROBE_DISABLED) {
      u->probe = UP_PROTO;
      u->target.proto = kinds[k].proto;
      u->target.port = kinds[k].port;
    }
  if (u->probe == UP_NONE) {
    switch (pr->kind) {
    case BERTH_PROBE_HTTP:
    case BERTH_PROBE_TCP:
      u->probe = UP_PROTO;
      u->target.proto = pr->kind == BERTH_PROBE_HTTP ? BERTH_PROTO_HTTP : BERTH_PROTO_TCP;
      u->target.port = pr->port;
      u->target.http_path = pr->http_path;
      if (pr->timeout_ms > 0)
        u->target.timeout_ms = (int)pr->timeout_ms;
      break;
    case BERTH_PROBE_EXEC:
      u->probe = UP_EXEC;
      for (size_t i = 0; i < pr->exec.n; i++)
        berth__strv_add(e, &u->probe_exec, "%s", pr->exec.v[i]);
      break;
    case BERTH_PROBE_IMAGE:
      u->probe = UP_HEALTH;
      break;
    case BERTH_PROBE_DISABLED:
      u->probe = UP_DISABLED;
      break;
    default:
      break;
    }
  }
  /* A Compose healthcheck also goes to the engine, so `docker ps` shows
   * health as the user expects. */
  if (pr->kind == BERTH_PROBE_EXEC && pr->interval_ms >= 1000) {
    berth__strv_add(e, &u->hc_test, "CMD");
    for (size_t i = 0; i < pr->exec.n; i++)
      berth__strv_add(e, &u->hc_test, "%s", pr->exec.v[i]);
    u->hc = (struct berth_docker_healthcheck){.test = (const char *const *)u->hc_test.v,
                                              .interval_ns = pr->interval_ms * 1000000,
                                              .timeout_ns = pr->timeout_ms * 1000000,
                                              .start_period_ns = pr->start_period_ms * 1000000,
                                              .retries = pr->retries};
    u->spec.healthcheck = &u->hc;
  }
  return 0;
}

/* Environment a service gets from `uses`. */
static int plan_uses(struct berth__engine *e, struct berth__unit *u, berth_err *err) {
  for (size_t i = 0; i < u->svc->n_uses; i++) {
    const struct berth_use *use = &u->svc->uses[i];
    for (size_t k = 0; k < e->p->n_infra; k++) {
      if (strcmp(e->p->infra[k].name, use->infra))
        continue;
      _cleanup_free_ char *kv = NULL;
      int r = berth__infra_use_env(e, &e->p->infra[k], use, use->infra, 0, &kv, err);
      if (r < 0)
        return r;
      berth__strv_add(e, &u->env, "%s", kv);
    }
  }
  return 0;
}

static void add_dep(struct berth__engine *e, struct berth__unit *u, size_t dep,
                    enum berth_condition c) {
  for (size_t i = 0; i < u->n_deps; i++)
    if (u->deps[i] == dep) {
      if (c > u->conds[i] && c != BERTH_COND_COMPLETED)
        u->conds[i] = c;
      return;
    }
  size_t *d = realloc(u->deps, (u->n_deps + 1) * sizeof(*d));
  enum berth_condition *cd = d ? realloc(u->conds, (u->n_deps + 1) * sizeof(*cd)) : NULL;
  if (d)
    u->deps = d;
  if (!cd) {
    e->oom = true;
    return;
  }
  u->conds = cd;
  u->deps[u->n_deps] = dep;
  u->conds[u->n_deps++] = c;
}

static void select_unit(struct berth__engine *e, size_t i) {
  if (e->u[i].selected)
    return;
  e->u[i].selected = true;
  for (size_t d = 0; d < e->u[i].n_deps; d++)
    select_unit(e, e->u[i].deps[d]);
}

static int finish_spec(struct berth__engine *e, struct berth__unit *u, berth_err *err) {
  char rep[16];
  snprintf(rep, sizeof(rep), "%d", u->replica);
  if (u->svc && u->svc->container_name && u->svc->replicas <= 1) {
    if (!(u->container = strdup(u->svc->container_name)))
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  } else if (asprintf(&u->container, "%s-%s-%d", e->p->name, u->name, u->replica) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  berth__strv_add(e, &u->labels, BERTH_LABEL_PROJECT "=%s", e->p->name);
  berth__strv_add(e, &u->labels, BERTH_LABEL_SERVICE "=%s", u->name);
  berth__strv_add(e, &u->labels, BERTH_LABEL_REPLICA "=%d", u->replica);
  berth__strv_add(e, &u->labels, BERTH_LABEL_OWNER "=berth");
  berth__strv_add(e, &u->labels, BERTH_LABEL_NAMESPACE "=");
  const char *kind = u->infra ? berth_infra_kind_name(u->infra->kind) : u->svc->kind;
  if (kind)
    berth__strv_add(e, &u->labels, BERTH_LABEL_KIND "=%s", kind);
  const struct berth_service *s = u->svc;
  struct berth_docker_container_spec *sp = &u->spec;
  sp->name = u->container;
  sp->image = u->image;
  sp->cmd = u->cmd.n ? (const char *const *)u->cmd.v : NULL;
  sp->entrypoint = u->entrypoint.n ? (const char *const *)u->entrypoint.v : NULL;
  sp->env = u->env.n ? (const char *const *)u->env.v : NULL;
  sp->ports = u->ports;
  sp->n_ports = u->n_ports;
  sp->mounts = u->mounts;
  sp->n_mounts = u->n_mounts;
  sp->network = u->networks.n ? u->networks.v[0] : NULL;
  sp->aliases = u->networks.n ? (const char *const *)u->aliases[0].v : NULL;
  sp->init = s ? s->init != 0 : true;
  if (s) {
    sp->extra_hosts = s->extra_hosts.n ? (const char *const *)s->extra_hosts.v : NULL;
    sp->cap_add = s->cap_add.n ? (const char *const *)s->cap_add.v : NULL;
    sp->cap_drop = s->cap_drop.n ? (const char *const *)s->cap_drop.v : NULL;
    sp->tmpfs = s->tmpfs.n ? (const char *const *)s->tmpfs.v : NULL;
    sp->expose = s->expose.n ? (const char *const *)s->expose.v : NULL;
    sp->hostname = s->hostname;
    sp->user = s->user;
    sp->working_dir = s->working_dir;
    sp->stop_signal = s->stop_signal;
    sp->stop_timeout = s->stop_grace_ms > 0 ? (int)((s->stop_grace_ms + 999) / 1000) : 0;
    sp->restart = strcmp(s->restart, "no") ? s->restart : NULL;
    sp->nano_cpus = s->cpu_millis * 1000000;
    sp->memory = s->memory_bytes;
    if (sp->restart && !strncmp(sp->restart, "on-failure:", 11)) {
      sp->restart_max_retries = atoi(sp->restart + 11);
      sp->restart = "on-failure";
    }
  } else {
    sp->hostname = u->infra->name; /* RabbitMQ's node name must stay put */
  }
  /* The hash covers everything the container is created from; the labels
   * are set after, so the hash label itself is not part of it. */
  sp->labels = (const char *const *)u->labels.v;
  _cleanup_json_ cJSON *body = NULL;
  int r = berth_docker_container_body(sp, &body, err);
  if (r < 0)
    return r;
  for (size_t i = 1; i < u->networks.n; i++) {
    cJSON *extra = cJSON_CreateString(u->networks.v[i]);
    if (!extra || !cJSON_AddItemToObject(body, "x-berth-network", extra)) {
      cJSON_Delete(extra);
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    }
  }
  if (u->provision_sql && !cJSON_AddStringToObject(body, "x-berth-sql", u->provision_sql))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  if (u->provision_sh && !cJSON_AddStringToObject(body, "x-berth-sh", u->provision_sh))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  if (!(u->body = cJSON_PrintUnformatted(body)))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  return e->oom ? berth_err_set(err, BERTH_E_NOMEM, "out of memory") : 0;
}

/* The config hash, once the images are there: it covers the create body
 * and the image's id, so a rebuilt image under the same tag recreates the
 * container. */
static int seal(struct berth__engine *e, struct berth_docker *d, berth_err *err) {
  for (size_t i = 0; i < e->n; i++) {
    struct berth__unit *u = &e->u[i];
    if (!u->selected)
      continue;
    _cleanup_json_ cJSON *img = NULL;
    if (berth_docker_image_inspect(d, u->image, &img, err) < 0)
      return berth_err_wrap(err, "%s", u->name);
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(img, "Id"));
    _cleanup_free_ char *text = NULL;
    if (asprintf(&text, "%s\n%s", u->body, id ? id : "") < 0)
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    hash_text(text, u->hash);
    berth__strv_add(e, &u->labels, BERTH_LABEL_HASH "=%s", u->hash);
    u->spec.labels = (const char *const *)u->labels.v;
  }
  return e->oom ? berth_err_set(err, BERTH_E_NOMEM, "out of memory") : 0;
}

static int plan(struct berth__engine *e, berth_err *err) {
  const struct berth_project *p = e->p;
  size_t n = p->n_infra;
  for (size_t i = 0; i < p->n_services; i++)
    n += (size_t)(p->services[i].replicas > 0 ? p->services[i].replicas : 0);
  e->u = calloc(n + 1, sizeof(*e->u));
  if (!e->u)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int r = 0;
  for (size_t i = 0; i < p->n_infra && r >= 0; i++) {
    struct berth__unit *u = &e->u[e->n++];
    u->infra = &p->infra[i];
    u->replica = 1;
    u->name = strdup(u->infra->name);
    if ((r = berth__infra_unit(e, u, err)) < 0)
      break;
    /* Infra joins every network of the project so any service reaches it
     * by name. */
    for (size_t k = 0; k < p->n_networks; k++)
      if (!p->networks[k].external)
        add_network(e, u, p->networks[k].name, NULL);
  }
  for (size_t i = 0; i < p->n_services && r >= 0; i++)
    for (int rep = 1; rep <= p->services[i].replicas && r >= 0; rep++) {
      struct berth__unit *u = &e->u[e->n++];
      u->svc = &p->services[i];
      u->replica = rep;
      u->name = strdup(u->svc->name);
      if ((r = plan_service(e, u, err)) >= 0)
        r = plan_uses(e, u, err);
    }
  for (size_t i = 0; i < e->n && r >= 0; i++) {
    struct berth__unit *u = &e->u[i];
    if (!u->svc)
      continue;
    for (size_t d = 0; d < u->svc->n_deps; d++)
      for (size_t j = 0; j < e->n; j++)
        if (!strcmp(e->u[j].name, u->svc->deps[d].service))
          add_dep(e, u, j, u->svc->deps[d].condition);
    for (size_t k = 0; k < u->svc->n_uses; k++) {
      long j = unit_index(e, u->svc->uses[k].infra, 1);
      if (j >= 0)
        add_dep(e, u, (size_t)j, BERTH_COND_HEALTHY);
    }
  }
  for (size_t i = 0; i < e->n && r >= 0; i++)
    r = finish_spec(e, &e->u[i], err);
  if (r < 0)
    return r;
  if (e->o->n_services == 0) {
    for (size_t i = 0; i < e->n; i++)
      e->u[i].selected = true;
  } else {
    for (size_t k = 0; k < e->o->n_services; k++) {
      bool found = false;
      for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->u[i].name, e->o->services[k])) {
          select_unit(e, i);
          found = true;
        }
      if (!found)
        return berth_err_set(err, BERTH_E_INVALID, "no service or infra named \"%s\" in %s",
                             e->o->services[k], p->name);
    }
  }
  return e->oom ? berth_err_set(err, BERTH_E_NOMEM, "out of memory") : 0;
}

static int engine_init(struct berth__engine *e, const struct berth_project *p,
                       const struct berth_engine_opts *o) {
  *e = (struct berth__engine){.p = p, .o = o};
  pthread_mutex_init(&e->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&e->cv, &ca);
  pthread_condattr_destroy(&ca);
  e->t0 = berth_now_ms();
  e->deadline = e->t0 + (o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS);
  return 0;
}

/* ---- pre-flight: images, host ports, networks, volumes ---- */

/* Names the process listening on a TCP port, from /proc (best effort). */
static void port_holder(uint16_t port, char *out, size_t size) {
  snprintf(out, size, "another process");
  FILE *f = fopen("/proc/net/tcp", "re");
  if (!f)
    return;
  char line[512];
  unsigned long inode = 0;
  while (fgets(line, sizeof(line), f)) {
    unsigned lport, st;
    unsigned long ino;
    if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &lport, &st,
               &ino) == 3 &&
        lport == port && st == 0x0A) {
      inode = ino;
      break;
    }
  }
  fclose(f);
  if (!inode)
    return;
  char want[64];
  snprintf(want, sizeof(want), "socket:[%lu]", inode);
  DIR *proc = opendir("/proc");
  struct dirent *de;
  while (proc && (de = readdir(proc))) {
    char fddir[300];
    if (de->d_name[0] < '0' || de->d_name[0] > '9')
      continue;
    snprintf(fddir, sizeof(fddir), "/proc/%s/fd", de->d_name);
    DIR *fds = opendir(fddir);
    struct dirent *fe;
    bool hit = false;
    while (fds && !hit && (fe = readdir(fds))) {
      char link[600], target[128];
      snprintf(link, sizeof(link), "%s/%s", fddir, fe->d_name);
      ssize_t n = readlink(link, target, sizeof(target) - 1);
      if (n > 0) {
        target[n] = '\0';
        hit = !strcmp(target, want);
      }
    }
    if (fds)
      closedir(fds);
    if (hit) {
      char comm_path[300], comm[64] = "?";
      snprintf(comm_path, sizeof(comm_path), "/proc/%s/comm", de->d_name);
      FILE *c = fopen(comm_path, "re");
      if (c) {
        if (fgets(comm, sizeof(comm), c))
          comm[strcspn(comm, "\n")] = '\0';
        fclose(c);
      }
      snprintf(out, size, "process %s (pid %s)", comm, de->d_name);
      break;
    }
  }
  if (proc)
    closedir(proc);
}

static const cJSON *existing_container(const struct berth__engine *e, const char *name) {
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

static const char *label_of(const cJSON *c, const char *key) {
  return cJSON_GetStringValue(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "Labels"), key));
}

/* Which running container publishes this host port, if any. */
static char *container_on_port(struct berth_docker *d, uint16_t port) {
  _cleanup_json_ cJSON *all = NULL;
  berth_err err = NULL;
  if (berth_docker_container_list(d, NULL, false, &all, &err) < 0) {
    berth_err_free(&err);
    return NULL;
  }
  const cJSON *c, *pt;
  cJSON_ArrayForEach (c, all) {
    cJSON_ArrayForEach (pt, cJSON_GetObjectItemCaseSensitive(c, "Ports")) {
      const cJSON *pub = cJSON_GetObjectItemCaseSensitive(pt, "PublicPort");
      if (cJSON_IsNumber(pub) && (uint16_t)pub->valueint == port) {
        const char *name = cJSON_GetStringValue(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "Names"), 0));
        return strdup(name ? (name[0] == '/' ? name + 1 : name) : "?");
      }
    }
  }
  return NULL;
}

static int check_ports(struct berth__engine *e, struct berth_docker *d, berth_err *err) {
  for (size_t i = 0; i < e->n; i++) {
    struct berth__unit *u = &e->u[i];
    if (!u->selected)
      continue;
    const cJSON *have = existing_container(e, u->container);
    /* Our own container holding its ports, and staying as it is, is no
     * conflict; one about to be recreated still is (its new ports are
     * checked before the old container goes). */
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(have, "State"));
    const char *hash = label_of(have, BERTH_LABEL_HASH);
    if (have && st && !strcmp(st, "running") && hash && !strcmp(hash, u->hash))
      continue;
    for (size_t k = 0; k < u->n_ports; k++) {
      const struct berth_docker_port *p = &u->ports[k];
      if (!p->host_port || p->host_port_end > p->host_port)
        continue; /* none, or the engine picks a free one in a range */
      bool udp = p->proto && !strcmp(p->proto, "udp");
      int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
      struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(p->host_port)};
      const char *ip = p->host_ip ? p->host_ip : "127.0.0.1";
      if (fd < 0 || inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
        if (fd >= 0)
          close(fd);
        continue; /* IPv6 and the like: the engine will say */
      }
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      int br = bind(fd, (struct sockaddr *)&a, sizeof(a));
      int berr = errno;
      close(fd);
      if (br == 0 || berr != EADDRINUSE)
        continue;
      _cleanup_free_ char *holder = container_on_port(d, p->host_port);
      if (holder && !strcmp(holder, u->container))
        continue; /* its own previous container: freed when it is recreated */
      char proc[300];
      if (!holder)
        port_holder(p->host_port, proc, sizeof(proc));
      return berth_err_set(err, BERTH_E_CONFLICT,
                           "%s: host port %s:%u is already in use by %s%s; stop it or publish "
                           "another port in the manifest",
                           u->name, ip, p->host_port, holder ? "container " : "",
                           holder ? holder : proc);
    }
  }
  return 0;
}

struct build_progress {
  struct berth__engine *e;
  struct berth__unit *u;
};

static void on_build(const struct berth_docker_progress *p, void *ud) {
  struct build_progress *b = ud;
  if (p->stream && !strncmp(p->stream, "Step ", 5)) {
    char line[200];
    snprintf(line, sizeof(line), "%s", p->stream);
    line[strcspn(line, "\n")] = '\0';
    berth__emit(b->e, b->u, BERTH_PHASE_BUILDING, "%s", line);
  }
}

static int ensure_image(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                        berth_err *err);

static int ensure_images(struct berth__engine *e, struct berth_docker *d, berth_err *err) {
  /* Two passes: builds first, so an image one service builds is there
   * before another that only names it would try to pull it. */
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < e->n; i++) {
      struct berth__unit *u = &e->u[i];
      if (!u->selected || (pass == 0) != (u->svc && u->svc->build))
        continue;
      int r = ensure_image(e, d, u, err);
      if (r < 0)
        return r;
    }
  return 0;
}

static int ensure_image(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                        berth_err *err) {
  size_t i = (size_t)(u - e->u);
  {
    bool seen = false;
    for (size_t j = 0; j < i; j++)
      seen |= e->u[j].selected && !strcmp(e->u[j].image, u->image) &&
              (e->u[j].svc && u->svc ? e->u[j].svc == u->svc || !u->svc->build : true);
    if (seen)
      return 0;
    int have = berth_docker_image_exists(d, u->image, err);
    if (have < 0)
      return have;
    if (u->svc && u->svc->build && (!have || e->o->build)) {
      const struct berth_build *b = u->svc->build;
      struct berth_strv argv = {0};
      for (size_t k = 0; k < b->args.n; k++)
        if (b->args.v[k].value)
          berth__strv_add(e, &argv, "%s=%s", b->args.v[k].key, b->args.v[k].value);
      char label[300];
      snprintf(label, sizeof(label), BERTH_LABEL_PROJECT "=%s", e->p->name);
      const char *labels[] = {label, NULL};
      struct berth_docker_build_opts bo = {.context_dir = b->context,
                                           .dockerfile = b->dockerfile,
                                           .tag = u->image,
                                           .target = b->target,
                                           .buildargs = argv.n ? (const char *const *)argv.v : NULL,
                                           .labels = labels};
      berth__emit(e, u, BERTH_PHASE_BUILDING, "building %s", u->image);
      struct build_progress bp = {e, u};
      int r = berth_docker_image_build(d, &bo, on_build, &bp, NULL, err);
      berth_strv_release(&argv);
      if (r < 0)
        return berth_err_wrap(err, "%s", u->name);
      return 0;
    }
    if (have)
      return 0;
    berth__emit(e, u, BERTH_PHASE_PULLING, "pulling %s", u->image);
    if (berth_docker_image_pull(d, u->image, NULL, NULL, err) < 0)
      return berth_err_wrap(err,
                            "%s: the image %s is not on this machine and could not be "
                            "pulled (is a registry reachable? build it, or set its name)",
                            u->name, u->image);
  }
  return 0;
}

static int ensure_networks_volumes(struct berth__engine *e, struct berth_docker *d,
                                   berth_err *err) {
  char label[300], buf[512];
  snprintf(label, sizeof(label), BERTH_LABEL_PROJECT "=%s", e->p->name);
  const char *labels[] = {label, BERTH_LABEL_OWNER "=berth", NULL};
  for (size_t i = 0; i < e->p->n_networks; i++) {
    const struct berth_network *n = &e->p->networks[i];
    const char *name = network_engine_name(e, n->name, buf, sizeof(buf));
    _cleanup_json_ cJSON *info = NULL;
    berth_err e2 = NULL;
    if (berth_docker_network_inspect(d, name, &info, &e2) >= 0)
      continue;
    if (strstr(berth_err_root_msg(e2), "matches found")) {
      /* Two networks of one name (two ups raced before berth locked):
       * keep the one in use, remove the empty duplicates of ours. */
      berth_err_free(&e2);
      _cleanup_json_ cJSON *all = NULL;
      if (berth_docker_network_list(d, labels, &all, err) < 0)
        return -1;
      /* Keep the one containers use (else the first); drop empty others. */
      const cJSON *nw;
      _cleanup_free_ char *keep = NULL;
      for (int pass = 0; pass < 2 && !keep; pass++)
        cJSON_ArrayForEach (nw, all) {
          const char *nm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(nw, "Name"));
          const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(nw, "Id"));
          if (keep || !nm || !id || strcmp(nm, name))
            continue;
          _cleanup_json_ cJSON *ni = NULL;
          berth_err ie = NULL;
          bool used = berth_docker_network_inspect(d, id, &ni, &ie) >= 0 &&
                      cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ni, "Containers")) > 0;
          berth_err_free(&ie);
          if (used || pass == 1)
            keep = strdup(id);
        }
      cJSON_ArrayForEach (nw, all) {
        const char *nm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(nw, "Name"));
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(nw, "Id"));
        berth_err ie = NULL;
        if (nm && id && !strcmp(nm, name) && keep && strcmp(id, keep) &&
            berth_docker_network_remove(d, id, &ie) < 0)
          berth_err_free(&ie);
      }
      continue;
    }
    if (berth_err_code(e2) != BERTH_E_NOT_FOUND) {
      *err = e2;
      return -berth_err_code(*err);
    }
    berth_err_free(&e2);
    if (n->external)
      return berth_err_set(err, BERTH_E_NOT_FOUND,
                           "the external network %s does not exist; create it (docker network "
                           "create %s) or drop external: true",
                           name, name);
    struct berth_docker_network_spec s = {
        .name = name, .driver = n->driver, .internal = n->internal, .labels = labels};
    if (berth_docker_network_create(d, &s, NULL, &e2) < 0) {
      if (berth_err_code(e2) != BERTH_E_CONFLICT) { /* a racing up created it: fine */
        *err = e2;
        return -berth_err_code(*err);
      }
      berth_err_free(&e2);
    }
  }
  /* Named volumes: creating an existing volume is a no-op for the engine. */
  for (size_t i = 0; i < e->n; i++)
    for (size_t k = 0; k < e->u[i].n_mounts; k++) {
      const struct berth_docker_mount *m = &e->u[i].mounts[k];
      if (!e->u[i].selected || m->type != BERTH_MOUNT_VOLUME || !m->source)
        continue;
      bool external = false;
      for (size_t v = 0; v < e->p->n_volumes; v++)
        if (e->p->volumes[v].external &&
            !strcmp(volume_engine_name(e, e->p->volumes[v].name, buf, sizeof(buf)), m->source))
          external = true;
      _cleanup_json_ cJSON *info = NULL;
      if (external) {
        if (berth_docker_volume_inspect(d, m->source, &info, err) < 0)
          return berth_err_wrap(err, "the external volume %s", m->source);
        continue;
      }
      if (berth_docker_volume_create(d, m->source, labels, &info, err) < 0)
        return berth_err_wrap(err, "%s", e->u[i].name);
    }
  return 0;
}

/* ---- workers ---- */

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
static int fail(struct berth__engine *e, struct berth__unit *u, berth_err *err) {
  _cleanup_free_ char *msg = berth_err_string(*err);
  pthread_mutex_lock(&e->mu);
  u->st = U_FAILED;
  if (!e->err)
    e->err = TAKE_PTR(*err);
  pthread_cond_broadcast(&e->cv);
  pthread_mutex_unlock(&e->mu);
  berth_err_free(err);
  berth__emit(e, u, BERTH_PHASE_FAILED, "%s", msg ? msg : "failed");
  return -1;
}

static int wait_deps(struct berth__engine *e, struct berth__unit *u, berth_err *err) {
  bool announced = false;
  pthread_mutex_lock(&e->mu);
  for (;;) {
    const struct berth__unit *waiting = NULL, *failed = NULL;
    enum berth_condition wc = BERTH_COND_STARTED;
    for (size_t d = 0; d < u->n_deps; d++) {
      const struct berth__unit *du = &e->u[u->deps[d]];
      if (du->st == U_FAILED)
        failed = du;
      else if (!cond_met(du, u->conds[d]) && !waiting) {
        waiting = du;
        wc = u->conds[d];
      }
    }
    if (failed) {
      pthread_mutex_unlock(&e->mu);
      return berth_err_set(err, BERTH_E_FAILED, "%s was not started: its dependency %s failed",
                           u->name, failed->name);
    }
    if (!waiting)
      break;
    int64_t now = berth_now_ms();
    if (now >= e->deadline) {
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
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t wake = now + 500 < e->deadline ? now + 500 : e->deadline;
    ts.tv_sec = wake / 1000;
    ts.tv_nsec = (wake % 1000) * 1000000;
    pthread_cond_timedwait(&e->cv, &e->mu, &ts);
  }
  pthread_mutex_unlock(&e->mu);
  return 0;
}

struct logbuf {
  struct berth_buf b;
};

static int on_log_tail(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  berth_buf_add(ud, data, len);
  return 0;
}

/* The last lines of a container's log, indented, for error messages. */
static char *log_tail(struct berth_docker *d, const char *id) {
  struct berth_buf b = BERTH_BUF_INIT(1 << 20);
  struct berth_docker_logs_opts o = {.tail = LOG_TAIL};
  berth_err err = NULL;
  if (berth_docker_container_logs(d, id, &o, on_log_tail, &b, &err) < 0) {
    berth_err_free(&err);
    berth_buf_release(&b);
    return strdup("    (no log)");
  }
  struct berth_buf out = BERTH_BUF_INIT(1 << 20);
  for (char *save = NULL, *l = b.data ? strtok_r(b.data, "\n", &save) : NULL; l;
       l = strtok_r(NULL, "\n", &save))
    berth_buf_addf(&out, "%s    %s", out.len ? "\n" : "", l);
  berth_buf_release(&b);
  return out.len ? berth_buf_detach(&out) : (berth_buf_release(&out), strdup("    (empty log)"));
}

static const char *container_ip(const cJSON *info, char *buf, size_t size) {
  const cJSON *nets = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(info, "NetworkSettings"), "Networks");
  const cJSON *n;
  cJSON_ArrayForEach (n, nets) {
    const char *ip = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(n, "IPAddress"));
    if (ip && *ip) {
      snprintf(buf, size, "%s", ip);
      return buf;
    }
  }
  return NULL;
}

static int null_output(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  struct berth_buf *b = ud;
  if (b)
    berth_buf_add(b, data, len);
  return 0;
}

/* Probes until ready, the container exits, or the deadline. */
static int probe_until_ready(struct berth__engine *e, struct berth__unit *u, struct berth_docker *d,
                             berth_err *err) {
  char why[512] = "no answer yet", ipbuf[64];
  berth__emit(e, u, BERTH_PHASE_PROBING, "waiting for %s",
              u->probe == UP_PROTO    ? (u->target.proto == BERTH_PROTO_POSTGRES ? "postgres"
                                         : u->target.proto == BERTH_PROTO_REDIS  ? "redis"
                                         : u->target.proto == BERTH_PROTO_AMQP   ? "amqp"
                                         : u->target.proto == BERTH_PROTO_HTTP   ? "http"
                                                                                 : "tcp")
              : u->probe == UP_EXEC   ? "its probe command"
              : u->probe == UP_HEALTH ? "its healthcheck"
                                      : "it to run");
  for (;;) {
    _cleanup_json_ cJSON *info = NULL;
    if (berth_docker_container_inspect(d, u->id, &info, err) < 0)
      return berth_err_wrap(err, "%s", u->name);
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(info, "State");
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(state, "Running"))) {
      const cJSON *code = cJSON_GetObjectItemCaseSensitive(state, "ExitCode");
      _cleanup_free_ char *tail = log_tail(d, u->id);
      return berth_err_set(err, BERTH_E_FAILED,
                           "%s exited with code %d before it was ready; its last log lines:\n%s",
                           u->name, cJSON_IsNumber(code) ? code->valueint : -1, tail);
    }
    int ready = 0;
    switch (u->probe) {
    case UP_PROTO: {
      struct berth_probe_target t = u->target;
      t.host = container_ip(info, ipbuf, sizeof(ipbuf));
      if (!t.host) {
        snprintf(why, sizeof(why), "it has no IP address on a network berth can reach");
        break;
      }
      ready = berth_probe_once(&t, why, sizeof(why));
      break;
    }
    case UP_EXEC: {
      struct berth_buf out = BERTH_BUF_INIT(4096);
      struct berth_docker_exec_opts xo = {.cmd = (const char *const *)u->probe_exec.v,
                                          .stdin_fd = -1};
      int code = -1;
      berth_err xe = NULL;
      if (berth_docker_exec(d, u->id, &xo, null_output, &out, &code, &xe) < 0) {
        snprintf(why, sizeof(why), "%s", berth_err_root_msg(xe));
        berth_err_free(&xe);
      } else {
        ready = code == 0;
        snprintf(why, sizeof(why), "the probe command exited with %d%s%.200s", code,
                 out.len ? ": " : "", out.data ? out.data : "");
      }
      berth_buf_release(&out);
      break;
    }
    case UP_HEALTH: {
      const char *h = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
          cJSON_GetObjectItemCaseSensitive(state, "Health"), "Status"));
      ready = !h || !strcmp(h, "healthy"); /* no healthcheck in the image: running */
      snprintf(why, sizeof(why), "the engine reports %s", h ? h : "no health");
      break;
    }
    default:
      ready = 1;
    }
    if (ready > 0)
      return 0;
    pthread_mutex_lock(&e->mu);
    free(u->why);
    u->why = strdup(why);
    pthread_mutex_unlock(&e->mu);
    if (berth_now_ms() + PROBE_INTERVAL_MS >= e->deadline) {
      _cleanup_free_ char *tail = log_tail(d, u->id);
      return berth_err_set(err, BERTH_E_TIMEOUT,
                           "%s was not ready within %llds: last probe: %s; its last log "
                           "lines:\n%s",
                           u->name, (long long)((e->deadline - e->t0) / 1000), why, tail);
    }
    berth_sleep_ms(u->probe == UP_EXEC ? 2 * PROBE_INTERVAL_MS : PROBE_INTERVAL_MS);
  }
}

/* Provisioning runs once per container: the state remembers it, so a
 * re-run `up` skips it and one killed before it finished redoes it. */
static int provision(struct berth__engine *e, struct berth__unit *u, struct berth_docker *d,
                     berth_err *err) {
  if (!u->provision_sql && !u->provision_sh)
    return 0;
  char key[128];
  snprintf(key, sizeof(key), "provisioned:%s", u->id);
  int done = berth_state_marked(e->o->state, e->p->name, key, err);
  if (done != 0)
    return done < 0 ? done : 0;
  berth__emit(e, u, BERTH_PHASE_PROVISIONING, "provisioning");
  const char *script = u->provision_sql ? u->provision_sql : u->provision_sh;
  /* Over the unix socket, which the image trusts: works even when the
   * data predates the password in berth's state. */
  const char *sql_cmd[] = {"psql",     "-v", "ON_ERROR_STOP=1", "-q", "-U",
                           "postgres", "-d", "postgres",        NULL};
  const char *sh_cmd[] = {"sh", "-e", NULL};
  _cleanup_close_ int fd = memfd_create("berth-provision", MFD_CLOEXEC);
  if (fd < 0 || write(fd, script, strlen(script)) != (ssize_t)strlen(script) ||
      lseek(fd, 0, SEEK_SET) < 0)
    return berth_err_errno(err, errno, "preparing the provisioning of %s", u->name);
  struct berth_buf out = BERTH_BUF_INIT(1 << 20);
  const char *env_pw[2] = {NULL, NULL};
  _cleanup_free_ char *pgpass = NULL;
  for (size_t i = 0; i < u->env.n; i++)
    if (!strncmp(u->env.v[i], "POSTGRES_PASSWORD=", 18) &&
        asprintf(&pgpass, "PGPASSWORD=%s", u->env.v[i] + 18) >= 0)
      env_pw[0] = pgpass;
  struct berth_docker_exec_opts xo = {
      .cmd = u->provision_sql ? sql_cmd : sh_cmd, .env = env_pw[0] ? env_pw : NULL, .stdin_fd = fd};
  int code = -1;
  int r = berth_docker_exec(d, u->id, &xo, null_output, &out, &code, err);
  if (r >= 0 && code != 0)
    r = berth_err_set(err, BERTH_E_FAILED, "provisioning %s failed (exit %d): %.2000s", u->name,
                      code, out.data ? out.data : "");
  berth_buf_release(&out);
  if (r < 0)
    return r;
  return berth_state_mark(e->o->state, e->p->name, key, err);
}

static int create_container(struct berth__engine *e, struct berth__unit *u, struct berth_docker *d,
                            berth_err *err) {
  berth_err ce = NULL;
  int r = berth_docker_container_create(d, &u->spec, &u->id, &ce);
  if (r < 0 && berth_err_code(ce) == BERTH_E_CONFLICT) {
    /* A container of that name appeared since the listing (a racing or
     * killed up): replace it. */
    berth_err_free(&ce);
    if (berth_docker_container_remove(d, u->container, true, false, err) < 0)
      return r;
    r = berth_docker_container_create(d, &u->spec, &u->id, &ce);
  }
  if (r < 0) {
    *err = ce;
    return r;
  }
  for (size_t i = 1; i < u->networks.n; i++)
    if ((r = berth_docker_network_connect(d, u->networks.v[i], u->id,
                                          (const char *const *)u->aliases[i].v, err)) < 0)
      return r;
  return 0;
}

struct worker {
  struct berth__engine *e;
  size_t i;
  bool needed_ready; /* a dependent waits for it to be healthy */
  bool needed_done;  /* a dependent waits for it to complete */
};

static void *work(void *arg) {
  struct worker *w = arg;
  struct berth__engine *e = w->e;
  struct berth__unit *u = &e->u[w->i];
  struct berth_docker *d = NULL;
  berth_err err = NULL;
  int64_t t0 = 0;
  if (berth_docker_clone(e->d, &d, &err) < 0 || wait_deps(e, u, &err) < 0) {
    fail(e, u, &err);
    goto out;
  }
  t0 = berth_now_ms();
  const cJSON *have = existing_container(e, u->container);
  const char *hash = label_of(have, BERTH_LABEL_HASH);
  const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(have, "State"));
  bool unchanged = false;
  if (have && hash && !strcmp(hash, u->hash)) {
    u->id = strdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(have, "Id")));
    if (st && !strcmp(st, "running")) {
      unchanged = true;
    } else {
      berth__emit(e, u, BERTH_PHASE_STARTING, "starting");
      if (berth_docker_container_start(d, u->id, &err) < 0) {
        fail(e, u, &err);
        goto out;
      }
    }
  } else {
    if (have) {
      berth__emit(e, u, BERTH_PHASE_CREATING, "recreating: its configuration changed");
      const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(have, "Id"));
      int grace = u->svc && u->svc->stop_grace_ms > 0 ? (int)(u->svc->stop_grace_ms / 1000) : 10;
      if (berth_docker_container_stop(d, id, grace, &err) < 0 ||
          berth_docker_container_remove(d, id, true, false, &err) < 0) {
        if (berth_err_code(err) != BERTH_E_NOT_FOUND) {
          fail(e, u, &err);
          goto out;
        }
        berth_err_free(&err);
      }
    } else {
      berth__emit(e, u, BERTH_PHASE_CREATING, "creating");
    }
    if (create_container(e, u, d, &err) < 0) {
      berth_err_wrap(&err, "%s", u->name);
      fail(e, u, &err);
      goto out;
    }
    berth__emit(e, u, BERTH_PHASE_STARTING, "starting");
    if (berth_docker_container_start(d, u->id, &err) < 0) {
      berth_err_wrap(&err, "starting %s", u->name);
      fail(e, u, &err);
      goto out;
    }
  }
  set_state(e, u, U_STARTED);
  if (w->needed_done) {
    /* Polled, not a blocking wait: the deadline holds for jobs too. */
    int code = -1;
    for (;;) {
      _cleanup_json_ cJSON *info = NULL;
      if (berth_docker_container_inspect(d, u->id, &info, &err) < 0) {
        fail(e, u, &err);
        goto out;
      }
      const cJSON *state = cJSON_GetObjectItemCaseSensitive(info, "State");
      if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(state, "Running"))) {
        const cJSON *ec = cJSON_GetObjectItemCaseSensitive(state, "ExitCode");
        code = cJSON_IsNumber(ec) ? ec->valueint : -1;
        break;
      }
      if (berth_now_ms() >= e->deadline) {
        _cleanup_free_ char *tail = log_tail(d, u->id);
        berth_err_set(&err, BERTH_E_TIMEOUT,
                      "%s did not complete within %llds; its last log lines:\n%s", u->name,
                      (long long)((e->deadline - e->t0) / 1000), tail);
        fail(e, u, &err);
        goto out;
      }
      berth_sleep_ms(PROBE_INTERVAL_MS);
    }
    if (code != 0) {
      _cleanup_free_ char *tail = log_tail(d, u->id);
      berth_err_set(&err, BERTH_E_FAILED, "%s exited with code %d; its last log lines:\n%s",
                    u->name, code, tail);
      fail(e, u, &err);
      goto out;
    }
    u->ready_ms = berth_now_ms() - t0;
    set_state(e, u, U_COMPLETED);
    berth__emit(e, u, BERTH_PHASE_COMPLETED, "completed in %.1f s", (double)u->ready_ms / 1000);
    goto out;
  }
  if (!e->o->no_wait || w->needed_ready) {
    if (probe_until_ready(e, u, d, &err) < 0 || provision(e, u, d, &err) < 0) {
      fail(e, u, &err);
      goto out;
    }
  }
  u->ready_ms = berth_now_ms() - t0;
  set_state(e, u, U_READY);
  if (unchanged)
    berth__emit(e, u, BERTH_PHASE_UNCHANGED, "running, unchanged");
  else
    berth__emit(e, u, BERTH_PHASE_READY, "ready in %.1f s", (double)u->ready_ms / 1000);
  if (e->o->state && !unchanged) {
    berth_err se = NULL;
    if (berth_state_event(e->o->state, e->p->name, u->name, "ready", u->hash, &se) < 0)
      berth_err_free(&se);
  }
out:
  berth_docker_close(d);
  return NULL;
}

/* ---- status (ps and the summary of up) ---- */

static int status_from_engine(struct berth_docker *d, const char *project, const char *service,
                              struct berth_status *ret, berth_err *err) {
  char l1[300], l2[300];
  snprintf(l1, sizeof(l1), BERTH_LABEL_PROJECT "=%s", project);
  snprintf(l2, sizeof(l2), BERTH_LABEL_SERVICE "=%s", service ? service : "");
  const char *labels[] = {l1, service ? l2 : NULL, NULL};
  _cleanup_json_ cJSON *list = NULL;
  int r = berth_docker_container_list(d, labels, true, &list, err);
  if (r < 0)
    return r;
  size_t n = (size_t)cJSON_GetArraySize(list);
  ret->v = calloc(n + 1, sizeof(*ret->v));
  if (!ret->v)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  const cJSON *c;
  cJSON_ArrayForEach (c, list) {
    struct berth_unit_status *s = &ret->v[ret->n++];
    const char *name =
        cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "Names"), 0));
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "Status"));
    const char *rep = label_of(c, BERTH_LABEL_REPLICA);
    s->service = strdup(label_of(c, BERTH_LABEL_SERVICE) ? label_of(c, BERTH_LABEL_SERVICE) : "?");
    s->replica = rep ? atoi(rep) : 1;
    s->container = strdup(name ? (name[0] == '/' ? name + 1 : name) : "?");
    s->id = strdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "Id")));
    s->state = strdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "State")) ?: "?");
    s->ready_ms = -1;
    const cJSON *created = cJSON_GetObjectItemCaseSensitive(c, "Created");
    s->started_at =
        cJSON_IsNumber(created) && created->valuedouble > 0 && created->valuedouble < 9.2e18
            ? (int64_t)created->valuedouble
            : 0;
    const char *kind = label_of(c, BERTH_LABEL_KIND);
    (void)kind;
    if (status && strstr(status, "(healthy)"))
      s->health = strdup("healthy");
    else if (status && strstr(status, "(unhealthy)"))
      s->health = strdup("unhealthy");
    else if (status && strstr(status, "(health: starting)"))
      s->health = strdup("starting");
    if (status && !strncmp(status, "Exited (", 8))
      s->exit_code = atoi(status + 8);
    const cJSON *pt;
    cJSON_ArrayForEach (pt, cJSON_GetObjectItemCaseSensitive(c, "Ports")) {
      const cJSON *pub = cJSON_GetObjectItemCaseSensitive(pt, "PublicPort");
      const cJSON *priv = cJSON_GetObjectItemCaseSensitive(pt, "PrivatePort");
      const char *ip = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pt, "IP"));
      const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pt, "Type"));
      if (!cJSON_IsNumber(pub))
        continue;
      char **urls = realloc(s->urls, (s->n_urls + 1) * sizeof(*urls));
      if (!urls)
        return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
      s->urls = urls;
      int privp = cJSON_IsNumber(priv) ? priv->valueint : 0;
      const char *scheme = type && !strcmp(type, "udp") ? "udp"
                           : privp == 5432              ? "postgres"
                           : privp == 6379              ? "redis"
                           : privp == 5672              ? "amqp"
                           : privp == 443               ? "https"
                                                        : "http";
      if (asprintf(&s->urls[s->n_urls], "%s://%s:%d", scheme,
                   ip && *ip && strcmp(ip, "0.0.0.0") ? ip : "127.0.0.1", pub->valueint) >= 0)
        s->n_urls++;
    }
    s->infra = kind && !label_of(c, "com.docker.compose.service") &&
               (!strcmp(kind, "postgres") || !strcmp(kind, "redis") || !strcmp(kind, "rabbitmq"));
  }
  return 0;
}

int berth_engine_ps(const char *project, struct berth_status *ret, berth_err *err) {
  struct berth_docker *d = NULL;
  int r = berth_docker_open(&d, NULL, err);
  if (r >= 0)
    r = status_from_engine(d, project, NULL, ret, err);
  berth_docker_close(d);
  return r;
}

int berth_engine_container(const char *project, const char *service, int replica, char **ret_id,
                           berth_err *err) {
  struct berth_status st = {0};
  struct berth_docker *d = NULL;
  int r = berth_docker_open(&d, NULL, err);
  if (r >= 0)
    r = status_from_engine(d, project, service, &st, err);
  berth_docker_close(d);
  if (r < 0)
    return r;
  for (size_t i = 0; i < st.n; i++)
    if (st.v[i].replica == (replica > 0 ? replica : 1)) {
      *ret_id = strdup(st.v[i].id);
      berth_status_release(&st);
      return *ret_id ? 0 : berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    }
  berth_status_release(&st);
  return berth_err_set(err, BERTH_E_NOT_FOUND,
                       "%s has no container of service %s; run berth up %s first", project, service,
                       service);
}

/* ---- up ---- */

static int remove_orphans(struct berth__engine *e, struct berth_docker *d, berth_err *err) {
  const cJSON *c;
  cJSON_ArrayForEach (c, e->existing) {
    const char *svc = label_of(c, BERTH_LABEL_SERVICE);
    const char *rep = label_of(c, BERTH_LABEL_REPLICA);
    if (svc && unit_index(e, svc, rep ? atoi(rep) : 1) >= 0)
      continue;
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "Id"));
    const char *name =
        cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "Names"), 0));
    struct berth__unit fake = {.name = (char *)(svc ? svc : "?"), .replica = rep ? atoi(rep) : 1};
    if (!e->o->remove_orphans) {
      berth__emit(e, &fake, BERTH_PHASE_WAITING,
                  "orphan container %s: no longer in the manifest; berth up --remove-orphans "
                  "removes it",
                  name ? name + 1 : "?");
      continue;
    }
    berth__emit(e, &fake, BERTH_PHASE_STOPPING, "removing orphan container");
    if (berth_docker_container_remove(d, id, true, false, err) < 0 &&
        berth_err_code(*err) != BERTH_E_NOT_FOUND)
      return -1;
    berth_err_free(err);
  }
  return 0;
}

int berth_engine_up(const struct berth_project *p, const struct berth_engine_opts *o,
                    struct berth_status *ret, berth_err *err) {
  struct berth__engine e;
  engine_init(&e, p, o);
  struct berth_docker *d = NULL;
  struct worker *workers = NULL;
  pthread_t *threads = NULL;
  size_t started = 0;
  char label[300];
  snprintf(label, sizeof(label), BERTH_LABEL_PROJECT "=%s", p->name);
  const char *labels[] = {label, NULL};
  int r = berth_docker_open(&d, NULL, err);
  e.d = d;
  if (r >= 0)
    r = plan(&e, err);
  if (r >= 0)
    r = berth_docker_container_list(d, labels, true, &e.existing, err);
  if (r >= 0)
    r = remove_orphans(&e, d, err);
  if (r >= 0)
    r = ensure_images(&e, d, err);
  if (r >= 0)
    r = seal(&e, d, err);
  if (r >= 0)
    r = check_ports(&e, d, err);
  if (r >= 0)
    r = ensure_networks_volumes(&e, d, err);
  if (r < 0)
    goto out;
  workers = calloc(e.n, sizeof(*workers));
  threads = calloc(e.n, sizeof(*threads));
  if (!workers || !threads) {
    r = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < e.n; i++) {
    workers[i] = (struct worker){.e = &e, .i = i};
    for (size_t j = 0; j < e.n; j++)
      for (size_t k = 0; e.u[j].selected && k < e.u[j].n_deps; k++)
        if (e.u[j].deps[k] == i) {
          workers[i].needed_ready |= e.u[j].conds[k] == BERTH_COND_HEALTHY;
          workers[i].needed_done |= e.u[j].conds[k] == BERTH_COND_COMPLETED;
        }
  }
  for (size_t i = 0; i < e.n; i++) {
    if (!e.u[i].selected)
      continue;
    if (pthread_create(&threads[i], NULL, work, &workers[i]) != 0) {
      berth_err te = NULL;
      berth_err_set(&te, BERTH_E_FAILED, "cannot start a thread for %s", e.u[i].name);
      fail(&e, &e.u[i], &te);
      continue;
    }
    started++;
  }
  for (size_t i = 0; i < e.n; i++)
    if (e.u[i].selected && threads[i])
      pthread_join(threads[i], NULL);
  if (e.err) {
    *err = TAKE_PTR(e.err);
    r = -berth_err_code(*err);
    if (r == 0)
      r = -BERTH_E_FAILED;
    goto out;
  }
  if (ret) {
    r = status_from_engine(d, p->name, NULL, ret, err);
    for (size_t i = 0; r >= 0 && i < ret->n; i++) {
      long ui = unit_index(&e, ret->v[i].service, ret->v[i].replica);
      if (ui >= 0) {
        ret->v[i].ready_ms = e.u[ui].ready_ms;
        ret->v[i].infra = e.u[ui].infra != NULL;
      }
    }
  }
out:
  (void)started;
  free(workers);
  free(threads);
  berth_docker_close(d);
  engine_release(&e);
  return r < 0 ? r : 0;
}

/* ---- down, stop ---- */

/* How far a service sits from the top of the dependency graph: 0 when no
 * one depends on it. Stopping in increasing rank stops dependents before
 * what they depend on. */
static int rank_of(const struct berth_project *p, const char *name, int depth) {
  if (depth > 64)
    return 0;
  int best = -1;
  for (size_t i = 0; i < p->n_services; i++) {
    const struct berth_service *s = &p->services[i];
    bool depends = false;
    for (size_t d = 0; d < s->n_deps && !depends; d++)
      depends = !strcmp(s->deps[d].service, name);
    for (size_t k = 0; k < s->n_uses && !depends; k++)
      depends = !strcmp(s->uses[k].infra, name);
    if (depends) {
      int r = rank_of(p, s->name, depth + 1);
      if (r > best)
        best = r;
    }
  }
  return best + 1;
}

struct stop_job {
  char *id, *name, *service;
  int rank, timeout_s;
  bool remove;
  struct berth__engine *e;
  int rc;
  berth_err err;
};

static void *stop_one(void *arg) {
  struct stop_job *j = arg;
  struct berth_docker *d = NULL;
  struct berth__unit fake = {.name = j->service, .replica = 1};
  if (berth_docker_clone(j->e->d, &d, &j->err) < 0) {
    j->rc = -1;
    return NULL;
  }
  berth__emit(j->e, &fake, BERTH_PHASE_STOPPING, "stopping %s", j->name);
  int r = berth_docker_container_stop(d, j->id, j->timeout_s, &j->err);
  if (r < 0 && berth_err_code(j->err) == BERTH_E_NOT_FOUND) {
    berth_err_free(&j->err);
    r = 0;
  }
  if (r >= 0 && j->remove) {
    r = berth_docker_container_remove(d, j->id, true, false, &j->err);
    if (r < 0 && berth_err_code(j->err) == BERTH_E_NOT_FOUND) {
      berth_err_free(&j->err);
      r = 0;
    }
  }
  if (r >= 0)
    berth__emit(j->e, &fake, j->remove ? BERTH_PHASE_REMOVED : BERTH_PHASE_STOPPING,
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

static int stop_containers(const struct berth_project *p, const struct berth_engine_opts *o,
                           bool remove, berth_err *err) {
  struct berth__engine e;
  engine_init(&e, p, o);
  struct berth_docker *d = NULL;
  char label[300];
  snprintf(label, sizeof(label), BERTH_LABEL_PROJECT "=%s", p->name);
  const char *labels[] = {label, NULL};
  /* Declared before any goto: cleanups run at every exit. */
  _cleanup_json_ cJSON *list = NULL, *nets = NULL, *vols = NULL;
  struct stop_job *jobs = NULL;
  pthread_t *threads = NULL;
  size_t n = 0;
  int r = berth_docker_open(&d, NULL, err);
  e.d = d;
  if (r >= 0)
    r = berth_docker_container_list(d, labels, true, &list, err);
  if (r < 0)
    goto out;
  size_t total = (size_t)cJSON_GetArraySize(list);
  jobs = calloc(total + 1, sizeof(*jobs));
  threads = calloc(total + 1, sizeof(*threads));
  if (!jobs || !threads) {
    r = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    goto out;
  }
  int max_rank = 0;
  const cJSON *c;
  cJSON_ArrayForEach (c, list) {
    const char *svc = label_of(c, BERTH_LABEL_SERVICE);
    if (!svc || !wanted(o, svc))
      continue;
    const char *name =
        cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "Names"), 0));
    struct stop_job *j = &jobs[n++];
    j->id = strdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "Id")));
    j->name = strdup(name && name[0] == '/' ? name + 1 : name ? name : "?");
    j->service = strdup(svc);
    j->rank = rank_of(p, svc, 0);
    j->timeout_s = 10;
    j->remove = remove;
    j->e = &e;
    const struct berth_service *s = berth_project_service(p, svc);
    if (s && s->stop_grace_ms >= 0)
      j->timeout_s = (int)((s->stop_grace_ms + 999) / 1000);
    if (j->rank > max_rank)
      max_rank = j->rank;
  }
  /* Waves: every container of one rank at once. */
  for (int rank = 0; rank <= max_rank && r >= 0; rank++) {
    for (size_t i = 0; i < n; i++)
      if (jobs[i].rank == rank && pthread_create(&threads[i], NULL, stop_one, &jobs[i]) != 0)
        stop_one(&jobs[i]);
    for (size_t i = 0; i < n; i++)
      if (jobs[i].rank == rank && threads[i])
        pthread_join(threads[i], NULL);
    for (size_t i = 0; i < n && r >= 0; i++)
      if (jobs[i].rank == rank && jobs[i].rc < 0) {
        *err = TAKE_PTR(jobs[i].err);
        r = berth_err_wrap(err, "stopping %s", jobs[i].name);
      }
  }
  if (r < 0 || !remove || o->n_services)
    goto out;
  /* Networks, and volumes when asked: everything labelled with the
   * project. */
  if ((r = berth_docker_network_list(d, labels, &nets, err)) < 0)
    goto out;
  cJSON_ArrayForEach (c, nets) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "Id"));
    if (berth_docker_network_remove(d, id, err) < 0) {
      if (berth_err_code(*err) != BERTH_E_NOT_FOUND) {
        r = -1;
        goto out;
      }
      berth_err_free(err);
    }
  }
  if (!o->volumes)
    goto out;
  if ((r = berth_docker_volume_list(d, labels, &vols, err)) < 0)
    goto out;
  cJSON_ArrayForEach (c, cJSON_GetObjectItemCaseSensitive(vols, "Volumes")) {
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "Name"));
    struct berth__unit fake = {.name = (char *)name, .replica = 1};
    if (berth_docker_volume_remove(d, name, false, err) < 0) {
      if (berth_err_code(*err) != BERTH_E_NOT_FOUND) {
        r = -1;
        goto out;
      }
      berth_err_free(err);
    }
    berth__emit(&e, &fake, BERTH_PHASE_REMOVED, "removed volume %s", name);
  }
  /* The credentials protected data that is gone now. */
  if (o->state && (r = berth_state_forget_secrets(o->state, p->name, err)) < 0)
    goto out;
out:
  for (size_t i = 0; jobs && i < n; i++) {
    free(jobs[i].id);
    free(jobs[i].name);
    free(jobs[i].service);
    berth_err_free(&jobs[i].err);
  }
  free(jobs);
  free(threads);
  berth_docker_close(d);
  engine_release(&e);
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

/* ---- env ---- */

int berth_engine_env(const struct berth_project *p, const char *service, struct berth_state *st,
                     struct berth_kvv *ret, berth_err *err) {
  struct berth_engine_opts o = {.state = st};
  struct berth__engine e;
  engine_init(&e, p, &o);
  struct berth_status s = {0};
  struct berth_docker *d = NULL;
  int r = berth_docker_open(&d, NULL, err);
  if (r >= 0)
    r = status_from_engine(d, p->name, NULL, &s, err);
  const struct berth_service *svc = service ? berth_project_service(p, service) : NULL;
  if (r >= 0 && service && !svc)
    r = berth_err_set(err, BERTH_E_NOT_FOUND, "no service named %s in %s", service, p->name);
  for (size_t i = 0; r >= 0 && i < p->n_infra; i++) {
    const struct berth_infra *in = &p->infra[i];
    struct berth_use dflt = {.infra = in->name};
    static const char *const names[] = {"DATABASE_URL", "REDIS_URL", "AMQP_URL"};
    const struct berth_use *uses = svc ? svc->uses : &dflt;
    size_t nu = svc ? svc->n_uses : 1;
    for (size_t k = 0; r >= 0 && k < nu; k++) {
      if (strcmp(uses[k].infra, in->name))
        continue;
      struct berth_use use = uses[k];
      char var[128];
      if (!use.as) {
        /* All infra: one variable per instance, named after it. */
        snprintf(var, sizeof(var), "%s_%s", in->name, names[in->kind]);
        for (char *c = var; *c; c++)
          *c = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
        use.as = var;
      }
      uint16_t port = 0;
      static const char *const schemes[] = {"postgres://", "redis://", "amqp://"};
      for (size_t j = 0; j < s.n; j++)
        for (size_t m = 0; !strcmp(s.v[j].service, in->name) && m < s.v[j].n_urls; m++)
          if (!strncmp(s.v[j].urls[m], schemes[in->kind], strlen(schemes[in->kind]))) {
            const char *colon = strrchr(s.v[j].urls[m], ':');
            port = colon ? (uint16_t)atoi(colon + 1) : 0;
          }
      if (!port) {
        r = berth_err_set(err, BERTH_E_NOT_FOUND, "%s is not running; run berth up first",
                          in->name);
        break;
      }
      _cleanup_free_ char *kv = NULL;
      if ((r = berth__infra_use_env(&e, in, &use, "127.0.0.1", port, &kv, err)) < 0)
        break;
      char *eq = strchr(kv, '=');
      struct berth_kv *v = realloc(ret->v, (ret->n + 1) * sizeof(*v));
      if (!v || !eq) {
        r = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
        break;
      }
      ret->v = v;
      v[ret->n].key = strndup(kv, (size_t)(eq - kv));
      v[ret->n].value = strdup(eq + 1);
      ret->n++;
    }
  }
  berth_status_release(&s);
  berth_docker_close(d);
  engine_release(&e);
  return r < 0 ? r : 0;
}
