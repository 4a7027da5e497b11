/* All of the CLI's terminal output: the prefixed log mux, progress lines,
 * the manifest's diagnostics, and --json documents. Core never prints. */
#ifndef BERTH_CMD_OUT_H
#define BERTH_CMD_OUT_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/attach.h"
#include "berth/buf.h"
#include "berth/engine.h"
#include "berth/manifest.h"
#include "cmd.h"

/* ---- lines: a byte stream cut into lines ---- */

#define BERTH_LINE_MAX (1u << 20) /* a longer line is cut into pieces this long */

typedef void (*berth_line_fn)(const char *line, size_t len, void *ud);

/* Lines end at "\\n" (a "\\r" before it is dropped); a line longer than its
 * maximum is passed on in pieces; nothing is lost, even out of memory. */
struct berth_lines {
  struct berth_buf buf; /* the unfinished line */
};

void berth_lines_init(struct berth_lines *l, size_t max);
void berth_lines_feed(struct berth_lines *l, const char *data, size_t len, berth_line_fn fn,
                      void *ud);
/* Passes on a last line that had no newline. */
void berth_lines_finish(struct berth_lines *l, berth_line_fn fn, void *ud);
void berth_lines_release(struct berth_lines *l);

/* ---- the log mux: "svc   | line" from many threads ---- */

struct berth_mux {
  pthread_mutex_t mu; /* one line at a time on stdout */
  const struct berth_globals *g;
  int width; /* of the prefix column */
};

void berth_mux_init(struct berth_mux *m, const struct berth_globals *g, int min_width);
/* Makes the prefix column wide enough for prefix (before output starts). */
void berth_mux_widen(struct berth_mux *m, const char *prefix);
void berth_mux_line(struct berth_mux *m, const char *prefix, const char *color, const char *text,
                    size_t n);
/* One JSON document on one line (watch --json), between log lines. */
void berth_mux_json(struct berth_mux *m, const cJSON *doc);
/* The colour of the i-th service of `berth logs`. */
const char *berth_mux_color(size_t i);

/* One prefixed source: its stdout and stderr are cut into lines apart. */
struct berth_mux_source {
  struct berth_mux *mux;
  char prefix[160];
  const char *color;
  struct berth_lines lines[2];
};

void berth_mux_source_init(struct berth_mux_source *s, struct berth_mux *m, const char *prefix,
                           const char *color);
/* A berth_output_fn: ud is the source. Always goes on (returns 0). */
int berth_mux_output(enum berth_stream which, const char *data, size_t len, void *ud);
/* Prints the unfinished lines. */
void berth_mux_source_flush(struct berth_mux_source *s);
void berth_mux_source_release(struct berth_mux_source *s);

/* ---- progress ---- */

#define BERTH_PROGRESS_MAX 256

struct berth_progress_line {
  char name[128];
  char word[32]; /* "ready", "seeding" */
  const char *color;
  char detail[256];
  int64_t printed_ms; /* plain output: when this line was last printed */
};

/* Progress on stderr: one live line per unit on a terminal, plain lines
 * otherwise, nothing with --json. */
struct berth_progress {
  const struct berth_globals *g;
  bool live, quiet;
  struct berth_progress_line lines[BERTH_PROGRESS_MAX];
  size_t n, drawn;
};

void berth_progress_init(struct berth_progress *pr, const struct berth_globals *g);
/* A berth_engine_event_fn: ud is the progress. */
void berth_progress_event(const struct berth_engine_event *ev, void *ud);

enum berth_progress_unit { BERTH_UNIT_BYTES, BERTH_UNIT_ROWS };

/* A long step: a seed load, a snapshot copy, an image pull. */
struct berth_progress_item {
  const char *name; /* the unit: "db" */
  const char *what; /* "seeding", "copying", "pulling" */
  enum berth_progress_unit unit;
  int64_t done;
  int64_t total;      /* <= 0: unknown */
  int64_t elapsed_ms; /* since the step began */
};

/* "1.2 MB/40 MB  3.1 MB/s  ETA 12s"; without a known total "1.2 MB  3.1 MB/s";
 * rows: "1200/40000 rows  3100 rows/s  ETA 12s". */
void berth_progress_amount(const struct berth_progress_item *it, char *buf, size_t size);
/* "db  seeding 1.2 MB/40 MB  3.1 MB/s  ETA 12s" */
void berth_progress_format(const struct berth_progress_item *it, char *buf, size_t size);
/* "1.2 MB", "512 B", "40 MB", "1.5 GB" (powers of 1000, as the engine shows them). */
void berth_format_size(int64_t bytes, char *buf, size_t size);
/* "12s", "3m04s", "1h02m". */
void berth_format_eta(int64_t seconds, char *buf, size_t size);
/* Shows the item on its line; plain output prints it at most every 2 s
 * and when it is done. */
void berth_progress_update(struct berth_progress *pr, const struct berth_progress_item *it);

/* ---- diagnostics and JSON ---- */

/* The manifest's problems on stderr, one line each, coloured by severity. */
void berth_cmd_print_diags(const struct berth_globals *g, const struct berth_diags *d);
/* [{severity, file, line, column, path, message}] (config --json). NULL
 * out of memory. */
cJSON *berth_cmd_diags_json(const struct berth_diags *d);
/* Prints doc on stdout, indented, with a newline: the one way --json
 * documents come out. Returns 0, or 1 (said on stderr) when doc is NULL
 * (it could not be built) or cannot be printed for want of memory. */
int berth_out_json(const cJSON *doc);

#endif
