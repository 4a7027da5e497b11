/* The scaffolding the unit tests share: one temporary root per test
 * program (a cmocka group setup and teardown), files written under it,
 * manifests loaded from text with every diagnostic as text, and
 * assert_contains. Every helper fails the running test on an error, so a
 * test reads as what it checks. */
#ifndef BERTH_TESTS_UNIT_FIXTURE_H
#define BERTH_TESTS_UNIT_FIXTURE_H

#include "berth/manifest.h"

/* The temporary root of this test program, between fixture_setup and
 * fixture_teardown. */
extern char *fixture_root;

/* cmocka group setup: makes the temporary root under $TMPDIR (or /tmp)
 * and unsets what the manifest loader reads from the environment
 * (COMPOSE_PROJECT_NAME, COMPOSE_PROFILES) so it cannot leak in. */
int fixture_setup(void **state);
/* cmocka group teardown: removes the root and all below it. */
int fixture_teardown(void **state);

/* dir/rel, allocated. */
char *fixture_path(const char *dir, const char *rel);
/* A fresh directory under the root named name, or a unique one if name is
 * NULL; allocated. */
char *fixture_dir(const char *name);
/* Writes text as dir/file and returns its path, allocated. */
char *fixture_write(const char *dir, const char *file, const char *text);

/* Every diagnostic of d as berth_diag_format gives it, one a line;
 * allocated. */
char *fixture_diags_text(const struct berth_diags *d);
/* Loads o. With ret_diags, *ret_diags gets every diagnostic as text and a
 * failed load returns NULL; without, the load must succeed with no error
 * diagnostic, or the test fails showing them. */
struct berth_project *fixture_load_opts(const struct berth_load_opts *o, char **ret_diags);
/* Writes text as <root>/demo/berth.yaml and loads that directory, so the
 * project is named "demo" and every load resolves the same paths; as
 * fixture_load_opts otherwise. */
struct berth_project *fixture_load(const char *text, char **ret_diags);

/* Fails unless haystack (NULL fails) contains needle. */
void assert_contains(const char *haystack, const char *needle);

/* A NULL-terminated list of strings in place: ARGS("up", "-f", "x"). */
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
/* Fails unless the argc strings of argv (NULL-terminated) are want. */
void assert_argv(int argc, char *const *argv, const char *const *want);

#endif
