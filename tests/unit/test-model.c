/* core/model.c: freeing a project built field by field, enum names, the
 * secret rule, and the JSON of `berth config --json` (docs/config-json.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "berth/model.h"

/* ---- building a project the way a reader does ------------------------ */

static char *xstrdup(const char *s) {
  if (!s)
    return NULL;
  char *d = strdup(s);
  assert_non_null(d);
  return d;
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size);
  assert_non_null(p);
  return p;
}

/* strv("a", "b", NULL) */
static struct berth_strv strv(const char *first, ...) {
  struct berth_strv v = {0};
  va_list ap;
  va_start(ap, first);
  for (const char *s = first; s; s = va_arg(ap, const char *)) {
    v.v = realloc(v.v, (v.n + 1) * sizeof(*v.v));
    assert_non_null(v.v);
    v.v[v.n++] = xstrdup(s);
  }
  va_end(ap);
  return v;
}

/* kvv("KEY", "value", "OTHER", NULL, NULL): pairs, ended by a NULL key. */
static struct berth_kvv kvv(const char *first, ...) {
  struct berth_kvv v = {0};
  va_list ap;
  va_start(ap, first);
  for (const char *k = first; k; k = va_arg(ap, const char *)) {
    const char *value = va_arg(ap, const char *);
    v.v = realloc(v.v, (v.n + 1) * sizeof(*v.v));
    assert_non_null(v.v);
    v.v[v.n].key = xstrdup(k);
    v.v[v.n].value = xstrdup(value);
    v.n++;
  }
  va_end(ap);
  return v;
}

static struct berth_project *new_project(const char *name) {
  struct berth_project *p = xcalloc(1, sizeof(*p));
  p->name = xstrdup(name);
  return p;
}

static struct berth_service *add_service(struct berth_project *p, const char *name) {
  p->services = realloc(p->services, (p->n_services + 1) * sizeof(*p->services));
  assert_non_null(p->services);
  struct berth_service *s = &p->services[p->n_services++];
  memset(s, 0, sizeof(*s));
  s->name = xstrdup(name);
  s->replicas = 1;
  s->stop_grace_ms = -1;
  s->init = -1;
  return s;
}

static void fill_api(struct berth_service *s) {
  s->build = xcalloc(1, sizeof(*s->build));
  s->build->context = xstrdup("/src/shop/api");
  s->build->dockerfile = xstrdup("Dockerfile");
  s->build->args = kvv("PIP_INDEX_TOKEN", "tok123", "PYTHON_VERSION", "3.12", NULL);
  s->build->target = xstrdup("dev");
  s->command = strv("uvicorn", "app:app", NULL);
  s->has_command = true;
  s->environment =
      kvv("DATABASE_URL", "postgres://app:s3cret@db:5432/app", "POSTGRES_PASSWORD", "hunter2",
          "PASSENGER_COUNT", "4", "REDIS_URL", "redis://:r3dis@cache:6379/0", "PLAIN_URL",
          "https://example.com/a?b=c", "RABBITMQ_DEFAULT_PASS", "guest", "LOG_LEVEL", "debug",
          "FROM_HOST", NULL, NULL);
  s->env_files = strv("/src/shop/.env", NULL);

  s->n_ports = 3;
  s->ports = xcalloc(3, sizeof(*s->ports));
  s->ports[0] = (struct berth_port){.host_ip = xstrdup("127.0.0.1"),
                                    .host_start = 8000,
                                    .container_start = 8000,
                                    .protocol = xstrdup("tcp")};
  s->ports[1] = (struct berth_port){.host_ip = xstrdup("0.0.0.0"),
                                    .host_start = 9000,
                                    .host_end = 9010,
                                    .container_start = 9000,
                                    .container_end = 9010,
                                    .protocol = xstrdup("udp")};
  s->ports[2] = (struct berth_port){
      .host_ip = xstrdup("127.0.0.1"), .container_start = 5678, .protocol = xstrdup("tcp")};
  s->expose = strv("9100", NULL);

  s->n_mounts = 3;
  s->mounts = xcalloc(3, sizeof(*s->mounts));
  s->mounts[0] = (struct berth_mount){.type = BERTH_MOUNT_T_BIND,
                                      .source = xstrdup("/src/shop/api"),
                                      .target = xstrdup("/app"),
                                      .read_only = true};
  s->mounts[1] = (struct berth_mount){
      .type = BERTH_MOUNT_T_VOLUME, .source = xstrdup("data"), .target = xstrdup("/data")};
  s->mounts[2] = (struct berth_mount){
      .type = BERTH_MOUNT_T_TMPFS, .target = xstrdup("/tmp"), .tmpfs_size = 65536};

  s->n_deps = 2;
  s->deps = xcalloc(2, sizeof(*s->deps));
  s->deps[0] = (struct berth_dep){
      .service = xstrdup("db"), .condition = BERTH_COND_HEALTHY, .restart = true, .required = true};
  s->deps[1] = (struct berth_dep){.service = xstrdup("cache"), .condition = BERTH_COND_STARTED};

  s->probe = (struct berth_probe){.kind = BERTH_PROBE_HTTP,
                                  .http_path = xstrdup("/healthz"),
                                  .port = 8000,
                                  .interval_ms = 5000,
                                  .timeout_ms = 1000,
                                  .retries = 3};
  s->replicas = 2;
  s->cpu_millis = 500;
  s->memory_bytes = 536870912;
  s->restart = xstrdup("unless-stopped");
  s->profiles = strv("dev", NULL);
  s->labels = kvv("team", "core", "com.example.password-policy", "strict", NULL);

  s->n_watch = 2;
  s->watch = xcalloc(2, sizeof(*s->watch));
  s->watch[0] = (struct berth_watch){.path = xstrdup("/src/shop/api"),
                                     .action = BERTH_WATCH_SYNC_RESTART,
                                     .target = xstrdup("/app"),
                                     .ignore = strv("*.pyc", "__pycache__/", NULL)};
  s->watch[1] = (struct berth_watch){.path = xstrdup("/src/shop/api/requirements.txt"),
                                     .action = BERTH_WATCH_REBUILD};

  s->hostname = xstrdup("api");
  s->user = xstrdup("1000:1000");
  s->working_dir = xstrdup("/app");
  s->stop_signal = xstrdup("SIGINT");
  s->stop_grace_ms = 10000;
  s->init = 1;
  s->tmpfs = strv("/run", NULL);
  s->extra_hosts = strv("host.docker.internal:host-gateway", NULL);
  s->cap_add = strv("NET_ADMIN", NULL);

  s->n_networks = 1;
  s->networks = xcalloc(1, sizeof(*s->networks));
  s->networks[0] = (struct berth_net_attach){.network = xstrdup("backend"),
                                             .aliases = strv("api.internal", NULL)};
  s->n_secrets = 1;
  s->secrets = xcalloc(1, sizeof(*s->secrets));
  s->secrets[0] = (struct berth_file_ref){.source = xstrdup("db_password"),
                                          .target = xstrdup("/run/secrets/db_password")};
  s->n_configs = 1;
  s->configs = xcalloc(1, sizeof(*s->configs));
  s->configs[0] = (struct berth_file_ref){.source = xstrdup("nginx")};
  s->n_uses = 2;
  s->uses = xcalloc(2, sizeof(*s->uses));
  s->uses[0] = (struct berth_use){
      .infra = xstrdup("db"), .database = xstrdup("app"), .as = xstrdup("DATABASE_URL")};
  s->uses[1] =
      (struct berth_use){.infra = xstrdup("mq"), .vhost = xstrdup("/"), .as = xstrdup("AMQP_URL")};
  s->extensions = kvv("x-owner", "\"team-core\"", "x-meta", "{\"tier\":1,\"tags\":[\"a\"]}",
                      "x-broken", "{not json", NULL);
}

static struct berth_infra *add_infra(struct berth_project *p, const char *name,
                                     enum berth_infra_kind kind) {
  p->infra = realloc(p->infra, (p->n_infra + 1) * sizeof(*p->infra));
  assert_non_null(p->infra);
  struct berth_infra *in = &p->infra[p->n_infra++];
  memset(in, 0, sizeof(*in));
  in->name = xstrdup(name);
  in->kind = kind;
  return in;
}

/* The project of most tests: two services, the three infra kinds, and
 * one of every top-level section. */
static struct berth_project *shop(void) {
  struct berth_project *p = new_project("shop");
  p->dir = xstrdup("/src/shop");
  p->files = strv("/src/shop/berth.yaml", "/src/shop/berth.override.yaml", NULL);
  p->active_profiles = strv("dev", NULL);
  fill_api(add_service(p, "api"));
  struct berth_service *w = add_service(p, "worker");
  w->image = xstrdup("busybox:1.36");

  struct berth_infra *db = add_infra(p, "db", BERTH_INFRA_POSTGRES);
  db->version = xstrdup("16");
  db->image = xstrdup("postgres:16");
  db->n_seeds = 1;
  db->seeds = xcalloc(1, sizeof(*db->seeds));
  db->seeds[0] = (struct berth_seed){.kind = BERTH_SEED_CSV,
                                     .file = xstrdup("/src/shop/seeds/users.csv"),
                                     .name = xstrdup("seeds/users.csv"),
                                     .table = xstrdup("audit.users"),
                                     .database = xstrdup("app")};
  db->n_databases = 2;
  db->databases = xcalloc(2, sizeof(*db->databases));
  db->databases[0] = (struct berth_pg_database){.name = xstrdup("app"),
                                                .owner = xstrdup("app"),
                                                .password = xstrdup("dbpass"),
                                                .schemas = strv("public", "audit", NULL),
                                                .extensions = strv("pgcrypto", NULL)};
  db->databases[1] = (struct berth_pg_database){.name = xstrdup("analytics")};

  struct berth_infra *cache = add_infra(p, "cache", BERTH_INFRA_REDIS);
  cache->version = xstrdup("7");
  cache->password = xstrdup("redispw");
  cache->persistence = xstrdup("aof");

  struct berth_infra *mq = add_infra(p, "mq", BERTH_INFRA_RABBITMQ);
  mq->vhosts = strv("/", "orders", NULL);
  mq->management = true;
  mq->n_users = 2;
  mq->users = xcalloc(2, sizeof(*mq->users));
  mq->users[0] = (struct berth_mq_user){
      .name = xstrdup("app"), .password = xstrdup("mqpw"), .tags = strv("management", NULL)};
  mq->users[0].n_permissions = 1;
  mq->users[0].permissions = xcalloc(1, sizeof(struct berth_mq_permission));
  mq->users[0].permissions[0] = (struct berth_mq_permission){.vhost = xstrdup("orders"),
                                                             .configure = xstrdup(".*"),
                                                             .write = xstrdup(".*"),
                                                             .read = xstrdup("^orders\\.")};
  mq->users[1] = (struct berth_mq_user){.name = xstrdup("monitor")};

  p->n_networks = 1;
  p->networks = xcalloc(1, sizeof(*p->networks));
  p->networks[0] = (struct berth_network){.name = xstrdup("backend"),
                                          .driver = xstrdup("bridge"),
                                          .internal = true,
                                          .labels = kvv("tier", "back", NULL)};
  p->n_volumes = 2;
  p->volumes = xcalloc(2, sizeof(*p->volumes));
  p->volumes[0] = (struct berth_volume){.name = xstrdup("data"), .driver = xstrdup("local")};
  p->volumes[1] = (struct berth_volume){
      .name = xstrdup("shared"), .external = true, .external_name = xstrdup("team_shared")};
  p->n_secrets = 2;
  p->secrets = xcalloc(2, sizeof(*p->secrets));
  p->secrets[0] =
      (struct berth_file_def){.name = xstrdup("db_password"), .file = xstrdup("/src/shop/db.txt")};
  p->secrets[1] =
      (struct berth_file_def){.name = xstrdup("inline"), .content = xstrdup("topsecret")};
  p->n_configs = 1;
  p->configs = xcalloc(1, sizeof(*p->configs));
  p->configs[0] =
      (struct berth_file_def){.name = xstrdup("nginx"), .content = xstrdup("server {}")};
  return p;
}

/* ---- reading the JSON -------------------------------------------------- */

/* "services.api.ports.1.host_port": object keys, array indexes. The
 * separator is '/' when the path starts with one (keys with dots). */
static cJSON *at(cJSON *root, const char *path) {
  char sep = '.';
  if (*path == '/')
    sep = '/', path++;
  char *copy = strdup(path), *save = NULL, delim[2] = {sep, 0};
  assert_non_null(copy);
  cJSON *j = root;
  for (char *seg = strtok_r(copy, delim, &save); seg && j; seg = strtok_r(NULL, delim, &save)) {
    if (cJSON_IsArray(j)) {
      char *end;
      long i = strtol(seg, &end, 10);
      j = *end ? NULL : cJSON_GetArrayItem(j, (int)i);
    } else {
      j = cJSON_GetObjectItemCaseSensitive(j, seg);
    }
  }
  free(copy);
  if (!j)
    fail_msg("no %s in the JSON", path);
  return j;
}

static void assert_str_at(cJSON *root, const char *path, const char *want) {
  cJSON *j = at(root, path);
  if (!cJSON_IsString(j))
    fail_msg("%s is not a string", path);
  assert_string_equal(j->valuestring, want);
}

static void assert_null_at(cJSON *root, const char *path) {
  if (!cJSON_IsNull(at(root, path)))
    fail_msg("%s is not null", path);
}

static void assert_num_at(cJSON *root, const char *path, double want) {
  cJSON *j = at(root, path);
  if (!cJSON_IsNumber(j))
    fail_msg("%s is not a number", path);
  assert_true(j->valuedouble == want);
}

static void assert_bool_at(cJSON *root, const char *path, bool want) {
  cJSON *j = at(root, path);
  if (!cJSON_IsBool(j))
    fail_msg("%s is not a boolean", path);
  assert_int_equal(cJSON_IsTrue(j), want);
}

static void assert_size_at(cJSON *root, const char *path, int n) {
  cJSON *j = at(root, path);
  if (!cJSON_IsArray(j) && !cJSON_IsObject(j))
    fail_msg("%s is neither an array nor an object", path);
  assert_int_equal(cJSON_GetArraySize(j), n);
}

/* The keys of an object, in order, joined with ','. */
static void assert_keys_at(cJSON *root, const char *path, const char *want) {
  cJSON *j = *path ? at(root, path) : root, *c;
  char got[2048] = "";
  cJSON_ArrayForEach (c, j) {
    if (*got)
      strcat(got, ",");
    strcat(got, c->string);
  }
  assert_string_equal(got, want);
}

/* Same types, same keys in the same order, same lengths, all the way
 * down; values may differ. */
static void assert_same_shape(cJSON *a, cJSON *b, const char *where) {
  if ((a->type & 0xff) != (b->type & 0xff))
    fail_msg("%s: types differ", where);
  if (!cJSON_IsArray(a) && !cJSON_IsObject(a))
    return;
  assert_int_equal(cJSON_GetArraySize(a), cJSON_GetArraySize(b));
  for (cJSON *x = a->child, *y = b->child; x && y; x = x->next, y = y->next) {
    if (cJSON_IsObject(a))
      assert_string_equal(x->string, y->string);
    assert_same_shape(x, y, x->string ? x->string : where);
  }
}

static cJSON *to_json(const struct berth_project *p, bool show) {
  cJSON *j = NULL;
  berth_err err = NULL;
  int r = berth_project_to_json(p, show, &j, &err);
  if (r < 0) {
    char *s = berth_err_string(err);
    fail_msg("berth_project_to_json: %s", s);
  }
  assert_int_equal(r, 0);
  assert_null(err);
  assert_non_null(j);
  return j;
}

/* The document printed compactly, as a CI script receives it. */
static char *printed(const struct berth_project *p, bool show) {
  cJSON *j = to_json(p, show);
  char *s = cJSON_PrintUnformatted(j);
  assert_non_null(s);
  cJSON_Delete(j);
  return s;
}

/* ---- tests ------------------------------------------------------------- */

static void test_project_free(void **state) {
  assert_null(berth_project_free(NULL));
  assert_null(berth_project_free(xcalloc(1, sizeof(struct berth_project))));
  /* Everything the reader allocates, including arrays with n == 0 and a
   * service with every field set; LeakSanitizer checks the rest. */
  struct berth_project *p = shop();
  p->services[1].ports = xcalloc(1, sizeof(struct berth_port));
  assert_null(berth_project_free(p));
}

static void test_names(void **state) {
  assert_string_equal(berth_condition_name(BERTH_COND_STARTED), "started");
  assert_string_equal(berth_condition_name(BERTH_COND_HEALTHY), "healthy");
  assert_string_equal(berth_condition_name(BERTH_COND_COMPLETED), "completed");
  assert_string_equal(berth_probe_kind_name(BERTH_PROBE_NONE), "none");
  assert_string_equal(berth_probe_kind_name(BERTH_PROBE_HTTP), "http");
  assert_string_equal(berth_probe_kind_name(BERTH_PROBE_TCP), "tcp");
  assert_string_equal(berth_probe_kind_name(BERTH_PROBE_EXEC), "exec");
  assert_string_equal(berth_probe_kind_name(BERTH_PROBE_IMAGE), "image");
  assert_string_equal(berth_probe_kind_name(BERTH_PROBE_DISABLED), "disabled");
  assert_string_equal(berth_watch_action_name(BERTH_WATCH_SYNC), "sync");
  assert_string_equal(berth_watch_action_name(BERTH_WATCH_RESTART), "restart");
  assert_string_equal(berth_watch_action_name(BERTH_WATCH_SYNC_RESTART), "sync+restart");
  assert_string_equal(berth_watch_action_name(BERTH_WATCH_REBUILD), "rebuild");
  assert_string_equal(berth_watch_action_name(BERTH_WATCH_EXEC), "exec");
  assert_string_equal(berth_infra_kind_name(BERTH_INFRA_POSTGRES), "postgres");
  assert_string_equal(berth_infra_kind_name(BERTH_INFRA_REDIS), "redis");
  assert_string_equal(berth_infra_kind_name(BERTH_INFRA_RABBITMQ), "rabbitmq");
}

static void test_project_service(void **state) {
  struct berth_project *p = shop();
  assert_ptr_equal(berth_project_service(p, "api"), &p->services[0]);
  assert_ptr_equal(berth_project_service(p, "worker"), &p->services[1]);
  assert_null(berth_project_service(p, "db")); /* infra, not a service */
  assert_null(berth_project_service(p, "ap"));
  assert_null(berth_project_service(p, NULL));
  assert_null(berth_project_service(NULL, "api"));
  berth_project_free(p);
}

static void test_secret_names(void **state) {
  static const char *const secret[] = {"POSTGRES_PASSWORD",
                                       "password",
                                       "DbPassword",
                                       "MYSQL_ROOT_PASSWD",
                                       "RABBITMQ_DEFAULT_PASS",
                                       "DB_PASS",
                                       "PASS",
                                       "SSH_PASSPHRASE",
                                       "SECRET_KEY_BASE",
                                       "AWS_SECRET_ACCESS_KEY",
                                       "client_secret",
                                       "GITHUB_TOKEN",
                                       "NPM_TOKEN",
                                       "ACCESSTOKEN",
                                       "refresh-tokens",
                                       "STRIPE_API_KEY",
                                       "SENDGRID_APIKEY",
                                       "apiKey",
                                       "JWT_PRIVATE_KEY",
                                       "private-key",
                                       "GOOGLE_APPLICATION_CREDENTIALS",
                                       "DB_CREDENTIAL",
                                       "REDIS_AUTH",
                                       "PROXY_AUTH",
                                       "AUTH",
                                       "AUTH_KEY"};
  static const char *const plain[] = {"PASSENGER_COUNT",
                                      "AWS_ACCESS_KEY_ID",
                                      "PASSTHROUGH",
                                      "COMPASS_URL",
                                      "BYPASS_CACHE",
                                      "TOKENIZERS_PARALLELISM",
                                      "AUTH_ENABLED",
                                      "OAUTH_CLIENT_ID",
                                      "AUTHOR",
                                      "DATABASE_URL",
                                      "LOG_LEVEL",
                                      "PATH",
                                      "PWD",
                                      "KEYCLOAK_REALM",
                                      "",
                                      "_"};
  for (size_t i = 0; i < sizeof(secret) / sizeof(*secret); i++)
    if (!berth_is_secret_name(secret[i]))
      fail_msg("%s should be a secret name", secret[i]);
  for (size_t i = 0; i < sizeof(plain) / sizeof(*plain); i++)
    if (berth_is_secret_name(plain[i]))
      fail_msg("%s should not be a secret name", plain[i]);
  assert_false(berth_is_secret_name(NULL));
}

/* An empty project: every top-level key, in order, with its default. */
static void test_empty_project(void **state) {
  struct berth_project *p = new_project("empty");
  char *s = printed(p, false);
  assert_string_equal(s,
                      "{\"name\":\"empty\",\"project_dir\":null,\"files\":[],\"format\":\"berth\","
                      "\"profiles\":[],\"services\":{},\"infra\":{},\"networks\":{},"
                      "\"volumes\":{},\"secrets\":{},\"configs\":{},"
                      "\"namespaces\":null}");
  free(s);
  p->format = BERTH_FORMAT_COMPOSE;
  cJSON *j = to_json(p, false);
  assert_str_at(j, "format", "compose");
  cJSON_Delete(j);
  berth_project_free(p);
}

/* A service with nothing but an image: every field present, with its
 * default, in the documented order. */
static void test_service_defaults(void **state) {
  struct berth_project *p = new_project("mini");
  add_service(p, "worker")->image = xstrdup("busybox");
  cJSON *j = to_json(p, false);
  char *s = cJSON_PrintUnformatted(at(j, "services.worker"));
  assert_string_equal(
      s, "{\"name\":\"worker\",\"image\":\"busybox\",\"build\":null,\"command\":null,"
         "\"entrypoint\":null,\"environment\":{},\"env_files\":[],\"ports\":[],\"expose\":[],"
         "\"volumes\":[],\"depends_on\":{},\"probe\":{\"kind\":\"none\",\"http_path\":null,"
         "\"port\":null,\"exec\":[],\"interval_ms\":null,\"timeout_ms\":null,"
         "\"start_period_ms\":null,\"retries\":null},\"replicas\":1,"
         "\"resources\":{\"cpu_millis\":null,\"memory_bytes\":null},\"restart\":null,"
         "\"profiles\":[],\"labels\":{},\"watch\":[],\"container_name\":null,\"hostname\":null,"
         "\"user\":null,\"working_dir\":null,\"stop_signal\":null,\"stop_grace_period_ms\":null,"
         "\"init\":null,\"tmpfs\":[],\"extra_hosts\":[],\"cap_add\":[],\"cap_drop\":[],"
         "\"networks\":{},\"secrets\":[],\"configs\":[],\"uses\":[],\"kind\":null,"
         "\"extensions\":{}}");
  free(s);
  cJSON_Delete(j);

  /* has_command with an empty argv is an explicit empty command, not the
   * image's; init 0 is false, a grace period of 0 is 0. */
  p->services[0].has_command = true;
  p->services[0].init = 0;
  p->services[0].stop_grace_ms = 0;
  j = to_json(p, false);
  assert_size_at(j, "services.worker.command", 0);
  assert_bool_at(j, "services.worker.init", false);
  assert_num_at(j, "services.worker.stop_grace_period_ms", 0);
  cJSON_Delete(j);
  berth_project_free(p);
}

static void test_top_level(void **state) {
  struct berth_project *p = shop();
  cJSON *j = to_json(p, false);
  assert_keys_at(j, "",
                 "name,project_dir,files,format,profiles,services,infra,networks,volumes,"
                 "secrets,configs,namespaces");
  assert_str_at(j, "name", "shop");
  assert_str_at(j, "project_dir", "/src/shop");
  assert_str_at(j, "files.1", "/src/shop/berth.override.yaml");
  assert_str_at(j, "format", "berth");
  assert_str_at(j, "profiles.0", "dev");
  /* Model order, not alphabetical. */
  assert_keys_at(j, "services", "api,worker");
  assert_keys_at(j, "infra", "db,cache,mq");
  assert_keys_at(j, "networks", "backend");
  assert_keys_at(j, "volumes", "data,shared");
  assert_keys_at(j, "secrets", "db_password,inline");
  assert_keys_at(j, "configs", "nginx");
  assert_null_at(j, "namespaces");
  cJSON_Delete(j);
  berth_project_free(p);
}

static void test_service_fields(void **state) {
  struct berth_project *p = shop();
  cJSON *j = to_json(p, true);
  cJSON *api = at(j, "services.api");
  assert_keys_at(
      api, "",
      "name,image,build,command,entrypoint,environment,env_files,ports,expose,volumes,"
      "depends_on,probe,replicas,resources,restart,profiles,labels,watch,"
      "container_name,hostname,user,working_dir,stop_signal,stop_grace_period_ms,init,"
      "tmpfs,extra_hosts,cap_add,cap_drop,networks,secrets,configs,uses,kind,extensions");
  assert_str_at(api, "name", "api");
  assert_null_at(api, "image");
  assert_str_at(api, "build.context", "/src/shop/api");
  assert_str_at(api, "build.dockerfile", "Dockerfile");
  assert_keys_at(api, "build.args", "PIP_INDEX_TOKEN,PYTHON_VERSION");
  assert_str_at(api, "build.target", "dev");
  assert_size_at(api, "command", 2);
  assert_str_at(api, "command.1", "app:app");
  assert_null_at(api, "entrypoint");
  /* Environment in model order; a variable without a value is null. */
  assert_keys_at(api, "environment",
                 "DATABASE_URL,POSTGRES_PASSWORD,PASSENGER_COUNT,REDIS_URL,"
                 "PLAIN_URL,RABBITMQ_DEFAULT_PASS,LOG_LEVEL,FROM_HOST");
  assert_str_at(api, "environment.LOG_LEVEL", "debug");
  assert_null_at(api, "environment.FROM_HOST");
  assert_str_at(api, "env_files.0", "/src/shop/.env");

  assert_size_at(api, "ports", 3);
  assert_keys_at(api, "ports.0", "host_ip,host_port,container_port,protocol");
  assert_str_at(api, "ports.0.host_ip", "127.0.0.1");
  assert_str_at(api, "ports.0.host_port", "8000");
  assert_str_at(api, "ports.0.container_port", "8000");
  assert_str_at(api, "ports.0.protocol", "tcp");
  assert_str_at(api, "ports.1.host_port", "9000-9010");
  assert_str_at(api, "ports.1.container_port", "9000-9010");
  assert_str_at(api, "ports.1.protocol", "udp");
  assert_null_at(api, "ports.2.host_port"); /* the engine picks */
  assert_str_at(api, "ports.2.container_port", "5678");
  assert_str_at(api, "expose.0", "9100");

  assert_keys_at(api, "volumes.0", "type,source,target,read_only,tmpfs_size");
  assert_str_at(api, "volumes.0.type", "bind");
  assert_str_at(api, "volumes.0.source", "/src/shop/api");
  assert_bool_at(api, "volumes.0.read_only", true);
  assert_null_at(api, "volumes.0.tmpfs_size");
  assert_str_at(api, "volumes.1.type", "volume");
  assert_bool_at(api, "volumes.1.read_only", false);
  assert_str_at(api, "volumes.2.type", "tmpfs");
  assert_null_at(api, "volumes.2.source");
  assert_num_at(api, "volumes.2.tmpfs_size", 65536);

  assert_keys_at(api, "depends_on", "db,cache");
  assert_keys_at(api, "depends_on.db", "condition,restart,required");
  assert_str_at(api, "depends_on.db.condition", "healthy");
  assert_bool_at(api, "depends_on.db.restart", true);
  assert_bool_at(api, "depends_on.db.required", true);
  assert_str_at(api, "depends_on.cache.condition", "started");
  assert_bool_at(api, "depends_on.cache.required", false);

  assert_str_at(api, "probe.kind", "http");
  assert_str_at(api, "probe.http_path", "/healthz");
  assert_num_at(api, "probe.port", 8000);
  assert_num_at(api, "probe.interval_ms", 5000);
  assert_num_at(api, "probe.timeout_ms", 1000);
  assert_null_at(api, "probe.start_period_ms");
  assert_num_at(api, "probe.retries", 3);

  assert_num_at(api, "replicas", 2);
  assert_num_at(api, "resources.cpu_millis", 500);
  assert_num_at(api, "resources.memory_bytes", 536870912);
  assert_str_at(api, "restart", "unless-stopped");
  assert_str_at(api, "profiles.0", "dev");
  assert_str_at(api, "labels.team", "core");
  /* Labels are never masked, whatever their name. */
  assert_str_at(api, "/labels/com.example.password-policy", "strict");

  assert_keys_at(api, "watch.0", "path,action,target,ignore,command");
  assert_str_at(api, "watch.0.action", "sync+restart");
  assert_str_at(api, "watch.0.target", "/app");
  assert_str_at(api, "watch.0.ignore.1", "__pycache__/");
  assert_size_at(api, "watch.0.command", 0);
  assert_str_at(api, "watch.1.action", "rebuild");
  assert_null_at(api, "watch.1.target");

  assert_null_at(api, "container_name");
  assert_str_at(api, "hostname", "api");
  assert_str_at(api, "user", "1000:1000");
  assert_str_at(api, "working_dir", "/app");
  assert_str_at(api, "stop_signal", "SIGINT");
  assert_num_at(api, "stop_grace_period_ms", 10000);
  assert_bool_at(api, "init", true);
  assert_str_at(api, "tmpfs.0", "/run");
  assert_str_at(api, "extra_hosts.0", "host.docker.internal:host-gateway");
  assert_str_at(api, "cap_add.0", "NET_ADMIN");
  assert_size_at(api, "cap_drop", 0);
  assert_str_at(api, "networks.backend.aliases.0", "api.internal");
  assert_str_at(api, "secrets.0.source", "db_password");
  assert_str_at(api, "secrets.0.target", "/run/secrets/db_password");
  assert_null_at(api, "configs.0.target");
  assert_keys_at(api, "uses.0", "infra,database,vhost,as");
  assert_str_at(api, "uses.0.database", "app");
  assert_null_at(api, "uses.0.vhost");
  assert_str_at(api, "uses.1.vhost", "/");
  assert_str_at(api, "uses.1.as", "AMQP_URL");
  assert_null_at(api, "kind");

  /* x- keys: stored JSON text parsed back; what is not JSON stays text. */
  assert_str_at(api, "extensions.x-owner", "team-core");
  assert_num_at(api, "extensions.x-meta.tier", 1);
  assert_str_at(api, "extensions.x-meta.tags.0", "a");
  assert_str_at(api, "extensions.x-broken", "{not json");
  cJSON_Delete(j);
  berth_project_free(p);
}

static void test_infra_and_sections(void **state) {
  struct berth_project *p = shop();
  cJSON *j = to_json(p, true);
  assert_keys_at(j, "infra.db",
                 "name,kind,version,image,databases,vhosts,users,management,"
                 "password,persistence,seeds");
  assert_str_at(j, "infra.db.kind", "postgres");
  /* Seeds in their order, each with its file, ledger name and target. */
  assert_keys_at(j, "infra.db.seeds.0", "kind,file,name,table,database,vhost");
  assert_str_at(j, "infra.db.seeds.0.kind", "csv");
  assert_str_at(j, "infra.db.seeds.0.name", "seeds/users.csv");
  assert_str_at(j, "infra.db.seeds.0.table", "audit.users");
  assert_null_at(j, "infra.db.seeds.0.vhost");
  assert_size_at(j, "infra.cache.seeds", 0);
  assert_str_at(j, "infra.db.version", "16");
  assert_keys_at(j, "infra.db.databases.0", "name,owner,password,schemas,extensions");
  assert_str_at(j, "infra.db.databases.0.schemas.1", "audit");
  assert_str_at(j, "infra.db.databases.0.extensions.0", "pgcrypto");
  assert_null_at(j, "infra.db.databases.1.owner");
  assert_size_at(j, "infra.db.vhosts", 0);
  assert_size_at(j, "infra.db.users", 0);
  assert_bool_at(j, "infra.db.management", false);
  assert_null_at(j, "infra.db.password");
  assert_null_at(j, "infra.db.persistence");

  assert_str_at(j, "infra.cache.kind", "redis");
  assert_null_at(j, "infra.cache.image");
  assert_str_at(j, "infra.cache.persistence", "aof");
  assert_size_at(j, "infra.cache.databases", 0);

  assert_str_at(j, "infra.mq.kind", "rabbitmq");
  assert_str_at(j, "infra.mq.vhosts.1", "orders");
  assert_bool_at(j, "infra.mq.management", true);
  assert_keys_at(j, "infra.mq.users.0", "name,password,tags,permissions");
  assert_str_at(j, "infra.mq.users.0.tags.0", "management");
  assert_keys_at(j, "infra.mq.users.0.permissions.0", "vhost,configure,write,read");
  assert_str_at(j, "infra.mq.users.0.permissions.0.read", "^orders\\.");
  assert_size_at(j, "infra.mq.users.1.permissions", 0);

  assert_keys_at(j, "networks.backend", "name,driver,external,external_name,internal,labels");
  assert_str_at(j, "networks.backend.driver", "bridge");
  assert_bool_at(j, "networks.backend.internal", true);
  assert_bool_at(j, "networks.backend.external", false);
  assert_str_at(j, "networks.backend.labels.tier", "back");
  assert_keys_at(j, "volumes.shared", "name,driver,external,external_name,labels");
  assert_null_at(j, "volumes.shared.driver");
  assert_bool_at(j, "volumes.shared.external", true);
  assert_str_at(j, "volumes.shared.external_name", "team_shared");
  assert_size_at(j, "volumes.shared.labels", 0);
  assert_keys_at(j, "secrets.db_password", "name,file,environment,content,external");
  assert_str_at(j, "secrets.db_password.file", "/src/shop/db.txt");
  assert_null_at(j, "secrets.db_password.content");
  assert_str_at(j, "configs.nginx.content", "server {}");
  assert_bool_at(j, "configs.nginx.external", false);
  cJSON_Delete(j);
  berth_project_free(p);
}

static void test_secrets_masked(void **state) {
  struct berth_project *p = shop();
  cJSON *j = to_json(p, false);
  cJSON *env = at(j, "services.api.environment");
  assert_str_at(env, "POSTGRES_PASSWORD", "***");
  assert_str_at(env, "RABBITMQ_DEFAULT_PASS", "***");
  /* Only the password of a URL's userinfo. */
  assert_str_at(env, "DATABASE_URL", "postgres://app:***@db:5432/app");
  assert_str_at(env, "REDIS_URL", "redis://:***@cache:6379/0");
  /* Not secrets: left as they are. */
  assert_str_at(env, "PASSENGER_COUNT", "4");
  assert_str_at(env, "PLAIN_URL", "https://example.com/a?b=c");
  assert_str_at(env, "LOG_LEVEL", "debug");
  assert_null_at(env, "FROM_HOST");
  assert_str_at(j, "services.api.build.args.PIP_INDEX_TOKEN", "***");
  assert_str_at(j, "services.api.build.args.PYTHON_VERSION", "3.12");
  assert_str_at(j, "infra.db.databases.0.password", "***");
  assert_null_at(j, "infra.db.databases.1.password"); /* unset stays null */
  assert_str_at(j, "infra.cache.password", "***");
  assert_str_at(j, "infra.mq.users.0.password", "***");
  assert_null_at(j, "infra.mq.users.1.password");
  assert_str_at(j, "secrets.inline.content", "***");
  assert_str_at(j, "configs.nginx.content", "server {}");
  /* Masking changes values, never the shape. */
  assert_str_at(j, "infra.db.databases.0.owner", "app");
  char *s = cJSON_PrintUnformatted(j);
  assert_null(strstr(s, "hunter2"));
  assert_null(strstr(s, "s3cret"));
  assert_null(strstr(s, "r3dis"));
  assert_null(strstr(s, "guest"));
  assert_null(strstr(s, "tok123"));
  assert_null(strstr(s, "dbpass"));
  assert_null(strstr(s, "redispw"));
  assert_null(strstr(s, "mqpw"));
  assert_null(strstr(s, "topsecret"));
  free(s);
  cJSON_Delete(j);
  berth_project_free(p);
}

static void test_secrets_shown(void **state) {
  struct berth_project *p = shop();
  cJSON *j = to_json(p, true);
  cJSON *env = at(j, "services.api.environment");
  assert_str_at(env, "POSTGRES_PASSWORD", "hunter2");
  assert_str_at(env, "RABBITMQ_DEFAULT_PASS", "guest");
  assert_str_at(env, "DATABASE_URL", "postgres://app:s3cret@db:5432/app");
  assert_str_at(env, "REDIS_URL", "redis://:r3dis@cache:6379/0");
  assert_str_at(env, "PASSENGER_COUNT", "4");
  assert_str_at(j, "services.api.build.args.PIP_INDEX_TOKEN", "tok123");
  assert_str_at(j, "infra.db.databases.0.password", "dbpass");
  assert_null_at(j, "infra.db.databases.1.password");
  assert_str_at(j, "infra.cache.password", "redispw");
  assert_str_at(j, "infra.mq.users.0.password", "mqpw");
  assert_str_at(j, "secrets.inline.content", "topsecret");
  cJSON_Delete(j);

  /* Both documents have the same shape: only values differ. */
  cJSON *masked = to_json(p, false), *shown = to_json(p, true);
  assert_same_shape(masked, shown, "");
  cJSON_Delete(masked);
  cJSON_Delete(shown);
  berth_project_free(p);
}

static void test_url_passwords(void **state) {
  static const char *const cases[][2] = {
      {"postgres://app:pw@db:5432/app?sslmode=disable",
       "postgres://app:***@db:5432/app?sslmode=disable"},
      {"amqp://app:pw@mq:5672/%2F", "amqp://app:***@mq:5672/%2F"},
      {"redis://:pw@cache:6379", "redis://:***@cache:6379"},
      {"rediss://default:p%40ss@cache", "rediss://default:***@cache"},
      /* an unencoded '@' in the password: the userinfo ends at the last '@' */
      {"postgresql://u:p@ss@db/x", "postgresql://u:***@db/x"},
      /* several URLs in one value, and hosts after the userinfo */
      {"amqp://a:b@h1,amqp://c:d@h2", "amqp://a:***@h1,amqp://c:***@h2"},
      {"mongodb+srv://u:pw@h1:1,h2:2/db", "mongodb+srv://u:***@h1:1,h2:2/db"},
      {"primary=postgres://u:pw@a/x replica=postgres://v:pw2@b/x",
       "primary=postgres://u:***@a/x replica=postgres://v:***@b/x"},
      /* nothing to hide */
      {"https://user@example.com/", "https://***@example.com/"}, /* where tokens go */
      {"https://u:@example.com/", "https://u:@example.com/"},
      {"https://example.com/a@b:c", "https://example.com/a@b:c"},
      {"http://example.com:8080/x", "http://example.com:8080/x"},
      {"://u:p@h", "://u:p@h"},
      {"file:///etc/app.conf", "file:///etc/app.conf"},
      {"http://h1,https://u:pw@h2/", "http://h1,https://u:***@h2/"},
      {"not a url: a:b@c", "not a url: a:b@c"},
      {"", ""},
  };
  struct berth_project *p = new_project("urls");
  struct berth_service *s = add_service(p, "app");
  size_t n = sizeof(cases) / sizeof(*cases);
  s->environment.v = xcalloc(n, sizeof(struct berth_kv));
  for (size_t i = 0; i < n; i++) {
    char key[16];
    snprintf(key, sizeof(key), "URL_%zu", i);
    s->environment.v[i] = (struct berth_kv){.key = xstrdup(key), .value = xstrdup(cases[i][0])};
    s->environment.n++;
  }
  cJSON *masked = to_json(p, false), *shown = to_json(p, true);
  for (size_t i = 0; i < n; i++) {
    char path[64];
    snprintf(path, sizeof(path), "services.app.environment.URL_%zu", i);
    assert_str_at(masked, path, cases[i][1]);
    assert_str_at(shown, path, cases[i][0]);
  }
  cJSON_Delete(masked);
  cJSON_Delete(shown);
  berth_project_free(p);
}

static void test_null_project(void **state) {
  cJSON *j = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_project_to_json(NULL, false, &j, &err), -BERTH_E_INVALID);
  assert_null(j);
  assert_int_equal(berth_err_code(err), BERTH_E_INVALID);
  berth_err_free(&err);
}

/* cJSON's allocations fail from the nth on (a cutoff), or only the nth
 * (the code goes on after one failure): every failure is BERTH_E_NOMEM,
 * *ret is left alone, and nothing leaks (LeakSanitizer). */
static long alloc_fail_at = -1, alloc_count;
static bool alloc_fail_after;

static void *limited_malloc(size_t n) {
  long i = alloc_count++;
  if (alloc_fail_at >= 0 && (i == alloc_fail_at || (alloc_fail_after && i > alloc_fail_at)))
    return NULL;
  return malloc(n);
}

static void test_out_of_memory(void **state) {
  struct berth_project *p = shop();
  cJSON_Hooks hooks = {.malloc_fn = limited_malloc, .free_fn = free};
  cJSON_InitHooks(&hooks);
  alloc_fail_at = -1;
  alloc_count = 0;
  cJSON *j = to_json(p, false);
  cJSON_Delete(j);
  long needed = alloc_count;
  assert_true(needed > 100);
  for (int cutoff = 1; cutoff >= 0; cutoff--) {
    alloc_fail_after = cutoff;
    int failures = 0;
    for (long n = 0; n < needed; n++) {
      alloc_fail_at = n;
      alloc_count = 0;
      cJSON *ret = NULL;
      berth_err err = NULL;
      int r = berth_project_to_json(p, false, &ret, &err);
      if (r < 0) {
        assert_int_equal(r, -BERTH_E_NOMEM);
        assert_int_equal(berth_err_code(err), BERTH_E_NOMEM);
        assert_null(ret);
        berth_err_free(&err);
        failures++;
      } else {
        /* A single failure inside the parse of stored JSON text gives
         * that text as a string (cJSON cannot tell it from bad syntax). */
        assert_false(cutoff);
        assert_null(err);
        cJSON_Delete(ret);
      }
    }
    if (cutoff)
      assert_int_equal(failures, needed);
    else
      assert_true(failures > needed * 9 / 10);
  }
  cJSON_InitHooks(NULL);
  alloc_fail_at = -1;
  berth_project_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_project_free),       cmocka_unit_test(test_names),
      cmocka_unit_test(test_project_service),    cmocka_unit_test(test_secret_names),
      cmocka_unit_test(test_empty_project),      cmocka_unit_test(test_service_defaults),
      cmocka_unit_test(test_top_level),          cmocka_unit_test(test_service_fields),
      cmocka_unit_test(test_infra_and_sections), cmocka_unit_test(test_secrets_masked),
      cmocka_unit_test(test_secrets_shown),      cmocka_unit_test(test_url_passwords),
      cmocka_unit_test(test_null_project),       cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
