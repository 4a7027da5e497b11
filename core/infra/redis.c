/* redis: a password (the manifest's or the state's) and a persistence
 * mode. Nothing to provision. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "infra.h"
#include "manifest-internal.h"

static void read_options(struct berth__reader *r, struct berth_infra *in,
                         const struct berth_node *m, const char *path) {
  char q[BERTH__PATH_MAX];
  in->password =
      berth__read_str(r, berth_node_get(m, "password"), berth__pathf(q, "%s.password", path));
  in->persistence =
      berth__read_str(r, berth_node_get(m, "persistence"), berth__pathf(q, "%s.persistence", path));
  if (!in->persistence)
    in->persistence = berth__strdup(r, "none");
  else if (strcmp(in->persistence, "none") && strcmp(in->persistence, "rdb") &&
           strcmp(in->persistence, "aof"))
    berth__error(r, berth_node_get(m, "persistence"), q,
                 "unknown persistence \"%s\"; use none, rdb or aof", in->persistence);
}

static int container(const struct berth__infra_ctx *c, struct berth__infra_container *ret,
                     berth_err *err) {
  const struct berth_infra *in = c->in;
  _cleanup_free_ char *pw = NULL;
  int r = berth__infra_secret(c, in->password, "password", &pw, err);
  if (r < 0)
    return r;
  const char *persistence = in->persistence ? in->persistence : "none";
  struct berth_strv *cmd = &ret->cmd;
  r = berth_strv_push(cmd, "redis-server");
  if (r >= 0)
    r = berth_strv_push(cmd, "--requirepass");
  if (r >= 0)
    r = berth_strv_push(cmd, pw);
  if (r >= 0 && !strcmp(persistence, "none")) {
    const char *const none[] = {"--save", "", "--appendonly", "no"};
    for (size_t i = 0; i < 4 && r >= 0; i++)
      r = berth_strv_push(cmd, none[i]);
  } else if (r >= 0 && !strcmp(persistence, "aof")) {
    r = berth_strv_push(cmd, "--appendonly");
    if (r >= 0)
      r = berth_strv_push(cmd, "yes");
  }
  if (r < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  ret->data_target = "/data";
  ret->ports[ret->n_ports++] = 6379;
  ret->probe_password = TAKE_PTR(pw);
  return 0;
}

static int url(const struct berth__infra_ctx *c, const struct berth_use *use, const char *host,
               uint16_t port, char **ret, berth_err *err) {
  _cleanup_free_ char *pw = NULL, *epw = NULL;
  int r = berth__infra_secret(c, c->in->password, "password", &pw, err);
  if (r < 0)
    return r;
  if (!(epw = berth__pct(pw)) || asprintf(ret, "redis://:%s@%s:%u/0", epw, host, port) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  return 0;
}

static const char *const keys[] = {"password", "persistence", NULL};

const struct berth__infra_kind berth__infra_redis = {
    .name = "redis",
    .id = BERTH_INFRA_REDIS,
    .version = "7",
    .image_key = "BERTH_REDIS_IMAGE",
    .port = 6379,
    .scheme = "redis",
    .env_var = "REDIS_URL",
    .keys = keys,
    .read_options = read_options,
    .container = container,
    .probe = BERTH_PROTO_REDIS,
    .provision_cmd = NULL, /* nothing to provision */
    .provision_key = NULL,
    .url = url,
    .seed = NULL,     /* the seed loader (next issue) */
    .snapshot = NULL, /* the snapshot (next issue) */
};
