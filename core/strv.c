/* The one string vector. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/strv.h"

int berth_strv_take(struct berth_strv *v, char *s) {
  if (!s)
    return -ENOMEM;
  char **nv = realloc(v->v, (v->n + 2) * sizeof(*nv));
  if (!nv) {
    free(s);
    return -ENOMEM;
  }
  v->v = nv;
  nv[v->n++] = s;
  nv[v->n] = NULL;
  return 0;
}

int berth_strv_push(struct berth_strv *v, const char *s) {
  return berth_strv_take(v, strdup(s ? s : ""));
}

int berth_strv_pushf(struct berth_strv *v, const char *fmt, ...) {
  char *s = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  return berth_strv_take(v, n < 0 ? NULL : s);
}

long berth_strv_find(const struct berth_strv *v, const char *s) {
  for (size_t i = 0; i < v->n; i++)
    if (!strcmp(v->v[i], s))
      return (long)i;
  return -1;
}

void berth_strv_release(struct berth_strv *v) {
  if (!v)
    return;
  for (size_t i = 0; i < v->n; i++)
    free(v->v[i]);
  free(v->v);
  v->v = NULL;
  v->n = 0;
}
