/* The infra section: each instance's kind, version, image and the
 * options of its kind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/images.h"
#include "cleanup.h"
#include "manifest-internal.h"

static void read_databases(struct berth__reader *r, struct berth_infra *in,
                           const struct berth_node *n, const char *path) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  if (n->type != BERTH_NODE_SEQ) {
    berth__error(r, n, path, "expected a list of databases, found %s", berth_node_type_name(n));
    return;
  }
  static const char *const keys[] = {"name", "owner", "password", "schemas", "extensions", NULL};
  for (size_t i = 0; i < n->n; i++) {
    const struct berth_node *it = n->items[i];
    berth__pathf(p, "%s[%zu]", path, i);
    struct berth_pg_database *d = berth__grow(r, &in->databases, &in->n_databases, sizeof(*d));
    if (!d)
      return;
    if (berth__is_scalar(it)) {
      d->name = berth__strdup(r, it->value);
      continue;
    }
    const struct berth_node *m = berth__want_map(r, it, p);
    if (!m)
      continue;
    berth__check_keys(r, m, p, keys, NULL);
    d->name = berth__read_str(r, berth_node_get(m, "name"), berth__pathf(q, "%s.name", p));
    if (!d->name)
      berth__error(r, m, p, "a database needs a name");
    d->owner = berth__read_str(r, berth_node_get(m, "owner"), berth__pathf(q, "%s.owner", p));
    d->password =
        berth__read_str(r, berth_node_get(m, "password"), berth__pathf(q, "%s.password", p));
    berth__read_strv(r, berth_node_get(m, "schemas"), berth__pathf(q, "%s.schemas", p), &d->schemas,
                     false, false);
    berth__read_strv(r, berth_node_get(m, "extensions"), berth__pathf(q, "%s.extensions", p),
                     &d->extensions, false, false);
  }
}

static void read_mq_users(struct berth__reader *r, struct berth_infra *in,
                          const struct berth_node *n, const char *path) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX], t[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  if (n->type != BERTH_NODE_SEQ) {
    berth__error(r, n, path, "expected a list of users, found %s", berth_node_type_name(n));
    return;
  }
  static const char *const keys[] = {"name", "password", "tags", "permissions", NULL};
  static const char *const pkeys[] = {"configure", "write", "read", NULL};
  for (size_t i = 0; i < n->n; i++) {
    const struct berth_node *m =
        berth__want_map(r, n->items[i], berth__pathf(p, "%s[%zu]", path, i));
    if (!m)
      continue;
    berth__check_keys(r, m, p, keys, NULL);
    struct berth_mq_user *u = berth__grow(r, &in->users, &in->n_users, sizeof(*u));
    if (!u)
      return;
    u->name = berth__read_str(r, berth_node_get(m, "name"), berth__pathf(q, "%s.name", p));
    if (!u->name)
      berth__error(r, m, p, "a user needs a name");
    u->password =
        berth__read_str(r, berth_node_get(m, "password"), berth__pathf(q, "%s.password", p));
    berth__read_strv(r, berth_node_get(m, "tags"), berth__pathf(q, "%s.tags", p), &u->tags, true,
                     false);
    const struct berth_node *perms =
        berth__want_map(r, berth_node_get(m, "permissions"), berth__pathf(q, "%s.permissions", p));
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
      char *dflt[3] = {".*", ".*", ".*"};
      const char *names[3] = {"configure", "write", "read"};
      char **slots[3] = {&pm->configure, &pm->write, &pm->read};
      for (int k = 0; k < 3; k++) {
        char tp[BERTH__PATH_MAX];
        *slots[k] = pmm ? berth__read_str(r, berth_node_get(pmm, names[k]),
                                          berth__pathf(tp, "%s.%s", t, names[k]))
                        : NULL;
        if (!*slots[k])
          *slots[k] = berth__strdup(r, dflt[k]);
      }
      bool known = false;
      for (size_t h = 0; h < in->vhosts.n; h++)
        known |= !strcmp(in->vhosts.v[h], pm->vhost);
      if (!known && strcmp(pm->vhost, "/"))
        berth__error(r, vk, t, "the vhost \"%s\" is not in this instance's vhosts", pm->vhost);
    }
  }
}

void berth__read_infra(struct berth__reader *r, const struct berth_node *k,
                       const struct berth_node *n, const struct berth_image_refs *images) {
  char path[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  berth__pathf(path, "infra.%s", k->value);
  const struct berth_node *m = n;
  if (!berth_node_is_null(n) && n->type != BERTH_NODE_MAP) {
    berth__error(r, n, path, "expected a mapping (kind, version, ...), found %s",
                 berth_node_type_name(n));
    return;
  }
  static const char *const keys[] = {"kind",  "version",    "image",    "databases",   "vhosts",
                                     "users", "management", "password", "persistence", NULL};
  if (m)
    berth__check_keys(r, m, path, keys, NULL);
  _cleanup_free_ char *kind =
      berth__read_str(r, berth_node_get(m, "kind"), berth__pathf(q, "%s.kind", path));
  const char *kname = kind ? kind : k->value; /* infra: {postgres: {}} names its kind */
  enum berth_infra_kind kk;
  if (!strcmp(kname, "postgres"))
    kk = BERTH_INFRA_POSTGRES;
  else if (!strcmp(kname, "redis"))
    kk = BERTH_INFRA_REDIS;
  else if (!strcmp(kname, "rabbitmq"))
    kk = BERTH_INFRA_RABBITMQ;
  else {
    berth__error(r, kind ? berth_node_get(m, "kind") : k, berth__pathf(q, "%s.kind", path),
                 kind ? "unknown kind \"%s\"; berth knows postgres, redis and rabbitmq"
                      : "\"%s\" is not a kind; add kind: postgres, redis or rabbitmq",
                 kname);
    return;
  }
  struct berth_project *p = r->p;
  struct berth_infra *in = berth__grow(r, &p->infra, &p->n_infra, sizeof(*in));
  if (!in)
    return;
  in->name = berth__strdup(r, k->value);
  in->kind = kk;
  in->pos = berth__pos_of(k);
  static const char *const versions[] = {"15", "7", "3"};
  static const char *const image_keys[] = {"BERTH_POSTGRES_IMAGE", "BERTH_REDIS_IMAGE",
                                           "BERTH_RABBITMQ_IMAGE"};
  in->version =
      berth__read_str(r, berth_node_get(m, "version"), berth__pathf(q, "%s.version", path));
  if (!in->version)
    in->version = berth__strdup(r, versions[kk]);
  in->image = berth__read_str(r, berth_node_get(m, "image"), berth__pathf(q, "%s.image", path));
  if (!in->image) {
    /* The default image is the one images.env names for the kind; a
     * version other than the default names the official image. */
    if (!strcmp(in->version, versions[kk]) && berth_images_get(images, image_keys[kk]))
      in->image = berth__strdup(r, berth_images_get(images, image_keys[kk]));
    else if (asprintf(&in->image, "%s:%s", kname, in->version) < 0)
      r->oom = true;
  }
  const char *only[] = {"databases", "vhosts", "users", "management", "password", "persistence"};
  const enum berth_infra_kind owner[] = {BERTH_INFRA_POSTGRES, BERTH_INFRA_RABBITMQ,
                                         BERTH_INFRA_RABBITMQ, BERTH_INFRA_RABBITMQ,
                                         BERTH_INFRA_REDIS,    BERTH_INFRA_REDIS};
  for (size_t i = 0; i < sizeof(only) / sizeof(*only); i++) {
    const struct berth_node *o = berth_node_get(m, only[i]);
    if (o && owner[i] != kk)
      berth__error(r, o, berth__pathf(q, "%s.%s", path, only[i]), "%s is for %s instances, not %s",
                   only[i], berth_infra_kind_name(owner[i]), kname);
  }
  if (kk == BERTH_INFRA_POSTGRES)
    read_databases(r, in, berth_node_get(m, "databases"), berth__pathf(q, "%s.databases", path));
  if (kk == BERTH_INFRA_RABBITMQ) {
    berth__read_strv(r, berth_node_get(m, "vhosts"), berth__pathf(q, "%s.vhosts", path),
                     &in->vhosts, false, false);
    read_mq_users(r, in, berth_node_get(m, "users"), berth__pathf(q, "%s.users", path));
    in->management = berth__read_bool(r, berth_node_get(m, "management"),
                                      berth__pathf(q, "%s.management", path), false);
  }
  if (kk == BERTH_INFRA_REDIS) {
    in->password =
        berth__read_str(r, berth_node_get(m, "password"), berth__pathf(q, "%s.password", path));
    in->persistence = berth__read_str(r, berth_node_get(m, "persistence"),
                                      berth__pathf(q, "%s.persistence", path));
    if (!in->persistence)
      in->persistence = berth__strdup(r, "none");
    else if (strcmp(in->persistence, "none") && strcmp(in->persistence, "rdb") &&
             strcmp(in->persistence, "aof"))
      berth__error(r, berth_node_get(m, "persistence"), q,
                   "unknown persistence \"%s\"; use none, rdb or aof", in->persistence);
  }
}
