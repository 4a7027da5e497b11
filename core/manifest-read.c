/* The merged manifest document read into the model, key by key, with a
 * diagnostic for everything that is wrong and a warning for everything
 * berth does not support yet. Nothing declared is dropped silently. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "berth/images.h"
#include "cleanup.h"
#include "manifest-internal.h"

/* ---- ports ---- */

static bool parse_range(const char *s, uint16_t *lo, uint16_t *hi) {
  char *end;
  errno = 0;
  long a = strtol(s, &end, 10);
  if (end == s || errno || a < 0 || a > 65535)
    return false;
  long b = a;
  if (*end == '-') {
    const char *t = end + 1;
    b = strtol(t, &end, 10);
    if (end == t || b < a || b > 65535)
      return false;
  }
  if (*end)
    return false;
  *lo = (uint16_t)a;
  *hi = (uint16_t)b;
  return true;
}

static void add_port(struct berth__reader *r, struct berth_service *s, const struct berth_node *n,
                     const char *ip, uint16_t hs, uint16_t he, uint16_t cs, uint16_t ce,
                     const char *proto) {
  struct berth_port *p = berth__grow(r, &s->ports, &s->n_ports, sizeof(*p));
  if (!p)
    return;
  p->host_ip = berth__strdup(r, ip && *ip ? ip : "127.0.0.1");
  p->host_start = hs;
  p->host_end = he;
  p->container_start = cs;
  p->container_end = ce;
  p->protocol = berth__strdup(r, proto && *proto ? proto : "tcp");
  p->pos = berth__pos_of(n);
}

static void read_port_short(struct berth__reader *r, struct berth_service *s,
                            const struct berth_node *n, const char *path) {
  _cleanup_free_ char *spec = strdup(n->value);
  if (!spec) {
    r->oom = true;
    return;
  }
  char *proto = strchr(spec, '/');
  if (proto)
    *proto++ = '\0';
  if (proto && strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp")) {
    berth__error(r, n, path, "unknown protocol \"%s\"; use tcp, udp or sctp", proto);
    return;
  }
  /* [ip:][host:]container; an IPv6 address is bracketed. */
  char *ip = NULL, *rest = spec;
  int colons = 0;
  for (const char *c = spec; *c; c++)
    colons += *c == ':';
  if (spec[0] != '[' && colons > 2) {
    /* An IPv6 address without brackets: "::1:6000:6000" — the last two
     * fields are the ports. */
    char *last = strrchr(spec, ':');
    *last = '\0';
    char *second = strrchr(spec, ':');
    *last = ':';
    *second = '\0';
    ip = spec;
    rest = second + 1;
  } else if (spec[0] == '[') {
    char *close = strchr(spec, ']');
    if (!close || close[1] != ':') {
      berth__error(r, n, path, "bad IPv6 address in \"%s\"; write [::1]:8080:80", n->value);
      return;
    }
    *close = '\0';
    ip = spec + 1;
    rest = close + 2;
  }
  /* Split on ':' keeping empty parts: "127.0.0.1::80" has no host port. */
  char *parts[3] = {0};
  int np = 0;
  for (char *t = rest;;) {
    char *colon = strchr(t, ':');
    if (np == 3) {
      np = 4;
      break;
    }
    parts[np++] = t;
    if (!colon)
      break;
    *colon = '\0';
    t = colon + 1;
  }
  if (np == 0 || np == 4 || (np == 3 && ip) || !*parts[np - 1]) {
    berth__error(r, n, path,
                 "\"%s\" is not a port mapping; write CONTAINER, HOST:CONTAINER or "
                 "IP:HOST:CONTAINER (ranges as 8000-8010)",
                 n->value);
    return;
  }
  const char *host = NULL, *cont = parts[np - 1];
  if (np == 2)
    host = parts[0];
  if (np == 3) {
    ip = parts[0];
    host = parts[1];
  }
  uint16_t hs = 0, he = 0, cs, ce;
  if (!parse_range(cont, &cs, &ce) || cs == 0) {
    berth__error(r, n, path, "\"%s\" is not a container port (1-65535, or a range 80-81)", cont);
    return;
  }
  if (host && *host && !parse_range(host, &hs, &he)) {
    berth__error(r, n, path, "\"%s\" is not a host port (1-65535, or a range 8000-8010)", host);
    return;
  }
  if (hs && he - hs != ce - cs && he != hs && ce != cs) {
    berth__error(r, n, path, "the host range %s and the container range %s differ in size", host,
                 cont);
    return;
  }
  if (hs && he == hs && ce != cs)
    he = (uint16_t)(hs + (ce - cs));
  add_port(r, s, n, ip, hs, he, cs, ce, proto);
}

static void read_ports(struct berth__reader *r, struct berth_service *s, const struct berth_node *n,
                       const char *path) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  if (n->type != BERTH_NODE_SEQ) {
    berth__error(r, n, path, "expected a list of ports, found %s", berth_node_type_name(n));
    return;
  }
  static const char *const long_keys[] = {"target", "published", "host_ip", "protocol", NULL};
  static const char *const long_unsupported[] = {"mode", "name", "app_protocol", NULL};
  for (size_t i = 0; i < n->n; i++) {
    const struct berth_node *it = n->items[i];
    berth__pathf(p, "%s[%zu]", path, i);
    if (berth__is_scalar(it)) {
      read_port_short(r, s, it, p);
      continue;
    }
    if (it->type != BERTH_NODE_MAP) {
      berth__error(r, it, p,
                   "expected a port (\"8080:80\" or {target: 80, published: 8080}), found %s",
                   berth_node_type_name(it));
      continue;
    }
    berth__check_keys(r, it, p, long_keys, long_unsupported);
    const struct berth_node *t = berth_node_get(it, "target");
    const struct berth_node *pub = berth_node_get(it, "published");
    uint16_t cs, ce, hs = 0, he = 0;
    if (!t || !berth__is_scalar(t) || !parse_range(t->value, &cs, &ce) || cs == 0 || ce != cs) {
      berth__error(r, t ? t : it, berth__pathf(q, "%s.target", p),
                   "expected the container port (1-65535)");
      continue;
    }
    if (pub && !berth_node_is_null(pub) &&
        (!berth__is_scalar(pub) || !parse_range(pub->value, &hs, &he))) {
      berth__error(r, pub, berth__pathf(q, "%s.published", p), "expected a host port or range");
      continue;
    }
    _cleanup_free_ char *ip =
        berth__read_str(r, berth_node_get(it, "host_ip"), berth__pathf(q, "%s.host_ip", p));
    _cleanup_free_ char *proto =
        berth__read_str(r, berth_node_get(it, "protocol"), berth__pathf(q, "%s.protocol", p));
    add_port(r, s, it, ip, hs, he ? he : hs, cs, ce, proto);
  }
}

/* ---- volumes ---- */

static bool is_path(const char *s) {
  return s[0] == '/' || s[0] == '.' || s[0] == '~';
}

static bool volume_declared(const struct berth_node *root, const char *name) {
  return berth_node_index(berth_node_get(root, "volumes"), name) >= 0;
}

static void add_mount(struct berth__reader *r, struct berth_service *s,
                      const struct berth_node *root, const struct berth_node *n, const char *path,
                      enum berth_mount_type type, const char *source, const char *target, bool ro,
                      int64_t size) {
  if (!target || target[0] != '/') {
    berth__error(r, n, path, "the container path \"%s\" must be absolute", target ? target : "");
    return;
  }
  if (type == BERTH_MOUNT_T_VOLUME && source && *source && !volume_declared(root, source)) {
    if (r->compose) {
      berth__error(
          r, n, path,
          "the named volume \"%s\" is not declared; add it under the top-level volumes:", source);
      return;
    }
  }
  struct berth_mount *m = berth__grow(r, &s->mounts, &s->n_mounts, sizeof(*m));
  if (!m)
    return;
  m->type = type;
  m->target = berth__strdup(r, target);
  m->read_only = ro;
  m->tmpfs_size = size;
  if (source && *source)
    m->source =
        type == BERTH_MOUNT_T_BIND ? berth__abspath(r->dir, source) : berth__strdup(r, source);
  if (source && *source && !m->source)
    r->oom = true;
}

static void read_volumes(struct berth__reader *r, struct berth_service *s,
                         const struct berth_node *root, const struct berth_node *n,
                         const char *path) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  if (n->type != BERTH_NODE_SEQ) {
    berth__error(r, n, path, "expected a list of volumes, found %s", berth_node_type_name(n));
    return;
  }
  static const char *const long_keys[] = {"type", "source", "target", "read_only", "tmpfs", NULL};
  static const char *const long_unsupported[] = {"bind", "volume", "consistency", NULL};
  for (size_t i = 0; i < n->n; i++) {
    const struct berth_node *it = n->items[i];
    berth__pathf(p, "%s[%zu]", path, i);
    if (berth__is_scalar(it)) {
      _cleanup_free_ char *spec = strdup(it->value);
      if (!spec) {
        r->oom = true;
        return;
      }
      char *parts[3] = {0};
      int np = 0;
      for (char *save = NULL, *t = strtok_r(spec, ":", &save); t && np < 3;
           t = strtok_r(NULL, ":", &save))
        parts[np++] = t;
      bool ro = false;
      const char *src = NULL, *tgt = NULL;
      if (np == 1) {
        tgt = parts[0];
      } else if (np == 2 && parts[0][0] == '/' &&
                 strspn(parts[1], "rowZzncpyaedlist,") == strlen(parts[1])) {
        tgt = parts[0]; /* "/data:ro" */
        ro = strstr(parts[1], "ro") != NULL;
      } else {
        src = parts[0];
        tgt = parts[1];
        if (np == 3) {
          for (char *save = NULL, *o = strtok_r(parts[2], ",", &save); o;
               o = strtok_r(NULL, ",", &save)) {
            if (!strcmp(o, "ro"))
              ro = true;
            else if (strcmp(o, "rw") && strcmp(o, "z") && strcmp(o, "Z") && strcmp(o, "nocopy") &&
                     strcmp(o, "cached") && strcmp(o, "delegated") && strcmp(o, "consistent"))
              berth__error(r, it, p, "unknown volume option \"%s\"; use ro or rw", o);
          }
        }
      }
      if (!src)
        add_mount(r, s, root, it, p, BERTH_MOUNT_T_VOLUME, NULL, tgt, ro, 0);
      else
        add_mount(r, s, root, it, p, is_path(src) ? BERTH_MOUNT_T_BIND : BERTH_MOUNT_T_VOLUME, src,
                  tgt, ro, 0);
      continue;
    }
    if (it->type != BERTH_NODE_MAP) {
      berth__error(r, it, p, "expected \"SOURCE:TARGET[:ro]\" or {type, source, target}, found %s",
                   berth_node_type_name(it));
      continue;
    }
    berth__check_keys(r, it, p, long_keys, long_unsupported);
    _cleanup_free_ char *type =
        berth__read_str(r, berth_node_get(it, "type"), berth__pathf(q, "%s.type", p));
    _cleanup_free_ char *src =
        berth__read_str(r, berth_node_get(it, "source"), berth__pathf(q, "%s.source", p));
    _cleanup_free_ char *tgt =
        berth__read_str(r, berth_node_get(it, "target"), berth__pathf(q, "%s.target", p));
    bool ro = berth__read_bool(r, berth_node_get(it, "read_only"),
                               berth__pathf(q, "%s.read_only", p), false);
    enum berth_mount_type t;
    if (!type || !strcmp(type, "volume"))
      t = BERTH_MOUNT_T_VOLUME;
    else if (!strcmp(type, "bind"))
      t = BERTH_MOUNT_T_BIND;
    else if (!strcmp(type, "tmpfs"))
      t = BERTH_MOUNT_T_TMPFS;
    else {
      berth__error(r, berth_node_get(it, "type"), berth__pathf(q, "%s.type", p),
                   "unknown volume type \"%s\"; use volume, bind or tmpfs", type);
      continue;
    }
    int64_t size = 0;
    const struct berth_node *tm = berth_node_get(it, "tmpfs");
    if (tm && tm->type == BERTH_NODE_MAP) {
      const struct berth_node *sz = berth_node_get(tm, "size");
      if (berth__is_scalar(sz) && berth_parse_bytes(sz->value, true, &size) < 0)
        berth__error(r, sz, berth__pathf(q, "%s.tmpfs.size", p), "\"%s\" is not a size (64m, 1g)",
                     sz->value);
    }
    if (t == BERTH_MOUNT_T_BIND && !src) {
      berth__error(r, it, p, "a bind mount needs a source path");
      continue;
    }
    add_mount(r, s, root, it, p, t, src, tgt, ro, size);
  }
}

/* ---- depends_on, probe, watch ---- */

static void read_depends_on(struct berth__reader *r, struct berth_service *s,
                            const struct berth_node *n, const char *path) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  const struct berth_node *m = berth__want_map(r, n, path);
  static const char *const keys[] = {"condition", "restart", "required", NULL};
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
    berth__check_keys(r, v, p, keys, NULL);
    const struct berth_node *c = berth_node_get(v, "condition");
    if (c && berth__want_scalar(r, c, berth__pathf(q, "%s.condition", p), "a condition")) {
      const char *cv = c->value;
      if (!strcmp(cv, "service_started") || !strcmp(cv, "started"))
        d->condition = BERTH_COND_STARTED;
      else if (!strcmp(cv, "service_healthy") || !strcmp(cv, "healthy"))
        d->condition = BERTH_COND_HEALTHY;
      else if (!strcmp(cv, "service_completed_successfully") || !strcmp(cv, "completed"))
        d->condition = BERTH_COND_COMPLETED;
      else
        berth__error(r, c, q,
                     "unknown condition \"%s\"; use started, healthy or completed "
                     "(service_started, service_healthy, service_completed_successfully)",
                     cv);
    }
    d->restart =
        berth__read_bool(r, berth_node_get(v, "restart"), berth__pathf(q, "%s.restart", p), false);
    d->required =
        berth__read_bool(r, berth_node_get(v, "required"), berth__pathf(q, "%s.required", p), true);
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
static void read_healthcheck(struct berth__reader *r, struct berth_service *s,
                             const struct berth_node *n, const char *path) {
  char q[BERTH__PATH_MAX];
  const struct berth_node *m = berth__want_map(r, n, path);
  if (!m)
    return;
  static const char *const keys[] = {"test",         "interval",       "timeout", "retries",
                                     "start_period", "start_interval", "disable", NULL};
  berth__check_keys(r, m, path, keys, NULL);
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
  static const char *const keys[] = {"http",    "tcp",     "exec",         "image", "interval",
                                     "timeout", "retries", "start_period", NULL};
  berth__check_keys(r, m, path, keys, NULL);
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
    static const char *const hkeys[] = {"path", "port", NULL};
    if (!hm)
      return;
    berth__check_keys(r, hm, q, hkeys, NULL);
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

static void read_watch(struct berth__reader *r, struct berth_service *s, const struct berth_node *n,
                       const char *path, bool compose) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  if (n->type != BERTH_NODE_SEQ) {
    berth__error(r, n, path, "expected a list of watch rules, found %s", berth_node_type_name(n));
    return;
  }
  static const char *const keys[] = {"path",    "action", "target",  "ignore",
                                     "command", "exec",   "include", NULL};
  for (size_t i = 0; i < n->n; i++) {
    const struct berth_node *m =
        berth__want_map(r, n->items[i], berth__pathf(p, "%s[%zu]", path, i));
    if (!m)
      continue;
    static const char *const wunsup[] = {"initial_sync", NULL};
    berth__check_keys(r, m, p, keys, wunsup);
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
      static const char *const ekeys[] = {"command", NULL};
      static const char *const eunsup[] = {"user", "privileged", "working_dir", "environment",
                                           NULL};
      berth__check_keys(r, exm, berth__pathf(q, "%s.exec", p), ekeys, eunsup);
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

/* ---- networks, secrets, configs, uses ---- */

static void read_service_networks(struct berth__reader *r, struct berth_service *s,
                                  const struct berth_node *root, const struct berth_node *n,
                                  const char *path) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  const struct berth_node *m = berth__want_map(r, n, path);
  static const char *const keys[] = {"aliases", NULL};
  static const char *const unsupported[] = {"ipv4_address",   "ipv6_address",   "priority",
                                            "link_local_ips", "mac_address",    "driver_opts",
                                            "gw_priority",    "interface_name", NULL};
  for (size_t i = 0; m && i + 1 < m->n; i += 2) {
    const struct berth_node *k = m->items[i], *v = m->items[i + 1];
    berth__pathf(p, "%s.%s", path, k->value);
    if (strcmp(k->value, "default") &&
        berth_node_index(berth_node_get(root, "networks"), k->value) < 0) {
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
    berth__check_keys(r, v, p, keys, unsupported);
    berth__read_strv(r, berth_node_get(v, "aliases"), berth__pathf(q, "%s.aliases", p), &a->aliases,
                     false, false);
  }
}

static void read_file_refs(struct berth__reader *r, const struct berth_node *root,
                           const struct berth_node *n, const char *path, const char *section,
                           const char *default_dir, struct berth_file_ref **out, size_t *count) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  if (n->type != BERTH_NODE_SEQ) {
    berth__error(r, n, path, "expected a list, found %s", berth_node_type_name(n));
    return;
  }
  static const char *const keys[] = {"source", "target", NULL};
  static const char *const unsupported[] = {"uid", "gid", "mode", NULL};
  for (size_t i = 0; i < n->n; i++) {
    const struct berth_node *it = n->items[i];
    berth__pathf(p, "%s[%zu]", path, i);
    _cleanup_free_ char *src = NULL, *tgt = NULL;
    if (berth__is_scalar(it)) {
      src = berth__strdup(r, it->value);
    } else if (it->type == BERTH_NODE_MAP) {
      berth__check_keys(r, it, p, keys, unsupported);
      src = berth__read_str(r, berth_node_get(it, "source"), berth__pathf(q, "%s.source", p));
      tgt = berth__read_str(r, berth_node_get(it, "target"), berth__pathf(q, "%s.target", p));
    } else {
      berth__error(r, it, p, "expected a name or {source, target}, found %s",
                   berth_node_type_name(it));
      continue;
    }
    if (!src) {
      berth__error(r, it, p, "needs a source");
      continue;
    }
    if (berth_node_index(berth_node_get(root, section), src) < 0) {
      berth__error(r, it, p, "\"%s\" is not declared under the top-level %s:", src, section);
      continue;
    }
    struct berth_file_ref *f = berth__grow(r, out, count, sizeof(*f));
    if (!f)
      return;
    f->source = berth__strdup(r, src);
    if (tgt && tgt[0] == '/')
      f->target = TAKE_PTR(tgt);
    else if (asprintf(&f->target, "%s/%s", default_dir, tgt ? tgt : src) < 0)
      r->oom = true;
  }
}

static void read_uses(struct berth__reader *r, struct berth_service *s, const struct berth_node *n,
                      const char *path) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  static const char *const keys[] = {"database", "vhost", "as", NULL};
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
    if (!vm)
      continue;
    berth__check_keys(r, vm, p, keys, NULL);
    u->database =
        berth__read_str(r, berth_node_get(vm, "database"), berth__pathf(q, "%s.database", p));
    u->vhost = berth__read_str(r, berth_node_get(vm, "vhost"), berth__pathf(q, "%s.vhost", p));
    u->as = berth__read_str(r, berth_node_get(vm, "as"), berth__pathf(q, "%s.as", p));
  }
}

/* ---- resources ---- */

static void read_cpu(struct berth__reader *r, struct berth_service *s, const struct berth_node *n,
                     const char *path) {
  if (berth_node_is_null(n) || !berth__want_scalar(r, n, path, "a CPU amount"))
    return;
  if (berth_parse_cpu(n->value, &s->cpu_millis) < 0)
    berth__error(r, n, path, "\"%s\" is not a CPU amount; write 500m (millicores) or 0.5",
                 n->value);
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

static void read_resources(struct berth__reader *r, struct berth_service *s,
                           const struct berth_node *n, const char *path) {
  char q[BERTH__PATH_MAX];
  const struct berth_node *m = berth__want_map(r, n, path);
  static const char *const keys[] = {"cpu", "memory", NULL};
  if (!m)
    return;
  berth__check_keys(r, m, path, keys, NULL);
  read_cpu(r, s, berth_node_get(m, "cpu"), berth__pathf(q, "%s.cpu", path));
  read_memory(r, s, berth_node_get(m, "memory"), berth__pathf(q, "%s.memory", path), false);
}

static void read_deploy(struct berth__reader *r, struct berth_service *s,
                        const struct berth_node *n, const char *path) {
  char q[BERTH__PATH_MAX], t[BERTH__PATH_MAX];
  const struct berth_node *m = berth__want_map(r, n, path);
  static const char *const keys[] = {"replicas", "resources", "restart_policy", NULL};
  static const char *const unsupported[] = {
      "mode", "placement", "update_config", "rollback_config", "endpoint_mode", "labels", NULL};
  if (!m)
    return;
  berth__check_keys(r, m, path, keys, unsupported);
  s->replicas = (int)berth__read_int(r, berth_node_get(m, "replicas"),
                                     berth__pathf(q, "%s.replicas", path), 0, 1000, s->replicas);
  const struct berth_node *res =
      berth__want_map(r, berth_node_get(m, "resources"), berth__pathf(q, "%s.resources", path));
  if (res) {
    static const char *const rkeys[] = {"limits", "reservations", NULL};
    berth__check_keys(r, res, q, rkeys, NULL);
    const struct berth_node *lim =
        berth__want_map(r, berth_node_get(res, "limits"), berth__pathf(t, "%s.limits", q));
    static const char *const lkeys[] = {"cpus", "memory", NULL};
    static const char *const lunsup[] = {"pids", "devices", NULL};
    if (lim) {
      berth__check_keys(r, lim, t, lkeys, lunsup);
      read_cpu(r, s, berth_node_get(lim, "cpus"), berth__pathf(q, "%s.cpus", t));
      read_memory(r, s, berth_node_get(lim, "memory"), berth__pathf(q, "%s.memory", t), true);
    }
    if (berth_node_get(res, "reservations"))
      berth__warn(r, berth_node_get(res, "reservations"),
                  berth__pathf(t, "%s.resources.reservations", path),
                  "not supported by berth yet (a laptop reserves nothing); ignored");
  }
  const struct berth_node *rp = berth__want_map(r, berth_node_get(m, "restart_policy"),
                                                berth__pathf(q, "%s.restart_policy", path));
  if (rp) {
    static const char *const rkeys[] = {"condition", NULL};
    static const char *const runsup[] = {"delay", "max_attempts", "window", NULL};
    berth__check_keys(r, rp, q, rkeys, runsup);
    const struct berth_node *c = berth_node_get(rp, "condition");
    if (berth__is_scalar(c) && strcmp(c->value, "any") && strcmp(c->value, "none") &&
        strcmp(c->value, "on-failure"))
      berth__error(r, c, q, "unknown restart condition \"%s\"; use none, on-failure or any",
                   c->value);
    if (berth__is_scalar(c) && !s->restart) {
      const char *v = c->value;
      s->restart = berth__strdup(r, !strcmp(v, "any") ? "always" : !strcmp(v, "none") ? "no" : v);
    }
  }
}

/* ---- the service ---- */

static const char *const service_keys[] = {
    "image",          "build",
    "command",        "entrypoint",
    "environment",    "env_file",
    "ports",          "expose",
    "volumes",        "depends_on",
    "probe",          "healthcheck",
    "replicas",       "deploy",
    "resources",      "restart",
    "profiles",       "labels",
    "watch",          "develop",
    "container_name", "hostname",
    "user",           "working_dir",
    "stop_signal",    "stop_grace_period",
    "init",           "tmpfs",
    "extra_hosts",    "cap_add",
    "cap_drop",       "networks",
    "secrets",        "configs",
    "uses",           "cpus",
    "mem_limit",      NULL,
};

static const char *const service_unsupported[] = {
    "platform",
    "runtime",
    "privileged",
    "read_only",
    "shm_size",
    "ulimits",
    "sysctls",
    "logging",
    "devices",
    "dns",
    "dns_search",
    "dns_opt",
    "domainname",
    "mac_address",
    "pid",
    "ipc",
    "network_mode",
    "security_opt",
    "stdin_open",
    "tty",
    "cgroup_parent",
    "links",
    "external_links",
    "isolation",
    "memswap_limit",
    "mem_reservation",
    "cpu_shares",
    "cpuset",
    "cpu_quota",
    "cpu_period",
    "oom_score_adj",
    "oom_kill_disable",
    "pull_policy",
    "scale",
    "userns_mode",
    "volumes_from",
    "annotations",
    "attach",
    "blkio_config",
    "group_add",
    "storage_opt",
    "cgroup",
    "device_cgroup_rules",
    "gpus",
    "label_file",
    "post_start",
    "pre_stop",
    "uts",
    "credential_spec",
    "mem_swappiness",
    "pids_limit",
    "models",
    "provider",
    "use_api_socket",
    "cpu_count",
    "cpu_percent",
    "cpu_rt_runtime",
    "cpu_rt_period",
    NULL,
};

/* Images of the official postgres, redis and rabbitmq (any registry, any
 * tag, berth's local ones too) are those kinds. */
static const char *kind_of_image(const char *image) {
  static const char *const kinds[] = {"postgres", "redis", "rabbitmq", NULL};
  /* The official image under any registry ("postgres", "docker.io/library/
   * postgres", "mirror:5000/library/redis"), or berth's local one; not
   * someone else's namespace (bitnami/redis). */
  const char *slash = strrchr(image, '/');
  const char *base = slash ? slash + 1 : image;
  if (slash) {
    size_t ns = (size_t)(slash - image);
    bool official =
        (ns >= 7 && !strncmp(slash - 7, "library", 7) && (ns == 7 || slash[-8] == '/')) ||
        (ns == 11 && !strncmp(image, "berth-local", 11));
    if (!official)
      return NULL;
  }
  size_t n = strcspn(base, ":@");
  for (const char *const *k = kinds; *k; k++)
    if (strlen(*k) == n && !strncmp(base, *k, n))
      return *k;
  return NULL;
}

static void read_build(struct berth__reader *r, struct berth_service *s, const struct berth_node *n,
                       const char *path) {
  char q[BERTH__PATH_MAX];
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
    return;
  }
  const struct berth_node *m = berth__want_map(r, n, path);
  if (!m)
    return;
  static const char *const keys[] = {"context", "dockerfile", "args", "target", NULL};
  static const char *const unsupported[] = {"cache_from",        "cache_to",  "labels",
                                            "network",           "shm_size",  "ssh",
                                            "secrets",           "platforms", "tags",
                                            "extra_hosts",       "isolation", "privileged",
                                            "no_cache",          "pull",      "additional_contexts",
                                            "dockerfile_inline", "ulimits",   NULL};
  berth__check_keys(r, m, path, keys, unsupported);
  _cleanup_free_ char *ctx =
      berth__read_str(r, berth_node_get(m, "context"), berth__pathf(q, "%s.context", path));
  s->build->context = berth__abspath(r->dir, ctx ? ctx : ".");
  s->build->dockerfile =
      berth__read_str(r, berth_node_get(m, "dockerfile"), berth__pathf(q, "%s.dockerfile", path));
  if (!s->build->dockerfile)
    s->build->dockerfile = berth__strdup(r, "Dockerfile");
  berth__read_kv(r, berth_node_get(m, "args"), berth__pathf(q, "%s.args", path), &s->build->args,
                 true);
  s->build->target =
      berth__read_str(r, berth_node_get(m, "target"), berth__pathf(q, "%s.target", path));
}

static void read_env_files(struct berth__reader *r, struct berth_service *s,
                           const struct berth_node *n, const char *path) {
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
      static const char *const ekeys[] = {"path", "required", NULL};
      static const char *const eunsup[] = {"format", NULL};
      berth__check_keys(r, it, p, ekeys, eunsup);
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

/* Every x- key of a service, kept as JSON text. */
static char *node_json(const struct berth_node *n);

static void read_service(struct berth__reader *r, const struct berth_node *root,
                         const struct berth_node *k, const struct berth_node *n) {
  char path[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  berth__pathf(path, "services.%s", k->value);
  struct berth_project *p = r->p;
  struct berth_service *s = berth__grow(r, &p->services, &p->n_services, sizeof(*s));
  if (!s)
    return;
  s->name = berth__strdup(r, k->value);
  s->pos = berth__pos_of(k);
  s->replicas = 1;
  bool name_ok = *k->value != '\0';
  for (const char *c = k->value; *c; c++)
    name_ok &= isalnum((unsigned char)*c) || *c == '.' || *c == '_' || *c == '-';
  if (!name_ok)
    berth__error(r, k, path, "\"%s\" is not a service name: use letters, digits, ., _ and -",
                 k->value);
  s->stop_grace_ms = -1;
  s->init = -1;
  if (berth_node_is_null(n)) {
    berth__error(r, k, path, "an empty service; give it an image or a build");
    return;
  }
  if (n->type != BERTH_NODE_MAP) {
    berth__error(r, n, path, "expected a mapping, found %s", berth_node_type_name(n));
    return;
  }
  berth__check_keys(r, n, path, service_keys, service_unsupported);
  const struct berth_node *v;
#define KEY(name) (v = berth_node_get(n, name), berth__pathf(q, "%s." name, path), v)
  s->image = berth__read_str(r, KEY("image"), q);
  if (KEY("build"))
    read_build(r, s, v, q);
  if (KEY("command")) {
    s->has_command = !berth_node_is_null(v);
    berth__read_strv(r, v, q, &s->command, true, true);
  }
  if (KEY("entrypoint")) {
    s->has_entrypoint = !berth_node_is_null(v);
    berth__read_strv(r, v, q, &s->entrypoint, true, true);
  }
  if (KEY("env_file"))
    read_env_files(r, s, v, q);
  berth__read_kv(r, KEY("environment"), q, &s->environment, true);
  read_ports(r, s, KEY("ports"), q);
  berth__read_strv(r, KEY("expose"), q, &s->expose, false, false);
  read_volumes(r, s, root, KEY("volumes"), q);
  read_depends_on(r, s, KEY("depends_on"), q);
  if (KEY("healthcheck"))
    read_healthcheck(r, s, v, q);
  if (KEY("probe")) {
    if (berth_node_get(n, "healthcheck"))
      berth__error(r, v, q, "set probe or healthcheck, not both");
    else
      read_probe(r, s, v, q);
  }
  s->replicas = (int)berth__read_int(r, KEY("replicas"), q, 0, 1000, s->replicas);
  if (KEY("deploy"))
    read_deploy(r, s, v, q);
  if (KEY("resources"))
    read_resources(r, s, v, q);
  if (KEY("cpus"))
    read_cpu(r, s, v, q);
  if (KEY("mem_limit"))
    read_memory(r, s, v, q, true);
  if (KEY("restart")) {
    free(s->restart);
    s->restart = berth__read_str(r, v, q);
    static const char *const policies[] = {"no", "always", "on-failure", "unless-stopped", NULL};
    bool ok = !s->restart;
    for (const char *const *pp = policies; !ok && *pp; pp++)
      ok = !strcmp(*pp, s->restart) ||
           (!strncmp(s->restart, "on-failure:", 11) && !strcmp(*pp, "on-failure"));
    if (!ok)
      berth__error(r, v, q,
                   "unknown restart policy \"%s\"; use no, always, on-failure[:N] or "
                   "unless-stopped",
                   s->restart);
  }
  if (!s->restart)
    s->restart = berth__strdup(r, "no");
  berth__read_strv(r, KEY("profiles"), q, &s->profiles, false, false);
  berth__read_kv(r, KEY("labels"), q, &s->labels, false);
  for (size_t i = 0; i < s->labels.n; i++)
    if (!strncmp(s->labels.v[i].key, "berth.", 6))
      berth__error(r, v, q, "the label prefix berth. is reserved for berth's own labels (%s)",
                   s->labels.v[i].key);
  if (KEY("watch"))
    read_watch(r, s, v, q, false);
  if (KEY("develop")) {
    const struct berth_node *dm = berth__want_map(r, v, q);
    static const char *const dkeys[] = {"watch", NULL};
    if (dm) {
      berth__check_keys(r, dm, q, dkeys, NULL);
      if (berth_node_get(n, "watch") && berth_node_get(dm, "watch"))
        berth__error(r, dm, q, "set watch or develop.watch, not both");
      else
        read_watch(r, s, berth_node_get(dm, "watch"), berth__pathf(q, "%s.develop.watch", path),
                   true);
    }
  }
  s->container_name = berth__read_str(r, KEY("container_name"), q);
  s->hostname = berth__read_str(r, KEY("hostname"), q);
  s->user = berth__read_str(r, KEY("user"), q);
  s->working_dir = berth__read_str(r, KEY("working_dir"), q);
  s->stop_signal = berth__read_str(r, KEY("stop_signal"), q);
  if (KEY("stop_grace_period"))
    s->stop_grace_ms = berth__read_duration(r, v, q, -1);
  if (KEY("init") && !berth_node_is_null(v))
    s->init = berth__read_bool(r, v, q, false);
  berth__read_strv(r, KEY("tmpfs"), q, &s->tmpfs, true, false);
  if (KEY("extra_hosts")) {
    struct berth_kvv hosts = {0};
    berth__read_kv(r, v, q, &hosts, false);
    for (size_t i = 0; i < hosts.n; i++) {
      char *h = NULL;
      if (asprintf(&h, "%s:%s", hosts.v[i].key, hosts.v[i].value) < 0)
        r->oom = true;
      else
        berth__strv_push(r, &s->extra_hosts, h);
      free(h);
      free(hosts.v[i].key);
      free(hosts.v[i].value);
    }
    free(hosts.v);
  }
  berth__read_strv(r, KEY("cap_add"), q, &s->cap_add, false, false);
  berth__read_strv(r, KEY("cap_drop"), q, &s->cap_drop, false, false);
  if (KEY("networks"))
    read_service_networks(r, s, root, v, q);
  read_file_refs(r, root, KEY("secrets"), q, "secrets", "/run/secrets", &s->secrets, &s->n_secrets);
  read_file_refs(r, root, KEY("configs"), q, "configs", "", &s->configs, &s->n_configs);
  if (KEY("uses"))
    read_uses(r, s, v, q);
#undef KEY
  for (size_t i = 0; i + 1 < n->n; i += 2) {
    const char *key = n->items[i]->value;
    if (strncmp(key, "x-", 2))
      continue;
    _cleanup_free_ char *json = node_json(n->items[i + 1]);
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
    }
  }
  if (!s->kind && s->image && kind_of_image(s->image))
    s->kind = berth__strdup(r, kind_of_image(s->image));
  if (s->n_networks == 0) {
    struct berth_net_attach *a = berth__grow(r, &s->networks, &s->n_networks, sizeof(*a));
    if (a)
      a->network = berth__strdup(r, "default");
  }
}

static void check_uses(struct berth__reader *r) {
  struct berth_project *p = r->p;
  for (size_t i = 0; i < p->n_services; i++) {
    struct berth_service *s = &p->services[i];
    for (size_t u = 0; u < s->n_uses; u++) {
      struct berth_use *use = &s->uses[u];
      struct berth_node at = {.file = use->pos.file, .line = use->pos.line, .col = use->pos.col};
      char path[BERTH__PATH_MAX];
      berth__pathf(path, "services.%s.uses.%s", s->name, use->infra);
      const struct berth_infra *in = NULL;
      for (size_t k = 0; k < p->n_infra; k++)
        if (!strcmp(p->infra[k].name, use->infra))
          in = &p->infra[k];
      if (!in) {
        berth__error(r, &at, path, "no infra instance named \"%s\"", use->infra);
        continue;
      }
      static const char *const dflt[] = {"DATABASE_URL", "REDIS_URL", "AMQP_URL"};
      if (!use->as)
        use->as = berth__strdup(r, dflt[in->kind]);
      if (use->database && in->kind != BERTH_INFRA_POSTGRES)
        berth__error(r, &at, path, "database is for postgres instances");
      if (use->vhost && in->kind != BERTH_INFRA_RABBITMQ)
        berth__error(r, &at, path, "vhost is for rabbitmq instances");
      if (use->database && in->n_databases) {
        bool ok = false;
        for (size_t d = 0; d < in->n_databases; d++)
          ok |= in->databases[d].name && !strcmp(in->databases[d].name, use->database);
        if (!ok)
          berth__error(r, &at, path, "\"%s\" is not among the databases of %s", use->database,
                       in->name);
      }
      if (use->vhost && in->vhosts.n) {
        bool ok = false;
        for (size_t v = 0; v < in->vhosts.n; v++)
          ok |= !strcmp(in->vhosts.v[v], use->vhost);
        if (!ok)
          berth__error(r, &at, path, "\"%s\" is not among the vhosts of %s", use->vhost, in->name);
      }
    }
  }
}

/* ---- top level ---- */

/* The node as cJSON, built in one pass (NULL when out of memory). */
static cJSON *node_cjson(const struct berth_node *n) {
  bool b;
  int64_t i;
  if (!n || berth_node_is_null(n))
    return cJSON_CreateNull();
  if (n->type == BERTH_NODE_SCALAR)
    return berth_node_is_bool(n, &b)  ? cJSON_CreateBool(b)
           : berth_node_is_int(n, &i) ? cJSON_CreateNumber((double)i)
                                      : cJSON_CreateString(n->value);
  cJSON *j = n->type == BERTH_NODE_SEQ ? cJSON_CreateArray() : cJSON_CreateObject();
  for (size_t k = 0; j && k < n->n; k += n->type == BERTH_NODE_SEQ ? 1 : 2) {
    cJSON *item = node_cjson(n->type == BERTH_NODE_SEQ ? n->items[k] : n->items[k + 1]);
    bool ok =
        item && (n->type == BERTH_NODE_SEQ ? cJSON_AddItemToArray(j, item)
                                           : cJSON_AddItemToObject(j, n->items[k]->value, item));
    if (!ok) {
      cJSON_Delete(item);
      cJSON_Delete(j);
      return NULL;
    }
  }
  return j;
}

static char *node_json(const struct berth_node *n) {
  _cleanup_json_ cJSON *j = node_cjson(n);
  return j ? cJSON_PrintUnformatted(j) : NULL;
}

static void read_top_networks(struct berth__reader *r, const struct berth_node *n) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  const struct berth_node *m = berth__want_map(r, n, "networks");
  static const char *const keys[] = {"driver", "external", "name", "internal", "labels", NULL};
  static const char *const unsupported[] = {"ipam",        "attachable",  "driver_opts",
                                            "enable_ipv6", "enable_ipv4", NULL};
  struct berth_project *pr = r->p;
  for (size_t i = 0; m && i + 1 < m->n; i += 2) {
    const struct berth_node *k = m->items[i], *v = m->items[i + 1];
    berth__pathf(p, "networks.%s", k->value);
    struct berth_network *net = berth__grow(r, &pr->networks, &pr->n_networks, sizeof(*net));
    if (!net)
      return;
    net->name = berth__strdup(r, k->value);
    const struct berth_node *vm = berth__want_map(r, v, p);
    if (vm) {
      berth__check_keys(r, vm, p, keys, unsupported);
      net->driver =
          berth__read_str(r, berth_node_get(vm, "driver"), berth__pathf(q, "%s.driver", p));
      const struct berth_node *ext = berth_node_get(vm, "external");
      if (ext && ext->type == BERTH_NODE_MAP) {
        net->external = true;
        net->external_name =
            berth__read_str(r, berth_node_get(ext, "name"), berth__pathf(q, "%s.external.name", p));
      } else {
        net->external = berth__read_bool(r, ext, berth__pathf(q, "%s.external", p), false);
      }
      _cleanup_free_ char *name =
          berth__read_str(r, berth_node_get(vm, "name"), berth__pathf(q, "%s.name", p));
      if (name && !net->external_name)
        net->external_name = TAKE_PTR(name);
      net->internal = berth__read_bool(r, berth_node_get(vm, "internal"),
                                       berth__pathf(q, "%s.internal", p), false);
      berth__read_kv(r, berth_node_get(vm, "labels"), berth__pathf(q, "%s.labels", p), &net->labels,
                     false);
    }
    if (!net->driver)
      net->driver = berth__strdup(r, "bridge");
  }
}

static void read_top_volumes(struct berth__reader *r, const struct berth_node *n) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  const struct berth_node *m = berth__want_map(r, n, "volumes");
  static const char *const keys[] = {"driver", "external", "name", "labels", NULL};
  static const char *const unsupported[] = {"driver_opts", NULL};
  struct berth_project *pr = r->p;
  for (size_t i = 0; m && i + 1 < m->n; i += 2) {
    const struct berth_node *k = m->items[i], *v = m->items[i + 1];
    berth__pathf(p, "volumes.%s", k->value);
    struct berth_volume *vol = berth__grow(r, &pr->volumes, &pr->n_volumes, sizeof(*vol));
    if (!vol)
      return;
    vol->name = berth__strdup(r, k->value);
    const struct berth_node *vm = berth__want_map(r, v, p);
    if (vm) {
      berth__check_keys(r, vm, p, keys, unsupported);
      vol->driver =
          berth__read_str(r, berth_node_get(vm, "driver"), berth__pathf(q, "%s.driver", p));
      const struct berth_node *ext = berth_node_get(vm, "external");
      if (ext && ext->type == BERTH_NODE_MAP) {
        vol->external = true;
        vol->external_name =
            berth__read_str(r, berth_node_get(ext, "name"), berth__pathf(q, "%s.external.name", p));
      } else {
        vol->external = berth__read_bool(r, ext, berth__pathf(q, "%s.external", p), false);
      }
      _cleanup_free_ char *name =
          berth__read_str(r, berth_node_get(vm, "name"), berth__pathf(q, "%s.name", p));
      if (name && !vol->external_name)
        vol->external_name = TAKE_PTR(name);
      berth__read_kv(r, berth_node_get(vm, "labels"), berth__pathf(q, "%s.labels", p), &vol->labels,
                     false);
    }
    if (!vol->driver)
      vol->driver = berth__strdup(r, "local");
  }
}

static void read_top_files(struct berth__reader *r, const struct berth_node *n, const char *section,
                           struct berth_file_def **out, size_t *count) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  const struct berth_node *m = berth__want_map(r, n, section);
  static const char *const keys[] = {"file", "environment", "content", "external", NULL};
  static const char *const unsupported[] = {"name",        "template_driver", "driver",
                                            "driver_opts", "labels",          NULL};
  for (size_t i = 0; m && i + 1 < m->n; i += 2) {
    const struct berth_node *k = m->items[i], *v = m->items[i + 1];
    berth__pathf(p, "%s.%s", section, k->value);
    const struct berth_node *vm = berth__want_map(r, v, p);
    if (!vm) {
      if (berth_node_is_null(v))
        berth__error(r, k, p, "needs file: PATH (or environment: VAR)");
      continue;
    }
    berth__check_keys(r, vm, p, keys, unsupported);
    struct berth_file_def *f = berth__grow(r, out, count, sizeof(*f));
    if (!f)
      return;
    f->name = berth__strdup(r, k->value);
    _cleanup_free_ char *file =
        berth__read_str(r, berth_node_get(vm, "file"), berth__pathf(q, "%s.file", p));
    if (file && !(f->file = berth__abspath(r->dir, file)))
      r->oom = true;
    f->environment =
        berth__read_str(r, berth_node_get(vm, "environment"), berth__pathf(q, "%s.environment", p));
    f->content =
        berth__read_str(r, berth_node_get(vm, "content"), berth__pathf(q, "%s.content", p));
    f->external = berth__read_bool(r, berth_node_get(vm, "external"),
                                   berth__pathf(q, "%s.external", p), false);
    if (!f->file && !f->environment && !f->content && !f->external)
      berth__error(r, vm, p, "needs file: PATH, environment: VAR%s or external: true",
                   strcmp(section, "configs") ? "" : ", content: TEXT");
  }
}

void berth__read_project(struct berth__reader *r, const struct berth_node *root) {
  static const char *const top_keys[] = {"name",       "services", "infra",   "networks",
                                         "volumes",    "secrets",  "configs", "seeds",
                                         "namespaces", "version",  NULL};
  berth__check_keys(r, root, "", top_keys, NULL);
  struct berth_project *p = r->p;
  const struct berth_node *v = berth_node_get(root, "version");
  if (v)
    berth__warn(r, v, "version", "obsolete in the Compose Specification; ignored");
  p->name = berth__read_str(r, berth_node_get(root, "name"), "name");
  struct berth_image_refs images = {0};
  berth_err e = NULL;
  if (berth_images_load(&images, &e) < 0) {
    berth_err_free(&e);
    r->oom = true;
  }
  /* Infra first: services' depends_on and uses refer to it. */
  const struct berth_node *infra = berth__want_map(r, berth_node_get(root, "infra"), "infra");
  for (size_t i = 0; infra && i + 1 < infra->n; i += 2)
    berth__read_infra(r, infra->items[i], infra->items[i + 1], &images);
  berth_images_release(&images);
  read_top_networks(r, berth_node_get(root, "networks"));
  read_top_volumes(r, berth_node_get(root, "volumes"));
  read_top_files(r, berth_node_get(root, "secrets"), "secrets", &p->secrets, &p->n_secrets);
  read_top_files(r, berth_node_get(root, "configs"), "configs", &p->configs, &p->n_configs);
  const struct berth_node *services = berth_node_get(root, "services");
  if (!services && !infra)
    berth__error(r, root, NULL, "the manifest declares no services%s; add a services: section",
                 r->compose ? "" : " and no infra");
  const struct berth_node *sm = berth__want_map(r, services, "services");
  for (size_t i = 0; sm && i + 1 < sm->n; i += 2) {
    const struct berth_node *k = sm->items[i];
    for (size_t j = 0; j < p->n_infra; j++)
      if (!strcmp(p->infra[j].name, k->value))
        berth__error(r, k, "services", "\"%s\" is both a service and an infra instance; rename one",
                     k->value);
    read_service(r, root, k, sm->items[i + 1]);
  }
  /* Volumes a berth.yaml names without declaring are declared for it. */
  for (size_t i = 0; !r->compose && i < p->n_services; i++)
    for (size_t m = 0; m < p->services[i].n_mounts; m++) {
      const struct berth_mount *mt = &p->services[i].mounts[m];
      if (mt->type != BERTH_MOUNT_T_VOLUME || !mt->source)
        continue;
      bool have = false;
      for (size_t k = 0; k < p->n_volumes; k++)
        have |= !strcmp(p->volumes[k].name, mt->source);
      if (!have) {
        struct berth_volume *vol = berth__grow(r, &p->volumes, &p->n_volumes, sizeof(*vol));
        if (vol) {
          vol->name = berth__strdup(r, mt->source);
          vol->driver = berth__strdup(r, "local");
        }
      }
    }
  /* The default network, when some service is on it. */
  bool uses_default = false;
  for (size_t i = 0; i < p->n_services; i++)
    for (size_t k = 0; k < p->services[i].n_networks; k++)
      uses_default |= !strcmp(p->services[i].networks[k].network, "default");
  bool have_default = false;
  for (size_t k = 0; k < p->n_networks; k++)
    have_default |= !strcmp(p->networks[k].name, "default");
  if (uses_default && !have_default) {
    struct berth_network *net = berth__grow(r, &p->networks, &p->n_networks, sizeof(*net));
    if (net) {
      net->name = berth__strdup(r, "default");
      net->driver = berth__strdup(r, "bridge");
    }
  }
  check_uses(r);
  const struct berth_node *seeds = berth_node_get(root, "seeds");
  const struct berth_node *ns = berth_node_get(root, "namespaces");
  if (seeds && !(p->seeds_json = node_json(seeds)))
    r->oom = true;
  if (ns && !(p->namespaces_json = node_json(ns)))
    r->oom = true;
}
