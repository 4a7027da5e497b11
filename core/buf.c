#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "berth/err.h"

void berth_buf_init(struct berth_buf *b, size_t max) {
  *b = (struct berth_buf)BERTH_BUF_INIT(max);
}

int berth_buf_add(struct berth_buf *b, const void *data, size_t len) {
  if (len > b->max || b->len > b->max - len)
    return -BERTH_E_TOO_BIG;
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + len + 1)
      cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
      return -BERTH_E_NOMEM;
    b->data = p;
    b->cap = cap;
  }
  if (len)
    memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}

int berth_buf_addf(struct berth_buf *b, const char *fmt, ...) {
  char *s = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (n < 0)
    return -BERTH_E_NOMEM;
  int r = berth_buf_add(b, s, (size_t)n);
  free(s);
  return r;
}

void berth_buf_consume(struct berth_buf *b, size_t n) {
  if (n >= b->len) {
    berth_buf_reset(b);
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}

void berth_buf_reset(struct berth_buf *b) {
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

char *berth_buf_detach(struct berth_buf *b) {
  char *p = b->data;
  if (!p)
    p = calloc(1, 1);
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

void berth_buf_release(struct berth_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
