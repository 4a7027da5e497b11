/* Reading manifests: berth.yaml and Compose files into the model, with
 * every problem of every file reported at once (file:line:col, the path
 * in the document, what was expected). */
#ifndef BERTH_MANIFEST_H
#define BERTH_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/err.h"
#include "berth/model.h"

enum berth_severity { BERTH_DIAG_ERROR, BERTH_DIAG_WARNING };

struct berth_diag {
  enum berth_severity severity;
  char *file; /* may be NULL for project-wide problems */
  int line, col;
  char *path;    /* "services.api.ports[1]", or NULL */
  char *message; /* what is wrong and what to do */
};

struct berth_diags {
  struct berth_diag *v;
  size_t n, errors, warnings;
};

void berth_diags_release(struct berth_diags *d);
/* "file:line:col: error: path: message", one line: control characters
 * of the manifest escaped as berth_escape_controls(…, 0) does. */
char *berth_diag_format(const struct berth_diag *d);

enum berth_escape_flags {
  BERTH_ESCAPE_LINES = 1 << 0,  /* keep newlines and tabs as they are */
  BERTH_ESCAPE_QUOTED = 1 << 1, /* also \\ and \" (a double-quoted YAML scalar) */
  BERTH_ESCAPE_JSON = 1 << 2,   /* \u00XX only; bytes that are not UTF-8 stay */
};

/* text with every character a terminal would act on shown as text: C0
 * controls and DEL as \xNN (\n, \t, \r by name), C1 controls, line
 * separators and bidirectional overrides as \uNNNN, bytes that are not
 * UTF-8 as \xNN. The escapes read back in a double-quoted YAML scalar.
 * NULL out of memory. */
char *berth_escape_controls(const char *text, unsigned flags);

struct berth_load_opts {
  const char *const *files; /* -f, in order; NULL/0: look in dir */
  size_t n_files;
  const char *dir;             /* where to look for a manifest; NULL: cwd */
  const char *project_name;    /* -p */
  const char *const *profiles; /* --profile; COMPOSE_PROFILES when none */
  size_t n_profiles;
};

/* The files berth reads when none is named, in order of preference. */
extern const char *const berth_manifest_names[];

/* Loads, merges, interpolates and validates. On success *ret is the
 * project (warnings may be in diags). When the manifest is invalid fails
 * with BERTH_E_INVALID and diags holds every error; other failures
 * (unreadable file) are plain errors. */
int berth_manifest_load(const struct berth_load_opts *o, struct berth_project **ret,
                        struct berth_diags *diags, berth_err *err);

/* Parses "500m", "2", "0.5" into millicores. */
int berth_parse_cpu(const char *s, int64_t *ret_millis);
/* Parses Kubernetes quantities ("512Mi", "1Gi", "500M", "1e3", "128974848")
 * and Compose byte strings ("512m", "1g", "100kb") into bytes. compose
 * selects the Compose reading, where "m" means MiB. */
int berth_parse_bytes(const char *s, bool compose, int64_t *ret);
/* Parses durations: Go/Compose "1m30s", "1h", "250ms", "10us", "2.5s",
 * and a bare number of seconds. */
int berth_parse_duration_ms(const char *s, int64_t *ret);

#endif
