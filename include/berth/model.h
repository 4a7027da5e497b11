/* The model: what a project is, whatever file described it. The manifest
 * reader (berth.yaml) and the Compose reader fill it; everything
 * downstream (engine, watch, seed, ns, export) reads only this.
 * All strings are owned by the project; berth_project_free() frees all. */
#ifndef BERTH_MODEL_H
#define BERTH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/strv.h"

struct berth_kv {
  char *key;
  char *value;
};

struct berth_kvv {
  struct berth_kv *v;
  size_t n;
};

/* Where a model element came from, for messages of later stages. */
struct berth_pos {
  const char *file; /* not owned: points into the project's files list */
  int line, col;
};

struct berth_build {
  char *context;    /* absolute */
  char *dockerfile; /* relative to context; "Dockerfile" by default */
  struct berth_kvv args;
  char *target;
};

struct berth_port {
  char *host_ip;                 /* "127.0.0.1" unless the manifest names one */
  uint16_t host_start, host_end; /* 0: the engine picks */
  uint16_t container_start, container_end;
  char *protocol; /* "tcp" or "udp" */
  struct berth_pos pos;
};

enum berth_mount_type { BERTH_MOUNT_T_VOLUME, BERTH_MOUNT_T_BIND, BERTH_MOUNT_T_TMPFS };

struct berth_mount {
  enum berth_mount_type type;
  char *source; /* volume name, absolute host path, or NULL (anonymous/tmpfs) */
  char *target;
  bool read_only;
  int64_t tmpfs_size;
};

enum berth_condition { BERTH_COND_STARTED, BERTH_COND_HEALTHY, BERTH_COND_COMPLETED };

struct berth_dep {
  char *service;
  enum berth_condition condition;
  bool restart;  /* restart this service when the dependency is recreated */
  bool required; /* false: skip when the dependency is not part of the run */
  struct berth_pos pos;
};

enum berth_probe_kind {
  BERTH_PROBE_NONE, /* nothing declared: running means ready */
  BERTH_PROBE_HTTP,
  BERTH_PROBE_TCP,
  BERTH_PROBE_EXEC,  /* argv run in the container */
  BERTH_PROBE_IMAGE, /* the image's own HEALTHCHECK */
  BERTH_PROBE_DISABLED,
};

struct berth_probe {
  enum berth_probe_kind kind;
  char *http_path;
  uint16_t port;
  struct berth_strv exec; /* argv; a Compose CMD-SHELL becomes [sh, -c, cmd] */
  int64_t interval_ms, timeout_ms, start_period_ms;
  int retries;
};

enum berth_watch_action {
  BERTH_WATCH_SYNC,
  BERTH_WATCH_RESTART,
  BERTH_WATCH_SYNC_RESTART,
  BERTH_WATCH_REBUILD,
  BERTH_WATCH_EXEC,
};

struct berth_watch {
  char *path; /* absolute, inside the project */
  enum berth_watch_action action;
  char *target; /* path in the container (sync, sync+restart, exec) */
  struct berth_strv ignore;
  struct berth_strv command; /* exec */
  struct berth_pos pos;
};

struct berth_net_attach {
  char *network;
  struct berth_strv aliases;
};

struct berth_file_ref { /* a secret or config mounted into a service */
  char *source;
  char *target; /* absolute path in the container */
};

/* A service's request for an infra instance's connection variables. */
struct berth_use {
  char *infra;    /* instance name */
  char *database; /* postgres */
  char *vhost;    /* rabbitmq */
  char *as;       /* variable name: DATABASE_URL, REDIS_URL, AMQP_URL by default */
  struct berth_pos pos;
};

struct berth_service {
  char *name;
  char *image;
  struct berth_build *build;
  struct berth_strv command; /* n == 0: the image's */
  bool has_command;
  struct berth_strv entrypoint;
  bool has_entrypoint;
  struct berth_kvv environment; /* env_file values, then environment, resolved */
  struct berth_strv env_files;  /* absolute */
  struct berth_port *ports;
  size_t n_ports;
  struct berth_strv expose;
  struct berth_mount *mounts;
  size_t n_mounts;
  struct berth_dep *deps;
  size_t n_deps;
  struct berth_probe probe;
  int replicas;
  int64_t cpu_millis;   /* 500m -> 500 */
  int64_t memory_bytes; /* 512Mi -> 536870912 */
  char *restart;        /* "no" unless set */
  struct berth_strv profiles;
  struct berth_kvv labels;
  struct berth_watch *watch;
  size_t n_watch;
  char *container_name, *hostname, *user, *working_dir, *stop_signal;
  int64_t stop_grace_ms; /* -1: engine default */
  int init;              /* -1 unset, 0 no, 1 yes */
  struct berth_strv tmpfs;
  struct berth_strv extra_hosts;
  struct berth_strv cap_add, cap_drop;
  struct berth_net_attach *networks;
  size_t n_networks;
  struct berth_file_ref *secrets, *configs;
  size_t n_secrets, n_configs;
  struct berth_use *uses;
  size_t n_uses;
  char *kind;         /* "postgres", "redis", "rabbitmq" when recognised, else NULL */
  uint16_t kind_port; /* where its flags or environment move the kind's port; 0: the kind's */
  bool wait_started;  /* x-berth-wait: started: dependents need it started, not ready */
  struct berth_kvv extensions; /* x-* keys, as JSON text */
  struct berth_pos pos;
};

enum berth_infra_kind { BERTH_INFRA_POSTGRES, BERTH_INFRA_REDIS, BERTH_INFRA_RABBITMQ };

struct berth_pg_database {
  char *name, *owner, *password;
  struct berth_strv schemas, extensions;
};

struct berth_mq_permission {
  char *vhost, *configure, *write, *read;
};

struct berth_mq_user {
  char *name, *password;
  struct berth_strv tags;
  struct berth_mq_permission *permissions;
  size_t n_permissions;
};

/* A seed of an infra instance: a file applied once, in order, after the
 * instance is ready and before its dependents start (seed/). */
enum berth_seed_kind {
  BERTH_SEED_SQL,         /* postgres: a script, one transaction */
  BERTH_SEED_CSV,         /* postgres: COPY into table, header names the columns */
  BERTH_SEED_REDIS,       /* redis: a command a line, or raw RESP */
  BERTH_SEED_DEFINITIONS, /* rabbitmq: the management API's definitions export */
  BERTH_SEED_MESSAGES,    /* rabbitmq: one JSON message a line */
};

struct berth_seed {
  enum berth_seed_kind kind;
  char *file;     /* absolute */
  char *name;     /* as written, relative to the project: the ledger's key */
  char *table;    /* csv: [schema.]table */
  char *database; /* postgres: the database it goes into */
  char *vhost;    /* messages: where they are published */
  struct berth_pos pos;
};

struct berth_infra {
  char *name;
  enum berth_infra_kind kind;
  char *version;
  char *image;
  struct berth_pg_database *databases;
  size_t n_databases;
  struct berth_strv vhosts;
  struct berth_mq_user *users;
  size_t n_users;
  bool management;
  char *password;    /* redis */
  char *persistence; /* redis: none | rdb | aof */
  struct berth_seed *seeds;
  size_t n_seeds;
  struct berth_pos pos;
};

struct berth_network {
  char *name;
  char *driver;
  bool external, internal;
  char *external_name;
  struct berth_kvv labels;
};

struct berth_volume {
  char *name;
  char *driver;
  bool external;
  char *external_name;
  struct berth_kvv labels;
};

struct berth_file_def { /* top-level secret or config */
  char *name;
  char *file;        /* absolute */
  char *environment; /* secrets from a variable */
  char *content;     /* configs with inline content */
  bool external;
};

enum berth_manifest_format { BERTH_FORMAT_BERTH, BERTH_FORMAT_COMPOSE };

struct berth_project {
  char *name;
  char *dir; /* the project directory: the first file's */
  struct berth_strv files;
  enum berth_manifest_format format;
  struct berth_strv active_profiles;
  struct berth_service *services;
  size_t n_services;
  struct berth_infra *infra;
  size_t n_infra;
  struct berth_network *networks;
  size_t n_networks;
  struct berth_volume *volumes;
  size_t n_volumes;
  struct berth_file_def *secrets, *configs;
  size_t n_secrets, n_configs;
  char *namespaces_json; /* reserved, kept as JSON text */
  /* The services by name (model.c's, made by berth_project_index). */
  struct berth__service_index *service_index;
};

#include <cjson/cJSON.h>

#include "berth/err.h"

struct berth_project *berth_project_free(struct berth_project *p);
/* value as berth shows it without --show-secrets (docs/config-json.md,
 * "Secrets"): "***" when name (may be NULL) is a secret name; otherwise
 * URL credentials, the VALUE of NAME=VALUE words with a secret NAME and
 * the word after a secret flag (--requirepass pw) masked. The one rule of
 * every output; NULL when value is NULL or out of memory. */
char *berth_mask_secrets(const char *name, const char *value);
/* The normalized model as the stable JSON of `berth config --json`
 * (docs/config-json.md). Secrets (passwords, secret-looking environment
 * values, credentials in URLs) are "***" unless show_secrets. */
int berth_project_to_json(const struct berth_project *p, bool show_secrets, cJSON **ret,
                          berth_err *err);
/* True when an environment variable of this name holds a secret. */
bool berth_is_secret_name(const char *name);
/* The service of this name, or NULL: constant-time once the services
 * are indexed, a scan otherwise (an index made before services were
 * added or removed is not used). */
const struct berth_service *berth_project_service(const struct berth_project *p, const char *name);
/* Indexes the services by name for berth_project_service; again after
 * changing them. Out of memory, lookups scan. */
void berth_project_index(struct berth_project *p);
const char *berth_condition_name(enum berth_condition c);
const char *berth_probe_kind_name(enum berth_probe_kind k);
const char *berth_watch_action_name(enum berth_watch_action a);
const char *berth_infra_kind_name(enum berth_infra_kind k);
/* "sql", "csv", "redis", "definitions", "messages": the manifest's key. */
const char *berth_seed_kind_name(enum berth_seed_kind k);

#endif
