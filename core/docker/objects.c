/* Networks and volumes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "docker-internal.h"

/* GET/DELETE {base}/{name}{suffix}, or GET {base} filtered by labels. */
static int object_call(struct berth_docker *d, const char *method, const char *base,
                       const char *name, const char *suffix, cJSON **ret, berth_err *err) {
  _cleanup_free_ char *en = name ? berth__escape(name) : NULL;
  _cleanup_free_ char *path = NULL;
  if ((name && !en) ||
      asprintf(&path, "%s%s%s%s", base, en ? "/" : "", en ? en : "", suffix ? suffix : "") < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int r = berth__call_json(d, method, path, NULL, ret, err);
  return r < 0 ? r : 0;
}

int berth_docker_network_create(struct berth_docker *d, const struct berth_docker_network_spec *s,
                                char **ret_id, berth_err *err) {
  _cleanup_json_ cJSON *body = cJSON_CreateObject(), *answer = NULL;
  cJSON *labels = berth__kv_object(s->labels);
  bool ok = body && labels && cJSON_AddItemToObject(body, "Labels", labels);
  if (!ok)
    cJSON_Delete(labels);
  ok = ok && cJSON_AddStringToObject(body, "Name", s->name) &&
       cJSON_AddStringToObject(body, "Driver", s->driver ? s->driver : "bridge") &&
       cJSON_AddBoolToObject(body, "Internal", s->internal) &&
       /* A second create with the same name must fail, not duplicate. */
       cJSON_AddBoolToObject(body, "CheckDuplicate", true);
  if (!ok)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int r = berth__call_json(d, "POST", "/networks/create", body, &answer, err);
  if (r < 0)
    return berth_err_wrap(err, "creating network %s", s->name);
  const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(answer, "Id"));
  if (!id)
    return berth_err_set(err, BERTH_E_PROTOCOL, "the engine created a network without an Id");
  if (ret_id && !(*ret_id = strdup(id)))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  return 0;
}

int berth_docker_network_inspect(struct berth_docker *d, const char *name, cJSON **ret,
                                 berth_err *err) {
  return object_call(d, "GET", "/networks", name, NULL, ret, err);
}

int berth_docker_network_list(struct berth_docker *d, const char *const *labels, cJSON **ret,
                              berth_err *err) {
  static const char *const keys[] = {"Id", "Name", NULL};
  int r = berth__list(d, "/networks", labels, ret, err);
  if (r >= 0 && (r = berth__check_list(*ret, "GET /networks", "network", keys, err)) < 0)
    *ret = (cJSON_Delete(*ret), NULL);
  return r;
}

int berth_docker_network_remove(struct berth_docker *d, const char *name, berth_err *err) {
  int r = object_call(d, "DELETE", "/networks", name, NULL, NULL, err);
  return r < 0 ? berth_err_wrap(err, "removing network %s", name) : 0;
}

int berth_docker_network_connect(struct berth_docker *d, const char *network, const char *container,
                                 const char *const *aliases, berth_err *err) {
  _cleanup_json_ cJSON *body = cJSON_CreateObject();
  cJSON *ep = body ? cJSON_AddObjectToObject(body, "EndpointConfig") : NULL;
  cJSON *al = ep && aliases ? cJSON_AddArrayToObject(ep, "Aliases") : NULL;
  bool ok = ep && cJSON_AddStringToObject(body, "Container", container) && (!aliases || al);
  for (const char *const *a = aliases; ok && a && *a; a++)
    ok = cJSON_AddItemToArray(al, cJSON_CreateString(*a));
  _cleanup_free_ char *en = berth__escape(network);
  _cleanup_free_ char *path = NULL;
  if (!ok || !en || asprintf(&path, "/networks/%s/connect", en) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int r = berth__call_json(d, "POST", path, body, NULL, err);
  return r < 0 ? berth_err_wrap(err, "connecting %s to network %s", container, network) : 0;
}

int berth_docker_volume_create(struct berth_docker *d, const char *name, const char *const *labels,
                               cJSON **ret, berth_err *err) {
  _cleanup_json_ cJSON *body = cJSON_CreateObject();
  cJSON *l = berth__kv_object(labels);
  bool ok = body && l && cJSON_AddItemToObject(body, "Labels", l);
  if (!ok)
    cJSON_Delete(l);
  if (!ok || !cJSON_AddStringToObject(body, "Name", name))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int r = berth__call_json(d, "POST", "/volumes/create", body, ret, err);
  return r < 0 ? berth_err_wrap(err, "creating volume %s", name) : 0;
}

int berth_docker_volume_inspect(struct berth_docker *d, const char *name, cJSON **ret,
                                berth_err *err) {
  return object_call(d, "GET", "/volumes", name, NULL, ret, err);
}

int berth_docker_volume_list(struct berth_docker *d, const char *const *labels, cJSON **ret,
                             berth_err *err) {
  static const char *const keys[] = {"Name", NULL};
  int r = berth__list(d, "/volumes", labels, ret, err);
  if (r >= 0 && (r = berth__check_list(cJSON_GetObjectItemCaseSensitive(*ret, "Volumes"),
                                       "GET /volumes", "volume", keys, err)) < 0)
    *ret = (cJSON_Delete(*ret), NULL);
  return r;
}

int berth_docker_volume_remove(struct berth_docker *d, const char *name, bool force,
                               berth_err *err) {
  int r = object_call(d, "DELETE", "/volumes", name, force ? "?force=1" : NULL, NULL, err);
  return r < 0 ? berth_err_wrap(err, "removing volume %s", name) : 0;
}
