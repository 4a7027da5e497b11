/* .env files (see berth/interp.h), as compose-go's dotenv reader reads
 * them: KEY=VALUE lines, quotes, comments, `export`, values interpolated
 * against what came before. A file is bounded to DOTENV_MAX_FILE and the
 * sum of its values to DOTENV_MAX_TOTAL, so no input can blow up memory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/buf.h"
#include "berth/interp.h"
#include "berth/node.h"
#include "cleanup.h"
#include "hash.h"
#include "interp-internal.h"

#define DOTENV_MAX_FILE ((size_t)4 << 20)      /* 4 MiB */
#define DOTENV_MAX_TOTAL (4 * DOTENV_MAX_FILE) /* all values of one file */

/* Names to their index in a berth_vars, so a long file stays linear. */
struct name_index {
  size_t *slots;
  size_t cap; /* a power of two, or 0 */
  size_t n;
};

static size_t name_hash(const char *s) {
  return (size_t)berth_fnv1a(BERTH_FNV_INIT, s, strlen(s));
}

static bool index_find(const struct name_index *ix, const struct berth_vars *v, const char *name,
                       size_t *ret) {
  if (!ix->cap)
    return false;
  for (size_t h = name_hash(name) & (ix->cap - 1);; h = (h + 1) & (ix->cap - 1)) {
    size_t slot = ix->slots[h];
    if (!slot)
      return false;
    if (strcmp(v->names[slot - 1], name) == 0) {
      *ret = slot - 1;
      return true;
    }
  }
}

static void index_put(struct name_index *ix, const struct berth_vars *v, size_t i) {
  size_t h = name_hash(v->names[i]) & (ix->cap - 1);
  while (ix->slots[h])
    h = (h + 1) & (ix->cap - 1);
  ix->slots[h] = i + 1;
  ix->n++;
}

static int index_add(struct name_index *ix, const struct berth_vars *v, size_t i) {
  if (2 * (ix->n + 1) > ix->cap) {
    if (ix->cap > SIZE_MAX / (4 * sizeof(size_t)))
      return -BERTH_E_NOMEM;
    struct name_index grown = {.cap = ix->cap ? 2 * ix->cap : 64};
    grown.slots = calloc(grown.cap, sizeof(*grown.slots));
    if (!grown.slots)
      return -BERTH_E_NOMEM;
    for (size_t k = 0; k < ix->cap; k++)
      if (ix->slots[k])
        index_put(&grown, v, ix->slots[k] - 1);
    free(ix->slots);
    *ix = grown;
  }
  index_put(ix, v, i);
  return 0;
}

static void index_release(struct name_index *ix) {
  free(ix->slots);
  *ix = (struct name_index){0};
}

/* ---- .env files ---- */

struct dotenv {
  const char *name;
  const char *text; /* after the BOM */
  size_t len, pos;
  berth_lookup_fn lookup;
  void *ud;
  berth_err *err;
  struct berth_vars local; /* this file's pairs, merged into prior at the end */
  struct name_index local_ix;
  const struct berth_vars *prior; /* the caller's vars */
  struct name_index prior_ix;
  size_t total; /* bytes of all values so far */
};

static void dotenv_release(struct dotenv *d) {
  berth_vars_release(&d->local);
  index_release(&d->local_ix);
  index_release(&d->prior_ix);
}

static int dotenv_fail(struct dotenv *d, size_t off, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int dotenv_fail(struct dotenv *d, size_t off, int code, const char *fmt, ...) {
  int line = 1;
  for (size_t i = 0; i < off; i++)
    line += d->text[i] == '\n' && line < INT_MAX;
  _cleanup_free_ char *what = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&what, fmt, ap);
  va_end(ap);
  if (n < 0) {
    what = NULL;
    return berth_err_set(d->err, BERTH_E_NOMEM, "out of memory");
  }
  return berth_err_set(d->err, code, "%s:%d:%d: %s", d->name, line, berth__column_of(d->text, off),
                       what);
}

static int dotenv_nomem(struct dotenv *d) {
  return berth_err_set(d->err, BERTH_E_NOMEM, "out of memory");
}

/* Inside .env: the caller's lookup (the process environment) first, then
 * the pairs read so far, this file's before the caller's. */
static const char *dotenv_lookup(const char *name, void *ud) {
  struct dotenv *d = ud;
  const char *v = d->lookup ? d->lookup(name, d->ud) : NULL;
  size_t i;
  if (v)
    return v;
  if (index_find(&d->local_ix, &d->local, name, &i))
    return d->local.values[i];
  if (index_find(&d->prior_ix, d->prior, name, &i))
    return d->prior->values[i];
  return NULL;
}

static int dotenv_put(struct dotenv *d, size_t off, char *key, char *value) {
  _cleanup_free_ char *k = key, *v = value;
  size_t len = strlen(v), i;
  if (len > DOTENV_MAX_TOTAL - d->total)
    return dotenv_fail(d, off, BERTH_E_TOO_BIG, "the values of %s add up to more than %zu MiB",
                       d->name, DOTENV_MAX_TOTAL >> 20);
  d->total += len;
  if (index_find(&d->local_ix, &d->local, k, &i)) {
    free(d->local.values[i]);
    d->local.values[i] = TAKE_PTR(v);
    return 0;
  }
  if (berth__vars_reserve(&d->local, 1) < 0)
    return dotenv_nomem(d);
  d->local.names[d->local.n] = TAKE_PTR(k);
  d->local.values[d->local.n] = TAKE_PTR(v);
  d->local.n++;
  return index_add(&d->local_ix, &d->local, d->local.n - 1) < 0 ? dotenv_nomem(d) : 0;
}

/* Moves this file's pairs into vars; cannot fail half-way. */
static int dotenv_merge(struct dotenv *d, struct berth_vars *vars) {
  if (berth__vars_reserve(vars, d->local.n) < 0)
    return dotenv_nomem(d);
  for (size_t i = 0; i < d->local.n; i++) {
    size_t j;
    if (index_find(&d->prior_ix, vars, d->local.names[i], &j)) {
      free(vars->values[j]);
      vars->values[j] = TAKE_PTR(d->local.values[i]);
      free(TAKE_PTR(d->local.names[i]));
    } else {
      vars->names[vars->n] = TAKE_PTR(d->local.names[i]);
      vars->values[vars->n] = TAKE_PTR(d->local.values[i]);
      vars->n++;
    }
  }
  return 0;
}

static size_t line_end(const struct dotenv *d, size_t from) {
  const char *nl = memchr(d->text + from, '\n', d->len - from);
  return nl ? (size_t)(nl - d->text) : d->len;
}

/* The escapes of double quotes, as text for the interpolator: \$ stays
 * "$$" so that it is not expanded. */
static bool dq_escape(char c, const char **ret, size_t *ret_len) {
  static const char from[] = "ntr\\\"$";
  static const char *const to[] = {"\n", "\t", "\r", "\\", "\"", "$$"};
  const char *p = memchr(from, c, sizeof(from) - 1);
  if (!p)
    return false;
  *ret = to[p - from];
  *ret_len = strlen(*ret);
  return true;
}

/* The offset in the file of byte tpl_off of the text built from the
 * double-quoted value starting at raw: for messages. */
static size_t dq_raw_offset(const struct dotenv *d, size_t raw, size_t tpl_off) {
  size_t tpl = 0;
  while (raw < d->len && d->text[raw] != '"') {
    size_t rn = 1, tn = 1;
    const char *rep;
    if (d->text[raw] == '\\' && raw + 1 < d->len && dq_escape(d->text[raw + 1], &rep, &tn))
      rn = 2;
    else if (d->text[raw] == '\r' && raw + 1 < d->len && d->text[raw + 1] == '\n')
      rn = 2;
    if (tpl + tn > tpl_off)
      break;
    tpl += tn;
    raw += rn;
  }
  return raw;
}

/* Interpolates a value; raw is where its text starts in the file. */
static int dotenv_interpolate(struct dotenv *d, const char *s, size_t len, size_t raw,
                              bool double_quoted, char **ret) {
  struct berth__interp in;
  int r = berth__interp_run(&in, s, len, dotenv_lookup, d, ret);
  if (r >= 0)
    return 0;
  _cleanup_free_ char *msg = TAKE_PTR(in.fail_msg);
  if (!msg || r == -BERTH_E_NOMEM)
    return dotenv_nomem(d);
  size_t off = double_quoted ? dq_raw_offset(d, raw, in.fail_off) : raw + in.fail_off;
  return dotenv_fail(d, off, -r, "%s%s%s", msg, in.fail_hint ? ": " : "",
                     in.fail_hint ? in.fail_hint : "");
}

static int add_run(struct dotenv *d, struct berth_buf *b, const char *p, size_t n, size_t off) {
  int r = berth_buf_add(b, p, n);
  if (r == -BERTH_E_TOO_BIG)
    return dotenv_fail(d, off, BERTH_E_TOO_BIG, "the value is longer than %zu MiB",
                       BERTH__INTERP_MAX_VALUE >> 20);
  return r < 0 ? dotenv_nomem(d) : 0;
}

/* A quoted value; d->pos is at the opening quote. CRLF becomes LF. */
static int dotenv_quoted(struct dotenv *d, char **ret) {
  const char *t = d->text;
  char quote = t[d->pos];
  size_t open = d->pos++;
  _cleanup_buf_ struct berth_buf val =
      BERTH_BUF_INIT(quote == '"' ? DOTENV_MAX_FILE : BERTH__INTERP_MAX_VALUE);
  bool closed = false;
  int r = 0;
  while (d->pos < d->len && r >= 0) {
    size_t at = d->pos;
    char c = t[at];
    const char *rep;
    size_t n;
    if (c == quote) {
      d->pos++;
      closed = true;
      break;
    }
    if (quote == '"' && c == '\\' && at + 1 < d->len && dq_escape(t[at + 1], &rep, &n)) {
      d->pos += 2;
      r = add_run(d, &val, rep, n, at);
    } else if (c == '\r' && at + 1 < d->len && t[at + 1] == '\n') {
      d->pos += 2;
      r = add_run(d, &val, "\n", 1, at);
    } else {
      size_t end = at + 1;
      while (end < d->len && t[end] != quote && t[end] != '\\' && t[end] != '\r')
        end++;
      d->pos = end;
      r = add_run(d, &val, t + at, end - at, at);
    }
  }
  if (r < 0)
    return r;
  if (!closed)
    return dotenv_fail(d, open, BERTH_E_INVALID, "unterminated quote: add the closing %c", quote);

  /* Only blanks and a comment may follow the closing quote. */
  while (d->pos < d->len && berth__is_blank(t[d->pos]))
    d->pos++;
  if (d->pos < d->len && t[d->pos] != '\n' && t[d->pos] != '#') {
    size_t end = line_end(d, d->pos);
    while (end > d->pos && berth__is_blank(t[end - 1]))
      end--;
    return dotenv_fail(
        d, d->pos, BERTH_E_INVALID, "unexpected text after the closing quote: \"%.*s\"",
        berth__excerpt_len(t + d->pos, end - d->pos, BERTH__EXCERPT_MAX), t + d->pos);
  }
  d->pos = line_end(d, d->pos);

  if (quote == '\'') {
    char *p = berth_buf_detach(&val);
    if (!p)
      return dotenv_nomem(d);
    *ret = p;
    return 0;
  }
  return dotenv_interpolate(d, val.data ? val.data : "", val.len, open + 1, true, ret);
}

/* An unquoted value: to the end of the line or to a '#' after a blank,
 * trimmed. */
static int dotenv_unquoted(struct dotenv *d, char **ret) {
  const char *t = d->text;
  size_t start = d->pos, eol = line_end(d, start), end = eol;
  for (size_t i = start; i < eol; i++)
    if (t[i] == '#' && berth__is_blank(t[i - 1])) {
      end = i;
      break;
    }
  while (end > start && berth__is_blank(t[end - 1]))
    end--;
  d->pos = eol;
  return dotenv_interpolate(d, t + start, end - start, start, false, ret);
}

static int dotenv_bad_line(struct dotenv *d, size_t stmt, size_t key) {
  const char *t = d->text;
  size_t eol = line_end(d, stmt);
  const char *eq = memchr(t + key, '=', eol - key);
  if (eq) {
    size_t end = (size_t)(eq - t);
    while (end > key && berth__is_blank(t[end - 1]))
      end--;
    if (end == key)
      return dotenv_fail(d, key, BERTH_E_INVALID,
                         "expected KEY=VALUE: the key before \"=\" is missing");
    return dotenv_fail(d, key, BERTH_E_INVALID,
                       "invalid key \"%.*s\": keys match [A-Za-z_][A-Za-z0-9_.-]*",
                       berth__excerpt_len(t + key, end - key, BERTH__EXCERPT_MAX), t + key);
  }
  while (eol > stmt && berth__is_blank(t[eol - 1]))
    eol--;
  return dotenv_fail(d, stmt, BERTH_E_INVALID, "expected KEY=VALUE, got \"%.*s\"",
                     berth__excerpt_len(t + stmt, eol - stmt, BERTH__EXCERPT_MAX), t + stmt);
}

/* One KEY=VALUE (or a bare KEY); d->pos is at its first character. */
static int dotenv_statement(struct dotenv *d) {
  const char *t = d->text;
  size_t stmt = d->pos;
  if (d->len - d->pos > 6 && memcmp(t + d->pos, "export", 6) == 0 &&
      (t[d->pos + 6] == ' ' || t[d->pos + 6] == '\t')) {
    d->pos += 6;
    while (d->pos < d->len && (t[d->pos] == ' ' || t[d->pos] == '\t'))
      d->pos++;
  }
  size_t key = d->pos;
  while (d->pos < d->len && berth__is_key_char(t[d->pos]))
    d->pos++;
  size_t key_end = d->pos;
  while (d->pos < d->len && berth__is_blank(t[d->pos]))
    d->pos++;
  bool blank_before = d->pos > key_end;
  bool valid = key_end > key && berth__is_name_start(t[key]);
  bool at_end = d->pos >= d->len || t[d->pos] == '\n' || (blank_before && t[d->pos] == '#');
  if (!valid || (!at_end && t[d->pos] != '='))
    return dotenv_bad_line(d, stmt, key);

  _cleanup_free_ char *name = berth__dup_slice(t + key, key_end - key);
  if (!name)
    return dotenv_nomem(d);
  if (at_end) {
    /* A bare KEY passes the caller's value through, as in Compose. */
    d->pos = line_end(d, d->pos);
    const char *v = d->lookup ? d->lookup(name, d->ud) : NULL;
    if (!v)
      return 0;
    char *value = strdup(v);
    if (!value)
      return dotenv_nomem(d);
    return dotenv_put(d, key, TAKE_PTR(name), value);
  }

  d->pos++; /* '=' */
  while (d->pos < d->len && (t[d->pos] == ' ' || t[d->pos] == '\t'))
    d->pos++;
  char *value = NULL;
  int r;
  if (d->pos < d->len && (t[d->pos] == '"' || t[d->pos] == '\''))
    r = dotenv_quoted(d, &value);
  else
    r = dotenv_unquoted(d, &value);
  if (r < 0)
    return r;
  return dotenv_put(d, key, TAKE_PTR(name), value);
}

int berth_dotenv_parse(const char *name, const char *text, size_t len, berth_lookup_fn lookup,
                       void *ud, struct berth_vars *vars, berth_err *err) {
  if (!text)
    text = "";
  if (len > DOTENV_MAX_FILE)
    return berth_err_set(err, BERTH_E_TOO_BIG,
                         "%s is larger than %zu MiB, the limit for .env files", name,
                         DOTENV_MAX_FILE >> 20);
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
    text += 3;
    len -= 3;
  }
  _cleanup_(dotenv_release) struct dotenv d = {.name = name,
                                               .text = text,
                                               .len = len,
                                               .lookup = lookup,
                                               .ud = ud,
                                               .err = err,
                                               .prior = vars};
  const char *nul = memchr(text, '\0', len);
  if (nul)
    return dotenv_fail(&d, (size_t)(nul - text), BERTH_E_INVALID,
                       "unexpected NUL byte: is this a text file?");
  for (size_t i = 0; i < vars->n; i++)
    if (index_add(&d.prior_ix, vars, i) < 0)
      return dotenv_nomem(&d);

  while (d.pos < d.len) {
    while (d.pos < d.len && berth__is_blank(text[d.pos]))
      d.pos++;
    if (d.pos >= d.len)
      break;
    if (text[d.pos] == '\n') {
      d.pos++;
    } else if (text[d.pos] == '#') {
      d.pos = line_end(&d, d.pos);
    } else {
      int r = dotenv_statement(&d);
      if (r < 0)
        return r;
    }
  }
  return dotenv_merge(&d, vars);
}

int berth_dotenv_load(const char *path, bool missing_ok, berth_lookup_fn lookup, void *ud,
                      struct berth_vars *vars, berth_err *err) {
  berth_err e = NULL;
  _cleanup_close_ int fd = berth_open_regular(path, &e);
  if (fd == -BERTH_E_IO) {
    int saved = errno;
    berth_err_free(&e);
    if (saved == ENOENT && missing_ok)
      return 0;
    return berth_err_errno(err, saved, "opening %s", path);
  }
  if (fd < 0) { /* "PATH is a named pipe (FIFO), not a regular file" */
    *err = e;
    return fd;
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uintmax_t)st.st_size > DOTENV_MAX_FILE)
    return berth_err_set(err, BERTH_E_TOO_BIG,
                         "%s is larger than %zu MiB, the limit for .env files", path,
                         DOTENV_MAX_FILE >> 20);

  _cleanup_buf_ struct berth_buf text = BERTH_BUF_INIT(DOTENV_MAX_FILE);
  char chunk[16384];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return berth_err_errno(err, errno, "reading %s", path);
    if (n == 0)
      break;
    int r = berth_buf_add(&text, chunk, (size_t)n);
    if (r == -BERTH_E_TOO_BIG)
      return berth_err_set(err, BERTH_E_TOO_BIG,
                           "%s is larger than %zu MiB, the limit for .env files", path,
                           DOTENV_MAX_FILE >> 20);
    if (r < 0)
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  }
  return berth_dotenv_parse(path, text.data ? text.data : "", text.len, lookup, ud, vars, err);
}
