/* core/docker/transport.c: version negotiation, error mapping, query
 * filters, DOCKER_HOST, what happens when the engine is not there, and
 * when it is there but stalls (a fake engine, tests/unit/fake-engine.h). */
#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth/clock.h"
#include "docker-internal.h"
#include "fake-engine.h"
#include "fixture.h"

/* ---- versions ---- */

static void test_version_cmp(void **state) {
  assert_true(berth_docker_version_cmp("1.41", "1.43") < 0);
  assert_true(berth_docker_version_cmp("1.43", "1.41") > 0);
  assert_int_equal(berth_docker_version_cmp("1.41", "1.41"), 0);
  /* Numeric, not lexical. */
  assert_true(berth_docker_version_cmp("1.9", "1.10") < 0);
  assert_true(berth_docker_version_cmp("1.10", "1.9") > 0);
  assert_true(berth_docker_version_cmp("2.0", "1.99") > 0);
  assert_true(berth_docker_version_cmp("1.100", "1.99") > 0);
}

static void test_version_cmp_malformed(void **state) {
  /* Malformed sorts lowest, below any real version. */
  assert_true(berth_docker_version_cmp("abc", "1.0") < 0);
  assert_true(berth_docker_version_cmp("1.0", "abc") > 0);
  assert_true(berth_docker_version_cmp("", "1.12") < 0);
  assert_true(berth_docker_version_cmp(NULL, "1.12") < 0);
  assert_true(berth_docker_version_cmp("1.12", NULL) > 0);
  assert_true(berth_docker_version_cmp("1", "0.1") < 0);
  assert_int_equal(berth_docker_version_cmp("abc", "xyz"), 0);
  assert_int_equal(berth_docker_version_cmp(NULL, NULL), 0);
}

static void test_negotiate_in_range(void **state) {
  char v[16];
  berth_err err = NULL;
  assert_int_equal(berth_docker_negotiate("1.41", v, sizeof(v), &err), 0);
  assert_string_equal(v, "1.41");
  assert_int_equal(berth_docker_negotiate("1.42", v, sizeof(v), &err), 0);
  assert_string_equal(v, "1.42");
  assert_int_equal(berth_docker_negotiate(BERTH_DOCKER_API_MAX, v, sizeof(v), &err), 0);
  assert_string_equal(v, BERTH_DOCKER_API_MAX);
  assert_null(err);
}

static void test_negotiate_newer_engine(void **state) {
  char v[16];
  berth_err err = NULL;
  assert_int_equal(berth_docker_negotiate("1.45", v, sizeof(v), &err), 0);
  assert_string_equal(v, BERTH_DOCKER_API_MAX);
  assert_int_equal(berth_docker_negotiate("1.100", v, sizeof(v), &err), 0);
  assert_string_equal(v, BERTH_DOCKER_API_MAX);
  assert_null(err);
}

static void test_negotiate_older_engine(void **state) {
  char v[16] = "untouched";
  berth_err err = NULL;
  int r = berth_docker_negotiate("1.40", v, sizeof(v), &err);
  assert_int_equal(r, -BERTH_E_UNSUPPORTED);
  assert_int_equal(berth_err_code(err), BERTH_E_UNSUPPORTED);
  const char *msg = berth_err_root_msg(err);
  assert_non_null(strstr(msg, "1.40"));
  assert_non_null(strstr(msg, BERTH_DOCKER_API_MIN));
  assert_non_null(strstr(msg, "upgrade"));
  berth_err_free(&err);

  /* 1.9 is older than 1.41 although "1.9" > "1.41" as text. */
  r = berth_docker_negotiate("1.9", v, sizeof(v), &err);
  assert_int_equal(r, -BERTH_E_UNSUPPORTED);
  berth_err_free(&err);
}

static void test_negotiate_garbage(void **state) {
  static const char *const bad[] = {"abc", "", "1", "1.", ".41", "1.41beta", "v1.41"};
  char v[16];
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    berth_err err = NULL;
    int r = berth_docker_negotiate(bad[i], v, sizeof(v), &err);
    if (r != -BERTH_E_PROTOCOL)
      fail_msg("negotiate(\"%s\") returned %d, not -BERTH_E_PROTOCOL", bad[i], r);
    assert_int_equal(berth_err_code(err), BERTH_E_PROTOCOL);
    char quoted[32];
    snprintf(quoted, sizeof(quoted), "\"%s\"", bad[i]);
    assert_non_null(strstr(berth_err_root_msg(err), quoted));
    berth_err_free(&err);
  }
  berth_err err = NULL;
  assert_int_equal(berth_docker_negotiate(NULL, v, sizeof(v), &err), -BERTH_E_PROTOCOL);
  assert_int_equal(berth_err_code(err), BERTH_E_PROTOCOL);
  berth_err_free(&err);
}

static void test_negotiate_small_buffer(void **state) {
  char v[3];
  berth_err err = NULL;
  int r = berth_docker_negotiate("1.42", v, sizeof(v), &err);
  assert_true(r < 0);
  assert_non_null(err);
  berth_err_free(&err);
}

/* ---- error answers ---- */

static void test_api_error_404(void **state) {
  static const char body[] = "{\"message\":\"No such image: x\"}\n";
  berth_err err = NULL;
  int r = berth__api_error(&err, 404, body, strlen(body));
  assert_int_equal(r, -BERTH_E_NOT_FOUND);
  assert_int_equal(berth_err_code(err), BERTH_E_NOT_FOUND);
  assert_int_equal(berth_err_status(err), 404);
  assert_string_equal(berth_err_root_msg(err), "No such image: x (HTTP 404)");
  /* Context added on the way up keeps code and status. */
  berth_err_wrap(&err, "GET /images/x/json");
  assert_int_equal(berth_err_code(err), BERTH_E_NOT_FOUND);
  assert_int_equal(berth_err_status(err), 404);
  char *s = berth_err_string(err);
  assert_string_equal(s, "GET /images/x/json: No such image: x (HTTP 404)");
  free(s);
  berth_err_free(&err);
}

static void test_api_error_409(void **state) {
  static const char body[] =
      "{\"message\":\"Conflict. The container name \\\"/demo-db-1\\\" is already in use by "
      "container \\\"4f3c\\\". You have to remove (or rename) that container to be able to "
      "reuse that name.\"}\n";
  berth_err err = NULL;
  int r = berth__api_error(&err, 409, body, strlen(body));
  assert_int_equal(r, -BERTH_E_CONFLICT);
  assert_int_equal(berth_err_code(err), BERTH_E_CONFLICT);
  assert_int_equal(berth_err_status(err), 409);
  assert_non_null(
      strstr(berth_err_root_msg(err), "The container name \"/demo-db-1\" is already in use"));
  berth_err_free(&err);
}

static void test_api_error_500_keeps_message(void **state) {
  static const char body[] =
      "{\"message\":\"driver failed programming external connectivity on endpoint x: Bind for "
      "127.0.0.1:5432 failed: port is already allocated\"}";
  berth_err err = NULL;
  int r = berth__api_error(&err, 500, body, strlen(body));
  assert_int_equal(r, -BERTH_E_API);
  assert_int_equal(berth_err_code(err), BERTH_E_API);
  assert_int_equal(berth_err_status(err), 500);
  assert_string_equal(berth_err_root_msg(err),
                      "driver failed programming external connectivity on endpoint x: Bind for "
                      "127.0.0.1:5432 failed: port is already allocated (HTTP 500)");
  berth_err_free(&err);
}

static void test_api_error_other_statuses(void **state) {
  static const struct {
    long status;
    int code;
  } cases[] = {{400, BERTH_E_API}, {403, BERTH_E_API}, {304, BERTH_E_API}, {503, BERTH_E_API}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    berth_err err = NULL;
    int r = berth__api_error(&err, cases[i].status, "{\"message\":\"m\"}", 15);
    assert_int_equal(r, -cases[i].code);
    assert_int_equal(berth_err_status(err), cases[i].status);
    berth_err_free(&err);
  }
}

static void test_api_error_text_body(void **state) {
  static const char body[] = "404 page not found\r\n";
  berth_err err = NULL;
  int r = berth__api_error(&err, 404, body, strlen(body));
  assert_int_equal(r, -BERTH_E_NOT_FOUND);
  assert_string_equal(berth_err_root_msg(err), "404 page not found (HTTP 404)");
  assert_int_equal(berth_err_status(err), 404);
  berth_err_free(&err);

  /* JSON without a message field: the text is all there is. */
  r = berth__api_error(&err, 500, "{\"error\":\"x\"}", 13);
  assert_int_equal(r, -BERTH_E_API);
  assert_string_equal(berth_err_root_msg(err), "{\"error\":\"x\"} (HTTP 500)");
  berth_err_free(&err);

  /* Only the given length is read: the body is not NUL-terminated. */
  r = berth__api_error(&err, 502, "Bad GatewayXXXX", 11);
  assert_string_equal(berth_err_root_msg(err), "Bad Gateway (HTTP 502)");
  berth_err_free(&err);
}

static void test_api_error_long_text_body(void **state) {
  /* NUL-terminated like the error body transport.c collects in a berth_buf. */
  char body[2001];
  memset(body, 'e', sizeof(body) - 1);
  body[sizeof(body) - 1] = '\0';
  berth_err err = NULL;
  berth__api_error(&err, 500, body, sizeof(body) - 1);
  /* Trimmed to 512 bytes of text plus " (HTTP 500)". */
  assert_int_equal(strlen(berth_err_root_msg(err)), 512 + strlen(" (HTTP 500)"));
  berth_err_free(&err);
}

static void test_api_error_empty_body(void **state) {
  berth_err err = NULL;
  int r = berth__api_error(&err, 500, NULL, 0);
  assert_int_equal(r, -BERTH_E_API);
  assert_string_equal(berth_err_root_msg(err), "no message (HTTP 500)");
  berth_err_free(&err);
  r = berth__api_error(&err, 404, "", 0);
  assert_int_equal(r, -BERTH_E_NOT_FOUND);
  assert_string_equal(berth_err_root_msg(err), "no message (HTTP 404)");
  berth_err_free(&err);
  r = berth__api_error(&err, 500, "{\"message\":\"\"}", 14);
  assert_string_equal(berth_err_root_msg(err), "no message (HTTP 500)");
  berth_err_free(&err);
}

/* ---- query filters ---- */

static char *unescape(const char *s) {
  int n = 0;
  char *u = curl_easy_unescape(NULL, s, 0, &n);
  assert_non_null(u);
  char *copy = strndup(u, (size_t)n);
  curl_free(u);
  return copy;
}

static void test_filters(void **state) {
  struct berth_buf q = BERTH_BUF_INIT(4096);
  berth_buf_add(&q, "/events", 7);
  static const char *const labels[] = {"berth.project=demo", "berth.ns", NULL};
  static const char *const types[] = {"container", "network", NULL};
  assert_int_equal(berth__add_filters(&q, labels, types), 0);
  assert_string_equal(q.data, "/events?filters="
                              "%7B%22label%22%3A%5B%22berth.project%3Ddemo%22%2C%22berth.ns%22%5D"
                              "%2C%22type%22%3A%5B%22container%22%2C%22network%22%5D%7D");
  char *json = unescape(strchr(q.data, '=') + 1);
  assert_string_equal(json, "{\"label\":[\"berth.project=demo\",\"berth.ns\"],"
                            "\"type\":[\"container\",\"network\"]}");
  free(json);
  berth_buf_release(&q);
}

static void test_filters_after_query(void **state) {
  struct berth_buf q = BERTH_BUF_INIT(4096);
  berth_buf_addf(&q, "/containers/json?all=%d", 1);
  static const char *const labels[] = {"a b&c=d/e", NULL};
  assert_int_equal(berth__add_filters(&q, labels, NULL), 0);
  const char *f = strstr(q.data, "&filters=");
  assert_non_null(f);
  assert_int_equal(f - q.data, strlen("/containers/json?all=1"));
  /* Spaces, '&' and '/' in a label are escaped: the query stays one field. */
  assert_null(strchr(f + 1, '&'));
  assert_null(strchr(f + 1, ' '));
  assert_null(strchr(f + 1, '/'));
  char *json = unescape(f + strlen("&filters="));
  assert_string_equal(json, "{\"label\":[\"a b&c=d/e\"]}");
  free(json);
  berth_buf_release(&q);
}

static void test_filters_types_only(void **state) {
  struct berth_buf q = BERTH_BUF_INIT(4096);
  berth_buf_add(&q, "/events", 7);
  static const char *const none[] = {NULL};
  static const char *const types[] = {"volume", NULL};
  assert_int_equal(berth__add_filters(&q, none, types), 0);
  char *json = unescape(strstr(q.data, "?filters=") + strlen("?filters="));
  assert_string_equal(json, "{\"type\":[\"volume\"]}");
  free(json);
  berth_buf_release(&q);
}

static void test_filters_empty(void **state) {
  struct berth_buf q = BERTH_BUF_INIT(4096);
  berth_buf_add(&q, "/events", 7);
  static const char *const none[] = {NULL};
  assert_int_equal(berth__add_filters(&q, NULL, NULL), 0);
  assert_int_equal(berth__add_filters(&q, none, none), 0);
  assert_int_equal(berth__add_filters(&q, none, NULL), 0);
  assert_string_equal(q.data, "/events");
  assert_int_equal(q.len, 7);
  berth_buf_release(&q);
}

static void test_filters_bound(void **state) {
  struct berth_buf q = BERTH_BUF_INIT(20);
  berth_buf_add(&q, "/events", 7);
  static const char *const labels[] = {"berth.project=demo", NULL};
  assert_int_equal(berth__add_filters(&q, labels, NULL), -BERTH_E_TOO_BIG);
  assert_string_equal(q.data, "/events");
  berth_buf_release(&q);
}

static void test_json_helpers(void **state) {
  static const char *const v[] = {"pg_isready", "-U", "postgres", NULL};
  cJSON *a = berth__string_array(v);
  char *s = cJSON_PrintUnformatted(a);
  assert_string_equal(s, "[\"pg_isready\",\"-U\",\"postgres\"]");
  free(s);
  cJSON_Delete(a);
  a = berth__string_array(NULL);
  s = cJSON_PrintUnformatted(a);
  assert_string_equal(s, "[]");
  free(s);
  cJSON_Delete(a);

  static const char *const kv[] = {"berth.project=demo", "empty=", "flag", "url=a=b", NULL};
  cJSON *o = berth__kv_object(kv);
  s = cJSON_PrintUnformatted(o);
  assert_string_equal(s,
                      "{\"berth.project\":\"demo\",\"empty\":\"\",\"flag\":\"\",\"url\":\"a=b\"}");
  free(s);
  cJSON_Delete(o);
}

static void test_escape(void **state) {
  char *e = berth__escape("my app/db 1");
  assert_string_equal(e, "my%20app%2Fdb%201");
  free(e);
}

/* ---- DOCKER_HOST and reaching the engine ---- */

static void test_open_tcp_unsupported(void **state) {
  setenv("DOCKER_HOST", "tcp://1.2.3.4:2375", 1);
  struct berth_docker *d = NULL;
  berth_err err = NULL;
  int r = berth_docker_open(&d, NULL, &err);
  unsetenv("DOCKER_HOST");
  assert_int_equal(r, -BERTH_E_UNSUPPORTED);
  assert_int_equal(berth_err_code(err), BERTH_E_UNSUPPORTED);
  assert_null(d);
  const char *msg = berth_err_root_msg(err);
  assert_non_null(strstr(msg, "tcp://1.2.3.4:2375"));
  assert_non_null(strstr(msg, "unix://"));
  berth_err_free(&err);

  /* Also when given directly. */
  r = berth_docker_open(&d, "ssh://user@host", &err);
  assert_int_equal(r, -BERTH_E_UNSUPPORTED);
  assert_null(d);
  berth_err_free(&err);
}

static void test_open_unix(void **state) {
  setenv("DOCKER_HOST", "unix:///tmp/x.sock", 1);
  struct berth_docker *d = NULL;
  berth_err err = NULL;
  int r = berth_docker_open(&d, NULL, &err);
  unsetenv("DOCKER_HOST");
  assert_int_equal(r, 0);
  assert_null(err);
  assert_non_null(d);
  assert_string_equal(berth_docker_endpoint(d), "unix:///tmp/x.sock");
  assert_string_equal(d->socket_path, "/tmp/x.sock");
  assert_string_equal(d->api, ""); /* not negotiated: open does not connect */
  assert_null(berth_docker_close(d));
}

static void test_open_default(void **state) {
  unsetenv("DOCKER_HOST");
  struct berth_docker *d = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_docker_open(&d, NULL, &err), 0);
  assert_string_equal(berth_docker_endpoint(d), "unix://" BERTH_DOCKER_DEFAULT_SOCKET);
  berth_docker_close(d);

  /* An empty DOCKER_HOST means the default too. */
  setenv("DOCKER_HOST", "", 1);
  assert_int_equal(berth_docker_open(&d, NULL, &err), 0);
  unsetenv("DOCKER_HOST");
  assert_string_equal(berth_docker_endpoint(d), "unix://" BERTH_DOCKER_DEFAULT_SOCKET);
  berth_docker_close(d);

  /* The argument wins over the environment. */
  setenv("DOCKER_HOST", "tcp://1.2.3.4:2375", 1);
  assert_int_equal(berth_docker_open(&d, "unix:///run/user/1000/docker.sock", &err), 0);
  unsetenv("DOCKER_HOST");
  assert_string_equal(berth_docker_endpoint(d), "unix:///run/user/1000/docker.sock");
  berth_docker_close(d);
  assert_null(err);
  assert_null(berth_docker_close(NULL));
}

static void test_open_unix_without_path(void **state) {
  struct berth_docker *d = NULL;
  berth_err err = NULL;
  int r = berth_docker_open(&d, "unix://", &err);
  assert_int_equal(r, -BERTH_E_INVALID);
  assert_null(d);
  berth_err_free(&err);
}

/* A fresh directory for the socket of each test, removed even when the
 * test fails. */
static int make_dir(void **state) {
  const char *tmp = getenv("TMPDIR");
  char *dir = NULL;
  if (asprintf(&dir, "%s/berth-unit-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
    return -1;
  if (!mkdtemp(dir)) {
    free(dir);
    return -1;
  }
  *state = dir;
  return 0;
}

static int remove_dir(void **state) {
  char *dir = *state, *sock = NULL;
  if (asprintf(&sock, "%s/docker.sock", dir) > 0)
    unlink(sock);
  free(sock);
  int r = rmdir(dir);
  free(dir);
  return r;
}

static void test_ping_unreachable(void **state) {
  const char *dir = *state;
  char *host = NULL;
  assert_true(asprintf(&host, "unix://%s/docker.sock", dir) > 0);
  struct berth_docker *d = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_docker_open(&d, host, &err), 0);

  int r = berth_docker_ping(d, &err);
  assert_int_equal(r, -BERTH_E_UNREACHABLE);
  assert_int_equal(berth_err_code(err), BERTH_E_UNREACHABLE);
  assert_int_equal(berth_err_status(err), 0);
  char *msg = berth_err_string(err);
  /* Names where it looked and what to do. */
  assert_non_null(strstr(msg, host));
  assert_non_null(strstr(msg, "No such file or directory"));
  assert_non_null(strstr(msg, "systemctl start docker"));
  assert_non_null(strstr(msg, "DOCKER_HOST"));
  assert_non_null(strstr(msg, "/_ping"));
  free(msg);
  berth_err_free(&err);

  /* The same for a call that needs the API version first. */
  cJSON *info = NULL;
  r = berth_docker_info(d, &info, &err);
  assert_int_equal(r, -BERTH_E_UNREACHABLE);
  assert_null(info);
  assert_string_equal(d->api, "");
  berth_err_free(&err);

  berth_docker_close(d);
  free(host);
}

static void test_ping_nobody_listening(void **state) {
  /* A socket file that exists but that nothing accepts on. */
  const char *dir = *state;
  char *path = NULL;
  assert_true(asprintf(&path, "%s/docker.sock", dir) > 0);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  assert_true(strlen(path) < sizeof(sa.sun_path));
  strcpy(sa.sun_path, path);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(fd); /* bound, never listened: connect() is refused */

  char *host = NULL;
  assert_true(asprintf(&host, "unix://%s", path) > 0);
  struct berth_docker *d = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_docker_open(&d, host, &err), 0);
  int r = berth_docker_ping(d, &err);
  assert_int_equal(r, -BERTH_E_UNREACHABLE);
  char *msg = berth_err_string(err);
  assert_non_null(strstr(msg, host));
  assert_non_null(strstr(msg, "Connection refused"));
  free(msg);
  berth_err_free(&err);
  berth_docker_close(d);
  free(host);
  free(path);
}

/* ---- an engine that stalls ---- */

/* The limits come from the environment when a client is opened. */
static struct berth_docker *open_fake(const struct fake_engine *f, const char *call_ms,
                                      const char *stall_ms) {
  setenv("BERTH_ENGINE_TIMEOUT_MS", call_ms, 1);
  setenv("BERTH_ENGINE_STALL_MS", stall_ms, 1);
  struct berth_docker *d = NULL;
  berth_err err = NULL;
  int r = berth_docker_open(&d, f->host, &err);
  unsetenv("BERTH_ENGINE_TIMEOUT_MS");
  unsetenv("BERTH_ENGINE_STALL_MS");
  if (r < 0)
    fail_msg("open: %s", berth_err_root_msg(err));
  return d;
}

static void test_call_stalls(void **state) {
  /* Accepts, reads the request, never answers. */
  static const struct fake_route routes[] = {
      {.method = "GET", .prefix = "/_ping", .mode = FAKE_SILENT}, {0}};
  static struct fake_engine f;
  fake_engine_start(&f, routes);
  struct berth_docker *d = open_fake(&f, "300", "0");
  berth_err err = NULL;
  int64_t t0 = berth_now_ms();
  int r = berth_docker_ping(d, &err);
  int64_t took = berth_now_ms() - t0;
  assert_int_equal(r, -BERTH_E_TIMEOUT);
  assert_int_equal(berth_err_code(err), BERTH_E_TIMEOUT);
  char *msg = berth_err_string(err);
  /* Names the call and the limit, and says what sets it. */
  assert_string_equal(msg, "the engine did not answer GET /_ping within 300 ms; is it hung or "
                           "overloaded? (docker info tells; BERTH_ENGINE_TIMEOUT_MS sets how "
                           "long berth waits)");
  free(msg);
  berth_err_free(&err);
  /* Not before the limit (how long after it is the bench's business). */
  assert_true(took >= 300);
  print_message("a stalled GET /_ping failed after %lld ms (limit 300 ms)\n", (long long)took);
  berth_docker_close(d);
  fake_engine_stop(&f);
}

static void test_list_stalls_names_call_without_query(void **state) {
  static const struct fake_route routes[] = {
      FAKE_PING, {.method = "GET", .prefix = "/containers/json", .mode = FAKE_SILENT}, {0}};
  static struct fake_engine f;
  fake_engine_start(&f, routes);
  struct berth_docker *d = open_fake(&f, "1500", "0");
  static const char *const labels[] = {"berth.project=demo", NULL};
  cJSON *list = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_docker_container_list(d, labels, true, &list, &err), -BERTH_E_TIMEOUT);
  assert_null(list);
  char *msg = berth_err_string(err);
  assert_contains(msg, "did not answer GET /containers/json within 1500 ms");
  assert_null(strstr(msg, "filters")); /* the call, not its escaped query */
  free(msg);
  berth_err_free(&err);
  berth_docker_close(d);
  fake_engine_stop(&f);
}

static void test_slow_answer_is_no_stall(void **state) {
  /* A byte of the body every 50 ms, 2.5 s in all, under a 1 s limit:
   * slow, never silent for long (libcurl reports the head by whole
   * lines, so it comes at once). */
  static const struct fake_route routes[] = {
      FAKE_PING,
      {.method = "GET",
       .prefix = "/info",
       .mode = FAKE_TRICKLE,
       .body = "{\"Name\":\"slow\",\"Pad\":\"0123456789012345678901234567890123\"}",
       .trickle_ms = 50},
      {0}};
  static struct fake_engine f;
  fake_engine_start(&f, routes);
  struct berth_docker *d = open_fake(&f, "1000", "0");
  cJSON *info = NULL;
  berth_err err = NULL;
  int r = berth_docker_info(d, &info, &err);
  if (r < 0)
    fail_msg("info: %s", berth_err_root_msg(err));
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(info, "Name")), "slow");
  cJSON_Delete(info);
  /* The connection stays open between calls (ping, info, info). */
  assert_int_equal(berth_docker_info(d, &info, &err), 0);
  cJSON_Delete(info);
  assert_int_equal(f.n_conns, 1);
  berth_docker_close(d);
  fake_engine_stop(&f);
}

static void test_pull_stalls_mid_stream(void **state) {
  /* The head and one progress message, then nothing. */
  static const struct fake_route routes[] = {FAKE_PING,
                                             {.method = "POST",
                                              .prefix = "/images/create",
                                              .mode = FAKE_HEAD_ONLY,
                                              .body = "{\"status\":\"Pulling fs layer\"}\n"},
                                             {0}};
  static struct fake_engine f;
  fake_engine_start(&f, routes);
  /* A call may wait 1 s, a transfer 2 s: the transfer's limit holds. */
  struct berth_docker *d = open_fake(&f, "1000", "2000");
  berth_err err = NULL;
  int64_t t0 = berth_now_ms();
  int r = berth_docker_image_pull(d, "postgres:15", NULL, NULL, &err);
  int64_t took = berth_now_ms() - t0;
  assert_int_equal(r, -BERTH_E_TIMEOUT);
  char *msg = berth_err_string(err);
  assert_string_equal(msg, "pulling postgres:15: the engine sent nothing for 2 s in the middle of "
                           "POST /images/create; is it hung or overloaded? (docker info tells; "
                           "BERTH_ENGINE_STALL_MS sets how long berth waits)");
  free(msg);
  berth_err_free(&err);
  assert_true(took >= 2000);
  berth_docker_close(d);
  fake_engine_stop(&f);
}

static atomic_int cancel_flag;

static void *cancel_later(void *arg) {
  berth_sleep_ms(*(int *)arg);
  atomic_store(&cancel_flag, 1);
  return NULL;
}

static int count_event(const cJSON *ev, void *ud) {
  (*(int *)ud)++;
  return 0;
}

static void test_quiet_events_are_not_timed(void **state) {
  /* The events stream says nothing for longer than both limits; it ends
   * when its owner cancels it, not with a timeout. */
  static const struct fake_route routes[] = {FAKE_PING,
                                             {.method = "GET",
                                              .prefix = "/events",
                                              .mode = FAKE_HEAD_ONLY,
                                              .body = "{\"Action\":\"start\"}\n"},
                                             {0}};
  static struct fake_engine f;
  fake_engine_start(&f, routes);
  struct berth_docker *d = open_fake(&f, "500", "500");
  atomic_store(&cancel_flag, 0);
  berth_docker_set_cancel(d, &cancel_flag);
  pthread_t t;
  int after = 2000;
  assert_int_equal(pthread_create(&t, NULL, cancel_later, &after), 0);
  struct berth_docker_events_opts eo = {0};
  int events = 0;
  berth_err err = NULL;
  int r = berth_docker_events(d, &eo, count_event, &events, &err);
  pthread_join(t, NULL);
  if (r < 0)
    fail_msg("events: %s", berth_err_root_msg(err));
  assert_int_equal(events, 1);
  berth_docker_close(d);
  fake_engine_stop(&f);
}

static int sink(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  return 0;
}

static void test_exec_start_stalls(void **state) {
  static const struct fake_route routes[] = {
      FAKE_PING,
      {.method = "POST", .prefix = "/containers/c1/exec", .status = 201, .body = "{\"Id\":\"e1\"}"},
      {.method = "POST", .prefix = "/exec/e1/start", .mode = FAKE_SILENT},
      {0}};
  static struct fake_engine f;
  fake_engine_start(&f, routes);
  struct berth_docker *d = open_fake(&f, "1000", "0");
  static const char *const cmd[] = {"true", NULL};
  struct berth_docker_exec_opts xo = {.cmd = cmd, .stdin_fd = -1};
  int code = -1;
  berth_err err = NULL;
  int r = berth_docker_exec(d, "c1", &xo, sink, NULL, &code, &err);
  assert_int_equal(r, -BERTH_E_TIMEOUT);
  char *msg = berth_err_string(err);
  assert_contains(msg, "did not answer POST /exec/e1/start within 1 s");
  free(msg);
  berth_err_free(&err);
  berth_docker_close(d);
  fake_engine_stop(&f);
}

static void test_timeout_env_checked(void **state) {
  static const char *const bad[] = {"abc", "-1", "10s", "99999999999999999999"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    setenv("BERTH_ENGINE_TIMEOUT_MS", bad[i], 1);
    struct berth_docker *d = NULL;
    berth_err err = NULL;
    int r = berth_docker_open(&d, "unix:///tmp/x.sock", &err);
    unsetenv("BERTH_ENGINE_TIMEOUT_MS");
    assert_int_equal(r, -BERTH_E_INVALID);
    assert_null(d);
    assert_non_null(strstr(berth_err_root_msg(err), "BERTH_ENGINE_TIMEOUT_MS="));
    berth_err_free(&err);
  }
  /* 0 turns it off; unset is the default. */
  struct berth_docker *d = NULL;
  berth_err err = NULL;
  setenv("BERTH_ENGINE_STALL_MS", "0", 1);
  assert_int_equal(berth_docker_open(&d, "unix:///tmp/x.sock", &err), 0);
  unsetenv("BERTH_ENGINE_STALL_MS");
  assert_int_equal(d->stall_ms, 0);
  assert_int_equal(d->call_ms, BERTH__CALL_TIMEOUT_MS);
  berth_docker_close(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_version_cmp),
      cmocka_unit_test(test_version_cmp_malformed),
      cmocka_unit_test(test_negotiate_in_range),
      cmocka_unit_test(test_negotiate_newer_engine),
      cmocka_unit_test(test_negotiate_older_engine),
      cmocka_unit_test(test_negotiate_garbage),
      cmocka_unit_test(test_negotiate_small_buffer),
      cmocka_unit_test(test_api_error_404),
      cmocka_unit_test(test_api_error_409),
      cmocka_unit_test(test_api_error_500_keeps_message),
      cmocka_unit_test(test_api_error_other_statuses),
      cmocka_unit_test(test_api_error_text_body),
      cmocka_unit_test(test_api_error_long_text_body),
      cmocka_unit_test(test_api_error_empty_body),
      cmocka_unit_test(test_filters),
      cmocka_unit_test(test_filters_after_query),
      cmocka_unit_test(test_filters_types_only),
      cmocka_unit_test(test_filters_empty),
      cmocka_unit_test(test_filters_bound),
      cmocka_unit_test(test_json_helpers),
      cmocka_unit_test(test_escape),
      cmocka_unit_test(test_open_tcp_unsupported),
      cmocka_unit_test(test_open_unix),
      cmocka_unit_test(test_open_default),
      cmocka_unit_test(test_open_unix_without_path),
      cmocka_unit_test_setup_teardown(test_ping_unreachable, make_dir, remove_dir),
      cmocka_unit_test_setup_teardown(test_ping_nobody_listening, make_dir, remove_dir),
      cmocka_unit_test_teardown(test_call_stalls, fake_engine_teardown),
      cmocka_unit_test_teardown(test_list_stalls_names_call_without_query, fake_engine_teardown),
      cmocka_unit_test_teardown(test_slow_answer_is_no_stall, fake_engine_teardown),
      cmocka_unit_test_teardown(test_pull_stalls_mid_stream, fake_engine_teardown),
      cmocka_unit_test_teardown(test_quiet_events_are_not_timed, fake_engine_teardown),
      cmocka_unit_test_teardown(test_exec_start_stalls, fake_engine_teardown),
      cmocka_unit_test(test_timeout_env_checked),
  };
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup(); /* berth_docker_open initialised libcurl */
  return r;
}
