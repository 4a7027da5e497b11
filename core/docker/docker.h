/* Docker Engine API client: libcurl over the engine's unix socket, cJSON for
 * bodies. One struct berth_docker per thread; calls on it are synchronous
 * and stream large bodies through callbacks with bounded buffers.
 *
 * Every call follows the error contract of berth/err.h. Errors from the
 * engine carry its own message and the HTTP status (berth_err_status()).
 */
#ifndef BERTH_DOCKER_H
#define BERTH_DOCKER_H

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "berth/err.h"

/* API versions berth speaks: it negotiates min(engine, MAX) and refuses
 * engines older than MIN. */
#define BERTH_DOCKER_API_MIN "1.41"
#define BERTH_DOCKER_API_MAX "1.43"
#define BERTH_DOCKER_DEFAULT_SOCKET "/var/run/docker.sock"

struct berth_docker;

/* Where the engine is: DOCKER_HOST (unix://PATH) or the default socket.
 * host may be NULL to read the environment. Does not connect.
 *
 * A stalled engine does not hang berth: a call fails with BERTH_E_TIMEOUT,
 * naming it, when the engine sends no byte of its answer for
 * BERTH_ENGINE_TIMEOUT_MS (default 60 s; a stop or restart also gets its
 * grace period); a transfer (pull, build, archive) when no byte moves
 * either way for BERTH_ENGINE_STALL_MS (default 15 min). Streams that may
 * be silent for hours (events, logs -f, wait, an exec's output once it
 * started) have no limit and end by interruption. Both variables are read
 * here, in milliseconds; 0 turns the limit off; anything else that is not
 * a number fails the open. */
int berth_docker_open(struct berth_docker **ret, const char *host, berth_err *err);
struct berth_docker *berth_docker_close(struct berth_docker *d);
/* A second client for another thread: same engine, the version already
 * negotiated (no round trip). */
int berth_docker_clone(const struct berth_docker *from, struct berth_docker **ret, berth_err *err);
/* Two ways to end a request (a stream: events, wait, logs) from another
 * thread; both go through the same hooks, so a request ends whether the
 * stop comes before it connects, before it sends or while it streams, and
 * every later request fails at once with BERTH_E_IO.
 *   berth_docker_interrupt: now, by shutting the connection down; for the
 *     owner of d (the engine stops its events stream this way).
 *   berth_docker_set_cancel: when *flag becomes nonzero, within about a
 *     second, the call in progress returns as if the stream had ended; for
 *     a caller that has a flag but not d (log followers). flag may be
 *     NULL; it must outlive d's calls. */
void berth_docker_interrupt(struct berth_docker *d);
void berth_docker_set_cancel(struct berth_docker *d, const atomic_int *flag);
/* "unix:///var/run/docker.sock" — for messages. */
const char *berth_docker_endpoint(const struct berth_docker *d);
/* The negotiated version ("1.41"), negotiating on first use. */
int berth_docker_api_version(struct berth_docker *d, const char **ret, berth_err *err);

/* Picks the version to speak to an engine that reports engine_version.
 * Writes "1.NN" to ret (size >= 16). Pure: unit-tested. */
int berth_docker_negotiate(const char *engine_version, char *ret, size_t size, berth_err *err);
/* Compares "1.41"-style versions: <0, 0, >0. Malformed sorts lowest. */
int berth_docker_version_cmp(const char *a, const char *b);

/* ---- system ---- */
int berth_docker_ping(struct berth_docker *d, berth_err *err);
/* GET /version and /info, returned as parsed JSON (caller frees). */
int berth_docker_version(struct berth_docker *d, cJSON **ret, berth_err *err);
int berth_docker_info(struct berth_docker *d, cJSON **ret, berth_err *err);

/* Label filters: "key" or "key=value" strings, NULL-terminated. */
struct berth_docker_events_opts {
  const char *const *labels;
  const char *const *types; /* "container", "network", ... or NULL */
  int64_t since;            /* unix seconds; 0 = from now */
  int64_t until;            /* unix seconds; 0 = stream until stopped */
};
/* Called for each event; return nonzero to stop the stream. */
typedef int (*berth_docker_event_fn)(const cJSON *event, void *ud);
int berth_docker_events(struct berth_docker *d, const struct berth_docker_events_opts *opts,
                        berth_docker_event_fn fn, void *ud, berth_err *err);

/* ---- images ---- */
int berth_docker_image_inspect(struct berth_docker *d, const char *name, cJSON **ret,
                               berth_err *err);
/* Returns 1 if the image exists locally, 0 if not. */
int berth_docker_image_exists(struct berth_docker *d, const char *name, berth_err *err);
int berth_docker_image_list(struct berth_docker *d, const char *const *labels, cJSON **ret,
                            berth_err *err);
int berth_docker_image_remove(struct berth_docker *d, const char *name, bool force, berth_err *err);

/* One line of pull or build progress, already parsed. */
struct berth_docker_progress {
  const char *id;         /* layer id for pulls, or NULL */
  const char *status;     /* "Downloading", "Pull complete", ... or NULL */
  const char *stream;     /* build output text, or NULL */
  int64_t current, total; /* progressDetail, 0 if absent */
  const char *image_id;   /* build result (aux.ID), or NULL */
};
typedef void (*berth_docker_progress_fn)(const struct berth_docker_progress *p, void *ud);

/* Pulls image (name[:tag]); errors in the stream become errors here. */
int berth_docker_image_pull(struct berth_docker *d, const char *image, berth_docker_progress_fn fn,
                            void *ud, berth_err *err);

struct berth_docker_build_opts {
  const char *context_dir; /* sent as a tar, honouring .dockerignore */
  const char *dockerfile;  /* relative to context; default "Dockerfile" */
  const char *tag;
  const char *target;
  const char *const *buildargs; /* "K=V", NULL-terminated */
  const char *const *labels;    /* "K=V", NULL-terminated */
  bool no_cache;
  bool pull;
};
/* Builds an image; ret_id (may be NULL) receives the image id (free it). */
int berth_docker_image_build(struct berth_docker *d, const struct berth_docker_build_opts *opts,
                             berth_docker_progress_fn fn, void *ud, char **ret_id, berth_err *err);

/* ---- containers ---- */
struct berth_docker_port {
  const char *host_ip;    /* NULL: 127.0.0.1 (berth binds loopback by default) */
  uint16_t host_port;     /* 0: engine picks */
  uint16_t host_port_end; /* > host_port: the engine picks one in the range */
  uint16_t container_port;
  const char *proto; /* "tcp" (default) or "udp" */
};

struct berth_docker_mount {
  enum { BERTH_MOUNT_BIND, BERTH_MOUNT_VOLUME, BERTH_MOUNT_TMPFS } type;
  const char *source; /* host path or volume name; unused for tmpfs */
  const char *target;
  bool read_only;
  int64_t tmpfs_size; /* bytes, 0 = engine default */
};

struct berth_docker_healthcheck {
  const char *const *test; /* {"CMD-SHELL", "pg_isready", NULL}, {"NONE", NULL} */
  int64_t interval_ns, timeout_ns, start_period_ns;
  int retries;
};

struct berth_docker_container_spec {
  const char *name;
  const char *image;
  const char *const *cmd;        /* NULL: image default */
  const char *const *entrypoint; /* NULL: image default */
  const char *const *env;        /* "K=V" */
  const char *const *labels;     /* "K=V" */
  const struct berth_docker_port *ports;
  size_t n_ports;
  const struct berth_docker_mount *mounts;
  size_t n_mounts;
  const char *network;        /* attached at create; more with network_connect */
  const char *const *aliases; /* DNS aliases on that network */
  const struct berth_docker_healthcheck *healthcheck;
  const char *hostname;
  const char *user;
  const char *working_dir;
  const char *stop_signal;
  int stop_timeout; /* seconds, 0 = engine default */
  bool init;        /* run the engine's init as PID 1 */
  bool tty;
  bool open_stdin;
  const char *restart; /* "no", "always", "on-failure", "unless-stopped" */
  int restart_max_retries;
  const char *const *extra_hosts; /* "host:ip" */
  const char *const *cap_add;
  const char *const *cap_drop;
  const char *const *tmpfs;  /* "/path" or "/path:opts" */
  const char *const *expose; /* "8080" or "8080/udp": exposed, not published */
  int64_t nano_cpus;         /* 500m CPU = 500000000 */
  int64_t memory;            /* bytes */
};

/* The JSON body of POST /containers/create. Pure: unit-tested. */
int berth_docker_container_body(const struct berth_docker_container_spec *spec, cJSON **ret,
                                berth_err *err);
/* Creates a container; ret_id receives its id (free it). */
int berth_docker_container_create(struct berth_docker *d,
                                  const struct berth_docker_container_spec *spec, char **ret_id,
                                  berth_err *err);
/* start/stop return 0, or 1 when the container already was in that state. */
int berth_docker_container_start(struct berth_docker *d, const char *id, berth_err *err);
int berth_docker_container_stop(struct berth_docker *d, const char *id, int timeout_s,
                                berth_err *err);
int berth_docker_container_restart(struct berth_docker *d, const char *id, int timeout_s,
                                   berth_err *err);
int berth_docker_container_kill(struct berth_docker *d, const char *id, const char *signal,
                                berth_err *err);
int berth_docker_container_remove(struct berth_docker *d, const char *id, bool force, bool volumes,
                                  berth_err *err);
int berth_docker_container_inspect(struct berth_docker *d, const char *id, cJSON **ret,
                                   berth_err *err);
/* all: include stopped containers. labels as in events. */
int berth_docker_container_list(struct berth_docker *d, const char *const *labels, bool all,
                                cJSON **ret, berth_err *err);
/* Blocks until the container stops; ret_status gets its exit code.
 * condition: "not-running" (default), "next-exit", "removed". */
int berth_docker_container_wait(struct berth_docker *d, const char *id, const char *condition,
                                int *ret_status, berth_err *err);

enum berth_docker_stream { BERTH_STDIN = 0, BERTH_STDOUT = 1, BERTH_STDERR = 2 };
/* Receives demultiplexed output; return nonzero to stop. */
typedef int (*berth_docker_output_fn)(enum berth_docker_stream s, const char *data, size_t len,
                                      void *ud);

struct berth_docker_logs_opts {
  bool follow;
  bool timestamps;
  int64_t since; /* unix seconds, 0 = all */
  int tail;      /* lines from the end, -1 = all */
  bool stdout_;  /* both false means both */
  bool stderr_;
};
int berth_docker_container_logs(struct berth_docker *d, const char *id,
                                const struct berth_docker_logs_opts *opts,
                                berth_docker_output_fn fn, void *ud, berth_err *err);

/* ---- exec ---- */
struct berth_docker_exec_opts {
  const char *const *cmd;
  const char *const *env;
  const char *user;
  const char *working_dir;
  bool tty;
  int stdin_fd;       /* -1: no stdin; otherwise streamed until EOF, then closed */
  int64_t timeout_ms; /* > 0: the command's output ends by then, or the call fails
                         with BERTH_E_TIMEOUT (the process may go on in the container) */
};
/* Runs cmd in a running container; output goes to fn; ret_exit gets the
 * command's exit code. */
int berth_docker_exec(struct berth_docker *d, const char *id,
                      const struct berth_docker_exec_opts *opts, berth_docker_output_fn fn,
                      void *ud, int *ret_exit, berth_err *err);

/* ---- archive ---- */
/* Extracts the tar read from tar_fd into path inside the container. */
int berth_docker_archive_put(struct berth_docker *d, const char *id, const char *path, int tar_fd,
                             berth_err *err);
/* Streams a tar of path inside the container to fn (stream = STDOUT). */
int berth_docker_archive_get(struct berth_docker *d, const char *id, const char *path,
                             berth_docker_output_fn fn, void *ud, berth_err *err);

/* ---- networks and volumes ---- */
struct berth_docker_network_spec {
  const char *name;
  const char *driver; /* default "bridge" */
  bool internal;
  const char *const *labels;
};
int berth_docker_network_create(struct berth_docker *d, const struct berth_docker_network_spec *s,
                                char **ret_id, berth_err *err);
int berth_docker_network_inspect(struct berth_docker *d, const char *name, cJSON **ret,
                                 berth_err *err);
int berth_docker_network_list(struct berth_docker *d, const char *const *labels, cJSON **ret,
                              berth_err *err);
int berth_docker_network_remove(struct berth_docker *d, const char *name, berth_err *err);
int berth_docker_network_connect(struct berth_docker *d, const char *network, const char *container,
                                 const char *const *aliases, berth_err *err);

int berth_docker_volume_create(struct berth_docker *d, const char *name, const char *const *labels,
                               cJSON **ret, berth_err *err);
int berth_docker_volume_inspect(struct berth_docker *d, const char *name, cJSON **ret,
                                berth_err *err);
int berth_docker_volume_list(struct berth_docker *d, const char *const *labels, cJSON **ret,
                             berth_err *err);
int berth_docker_volume_remove(struct berth_docker *d, const char *name, bool force,
                               berth_err *err);

#endif
