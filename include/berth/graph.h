/* The dependency graph of a project: services, infra instances and the
 * `uses` and `depends_on` edges between them. One graph serves the
 * manifest (cycles, with the path), `up` (the closure of a selection and
 * the ready set as dependencies finish) and `down` (reverse waves:
 * dependents before what they depend on). Every operation is linear in
 * nodes plus edges. */
#ifndef BERTH_GRAPH_H
#define BERTH_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/err.h"

/* An edge "from depends on to"; tag is the caller's (the engine keeps a
 * berth_condition there). */
struct berth_graph_edge {
  size_t to;
  int tag;
};

struct berth__graph_index; /* graph.c's hash of names and edges */

struct berth_graph {
  size_t n;     /* nodes, indexed 0..n-1 in the order added */
  size_t cap;   /* room in the per-node arrays */
  char **names; /* owned */
  size_t *n_out, *cap_out;
  struct berth_graph_edge **out; /* per node: what it depends on, in the order added */
  size_t *n_in, *cap_in;
  size_t **in; /* per node: who depends on it (filled by berth_graph_edge) */
  struct berth__graph_index *index;
};

#define BERTH_GRAPH_INIT                                                                           \
  { 0 }

/* Adds a node (a copy of name) and returns its index; a name already
 * present returns the existing index. Negative -ENOMEM on failure. */
long berth_graph_add(struct berth_graph *g, const char *name, berth_err *err);
/* The index of name, or -1. Hashed: constant time on average. */
long berth_graph_find(const struct berth_graph *g, const char *name);
/* "from depends on to". A repeated edge is kept once (first tag wins);
 * a self-loop (from == to) is an edge like any other, and a cycle. Fails
 * with BERTH_E_INVALID when from or to is not a node. */
int berth_graph_edge(struct berth_graph *g, size_t from, size_t to, int tag, berth_err *err);
void berth_graph_release(struct berth_graph *g);

/* Finds a cycle. Returns 0 when there is none, 1 when there is one:
 * *ret_path (caller frees) holds its nodes in order, each depending on the
 * next and the last on the first; the smallest-indexed node of the cycle
 * comes first, so the report is stable. < 0 on allocation failure. */
int berth_graph_cycle(const struct berth_graph *g, size_t **ret_path, size_t *ret_len,
                      berth_err *err);

/* in[i] becomes true for every selected node and everything it depends on,
 * transitively; other entries are left as they are. Indexes in sel must
 * be nodes (BERTH_E_INVALID otherwise). */
int berth_graph_closure(const struct berth_graph *g, const size_t *sel, size_t n_sel, bool *in,
                        berth_err *err);

/* Waves: wave[i] = 0 for a node with no dependencies, else one more than
 * the highest wave of what it depends on. With reverse, the same counted
 * from the dependents' side (a node nothing depends on is wave 0): the
 * order `down` stops in. Fails with BERTH_E_INVALID on a cycle. */
int berth_graph_waves(const struct berth_graph *g, bool reverse, size_t *wave, berth_err *err);

/* The ready set, incrementally: nodes become ready when every dependency
 * inside the set (in, or all when NULL) is done. O(n + e) over a run.
 * Nodes become ready in index order at the start, then in the order their
 * last dependency is marked done. The graph and in must outlive it. */
struct berth_graph_sched {
  const struct berth_graph *g;
  size_t *waiting; /* per node: dependencies not done yet */
  size_t *ready;   /* queue of ready nodes */
  size_t head, tail;
  const bool *in;
  bool *done; /* per node: marked done already (a second mark is ignored) */
};

int berth_graph_sched_init(struct berth_graph_sched *s, const struct berth_graph *g, const bool *in,
                           berth_err *err);
/* Pops a ready node into *ret; returns false when none is ready now. */
bool berth_graph_sched_next(struct berth_graph_sched *s, size_t *ret);
/* Marks node done: the dependents whose last dependency it was become
 * ready. Nodes outside the set, and nodes already done, are ignored. */
void berth_graph_sched_done(struct berth_graph_sched *s, size_t node);
void berth_graph_sched_release(struct berth_graph_sched *s);

#endif
