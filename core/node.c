/* YAML (libyaml's document API) to struct berth_node trees. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "berth/buf.h"
#include "berth/node.h"
#include "cleanup.h"

struct berth_node *berth_node_free(struct berth_node *n) {
  if (!n)
    return NULL;
  for (size_t i = 0; i < n->n; i++)
    berth_node_free(n->items[i]);
  free(n->items);
  free(n->value);
  free(n);
  return NULL;
}

struct berth_node *berth_node_new(enum berth_node_type type, const struct berth_node *at,
                                  const char *value) {
  struct berth_node *n = calloc(1, sizeof(*n));
  if (!n)
    return NULL;
  n->type = type;
  if (at) {
    n->file = at->file;
    n->line = at->line;
    n->col = at->col;
  }
  if (!(n->value = strdup(value ? value : ""))) {
    free(n);
    return NULL;
  }
  return n;
}

static int push(struct berth_node *n, struct berth_node *item) {
  if ((n->n & (n->n - 1)) == 0) { /* grow at powers of two */
    size_t cap = n->n ? n->n * 2 : 4;
    struct berth_node **p = realloc(n->items, cap * sizeof(*p));
    if (!p)
      return -BERTH_E_NOMEM;
    n->items = p;
  }
  n->items[n->n++] = item;
  return 0;
}

int berth_node_append(struct berth_node *n, struct berth_node *item) {
  return push(n, item);
}

int berth_node_put(struct berth_node *map, struct berth_node *key, struct berth_node *value) {
  if (push(map, key) < 0)
    return -BERTH_E_NOMEM;
  if (push(map, value) < 0) {
    map->n--;
    return -BERTH_E_NOMEM;
  }
  return 0;
}

struct berth_node *berth_node_copy(const struct berth_node *n) {
  if (!n)
    return NULL;
  struct berth_node *c = berth_node_new(n->type, n, n->value);
  if (!c)
    return NULL;
  c->quoted = n->quoted;
  c->tag = n->tag;
  for (size_t i = 0; i < n->n; i++) {
    struct berth_node *item = berth_node_copy(n->items[i]);
    if (!item || push(c, item) < 0) {
      berth_node_free(item);
      return berth_node_free(c);
    }
  }
  return c;
}

long berth_node_index(const struct berth_node *map, const char *key) {
  if (!map || map->type != BERTH_NODE_MAP)
    return -1;
  for (size_t i = 0; i + 1 < map->n; i += 2)
    if (map->items[i]->type == BERTH_NODE_SCALAR && !strcmp(map->items[i]->value, key))
      return (long)i;
  return -1;
}

struct berth_node *berth_node_get(const struct berth_node *map, const char *key) {
  long i = berth_node_index(map, key);
  return i < 0 ? NULL : map->items[i + 1];
}

bool berth_node_remove(struct berth_node *map, const char *key) {
  long i = berth_node_index(map, key);
  if (i < 0)
    return false;
  berth_node_free(map->items[i]);
  berth_node_free(map->items[i + 1]);
  memmove(&map->items[i], &map->items[i + 2], (map->n - (size_t)i - 2) * sizeof(*map->items));
  map->n -= 2;
  return true;
}

bool berth_node_is_null(const struct berth_node *n) {
  if (!n || n->type == BERTH_NODE_NULL)
    return true;
  if (n->type != BERTH_NODE_SCALAR || n->quoted)
    return false;
  const char *v = n->value;
  return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

bool berth_node_is_bool(const struct berth_node *n, bool *ret) {
  if (!n || n->type != BERTH_NODE_SCALAR || n->quoted)
    return false;
  const char *v = n->value;
  if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE")) {
    *ret = true;
    return true;
  }
  if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE")) {
    *ret = false;
    return true;
  }
  return false;
}

bool berth_node_is_int(const struct berth_node *n, int64_t *ret) {
  if (!n || n->type != BERTH_NODE_SCALAR || n->quoted || !*n->value)
    return false;
  char *end;
  errno = 0;
  long long v = strtoll(n->value, &end, 10);
  if (*end || errno)
    return false;
  *ret = v;
  return true;
}

const char *berth_node_type_name(const struct berth_node *n) {
  if (berth_node_is_null(n))
    return "null";
  switch (n->type) {
  case BERTH_NODE_SEQ:
    return "a list";
  case BERTH_NODE_MAP:
    return "a mapping";
  default:
    return "a scalar";
  }
}

/* ---- libyaml document -> tree ---- */

struct builder {
  yaml_document_t *doc;
  const char *name;
  char path[1024]; /* "services.api.ports[1]": where the builder is */
  size_t nodes;    /* created so far, aliases expanded: bounded */
  berth_err *err;
};

static int build(struct builder *b, yaml_node_t *yn, int depth, struct berth_node **ret);

static int too_big(struct builder *b, const yaml_node_t *yn, const char *what) {
  return berth_err_set(b->err, BERTH_E_TOO_BIG, "%s:%zu:%zu: %s", b->name, yn->start_mark.line + 1,
                       yn->start_mark.column + 1, what);
}

/* Applies "<<: *anchor" or "<<: [*a, *b]": keys of the merged maps that
 * the map does not set itself are added (earlier sources win). */
static int merge_into(struct builder *b, struct berth_node *map, struct berth_node *src,
                      const yaml_node_t *at) {
  if (src->type == BERTH_NODE_SEQ) {
    for (size_t i = 0; i < src->n; i++) {
      int r = merge_into(b, map, src->items[i], at);
      if (r < 0)
        return r;
    }
    return 0;
  }
  if (src->type != BERTH_NODE_MAP)
    return berth_err_set(b->err, BERTH_E_INVALID,
                         "%s:%zu:%zu: a merge key (<<) needs a mapping or a list of mappings",
                         b->name, at->start_mark.line + 1, at->start_mark.column + 1);
  for (size_t i = 0; i + 1 < src->n; i += 2) {
    if (src->items[i]->type == BERTH_NODE_SCALAR &&
        berth_node_index(map, src->items[i]->value) >= 0)
      continue;
    struct berth_node *k = berth_node_copy(src->items[i]);
    struct berth_node *v = berth_node_copy(src->items[i + 1]);
    if (!k || !v || berth_node_put(map, k, v) < 0) {
      berth_node_free(k);
      berth_node_free(v);
      return berth_err_set(b->err, BERTH_E_NOMEM, "out of memory");
    }
  }
  return 0;
}

static int build_map(struct builder *b, yaml_node_t *yn, int depth, struct berth_node *map) {
  /* Explicit keys first, then merges, so explicit keys win whatever their
   * position. */
  struct berth_node *merges = NULL;
  int r = 0;
  for (yaml_node_pair_t *p = yn->data.mapping.pairs.start; p < yn->data.mapping.pairs.top; p++) {
    yaml_node_t *kn = yaml_document_get_node(b->doc, p->key);
    yaml_node_t *vn = yaml_document_get_node(b->doc, p->value);
    struct berth_node *k = NULL, *v = NULL;
    if ((r = build(b, kn, depth + 1, &k)) < 0)
      break;
    size_t plen = strlen(b->path);
    if (k->type == BERTH_NODE_SCALAR)
      snprintf(b->path + plen, sizeof(b->path) - plen, "%s%s", plen ? "." : "", k->value);
    r = build(b, vn, depth + 1, &v);
    b->path[plen] = '\0';
    if (r < 0) {
      berth_node_free(k);
      break;
    }
    bool merge = k->type == BERTH_NODE_SCALAR && !k->quoted && !strcmp(k->value, "<<");
    if (merge) {
      berth_node_free(k);
      if (!merges && !(merges = berth_node_new(BERTH_NODE_SEQ, v, NULL))) {
        berth_node_free(v);
        r = berth_err_set(b->err, BERTH_E_NOMEM, "out of memory");
        break;
      }
      if (push(merges, v) < 0) {
        berth_node_free(v);
        r = berth_err_set(b->err, BERTH_E_NOMEM, "out of memory");
        break;
      }
      continue;
    }
    if (k->type == BERTH_NODE_SCALAR && berth_node_index(map, k->value) >= 0) {
      r = berth_err_set(b->err, BERTH_E_INVALID,
                        "%s:%d:%d: %s%s%s: the key \"%s\" appears twice in this mapping", b->name,
                        k->line, k->col, b->path, *b->path ? "." : "", k->value, k->value);
      berth_node_free(k);
      berth_node_free(v);
      break;
    }
    if (berth_node_put(map, k, v) < 0) {
      berth_node_free(k);
      berth_node_free(v);
      r = berth_err_set(b->err, BERTH_E_NOMEM, "out of memory");
      break;
    }
  }
  if (r >= 0 && merges)
    for (size_t i = 0; i < merges->n && r >= 0; i++)
      r = merge_into(b, map, merges->items[i], yn);
  berth_node_free(merges);
  return r;
}

static int build(struct builder *b, yaml_node_t *yn, int depth, struct berth_node **ret) {
  if (depth > BERTH_YAML_MAX_DEPTH)
    return too_big(b, yn, "the document nests deeper than 256 levels");
  if (++b->nodes > BERTH_YAML_MAX_NODES)
    return too_big(b, yn, "the document expands to more than a million nodes (aliases?)");
  struct berth_node *n = calloc(1, sizeof(*n));
  if (!n)
    return berth_err_set(b->err, BERTH_E_NOMEM, "out of memory");
  n->file = b->name;
  n->line = (int)yn->start_mark.line + 1;
  n->col = (int)yn->start_mark.column + 1;
  if (yn->tag && !strcmp((const char *)yn->tag, "!reset"))
    n->tag = BERTH_TAG_RESET;
  else if (yn->tag && !strcmp((const char *)yn->tag, "!override"))
    n->tag = BERTH_TAG_OVERRIDE;
  int r = 0;
  switch (yn->type) {
  case YAML_SCALAR_NODE:
    n->type = BERTH_NODE_SCALAR;
    n->value = strndup((const char *)yn->data.scalar.value, yn->data.scalar.length);
    n->quoted = yn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    if (!n->value)
      r = berth_err_set(b->err, BERTH_E_NOMEM, "out of memory");
    if (r >= 0 && berth_node_is_null(n))
      n->type = BERTH_NODE_NULL;
    break;
  case YAML_SEQUENCE_NODE:
    n->type = BERTH_NODE_SEQ;
    n->value = strdup("");
    for (yaml_node_item_t *i = yn->data.sequence.items.start;
         r >= 0 && i < yn->data.sequence.items.top; i++) {
      struct berth_node *item = NULL;
      size_t plen = strlen(b->path);
      snprintf(b->path + plen, sizeof(b->path) - plen, "[%zu]", n->n);
      r = build(b, yaml_document_get_node(b->doc, *i), depth + 1, &item);
      b->path[plen] = '\0';
      if (r >= 0 && push(n, item) < 0) {
        berth_node_free(item);
        r = berth_err_set(b->err, BERTH_E_NOMEM, "out of memory");
      }
    }
    break;
  case YAML_MAPPING_NODE:
    n->type = BERTH_NODE_MAP;
    n->value = strdup("");
    r = build_map(b, yn, depth, n);
    break;
  default:
    n->type = BERTH_NODE_NULL;
    n->value = strdup("");
  }
  if (r >= 0 && !n->value)
    r = berth_err_set(b->err, BERTH_E_NOMEM, "out of memory");
  if (r < 0) {
    berth_node_free(n);
    return r;
  }
  *ret = n;
  return 0;
}

/* libyaml's scanner slows down more than quadratically with the depth of
 * flow collections ([[[[...), before any limit of ours could apply: a
 * linear pre-scan refuses deep flow nesting first. Quoted scalars and
 * comments are skipped; anything it misjudges libyaml still parses. */
static int flow_depth_ok(const char *name, const char *t, size_t len, berth_err *err) {
  int depth = 0, line = 1, col = 1;
  char quote = 0;
  for (size_t i = 0; i < len; i++, col++) {
    char c = t[i];
    if (c == '\n') {
      line++;
      col = 0;
      if (quote == 0)
        continue;
    }
    if (quote) {
      if (c == '\\' && quote == '"' && i + 1 < len)
        i++, col++;
      else if (c == quote)
        quote = 0;
      continue;
    }
    if (c == '#' && (i == 0 || t[i - 1] == ' ' || t[i - 1] == '\t' || t[i - 1] == '\n')) {
      while (i + 1 < len && t[i + 1] != '\n')
        i++;
      continue;
    }
    if ((c == '"' || c == '\'') && (i == 0 || strchr(" \t\n[{,:-", t[i - 1])))
      quote = c;
    else if (c == '[' || c == '{') {
      if (++depth > BERTH_YAML_MAX_DEPTH)
        return berth_err_set(err, BERTH_E_TOO_BIG,
                             "%s:%d:%d: the document nests deeper than %d levels", name, line, col,
                             BERTH_YAML_MAX_DEPTH);
    } else if ((c == ']' || c == '}') && depth > 0)
      depth--;
  }
  return 0;
}

int berth_yaml_parse(const char *name, const char *text, size_t len, struct berth_node **ret,
                     berth_err *err) {
  if (len > BERTH_YAML_MAX_BYTES)
    return berth_err_set(err, BERTH_E_TOO_BIG, "%s: larger than %u MiB", name,
                         BERTH_YAML_MAX_BYTES >> 20);
  if (flow_depth_ok(name, text, len, err) < 0)
    return -BERTH_E_TOO_BIG;
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&parser))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  int r = 0;
  if (!yaml_parser_load(&parser, &doc)) {
    const yaml_mark_t *m = parser.problem ? &parser.problem_mark : &parser.context_mark;
    r = berth_err_set(err, BERTH_E_INVALID, "%s:%zu:%zu: invalid YAML: %s%s%s", name, m->line + 1,
                      m->column + 1, parser.problem ? parser.problem : "syntax error",
                      parser.context ? " " : "", parser.context ? parser.context : "");
    yaml_parser_delete(&parser);
    return r;
  }
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  struct builder b = {.doc = &doc, .name = name, .err = err};
  if (!root) {
    *ret = calloc(1, sizeof(**ret));
    if (!*ret || !((*ret)->value = strdup(""))) {
      free(*ret);
      r = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    } else {
      (*ret)->file = name;
      (*ret)->line = (*ret)->col = 1;
    }
  } else {
    r = build(&b, root, 0, ret);
  }
  /* A second document in the file is not part of a manifest. */
  if (r >= 0) {
    yaml_document_t next;
    if (yaml_parser_load(&parser, &next)) {
      if (yaml_document_get_root_node(&next)) {
        r = berth_err_set(err, BERTH_E_INVALID,
                          "%s:%zu:1: a second YAML document (---) in a manifest; keep one per file",
                          name, next.start_mark.line + 1);
        *ret = berth_node_free(*ret);
      }
      yaml_document_delete(&next);
    } else {
      /* Whatever follows the document must be valid too. */
      const yaml_mark_t *m = parser.problem ? &parser.problem_mark : &parser.context_mark;
      r = berth_err_set(err, BERTH_E_INVALID, "%s:%zu:%zu: invalid YAML: %s", name, m->line + 1,
                        m->column + 1, parser.problem ? parser.problem : "syntax error");
      *ret = berth_node_free(*ret);
    }
  }
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  return r;
}

int berth_yaml_load(const char *path, struct berth_node **ret, berth_err *err) {
  _cleanup_fclose_ FILE *f = fopen(path, "re");
  if (!f)
    return berth_err_errno(err, errno, "%s", path);
  struct berth_buf buf = BERTH_BUF_INIT(BERTH_YAML_MAX_BYTES);
  char chunk[65536];
  size_t n;
  int r = 0;
  while (r >= 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    r = berth_buf_add(&buf, chunk, n);
  if (r < 0) {
    berth_buf_release(&buf);
    return berth_err_set(err, -r, "%s: larger than %u MiB", path, BERTH_YAML_MAX_BYTES >> 20);
  }
  if (ferror(f)) {
    berth_buf_release(&buf);
    return berth_err_errno(err, EIO, "reading %s", path);
  }
  r = berth_yaml_parse(path, buf.data ? buf.data : "", buf.len, ret, err);
  berth_buf_release(&buf);
  return r;
}
