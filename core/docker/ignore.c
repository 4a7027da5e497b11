/* .dockerignore matching with the engine's rules (see berth/ignore.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/ignore.h"
#include "cleanup.h"

struct rule {
  char *pattern;
  bool exception; /* "!pattern" */
};

struct berth_ignore {
  struct rule *rules;
  size_t n, cap;
  bool exceptions;
};

int berth_ignore_new(struct berth_ignore **ret, berth_err *err) {
  *ret = calloc(1, sizeof(**ret));
  return *ret ? 0 : berth_err_set(err, BERTH_E_NOMEM, "out of memory");
}

struct berth_ignore *berth_ignore_free(struct berth_ignore *ign) {
  if (!ign)
    return NULL;
  for (size_t i = 0; i < ign->n; i++)
    free(ign->rules[i].pattern);
  free(ign->rules);
  free(ign);
  return NULL;
}

bool berth_ignore_has_exceptions(const struct berth_ignore *ign) {
  return ign && ign->exceptions;
}

/* Lexical cleaning like Go's path.Clean, in place: "./a//b/../c/" -> "a/c". */
static void clean_path(char *p) {
  char *out = p;
  const char *in = p;
  while (*in) {
    while (*in == '/')
      in++;
    const char *end = strchr(in, '/');
    size_t n = end ? (size_t)(end - in) : strlen(in);
    if (n == 0)
      break;
    if (n == 1 && in[0] == '.') {
      /* skip */
    } else if (n == 2 && in[0] == '.' && in[1] == '.') {
      /* drop the last element written, if any */
      while (out > p && out[-1] != '/')
        out--;
      if (out > p)
        out--;
    } else {
      if (out > p)
        *out++ = '/';
      memmove(out, in, n);
      out += n;
    }
    in += n;
  }
  *out = '\0';
}

int berth_ignore_add(struct berth_ignore *ign, const char *line, berth_err *err) {
  /* Like the engine: a comment starts at the first byte; blanks before
   * a '#' make it a pattern. */
  if (*line == '#')
    return 0;
  while (*line == ' ' || *line == '\t')
    line++;
  if (*line == '\0')
    return 0;
  bool exception = false;
  if (*line == '!') {
    exception = true;
    line++;
    while (*line == ' ' || *line == '\t')
      line++;
  }
  _cleanup_free_ char *p = strdup(line);
  if (!p)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  size_t n = strlen(p);
  while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
    p[--n] = '\0';
  clean_path(p);
  if (!*p)
    return 0; /* "/" or "." alone: the engine ignores such lines too */
  if (ign->n == ign->cap) {
    size_t cap = ign->cap ? ign->cap * 2 : 16;
    struct rule *r = realloc(ign->rules, cap * sizeof(*r));
    if (!r)
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    ign->rules = r;
    ign->cap = cap;
  }
  ign->rules[ign->n++] = (struct rule){.pattern = TAKE_PTR(p), .exception = exception};
  ign->exceptions |= exception;
  return 0;
}

int berth_ignore_load(struct berth_ignore *ign, const char *path, berth_err *err) {
  _cleanup_fclose_ FILE *f = fopen(path, "re");
  if (!f)
    return errno == ENOENT ? 0 : berth_err_errno(err, errno, "reading %s", path);
  _cleanup_free_ char *line = NULL;
  size_t cap = 0;
  bool first = true;
  while (getline(&line, &cap, f) >= 0) {
    const char *l = line;
    if (first && !strncmp(l, "\xEF\xBB\xBF", 3))
      l += 3; /* a UTF-8 byte-order mark, as editors on Windows write */
    first = false;
    int r = berth_ignore_add(ign, l, err);
    if (r < 0)
      return berth_err_wrap(err, "%s", path);
  }
  if (ferror(f))
    return berth_err_errno(err, EIO, "reading %s", path);
  return 0;
}

/* [class] at p (after '['); sets *end past ']'. Returns -1 if malformed. */
static int match_class(const char *p, char c, const char **end) {
  bool negate = false, hit = false;
  /* Go's filepath.Match negates with '^' only: "[!a]" is the set {!, a}. */
  if (*p == '^') {
    negate = true;
    p++;
  }
  bool first = true;
  while (*p && (first || *p != ']')) {
    first = false;
    char lo = *p == '\\' && p[1] ? *++p : *p;
    p++;
    char hi = lo;
    if (*p == '-' && p[1] && p[1] != ']') {
      p++;
      hi = *p == '\\' && p[1] ? *++p : *p;
      p++;
    }
    if (lo <= c && c <= hi)
      hit = true;
  }
  if (*p != ']')
    return -1;
  *end = p + 1;
  return hit != negate;
}

/* Failed (pattern, path) positions already tried: with several '*' a
 * naive backtracking match is exponential ("*a*a*a*a*b" against a long
 * run of a's); remembering failures makes it O(|pattern| * |path|). */
struct memo {
  const char *p0, *s0;
  size_t sl;
  unsigned char *bits; /* NULL: too large to remember, or not needed */
};

static bool tried(const struct memo *m, const char *p, const char *s) {
  if (!m->bits)
    return false;
  size_t i = (size_t)(p - m->p0) * (m->sl + 1) + (size_t)(s - m->s0);
  return m->bits[i / 8] & (1u << (i % 8));
}

static void remember(struct memo *m, const char *p, const char *s) {
  if (!m->bits)
    return;
  size_t i = (size_t)(p - m->p0) * (m->sl + 1) + (size_t)(s - m->s0);
  m->bits[i / 8] |= (unsigned char)(1u << (i % 8));
}

static bool glob_at(struct memo *m, const char *p, const char *s);

/* Glob match of a whole '/'-separated path: '*' and '?' stay within one
 * element, '**' crosses elements. */
static bool glob_at(struct memo *m, const char *p, const char *s) {
  if (tried(m, p, s))
    return false;
  const char *p_in = p, *s_in = s;
  bool r = false;
  for (;;) {
    switch (*p) {
    case '\0':
      r = *s == '\0';
      goto done;
    case '*':
      if (p[1] == '*') {
        while (*p == '*')
          p++;
        if (*p == '\0') {
          r = true;
          goto done;
        }
        if (*p == '/') {
          /* "**\/rest": rest at the start or after any '/' */
          p++;
          for (const char *t = s;; t++) {
            if ((t == s || t[-1] == '/') && glob_at(m, p, t)) {
              r = true;
              goto done;
            }
            if (!*t)
              goto done;
          }
        }
        for (const char *t = s;; t++) {
          if (glob_at(m, p, t)) {
            r = true;
            goto done;
          }
          if (!*t)
            goto done;
        }
      }
      p++;
      for (const char *t = s;; t++) {
        if (glob_at(m, p, t)) {
          r = true;
          goto done;
        }
        if (!*t || *t == '/')
          goto done;
      }
    case '?':
      if (!*s || *s == '/')
        goto done;
      p++;
      s++;
      break;
    case '[': {
      if (!*s || *s == '/')
        goto done;
      const char *end;
      int mc = match_class(p + 1, *s, &end);
      if (mc <= 0)
        goto done;
      p = end;
      s++;
      break;
    }
    case '\\':
      if (p[1])
        p++;
      /* fall through */
    default:
      if (*p != *s)
        goto done;
      p++;
      s++;
    }
  }
done:
  if (!r)
    remember(m, p_in, s_in);
  return r;
}

static bool glob(const char *p, const char *s) {
  size_t pl = strlen(p), sl = strlen(s);
  struct memo m = {.p0 = p, .s0 = s, .sl = sl};
  /* Only patterns with two or more stars can blow up. */
  const char *star = strchr(p, '*');
  if (star && strchr(star + 1, '*') && (pl + 1) * (sl + 1) <= (64u << 20))
    m.bits = calloc(((pl + 1) * (sl + 1) + 7) / 8, 1);
  bool r = glob_at(&m, p, s);
  free(m.bits);
  return r;
}

static bool rule_matches(const struct rule *r, const char *path) {
  if (glob(r->pattern, path))
    return true;
  /* A pattern matching a parent directory matches what is inside it. */
  char buf[4096];
  size_t n = strlen(path);
  if (n >= sizeof(buf))
    return false;
  memcpy(buf, path, n + 1);
  for (char *slash = strchr(buf, '/'); slash; slash = strchr(slash + 1, '/')) {
    *slash = '\0';
    bool m = glob(r->pattern, buf);
    *slash = '/';
    if (m)
      return true;
  }
  return false;
}

bool berth_ignore_match(const struct berth_ignore *ign, const char *path) {
  if (!ign)
    return false;
  bool excluded = false;
  for (size_t i = 0; i < ign->n; i++)
    if (rule_matches(&ign->rules[i], path))
      excluded = !ign->rules[i].exception;
  return excluded;
}
