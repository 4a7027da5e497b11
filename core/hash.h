/* FNV-1a, 64 bits: fast, stable hashes for telling contents and configs
 * apart (not for security). */
#ifndef BERTH_HASH_H
#define BERTH_HASH_H

#include <stddef.h>
#include <stdint.h>

#define BERTH_FNV_INIT 1469598103934665603ull

static inline uint64_t berth_fnv1a(uint64_t h, const void *data, size_t len) {
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

#endif
