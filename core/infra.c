/* Built-in infra kinds: what container each becomes (image, environment,
 * data volume, published port, protocol probe), how it is provisioned once
 * it answers (databases, roles, schemas, extensions; vhosts, users,
 * permissions), and the URL a service that uses it receives.
 * Credentials are generated once per project and kept in the state. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "cleanup.h"
#include "engine-internal.h"

static const uint16_t default_port[] = {5432, 6379, 5672};

/* Percent-encodes everything but unreserved characters (RFC 3986). */
static char *pct(const char *s) {
  char *out = malloc(strlen(s) * 3 + 1), *o = out;
  if (!out)
    return NULL;
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (isalnum(*c) || strchr("-._~", *c))
      *o++ = (char)*c;
    else
      o += sprintf(o, "%%%02X", *c);
  }
  *o = '\0';
  return out;
}

/* Identifiers berth writes into SQL and shell: kept to a safe alphabet so
 * no quoting question arises. */
static bool safe_ident(const char *s) {
  if (!s || !*s || strlen(s) > 63 || !(isalpha((unsigned char)*s) || *s == '_'))
    return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
      return false;
  return true;
}

static int secret(struct berth__engine *e, const char *scope, const char *key, char **ret,
                  berth_err *err) {
  if (!e->o->state)
    return berth_err_set(err, BERTH_E_INVALID, "infra %s needs berth's state for its credentials",
                         scope);
  return berth_state_secret(e->o->state, e->p->name, scope, key, ret, err);
}

/* The password of a postgres database's owner role. */
static int pg_owner(struct berth__engine *e, const struct berth_infra *in,
                    const struct berth_pg_database *d, const char **ret_owner, char **ret_pw,
                    berth_err *err) {
  *ret_owner = d->owner ? d->owner : d->name;
  if (d->password)
    return (*ret_pw = strdup(d->password)) ? 0 : berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  char key[128];
  snprintf(key, sizeof(key), "role:%s", *ret_owner);
  return secret(e, in->name, key, ret_pw, err);
}

static int mq_user_password(struct berth__engine *e, const struct berth_infra *in,
                            const struct berth_mq_user *u, char **ret, berth_err *err) {
  if (u->password)
    return (*ret = strdup(u->password)) ? 0 : berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  char key[128];
  snprintf(key, sizeof(key), "user:%s", u->name);
  return secret(e, in->name, key, ret, err);
}

static char *sql_literal(const char *s) {
  struct berth_buf b = BERTH_BUF_INIT(1 << 16);
  berth_buf_add(&b, "'", 1);
  for (; *s; s++)
    berth_buf_add(&b, *s == '\'' ? "''" : s, *s == '\'' ? 2 : 1);
  berth_buf_add(&b, "'", 1);
  return berth_buf_detach(&b);
}

static char *sh_quote(const char *s) {
  struct berth_buf b = BERTH_BUF_INIT(1 << 16);
  berth_buf_add(&b, "'", 1);
  for (; *s; s++)
    berth_buf_add(&b, *s == '\'' ? "'\\''" : s, *s == '\'' ? 4 : 1);
  berth_buf_add(&b, "'", 1);
  return berth_buf_detach(&b);
}

static int postgres_sql(struct berth__engine *e, const struct berth_infra *in, char **ret,
                        berth_err *err) {
  struct berth_buf b = BERTH_BUF_INIT(1 << 20);
  _cleanup_free_ char *su = NULL;
  int r = secret(e, in->name, "password", &su, err);
  if (r < 0)
    return r;
  /* The superuser's password follows the state even over older data. */
  _cleanup_free_ char *su_lit = sql_literal(su);
  berth_buf_addf(&b, "ALTER ROLE postgres PASSWORD %s;\n", su_lit);
  for (size_t i = 0; i < in->n_databases && r >= 0; i++) {
    const struct berth_pg_database *d = &in->databases[i];
    const char *owner;
    _cleanup_free_ char *pw = NULL;
    if ((r = pg_owner(e, in, d, &owner, &pw, err)) < 0)
      break;
    if (!safe_ident(d->name) || !safe_ident(owner)) {
      r = berth_err_set(err, BERTH_E_INVALID,
                        "infra %s: database and role names must be letters, digits, _ or - "
                        "(got \"%s\" owned by \"%s\")",
                        in->name, d->name, owner);
      break;
    }
    _cleanup_free_ char *lit = sql_literal(pw);
    berth_buf_addf(&b,
                   "DO $$BEGIN CREATE ROLE \"%s\" LOGIN PASSWORD %s; EXCEPTION WHEN "
                   "duplicate_object THEN ALTER ROLE \"%s\" LOGIN PASSWORD %s; END$$;\n",
                   owner, lit, owner, lit);
    berth_buf_addf(&b,
                   "SELECT 'CREATE DATABASE \"%s\" OWNER \"%s\"' WHERE NOT EXISTS (SELECT FROM "
                   "pg_database WHERE datname = '%s')\\gexec\n",
                   d->name, owner, d->name);
    berth_buf_addf(&b, "\\connect \"%s\"\n", d->name);
    for (size_t s = 0; s < d->schemas.n; s++) {
      if (!safe_ident(d->schemas.v[s])) {
        r = berth_err_set(err, BERTH_E_INVALID, "infra %s: schema \"%s\" is not a plain name",
                          in->name, d->schemas.v[s]);
        break;
      }
      berth_buf_addf(&b, "CREATE SCHEMA IF NOT EXISTS \"%s\" AUTHORIZATION \"%s\";\n",
                     d->schemas.v[s], owner);
    }
    for (size_t x = 0; x < d->extensions.n && r >= 0; x++) {
      if (!safe_ident(d->extensions.v[x])) {
        r = berth_err_set(err, BERTH_E_INVALID, "infra %s: extension \"%s\" is not a plain name",
                          in->name, d->extensions.v[x]);
        break;
      }
      berth_buf_addf(&b, "CREATE EXTENSION IF NOT EXISTS \"%s\";\n", d->extensions.v[x]);
    }
    berth_buf_addf(&b, "\\connect postgres\n");
  }
  if (r < 0) {
    berth_buf_release(&b);
    return r;
  }
  *ret = b.len ? berth_buf_detach(&b) : NULL;
  berth_buf_release(&b);
  return 0;
}

static int rabbitmq_sh(struct berth__engine *e, const struct berth_infra *in, char **ret,
                       berth_err *err) {
  struct berth_buf b = BERTH_BUF_INIT(1 << 20);
  int r = 0;
  /* The first vhost is the image's default vhost; the others, users and
   * permissions need rabbitmqctl (idempotent forms). */
  for (size_t i = 1; i < in->vhosts.n && r >= 0; i++) {
    if (!safe_ident(in->vhosts.v[i])) {
      r = berth_err_set(err, BERTH_E_INVALID, "infra %s: vhost \"%s\" is not a plain name",
                        in->name, in->vhosts.v[i]);
      break;
    }
    /* Each step tolerates its object existing: a killed earlier up may
     * still be provisioning in the container at the same time. */
    berth_buf_addf(&b,
                   "rabbitmqctl -q add_vhost '%s' 2>/dev/null || rabbitmqctl -q list_vhosts | "
                   "grep -qx '%s'\n"
                   "rabbitmqctl -q set_permissions -p '%s' berth '.*' '.*' '.*'\n",
                   in->vhosts.v[i], in->vhosts.v[i], in->vhosts.v[i]);
  }
  for (size_t i = 0; i < in->n_users && r >= 0; i++) {
    const struct berth_mq_user *u = &in->users[i];
    _cleanup_free_ char *pw = NULL, *qpw = NULL;
    if (!safe_ident(u->name)) {
      r = berth_err_set(err, BERTH_E_INVALID, "infra %s: user \"%s\" is not a plain name", in->name,
                        u->name ? u->name : "");
      break;
    }
    if ((r = mq_user_password(e, in, u, &pw, err)) < 0)
      break;
    qpw = sh_quote(pw);
    berth_buf_addf(&b,
                   "rabbitmqctl -q add_user '%s' %s 2>/dev/null || rabbitmqctl -q "
                   "change_password '%s' %s\n",
                   u->name, qpw, u->name, qpw);
    if (u->tags.n) {
      berth_buf_addf(&b, "rabbitmqctl -q set_user_tags '%s'", u->name);
      for (size_t t = 0; t < u->tags.n; t++)
        if (safe_ident(u->tags.v[t]))
          berth_buf_addf(&b, " '%s'", u->tags.v[t]);
      berth_buf_addf(&b, "\n");
    }
    for (size_t k = 0; k < u->n_permissions; k++) {
      const struct berth_mq_permission *pm = &u->permissions[k];
      _cleanup_free_ char *c = sh_quote(pm->configure), *w = sh_quote(pm->write),
                          *rd = sh_quote(pm->read), *v = sh_quote(pm->vhost);
      berth_buf_addf(&b, "rabbitmqctl -q set_permissions -p %s '%s' %s %s %s\n", v, u->name, c, w,
                     rd);
    }
  }
  if (r < 0) {
    berth_buf_release(&b);
    return r;
  }
  *ret = b.len ? berth_buf_detach(&b) : NULL;
  berth_buf_release(&b);
  return 0;
}

static void add_env(struct berth__engine *e, struct berth__unit *u, const char *k, const char *v) {
  berth__strv_add(e, &u->env, "%s=%s", k, v);
}

int berth__infra_unit(struct berth__engine *e, struct berth__unit *u, berth_err *err) {
  const struct berth_infra *in = u->infra;
  _cleanup_free_ char *pw = NULL, *vol = NULL, *volname = NULL;
  if (asprintf(&volname, "%s-data", in->name) < 0 ||
      !(vol = berth__object_name(e->p->name, volname)) || !(u->image = strdup(in->image)))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  u->n_mounts = 1;
  u->mounts = calloc(1, sizeof(*u->mounts));
  u->ports = calloc(2, sizeof(*u->ports));
  if (!u->mounts || !u->ports)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  u->mounts[0] = (struct berth_docker_mount){.type = BERTH_MOUNT_VOLUME, .source = TAKE_PTR(vol)};
  u->ports[0] = (struct berth_docker_port){.container_port = default_port[in->kind]};
  u->n_ports = 1;
  u->probe = UP_PROTO;
  u->target.port = default_port[in->kind];
  u->target.timeout_ms = 1000;
  int r;
  switch (in->kind) {
  case BERTH_INFRA_POSTGRES:
    if ((r = secret(e, in->name, "password", &pw, err)) < 0)
      return r;
    add_env(e, u, "POSTGRES_USER", "postgres");
    add_env(e, u, "POSTGRES_PASSWORD", pw);
    add_env(e, u, "POSTGRES_DB", "postgres");
    u->mounts[0].target = "/var/lib/postgresql/data";
    u->target.proto = BERTH_PROTO_POSTGRES;
    return postgres_sql(e, in, &u->provision_sql, err);
  case BERTH_INFRA_REDIS:
    if (in->password)
      pw = strdup(in->password);
    else if ((r = secret(e, in->name, "password", &pw, err)) < 0)
      return r;
    if (!pw)
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    berth__strv_add(e, &u->cmd, "redis-server");
    berth__strv_add(e, &u->cmd, "--requirepass");
    berth__strv_add(e, &u->cmd, "%s", pw);
    if (!strcmp(in->persistence, "none")) {
      berth__strv_add(e, &u->cmd, "--save");
      berth__strv_add(e, &u->cmd, "%s", "");
      berth__strv_add(e, &u->cmd, "--appendonly");
      berth__strv_add(e, &u->cmd, "no");
    } else if (!strcmp(in->persistence, "aof")) {
      berth__strv_add(e, &u->cmd, "--appendonly");
      berth__strv_add(e, &u->cmd, "yes");
    }
    u->mounts[0].target = "/data";
    u->target.proto = BERTH_PROTO_REDIS;
    u->redis_password = TAKE_PTR(pw);
    u->target.password = u->redis_password;
    return 0;
  case BERTH_INFRA_RABBITMQ:
    if ((r = secret(e, in->name, "password", &pw, err)) < 0)
      return r;
    add_env(e, u, "RABBITMQ_DEFAULT_USER", "berth");
    add_env(e, u, "RABBITMQ_DEFAULT_PASS", pw);
    add_env(e, u, "RABBITMQ_DEFAULT_VHOST", in->vhosts.n ? in->vhosts.v[0] : "/");
    if (in->management) {
      add_env(e, u, "RABBITMQ_ENABLE_MANAGEMENT", "true");
      u->ports[1] = (struct berth_docker_port){.container_port = 15672};
      u->n_ports = 2;
    }
    u->mounts[0].target = "/var/lib/rabbitmq";
    u->target.proto = BERTH_PROTO_AMQP;
    return rabbitmq_sh(e, in, &u->provision_sh, err);
  }
  return berth_err_set(err, BERTH_E_INVALID, "unknown infra kind");
}

int berth__infra_use_env(struct berth__engine *e, const struct berth_infra *in,
                         const struct berth_use *use, const char *host, uint16_t port, char **ret,
                         berth_err *err) {
  _cleanup_free_ char *pw = NULL, *epw = NULL, *path = NULL;
  const char *user = NULL;
  int r = 0;
  if (!port)
    port = default_port[in->kind];
  switch (in->kind) {
  case BERTH_INFRA_POSTGRES: {
    const struct berth_pg_database *d = NULL;
    for (size_t i = 0; i < in->n_databases; i++)
      if (!use->database || !strcmp(in->databases[i].name, use->database)) {
        d = &in->databases[i];
        break;
      }
    if (d) {
      r = pg_owner(e, in, d, &user, &pw, err);
      path = strdup(d->name);
    } else {
      user = "postgres";
      r = secret(e, in->name, "password", &pw, err);
      path = strdup(use->database ? use->database : "postgres");
    }
    if (r < 0)
      return r;
    epw = pw ? pct(pw) : NULL;
    if (!epw || !path ||
        asprintf(ret, "%s=postgres://%s:%s@%s:%u/%s", use->as, user, epw, host, port, path) < 0)
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    return 0;
  }
  case BERTH_INFRA_REDIS:
    if (in->password)
      pw = strdup(in->password);
    else if ((r = secret(e, in->name, "password", &pw, err)) < 0)
      return r;
    epw = pw ? pct(pw) : NULL;
    if (!epw || asprintf(ret, "%s=redis://:%s@%s:%u/0", use->as, epw, host, port) < 0)
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    return 0;
  case BERTH_INFRA_RABBITMQ: {
    const char *vhost = use->vhost ? use->vhost : in->vhosts.n ? in->vhosts.v[0] : "/";
    const struct berth_mq_user *who = NULL;
    for (size_t i = 0; i < in->n_users && !who; i++)
      for (size_t k = 0; k < in->users[i].n_permissions; k++)
        if (!strcmp(in->users[i].permissions[k].vhost, vhost))
          who = &in->users[i];
    if (who) {
      user = who->name;
      r = mq_user_password(e, in, who, &pw, err);
    } else {
      user = "berth";
      r = secret(e, in->name, "password", &pw, err);
    }
    if (r < 0)
      return r;
    epw = pct(pw);
    path = pct(vhost);
    if (!epw || !path ||
        asprintf(ret, "%s=amqp://%s:%s@%s:%u/%s", use->as, user, epw, host, port, path) < 0)
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    return 0;
  }
  }
  return berth_err_set(err, BERTH_E_INVALID, "unknown infra kind");
}
