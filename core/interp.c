/* Compose-style interpolation and the variables it reads (see
 * berth/interp.h); .env files are read in dotenv.c.
 *
 * The rules follow the Compose Specification's "Interpolation" section and
 * compose-go's dotenv reader, with these choices of ours:
 *   - the word of ${VAR:-word}, ${VAR:+word} and ${VAR:?word} is expanded
 *     only when it is used (as a shell does), so ${A:-${B:?set A or B}}
 *     fails only when both are missing; its syntax is checked either way;
 *   - in "double quotes" an unknown escape keeps its backslash ("C:\dir"),
 *     and 'single quotes' are fully literal (no \' inside);
 *   - YAML-style "KEY: value" lines are not accepted.
 * Every output is bounded: one value to BERTH__INTERP_MAX_VALUE and the
 * nesting of "${" to INTERP_MAX_DEPTH (dotenv.c bounds its files), so no
 * input can blow up memory. */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "berth/interp.h"
#include "cleanup.h"
#include "interp-internal.h"

#define INTERP_MAX_DEPTH 64
#define BERTH__EXCERPT_MAX 40 /* bytes of input quoted in messages */

/* Like strndup(), for text that need not be NUL-terminated (a .env
 * buffer is a pointer and a length). */
char *berth__dup_slice(const char *s, size_t n) {
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
int berth__excerpt_len(const char *s, size_t n, size_t max) {
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
int berth__column_of(const char *s, size_t off) {
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

int berth__vars_reserve(struct berth_vars *v, size_t extra) {
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
  if (!val || (!found && (!nm || berth__vars_reserve(v, 1) < 0))) {
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
/* ---- interpolation ---- */

#define HINT_UNCLOSED "add the matching \"}\" (or write \"$$\" for a literal \"$\")"
#define HINT_EMPTY "write ${NAME}, or \"$$\" for a literal \"$\""
#define HINT_NAME "variable names match [A-Za-z_][A-Za-z0-9_]*"
#define HINT_OPERATOR "expected \"}\" or one of :- - :? ? :+ +"

static int interp_fail(struct berth__interp *in, size_t off, int code, const char *hint,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int interp_fail(struct berth__interp *in, size_t off, int code, const char *hint,
                       const char *fmt, ...) {
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

static int interp_nomem(struct berth__interp *in) {
  return interp_fail(in, in->pos, BERTH_E_NOMEM, NULL, "out of memory");
}

/* Appends to out; out NULL means the text is only being checked. */
static int emit(struct berth__interp *in, struct berth_buf *out, const char *p, size_t n,
                size_t off) {
  if (!out)
    return 0;
  int r = berth_buf_add(out, p, n);
  if (r == -BERTH_E_TOO_BIG)
    return interp_fail(in, off, BERTH_E_TOO_BIG, NULL,
                       "the value grows beyond %zu MiB once interpolated",
                       BERTH__INTERP_MAX_VALUE >> 20);
  return r < 0 ? interp_nomem(in) : 0;
}

static const char *lookup_slice(struct berth__interp *in, size_t off, size_t len, int *ret) {
  *ret = 0;
  if (!in->lookup)
    return NULL;
  _cleanup_free_ char *name = berth__dup_slice(in->s + off, len);
  if (!name) {
    *ret = interp_nomem(in);
    return NULL;
  }
  return in->lookup(name, in->ud);
}

static int fail_unclosed(struct berth__interp *in, size_t start) {
  return interp_fail(in, start, BERTH_E_INVALID, HINT_UNCLOSED, "unclosed \"${\"");
}

static int fail_name(struct berth__interp *in, size_t off) {
  size_t n = utf8_char_len(in->s + off, in->len - off);
  while (off + n < in->len && berth__is_name_char(in->s[off + n]))
    n++;
  return interp_fail(in, off, BERTH_E_INVALID, HINT_NAME, "invalid variable name \"%.*s\"",
                     berth__excerpt_len(in->s + off, n, BERTH__EXCERPT_MAX), in->s + off);
}

static int fail_operator(struct berth__interp *in, size_t off, size_t name_off, size_t name_len) {
  size_t n = utf8_char_len(in->s + off, in->len - off);
  if (in->s[off] == ':' && off + 1 < in->len && in->s[off + 1] != '}')
    n += utf8_char_len(in->s + off + 1, in->len - off - 1);
  return interp_fail(in, off, BERTH_E_INVALID, HINT_OPERATOR,
                     "unexpected \"%.*s\" after \"${%.*s\"", (int)n, in->s + off,
                     berth__excerpt_len(in->s + name_off, name_len, BERTH__EXCERPT_MAX),
                     in->s + name_off);
}

static int expand(struct berth__interp *in, struct berth_buf *out, bool nested);

/* ${NAME}, ${NAME<op>word}: in->pos is just after "${", start at the '$'. */
static int expand_braced(struct berth__interp *in, struct berth_buf *out, size_t start) {
  const char *s = in->s;
  if (in->pos >= in->len)
    return fail_unclosed(in, start);
  if (s[in->pos] == '}')
    return interp_fail(in, start, BERTH_E_INVALID, HINT_EMPTY, "empty variable name in \"${}\"");
  if (!berth__is_name_start(s[in->pos]))
    return fail_name(in, in->pos);
  size_t name_off = in->pos;
  while (in->pos < in->len && berth__is_name_char(s[in->pos]))
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

  _cleanup_buf_ struct berth_buf msg = BERTH_BUF_INIT(BERTH__INTERP_MAX_VALUE);
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
    _cleanup_free_ char *name = berth__dup_slice(s + name_off, name_len);
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
static int expand(struct berth__interp *in, struct berth_buf *out, bool nested) {
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
    } else if (start + 1 < in->len && berth__is_name_start(s[start + 1])) {
      size_t end = start + 2;
      while (end < in->len && berth__is_name_char(s[end]))
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
int berth__interp_run(struct berth__interp *in, const char *s, size_t len, berth_lookup_fn lookup,
                      void *ud, char **ret) {
  *in = (struct berth__interp){.s = s, .len = len, .lookup = lookup, .ud = ud};
  _cleanup_buf_ struct berth_buf out = BERTH_BUF_INIT(BERTH__INTERP_MAX_VALUE);
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
  struct berth__interp in;
  char *out = NULL;
  int r = berth__interp_run(&in, s, strlen(s), lookup, ud, &out);
  if (r >= 0) {
    *ret = out;
    return 0;
  }
  _cleanup_free_ char *msg = TAKE_PTR(in.fail_msg);
  if (!msg)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int col = berth__column_of(s, in.fail_off);
  if (ret_col)
    *ret_col = col;
  if (r == -BERTH_E_NOMEM || in.fail_whole)
    return berth_err_set(err, -r, "%s", msg);
  return berth_err_set(err, -r, "%s at column %d%s%s", msg, col, in.fail_hint ? ": " : "",
                       in.fail_hint ? in.fail_hint : "");
}
