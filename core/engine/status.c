/* What runs now, from the engine's labels alone: ps, the summary of up,
 * and a service's container for logs and exec. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "engine-internal.h"

/* The host of a published port's URL: the address the engine bound, so
 * 0.0.0.0 and :: (every interface, open to the network) show as such; an
 * IPv6 address in brackets. No address is taken as every interface. */
static const char *url_host(const char *ip, char *buf, size_t size) {
  if (!ip || !*ip)
    return "0.0.0.0";
  if (strspn(ip, "0123456789abcdefABCDEF.:") != strlen(ip))
    return "(not an address)"; /* the engine's text is not printed */
  if (!strchr(ip, ':'))
    return ip;
  snprintf(buf, size, "[%s]", ip);
  return buf;
}

const char *berth__listed_health(const cJSON *c) {
  const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "Status"));
  return !status                                ? NULL
         : strstr(status, "(healthy)")          ? "healthy"
         : strstr(status, "(unhealthy)")        ? "unhealthy"
         : strstr(status, "(health: starting)") ? "starting"
                                                : NULL;
}
int berth__status(struct berth_docker *d, const char *project, const char *service,
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
    const char *rep = berth__label_of(c, BERTH_LABEL_REPLICA);
    const char *svc = berth__label_of(c, BERTH_LABEL_SERVICE);
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "Id"));
    const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "State"));
    /* The list has an Id in every entry (berth_docker_container_list);
     * the rest may be missing from an engine that is not Docker's. */
    s->service = strdup(svc ? svc : "?");
    s->replica = rep ? atoi(rep) : 1;
    s->id = strdup(id ? id : "?");
    s->container = name    ? strdup(name[0] == '/' ? name + 1 : name)
                   : s->id ? strndup(s->id, 12) /* as docker ps shows it */
                           : NULL;
    s->state = strdup(state ? state : "unknown");
    if (!s->service || !s->container || !s->id || !s->state)
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    s->ready_ms = -1;
    const cJSON *created = cJSON_GetObjectItemCaseSensitive(c, "Created");
    s->started_at =
        cJSON_IsNumber(created) && created->valuedouble > 0 && created->valuedouble < 9.2e18
            ? (int64_t)created->valuedouble
            : 0;
    const char *kind = berth__label_of(c, BERTH_LABEL_KIND);
    const char *health = berth__listed_health(c);
    if (health && !(s->health = strdup(health)))
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    if (status && !strncmp(status, "Exited (", 8))
      s->exit_code = atoi(status + 8);
    const cJSON *pt;
    cJSON_ArrayForEach (pt, cJSON_GetObjectItemCaseSensitive(c, "Ports")) {
      const cJSON *pub = cJSON_GetObjectItemCaseSensitive(pt, "PublicPort");
      const cJSON *priv = cJSON_GetObjectItemCaseSensitive(pt, "PrivatePort");
      const char *ip = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pt, "IP"));
      const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pt, "Type"));
      if (!cJSON_IsNumber(pub) || pub->valueint <= 0 || pub->valueint > 65535)
        continue;
      char **urls = realloc(s->urls, (s->n_urls + 1) * sizeof(*urls));
      if (!urls)
        return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
      s->urls = urls;
      int privp = cJSON_IsNumber(priv) ? priv->valueint : 0;
      const struct berth__infra_kind *k =
          privp > 0 && privp < 65536 ? berth__infra_kind_by_port((uint16_t)privp) : NULL;
      const char *scheme = type && !strcmp(type, "udp") ? "udp"
                           : k                          ? k->scheme
                           : privp == 443               ? "https"
                                                        : "http";
      char host[80];
      if (asprintf(&s->urls[s->n_urls], "%s://%s:%d", scheme, url_host(ip, host, sizeof(host)),
                   pub->valueint) < 0)
        return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
      s->n_urls++;
    }
    s->infra = berth__infra_kind_find(kind) && !berth__label_of(c, "com.docker.compose.service");
  }
  return 0;
}

int berth_engine_ps(const char *project, struct berth_status *ret, berth_err *err) {
  struct berth_docker *d = NULL;
  int r = berth_docker_open(&d, NULL, err);
  if (r >= 0)
    r = berth__status(d, project, NULL, ret, err);
  berth_docker_close(d);
  return r;
}

int berth_engine_container(const char *project, const char *service, int replica, char **ret_id,
                           berth_err *err) {
  struct berth_status st = {0};
  struct berth_docker *d = NULL;
  int r = berth_docker_open(&d, NULL, err);
  if (r >= 0)
    r = berth__status(d, project, service, &st, err);
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
