/* Compose's combining of documents before they are read: list forms
 * normalised to maps, override files merged, paths of other files rebased,
 * include and extends resolved. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "cleanup.h"
#include "manifest-internal.h"

/* ---- normalisation before merging ---- */

static const char *const list_or_map_keys[] = {"environment", "labels", "extra_hosts", NULL};

/* Puts k: v into map, taking both; either may be NULL (an allocation
 * that failed): then neither is kept and the load ends out of memory. */
static void put_or_oom(struct berth__reader *r, struct berth_node *map, struct berth_node *k,
                       struct berth_node *v) {
  if (k && v && berth_node_put(map, k, v) >= 0)
    return;
  berth_node_free(k);
  berth_node_free(v);
  r->oom = true;
}

/* Turns ["K=V", "K2"] into {K: V, K2: null} so overrides merge by key. */
static void list_to_map(struct berth__reader *r, struct berth_node *parent, size_t vi,
                        const char *sep) {
  struct berth_node *list = parent->items[vi];
  if (list->type != BERTH_NODE_SEQ)
    return;
  struct berth_node *map = berth_node_new(BERTH_NODE_MAP, list, NULL);
  if (!map) {
    r->oom = true;
    return;
  }
  for (size_t i = 0; i < list->n; i++) {
    struct berth_node *it = list->items[i];
    if (it->type != BERTH_NODE_SCALAR) {
      berth__error(r, it, NULL, "expected a \"KEY%sVALUE\" string, found %s", sep,
                   berth_node_type_name(it));
      continue;
    }
    /* extra_hosts take "host=ip" (the spec) or "host:ip" (older files). */
    char *eq = !strcmp(sep, ":") && strchr(it->value, '=') ? strchr(it->value, '=')
                                                           : strstr(it->value, sep);
    _cleanup_free_ char *key =
        eq ? strndup(it->value, (size_t)(eq - it->value)) : strdup(it->value);
    struct berth_node *k = key ? berth_node_new(BERTH_NODE_SCALAR, it, key) : NULL;
    struct berth_node *v = eq ? berth_node_new(BERTH_NODE_SCALAR, it, eq + strlen(sep))
                              : berth_node_new(BERTH_NODE_NULL, it, NULL);
    if (v && eq)
      v->quoted = true;
    put_or_oom(r, map, k, v);
  }
  berth_node_free(list);
  parent->items[vi] = map;
}

/* depends_on: [a, b] -> {a: {condition: service_started}, b: ...};
 * networks: [a] -> {a: null}. */
static void names_to_map(struct berth__reader *r, struct berth_node *parent, size_t vi, bool dep) {
  struct berth_node *list = parent->items[vi];
  if (list->type != BERTH_NODE_SEQ)
    return;
  struct berth_node *map = berth_node_new(BERTH_NODE_MAP, list, NULL);
  if (!map) {
    r->oom = true;
    return;
  }
  for (size_t i = 0; i < list->n; i++) {
    struct berth_node *it = list->items[i];
    if (it->type != BERTH_NODE_SCALAR) {
      berth__error(r, it, NULL, "expected a name, found %s", berth_node_type_name(it));
      continue;
    }
    struct berth_node *k = berth_node_copy(it);
    struct berth_node *v = berth_node_new(dep ? BERTH_NODE_MAP : BERTH_NODE_NULL, it, NULL);
    if (dep && v) {
      struct berth_node *ck = berth_node_new(BERTH_NODE_SCALAR, it, "condition");
      struct berth_node *cv = berth_node_new(BERTH_NODE_SCALAR, it, "service_started");
      put_or_oom(r, v, ck, cv);
    }
    put_or_oom(r, map, k, v);
  }
  berth_node_free(list);
  parent->items[vi] = map;
}

static void normalize_service(struct berth__reader *r, struct berth_node *svc) {
  if (!svc || svc->type != BERTH_NODE_MAP)
    return;
  for (size_t i = 0; i + 1 < svc->n; i += 2) {
    const char *k = svc->items[i]->value;
    for (const char *const *l = list_or_map_keys; *l; l++)
      if (!strcmp(k, *l))
        list_to_map(r, svc, i + 1, strcmp(k, "extra_hosts") ? "=" : ":");
    if (!strcmp(k, "depends_on"))
      names_to_map(r, svc, i + 1, true);
    else if (!strcmp(k, "networks"))
      names_to_map(r, svc, i + 1, false);
    else if (!strcmp(k, "build")) {
      struct berth_node *b = svc->items[i + 1];
      long a = berth_node_index(b, "args");
      if (a >= 0)
        list_to_map(r, b, (size_t)a + 1, "=");
    }
  }
}

void berth__normalize_doc(struct berth__reader *r, struct berth_node *root) {
  struct berth_node *services = berth_node_get(root, "services");
  if (services && services->type == BERTH_NODE_MAP)
    for (size_t i = 1; i < services->n; i += 2)
      normalize_service(r, services->items[i]);
  static const char *const sections[] = {"networks", "volumes", NULL};
  for (const char *const *sec = sections; *sec; sec++) {
    struct berth_node *m = berth_node_get(root, *sec);
    for (size_t i = 1; m && m->type == BERTH_NODE_MAP && i < m->n; i += 2) {
      long li = berth_node_index(m->items[i], "labels");
      if (li >= 0)
        list_to_map(r, m->items[i], (size_t)li + 1, "=");
    }
  }
}

/* ---- Compose's merge of override files ---- */

/* Sequences that overrides extend rather than replace. */
static const char *const appended_keys[] = {"ports",   "expose",     "volumes",  "secrets",
                                            "configs", "tmpfs",      "cap_add",  "cap_drop",
                                            "dns",     "dns_search", "profiles", NULL};

static bool is_appended(const char *key) {
  for (const char *const *k = appended_keys; *k; k++)
    if (!strcmp(key, *k))
      return true;
  return false;
}

/* The container path of a volume entry, for merging by target. */
static const char *volume_target(const struct berth_node *v, char *buf, size_t size) {
  if (v->type == BERTH_NODE_MAP) {
    const struct berth_node *t = berth_node_get(v, "target");
    return t && t->type == BERTH_NODE_SCALAR ? t->value : NULL;
  }
  if (v->type != BERTH_NODE_SCALAR)
    return NULL;
  const char *c1 = strchr(v->value, ':');
  if (!c1)
    return v->value;
  const char *c2 = strchr(c1 + 1, ':');
  size_t n = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
  if (c2 && c1[1] != '/') /* "/data:ro" */
    n = (size_t)(c1 - v->value), c1 = v->value - 1;
  snprintf(buf, size, "%.*s", (int)n, c1 + 1);
  return buf;
}

/* Where a secret or config lands: its target, else the default path of
 * its source (/run/secrets/NAME, /NAME). */
static const char *ref_target(const struct berth_node *v, const char *key, char *buf, size_t size) {
  const char *dir = !strcmp(key, "secrets") ? "/run/secrets/" : "/";
  const struct berth_node *t = v->type == BERTH_NODE_MAP ? berth_node_get(v, "target") : NULL;
  const struct berth_node *src = v->type == BERTH_NODE_MAP ? berth_node_get(v, "source") : v;
  if (t && t->type == BERTH_NODE_SCALAR)
    snprintf(buf, size, "%s%s", t->value[0] == '/' ? "" : dir, t->value);
  else if (src && src->type == BERTH_NODE_SCALAR)
    snprintf(buf, size, "%s%s", dir, src->value);
  else
    return NULL;
  return buf;
}

static bool same_scalar(const struct berth_node *a, const struct berth_node *b) {
  return a->type == BERTH_NODE_SCALAR && b->type == BERTH_NODE_SCALAR &&
         !strcmp(a->value, b->value);
}

/* Appends over's items to base's list the way Compose merges overrides:
 * an identical entry is not repeated, a volume at the same target
 * replaces the earlier one. */
static void append_items(struct berth__reader *r, const char *key, struct berth_node *bv,
                         struct berth_node *v) {
  bool by_target = !strcmp(key, "volumes");
  bool by_ref = !strcmp(key, "secrets") || !strcmp(key, "configs");
  for (size_t j = 0; j < v->n; j++) {
    struct berth_node *it = v->items[j];
    long hit = -1;
    char b1[512], b2[512];
    for (size_t k = 0; k < bv->n && hit < 0; k++) {
      const char *t1 = by_target ? volume_target(bv->items[k], b1, sizeof(b1)) : NULL;
      const char *t2 = by_target ? volume_target(it, b2, sizeof(b2)) : NULL;
      if (by_ref) {
        t1 = ref_target(bv->items[k], key, b1, sizeof(b1));
        t2 = ref_target(it, key, b2, sizeof(b2));
      }
      if (same_scalar(bv->items[k], it) || (t1 && t2 && !strcmp(t1, t2)))
        hit = (long)k;
    }
    if (hit >= 0) {
      berth_node_free(bv->items[hit]);
      bv->items[hit] = it;
    } else if (berth_node_append(bv, it) < 0) {
      r->oom = true;
      berth_node_free(it);
    }
  }
  v->n = 0;
}

/* !reset: as if no earlier file had set it. The keys over resets leave
 * base all at once: a file resetting thousands of services does not move
 * the others thousands of times. */
static void reset_keys(struct berth__reader *r, struct berth_node *base,
                       const struct berth_node *over) {
  _cleanup_free_ bool *drop = NULL;
  for (size_t i = 0; i + 1 < over->n; i += 2) {
    const struct berth_node *k = over->items[i], *v = over->items[i + 1];
    long bi = k->type == BERTH_NODE_SCALAR && v->tag == BERTH_TAG_RESET
                  ? berth_node_index(base, k->value)
                  : -1;
    if (bi >= 0 && !drop && !(drop = calloc(base->n / 2, sizeof(*drop)))) {
      r->oom = true;
      return;
    }
    if (bi >= 0)
      drop[bi / 2] = true;
  }
  if (drop)
    berth_node_remove_pairs(base, drop);
}

/* Merges over into base (both maps), taking over's nodes. */
void berth__merge_maps(struct berth__reader *r, struct berth_node *base, struct berth_node *over,
                       int depth) {
  reset_keys(r, base, over);
  for (size_t i = 0; i + 1 < over->n; i += 2) {
    struct berth_node *k = over->items[i], *v = over->items[i + 1];
    if (v->tag == BERTH_TAG_RESET) {
      berth_node_free(k);
      berth_node_free(v);
      continue;
    }
    long bi = k->type == BERTH_NODE_SCALAR ? berth_node_index(base, k->value) : -1;
    if (bi >= 0 && v->tag == BERTH_TAG_OVERRIDE) {
      berth_node_free(base->items[bi + 1]);
      base->items[bi + 1] = v;
      berth_node_free(k);
      continue;
    }
    if (bi < 0) {
      put_or_oom(r, base, k, v);
    } else {
      struct berth_node *bv = base->items[bi + 1];
      /* In a service (depth 2 below the root), some lists extend. */
      if (bv->type == BERTH_NODE_MAP && v->type == BERTH_NODE_MAP) {
        berth__merge_maps(r, bv, v, depth + 1);
        berth_node_free(v);
      } else if (depth == 2 && bv->type == BERTH_NODE_SEQ && v->type == BERTH_NODE_SEQ &&
                 is_appended(k->value)) {
        append_items(r, k->value, bv, v);
        berth_node_free(v);
      } else if (depth == 2 && !strcmp(k->value, "build") && bv->type == BERTH_NODE_SCALAR &&
                 v->type == BERTH_NODE_MAP) {
        /* build: ./app, overridden by build: {target: dev}: the context
         * stays. */
        if (berth_node_index(v, "context") < 0) {
          struct berth_node *ck = berth_node_new(BERTH_NODE_SCALAR, bv, "context");
          if (!ck || berth_node_put(v, ck, bv) < 0) {
            berth_node_free(ck);
            r->oom = true;
          } else {
            base->items[bi + 1] = NULL;
          }
        }
        berth_node_free(base->items[bi + 1]);
        base->items[bi + 1] = v;
      } else {
        berth_node_free(bv);
        base->items[bi + 1] = v;
      }
      berth_node_free(k);
    }
  }
  free(over->items);
  over->items = NULL;
  over->n = 0;
}

static void rebase_path(struct berth__reader *r, struct berth_node *n, const char *dir) {
  if (!n || n->type != BERTH_NODE_SCALAR || !*n->value)
    return;
  char *abs = berth__abspath(dir, n->value);
  if (!abs) {
    r->oom = true;
    return;
  }
  free(n->value);
  n->value = abs;
}

/* Makes the relative paths of a service read from another file's
 * directory absolute, so they keep meaning the same files. */
static void rebase_service(struct berth__reader *r, struct berth_node *svc, const char *dir) {
  struct berth_node *b = berth_node_get(svc, "build");
  if (b && b->type == BERTH_NODE_SCALAR)
    rebase_path(r, b, dir);
  else if (b && b->type == BERTH_NODE_MAP)
    rebase_path(r, berth_node_get(b, "context"), dir);
  struct berth_node *ef = berth_node_get(svc, "env_file");
  if (ef && ef->type == BERTH_NODE_SCALAR)
    rebase_path(r, ef, dir);
  else if (ef && ef->type == BERTH_NODE_SEQ)
    for (size_t i = 0; i < ef->n; i++)
      rebase_path(r,
                  ef->items[i]->type == BERTH_NODE_MAP ? berth_node_get(ef->items[i], "path")
                                                       : ef->items[i],
                  dir);
  struct berth_node *vols = berth_node_get(svc, "volumes");
  for (size_t i = 0; vols && vols->type == BERTH_NODE_SEQ && i < vols->n; i++) {
    struct berth_node *v = vols->items[i];
    if (v->type == BERTH_NODE_SCALAR && (v->value[0] == '.' || v->value[0] == '~')) {
      char *colon = strchr(v->value, ':');
      if (!colon)
        continue;
      _cleanup_free_ char *src = strndup(v->value, (size_t)(colon - v->value));
      _cleanup_free_ char *abs = src ? berth__abspath(dir, src) : NULL;
      char *nv = NULL;
      if (!abs || asprintf(&nv, "%s%s", abs, colon) < 0) {
        r->oom = true;
        continue;
      }
      free(v->value);
      v->value = nv;
    } else if (v->type == BERTH_NODE_MAP) {
      struct berth_node *type = berth_node_get(v, "type");
      if (type && !strcmp(type->value, "bind"))
        rebase_path(r, berth_node_get(v, "source"), dir);
    }
  }
  struct berth_node *watch = berth_node_get(svc, "watch");
  struct berth_node *dev = berth_node_get(svc, "develop");
  if (!watch && dev)
    watch = berth_node_get(dev, "watch");
  for (size_t i = 0; watch && watch->type == BERTH_NODE_SEQ && i < watch->n; i++)
    rebase_path(r, berth_node_get(watch->items[i], "path"), dir);
}

static void rebase_doc(struct berth__reader *r, struct berth_node *root, const char *dir) {
  struct berth_node *services = berth_node_get(root, "services");
  for (size_t i = 1; services && services->type == BERTH_NODE_MAP && i < services->n; i += 2)
    rebase_service(r, services->items[i], dir);
  static const char *const file_sections[] = {"secrets", "configs", NULL};
  for (const char *const *s = file_sections; *s; s++) {
    struct berth_node *sec = berth_node_get(root, *s);
    for (size_t i = 1; sec && sec->type == BERTH_NODE_MAP && i < sec->n; i += 2)
      rebase_path(r, berth_node_get(sec->items[i], "file"), dir);
  }
}

/* ---- include and extends ---- */

/* A file that include or extends names and that cannot be read, at the
 * entry naming it; past the bound on files, only the first refusal is
 * said. */
static void file_error(struct berth__reader *r, const struct berth_node *at, const char *where,
                       berth_err *e) {
  if (!(berth_err_code(*e) == BERTH_E_TOO_BIG && r->files_read > BERTH__MAX_FILES + 1))
    berth__error(r, at, where, "%s", *e ? berth_err_root_msg(*e) : "cannot read the file");
  berth_err_free(e);
}

/* An extends that cannot be resolved (reported): the service is read
 * without it, and no further error repeats that it lacks what it would
 * have inherited. */
static void drop_extends(struct berth__reader *r, struct berth_node *svc, const char *name) {
  berth_node_remove(svc, "extends");
  if (berth_strv_push(&r->unusable, name) < 0)
    r->oom = true;
}

/* The position among services of the one that extends of svc names in
 * the same file, or -1. */
static long local_base(const struct berth_node *services, const struct berth_node *svc) {
  const struct berth_node *ext = berth_node_get(svc, "extends");
  if (!ext)
    return -1;
  const struct berth_node *from =
      ext->type == BERTH_NODE_MAP ? berth_node_get(ext, "service") : ext;
  const struct berth_node *file = ext->type == BERTH_NODE_MAP ? berth_node_get(ext, "file") : NULL;
  if (!from || from->type != BERTH_NODE_SCALAR || file)
    return -1;
  long i = berth_node_index(services, from->value);
  return i < 0 ? -1 : i / 2;
}

/* The extends left after every pass: each cycle (a -> b -> a) reported
 * once by name, at the extends of its first service, or a chain too long;
 * then dropped. */
static void report_extends_left(struct berth__reader *r, struct berth_node *services) {
  size_t n = services->n / 2;
  _cleanup_free_ unsigned char *state = calloc(n ? n : 1, 1); /* 1: on the walk, 2: done */
  _cleanup_free_ size_t *walk = calloc(n ? n : 1, sizeof(*walk));
  if (!state || !walk) {
    r->oom = true;
    return;
  }
  bool chain_told = false;
  for (size_t i = 0; i < n; i++) {
    size_t len = 0;
    long at = (long)i;
    while (at >= 0 && !state[at] && berth_node_index(services->items[2 * at + 1], "extends") >= 0) {
      state[at] = 1;
      walk[len++] = (size_t)at;
      at = local_base(services, services->items[2 * at + 1]);
    }
    bool cycle = at >= 0 && state[at] == 1;
    /* Not a cycle: a chain too long if it ends at a resolved service,
     * else it leads into one already reported. */
    bool too_long = !cycle && at >= 0 && state[at] == 0;
    size_t first = 0;
    while (cycle && walk[first] != (size_t)at)
      first++;
    struct berth_buf chain = BERTH_BUF_INIT(1 << 16);
    for (size_t k = cycle ? first : 0; k < len; k++)
      berth_buf_addf(&chain, "%s -> ", services->items[2 * walk[k]]->value);
    if (at >= 0)
      berth_buf_addf(&chain, "%s%s", services->items[2 * at]->value, cycle ? "" : " -> ...");
    if (len && (cycle || (too_long && !chain_told))) {
      chain_told |= too_long;
      const struct berth_node *svc = services->items[2 * walk[cycle ? first : 0] + 1];
      char path[300];
      snprintf(path, sizeof(path), "services.%s.extends",
               services->items[2 * walk[cycle ? first : 0]]->value);
      if (cycle)
        berth__error(r, berth_node_get(svc, "extends"), path,
                     "extends forms a cycle: %s; remove one of these extends",
                     chain.data ? chain.data : "");
      else
        berth__error(r, berth_node_get(svc, "extends"), path,
                     "extends chains more than 16 services: %s; make the chain shorter",
                     chain.data ? chain.data : "");
    }
    berth_buf_release(&chain);
    for (size_t k = 0; k < len; k++)
      state[walk[k]] = 2;
  }
  for (size_t i = 0; i < n; i++)
    if (berth_node_index(services->items[2 * i + 1], "extends") >= 0)
      drop_extends(r, services->items[2 * i + 1], services->items[2 * i]->value);
}

/* The base of one extends from another file (its paths rebased), into
 * *ret_base inside *ret_other, which the caller frees; false when it
 * cannot be read (reported). */
static bool load_other_base(struct berth__reader *r, const struct berth_node *file,
                            const struct berth_node *from, const char *dir, int depth,
                            const char *path, struct berth_node **ret_other,
                            struct berth_node **ret_base) {
  _cleanup_free_ char *fpath = berth__abspath(dir, file->value);
  _cleanup_free_ char *fdir = fpath ? berth__dirname(fpath) : NULL;
  if (!fdir) {
    r->oom = true;
    return false;
  }
  berth_err e = NULL;
  struct berth_node *other = berth__load_file(r, fpath, depth + 1, &e);
  if (!other) {
    file_error(r, file, path, &e);
    return false;
  }
  rebase_doc(r, other, fdir);
  *ret_other = other;
  *ret_base = berth_node_get(berth_node_get(other, "services"), from->value);
  return true;
}

/* svc merged over a copy of base; depends_on is not inherited (Compose).
 * false when the copy would exceed the load's bound (reported). */
static bool extend_service(struct berth__reader *r, struct berth_node *svc,
                           const struct berth_node *base, const char *base_name, const char *path) {
  char what[300];
  snprintf(what, sizeof(what), "this extends (a copy of %s)", base_name);
  if (!berth__charge(r, berth_node_size(base), berth_node_get(svc, "extends"), path, what))
    return false;
  struct berth_node *merged = berth_node_copy(base);
  if (!merged) {
    r->oom = true;
    return true;
  }
  berth_node_remove(merged, "depends_on");
  berth_node_remove(svc, "extends");
  /* Depth 2: merged as a service's keys. */
  berth__merge_maps(r, merged, svc, 2);
  /* svc, emptied by the merge, becomes the merged service in place. */
  struct berth_node emptied = *svc;
  *svc = *merged;
  *merged = emptied;
  berth_node_free(merged);
  return true;
}

/* One pass over the services' extends: those whose base is resolved (or
 * in another file) are merged; true when some wait for their base. */
static bool extends_pass(struct berth__reader *r, struct berth_node *root,
                         struct berth_node *services, const char *dir, int depth) {
  bool pending = false;
  for (size_t i = 0; i + 1 < services->n && !r->oom; i += 2) {
    struct berth_node *svc = services->items[i + 1];
    long ei = berth_node_index(svc, "extends");
    if (ei < 0)
      continue;
    const char *name = services->items[i]->value;
    struct berth_node *ext = svc->items[ei + 1];
    const struct berth_node *from =
        ext->type == BERTH_NODE_MAP ? berth_node_get(ext, "service") : ext;
    const struct berth_node *file =
        ext->type == BERTH_NODE_MAP ? berth_node_get(ext, "file") : NULL;
    char path[512];
    snprintf(path, sizeof(path), "services.%s.extends", name);
    if (!from || from->type != BERTH_NODE_SCALAR) {
      berth__error(r, ext, path, "expected a service name or {service, file}");
      drop_extends(r, svc, name);
      continue;
    }
    /* file: naming this very file is the same file. */
    _cleanup_free_ char *fpath =
        file && file->type == BERTH_NODE_SCALAR ? berth__abspath(dir, file->value) : NULL;
    bool elsewhere = fpath && strcmp(fpath, root->file);
    struct berth_node *base = NULL, *other = NULL;
    if (elsewhere && !load_other_base(r, file, from, dir, depth, path, &other, &base)) {
      drop_extends(r, svc, name);
      continue;
    }
    if (!elsewhere) {
      base = berth_node_get(services, from->value);
      if (base && berth_node_index(base, "extends") >= 0) {
        pending = true; /* resolve the base first (a cycle is reported after) */
        continue;
      }
    }
    if (!base || base->type != BERTH_NODE_MAP) {
      berth__error(r, from, path, "no service named \"%s\" to extend", from->value);
      drop_extends(r, svc, name);
      berth_node_free(other);
      continue;
    }
    /* A base whose own extends failed (reported) passes that on; only
     * one lacking image and build can matter (and is looked up). */
    if (!berth_node_get(base, "image") && !berth_node_get(base, "build") &&
        berth_strv_find(&r->unusable, from->value) >= 0 && berth_strv_push(&r->unusable, name) < 0)
      r->oom = true;
    if (!extend_service(r, svc, base, from->value, path))
      drop_extends(r, svc, name);
    berth_node_free(other);
  }
  return pending;
}

/* Resolves `extends` of every service of root (file at dir). */
void berth__resolve_extends(struct berth__reader *r, struct berth_node *root, const char *dir,
                            int depth, berth_err *err) {
  (void)err;
  struct berth_node *services = berth_node_get(root, "services");
  if (!services || services->type != BERTH_NODE_MAP)
    return;
  /* Chains a -> b -> c resolve pass by pass. */
  for (int pass = 0; pass < 16; pass++)
    if (!extends_pass(r, root, services, dir, depth) || r->oom)
      return;
  report_extends_left(r, services);
}

/* An included file's services, networks, volumes, ... join the project;
 * the same name twice is an error (Compose). */
static void join_sections(struct berth__reader *r, struct berth_node *root,
                          const struct berth_node *sub, const struct berth_node *it,
                          const char *file) {
  static const char *const sections[] = {"services", "infra",   "networks", "volumes",
                                         "secrets",  "configs", NULL};
  for (const char *const *s = sections; *s; s++) {
    struct berth_node *from = berth_node_get(sub, *s);
    if (!from || from->type != BERTH_NODE_MAP)
      continue;
    struct berth_node *to = berth_node_get(root, *s);
    if (!to) {
      struct berth_node *k = berth_node_new(BERTH_NODE_SCALAR, it, *s);
      to = berth_node_new(BERTH_NODE_MAP, it, NULL);
      put_or_oom(r, root, k, to);
      if (r->oom)
        return;
    }
    for (size_t j = 0; j + 1 < from->n; j += 2) {
      if (berth_node_index(to, from->items[j]->value) >= 0) {
        char p[300];
        snprintf(p, sizeof(p), "%s.%s", *s, from->items[j]->value);
        berth__error(r, from->items[j], p, "also defined by the file that includes %s", file);
        continue;
      }
      struct berth_node *k = berth_node_copy(from->items[j]);
      struct berth_node *v = berth_node_copy(from->items[j + 1]);
      put_or_oom(r, to, k, v);
    }
  }
}

/* One include entry: the file (its paths rebased to its directory), with
 * the further files of path: [a, b] merged over it; NULL when it cannot
 * be read (reported). */
static struct berth_node *load_include(struct berth__reader *r, const struct berth_node *pathn,
                                       const struct berth_node *more, const char *dir, int depth,
                                       const char *where) {
  _cleanup_free_ char *fpath = berth__abspath(dir, pathn->value);
  _cleanup_free_ char *fdir = fpath ? berth__dirname(fpath) : NULL;
  if (!fdir) {
    r->oom = true;
    return NULL;
  }
  berth_err e = NULL;
  struct berth_node *sub = berth__load_file(r, fpath, depth + 1, &e);
  if (!sub) {
    file_error(r, pathn, where, &e);
    return NULL;
  }
  rebase_doc(r, sub, fdir);
  for (size_t k = 1; more && k < more->n; k++) {
    if (more->items[k]->type != BERTH_NODE_SCALAR)
      continue;
    _cleanup_free_ char *opath = berth__abspath(dir, more->items[k]->value);
    _cleanup_free_ char *odir = opath ? berth__dirname(opath) : NULL;
    if (!odir)
      r->oom = true;
    berth_err oe = NULL;
    struct berth_node *over = odir ? berth__load_file(r, opath, depth + 1, &oe) : NULL;
    if (!over) {
      file_error(r, more->items[k], where, &oe);
      continue;
    }
    rebase_doc(r, over, odir);
    berth__merge_maps(r, sub, over, 0);
    berth_node_free(over);
  }
  return sub;
}

void berth__resolve_includes(struct berth__reader *r, struct berth_node *root, const char *dir,
                             int depth, berth_err *err) {
  (void)err;
  long ii = berth_node_index(root, "include");
  if (ii < 0)
    return;
  struct berth_node *inc = root->items[ii + 1];
  if (inc->type != BERTH_NODE_SEQ) {
    berth__error(r, inc, "include", "expected a list of files, found %s",
                 berth_node_type_name(inc));
    berth_node_remove(root, "include");
    return;
  }
  for (size_t i = 0; i < inc->n && !r->oom; i++) {
    struct berth_node *it = inc->items[i];
    struct berth_node *pathn = it->type == BERTH_NODE_MAP ? berth_node_get(it, "path") : it;
    char where[64];
    snprintf(where, sizeof(where), "include[%zu]", i);
    if (it->type == BERTH_NODE_MAP)
      for (size_t k = 0; k + 1 < it->n; k += 2)
        if (strcmp(it->items[k]->value, "path"))
          berth__warn(r, it->items[k], where, "%s: not supported by berth yet; ignored",
                      it->items[k]->value);
    /* path: [a.yaml, b.yaml]: b overrides a, as with -f, and the result
     * is included as one file. */
    struct berth_node *more = NULL;
    if (pathn && pathn->type == BERTH_NODE_SEQ) {
      more = pathn->n > 1 ? pathn : NULL;
      pathn = pathn->n ? pathn->items[0] : NULL;
    }
    if (!pathn || pathn->type != BERTH_NODE_SCALAR) {
      berth__error(r, it, where, "expected a file path or {path: ...}");
      continue;
    }
    struct berth_node *sub = load_include(r, pathn, more, dir, depth, where);
    if (sub)
      join_sections(r, root, sub, it, pathn->value);
    berth_node_free(sub);
  }
  berth_node_remove(root, "include");
}
