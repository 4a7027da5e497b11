/* Shared by the files of core/engine/: the plan (plan.c, pure), and the engine that
 * runs it (preflight.c, run.c, events.c, status.c, stop.c). */
#ifndef BERTH_ENGINE_INTERNAL_H
#define BERTH_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "berth/clock.h"
#include "berth/engine.h"
#include "berth/graph.h"
#include "berth/probe.h"
#include "docker.h"
#include "infra/infra.h"

enum berth__ustate { U_PENDING, U_STARTED, U_READY, U_COMPLETED, U_FAILED };

enum berth__probe { UP_NONE, UP_PROTO, UP_EXEC, UP_HEALTH, UP_DISABLED };

/* One container to run: a replica of a service, or an infra instance. */
struct berth__unit {
  char *name; /* service or infra name */
  int replica;
  size_t node; /* in the plan's graph: one node per service or instance */
  const struct berth_service *svc;
  const struct berth_infra *infra;
  const struct berth__infra_kind *kind; /* of infra */
  char *container;                      /* "<project>-<name>-<replica>" */
  char *image;
  char *image_id; /* once preflight knows it */
  /* storage the spec points into */
  struct berth_strv env, cmd, entrypoint, labels, hc_test;
  struct berth_docker_port *ports;
  size_t n_ports;
  struct berth_docker_mount *mounts;
  size_t n_mounts;
  struct berth_strv networks; /* engine names; [0] is attached at create */
  struct berth_strv *aliases; /* per network */
  struct berth_docker_healthcheck hc;
  struct berth_docker_container_spec spec;
  char *body;         /* the create body as JSON text */
  uint64_t body_hash; /* FNV-1a over body: what planning alone decides */
  char hash[24];      /* the label: body_hash continued over the image id */
  /* readiness */
  enum berth__probe probe;
  struct berth_probe_target target;
  char *probe_password;
  struct berth_strv probe_exec; /* the exec check: berth's probe, or the healthcheck */
  bool check_after;             /* a recognised kind's declared healthcheck: after the protocol */
  bool engine_runs;             /* the engine runs the exec check often: wait for its word */
  int64_t exec_interval_ms;     /* the exec check's declared interval */
  int64_t exec_timeout_ms;      /* and how long one run may take */
  /* provisioning after ready (infra): a script fed on stdin to
   * provision_cmd in the container */
  char *provision;
  const char *const *provision_cmd;
  struct berth_strv exec_env;
  /* a file put into the container before it starts (infra: redis's
   * password), or NULL */
  const char *file_path;
  char *file;
  bool selected;
  /* runtime, under the engine's lock */
  enum berth__ustate st;
  char *id;
  int64_t ready_ms;
  /* what the events stream said of the container (id), under the lock */
  /* Bumped by the events thread for every start, die, restart or health
   * change of u's container (under mu): news that makes the worker look
   * again. The engine's inspect stays the truth, so a replayed event of an
   * earlier life, a die that the restart policy undoes, or clocks that
   * disagree can cost one inspect, never a wrong verdict. */
  uint64_t ev_seq;
  uint64_t ready_seq;        /* ev_seq when it was found ready */
  char ready_started_at[40]; /* the start (State.StartedAt) that was found ready */
};

/* The plan: units, and the graph of services and instances they belong
 * to (unit i is on node u[i].node; a node's units are first..first+count). */
struct berth__plan {
  const struct berth_project *p;
  struct berth__unit *u;
  size_t n;
  struct berth_graph g;
  size_t *first, *count; /* per node */
};

struct berth__plan_opts {
  const char *const *services; /* NULL/0: all */
  size_t n_services;
  berth__secret_fn secret; /* credentials of infra */
  void *ud;
};

/* The model to units, their create bodies and body hashes: no engine call,
 * no clock; the same model and secrets give the same plan. */
int berth__plan(const struct berth_project *p, const struct berth__plan_opts *o,
                struct berth__plan *ret, berth_err *err);
void berth__plan_release(struct berth__plan *pl);
/* The config hash label, once the image is there: the body hash continued
 * over "\n" and the image's id, so a rebuilt image under the same tag
 * recreates the container. Equal to FNV-1a of "<body>\n<image id>", the
 * formula of earlier releases, so running containers stay unchanged. */
int berth__unit_seal(struct berth__unit *u, const char *image_id, berth_err *err);
/* The graph of a project's services and infra ("uses" is a healthy
 * dependency); infra first, then services, in manifest order. */
int berth__project_graph(const struct berth_project *p, struct berth_graph *g, berth_err *err);
/* The engine's names of a project's network and volume. */
const char *berth__network_name(const struct berth_project *p, const char *net, char *buf,
                                size_t size);
const char *berth__volume_name(const struct berth_project *p, const char *vol, char *buf,
                               size_t size);
long berth__unit_index(const struct berth__plan *pl, const char *name, int replica);

struct berth__engine {
  const struct berth_project *p;
  const struct berth_engine_opts *o;
  struct berth__plan pl;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int64_t t0, deadline;
  cJSON *existing;        /* containers of the project, listed once */
  struct berth_docker *d; /* the command's client; workers clone it */
  berth_err err;          /* the first failure */
  /* the events stream (events.c) */
  pthread_t ev_thread;
  int64_t ev_since; /* unix seconds the stream starts at: a second before up begins */
  bool ev_running;
  struct berth_docker *ev_d;
  atomic_bool ev_stop;
  bool ev_lost; /* the stream ended early: workers ask inspect (under mu) */
};

void berth__engine_init(struct berth__engine *e, const struct berth_project *p,
                        const struct berth_engine_opts *o);
void berth__engine_release(struct berth__engine *e);
/* The state's secrets, as a berth__secret_fn (ud: the engine). */
int berth__engine_secret(void *ud, const char *scope, const char *key, char **ret, berth_err *err);

void berth__emit(struct berth__engine *e, const struct berth__unit *u, enum berth_phase ph,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Emits for a name that is no unit of the plan (orphans, stop jobs). */
void berth__emit_name(struct berth__engine *e, const char *name, enum berth_phase ph,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* "<project>_<name>" for networks and volumes. */
char *berth__object_name(const char *project, const char *name);
const char *berth__label_of(const cJSON *c, const char *key);
const cJSON *berth__existing(const struct berth__engine *e, const char *name);

/* preflight.c: images (then the seal), host ports, networks and volumes. */
int berth__preflight(struct berth__engine *e, berth_err *err);
/* run.c: one worker per selected unit. */
int berth__run(struct berth__engine *e, berth_err *err);
/* ready.c: what a container shows (from inspect; the events say when to
 * look again), and the waits for it to be ready or to complete. */
struct berth__look {
  uint64_t seq; /* u->ev_seq when this look was taken */
  bool exited;  /* not running, or restarting */
  bool restarting;
  int code;
  char health[16];      /* the engine's word; "" without a healthcheck */
  char health_out[256]; /* the first line of its last check's output */
  char started_at[40];
  char ip[64];
  bool has_ip;
};
int berth__inspect(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                   struct berth__look *l, berth_err *err);
/* Waits up to ms (< 0: until the deadline) for news of u's container from
 * the events (or a lost stream), then looks again when there is news, or
 * when l has no IP yet. */
int berth__look_again(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                      struct berth__look *l, int64_t ms, berth_err *err);
/* The last lines of a container's log, indented, for error messages. */
char *berth__log_tail(struct berth_docker *d, const char *id);
/* Sleeps on the condition variable until ms from now (or the deadline);
 * woken early by any change. Called with e->mu held. */
void berth__wait_locked(struct berth__engine *e, int64_t ms);
/* Whether a unit failed already (the run fails; the others stop waiting). */
bool berth__failing(struct berth__engine *e);

#define BERTH__READY 1
#define BERTH__COMPLETED 2 /* exited 0: a job, as may_complete allows */
#define BERTH__GAVE_UP 3   /* another unit failed: up fails, nobody waits on */
struct berth__ready_opts {
  bool unchanged;    /* it was running with this config before this up */
  bool needed_ready; /* a dependent waits for it to be healthy */
  bool may_complete; /* restart "no" and no dependent needs it running */
};
/* BERTH__READY, BERTH__COMPLETED, BERTH__GAVE_UP, or < 0 with *err. */
int berth__await_ready(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                       const struct berth__ready_opts *o, berth_err *err);
/* Until the job exits 0 (else an error with its code and log); or
 * BERTH__GAVE_UP. */
int berth__await_completion(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                            berth_err *err);
/* At the end of up: a unit found ready whose container exited or
 * restarted since is an error (BERTH__COMPLETED for a job's exit 0). */
int berth__recheck(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                   bool may_complete, berth_err *err);

/* events.c: the project's container events update the units. */
int berth__events_start(struct berth__engine *e, berth_err *err);
void berth__events_stop(struct berth__engine *e);
/* status.c */
/* The engine's health word in a listing's Status ("Up 2 minutes
 * (healthy)"): "healthy", "unhealthy", "starting", or NULL. */
const char *berth__listed_health(const cJSON *c);
int berth__status(struct berth_docker *d, const char *project, const char *service,
                  struct berth_status *ret, berth_err *err);
/* The in-network or host URL of an instance for a use, as NAME=URL. */
int berth__use_env(const struct berth_project *p, const struct berth_infra *in,
                   berth__secret_fn secret, void *ud, const struct berth_use *use, const char *host,
                   uint16_t port, char **ret, berth_err *err);

#endif
