/* postgres: databases, their owner roles, schemas and extensions. The
 * superuser's password and each owner's come from the state unless the
 * manifest gives them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "cleanup.h"
#include "infra.h"
#include "manifest-internal.h"

static void read_databases(struct berth__reader *r, struct berth_infra *in,
                           const struct berth_node *n, const char *path) {
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  if (n->type != BERTH_NODE_SEQ) {
    berth__error(r, n, path, "expected a list of databases, found %s", berth_node_type_name(n));
    return;
  }
  static const char *const keys[] = {"name", "owner", "password", "schemas", "extensions", NULL};
  for (size_t i = 0; i < n->n; i++) {
    const struct berth_node *it = n->items[i];
    berth__pathf(p, "%s[%zu]", path, i);
    struct berth_pg_database *d = berth__grow(r, &in->databases, &in->n_databases, sizeof(*d));
    if (!d)
      return;
    if (berth__is_scalar(it)) {
      d->name = berth__strdup(r, it->value);
      continue;
    }
    const struct berth_node *m = berth__want_map(r, it, p);
    if (!m)
      continue;
    berth__check_keys(r, m, p, keys, NULL);
    d->name = berth__read_str(r, berth_node_get(m, "name"), berth__pathf(q, "%s.name", p));
    if (!d->name)
      berth__error(r, m, p, "a database needs a name");
    d->owner = berth__read_str(r, berth_node_get(m, "owner"), berth__pathf(q, "%s.owner", p));
    d->password =
        berth__read_str(r, berth_node_get(m, "password"), berth__pathf(q, "%s.password", p));
    berth__read_strv(r, berth_node_get(m, "schemas"), berth__pathf(q, "%s.schemas", p), &d->schemas,
                     false, false);
    berth__read_strv(r, berth_node_get(m, "extensions"), berth__pathf(q, "%s.extensions", p),
                     &d->extensions, false, false);
  }
}

static void read_options(struct berth__reader *r, struct berth_infra *in,
                         const struct berth_node *m, const char *path) {
  char q[BERTH__PATH_MAX];
  read_databases(r, in, berth_node_get(m, "databases"), berth__pathf(q, "%s.databases", path));
}

/* The owner role of a database and its password. */
static int owner_of(const struct berth__infra_ctx *c, const struct berth_pg_database *d,
                    const char **ret_owner, char **ret_pw, berth_err *err) {
  *ret_owner = d->owner ? d->owner : d->name;
  char key[128];
  snprintf(key, sizeof(key), "role:%s", *ret_owner);
  return berth__infra_secret(c, d->password, key, ret_pw, err);
}

static int database_sql(const struct berth__infra_ctx *c, const struct berth_pg_database *d,
                        struct berth_buf *b, berth_err *err) {
  const struct berth_infra *in = c->in;
  const char *owner;
  _cleanup_free_ char *pw = NULL, *lit = NULL;
  int r = owner_of(c, d, &owner, &pw, err);
  if (r < 0)
    return r;
  if (!berth__safe_ident(d->name) || !berth__safe_ident(owner))
    return berth_err_set(err, BERTH_E_INVALID,
                         "infra %s: database and role names must be letters, digits, _ or - "
                         "(got \"%s\" owned by \"%s\")",
                         in->name, d->name, owner);
  if (!(lit = berth__sql_literal(pw)))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  r = berth_buf_addf(b,
                     "DO $$BEGIN CREATE ROLE \"%s\" LOGIN PASSWORD %s; EXCEPTION WHEN "
                     "duplicate_object THEN ALTER ROLE \"%s\" LOGIN PASSWORD %s; END$$;\n",
                     owner, lit, owner, lit);
  if (r >= 0)
    r = berth_buf_addf(b,
                       "SELECT 'CREATE DATABASE \"%s\" OWNER \"%s\"' WHERE NOT EXISTS (SELECT FROM "
                       "pg_database WHERE datname = '%s')\\gexec\n",
                       d->name, owner, d->name);
  if (r >= 0)
    r = berth_buf_addf(b, "\\connect \"%s\"\n", d->name);
  for (size_t s = 0; s < d->schemas.n && r >= 0; s++) {
    if (!berth__safe_ident(d->schemas.v[s]))
      return berth_err_set(err, BERTH_E_INVALID, "infra %s: schema \"%s\" is not a plain name",
                           in->name, d->schemas.v[s]);
    r = berth_buf_addf(b, "CREATE SCHEMA IF NOT EXISTS \"%s\" AUTHORIZATION \"%s\";\n",
                       d->schemas.v[s], owner);
  }
  for (size_t x = 0; x < d->extensions.n && r >= 0; x++) {
    if (!berth__safe_ident(d->extensions.v[x]))
      return berth_err_set(err, BERTH_E_INVALID, "infra %s: extension \"%s\" is not a plain name",
                           in->name, d->extensions.v[x]);
    r = berth_buf_addf(b, "CREATE EXTENSION IF NOT EXISTS \"%s\";\n", d->extensions.v[x]);
  }
  if (r >= 0)
    r = berth_buf_addf(b, "\\connect postgres\n");
  return r < 0 ? berth_err_set(err, -r, "infra %s: the provisioning script is too big", in->name)
               : 0;
}

static int provision_sql(const struct berth__infra_ctx *c, const char *su, char **ret,
                         berth_err *err) {
  struct berth_buf b = BERTH_BUF_INIT(1 << 20);
  /* The superuser's password follows the state even over older data. */
  _cleanup_free_ char *su_lit = berth__sql_literal(su);
  int r =
      su_lit ? berth_buf_addf(&b, "ALTER ROLE postgres PASSWORD %s;\n", su_lit) : -BERTH_E_NOMEM;
  if (r < 0)
    r = berth_err_set(err, -r, "out of memory");
  for (size_t i = 0; i < c->in->n_databases && r >= 0; i++)
    r = database_sql(c, &c->in->databases[i], &b, err);
  if (r < 0) {
    berth_buf_release(&b);
    return r;
  }
  *ret = berth_buf_detach(&b);
  return 0;
}

static int container(const struct berth__infra_ctx *c, struct berth__infra_container *ret,
                     berth_err *err) {
  _cleanup_free_ char *pw = NULL;
  int r = c->secret(c->ud, c->in->name, "password", &pw, err);
  if (r < 0)
    return r;
  if (berth_strv_push(&ret->env, "POSTGRES_USER=postgres") < 0 ||
      berth_strv_pushf(&ret->env, "POSTGRES_PASSWORD=%s", pw) < 0 ||
      berth_strv_push(&ret->env, "POSTGRES_DB=postgres") < 0 ||
      berth_strv_pushf(&ret->exec_env, "PGPASSWORD=%s", pw) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  ret->data_target = "/var/lib/postgresql/data";
  ret->ports[ret->n_ports++] = 5432;
  return provision_sql(c, pw, &ret->provision, err);
}

static int url(const struct berth__infra_ctx *c, const struct berth_use *use, const char *host,
               uint16_t port, char **ret, berth_err *err) {
  const struct berth_infra *in = c->in;
  const struct berth_pg_database *d = NULL;
  for (size_t i = 0; i < in->n_databases && !d; i++)
    if (!use->database || !strcmp(in->databases[i].name, use->database))
      d = &in->databases[i];
  _cleanup_free_ char *pw = NULL, *epw = NULL;
  const char *user = "postgres", *db = use->database ? use->database : "postgres";
  int r;
  if (d) {
    r = owner_of(c, d, &user, &pw, err);
    db = d->name;
  } else {
    r = c->secret(c->ud, in->name, "password", &pw, err);
  }
  if (r < 0)
    return r;
  if (!(epw = berth__pct(pw)) ||
      asprintf(ret, "postgres://%s:%s@%s:%u/%s", user, epw, host, port, db) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  return 0;
}

static const char *const keys[] = {"databases", NULL};
/* Over the unix socket, which the image trusts: works even when the data
 * predates the password in berth's state. */
static const char *const psql[] = {"psql",     "-v", "ON_ERROR_STOP=1", "-q", "-U",
                                   "postgres", "-d", "postgres",        NULL};

const struct berth__infra_kind berth__infra_postgres = {
    .name = "postgres",
    .id = BERTH_INFRA_POSTGRES,
    .version = "15",
    .image_key = "BERTH_POSTGRES_IMAGE",
    .port = 5432,
    .scheme = "postgres",
    .env_var = "DATABASE_URL",
    .keys = keys,
    .read_options = read_options,
    .container = container,
    .probe = BERTH_PROTO_POSTGRES,
    .provision_cmd = psql,
    .provision_key = "x-berth-sql",
    .url = url,
    .seed = NULL,     /* the seed loader (next issue) */
    .snapshot = NULL, /* the snapshot (next issue) */
};
