/* core/engine/status.c, and the other paths that read the engine's lists
 * (up's preflight, down): what they make of an engine that leaves out
 * what Docker always sends (an Id, Names, State). A fake engine
 * (tests/unit/fake-engine.h) answers; berth must neither crash nor act
 * on the broken entry, and must say what was missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "berth/engine.h"
#include "fake-engine.h"
#include "fixture.h"

#define LABELS "\"Labels\":{\"berth.project\":\"demo\",\"berth.service\":\"api\"}"

static void serve(struct fake_engine *f, const struct fake_route *routes) {
  fake_engine_start(f, routes);
  setenv("DOCKER_HOST", f->host, 1);
}

static void stop(struct fake_engine *f) {
  unsetenv("DOCKER_HOST");
  fake_engine_stop(f);
}

/* berth ps of project demo against a fake engine answering routes. */
static int ps_with(const struct fake_route *routes, struct berth_status *st, berth_err *err) {
  static struct fake_engine f;
  serve(&f, routes);
  int r = berth_engine_ps("demo", st, err);
  stop(&f);
  return r;
}

static void test_ps_entry_without_id(void **state) {
  static const struct fake_route routes[] = {
      FAKE_PING,
      {.method = "GET",
       .prefix = "/containers/json",
       .body = "[{\"Id\":\"4f3c\",\"Names\":[\"/demo-db-1\"],\"State\":\"running\"," LABELS "},"
               "{\"Names\":[\"/demo-api-1\"],\"State\":\"running\"," LABELS "}]"},
      {0}};
  struct berth_status st = {0};
  berth_err err = NULL;
  int r = ps_with(routes, &st, &err);
  assert_int_equal(r, -BERTH_E_PROTOCOL);
  assert_string_equal(berth_err_root_msg(err),
                      "GET /containers/json: the engine listed a container without an Id (entry "
                      "2 of 2, named demo-api-1); is DOCKER_HOST a Docker engine? (docker info "
                      "tells)");
  berth_err_free(&err);
  assert_int_equal(st.n, 0);
  berth_status_release(&st);
}

static void test_ps_entry_with_nothing(void **state) {
  /* No Id, no Names, no State: only labels. */
  static const struct fake_route routes[] = {
      FAKE_PING, {.method = "GET", .prefix = "/containers/json", .body = "[{" LABELS "}]"}, {0}};
  struct berth_status st = {0};
  berth_err err = NULL;
  int r = ps_with(routes, &st, &err);
  assert_int_equal(r, -BERTH_E_PROTOCOL);
  assert_contains(berth_err_root_msg(err), "a container without an Id (entry 1 of 1)");
  berth_err_free(&err);
  berth_status_release(&st);
}

static void test_ps_entry_without_names_or_state(void **state) {
  /* An Id is enough to show the container: as docker ps names it, and a
   * state nobody reported. */
  static const struct fake_route routes[] = {
      FAKE_PING,
      {.method = "GET",
       .prefix = "/containers/json",
       .body = "[{\"Id\":\"0123456789abcdef0123\"," LABELS ",\"Ports\":[{\"PublicPort\":\"x\"},"
               "{\"PublicPort\":70000,\"PrivatePort\":80},{\"IP\":null}]}]"},
      {0}};
  struct berth_status st = {0};
  berth_err err = NULL;
  int r = ps_with(routes, &st, &err);
  if (r < 0)
    fail_msg("ps: %s", berth_err_root_msg(err));
  assert_int_equal(st.n, 1);
  assert_string_equal(st.v[0].service, "api");
  assert_string_equal(st.v[0].container, "0123456789ab");
  assert_string_equal(st.v[0].id, "0123456789abcdef0123");
  assert_string_equal(st.v[0].state, "unknown");
  assert_null(st.v[0].health);
  assert_int_equal(st.v[0].n_urls, 0); /* no port that is a port */
  berth_status_release(&st);
}

static void test_list_that_is_no_list(void **state) {
  static const struct fake_route routes[] = {
      FAKE_PING, {.method = "GET", .prefix = "/containers/json", .body = "{\"Id\":\"x\"}"}, {0}};
  struct berth_status st = {0};
  berth_err err = NULL;
  int r = ps_with(routes, &st, &err);
  assert_int_equal(r, -BERTH_E_PROTOCOL);
  assert_contains(berth_err_root_msg(err), "the engine's list of containers is not a list");
  berth_err_free(&err);
  berth_status_release(&st);
}

static const char manifest[] = "services:\n  api:\n    image: berth-local/base\n";

static void test_down_entry_without_id(void **state) {
  static const struct fake_route routes[] = {FAKE_PING,
                                             {.method = "GET",
                                              .prefix = "/containers/json",
                                              .body = "[{\"Names\":[\"/demo-api-1\"]," LABELS "}]"},
                                             {.method = "GET", .prefix = "/networks", .body = "[]"},
                                             {0}};
  struct berth_project *p = fixture_load(manifest, NULL);
  static struct fake_engine f;
  serve(&f, routes);
  struct berth_engine_opts o = {0};
  berth_err err = NULL;
  int r = berth_engine_down(p, &o, &err);
  /* Nothing was stopped or removed on the strength of a broken list. */
  size_t posts = fake_engine_count(&f, "POST", "/containers/");
  size_t deletes = fake_engine_count(&f, "DELETE", "/");
  stop(&f);
  assert_int_equal(r, -BERTH_E_PROTOCOL);
  assert_contains(berth_err_root_msg(err), "a container without an Id (entry 1 of 1, named "
                                           "demo-api-1)");
  assert_int_equal(posts, 0);
  assert_int_equal(deletes, 0);
  berth_err_free(&err);
  berth_project_free(p);
}

static void test_down_network_without_id(void **state) {
  static const struct fake_route routes[] = {
      FAKE_PING,
      {.method = "GET", .prefix = "/containers/json", .body = "[]"},
      {.method = "GET", .prefix = "/networks", .body = "[{\"Name\":\"demo_default\"}]"},
      {0}};
  struct berth_project *p = fixture_load(manifest, NULL);
  static struct fake_engine f;
  serve(&f, routes);
  struct berth_engine_opts o = {0};
  berth_err err = NULL;
  int r = berth_engine_down(p, &o, &err);
  size_t deletes = fake_engine_count(&f, "DELETE", "/");
  stop(&f);
  assert_int_equal(r, -BERTH_E_PROTOCOL);
  assert_contains(berth_err_root_msg(err),
                  "GET /networks: the engine listed a network without an Id (entry 1 of 1, named "
                  "demo_default)");
  assert_int_equal(deletes, 0);
  berth_err_free(&err);
  berth_project_free(p);
}

static void test_up_entry_without_id(void **state) {
  static const struct fake_route routes[] = {
      FAKE_PING, {.method = "GET", .prefix = "/containers/json", .body = "[{" LABELS "}]"}, {0}};
  struct berth_project *p = fixture_load(manifest, NULL);
  static struct fake_engine f;
  serve(&f, routes);
  struct berth_engine_opts o = {0};
  berth_err err = NULL;
  int r = berth_engine_up(p, &o, NULL, &err);
  size_t posts = fake_engine_count(&f, "POST", "/");
  stop(&f);
  assert_int_equal(r, -BERTH_E_PROTOCOL);
  assert_contains(berth_err_root_msg(err), "a container without an Id (entry 1 of 1)");
  assert_int_equal(posts, 0); /* no create, start or remove */
  berth_err_free(&err);
  berth_project_free(p);
}

static void test_ps_urls_show_the_bound_address(void **state) {
  /* 0.0.0.0 and :: are open to the network: ps says so, as it says
   * 127.0.0.1; what is no address is not printed. */
  static const struct fake_route routes[] = {
      FAKE_PING,
      {.method = "GET",
       .prefix = "/containers/json",
       .body = "[{\"Id\":\"4f3c\",\"Names\":[\"/demo-api-1\"],\"State\":\"running\"," LABELS
               ",\"Ports\":[{\"IP\":\"0.0.0.0\",\"PrivatePort\":80,\"PublicPort\":3000,"
               "\"Type\":\"tcp\"},{\"IP\":\"::\",\"PrivatePort\":80,\"PublicPort\":3000,"
               "\"Type\":\"tcp\"},{\"IP\":\"127.0.0.1\",\"PrivatePort\":81,\"PublicPort\":3001,"
               "\"Type\":\"tcp\"},{\"IP\":\"\\u001b]0;x\\u0007\",\"PrivatePort\":82,"
               "\"PublicPort\":3002,\"Type\":\"tcp\"}]}]"},
      {0}};
  struct berth_status st = {0};
  berth_err err = NULL;
  int r = ps_with(routes, &st, &err);
  assert_int_equal(r, 0);
  assert_int_equal(st.n, 1);
  assert_int_equal(st.v[0].n_urls, 4);
  assert_string_equal(st.v[0].urls[0], "http://0.0.0.0:3000");
  assert_string_equal(st.v[0].urls[1], "http://[::]:3000");
  assert_string_equal(st.v[0].urls[2], "http://127.0.0.1:3001");
  assert_string_equal(st.v[0].urls[3], "http://(not an address):3002");
  berth_status_release(&st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_ps_entry_without_id, fake_engine_teardown),
      cmocka_unit_test_teardown(test_ps_urls_show_the_bound_address, fake_engine_teardown),
      cmocka_unit_test_teardown(test_ps_entry_with_nothing, fake_engine_teardown),
      cmocka_unit_test_teardown(test_ps_entry_without_names_or_state, fake_engine_teardown),
      cmocka_unit_test_teardown(test_list_that_is_no_list, fake_engine_teardown),
      cmocka_unit_test_teardown(test_down_entry_without_id, fake_engine_teardown),
      cmocka_unit_test_teardown(test_down_network_without_id, fake_engine_teardown),
      cmocka_unit_test_teardown(test_up_entry_without_id, fake_engine_teardown),
  };
  return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
