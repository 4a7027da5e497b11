/* Hot reload: keep running services in step with the source tree, driven
 * by the manifest's watch rules (and Compose's develop.watch). libuv
 * watches every directory under each rule's path (inotify underneath),
 * batches events per rule after a short quiet period, skips saves that
 * leave the content unchanged, and applies the rule's action through the
 * engine API: sync (tar into the container), restart, sync+restart, exec,
 * rebuild. */
#ifndef BERTH_WATCH_H
#define BERTH_WATCH_H

#include <stdatomic.h>
#include <stdint.h>

#include "berth/err.h"
#include "berth/model.h"
#include "berth/state.h"

#define BERTH_WATCH_QUIET_MS 20

enum berth_watch_what {
  BERTH_WATCH_EV_WATCHING, /* started: detail says what */
  BERTH_WATCH_EV_SYNCED,
  BERTH_WATCH_EV_RESTARTED,
  BERTH_WATCH_EV_EXECUTED,
  BERTH_WATCH_EV_REBUILT,
  BERTH_WATCH_EV_OUTPUT, /* a line of an exec action's output */
  BERTH_WATCH_EV_ERROR,  /* shown on the service's line; watching goes on */
};

struct berth_watch_event {
  const char *service;
  enum berth_watch_what what;
  size_t files;   /* written into the container */
  size_t deleted; /* removed from it */
  int64_t ms;     /* the action's duration */
  const char *detail;
};

typedef void (*berth_watch_fn)(const struct berth_watch_event *ev, void *ud);

struct berth_watch_opts {
  const char *const *services; /* NULL/0: every service with watch rules */
  size_t n_services;
  int quiet_ms;              /* 0: BERTH_WATCH_QUIET_MS */
  struct berth_state *state; /* for rebuild (credentials of infra) */
  berth_watch_fn on_event;
  void *ud;
  /* Stops the loop when it becomes nonzero: at once through
   * berth_watch_stop(), within 100 ms after a plain store. SIGINT and
   * SIGTERM stop it at once too. */
  atomic_int *stop;
};

/* Stops the berth_watch_run() given this flag: sets it and wakes the loop
 * at once. Safe from any thread (not from a signal handler). */
void berth_watch_stop(atomic_int *stop);

/* Runs until stopped. Fails only when nothing can be watched. */
int berth_watch_run(const struct berth_project *p, const struct berth_watch_opts *o,
                    berth_err *err);

/* True for editor droppings: .swp/.swx/.swo, ~ backups, vim's 4913,
 * emacs .#lock and #autosave#. */
bool berth_watch_is_temp(const char *name);

#endif
