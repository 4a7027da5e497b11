/* The infra section: each instance's kind, version and image; the options
 * of its kind are read by the kind (core/infra/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "berth/images.h"
#include "cleanup.h"
#include "infra/infra.h"
#include "manifest-internal.h"

/* The seed kind a file's name implies when a seed is only a path. */
static int kind_of_file(const char *f) {
  static const struct {
    const char *ext;
    enum berth_seed_kind kind;
  } exts[] = {{".sql", BERTH_SEED_SQL},          {".sql.gz", BERTH_SEED_SQL},
              {".redis", BERTH_SEED_REDIS},      {".resp", BERTH_SEED_REDIS},
              {".json", BERTH_SEED_DEFINITIONS}, {".jsonl", BERTH_SEED_MESSAGES},
              {".ndjson", BERTH_SEED_MESSAGES}};
  size_t len = strlen(f);
  for (size_t i = 0; i < sizeof(exts) / sizeof(*exts); i++) {
    size_t el = strlen(exts[i].ext);
    if (len > el && !strcmp(f + len - el, exts[i].ext))
      return (int)exts[i].kind;
  }
  return -1;
}

static void kinds_list(const struct berth__infra_kind *kk, char *buf, size_t size) {
  size_t len = 0;
  buf[0] = 0;
  for (int k = 0; k <= BERTH_SEED_MESSAGES; k++)
    if (kk->seeds & (1u << k) && len < size)
      len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? " or " : "",
                              berth_seed_kind_name((enum berth_seed_kind)k));
}

/* [schema.]table, each part a plain identifier. */
static bool table_ok(const char *t) {
  const char *dot = strchr(t, '.');
  if (!dot)
    return berth__safe_ident(t);
  char schema[64];
  size_t sl = (size_t)(dot - t);
  if (sl == 0 || sl >= sizeof(schema) || strchr(dot + 1, '.'))
    return false;
  memcpy(schema, t, sl);
  schema[sl] = 0;
  return berth__safe_ident(schema) && berth__safe_ident(dot + 1);
}

/* The seed's file: it exists and is a regular file (checked here, so
 * that config refuses what seed would). */
static char *seed_file(struct berth__reader *r, const struct berth_node *fn, const char *path) {
  if (!berth__want_scalar(r, fn, path, "a file path"))
    return NULL;
  char *abs = berth__abspath(r->dir, fn->value);
  struct stat st;
  if (!abs)
    r->oom = true;
  else if (stat(abs, &st) < 0)
    berth__error(r, fn, path, "no file %s; the path is relative to %s", fn->value, r->dir);
  else if (!S_ISREG(st.st_mode))
    berth__error(r, fn, path, "%s is not a regular file", fn->value);
  return abs;
}

static const struct berth_pg_database *database_of(const struct berth_infra *in, const char *db) {
  for (size_t i = 0; i < in->n_databases; i++)
    if (!strcmp(in->databases[i].name, db))
      return &in->databases[i];
  return NULL;
}

/* Its table, database and vhost: where the seed goes. */
static void check_seed(struct berth__reader *r, const struct berth_infra *in, struct berth_seed *sd,
                       const struct berth_node *n, const struct berth_node *m, const char *path) {
  char q[BERTH__PATH_MAX];
  const struct berth_node *tn = berth_node_get(m, "table"), *dn = berth_node_get(m, "database"),
                          *vn = berth_node_get(m, "vhost");
  sd->table = berth__read_str(r, tn, berth__pathf(q, "%s.table", path));
  sd->database = berth__read_str(r, dn, berth__pathf(q, "%s.database", path));
  sd->vhost = berth__read_str(r, vn, berth__pathf(q, "%s.vhost", path));
  if (sd->kind == BERTH_SEED_CSV && !sd->table)
    berth__error(r, m, path, "a csv seed needs table: [schema.]table, where its rows go");
  else if (sd->table && sd->kind != BERTH_SEED_CSV)
    berth__error(r, tn, berth__pathf(q, "%s.table", path), "table is for csv seeds");
  else if (sd->table && !table_ok(sd->table))
    berth__error(r, tn, berth__pathf(q, "%s.table", path),
                 "\"%s\" is not [schema.]table of plain names (letters, digits, _ and -)",
                 sd->table);
  if (sd->database && in->kind != BERTH_INFRA_POSTGRES)
    berth__error(r, dn, berth__pathf(q, "%s.database", path), "database is for postgres seeds");
  else if (in->kind == BERTH_INFRA_POSTGRES && sd->database && !database_of(in, sd->database) &&
           strcmp(sd->database, "postgres"))
    berth__error(r, dn, berth__pathf(q, "%s.database", path),
                 "the database \"%s\" is not in %s's databases", sd->database, in->name);
  else if (in->kind == BERTH_INFRA_POSTGRES && !sd->database && in->n_databases > 1)
    berth__error(r, n, path, "%s has %zu databases: say which one with database:", in->name,
                 in->n_databases);
  else if (in->kind == BERTH_INFRA_POSTGRES && !sd->database)
    sd->database = berth__strdup(r, in->n_databases ? in->databases[0].name : "postgres");
  if (sd->table && sd->database && strchr(sd->table, '.')) {
    /* A schema of its own must be declared, or public. */
    const struct berth_pg_database *d = database_of(in, sd->database);
    size_t sl = (size_t)(strchr(sd->table, '.') - sd->table);
    char schema[64];
    snprintf(schema, sizeof(schema), "%.*s", (int)sl, sd->table);
    if (strcmp(schema, "public") && (!d || berth_strv_find(&d->schemas, schema) < 0))
      berth__error(r, tn, berth__pathf(q, "%s.table", path),
                   "the schema \"%s\" is not in %s's schemas; declare it under databases", schema,
                   sd->database);
  }
  if (sd->vhost && sd->kind != BERTH_SEED_MESSAGES)
    berth__error(r, vn, berth__pathf(q, "%s.vhost", path), "vhost is for messages seeds");
  else if (sd->vhost && strcmp(sd->vhost, "/") && berth_strv_find(&in->vhosts, sd->vhost) < 0)
    berth__error(r, vn, berth__pathf(q, "%s.vhost", path), "the vhost \"%s\" is not in %s's vhosts",
                 sd->vhost, in->name);
}

static void read_seed(struct berth__reader *r, struct berth_infra *in,
                      const struct berth__infra_kind *kk, const struct berth_node *n,
                      const char *path) {
  static const char *const keys[] = {"sql",   "csv",      "redis", "definitions", "messages",
                                     "table", "database", "vhost", NULL};
  char q[BERTH__PATH_MAX], kinds[96];
  kinds_list(kk, kinds, sizeof(kinds));
  const struct berth_node *fn = NULL, *m = NULL;
  int kind = -1;
  if (n->type == BERTH_NODE_SCALAR) {
    fn = n;
    kind = kind_of_file(n->value);
    if (kind < 0 || !(kk->seeds & (1u << kind))) {
      berth__error(r, n, path, "cannot tell the kind of seed %s from its name; write {%s: %s}",
                   n->value, berth_seed_kind_name((enum berth_seed_kind)__builtin_ctz(kk->seeds)),
                   n->value);
      return;
    }
  } else if ((m = berth__want_map(r, n, path))) {
    berth__check_keys(r, m, path, keys, NULL);
    for (int k = 0; k <= BERTH_SEED_MESSAGES; k++) {
      const struct berth_node *v = berth_node_get(m, berth_seed_kind_name((enum berth_seed_kind)k));
      if (!v)
        continue;
      if (!(kk->seeds & (1u << k))) {
        berth__error(r, v, berth__pathf(q, "%s.%s", path, berth_seed_kind_name(k)),
                     "a %s instance takes %s seeds, not %s", kk->name, kinds,
                     berth_seed_kind_name((enum berth_seed_kind)k));
        return;
      }
      if (fn) {
        berth__error(r, v, path, "a seed is one file: %s and %s are two; make them two seeds",
                     berth_seed_kind_name((enum berth_seed_kind)kind),
                     berth_seed_kind_name((enum berth_seed_kind)k));
        return;
      }
      fn = v;
      kind = k;
    }
    if (!fn) {
      berth__error(r, m, path, "a seed names its file with %s", kinds);
      return;
    }
  } else {
    return;
  }
  struct berth_seed *sd = berth__grow(r, &in->seeds, &in->n_seeds, sizeof(*sd));
  if (!sd)
    return;
  sd->kind = (enum berth_seed_kind)kind;
  sd->pos = berth__pos_of(n);
  berth__pathf(q, m ? "%s.%s" : "%s", path, berth_seed_kind_name(sd->kind));
  if (!(sd->file = seed_file(r, fn, q)))
    return;
  /* The ledger's key: the path from the project's directory, the same on
   * every checkout. */
  size_t dl = r->p->dir ? strlen(r->p->dir) : 0;
  sd->name = berth__strdup(r, dl && !strncmp(sd->file, r->p->dir, dl) && sd->file[dl] == '/'
                                  ? sd->file + dl + 1
                                  : sd->file);
  check_seed(r, in, sd, n, m, path);
}

/* seeds: a list, applied in its order. */
static void read_seeds(struct berth__reader *r, struct berth_infra *in,
                       const struct berth__infra_kind *kk, const struct berth_node *n,
                       const char *path) {
  char p[BERTH__PATH_MAX];
  if (!n || berth_node_is_null(n))
    return;
  if (n->type != BERTH_NODE_SEQ) {
    berth__error(r, n, berth__pathf(p, "%s.seeds", path), "expected a list of seeds, found %s",
                 berth_node_type_name(n));
    return;
  }
  for (size_t i = 0; i < n->n; i++)
    read_seed(r, in, kk, n->items[i], berth__pathf(p, "%s.seeds[%zu]", path, i));
}

void berth__read_infra(struct berth__reader *r, const struct berth_node *k,
                       const struct berth_node *n, const struct berth_image_refs *images) {
  char path[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  berth__pathf(path, "infra.%s", k->value);
  /* The name becomes a container's and a host's name, a database role's
   * key and berth env's variable (<NAME>_DATABASE_URL): a plain one. The
   * instance is read all the same, so its uses do not repeat the error. */
  berth__check_ident(r, k, path, "infra instance name", BERTH__IDENT_NAME);
  const struct berth_node *m = n;
  if (!berth_node_is_null(n) && n->type != BERTH_NODE_MAP) {
    berth__error(r, n, path, "expected a mapping (kind, version, ...), found %s",
                 berth_node_type_name(n));
    return;
  }
  /* The generic keys and every kind's own: a key of another kind is
   * reported as such below, not as unknown. */
  const char *keys[32] = {"kind", "version", "image", "seeds"};
  size_t nk = 4;
  for (size_t i = 0; berth__infra_kinds[i]; i++)
    for (const char *const *o = berth__infra_kinds[i]->keys; *o && nk + 1 < 32; o++)
      keys[nk++] = *o;
  keys[nk] = NULL;
  if (m)
    berth__check_keys(r, m, path, keys, NULL);
  _cleanup_free_ char *kind =
      berth__read_str(r, berth_node_get(m, "kind"), berth__pathf(q, "%s.kind", path));
  const char *kname = kind ? kind : k->value; /* infra: {postgres: {}} names its kind */
  const struct berth__infra_kind *kk = berth__infra_kind_find(kname);
  if (!kk) {
    char known[256] = "";
    size_t len = 0;
    for (size_t i = 0; berth__infra_kinds[i]; i++)
      len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s",
                              i == 0                      ? ""
                              : berth__infra_kinds[i + 1] ? ", "
                                                          : (kind ? " and " : " or "),
                              berth__infra_kinds[i]->name);
    berth__error(r, kind ? berth_node_get(m, "kind") : k, berth__pathf(q, "%s.kind", path),
                 kind ? "unknown kind \"%s\"; berth knows %s"
                      : "\"%s\" is not a kind; add kind: %s",
                 kname, known);
    return;
  }
  struct berth_project *p = r->p;
  struct berth_infra *in = berth__grow(r, &p->infra, &p->n_infra, sizeof(*in));
  if (!in)
    return;
  in->name = berth__strdup(r, k->value);
  in->kind = kk->id;
  in->pos = berth__pos_of(k);
  in->version =
      berth__read_str(r, berth_node_get(m, "version"), berth__pathf(q, "%s.version", path));
  if (!in->version)
    in->version = berth__strdup(r, kk->version);
  in->image = berth__read_str(r, berth_node_get(m, "image"), berth__pathf(q, "%s.image", path));
  if (!in->image) {
    /* The default image is the one images.env names for the kind; a
     * version other than the default names the official image. */
    if (!strcmp(in->version, kk->version) && berth_images_get(images, kk->image_key))
      in->image = berth__strdup(r, berth_images_get(images, kk->image_key));
    else if (asprintf(&in->image, "%s:%s", kname, in->version) < 0)
      r->oom = true;
  }
  for (size_t i = 0; berth__infra_kinds[i]; i++) {
    const struct berth__infra_kind *other = berth__infra_kinds[i];
    for (const char *const *o = other->keys; other != kk && *o; o++) {
      const struct berth_node *on = berth_node_get(m, *o);
      bool own = false;
      for (const char *const *mine = kk->keys; *mine; mine++)
        own |= !strcmp(*mine, *o);
      if (on && !own)
        berth__error(r, on, berth__pathf(q, "%s.%s", path, *o), "%s is for %s instances, not %s",
                     *o, other->name, kname);
    }
  }
  kk->read_options(r, in, m, path);
  read_seeds(r, in, kk, berth_node_get(m, "seeds"), path);
}
