/* Infra kinds: what berth knows about each kind of infrastructure it runs
 * for a project (postgres, redis, rabbitmq). Each kind is one file in
 * core/infra/ exporting one `const struct berth__infra_kind`, listed once
 * in kinds.c. The manifest reader, the engine and `berth env` ask the
 * table; none of them switches on the kind.
 *
 * Private to core (berth__): the options reader works on the manifest's
 * reader (manifest-internal.h) and the container on the engine's probe
 * target, and the model already has an `enum berth_infra_kind` whose tag
 * a public `struct berth_infra_kind` would collide with. seed/ and the
 * snapshot will include this header as module internals. */
#ifndef BERTH_INFRA_INTERNAL_H
#define BERTH_INFRA_INTERNAL_H

#include <stdint.h>

#include "berth/err.h"
#include "berth/model.h"
#include "berth/probe.h"
#include "berth/strv.h"

struct berth__reader;
struct berth_node;

/* Gets (creating on first use) the secret key of scope in the project:
 * berth_state_secret behind a callback, so a kind never sees the state,
 * and tests give fixed secrets. */
typedef int (*berth__secret_fn)(void *ud, const char *scope, const char *key, char **ret,
                                berth_err *err);

/* What a kind gets: never the engine. */
struct berth__infra_ctx {
  const char *project;
  const struct berth_infra *in;
  berth__secret_fn secret;
  void *ud;
};

/* What an instance becomes; the engine copies it into its unit. The order
 * of env and cmd is part of the config hash: keep it stable. */
struct berth__infra_container {
  struct berth_strv env, cmd;
  const char *data_target; /* where the instance's data volume mounts */
  uint16_t ports[4];       /* published on host ports the engine picks */
  size_t n_ports;
  char *probe_password;       /* the probe authenticates with it (redis), or NULL */
  char *provision;            /* the script fed to provision_cmd, or NULL */
  struct berth_strv exec_env; /* environment of the provisioning exec */
  /* A file written into the container once it is created and before it
   * starts (file_path absolute, file its contents, or NULL): for a secret
   * that must not be in its command or environment, which `docker
   * inspect` shows (and the host's ps shows the command). */
  const char *file_path;
  char *file;
};

struct berth__infra_kind {
  const char *name; /* kind: in the manifest, the berth.kind label */
  enum berth_infra_kind id;
  const char *version;   /* default version */
  const char *image_key; /* templates/images.env key of the default version's image */
  uint16_t port;
  const char *scheme;  /* of its URLs, "postgres" */
  const char *env_var; /* berth env's variable: <INSTANCE>_<env_var> */
  /* Its own manifest keys (NULL-terminated) and their reader; kind,
   * version and image are read by manifest-infra.c. m may be NULL. */
  const char *const *keys;
  void (*read_options)(struct berth__reader *r, struct berth_infra *in, const struct berth_node *m,
                       const char *path);
  /* The container it becomes, its provisioning included. */
  int (*container)(const struct berth__infra_ctx *c, struct berth__infra_container *ret,
                   berth_err *err);
  enum berth_probe_proto probe;
  /* Provisioning: ret->provision is fed on stdin to provision_cmd in the
   * container once it answers; provision_key names it in the create body,
   * so a changed script recreates the container. */
  const char *const *provision_cmd;
  const char *provision_key;
  /* The URL a service gets for a `uses` entry, with credentials
   * percent-encoded: in-network (host is the instance's name, port its
   * own) for `uses`, or the host's (127.0.0.1, the published port) for
   * `berth env`. */
  int (*url)(const struct berth__infra_ctx *c, const struct berth_use *use, const char *host,
             uint16_t port, char **ret, berth_err *err);
  /* The seeds it takes (1 << enum berth_seed_kind), the first its
   * default. Loading them and snapshots are seed/'s: core does not call
   * seed/ (DESIGN.md's dependencies point one way), so the loaders are
   * seed/'s own table, keyed by the same kinds. */
  unsigned seeds;
};

extern const struct berth__infra_kind berth__infra_postgres, berth__infra_redis,
    berth__infra_rabbitmq;

/* The table, NULL-terminated, in the order messages list the kinds. */
extern const struct berth__infra_kind *const berth__infra_kinds[];
const struct berth__infra_kind *berth__infra_kind_find(const char *name);
const struct berth__infra_kind *berth__infra_kind_of(enum berth_infra_kind id);
/* The kind whose port a container publishes (ps' URL scheme), or NULL. */
const struct berth__infra_kind *berth__infra_kind_by_port(uint16_t port);

void berth__infra_container_release(struct berth__infra_container *c);

/* ---- helpers the kinds share (common.c) ---- */

/* Percent-encodes everything but RFC 3986's unreserved characters. */
char *berth__pct(const char *s);
/* Identifiers berth writes into SQL and shell, always quoted as well:
 * letters, digits, _ and -, at most 63, not starting with a digit. */
bool berth__safe_ident(const char *s);
/* A POSIX shell variable name: [A-Za-z_][A-Za-z0-9_]*. */
bool berth__env_name_ok(const char *s);
/* The manifest's identifiers are checked where they are read, so that
 * `config` refuses what `up` would: a name (berth__safe_ident), a vhost
 * (a name or "/"), or a variable name (berth__env_name_ok). */
enum berth__ident { BERTH__IDENT_NAME, BERTH__IDENT_VHOST, BERTH__IDENT_VAR };
/* False, with an error at n naming path, what it is and what is
 * allowed, when the scalar n is not one; true for anything else (its
 * reader reports a wrong type). */
bool berth__check_ident(struct berth__reader *r, const struct berth_node *n, const char *path,
                        const char *what, enum berth__ident kind);
/* The same for each item of a list (or a single scalar) of names. */
void berth__check_idents(struct berth__reader *r, const struct berth_node *n, const char *path,
                         const char *what, enum berth__ident kind);
/* A password of the manifest: a string of at most BERTH__SECRET_MAX
 * bytes, so that quoting it never reaches its bound. NULL when absent. */
#define BERTH__SECRET_MAX 4096
char *berth__read_secret(struct berth__reader *r, const struct berth_node *n, const char *path);
/* s as an SQL string literal ('' inside) or a single-quoted shell word
 * ('\'' inside), in *ret; fails (BERTH_E_TOO_BIG) rather than cut a value
 * whose quote would then stay open. */
int berth__sql_literal(const char *s, char **ret, berth_err *err);
int berth__sh_quote(const char *s, char **ret, berth_err *err);
/* A password given in the manifest, else the state's key of the instance. */
int berth__infra_secret(const struct berth__infra_ctx *c, const char *given, const char *key,
                        char **ret, berth_err *err);

#endif
