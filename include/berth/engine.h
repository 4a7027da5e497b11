/* The engine: turns the model into running, ready containers and back.
 * The Docker engine is the source of truth: every object carries labels
 * (berth.project, berth.service, berth.config-hash, berth.owner, ...), so
 * `up` converges from any state — including one a killed `up` left. */
#ifndef BERTH_ENGINE_H
#define BERTH_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "berth/err.h"
#include "berth/model.h"
#include "berth/state.h"

#define BERTH_LABEL_PROJECT "berth.project"
#define BERTH_LABEL_SERVICE "berth.service"
#define BERTH_LABEL_HASH "berth.config-hash"
#define BERTH_LABEL_OWNER "berth.owner"
#define BERTH_LABEL_NAMESPACE "berth.namespace"
#define BERTH_LABEL_REPLICA "berth.replica"
#define BERTH_LABEL_KIND "berth.kind"

enum berth_phase {
  BERTH_PHASE_WAITING, /* for dependencies */
  BERTH_PHASE_BUILDING,
  BERTH_PHASE_PULLING,
  BERTH_PHASE_CREATING,
  BERTH_PHASE_STARTING,
  BERTH_PHASE_PROBING, /* started, waiting for its protocol */
  BERTH_PHASE_PROVISIONING,
  BERTH_PHASE_READY,
  BERTH_PHASE_UNCHANGED, /* already running with this config */
  BERTH_PHASE_COMPLETED, /* ran to completion (exit 0) */
  BERTH_PHASE_STOPPING,
  BERTH_PHASE_REMOVED,
  BERTH_PHASE_FAILED,
};

struct berth_engine_event {
  const char *service; /* the unit: a service or an infra instance */
  int replica;
  enum berth_phase phase;
  const char *detail; /* "waiting for db", "recreating: config changed", ... */
  int64_t elapsed_ms; /* since the command began */
};

/* Called from worker threads, one call at a time (the engine serializes). */
typedef void (*berth_engine_event_fn)(const struct berth_engine_event *ev, void *ud);

struct berth_engine_opts {
  const char *const *services; /* NULL/0: all; else these and what they need */
  size_t n_services;
  bool no_wait;       /* return once started, not once ready */
  bool build;         /* rebuild images of services with build: */
  int64_t timeout_ms; /* whole command; 0: 5 minutes */
  bool remove_orphans;
  bool volumes;              /* down: remove named volumes too */
  struct berth_state *state; /* credentials, history; may be NULL (then no infra) */
  berth_engine_event_fn on_event;
  void *ud;
};

/* One line of the summary of `up` and of `ps`. */
struct berth_unit_status {
  char *service;
  int replica;
  char *container; /* name */
  char *id;
  char *state;  /* running, exited, created, ... */
  char *health; /* healthy, starting, unhealthy, or NULL */
  char **urls;  /* published ports as host URLs: "http://127.0.0.1:3000" */
  size_t n_urls;
  int64_t ready_ms;   /* up: time to ready, -1 if not measured */
  int64_t started_at; /* unix seconds, 0 if unknown */
  int exit_code;
  bool infra;
};

struct berth_status {
  struct berth_unit_status *v;
  size_t n;
};

void berth_status_release(struct berth_status *s);

/* Brings the project (or some services) up and, unless no_wait, ready.
 * On a probe timeout fails with the service, its last probe result and
 * the last lines of its log. ret (may be NULL) receives the summary. */
int berth_engine_up(const struct berth_project *p, const struct berth_engine_opts *o,
                    struct berth_status *ret, berth_err *err);
/* Stops dependents before their dependencies (in parallel where
 * independent), removes containers and networks; volumes only with
 * o->volumes. Works from the labels alone when p has no services. */
int berth_engine_down(const struct berth_project *p, const struct berth_engine_opts *o,
                      berth_err *err);
/* stop / start / restart the given services (all when none). */
int berth_engine_stop(const struct berth_project *p, const struct berth_engine_opts *o,
                      berth_err *err);
int berth_engine_restart(const struct berth_project *p, const struct berth_engine_opts *o,
                         berth_err *err);
/* What runs now, from the engine's labels. */
int berth_engine_ps(const char *project, struct berth_status *ret, berth_err *err);
/* The container id of a service's replica (1-based), running or not. */
int berth_engine_container(const char *project, const char *service, int replica, char **ret_id,
                           berth_err *err);

/* Host-side connection variables of the infra a service uses (or of all
 * infra when service is NULL): NAME=URL lines with 127.0.0.1 and the
 * published ports, credentials from the state. */
int berth_engine_env(const struct berth_project *p, const char *service, struct berth_state *st,
                     struct berth_kvv *ret, berth_err *err);

#endif
