/* berth/err.h: error values, cause chains, codes and statuses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "berth/err.h"

static void test_set_fills_error(void **state) {
  berth_err err = NULL;
  int r = berth_err_set(&err, BERTH_E_INVALID, "bad port %d in %s", 70000, "db");
  assert_int_equal(r, -BERTH_E_INVALID);
  assert_non_null(err);
  assert_int_equal(err->code, BERTH_E_INVALID);
  assert_int_equal(err->status, 0);
  assert_null(err->cause);
  assert_string_equal(err->msg, "bad port 70000 in db");
  assert_int_equal(berth_err_code(err), BERTH_E_INVALID);
  assert_string_equal(berth_err_root_msg(err), "bad port 70000 in db");
  berth_err_free(&err);
  assert_null(err);
}

static void test_wrap_chain_order(void **state) {
  berth_err err = NULL;
  berth_err_set(&err, BERTH_E_NOT_FOUND, "root");
  int r = berth_err_wrap(&err, "ctx%d", 1);
  assert_int_equal(r, -BERTH_E_NOT_FOUND);
  r = berth_err_wrap(&err, "ctx%d", 2);
  assert_int_equal(r, -BERTH_E_NOT_FOUND);

  /* Outermost first, root last. */
  assert_string_equal(err->msg, "ctx2");
  assert_non_null(err->cause);
  assert_string_equal(err->cause->msg, "ctx1");
  assert_non_null(err->cause->cause);
  assert_string_equal(err->cause->cause->msg, "root");
  assert_null(err->cause->cause->cause);

  char *s = berth_err_string(err);
  assert_non_null(s);
  assert_string_equal(s, "ctx2: ctx1: root");
  free(s);
  assert_string_equal(berth_err_root_msg(err), "root");
  assert_int_equal(berth_err_code(err), BERTH_E_NOT_FOUND);
  assert_int_equal(err->code, BERTH_E_NOT_FOUND);
  berth_err_free(&err);
  assert_null(err);
}

static void test_code_and_status_preserved(void **state) {
  berth_err err = NULL;
  berth_err_set(&err, BERTH_E_CONFLICT, "container name \"/db\" is already in use");
  err->status = 409; /* as berth__api_error does */
  berth_err_wrap(&err, "creating container %s", "db");
  berth_err_wrap(&err, "starting service %s", "db");
  assert_int_equal(berth_err_code(err), BERTH_E_CONFLICT);
  assert_int_equal(berth_err_status(err), 409);
  /* Every layer carries the status, not just the root. */
  assert_int_equal(err->status, 409);
  assert_int_equal(err->cause->status, 409);
  assert_int_equal(err->code, BERTH_E_CONFLICT);
  berth_err_free(&err);
}

static void test_set_on_existing_keeps_cause(void **state) {
  berth_err err = NULL;
  berth_err_set(&err, BERTH_E_IO, "inner");
  int r = berth_err_set(&err, BERTH_E_PROTOCOL, "outer");
  assert_int_equal(r, -BERTH_E_PROTOCOL);
  assert_int_equal(err->code, BERTH_E_PROTOCOL);
  /* berth_err_code() reports the root cause. */
  assert_int_equal(berth_err_code(err), BERTH_E_IO);
  char *s = berth_err_string(err);
  assert_string_equal(s, "outer: inner");
  free(s);
  berth_err_free(&err);
}

static void test_wrap_without_error(void **state) {
  berth_err err = NULL;
  int r = berth_err_wrap(&err, "context only");
  assert_int_equal(r, -BERTH_E_FAILED);
  assert_int_equal(berth_err_code(err), BERTH_E_FAILED);
  assert_string_equal(berth_err_root_msg(err), "context only");
  berth_err_free(&err);
}

static void test_errno(void **state) {
  berth_err err = NULL;
  int r = berth_err_errno(&err, ENOENT, "reading %s", "/x/.dockerignore");
  assert_int_equal(r, -BERTH_E_IO);
  assert_int_equal(berth_err_code(err), BERTH_E_IO);
  char expected[256];
  snprintf(expected, sizeof(expected), "reading /x/.dockerignore: %s", strerror(ENOENT));
  assert_string_equal(berth_err_root_msg(err), expected);
  berth_err_free(&err);
}

static void test_accessors_on_null(void **state) {
  assert_int_equal(berth_err_code(NULL), 0);
  assert_int_equal(berth_err_status(NULL), 0);
  assert_string_equal(berth_err_root_msg(NULL), "");
  char *s = berth_err_string(NULL);
  assert_non_null(s);
  assert_string_equal(s, "");
  free(s);
}

static void test_free_null(void **state) {
  berth_err_free(NULL);
  berth_err err = NULL;
  berth_err_free(&err);
  assert_null(err);
  berth_err_set(&err, BERTH_E_FAILED, "x");
  berth_err_free(&err);
  berth_err_free(&err); /* twice: the first set it to NULL */
  assert_null(err);
}

static void test_long_message(void **state) {
  char big[5000];
  memset(big, 'm', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  berth_err err = NULL;
  berth_err_set(&err, BERTH_E_API, "%s", big);
  berth_err_wrap(&err, "w");
  char *s = berth_err_string(err);
  assert_int_equal(strlen(s), strlen(big) + 3);
  assert_memory_equal(s, "w: ", 3);
  assert_string_equal(s + 3, big);
  free(s);
  berth_err_free(&err);
}

static void test_setv(void **state) {
  berth_err err = NULL;
  int r = berth_err_set(&err, BERTH_E_TIMEOUT, "%s after %ds", "db not healthy", 30);
  assert_int_equal(r, -BERTH_E_TIMEOUT);
  assert_string_equal(berth_err_root_msg(err), "db not healthy after 30s");
  berth_err_free(&err);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_set_fills_error),
      cmocka_unit_test(test_wrap_chain_order),
      cmocka_unit_test(test_code_and_status_preserved),
      cmocka_unit_test(test_set_on_existing_keeps_cause),
      cmocka_unit_test(test_wrap_without_error),
      cmocka_unit_test(test_errno),
      cmocka_unit_test(test_accessors_on_null),
      cmocka_unit_test(test_free_null),
      cmocka_unit_test(test_long_message),
      cmocka_unit_test(test_setv),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
