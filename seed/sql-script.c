/* The SQL script splitter: a byte-at-a-time lexer, so chunk boundaries
 * can fall anywhere. See sql-script.h. */
#include "sql-script.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

enum {
  ST_NORMAL,
  ST_SQUOTE,
  ST_ESQUOTE,
  ST_ESQ_END, /* a ' closed an E string: '' reopens it */
  ST_DQUOTE,
  ST_LINE_COMMENT,
  ST_BLOCK_COMMENT,
  ST_TAG_OPEN, /* after '$', reading a dollar-quote tag */
  ST_DOLLAR,
  ST_META,
  ST_COPY_SKIP, /* rest of the COPY statement's line */
  ST_COPY_DATA,
};

static int is_ident(int c) {
  return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

void berth_sql_splitter_init(struct berth_sql_splitter *s, size_t max) {
  memset(s, 0, sizeof(*s));
  berth_buf_init(&s->buf, max);
  s->line = 1;
}

void berth_sql_splitter_release(struct berth_sql_splitter *s) {
  berth_buf_release(&s->buf);
}

static void reset(struct berth_sql_splitter *s) {
  berth_buf_reset(&s->buf);
  s->has_content = 0;
  s->last = 0;
  s->start = 0;
}

static int add(struct berth_sql_splitter *s, char c, berth_err *err) {
  if (s->buf.len == 0)
    s->buf_line = s->line;
  int r = berth_buf_add(&s->buf, &c, 1);
  if (r < 0)
    return berth_err_set(err, -r, "line %zu: %s longer than %zu bytes",
                         s->has_content ? s->start_line : s->buf_line,
                         s->state == ST_COPY_DATA ? "COPY data line" : "SQL statement", s->buf.max);
  return 0;
}

static void mark_content(struct berth_sql_splitter *s, size_t off, size_t line) {
  s->has_content = 1;
  s->start = off;
  s->start_line = line;
}

/* "COPY ... FROM stdin": the words from and stdin next to each other. */
static int is_copy_from_stdin(const char *t, size_t len) {
  if (len < 4 || strncasecmp(t, "copy", 4) != 0 || (len > 4 && is_ident((unsigned char)t[4])))
    return 0;
  int prev_from = 0;
  for (size_t i = 0; i < len;) {
    if (!is_ident((unsigned char)t[i])) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < len && is_ident((unsigned char)t[j]))
      j++;
    if (prev_from && j - i == 5 && strncasecmp(t + i, "stdin", 5) == 0)
      return 1;
    prev_from = j - i == 4 && strncasecmp(t + i, "from", 4) == 0;
    i = j;
  }
  return 0;
}

static int emit(berth_sql_cb cb, void *ud, berth_err *err, enum berth_sql_event_kind kind,
                const char *text, size_t len, size_t line) {
  struct berth_sql_event ev = {.kind = kind, .text = text, .len = len, .line = line};
  return cb(&ev, ud, err);
}

static int end_statement(struct berth_sql_splitter *s, berth_sql_cb cb, void *ud, berth_err *err) {
  if (!s->has_content && (s->last == '-' || s->last == '/'))
    mark_content(s, s->buf.len - 1, s->pend_line);
  if (!s->has_content) {
    reset(s);
    return 0;
  }
  const char *t = s->buf.data + s->start;
  size_t len = s->buf.len - s->start;
  int copy = is_copy_from_stdin(t, len);
  int r = emit(cb, ud, err, BERTH_SQL_STATEMENT, t, len, s->start_line);
  if (copy) {
    s->open_line = s->start_line;
    s->state = ST_COPY_SKIP;
  }
  reset(s);
  return r < 0 ? r : 0;
}

static int step(struct berth_sql_splitter *s, int c, berth_sql_cb cb, void *ud, berth_err *err) {
  int r;
again:
  switch (s->state) {
  case ST_NORMAL:
    if (s->last == '-' && c == '-') {
      s->state = ST_LINE_COMMENT;
      s->last = 0;
      return add(s, (char)c, err);
    }
    if (s->last == '/' && c == '*') {
      s->state = ST_BLOCK_COMMENT;
      s->open_line = s->pend_line;
      s->depth = 1;
      s->last = 0;
      return add(s, (char)c, err);
    }
    if (!s->has_content && (s->last == '-' || s->last == '/'))
      mark_content(s, s->buf.len - 1, s->pend_line);
    if (c == ';')
      return end_statement(s, cb, ud, err);
    if (isspace(c)) {
      s->last = c;
      return s->has_content || s->buf.len ? add(s, (char)c, err) : 0;
    }
    if (c == '-' || c == '/') {
      s->pend_line = s->line;
      s->last = c;
      return add(s, (char)c, err);
    }
    if (c == '\\' && !s->has_content) {
      reset(s);
      s->state = ST_META;
      s->start_line = s->line;
      return add(s, (char)c, err);
    }
    int prev = s->buf.len ? (unsigned char)s->buf.data[s->buf.len - 1] : 0;
    int prev2 = s->buf.len > 1 ? (unsigned char)s->buf.data[s->buf.len - 2] : 0;
    if (!s->has_content)
      mark_content(s, s->buf.len, s->line);
    s->last = c;
    if (c == '\'') {
      s->open_line = s->line;
      s->state = (prev == 'E' || prev == 'e') && !is_ident(prev2) ? ST_ESQUOTE : ST_SQUOTE;
      s->esc = 0;
    } else if (c == '"') {
      s->open_line = s->line;
      s->state = ST_DQUOTE;
    } else if (c == '$' && !is_ident(prev)) {
      s->open_line = s->line;
      s->state = ST_TAG_OPEN;
      s->tag_len = 0;
    }
    return add(s, (char)c, err);
  case ST_SQUOTE:
    if (c == '\'')
      s->state = ST_NORMAL, s->last = 0; /* '' reopens: the same for splitting */
    break;
  case ST_ESQUOTE:
    if (s->esc)
      s->esc = 0;
    else if (c == '\\')
      s->esc = 1;
    else if (c == '\'')
      s->state = ST_ESQ_END;
    break;
  case ST_ESQ_END:
    if (c == '\'') {
      s->state = ST_ESQUOTE;
      break;
    }
    s->state = ST_NORMAL;
    s->last = 0;
    goto again;
  case ST_DQUOTE:
    if (c == '"')
      s->state = ST_NORMAL, s->last = 0;
    break;
  case ST_LINE_COMMENT:
    if (c == '\n')
      s->state = ST_NORMAL, s->last = c;
    break;
  case ST_BLOCK_COMMENT:
    if (s->last == '/' && c == '*') {
      s->depth++;
      c = 0;
    } else if (s->last == '*' && c == '/') {
      if (--s->depth == 0) {
        s->state = ST_NORMAL;
        s->last = 0;
        return add(s, '/', err);
      }
      c = 0;
    }
    r = add(s, c ? (char)c : (char)s->buf.data[s->buf.len - 1], err);
    /* the byte just consumed is c, or the second byte of a pair */
    s->last = c;
    return r;
  case ST_TAG_OPEN:
    if (c == '$') {
      s->state = ST_DOLLAR;
      s->match = -1;
      break;
    }
    if ((isalpha(c) || c == '_' || c >= 0x80 || (s->tag_len > 0 && isdigit(c))) &&
        s->tag_len < sizeof(s->tag)) {
      s->tag[s->tag_len++] = (char)c;
      break;
    }
    s->state = ST_NORMAL; /* $1, or a lone $ */
    s->last = 0;
    goto again;
  case ST_DOLLAR:
    if (c == '$' && s->match == (long)s->tag_len) {
      s->state = ST_NORMAL;
      s->last = 0;
    } else if (c == '$') {
      s->match = 0;
    } else if (s->match >= 0 && s->match < (long)s->tag_len && c == s->tag[s->match]) {
      s->match++;
    } else {
      s->match = -1;
    }
    break;
  case ST_META:
    if (c == '\n') {
      size_t len = s->buf.len;
      if (len && s->buf.data[len - 1] == '\r')
        s->buf.data[--len] = '\0';
      r = emit(cb, ud, err, BERTH_SQL_META, s->buf.data, len, s->start_line);
      s->state = ST_NORMAL;
      reset(s);
      s->last = '\n';
      return r < 0 ? r : 0;
    }
    break;
  case ST_COPY_SKIP:
    if (c == '\n')
      s->state = ST_COPY_DATA;
    return 0;
  case ST_COPY_DATA:
    if (s->buf.len == 0)
      s->start_line = s->line;
    if ((r = add(s, (char)c, err)) < 0)
      return r;
    if (c != '\n')
      return 0;
    const char *t = s->buf.data;
    size_t len = s->buf.len;
    if ((len == 3 && memcmp(t, "\\.\n", 3) == 0) || (len == 4 && memcmp(t, "\\.\r\n", 4) == 0)) {
      r = emit(cb, ud, err, BERTH_SQL_COPY_END, NULL, 0, s->start_line);
      s->state = ST_NORMAL;
    } else {
      r = emit(cb, ud, err, BERTH_SQL_COPY_DATA, t, len, s->start_line);
    }
    reset(s);
    s->last = '\n';
    return r < 0 ? r : 0;
  }
  return add(s, (char)c, err);
}

int berth_sql_feed(struct berth_sql_splitter *s, const char *data, size_t len, berth_sql_cb cb,
                   void *ud, berth_err *err) {
  for (size_t i = 0; i < len; i++) {
    int c = (unsigned char)data[i];
    int r = step(s, c, cb, ud, err);
    if (r < 0)
      return r;
    if (c == '\n')
      s->line++;
  }
  return 0;
}

int berth_sql_finish(struct berth_sql_splitter *s, berth_sql_cb cb, void *ud, berth_err *err) {
  int r;
  switch (s->state) {
  case ST_SQUOTE:
  case ST_ESQUOTE:
    return berth_err_set(err, BERTH_E_INVALID, "line %zu: unterminated quoted string",
                         s->open_line);
  case ST_DQUOTE:
    return berth_err_set(err, BERTH_E_INVALID, "line %zu: unterminated quoted identifier",
                         s->open_line);
  case ST_BLOCK_COMMENT:
    return berth_err_set(err, BERTH_E_INVALID, "line %zu: unterminated /* comment", s->open_line);
  case ST_DOLLAR:
    return berth_err_set(err, BERTH_E_INVALID, "line %zu: unterminated dollar-quoted string",
                         s->open_line);
  case ST_COPY_SKIP:
  case ST_COPY_DATA:
    return berth_err_set(err, BERTH_E_INVALID,
                         "line %zu: COPY data not ended by a \\. line before the end",
                         s->open_line);
  case ST_META:
    r = emit(cb, ud, err, BERTH_SQL_META, s->buf.data, s->buf.len, s->start_line);
    reset(s);
    s->state = ST_NORMAL;
    return r < 0 ? r : 0;
  default:
    s->state = ST_NORMAL;
    return end_statement(s, cb, ud, err);
  }
}
