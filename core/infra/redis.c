/* redis: a password (the manifest's or the state's) and a persistence
 * mode. Nothing to provision. The password is in a config file written
 * into the container before it starts (the official image's
 * /usr/local/etc/redis/redis.conf, given as redis-server's first
 * argument), not --requirepass: the command is shown by `docker inspect`
 * and by ps on the host, and so would the environment be. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "cleanup.h"
#include "infra.h"
#include "manifest-internal.h"

static void read_options(struct berth__reader *r, struct berth_infra *in,
                         const struct berth_node *m, const char *path) {
  char q[BERTH__PATH_MAX];
  in->password =
      berth__read_secret(r, berth_node_get(m, "password"), berth__pathf(q, "%s.password", path));
  in->persistence =
      berth__read_str(r, berth_node_get(m, "persistence"), berth__pathf(q, "%s.persistence", path));
  if (!in->persistence)
    in->persistence = berth__strdup(r, "none");
  else if (strcmp(in->persistence, "none") && strcmp(in->persistence, "rdb") &&
           strcmp(in->persistence, "aof"))
    berth__error(r, berth_node_get(m, "persistence"), q,
                 "unknown persistence \"%s\"; use none, rdb or aof", in->persistence);
}

/* The config file: requirepass in double quotes, in which redis's
 * config parser (sdssplitargs) reads \\xHH, so every byte but plain
 * printable ones is written as one. */
static int conf_of(const char *pw, char **ret, berth_err *err) {
  struct berth_buf b = BERTH_BUF_INIT(BERTH__SECRET_MAX * 4 + 64);
  int r = berth_buf_addf(&b, "requirepass \"");
  for (const unsigned char *c = (const unsigned char *)pw; *c && r >= 0; c++)
    r = *c >= 0x20 && *c < 0x7f && *c != '"' && *c != '\\' ? berth_buf_add(&b, c, 1)
                                                           : berth_buf_addf(&b, "\\x%02x", *c);
  if (r >= 0)
    r = berth_buf_addf(&b, "\"\n");
  if (r < 0) {
    berth_buf_release(&b);
    return berth_err_set(err, -r, "the password is too long for the config file");
  }
  *ret = berth_buf_detach(&b);
  return 0;
}

static const char conf_path[] = "/usr/local/etc/redis/redis.conf";

static int container(const struct berth__infra_ctx *c, struct berth__infra_container *ret,
                     berth_err *err) {
  const struct berth_infra *in = c->in;
  _cleanup_free_ char *pw = NULL;
  int r = berth__infra_secret(c, in->password, "password", &pw, err);
  if (r < 0)
    return r;
  if ((r = conf_of(pw, &ret->file, err)) < 0)
    return berth_err_wrap(err, "infra %s", in->name);
  ret->file_path = conf_path;
  const char *persistence = in->persistence ? in->persistence : "none";
  struct berth_strv *cmd = &ret->cmd;
  r = berth_strv_push(cmd, "redis-server");
  if (r >= 0)
    r = berth_strv_push(cmd, conf_path);
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
    .seeds = 1u << BERTH_SEED_REDIS,
};
