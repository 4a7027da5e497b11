/* Shared by the integration tests: a client for the real engine, a label
 * for everything a test run creates, and the cleanup of it. */
#ifndef BERTH_IT_HARNESS_H
#define BERTH_IT_HARNESS_H

// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include "docker.h"

struct it {
  struct berth_docker *d;
  char run_label[96];    /* "berth.test=it-<name>-<pid>-<time>" */
  const char *labels[3]; /* {run_label, "berth.owner=tests", NULL} */
  char base_image[256];  /* BERTH_BASE_IMAGE */
  char prefix[64];       /* name prefix for objects: "berth-it-<pid>-" */
};

extern struct it it;

/* Opens the engine; when it does not answer the test is skipped (77)
 * outside CI and fails in CI. Call from main() before the tests. */
void it_init(const char *suite);
/* Removes every container, network, volume and image of this run. Safe to
 * call twice; registered with atexit() by it_init. */
void it_cleanup(void);

/* Fails the current test with the error's message when r < 0. */
#define it_ok(r, errp) it_check((r), (errp), __FILE__, __LINE__)
void it_check(int r, berth_err *err, const char *file, int line);

/* "<prefix><name>" in a static buffer rotating over 8 slots. */
const char *it_name(const char *name);

/* Creates and starts a container running `sleep infinity` (with init) on
 * the base image; returns its id (free it). */
char *it_sleeper(const char *name, const char *network, const char *const *aliases);

/* Runs cmd in container id; collects stdout (and stderr) into malloc'd
 * strings (may be NULL); returns the exit code. */
int it_exec(const char *id, const char *const *cmd, char **ret_out, char **ret_err);

/* The whole log (stdout then stderr interleaved as written) of a
 * container, malloc'd. */
char *it_logs(const char *id);

/* Reads a nested string from JSON: it_json_str(o, "State", "Status", NULL). */
const char *it_json_str(const cJSON *o, ...);
const cJSON *it_json_get(const cJSON *o, ...);

#endif
