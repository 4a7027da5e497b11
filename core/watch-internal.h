/* Hot reload's internals, shared by core/watch*.c.
 *
 * Threads and ownership. The loop thread (the caller of berth_watch_run)
 * runs libuv: directory watchers, the quiet-period timer of each rule,
 * signals. It only watches and debounces; when a rule's burst is over it
 * hands the batch to the worker of the rule's service. One worker thread
 * per watched service takes batches in the order they were handed over
 * and runs the actions with its own Docker client, so a rebuild never
 * freezes the loop. Saves that arrive while an action runs are handed over
 * too and wait, merged into one batch per rule, for the action to end.
 * Events go to on_event one at a time (emit_mu). A third kind of thread
 * reads the engine's events for the project and keeps each worker's
 * target (the container it writes into) up to date, so a save asks the
 * engine nothing. Every thread is joined before berth_watch_run returns. */
#ifndef BERTH_WATCH_INTERNAL_H
#define BERTH_WATCH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "berth/buf.h"
#include "berth/ignore.h"
#include "berth/strv.h"
#include "berth/watch.h"
#include "docker.h"

struct watch_session;
struct watch_rule;
struct watch_worker;

/* One watched directory: the loop thread's. Freed in its close_cb. */
struct watch_dir {
  uv_fs_event_t h;
  struct watch_rule *rule;
  char *path;
};

/* A known file under a rule: path relative to the rule's root and the
 * FNV-1a hash of its content and mode. Open addressing. */
struct watch_entry {
  char *rel;
  uint64_t hash; /* content and mode: a chmod +x is a change too */
  bool synced;   /* sent to the container at least once: resent to a new one */
};

struct watch_rule {
  struct watch_session *s;
  struct watch_worker *wk; /* the worker of the rule's service */
  const struct berth_service *svc;
  const struct berth_watch *w;
  char *root;
  char *only;               /* the rule's path is a file: its name in root */
  struct berth_ignore *ign; /* read by both threads, never changed once watching */

  /* The loop thread's. */
  struct watch_dir **dirs;
  size_t n_dirs;
  struct berth_strv pending;      /* absolute paths changed since the last hand-over */
  struct berth_strv pending_gone; /* relative paths of watched directories that went away */
  uv_timer_t timer;               /* the quiet period */

  /* The hand-over, guarded by wk->mu. */
  struct berth_strv queued, queued_gone;
  bool in_queue;

  /* The worker's (and the loop's before the workers start). */
  struct watch_entry *tab;
  size_t tab_cap, tab_n;
  char *container; /* id the last batch went to */
  /* What a failed action did not deliver, sent with the next batch, and
   * what was deleted since watching began (replayed on a new container). */
  struct berth_strv retry, gone;
};

/* The container a service's rules act on (its replica 1), kept from the
 * engine's events (watch-target.c): looked up once, looked up again when
 * it starts, restarts or is recreated, marked stopped when it dies. While
 * the events stream is lost, nothing is known and every action looks it
 * up, as before the stream. Guarded by the worker's mu. */
struct watch_target {
  char *id; /* NULL: none */
  int pid;  /* its first process, for /proc/PID/root; 0: not known */
  bool running;
  bool known;    /* the fields say what the engine says; else look it up */
  uint64_t seq;  /* bumped by every event about the service and every loss */
  uint64_t seen; /* seq at the last lookup: a failed one is not repeated at once */
};

struct watch_worker {
  struct watch_session *s;
  struct watch_rule *rules; /* its service's rules: a slice of the session's */
  size_t n_rules;
  struct berth_docker *d;
  pthread_t th;
  bool started;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* CLOCK_MONOTONIC */
  /* Rules with a queued batch, in hand-over order, each at most once. */
  struct watch_rule **queue;
  size_t q_head, q_n;
  bool quit;
  struct watch_target tgt; /* guarded by mu */
  bool wants_target;       /* a rule acts on the container: not only rebuilds */
};

struct watch_session {
  const struct berth_project *p;
  const struct berth_watch_opts *o;
  int quiet_ms;
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  uv_timer_t stop_check;
  uv_async_t wake; /* berth_watch_stop() */
  struct watch_session *next_running;
  struct watch_rule *rules;
  size_t n_rules;
  struct watch_worker *workers;
  size_t n_workers;
  pthread_mutex_t emit_mu;   /* on_event is called one at a time */
  pthread_mutex_t engine_mu; /* one rebuild at a time: the engine and the state */

  /* The engine's events for the project's containers (watch-target.c). */
  struct berth_docker *ev_d;
  pthread_t ev_th;
  bool ev_started;
  atomic_bool ev_live; /* the stream is open: the targets are kept by it */
  atomic_bool ev_stop;
  pthread_mutex_t ev_mu; /* the pause before the stream is opened again */
  pthread_cond_t ev_cv;  /* CLOCK_MONOTONIC */
};

void berth__watch_emit(struct watch_rule *r, enum berth_watch_what what, size_t files,
                       size_t deleted, int64_t ms, const char *detail);
void berth__watch_emitf(struct watch_rule *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* watch-tree.c: the table of known contents, the directory watchers. */
struct watch_entry *berth__watch_lookup(struct watch_rule *r, const char *rel, bool create);
void berth__watch_forget(struct watch_rule *r, struct watch_entry *e);
int berth__watch_hash_file(const char *path, uint64_t *ret);
const char *berth__watch_rel(const struct watch_rule *r, const char *abs);
bool berth__watch_ignored(const struct watch_rule *r, const char *rel);
/* Watches dir and everything below it. initial: records the contents
 * (at start); else every file found is a change (a directory created or
 * moved in). Fails only when out of memory. */
int berth__watch_tree(struct watch_rule *r, const char *dir, bool initial, berth_err *err);
void berth__watch_close_dir(uv_handle_t *h);

/* watch-target.c: the container to act on, and the events that keep it. */
int berth__watch_events_start(struct watch_session *s, berth_err *err);
void berth__watch_events_stop(struct watch_session *s);
/* The worker's running container: its id (free it) and its PID (0 when
 * not known), from the target when it is known, else looked up. Fails
 * with BERTH_E_NOT_FOUND when none runs. */
int berth__watch_container(struct watch_worker *wk, char **ret_id, int *ret_pid, berth_err *err);
/* True when the target should be looked up now: an event said it
 * started, or the stream came back (worker, under mu). */
bool berth__watch_target_stale(const struct watch_worker *wk);
/* True when the stream says no container runs: retrying is pointless
 * until an event (worker, under mu). */
bool berth__watch_target_down(const struct watch_worker *wk);
/* Looks the target up (worker, without mu); a failure waits for the
 * next event or action. */
void berth__watch_target_refresh(struct watch_worker *wk);
/* What an action did to the container (a restart) or learnt of it (a
 * write that failed) makes the target unknown: the next one looks. */
void berth__watch_target_forget(struct watch_worker *wk);

/* watch-sync.c: what reaches the container. */
int berth__watch_exec(struct watch_rule *r, const char *id, const char *const *cmd,
                      struct berth_buf *out, int *ret_code, berth_err *err);
/* pid: the container's first process (0: unknown, the engine's archive
 * API does the work). */
int berth__watch_sync(struct watch_rule *r, const char *id, int pid, const struct berth_strv *files,
                      const struct berth_strv *deleted, berth_err *err);

/* watch-worker.c: the workers and the actions. */
int berth__watch_workers_start(struct watch_session *s, berth_err *err);
void berth__watch_workers_stop(struct watch_session *s);
/* Moves the rule's pending changes to its worker (loop thread). */
int berth__watch_hand_over(struct watch_rule *r, berth_err *err);

#endif
