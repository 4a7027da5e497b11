/* Containers: create, start, stop, kill, remove, inspect, list, wait, logs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "docker-internal.h"

static bool add(cJSON *o, const char *key, cJSON *item) {
  if (!item)
    return false;
  if (!cJSON_AddItemToObject(o, key, item)) {
    cJSON_Delete(item);
    return false;
  }
  return true;
}

static bool add_ports(cJSON *config, cJSON *host, const struct berth_docker_container_spec *s) {
  if (!s->n_ports)
    return true;
  cJSON *exposed = cJSON_AddObjectToObject(config, "ExposedPorts");
  cJSON *bindings = cJSON_AddObjectToObject(host, "PortBindings");
  if (!exposed || !bindings)
    return false;
  for (size_t i = 0; i < s->n_ports; i++) {
    const struct berth_docker_port *p = &s->ports[i];
    char key[32], hp[16];
    snprintf(key, sizeof(key), "%u/%s", p->container_port, p->proto ? p->proto : "tcp");
    if (p->host_port_end > p->host_port)
      snprintf(hp, sizeof(hp), "%u-%u", p->host_port, p->host_port_end);
    else
      snprintf(hp, sizeof(hp), "%u", p->host_port);
    if (!cJSON_GetObjectItemCaseSensitive(exposed, key) && !cJSON_AddObjectToObject(exposed, key))
      return false;
    cJSON *list = cJSON_GetObjectItemCaseSensitive(bindings, key);
    if (!list && !(list = cJSON_AddArrayToObject(bindings, key)))
      return false;
    cJSON *b = cJSON_CreateObject();
    if (!b || !cJSON_AddItemToArray(list, b) ||
        !cJSON_AddStringToObject(b, "HostIp", p->host_ip ? p->host_ip : "127.0.0.1") ||
        !cJSON_AddStringToObject(b, "HostPort", p->host_port ? hp : ""))
      return false;
  }
  return true;
}

static bool add_mounts(cJSON *host, const struct berth_docker_container_spec *s) {
  if (!s->n_mounts)
    return true;
  cJSON *mounts = cJSON_AddArrayToObject(host, "Mounts");
  if (!mounts)
    return false;
  static const char *const types[] = {"bind", "volume", "tmpfs"};
  for (size_t i = 0; i < s->n_mounts; i++) {
    const struct berth_docker_mount *m = &s->mounts[i];
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(mounts, o) ||
        !cJSON_AddStringToObject(o, "Type", types[m->type]) ||
        !cJSON_AddStringToObject(o, "Target", m->target) ||
        (m->source && m->type != BERTH_MOUNT_TMPFS &&
         !cJSON_AddStringToObject(o, "Source", m->source)) ||
        !cJSON_AddBoolToObject(o, "ReadOnly", m->read_only))
      return false;
    if (m->type == BERTH_MOUNT_TMPFS && m->tmpfs_size) {
      cJSON *to = cJSON_AddObjectToObject(o, "TmpfsOptions");
      if (!to || !cJSON_AddNumberToObject(to, "SizeBytes", (double)m->tmpfs_size))
        return false;
    }
  }
  return true;
}

static bool add_healthcheck(cJSON *config, const struct berth_docker_healthcheck *h) {
  if (!h)
    return true;
  cJSON *o = cJSON_AddObjectToObject(config, "Healthcheck");
  return o && add(o, "Test", berth__string_array(h->test)) &&
         cJSON_AddNumberToObject(o, "Interval", (double)h->interval_ns) &&
         cJSON_AddNumberToObject(o, "Timeout", (double)h->timeout_ns) &&
         cJSON_AddNumberToObject(o, "StartPeriod", (double)h->start_period_ns) &&
         cJSON_AddNumberToObject(o, "Retries", h->retries);
}

static bool add_network(cJSON *body, const struct berth_docker_container_spec *s) {
  if (!s->network)
    return true;
  cJSON *nc = cJSON_AddObjectToObject(body, "NetworkingConfig");
  cJSON *eps = nc ? cJSON_AddObjectToObject(nc, "EndpointsConfig") : NULL;
  cJSON *ep = eps ? cJSON_AddObjectToObject(eps, s->network) : NULL;
  return ep && (!s->aliases || add(ep, "Aliases", berth__string_array(s->aliases)));
}

int berth_docker_container_body(const struct berth_docker_container_spec *s, cJSON **ret,
                                berth_err *err) {
  if (!s->image)
    return berth_err_set(err, BERTH_E_INVALID, "a container needs an image");
  for (size_t i = 0; i < s->n_mounts; i++)
    if (!s->mounts[i].target || !*s->mounts[i].target)
      return berth_err_set(err, BERTH_E_INVALID, "mount %zu of %s has no target path", i + 1,
                           s->name ? s->name : s->image);
  _cleanup_json_ cJSON *b = cJSON_CreateObject();
  cJSON *host = b ? cJSON_AddObjectToObject(b, "HostConfig") : NULL;
  bool ok = host && cJSON_AddStringToObject(b, "Image", s->image);
  ok = ok && (!s->cmd || add(b, "Cmd", berth__string_array(s->cmd)));
  ok = ok && (!s->entrypoint || add(b, "Entrypoint", berth__string_array(s->entrypoint)));
  ok = ok && (!s->env || add(b, "Env", berth__string_array(s->env)));
  ok = ok && add(b, "Labels", berth__kv_object(s->labels));
  ok = ok && (!s->hostname || cJSON_AddStringToObject(b, "Hostname", s->hostname));
  ok = ok && (!s->user || cJSON_AddStringToObject(b, "User", s->user));
  ok = ok && (!s->working_dir || cJSON_AddStringToObject(b, "WorkingDir", s->working_dir));
  ok = ok && (!s->stop_signal || cJSON_AddStringToObject(b, "StopSignal", s->stop_signal));
  ok = ok && (!s->stop_timeout || cJSON_AddNumberToObject(b, "StopTimeout", s->stop_timeout));
  ok = ok && (!s->tty || cJSON_AddBoolToObject(b, "Tty", true));
  ok = ok && (!s->open_stdin || cJSON_AddBoolToObject(b, "OpenStdin", true));
  ok = ok && add_ports(b, host, s) && add_mounts(host, s) && add_healthcheck(b, s->healthcheck);
  ok = ok && add_network(b, s);
  ok = ok && (!s->network || cJSON_AddStringToObject(host, "NetworkMode", s->network));
  ok = ok && (!s->init || cJSON_AddBoolToObject(host, "Init", true));
  if (ok && s->restart) {
    cJSON *rp = cJSON_AddObjectToObject(host, "RestartPolicy");
    ok = rp && cJSON_AddStringToObject(rp, "Name", s->restart) &&
         (strcmp(s->restart, "on-failure") != 0 ||
          cJSON_AddNumberToObject(rp, "MaximumRetryCount", s->restart_max_retries));
  }
  ok = ok && (!s->extra_hosts || add(host, "ExtraHosts", berth__string_array(s->extra_hosts)));
  ok = ok && (!s->cap_add || add(host, "CapAdd", berth__string_array(s->cap_add)));
  ok = ok && (!s->cap_drop || add(host, "CapDrop", berth__string_array(s->cap_drop)));
  if (ok && s->tmpfs) {
    cJSON *t = cJSON_AddObjectToObject(host, "Tmpfs");
    for (const char *const *p = s->tmpfs; ok && t && *p; p++) {
      const char *colon = strchr(*p, ':');
      char *path = strndup(*p, colon ? (size_t)(colon - *p) : strlen(*p));
      ok = path && cJSON_AddStringToObject(t, path, colon ? colon + 1 : "");
      free(path);
    }
    ok = ok && t;
  }
  if (ok && s->expose) {
    cJSON *exposed = cJSON_GetObjectItemCaseSensitive(b, "ExposedPorts");
    if (!exposed)
      exposed = cJSON_AddObjectToObject(b, "ExposedPorts");
    for (const char *const *p = s->expose; ok && exposed && *p; p++) {
      char key[48];
      snprintf(key, sizeof(key), "%s%s", *p, strchr(*p, '/') ? "" : "/tcp");
      ok = cJSON_GetObjectItemCaseSensitive(exposed, key) || cJSON_AddObjectToObject(exposed, key);
    }
    ok = ok && exposed;
  }
  ok = ok && (!s->nano_cpus || cJSON_AddNumberToObject(host, "NanoCpus", (double)s->nano_cpus));
  ok = ok && (!s->memory || cJSON_AddNumberToObject(host, "Memory", (double)s->memory));
  if (!ok)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  *ret = TAKE_PTR(b);
  return 0;
}

int berth_docker_container_create(struct berth_docker *d,
                                  const struct berth_docker_container_spec *s, char **ret_id,
                                  berth_err *err) {
  _cleanup_json_ cJSON *body = NULL, *answer = NULL;
  int r = berth_docker_container_body(s, &body, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *name = s->name ? berth__escape(s->name) : NULL;
  _cleanup_free_ char *path = NULL;
  if ((s->name && !name) ||
      asprintf(&path, "/containers/create%s%s", name ? "?name=" : "", name ? name : "") < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  r = berth__call_json(d, "POST", path, body, &answer, err);
  if (r < 0)
    return berth_err_wrap(err, "creating container %s", s->name ? s->name : s->image);
  const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(answer, "Id"));
  if (!id)
    return berth_err_set(err, BERTH_E_PROTOCOL, "the engine created a container without an Id");
  if (ret_id && !(*ret_id = strdup(id)))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  return 0;
}

/* POST /containers/{id}/{verb}{query}; 304 means "already so" -> 1.
 * grace_s: how long the engine waits on purpose before it answers. */
static int container_post(struct berth_docker *d, const char *id, const char *verb,
                          const char *query, int grace_s, berth_err *err) {
  _cleanup_free_ char *path = NULL;
  if (asprintf(&path, "/containers/%s/%s%s", id, verb, query ? query : "") < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  struct berth__req req = {
      .method = "POST", .path = path, .body_fd = -1, .extra_ms = (int64_t)grace_s * 1000};
  int r = berth__call_req(d, &req, NULL, err);
  if (r < 0)
    return berth_err_wrap(err, "%s container %s", verb, id);
  return r == 304 ? 1 : 0;
}

int berth_docker_container_start(struct berth_docker *d, const char *id, berth_err *err) {
  return container_post(d, id, "start", NULL, 0, err);
}

int berth_docker_container_stop(struct berth_docker *d, const char *id, int timeout_s,
                                berth_err *err) {
  char q[32];
  snprintf(q, sizeof(q), "?t=%d", timeout_s);
  /* Without t the engine uses the container's StopTimeout (10 s unless
   * set, and berth sets it from stop_grace_period, at most 24 h). */
  return container_post(d, id, "stop", timeout_s >= 0 ? q : NULL,
                        timeout_s >= 0 ? timeout_s : 24 * 3600, err);
}

int berth_docker_container_restart(struct berth_docker *d, const char *id, int timeout_s,
                                   berth_err *err) {
  char q[32];
  snprintf(q, sizeof(q), "?t=%d", timeout_s);
  return container_post(d, id, "restart", timeout_s >= 0 ? q : NULL,
                        timeout_s >= 0 ? timeout_s : 24 * 3600, err);
}

int berth_docker_container_kill(struct berth_docker *d, const char *id, const char *signal,
                                berth_err *err) {
  _cleanup_free_ char *q = NULL;
  if (signal && asprintf(&q, "?signal=%s", signal) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  return container_post(d, id, "kill", q, 0, err);
}

int berth_docker_container_remove(struct berth_docker *d, const char *id, bool force, bool volumes,
                                  berth_err *err) {
  _cleanup_free_ char *path = NULL;
  if (asprintf(&path, "/containers/%s?force=%d&v=%d", id, force, volumes) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int r = berth__call_json(d, "DELETE", path, NULL, NULL, err);
  return r < 0 ? berth_err_wrap(err, "removing container %s", id) : 0;
}

int berth_docker_container_inspect(struct berth_docker *d, const char *id, cJSON **ret,
                                   berth_err *err) {
  _cleanup_free_ char *path = NULL;
  if (asprintf(&path, "/containers/%s/json", id) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int r = berth__call_json(d, "GET", path, NULL, ret, err);
  return r < 0 ? r : 0;
}

int berth_docker_container_list(struct berth_docker *d, const char *const *labels, bool all,
                                cJSON **ret, berth_err *err) {
  static const char *const keys[] = {"Id", NULL};
  int r = berth__list(d, all ? "/containers/json?all=1" : "/containers/json", labels, ret, err);
  if (r >= 0 && (r = berth__check_list(*ret, "GET /containers/json", "container", keys, err)) < 0)
    *ret = (cJSON_Delete(*ret), NULL);
  return r;
}

int berth_docker_container_wait(struct berth_docker *d, const char *id, const char *condition,
                                int *ret_status, berth_err *err) {
  _cleanup_free_ char *path = NULL;
  _cleanup_json_ cJSON *answer = NULL;
  if (asprintf(&path, "/containers/%s/wait?condition=%s", id,
               condition ? condition : "not-running") < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  /* The answer comes when the container stops: no limit. */
  struct berth__req req = {.method = "POST", .path = path, .body_fd = -1, .patience = BERTH__QUIET};
  int r = berth__call_req(d, &req, &answer, err);
  if (r < 0)
    return berth_err_wrap(err, "waiting for container %s", id);
  const cJSON *werr = cJSON_GetObjectItemCaseSensitive(answer, "Error");
  const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(werr, "Message"));
  if (msg && *msg)
    return berth_err_set(err, BERTH_E_API, "waiting for container %s: %s", id, msg);
  const cJSON *code = cJSON_GetObjectItemCaseSensitive(answer, "StatusCode");
  if (!cJSON_IsNumber(code))
    return berth_err_set(err, BERTH_E_PROTOCOL, "the engine's wait answer has no StatusCode");
  if (ret_status)
    *ret_status = code->valueint;
  return 0;
}

static int on_log_data(const char *data, size_t len, void *ud, berth_err *err) {
  return berth__demux_feed(ud, data, len, err);
}

int berth_docker_container_logs(struct berth_docker *d, const char *id,
                                const struct berth_docker_logs_opts *o, berth_docker_output_fn fn,
                                void *ud, berth_err *err) {
  /* A TTY container's log is one raw stream: ask the engine which it is. */
  _cleanup_json_ cJSON *info = NULL;
  int r = berth_docker_container_inspect(d, id, &info, err);
  if (r < 0)
    return berth_err_wrap(err, "reading logs of %s", id);
  const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(info, "Config");
  bool tty = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "Tty"));
  bool both = !o->stdout_ && !o->stderr_;
  _cleanup_free_ char *path = NULL;
  char tail[24] = "all";
  if (o->tail >= 0)
    snprintf(tail, sizeof(tail), "%d", o->tail);
  if (asprintf(&path,
               "/containers/%s/logs?stdout=%d&stderr=%d&follow=%d&timestamps=%d&tail=%s"
               "&since=%" PRId64,
               id, both || o->stdout_, both || o->stderr_, o->follow, o->timestamps, tail,
               o->since) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  struct berth__demux m;
  berth__demux_init(&m, tty, fn, ud);
  struct berth__resp resp = {.body = BERTH_BUF_INIT(0)};
  struct berth__req req = {.method = "GET",
                           .path = path,
                           .body_fd = -1,
                           .on_data = on_log_data,
                           .ud = &m,
                           /* A follower waits for lines as long as it is asked to. */
                           .patience = o->follow ? BERTH__QUIET : BERTH__CALL};
  r = berth__request(d, &req, &resp, err);
  if (r < 0)
    return berth_err_wrap(err, "reading logs of %s", id);
  return 0;
}
