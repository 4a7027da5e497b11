/* YAML read into a tree that remembers where each node came from
 * (file:line:col), with aliases expanded and merge keys (<<) applied.
 * Manifests are small, so the tree is built whole; every input is still
 * bounded (file size, node count, bytes once aliases are expanded, depth)
 * so a hostile file — a billion laughs of aliases, or a large scalar
 * aliased a few levels deep — fails cleanly, at the alias that would
 * exceed the bound, instead of exhausting memory. */
#ifndef BERTH_NODE_H
#define BERTH_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"

#define BERTH_YAML_MAX_BYTES (16u << 20)
#define BERTH_YAML_MAX_NODES 1000000u
/* The expanded document: its scalars' text and 16 bytes per node. */
#define BERTH_YAML_MAX_EXPANDED (64u << 20)
#define BERTH_YAML_MAX_DEPTH 256

struct berth__name_index;

enum berth_node_type { BERTH_NODE_NULL, BERTH_NODE_SCALAR, BERTH_NODE_SEQ, BERTH_NODE_MAP };

struct berth_node {
  enum berth_node_type type;
  const char *file; /* shared, owned by whoever loaded the file */
  int line, col;    /* 1-based */
  char *value;      /* scalars (and "" for null) */
  bool quoted;      /* a quoted or block scalar: always a string */
  /* Compose's merge tags: !reset drops what earlier files set, !override
   * replaces instead of merging. Other tags are ignored. */
  enum { BERTH_TAG_NONE, BERTH_TAG_RESET, BERTH_TAG_OVERRIDE } tag;
  /* SEQ: items[i]; MAP: items[2i] is a key, items[2i+1] its value */
  struct berth_node **items;
  size_t n;
  /* A large map's keys by name (node.c's, built by the first lookup and
   * kept by berth_node_put): lookups stay constant-time in a map of
   * 50,000 services. */
  struct berth__name_index *index;
};

/* Parses text (name is the file name for positions and messages; it must
 * outlive the tree). An empty document gives a NULL node. A syntax error
 * fails with BERTH_E_INVALID: "name:line:col: message". */
int berth_yaml_parse(const char *name, const char *text, size_t len, struct berth_node **ret,
                     berth_err *err);
/* Opens path for reading when it is a regular file. Anything else (a
 * FIFO, a device, a socket, a directory) is refused by name, without
 * blocking: the open is non-blocking until fstat has said what it is.
 * Returns the descriptor (close-on-exec, blocking), or a negative code
 * with *err: BERTH_E_IO when it cannot be opened (errno says why),
 * BERTH_E_INVALID when it is not a regular file. */
int berth_open_regular(const char *path, berth_err *err);
/* Reads and parses a regular file (bounded by BERTH_YAML_MAX_BYTES). */
int berth_yaml_load(const char *path, struct berth_node **ret, berth_err *err);

struct berth_node *berth_node_free(struct berth_node *n);
/* About the memory the tree takes (nodes, values, item arrays and the
 * allocator's overhead), for bounds on what copies of trees may cost. */
size_t berth_node_size(const struct berth_node *n);
/* A deep copy, or NULL on allocation failure. */
struct berth_node *berth_node_copy(const struct berth_node *n);
/* New nodes, positioned like at (may be NULL). value is copied. */
struct berth_node *berth_node_new(enum berth_node_type type, const struct berth_node *at,
                                  const char *value);
/* Appends to a sequence, or a key/value pair to a map (taking both). */
int berth_node_append(struct berth_node *n, struct berth_node *item);
int berth_node_put(struct berth_node *map, struct berth_node *key, struct berth_node *value);

/* Map lookup by key (the first pair with it); NULL when absent. A map
 * changed other than through berth_node_put/_remove/_append keeps a
 * correct lookup as long as its keys stay where they were or its n
 * changes. */
struct berth_node *berth_node_get(const struct berth_node *map, const char *key);
/* Index of a key in a map's pairs, or -1. */
long berth_node_index(const struct berth_node *map, const char *key);
/* Removes a key (freeing key and value). Returns true when it was there. */
bool berth_node_remove(struct berth_node *map, const char *key);
/* Removes the pairs i of a map for which drop[i] (freeing them) in one
 * pass, however many. */
void berth_node_remove_pairs(struct berth_node *map, const bool *drop);

/* A null value: an empty plain scalar, ~, null, Null, NULL, or a NULL
 * node. */
bool berth_node_is_null(const struct berth_node *n);
/* Plain true/false in YAML 1.2 spellings (true True TRUE false ...). */
bool berth_node_is_bool(const struct berth_node *n, bool *ret);
/* A plain integer (decimal, optional sign). */
bool berth_node_is_int(const struct berth_node *n, int64_t *ret);
const char *berth_node_type_name(const struct berth_node *n);

#endif
