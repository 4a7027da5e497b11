/* A streaming splitter of PostgreSQL SQL scripts (psql -f input, pg_dump
 * plain format) for the seed loader. No I/O: the caller feeds bytes in
 * chunks of any size and receives events through a callback.
 *
 * Events:
 *   STATEMENT  one statement, text without its terminating ';', comments
 *              before it dropped; line is where its first token starts.
 *   META       a psql meta-command line (\connect, \restrict KEY, ...) met
 *              where a statement would start; text is the line without
 *              its line ending. The caller refuses or ignores it.
 *   COPY_DATA  after a "COPY ... FROM stdin" statement: one data line,
 *              with its '\n' (and '\r' if CRLF), until the "\." line.
 *   COPY_END   the "\." line that ends the COPY data.
 * Every buffered thing (a statement, a meta line, a COPY line) is bounded by
 * max; COPY data is delivered line by line, never accumulated.
 * event text is valid only during the callback. */
#ifndef BERTH_SEED_SQL_SCRIPT_H
#define BERTH_SEED_SQL_SCRIPT_H

#include <stddef.h>

#include "berth/buf.h"
#include "berth/err.h"

enum berth_sql_event_kind {
  BERTH_SQL_STATEMENT,
  BERTH_SQL_META,
  BERTH_SQL_COPY_DATA,
  BERTH_SQL_COPY_END,
};

struct berth_sql_event {
  enum berth_sql_event_kind kind;
  const char *text; /* NUL-terminated; NULL for COPY_END */
  size_t len;
  size_t line; /* 1-based */
};

/* Returns >= 0 to go on; a negative return (with *err filled) stops the
 * feed, which returns it. */
typedef int (*berth_sql_cb)(const struct berth_sql_event *ev, void *ud, berth_err *err);

#define BERTH_SQL_DEFAULT_MAX ((size_t)64 << 20)

struct berth_sql_splitter {
  struct berth_buf buf; /* the statement, meta line or COPY line so far */
  size_t line;          /* current line */
  size_t buf_line;      /* line of buf's first byte */
  size_t start_line;    /* line of the statement's first token */
  size_t open_line;     /* where the current string/comment/COPY opened */
  size_t start;         /* offset of the first token in buf */
  size_t pend_line;     /* line of a pending '-' or '/' */
  int state;
  int has_content;
  int last; /* previous byte at statement level, for "--" and "/" "*" */
  int depth;
  int esc;
  char tag[64];
  size_t tag_len;
  long match;
};

void berth_sql_splitter_init(struct berth_sql_splitter *s, size_t max);
void berth_sql_splitter_release(struct berth_sql_splitter *s);
int berth_sql_feed(struct berth_sql_splitter *s, const char *data, size_t len, berth_sql_cb cb,
                   void *ud, berth_err *err);
/* End of input: emits a last statement without ';', fails on an
 * unterminated string, comment or COPY block naming where it opened. */
int berth_sql_finish(struct berth_sql_splitter *s, berth_sql_cb cb, void *ud, berth_err *err);

#endif
