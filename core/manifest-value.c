/* Typed reads of the positioned YAML tree, shared by the readers of
 * every key group: each reports what is wrong at its node and returns a
 * default, so one load reports every problem at once. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "cleanup.h"
#include "manifest-internal.h"

/* Builds "a.b[3]" style paths into a caller's buffer. */
const char *berth__pathf(char *buf, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, BERTH__PATH_MAX, fmt, ap);
  va_end(ap);
  return buf;
}

char *berth__strdup(struct berth__reader *r, const char *s) {
  if (!s)
    return NULL;
  char *d = strdup(s);
  if (!d)
    r->oom = true;
  return d;
}

struct berth_pos berth__pos_of(const struct berth_node *n) {
  return (struct berth_pos){
      .file = n ? n->file : NULL, .line = n ? n->line : 0, .col = n ? n->col : 0};
}

/* Grows *v (of *n elements of size sz) by one zeroed element. */
void *berth__grow(struct berth__reader *r, void *vp, size_t *n, size_t sz) {
  void **v = vp;
  char *p = realloc(*v, (*n + 1) * sz);
  if (!p) {
    r->oom = true;
    return NULL;
  }
  memset(p + *n * sz, 0, sz);
  *v = p;
  return p + (*n)++ * sz;
}

/* Lists stay NULL-terminated, so they serve as argv as they are. */
void berth__strv_push(struct berth__reader *r, struct berth_strv *sv, const char *s) {
  char **v = realloc(sv->v, (sv->n + 2) * sizeof(*v));
  if (!v) {
    r->oom = true;
    return;
  }
  sv->v = v;
  if (!(v[sv->n] = berth__strdup(r, s)))
    return;
  v[++sv->n] = NULL;
}

void berth__kvv_set(struct berth__reader *r, struct berth_kvv *kv, const char *k, const char *v) {
  for (size_t i = 0; i < kv->n; i++)
    if (!strcmp(kv->v[i].key, k)) {
      free(kv->v[i].value);
      kv->v[i].value = berth__strdup(r, v);
      return;
    }
  struct berth_kv *slot = berth__grow(r, &kv->v, &kv->n, sizeof(*slot));
  if (slot) {
    slot->key = berth__strdup(r, k);
    slot->value = berth__strdup(r, v);
  }
}

/* ---- typed reads ---- */

bool berth__is_scalar(const struct berth_node *n) {
  return n && n->type == BERTH_NODE_SCALAR;
}

bool berth__want_scalar(struct berth__reader *r, const struct berth_node *n, const char *path,
                        const char *what) {
  if (berth__is_scalar(n))
    return true;
  berth__error(r, n, path, "expected %s, found %s", what, berth_node_type_name(n));
  return false;
}

char *berth__read_str(struct berth__reader *r, const struct berth_node *n, const char *path) {
  if (berth_node_is_null(n))
    return NULL;
  return berth__want_scalar(r, n, path, "a string") ? berth__strdup(r, n->value) : NULL;
}

bool berth__read_bool(struct berth__reader *r, const struct berth_node *n, const char *path,
                      bool def) {
  bool b;
  if (berth_node_is_null(n))
    return def;
  if (berth_node_is_bool(n, &b))
    return b;
  berth__error(r, n, path, "expected true or false, found \"%s\"",
               berth__is_scalar(n) ? n->value : "");
  return def;
}

int64_t berth__read_int(struct berth__reader *r, const struct berth_node *n, const char *path,
                        int64_t min, int64_t max, int64_t def) {
  int64_t v;
  if (berth_node_is_null(n))
    return def;
  if (!berth_node_is_int(n, &v) &&
      !(berth__is_scalar(n) && n->quoted &&
        berth_node_is_int(&(struct berth_node){.type = BERTH_NODE_SCALAR, .value = n->value},
                          &v))) {
    berth__error(r, n, path, "expected a whole number, found \"%s\"",
                 berth__is_scalar(n) ? n->value : berth_node_type_name(n));
    return def;
  }
  if (v < min || v > max) {
    berth__error(r, n, path, "%lld is out of range (%lld to %lld)", (long long)v, (long long)min,
                 (long long)max);
    return def;
  }
  return v;
}

/* A day is more than any wait, interval or grace period needs, and keeps
 * every conversion (to the engine's nanoseconds, to an int of
 * milliseconds or seconds) far from overflowing. */
#define MAX_DURATION_MS (24LL * 3600 * 1000)

int64_t berth__read_duration(struct berth__reader *r, const struct berth_node *n, const char *path,
                             int64_t def) {
  if (berth_node_is_null(n))
    return def;
  int64_t ms;
  if (!berth__want_scalar(r, n, path, "a duration"))
    return def;
  if (berth_parse_duration_ms(n->value, &ms) < 0) {
    berth__error(r, n, path, "\"%s\" is not a duration; write it like 30s, 1m30s or 250ms",
                 n->value);
    return def;
  }
  if (ms > MAX_DURATION_MS) {
    berth__error(r, n, path,
                 "\"%s\" is longer than 24h, the longest duration berth takes; write 24h or less",
                 n->value);
    return def;
  }
  return ms;
}

/* One word of a command string: what a program gets as one argument
 * (Linux itself takes 128 KiB; the bound is berth's, against a manifest
 * that would make it copy megabytes). */
#define MAX_WORD (1u << 20)

struct word {
  struct berth_buf b;
  bool too_long;
};

static void word_add(struct berth__reader *r, struct word *w, const char *s, size_t len) {
  int e = berth_buf_add(&w->b, s, len);
  if (e == -BERTH_E_TOO_BIG)
    w->too_long = true;
  else if (e < 0)
    r->oom = true;
}

/* Splits a command string the way Compose does (shell words, no shell). */
void berth__shell_split(struct berth__reader *r, const struct berth_node *n, const char *path,
                        struct berth_strv *out) {
  const char *s = n->value;
  struct word w = {.b = BERTH_BUF_INIT(MAX_WORD)};
  bool in_word = false;
  while (!w.too_long && *s) {
    char c = *s;
    if (isspace((unsigned char)c)) {
      if (in_word) {
        berth__strv_push(r, out, w.b.data ? w.b.data : "");
        berth_buf_reset(&w.b);
        in_word = false;
      }
      s++;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      const char *end = strchr(s + 1, '\'');
      if (!end) {
        berth__error(r, n, path, "unterminated ' quote in \"%.200s\"", n->value);
        break;
      }
      word_add(r, &w, s + 1, (size_t)(end - s - 1));
      s = end + 1;
    } else if (c == '"') {
      s++;
      while (*s && *s != '"' && !w.too_long) {
        if (*s == '\\' && (s[1] == '"' || s[1] == '\\' || s[1] == '$' || s[1] == '`'))
          s++;
        word_add(r, &w, s, 1);
        s++;
      }
      if (w.too_long)
        break;
      if (*s != '"') {
        berth__error(r, n, path, "unterminated \" quote in \"%.200s\"", n->value);
        break;
      }
      s++;
    } else if (c == '\\' && s[1]) {
      word_add(r, &w, s + 1, 1);
      s += 2;
    } else {
      word_add(r, &w, s, 1);
      s++;
    }
  }
  if (w.too_long)
    berth__error(r, n, path,
                 "an argument is longer than %u MiB, the most berth takes in one; pass the data "
                 "in a file instead",
                 MAX_WORD >> 20);
  else if (in_word)
    berth__strv_push(r, out, w.b.data ? w.b.data : "");
  berth_buf_release(&w.b);
}

/* A list of strings; a single string becomes [s] (or shell words). */
void berth__read_strv(struct berth__reader *r, const struct berth_node *n, const char *path,
                      struct berth_strv *out, bool string_ok, bool split) {
  char p[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  if (berth__is_scalar(n) && string_ok) {
    if (split)
      berth__shell_split(r, n, path, out);
    else
      berth__strv_push(r, out, n->value);
    return;
  }
  if (n->type != BERTH_NODE_SEQ) {
    berth__error(r, n, path, "expected a list%s, found %s", string_ok ? " or a string" : "",
                 berth_node_type_name(n));
    return;
  }
  for (size_t i = 0; i < n->n; i++)
    if (berth__want_scalar(r, n->items[i], berth__pathf(p, "%s[%zu]", path, i), "a string"))
      berth__strv_push(r, out, n->items[i]->value);
}

/* {K: V} (list forms were turned into maps before merging). */
void berth__read_kv(struct berth__reader *r, const struct berth_node *n, const char *path,
                    struct berth_kvv *out, bool null_from_env) {
  char p[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  if (n->type != BERTH_NODE_MAP) {
    berth__error(r, n, path, "expected a mapping or a list of KEY=VALUE, found %s",
                 berth_node_type_name(n));
    return;
  }
  for (size_t i = 0; i + 1 < n->n; i += 2) {
    const struct berth_node *k = n->items[i], *v = n->items[i + 1];
    if (!berth__want_scalar(r, k, path, "a key"))
      continue;
    if (berth_node_is_null(v)) {
      if (null_from_env) {
        /* "KEY" alone: the value comes from the environment (or .env);
         * unset means the variable is not passed at all. */
        /* Unset everywhere: the variable is declared without a value
         * (null), and it overrides an env_file's value (Compose). */
        const char *val = berth_lookup_env_then_vars(k->value, r->vars);
        berth__kvv_set(r, out, k->value, val);
      } else {
        berth__kvv_set(r, out, k->value, "");
      }
      continue;
    }
    if (berth__want_scalar(r, v, berth__pathf(p, "%s.%s", path, k->value),
                           "a string, number or boolean"))
      berth__kvv_set(r, out, k->value, v->value);
  }
}

/* One key of a mapping checked: false for keys to skip (not a string,
 * unknown, unsupported, x-). The suggestion comes from the known names. */
static bool check_key(struct berth__reader *r, const struct berth_node *k, const char *path,
                      bool known, bool unsupported, const char *suggestion) {
  char p[BERTH__PATH_MAX];
  if (!berth__is_scalar(k)) {
    berth__error(r, k, path, "keys must be strings, found %s", berth_node_type_name(k));
    return false;
  }
  if (!strncmp(k->value, "x-", 2))
    return false;
  if (known)
    return true;
  berth__pathf(p, "%s%s%s", path, *path ? "." : "", k->value);
  if (unsupported)
    berth__warn(r, k, p, "not supported by berth yet; ignored");
  else
    berth__error(r, k, p, "unknown key \"%s\"%s%s%s", k->value,
                 suggestion ? " (did you mean \"" : "", suggestion ? suggestion : "",
                 suggestion ? "\"?)" : "");
  return false;
}

void berth__check_keys(struct berth__reader *r, const struct berth_node *map, const char *path,
                       const char *const *known, const char *const *unsupported) {
  for (size_t i = 0; i + 1 < map->n; i += 2) {
    const struct berth_node *k = map->items[i];
    bool ok = false, unsup = false;
    for (const char *const *kk = known; berth__is_scalar(k) && *kk && !ok; kk++)
      ok = !strcmp(*kk, k->value);
    for (const char *const *kk = unsupported; berth__is_scalar(k) && kk && *kk && !ok && !unsup;
         kk++)
      unsup = !strcmp(*kk, k->value);
    const char *sug = berth__is_scalar(k) && !ok && !unsup ? berth__suggest(k->value, known) : NULL;
    check_key(r, k, path, ok, unsup, sug);
  }
}

static const struct berth__key *find_key(const struct berth__key *keys, const char *name) {
  for (; keys->name; keys++)
    if (!strcmp(keys->name, name))
      return keys;
  return NULL;
}

/* berth__suggest over the supported names of a table. */
static const char *suggest_key(struct berth__reader *r, const char *key,
                               const struct berth__key *keys) {
  size_t n = 0;
  for (const struct berth__key *k = keys; k->name; k++)
    n++;
  _cleanup_free_ const char **names = calloc(n + 1, sizeof(*names));
  if (!names) {
    r->oom = true;
    return NULL;
  }
  n = 0;
  for (const struct berth__key *k = keys; k->name; k++)
    if (!(k->flags & BERTH__KEY_UNSUPPORTED))
      names[n++] = k->name;
  return berth__suggest(key, names);
}

void berth__read_keys(struct berth__reader *r, const struct berth_node *map, const char *path,
                      const struct berth__key *keys, void *obj) {
  char p[BERTH__PATH_MAX];
  for (size_t i = 0; i + 1 < map->n; i += 2) {
    const struct berth_node *k = map->items[i];
    const struct berth__key *key = berth__is_scalar(k) ? find_key(keys, k->value) : NULL;
    bool known = key && !(key->flags & BERTH__KEY_UNSUPPORTED);
    const char *sug = berth__is_scalar(k) && !key && strncmp(k->value, "x-", 2)
                          ? suggest_key(r, k->value, keys)
                          : NULL;
    check_key(r, k, path, known, key && !known, sug);
  }
  for (const struct berth__key *key = keys; key->name; key++) {
    const struct berth_node *v;
    if (!key->read || (key->flags & BERTH__KEY_UNSUPPORTED) ||
        !(v = berth_node_get(map, key->name)))
      continue;
    key->read(r, obj, v, berth__pathf(p, "%s%s%s", path, *path ? "." : "", key->name));
  }
}

const struct berth_node *berth__want_map(struct berth__reader *r, const struct berth_node *n,
                                         const char *path) {
  if (n && n->type == BERTH_NODE_MAP)
    return n;
  if (!berth_node_is_null(n))
    berth__error(r, n, path, "expected a mapping, found %s", berth_node_type_name(n));
  return NULL;
}
