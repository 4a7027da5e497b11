/* Loading manifests: finding the files, .env, interpolation, Compose's
 * include / extends / override merging, then validation of the model.
 * The node-to-model readers are in manifest-read.c. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/buf.h"
#include "berth/graph.h"
#include "cleanup.h"
#include "manifest-internal.h"

const char *const berth_manifest_names[] = {
    "berth.yaml",         "berth.yml",           "compose.yaml", "compose.yml",
    "docker-compose.yml", "docker-compose.yaml", NULL,
};

/* ---- diagnostics ---- */

void berth_diags_release(struct berth_diags *d) {
  for (size_t i = 0; i < d->n; i++) {
    free(d->v[i].file);
    free(d->v[i].path);
    free(d->v[i].message);
  }
  free(d->v);
  *d = (struct berth_diags){0};
}

char *berth_diag_format(const struct berth_diag *d) {
  char *s = NULL, where[4200] = "";
  if (d->file && d->line)
    snprintf(where, sizeof(where), "%s:%d:%d: ", d->file, d->line, d->col);
  else if (d->file)
    snprintf(where, sizeof(where), "%s: ", d->file);
  if (asprintf(&s, "%s%s: %s%s%s", where, d->severity == BERTH_DIAG_ERROR ? "error" : "warning",
               d->path ? d->path : "", d->path ? ": " : "", d->message) < 0)
    return NULL;
  return s;
}

void berth__diag(struct berth__reader *r, enum berth_severity sev, const struct berth_node *at,
                 const char *path, const char *fmt, ...) {
  struct berth_diags *d = r->diags;
  struct berth_diag *v = realloc(d->v, (d->n + 1) * sizeof(*v));
  if (!v) {
    r->oom = true;
    return;
  }
  d->v = v;
  struct berth_diag *g = &d->v[d->n];
  *g = (struct berth_diag){.severity = sev};
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&g->message, fmt, ap);
  va_end(ap);
  if (n < 0) {
    r->oom = true;
    return;
  }
  if (at && at->file) {
    g->file = strdup(at->file);
    g->line = at->line;
    g->col = at->col;
  }
  if (path)
    g->path = strdup(path);
  if ((at && at->file && !g->file) || (path && !g->path))
    r->oom = true; /* kept without its place: the load fails for memory */
  d->n++;
  if (sev == BERTH_DIAG_ERROR)
    d->errors++;
  else
    d->warnings++;
}

static size_t levenshtein(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64)
    return SIZE_MAX;
  size_t prev[65], cur[65];
  for (size_t j = 0; j <= lb; j++)
    prev[j] = j;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t sub =
          prev[j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
      size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
    memcpy(prev, cur, sizeof(prev));
  }
  return prev[lb];
}

const char *berth__suggest(const char *key, const char *const *keys) {
  const char *best = NULL;
  size_t best_d = SIZE_MAX, limit = strlen(key) / 4 > 2 ? strlen(key) / 4 : 2;
  for (; *keys; keys++) {
    size_t d = levenshtein(key, *keys);
    if (d < best_d) {
      best_d = d;
      best = *keys;
    }
  }
  return best_d <= limit ? best : NULL;
}

void berth__error_at_message(struct berth__reader *r, const char *file, const char *msg) {
  /* "file:line:col: message" from a lower layer: the position becomes
   * the diagnostic's, so every error reads the same way. */
  int line = 0, col = 0, used = 0;
  size_t fl = strlen(file);
  if (!strncmp(msg, file, fl) && sscanf(msg + fl, ":%d:%d: %n", &line, &col, &used) == 2 &&
      used > 0) {
    struct berth_node at = {.file = file, .line = line, .col = col};
    berth__error(r, &at, NULL, "%s", msg + fl + used);
  } else {
    berth__error(r, NULL, NULL, "%s", msg);
  }
}

/* ---- units ---- */

int berth_parse_cpu(const char *s, int64_t *ret) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || v < 0 || !isfinite(v))
    return -BERTH_E_INVALID;
  if (isspace((unsigned char)*s) || v > 1e12) /* a million cores is no laptop */
    return -BERTH_E_INVALID;
  if (!strcmp(end, "m")) {
    if (v != floor(v))
      return -BERTH_E_INVALID;
    *ret = (int64_t)v;
  } else if (!*end) {
    *ret = (int64_t)llround(v * 1000);
  } else {
    return -BERTH_E_INVALID;
  }
  return 0;
}

int berth_parse_bytes(const char *s, bool compose, int64_t *ret) {
  static const struct {
    const char *suffix;
    double k8s, compose; /* 0: not valid in that reading */
  } units[] = {
      {"", 1, 1},
      {"b", 0, 1},
      {"Ki", 1024.0, 0},
      {"Mi", 1048576.0, 0},
      {"Gi", 1073741824.0, 0},
      {"Ti", 1099511627776.0, 0},
      {"k", 1e3, 1024.0},
      {"M", 1e6, 1048576.0},
      {"G", 1e9, 1073741824.0},
      {"T", 1e12, 0},
      {"K", 0, 1024.0},
      {"kb", 0, 1024.0},
      {"KB", 0, 1024.0},
      {"m", 0, 1048576.0},
      {"mb", 0, 1048576.0},
      {"MB", 0, 1048576.0},
      {"g", 0, 1073741824.0},
      {"gb", 0, 1073741824.0},
      {"GB", 0, 1073741824.0},
  };
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || v < 0 || !isfinite(v) || isspace((unsigned char)*s))
    return -BERTH_E_INVALID;
  for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++) {
    double mul = compose ? units[i].compose : units[i].k8s;
    if (mul && !strcmp(end, units[i].suffix)) {
      double b = v * mul;
      if (b > 9.2e18)
        return -BERTH_E_INVALID;
      *ret = (int64_t)llround(b);
      return 0;
    }
  }
  return -BERTH_E_INVALID;
}

int berth_parse_duration_ms(const char *s, int64_t *ret) {
  static const struct {
    const char *unit;
    double ms;
  } units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"µs", 1e-3},  {"ms", 1},
               {"s", 1000},  {"m", 60000}, {"h", 3600000}};
  if (!*s)
    return -BERTH_E_INVALID;
  char *end;
  if (!isdigit((unsigned char)*s) && *s != '.')
    return -BERTH_E_INVALID; /* no sign, space, "inf" or hex */
  double v = strtod(s, &end);
  if (end != s && !*end && v >= 0) { /* a bare number: seconds */
    if (!isfinite(v) || v > 9.2e12 || strpbrk(s, "xX"))
      return -BERTH_E_INVALID;
    *ret = (int64_t)llround(v * 1000);
    return 0;
  }
  double total = 0;
  const char *p = s;
  while (*p) {
    if (!isdigit((unsigned char)*p) && *p != '.')
      return -BERTH_E_INVALID;
    v = strtod(p, &end);
    if (end == p)
      return -BERTH_E_INVALID;
    p = end;
    size_t best = 0;
    double mul = 0;
    for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++) {
      size_t n = strlen(units[i].unit);
      if (n > best && !strncmp(p, units[i].unit, n)) {
        best = n;
        mul = units[i].ms;
      }
    }
    if (!best)
      return -BERTH_E_INVALID;
    p += best;
    total += v * mul;
  }
  if (total > 9.2e15)
    return -BERTH_E_INVALID;
  *ret = (int64_t)llround(total);
  return 0;
}

/* ---- paths ---- */

char *berth__abspath(const char *dir, const char *rel) {
  _cleanup_free_ char *joined = NULL;
  const char *home = getenv("HOME");
  int n;
  if (rel[0] == '/')
    n = asprintf(&joined, "%s", rel);
  else if (rel[0] == '~' && (rel[1] == '/' || !rel[1]) && home)
    n = asprintf(&joined, "%s%s", home, rel + 1);
  else
    n = asprintf(&joined, "%s/%s", dir, rel);
  if (n < 0)
    return NULL;
  /* Lexical clean: collapse //, ., and .. */
  char *out = malloc(strlen(joined) + 2);
  if (!out)
    return NULL;
  size_t len = 0;
  for (char *save = NULL, *part = strtok_r(joined, "/", &save); part;
       part = strtok_r(NULL, "/", &save)) {
    if (!strcmp(part, "."))
      continue;
    if (!strcmp(part, "..")) {
      while (len > 0 && out[len - 1] != '/')
        len--;
      if (len > 0)
        len--;
      continue;
    }
    out[len++] = '/';
    size_t pl = strlen(part);
    memcpy(out + len, part, pl);
    len += pl;
  }
  if (len == 0)
    out[len++] = '/';
  out[len] = '\0';
  return out;
}

static char *dirname_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    return strdup(".");
  if (slash == path)
    return strdup("/");
  return strndup(path, (size_t)(slash - path));
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

/* ---- normalisation before merging ---- */

static const char *const list_or_map_keys[] = {"environment", "labels", "extra_hosts", NULL};

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
    if (!k || !v || berth_node_put(map, k, v) < 0) {
      berth_node_free(k);
      berth_node_free(v);
      r->oom = true;
    }
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
      if (!ck || !cv || berth_node_put(v, ck, cv) < 0) {
        berth_node_free(ck);
        berth_node_free(cv);
        r->oom = true;
      }
    }
    if (!k || !v || berth_node_put(map, k, v) < 0) {
      berth_node_free(k);
      berth_node_free(v);
      r->oom = true;
    }
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

static void normalize_doc(struct berth__reader *r, struct berth_node *root) {
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

/* Merges over into base (both maps), taking over's nodes. */
static void merge_maps(struct berth__reader *r, struct berth_node *base, struct berth_node *over,
                       int depth) {
  for (size_t i = 0; i + 1 < over->n; i += 2) {
    struct berth_node *k = over->items[i], *v = over->items[i + 1];
    long bi = k->type == BERTH_NODE_SCALAR ? berth_node_index(base, k->value) : -1;
    if (v->tag == BERTH_TAG_RESET) {
      /* !reset: as if no earlier file had set it. */
      if (bi >= 0)
        berth_node_remove(base, k->value);
      berth_node_free(k);
      berth_node_free(v);
      continue;
    }
    if (bi >= 0 && v->tag == BERTH_TAG_OVERRIDE) {
      berth_node_free(base->items[bi + 1]);
      base->items[bi + 1] = v;
      berth_node_free(k);
      continue;
    }
    if (bi < 0) {
      if (berth_node_put(base, k, v) < 0) {
        r->oom = true;
        berth_node_free(k);
        berth_node_free(v);
      }
    } else {
      struct berth_node *bv = base->items[bi + 1];
      /* In a service (depth 2 below the root), some lists extend. */
      if (bv->type == BERTH_NODE_MAP && v->type == BERTH_NODE_MAP) {
        merge_maps(r, bv, v, depth + 1);
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

/* ---- include and extends ---- */

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

static struct berth_node *load_file(struct berth__reader *r, const char *path, int depth,
                                    berth_err *err);

/* Resolves `extends` of every service of root (file at dir). */
static void resolve_extends(struct berth__reader *r, struct berth_node *root, const char *dir,
                            int depth, berth_err *err) {
  struct berth_node *services = berth_node_get(root, "services");
  if (!services || services->type != BERTH_NODE_MAP)
    return;
  for (int pass = 0; pass < 16; pass++) { /* chains a -> b -> c resolve pass by pass */
    bool pending = false;
    for (size_t i = 0; i + 1 < services->n; i += 2) {
      struct berth_node *svc = services->items[i + 1];
      long ei = berth_node_index(svc, "extends");
      if (ei < 0)
        continue;
      struct berth_node *ext = svc->items[ei + 1];
      const struct berth_node *from =
          ext->type == BERTH_NODE_MAP ? berth_node_get(ext, "service") : ext;
      const struct berth_node *file =
          ext->type == BERTH_NODE_MAP ? berth_node_get(ext, "file") : NULL;
      char path[512];
      snprintf(path, sizeof(path), "services.%s.extends", services->items[i]->value);
      if (!from || from->type != BERTH_NODE_SCALAR) {
        berth__error(r, ext, path, "expected a service name or {service, file}");
        berth_node_remove(svc, "extends");
        continue;
      }
      struct berth_node *base = NULL, *other = NULL;
      if (file && file->type == BERTH_NODE_SCALAR) {
        _cleanup_free_ char *fpath = berth__abspath(dir, file->value);
        _cleanup_free_ char *fdir = fpath ? dirname_of(fpath) : NULL;
        if (!fdir) {
          r->oom = true;
          return;
        }
        berth_err e = NULL;
        other = load_file(r, fpath, depth + 1, &e);
        if (!other) {
          berth__error(r, file, path, "%s", e ? berth_err_root_msg(e) : "cannot read the file");
          berth_err_free(&e);
          berth_node_remove(svc, "extends");
          continue;
        }
        rebase_doc(r, other, fdir);
        base = berth_node_get(berth_node_get(other, "services"), from->value);
      } else {
        base = berth_node_get(services, from->value);
        if (base && berth_node_index(base, "extends") >= 0) {
          pending = true; /* resolve the base first */
          continue;
        }
      }
      if (!base || base->type != BERTH_NODE_MAP) {
        const char *sug = NULL;
        berth__error(r, from, path, "no service named \"%s\" to extend%s", from->value,
                     sug ? "" : "");
        berth_node_free(other);
        berth_node_remove(svc, "extends");
        continue;
      }
      struct berth_node *merged = berth_node_copy(base);
      if (!merged) {
        r->oom = true;
        berth_node_free(other);
        return;
      }
      /* depends_on is not inherited (Compose). */
      berth_node_remove(merged, "depends_on");
      berth_node_remove(svc, "extends");
      struct berth_node *wrap_b = berth_node_new(BERTH_NODE_MAP, svc, NULL);
      struct berth_node *wrap_o = berth_node_new(BERTH_NODE_MAP, svc, NULL);
      if (!wrap_b || !wrap_o) {
        r->oom = true;
        berth_node_free(wrap_b);
        berth_node_free(wrap_o);
        berth_node_free(merged);
        berth_node_free(other);
        return;
      }
      /* merge_maps treats depth 2 as a service: wrap accordingly. */
      merge_maps(r, merged, svc, 2);
      berth_node_free(wrap_b);
      berth_node_free(wrap_o);
      free(svc->items);
      free(svc->value);
      *svc = *merged;
      free(merged);
      berth_node_free(other);
    }
    if (!pending)
      return;
  }
  berth__error(r, services, "services", "extends forms a cycle or a chain longer than 16");
}

static void resolve_includes(struct berth__reader *r, struct berth_node *root, const char *dir,
                             int depth, berth_err *err) {
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
  for (size_t i = 0; i < inc->n; i++) {
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
    _cleanup_free_ char *fpath = berth__abspath(dir, pathn->value);
    _cleanup_free_ char *fdir = fpath ? dirname_of(fpath) : NULL;
    if (!fdir) {
      r->oom = true;
      return;
    }
    berth_err e = NULL;
    struct berth_node *sub = load_file(r, fpath, depth + 1, &e);
    if (!sub) {
      berth__error(r, pathn, where, "%s", e ? berth_err_root_msg(e) : "cannot read the file");
      berth_err_free(&e);
      continue;
    }
    rebase_doc(r, sub, fdir);
    for (size_t k = 1; more && k < more->n; k++) {
      if (more->items[k]->type != BERTH_NODE_SCALAR)
        continue;
      _cleanup_free_ char *opath = berth__abspath(dir, more->items[k]->value);
      _cleanup_free_ char *odir = opath ? dirname_of(opath) : NULL;
      berth_err oe = NULL;
      struct berth_node *over = odir ? load_file(r, opath, depth + 1, &oe) : NULL;
      if (!over) {
        berth__error(r, more->items[k], where, "%s",
                     oe ? berth_err_root_msg(oe) : "cannot read the file");
        berth_err_free(&oe);
        continue;
      }
      rebase_doc(r, over, odir);
      merge_maps(r, sub, over, 0);
      berth_node_free(over);
    }
    /* An included file's services, networks, volumes, ... join the
     * project; the same name twice is an error (Compose). */
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
        if (!k || !to || berth_node_put(root, k, to) < 0) {
          berth_node_free(k);
          berth_node_free(to);
          r->oom = true;
          break;
        }
      }
      for (size_t j = 0; j + 1 < from->n; j += 2) {
        if (berth_node_index(to, from->items[j]->value) >= 0) {
          char p[300];
          snprintf(p, sizeof(p), "%s.%s", *s, from->items[j]->value);
          berth__error(r, from->items[j], p, "also defined by the file that includes %s",
                       pathn->value);
          continue;
        }
        struct berth_node *k = berth_node_copy(from->items[j]);
        struct berth_node *v = berth_node_copy(from->items[j + 1]);
        if (!k || !v || berth_node_put(to, k, v) < 0) {
          berth_node_free(k);
          berth_node_free(v);
          r->oom = true;
        }
      }
    }
    berth_node_free(sub);
  }
  berth_node_remove(root, "include");
}

/* Reads one file: parse, interpolate, normalize, includes, extends. */
static struct berth_node *load_file(struct berth__reader *r, const char *path, int depth,
                                    berth_err *err) {
  if (depth > 8) {
    berth_err_set(err, BERTH_E_INVALID, "%s: include/extends nested deeper than 8 files", path);
    return NULL;
  }
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
  _cleanup_fclose_ FILE *f = fopen(name, "re");
  if (!f) {
    berth_err_errno(err, errno, "%s", name);
    return NULL;
  }
  fclose(TAKE_PTR(f));
  if (berth_yaml_load(name, &root, err) < 0) {
    /* Report a syntax error as a diagnostic: the message carries the
     * position already. */
    return NULL;
  }
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
  normalize_doc(r, root);
  _cleanup_free_ char *dir = dirname_of(name);
  if (!dir) {
    berth_node_free(root);
    berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    return NULL;
  }
  resolve_includes(r, root, dir, depth, err);
  resolve_extends(r, root, dir, depth, err);
  return root;
}

/* ---- validation of the model ---- */

static struct berth_node pos_node(const struct berth_pos *p) {
  return (struct berth_node){.file = p->file, .line = p->line, .col = p->col};
}

/* The services' graph: an edge per dependency on a declared service, its
 * tag the dependency's index in deps. Services whose out-edges are
 * dropped (a cycle already reported) are left without them. */
static int services_graph(const struct berth_project *p, const bool *dropped, struct berth_graph *g,
                          berth_err *err) {
  for (size_t i = 0; i < p->n_services; i++)
    if (berth_graph_add(g, p->services[i].name, err) < 0)
      return -1;
  for (size_t i = 0; i < p->n_services; i++) {
    const struct berth_service *svc = &p->services[i];
    for (size_t k = 0; k < svc->n_deps && !dropped[i]; k++) {
      long t = berth_graph_find(g, svc->deps[k].service);
      if (t >= 0 && berth_graph_edge(g, i, (size_t)t, (int)k, err) < 0)
        return -1;
    }
  }
  return 0;
}

static void report_cycle(struct berth__reader *r, const struct berth_graph *g, const size_t *path,
                         size_t len) {
  const struct berth_project *p = r->p;
  struct berth_buf b = BERTH_BUF_INIT(1 << 16);
  for (size_t k = 0; k < len; k++)
    berth_buf_addf(&b, "%s -> ", g->names[path[k]]);
  berth_buf_addf(&b, "%s", g->names[path[0]]);
  /* The edge that closes it: the last node's dependency on the first. */
  const struct berth_service *last = &p->services[path[len - 1]];
  const struct berth_dep *d = NULL;
  for (size_t e = 0; e < g->n_out[path[len - 1]]; e++)
    if (g->out[path[len - 1]][e].to == path[0])
      d = &last->deps[g->out[path[len - 1]][e].tag];
  struct berth_node at = d ? pos_node(&d->pos) : (struct berth_node){0};
  char where[300];
  snprintf(where, sizeof(where), "services.%s.depends_on", last->name);
  if (!b.data)
    r->oom = true;
  berth__error(r, &at, where, "dependency cycle: %s; remove one of these dependencies",
               b.data ? b.data : "");
  berth_buf_release(&b);
}

/* Reports every cycle once: after one is reported, its services' own
 * dependencies are left out and the search runs again. */
static void check_cycles(struct berth__reader *r) {
  const struct berth_project *p = r->p;
  if (!p->n_services)
    return;
  _cleanup_free_ bool *dropped = calloc(p->n_services, sizeof(*dropped));
  if (!dropped) {
    r->oom = true;
    return;
  }
  for (;;) {
    struct berth_graph g = BERTH_GRAPH_INIT;
    _cleanup_err_ berth_err err = NULL;
    size_t *path = NULL, len = 0;
    int found = services_graph(p, dropped, &g, &err);
    if (found >= 0)
      found = berth_graph_cycle(&g, &path, &len, &err);
    if (found < 0)
      r->oom = true; /* the graph fails only for memory */
    if (found == 1) {
      report_cycle(r, &g, path, len);
      for (size_t k = 0; k < len; k++)
        dropped[path[k]] = true;
    }
    free(path);
    berth_graph_release(&g);
    if (found != 1)
      return;
  }
}

static bool under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  if (n == 1 && dir[0] == '/')
    return true;
  return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

static void validate(struct berth__reader *r) {
  struct berth_project *p = r->p;
  for (size_t i = 0; i < p->n_services; i++) {
    struct berth_service *s = &p->services[i];
    struct berth_node at = pos_node(&s->pos);
    char path[300];
    snprintf(path, sizeof(path), "services.%s", s->name);
    if ((!s->image || !*s->image) && !s->build)
      berth__error(r, &at, path, "has neither image nor build; add image: NAME or build: DIR");
    for (size_t d = 0; d < s->n_deps; d++) {
      struct berth_dep *dep = &s->deps[d];
      bool known = berth_project_service(p, dep->service) != NULL;
      for (size_t k = 0; !known && k < p->n_infra; k++)
        known = !strcmp(p->infra[k].name, dep->service);
      bool off = false;
      for (size_t k = 0; !known && k < r->off.n; k++)
        off |= !strcmp(r->off.v[k], dep->service);
      if (off && !dep->required)
        continue; /* optional, and its profile is off: up skips it */
      if (off) {
        struct berth_node dat = pos_node(&dep->pos);
        snprintf(path, sizeof(path), "services.%s.depends_on.%s", s->name, dep->service);
        berth__error(r, &dat, path,
                     "%s is not active: its profile was not selected; add --profile for it, or "
                     "mark this dependency required: false",
                     dep->service);
        continue;
      }
      if (!known) {
        struct berth_node dat = pos_node(&dep->pos);
        snprintf(path, sizeof(path), "services.%s.depends_on.%s", s->name, dep->service);
        _cleanup_free_ const char **names = calloc(p->n_services + p->n_infra + 1, sizeof(char *));
        size_t nn = 0;
        for (size_t k = 0; names && k < p->n_services; k++)
          names[nn++] = p->services[k].name;
        for (size_t k = 0; names && k < p->n_infra; k++)
          names[nn++] = p->infra[k].name;
        const char *sug = names ? berth__suggest(dep->service, names) : NULL;
        berth__error(r, &dat, path, "no service or infra named \"%s\"%s%s%s", dep->service,
                     sug ? " (did you mean \"" : "", sug ? sug : "", sug ? "\"?)" : "");
      }
    }
    for (size_t w = 0; w < s->n_watch; w++)
      if (!under(s->watch[w].path, p->dir)) {
        struct berth_node wat = pos_node(&s->watch[w].pos);
        snprintf(path, sizeof(path), "services.%s.watch[%zu].path", s->name, w);
        berth__error(r, &wat, path,
                     "%s is outside the project directory %s; watch paths must be inside it",
                     s->watch[w].path, p->dir);
      }
    /* Host ports: the same address and port published twice cannot
     * work. The engine picks 0; ranges are compared by overlap. */
    for (size_t a = 0; a < s->n_ports; a++) {
      const struct berth_port *pa = &s->ports[a];
      if (!pa->host_start ||
          (pa->host_end > pa->host_start && pa->container_end == pa->container_start))
        continue; /* none, or the engine picks one port in a range */
      for (size_t j = 0; j <= i; j++) {
        const struct berth_service *o = &p->services[j];
        for (size_t b = 0; b < o->n_ports; b++) {
          const struct berth_port *pb = &o->ports[b];
          if (j == i && b >= a)
            break;
          if (!pb->host_start || strcmp(pa->protocol, pb->protocol) ||
              (pb->host_end > pb->host_start && pb->container_end == pb->container_start))
            continue;
          bool same_ip = !strcmp(pa->host_ip, pb->host_ip) || !strcmp(pa->host_ip, "0.0.0.0") ||
                         !strcmp(pb->host_ip, "0.0.0.0");
          if (same_ip && pa->host_start <= pb->host_end && pb->host_start <= pa->host_end) {
            struct berth_node pat = pos_node(&pa->pos);
            snprintf(path, sizeof(path), "services.%s.ports[%zu]", s->name, a);
            berth__error(r, &pat, path,
                         "host port %s:%u/%s is also published by services.%s (line %d); give "
                         "one of them another host port",
                         pa->host_ip, pa->host_start, pa->protocol, o->name, pb->pos.line);
          }
        }
      }
    }
  }
  check_cycles(r);
}

/* Keeps the services of the active profiles (and those without any), and
 * says when a requested profile selects nothing. */
static void apply_profiles(struct berth__reader *r, const struct berth_load_opts *o) {
  struct berth_project *p = r->p;
  _cleanup_free_ char *env_copy = NULL;
  const char *const *want = o->profiles;
  size_t n_want = o->n_profiles;
  _cleanup_free_ const char **env_list = NULL;
  if (!n_want && getenv("COMPOSE_PROFILES") && *getenv("COMPOSE_PROFILES")) {
    env_copy = strdup(getenv("COMPOSE_PROFILES"));
    env_list = calloc(64, sizeof(char *));
    if (!env_copy || !env_list) {
      r->oom = true;
      return;
    }
    for (char *save = NULL, *t = strtok_r(env_copy, ",", &save); t && n_want < 63;
         t = strtok_r(NULL, ",", &save)) {
      while (*t == ' ')
        t++;
      size_t tl = strlen(t);
      while (tl && t[tl - 1] == ' ')
        t[--tl] = '\0';
      if (*t)
        env_list[n_want++] = t;
    }
    want = env_list;
  }
  for (size_t w = 0; w < n_want; w++) {
    bool used = !strcmp(want[w], "*");
    for (size_t i = 0; i < p->n_services && !used; i++)
      for (size_t k = 0; k < p->services[i].profiles.n && !used; k++)
        used = !strcmp(p->services[i].profiles.v[k], want[w]);
    if (!used) {
      struct berth_buf known = BERTH_BUF_INIT(1 << 16);
      for (size_t i = 0; i < p->n_services; i++)
        for (size_t k = 0; k < p->services[i].profiles.n; k++) {
          const char *pf = p->services[i].profiles.v[k];
          bool dup = false;
          for (size_t j = 0; j < i && !dup; j++)
            for (size_t m = 0; m < p->services[j].profiles.n && !dup; m++)
              dup = !strcmp(p->services[j].profiles.v[m], pf);
          for (size_t m = 0; m < k && !dup; m++)
            dup = !strcmp(p->services[i].profiles.v[m], pf);
          if (!dup)
            berth_buf_addf(&known, "%s%s", known.len ? ", " : "", pf);
        }
      if (known.len)
        berth__error(r, NULL, NULL,
                     "the profile \"%s\" selects no service; profiles in use are those listed "
                     "under the services' profiles: %s",
                     want[w], known.data);
      else
        berth__error(r, NULL, NULL,
                     "the profile \"%s\" selects no service; no service has profiles", want[w]);
      berth_buf_release(&known);
    }
    char **v = realloc(p->active_profiles.v, (p->active_profiles.n + 1) * sizeof(*v));
    if (!v || !(v[p->active_profiles.n] = strdup(want[w]))) {
      if (v)
        p->active_profiles.v = v;
      r->oom = true;
      return;
    }
    p->active_profiles.v = v;
    p->active_profiles.n++;
  }
  size_t keep = 0;
  for (size_t i = 0; i < p->n_services; i++) {
    struct berth_service *s = &p->services[i];
    bool on = s->profiles.n == 0;
    for (size_t k = 0; k < s->profiles.n && !on; k++)
      for (size_t w = 0; w < n_want && !on; w++)
        on = !strcmp(want[w], "*") || !strcmp(s->profiles.v[k], want[w]);
    if (on) {
      p->services[keep++] = *s;
    } else {
      char **v = realloc(r->off.v, (r->off.n + 1) * sizeof(*v));
      if (v && (v[r->off.n] = strdup(s->name)))
        r->off.n++;
      if (v)
        r->off.v = v;
      /* Free the dropped service by moving it into a scratch project. */
      struct berth_project *scratch = calloc(1, sizeof(*scratch));
      if (!scratch) {
        r->oom = true;
        p->services[keep++] = *s;
        continue;
      }
      scratch->services = malloc(sizeof(*scratch->services));
      if (!scratch->services) {
        free(scratch);
        r->oom = true;
        p->services[keep++] = *s;
        continue;
      }
      scratch->services[0] = *s;
      scratch->n_services = 1;
      berth_project_free(scratch);
    }
  }
  p->n_services = keep;
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

int berth_manifest_load(const struct berth_load_opts *o, struct berth_project **ret,
                        struct berth_diags *diags, berth_err *err) {
  struct berth_project *p = calloc(1, sizeof(*p));
  if (!p)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  struct berth_vars vars;
  berth_vars_init(&vars);
  struct berth__reader r = {.diags = diags, .p = p, .vars = &vars};
  _cleanup_free_ char *cwd = getcwd(NULL, 0);
  _cleanup_free_ char *found = NULL, *override = NULL;
  _cleanup_free_ char **paths = calloc(o->n_files + 1, sizeof(char *));
  size_t n_paths = 0;
  struct berth_node *merged = NULL;
  int rc = 0;
  if (!cwd || !paths) {
    rc = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    goto out;
  }
  const char *dir = o->dir ? o->dir : cwd;
  if (o->n_files == 0) {
    if ((rc = find_default(dir, &found, err)) < 0)
      goto out;
    paths[n_paths++] = found;
  } else {
    for (size_t i = 0; i < o->n_files; i++) {
      if (!(paths[n_paths++] = berth__abspath(cwd, o->files[i]))) {
        rc = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
        goto out;
      }
    }
  }
  char *first = o->n_files ? paths[0] : berth__abspath(cwd, found);
  if (!o->n_files) {
    free(found);
    found = first;
    paths[0] = first;
  }
  if (!(p->dir = dirname_of(first))) {
    rc = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    goto out;
  }
  r.dir = p->dir;
  const char *b0 = base_name(first);
  p->format = strncmp(b0, "berth.", 6) ? BERTH_FORMAT_COMPOSE : BERTH_FORMAT_BERTH;
  r.compose = p->format == BERTH_FORMAT_COMPOSE;
  {
    _cleanup_free_ char *envpath = NULL;
    if (asprintf(&envpath, "%s/.env", p->dir) < 0) {
      rc = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
      goto out;
    }
    berth_err e = NULL;
    if (berth_dotenv_load(envpath, true, berth_lookup_env_then_vars, NULL, &vars, &e) < 0) {
      berth__error_at_message(&r, envpath, berth_err_root_msg(e));
      berth_err_free(&e);
    }
  }
  /* Compose also reads compose.override.yaml beside an auto-found file. */
  const char *override_names[] = {"compose.override.yaml", "compose.override.yml",
                                  "docker-compose.override.yml", "docker-compose.override.yaml",
                                  NULL};
  if (!o->n_files && r.compose)
    for (const char *const *n = override_names; *n && !override; n++) {
      char *cand = NULL;
      if (asprintf(&cand, "%s/%s", p->dir, *n) < 0)
        break;
      if (access(cand, F_OK) == 0)
        override = cand;
      else
        free(cand);
    }
  for (size_t i = 0; i < n_paths + (override ? 1 : 0); i++) {
    const char *path = i < n_paths ? paths[i] : override;
    berth_err e = NULL;
    struct berth_node *doc = load_file(&r, path, 0, &e);
    if (!doc) {
      if (berth_err_code(e) == BERTH_E_INVALID || berth_err_code(e) == BERTH_E_TOO_BIG) {
        berth__error_at_message(&r, path, berth_err_root_msg(e));
        berth_err_free(&e);
        continue;
      }
      *err = e;
      rc = berth_err_wrap(err, "reading the manifest");
      goto out;
    }
    if (!merged) {
      merged = doc;
    } else {
      merge_maps(&r, merged, doc, 0);
      berth_node_free(doc);
    }
  }
  if (merged)
    berth__read_project(&r, merged);
  /* Compose's order: -p, COMPOSE_PROJECT_NAME, name:, the directory. */
  const char *env_name = getenv("COMPOSE_PROJECT_NAME");
  if ((o->project_name && *o->project_name) || (env_name && *env_name)) {
    free(p->name);
    p->name = normalize_name(o->project_name && *o->project_name ? o->project_name : env_name);
  } else if (p->name) {
    _cleanup_free_ char *norm = normalize_name(p->name);
    if (norm && strcmp(norm, p->name))
      berth__error(&r, NULL, "name",
                   "\"%s\" is not a project name: use lower-case letters, digits, - and _ "
                   "(for example \"%s\")",
                   p->name, norm);
  } else {
    p->name = normalize_name(base_name(p->dir));
  }
  if (!p->name) {
    rc = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    goto out;
  }
  if (!*p->name)
    berth__error(&r, NULL, NULL,
                 "the project has no usable name; set name: in the manifest or -p NAME");
  apply_profiles(&r, o);
  validate(&r);
  if (r.oom) {
    rc = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    goto out;
  }
  if (diags->errors) {
    rc = berth_err_set(err, BERTH_E_INVALID, "%zu error%s in the manifest", diags->errors,
                       diags->errors == 1 ? "" : "s");
    goto out;
  }
  *ret = TAKE_PTR(p);
out:
  berth_node_free(merged);
  for (size_t i = 0; i < n_paths; i++)
    if (paths[i] != found)
      free(paths[i]);
  berth_vars_release(&vars);
  for (size_t i = 0; i < r.off.n; i++)
    free(r.off.v[i]);
  free(r.off.v);
  berth_project_free(p);
  return rc;
}
