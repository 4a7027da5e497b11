/* berth/graph.h: nodes and edges, cycles with their path, the closure of
 * a selection, waves both ways, and the incremental ready set; on small
 * graphs whose answers are known, and on a 2,000-node diamond lattice
 * that an exponential or recursive walk would not survive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "berth/graph.h"

static size_t node(struct berth_graph *g, const char *name) {
  berth_err err = NULL;
  long i = berth_graph_add(g, name, &err);
  assert_null(err);
  assert_true(i >= 0);
  return (size_t)i;
}

static void dep(struct berth_graph *g, size_t from, size_t to) {
  berth_err err = NULL;
  assert_int_equal(berth_graph_edge(g, from, to, 0, &err), 0);
  assert_null(err);
}

/* Levels of two nodes; each node depends on both nodes of the level
 * below. Node 2*l + k is "l.k"; level 0 depends on nothing. */
static void lattice(struct berth_graph *g, size_t levels) {
  char name[32];
  for (size_t l = 0; l < levels; l++)
    for (size_t k = 0; k < 2; k++) {
      snprintf(name, sizeof(name), "%zu.%zu", l, k);
      assert_int_equal(node(g, name), 2 * l + k);
    }
  for (size_t l = 1; l < levels; l++)
    for (size_t k = 0; k < 2; k++)
      for (size_t j = 0; j < 2; j++)
        dep(g, 2 * l + k, 2 * (l - 1) + j);
}

static void test_add_find(void **state) {
  (void)state;
  struct berth_graph g = BERTH_GRAPH_INIT;
  assert_int_equal(berth_graph_find(&g, "api"), -1);
  assert_int_equal(node(&g, "api"), 0);
  assert_int_equal(node(&g, "db"), 1);
  assert_int_equal(node(&g, "api"), 0); /* already there */
  assert_int_equal(g.n, 2);
  assert_int_equal(berth_graph_find(&g, "db"), 1);
  assert_int_equal(berth_graph_find(&g, "web"), -1);
  char name[32];
  for (int i = 0; i < 500; i++) {
    snprintf(name, sizeof(name), "svc-%d", i);
    assert_int_equal(node(&g, name), (size_t)i + 2);
  }
  for (int i = 0; i < 500; i++) {
    snprintf(name, sizeof(name), "svc-%d", i);
    assert_int_equal(berth_graph_find(&g, name), i + 2);
  }
  assert_string_equal(g.names[1], "db");
  berth_graph_release(&g);
  assert_int_equal(g.n, 0);
  berth_graph_release(&g); /* twice is fine */
}

static void test_edges(void **state) {
  (void)state;
  struct berth_graph g = BERTH_GRAPH_INIT;
  size_t api = node(&g, "api"), db = node(&g, "db"), mq = node(&g, "mq");
  berth_err err = NULL;
  assert_int_equal(berth_graph_edge(&g, api, db, 7, &err), 0);
  assert_int_equal(berth_graph_edge(&g, api, db, 9, &err), 0); /* kept once */
  assert_int_equal(berth_graph_edge(&g, api, mq, 3, &err), 0);
  assert_int_equal(g.n_out[api], 2);
  assert_int_equal(g.out[api][0].to, db);
  assert_int_equal(g.out[api][0].tag, 7); /* the first tag wins */
  assert_int_equal(g.out[api][1].to, mq);
  assert_int_equal(g.n_in[db], 1);
  assert_int_equal(g.in[db][0], api);
  assert_int_equal(g.n_out[db], 0);
  assert_true(berth_graph_edge(&g, api, 3, 0, &err) < 0);
  assert_non_null(err);
  assert_int_equal(berth_err_code(err), BERTH_E_INVALID);
  berth_err_free(&err);
  berth_graph_release(&g);
}

static void expect_cycle(const struct berth_graph *g, const size_t *want, size_t n_want) {
  size_t *path = NULL, len = 0;
  berth_err err = NULL;
  assert_int_equal(berth_graph_cycle(g, &path, &len, &err), 1);
  assert_null(err);
  assert_int_equal(len, n_want);
  for (size_t i = 0; i < len; i++)
    if (path[i] != want[i])
      fail_msg("cycle[%zu] is %s, want %s", i, g->names[path[i]], g->names[want[i]]);
  free(path);
}

static void expect_no_cycle(const struct berth_graph *g) {
  size_t *path = (size_t *)1, len = 5;
  berth_err err = NULL;
  assert_int_equal(berth_graph_cycle(g, &path, &len, &err), 0);
  assert_null(err);
  assert_null(path);
  assert_int_equal(len, 0);
}

static void test_cycle(void **state) {
  (void)state;
  struct berth_graph g = BERTH_GRAPH_INIT;
  expect_no_cycle(&g);
  /* A chain is no cycle. */
  size_t a = node(&g, "a"), b = node(&g, "b"), c = node(&g, "c"), d = node(&g, "d");
  dep(&g, d, c);
  dep(&g, c, b);
  dep(&g, b, a);
  expect_no_cycle(&g);
  /* Closing it at a: the path starts at the smallest index, each node
   * depending on the next, whichever node the search entered by. */
  dep(&g, a, c);
  const size_t want[] = {a, c, b};
  expect_cycle(&g, want, 3);
  berth_graph_release(&g);

  /* Entered from d (index 0), the cycle b -> c -> b is still reported from b. */
  d = node(&g, "d");
  b = node(&g, "b");
  c = node(&g, "c");
  dep(&g, d, c);
  dep(&g, c, b);
  dep(&g, b, c);
  const size_t want2[] = {b, c};
  expect_cycle(&g, want2, 2);
  berth_graph_release(&g);
}

static void test_self_loop(void **state) {
  (void)state;
  struct berth_graph g = BERTH_GRAPH_INIT;
  size_t a = node(&g, "a"), b = node(&g, "b");
  dep(&g, a, b);
  dep(&g, b, b);
  const size_t want[] = {b};
  expect_cycle(&g, want, 1);
  size_t wave[2];
  berth_err err = NULL;
  assert_true(berth_graph_waves(&g, false, wave, &err) < 0);
  assert_int_equal(berth_err_code(err), BERTH_E_INVALID);
  berth_err_free(&err);
  /* b waits for itself, a for b: nothing is ever ready. */
  struct berth_graph_sched s;
  assert_int_equal(berth_graph_sched_init(&s, &g, NULL, &err), 0);
  size_t x;
  assert_false(berth_graph_sched_next(&s, &x));
  berth_graph_sched_release(&s);
  berth_graph_release(&g);
}

static void test_closure(void **state) {
  (void)state;
  struct berth_graph g = BERTH_GRAPH_INIT;
  size_t web = node(&g, "web"), api = node(&g, "api"), db = node(&g, "db"), mq = node(&g, "mq"),
         worker = node(&g, "worker");
  dep(&g, web, api);
  dep(&g, api, db);
  dep(&g, worker, mq);
  dep(&g, worker, db);
  bool in[5] = {false};
  berth_err err = NULL;
  size_t sel[] = {web};
  assert_int_equal(berth_graph_closure(&g, sel, 1, in, &err), 0);
  assert_true(in[web] && in[api] && in[db]);
  assert_false(in[mq] || in[worker]);
  /* An entry already true is kept, and its dependencies are still added. */
  bool in2[5] = {false};
  in2[worker] = true;
  size_t sel2[] = {worker, worker};
  assert_int_equal(berth_graph_closure(&g, sel2, 2, in2, &err), 0);
  assert_true(in2[worker] && in2[mq] && in2[db]);
  assert_false(in2[web] || in2[api]);
  size_t bad[] = {9};
  assert_true(berth_graph_closure(&g, bad, 1, in, &err) < 0);
  berth_err_free(&err);
  berth_graph_release(&g);
}

static void test_waves(void **state) {
  (void)state;
  struct berth_graph g = BERTH_GRAPH_INIT;
  /* web -> api -> db, web -> db, lone. */
  size_t web = node(&g, "web"), api = node(&g, "api"), db = node(&g, "db"), lone = node(&g, "lone");
  dep(&g, web, api);
  dep(&g, api, db);
  dep(&g, web, db);
  size_t wave[4];
  berth_err err = NULL;
  assert_int_equal(berth_graph_waves(&g, false, wave, &err), 0);
  assert_int_equal(wave[db], 0);
  assert_int_equal(wave[api], 1);
  assert_int_equal(wave[web], 2);
  assert_int_equal(wave[lone], 0);
  /* Down stops dependents first: web, then api, then db. */
  assert_int_equal(berth_graph_waves(&g, true, wave, &err), 0);
  assert_int_equal(wave[web], 0);
  assert_int_equal(wave[api], 1);
  assert_int_equal(wave[db], 2);
  assert_int_equal(wave[lone], 0);
  assert_null(err);
  berth_graph_release(&g);
}

static void test_sched(void **state) {
  (void)state;
  struct berth_graph g = BERTH_GRAPH_INIT;
  size_t web = node(&g, "web"), api = node(&g, "api"), db = node(&g, "db"), mq = node(&g, "mq");
  dep(&g, web, api);
  dep(&g, api, db);
  dep(&g, api, mq);
  berth_err err = NULL;
  struct berth_graph_sched s;
  assert_int_equal(berth_graph_sched_init(&s, &g, NULL, &err), 0);
  size_t x;
  assert_true(berth_graph_sched_next(&s, &x));
  assert_int_equal(x, db);
  assert_true(berth_graph_sched_next(&s, &x));
  assert_int_equal(x, mq);
  assert_false(berth_graph_sched_next(&s, &x));
  berth_graph_sched_done(&s, db);
  assert_false(berth_graph_sched_next(&s, &x)); /* api still waits for mq */
  berth_graph_sched_done(&s, db);               /* a second mark changes nothing */
  assert_false(berth_graph_sched_next(&s, &x));
  berth_graph_sched_done(&s, mq);
  assert_true(berth_graph_sched_next(&s, &x));
  assert_int_equal(x, api);
  berth_graph_sched_done(&s, api);
  assert_true(berth_graph_sched_next(&s, &x));
  assert_int_equal(x, web);
  berth_graph_sched_done(&s, web);
  assert_false(berth_graph_sched_next(&s, &x));
  berth_graph_sched_release(&s);

  /* Inside a set: dependencies outside it are not waited for. */
  bool in[4] = {false};
  in[web] = in[api] = true;
  assert_int_equal(berth_graph_sched_init(&s, &g, in, &err), 0);
  assert_true(berth_graph_sched_next(&s, &x));
  assert_int_equal(x, api);
  assert_false(berth_graph_sched_next(&s, &x));
  berth_graph_sched_done(&s, db); /* outside: ignored */
  berth_graph_sched_done(&s, api);
  assert_true(berth_graph_sched_next(&s, &x));
  assert_int_equal(x, web);
  assert_false(berth_graph_sched_next(&s, &x));
  berth_graph_sched_release(&s);
  berth_graph_release(&g);
}

#define LEVELS 1000
#define NODES (2 * LEVELS)

static void test_lattice(void **state) {
  (void)state;
  struct berth_graph g = BERTH_GRAPH_INIT;
  lattice(&g, LEVELS);
  assert_int_equal(g.n, NODES);
  expect_no_cycle(&g);

  /* The closure of one top node is everything but its sibling: 2^999
   * paths down, 1,999 nodes. */
  bool *in = calloc(NODES, sizeof(*in));
  assert_non_null(in);
  berth_err err = NULL;
  size_t top = NODES - 1;
  assert_int_equal(berth_graph_closure(&g, &top, 1, in, &err), 0);
  for (size_t i = 0; i < NODES; i++)
    if (in[i] != (i != NODES - 2))
      fail_msg("%s: in the closure %d", g.names[i], in[i]);
  /* A middle node takes only the levels below it and its own. */
  memset(in, 0, NODES * sizeof(*in));
  size_t mid = 2 * 500;
  assert_int_equal(berth_graph_closure(&g, &mid, 1, in, &err), 0);
  for (size_t i = 0; i < NODES; i++)
    assert_int_equal(in[i], i < 2 * 500 || i == mid);

  size_t *wave = malloc(NODES * sizeof(*wave));
  assert_non_null(wave);
  assert_int_equal(berth_graph_waves(&g, false, wave, &err), 0);
  for (size_t i = 0; i < NODES; i++)
    assert_int_equal(wave[i], i / 2);
  assert_int_equal(berth_graph_waves(&g, true, wave, &err), 0);
  for (size_t i = 0; i < NODES; i++)
    assert_int_equal(wave[i], LEVELS - 1 - i / 2);

  /* The ready set releases the lattice level by level. */
  struct berth_graph_sched s;
  assert_int_equal(berth_graph_sched_init(&s, &g, NULL, &err), 0);
  size_t started = 0, x, y;
  for (size_t l = 0; l < LEVELS; l++) {
    assert_true(berth_graph_sched_next(&s, &x));
    assert_true(berth_graph_sched_next(&s, &y));
    assert_false(berth_graph_sched_next(&s, &top));
    assert_int_equal(x / 2, l);
    assert_int_equal(y / 2, l);
    berth_graph_sched_done(&s, x);
    assert_false(berth_graph_sched_next(&s, &top)); /* the level above needs both */
    berth_graph_sched_done(&s, y);
    started += 2;
  }
  assert_int_equal(started, NODES);
  berth_graph_sched_release(&s);

  /* A cycle through the whole lattice: the bottom depends on the top. The
   * path starts at node 0 and climbs one node per level. */
  dep(&g, 0, NODES - 1);
  size_t *path = NULL, len = 0;
  assert_int_equal(berth_graph_cycle(&g, &path, &len, &err), 1);
  assert_int_equal(len, LEVELS);
  assert_int_equal(path[0], 0);
  assert_int_equal(path[1], NODES - 1);
  for (size_t k = 0; k < len; k++) {
    size_t from = path[k], to = path[(k + 1) % len];
    bool found = false;
    for (size_t e = 0; e < g.n_out[from]; e++)
      found |= g.out[from][e].to == to;
    if (!found)
      fail_msg("cycle step %s -> %s is no edge", g.names[from], g.names[to]);
  }
  free(path);
  assert_true(berth_graph_waves(&g, true, wave, &err) < 0);
  berth_err_free(&err);

  free(wave);
  free(in);
  berth_graph_release(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_find), cmocka_unit_test(test_edges),
      cmocka_unit_test(test_cycle),    cmocka_unit_test(test_self_loop),
      cmocka_unit_test(test_closure),  cmocka_unit_test(test_waves),
      cmocka_unit_test(test_sched),    cmocka_unit_test(test_lattice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
