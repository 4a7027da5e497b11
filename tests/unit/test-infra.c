/* core/infra/: the table of kinds, each kind's defaults, the options it
 * reads (through a manifest load), the container it becomes, its
 * provisioning script, and its URLs, with credentials percent-encoded and
 * identifiers quoted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth/manifest.h"
#include "fixture.h"
#include "infra/infra.h"

static void expect_error(const char *text, const char *want) {
  char *diags = NULL;
  struct berth_project *p = fixture_load(text, &diags);
  assert_null(p);
  assert_contains(diags, want);
  free(diags);
}

static int fake_secret(void *ud, const char *scope, const char *key, char **ret, berth_err *err) {
  const char *fixed = ud;
  if (fixed)
    return (*ret = strdup(fixed)) ? 0 : berth_err_set(err, BERTH_E_NOMEM, "oom");
  return asprintf(ret, "pw-%s-%s", scope, key) < 0 ? berth_err_set(err, BERTH_E_NOMEM, "oom") : 0;
}

static void test_table(void **state) {
  (void)state;
  static const struct {
    const char *name, *version, *image_key, *scheme, *env_var;
    uint16_t port;
    enum berth_infra_kind id;
  } want[] = {
      {"postgres", "15", "BERTH_POSTGRES_IMAGE", "postgres", "DATABASE_URL", 5432,
       BERTH_INFRA_POSTGRES},
      {"redis", "7", "BERTH_REDIS_IMAGE", "redis", "REDIS_URL", 6379, BERTH_INFRA_REDIS},
      {"rabbitmq", "3", "BERTH_RABBITMQ_IMAGE", "amqp", "AMQP_URL", 5672, BERTH_INFRA_RABBITMQ},
  };
  size_t n = 0;
  while (berth__infra_kinds[n])
    n++;
  assert_int_equal(n, 3);
  for (size_t i = 0; i < n; i++) {
    const struct berth__infra_kind *k = berth__infra_kind_find(want[i].name);
    assert_non_null(k);
    assert_ptr_equal(k, berth__infra_kinds[i]);
    assert_ptr_equal(berth__infra_kind_of(want[i].id), k);
    assert_ptr_equal(berth__infra_kind_by_port(want[i].port), k);
    assert_string_equal(berth_infra_kind_name(want[i].id), want[i].name);
    assert_string_equal(k->version, want[i].version);
    assert_string_equal(k->image_key, want[i].image_key);
    assert_string_equal(k->scheme, want[i].scheme);
    assert_string_equal(k->env_var, want[i].env_var);
    assert_int_equal(k->port, want[i].port);
    assert_non_null(k->read_options);
    assert_non_null(k->container);
    assert_non_null(k->url);
    assert_true(k->seeds != 0); /* every kind takes seeds */
  }
  assert_null(berth__infra_kind_find("mysql"));
  assert_null(berth__infra_kind_by_port(80));
}

static void test_manifest_defaults(void **state) {
  (void)state;
  struct berth_project *p = fixture_load("infra:\n"
                                         "  postgres: {}\n"
                                         "  cache: {kind: redis}\n"
                                         "  mq: {kind: rabbitmq, version: \"3.13\"}\n"
                                         "  db2: {kind: postgres, image: \"my/pg:1\"}\n",
                                         NULL);
  assert_int_equal(p->n_infra, 4);
  assert_int_equal(p->infra[0].kind, BERTH_INFRA_POSTGRES);
  assert_string_equal(p->infra[0].version, "15");
  assert_string_equal(p->infra[0].image, "berth-local/postgres:15"); /* images.env */
  assert_int_equal(p->infra[1].kind, BERTH_INFRA_REDIS);
  assert_string_equal(p->infra[1].persistence, "none");
  assert_string_equal(p->infra[2].image, "rabbitmq:3.13"); /* not the default: official */
  assert_string_equal(p->infra[3].image, "my/pg:1");
  berth_project_free(p);
}

static void test_manifest_option_errors(void **state) {
  (void)state;
  expect_error("infra:\n  db: {kind: mysql}\n",
               "infra.db.kind: unknown kind \"mysql\"; berth knows postgres, redis and rabbitmq");
  expect_error(
      "infra:\n  search: {}\n",
      "infra.search.kind: \"search\" is not a kind; add kind: postgres, redis or rabbitmq");
  expect_error("infra:\n  cache: {kind: redis, databases: [a]}\n",
               "infra.cache.databases: databases is for postgres instances, not redis");
  expect_error("infra:\n  db: {kind: postgres, vhosts: [a]}\n",
               "infra.db.vhosts: vhosts is for rabbitmq instances, not postgres");
  expect_error("infra:\n  db: {kind: postgres, persistence: aof}\n",
               "infra.db.persistence: persistence is for redis instances, not postgres");
  expect_error("infra:\n  cache: {kind: redis, persistence: sometimes}\n",
               "infra.cache.persistence: unknown persistence \"sometimes\"; use none, rdb or aof");
  expect_error("infra:\n  db: {kind: postgres, databases: [{owner: x}]}\n",
               "infra.db.databases[0]: a database needs a name");
  expect_error("infra:\n  mq:\n    kind: rabbitmq\n    vhosts: [a]\n"
               "    users: [{name: u, permissions: {b: {}}}]\n",
               "the vhost \"b\" is not in this instance's vhosts");
  expect_error("infra:\n  db: {kind: postgres, colour: blue}\n", "infra.db.colour");
}

/* The container of the first instance of text, with fixed secrets. */
static void container_of(const char *text, const char *secret, struct berth_project **ret_p,
                         struct berth__infra_container *ret) {
  struct berth_project *p = fixture_load(text, NULL);
  const struct berth__infra_kind *k = berth__infra_kind_of(p->infra[0].kind);
  struct berth__infra_ctx c = {
      .project = p->name, .in = &p->infra[0], .secret = fake_secret, .ud = (void *)secret};
  *ret = (struct berth__infra_container){0};
  berth_err err = NULL;
  if (k->container(&c, ret, &err) < 0)
    fail_msg("container: %s", err->msg);
  *ret_p = p;
}

static void test_postgres_container(void **state) {
  (void)state;
  struct berth_project *p;
  struct berth__infra_container c;
  container_of("infra:\n  db:\n    kind: postgres\n    databases:\n"
               "      - {name: app, owner: app_owner, schemas: [s1], extensions: [pgcrypto]}\n"
               "      - {name: other, password: \"it's\"}\n",
               NULL, &p, &c);
  assert_int_equal(c.env.n, 3);
  assert_string_equal(c.env.v[0], "POSTGRES_USER=postgres");
  assert_string_equal(c.env.v[1], "POSTGRES_PASSWORD=pw-db-password");
  assert_string_equal(c.env.v[2], "POSTGRES_DB=postgres");
  assert_int_equal(c.cmd.n, 0);
  assert_string_equal(c.data_target, "/var/lib/postgresql/data");
  assert_int_equal(c.n_ports, 1);
  assert_int_equal(c.ports[0], 5432);
  assert_string_equal(c.exec_env.v[0], "PGPASSWORD=pw-db-password");
  /* Identifiers double-quoted, passwords as SQL literals ('' inside). */
  assert_contains(c.provision, "ALTER ROLE postgres PASSWORD 'pw-db-password';\n");
  assert_contains(c.provision, "DO $b");
  assert_contains(c.provision, "$BEGIN CREATE ROLE \"app_owner\" LOGIN PASSWORD "
                               "'pw-db-role:app_owner'; EXCEPTION WHEN duplicate_object THEN ALTER "
                               "ROLE \"app_owner\" LOGIN PASSWORD 'pw-db-role:app_owner'; END$b");
  assert_contains(c.provision, "SELECT 'CREATE DATABASE \"app\" OWNER \"app_owner\"' WHERE NOT "
                               "EXISTS (SELECT FROM pg_database WHERE datname = 'app')\\gexec\n");
  assert_contains(c.provision, "\\connect \"app\"\nCREATE SCHEMA IF NOT EXISTS \"s1\" "
                               "AUTHORIZATION \"app_owner\";\n");
  assert_contains(c.provision, "CREATE EXTENSION IF NOT EXISTS \"pgcrypto\";\n");
  assert_contains(c.provision, "CREATE ROLE \"other\" LOGIN PASSWORD 'it''s';");
  assert_string_equal(berth__infra_postgres.provision_cmd[0], "psql");
  berth__infra_container_release(&c);
  berth_project_free(p);
}

/* The provisioning script refuses unsafe names by itself too, for a
 * model that did not come from the manifest's reader. */
static void test_postgres_rejects_unsafe_names(void **state) {
  (void)state;
  for (size_t i = 0; i < 3; i++) {
    struct berth_project *p = fixture_load(
        "infra:\n  db: {kind: postgres, databases: [{name: app, schemas: [s], extensions: [e]}]}\n",
        NULL);
    struct berth_pg_database *d = &p->infra[0].databases[0];
    char **slot = i == 0 ? &d->name : i == 1 ? &d->schemas.v[0] : &d->extensions.v[0];
    free(*slot);
    *slot = strdup("a\"; DROP TABLE x; --");
    struct berth__infra_ctx c = {.project = p->name, .in = &p->infra[0], .secret = fake_secret};
    struct berth__infra_container ic = {0};
    berth_err err = NULL;
    assert_true(berth__infra_postgres.container(&c, &ic, &err) < 0);
    assert_int_equal(berth_err_code(err), BERTH_E_INVALID);
    assert_contains(berth_err_root_msg(err), "infra db: ");
    berth_err_free(&err);
    berth__infra_container_release(&ic);
    berth_project_free(p);
  }
}

/* The role's DO block: a password holding "$$", or anything like a tag,
 * stays inside its body, which ends only where the block does. */
static void test_postgres_dollar_quoting(void **state) {
  (void)state;
  static const struct {
    const char *yaml, *pw;
  } pws[] = {
      /* $$ in the manifest is one $ (interpolation). */
      {"\"x$$$$; DROP ROLE postgres; --\"", "x$$; DROP ROLE postgres; --"},
      {"\"$$b$$ $$$$ $$x$$\"", "$b$ $$ $x$"},
      {"\"''$$$$'$$$$\"", "''$$'$$"},
  };
  for (size_t i = 0; i < sizeof(pws) / sizeof(*pws); i++) {
    char text[256];
    snprintf(text, sizeof(text),
             "infra:\n  db:\n    kind: postgres\n    databases: [{name: app, password: %s}]\n",
             pws[i].yaml);
    struct berth_project *p;
    struct berth__infra_container c;
    container_of(text, NULL, &p, &c);
    assert_string_equal(p->infra[0].databases[0].password, pws[i].pw);
    const char *open = strstr(c.provision, "DO $b");
    assert_non_null(open);
    const char *tag = open + 3, *tag_end = strchr(tag + 1, '$');
    assert_non_null(tag_end);
    size_t tl = (size_t)(tag_end - tag) + 1;
    char t[32];
    assert_true(tl < sizeof(t) && tl > 2);
    memcpy(t, tag, tl);
    t[tl] = '\0';
    /* The first occurrence of the tag after the opening one closes the
     * block, and what follows is the next statement. */
    const char *close = strstr(tag + tl, t);
    assert_non_null(close);
    assert_string_equal(close + tl, ";\nSELECT 'CREATE DATABASE \"app\" OWNER \"app\"' WHERE NOT "
                                    "EXISTS (SELECT FROM pg_database WHERE datname = "
                                    "'app')\\gexec\n\\connect \"app\"\n\\connect postgres\n");
    char *lit = NULL, *body = strndup(tag + tl, (size_t)(close - (tag + tl)));
    berth_err err = NULL;
    assert_int_equal(berth__sql_literal(pws[i].pw, &lit, &err), 0);
    assert_contains(body, lit);
    free(body);
    free(lit);
    berth__infra_container_release(&c);
    berth_project_free(p);
  }
}

static void test_redis_container(void **state) {
  (void)state;
  struct berth_project *p;
  struct berth__infra_container c;
  container_of("infra:\n  cache: {kind: redis}\n", NULL, &p, &c);
  /* The password is in the config file, never on the command line or in
   * the environment, which `docker inspect` shows. */
  const char *const none[] = {
      "redis-server", "/usr/local/etc/redis/redis.conf", "--save", "", "--appendonly", "no"};
  assert_int_equal(c.cmd.n, 6);
  for (size_t i = 0; i < 6; i++)
    assert_string_equal(c.cmd.v[i], none[i]);
  assert_string_equal(c.file_path, "/usr/local/etc/redis/redis.conf");
  assert_string_equal(c.file, "requirepass \"pw-cache-password\"\n");
  assert_int_equal(c.env.n, 0);
  assert_string_equal(c.probe_password, "pw-cache-password");
  assert_string_equal(c.data_target, "/data");
  assert_int_equal(c.ports[0], 6379);
  assert_null(c.provision);
  berth__infra_container_release(&c);
  berth_project_free(p);

  container_of("infra:\n  cache: {kind: redis, password: given, persistence: aof}\n", NULL, &p, &c);
  assert_int_equal(c.cmd.n, 4);
  assert_string_equal(c.cmd.v[2], "--appendonly");
  assert_string_equal(c.cmd.v[3], "yes");
  assert_string_equal(c.file, "requirepass \"given\"\n");
  berth__infra_container_release(&c);
  berth_project_free(p);

  container_of("infra:\n  cache: {kind: redis, persistence: rdb}\n", NULL, &p, &c);
  assert_int_equal(c.cmd.n, 2); /* the image's default: snapshots */
  berth__infra_container_release(&c);
  berth_project_free(p);

  /* Quotes, backslashes and control characters as \xHH, which redis's
   * config parser reads back inside double quotes. */
  container_of("infra:\n  cache: {kind: redis, password: \"a\\\"b\\\\c\\nd $$e\"}\n", NULL, &p, &c);
  assert_string_equal(p->infra[0].password, "a\"b\\c\nd $e");
  assert_string_equal(c.file, "requirepass \"a\\x22b\\x5cc\\x0ad $e\"\n");
  assert_string_equal(c.probe_password, "a\"b\\c\nd $e");
  berth__infra_container_release(&c);
  berth_project_free(p);
}

static void test_rabbitmq_container(void **state) {
  (void)state;
  struct berth_project *p;
  struct berth__infra_container c;
  container_of(
      "infra:\n  mq:\n    kind: rabbitmq\n    management: true\n    vhosts: [main, jobs]\n"
      "    users:\n      - name: app\n        password: \"o'k\"\n        tags: [monitoring]\n"
      "        permissions: {jobs: {read: \"^q\\\\.\"}}\n",
      NULL, &p, &c);
  assert_int_equal(c.env.n, 4);
  assert_string_equal(c.env.v[0], "RABBITMQ_DEFAULT_USER=berth");
  assert_string_equal(c.env.v[1], "RABBITMQ_DEFAULT_PASS=pw-mq-password");
  assert_string_equal(c.env.v[2], "RABBITMQ_DEFAULT_VHOST=main");
  assert_string_equal(c.env.v[3], "RABBITMQ_ENABLE_MANAGEMENT=true");
  assert_int_equal(c.n_ports, 2);
  assert_int_equal(c.ports[0], 5672);
  assert_int_equal(c.ports[1], 15672);
  assert_string_equal(c.data_target, "/var/lib/rabbitmq");
  /* The first vhost is the image's; the others are added. Every word is
   * single-quoted, a quote inside as '\''. */
  assert_null(strstr(c.provision, "add_vhost 'main'"));
  assert_contains(c.provision, "rabbitmqctl -q await_startup --timeout 120\n");
  assert_contains(c.provision, "grep -qx 'jobs' || rabbitmqctl -q add_vhost 'jobs' ||");
  assert_contains(c.provision, "rabbitmqctl -q add_user 'app' 'o'\\''k' 2>/dev/null || rabbitmqctl "
                               "-q change_password 'app' 'o'\\''k'\n");
  assert_contains(c.provision, "rabbitmqctl -q set_user_tags 'app' 'monitoring'\n");
  assert_contains(c.provision,
                  "rabbitmqctl -q set_permissions -p 'jobs' 'app' '.*' '.*' '^q\\.'\n");
  assert_string_equal(berth__infra_rabbitmq.provision_cmd[0], "sh");
  berth__infra_container_release(&c);
  berth_project_free(p);

  /* A vhost "/" among the others is the broker's own, quoted like any. */
  container_of("infra:\n  mq: {kind: rabbitmq, vhosts: [main, /]}\n", NULL, &p, &c);
  assert_contains(c.provision, "rabbitmqctl -q add_vhost '/' ||");
  berth__infra_container_release(&c);
  berth_project_free(p);

  /* Unsafe names refused by the script itself, for a model that did not
   * come from the manifest's reader. */
  for (size_t i = 0; i < 3; i++) {
    p = fixture_load("infra:\n  mq: {kind: rabbitmq, vhosts: [main, jobs], users: [{name: u, "
                     "tags: [t]}]}\n",
                     NULL);
    struct berth_infra *in = &p->infra[0];
    char **slot = i == 0 ? &in->vhosts.v[1] : i == 1 ? &in->users[0].name : &in->users[0].tags.v[0];
    free(*slot);
    *slot = strdup("x'; touch /pwned; '");
    struct berth__infra_ctx cx = {.project = p->name, .in = in, .secret = fake_secret};
    struct berth__infra_container ic = {0};
    berth_err err = NULL;
    assert_true(berth__infra_rabbitmq.container(&cx, &ic, &err) < 0);
    assert_contains(berth_err_root_msg(err), "is not a plain name");
    berth_err_free(&err);
    berth__infra_container_release(&ic);
    berth_project_free(p);
  }
}

static char *url_of(const struct berth_project *p, size_t i, const char *secret,
                    const struct berth_use *use, const char *host, uint16_t port) {
  const struct berth__infra_kind *k = berth__infra_kind_of(p->infra[i].kind);
  struct berth__infra_ctx c = {
      .project = p->name, .in = &p->infra[i], .secret = fake_secret, .ud = (void *)secret};
  char *url = NULL;
  berth_err err = NULL;
  if (k->url(&c, use, host, port, &url, &err) < 0)
    fail_msg("url: %s", err->msg);
  return url;
}

static void test_urls(void **state) {
  (void)state;
  struct berth_project *p =
      fixture_load("infra:\n"
                   "  db: {kind: postgres, databases: [app, {name: b, owner: bo}]}\n"
                   "  cache: {kind: redis}\n"
                   "  mq:\n    kind: rabbitmq\n    vhosts: [main, jobs]\n"
                   "    users: [{name: worker, permissions: {jobs: {}}}]\n",
                   NULL);
  const char *pw = "p@ss:w/rd %'";
  const char *enc = "p%40ss%3Aw%2Frd%20%25%27";
  struct {
    size_t infra;
    struct berth_use use;
    const char *host;
    uint16_t port;
    const char *before, *after; /* the URL around the encoded password */
  } cases[] = {
      {0, {.infra = "db"}, "db", 5432, "postgres://app:", "@db:5432/app"},
      {0,
       {.infra = "db", .database = "b"},
       "127.0.0.1",
       49153,
       "postgres://bo:",
       "@127.0.0.1:49153/b"},
      {0, {.infra = "db", .database = "nope"}, "db", 5432, "postgres://postgres:", "@db:5432/nope"},
      {1, {.infra = "cache"}, "cache", 6379, "redis://:", "@cache:6379/0"},
      {2, {.infra = "mq"}, "mq", 5672, "amqp://berth:", "@mq:5672/main"},
      {2, {.infra = "mq", .vhost = "jobs"}, "mq", 5672, "amqp://worker:", "@mq:5672/jobs"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    char *got = url_of(p, cases[i].infra, pw, &cases[i].use, cases[i].host, cases[i].port);
    char want[256];
    snprintf(want, sizeof(want), "%s%s%s", cases[i].before, enc, cases[i].after);
    assert_string_equal(got, want);
    free(got);
  }
  berth_project_free(p);
  /* The default vhost "/" is encoded too. */
  p = fixture_load("infra:\n  mq: {kind: rabbitmq}\n", NULL);
  struct berth_use use = {.infra = "mq"};
  char *got = url_of(p, 0, "x", &use, "mq", 5672);
  assert_string_equal(got, "amqp://berth:x@mq:5672/%2F");
  free(got);
  berth_project_free(p);
}

/* Every identifier of the manifest is refused where it is read, at its
 * position, saying what is allowed: `config` refuses what `up` would. */
static void test_identifiers_refused_at_read(void **state) {
  (void)state;
  static const char name_rule[] =
      "use letters, digits, _ and -, at most 63, not starting with a digit";
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"infra:\n  \"db;x\": {kind: postgres}\n",
       "2:3: error: infra.db;x: \"db;x\" is not a valid infra instance name: "},
      {"infra:\n  db: {kind: postgres, databases: [\"a\\\"; DROP\"]}\n",
       "2:36: error: infra.db.databases[0]: \"a\"; DROP\" is not a valid database name: "},
      {"infra:\n  db: {kind: postgres, databases: [{name: \"1st\"}]}\n",
       "infra.db.databases[0].name: \"1st\" is not a valid database name: "},
      {"infra:\n  db: {kind: postgres, databases: [{name: app, owner: \"o w\"}]}\n",
       "infra.db.databases[0].owner: \"o w\" is not a valid role name: "},
      {"infra:\n  db: {kind: postgres, databases: [{name: app, schemas: [ok, \"x y\"]}]}\n",
       "infra.db.databases[0].schemas[1]: \"x y\" is not a valid schema name: "},
      {"infra:\n  db: {kind: postgres, databases: [{name: app, extensions: [\"$(id)\"]}]}\n",
       "infra.db.databases[0].extensions[0]: \"$(id)\" is not a valid extension name: "},
      {"infra:\n  mq: {kind: rabbitmq, vhosts: [main, \"a b\"]}\n",
       "infra.mq.vhosts[1]: \"a b\" is not a valid vhost name: use / or letters"},
      {"infra:\n  mq: {kind: rabbitmq, users: [{name: \"x;y\"}]}\n",
       "infra.mq.users[0].name: \"x;y\" is not a valid user name: "},
      {"infra:\n  mq: {kind: rabbitmq, users: [{name: u, tags: \"a'b\"}]}\n",
       "infra.mq.users[0].tags: \"a'b\" is not a valid user tag: "},
      {"infra:\n  db: {kind: postgres}\nservices:\n  api:\n    image: x\n"
       "    uses: {db: {as: \"$(touch pwned)\"}}\n",
       "6:21: error: services.api.uses.db.as: \"$(touch pwned)\" is not a valid variable name: use "
       "letters, digits and _, not starting with a digit"},
      {"infra:\n  db: {kind: postgres}\nservices:\n  api:\n    image: x\n"
       "    uses: {db: {as: DATABASE-URL}}\n",
       "\"DATABASE-URL\" is not a valid variable name"},
      /* Checked also when the instance lists no databases. */
      {"infra:\n  db: {kind: postgres}\nservices:\n  api:\n    image: x\n"
       "    uses: {db: {database: \"x'; touch pwned; '\"}}\n",
       "services.api.uses.db.database: \"x'; touch pwned; '\" is not a valid database name: "},
      {"infra:\n  mq: {kind: rabbitmq}\nservices:\n  api:\n    image: x\n"
       "    uses: {mq: {vhost: \"a/b\"}}\n",
       "services.api.uses.mq.vhost: \"a/b\" is not a valid vhost name: "},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    char *diags = NULL;
    struct berth_project *p = fixture_load(cases[i].text, &diags);
    assert_null(p);
    assert_contains(diags, cases[i].want);
    if (!strstr(cases[i].want, "variable") && !strstr(cases[i].want, "vhost"))
      assert_contains(diags, name_rule);
    /* One error each: a refused value is not reported again downstream. */
    const char *first = strstr(diags, "error:");
    assert_non_null(first);
    assert_null(strstr(first + 1, "error:"));
    free(diags);
  }
  /* What is allowed: the documented forms. */
  struct berth_project *p = fixture_load(
      "infra:\n  db_1-x:\n    kind: postgres\n    databases:\n"
      "      - {name: _app, owner: app-owner, schemas: [a], extensions: [\"uuid-ossp\"]}\n"
      "  mq: {kind: rabbitmq, vhosts: [/, jobs], users: [{name: u, tags: management}]}\n"
      "services:\n  api:\n    image: x\n"
      "    uses: {db_1-x: {database: _app, as: _DB_URL2}, mq: {vhost: /}}\n",
      NULL);
  assert_string_equal(p->services[0].uses[0].as, "_DB_URL2");
  assert_string_equal(p->services[0].uses[0].database, "_app");
  berth_project_free(p);
  /* A long hostile name is shown by its start. */
  char text[400] = "infra:\n  db: {kind: postgres, databases: [\"";
  size_t len = strlen(text);
  memset(text + len, ';', 200);
  strcpy(text + len + 200, "\"]}\n");
  char *diags = NULL;
  assert_null(fixture_load(text, &diags));
  assert_contains(diags, ";;;...\" is not a valid database name");
  free(diags);
}

static void test_password_bound(void **state) {
  (void)state;
  size_t n = BERTH__SECRET_MAX + 1;
  char *text = malloc(n + 128);
  strcpy(text, "infra:\n  cache: {kind: redis, password: \"");
  size_t len = strlen(text);
  memset(text + len, 'x', n);
  strcpy(text + len + n, "\"}\n");
  char *diags = NULL;
  assert_null(fixture_load(text, &diags));
  assert_contains(diags,
                  "infra.cache.password: a password of 4097 bytes is too long; use at most 4096");
  free(diags);
  strcpy(text + len + n - 1, "\"}\n"); /* 4096 is fine */
  struct berth_project *p = fixture_load(text, NULL);
  assert_int_equal(strlen(p->infra[0].password), BERTH__SECRET_MAX);
  berth_project_free(p);
  free(text);
}

static void test_quoting_helpers(void **state) {
  (void)state;
  char *s = NULL;
  berth_err err = NULL;
  assert_int_equal(berth__sql_literal("a'b''", &s, &err), 0);
  assert_string_equal(s, "'a''b'''''");
  free(s);
  assert_int_equal(berth__sh_quote("it's", &s, &err), 0);
  assert_string_equal(s, "'it'\\''s'");
  free(s);
  /* Beyond the bound: an error, never a value cut short with its quote
   * left open. */
  char *big = malloc(70000);
  memset(big, '\'', 19999);
  big[19999] = '\0';
  s = NULL;
  assert_true(berth__sh_quote(big, &s, &err) < 0); /* 4 bytes each: 80 KB */
  assert_null(s);
  assert_int_equal(berth_err_code(err), BERTH_E_TOO_BIG);
  assert_contains(berth_err_root_msg(err), "a value of 19999 bytes is too long to quote");
  berth_err_free(&err);
  assert_int_equal(berth__sql_literal(big, &s, &err), 0); /* 2 bytes each: fits */
  assert_int_equal(strlen(s), 2 * 19999 + 2);
  free(s);
  memset(big, 'a', 69999);
  big[69999] = '\0';
  s = NULL;
  assert_true(berth__sql_literal(big, &s, &err) < 0);
  assert_null(s);
  assert_int_equal(berth_err_code(err), BERTH_E_TOO_BIG);
  berth_err_free(&err);
  free(big);
  s = berth__pct("aZ09-._~ /?#");
  assert_string_equal(s, "aZ09-._~%20%2F%3F%23");
  free(s);
  assert_true(berth__safe_ident("app_db-1"));
  assert_false(berth__safe_ident("1app"));
  assert_false(berth__safe_ident(""));
  assert_false(berth__safe_ident("a\"b"));
  assert_false(berth__safe_ident("a'b"));
  char long_name[80];
  memset(long_name, 'a', 64);
  long_name[64] = '\0';
  assert_false(berth__safe_ident(long_name));
  long_name[63] = '\0';
  assert_true(berth__safe_ident(long_name));
  assert_true(berth__env_name_ok("_A1"));
  assert_true(berth__env_name_ok("DATABASE_URL"));
  assert_false(berth__env_name_ok(""));
  assert_false(berth__env_name_ok("1A"));
  assert_false(berth__env_name_ok("A-B"));
  assert_false(berth__env_name_ok("A B"));
  assert_false(berth__env_name_ok("$(x)"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_manifest_defaults),
      cmocka_unit_test(test_manifest_option_errors),
      cmocka_unit_test(test_postgres_container),
      cmocka_unit_test(test_postgres_rejects_unsafe_names),
      cmocka_unit_test(test_postgres_dollar_quoting),
      cmocka_unit_test(test_redis_container),
      cmocka_unit_test(test_rabbitmq_container),
      cmocka_unit_test(test_urls),
      cmocka_unit_test(test_identifiers_refused_at_read),
      cmocka_unit_test(test_password_bound),
      cmocka_unit_test(test_quoting_helpers),
  };
  return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
