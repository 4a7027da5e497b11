/* What a service mounts: volumes (short and long forms, binds, named
 * volumes, tmpfs), and the secrets and configs it is given as files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "manifest-internal.h"

static bool is_path(const char *s) {
  return s[0] == '/' || s[0] == '.' || s[0] == '~';
}

static bool volume_declared(const struct berth_node *root, const char *name) {
  return berth_node_index(berth_node_get(root, "volumes"), name) >= 0;
}

/* A bind mount that hands the container more than the project: a
 * warning, since the manifest may be a stranger's (docs/security.md). */
static void warn_bind(struct berth__reader *r, const struct berth_node *n, const char *path,
                      const char *src, bool ro) {
  const char *base = strrchr(src, '/');
  base = base ? base + 1 : src;
  size_t dl = r->dir ? strlen(r->dir) : 0;
  bool inside = dl && !strncmp(src, r->dir, dl) && (src[dl] == '/' || src[dl] == '\0');
  if (!strcmp(base, "docker.sock") || !strcmp(base, "podman.sock"))
    berth__warn(r, n, path,
                "bind-mounts the engine's socket %s: the container can run anything on the host "
                "through it",
                src);
  else if (!strcmp(src, "/"))
    berth__warn(r, n, path,
                "bind-mounts the host's root directory: the container can %s every file",
                ro ? "read" : "read and change");
  else if (!inside)
    berth__warn(r, n, path, "bind-mounts %s, outside the project: the container can %s it", src,
                ro ? "read" : "read and change");
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
  if (type == BERTH_MOUNT_T_BIND && m->source)
    warn_bind(r, n, path, m->source, ro);
}

/* "TARGET", "/data:ro", "SOURCE:TARGET[:OPTIONS]": a path source is a
 * bind mount, a name a volume. */
static void read_volume_short(struct berth__reader *r, struct berth_service *s,
                              const struct berth_node *root, const struct berth_node *it,
                              const char *p) {
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
    add_mount(r, s, root, it, p, is_path(src) ? BERTH_MOUNT_T_BIND : BERTH_MOUNT_T_VOLUME, src, tgt,
              ro, 0);
}

/* volumes: "SOURCE:TARGET[:ro]" or {type, source, target, read_only,
 * tmpfs}; the long form's keys are read together (type decides). */
void berth__read_volumes(struct berth__reader *r, void *obj, const struct berth_node *n,
                         const char *path) {
  struct berth_service *s = ((struct berth__svc *)obj)->s;
  const struct berth_node *root = ((struct berth__svc *)obj)->root;
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  if (n->type != BERTH_NODE_SEQ) {
    berth__error(r, n, path, "expected a list of volumes, found %s", berth_node_type_name(n));
    return;
  }
  static const struct berth__key long_keys[] = {{"type", NULL, 0},
                                                {"source", NULL, 0},
                                                {"target", NULL, 0},
                                                {"read_only", NULL, 0},
                                                {"tmpfs", NULL, 0},
                                                {"bind", NULL, BERTH__KEY_UNSUPPORTED},
                                                {"volume", NULL, BERTH__KEY_UNSUPPORTED},
                                                {"consistency", NULL, BERTH__KEY_UNSUPPORTED},
                                                {0}};
  for (size_t i = 0; i < n->n; i++) {
    const struct berth_node *it = n->items[i];
    berth__pathf(p, "%s[%zu]", path, i);
    if (berth__is_scalar(it)) {
      read_volume_short(r, s, root, it, p);
      continue;
    }
    if (it->type != BERTH_NODE_MAP) {
      berth__error(r, it, p, "expected \"SOURCE:TARGET[:ro]\" or {type, source, target}, found %s",
                   berth_node_type_name(it));
      continue;
    }
    berth__read_keys(r, it, p, long_keys, NULL);
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

/* A reference's source and target, read into the caller's strings. */
struct file_ref {
  char *src, *tgt;
};

static void read_ref_source(struct berth__reader *r, void *obj, const struct berth_node *v,
                            const char *path) {
  ((struct file_ref *)obj)->src = berth__read_str(r, v, path);
}

static void read_ref_target(struct berth__reader *r, void *obj, const struct berth_node *v,
                            const char *path) {
  ((struct file_ref *)obj)->tgt = berth__read_str(r, v, path);
}

/* secrets: / configs: of a service: names declared at the top level, or
 * {source, target}; a relative target is under default_dir. */
static void read_file_refs(struct berth__reader *r, const struct berth_node *root,
                           const struct berth_node *n, const char *path, const char *section,
                           const char *default_dir, struct berth_file_ref **out, size_t *count) {
  static const struct berth__key keys[] = {
      {"source", read_ref_source, 0},         {"target", read_ref_target, 0},
      {"uid", NULL, BERTH__KEY_UNSUPPORTED},  {"gid", NULL, BERTH__KEY_UNSUPPORTED},
      {"mode", NULL, BERTH__KEY_UNSUPPORTED}, {0},
  };
  char p[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  if (n->type != BERTH_NODE_SEQ) {
    berth__error(r, n, path, "expected a list, found %s", berth_node_type_name(n));
    return;
  }
  for (size_t i = 0; i < n->n; i++) {
    const struct berth_node *it = n->items[i];
    berth__pathf(p, "%s[%zu]", path, i);
    struct file_ref ref = {0};
    _cleanup_free_ char *src = NULL, *tgt = NULL;
    if (berth__is_scalar(it)) {
      src = berth__strdup(r, it->value);
    } else if (it->type == BERTH_NODE_MAP) {
      berth__read_keys(r, it, p, keys, &ref);
      src = ref.src;
      tgt = ref.tgt;
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

void berth__read_secrets(struct berth__reader *r, void *obj, const struct berth_node *v,
                         const char *path) {
  struct berth__svc *c = obj;
  read_file_refs(r, c->root, v, path, "secrets", "/run/secrets", &c->s->secrets, &c->s->n_secrets);
}

void berth__read_configs(struct berth__reader *r, void *obj, const struct berth_node *v,
                         const char *path) {
  struct berth__svc *c = obj;
  read_file_refs(r, c->root, v, path, "configs", "", &c->s->configs, &c->s->n_configs);
}
