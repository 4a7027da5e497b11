/* core/engine/plan.c: planning is pure, and the config hash it gives is
 * what `up`'s idempotence rests on. The same model plans the same hash;
 * every field that goes into the container changes it; fields berth keeps
 * to itself (probes, depends_on, watch) do not. */
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
#include "engine/engine-internal.h"
#include "fixture.h"
#include "hash.h"

/* FNV-1a of the body below, "\n", "sha256:0123" */
#define PINNED_HASH "628b21e4cfa949ff"

/* Fixed credentials: the plan depends on nothing else. */
static int fake_secret(void *ud, const char *scope, const char *key, char **ret, berth_err *err) {
  (void)ud;
  return asprintf(ret, "pw-%s-%s", scope, key) < 0 ? berth_err_set(err, BERTH_E_NOMEM, "oom") : 0;
}

static void plan(const struct berth_project *p, struct berth__plan *pl) {
  struct berth__plan_opts o = {.secret = fake_secret};
  berth_err err = NULL;
  if (berth__plan(p, &o, pl, &err) < 0)
    fail_msg("plan failed: %s", err->msg);
}

static const struct berth__unit *unit(const struct berth__plan *pl, const char *name) {
  long i = berth__unit_index(pl, name, 1);
  if (i < 0)
    fail_msg("no unit %s", name);
  return &pl->u[i];
}

/* The body hash of unit name in the plan of text. */
static uint64_t hash_of(const char *text, const char *name) {
  struct berth_project *p = fixture_load(text, NULL);
  struct berth__plan pl;
  plan(p, &pl);
  uint64_t h = unit(&pl, name)->body_hash;
  berth__plan_release(&pl);
  berth_project_free(p);
  return h;
}

/* text with the first occurrence of from replaced by to. */
static char *variant(const char *text, const char *from, const char *to) {
  const char *at = strstr(text, from);
  if (!at)
    fail_msg("\"%s\" is not in the base manifest", from);
  char *s = NULL;
  assert_true(asprintf(&s, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from)) > 0);
  return s;
}

static const char base[] = "services:\n"
                           "  api:\n"
                           "    image: alpine:3\n"
                           "    command: [sleep, \"1000\"]\n"
                           "    entrypoint: [/bin/sh, -c]\n"
                           "    environment: {A: \"1\"}\n"
                           "    ports: [\"127.0.0.1:8080:80\"]\n"
                           "    volumes: [\"data:/data\", \"./src:/src:ro\"]\n"
                           "    labels: {team: core}\n"
                           "    networks: [front]\n"
                           "    healthcheck: {test: [CMD, \"true\"], interval: 5s}\n"
                           "    user: \"1000\"\n"
                           "    working_dir: /app\n"
                           "    restart: unless-stopped\n"
                           "    hostname: api\n"
                           "    init: true\n"
                           "    extra_hosts: [\"db.local:10.0.0.1\"]\n"
                           "    cap_add: [NET_ADMIN]\n"
                           "    cap_drop: [MKNOD]\n"
                           "    tmpfs: [/tmp]\n"
                           "    expose: [\"9000\"]\n"
                           "    stop_signal: SIGINT\n"
                           "    stop_grace_period: 5s\n"
                           "    cpus: 0.5\n"
                           "    mem_limit: 256m\n"
                           "    depends_on: {worker: {condition: service_started}}\n"
                           "  worker:\n"
                           "    image: alpine:3\n"
                           "    probe: {http: {path: /health, port: 80}}\n"
                           "volumes: {data: {}}\n"
                           "networks: {front: {}, back: {}}\n";

static void test_same_model_same_hash(void **state) {
  (void)state;
  struct berth_project *p = fixture_load(base, NULL);
  struct berth__plan a, b;
  plan(p, &a);
  plan(p, &b);
  assert_int_equal(a.n, b.n);
  for (size_t i = 0; i < a.n; i++) {
    assert_string_equal(a.u[i].body, b.u[i].body);
    assert_true(a.u[i].body_hash == b.u[i].body_hash);
  }
  berth__plan_release(&a);
  berth__plan_release(&b);
  berth_project_free(p);
  /* And a second load of the same text. */
  assert_true(hash_of(base, "api") == hash_of(base, "api"));
}

/* The hash formula, pinned: changing it recreates every container users
 * run. The label is FNV-1a of "<create body>\n<image id>", as it has
 * been; the body hash is the same function stopped before the "\n". */
static void test_hash_is_pinned(void **state) {
  (void)state;
  struct berth_project *p = fixture_load("services:\n  web:\n    image: alpine:3\n", NULL);
  struct berth__plan pl;
  plan(p, &pl);
  struct berth__unit *u = &pl.u[berth__unit_index(&pl, "web", 1)];
  assert_string_equal(u->body,
                      "{\"HostConfig\":{\"NetworkMode\":\"demo_default\",\"Init\":true},\"Image\":"
                      "\"alpine:3\",\"Labels\":{\"berth.project\":\"demo\",\"berth.service\":"
                      "\"web\",\"berth.replica\":\"1\",\"berth.owner\":\"berth\",\"berth."
                      "namespace\":\"\"},\"NetworkingConfig\":{\"EndpointsConfig\":{\"demo_"
                      "default\":{\"Aliases\":[\"web\"]}}}}");
  assert_true(u->body_hash == berth_fnv1a(BERTH_FNV_INIT, u->body, strlen(u->body)));
  berth_err err = NULL;
  assert_int_equal(berth__unit_seal(u, "sha256:0123", &err), 0);
  char *text = NULL;
  assert_true(asprintf(&text, "%s\nsha256:0123", u->body) > 0);
  char want[24];
  snprintf(want, sizeof(want), "%016llx",
           (unsigned long long)berth_fnv1a(BERTH_FNV_INIT, text, strlen(text)));
  free(text);
  assert_string_equal(u->hash, want);
  assert_string_equal(u->hash, PINNED_HASH);
  /* The label rides on the container, after the hashed body. */
  assert_string_equal(u->labels.v[u->labels.n - 1], "berth.config-hash=" PINNED_HASH);
  berth__plan_release(&pl);
  berth_project_free(p);
}

struct change {
  const char *from, *to;
};

/* Every field the create body carries. */
static const struct change container_fields[] = {
    {"image: alpine:3\n    command", "image: alpine:3.19\n    command"},
    {"command: [sleep, \"1000\"]", "command: [sleep, \"1001\"]"},
    {"entrypoint: [/bin/sh, -c]", "entrypoint: [/bin/bash, -c]"},
    {"environment: {A: \"1\"}", "environment: {A: \"2\"}"},
    {"environment: {A: \"1\"}", "environment: {A: \"1\", B: \"1\"}"},
    {"127.0.0.1:8080:80", "127.0.0.1:8081:80"},
    {"127.0.0.1:8080:80", "127.0.0.1:8080:81"},
    {"127.0.0.1:8080:80", "0.0.0.0:8080:80"},
    {"data:/data", "data:/var/data"},
    {"./src:/src:ro", "./src:/src"},
    {"labels: {team: core}", "labels: {team: edge}"},
    {"networks: [front]", "networks: [back]"},
    {"networks: [front]", "networks: [front, back]"},
    {"test: [CMD, \"true\"]", "test: [CMD, \"false\"]"},
    {"interval: 5s", "interval: 6s"},
    {"user: \"1000\"", "user: \"1001\""},
    {"working_dir: /app", "working_dir: /srv"},
    {"restart: unless-stopped", "restart: always"},
    {"hostname: api", "hostname: api2"},
    {"init: true", "init: false"},
    {"db.local:10.0.0.1", "db.local:10.0.0.2"},
    {"cap_add: [NET_ADMIN]", "cap_add: [SYS_TIME]"},
    {"cap_drop: [MKNOD]", "cap_drop: [CHOWN]"},
    {"tmpfs: [/tmp]", "tmpfs: [/run]"},
    {"expose: [\"9000\"]", "expose: [\"9001\"]"},
    {"stop_signal: SIGINT", "stop_signal: SIGTERM"},
    {"stop_grace_period: 5s", "stop_grace_period: 7s"},
    {"cpus: 0.5", "cpus: 1"},
    {"mem_limit: 256m", "mem_limit: 512m"},
};

static void test_container_fields_change_hash(void **state) {
  (void)state;
  uint64_t h0 = hash_of(base, "api");
  for (size_t i = 0; i < sizeof(container_fields) / sizeof(*container_fields); i++) {
    char *text = variant(base, container_fields[i].from, container_fields[i].to);
    if (hash_of(text, "api") == h0)
      fail_msg("changing \"%s\" to \"%s\" left the config hash as it was", container_fields[i].from,
               container_fields[i].to);
    free(text);
  }
}

/* What berth keeps to itself does not recreate the container. */
static const struct change berth_fields[] = {
    {"depends_on: {worker: {condition: service_started}}",
     "depends_on: {worker: {condition: service_healthy}}"},
    {"    depends_on: {worker: {condition: service_started}}\n", ""},
    {"  worker:\n    image: alpine:3\n", "  worker:\n    image: alpine:3\n    replicas: 2\n"},
};

static void test_berth_fields_keep_hash(void **state) {
  (void)state;
  uint64_t h0 = hash_of(base, "api");
  for (size_t i = 0; i < sizeof(berth_fields) / sizeof(*berth_fields); i++) {
    char *text = variant(base, berth_fields[i].from, berth_fields[i].to);
    if (hash_of(text, "api") != h0)
      fail_msg("changing \"%s\" to \"%s\" changed api's config hash", berth_fields[i].from,
               berth_fields[i].to);
    free(text);
  }
  /* The probe of worker is berth's: its container stays. */
  uint64_t w0 = hash_of(base, "worker");
  char *text = variant(base, "path: /health", "path: /ready");
  assert_true(hash_of(text, "worker") == w0);
  free(text);
}

/* `uses` puts the instance's URL in the environment, so it is part of
 * the container; the instance's options change its own hash. */
static void test_uses_and_infra(void **state) {
  (void)state;
  static const char infra[] = "infra:\n"
                              "  db: {kind: postgres, databases: [app]}\n"
                              "  cache: {kind: redis}\n"
                              "services:\n"
                              "  api:\n"
                              "    image: alpine:3\n"
                              "    uses: {db: {database: app}}\n";
  uint64_t h0 = hash_of(infra, "api");
  char *t = variant(infra, "uses: {db: {database: app}}", "uses: {db: {database: app}, cache: {}}");
  assert_true(hash_of(t, "api") != h0);
  free(t);
  uint64_t d0 = hash_of(infra, "db");
  t = variant(infra, "databases: [app]", "databases: [app, other]");
  assert_true(hash_of(t, "db") != d0); /* the provisioning SQL is hashed */
  free(t);
  uint64_t c0 = hash_of(infra, "cache");
  t = variant(infra, "cache: {kind: redis}", "cache: {kind: redis, persistence: aof}");
  assert_true(hash_of(t, "cache") != c0);
  free(t);

  struct berth_project *p = fixture_load(infra, NULL);
  struct berth__plan pl;
  plan(p, &pl);
  const struct berth__unit *api = unit(&pl, "api");
  assert_true(
      berth_strv_find(&api->env, "DATABASE_URL=postgres://app:pw-db-role%3Aapp@db:5432/app") >= 0);
  /* api needs db (healthy): the graph's edge, and the closure of a
   * selection of api holds db and not cache. */
  long a = berth_graph_find(&pl.g, "api"), d = berth_graph_find(&pl.g, "db");
  assert_int_equal(pl.g.n_out[a], 1);
  assert_int_equal(pl.g.out[a][0].to, (size_t)d);
  assert_int_equal(pl.g.out[a][0].tag, BERTH_COND_HEALTHY);
  berth__plan_release(&pl);
  const char *sel[] = {"api"};
  struct berth__plan_opts o = {.services = sel, .n_services = 1, .secret = fake_secret};
  berth_err err = NULL;
  assert_int_equal(berth__plan(p, &o, &pl, &err), 0);
  assert_true(unit(&pl, "api")->selected);
  assert_true(unit(&pl, "db")->selected);
  assert_false(unit(&pl, "cache")->selected);
  berth__plan_release(&pl);
  const char *bad[] = {"nope"};
  o.services = bad;
  assert_true(berth__plan(p, &o, &pl, &err) < 0);
  assert_string_equal(berth_err_root_msg(err), "no service or infra named \"nope\" in demo");
  berth_err_free(&err);
  berth_project_free(p);
}

/* The edge from a service to its dependency, and its condition. */
static int condition(const struct berth__plan *pl, const char *from, const char *to) {
  long f = berth_graph_find(&pl->g, from), t = berth_graph_find(&pl->g, to);
  for (size_t k = 0; f >= 0 && k < pl->g.n_out[f]; k++)
    if (pl->g.out[f][k].to == (size_t)t)
      return pl->g.out[f][k].tag;
  fail_msg("no edge %s -> %s", from, to);
  return -1;
}

/* Compose services that are a database or a broker, however the file
 * says it, are waited for until their protocol answers; the rest, and
 * x-berth-wait: started, keep Compose's meaning of a short depends_on. */
static void test_recognised_dependencies(void **state) {
  (void)state;
  static const char compose[] =
      "services:\n"
      "  pg: {image: postgres:15}\n"
      "  pgx: {image: shop/db, command: [postgres, -c, port=5433]}\n"
      "  pgenv: {image: shop/db, command: postgres, environment: {PGPORT: '5434'}}\n"
      "  cache: {image: shop/kv, command: sh -c 'exec redis-server --port 6380'}\n"
      "  cache2:\n"
      "    image: shop/kv\n"
      "    healthcheck: {test: [CMD, redis-cli, -p, '6381', ping], interval: 1s}\n"
      "  mq:\n"
      "    image: shop/broker\n"
      "    healthcheck: {test: rabbitmq-diagnostics -q ping, interval: 1s}\n"
      "  slow:\n"
      "    image: shop/db\n"
      "    healthcheck: {test: [CMD, pg_isready, -U, postgres], interval: 30s}\n"
      "  lit: {image: redis:7, x-berth-wait: started}\n"
      "  checker: {image: shop/app, healthcheck: {test: pg_isready -h pg, interval: 1s}}\n"
      "  waiter: {image: shop/app, command: [wait-for, postgres, --, app]}\n"
      "  app:\n"
      "    image: shop/app\n"
      "    depends_on: [pg, pgx, pgenv, cache, cache2, mq, slow, lit, checker, waiter]\n";
  struct berth_project *p = fixture_load(compose, NULL);
  struct berth__plan pl;
  plan(p, &pl);
  struct {
    const char *name, *kind;
    uint16_t port;
    int cond;
  } want[] = {
      {"pg", "postgres", 5432, BERTH_COND_HEALTHY},
      {"pgx", "postgres", 5433, BERTH_COND_HEALTHY},
      {"pgenv", "postgres", 5434, BERTH_COND_HEALTHY},
      {"cache", "redis", 6380, BERTH_COND_HEALTHY},
      {"cache2", "redis", 6381, BERTH_COND_HEALTHY},
      {"mq", "rabbitmq", 5672, BERTH_COND_HEALTHY},
      {"slow", "postgres", 5432, BERTH_COND_HEALTHY},
      {"lit", "redis", 6379, BERTH_COND_STARTED},
      {"checker", NULL, 0, BERTH_COND_STARTED},
      {"waiter", NULL, 0, BERTH_COND_STARTED},
  };
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    const struct berth__unit *u = unit(&pl, want[i].name);
    if (want[i].kind) {
      assert_non_null(u->svc->kind);
      assert_string_equal(u->svc->kind, want[i].kind);
      assert_int_equal(u->probe, UP_PROTO);
      assert_int_equal(u->target.port, want[i].port);
    } else {
      assert_null(u->svc->kind);
      assert_int_not_equal(u->probe, UP_PROTO);
    }
    assert_int_equal(condition(&pl, "app", want[i].name), want[i].cond);
  }
  /* A declared healthcheck must pass too; one the engine runs every
   * second is left to it, one every 30 s berth runs itself. */
  assert_true(unit(&pl, "mq")->check_after);
  assert_true(unit(&pl, "mq")->engine_runs);
  assert_non_null(unit(&pl, "mq")->spec.healthcheck);
  assert_true(unit(&pl, "slow")->check_after);
  assert_false(unit(&pl, "slow")->engine_runs);
  assert_false(unit(&pl, "pg")->check_after);
  assert_int_equal(unit(&pl, "checker")->probe, UP_EXEC);
  berth__plan_release(&pl);
  berth_project_free(p);

  char *diags = NULL;
  assert_null(fixture_load("services:\n  db: {image: postgres:15, x-berth-wait: soon}\n", &diags));
  assert_contains(diags, "services.db.x-berth-wait: expected started");
  free(diags);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_model_same_hash),
      cmocka_unit_test(test_hash_is_pinned),
      cmocka_unit_test(test_container_fields_change_hash),
      cmocka_unit_test(test_berth_fields_keep_hash),
      cmocka_unit_test(test_uses_and_infra),
      cmocka_unit_test(test_recognised_dependencies),
  };
  return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
