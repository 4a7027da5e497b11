/* Shared by core/manifest*.c. */
#ifndef BERTH_MANIFEST_INTERNAL_H
#define BERTH_MANIFEST_INTERNAL_H

#include "berth/interp.h"
#include "berth/manifest.h"
#include "berth/node.h"

/* The state of one load: where diagnostics go and what resolves paths
 * and variables. */
struct berth__reader {
  struct berth_diags *diags;
  struct berth_project *p;
  const char *dir;         /* project directory, absolute */
  struct berth_vars *vars; /* the .env file */
  bool compose;            /* reading a Compose file: Compose's units */
  bool oom;                /* an allocation failed somewhere */
  struct berth_strv off;   /* services left out by the active profiles */
};

void berth__diag(struct berth__reader *r, enum berth_severity sev, const struct berth_node *at,
                 const char *path, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define berth__error(r, at, path, ...) berth__diag((r), BERTH_DIAG_ERROR, (at), (path), __VA_ARGS__)
#define berth__warn(r, at, path, ...)                                                              \
  berth__diag((r), BERTH_DIAG_WARNING, (at), (path), __VA_ARGS__)

/* Reports "file:line:col: message" (from node.c, interp.c) as a
 * positioned error. */
void berth__error_at_message(struct berth__reader *r, const char *file, const char *msg);

/* The known key closest to key (Levenshtein, at most 2 edits or a
 * quarter of its length), or NULL. keys is NULL-terminated. */
const char *berth__suggest(const char *key, const char *const *keys);

/* Reads the merged document into r->p (services, infra, networks, ...). */
void berth__read_project(struct berth__reader *r, const struct berth_node *root);

/* Absolute path of rel against dir (rel may be absolute, or start with
 * ~/). Lexically cleaned. NULL on allocation failure. */
char *berth__abspath(const char *dir, const char *rel);

#endif
