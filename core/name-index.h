/* A name -> position index over an array its caller owns (a map's keys,
 * the project's services): open addressing on FNV-1a, linear probing,
 * at most half full. It stores positions only; the caller's key function
 * names the entry at a position (NULL: not indexed). A name that appears
 * twice keeps its first position, as a linear scan from the start would
 * find it. Our dependencies have no hash map (hcreate_r is one table per
 * process unless reentrant, and cannot grow or hold duplicates), and this
 * is the graph's scheme in a form the manifest reader can share. */
#ifndef BERTH_NAME_INDEX_H
#define BERTH_NAME_INDEX_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

struct berth__name_index {
  uint32_t *slots; /* position + 1; 0 is a free slot */
  size_t cap;      /* a power of two */
  size_t n;        /* positions indexed */
};

typedef const char *berth__name_of_fn(const void *ctx, size_t pos);

static inline void berth__name_index_release(struct berth__name_index *ix) {
  free(ix->slots);
  *ix = (struct berth__name_index){0};
}

static inline size_t berth__name_slot(const struct berth__name_index *ix, const char *name) {
  return (size_t)berth_fnv1a(BERTH_FNV_INIT, name, strlen(name)) & (ix->cap - 1);
}

/* The position of name, or -1. */
static inline long berth__name_index_find(const struct berth__name_index *ix,
                                          berth__name_of_fn *name_of, const void *ctx,
                                          const char *name) {
  if (!ix->cap)
    return -1;
  for (size_t h = berth__name_slot(ix, name); ix->slots[h]; h = (h + 1) & (ix->cap - 1)) {
    const char *k = name_of(ctx, ix->slots[h] - 1);
    if (k && !strcmp(k, name))
      return (long)ix->slots[h] - 1;
  }
  return -1;
}

static inline void berth__name_index_place(struct berth__name_index *ix, const char *name,
                                           size_t pos) {
  size_t h = berth__name_slot(ix, name);
  while (ix->slots[h])
    h = (h + 1) & (ix->cap - 1);
  ix->slots[h] = (uint32_t)pos + 1;
}

/* Indexes positions 0..count-1 afresh (count < 2^31); -1 when out of
 * memory (the index is then empty). */
static inline int berth__name_index_build(struct berth__name_index *ix, berth__name_of_fn *name_of,
                                          const void *ctx, size_t count) {
  berth__name_index_release(ix);
  size_t cap = 16;
  while (cap < 2 * count + 2)
    cap *= 2;
  if (count >= INT32_MAX || !(ix->slots = calloc(cap, sizeof(*ix->slots))))
    return -1;
  ix->cap = cap;
  for (size_t i = 0; i < count; i++) {
    const char *k = name_of(ctx, i);
    if (k && berth__name_index_find(ix, name_of, ctx, k) < 0)
      berth__name_index_place(ix, k, i);
  }
  ix->n = count;
  return 0;
}

/* Adds position pos == ix->n (the next one), growing as needed; -1 when
 * out of memory (the index is then empty). */
static inline int berth__name_index_add(struct berth__name_index *ix, berth__name_of_fn *name_of,
                                        const void *ctx, size_t pos) {
  if (2 * (pos + 1) >= ix->cap)
    return berth__name_index_build(ix, name_of, ctx, pos + 1);
  const char *k = name_of(ctx, pos);
  if (k && berth__name_index_find(ix, name_of, ctx, k) < 0)
    berth__name_index_place(ix, k, pos);
  ix->n = pos + 1;
  return 0;
}

#endif
