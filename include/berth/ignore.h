/* .dockerignore rules, with the engine's semantics: patterns are
 * filepath.Match globs on '/'-separated paths relative to the context,
 * `**` matches any number of directories, `!` re-includes, the last
 * matching pattern wins, and a pattern that matches a directory matches
 * everything below it. */
#ifndef BERTH_IGNORE_H
#define BERTH_IGNORE_H

#include <stdbool.h>

#include "berth/err.h"

struct berth_ignore;

int berth_ignore_new(struct berth_ignore **ret, berth_err *err);
/* Adds the rules of a .dockerignore-style file; a missing file adds
 * nothing. */
int berth_ignore_load(struct berth_ignore *ign, const char *path, berth_err *err);
/* Adds one pattern line (comments and blank lines are ignored). */
int berth_ignore_add(struct berth_ignore *ign, const char *line, berth_err *err);
/* True when path (relative, '/'-separated) is excluded. */
bool berth_ignore_match(const struct berth_ignore *ign, const char *path);
/* True when some pattern re-includes (starts with '!'): an excluded
 * directory must then still be walked. */
bool berth_ignore_has_exceptions(const struct berth_ignore *ign);
struct berth_ignore *berth_ignore_free(struct berth_ignore *ign);

#endif
