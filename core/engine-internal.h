/* Shared by core/engine.c and core/infra.c. */
#ifndef BERTH_ENGINE_INTERNAL_H
#define BERTH_ENGINE_INTERNAL_H

#include <pthread.h>

#include "berth/clock.h"
#include "berth/engine.h"
#include "berth/probe.h"
#include "docker.h"

enum berth__ustate { U_PENDING, U_STARTED, U_READY, U_COMPLETED, U_FAILED };

enum berth__probe { UP_NONE, UP_PROTO, UP_EXEC, UP_HEALTH, UP_DISABLED };

/* One container to run: a replica of a service, or an infra instance. */
struct berth__unit {
  char *name; /* service or infra name */
  int replica;
  const struct berth_service *svc;
  const struct berth_infra *infra;
  char *container; /* "<project>-<name>-<replica>" */
  char *image;
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
  char hash[24];
  char *body; /* the create body as JSON text, hashed with the image id */
  /* readiness */
  enum berth__probe probe;
  struct berth_probe_target target;
  char *redis_password;
  struct berth_strv probe_exec;
  /* provisioning after ready (infra): a script run with sh in the container,
   * and SQL fed to psql */
  char *provision_sh;
  char *provision_sql;
  /* dependencies: unit indices and the condition each must meet */
  size_t *deps;
  enum berth_condition *conds;
  size_t n_deps;
  bool selected;
  /* runtime, under the engine's lock */
  enum berth__ustate st;
  char *id;
  int64_t ready_ms;
  char *why; /* last probe result or failure */
};

struct berth__engine {
  const struct berth_project *p;
  const struct berth_engine_opts *o;
  struct berth__unit *u;
  size_t n;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int64_t t0, deadline;
  cJSON *existing;        /* containers of the project, listed once */
  struct berth_docker *d; /* the command's client; workers clone it */
  berth_err err;          /* the first failure */
  bool oom;
};

void berth__emit(struct berth__engine *e, const struct berth__unit *u, enum berth_phase ph,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void berth__strv_add(struct berth__engine *e, struct berth_strv *v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "<project>_<name>" for networks and volumes, "<project>-<name>-<n>" for
 * containers. */
char *berth__object_name(const char *project, const char *name);

/* Fills image, env, command, mounts, ports and probe of an infra unit;
 * credentials come from the state. */
int berth__infra_unit(struct berth__engine *e, struct berth__unit *u, berth_err *err);
/* The in-network URL a service gets for a `uses` entry (NAME=URL). */
int berth__infra_use_env(struct berth__engine *e, const struct berth_infra *in,
                         const struct berth_use *use, const char *host, uint16_t port, char **ret,
                         berth_err *err);

#endif
