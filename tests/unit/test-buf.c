/* berth/buf.h: the bounded byte buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "berth/buf.h"
#include "berth/err.h"

static void test_init(void **state) {
  struct berth_buf b;
  memset(&b, 0x5a, sizeof(b));
  berth_buf_init(&b, 123);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
  assert_int_equal(b.max, 123);
  struct berth_buf s = BERTH_BUF_INIT(7);
  assert_null(s.data);
  assert_int_equal(s.max, 7);
}

static void test_max_exact(void **state) {
  struct berth_buf b = BERTH_BUF_INIT(10);
  assert_int_equal(berth_buf_add(&b, "0123456", 7), 0);
  assert_int_equal(berth_buf_add(&b, "789", 3), 0); /* exactly max */
  assert_int_equal(b.len, 10);
  assert_string_equal(b.data, "0123456789");

  assert_int_equal(berth_buf_add(&b, "x", 1), -BERTH_E_TOO_BIG);
  assert_int_equal(b.len, 10);
  assert_string_equal(b.data, "0123456789");
  assert_int_equal(berth_buf_add(&b, "", 0), 0); /* nothing is always fine */
  assert_int_equal(b.len, 10);
  berth_buf_release(&b);
}

static void test_too_big_in_one_add(void **state) {
  struct berth_buf b = BERTH_BUF_INIT(4);
  assert_int_equal(berth_buf_add(&b, "ab", 2), 0);
  assert_int_equal(berth_buf_add(&b, "cde", 3), -BERTH_E_TOO_BIG);
  assert_int_equal(b.len, 2);
  assert_string_equal(b.data, "ab");
  /* A length that would wrap around size_t is refused too. */
  assert_int_equal(berth_buf_add(&b, "c", SIZE_MAX), -BERTH_E_TOO_BIG);
  assert_int_equal(berth_buf_add(&b, "c", SIZE_MAX - 1), -BERTH_E_TOO_BIG);
  assert_int_equal(b.len, 2);
  assert_string_equal(b.data, "ab");
  assert_int_equal(berth_buf_add(&b, "cd", 2), 0);
  assert_string_equal(b.data, "abcd");
  berth_buf_release(&b);
}

static void test_max_zero(void **state) {
  struct berth_buf b = BERTH_BUF_INIT(0);
  assert_int_equal(berth_buf_add(&b, "a", 1), -BERTH_E_TOO_BIG);
  assert_int_equal(b.len, 0);
  berth_buf_release(&b);
}

static void test_grows_and_terminates(void **state) {
  struct berth_buf b = BERTH_BUF_INIT(1 << 20);
  char chunk[1000];
  for (int i = 0; i < 300; i++) {
    memset(chunk, 'a' + i % 26, sizeof(chunk));
    assert_int_equal(berth_buf_add(&b, chunk, sizeof(chunk)), 0);
    assert_int_equal(b.len, (size_t)(i + 1) * sizeof(chunk));
    assert_true(b.cap > b.len);
    assert_int_equal(b.data[b.len], '\0');
  }
  for (int i = 0; i < 300; i++)
    assert_int_equal(b.data[i * 1000 + 999], 'a' + i % 26);
  assert_int_equal(strlen(b.data), 300000);
  berth_buf_release(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
}

static void test_binary_data(void **state) {
  struct berth_buf b = BERTH_BUF_INIT(64);
  static const char bin[] = {'a', '\0', 'b', '\0'};
  assert_int_equal(berth_buf_add(&b, bin, sizeof(bin)), 0);
  assert_int_equal(b.len, 4);
  assert_memory_equal(b.data, bin, 4);
  assert_int_equal(b.data[4], '\0');
  berth_buf_release(&b);
}

static void test_addf(void **state) {
  struct berth_buf b = BERTH_BUF_INIT(32);
  assert_int_equal(berth_buf_addf(&b, "/containers/%s/json", "db"), 0);
  assert_int_equal(berth_buf_addf(&b, "?all=%d", 1), 0);
  assert_string_equal(b.data, "/containers/db/json?all=1");
  assert_int_equal(b.len, strlen("/containers/db/json?all=1"));
  /* 25 bytes used; 8 more would make 33: nothing is added. */
  assert_int_equal(berth_buf_addf(&b, "&xy=%s", "abcd"), -BERTH_E_TOO_BIG);
  assert_int_equal(b.len, 25);
  assert_string_equal(b.data, "/containers/db/json?all=1");
  assert_int_equal(berth_buf_addf(&b, "&xy=%s", "abc"), 0); /* 7 bytes: exactly 32 */
  assert_int_equal(b.len, 32);
  assert_string_equal(b.data, "/containers/db/json?all=1&xy=abc");
  berth_buf_release(&b);
}

static void test_consume(void **state) {
  struct berth_buf b = BERTH_BUF_INIT(64);
  berth_buf_add(&b, "line1\nline2\n", 12);
  berth_buf_consume(&b, 6);
  assert_int_equal(b.len, 6);
  assert_string_equal(b.data, "line2\n");
  berth_buf_consume(&b, 0);
  assert_string_equal(b.data, "line2\n");
  berth_buf_consume(&b, 6);
  assert_int_equal(b.len, 0);
  assert_string_equal(b.data, "");
  berth_buf_add(&b, "abc", 3);
  berth_buf_consume(&b, 100); /* more than there is */
  assert_int_equal(b.len, 0);
  assert_string_equal(b.data, "");
  /* Consuming frees room under the bound. */
  struct berth_buf c = BERTH_BUF_INIT(4);
  berth_buf_add(&c, "abcd", 4);
  assert_int_equal(berth_buf_add(&c, "e", 1), -BERTH_E_TOO_BIG);
  berth_buf_consume(&c, 2);
  assert_int_equal(berth_buf_add(&c, "ef", 2), 0);
  assert_string_equal(c.data, "cdef");
  berth_buf_release(&c);
  berth_buf_release(&b);
}

static void test_consume_empty(void **state) {
  struct berth_buf b = BERTH_BUF_INIT(4);
  berth_buf_consume(&b, 3); /* no data yet: must not crash */
  assert_null(b.data);
  assert_int_equal(b.len, 0);
}

static void test_reset(void **state) {
  struct berth_buf b = BERTH_BUF_INIT(8);
  berth_buf_reset(&b);
  berth_buf_add(&b, "12345678", 8);
  berth_buf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_non_null(b.data);
  assert_string_equal(b.data, "");
  assert_int_equal(berth_buf_add(&b, "abcdefgh", 8), 0); /* the whole bound again */
  assert_string_equal(b.data, "abcdefgh");
  berth_buf_release(&b);
}

static void test_detach(void **state) {
  struct berth_buf b = BERTH_BUF_INIT(16);
  berth_buf_add(&b, "hello", 5);
  char *p = berth_buf_detach(&b);
  assert_string_equal(p, "hello");
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
  assert_int_equal(b.max, 16);
  free(p);

  /* Detaching an empty buffer still gives a string the caller frees. */
  p = berth_buf_detach(&b);
  assert_non_null(p);
  assert_string_equal(p, "");
  free(p);

  /* The buffer is usable after a detach. */
  assert_int_equal(berth_buf_add(&b, "again", 5), 0);
  assert_string_equal(b.data, "again");
  berth_buf_release(&b);
}

static void test_release_twice(void **state) {
  struct berth_buf b = BERTH_BUF_INIT(16);
  berth_buf_add(&b, "x", 1);
  berth_buf_release(&b);
  berth_buf_release(&b);
  assert_null(b.data);
  assert_int_equal(b.cap, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init),
      cmocka_unit_test(test_max_exact),
      cmocka_unit_test(test_too_big_in_one_add),
      cmocka_unit_test(test_max_zero),
      cmocka_unit_test(test_grows_and_terminates),
      cmocka_unit_test(test_binary_data),
      cmocka_unit_test(test_addf),
      cmocka_unit_test(test_consume),
      cmocka_unit_test(test_consume_empty),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_detach),
      cmocka_unit_test(test_release_twice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
