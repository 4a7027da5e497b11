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
    assert_null(k->seed);     /* the next issue fills it */
    assert_null(k->snapshot); /* likewise */
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
  assert_contains(c.provision, "CREATE ROLE \"app_owner\" LOGIN PASSWORD 'pw-db-role:app_owner';");
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

static void test_postgres_rejects_unsafe_names(void **state) {
  (void)state;
  static const char *const bad[] = {
      "infra:\n  db: {kind: postgres, databases: [\"a\\\"; DROP\"]}\n",
      "infra:\n  db: {kind: postgres, databases: [{name: app, schemas: [\"x y\"]}]}\n",
      "infra:\n  db: {kind: postgres, databases: [{name: app, extensions: [\"1st\"]}]}\n",
  };
  for (size_t i = 0; i < 3; i++) {
    struct berth_project *p = fixture_load(bad[i], NULL);
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

static void test_redis_container(void **state) {
  (void)state;
  struct berth_project *p;
  struct berth__infra_container c;
  container_of("infra:\n  cache: {kind: redis}\n", NULL, &p, &c);
  const char *const none[] = {
      "redis-server", "--requirepass", "pw-cache-password", "--save", "", "--appendonly", "no"};
  assert_int_equal(c.cmd.n, 7);
  for (size_t i = 0; i < 7; i++)
    assert_string_equal(c.cmd.v[i], none[i]);
  assert_string_equal(c.probe_password, "pw-cache-password");
  assert_string_equal(c.data_target, "/data");
  assert_int_equal(c.ports[0], 6379);
  assert_null(c.provision);
  berth__infra_container_release(&c);
  berth_project_free(p);

  container_of("infra:\n  cache: {kind: redis, password: given, persistence: aof}\n", NULL, &p, &c);
  assert_int_equal(c.cmd.n, 5);
  assert_string_equal(c.cmd.v[2], "given");
  assert_string_equal(c.cmd.v[3], "--appendonly");
  assert_string_equal(c.cmd.v[4], "yes");
  berth__infra_container_release(&c);
  berth_project_free(p);

  container_of("infra:\n  cache: {kind: redis, persistence: rdb}\n", NULL, &p, &c);
  assert_int_equal(c.cmd.n, 3); /* the image's default: snapshots */
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
  assert_contains(c.provision, "rabbitmqctl -q add_vhost 'jobs' 2>/dev/null");
  assert_contains(c.provision, "rabbitmqctl -q add_user 'app' 'o'\\''k' 2>/dev/null || rabbitmqctl "
                               "-q change_password 'app' 'o'\\''k'\n");
  assert_contains(c.provision, "rabbitmqctl -q set_user_tags 'app' 'monitoring'\n");
  assert_contains(c.provision,
                  "rabbitmqctl -q set_permissions -p 'jobs' 'app' '.*' '.*' '^q\\.'\n");
  assert_string_equal(berth__infra_rabbitmq.provision_cmd[0], "sh");
  berth__infra_container_release(&c);
  berth_project_free(p);

  static const char *const bad[] = {"infra:\n  mq: {kind: rabbitmq, vhosts: [main, \"a b\"]}\n",
                                    "infra:\n  mq: {kind: rabbitmq, users: [{name: \"x;y\"}]}\n"};
  for (size_t i = 0; i < 2; i++) {
    p = fixture_load(bad[i], NULL);
    struct berth__infra_ctx cx = {.project = p->name, .in = &p->infra[0], .secret = fake_secret};
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

static void test_quoting_helpers(void **state) {
  (void)state;
  char *s = berth__sql_literal("a'b''");
  assert_string_equal(s, "'a''b'''''");
  free(s);
  s = berth__sh_quote("it's");
  assert_string_equal(s, "'it'\\''s'");
  free(s);
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
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_manifest_defaults),
      cmocka_unit_test(test_manifest_option_errors),
      cmocka_unit_test(test_postgres_container),
      cmocka_unit_test(test_postgres_rejects_unsafe_names),
      cmocka_unit_test(test_redis_container),
      cmocka_unit_test(test_rabbitmq_container),
      cmocka_unit_test(test_urls),
      cmocka_unit_test(test_quoting_helpers),
  };
  return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
