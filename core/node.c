/* YAML (libyaml's document API) to struct berth_node trees. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "berth/buf.h"
#include "berth/node.h"
#include "cleanup.h"
#include "name-index.h"

/* Maps of fewer pairs are searched from the start. */
#define INDEX_MIN_PAIRS 8

static void drop_index(struct berth_node *n) {
  if (n->index)
    berth__name_index_release(n->index);
  free(n->index);
  n->index = NULL;
}

struct berth_node *berth_node_free(struct berth_node *n) {
  if (!n)
    return NULL;
  for (size_t i = 0; i < n->n; i++)
    berth_node_free(n->items[i]);
  free(n->items);
  drop_index(n);
  free(n->value);
  free(n);
  return NULL;
}

size_t berth_node_size(const struct berth_node *n) {
  if (!n)
    return 0;
  size_t size = sizeof(*n) + strlen(n->value) + 1 + n->n * sizeof(*n->items) + 48;
  for (size_t i = 0; i < n->n; i++)
    size += berth_node_size(n->items[i]);
  return size;
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

/* The key of pair pos of a map, for its index. */
static const char *pair_key(const void *ctx, size_t pos) {
  const struct berth_node *k = ((const struct berth_node *)ctx)->items[2 * pos];
  return k && k->type == BERTH_NODE_SCALAR ? k->value : NULL;
}

int berth_node_append(struct berth_node *n, struct berth_node *item) {
  if (n->type == BERTH_NODE_MAP)
    drop_index(n); /* half a pair: rebuilt by the next lookup */
  return push(n, item);
}

int berth_node_put(struct berth_node *map, struct berth_node *key, struct berth_node *value) {
  if (push(map, key) < 0)
    return -BERTH_E_NOMEM;
  if (push(map, value) < 0) {
    map->n--;
    return -BERTH_E_NOMEM;
  }
  /* Keep the index in step; out of memory, it is rebuilt later. */
  if (map->index && map->index->n == map->n / 2 - 1)
    (void)berth__name_index_add(map->index, pair_key, map, map->n / 2 - 1);
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

/* The map's index, built when missing or out of step; NULL for a small
 * map or out of memory (then the map is searched from the start). The
 * index is a cache: built on a const map, which only the loader's one
 * thread reads. */
static struct berth__name_index *index_of(const struct berth_node *map) {
  struct berth_node *m = (struct berth_node *)map;
  if (m->n / 2 < INDEX_MIN_PAIRS)
    return NULL;
  if (m->index && m->index->n == m->n / 2 && m->index->cap)
    return m->index;
  if (!m->index && !(m->index = calloc(1, sizeof(*m->index))))
    return NULL;
  return berth__name_index_build(m->index, pair_key, m, m->n / 2) < 0 ? NULL : m->index;
}

long berth_node_index(const struct berth_node *map, const char *key) {
  if (!map || map->type != BERTH_NODE_MAP)
    return -1;
  const struct berth__name_index *ix = index_of(map);
  if (ix) {
    long pos = berth__name_index_find(ix, pair_key, map, key);
    return pos < 0 ? -1 : 2 * pos;
  }
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
  drop_index(map); /* the pairs after it moved */
  return true;
}

void berth_node_remove_pairs(struct berth_node *map, const bool *drop) {
  size_t kept = 0;
  for (size_t i = 0; i + 1 < map->n; i += 2) {
    if (drop[i / 2]) {
      berth_node_free(map->items[i]);
      berth_node_free(map->items[i + 1]);
      continue;
    }
    map->items[kept++] = map->items[i];
    map->items[kept++] = map->items[i + 1];
  }
  map->n = kept;
  drop_index(map);
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

/* ---- libyaml events -> tree ----
 * Built from the event stream rather than libyaml's document API, which
 * forgets where an alias stood and what it was called: a document that
 * grows too large through aliases is refused at the alias that would make
 * it so, by name. */

/* What a subtree costs once built: nodes, bytes (its values' text and
 * 16 per node, about what it takes as YAML: a document read as it is
 * written stays far below the bound, only copies reach it) and height. */
struct extent {
  size_t nodes, bytes;
  int height;
};

struct anchor {
  char *name;
  const struct berth_node *node; /* in the tree being built */
  struct extent size;
};

struct builder {
  yaml_parser_t *parser;
  const char *name;
  char path[1024]; /* "services.api.ports[1]": where the builder is */
  size_t nodes;    /* created so far, aliases expanded: bounded */
  size_t bytes;    /* the same in bytes: bounded */
  struct anchor *anchors;
  size_t n_anchors;
  struct berth__name_index anchor_ix;
  /* Merge keys and the values they merged: kept to the end, since an
   * anchor may point into one. */
  struct berth_node *merged;
  berth_err *err;
};

static int build(struct builder *b, yaml_event_t *ev, int depth, struct berth_node **ret,
                 struct extent *ext);

static int fail_at(struct builder *b, int code, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(struct builder *b, int code, const yaml_mark_t *m, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return berth_err_set(b->err, code, "%s:%zu:%zu: %s", b->name, m->line + 1, m->column + 1, msg);
}

static int nomem(struct builder *b) {
  return berth_err_set(b->err, BERTH_E_NOMEM, "out of memory");
}

/* The next event, or a syntax error. */
static int next_event(struct builder *b, yaml_event_t *ev) {
  if (yaml_parser_parse(b->parser, ev))
    return 0;
  yaml_parser_t *p = b->parser;
  const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
  return fail_at(b, BERTH_E_INVALID, m, "invalid YAML: %s%s%s",
                 p->problem ? p->problem : "syntax error", p->context ? " " : "",
                 p->context ? p->context : "");
}

static const char *anchor_name(const void *ctx, size_t pos) {
  return ((const struct builder *)ctx)->anchors[pos].name;
}

/* Remembers node under its anchor; a later anchor of the same name
 * replaces an earlier one for the aliases after it, as in YAML. */
static int add_anchor(struct builder *b, const char *name, const struct berth_node *node,
                      const struct extent *size) {
  long i = berth__name_index_find(&b->anchor_ix, anchor_name, b, name);
  if (i >= 0) {
    b->anchors[i].node = node;
    b->anchors[i].size = *size;
    return 0;
  }
  if ((b->n_anchors & (b->n_anchors - 1)) == 0) { /* grow at powers of two */
    struct anchor *v =
        realloc(b->anchors, (b->n_anchors ? 2 * b->n_anchors : 8) * sizeof(*b->anchors));
    if (!v)
      return nomem(b);
    b->anchors = v;
  }
  struct anchor *a = &b->anchors[b->n_anchors];
  if (!(a->name = strdup(name)))
    return nomem(b);
  a->node = node;
  a->size = *size;
  if (berth__name_index_add(&b->anchor_ix, anchor_name, b, b->n_anchors++) < 0)
    return nomem(b);
  return 0;
}

/* *name: a copy of the anchored node, if the document stays within its
 * bounds with it. */
static int expand_alias(struct builder *b, const yaml_event_t *ev, int depth,
                        struct berth_node **ret, struct extent *ext) {
  const char *name = (const char *)ev->data.alias.anchor;
  const yaml_mark_t *m = &ev->start_mark;
  long i = berth__name_index_find(&b->anchor_ix, anchor_name, b, name);
  if (i < 0)
    return fail_at(b, BERTH_E_INVALID, m,
                   "invalid YAML: the alias *%s names no anchor (&%s) defined before it", name,
                   name);
  const struct anchor *a = &b->anchors[i];
  const char *at = *b->path ? b->path : "the document";
  if (depth + a->size.height - 1 > BERTH_YAML_MAX_DEPTH)
    return fail_at(b, BERTH_E_TOO_BIG, m,
                   "%s: the alias *%s nests the document deeper than %d levels", at, name,
                   BERTH_YAML_MAX_DEPTH);
  if (b->nodes + a->size.nodes > BERTH_YAML_MAX_NODES)
    return fail_at(b, BERTH_E_TOO_BIG, m,
                   "%s: the alias *%s expands the document past a million nodes (each use copies "
                   "the %zu nodes of &%s, line %d); aliases of aliases multiply, use fewer of them",
                   at, name, a->size.nodes, name, a->node->line);
  if (b->bytes + a->size.bytes > BERTH_YAML_MAX_EXPANDED)
    return fail_at(b, BERTH_E_TOO_BIG, m,
                   "%s: the alias *%s expands the document past 64 MiB (each use copies the "
                   "%.1f MiB of &%s, line %d); aliases of aliases multiply, use fewer of them",
                   at, name, (double)a->size.bytes / (1 << 20), name, a->node->line);
  if (!(*ret = berth_node_copy(a->node)))
    return nomem(b);
  b->nodes += a->size.nodes;
  b->bytes += a->size.bytes;
  *ext = a->size;
  return 0;
}

/* Keeps n (a merge key, or the values merged) to the end of the parse,
 * since an anchor may point into it; frees it when it cannot. */
static int keep(struct builder *b, struct berth_node *n) {
  if ((b->merged || (b->merged = berth_node_new(BERTH_NODE_SEQ, NULL, NULL))) &&
      berth_node_append(b->merged, n) >= 0)
    return 0;
  berth_node_free(n);
  return nomem(b);
}

/* Applies "<<: *anchor" or "<<: [*a, *b]": keys of the merged maps that
 * the map does not set itself are added (earlier sources win). */
static int merge_into(struct builder *b, struct berth_node *map, struct berth_node *src,
                      const yaml_mark_t *at) {
  if (src->type == BERTH_NODE_SEQ) {
    for (size_t i = 0; i < src->n; i++) {
      int r = merge_into(b, map, src->items[i], at);
      if (r < 0)
        return r;
    }
    return 0;
  }
  if (src->type != BERTH_NODE_MAP)
    return fail_at(b, BERTH_E_INVALID, at,
                   "a merge key (<<) needs a mapping or a list of mappings");
  for (size_t i = 0; i + 1 < src->n; i += 2) {
    if (src->items[i]->type == BERTH_NODE_SCALAR &&
        berth_node_index(map, src->items[i]->value) >= 0)
      continue;
    struct berth_node *k = berth_node_copy(src->items[i]);
    struct berth_node *v = berth_node_copy(src->items[i + 1]);
    if (!k || !v || berth_node_put(map, k, v) < 0) {
      berth_node_free(k);
      berth_node_free(v);
      return nomem(b);
    }
  }
  return 0;
}

static void add_extent(struct extent *to, const struct extent *child) {
  to->nodes += child->nodes;
  to->bytes += child->bytes;
  if (child->height + 1 > to->height)
    to->height = child->height + 1;
}

/* One key: value pair into map (ev is the key's event); a merge key's
 * value goes to *merges instead, applied once the map is complete. */
static int build_pair(struct builder *b, yaml_event_t *ev, int depth, struct berth_node *map,
                      struct berth_node **merges, struct extent *ext) {
  struct berth_node *k = NULL, *v = NULL;
  struct extent ke = {0}, ve = {0};
  int r = build(b, ev, depth + 1, &k, &ke);
  if (r < 0)
    return r;
  yaml_event_t vev;
  size_t plen = strlen(b->path);
  if (k->type == BERTH_NODE_SCALAR)
    snprintf(b->path + plen, sizeof(b->path) - plen, "%s%s", plen ? "." : "", k->value);
  if ((r = next_event(b, &vev)) >= 0)
    r = build(b, &vev, depth + 1, &v, &ve);
  b->path[plen] = '\0';
  if (r < 0) {
    berth_node_free(k);
    return r;
  }
  add_extent(ext, &ke);
  add_extent(ext, &ve);
  if (k->type == BERTH_NODE_SCALAR && !k->quoted && !strcmp(k->value, "<<")) {
    if ((r = keep(b, k)) < 0) { /* &a << is an anchor too */
      berth_node_free(v);
      return r;
    }
    if (!*merges && !(*merges = berth_node_new(BERTH_NODE_SEQ, v, NULL)))
      r = nomem(b);
    else if (berth_node_append(*merges, v) < 0)
      r = nomem(b);
    if (r < 0)
      berth_node_free(v);
    return r;
  }
  if (k->type == BERTH_NODE_SCALAR && berth_node_index(map, k->value) >= 0)
    r = berth_err_set(b->err, BERTH_E_INVALID,
                      "%s:%d:%d: %s%s%s: the key \"%s\" appears twice in this mapping", b->name,
                      k->line, k->col, b->path, *b->path ? "." : "", k->value, k->value);
  else if (berth_node_put(map, k, v) < 0)
    r = nomem(b);
  if (r < 0) {
    berth_node_free(k);
    berth_node_free(v);
  }
  return r;
}

/* The pairs up to the mapping's end. Explicit keys first, then merges, so
 * explicit keys win whatever their position. */
static int build_map(struct builder *b, const yaml_mark_t *start, int depth, struct berth_node *map,
                     struct extent *ext) {
  struct berth_node *merges = NULL;
  int r;
  for (;;) {
    yaml_event_t ev;
    if ((r = next_event(b, &ev)) < 0)
      break;
    if (ev.type == YAML_MAPPING_END_EVENT) {
      yaml_event_delete(&ev);
      break;
    }
    if ((r = build_pair(b, &ev, depth, map, &merges, ext)) < 0)
      break;
  }
  for (size_t i = 0; r >= 0 && merges && i < merges->n; i++)
    r = merge_into(b, map, merges->items[i], start);
  if (merges) {
    int kr = keep(b, merges);
    r = r < 0 ? r : kr;
  }
  return r;
}

static int build_seq(struct builder *b, int depth, struct berth_node *seq, struct extent *ext) {
  for (;;) {
    yaml_event_t ev;
    int r = next_event(b, &ev);
    if (r < 0)
      return r;
    if (ev.type == YAML_SEQUENCE_END_EVENT) {
      yaml_event_delete(&ev);
      return 0;
    }
    struct berth_node *item = NULL;
    struct extent ie = {0};
    size_t plen = strlen(b->path);
    snprintf(b->path + plen, sizeof(b->path) - plen, "[%zu]", seq->n);
    r = build(b, &ev, depth + 1, &item, &ie);
    b->path[plen] = '\0';
    if (r < 0)
      return r;
    if (berth_node_append(seq, item) < 0) {
      berth_node_free(item);
      return nomem(b);
    }
    add_extent(ext, &ie);
  }
}

/* A scalar, sequence or mapping node starting at ev, with what follows
 * it up to its end. */
static int build_node(struct builder *b, const yaml_event_t *ev, int depth, struct berth_node *n,
                      struct extent *ext) {
  switch (ev->type) {
  case YAML_SCALAR_EVENT:
    n->type = BERTH_NODE_SCALAR;
    /* "\0" in a double-quoted scalar: our strings would end there, and no
     * argv or environment can carry one. */
    if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
      return fail_at(b, BERTH_E_INVALID, &ev->start_mark,
                     "%s%sthis value contains a NUL character (\\0), which no command line or "
                     "environment can carry; remove it",
                     b->path, *b->path ? ": " : "");
    n->value = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
    if (!n->value)
      return nomem(b);
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    if (berth_node_is_null(n))
      n->type = BERTH_NODE_NULL;
    return 0;
  case YAML_SEQUENCE_START_EVENT:
    n->type = BERTH_NODE_SEQ;
    return (n->value = strdup("")) ? build_seq(b, depth, n, ext) : nomem(b);
  case YAML_MAPPING_START_EVENT:
    n->type = BERTH_NODE_MAP;
    return (n->value = strdup("")) ? build_map(b, &ev->start_mark, depth, n, ext) : nomem(b);
  default:
    return fail_at(b, BERTH_E_INVALID, &ev->start_mark, "invalid YAML: unexpected event");
  }
}

/* The node that starts at ev (deleted here), into *ret; *ext is what it
 * costs. */
static int build(struct builder *b, yaml_event_t *ev, int depth, struct berth_node **ret,
                 struct extent *ext) {
  int r;
  if (ev->type == YAML_ALIAS_EVENT) {
    r = expand_alias(b, ev, depth, ret, ext);
    yaml_event_delete(ev);
    return r;
  }
  const yaml_char_t *tag = ev->type == YAML_SCALAR_EVENT           ? ev->data.scalar.tag
                           : ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.tag
                           : ev->type == YAML_MAPPING_START_EVENT  ? ev->data.mapping_start.tag
                                                                   : NULL;
  const yaml_char_t *anchor = ev->type == YAML_SCALAR_EVENT ? ev->data.scalar.anchor
                              : ev->type == YAML_SEQUENCE_START_EVENT
                                  ? ev->data.sequence_start.anchor
                              : ev->type == YAML_MAPPING_START_EVENT ? ev->data.mapping_start.anchor
                                                                     : NULL;
  struct berth_node *n = NULL;
  if (depth > BERTH_YAML_MAX_DEPTH)
    r = fail_at(b, BERTH_E_TOO_BIG, &ev->start_mark, "the document nests deeper than %d levels",
                BERTH_YAML_MAX_DEPTH);
  else if (++b->nodes > BERTH_YAML_MAX_NODES)
    r = fail_at(b, BERTH_E_TOO_BIG, &ev->start_mark,
                "the document expands to more than a million nodes");
  else if (!(n = calloc(1, sizeof(*n))))
    r = nomem(b);
  else {
    n->file = b->name;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
    if (tag && !strcmp((const char *)tag, "!reset"))
      n->tag = BERTH_TAG_RESET;
    else if (tag && !strcmp((const char *)tag, "!override"))
      n->tag = BERTH_TAG_OVERRIDE;
    *ext = (struct extent){.nodes = 1, .height = 1};
    r = build_node(b, ev, depth, n, ext);
  }
  if (r >= 0) {
    size_t own = strlen(n->value) + 16;
    ext->bytes += own;
    b->bytes += own;
    if (b->bytes > BERTH_YAML_MAX_EXPANDED)
      r = fail_at(b, BERTH_E_TOO_BIG, &ev->start_mark, "the document is larger than 64 MiB");
    else if (anchor)
      r = add_anchor(b, (const char *)anchor, n, ext);
  }
  yaml_event_delete(ev);
  if (r < 0) {
    berth_node_free(n);
    return r;
  }
  *ret = n;
  return 0;
}

/* The one document of the stream into *ret (a NULL node when there is
 * none). */
static int build_stream(struct builder *b, struct berth_node **ret) {
  yaml_event_t ev;
  int r;
  if ((r = next_event(b, &ev)) < 0) /* the stream's start */
    return r;
  yaml_event_delete(&ev);
  if ((r = next_event(b, &ev)) < 0)
    return r;
  if (ev.type == YAML_STREAM_END_EVENT) {
    yaml_event_delete(&ev);
    if (!(*ret = berth_node_new(BERTH_NODE_NULL, NULL, NULL)))
      return nomem(b);
    (*ret)->file = b->name;
    (*ret)->line = (*ret)->col = 1;
    return 0;
  }
  yaml_event_delete(&ev); /* the document's start */
  struct extent ext = {0};
  if ((r = next_event(b, &ev)) < 0 || (r = build(b, &ev, 0, ret, &ext)) < 0)
    return r;
  if ((r = next_event(b, &ev)) >= 0) { /* the document's end */
    yaml_event_delete(&ev);
    r = next_event(b, &ev);
  }
  /* A second document in the file is not part of a manifest. */
  if (r >= 0 && ev.type != YAML_STREAM_END_EVENT)
    r = berth_err_set(b->err, BERTH_E_INVALID,
                      "%s:%zu:1: a second YAML document (---) in a manifest; keep one per file",
                      b->name, ev.start_mark.line + 1);
  yaml_event_delete(&ev); /* zeroed when the parse failed */
  if (r < 0)
    *ret = berth_node_free(*ret);
  return r;
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
  if (!yaml_parser_initialize(&parser))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  struct builder b = {.parser = &parser, .name = name, .err = err};
  struct berth_node *root = NULL;
  int r = build_stream(&b, &root);
  for (size_t i = 0; i < b.n_anchors; i++)
    free(b.anchors[i].name);
  free(b.anchors);
  berth__name_index_release(&b.anchor_ix);
  berth_node_free(b.merged);
  yaml_parser_delete(&parser);
  if (r >= 0)
    *ret = root;
  return r;
}

static const char *file_kind(mode_t mode) {
  if (S_ISFIFO(mode))
    return "a named pipe (FIFO)";
  if (S_ISDIR(mode))
    return "a directory";
  if (S_ISCHR(mode) || S_ISBLK(mode))
    return "a device";
  if (S_ISSOCK(mode))
    return "a socket";
  return "not a regular file";
}

int berth_open_regular(const char *path, berth_err *err) {
  /* O_NONBLOCK: opening a FIFO for reading waits for a writer. */
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int saved = errno;
    berth_err_errno(err, saved, "%s", path);
    errno = saved;
    return -BERTH_E_IO;
  }
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int saved = errno;
    berth_err_errno(err, saved, "%s", path);
    errno = saved;
    return -BERTH_E_IO;
  }
  if (!S_ISREG(st.st_mode))
    return berth_err_set(err, BERTH_E_INVALID, "%s is %s, not a regular file; name a file", path,
                         file_kind(st.st_mode));
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
    return berth_err_errno(err, errno, "%s", path);
  return TAKE_FD(fd);
}

int berth_yaml_load(const char *path, struct berth_node **ret, berth_err *err) {
  int fd = berth_open_regular(path, err);
  if (fd < 0)
    return fd;
  _cleanup_fclose_ FILE *f = fdopen(fd, "r");
  if (!f) {
    close(fd);
    return berth_err_errno(err, errno, "%s", path);
  }
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
