/* How a service runs: resources and deploy (replicas, limits, restart
 * policy), the networks it joins, and its watch rules (watch: or
 * develop.watch). */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "manifest-internal.h"

/* More cores than any machine berth runs on has; the engine's NanoCpus
 * (millis * 10^6) stays far from overflowing. */
#define MAX_CPU_MILLIS (1024 * 1000)

static void read_cpu(struct berth__reader *r, struct berth_service *s, const struct berth_node *n,
                     const char *path) {
  if (berth_node_is_null(n) || !berth__want_scalar(r, n, path, "a CPU amount"))
    return;
  int64_t millis;
  if (berth_parse_cpu(n->value, &millis) < 0)
    berth__error(r, n, path, "\"%s\" is not a CPU amount; write 500m (millicores) or 0.5",
                 n->value);
  else if (millis > MAX_CPU_MILLIS)
    berth__error(r, n, path,
                 "\"%s\" is more than %d CPUs, the most berth gives a container; write %d or less",
                 n->value, MAX_CPU_MILLIS / 1000, MAX_CPU_MILLIS / 1000);
  else
    s->cpu_millis = millis;
}

static void read_memory(struct berth__reader *r, struct berth_service *s,
                        const struct berth_node *n, const char *path, bool compose_units) {
  if (berth_node_is_null(n) || !berth__want_scalar(r, n, path, "a memory size"))
    return;
  if (berth_parse_bytes(n->value, compose_units, &s->memory_bytes) < 0)
    berth__error(r, n, path,
                 compose_units ? "\"%s\" is not a memory size; write it like 512m or 1g"
                               : "\"%s\" is not a Kubernetes quantity; write 512Mi or 1Gi "
                                 "(Mi and Gi are powers of 1024; M and G of 1000)",
                 n->value);
}

static struct berth_service *svc_of(void *obj) {
  return ((struct berth__svc *)obj)->s;
}

/* cpus: and deploy.resources.limits.cpus: Compose's units. */
void berth__read_cpus(struct berth__reader *r, void *obj, const struct berth_node *v,
                      const char *path) {
  read_cpu(r, svc_of(obj), v, path);
}

/* mem_limit: and deploy.resources.limits.memory: 512m, 1g. */
void berth__read_mem_limit(struct berth__reader *r, void *obj, const struct berth_node *v,
                           const char *path) {
  read_memory(r, svc_of(obj), v, path, true);
}

/* resources: {cpu, memory}, berth's own, in Kubernetes' units. */
static void read_k8s_memory(struct berth__reader *r, void *obj, const struct berth_node *v,
                            const char *path) {
  read_memory(r, svc_of(obj), v, path, false);
}

void berth__read_resources(struct berth__reader *r, void *obj, const struct berth_node *n,
                           const char *path) {
  static const struct berth__key keys[] = {
      {"cpu", berth__read_cpus, 0},
      {"memory", read_k8s_memory, 0},
      {0},
  };
  const struct berth_node *m = berth__want_map(r, n, path);
  if (m)
    berth__read_keys(r, m, path, keys, obj);
}

static void read_replicas(struct berth__reader *r, void *obj, const struct berth_node *v,
                          const char *path) {
  struct berth_service *s = svc_of(obj);
  s->replicas = (int)berth__read_int(r, v, path, 0, 1000, s->replicas);
}

static void read_limits(struct berth__reader *r, void *obj, const struct berth_node *v,
                        const char *path) {
  static const struct berth__key keys[] = {
      {"cpus", berth__read_cpus, 0},
      {"memory", berth__read_mem_limit, 0},
      {"pids", NULL, BERTH__KEY_UNSUPPORTED},
      {"devices", NULL, BERTH__KEY_UNSUPPORTED},
      {0},
  };
  const struct berth_node *m = berth__want_map(r, v, path);
  if (m)
    berth__read_keys(r, m, path, keys, obj);
}

static void warn_reservations(struct berth__reader *r, void *obj, const struct berth_node *v,
                              const char *path) {
  (void)obj;
  berth__warn(r, v, path, "not supported by berth yet (a laptop reserves nothing); ignored");
}

static void read_deploy_resources(struct berth__reader *r, void *obj, const struct berth_node *v,
                                  const char *path) {
  static const struct berth__key keys[] = {
      {"limits", read_limits, 0},
      {"reservations", warn_reservations, 0},
      {0},
  };
  const struct berth_node *m = berth__want_map(r, v, path);
  if (m)
    berth__read_keys(r, m, path, keys, obj);
}

/* restart_policy's errors name the policy, so its reader gets its path. */
struct restart_policy {
  struct berth_service *s;
  const char *path;
};

static void read_restart_condition(struct berth__reader *r, void *obj, const struct berth_node *c,
                                   const char *path) {
  (void)path;
  struct restart_policy *rp = obj;
  if (berth__is_scalar(c) && strcmp(c->value, "any") && strcmp(c->value, "none") &&
      strcmp(c->value, "on-failure"))
    berth__error(r, c, rp->path, "unknown restart condition \"%s\"; use none, on-failure or any",
                 c->value);
  if (berth__is_scalar(c) && !rp->s->restart) {
    const char *v = c->value;
    rp->s->restart = berth__strdup(r, !strcmp(v, "any") ? "always" : !strcmp(v, "none") ? "no" : v);
  }
}

static void read_restart_policy(struct berth__reader *r, void *obj, const struct berth_node *v,
                                const char *path) {
  static const struct berth__key keys[] = {
      {"condition", read_restart_condition, 0},
      {"delay", NULL, BERTH__KEY_UNSUPPORTED},
      {"max_attempts", NULL, BERTH__KEY_UNSUPPORTED},
      {"window", NULL, BERTH__KEY_UNSUPPORTED},
      {0},
  };
  struct restart_policy rp = {.s = svc_of(obj), .path = path};
  const struct berth_node *m = berth__want_map(r, v, path);
  if (m)
    berth__read_keys(r, m, path, keys, &rp);
}

void berth__read_deploy(struct berth__reader *r, void *obj, const struct berth_node *n,
                        const char *path) {
  static const struct berth__key keys[] = {
      {"replicas", read_replicas, 0},
      {"resources", read_deploy_resources, 0},
      {"restart_policy", read_restart_policy, 0},
      {"mode", NULL, BERTH__KEY_UNSUPPORTED},
      {"placement", NULL, BERTH__KEY_UNSUPPORTED},
      {"update_config", NULL, BERTH__KEY_UNSUPPORTED},
      {"rollback_config", NULL, BERTH__KEY_UNSUPPORTED},
      {"endpoint_mode", NULL, BERTH__KEY_UNSUPPORTED},
      {"labels", NULL, BERTH__KEY_UNSUPPORTED},
      {0},
  };
  const struct berth_node *m = berth__want_map(r, n, path);
  if (m)
    berth__read_keys(r, m, path, keys, obj);
}

static void read_aliases(struct berth__reader *r, void *obj, const struct berth_node *v,
                         const char *path) {
  struct berth_net_attach *a = obj;
  berth__read_strv(r, v, path, &a->aliases, false, false);
}

/* networks: {NAME: null | {aliases}}, each declared at the top level
 * (default excepted). */
void berth__read_networks(struct berth__reader *r, void *obj, const struct berth_node *n,
                          const char *path) {
  static const struct berth__key keys[] = {
      {"aliases", read_aliases, 0},
      {"ipv4_address", NULL, BERTH__KEY_UNSUPPORTED},
      {"ipv6_address", NULL, BERTH__KEY_UNSUPPORTED},
      {"priority", NULL, BERTH__KEY_UNSUPPORTED},
      {"link_local_ips", NULL, BERTH__KEY_UNSUPPORTED},
      {"mac_address", NULL, BERTH__KEY_UNSUPPORTED},
      {"driver_opts", NULL, BERTH__KEY_UNSUPPORTED},
      {"gw_priority", NULL, BERTH__KEY_UNSUPPORTED},
      {"interface_name", NULL, BERTH__KEY_UNSUPPORTED},
      {0},
  };
  char p[BERTH__PATH_MAX];
  struct berth__svc *c = obj;
  struct berth_service *s = c->s;
  const struct berth_node *m = berth__want_map(r, n, path);
  for (size_t i = 0; m && i + 1 < m->n; i += 2) {
    const struct berth_node *k = m->items[i], *v = m->items[i + 1];
    berth__pathf(p, "%s.%s", path, k->value);
    if (strcmp(k->value, "default") &&
        berth_node_index(berth_node_get(c->root, "networks"), k->value) < 0) {
      berth__error(
          r, k, p,
          "the network \"%s\" is not declared; add it under the top-level networks:", k->value);
      continue;
    }
    struct berth_net_attach *a = berth__grow(r, &s->networks, &s->n_networks, sizeof(*a));
    if (!a)
      return;
    a->network = berth__strdup(r, k->value);
    if (berth_node_is_null(v))
      continue;
    if (v->type != BERTH_NODE_MAP) {
      berth__error(r, v, p, "expected {aliases: [...]}, found %s", berth_node_type_name(v));
      continue;
    }
    berth__read_keys(r, v, p, keys, a);
  }
}

static void read_watch(struct berth__reader *r, struct berth_service *s, const struct berth_node *n,
                       const char *path, bool compose) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  if (n->type != BERTH_NODE_SEQ) {
    berth__error(r, n, path, "expected a list of watch rules, found %s", berth_node_type_name(n));
    return;
  }
  static const struct berth__key keys[] = {{"path", NULL, 0},
                                           {"action", NULL, 0},
                                           {"target", NULL, 0},
                                           {"ignore", NULL, 0},
                                           {"command", NULL, 0},
                                           {"exec", NULL, 0},
                                           {"include", NULL, 0},
                                           {"initial_sync", NULL, BERTH__KEY_UNSUPPORTED},
                                           {0}};
  for (size_t i = 0; i < n->n; i++) {
    const struct berth_node *m =
        berth__want_map(r, n->items[i], berth__pathf(p, "%s[%zu]", path, i));
    if (!m)
      continue;
    berth__read_keys(r, m, p, keys, NULL);
    if (berth_node_get(m, "include"))
      berth__warn(r, berth_node_get(m, "include"), berth__pathf(q, "%s.include", p),
                  "not supported by berth yet; ignored (every file under path is watched)");
    _cleanup_free_ char *wpath =
        berth__read_str(r, berth_node_get(m, "path"), berth__pathf(q, "%s.path", p));
    _cleanup_free_ char *action =
        berth__read_str(r, berth_node_get(m, "action"), berth__pathf(q, "%s.action", p));
    if (!wpath) {
      berth__error(r, m, p, "a watch rule needs a path");
      continue;
    }
    static const struct {
      const char *name;
      enum berth_watch_action a;
    } actions[] = {{"sync", BERTH_WATCH_SYNC},
                   {"restart", BERTH_WATCH_RESTART},
                   {"sync+restart", BERTH_WATCH_SYNC_RESTART},
                   {"rebuild", BERTH_WATCH_REBUILD},
                   {"exec", BERTH_WATCH_EXEC},
                   {"sync+exec", BERTH_WATCH_EXEC}};
    int found = -1;
    for (size_t a = 0; action && a < sizeof(actions) / sizeof(*actions); a++)
      if (!strcmp(action, actions[a].name))
        found = (int)a;
    if (found < 0) {
      berth__error(r, berth_node_get(m, "action") ? berth_node_get(m, "action") : m,
                   berth__pathf(q, "%s.action", p),
                   "%s%s%s; use sync, restart, sync+restart, rebuild or exec",
                   action ? "unknown action \"" : "a watch rule needs an action",
                   action ? action : "", action ? "\"" : "");
      continue;
    }
    struct berth_watch *w = berth__grow(r, &s->watch, &s->n_watch, sizeof(*w));
    if (!w)
      return;
    w->path = berth__abspath(r->dir, wpath);
    if (!w->path)
      r->oom = true;
    w->action = actions[found].a;
    w->pos = berth__pos_of(m);
    w->target = berth__read_str(r, berth_node_get(m, "target"), berth__pathf(q, "%s.target", p));
    berth__read_strv(r, berth_node_get(m, "ignore"), berth__pathf(q, "%s.ignore", p), &w->ignore,
                     true, false);
    const struct berth_node *cmd = berth_node_get(m, "command");
    const struct berth_node *exm = berth_node_get(m, "exec");
    if (!cmd && exm && exm->type == BERTH_NODE_MAP) {
      static const struct berth__key ekeys[] = {{"command", NULL, 0},
                                                {"user", NULL, BERTH__KEY_UNSUPPORTED},
                                                {"privileged", NULL, BERTH__KEY_UNSUPPORTED},
                                                {"working_dir", NULL, BERTH__KEY_UNSUPPORTED},
                                                {"environment", NULL, BERTH__KEY_UNSUPPORTED},
                                                {0}};
      berth__read_keys(r, exm, berth__pathf(q, "%s.exec", p), ekeys, NULL);
      cmd = berth_node_get(exm, "command");
    }
    berth__read_strv(r, cmd, berth__pathf(q, "%s.command", p), &w->command, true, true);
    bool needs_target = w->action == BERTH_WATCH_SYNC || w->action == BERTH_WATCH_SYNC_RESTART ||
                        (w->action == BERTH_WATCH_EXEC && (compose || w->target));
    if (needs_target && !w->target)
      berth__error(r, m, p, "a %s rule needs target: the path in the container to sync to", action);
    else if (w->target && w->target[0] != '/')
      berth__error(r, berth_node_get(m, "target"), berth__pathf(q, "%s.target", p),
                   "the target \"%s\" must be an absolute path in the container", w->target);
    if (w->action == BERTH_WATCH_EXEC && !w->command.n)
      berth__error(r, m, p, "an exec rule needs command: [...]");
  }
}

void berth__read_watch(struct berth__reader *r, void *obj, const struct berth_node *v,
                       const char *path) {
  read_watch(r, svc_of(obj), v, path, false);
}

/* develop.watch conflicts with watch:, reported at develop. */
struct develop {
  struct berth__svc *c;
  const struct berth_node *map;
  const char *path;
};

static void read_develop_watch(struct berth__reader *r, void *obj, const struct berth_node *v,
                               const char *path) {
  struct develop *d = obj;
  if (berth_node_get(d->c->map, "watch"))
    berth__error(r, d->map, d->path, "set watch or develop.watch, not both");
  else
    read_watch(r, d->c->s, v, path, true);
}

void berth__read_develop(struct berth__reader *r, void *obj, const struct berth_node *v,
                         const char *path) {
  static const struct berth__key keys[] = {{"watch", read_develop_watch, 0}, {0}};
  struct develop d = {.c = obj, .map = berth__want_map(r, v, path), .path = path};
  if (d.map)
    berth__read_keys(r, d.map, path, keys, &d);
}
