/* A growable, NULL-terminated list of owned strings: argv, env, labels.
 * The one string-vector of berth; every push is checked. */
#ifndef BERTH_STRV_H
#define BERTH_STRV_H

#include <stddef.h>

struct berth_strv {
  char **v; /* NULL-terminated when n > 0 (usable as argv) */
  size_t n;
};

/* Appends a copy of s. Returns 0, or -ENOMEM (the list is unchanged). */
int berth_strv_push(struct berth_strv *v, const char *s);
/* Appends a formatted string. Returns 0, or -ENOMEM. */
int berth_strv_pushf(struct berth_strv *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s itself, taking ownership (freed on failure). 0 or -ENOMEM. */
int berth_strv_take(struct berth_strv *v, char *s);
/* The index of s, or -1. */
long berth_strv_find(const struct berth_strv *v, const char *s);
/* Frees the strings and the array; leaves an empty list. Accepts NULL. */
void berth_strv_release(struct berth_strv *v);

#endif
