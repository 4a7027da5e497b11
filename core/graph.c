/* The dependency graph (berth/graph.h): nodes by name, "depends on" edges,
 * and the walks the manifest, `up` and `down` need. Every walk is
 * iterative, so a deep chain cannot exhaust the stack, and each node and
 * edge is visited a bounded number of times. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth/graph.h"
#include "hash.h"

#define EMPTY SIZE_MAX

/* Open addressing, load at most one half: names map to node indexes, and
 * (from, to) pairs mark the edges present. */
struct berth__graph_index {
  size_t *names; /* n_names slots of node indexes, EMPTY when free */
  size_t n_names;
  size_t (*edges)[2]; /* n_edges slots of (from, to), from EMPTY when free */
  size_t n_edges, used_edges;
};

static uint64_t hash_name(const char *s) {
  return berth_fnv1a(BERTH_FNV_INIT, s, strlen(s));
}

static uint64_t hash_edge(size_t from, size_t to) {
  uint64_t k[2] = {from, to};
  return berth_fnv1a(BERTH_FNV_INIT, k, sizeof(k));
}

static int nomem(berth_err *err) {
  return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
}

static struct berth__graph_index *index_of(struct berth_graph *g) {
  if (!g->index)
    g->index = calloc(1, sizeof(*g->index));
  return g->index;
}

static int rehash_names(struct berth_graph *g, size_t slots) {
  size_t *t = malloc(slots * sizeof(*t));
  if (!t)
    return -ENOMEM;
  for (size_t i = 0; i < slots; i++)
    t[i] = EMPTY;
  for (size_t i = 0; i < g->n; i++) {
    size_t h = hash_name(g->names[i]) & (slots - 1);
    while (t[h] != EMPTY)
      h = (h + 1) & (slots - 1);
    t[h] = i;
  }
  free(g->index->names);
  g->index->names = t;
  g->index->n_names = slots;
  return 0;
}

static int rehash_edges(struct berth__graph_index *ix, size_t slots) {
  size_t(*t)[2] = malloc(slots * sizeof(*t));
  if (!t)
    return -ENOMEM;
  for (size_t i = 0; i < slots; i++)
    t[i][0] = EMPTY;
  for (size_t i = 0; i < ix->n_edges; i++) {
    if (ix->edges[i][0] == EMPTY)
      continue;
    size_t h = hash_edge(ix->edges[i][0], ix->edges[i][1]) & (slots - 1);
    while (t[h][0] != EMPTY)
      h = (h + 1) & (slots - 1);
    t[h][0] = ix->edges[i][0];
    t[h][1] = ix->edges[i][1];
  }
  free(ix->edges);
  ix->edges = t;
  ix->n_edges = slots;
  return 0;
}

long berth_graph_find(const struct berth_graph *g, const char *name) {
  const struct berth__graph_index *ix = g->index;
  if (!ix || !ix->n_names)
    return -1;
  size_t mask = ix->n_names - 1;
  for (size_t h = hash_name(name) & mask; ix->names[h] != EMPTY; h = (h + 1) & mask)
    if (!strcmp(g->names[ix->names[h]], name))
      return (long)ix->names[h];
  return -1;
}

/* Room for one more node in every per-node array. */
static int grow_nodes(struct berth_graph *g) {
  if (g->n < g->cap)
    return 0;
  size_t cap = g->cap ? 2 * g->cap : 8;
  void **arrays[] = {(void **)&g->names, (void **)&g->n_out, (void **)&g->cap_out,
                     (void **)&g->out,   (void **)&g->n_in,  (void **)&g->cap_in,
                     (void **)&g->in};
  size_t sizes[] = {sizeof(*g->names), sizeof(*g->n_out),  sizeof(*g->cap_out), sizeof(*g->out),
                    sizeof(*g->n_in),  sizeof(*g->cap_in), sizeof(*g->in)};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    void *p = realloc(*arrays[i], cap * sizes[i]);
    if (!p)
      return -ENOMEM; /* the arrays grown so far stay valid and larger */
    *arrays[i] = p;
  }
  g->cap = cap;
  return 0;
}

long berth_graph_add(struct berth_graph *g, const char *name, berth_err *err) {
  long found = berth_graph_find(g, name);
  if (found >= 0)
    return found;
  struct berth__graph_index *ix = index_of(g);
  if (!ix || grow_nodes(g) < 0)
    return nomem(err);
  if (2 * (g->n + 1) > ix->n_names && rehash_names(g, ix->n_names ? 2 * ix->n_names : 16) < 0)
    return nomem(err);
  char *copy = strdup(name);
  if (!copy)
    return nomem(err);
  size_t i = g->n++;
  g->names[i] = copy;
  g->n_out[i] = g->cap_out[i] = g->n_in[i] = g->cap_in[i] = 0;
  g->out[i] = NULL;
  g->in[i] = NULL;
  size_t mask = ix->n_names - 1, h = hash_name(name) & mask;
  while (ix->names[h] != EMPTY)
    h = (h + 1) & mask;
  ix->names[h] = i;
  return (long)i;
}

static int push_size(size_t **v, size_t *n, size_t *cap, size_t x) {
  if (*n == *cap) {
    size_t c = *cap ? 2 * *cap : 4;
    size_t *p = realloc(*v, c * sizeof(*p));
    if (!p)
      return -ENOMEM;
    *v = p;
    *cap = c;
  }
  (*v)[(*n)++] = x;
  return 0;
}

int berth_graph_edge(struct berth_graph *g, size_t from, size_t to, int tag, berth_err *err) {
  if (from >= g->n || to >= g->n)
    return berth_err_set(err, BERTH_E_INVALID, "graph edge %zu -> %zu: no such node", from, to);
  struct berth__graph_index *ix = index_of(g);
  if (!ix)
    return nomem(err);
  if (2 * (ix->used_edges + 1) > ix->n_edges &&
      rehash_edges(ix, ix->n_edges ? 2 * ix->n_edges : 16) < 0)
    return nomem(err);
  size_t mask = ix->n_edges - 1, h = hash_edge(from, to) & mask;
  for (; ix->edges[h][0] != EMPTY; h = (h + 1) & mask)
    if (ix->edges[h][0] == from && ix->edges[h][1] == to)
      return 0;
  struct berth_graph_edge *o = g->out[from];
  if (g->n_out[from] == g->cap_out[from]) {
    size_t c = g->cap_out[from] ? 2 * g->cap_out[from] : 4;
    o = realloc(o, c * sizeof(*o));
    if (!o)
      return nomem(err);
    g->out[from] = o;
    g->cap_out[from] = c;
  }
  /* Reserve the reverse entry first, so a failure leaves no half edge. */
  if (push_size(&g->in[to], &g->n_in[to], &g->cap_in[to], from) < 0)
    return nomem(err);
  o[g->n_out[from]++] = (struct berth_graph_edge){.to = to, .tag = tag};
  ix->edges[h][0] = from;
  ix->edges[h][1] = to;
  ix->used_edges++;
  return 0;
}

void berth_graph_release(struct berth_graph *g) {
  if (!g)
    return;
  for (size_t i = 0; i < g->n; i++) {
    free(g->names[i]);
    free(g->out[i]);
    free(g->in[i]);
  }
  free(g->names);
  free(g->n_out);
  free(g->cap_out);
  free(g->out);
  free(g->n_in);
  free(g->cap_in);
  free(g->in);
  if (g->index) {
    free(g->index->names);
    free(g->index->edges);
    free(g->index);
  }
  *g = (struct berth_graph)BERTH_GRAPH_INIT;
}

/* The cycle closed by the back edge to stack[from]: stack[from..top],
 * rotated so that its smallest index comes first. */
static int copy_cycle(const size_t *stack, size_t from, size_t top, size_t **ret_path,
                      size_t *ret_len, berth_err *err) {
  size_t len = top - from + 1, min = 0;
  size_t *path = malloc(len * sizeof(*path));
  if (!path)
    return nomem(err);
  for (size_t k = 1; k < len; k++)
    if (stack[from + k] < stack[from + min])
      min = k;
  for (size_t k = 0; k < len; k++)
    path[k] = stack[from + (min + k) % len];
  *ret_path = path;
  *ret_len = len;
  return 1;
}

int berth_graph_cycle(const struct berth_graph *g, size_t **ret_path, size_t *ret_len,
                      berth_err *err) {
  *ret_path = NULL;
  *ret_len = 0;
  if (!g->n)
    return 0;
  /* color: 0 unvisited, 1 on the stack, 2 finished; pos: place on the stack;
   * next: the next out-edge to follow. */
  unsigned char *color = calloc(g->n, 1);
  size_t *stack = malloc(g->n * sizeof(*stack));
  size_t *pos = malloc(g->n * sizeof(*pos));
  size_t *next = calloc(g->n, sizeof(*next));
  int r = 0;
  if (!color || !stack || !pos || !next) {
    r = nomem(err);
    goto out;
  }
  for (size_t s = 0; s < g->n && !r; s++) {
    if (color[s])
      continue;
    size_t top = 0;
    stack[0] = s;
    pos[s] = 0;
    color[s] = 1;
    for (;;) {
      size_t cur = stack[top];
      if (next[cur] == g->n_out[cur]) {
        color[cur] = 2;
        if (!top--)
          break;
        continue;
      }
      size_t t = g->out[cur][next[cur]++].to;
      if (color[t] == 1) {
        r = copy_cycle(stack, pos[t], top, ret_path, ret_len, err);
        break;
      }
      if (color[t] == 0) {
        color[t] = 1;
        stack[++top] = t;
        pos[t] = top;
      }
    }
  }
out:
  free(color);
  free(stack);
  free(pos);
  free(next);
  return r;
}

int berth_graph_closure(const struct berth_graph *g, const size_t *sel, size_t n_sel, bool *in,
                        berth_err *err) {
  for (size_t i = 0; i < n_sel; i++)
    if (sel[i] >= g->n)
      return berth_err_set(err, BERTH_E_INVALID, "graph closure: no node %zu", sel[i]);
  if (!g->n)
    return 0;
  /* A node already in the set may still have dependencies outside it:
   * visit by a mark of our own, not by in[]. Each node is pushed once. */
  bool *seen = calloc(g->n, sizeof(*seen));
  size_t *stack = malloc(g->n * sizeof(*stack));
  if (!seen || !stack) {
    free(seen);
    free(stack);
    return nomem(err);
  }
  size_t top = 0;
  for (size_t i = 0; i < n_sel; i++)
    if (!seen[sel[i]]) {
      seen[sel[i]] = true;
      stack[top++] = sel[i];
    }
  while (top) {
    size_t cur = stack[--top];
    in[cur] = true;
    for (size_t k = 0; k < g->n_out[cur]; k++) {
      size_t t = g->out[cur][k].to;
      if (!seen[t]) {
        seen[t] = true;
        stack[top++] = t;
      }
    }
  }
  free(seen);
  free(stack);
  return 0;
}

/* The node's neighbours on the side waves count from: what it depends on
 * (forward) or who depends on it (reverse). */
static size_t side_len(const struct berth_graph *g, bool reverse, size_t i) {
  return reverse ? g->n_in[i] : g->n_out[i];
}

int berth_graph_waves(const struct berth_graph *g, bool reverse, size_t *wave, berth_err *err) {
  if (!g->n)
    return 0;
  /* Kahn's order: a node is placed once everything on its side is. */
  size_t *left = malloc(g->n * sizeof(*left));
  size_t *queue = malloc(g->n * sizeof(*queue));
  if (!left || !queue) {
    free(left);
    free(queue);
    return nomem(err);
  }
  size_t head = 0, tail = 0;
  for (size_t i = 0; i < g->n; i++) {
    wave[i] = 0;
    left[i] = side_len(g, reverse, i);
    if (!left[i])
      queue[tail++] = i;
  }
  while (head < tail) {
    size_t cur = queue[head++];
    size_t m = reverse ? g->n_out[cur] : g->n_in[cur];
    for (size_t k = 0; k < m; k++) {
      size_t t = reverse ? g->out[cur][k].to : g->in[cur][k];
      if (wave[t] < wave[cur] + 1)
        wave[t] = wave[cur] + 1;
      if (!--left[t])
        queue[tail++] = t;
    }
  }
  free(left);
  free(queue);
  if (tail < g->n)
    return berth_err_set(err, BERTH_E_INVALID, "the dependency graph has a cycle");
  return 0;
}

static bool in_set(const struct berth_graph_sched *s, size_t i) {
  return !s->in || s->in[i];
}

int berth_graph_sched_init(struct berth_graph_sched *s, const struct berth_graph *g, const bool *in,
                           berth_err *err) {
  *s = (struct berth_graph_sched){.g = g, .in = in};
  size_t n = g->n ? g->n : 1;
  s->waiting = calloc(n, sizeof(*s->waiting));
  s->ready = malloc(n * sizeof(*s->ready));
  s->done = calloc(n, sizeof(*s->done));
  if (!s->waiting || !s->ready || !s->done) {
    berth_graph_sched_release(s);
    return nomem(err);
  }
  for (size_t i = 0; i < g->n; i++) {
    if (!in_set(s, i))
      continue;
    for (size_t k = 0; k < g->n_out[i]; k++)
      if (in_set(s, g->out[i][k].to))
        s->waiting[i]++;
    if (!s->waiting[i])
      s->ready[s->tail++] = i;
  }
  return 0;
}

bool berth_graph_sched_next(struct berth_graph_sched *s, size_t *ret) {
  if (s->head == s->tail)
    return false;
  *ret = s->ready[s->head++];
  return true;
}

void berth_graph_sched_done(struct berth_graph_sched *s, size_t node) {
  const struct berth_graph *g = s->g;
  if (node >= g->n || !in_set(s, node) || s->done[node])
    return;
  s->done[node] = true;
  /* Each node enters the queue once: when its count reaches zero. */
  for (size_t k = 0; k < g->n_in[node]; k++) {
    size_t d = g->in[node][k];
    if (in_set(s, d) && s->waiting[d] && !--s->waiting[d])
      s->ready[s->tail++] = d;
  }
}

void berth_graph_sched_release(struct berth_graph_sched *s) {
  if (!s)
    return;
  free(s->waiting);
  free(s->ready);
  free(s->done);
  s->waiting = s->ready = NULL;
  s->done = NULL;
}
