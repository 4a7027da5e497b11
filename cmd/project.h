/* Shared by the commands that work on a project (up, down, ps, ...). */
#ifndef BERTH_CMD_PROJECT_H
#define BERTH_CMD_PROJECT_H

#include "berth/engine.h"
#include "berth/manifest.h"
#include "berth/model.h"
#include "berth/state.h"
#include "cmd.h"
#include "flags.h"
#include "out.h"

/* Loads the manifest, printing its problems; returns 0 or the exit code
 * to return (2 invalid, 1 other). */
int berth_cmd_load(const struct berth_globals *g, struct berth_project **ret);
/* Opens the state; returns 0 or the exit code. */
int berth_cmd_state(struct berth_state **ret);
/* Loads the manifest, opens the state and, when ret_lock is non-NULL,
 * takes the project's lock. Returns 0 or the exit code (all closed). */
int berth_cmd_open(const struct berth_globals *g, struct berth_project **ret_p,
                   struct berth_state **ret_st, int *ret_lock);
/* Releases what berth_cmd_open gave; accepts what failed to open. */
void berth_cmd_close(struct berth_project **p, struct berth_state **st, int *lock);

/* Takes the project's lock (waits, saying so, while another berth holds
 * it); closing *ret_fd, or exiting, releases it. Returns 0 or the exit
 * code. */
int berth_cmd_lock(struct berth_state *st, const char *project, int *ret_fd);

typedef int (*berth_lifecycle_fn)(const struct berth_project *p, const struct berth_engine_opts *o,
                                  berth_err *err);
/* down, stop, start, restart: [SERVICE...] and their flags, then fn. */
int berth_cmd_lifecycle(int argc, char **argv, const struct berth_globals *g,
                        const struct berth_cmd *self, berth_lifecycle_fn fn, bool is_down);

/* Watches (attached) until Ctrl-C; returns the exit code. */
int berth_cmd_watch_run(const struct berth_globals *g, const struct berth_project *p,
                        struct berth_state *st, const char *const *services, size_t n_services,
                        int quiet_ms);

/* eo's services, state and progress lines, shared by up and the
 * lifecycle commands. */
void berth_cmd_engine_opts(struct berth_engine_opts *eo, struct berth_progress *pr,
                           const struct berth_globals *g, struct berth_state *st, char **services,
                           int n_services);
/* "svc" or "svc-2" for replicas beyond the first. */
const char *berth_cmd_unit_name(const struct berth_unit_status *u, char *buf, size_t size);
/* One unit of `ps --json` and `up --json`; NULL out of memory. */
cJSON *berth_cmd_unit_json(const struct berth_unit_status *u);

/* Parses "5m", "90s", "1h30m" into milliseconds; -1 when malformed. */
int64_t berth_cmd_duration(const char *s);

#endif
