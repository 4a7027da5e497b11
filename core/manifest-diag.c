/* Diagnostics of a load: collecting them, formatting them, and the
 * "did you mean" suggestion for a mistyped key. */

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "manifest-internal.h"

void berth_diags_release(struct berth_diags *d) {
  for (size_t i = 0; i < d->n; i++) {
    free(d->v[i].file);
    free(d->v[i].path);
    free(d->v[i].message);
  }
  free(d->v);
  *d = (struct berth_diags){0};
}

/* The code point of the UTF-8 sequence at s and its length, or -1 when s
 * does not start a valid, shortest-form one. */
static int32_t utf8_at(const unsigned char *s, size_t *len) {
  int n = s[0] >= 0xf0 && s[0] < 0xf5 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
  if (!n || s[0] >= 0xf5)
    return -1;
  int32_t cp = s[0] & (0x7f >> n);
  for (int i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return -1;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  static const int32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < least[n] || (cp >= 0xd800 && cp < 0xe000) || cp > 0x10ffff)
    return -1;
  *len = (size_t)n;
  return cp;
}

/* Characters a terminal acts on or that reorder what it shows: C1
 * controls, the line and paragraph separators, the bidirectional marks,
 * embeddings, overrides and isolates ("Trojan Source"). */
static bool hidden_code_point(int32_t cp) {
  return (cp >= 0x80 && cp < 0xa0) || cp == 0x200e || cp == 0x200f ||
         (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

char *berth_escape_controls(const char *text, unsigned flags) {
  const unsigned char *s = (const unsigned char *)text;
  size_t n = strlen(text);
  /* The longest escape, "\u2066", is 6 bytes for at least 2 of input. */
  char *out = malloc(n * 4 + 1), *o = out;
  if (!out)
    return NULL;
  bool json = flags & BERTH_ESCAPE_JSON, lines = flags & BERTH_ESCAPE_LINES;
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    size_t len = 1;
    int32_t cp = c < 0x80 ? c : utf8_at(s + i, &len);
    if ((c == '\n' || c == '\t') && lines) {
      *o++ = (char)c;
    } else if ((c == '\\' || c == '"') && (flags & BERTH_ESCAPE_QUOTED)) {
      *o++ = '\\';
      *o++ = (char)c;
    } else if (c == '\n' || c == '\t' || c == '\r') {
      o += sprintf(o, "\\%c", c == '\n' ? 'n' : c == '\t' ? 't' : 'r');
    } else if (c < 0x20 || c == 0x7f || (cp >= 0 && hidden_code_point(cp))) {
      o += sprintf(o, json || cp >= 0x80 ? "\\u%04x" : "\\x%02x", (unsigned)cp);
    } else if (cp < 0 && !json) {
      o += sprintf(o, "\\x%02x", c); /* not UTF-8: the byte, as text */
    } else {
      memcpy(o, s + i, len);
      o += len;
    }
    i += len;
  }
  *o = '\0';
  return out;
}

char *berth_diag_format(const struct berth_diag *d) {
  char *s = NULL, where[4200] = "";
  if (d->file && d->line)
    snprintf(where, sizeof(where), "%s:%d:%d: ", d->file, d->line, d->col);
  else if (d->file)
    snprintf(where, sizeof(where), "%s: ", d->file);
  if (asprintf(&s, "%s%s: %s%s%s", where, d->severity == BERTH_DIAG_ERROR ? "error" : "warning",
               d->path ? d->path : "", d->path ? ": " : "", d->message) < 0)
    return NULL;
  /* Keys, values and file names come from the manifest: a diagnostic is
   * one line of text, whatever they hold. */
  char *line = berth_escape_controls(s, 0);
  free(s);
  return line;
}

void berth__diag(struct berth__reader *r, enum berth_severity sev, const struct berth_node *at,
                 const char *path, const char *fmt, ...) {
  struct berth_diags *d = r->diags;
  struct berth_diag *v = realloc(d->v, (d->n + 1) * sizeof(*v));
  if (!v) {
    r->oom = true;
    return;
  }
  d->v = v;
  struct berth_diag *g = &d->v[d->n];
  *g = (struct berth_diag){.severity = sev};
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&g->message, fmt, ap);
  va_end(ap);
  if (n < 0) {
    r->oom = true;
    return;
  }
  if (at && at->file) {
    g->file = strdup(at->file);
    g->line = at->line;
    g->col = at->col;
  }
  if (path)
    g->path = strdup(path);
  if ((at && at->file && !g->file) || (path && !g->path))
    r->oom = true; /* kept without its place: the load fails for memory */
  d->n++;
  if (sev == BERTH_DIAG_ERROR)
    d->errors++;
  else
    d->warnings++;
}

static size_t levenshtein(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64)
    return SIZE_MAX;
  size_t prev[65], cur[65];
  for (size_t j = 0; j <= lb; j++)
    prev[j] = j;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t sub =
          prev[j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
      size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
    memcpy(prev, cur, sizeof(prev));
  }
  return prev[lb];
}

const char *berth__suggest(const char *key, const char *const *keys) {
  const char *best = NULL;
  size_t best_d = SIZE_MAX, limit = strlen(key) / 4 > 2 ? strlen(key) / 4 : 2;
  for (; *keys; keys++) {
    size_t d = levenshtein(key, *keys);
    if (d < best_d) {
      best_d = d;
      best = *keys;
    }
  }
  return best_d <= limit ? best : NULL;
}

void berth__error_at_message(struct berth__reader *r, const char *file, const char *msg) {
  /* "file:line:col: message" from a lower layer: the position becomes
   * the diagnostic's, so every error reads the same way. */
  int line = 0, col = 0, used = 0;
  size_t fl = strlen(file);
  if (!strncmp(msg, file, fl) && sscanf(msg + fl, ":%d:%d: %n", &line, &col, &used) == 2 &&
      used > 0) {
    struct berth_node at = {.file = file, .line = line, .col = col};
    berth__error(r, &at, NULL, "%s", msg + fl + used);
  } else {
    berth__error(r, NULL, NULL, "%s", msg);
  }
}

struct diag_key {
  size_t file, index; /* the file's first appearance; the original place */
  int line, col;
};

static int cmp_diag_key(const void *a, const void *b) {
  const struct diag_key *x = a, *y = b;
  if (x->file != y->file)
    return x->file < y->file ? -1 : 1;
  if (x->line != y->line)
    return x->line < y->line ? -1 : 1;
  if (x->col != y->col)
    return x->col < y->col ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

void berth__sort_diags(struct berth__reader *r) {
  struct berth_diags *d = r->diags;
  if (d->n < 2)
    return;
  _cleanup_free_ struct diag_key *keys = calloc(d->n, sizeof(*keys));
  _cleanup_free_ struct berth_diag *sorted = calloc(d->n, sizeof(*sorted));
  if (!keys || !sorted) {
    r->oom = true;
    return;
  }
  for (size_t i = 0; i < d->n; i++) {
    size_t first = i;
    for (size_t j = 0; j < i && first == i; j++)
      if (d->v[j].file == d->v[i].file ||
          (d->v[j].file && d->v[i].file && !strcmp(d->v[j].file, d->v[i].file)))
        first = keys[j].file;
    keys[i] =
        (struct diag_key){.file = first, .index = i, .line = d->v[i].line, .col = d->v[i].col};
  }
  qsort(keys, d->n, sizeof(*keys), cmp_diag_key);
  for (size_t i = 0; i < d->n; i++)
    sorted[i] = d->v[keys[i].index];
  memcpy(d->v, sorted, d->n * sizeof(*sorted));
}
