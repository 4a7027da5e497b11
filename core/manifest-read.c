/* The merged manifest document read into the model: the top-level keys
 * (one table, checked and read together) and the project-wide sections
 * (networks, volumes, secrets, configs); services in manifest-service.c,
 * infra in manifest-infra.c. A diagnostic for everything that is wrong, a
 * warning for everything berth does not support yet: nothing declared is
 * dropped silently. */
#include <stdlib.h>
#include <string.h>

#include "berth/images.h"
#include "cleanup.h"
#include "manifest-internal.h"

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

char *berth__node_json(const struct berth_node *n) {
  _cleanup_json_ cJSON *j = node_cjson(n);
  return j ? cJSON_PrintUnformatted(j) : NULL;
}

/* external: true, or external: {name: N} (Compose's older form). */
static void read_external(struct berth__reader *r, const struct berth_node *ext, const char *path,
                          bool *external, char **external_name) {
  char q[BERTH__PATH_MAX];
  if (ext->type == BERTH_NODE_MAP) {
    *external = true;
    *external_name =
        berth__read_str(r, berth_node_get(ext, "name"), berth__pathf(q, "%s.name", path));
  } else {
    *external = berth__read_bool(r, ext, path, false);
  }
}

static void read_net_driver(struct berth__reader *r, void *obj, const struct berth_node *v,
                            const char *path) {
  ((struct berth_network *)obj)->driver = berth__read_str(r, v, path);
}

static void read_net_external(struct berth__reader *r, void *obj, const struct berth_node *v,
                              const char *path) {
  struct berth_network *net = obj;
  read_external(r, v, path, &net->external, &net->external_name);
}

/* name: the engine's name of the network, unless external: {name} gave one. */
static void read_net_name(struct berth__reader *r, void *obj, const struct berth_node *v,
                          const char *path) {
  struct berth_network *net = obj;
  char *name = berth__read_str(r, v, path);
  if (name && !net->external_name)
    net->external_name = name;
  else
    free(name);
}

static void read_net_internal(struct berth__reader *r, void *obj, const struct berth_node *v,
                              const char *path) {
  ((struct berth_network *)obj)->internal = berth__read_bool(r, v, path, false);
}

static void read_net_labels(struct berth__reader *r, void *obj, const struct berth_node *v,
                            const char *path) {
  berth__read_kv(r, v, path, &((struct berth_network *)obj)->labels, false);
}

static void read_top_networks(struct berth__reader *r, void *obj, const struct berth_node *n,
                              const char *path) {
  static const struct berth__key keys[] = {
      {"driver", read_net_driver, 0},
      {"external", read_net_external, 0},
      {"name", read_net_name, 0},
      {"internal", read_net_internal, 0},
      {"labels", read_net_labels, 0},
      {"ipam", NULL, BERTH__KEY_UNSUPPORTED},
      {"attachable", NULL, BERTH__KEY_UNSUPPORTED},
      {"driver_opts", NULL, BERTH__KEY_UNSUPPORTED},
      {"enable_ipv6", NULL, BERTH__KEY_UNSUPPORTED},
      {"enable_ipv4", NULL, BERTH__KEY_UNSUPPORTED},
      {0},
  };
  (void)obj;
  char p[BERTH__PATH_MAX];
  const struct berth_node *m = berth__want_map(r, n, path);
  struct berth_project *pr = r->p;
  for (size_t i = 0; m && i + 1 < m->n; i += 2) {
    const struct berth_node *k = m->items[i], *v = m->items[i + 1];
    berth__pathf(p, "networks.%s", k->value);
    struct berth_network *net = berth__grow(r, &pr->networks, &pr->n_networks, sizeof(*net));
    if (!net)
      return;
    net->name = berth__strdup(r, k->value);
    const struct berth_node *vm = berth__want_map(r, v, p);
    if (vm)
      berth__read_keys(r, vm, p, keys, net);
    if (!net->driver)
      net->driver = berth__strdup(r, "bridge");
  }
}

static void read_vol_driver(struct berth__reader *r, void *obj, const struct berth_node *v,
                            const char *path) {
  ((struct berth_volume *)obj)->driver = berth__read_str(r, v, path);
}

static void read_vol_external(struct berth__reader *r, void *obj, const struct berth_node *v,
                              const char *path) {
  struct berth_volume *vol = obj;
  read_external(r, v, path, &vol->external, &vol->external_name);
}

static void read_vol_name(struct berth__reader *r, void *obj, const struct berth_node *v,
                          const char *path) {
  struct berth_volume *vol = obj;
  char *name = berth__read_str(r, v, path);
  if (name && !vol->external_name)
    vol->external_name = name;
  else
    free(name);
}

static void read_vol_labels(struct berth__reader *r, void *obj, const struct berth_node *v,
                            const char *path) {
  berth__read_kv(r, v, path, &((struct berth_volume *)obj)->labels, false);
}

static void read_top_volumes(struct berth__reader *r, void *obj, const struct berth_node *n,
                             const char *path) {
  static const struct berth__key keys[] = {
      {"driver", read_vol_driver, 0},
      {"external", read_vol_external, 0},
      {"name", read_vol_name, 0},
      {"labels", read_vol_labels, 0},
      {"driver_opts", NULL, BERTH__KEY_UNSUPPORTED},
      {0},
  };
  (void)obj;
  char p[BERTH__PATH_MAX];
  const struct berth_node *m = berth__want_map(r, n, path);
  struct berth_project *pr = r->p;
  for (size_t i = 0; m && i + 1 < m->n; i += 2) {
    const struct berth_node *k = m->items[i], *v = m->items[i + 1];
    berth__pathf(p, "volumes.%s", k->value);
    struct berth_volume *vol = berth__grow(r, &pr->volumes, &pr->n_volumes, sizeof(*vol));
    if (!vol)
      return;
    vol->name = berth__strdup(r, k->value);
    const struct berth_node *vm = berth__want_map(r, v, p);
    if (vm)
      berth__read_keys(r, vm, p, keys, vol);
    if (!vol->driver)
      vol->driver = berth__strdup(r, "local");
  }
}

static void read_file_file(struct berth__reader *r, void *obj, const struct berth_node *v,
                           const char *path) {
  struct berth_file_def *f = obj;
  _cleanup_free_ char *file = berth__read_str(r, v, path);
  if (file && !(f->file = berth__abspath(r->dir, file)))
    r->oom = true;
}

static void read_file_environment(struct berth__reader *r, void *obj, const struct berth_node *v,
                                  const char *path) {
  ((struct berth_file_def *)obj)->environment = berth__read_str(r, v, path);
}

static void read_file_content(struct berth__reader *r, void *obj, const struct berth_node *v,
                              const char *path) {
  ((struct berth_file_def *)obj)->content = berth__read_str(r, v, path);
}

static void read_file_external(struct berth__reader *r, void *obj, const struct berth_node *v,
                               const char *path) {
  ((struct berth_file_def *)obj)->external = berth__read_bool(r, v, path, false);
}

/* secrets: / configs: at the top level: where each one's content comes from. */
static void read_top_files(struct berth__reader *r, const struct berth_node *n, const char *section,
                           struct berth_file_def **out, size_t *count) {
  static const struct berth__key keys[] = {
      {"file", read_file_file, 0},
      {"environment", read_file_environment, 0},
      {"content", read_file_content, 0},
      {"external", read_file_external, 0},
      {"name", NULL, BERTH__KEY_UNSUPPORTED},
      {"template_driver", NULL, BERTH__KEY_UNSUPPORTED},
      {"driver", NULL, BERTH__KEY_UNSUPPORTED},
      {"driver_opts", NULL, BERTH__KEY_UNSUPPORTED},
      {"labels", NULL, BERTH__KEY_UNSUPPORTED},
      {0},
  };
  char p[BERTH__PATH_MAX];
  const struct berth_node *m = berth__want_map(r, n, section);
  for (size_t i = 0; m && i + 1 < m->n; i += 2) {
    const struct berth_node *k = m->items[i], *v = m->items[i + 1];
    berth__pathf(p, "%s.%s", section, k->value);
    const struct berth_node *vm = berth__want_map(r, v, p);
    if (!vm) {
      if (berth_node_is_null(v))
        berth__error(r, k, p, "needs file: PATH (or environment: VAR)");
      continue;
    }
    struct berth_file_def *f = berth__grow(r, out, count, sizeof(*f));
    if (!f)
      return;
    f->name = berth__strdup(r, k->value);
    berth__read_keys(r, vm, p, keys, f);
    if (!f->file && !f->environment && !f->content && !f->external)
      berth__error(r, vm, p, "needs file: PATH, environment: VAR%s or external: true",
                   strcmp(section, "configs") ? "" : ", content: TEXT");
  }
}

/* ---- the top level ---- */

static void read_version(struct berth__reader *r, void *obj, const struct berth_node *v,
                         const char *path) {
  (void)obj;
  berth__warn(r, v, path, "obsolete in the Compose Specification; ignored");
}

static void read_name(struct berth__reader *r, void *obj, const struct berth_node *v,
                      const char *path) {
  (void)obj;
  r->p->name = berth__read_str(r, v, path);
}

/* Infra before services: services' depends_on and uses refer to it. */
static void read_infra(struct berth__reader *r, void *obj, const struct berth_node *v,
                       const char *path) {
  (void)obj;
  const struct berth_node *infra = berth__want_map(r, v, path);
  if (!infra)
    return;
  struct berth_image_refs images = {0};
  berth_err e = NULL;
  if (berth_images_load(&images, &e) < 0) {
    berth_err_free(&e);
    r->oom = true;
  }
  for (size_t i = 0; i + 1 < infra->n; i += 2)
    berth__read_infra(r, infra->items[i], infra->items[i + 1], &images);
  berth_images_release(&images);
}

static void read_secrets(struct berth__reader *r, void *obj, const struct berth_node *v,
                         const char *path) {
  (void)obj;
  read_top_files(r, v, path, &r->p->secrets, &r->p->n_secrets);
}

static void read_configs(struct berth__reader *r, void *obj, const struct berth_node *v,
                         const char *path) {
  (void)obj;
  read_top_files(r, v, path, &r->p->configs, &r->p->n_configs);
}

static void read_services(struct berth__reader *r, void *obj, const struct berth_node *v,
                          const char *path) {
  const struct berth_node *root = obj;
  const struct berth_project *p = r->p;
  const struct berth_node *sm = berth__want_map(r, v, path);
  for (size_t i = 0; sm && i + 1 < sm->n; i += 2) {
    const struct berth_node *k = sm->items[i];
    for (size_t j = 0; j < p->n_infra; j++)
      if (!strcmp(p->infra[j].name, k->value))
        berth__error(r, k, "services", "\"%s\" is both a service and an infra instance; rename one",
                     k->value);
    berth__read_service(r, root, k, sm->items[i + 1]);
  }
}

/* A top-level seeds: was reserved before seeds had a place: they belong
 * to their infra instance now. */
static void read_seeds(struct berth__reader *r, void *obj, const struct berth_node *v,
                       const char *path) {
  (void)obj;
  berth__error(r, v, path,
               "seeds belong to their infra instance: move them under infra.<name>.seeds "
               "(docs/seeds.md)");
}

/* namespaces: is kept as JSON for the wing that reads it. */
static void read_namespaces(struct berth__reader *r, void *obj, const struct berth_node *v,
                            const char *path) {
  (void)obj, (void)path;
  if (!(r->p->namespaces_json = berth__node_json(v)))
    r->oom = true;
}

/* Volumes a berth.yaml names without declaring are declared for it. */
static void declare_volumes(struct berth__reader *r) {
  struct berth_project *p = r->p;
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
}

/* The default network, when some service is on it. */
static void declare_default_network(struct berth__reader *r) {
  struct berth_project *p = r->p;
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
}

/* In the order they are read. */
static const struct berth__key top_keys[] = {
    {"version", read_version, 0},
    {"name", read_name, 0},
    {"infra", read_infra, 0},
    {"networks", read_top_networks, 0},
    {"volumes", read_top_volumes, 0},
    {"secrets", read_secrets, 0},
    {"configs", read_configs, 0},
    {"services", read_services, 0},
    {"seeds", read_seeds, 0},
    {"namespaces", read_namespaces, 0},
    {0},
};

void berth__read_project(struct berth__reader *r, const struct berth_node *root) {
  berth__read_keys(r, root, "", top_keys, (void *)root);
  const struct berth_node *infra = berth_node_get(root, "infra");
  if (!berth_node_get(root, "services") && !(infra && infra->type == BERTH_NODE_MAP))
    berth__error(r, root, NULL, "the manifest declares no services%s; add a services: section",
                 r->compose ? "" : " and no infra");
  declare_volumes(r);
  declare_default_network(r);
  berth__check_uses(r);
}
