/* A service's keys, one table: the check of unknown keys and the reading
 * both come from it, in the order the table gives (env_file before
 * environment, deploy and resources before cpus, ...). The readers of the larger keys
 * live beside it: manifest-ports.c, -mounts.c, -deps.c, -runtime.c. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "manifest-internal.h"

static struct berth_service *svc_of(void *obj) {
  return ((struct berth__svc *)obj)->s;
}

static void read_image(struct berth__reader *r, void *obj, const struct berth_node *v,
                       const char *path) {
  svc_of(obj)->image = berth__read_str(r, v, path);
}

static void read_container_name(struct berth__reader *r, void *obj, const struct berth_node *v,
                                const char *path) {
  svc_of(obj)->container_name = berth__read_str(r, v, path);
}

static void read_hostname(struct berth__reader *r, void *obj, const struct berth_node *v,
                          const char *path) {
  svc_of(obj)->hostname = berth__read_str(r, v, path);
}

static void read_user(struct berth__reader *r, void *obj, const struct berth_node *v,
                      const char *path) {
  svc_of(obj)->user = berth__read_str(r, v, path);
}

static void read_working_dir(struct berth__reader *r, void *obj, const struct berth_node *v,
                             const char *path) {
  svc_of(obj)->working_dir = berth__read_str(r, v, path);
}

static void read_stop_signal(struct berth__reader *r, void *obj, const struct berth_node *v,
                             const char *path) {
  svc_of(obj)->stop_signal = berth__read_str(r, v, path);
}

static void read_build_context(struct berth__reader *r, void *obj, const struct berth_node *v,
                               const char *path) {
  struct berth_build *b = obj;
  _cleanup_free_ char *ctx = berth__read_str(r, v, path);
  free(b->context);
  b->context = berth__abspath(r->dir, ctx ? ctx : ".");
}

static void read_build_dockerfile(struct berth__reader *r, void *obj, const struct berth_node *v,
                                  const char *path) {
  ((struct berth_build *)obj)->dockerfile = berth__read_str(r, v, path);
}

static void read_build_args(struct berth__reader *r, void *obj, const struct berth_node *v,
                            const char *path) {
  berth__read_kv(r, v, path, &((struct berth_build *)obj)->args, true);
}

static void read_build_target(struct berth__reader *r, void *obj, const struct berth_node *v,
                              const char *path) {
  ((struct berth_build *)obj)->target = berth__read_str(r, v, path);
}

/* build: a context directory, or {context, dockerfile, args, target}. */
static void read_build(struct berth__reader *r, void *obj, const struct berth_node *n,
                       const char *path) {
  static const struct berth__key keys[] = {
      {"context", read_build_context, 0},
      {"dockerfile", read_build_dockerfile, 0},
      {"args", read_build_args, 0},
      {"target", read_build_target, 0},
      {"cache_from", NULL, BERTH__KEY_UNSUPPORTED},
      {"cache_to", NULL, BERTH__KEY_UNSUPPORTED},
      {"labels", NULL, BERTH__KEY_UNSUPPORTED},
      {"network", NULL, BERTH__KEY_UNSUPPORTED},
      {"shm_size", NULL, BERTH__KEY_UNSUPPORTED},
      {"ssh", NULL, BERTH__KEY_UNSUPPORTED},
      {"secrets", NULL, BERTH__KEY_UNSUPPORTED},
      {"platforms", NULL, BERTH__KEY_UNSUPPORTED},
      {"tags", NULL, BERTH__KEY_UNSUPPORTED},
      {"extra_hosts", NULL, BERTH__KEY_UNSUPPORTED},
      {"isolation", NULL, BERTH__KEY_UNSUPPORTED},
      {"privileged", NULL, BERTH__KEY_UNSUPPORTED},
      {"no_cache", NULL, BERTH__KEY_UNSUPPORTED},
      {"pull", NULL, BERTH__KEY_UNSUPPORTED},
      {"additional_contexts", NULL, BERTH__KEY_UNSUPPORTED},
      {"dockerfile_inline", NULL, BERTH__KEY_UNSUPPORTED},
      {"ulimits", NULL, BERTH__KEY_UNSUPPORTED},
      {0},
  };
  struct berth_service *s = svc_of(obj);
  if (berth_node_is_null(n))
    return;
  s->build = calloc(1, sizeof(*s->build));
  if (!s->build) {
    r->oom = true;
    return;
  }
  if (berth__is_scalar(n)) {
    s->build->context = berth__abspath(r->dir, n->value);
    s->build->dockerfile = berth__strdup(r, "Dockerfile");
    if (!s->build->context)
      r->oom = true;
    return;
  }
  const struct berth_node *m = berth__want_map(r, n, path);
  if (!m)
    return;
  berth__read_keys(r, m, path, keys, s->build);
  if (!s->build->context && !(s->build->context = berth__abspath(r->dir, ".")))
    r->oom = true;
  if (!s->build->dockerfile)
    s->build->dockerfile = berth__strdup(r, "Dockerfile");
}

static void read_command(struct berth__reader *r, void *obj, const struct berth_node *v,
                         const char *path) {
  struct berth_service *s = svc_of(obj);
  s->has_command = !berth_node_is_null(v);
  berth__read_strv(r, v, path, &s->command, true, true);
}

static void read_entrypoint(struct berth__reader *r, void *obj, const struct berth_node *v,
                            const char *path) {
  struct berth_service *s = svc_of(obj);
  s->has_entrypoint = !berth_node_is_null(v);
  berth__read_strv(r, v, path, &s->entrypoint, true, true);
}

/* env_file: a file, a list of files, or {path, required}; their values
 * come before environment:'s (the table reads env_file first). */
static void read_env_files(struct berth__reader *r, void *obj, const struct berth_node *n,
                           const char *path) {
  struct berth_service *s = svc_of(obj);
  char p[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  const struct berth_node *items[1] = {n};
  size_t count = 1;
  const struct berth_node *const *list = items;
  if (n->type == BERTH_NODE_SEQ) {
    list = (const struct berth_node *const *)n->items;
    count = n->n;
  }
  for (size_t i = 0; i < count; i++) {
    const struct berth_node *it = list[i];
    berth__pathf(p, n->type == BERTH_NODE_SEQ ? "%s[%zu]" : "%s", path, i);
    const struct berth_node *pn = it;
    bool required = true;
    if (it->type == BERTH_NODE_MAP) {
      /* Read here: path decides whether required matters. */
      static const struct berth__key ekeys[] = {
          {"path", NULL, 0}, {"required", NULL, 0}, {"format", NULL, BERTH__KEY_UNSUPPORTED}, {0}};
      berth__read_keys(r, it, p, ekeys, NULL);
      pn = berth_node_get(it, "path");
      required = berth__read_bool(r, berth_node_get(it, "required"), p, true);
    }
    if (!pn || !berth__want_scalar(r, pn, p, "a file path"))
      continue;
    _cleanup_free_ char *abs = berth__abspath(r->dir, pn->value);
    if (!abs) {
      r->oom = true;
      return;
    }
    berth__strv_push(r, &s->env_files, abs);
    struct berth_vars vars;
    berth_vars_init(&vars);
    berth_err e = NULL;
    if (berth_dotenv_load(abs, !required, berth_lookup_env_then_vars, r->vars, &vars, &e) < 0) {
      berth__error(r, pn, p, "%s", berth_err_root_msg(e));
      berth_err_free(&e);
    }
    for (size_t k = 0; k < vars.n; k++)
      berth__kvv_set(r, &s->environment, vars.names[k], vars.values[k]);
    berth_vars_release(&vars);
  }
}

static void read_environment(struct berth__reader *r, void *obj, const struct berth_node *v,
                             const char *path) {
  berth__read_kv(r, v, path, &svc_of(obj)->environment, true);
}

static void read_expose(struct berth__reader *r, void *obj, const struct berth_node *v,
                        const char *path) {
  berth__read_strv(r, v, path, &svc_of(obj)->expose, false, false);
}

static void read_replicas(struct berth__reader *r, void *obj, const struct berth_node *v,
                          const char *path) {
  struct berth_service *s = svc_of(obj);
  s->replicas = (int)berth__read_int(r, v, path, 0, 1000, s->replicas);
}

static void read_restart(struct berth__reader *r, void *obj, const struct berth_node *v,
                         const char *path) {
  static const char *const policies[] = {"no", "always", "on-failure", "unless-stopped", NULL};
  struct berth_service *s = svc_of(obj);
  free(s->restart);
  s->restart = berth__read_str(r, v, path);
  bool ok = !s->restart;
  for (const char *const *pp = policies; !ok && *pp; pp++)
    ok = !strcmp(*pp, s->restart) ||
         (!strncmp(s->restart, "on-failure:", 11) && !strcmp(*pp, "on-failure"));
  if (!ok)
    berth__error(r, v, path,
                 "unknown restart policy \"%s\"; use no, always, on-failure[:N] or "
                 "unless-stopped",
                 s->restart);
}

static void read_profiles(struct berth__reader *r, void *obj, const struct berth_node *v,
                          const char *path) {
  berth__read_strv(r, v, path, &svc_of(obj)->profiles, false, false);
}

static void read_labels(struct berth__reader *r, void *obj, const struct berth_node *v,
                        const char *path) {
  struct berth_service *s = svc_of(obj);
  berth__read_kv(r, v, path, &s->labels, false);
  for (size_t i = 0; i < s->labels.n; i++)
    if (!strncmp(s->labels.v[i].key, "berth.", 6))
      berth__error(r, v, path, "the label prefix berth. is reserved for berth's own labels (%s)",
                   s->labels.v[i].key);
}

static void read_stop_grace_period(struct berth__reader *r, void *obj, const struct berth_node *v,
                                   const char *path) {
  svc_of(obj)->stop_grace_ms = berth__read_duration(r, v, path, -1);
}

static void read_init(struct berth__reader *r, void *obj, const struct berth_node *v,
                      const char *path) {
  if (!berth_node_is_null(v))
    svc_of(obj)->init = berth__read_bool(r, v, path, false);
}

static void read_tmpfs(struct berth__reader *r, void *obj, const struct berth_node *v,
                       const char *path) {
  berth__read_strv(r, v, path, &svc_of(obj)->tmpfs, true, false);
}

/* extra_hosts: {HOST: IP} (lists were made maps), kept as HOST:IP. */
static void read_extra_hosts(struct berth__reader *r, void *obj, const struct berth_node *v,
                             const char *path) {
  struct berth_service *s = svc_of(obj);
  struct berth_kvv hosts = {0};
  berth__read_kv(r, v, path, &hosts, false);
  for (size_t i = 0; i < hosts.n; i++) {
    if (berth_strv_pushf(&s->extra_hosts, "%s:%s", hosts.v[i].key, hosts.v[i].value) < 0)
      r->oom = true;
    free(hosts.v[i].key);
    free(hosts.v[i].value);
  }
  free(hosts.v);
}

/* Capabilities that give the container the host's kernel: warned about,
 * as a stranger's manifest may ask for them (docs/security.md). */
static void read_cap_add(struct berth__reader *r, void *obj, const struct berth_node *v,
                         const char *path) {
  static const char *const strong[] = {"ALL",       "SYS_ADMIN",       "SYS_MODULE", "SYS_PTRACE",
                                       "SYS_RAWIO", "DAC_READ_SEARCH", NULL};
  struct berth_strv *caps = &svc_of(obj)->cap_add;
  berth__read_strv(r, v, path, caps, false, false);
  char q[BERTH__PATH_MAX];
  for (size_t i = 0; v && v->type == BERTH_NODE_SEQ && i < caps->n && i < v->n; i++) {
    const char *c = strncasecmp(caps->v[i], "CAP_", 4) ? caps->v[i] : caps->v[i] + 4;
    for (const char *const *k = strong; *k; k++)
      if (!strcasecmp(c, *k))
        berth__warn(r, v->items[i], berth__pathf(q, "%s[%zu]", path, i),
                    "cap_add %s gives the container power over the host's kernel", caps->v[i]);
  }
}

static void read_cap_drop(struct berth__reader *r, void *obj, const struct berth_node *v,
                          const char *path) {
  berth__read_strv(r, v, path, &svc_of(obj)->cap_drop, false, false);
}

/* In the order they are read. Compose keys berth does not support yet
 * are warned about by name, so that nothing is dropped silently. */
static const struct berth__key service_keys[] = {
    {"image", read_image, 0},
    {"build", read_build, 0},
    {"command", read_command, 0},
    {"entrypoint", read_entrypoint, 0},
    {"env_file", read_env_files, 0},
    {"environment", read_environment, 0},
    {"ports", berth__read_ports, 0},
    {"expose", read_expose, 0},
    {"volumes", berth__read_volumes, 0},
    {"depends_on", berth__read_depends_on, 0},
    {"healthcheck", berth__read_healthcheck, 0},
    {"probe", berth__read_probe, 0},
    {"replicas", read_replicas, 0},
    {"deploy", berth__read_deploy, 0},
    {"resources", berth__read_resources, 0},
    {"restart", read_restart, 0},
    {"profiles", read_profiles, 0},
    {"labels", read_labels, 0},
    {"watch", berth__read_watch, 0},
    {"develop", berth__read_develop, 0},
    {"container_name", read_container_name, 0},
    {"hostname", read_hostname, 0},
    {"user", read_user, 0},
    {"working_dir", read_working_dir, 0},
    {"stop_signal", read_stop_signal, 0},
    {"stop_grace_period", read_stop_grace_period, 0},
    {"init", read_init, 0},
    {"tmpfs", read_tmpfs, 0},
    {"extra_hosts", read_extra_hosts, 0},
    {"cap_add", read_cap_add, 0},
    {"cap_drop", read_cap_drop, 0},
    {"networks", berth__read_networks, 0},
    {"secrets", berth__read_secrets, 0},
    {"configs", berth__read_configs, 0},
    {"uses", berth__read_uses, 0},
    /* Last, as they were listed before the table: a suggestion among
     * names equally close is the first of them, and stays what it was. */
    {"cpus", berth__read_cpus, 0},
    {"mem_limit", berth__read_mem_limit, 0},
    {"platform", NULL, BERTH__KEY_UNSUPPORTED},
    {"runtime", NULL, BERTH__KEY_UNSUPPORTED},
    {"privileged", NULL, BERTH__KEY_UNSUPPORTED},
    {"read_only", NULL, BERTH__KEY_UNSUPPORTED},
    {"shm_size", NULL, BERTH__KEY_UNSUPPORTED},
    {"ulimits", NULL, BERTH__KEY_UNSUPPORTED},
    {"sysctls", NULL, BERTH__KEY_UNSUPPORTED},
    {"logging", NULL, BERTH__KEY_UNSUPPORTED},
    {"devices", NULL, BERTH__KEY_UNSUPPORTED},
    {"dns", NULL, BERTH__KEY_UNSUPPORTED},
    {"dns_search", NULL, BERTH__KEY_UNSUPPORTED},
    {"dns_opt", NULL, BERTH__KEY_UNSUPPORTED},
    {"domainname", NULL, BERTH__KEY_UNSUPPORTED},
    {"mac_address", NULL, BERTH__KEY_UNSUPPORTED},
    {"pid", NULL, BERTH__KEY_UNSUPPORTED},
    {"ipc", NULL, BERTH__KEY_UNSUPPORTED},
    {"network_mode", NULL, BERTH__KEY_UNSUPPORTED},
    {"security_opt", NULL, BERTH__KEY_UNSUPPORTED},
    {"stdin_open", NULL, BERTH__KEY_UNSUPPORTED},
    {"tty", NULL, BERTH__KEY_UNSUPPORTED},
    {"cgroup_parent", NULL, BERTH__KEY_UNSUPPORTED},
    {"links", NULL, BERTH__KEY_UNSUPPORTED},
    {"external_links", NULL, BERTH__KEY_UNSUPPORTED},
    {"isolation", NULL, BERTH__KEY_UNSUPPORTED},
    {"memswap_limit", NULL, BERTH__KEY_UNSUPPORTED},
    {"mem_reservation", NULL, BERTH__KEY_UNSUPPORTED},
    {"cpu_shares", NULL, BERTH__KEY_UNSUPPORTED},
    {"cpuset", NULL, BERTH__KEY_UNSUPPORTED},
    {"cpu_quota", NULL, BERTH__KEY_UNSUPPORTED},
    {"cpu_period", NULL, BERTH__KEY_UNSUPPORTED},
    {"oom_score_adj", NULL, BERTH__KEY_UNSUPPORTED},
    {"oom_kill_disable", NULL, BERTH__KEY_UNSUPPORTED},
    {"pull_policy", NULL, BERTH__KEY_UNSUPPORTED},
    {"scale", NULL, BERTH__KEY_UNSUPPORTED},
    {"userns_mode", NULL, BERTH__KEY_UNSUPPORTED},
    {"volumes_from", NULL, BERTH__KEY_UNSUPPORTED},
    {"annotations", NULL, BERTH__KEY_UNSUPPORTED},
    {"attach", NULL, BERTH__KEY_UNSUPPORTED},
    {"blkio_config", NULL, BERTH__KEY_UNSUPPORTED},
    {"group_add", NULL, BERTH__KEY_UNSUPPORTED},
    {"storage_opt", NULL, BERTH__KEY_UNSUPPORTED},
    {"cgroup", NULL, BERTH__KEY_UNSUPPORTED},
    {"device_cgroup_rules", NULL, BERTH__KEY_UNSUPPORTED},
    {"gpus", NULL, BERTH__KEY_UNSUPPORTED},
    {"label_file", NULL, BERTH__KEY_UNSUPPORTED},
    {"post_start", NULL, BERTH__KEY_UNSUPPORTED},
    {"pre_stop", NULL, BERTH__KEY_UNSUPPORTED},
    {"uts", NULL, BERTH__KEY_UNSUPPORTED},
    {"credential_spec", NULL, BERTH__KEY_UNSUPPORTED},
    {"mem_swappiness", NULL, BERTH__KEY_UNSUPPORTED},
    {"pids_limit", NULL, BERTH__KEY_UNSUPPORTED},
    {"models", NULL, BERTH__KEY_UNSUPPORTED},
    {"provider", NULL, BERTH__KEY_UNSUPPORTED},
    {"use_api_socket", NULL, BERTH__KEY_UNSUPPORTED},
    {"cpu_count", NULL, BERTH__KEY_UNSUPPORTED},
    {"cpu_percent", NULL, BERTH__KEY_UNSUPPORTED},
    {"cpu_rt_runtime", NULL, BERTH__KEY_UNSUPPORTED},
    {"cpu_rt_period", NULL, BERTH__KEY_UNSUPPORTED},
    {0},
};

/* The x- keys, kept as JSON text; x-berth-kind names the kind, and
 * x-berth-wait: started lets dependents start as soon as this service has
 * started even when it is a recognised kind (manifest-kind.c). */
static void read_extensions(struct berth__reader *r, struct berth_service *s,
                            const struct berth_node *n, const char *path) {
  char q[BERTH__PATH_MAX];
  for (size_t i = 0; i + 1 < n->n; i += 2) {
    const char *key = n->items[i]->value;
    if (!berth__is_scalar(n->items[i]) || strncmp(key, "x-", 2))
      continue;
    _cleanup_free_ char *json = berth__node_json(n->items[i + 1]);
    if (!json) {
      r->oom = true;
      continue;
    }
    berth__kvv_set(r, &s->extensions, key, json);
    if (!strcmp(key, "x-berth-kind")) {
      const struct berth_node *kv = n->items[i + 1];
      if (!berth__is_scalar(kv) || (strcmp(kv->value, "postgres") && strcmp(kv->value, "redis") &&
                                    strcmp(kv->value, "rabbitmq")))
        berth__error(r, kv, berth__pathf(q, "%s.x-berth-kind", path),
                     "expected postgres, redis or rabbitmq");
      else
        s->kind = berth__strdup(r, kv->value);
    } else if (!strcmp(key, "x-berth-wait")) {
      const struct berth_node *kv = n->items[i + 1];
      if (!berth__is_scalar(kv) || (strcmp(kv->value, "started") && strcmp(kv->value, "ready")))
        berth__error(r, kv, berth__pathf(q, "%s.x-berth-wait", path),
                     "expected started (dependents start once it has started) or ready (once "
                     "its protocol answers: the default for postgres, redis and rabbitmq)");
      else
        s->wait_started = !strcmp(kv->value, "started");
    }
  }
}

/* A new service named by k, with the defaults of an absent key. */
static struct berth_service *add_service(struct berth__reader *r, const struct berth_node *k,
                                         const char *path) {
  struct berth_project *p = r->p;
  struct berth_service *s = berth__grow(r, &p->services, &p->n_services, sizeof(*s));
  if (!s)
    return NULL;
  s->name = berth__strdup(r, k->value);
  s->pos = berth__pos_of(k);
  s->replicas = 1;
  s->stop_grace_ms = -1;
  s->init = -1;
  bool name_ok = *k->value != '\0';
  for (const char *c = k->value; *c; c++)
    name_ok &= isalnum((unsigned char)*c) || *c == '.' || *c == '_' || *c == '-';
  if (!name_ok)
    berth__error(r, k, path, "\"%s\" is not a service name: use letters, digits, ., _ and -",
                 k->value);
  return s;
}

void berth__read_service(struct berth__reader *r, const struct berth_node *root,
                         const struct berth_node *k, const struct berth_node *n) {
  char path[BERTH__PATH_MAX];
  berth__pathf(path, "services.%s", k->value);
  struct berth_service *s = add_service(r, k, path);
  if (!s)
    return;
  if (berth_node_is_null(n) || n->type != BERTH_NODE_MAP) {
    if (berth_node_is_null(n))
      berth__error(r, k, path, "an empty service; give it an image or a build");
    else
      berth__error(r, n, path, "expected a mapping, found %s", berth_node_type_name(n));
    if (berth_strv_push(&r->unusable, k->value) < 0)
      r->oom = true;
    return;
  }
  struct berth__svc c = {.s = s, .root = root, .map = n};
  berth__read_keys(r, n, path, service_keys, &c);
  if (!s->restart)
    s->restart = berth__strdup(r, "no");
  read_extensions(r, s, n, path);
  berth__recognise_kind(r, s);
  if (s->n_networks == 0) {
    struct berth_net_attach *a = berth__grow(r, &s->networks, &s->n_networks, sizeof(*a));
    if (a)
      a->network = berth__strdup(r, "default");
  }
}
