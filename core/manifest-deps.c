/* What a service waits for and uses: depends_on with its conditions,
 * Compose's healthcheck and berth's probe, and uses: of infra instances
 * (checked against the infra in manifest-check.c). */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "infra/infra.h"
#include "manifest-internal.h"

static void read_condition(struct berth__reader *r, void *obj, const struct berth_node *c,
                           const char *path) {
  struct berth_dep *d = obj;
  if (!berth__want_scalar(r, c, path, "a condition"))
    return;
  const char *cv = c->value;
  if (!strcmp(cv, "service_started") || !strcmp(cv, "started"))
    d->condition = BERTH_COND_STARTED;
  else if (!strcmp(cv, "service_healthy") || !strcmp(cv, "healthy"))
    d->condition = BERTH_COND_HEALTHY;
  else if (!strcmp(cv, "service_completed_successfully") || !strcmp(cv, "completed"))
    d->condition = BERTH_COND_COMPLETED;
  else
    berth__error(r, c, path,
                 "unknown condition \"%s\"; use started, healthy or completed "
                 "(service_started, service_healthy, service_completed_successfully)",
                 cv);
}

static void read_dep_restart(struct berth__reader *r, void *obj, const struct berth_node *v,
                             const char *path) {
  struct berth_dep *d = obj;
  d->restart = berth__read_bool(r, v, path, false);
}

static void read_dep_required(struct berth__reader *r, void *obj, const struct berth_node *v,
                              const char *path) {
  struct berth_dep *d = obj;
  d->required = berth__read_bool(r, v, path, true);
}

/* depends_on: {NAME: null | {condition, restart, required}} (lists were
 * made maps before merging). */
void berth__read_depends_on(struct berth__reader *r, void *obj, const struct berth_node *n,
                            const char *path) {
  static const struct berth__key keys[] = {
      {"condition", read_condition, 0},
      {"restart", read_dep_restart, 0},
      {"required", read_dep_required, 0},
      {0},
  };
  char p[BERTH__PATH_MAX];
  struct berth_service *s = ((struct berth__svc *)obj)->s;
  const struct berth_node *m = berth__want_map(r, n, path);
  for (size_t i = 0; m && i + 1 < m->n; i += 2) {
    const struct berth_node *k = m->items[i], *v = m->items[i + 1];
    berth__pathf(p, "%s.%s", path, k->value);
    struct berth_dep *d = berth__grow(r, &s->deps, &s->n_deps, sizeof(*d));
    if (!d)
      return;
    d->service = berth__strdup(r, k->value);
    d->required = true;
    d->pos = berth__pos_of(k);
    if (berth_node_is_null(v))
      continue;
    if (v->type != BERTH_NODE_MAP) {
      berth__error(r, v, p, "expected {condition: ...}, found %s", berth_node_type_name(v));
      continue;
    }
    berth__read_keys(r, v, p, keys, d);
  }
}

static void probe_timing(struct berth__reader *r, struct berth_probe *pr,
                         const struct berth_node *m, const char *path) {
  char q[BERTH__PATH_MAX];
  pr->interval_ms = berth__read_duration(r, berth_node_get(m, "interval"),
                                         berth__pathf(q, "%s.interval", path), pr->interval_ms);
  pr->timeout_ms = berth__read_duration(r, berth_node_get(m, "timeout"),
                                        berth__pathf(q, "%s.timeout", path), pr->timeout_ms);
  pr->start_period_ms =
      berth__read_duration(r, berth_node_get(m, "start_period"),
                           berth__pathf(q, "%s.start_period", path), pr->start_period_ms);
  pr->retries = (int)berth__read_int(r, berth_node_get(m, "retries"),
                                     berth__pathf(q, "%s.retries", path), 0, 1000000, pr->retries);
}

/* Compose's healthcheck: test as CMD / CMD-SHELL / NONE or a string. */
void berth__read_healthcheck(struct berth__reader *r, void *obj, const struct berth_node *n,
                             const char *path) {
  struct berth_service *s = ((struct berth__svc *)obj)->s;
  char q[BERTH__PATH_MAX];
  const struct berth_node *m = berth__want_map(r, n, path);
  if (!m)
    return;
  static const struct berth__key keys[] = {{"test", NULL, 0},         {"interval", NULL, 0},
                                           {"timeout", NULL, 0},      {"retries", NULL, 0},
                                           {"start_period", NULL, 0}, {"start_interval", NULL, 0},
                                           {"disable", NULL, 0},      {0}};
  berth__read_keys(r, m, path, keys, NULL);
  struct berth_probe *pr = &s->probe;
  /* The engine's defaults, which Compose users expect. */
  *pr = (struct berth_probe){
      .kind = BERTH_PROBE_EXEC, .interval_ms = 30000, .timeout_ms = 30000, .retries = 3};
  if (berth__read_bool(r, berth_node_get(m, "disable"), berth__pathf(q, "%s.disable", path),
                       false)) {
    pr->kind = BERTH_PROBE_DISABLED;
    return;
  }
  if (berth_node_get(m, "start_interval"))
    berth__warn(r, berth_node_get(m, "start_interval"), berth__pathf(q, "%s.start_interval", path),
                "not supported by berth yet (its probes poll fast while starting); ignored");
  probe_timing(r, pr, m, path);
  const struct berth_node *t = berth_node_get(m, "test");
  berth__pathf(q, "%s.test", path);
  if (!t) {
    pr->kind = BERTH_PROBE_IMAGE; /* timings only: the image's test */
    return;
  }
  if (berth__is_scalar(t)) {
    berth__strv_push(r, &pr->exec, "/bin/sh");
    berth__strv_push(r, &pr->exec, "-c");
    berth__strv_push(r, &pr->exec, t->value);
    return;
  }
  struct berth_strv v = {0};
  berth__read_strv(r, t, q, &v, false, false);
  if (v.n == 0) {
    berth__error(r, t, q, "expected [\"CMD\", ...], [\"CMD-SHELL\", \"...\"] or [\"NONE\"]");
  } else if (!strcmp(v.v[0], "NONE")) {
    pr->kind = BERTH_PROBE_DISABLED;
  } else if (!strcmp(v.v[0], "CMD-SHELL") && v.n == 2) {
    berth__strv_push(r, &pr->exec, "/bin/sh");
    berth__strv_push(r, &pr->exec, "-c");
    berth__strv_push(r, &pr->exec, v.v[1]);
  } else if (!strcmp(v.v[0], "CMD") && v.n >= 2) {
    for (size_t i = 1; i < v.n; i++)
      berth__strv_push(r, &pr->exec, v.v[i]);
  } else {
    berth__error(r, t, q,
                 "the test starts with \"%s\"; expected CMD, CMD-SHELL (with one "
                 "command string) or NONE",
                 v.v[0]);
  }
  for (size_t i = 0; i < v.n; i++)
    free(v.v[i]);
  free(v.v);
}

/* berth's probe: {http: {path, port}} | {tcp: PORT} | {exec: [...]} |
 * image | none, with interval, timeout, retries, start_period. */
static void read_probe(struct berth__reader *r, struct berth_service *s, const struct berth_node *n,
                       const char *path) {
  char q[BERTH__PATH_MAX];
  struct berth_probe *pr = &s->probe;
  *pr = (struct berth_probe){.interval_ms = 250, .timeout_ms = 1000};
  if (berth__is_scalar(n) && (!strcmp(n->value, "image") || !strcmp(n->value, "none"))) {
    pr->kind = !strcmp(n->value, "image") ? BERTH_PROBE_IMAGE : BERTH_PROBE_DISABLED;
    return;
  }
  const struct berth_node *m = berth__want_map(r, n, path);
  if (!m)
    return;
  static const struct berth__key keys[] = {
      {"http", NULL, 0},    {"tcp", NULL, 0},          {"exec", NULL, 0},
      {"image", NULL, 0},   {"interval", NULL, 0},     {"timeout", NULL, 0},
      {"retries", NULL, 0}, {"start_period", NULL, 0}, {0}};
  berth__read_keys(r, m, path, keys, NULL);
  probe_timing(r, pr, m, path);
  const struct berth_node *http = berth_node_get(m, "http"), *tcp = berth_node_get(m, "tcp"),
                          *ex = berth_node_get(m, "exec"), *img = berth_node_get(m, "image");
  int kinds = !!http + !!tcp + !!ex + !!img;
  if (kinds != 1) {
    berth__error(r, n, path, "a probe needs exactly one of http, tcp, exec or image");
    return;
  }
  if (http) {
    pr->kind = BERTH_PROBE_HTTP;
    const struct berth_node *hm = berth__want_map(r, http, berth__pathf(q, "%s.http", path));
    static const struct berth__key hkeys[] = {{"path", NULL, 0}, {"port", NULL, 0}, {0}};
    if (!hm)
      return;
    berth__read_keys(r, hm, q, hkeys, NULL);
    pr->http_path =
        berth__read_str(r, berth_node_get(hm, "path"), berth__pathf(q, "%s.http.path", path));
    if (!pr->http_path)
      pr->http_path = berth__strdup(r, "/");
    else if (pr->http_path[0] != '/')
      berth__error(r, berth_node_get(hm, "path"), q, "an HTTP path starts with /");
    pr->port = (uint16_t)berth__read_int(r, berth_node_get(hm, "port"),
                                         berth__pathf(q, "%s.http.port", path), 1, 65535, 0);
    if (!pr->port)
      berth__error(r, http, q,
                   "an http probe needs the container port: {path: /health, port: 3000}");
  } else if (tcp) {
    pr->kind = BERTH_PROBE_TCP;
    pr->port = (uint16_t)berth__read_int(r, tcp, berth__pathf(q, "%s.tcp", path), 1, 65535, 0);
  } else if (ex) {
    pr->kind = BERTH_PROBE_EXEC;
    berth__read_strv(r, ex, berth__pathf(q, "%s.exec", path), &pr->exec, true, true);
    if (!pr->exec.n)
      berth__error(r, ex, q, "an exec probe needs a command");
  } else {
    pr->kind = berth__read_bool(r, img, berth__pathf(q, "%s.image", path), true)
                   ? BERTH_PROBE_IMAGE
                   : BERTH_PROBE_DISABLED;
  }
}

/* Each is checked here, where its node is: they end up in URLs and in
 * `eval "$(berth env)"` (as names a shell variable). A refused one is
 * left unset, so berth__check_uses does not report it again. */
static void read_use_database(struct berth__reader *r, void *obj, const struct berth_node *v,
                              const char *path) {
  if (berth__check_ident(r, v, path, "database name", BERTH__IDENT_NAME))
    ((struct berth_use *)obj)->database = berth__read_str(r, v, path);
}

static void read_use_vhost(struct berth__reader *r, void *obj, const struct berth_node *v,
                           const char *path) {
  if (berth__check_ident(r, v, path, "vhost name", BERTH__IDENT_VHOST))
    ((struct berth_use *)obj)->vhost = berth__read_str(r, v, path);
}

static void read_use_as(struct berth__reader *r, void *obj, const struct berth_node *v,
                        const char *path) {
  if (berth__check_ident(r, v, path, "variable name", BERTH__IDENT_VAR))
    ((struct berth_use *)obj)->as = berth__read_str(r, v, path);
}

/* uses: [NAME] or {NAME: {database, vhost, as}}. */
void berth__read_uses(struct berth__reader *r, void *obj, const struct berth_node *n,
                      const char *path) {
  static const struct berth__key keys[] = {
      {"database", read_use_database, 0},
      {"vhost", read_use_vhost, 0},
      {"as", read_use_as, 0},
      {0},
  };
  char p[BERTH__PATH_MAX];
  struct berth_service *s = ((struct berth__svc *)obj)->s;
  if (berth_node_is_null(n))
    return;
  if (n->type == BERTH_NODE_SEQ) {
    for (size_t i = 0; i < n->n; i++)
      if (berth__want_scalar(r, n->items[i], berth__pathf(p, "%s[%zu]", path, i),
                             "an infra name")) {
        struct berth_use *u = berth__grow(r, &s->uses, &s->n_uses, sizeof(*u));
        if (u) {
          u->infra = berth__strdup(r, n->items[i]->value);
          u->pos = berth__pos_of(n->items[i]);
        }
      }
    return;
  }
  const struct berth_node *m = berth__want_map(r, n, path);
  for (size_t i = 0; m && i + 1 < m->n; i += 2) {
    const struct berth_node *k = m->items[i], *v = m->items[i + 1];
    berth__pathf(p, "%s.%s", path, k->value);
    struct berth_use *u = berth__grow(r, &s->uses, &s->n_uses, sizeof(*u));
    if (!u)
      return;
    u->infra = berth__strdup(r, k->value);
    u->pos = berth__pos_of(k);
    const struct berth_node *vm = berth__want_map(r, v, p);
    if (vm)
      berth__read_keys(r, vm, p, keys, u);
  }
}

/* probe: berth's, which replaces the image's healthcheck; not with a
 * Compose healthcheck: beside it. */
void berth__read_probe(struct berth__reader *r, void *obj, const struct berth_node *v,
                       const char *path) {
  struct berth__svc *c = obj;
  if (berth_node_get(c->map, "healthcheck"))
    berth__error(r, v, path, "set probe or healthcheck, not both");
  else
    read_probe(r, c->s, v, path);
}
