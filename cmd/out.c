/* All of the CLI's terminal output; see out.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "berth/clock.h"
#include "out.h"

/* ---- lines ---- */

void berth_lines_init(struct berth_lines *l, size_t max) {
  berth_buf_init(&l->buf, max);
}

static void emit(struct berth_lines *l, berth_line_fn fn, void *ud) {
  size_t n = l->buf.len;
  if (n && l->buf.data[n - 1] == '\r')
    n--;
  fn(l->buf.data ? l->buf.data : "", n, ud);
  berth_buf_reset(&l->buf);
}

void berth_lines_feed(struct berth_lines *l, const char *data, size_t len, berth_line_fn fn,
                      void *ud) {
  struct berth_buf *b = &l->buf;
  while (len) {
    const char *nl = memchr(data, '\n', len);
    size_t take = nl ? (size_t)(nl - data) : len;
    size_t room = b->max - b->len;
    if (take > room) { /* an endless line: pass on a full piece */
      if (berth_buf_add(b, data, room) < 0) {
        if (b->len)
          emit(l, fn, ud);
        fn(data, room, ud); /* out of memory: the piece as it is */
      } else {
        emit(l, fn, ud);
      }
      data += room;
      len -= room;
      continue;
    }
    if (berth_buf_add(b, data, take) < 0) { /* out of memory */
      if (b->len)
        emit(l, fn, ud);
      fn(data, take && data[take - 1] == '\r' && nl ? take - 1 : take, ud);
    } else if (nl) {
      emit(l, fn, ud);
    }
    if (!nl)
      break;
    data += take + 1;
    len -= take + 1;
  }
}

void berth_lines_finish(struct berth_lines *l, berth_line_fn fn, void *ud) {
  if (l->buf.len)
    emit(l, fn, ud);
}

void berth_lines_release(struct berth_lines *l) {
  berth_buf_release(&l->buf);
}

/* ---- the log mux ---- */

void berth_mux_init(struct berth_mux *m, const struct berth_globals *g, int min_width) {
  *m = (struct berth_mux){.g = g, .width = min_width};
  pthread_mutex_init(&m->mu, NULL);
}

void berth_mux_widen(struct berth_mux *m, const char *prefix) {
  int n = (int)strlen(prefix);
  if (n > m->width)
    m->width = n;
}

void berth_mux_line(struct berth_mux *m, const char *prefix, const char *color, const char *text,
                    size_t n) {
  const struct berth_globals *g = m->g;
  pthread_mutex_lock(&m->mu);
  printf("%s%-*s |%s %.*s\n", berth_sgr(g, color), m->width, prefix, berth_sgr(g, "\033[0m"),
         (int)n, text);
  fflush(stdout);
  pthread_mutex_unlock(&m->mu);
}

/* cJSON escapes C0 controls in strings but writes DEL, C1 controls and
 * bidirectional overrides as they are: as \u escapes, the document reads
 * the same and a terminal shows it as text. */
static char *json_text(const cJSON *doc, bool formatted) {
  _cleanup_free_ char *s = !doc ? NULL : formatted ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc);
  return s ? berth_escape_controls(s, BERTH_ESCAPE_LINES | BERTH_ESCAPE_JSON) : NULL;
}

void berth_mux_json(struct berth_mux *m, const cJSON *doc) {
  _cleanup_free_ char *s = json_text(doc, false);
  pthread_mutex_lock(&m->mu);
  if (s)
    puts(s);
  else
    fputs("berth: out of memory (a JSON event is lost)\n", stderr);
  fflush(stdout);
  pthread_mutex_unlock(&m->mu);
}

const char *berth_mux_color(size_t i) {
  static const char *const colors[] = {"\033[36m", "\033[33m", "\033[32m", "\033[35m",
                                       "\033[34m", "\033[91m", "\033[92m", "\033[96m"};
  return colors[i % (sizeof(colors) / sizeof(*colors))];
}

void berth_mux_source_init(struct berth_mux_source *s, struct berth_mux *m, const char *prefix,
                           const char *color) {
  *s = (struct berth_mux_source){.mux = m, .color = color};
  snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
  for (int i = 0; i < 2; i++)
    berth_lines_init(&s->lines[i], BERTH_LINE_MAX);
}

static void source_line(const char *line, size_t len, void *ud) {
  struct berth_mux_source *s = ud;
  berth_mux_line(s->mux, s->prefix, s->color, line, len);
}

int berth_mux_output(enum berth_stream which, const char *data, size_t len, void *ud) {
  struct berth_mux_source *s = ud;
  berth_lines_feed(&s->lines[which == BERTH_STREAM_STDERR], data, len, source_line, s);
  return 0;
}

void berth_mux_source_flush(struct berth_mux_source *s) {
  for (int i = 0; i < 2; i++)
    berth_lines_finish(&s->lines[i], source_line, s);
}

void berth_mux_source_release(struct berth_mux_source *s) {
  for (int i = 0; i < 2; i++)
    berth_lines_release(&s->lines[i]);
}

/* ---- progress ---- */

static const char *phase_word(enum berth_phase ph) {
  static const char *const words[] = {
      [BERTH_PHASE_WAITING] = "waiting",
      [BERTH_PHASE_BUILDING] = "building",
      [BERTH_PHASE_PULLING] = "pulling",
      [BERTH_PHASE_CREATING] = "creating",
      [BERTH_PHASE_STARTING] = "starting",
      [BERTH_PHASE_PROBING] = "probing",
      [BERTH_PHASE_PROVISIONING] = "provisioning",
      [BERTH_PHASE_READY] = "ready",
      [BERTH_PHASE_UNCHANGED] = "unchanged",
      [BERTH_PHASE_COMPLETED] = "completed",
      [BERTH_PHASE_STOPPING] = "stopping",
      [BERTH_PHASE_REMOVED] = "removed",
      [BERTH_PHASE_FAILED] = "failed",
  };
  return words[ph];
}

static const char *phase_color(enum berth_phase ph) {
  switch (ph) {
  case BERTH_PHASE_READY:
  case BERTH_PHASE_COMPLETED:
  case BERTH_PHASE_UNCHANGED:
  case BERTH_PHASE_REMOVED:
    return "\033[32m";
  case BERTH_PHASE_FAILED:
    return "\033[31m";
  default:
    return "\033[33m";
  }
}

void berth_progress_init(struct berth_progress *pr, const struct berth_globals *g) {
  *pr = (struct berth_progress){
      .g = g, .live = isatty(STDERR_FILENO) && g->color && !g->json, .quiet = g->json};
}

static void line_for(const struct berth_progress *pr, const struct berth_progress_line *l) {
  const struct berth_globals *g = pr->g;
  fprintf(stderr, "%s%-24s%s %s%-12s%s %s\n", berth_sgr(g, "\033[1m"), l->name,
          berth_sgr(g, "\033[0m"), berth_sgr(g, l->color), l->word, berth_sgr(g, "\033[0m"),
          l->detail);
}

/* src as text for a line of fixed size dst (see berth_escape_controls). */
static void copy_shown(char *dst, size_t size, const char *src) {
  _cleanup_free_ char *e = berth_escape_controls(src, 0);
  snprintf(dst, size, "%s", e ? e : "(out of memory)");
}

/* The line of unit name, a new one if there is room. */
static struct berth_progress_line *line_of(struct berth_progress *pr, const char *name) {
  for (size_t i = 0; i < pr->n; i++)
    if (!strcmp(pr->lines[i].name, name))
      return &pr->lines[i];
  if (pr->n == BERTH_PROGRESS_MAX)
    return NULL;
  struct berth_progress_line *l = &pr->lines[pr->n++];
  *l = (struct berth_progress_line){.printed_ms = -1};
  snprintf(l->name, sizeof(l->name), "%s", name);
  return l;
}

/* One live line per unit: go back over what was drawn and redraw. */
static void redraw(struct berth_progress *pr) {
  if (pr->drawn)
    fprintf(stderr, "\033[%zuA", pr->drawn);
  for (size_t i = 0; i < pr->n; i++) {
    fputs("\033[2K", stderr);
    line_for(pr, &pr->lines[i]);
  }
  pr->drawn = pr->n;
  fflush(stderr);
}

void berth_progress_event(const struct berth_engine_event *ev, void *ud) {
  struct berth_progress *pr = ud;
  if (pr->quiet || !ev->service)
    return;
  char raw[128], name[128];
  if (ev->replica > 1)
    snprintf(raw, sizeof(raw), "%s-%d", ev->service, ev->replica);
  else
    snprintf(raw, sizeof(raw), "%s", ev->service);
  copy_shown(name, sizeof(name), raw);
  struct berth_progress_line *l = line_of(pr, name);
  if (!l)
    return;
  snprintf(l->word, sizeof(l->word), "%s", phase_word(ev->phase));
  l->color = phase_color(ev->phase);
  /* A failure's detail can hold a log excerpt: first line only here. */
  const char *detail = ev->detail ? ev->detail : "";
  _cleanup_free_ char *first = strndup(detail, strcspn(detail, "\n"));
  copy_shown(l->detail, sizeof(l->detail), first ? first : "");
  if (pr->live)
    redraw(pr);
  else
    line_for(pr, l);
}

void berth_format_size(int64_t bytes, char *buf, size_t size) {
  static const char *const units[] = {"kB", "MB", "GB", "TB", "PB"};
  if (bytes < 1000) {
    snprintf(buf, size, "%" PRId64 " B", bytes < 0 ? 0 : bytes);
    return;
  }
  double v = (double)bytes / 1000;
  size_t u = 0;
  while (v >= 999.5 && u + 1 < sizeof(units) / sizeof(*units)) {
    v /= 1000;
    u++;
  }
  snprintf(buf, size, v < 9.95 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void berth_format_eta(int64_t s, char *buf, size_t size) {
  if (s < 60)
    snprintf(buf, size, "%" PRId64 "s", s < 0 ? 0 : s);
  else if (s < 3600)
    snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
  else
    snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
}

static void amount(const struct berth_progress_item *it, int64_t n, char *buf, size_t size) {
  if (it->unit == BERTH_UNIT_BYTES)
    berth_format_size(n, buf, size);
  else
    snprintf(buf, size, "%" PRId64, n < 0 ? 0 : n);
}

void berth_progress_amount(const struct berth_progress_item *it, char *buf, size_t size) {
  char done[32], total[32] = "", rate[48] = "", eta[32] = "";
  bool rows = it->unit == BERTH_UNIT_ROWS;
  amount(it, it->done, done, sizeof(done));
  if (it->total > 0) {
    total[0] = '/';
    amount(it, it->total, total + 1, sizeof(total) - 1);
  }
  if (it->elapsed_ms > 0 && it->done > 0) {
    double per_s = (double)it->done * 1000 / (double)it->elapsed_ms;
    char r[32];
    amount(it, (int64_t)(per_s + 0.5), r, sizeof(r));
    snprintf(rate, sizeof(rate), "  %s%s/s", r, rows ? " rows" : "");
    if (it->total > it->done) {
      char t[24];
      berth_format_eta((int64_t)((double)(it->total - it->done) / per_s + 0.999), t, sizeof(t));
      snprintf(eta, sizeof(eta), "  ETA %s", t);
    }
  }
  snprintf(buf, size, "%s%s%s%s%s", done, total, rows ? " rows" : "", rate, eta);
}

void berth_progress_format(const struct berth_progress_item *it, char *buf, size_t size) {
  char a[160];
  berth_progress_amount(it, a, sizeof(a));
  snprintf(buf, size, "%s  %s %s", it->name, it->what, a);
}

void berth_progress_update(struct berth_progress *pr, const struct berth_progress_item *it) {
  if (pr->quiet)
    return;
  char name[128];
  copy_shown(name, sizeof(name), it->name);
  struct berth_progress_line *l = line_of(pr, name);
  if (!l)
    return;
  copy_shown(l->word, sizeof(l->word), it->what);
  l->color = "\033[33m";
  berth_progress_amount(it, l->detail, sizeof(l->detail));
  if (pr->live) {
    redraw(pr);
    return;
  }
  int64_t now = berth_now_ms();
  bool done = it->total > 0 && it->done >= it->total;
  if (done || l->printed_ms < 0 || now - l->printed_ms >= 2000) {
    l->printed_ms = now;
    line_for(pr, l);
  }
}

/* ---- diagnostics and JSON ---- */

void berth_cmd_print_diags(const struct berth_globals *g, const struct berth_diags *d) {
  for (size_t i = 0; i < d->n; i++) {
    _cleanup_free_ char *line = berth_diag_format(&d->v[i]);
    bool error = d->v[i].severity == BERTH_DIAG_ERROR;
    fprintf(stderr, "%s%s%s\n", berth_sgr(g, error ? "\033[31m" : "\033[33m"),
            line ? line : "out of memory", berth_sgr(g, "\033[0m"));
  }
}

static cJSON *string_or_null(const char *s) {
  return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

cJSON *berth_cmd_diags_json(const struct berth_diags *d) {
  _cleanup_json_ cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; a && i < d->n; i++) {
    const struct berth_diag *x = &d->v[i];
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(a, o))
      return cJSON_Delete(o), NULL;
    if (!cJSON_AddStringToObject(o, "severity",
                                 x->severity == BERTH_DIAG_ERROR ? "error" : "warning") ||
        !cJSON_AddItemToObject(o, "file", string_or_null(x->file)) ||
        !cJSON_AddNumberToObject(o, "line", x->line) ||
        !cJSON_AddNumberToObject(o, "column", x->col) ||
        !cJSON_AddItemToObject(o, "path", string_or_null(x->path)) ||
        !cJSON_AddStringToObject(o, "message", x->message))
      return NULL;
  }
  return TAKE_PTR(a);
}

int berth_out_json(const cJSON *doc) {
  _cleanup_free_ char *s = json_text(doc, true);
  if (!s) {
    fputs("berth: out of memory (building the JSON output)\n", stderr);
    return 1;
  }
  puts(s);
  return 0;
}
