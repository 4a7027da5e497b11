/* Loading manifests, the orchestration: finding the files, .env, reading
 * each file (parse, interpolation, then manifest-merge.c's include and
 * extends), merging them, reading the model (manifest-read.c), naming the
 * project, then manifest-check.c's profiles and validation. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/buf.h"
#include "cleanup.h"
#include "manifest-internal.h"

const char *const berth_manifest_names[] = {
    "berth.yaml",         "berth.yml",           "compose.yaml", "compose.yml",
    "docker-compose.yml", "docker-compose.yaml", NULL,
};

/* ---- the bound on what a load's trees take ---- */

bool berth__charge(struct berth__reader *r, size_t size, const struct berth_node *at,
                   const char *path, const char *what) {
  if (r->trees_told)
    return false;
  if (size <= BERTH__MAX_TREES - r->trees) {
    r->trees += size;
    return true;
  }
  r->trees_told = true;
  berth__error(r, at, path,
               "%s would take the manifest past %u MiB in memory; copies multiply (extends, "
               "interpolated variables): use fewer of them, or smaller ones",
               what, BERTH__MAX_TREES >> 20);
  return false;
}

/* ---- interpolation of every scalar value ---- */

/* Interpolates every scalar value (not keys); path is where n sits, for
 * the message of an error. */
static void interpolate_tree(struct berth__reader *r, struct berth_node *n, char *path,
                             size_t size) {
  if (!n)
    return;
  if (n->type == BERTH_NODE_SCALAR && strchr(n->value, '$')) {
    char *out = NULL;
    int col = 0;
    berth_err err = NULL;
    if (berth_interpolate(n->value, berth_lookup_env_then_vars, r->vars, &out, &col, &err) < 0) {
      struct berth_node at = *n;
      if (col > 0 && !n->quoted)
        at.col += col - 1;
      else if (col > 0 && n->quoted)
        at.col += col; /* past the opening quote */
      /* The position is the diagnostic's: drop the column inside the
       * value from the message. */
      char msg[1024];
      snprintf(msg, sizeof(msg), "%s", berth_err_root_msg(err));
      char *atcol = strstr(msg, " at column ");
      if (atcol) {
        char *end = atcol + 11;
        while (*end >= '0' && *end <= '9')
          end++;
        memmove(atcol, end, strlen(end) + 1);
      }
      berth__error(r, &at, *path ? path : NULL, "%s", msg);
      berth_err_free(&err);
      return;
    }
    size_t grown = strlen(out), was = strlen(n->value);
    if (grown > was &&
        !berth__charge(r, grown - was, n, *path ? path : NULL, "interpolating this value")) {
      free(out);
      return;
    }
    free(n->value);
    n->value = out;
    /* "${EMPTY}" is an empty string the user wrote, not a missing value. */
    if (!*out)
      n->quoted = true;
    return;
  }
  size_t len = strlen(path);
  for (size_t i = 0; i < n->n; i++) {
    if (n->type == BERTH_NODE_MAP) {
      if (i % 2 == 0)
        continue; /* keys are not interpolated */
      snprintf(path + len, size - len, "%s%s", len ? "." : "", n->items[i - 1]->value);
    } else {
      snprintf(path + len, size - len, "[%zu]", i);
    }
    interpolate_tree(r, n->items[i], path, size);
    path[len] = '\0';
  }
}

static struct berth_node *read_file(struct berth__reader *r, const char *path, int depth,
                                    berth_err *err);

/* path as the user would name it: relative to the project directory when
 * inside it. */
static const char *shown_path(const struct berth__reader *r, const char *path) {
  size_t n = r->dir ? strlen(r->dir) : 0;
  if (n && !strncmp(path, r->dir, n) && path[n] == '/')
    return path + n + 1;
  return path;
}

/* A file that is already being read (it includes or extends itself
 * through others) or one file too many: refused with the chain named. */
static int check_file_chain(struct berth__reader *r, const char *path, int depth, berth_err *err) {
  long at = berth_strv_find(&r->loading, path);
  if (at >= 0) {
    struct berth_buf chain = BERTH_BUF_INIT(1 << 16);
    for (size_t i = (size_t)at; i < r->loading.n; i++)
      berth_buf_addf(&chain, "%s -> ", shown_path(r, r->loading.v[i]));
    berth_buf_addf(&chain, "%s", shown_path(r, path));
    int rc = berth_err_set(err, BERTH_E_INVALID,
                           "include/extends form a cycle: %s; remove the include or extends "
                           "that reads %s again",
                           chain.data ? chain.data : "", shown_path(r, path));
    berth_buf_release(&chain);
    return rc;
  }
  if (depth > 8)
    return berth_err_set(err, BERTH_E_INVALID, "%s: include/extends nested deeper than 8 files",
                         path);
  if (++r->files_read > BERTH__MAX_FILES)
    return berth_err_set(err, BERTH_E_TOO_BIG,
                         "%s: more than %d files read through include and extends (a file "
                         "counts each time it is read); include shared files once, higher up",
                         path, BERTH__MAX_FILES);
  return 0;
}

/* Reads one file: parse, interpolate, normalize, includes, extends. */
struct berth_node *berth__load_file(struct berth__reader *r, const char *path, int depth,
                                    berth_err *err) {
  if (check_file_chain(r, path, depth, err) < 0)
    return NULL;
  if (berth_strv_push(&r->loading, path) < 0) {
    berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    return NULL;
  }
  struct berth_node *root = read_file(r, path, depth, err);
  free(r->loading.v[--r->loading.n]);
  r->loading.v[r->loading.n] = NULL;
  return root;
}

/* berth__load_file's work, once the file may be read. */
static struct berth_node *read_file(struct berth__reader *r, const char *path, int depth,
                                    berth_err *err) {
  struct berth_node *root = NULL;
  /* Positions point into the file name for the life of the load: keep it
   * in the project's file list. */
  const char *name = NULL;
  for (size_t i = 0; i < r->p->files.n; i++)
    if (!strcmp(r->p->files.v[i], path))
      name = r->p->files.v[i];
  if (!name) {
    char **v = realloc(r->p->files.v, (r->p->files.n + 1) * sizeof(*v));
    if (!v || !(v[r->p->files.n] = strdup(path))) {
      if (v)
        r->p->files.v = v;
      berth_err_set(err, BERTH_E_NOMEM, "out of memory");
      return NULL;
    }
    r->p->files.v = v;
    name = v[r->p->files.n++];
  }
  if (berth_yaml_load(name, &root, err) < 0) {
    /* Report a syntax error as a diagnostic: the message carries the
     * position already. */
    return NULL;
  }
  size_t size = berth_node_size(root);
  if (r->trees_told || size > BERTH__MAX_TREES - r->trees) {
    berth_node_free(root);
    berth_err_set(err, BERTH_E_TOO_BIG,
                  "%s: with the %zu files read before it, the manifest would take more than %u "
                  "MiB in memory; include fewer or smaller files",
                  name, r->files_read - 1, BERTH__MAX_TREES >> 20);
    return NULL;
  }
  r->trees += size;
  /* berth_yaml_load names positions after its path argument: re-point
   * them to the kept name (same text). */
  if (root->type == BERTH_NODE_NULL) {
    berth_node_free(root);
    root = berth_node_new(BERTH_NODE_MAP, NULL, NULL);
    if (!root) {
      berth_err_set(err, BERTH_E_NOMEM, "out of memory");
      return NULL;
    }
    root->file = name;
    root->line = root->col = 1;
  }
  if (root->type != BERTH_NODE_MAP) {
    berth__error(r, root, NULL, "a manifest is a mapping (services: ...), found %s",
                 berth_node_type_name(root));
    berth_node_free(root);
    root = berth_node_new(BERTH_NODE_MAP, NULL, NULL);
    if (root)
      root->file = name;
    return root;
  }
  char ipath[1024] = "";
  interpolate_tree(r, root, ipath, sizeof(ipath));
  berth__normalize_doc(r, root);
  _cleanup_free_ char *dir = berth__dirname(name);
  if (!dir) {
    berth_node_free(root);
    berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    return NULL;
  }
  berth__resolve_includes(r, root, dir, depth, err);
  berth__resolve_extends(r, root, dir, depth, err);
  return root;
}

static int find_default(const char *dir, char **ret, berth_err *err) {
  for (const char *const *n = berth_manifest_names; *n; n++) {
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, *n) < 0)
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    if (access(path, F_OK) == 0) {
      *ret = TAKE_PTR(path);
      return 0;
    }
  }
  return berth_err_set(err, BERTH_E_NOT_FOUND,
                       "no manifest in %s (looked for berth.yaml, compose.yaml, "
                       "docker-compose.yml and their .yml/.yaml twins); name one with -f FILE",
                       dir);
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* A project name as Compose makes it: lower case, [a-z0-9_-], starting
 * with a letter or digit. */
static char *normalize_name(const char *raw) {
  char *s = malloc(strlen(raw) + 1);
  if (!s)
    return NULL;
  size_t n = 0;
  for (const char *c = raw; *c; c++) {
    char ch = (char)tolower((unsigned char)*c);
    if (isalnum((unsigned char)ch) || ((ch == '_' || ch == '-') && n > 0))
      s[n++] = ch;
  }
  s[n] = '\0';
  return s;
}

/* The files named (-f, absolute against cwd) or the one found in the
 * directory, into paths; the first sets the project directory and the
 * format. */
static int locate_files(const struct berth_load_opts *o, const char *cwd, struct berth_strv *paths,
                        berth_err *err) {
  if (o->n_files == 0) {
    _cleanup_free_ char *found = NULL;
    int rc = find_default(o->dir ? o->dir : cwd, &found, err);
    if (rc < 0)
      return rc;
    char *abs = berth__abspath(cwd, found);
    if (!abs || berth_strv_take(paths, abs) < 0)
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    return 0;
  }
  for (size_t i = 0; i < o->n_files; i++) {
    char *abs = berth__abspath(cwd, o->files[i]);
    if (!abs || berth_strv_take(paths, abs) < 0)
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  }
  return 0;
}

/* The project directory's .env: its errors are diagnostics. */
static int read_dotenv(struct berth__reader *r, struct berth_vars *vars, berth_err *err) {
  _cleanup_free_ char *envpath = NULL;
  if (asprintf(&envpath, "%s/.env", r->p->dir) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  berth_err e = NULL;
  if (berth_dotenv_load(envpath, true, berth_lookup_env_then_vars, NULL, vars, &e) < 0) {
    berth__error_at_message(r, envpath, berth_err_root_msg(e));
    berth_err_free(&e);
  }
  return 0;
}

/* Compose also reads compose.override.yaml beside an auto-found file:
 * appended to paths when there is one. */
static int add_override(struct berth__reader *r, struct berth_strv *paths, berth_err *err) {
  static const char *const names[] = {"compose.override.yaml", "compose.override.yml",
                                      "docker-compose.override.yml", "docker-compose.override.yaml",
                                      NULL};
  for (const char *const *n = names; *n; n++) {
    char *cand = NULL;
    if (asprintf(&cand, "%s/%s", r->p->dir, *n) < 0)
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    if (access(cand, F_OK) == 0)
      return berth_strv_take(paths, cand) < 0 ? berth_err_set(err, BERTH_E_NOMEM, "out of memory")
                                              : 0;
    free(cand);
  }
  return 0;
}

/* Reads every file and merges them in order into *merged (NULL when none
 * could be read). A file that does not parse is a diagnostic; one that
 * cannot be read at all fails the load. */
static int read_documents(struct berth__reader *r, const struct berth_strv *paths,
                          struct berth_node **merged, berth_err *err) {
  for (size_t i = 0; i < paths->n; i++) {
    berth_err e = NULL;
    struct berth_node *doc = berth__load_file(r, paths->v[i], 0, &e);
    if (!doc) {
      if (berth_err_code(e) == BERTH_E_INVALID || berth_err_code(e) == BERTH_E_TOO_BIG) {
        berth__error_at_message(r, paths->v[i], berth_err_root_msg(e));
        berth_err_free(&e);
        continue;
      }
      *err = e;
      return berth_err_wrap(err, "reading the manifest");
    }
    if (!*merged) {
      *merged = doc;
    } else {
      berth__merge_maps(r, *merged, doc, 0);
      berth_node_free(doc);
    }
  }
  return 0;
}

/* Compose's order: -p, COMPOSE_PROJECT_NAME, name:, the directory. */
static int name_project(struct berth__reader *r, const struct berth_load_opts *o, berth_err *err) {
  struct berth_project *p = r->p;
  const char *env_name = getenv("COMPOSE_PROJECT_NAME");
  if ((o->project_name && *o->project_name) || (env_name && *env_name)) {
    free(p->name);
    p->name = normalize_name(o->project_name && *o->project_name ? o->project_name : env_name);
  } else if (p->name) {
    _cleanup_free_ char *norm = normalize_name(p->name);
    if (!norm)
      r->oom = true;
    if (norm && strcmp(norm, p->name))
      berth__error(r, NULL, "name",
                   "\"%s\" is not a project name: use lower-case letters, digits, - and _ "
                   "(for example \"%s\")",
                   p->name, norm);
  } else {
    p->name = normalize_name(base_name(p->dir));
  }
  if (!p->name)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  if (!*p->name)
    berth__error(r, NULL, NULL,
                 "the project has no usable name; set name: in the manifest or -p NAME");
  return 0;
}

/* Files, .env, documents, the model, its name, profiles, checks. */
static int load(struct berth__reader *r, const struct berth_load_opts *o, berth_err *err) {
  struct berth_project *p = r->p;
  _cleanup_free_ char *cwd = getcwd(NULL, 0);
  struct berth_strv paths = {0};
  struct berth_node *merged = NULL;
  int rc;
  if (!cwd)
    return berth_err_errno(err, errno, "the current directory");
  if ((rc = locate_files(o, cwd, &paths, err)) < 0)
    goto out;
  if (!(p->dir = berth__dirname(paths.v[0]))) {
    rc = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    goto out;
  }
  r->dir = p->dir;
  p->format =
      strncmp(base_name(paths.v[0]), "berth.", 6) ? BERTH_FORMAT_COMPOSE : BERTH_FORMAT_BERTH;
  r->compose = p->format == BERTH_FORMAT_COMPOSE;
  if ((rc = read_dotenv(r, r->vars, err)) < 0)
    goto out;
  if (!o->n_files && r->compose && (rc = add_override(r, &paths, err)) < 0)
    goto out;
  if ((rc = read_documents(r, &paths, &merged, err)) < 0)
    goto out;
  if (merged)
    berth__read_project(r, merged);
  if ((rc = name_project(r, o, err)) < 0)
    goto out;
  berth__apply_profiles(r, o);
  berth_project_index(p);
  berth__validate(r);
out:
  berth_node_free(merged);
  berth_strv_release(&paths);
  return rc;
}

int berth_manifest_load(const struct berth_load_opts *o, struct berth_project **ret,
                        struct berth_diags *diags, berth_err *err) {
  struct berth_project *p = calloc(1, sizeof(*p));
  if (!p)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  struct berth_vars vars;
  berth_vars_init(&vars);
  struct berth__reader r = {.diags = diags, .p = p, .vars = &vars};
  int rc = load(&r, o, err);
  berth__sort_diags(&r);
  if (rc >= 0 && r.oom)
    rc = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  if (rc >= 0 && diags->errors)
    rc = berth_err_set(err, BERTH_E_INVALID, "%zu error%s in the manifest", diags->errors,
                       diags->errors == 1 ? "" : "s");
  if (rc >= 0)
    *ret = TAKE_PTR(p);
  berth_vars_release(&vars);
  berth_strv_release(&r.off);
  berth_strv_release(&r.unusable);
  berth_strv_release(&r.loading);
  berth_project_free(p);
  return rc;
}
