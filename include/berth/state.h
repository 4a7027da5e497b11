/* Local state in SQLite (WAL): what must survive between runs and that the
 * engine cannot tell — generated credentials, run history with per-service
 * timings, events. Never anything the engine is the source of truth for
 * (what runs, its config): that is read from the engine's labels.
 *
 * The database lives at $BERTH_STATE_DIR/state.db, else
 * $XDG_STATE_HOME/berth/state.db, else ~/.local/state/berth/state.db
 * (directories created 0700, the file 0600: it holds credentials). Its
 * schema is versioned (PRAGMA user_version) and migrated forward on open;
 * a database from a newer berth is refused with a clear message. */
#ifndef BERTH_STATE_H
#define BERTH_STATE_H

#include <stdint.h>

#include "berth/err.h"

struct berth_state;

/* path NULL: the default location above. */
int berth_state_open(struct berth_state **ret, const char *path, berth_err *err);
struct berth_state *berth_state_close(struct berth_state *st);
/* The file in use, for messages. */
const char *berth_state_path(const struct berth_state *st);

/* The secret stored for (project, scope, key) — e.g. ("shop", "db",
 * "password") — created on first use: 24 random characters [A-Za-z0-9]
 * from getrandom(). Two processes asking at once get the same value. The
 * caller frees *ret. */
int berth_state_secret(struct berth_state *st, const char *project, const char *scope,
                       const char *key, char **ret, berth_err *err);
/* Forgets a project's secrets (for `down --volumes`, when the data they
 * protect is gone). */
int berth_state_forget_secrets(struct berth_state *st, const char *project, berth_err *err);

/* Serializes berth commands that change a project (up, down, ...): an
 * exclusive lock on a file beside the state, held until *ret_fd is
 * closed (or the process ends). Waits; calls waiting(ud) once first when
 * another berth holds it. */
int berth_state_lock(struct berth_state *st, const char *project, void (*waiting)(void *), void *ud,
                     int *ret_fd, berth_err *err);

/* Marks: facts about engine objects berth must remember, such as
 * "provisioned:<container id>". berth_state_marked returns 1 or 0. */
int berth_state_mark(struct berth_state *st, const char *project, const char *key, berth_err *err);
int berth_state_marked(struct berth_state *st, const char *project, const char *key,
                       berth_err *err);

/* Run history: one row per command run, with per-service phase timings. */
int berth_state_run_begin(struct berth_state *st, const char *project, const char *command,
                          int64_t *ret_run, berth_err *err);
int berth_state_run_end(struct berth_state *st, int64_t run, int exit_code, berth_err *err);
/* phase: "create", "start", "ready", ... ms: duration in milliseconds. */
int berth_state_timing(struct berth_state *st, int64_t run, const char *service, const char *phase,
                       int64_t ms, berth_err *err);
/* An event worth keeping (a probe timeout, a recreate and why). */
int berth_state_event(struct berth_state *st, const char *project, const char *service,
                      const char *kind, const char *message, berth_err *err);

#endif
