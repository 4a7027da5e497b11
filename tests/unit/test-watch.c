/* berth/watch.h: editor droppings, and berth_watch_run's start and stop
 * (no engine needed: nothing changes, so no action talks to it). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth/clock.h"
#include "berth/watch.h"

static void test_is_temp(void **state) {
  assert_true(berth_watch_is_temp("src/.app.py.swp"));
  assert_true(berth_watch_is_temp("a/b/app.py~"));
  assert_true(berth_watch_is_temp("4913"));
  assert_true(berth_watch_is_temp("x/.#app.py"));
  assert_true(berth_watch_is_temp("#app.py#"));
  assert_false(berth_watch_is_temp("src/app.py"));
  assert_false(berth_watch_is_temp("swp"));
}

struct seen {
  atomic_int *stop;
  atomic_int watching;
  atomic_int returned;
  bool needed_store;
};

/* Stops the watch with berth_watch_stop() once its loop runs (soon after
 * the rules are watched) and clears the flag again at once, so the loop's
 * own look at the flag cannot be what stops it; only if it has not
 * returned after 10 s is the flag set for good. */
static void *stopper(void *arg) {
  struct seen *s = arg;
  while (atomic_load(&s->watching) < 2)
    berth_sleep_ms(1);
  berth_sleep_ms(500);
  berth_watch_stop(s->stop);
  atomic_store(s->stop, 0);
  for (int i = 0; i < 1000 && !atomic_load(&s->returned); i++)
    berth_sleep_ms(10);
  if (!atomic_load(&s->returned)) {
    s->needed_store = true;
    atomic_store(s->stop, 1);
  }
  return NULL;
}

static void on_event(const struct berth_watch_event *ev, void *ud) {
  struct seen *s = ud;
  if (ev->what == BERTH_WATCH_EV_WATCHING)
    atomic_fetch_add(&s->watching, 1);
}

/* Two services (two workers), stopped from another thread: the loop
 * wakes, every thread is joined (LeakSanitizer sees nothing left). */
static void test_run_and_stop(void **state) {
  char dir[] = "/tmp/berth-test-watch-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct berth_watch rules[2] = {{.path = dir, .action = BERTH_WATCH_SYNC, .target = "/app"},
                                 {.path = dir, .action = BERTH_WATCH_RESTART}};
  struct berth_service svcs[2] = {{.name = "a", .watch = &rules[0], .n_watch = 1},
                                  {.name = "b", .watch = &rules[1], .n_watch = 1}};
  struct berth_project p = {.name = "t", .dir = dir, .services = svcs, .n_services = 2};
  atomic_int stop = 0;
  struct seen seen = {.stop = &stop};
  struct berth_watch_opts o = {.on_event = on_event, .ud = &seen, .stop = &stop};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, stopper, &seen), 0);
  berth_err err = NULL;
  int rc = berth_watch_run(&p, &o, &err);
  atomic_store(&seen.returned, 1);
  pthread_join(th, NULL);
  assert_int_equal(rc, 0);
  assert_int_equal(atomic_load(&seen.watching), 2);
  assert_false(seen.needed_store);
  rmdir(dir);
}

static void test_nothing_to_watch(void **state) {
  struct berth_service svc = {.name = "a"};
  struct berth_project p = {.name = "t", .dir = "/tmp", .services = &svc, .n_services = 1};
  struct berth_watch_opts o = {0};
  berth_err err = NULL;
  assert_true(berth_watch_run(&p, &o, &err) < 0);
  assert_non_null(err);
  berth_err_free(&err);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_is_temp),
      cmocka_unit_test(test_run_and_stop),
      cmocka_unit_test(test_nothing_to_watch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
