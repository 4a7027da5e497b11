/* Planning: the model -> units, each with the container it becomes and the
 * hash of its create body, and the graph of what needs what. Pure: no
 * engine call and no clock, so the same model plans the same (the config
 * hash label, and so `up`'s idempotence, rest on it: tests/unit/test-plan.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "engine-internal.h"
#include "hash.h"

#define NOMEM(err) berth_err_set((err), BERTH_E_NOMEM, "out of memory")

static void unit_free(struct berth__unit *u) {
  free(u->name);
  free(u->container);
  free(u->image);
  free(u->image_id);
  berth_strv_release(&u->env);
  berth_strv_release(&u->cmd);
  berth_strv_release(&u->entrypoint);
  berth_strv_release(&u->labels);
  berth_strv_release(&u->hc_test);
  berth_strv_release(&u->probe_exec);
  berth_strv_release(&u->exec_env);
  for (size_t i = 0; i < u->n_mounts; i++)
    free((char *)u->mounts[i].source);
  free(u->mounts);
  free(u->ports);
  for (size_t i = 0; i < u->networks.n && u->aliases; i++)
    berth_strv_release(&u->aliases[i]);
  free(u->aliases);
  berth_strv_release(&u->networks);
  free(u->probe_password);
  free(u->provision);
  free(u->id);
  free(u->body);
}

void berth__plan_release(struct berth__plan *pl) {
  for (size_t i = 0; pl->u && i < pl->n; i++)
    unit_free(&pl->u[i]);
  free(pl->u);
  free(pl->first);
  free(pl->count);
  berth_graph_release(&pl->g);
  *pl = (struct berth__plan){0};
}

long berth__unit_index(const struct berth__plan *pl, const char *name, int replica) {
  for (size_t i = 0; i < pl->n; i++)
    if (!strcmp(pl->u[i].name, name) && (replica == 0 || pl->u[i].replica == replica))
      return (long)i;
  return -1;
}

const char *berth__network_name(const struct berth_project *p, const char *net, char *buf,
                                size_t size) {
  for (size_t i = 0; i < p->n_networks; i++) {
    const struct berth_network *n = &p->networks[i];
    if (strcmp(n->name, net))
      continue;
    if (n->external)
      return n->external_name ? n->external_name : n->name;
    if (n->external_name) /* name: set explicitly */
      return n->external_name;
  }
  snprintf(buf, size, "%s_%s", p->name, net);
  return buf;
}

const char *berth__volume_name(const struct berth_project *p, const char *vol, char *buf,
                               size_t size) {
  for (size_t i = 0; i < p->n_volumes; i++) {
    const struct berth_volume *v = &p->volumes[i];
    if (strcmp(v->name, vol))
      continue;
    if (v->external || v->external_name)
      return v->external_name ? v->external_name : v->name;
  }
  snprintf(buf, size, "%s_%s", p->name, vol);
  return buf;
}

static int add_network(const struct berth_project *p, struct berth__unit *u, const char *net,
                       const struct berth_strv *extra_aliases, berth_err *err) {
  char buf[512];
  const char *name = berth__network_name(p, net, buf, sizeof(buf));
  if (berth_strv_find(&u->networks, name) >= 0)
    return 0;
  struct berth_strv *a = realloc(u->aliases, (u->networks.n + 1) * sizeof(*a));
  if (!a)
    return NOMEM(err);
  u->aliases = a;
  a += u->networks.n;
  *a = (struct berth_strv){0};
  int r = berth_strv_push(a, u->name);
  for (size_t i = 0; extra_aliases && i < extra_aliases->n && r >= 0; i++)
    r = berth_strv_push(a, extra_aliases->v[i]);
  if (r < 0 || berth_strv_push(&u->networks, name) < 0) {
    berth_strv_release(a);
    return NOMEM(err);
  }
  return 0;
}

/* Ports: ranges become one binding per port. Replicas beyond the first
 * cannot share a fixed host port: they publish none. */
static int plan_ports(struct berth__unit *u, berth_err *err) {
  const struct berth_service *s = u->svc;
  size_t np = 0;
  for (size_t i = 0; i < s->n_ports; i++)
    np += (size_t)(s->ports[i].container_end - s->ports[i].container_start) + 1;
  if (!(u->ports = calloc(np + 1, sizeof(*u->ports))))
    return NOMEM(err);
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
  return 0;
}

static int plan_mounts(const struct berth_project *pr, struct berth__unit *u, berth_err *err) {
  const struct berth_service *s = u->svc;
  char buf[512];
  if (!(u->mounts = calloc(s->n_mounts + s->n_secrets + s->n_configs + 1, sizeof(*u->mounts))))
    return NOMEM(err);
  for (size_t i = 0; i < s->n_mounts; i++) {
    const struct berth_mount *m = &s->mounts[i];
    struct berth_docker_mount *d = &u->mounts[u->n_mounts++];
    d->type = m->type == BERTH_MOUNT_T_BIND    ? BERTH_MOUNT_BIND
              : m->type == BERTH_MOUNT_T_TMPFS ? BERTH_MOUNT_TMPFS
                                               : BERTH_MOUNT_VOLUME;
    d->target = m->target;
    d->read_only = m->read_only;
    d->tmpfs_size = m->tmpfs_size;
    if (m->source && !(d->source = strdup(d->type == BERTH_MOUNT_VOLUME
                                              ? berth__volume_name(pr, m->source, buf, sizeof(buf))
                                              : m->source)))
      return NOMEM(err);
  }
  /* File-based secrets and configs are read-only binds at their target. */
  for (size_t k = 0; k < 2; k++) {
    const struct berth_file_ref *refs = k ? s->configs : s->secrets;
    size_t nr = k ? s->n_configs : s->n_secrets;
    const struct berth_file_def *defs = k ? pr->configs : pr->secrets;
    size_t nd = k ? pr->n_configs : pr->n_secrets;
    for (size_t i = 0; i < nr; i++)
      for (size_t j = 0; j < nd; j++) {
        if (strcmp(defs[j].name, refs[i].source) || !defs[j].file)
          continue;
        char *src = strdup(defs[j].file);
        if (!src)
          return NOMEM(err);
        u->mounts[u->n_mounts++] = (struct berth_docker_mount){
            .type = BERTH_MOUNT_BIND, .source = src, .target = refs[i].target, .read_only = true};
      }
  }
  return 0;
}

/* Readiness (ready.c): a recognised kind answers its protocol, and passes
 * the healthcheck the user declared, if any; else the manifest's probe.
 * An exec check of 1 s or more also goes to the engine, so `docker ps`
 * shows health as the user expects; one the engine runs at least every
 * ENGINE_PACE_MS is left to it (berth waits for its health_status). */
#define ENGINE_PACE_MS 2000
static int plan_probe(struct berth__unit *u, berth_err *err) {
  const struct berth_service *s = u->svc;
  const struct berth_probe *pr = &s->probe;
  const struct berth__infra_kind *k = berth__infra_kind_find(s->kind);
  u->target.timeout_ms = 1000;
  if (pr->kind == BERTH_PROBE_EXEC) {
    u->exec_interval_ms = pr->interval_ms;
    for (size_t i = 0; i < pr->exec.n; i++)
      if (berth_strv_push(&u->probe_exec, pr->exec.v[i]) < 0)
        return NOMEM(err);
  }
  if (k && pr->kind != BERTH_PROBE_DISABLED) {
    u->probe = UP_PROTO;
    u->target.proto = k->probe;
    u->target.port = s->kind_port ? s->kind_port : k->port;
    u->check_after = pr->kind == BERTH_PROBE_EXEC || pr->kind == BERTH_PROBE_IMAGE;
  } else if (pr->kind == BERTH_PROBE_HTTP || pr->kind == BERTH_PROBE_TCP) {
    u->probe = UP_PROTO;
    u->target.proto = pr->kind == BERTH_PROBE_HTTP ? BERTH_PROTO_HTTP : BERTH_PROTO_TCP;
    u->target.port = pr->port;
    u->target.http_path = pr->http_path;
    if (pr->timeout_ms > 0)
      u->target.timeout_ms = (int)pr->timeout_ms;
  } else if (pr->kind == BERTH_PROBE_EXEC) {
    u->probe = UP_EXEC;
  } else if (pr->kind == BERTH_PROBE_IMAGE) {
    u->probe = UP_HEALTH;
  } else if (pr->kind == BERTH_PROBE_DISABLED) {
    u->probe = UP_DISABLED;
  }
  if (pr->kind != BERTH_PROBE_EXEC || pr->interval_ms < 1000)
    return 0;
  u->engine_runs = pr->interval_ms <= ENGINE_PACE_MS;
  if (berth_strv_push(&u->hc_test, "CMD") < 0)
    return NOMEM(err);
  for (size_t i = 0; i < pr->exec.n; i++)
    if (berth_strv_push(&u->hc_test, pr->exec.v[i]) < 0)
      return NOMEM(err);
  u->hc = (struct berth_docker_healthcheck){.test = (const char *const *)u->hc_test.v,
                                            .interval_ns = pr->interval_ms * 1000000,
                                            .timeout_ns = pr->timeout_ms * 1000000,
                                            .start_period_ns = pr->start_period_ms * 1000000,
                                            .retries = pr->retries};
  u->spec.healthcheck = &u->hc;
  return 0;
}

int berth__use_env(const struct berth_project *p, const struct berth_infra *in,
                   berth__secret_fn secret, void *ud, const struct berth_use *use, const char *host,
                   uint16_t port, char **ret, berth_err *err) {
  const struct berth__infra_kind *k = berth__infra_kind_of(in->kind);
  if (!k)
    return berth_err_set(err, BERTH_E_INVALID, "infra %s: unknown kind", in->name);
  struct berth__infra_ctx c = {.project = p->name, .in = in, .secret = secret, .ud = ud};
  _cleanup_free_ char *url = NULL;
  int r = k->url(&c, use, host, port ? port : k->port, &url, err);
  if (r < 0)
    return r;
  return asprintf(ret, "%s=%s", use->as, url) < 0 ? NOMEM(err) : 0;
}

static int plan_service(const struct berth_project *p, const struct berth__plan_opts *o,
                        struct berth__unit *u, berth_err *err) {
  const struct berth_service *s = u->svc;
  /* A built image is named after the project and service unless the
   * manifest names it. */
  if (s->image ? !(u->image = strdup(s->image))
               : asprintf(&u->image, "%s-%s", p->name, s->name) < 0)
    return NOMEM(err);
  int r = 0;
  for (size_t i = 0; i < s->environment.n && r >= 0; i++)
    if (s->environment.v[i].value) /* declared without a value: not passed */
      r = berth_strv_pushf(&u->env, "%s=%s", s->environment.v[i].key, s->environment.v[i].value);
  for (size_t i = 0; i < s->command.n && r >= 0; i++)
    r = berth_strv_push(&u->cmd, s->command.v[i]);
  for (size_t i = 0; i < s->entrypoint.n && r >= 0; i++)
    r = berth_strv_push(&u->entrypoint, s->entrypoint.v[i]);
  for (size_t i = 0; i < s->labels.n && r >= 0; i++)
    r = berth_strv_pushf(&u->labels, "%s=%s", s->labels.v[i].key, s->labels.v[i].value);
  if (r < 0)
    return NOMEM(err);
  if ((r = plan_ports(u, err)) < 0 || (r = plan_mounts(p, u, err)) < 0)
    return r;
  for (size_t i = 0; i < s->n_networks && r >= 0; i++)
    r = add_network(p, u, s->networks[i].network, &s->networks[i].aliases, err);
  if (r < 0 || (r = plan_probe(u, err)) < 0)
    return r;
  /* Environment from `uses`: the in-network URL of each instance. */
  for (size_t i = 0; i < s->n_uses; i++)
    for (size_t k = 0; k < p->n_infra; k++) {
      if (strcmp(p->infra[k].name, s->uses[i].infra))
        continue;
      char *kv = NULL;
      if ((r = berth__use_env(p, &p->infra[k], o->secret, o->ud, &s->uses[i], s->uses[i].infra, 0,
                              &kv, err)) < 0)
        return r;
      if (berth_strv_take(&u->env, kv) < 0)
        return NOMEM(err);
    }
  return 0;
}

static int plan_infra(const struct berth_project *p, const struct berth__plan_opts *o,
                      struct berth__unit *u, berth_err *err) {
  const struct berth_infra *in = u->infra;
  if (!(u->kind = berth__infra_kind_of(in->kind)))
    return berth_err_set(err, BERTH_E_INVALID, "infra %s: unknown kind", in->name);
  struct berth__infra_ctx c = {.project = p->name, .in = in, .secret = o->secret, .ud = o->ud};
  struct berth__infra_container ic = {0};
  int r = u->kind->container(&c, &ic, err);
  _cleanup_free_ char *volname = NULL;
  if (r >= 0 && (asprintf(&volname, "%s-data", in->name) < 0 || !(u->image = strdup(in->image)) ||
                 !(u->mounts = calloc(1, sizeof(*u->mounts))) ||
                 !(u->ports = calloc(ic.n_ports + 1, sizeof(*u->ports))) ||
                 !(u->mounts[0].source = berth__object_name(p->name, volname))))
    r = NOMEM(err);
  if (r < 0) {
    berth__infra_container_release(&ic);
    return r;
  }
  u->mounts[0].type = BERTH_MOUNT_VOLUME;
  u->mounts[0].target = ic.data_target;
  u->n_mounts = 1;
  for (size_t i = 0; i < ic.n_ports; i++)
    u->ports[u->n_ports++] = (struct berth_docker_port){.container_port = ic.ports[i]};
  u->env = ic.env;
  u->cmd = ic.cmd;
  u->exec_env = ic.exec_env;
  u->provision = ic.provision;
  u->provision_cmd = u->kind->provision_cmd;
  u->probe_password = ic.probe_password;
  u->probe = UP_PROTO;
  u->target = (struct berth_probe_target){.proto = u->kind->probe,
                                          .port = u->kind->port,
                                          .password = u->probe_password,
                                          .timeout_ms = 1000};
  /* Infra joins every network of the project so any service reaches it
   * by name. */
  for (size_t k = 0; k < p->n_networks && r >= 0; k++)
    if (!p->networks[k].external)
      r = add_network(p, u, p->networks[k].name, NULL, err);
  return r;
}

static int plan_labels(const struct berth_project *p, struct berth__unit *u, berth_err *err) {
  const char *kind = u->infra ? u->kind->name : u->svc->kind;
  if (berth_strv_pushf(&u->labels, BERTH_LABEL_PROJECT "=%s", p->name) < 0 ||
      berth_strv_pushf(&u->labels, BERTH_LABEL_SERVICE "=%s", u->name) < 0 ||
      berth_strv_pushf(&u->labels, BERTH_LABEL_REPLICA "=%d", u->replica) < 0 ||
      berth_strv_push(&u->labels, BERTH_LABEL_OWNER "=berth") < 0 ||
      berth_strv_push(&u->labels, BERTH_LABEL_NAMESPACE "=") < 0 ||
      (kind && berth_strv_pushf(&u->labels, BERTH_LABEL_KIND "=%s", kind) < 0))
    return NOMEM(err);
  return 0;
}

static void fill_spec(struct berth__unit *u) {
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
  sp->labels = (const char *const *)u->labels.v;
  if (!s) {
    sp->hostname = u->infra->name; /* RabbitMQ's node name must stay put */
    return;
  }
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
}

/* The create body, and its hash: everything the container is created
 * from. The hash label is added after, so it is not part of it. */
static int finish_spec(const struct berth_project *p, struct berth__unit *u, berth_err *err) {
  if (u->svc && u->svc->container_name && u->svc->replicas <= 1) {
    if (!(u->container = strdup(u->svc->container_name)))
      return NOMEM(err);
  } else if (asprintf(&u->container, "%s-%s-%d", p->name, u->name, u->replica) < 0) {
    return NOMEM(err);
  }
  int r = plan_labels(p, u, err);
  if (r < 0)
    return r;
  fill_spec(u);
  _cleanup_json_ cJSON *body = NULL;
  if ((r = berth_docker_container_body(&u->spec, &body, err)) < 0)
    return r;
  for (size_t i = 1; i < u->networks.n; i++) {
    cJSON *extra = cJSON_CreateString(u->networks.v[i]);
    if (!extra || !cJSON_AddItemToObject(body, "x-berth-network", extra)) {
      cJSON_Delete(extra);
      return NOMEM(err);
    }
  }
  if (u->provision && u->kind->provision_key &&
      !cJSON_AddStringToObject(body, u->kind->provision_key, u->provision))
    return NOMEM(err);
  if (!(u->body = cJSON_PrintUnformatted(body)))
    return NOMEM(err);
  u->body_hash = berth_fnv1a(BERTH_FNV_INIT, u->body, strlen(u->body));
  return 0;
}

int berth__unit_seal(struct berth__unit *u, const char *image_id, berth_err *err) {
  uint64_t h = berth_fnv1a(u->body_hash, "\n", 1);
  if (image_id)
    h = berth_fnv1a(h, image_id, strlen(image_id));
  snprintf(u->hash, sizeof(u->hash), "%016llx", (unsigned long long)h);
  if (berth_strv_pushf(&u->labels, BERTH_LABEL_HASH "=%s", u->hash) < 0)
    return NOMEM(err);
  u->spec.labels = (const char *const *)u->labels.v;
  return 0;
}

/* A dependency that is a database or a broker is of no use before it
 * answers: "started" on an infra instance, or on a service recognised as
 * postgres, redis or rabbitmq, waits for it to be ready, unless that
 * service says x-berth-wait: started. */
static int condition_of(const struct berth_project *p, long to, int c) {
  if (c != BERTH_COND_STARTED)
    return c;
  if ((size_t)to < p->n_infra)
    return BERTH_COND_HEALTHY;
  const struct berth_service *t = &p->services[(size_t)to - p->n_infra];
  return t->kind && !t->wait_started && t->probe.kind != BERTH_PROBE_DISABLED ? BERTH_COND_HEALTHY
                                                                              : c;
}

/* Conditions of one service's dependencies, merged per target as they
 * always were: a stronger condition wins, except that "completed" never
 * replaces another. */
static int service_edges(const struct berth_project *p, struct berth_graph *g, size_t from,
                         const struct berth_service *s, berth_err *err) {
  size_t n = s->n_deps + s->n_uses, m = 0;
  _cleanup_free_ size_t *to = calloc(n + 1, sizeof(*to));
  _cleanup_free_ int *tag = calloc(n + 1, sizeof(*tag));
  if (!to || !tag)
    return NOMEM(err);
  for (size_t i = 0; i < n; i++) {
    long t = i < s->n_deps ? berth_graph_find(g, s->deps[i].service)
                           : berth_graph_find(g, s->uses[i - s->n_deps].infra);
    if (t < 0)
      continue;
    int c = condition_of(p, t, i < s->n_deps ? (int)s->deps[i].condition : BERTH_COND_HEALTHY);
    size_t k = 0;
    while (k < m && to[k] != (size_t)t)
      k++;
    if (k == m) {
      to[m] = (size_t)t;
      tag[m++] = c;
    } else if (c > tag[k] && c != BERTH_COND_COMPLETED) {
      tag[k] = c;
    }
  }
  for (size_t k = 0; k < m; k++) {
    int r = berth_graph_edge(g, from, to[k], tag[k], err);
    if (r < 0)
      return r;
  }
  return 0;
}

int berth__project_graph(const struct berth_project *p, struct berth_graph *g, berth_err *err) {
  for (size_t i = 0; i < p->n_infra; i++)
    if (berth_graph_add(g, p->infra[i].name, err) < 0)
      return -1;
  for (size_t i = 0; i < p->n_services; i++)
    if (berth_graph_add(g, p->services[i].name, err) < 0)
      return -1;
  for (size_t i = 0; i < p->n_services; i++) {
    int r =
        service_edges(p, g, (size_t)berth_graph_find(g, p->services[i].name), &p->services[i], err);
    if (r < 0)
      return r;
  }
  return 0;
}

static int plan_units(const struct berth_project *p, const struct berth__plan_opts *o,
                      struct berth__plan *pl, berth_err *err) {
  size_t n = p->n_infra;
  for (size_t i = 0; i < p->n_services; i++)
    n += (size_t)(p->services[i].replicas > 0 ? p->services[i].replicas : 0);
  pl->u = calloc(n + 1, sizeof(*pl->u));
  pl->first = calloc(pl->g.n + 1, sizeof(*pl->first));
  pl->count = calloc(pl->g.n + 1, sizeof(*pl->count));
  if (!pl->u || !pl->first || !pl->count)
    return NOMEM(err);
  int r = 0;
  for (size_t i = 0; i < p->n_infra && r >= 0; i++) {
    struct berth__unit *u = &pl->u[pl->n++];
    *u = (struct berth__unit){.infra = &p->infra[i], .replica = 1, .node = i};
    r = (u->name = strdup(u->infra->name)) ? plan_infra(p, o, u, err) : NOMEM(err);
  }
  for (size_t i = 0; i < p->n_services && r >= 0; i++)
    for (int rep = 1; rep <= p->services[i].replicas && r >= 0; rep++) {
      struct berth__unit *u = &pl->u[pl->n++];
      *u = (struct berth__unit){.svc = &p->services[i], .replica = rep};
      u->node = (size_t)berth_graph_find(&pl->g, u->svc->name);
      r = (u->name = strdup(u->svc->name)) ? plan_service(p, o, u, err) : NOMEM(err);
    }
  for (size_t i = 0; i < pl->n && r >= 0; i++) {
    struct berth__unit *u = &pl->u[i];
    if (!pl->count[u->node]++)
      pl->first[u->node] = i;
    r = finish_spec(p, u, err);
  }
  return r;
}

/* Everything, or the named services and instances and what they need. */
static int plan_select(const struct berth__plan *pl, const struct berth__plan_opts *o,
                       berth_err *err) {
  _cleanup_free_ bool *in = calloc(pl->g.n + 1, sizeof(*in));
  _cleanup_free_ size_t *sel = calloc(o->n_services + 1, sizeof(*sel));
  if (!in || !sel)
    return NOMEM(err);
  for (size_t k = 0; k < o->n_services; k++) {
    long node = berth_graph_find(&pl->g, o->services[k]);
    if (node < 0 || !pl->count[node])
      return berth_err_set(err, BERTH_E_INVALID, "no service or infra named \"%s\" in %s",
                           o->services[k], pl->p->name);
    sel[k] = (size_t)node;
  }
  int r = berth_graph_closure(&pl->g, sel, o->n_services, in, err);
  if (r < 0)
    return r;
  for (size_t i = 0; i < pl->n; i++)
    pl->u[i].selected = o->n_services == 0 || in[pl->u[i].node];
  return 0;
}

int berth__plan(const struct berth_project *p, const struct berth__plan_opts *o,
                struct berth__plan *ret, berth_err *err) {
  *ret = (struct berth__plan){.p = p, .g = BERTH_GRAPH_INIT};
  int r = berth__project_graph(p, &ret->g, err);
  if (r >= 0)
    r = plan_units(p, o, ret, err);
  if (r >= 0)
    r = plan_select(ret, o, err);
  if (r < 0)
    berth__plan_release(ret);
  return r < 0 ? r : 0;
}
