/* berth/node.h: libyaml to a positioned tree (aliases expanded, merge
 * keys applied, every input bounded). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth/buf.h"
#include "berth/node.h"
#include "fixture.h"

static const char name[] = "t.yaml";

/* Parses text that must be valid; fails the test with the error if not. */
static struct berth_node *parse(const char *text) {
  struct berth_node *n = NULL;
  berth_err err = NULL;
  int r = berth_yaml_parse(name, text, strlen(text), &n, &err);
  if (r < 0)
    fail_msg("unexpected error for\n%s\n: %s", text, err ? err->msg : "(none)");
  assert_null(err);
  assert_non_null(n);
  return n;
}

/* Parses text that must fail with code; returns the error message
 * (caller frees) so the test can check what it says. */
static char *parse_fail(const char *text, size_t len, int code) {
  struct berth_node *n = NULL;
  berth_err err = NULL;
  int r = berth_yaml_parse(name, text, len, &n, &err);
  if (r >= 0) {
    berth_node_free(n);
    fail_msg("should fail with %d:\n%.200s", code, text);
  }
  assert_int_equal(r, -code);
  assert_non_null(err);
  assert_int_equal(berth_err_code(err), code);
  assert_null(n); /* nothing handed out on failure */
  char *msg = strdup(err->msg);
  assert_non_null(msg);
  berth_err_free(&err);
  return msg;
}

static void assert_pos(const struct berth_node *n, int line, int col) {
  assert_non_null(n);
  if (n->line != line || n->col != col)
    fail_msg("node \"%s\" at %d:%d, want %d:%d", n->value ? n->value : "", n->line, n->col, line,
             col);
}

static void assert_scalar(const struct berth_node *n, const char *value) {
  assert_non_null(n);
  assert_int_equal(n->type, BERTH_NODE_SCALAR);
  assert_string_equal(n->value, value);
}

/* "key: value" lookups of an int in a map */
static int64_t get_int(const struct berth_node *map, const char *key) {
  int64_t v = 0;
  const struct berth_node *n = berth_node_get(map, key);
  if (!n)
    fail_msg("no key \"%s\"", key);
  if (!berth_node_is_int(n, &v))
    fail_msg("\"%s\" is not an int: \"%s\"", key, n->value);
  return v;
}

/* ---- positions, types ---- */

static void test_positions(void **state) {
  (void)state;
  struct berth_node *root = parse("name: demo\n"
                                  "list:\n"
                                  "  - one\n"
                                  "  - \"two\"\n"
                                  "map: {k: v, q: 'x'}\n"
                                  "block: |\n"
                                  "  text\n");
  assert_int_equal(root->type, BERTH_NODE_MAP);
  assert_pos(root, 1, 1);
  assert_ptr_equal(root->file, name); /* shared, not copied */
  assert_int_equal(root->n, 8);

  assert_scalar(root->items[0], "name");
  assert_pos(root->items[0], 1, 1);
  assert_scalar(root->items[1], "demo");
  assert_pos(root->items[1], 1, 7);
  assert_false(root->items[1]->quoted);
  assert_ptr_equal(root->items[1]->file, name);

  const struct berth_node *list = berth_node_get(root, "list");
  assert_int_equal(list->type, BERTH_NODE_SEQ);
  assert_pos(root->items[2], 2, 1);
  assert_pos(list, 3, 3);
  assert_int_equal(list->n, 2);
  assert_scalar(list->items[0], "one");
  assert_pos(list->items[0], 3, 5);
  assert_false(list->items[0]->quoted);
  assert_scalar(list->items[1], "two");
  assert_pos(list->items[1], 4, 5);
  assert_true(list->items[1]->quoted);

  const struct berth_node *map = berth_node_get(root, "map");
  assert_int_equal(map->type, BERTH_NODE_MAP);
  assert_pos(map, 5, 6);
  assert_int_equal(map->n, 4);
  assert_scalar(map->items[0], "k");
  assert_pos(map->items[0], 5, 7);
  assert_scalar(map->items[1], "v");
  assert_pos(map->items[1], 5, 10);
  assert_scalar(berth_node_get(map, "q"), "x");
  assert_true(berth_node_get(map, "q")->quoted);
  assert_pos(berth_node_get(map, "q"), 5, 16);

  const struct berth_node *block = berth_node_get(root, "block");
  assert_scalar(block, "text\n");
  assert_true(block->quoted); /* a block scalar is always a string */
  assert_pos(block, 6, 8);
  berth_node_free(root);
}

static void test_positions_of_nested_block(void **state) {
  (void)state;
  struct berth_node *root = parse("# comment\n"
                                  "\n"
                                  "services:\n"
                                  "  api:\n"
                                  "    ports:\n"
                                  "      - \"8080:80\"\n"
                                  "      - 9090:90\n");
  const struct berth_node *services = berth_node_get(root, "services");
  assert_pos(root->items[0], 3, 1);
  assert_pos(services->items[0], 4, 3);
  const struct berth_node *api = berth_node_get(services, "api");
  assert_pos(api->items[0], 5, 5);
  const struct berth_node *ports = berth_node_get(api, "ports");
  assert_int_equal(ports->n, 2);
  assert_pos(ports->items[0], 6, 9);
  assert_pos(ports->items[1], 7, 9);
  assert_scalar(ports->items[1], "9090:90");
  berth_node_free(root);
}

static void test_only_len_bytes_are_read(void **state) {
  (void)state;
  static const char text[] = "a: 1\nb: 2\n";
  struct berth_node *n = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_yaml_parse(name, text, 5, &n, &err), 0);
  assert_null(err);
  assert_int_equal(n->n, 2);
  assert_null(berth_node_get(n, "b"));
  assert_int_equal(get_int(n, "a"), 1);
  berth_node_free(n);
}

static void test_bools(void **state) {
  (void)state;
  struct berth_node *root = parse("a: true\nb: True\nc: TRUE\nd: false\ne: False\nf: FALSE\n"
                                  "g: \"true\"\nh: 'false'\ni: yes\nj: on\nk: tRUE\nl: 1\n"
                                  "m: [true]\nn: |\n  true\n");
  static const struct {
    const char *key;
    bool is_bool, value;
  } cases[] = {
      {"a", true, true},   {"b", true, true},   {"c", true, true},   {"d", true, false},
      {"e", true, false},  {"f", true, false},  {"g", false, false}, {"h", false, false},
      {"i", false, false}, {"j", false, false}, {"k", false, false}, {"l", false, false},
      {"m", false, false}, {"n", false, false},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    bool v = !cases[i].value;
    const struct berth_node *n = berth_node_get(root, cases[i].key);
    assert_non_null(n);
    bool got = berth_node_is_bool(n, &v);
    if (got != cases[i].is_bool)
      fail_msg("%s: \"%s\" is_bool %d, want %d", cases[i].key, n->value, got, cases[i].is_bool);
    if (got && v != cases[i].value)
      fail_msg("%s: \"%s\" gave %d", cases[i].key, n->value, v);
  }
  /* quoted "true" stays the string it is */
  assert_scalar(berth_node_get(root, "g"), "true");
  assert_true(berth_node_get(root, "g")->quoted);
  bool v = true;
  assert_false(berth_node_is_bool(NULL, &v));
  berth_node_free(root);
}

static void test_nulls(void **state) {
  (void)state;
  struct berth_node *root =
      parse("a:\nb: ~\nc: null\nd: Null\ne: NULL\n"
            "f: \"null\"\ng: ''\nh: nUll\ni: \"~\"\nj: none\nk: [~, null, x]\n");
  static const char *const nulls[] = {"a", "b", "c", "d", "e"};
  static const char *const not_nulls[] = {"f", "g", "h", "i", "j"};
  for (size_t i = 0; i < sizeof(nulls) / sizeof(*nulls); i++) {
    const struct berth_node *n = berth_node_get(root, nulls[i]);
    assert_non_null(n);
    if (!berth_node_is_null(n))
      fail_msg("%s: \"%s\" is not null", nulls[i], n->value);
    assert_int_equal(n->type, BERTH_NODE_NULL);
    assert_string_equal(berth_node_type_name(n), "null");
  }
  for (size_t i = 0; i < sizeof(not_nulls) / sizeof(*not_nulls); i++) {
    const struct berth_node *n = berth_node_get(root, not_nulls[i]);
    assert_non_null(n);
    if (berth_node_is_null(n))
      fail_msg("%s: \"%s\" is null", not_nulls[i], n->value);
    assert_int_equal(n->type, BERTH_NODE_SCALAR);
    assert_string_equal(berth_node_type_name(n), "a scalar");
  }
  assert_string_equal(berth_node_get(root, "f")->value, "null");
  assert_string_equal(berth_node_get(root, "g")->value, "");
  const struct berth_node *k = berth_node_get(root, "k");
  assert_int_equal(k->n, 3);
  assert_true(berth_node_is_null(k->items[0]));
  assert_true(berth_node_is_null(k->items[1]));
  assert_false(berth_node_is_null(k->items[2]));
  assert_false(berth_node_is_null(k));
  assert_string_equal(berth_node_type_name(k), "a list");
  assert_string_equal(berth_node_type_name(root), "a mapping");
  /* the absent node reads as null */
  assert_true(berth_node_is_null(NULL));
  assert_null(berth_node_get(root, "absent"));
  assert_true(berth_node_is_null(berth_node_get(root, "absent")));
  assert_string_equal(berth_node_type_name(NULL), "null");
  berth_node_free(root);
}

static void test_ints(void **state) {
  (void)state;
  struct berth_node *root = parse("a: 42\nb: -7\nc: +7\nd: 0\n"
                                  "e: 9223372036854775807\nf: -9223372036854775808\n"
                                  "g: 9223372036854775808\nh: -9223372036854775809\n"
                                  "i: 1.5\nj: \"42\"\nk: 0x10\nl: 1e3\nm: 12abc\nn:\n"
                                  "o: [1]\np: abc\nq: '-3'\nr: 99999999999999999999999\n");
  static const struct {
    const char *key;
    bool ok;
    int64_t v;
  } cases[] = {
      {"a", true, 42},        {"b", true, -7},        {"c", true, 7},  {"d", true, 0},
      {"e", true, INT64_MAX}, {"f", true, INT64_MIN}, {"g", false, 0}, /* overflow */
      {"h", false, 0},                                                 /* underflow */
      {"i", false, 0},        {"j", false, 0},                         /* quoted: a string */
      {"k", false, 0},        {"l", false, 0},        {"m", false, 0}, {"n", false, 0}, /* null */
      {"o", false, 0},        {"p", false, 0},        {"q", false, 0}, {"r", false, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    int64_t v = 12345;
    const struct berth_node *n = berth_node_get(root, cases[i].key);
    assert_non_null(n);
    bool got = berth_node_is_int(n, &v);
    if (got != cases[i].ok)
      fail_msg("%s: \"%s\" is_int %d, want %d", cases[i].key, n->value, got, cases[i].ok);
    if (got && v != cases[i].v)
      fail_msg("%s: \"%s\" gave %lld, want %lld", cases[i].key, n->value, (long long)v,
               (long long)cases[i].v);
  }
  /* a bare sign is no number, even unquoted in a flow list */
  struct berth_node *signs = parse("[+, -]\n");
  int64_t v = 5;
  assert_false(berth_node_is_int(signs->items[0], &v));
  assert_false(berth_node_is_int(signs->items[1], &v));
  assert_false(berth_node_is_int(NULL, &v));
  assert_int_equal(v, 5);
  berth_node_free(signs);
  berth_node_free(root);
}

/* ---- empty documents, syntax errors, more documents ---- */

static void test_empty_document(void **state) {
  (void)state;
  static const char *const empties[] = {"", "\n\n", "# just a comment\n", "---\n", "~\n", "null\n"};
  for (size_t i = 0; i < sizeof(empties) / sizeof(*empties); i++) {
    struct berth_node *n = NULL;
    berth_err err = NULL;
    int r = berth_yaml_parse(name, empties[i], strlen(empties[i]), &n, &err);
    if (r < 0)
      fail_msg("\"%s\": %s", empties[i], err->msg);
    assert_null(err);
    /* a node of type null (callers read its position), never a map */
    assert_non_null(n);
    assert_int_equal(n->type, BERTH_NODE_NULL);
    assert_true(berth_node_is_null(n));
    assert_int_equal(n->n, 0);
    assert_ptr_equal(n->file, name);
    berth_node_free(n);
  }
}

static void test_syntax_error(void **state) {
  (void)state;
  static const char text[] = "a: b: c\n";
  char *msg = parse_fail(text, strlen(text), BERTH_E_INVALID);
  assert_string_equal(msg,
                      "t.yaml:1:5: invalid YAML: mapping values are not allowed in this context");
  free(msg);

  static const char tab[] = "a:\n  b: 1\n\tc: 2\n";
  msg = parse_fail(tab, strlen(tab), BERTH_E_INVALID);
  assert_contains(msg, "t.yaml:3:1: invalid YAML: ");
  free(msg);

  static const char unclosed[] = "a: [1, 2\nb: 3\n";
  msg = parse_fail(unclosed, strlen(unclosed), BERTH_E_INVALID);
  assert_int_equal(strncmp(msg, "t.yaml:", 7), 0);
  assert_contains(msg, ": invalid YAML: ");
  free(msg);

  static const char quote[] = "a: \"abc\n";
  msg = parse_fail(quote, strlen(quote), BERTH_E_INVALID);
  assert_int_equal(strncmp(msg, "t.yaml:", 7), 0);
  assert_contains(msg, ": invalid YAML: ");
  free(msg);

  static const char undefined_alias[] = "a: *nowhere\n";
  msg = parse_fail(undefined_alias, strlen(undefined_alias), BERTH_E_INVALID);
  assert_contains(msg, "t.yaml:1:4: invalid YAML: ");
  free(msg);
}

static void test_second_document(void **state) {
  (void)state;
  static const char text[] = "a: 1\n---\nb: 2\n";
  char *msg = parse_fail(text, strlen(text), BERTH_E_INVALID);
  assert_contains(msg, "t.yaml:2:1: ");
  assert_contains(msg, "second YAML document");
  free(msg);

  static const char empty_second[] = "a: 1\n---\n";
  msg = parse_fail(empty_second, strlen(empty_second), BERTH_E_INVALID);
  assert_contains(msg, "second YAML document");
  free(msg);

  /* an explicit end of the one document is fine */
  struct berth_node *n = parse("---\na: 1\n...\n");
  assert_int_equal(get_int(n, "a"), 1);
  berth_node_free(n);
}

static void test_second_document_invalid(void **state) {
  (void)state;
  /* The second document does not parse: the file is still invalid YAML
   * (and has a second document), never a success. */
  static const char text[] = "a: 1\n---\nb: [1,\n";
  char *msg = parse_fail(text, strlen(text), BERTH_E_INVALID);
  assert_int_equal(strncmp(msg, "t.yaml:", 7), 0);
  free(msg);
}

/* ---- anchors, aliases, merge keys ---- */

static void test_aliases_are_copies(void **state) {
  (void)state;
  struct berth_node *root = parse("a: &x {k: v, list: [1, 2]}\n"
                                  "b: *x\n"
                                  "c: &s hello\n"
                                  "d: *s\n");
  struct berth_node *a = berth_node_get(root, "a"), *b = berth_node_get(root, "b");
  assert_int_equal(b->type, BERTH_NODE_MAP);
  assert_ptr_not_equal(a, b);
  assert_scalar(berth_node_get(b, "k"), "v");
  assert_ptr_not_equal(berth_node_get(a, "k"), berth_node_get(b, "k"));
  assert_int_equal(berth_node_get(b, "list")->n, 2);
  assert_ptr_not_equal(berth_node_get(a, "list"), berth_node_get(b, "list"));
  assert_scalar(berth_node_get(root, "d"), "hello");
  /* changing one copy leaves the other alone */
  assert_true(berth_node_remove(b, "k"));
  assert_scalar(berth_node_get(a, "k"), "v");
  assert_null(berth_node_get(b, "k"));
  berth_node_free(root);
}

static void test_merge_key(void **state) {
  (void)state;
  struct berth_node *root = parse("base: &base {a: 1, b: 2}\n"
                                  "other: &other {b: 20, c: 30}\n"
                                  "before:\n"
                                  "  a: 10\n"
                                  "  <<: *base\n"
                                  "after:\n"
                                  "  <<: *base\n"
                                  "  a: 10\n"
                                  "list:\n"
                                  "  <<: [*base, *other]\n"
                                  "reversed:\n"
                                  "  <<: [*other, *base]\n"
                                  "  c: 3\n"
                                  "quoted:\n"
                                  "  \"<<\": 1\n");
  static const char *const explicit_wins[] = {"before", "after"};
  for (size_t i = 0; i < 2; i++) {
    const struct berth_node *m = berth_node_get(root, explicit_wins[i]);
    assert_int_equal(m->type, BERTH_NODE_MAP);
    if (get_int(m, "a") != 10)
      fail_msg("%s: a is %lld, want the explicit 10", explicit_wins[i], (long long)get_int(m, "a"));
    assert_int_equal(get_int(m, "b"), 2);
    assert_int_equal(m->n, 4); /* a once, b; no "<<" */
    assert_null(berth_node_get(m, "<<"));
  }
  const struct berth_node *list = berth_node_get(root, "list");
  assert_int_equal(list->n, 6);
  assert_int_equal(get_int(list, "a"), 1);
  assert_int_equal(get_int(list, "b"), 2); /* the earlier source wins */
  assert_int_equal(get_int(list, "c"), 30);
  assert_null(berth_node_get(list, "<<"));
  const struct berth_node *rev = berth_node_get(root, "reversed");
  assert_int_equal(rev->n, 6);
  assert_int_equal(get_int(rev, "a"), 1);
  assert_int_equal(get_int(rev, "b"), 20);
  assert_int_equal(get_int(rev, "c"), 3);
  /* merged values are copies, not the anchored nodes */
  assert_ptr_not_equal(berth_node_get(berth_node_get(root, "base"), "b"),
                       berth_node_get(berth_node_get(root, "after"), "b"));
  /* a quoted "<<" is an ordinary key */
  const struct berth_node *quoted = berth_node_get(root, "quoted");
  assert_int_equal(get_int(quoted, "<<"), 1);
  berth_node_free(root);
}

static void test_merge_of_non_map(void **state) {
  (void)state;
  static const char *const bad[] = {
      "a: &a 1\nb:\n  <<: *a\n",
      "a: &a [1, 2]\nb:\n  <<: *a\n",
      "a: &a {x: 1}\nb:\n  <<: [*a, 3]\n",
      "b:\n  <<: text\n",
      "b:\n  <<:\n",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    char *msg = parse_fail(bad[i], strlen(bad[i]), BERTH_E_INVALID);
    assert_int_equal(strncmp(msg, "t.yaml:", 7), 0);
    assert_contains(msg, "merge key");
    free(msg);
  }
}

static void test_duplicate_keys(void **state) {
  (void)state;
  static const char top[] = "a: 1\nb: 2\na: 3\n";
  char *msg = parse_fail(top, strlen(top), BERTH_E_INVALID);
  assert_contains(msg, "t.yaml:3:1: ");
  assert_contains(msg, "\"a\"");
  free(msg);

  static const char nested[] = "s:\n  x: 1\n  y: 2\n  x: 3\n";
  msg = parse_fail(nested, strlen(nested), BERTH_E_INVALID);
  assert_contains(msg, "t.yaml:4:3: ");
  assert_contains(msg, "\"x\"");
  free(msg);

  /* "a" and 'a' are the same key */
  static const char quoted[] = "{a: 1, 'a': 2}\n";
  msg = parse_fail(quoted, strlen(quoted), BERTH_E_INVALID);
  assert_contains(msg, "t.yaml:1:8: ");
  assert_contains(msg, "\"a\"");
  free(msg);

  /* the same key in different maps is fine */
  struct berth_node *n = parse("p: {a: 1}\nq: {a: 2}\n");
  berth_node_free(n);
}

/* ---- bounds ---- */

static void test_billion_laughs(void **state) {
  (void)state;
  static const char bomb[] = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
                             "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                             "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                             "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                             "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                             "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                             "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                             "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                             "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
  char *msg = parse_fail(bomb, strlen(bomb), BERTH_E_TOO_BIG);
  /* refused at the alias that crosses the bound, by name */
  assert_contains(msg, "t.yaml:7:");
  assert_contains(msg, "the alias *f expands the document past a million nodes");
  free(msg);

  /* a small expansion is fine */
  struct berth_node *n = parse("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n");
  const struct berth_node *c = berth_node_get(n, "c");
  assert_int_equal(c->n, 2);
  assert_int_equal(c->items[1]->n, 2);
  assert_scalar(c->items[1]->items[1]->items[1], "x");
  berth_node_free(n);
}

/* A text with a 1 MiB scalar &s, then levels of ten aliases each: "a: &a
 * [*s, ...]", "b: &b [*a, ...]", ... */
static char *scalar_bomb(int levels) {
  struct berth_buf b = BERTH_BUF_INIT(4u << 20);
  assert_int_equal(berth_buf_addf(&b, "s: &s \""), 0);
  for (int i = 0; i < 1024; i++)
    assert_int_equal(berth_buf_addf(&b, "%01024d", 0), 0);
  assert_int_equal(berth_buf_addf(&b, "\"\n"), 0);
  for (int l = 0; l < levels; l++) {
    char prev = l ? (char)('a' + l - 1) : 's';
    assert_int_equal(berth_buf_addf(&b, "%c: &%c [", 'a' + l, 'a' + l), 0);
    for (int i = 0; i < 10; i++)
      assert_int_equal(berth_buf_addf(&b, "%s*%c", i ? ", " : "", prev), 0);
    assert_int_equal(berth_buf_addf(&b, "]\n"), 0);
  }
  return b.data;
}

/* Few nodes, many bytes: a 1 MiB scalar aliased through three levels
 * would be a GiB of copies; the byte bound refuses it at the alias. */
static void test_alias_bytes_bound(void **state) {
  (void)state;
  char *ok = scalar_bomb(1); /* ten copies: 11 MiB, fine */
  struct berth_node *n = parse(ok);
  const struct berth_node *a = berth_node_get(n, "a");
  assert_int_equal(a->n, 10);
  assert_int_equal(strlen(a->items[9]->value), 1u << 20);
  berth_node_free(n);
  free(ok);

  char *bomb = scalar_bomb(3);
  char *msg = parse_fail(bomb, strlen(bomb), BERTH_E_TOO_BIG);
  /* 1 + 10 + 5 x 10 MiB so far: b's sixth alias (line 3, column 28) would pass 64 */
  assert_string_equal(msg, "t.yaml:3:28: b[5]: the alias *a expands the document past 64 MiB "
                           "(each use copies the 10.0 MiB of &a, line 2); aliases of aliases "
                           "multiply, use fewer of them");
  free(msg);
  free(bomb);
}

/* A chain of aliases each nesting the last one deeper: the tree's depth
 * is bounded with the copies counted, not only as written. */
static void test_alias_depth_bound(void **state) {
  (void)state;
  struct berth_buf b = BERTH_BUF_INIT(1 << 20);
  assert_int_equal(berth_buf_addf(&b, "a0: &a0 x\n"), 0);
  for (int i = 1; i < 40; i++)
    assert_int_equal(berth_buf_addf(&b, "a%d: &a%d [[[[[[[[*a%d]]]]]]]]\n", i, i, i - 1), 0);
  char *msg = parse_fail(b.data, b.len, BERTH_E_TOO_BIG);
  assert_contains(msg, "nests the document deeper than 256 levels");
  assert_contains(msg, "the alias *a31");
  free(msg);
  berth_buf_release(&b);
}

static void test_anchors_redefined_and_in_merges(void **state) {
  (void)state;
  /* a later anchor of the same name serves the aliases after it */
  struct berth_node *n = parse("a: &x 1\nb: *x\nc: &x 2\nd: *x\n");
  assert_int_equal(get_int(n, "b"), 1);
  assert_int_equal(get_int(n, "d"), 2);
  berth_node_free(n);
  /* an anchor inside a merge key's value outlives the merge */
  n = parse("a:\n  <<: &m {x: 1, y: 2}\n  y: 3\nb: *m\n");
  assert_int_equal(get_int(berth_node_get(n, "a"), "y"), 3);
  assert_int_equal(get_int(berth_node_get(n, "b"), "x"), 1);
  assert_int_equal(get_int(berth_node_get(n, "b"), "y"), 2);
  berth_node_free(n);
  /* and so does an anchor on the merge key itself */
  n = parse("a:\n  &k <<: {x: 1}\nb: [*k]\n");
  assert_int_equal(get_int(berth_node_get(n, "a"), "x"), 1);
  assert_scalar(berth_node_get(n, "b")->items[0], "<<");
  berth_node_free(n);
}

/* Maps of many keys are indexed: lookups, duplicates (the first wins),
 * removal and puts keep answering like a scan from the start. */
static void test_large_map_lookups(void **state) {
  (void)state;
  struct berth_buf b = BERTH_BUF_INIT(1 << 20);
  for (int i = 0; i < 2000; i++)
    assert_int_equal(berth_buf_addf(&b, "k%d: %d\n", i, i), 0);
  struct berth_node *n = parse(b.data);
  berth_buf_release(&b);
  char key[32];
  for (int i = 0; i < 2000; i += 7) {
    snprintf(key, sizeof(key), "k%d", i);
    assert_int_equal(berth_node_index(n, key), 2 * i);
  }
  assert_int_equal(berth_node_index(n, "k2000"), -1);
  assert_true(berth_node_remove(n, "k0"));
  assert_int_equal(berth_node_index(n, "k1"), 0);
  assert_int_equal(berth_node_index(n, "k0"), -1);
  /* the same key put twice: the first is found, as by a scan */
  for (int i = 0; i < 2; i++)
    assert_int_equal(berth_node_put(n, berth_node_new(BERTH_NODE_SCALAR, NULL, "dup"),
                                    berth_node_new(BERTH_NODE_SCALAR, NULL, i ? "2" : "1")),
                     0);
  assert_scalar(berth_node_get(n, "dup"), "1");
  assert_int_equal(berth_node_index(n, "dup"), 2 * 1999);
  /* many pairs removed at once: the others move up and are still found */
  bool *drop = calloc(n->n / 2, sizeof(*drop));
  assert_non_null(drop);
  for (size_t i = 0; i < n->n / 2; i += 3)
    drop[i] = true; /* k1, k4, k7, ... (k0 went above) */
  berth_node_remove_pairs(n, drop);
  free(drop);
  assert_int_equal(berth_node_index(n, "k1"), -1);
  assert_int_equal(berth_node_index(n, "k2"), 0);
  assert_int_equal(berth_node_index(n, "k3"), 2);
  assert_int_equal(berth_node_index(n, "k1999"), -1); /* pair 1998 */
  assert_int_equal(get_int(n, "k1998"), 1998);
  assert_int_equal(berth_node_put(n, berth_node_new(BERTH_NODE_SCALAR, NULL, "k1"),
                                  berth_node_new(BERTH_NODE_SCALAR, NULL, "again")),
                   0);
  assert_int_equal(berth_node_index(n, "k1"), (long)n->n - 2);
  /* a duplicate key in a document is still refused */
  struct berth_buf d = BERTH_BUF_INIT(1 << 20);
  for (int i = 0; i < 100; i++)
    assert_int_equal(berth_buf_addf(&d, "k%d: %d\n", i, i), 0);
  assert_int_equal(berth_buf_addf(&d, "k42: again\n"), 0);
  char *msg = parse_fail(d.data, d.len, BERTH_E_INVALID);
  assert_contains(msg, "t.yaml:101:1: ");
  assert_contains(msg, "\"k42\" appears twice");
  free(msg);
  berth_buf_release(&d);
  berth_node_free(n);
}

static void test_recursive_alias(void **state) {
  (void)state;
  /* An alias inside its own anchor: a cycle, never a crash. */
  static const char text[] = "a: &a [1, *a]\n";
  struct berth_node *n = NULL;
  berth_err err = NULL;
  int r = berth_yaml_parse(name, text, strlen(text), &n, &err);
  assert_true(r < 0);
  assert_true(berth_err_code(err) == BERTH_E_TOO_BIG || berth_err_code(err) == BERTH_E_INVALID);
  assert_null(n);
  berth_err_free(&err);
}

static char *nested(size_t depth) {
  char *s = malloc(2 * depth + 2);
  assert_non_null(s);
  memset(s, '[', depth);
  memset(s + depth, ']', depth);
  s[2 * depth] = '\n';
  s[2 * depth + 1] = '\0';
  return s;
}

static void test_depth(void **state) {
  (void)state;
  /* BERTH_YAML_MAX_DEPTH levels are fine */
  char *ok = nested(BERTH_YAML_MAX_DEPTH);
  struct berth_node *n = parse(ok);
  size_t levels = 0;
  for (const struct berth_node *p = n; p && p->type == BERTH_NODE_SEQ;
       p = p->n ? p->items[0] : NULL)
    levels++;
  assert_int_equal(levels, BERTH_YAML_MAX_DEPTH);
  berth_node_free(n);
  free(ok);

  char *s = nested(BERTH_YAML_MAX_DEPTH + 10);
  char *msg = parse_fail(s, strlen(s), BERTH_E_TOO_BIG);
  assert_int_equal(strncmp(msg, "t.yaml:", 7), 0);
  free(msg);
  free(s);

  /* block maps count the same */
  struct berth_buf b = BERTH_BUF_INIT(1 << 20);
  for (int i = 0; i < BERTH_YAML_MAX_DEPTH + 10; i++)
    assert_int_equal(berth_buf_addf(&b, "%*sk:\n", 2 * i, ""), 0);
  assert_int_equal(berth_buf_addf(&b, "%*sx\n", 2 * (BERTH_YAML_MAX_DEPTH + 10), ""), 0);
  msg = parse_fail(b.data, b.len, BERTH_E_TOO_BIG);
  free(msg);
  berth_buf_release(&b);
}

static void watchdog(int sig) {
  (void)sig;
  static const char m[] = "test_depth_hostile: the parse did not finish in 20 s: the depth bound "
                          "is not enforced while parsing\n";
  (void)!write(2, m, sizeof(m) - 1);
  _exit(1);
}

/* A hostile file: a million "[" (2 MB, well under the size bound). The
 * depth bound has to stop it early; checked only after the whole document
 * is built, it takes hours (libyaml's flow nesting cost grows
 * quadratically). The alarm turns that hang into a failure; a bounded
 * parse takes milliseconds. */
static void test_depth_hostile(void **state) {
  (void)state;
  char *s = nested(1000000);
  signal(SIGALRM, watchdog);
  alarm(20);
  char *msg = parse_fail(s, strlen(s), BERTH_E_TOO_BIG);
  alarm(0);
  signal(SIGALRM, SIG_DFL);
  assert_int_equal(strncmp(msg, "t.yaml:", 7), 0);
  free(msg);
  free(s);
}

static void test_parse_too_big(void **state) {
  (void)state;
  size_t len = (size_t)BERTH_YAML_MAX_BYTES + 1;
  char *text = malloc(len);
  assert_non_null(text);
  memset(text, '#', len);
  char *msg = parse_fail(text, len, BERTH_E_TOO_BIG);
  assert_contains(msg, "t.yaml");
  free(msg);
  free(text);
}

/* ---- building and editing trees ---- */

static void test_copy(void **state) {
  (void)state;
  struct berth_node *root = parse("a: 'q'\nb: [1, {c: d}]\ne:\n");
  struct berth_node *c = berth_node_copy(root);
  assert_non_null(c);
  assert_ptr_not_equal(c, root);
  assert_int_equal(c->type, BERTH_NODE_MAP);
  assert_int_equal(c->n, root->n);
  for (size_t i = 0; i < root->n; i++) {
    assert_ptr_not_equal(c->items[i], root->items[i]);
    assert_int_equal(c->items[i]->type, root->items[i]->type);
    assert_string_equal(c->items[i]->value, root->items[i]->value);
    assert_int_equal(c->items[i]->line, root->items[i]->line);
    assert_int_equal(c->items[i]->col, root->items[i]->col);
    assert_ptr_equal(c->items[i]->file, name);
    assert_int_equal(c->items[i]->quoted, root->items[i]->quoted);
  }
  assert_true(berth_node_get(c, "a")->quoted);
  assert_true(berth_node_is_null(berth_node_get(c, "e")));
  const struct berth_node *b = berth_node_get(c, "b");
  assert_int_equal(b->type, BERTH_NODE_SEQ);
  assert_scalar(berth_node_get(b->items[1], "c"), "d");
  assert_pos(berth_node_get(b->items[1], "c"), 2, 12);
  /* independent: free the original first */
  berth_node_free(root);
  assert_scalar(berth_node_get(b->items[1], "c"), "d");
  berth_node_free(c);
  assert_null(berth_node_copy(NULL));
  assert_null(berth_node_free(NULL));
}

static void test_get_index_remove(void **state) {
  (void)state;
  struct berth_node *root = parse("a: 1\nb: 2\nc: 3\n");
  assert_int_equal(berth_node_index(root, "a"), 0);
  assert_int_equal(berth_node_index(root, "b"), 2);
  assert_int_equal(berth_node_index(root, "c"), 4);
  assert_int_equal(berth_node_index(root, "d"), -1);
  assert_int_equal(berth_node_index(NULL, "a"), -1);
  assert_null(berth_node_get(NULL, "a"));
  assert_int_equal(get_int(root, "c"), 3);

  assert_true(berth_node_remove(root, "b"));
  assert_int_equal(root->n, 4);
  assert_null(berth_node_get(root, "b"));
  assert_scalar(root->items[0], "a");
  assert_scalar(root->items[2], "c");
  assert_int_equal(berth_node_index(root, "c"), 2);
  assert_int_equal(get_int(root, "c"), 3);
  assert_false(berth_node_remove(root, "b"));
  assert_true(berth_node_remove(root, "c")); /* the last pair */
  assert_true(berth_node_remove(root, "a"));
  assert_int_equal(root->n, 0);
  assert_false(berth_node_remove(root, "a"));

  /* a sequence is no map */
  struct berth_node *seq = parse("[a, b]\n");
  assert_int_equal(berth_node_index(seq, "a"), -1);
  assert_null(berth_node_get(seq, "a"));
  assert_false(berth_node_remove(seq, "a"));
  assert_int_equal(seq->n, 2);
  berth_node_free(seq);
  berth_node_free(root);
}

static void test_new_put_append(void **state) {
  (void)state;
  struct berth_node *at = parse("\n\n   x: y\n");
  char value[] = "hello";
  struct berth_node *s = berth_node_new(BERTH_NODE_SCALAR, at->items[1], value);
  assert_non_null(s);
  value[0] = 'j'; /* copied */
  assert_scalar(s, "hello");
  assert_pos(s, 3, 7);
  assert_ptr_equal(s->file, name);
  assert_false(s->quoted);

  struct berth_node *map = berth_node_new(BERTH_NODE_MAP, NULL, NULL);
  assert_non_null(map);
  assert_int_equal(map->type, BERTH_NODE_MAP);
  assert_null(map->file);
  assert_int_equal(map->n, 0);
  assert_string_equal(map->value, "");
  assert_int_equal(berth_node_put(map, berth_node_new(BERTH_NODE_SCALAR, NULL, "k"), s), 0);
  assert_ptr_equal(berth_node_get(map, "k"), s);

  struct berth_node *seq = berth_node_new(BERTH_NODE_SEQ, at, NULL);
  assert_pos(seq, 3, 4);
  char buf[16];
  for (int i = 0; i < 100; i++) {
    snprintf(buf, sizeof(buf), "%d", i);
    assert_int_equal(berth_node_append(seq, berth_node_new(BERTH_NODE_SCALAR, NULL, buf)), 0);
  }
  assert_int_equal(seq->n, 100);
  for (int i = 0; i < 100; i++) {
    int64_t v = -1;
    assert_true(berth_node_is_int(seq->items[i], &v));
    assert_int_equal(v, i);
  }
  assert_int_equal(berth_node_put(map, berth_node_new(BERTH_NODE_SCALAR, NULL, "list"), seq), 0);
  for (int i = 0; i < 40; i++) {
    snprintf(buf, sizeof(buf), "k%d", i);
    assert_int_equal(berth_node_put(map, berth_node_new(BERTH_NODE_SCALAR, NULL, buf),
                                    berth_node_new(BERTH_NODE_NULL, NULL, NULL)),
                     0);
  }
  assert_int_equal(map->n, 2 * 42);
  assert_int_equal(berth_node_index(map, "k39"), 2 * 41);
  assert_ptr_equal(berth_node_get(map, "list"), seq);
  assert_true(berth_node_is_null(berth_node_get(map, "k0")));
  assert_int_equal(berth_node_get(map, "list")->n, 100);

  /* a copy of what was built by hand */
  struct berth_node *c = berth_node_copy(map);
  assert_int_equal(c->n, map->n);
  assert_int_equal(berth_node_get(c, "list")->n, 100);
  berth_node_free(c);
  berth_node_free(map);
  berth_node_free(at);
}

/* ---- files ---- */

static void test_load(void **state) {
  (void)state;
  char *path = fixture_write(fixture_root, "ok.yaml", "services:\n  api:\n    image: nginx\n");
  struct berth_node *n = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_yaml_load(path, &n, &err), 0);
  assert_null(err);
  const struct berth_node *img =
      berth_node_get(berth_node_get(berth_node_get(n, "services"), "api"), "image");
  assert_scalar(img, "nginx");
  assert_pos(img, 3, 12);
  assert_ptr_equal(img->file, path); /* positions name the path */
  berth_node_free(n);
  free(path);
}

static void test_load_syntax_error_names_the_file(void **state) {
  (void)state;
  char *path = fixture_write(fixture_root, "bad.yaml", "a: 1\nb: c: d\n");
  struct berth_node *n = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_yaml_load(path, &n, &err), -BERTH_E_INVALID);
  assert_null(n);
  char *want = NULL;
  assert_true(asprintf(&want, "%s:2:5: invalid YAML: ", path) > 0);
  assert_int_equal(strncmp(err->msg, want, strlen(want)), 0);
  free(want);
  berth_err_free(&err);
  free(path);
}

static void test_load_missing(void **state) {
  (void)state;
  char *path = fixture_path(fixture_root, "does-not-exist.yaml");
  struct berth_node *n = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_yaml_load(path, &n, &err), -BERTH_E_IO);
  assert_null(n);
  assert_int_equal(berth_err_code(err), BERTH_E_IO);
  char *s = berth_err_string(err);
  assert_contains(s, path);
  assert_contains(s, strerror(ENOENT));
  free(s);
  berth_err_free(&err);
  free(path);
}

static void fifo_watchdog(int sig) {
  (void)sig;
  static const char m[] = "test_load_not_regular: opening a FIFO blocked for 10 s\n";
  (void)!write(2, m, sizeof(m) - 1);
  _exit(1);
}

/* -f NAMED-PIPE waited for a writer forever; a FIFO, a device and a
 * directory are refused at once, by name. */
static void test_load_not_regular(void **state) {
  (void)state;
  char *fifo = fixture_path(fixture_root, "pipe.yaml");
  assert_int_equal(mkfifo(fifo, 0600), 0);
  static const struct {
    const char *path, *kind;
  } cases[] = {{NULL, "a named pipe (FIFO)"}, {"/dev/null", "a device"}, {"/", "a directory"}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    const char *path = cases[i].path ? cases[i].path : fifo;
    struct berth_node *n = NULL;
    berth_err err = NULL;
    signal(SIGALRM, fifo_watchdog);
    alarm(10);
    int r = berth_yaml_load(path, &n, &err);
    alarm(0);
    signal(SIGALRM, SIG_DFL);
    assert_int_equal(r, -BERTH_E_INVALID);
    assert_null(n);
    char want[1024];
    snprintf(want, sizeof(want), "%s is %s, not a regular file; name a file", path, cases[i].kind);
    assert_string_equal(err->msg, want);
    berth_err_free(&err);
  }
  free(fifo);
}

static void test_load_empty_file(void **state) {
  (void)state;
  char *path = fixture_write(fixture_root, "empty.yaml", "");
  struct berth_node *n = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_yaml_load(path, &n, &err), 0);
  assert_null(err);
  assert_non_null(n);
  assert_true(berth_node_is_null(n));
  berth_node_free(n);
  free(path);
}

static void test_load_size_limit(void **state) {
  (void)state;
  /* exactly the limit: read and parsed */
  char *path = fixture_path(fixture_root, "limit.yaml");
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  static const char head[] = "a: 1\n";
  assert_true(fputs(head, f) >= 0);
  size_t left = BERTH_YAML_MAX_BYTES - strlen(head);
  char line[1024];
  memset(line, 'x', sizeof(line));
  line[0] = '#';
  line[sizeof(line) - 1] = '\n';
  while (left >= sizeof(line)) {
    assert_int_equal(fwrite(line, 1, sizeof(line), f), sizeof(line));
    left -= sizeof(line);
  }
  memset(line, '\n', left);
  assert_int_equal(fwrite(line, 1, left, f), left);
  assert_int_equal(fclose(f), 0);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, BERTH_YAML_MAX_BYTES);
  struct berth_node *n = NULL;
  berth_err err = NULL;
  int r = berth_yaml_load(path, &n, &err);
  if (r < 0)
    fail_msg("a file of exactly %u bytes: %s", BERTH_YAML_MAX_BYTES, err->msg);
  assert_int_equal(get_int(n, "a"), 1);
  berth_node_free(n);
  free(path);

  /* one byte more: refused before parsing */
  path = fixture_path(fixture_root, "big.yaml");
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)BERTH_YAML_MAX_BYTES + 1), 0);
  assert_int_equal(close(fd), 0);
  n = NULL;
  assert_int_equal(berth_yaml_load(path, &n, &err), -BERTH_E_TOO_BIG);
  assert_null(n);
  assert_int_equal(berth_err_code(err), BERTH_E_TOO_BIG);
  assert_contains(err->msg, path);
  berth_err_free(&err);
  free(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_positions),
      cmocka_unit_test(test_positions_of_nested_block),
      cmocka_unit_test(test_only_len_bytes_are_read),
      cmocka_unit_test(test_bools),
      cmocka_unit_test(test_nulls),
      cmocka_unit_test(test_ints),
      cmocka_unit_test(test_empty_document),
      cmocka_unit_test(test_syntax_error),
      cmocka_unit_test(test_second_document),
      cmocka_unit_test(test_second_document_invalid),
      cmocka_unit_test(test_aliases_are_copies),
      cmocka_unit_test(test_merge_key),
      cmocka_unit_test(test_merge_of_non_map),
      cmocka_unit_test(test_duplicate_keys),
      cmocka_unit_test(test_billion_laughs),
      cmocka_unit_test(test_recursive_alias),
      cmocka_unit_test(test_alias_bytes_bound),
      cmocka_unit_test(test_alias_depth_bound),
      cmocka_unit_test(test_anchors_redefined_and_in_merges),
      cmocka_unit_test(test_large_map_lookups),
      cmocka_unit_test(test_depth),
      cmocka_unit_test(test_parse_too_big),
      cmocka_unit_test(test_copy),
      cmocka_unit_test(test_get_index_remove),
      cmocka_unit_test(test_new_put_append),
      cmocka_unit_test(test_load),
      cmocka_unit_test(test_load_syntax_error_names_the_file),
      cmocka_unit_test(test_load_missing),
      cmocka_unit_test(test_load_not_regular),
      cmocka_unit_test(test_load_empty_file),
      cmocka_unit_test(test_load_size_limit),
      /* last: on failure its watchdog ends the run */
      cmocka_unit_test(test_depth_hostile),
  };
  return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
