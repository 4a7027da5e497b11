/* postgres: databases, their owner roles, schemas and extensions. The
 * superuser's password and each owner's come from the state unless the
 * manifest gives them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "cleanup.h"
#include "hash.h"
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
      berth__check_ident(r, it, p, "database name", BERTH__IDENT_NAME);
      d->name = berth__strdup(r, it->value);
      continue;
    }
    const struct berth_node *m = berth__want_map(r, it, p);
    if (!m)
      continue;
    berth__check_keys(r, m, p, keys, NULL);
    const struct berth_node *name = berth_node_get(m, "name"), *owner = berth_node_get(m, "owner");
    d->name = berth__read_str(r, name, berth__pathf(q, "%s.name", p));
    if (!d->name)
      berth__error(r, m, p, "a database needs a name");
    else
      berth__check_ident(r, name, q, "database name", BERTH__IDENT_NAME);
    d->owner = berth__read_str(r, owner, berth__pathf(q, "%s.owner", p));
    berth__check_ident(r, owner, q, "role name", BERTH__IDENT_NAME);
    d->password =
        berth__read_secret(r, berth_node_get(m, "password"), berth__pathf(q, "%s.password", p));
    const struct berth_node *schemas = berth_node_get(m, "schemas"),
                            *extensions = berth_node_get(m, "extensions");
    berth__read_strv(r, schemas, berth__pathf(q, "%s.schemas", p), &d->schemas, false, false);
    berth__check_idents(r, schemas, q, "schema name", BERTH__IDENT_NAME);
    berth__read_strv(r, extensions, berth__pathf(q, "%s.extensions", p), &d->extensions, false,
                     false);
    berth__check_idents(r, extensions, q, "extension name", BERTH__IDENT_NAME);
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

/* A dollar-quote tag that does not occur in body, which holds passwords
 * ("$$" in one would end a $$ body). It is derived from the body rather
 * than random, since the script is part of the config hash and must be
 * the same at every up; a password made to contain every candidate is
 * refused, never run. */
static int dollar_tag(const char *body, char tag[24], berth_err *err) {
  uint64_t h = berth_fnv1a(BERTH_FNV_INIT, body, strlen(body));
  for (int i = 0; i < 8; i++, h = berth_fnv1a(h, "$", 1)) {
    snprintf(tag, 24, "$b%016llx$", (unsigned long long)h);
    if (!strstr(body, tag))
      return 0;
  }
  return berth_err_set(err, BERTH_E_INVALID, "no dollar-quote tag fits the role's password");
}

/* The owner role, created or given its password: one DO block, so that
 * a role that appears meanwhile (a killed earlier up still provisioning)
 * is altered instead. */
static int role_sql(const char *owner, const char *pw, struct berth_buf *b, berth_err *err) {
  _cleanup_free_ char *lit = NULL, *body = NULL;
  char tag[24];
  int r = berth__sql_literal(pw, &lit, err);
  if (r < 0)
    return r;
  if (asprintf(&body,
               "BEGIN CREATE ROLE \"%s\" LOGIN PASSWORD %s; EXCEPTION WHEN duplicate_object THEN "
               "ALTER ROLE \"%s\" LOGIN PASSWORD %s; END",
               owner, lit, owner, lit) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  if ((r = dollar_tag(body, tag, err)) < 0)
    return r;
  if ((r = berth_buf_addf(b, "DO %s%s%s;\n", tag, body, tag)) < 0)
    return berth_err_set(err, -r, "the provisioning script is too big");
  return 0;
}

static int database_sql(const struct berth__infra_ctx *c, const struct berth_pg_database *d,
                        struct berth_buf *b, berth_err *err) {
  const struct berth_infra *in = c->in;
  const char *owner;
  _cleanup_free_ char *pw = NULL;
  int r = owner_of(c, d, &owner, &pw, err);
  if (r < 0)
    return r;
  /* The manifest's reader refused these already; the model may come from
   * elsewhere. */
  if (!berth__safe_ident(d->name) || !berth__safe_ident(owner))
    return berth_err_set(err, BERTH_E_INVALID,
                         "infra %s: database and role names must be letters, digits, _ or - "
                         "(got \"%s\" owned by \"%s\")",
                         in->name, d->name, owner);
  if ((r = role_sql(owner, pw, b, err)) < 0)
    return berth_err_wrap(err, "infra %s: the role %s", in->name, owner);
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
  _cleanup_free_ char *su_lit = NULL;
  int r = berth__sql_literal(su, &su_lit, err);
  if (r < 0)
    r = berth_err_wrap(err, "infra %s: the superuser's password", c->in->name);
  else if ((r = berth_buf_addf(&b, "ALTER ROLE postgres PASSWORD %s;\n", su_lit)) < 0)
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
    .seeds = (1u << BERTH_SEED_SQL) | (1u << BERTH_SEED_CSV),
};
