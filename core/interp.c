/* Compose-style interpolation and .env files (see berth/interp.h).
 *
 * The rules follow the Compose Specification's "Interpolation" section and
 * compose-go's dotenv reader, with these choices of ours:
 *   - the word of ${VAR:-word}, ${VAR:+word} and ${VAR:?word} is expanded
 *     only when it is used (as a shell does), so ${A:-${B:?set A or B}}
 *     fails only when both are missing; its syntax is checked either way;
 *   - in "double quotes" an unknown escape keeps its backslash ("C:\dir"),
 *     and 'single quotes' are fully literal (no \' inside);
 *   - YAML-style "KEY: value" lines are not accepted.
 * Every output is bounded: one value to INTERP_MAX_VALUE, the nesting of
 * "${" to INTERP_MAX_DEPTH, a .env file to DOTENV_MAX_FILE and the sum of
 * its values to DOTENV_MAX_TOTAL, so no input can blow up memory. */
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
#include "cleanup.h"

#define INTERP_MAX_VALUE ((size_t)1 << 20) /* 1 MiB per interpolated value */
#define INTERP_MAX_DEPTH 64
#define DOTENV_MAX_FILE ((size_t)4 << 20)      /* 4 MiB */
#define DOTENV_MAX_TOTAL (4 * DOTENV_MAX_FILE) /* all values of one file */
#define EXCERPT_MAX 40                         /* bytes of input quoted in messages */

static void buf_releasep(struct berth_buf *b) {
  berth_buf_release(b);
}
#define _cleanup_buf_ _cleanup_(buf_releasep)

static bool is_name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

static bool is_key_char(char c) {
  return is_name_char(c) || c == '.' || c == '-';
}

static bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Like strndup(), for text that need not be NUL-terminated (a .env
 * buffer is a pointer and a length). */
static char *dup_slice(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

/* Bytes of the UTF-8 sequence at s (at least 1, at most avail). */
static size_t utf8_char_len(const char *s, size_t avail) {
  unsigned char c = (unsigned char)s[0];
  size_t n = c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (n > avail)
    n = avail;
  for (size_t i = 1; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80)
      return i;
  return n;
}

/* At most max bytes of s[0..n), not cutting a UTF-8 sequence. */
static int excerpt_len(const char *s, size_t n, size_t max) {
  size_t len = 0;
  while (len < n) {
    size_t c = utf8_char_len(s + len, n - len);
    if (len + c > max)
      break;
    len += c;
  }
  return (int)len;
}

/* 1-based column of byte off in s: characters since the last newline. */
static int column_of(const char *s, size_t off) {
  size_t col = 1;
  for (size_t i = 0; i < off; i++) {
    if (s[i] == '\n')
      col = 1;
    else if (((unsigned char)s[i] & 0xC0) != 0x80)
      col++;
  }
  return col > INT_MAX ? INT_MAX : (int)col;
}

/* ---- berth_vars ---- */

void berth_vars_init(struct berth_vars *v) {
  *v = (struct berth_vars){0};
}

void berth_vars_release(struct berth_vars *v) {
  if (!v)
    return;
  for (size_t i = 0; i < v->n; i++) {
    free(v->names[i]);
    free(v->values[i]);
  }
  free(v->names);
  free(v->values);
  berth_vars_init(v);
}

static int vars_reserve(struct berth_vars *v, size_t extra) {
  if (extra <= v->cap - v->n)
    return 0;
  if (extra > SIZE_MAX / (2 * sizeof(char *)) - v->n)
    return -BERTH_E_NOMEM;
  size_t need = v->n + extra, cap = v->cap ? v->cap : 8;
  while (cap < need)
    cap *= 2;
  char **names = realloc(v->names, cap * sizeof(*names));
  if (!names)
    return -BERTH_E_NOMEM;
  v->names = names;
  char **values = realloc(v->values, cap * sizeof(*values));
  if (!values)
    return -BERTH_E_NOMEM;
  v->values = values;
  v->cap = cap;
  return 0;
}

static bool vars_find(const struct berth_vars *v, const char *name, size_t *ret) {
  for (size_t i = 0; v && i < v->n; i++)
    if (strcmp(v->names[i], name) == 0) {
      *ret = i;
      return true;
    }
  return false;
}

int berth_vars_set(struct berth_vars *v, const char *name, const char *value, berth_err *err) {
  if (!name || !value)
    return berth_err_set(err, BERTH_E_INVALID, "berth_vars_set: a name and a value are required");
  size_t i;
  bool found = vars_find(v, name, &i);
  char *val = strdup(value), *nm = found ? NULL : strdup(name);
  if (!val || (!found && (!nm || vars_reserve(v, 1) < 0))) {
    free(val);
    free(nm);
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  }
  if (found) {
    free(v->values[i]);
    v->values[i] = val;
    return 0;
  }
  v->names[v->n] = nm;
  v->values[v->n] = val;
  v->n++;
  return 0;
}

const char *berth_vars_get(const struct berth_vars *v, const char *name) {
  size_t i;
  return vars_find(v, name, &i) ? v->values[i] : NULL;
}

const char *berth_lookup_env_then_vars(const char *name, void *ud) {
  const char *v = getenv(name);
  return v ? v : berth_vars_get(ud, name);
}

/* A hash index over the names of a berth_vars, so that a .env file of
 * many keys is not read in quadratic time. Open addressing; a slot holds
 * the entry's index + 1, 0 when empty. */
struct name_index {
  size_t *slots;
  size_t cap; /* a power of two, or 0 */
  size_t n;
};

static size_t name_hash(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return (size_t)h;
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

/* ---- interpolation ---- */

struct interp {
  const char *s;
  size_t len, pos;
  berth_lookup_fn lookup;
  void *ud;
  unsigned depth;
  /* The failure: byte offset in s, what is wrong, what to do (may be
   * NULL), and whether the message already says everything (a required
   * variable: Compose's wording, no column). */
  size_t fail_off;
  char *fail_msg;
  const char *fail_hint;
  bool fail_whole;
};

#define HINT_UNCLOSED "add the matching \"}\" (or write \"$$\" for a literal \"$\")"
#define HINT_EMPTY "write ${NAME}, or \"$$\" for a literal \"$\""
#define HINT_NAME "variable names match [A-Za-z_][A-Za-z0-9_]*"
#define HINT_OPERATOR "expected \"}\" or one of :- - :? ? :+ +"

static int interp_fail(struct interp *in, size_t off, int code, const char *hint, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));

static int interp_fail(struct interp *in, size_t off, int code, const char *hint, const char *fmt,
                       ...) {
  free(in->fail_msg);
  in->fail_msg = NULL;
  in->fail_off = off;
  in->fail_hint = hint;
  in->fail_whole = false;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&in->fail_msg, fmt, ap) < 0) {
    in->fail_msg = NULL;
    code = BERTH_E_NOMEM;
  }
  va_end(ap);
  return -code;
}

static int interp_nomem(struct interp *in) {
  return interp_fail(in, in->pos, BERTH_E_NOMEM, NULL, "out of memory");
}

/* Appends to out; out NULL means the text is only being checked. */
static int emit(struct interp *in, struct berth_buf *out, const char *p, size_t n, size_t off) {
  if (!out)
    return 0;
  int r = berth_buf_add(out, p, n);
  if (r == -BERTH_E_TOO_BIG)
    return interp_fail(in, off, BERTH_E_TOO_BIG, NULL,
                       "the value grows beyond %zu MiB once interpolated", INTERP_MAX_VALUE >> 20);
  return r < 0 ? interp_nomem(in) : 0;
}

static const char *lookup_slice(struct interp *in, size_t off, size_t len, int *ret) {
  *ret = 0;
  if (!in->lookup)
    return NULL;
  _cleanup_free_ char *name = dup_slice(in->s + off, len);
  if (!name) {
    *ret = interp_nomem(in);
    return NULL;
  }
  return in->lookup(name, in->ud);
}

static int fail_unclosed(struct interp *in, size_t start) {
  return interp_fail(in, start, BERTH_E_INVALID, HINT_UNCLOSED, "unclosed \"${\"");
}

static int fail_name(struct interp *in, size_t off) {
  size_t n = utf8_char_len(in->s + off, in->len - off);
  while (off + n < in->len && is_name_char(in->s[off + n]))
    n++;
  return interp_fail(in, off, BERTH_E_INVALID, HINT_NAME, "invalid variable name \"%.*s\"",
                     excerpt_len(in->s + off, n, EXCERPT_MAX), in->s + off);
}

static int fail_operator(struct interp *in, size_t off, size_t name_off, size_t name_len) {
  size_t n = utf8_char_len(in->s + off, in->len - off);
  if (in->s[off] == ':' && off + 1 < in->len && in->s[off + 1] != '}')
    n += utf8_char_len(in->s + off + 1, in->len - off - 1);
  return interp_fail(in, off, BERTH_E_INVALID, HINT_OPERATOR,
                     "unexpected \"%.*s\" after \"${%.*s\"", (int)n, in->s + off,
                     excerpt_len(in->s + name_off, name_len, EXCERPT_MAX), in->s + name_off);
}

static int expand(struct interp *in, struct berth_buf *out, bool nested);

/* ${NAME}, ${NAME<op>word}: in->pos is just after "${", start at the '$'. */
static int expand_braced(struct interp *in, struct berth_buf *out, size_t start) {
  const char *s = in->s;
  if (in->pos >= in->len)
    return fail_unclosed(in, start);
  if (s[in->pos] == '}')
    return interp_fail(in, start, BERTH_E_INVALID, HINT_EMPTY, "empty variable name in \"${}\"");
  if (!is_name_start(s[in->pos]))
    return fail_name(in, in->pos);
  size_t name_off = in->pos;
  while (in->pos < in->len && is_name_char(s[in->pos]))
    in->pos++;
  size_t name_len = in->pos - name_off;
  if (in->pos >= in->len)
    return fail_unclosed(in, start);

  char op = 0;
  bool colon = false;
  if (s[in->pos] != '}') {
    size_t op_off = in->pos;
    colon = s[op_off] == ':';
    if (colon && op_off + 1 >= in->len)
      return fail_unclosed(in, start);
    op = s[op_off + colon];
    if (op != '-' && op != '?' && op != '+')
      return fail_operator(in, op_off, name_off, name_len);
    in->pos += 1 + colon;
  }

  const char *val = NULL;
  if (out) {
    int r;
    val = lookup_slice(in, name_off, name_len, &r);
    if (r < 0)
      return r;
  }
  bool set = val != NULL, nonempty = val && *val;
  if (!op) {
    in->pos++; /* '}' */
    return set ? emit(in, out, val, strlen(val), start) : 0;
  }

  if (in->depth >= INTERP_MAX_DEPTH)
    return interp_fail(in, start, BERTH_E_TOO_BIG, NULL, "\"${\" nested more than %d levels deep",
                       INTERP_MAX_DEPTH);
  /* With '-' the word is the default, with '?' the error message. */
  bool missing = colon ? !nonempty : !set;
  bool use_word = op == '+' ? !missing : missing;

  _cleanup_buf_ struct berth_buf msg = BERTH_BUF_INIT(INTERP_MAX_VALUE);
  struct berth_buf *word_out = NULL;
  if (out && use_word)
    word_out = op == '?' ? &msg : out;
  in->depth++;
  int r = expand(in, word_out, true);
  in->depth--;
  if (r < 0)
    return r;
  if (in->pos >= in->len)
    return fail_unclosed(in, start);
  in->pos++; /* '}' */

  if (!out)
    return 0;
  if (op == '?' && use_word) {
    _cleanup_free_ char *name = dup_slice(s + name_off, name_len);
    if (!name)
      return interp_nomem(in);
    r = interp_fail(in, start, BERTH_E_INVALID, NULL, "required variable %s is missing a value%s%s",
                    name, msg.len ? ": " : "", msg.len ? msg.data : "");
    in->fail_whole = true;
    return r;
  }
  if (op != '+' && !use_word && set)
    return emit(in, out, val, strlen(val), start);
  return 0;
}

/* Expands s from in->pos into out (NULL: check only). Nested, it stops at
 * the '}' that closes the enclosing "${" and leaves it unread. */
static int expand(struct interp *in, struct berth_buf *out, bool nested) {
  const char *s = in->s;
  while (in->pos < in->len) {
    size_t start = in->pos;
    int r;
    if (s[start] == '}' && nested)
      return 0;
    if (s[start] != '$') {
      size_t end = start + 1;
      while (end < in->len && s[end] != '$' && !(nested && s[end] == '}'))
        end++;
      in->pos = end;
      r = emit(in, out, s + start, end - start, start);
    } else if (start + 1 < in->len && s[start + 1] == '$') {
      in->pos += 2;
      r = emit(in, out, "$", 1, start);
    } else if (start + 1 < in->len && s[start + 1] == '{') {
      in->pos += 2;
      r = expand_braced(in, out, start);
    } else if (start + 1 < in->len && is_name_start(s[start + 1])) {
      size_t end = start + 2;
      while (end < in->len && is_name_char(s[end]))
        end++;
      in->pos = end;
      const char *val = NULL;
      r = 0;
      if (out)
        val = lookup_slice(in, start + 1, end - start - 1, &r);
      if (r >= 0 && val)
        r = emit(in, out, val, strlen(val), start);
    } else {
      /* "$" before something that cannot start a name: kept as it is */
      in->pos++;
      r = emit(in, out, "$", 1, start);
    }
    if (r < 0)
      return r;
  }
  return 0;
}

/* On failure in->fail_* say why; the caller frees in->fail_msg. */
static int interp_run(struct interp *in, const char *s, size_t len, berth_lookup_fn lookup,
                      void *ud, char **ret) {
  *in = (struct interp){.s = s, .len = len, .lookup = lookup, .ud = ud};
  _cleanup_buf_ struct berth_buf out = BERTH_BUF_INIT(INTERP_MAX_VALUE);
  int r = expand(in, &out, false);
  if (r < 0)
    return r;
  char *p = berth_buf_detach(&out);
  if (!p)
    return interp_nomem(in);
  *ret = p;
  return 0;
}

int berth_interpolate(const char *s, berth_lookup_fn lookup, void *ud, char **ret, int *ret_col,
                      berth_err *err) {
  struct interp in;
  char *out = NULL;
  int r = interp_run(&in, s, strlen(s), lookup, ud, &out);
  if (r >= 0) {
    *ret = out;
    return 0;
  }
  _cleanup_free_ char *msg = TAKE_PTR(in.fail_msg);
  if (!msg)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int col = column_of(s, in.fail_off);
  if (ret_col)
    *ret_col = col;
  if (r == -BERTH_E_NOMEM || in.fail_whole)
    return berth_err_set(err, -r, "%s", msg);
  return berth_err_set(err, -r, "%s at column %d%s%s", msg, col, in.fail_hint ? ": " : "",
                       in.fail_hint ? in.fail_hint : "");
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
  return berth_err_set(d->err, code, "%s:%d:%d: %s", d->name, line, column_of(d->text, off), what);
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
  if (vars_reserve(&d->local, 1) < 0)
    return dotenv_nomem(d);
  d->local.names[d->local.n] = TAKE_PTR(k);
  d->local.values[d->local.n] = TAKE_PTR(v);
  d->local.n++;
  return index_add(&d->local_ix, &d->local, d->local.n - 1) < 0 ? dotenv_nomem(d) : 0;
}

/* Moves this file's pairs into vars; cannot fail half-way. */
static int dotenv_merge(struct dotenv *d, struct berth_vars *vars) {
  if (vars_reserve(vars, d->local.n) < 0)
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
  struct interp in;
  int r = interp_run(&in, s, len, dotenv_lookup, d, ret);
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
                       INTERP_MAX_VALUE >> 20);
  return r < 0 ? dotenv_nomem(d) : 0;
}

/* A quoted value; d->pos is at the opening quote. CRLF becomes LF. */
static int dotenv_quoted(struct dotenv *d, char **ret) {
  const char *t = d->text;
  char quote = t[d->pos];
  size_t open = d->pos++;
  _cleanup_buf_ struct berth_buf val =
      BERTH_BUF_INIT(quote == '"' ? DOTENV_MAX_FILE : INTERP_MAX_VALUE);
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
  while (d->pos < d->len && is_blank(t[d->pos]))
    d->pos++;
  if (d->pos < d->len && t[d->pos] != '\n' && t[d->pos] != '#') {
    size_t end = line_end(d, d->pos);
    while (end > d->pos && is_blank(t[end - 1]))
      end--;
    return dotenv_fail(d, d->pos, BERTH_E_INVALID,
                       "unexpected text after the closing quote: \"%.*s\"",
                       excerpt_len(t + d->pos, end - d->pos, EXCERPT_MAX), t + d->pos);
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
    if (t[i] == '#' && is_blank(t[i - 1])) {
      end = i;
      break;
    }
  while (end > start && is_blank(t[end - 1]))
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
    while (end > key && is_blank(t[end - 1]))
      end--;
    if (end == key)
      return dotenv_fail(d, key, BERTH_E_INVALID,
                         "expected KEY=VALUE: the key before \"=\" is missing");
    return dotenv_fail(d, key, BERTH_E_INVALID,
                       "invalid key \"%.*s\": keys match [A-Za-z_][A-Za-z0-9_.-]*",
                       excerpt_len(t + key, end - key, EXCERPT_MAX), t + key);
  }
  while (eol > stmt && is_blank(t[eol - 1]))
    eol--;
  return dotenv_fail(d, stmt, BERTH_E_INVALID, "expected KEY=VALUE, got \"%.*s\"",
                     excerpt_len(t + stmt, eol - stmt, EXCERPT_MAX), t + stmt);
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
  while (d->pos < d->len && is_key_char(t[d->pos]))
    d->pos++;
  size_t key_end = d->pos;
  while (d->pos < d->len && is_blank(t[d->pos]))
    d->pos++;
  bool blank_before = d->pos > key_end;
  bool valid = key_end > key && is_name_start(t[key]);
  bool at_end = d->pos >= d->len || t[d->pos] == '\n' || (blank_before && t[d->pos] == '#');
  if (!valid || (!at_end && t[d->pos] != '='))
    return dotenv_bad_line(d, stmt, key);

  _cleanup_free_ char *name = dup_slice(t + key, key_end - key);
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
    while (d.pos < d.len && is_blank(text[d.pos]))
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
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT && missing_ok)
      return 0;
    return berth_err_errno(err, errno, "opening %s", path);
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
