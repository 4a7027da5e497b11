/* A growable byte buffer with a maximum size, after curl's curlx_dyn:
 * every buffer filled from outside input says how big it may grow. */
#ifndef BERTH_BUF_H
#define BERTH_BUF_H

#include <stddef.h>

struct berth_buf {
  char *data; /* always NUL-terminated when non-NULL */
  size_t len;
  size_t cap;
  size_t max; /* berth_buf_add() fails with -BERTH_E_TOO_BIG beyond this */
};

#define BERTH_BUF_INIT(maximum)                                                                    \
  { .data = NULL, .len = 0, .cap = 0, .max = (maximum) }

void berth_buf_init(struct berth_buf *b, size_t max);
/* Returns 0, -BERTH_E_TOO_BIG or -BERTH_E_NOMEM; the buffer is unchanged on
 * failure. */
int berth_buf_add(struct berth_buf *b, const void *data, size_t len);
int berth_buf_addf(struct berth_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes. */
void berth_buf_consume(struct berth_buf *b, size_t n);
void berth_buf_reset(struct berth_buf *b);
/* Gives the data to the caller (who frees it) and empties the buffer. */
char *berth_buf_detach(struct berth_buf *b);
void berth_buf_release(struct berth_buf *b);

#endif
