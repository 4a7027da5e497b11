/* rabbitmq: vhosts, users with tags and per-vhost permissions, and the
 * management plugin. The first vhost is the image's default one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "cleanup.h"
#include "infra.h"
#include "manifest-internal.h"

static void read_permissions(struct berth__reader *r, struct berth_infra *in,
                             struct berth_mq_user *u, const struct berth_node *perms,
                             const char *q) {
  static const char *const pkeys[] = {"configure", "write", "read", NULL};
  char t[BERTH__PATH_MAX];
  for (size_t j = 0; perms && j + 1 < perms->n; j += 2) {
    const struct berth_node *vk = perms->items[j], *pv = perms->items[j + 1];
    berth__pathf(t, "%s.%s", q, vk->value);
    struct berth_mq_permission *pm =
        berth__grow(r, &u->permissions, &u->n_permissions, sizeof(*pm));
    if (!pm)
      return;
    pm->vhost = berth__strdup(r, vk->value);
    const struct berth_node *pmm = berth__want_map(r, pv, t);
    if (pmm)
      berth__check_keys(r, pmm, t, pkeys, NULL);
    char **slots[3] = {&pm->configure, &pm->write, &pm->read};
    for (int k = 0; k < 3; k++) {
      char tp[BERTH__PATH_MAX];
      *slots[k] = pmm ? berth__read_str(r, berth_node_get(pmm, pkeys[k]),
                                        berth__pathf(tp, "%s.%s", t, pkeys[k]))
                      : NULL;
      if (!*slots[k])
        *slots[k] = berth__strdup(r, ".*");
    }
    if (pm->vhost && strcmp(pm->vhost, "/") && berth_strv_find(&in->vhosts, pm->vhost) < 0)
      berth__error(r, vk, t, "the vhost \"%s\" is not in this instance's vhosts", pm->vhost);
  }
}

static void read_users(struct berth__reader *r, struct berth_infra *in, const struct berth_node *n,
                       const char *path) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  if (n->type != BERTH_NODE_SEQ) {
    berth__error(r, n, path, "expected a list of users, found %s", berth_node_type_name(n));
    return;
  }
  static const char *const keys[] = {"name", "password", "tags", "permissions", NULL};
  for (size_t i = 0; i < n->n; i++) {
    const struct berth_node *m =
        berth__want_map(r, n->items[i], berth__pathf(p, "%s[%zu]", path, i));
    if (!m)
      continue;
    berth__check_keys(r, m, p, keys, NULL);
    struct berth_mq_user *u = berth__grow(r, &in->users, &in->n_users, sizeof(*u));
    if (!u)
      return;
    const struct berth_node *name = berth_node_get(m, "name"), *tags = berth_node_get(m, "tags");
    u->name = berth__read_str(r, name, berth__pathf(q, "%s.name", p));
    if (!u->name)
      berth__error(r, m, p, "a user needs a name");
    else
      berth__check_ident(r, name, q, "user name", BERTH__IDENT_NAME);
    u->password =
        berth__read_secret(r, berth_node_get(m, "password"), berth__pathf(q, "%s.password", p));
    berth__read_strv(r, tags, berth__pathf(q, "%s.tags", p), &u->tags, true, false);
    berth__check_idents(r, tags, q, "user tag", BERTH__IDENT_NAME);
    read_permissions(
        r, in, u,
        berth__want_map(r, berth_node_get(m, "permissions"), berth__pathf(q, "%s.permissions", p)),
        q);
  }
}

static void read_options(struct berth__reader *r, struct berth_infra *in,
                         const struct berth_node *m, const char *path) {
  char q[BERTH__PATH_MAX];
  const struct berth_node *vhosts = berth_node_get(m, "vhosts");
  berth__read_strv(r, vhosts, berth__pathf(q, "%s.vhosts", path), &in->vhosts, false, false);
  berth__check_idents(r, vhosts, q, "vhost name", BERTH__IDENT_VHOST);
  read_users(r, in, berth_node_get(m, "users"), berth__pathf(q, "%s.users", path));
  in->management = berth__read_bool(r, berth_node_get(m, "management"),
                                    berth__pathf(q, "%s.management", path), false);
}

static int user_password(const struct berth__infra_ctx *c, const struct berth_mq_user *u,
                         char **ret, berth_err *err) {
  char key[128];
  snprintf(key, sizeof(key), "user:%s", u->name);
  return berth__infra_secret(c, u->password, key, ret, err);
}

/* Every word of the script is single-quoted: names are checked plain
 * (the manifest's reader refused others; the model may come from
 * elsewhere), passwords and regular expressions shell-quoted. */
static int user_sh(const struct berth__infra_ctx *c, const struct berth_mq_user *u,
                   struct berth_buf *b, berth_err *err) {
  if (!berth__safe_ident(u->name))
    return berth_err_set(err, BERTH_E_INVALID, "infra %s: user \"%s\" is not a plain name",
                         c->in->name, u->name ? u->name : "");
  _cleanup_free_ char *pw = NULL, *qpw = NULL;
  int r = user_password(c, u, &pw, err);
  if (r < 0)
    return r;
  if ((r = berth__sh_quote(pw, &qpw, err)) < 0)
    return berth_err_wrap(err, "infra %s: the password of %s", c->in->name, u->name);
  r = berth_buf_addf(b,
                     "rabbitmqctl -q add_user '%s' %s 2>/dev/null || rabbitmqctl -q "
                     "change_password '%s' %s\n",
                     u->name, qpw, u->name, qpw);
  for (size_t t = 0; t < u->tags.n; t++)
    if (!berth__safe_ident(u->tags.v[t]))
      return berth_err_set(err, BERTH_E_INVALID, "infra %s: tag \"%s\" is not a plain name",
                           c->in->name, u->tags.v[t]);
  if (u->tags.n && r >= 0) {
    r = berth_buf_addf(b, "rabbitmqctl -q set_user_tags '%s'", u->name);
    for (size_t t = 0; t < u->tags.n && r >= 0; t++)
      r = berth_buf_addf(b, " '%s'", u->tags.v[t]);
    if (r >= 0)
      r = berth_buf_addf(b, "\n");
  }
  for (size_t k = 0; k < u->n_permissions && r >= 0; k++) {
    const struct berth_mq_permission *pm = &u->permissions[k];
    _cleanup_free_ char *cf = NULL, *w = NULL, *rd = NULL, *v = NULL;
    if (berth__sh_quote(pm->configure, &cf, err) < 0 || berth__sh_quote(pm->write, &w, err) < 0 ||
        berth__sh_quote(pm->read, &rd, err) < 0 || berth__sh_quote(pm->vhost, &v, err) < 0)
      return berth_err_wrap(err, "infra %s: the permissions of %s on %s", c->in->name, u->name,
                            pm->vhost);
    r = berth_buf_addf(b, "rabbitmqctl -q set_permissions -p %s '%s' %s %s %s\n", v, u->name, cf, w,
                       rd);
  }
  return r < 0 ? berth_err_set(err, -r, "infra %s: writing the provisioning script", c->in->name)
               : 0;
}

static int provision_sh(const struct berth__infra_ctx *c, char **ret, berth_err *err) {
  const struct berth_infra *in = c->in;
  struct berth_buf b = BERTH_BUF_INIT(1 << 20);
  int r = 0;
  /* The other vhosts, users and permissions need rabbitmqctl (idempotent
   * forms). The AMQP listener can answer while the broker is still
   * booting, when rabbitmqctl's commands fail: wait for the boot first.
   * A step's own error stays visible (the check comes first, so a
   * failing add is not hidden). */
  for (size_t i = 1; i < in->vhosts.n && r >= 0; i++) {
    const char *v = in->vhosts.v[i];
    if (strcmp(v, "/") && !berth__safe_ident(v)) {
      r = berth_err_set(err, BERTH_E_INVALID, "infra %s: vhost \"%s\" is not a plain name",
                        in->name, v);
      break;
    }
    /* Each step tolerates its object existing: a killed earlier up may
     * still be provisioning in the container at the same time. */
    if ((r = berth_buf_addf(&b,
                            "rabbitmqctl -q list_vhosts | grep -qx '%s' || rabbitmqctl -q "
                            "add_vhost '%s' || rabbitmqctl -q list_vhosts | grep -qx '%s'\n"
                            "rabbitmqctl -q set_permissions -p '%s' berth '.*' '.*' '.*'\n",
                            v, v, v, v)) < 0)
      r = berth_err_set(err, -r, "infra %s: writing the provisioning script", in->name);
  }
  for (size_t i = 0; i < in->n_users && r >= 0; i++)
    r = user_sh(c, &in->users[i], &b, err);
  if (r >= 0 && b.len) {
    struct berth_buf all = BERTH_BUF_INIT(1 << 20);
    if (berth_buf_addf(&all, "rabbitmqctl -q await_startup --timeout 120\n") < 0 ||
        berth_buf_add(&all, b.data, b.len) < 0)
      r = berth_err_set(err, BERTH_E_NOMEM, "infra %s: writing the provisioning script", in->name);
    berth_buf_release(&b);
    b = all;
  }
  if (r < 0 || !b.len) {
    berth_buf_release(&b);
    return r < 0 ? r : 0;
  }
  *ret = berth_buf_detach(&b);
  return 0;
}

static int container(const struct berth__infra_ctx *c, struct berth__infra_container *ret,
                     berth_err *err) {
  const struct berth_infra *in = c->in;
  _cleanup_free_ char *pw = NULL;
  int r = c->secret(c->ud, in->name, "password", &pw, err);
  if (r < 0)
    return r;
  if (berth_strv_push(&ret->env, "RABBITMQ_DEFAULT_USER=berth") < 0 ||
      berth_strv_pushf(&ret->env, "RABBITMQ_DEFAULT_PASS=%s", pw) < 0 ||
      berth_strv_pushf(&ret->env, "RABBITMQ_DEFAULT_VHOST=%s",
                       in->vhosts.n ? in->vhosts.v[0] : "/") < 0 ||
      (in->management && berth_strv_push(&ret->env, "RABBITMQ_ENABLE_MANAGEMENT=true") < 0))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  ret->data_target = "/var/lib/rabbitmq";
  ret->ports[ret->n_ports++] = 5672;
  if (in->management)
    ret->ports[ret->n_ports++] = 15672;
  return provision_sh(c, &ret->provision, err);
}

static int url(const struct berth__infra_ctx *c, const struct berth_use *use, const char *host,
               uint16_t port, char **ret, berth_err *err) {
  const struct berth_infra *in = c->in;
  const char *vhost = use->vhost ? use->vhost : in->vhosts.n ? in->vhosts.v[0] : "/";
  const struct berth_mq_user *who = NULL;
  for (size_t i = 0; i < in->n_users && !who; i++)
    for (size_t k = 0; k < in->users[i].n_permissions; k++)
      if (!strcmp(in->users[i].permissions[k].vhost, vhost))
        who = &in->users[i];
  _cleanup_free_ char *pw = NULL, *epw = NULL, *path = NULL;
  int r = who ? user_password(c, who, &pw, err) : c->secret(c->ud, in->name, "password", &pw, err);
  if (r < 0)
    return r;
  if (!(epw = berth__pct(pw)) || !(path = berth__pct(vhost)) ||
      asprintf(ret, "amqp://%s:%s@%s:%u/%s", who ? who->name : "berth", epw, host, port, path) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  return 0;
}

static const char *const keys[] = {"vhosts", "users", "management", NULL};
static const char *const sh[] = {"sh", "-e", NULL};

const struct berth__infra_kind berth__infra_rabbitmq = {
    .name = "rabbitmq",
    .id = BERTH_INFRA_RABBITMQ,
    .version = "3",
    .image_key = "BERTH_RABBITMQ_IMAGE",
    .port = 5672,
    .scheme = "amqp",
    .env_var = "AMQP_URL",
    .keys = keys,
    .read_options = read_options,
    .container = container,
    .probe = BERTH_PROTO_AMQP,
    .provision_cmd = sh,
    .provision_key = "x-berth-sh",
    .url = url,
    .seeds = (1u << BERTH_SEED_DEFINITIONS) | (1u << BERTH_SEED_MESSAGES),
};
