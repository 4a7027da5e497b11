/* The monotonic and wall clocks. */
#include <errno.h>
#include <time.h>

#include "berth/clock.h"

static int64_t ms_of(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t berth_now_ms(void) {
  return ms_of(CLOCK_MONOTONIC);
}

int64_t berth_unix_ms(void) {
  return ms_of(CLOCK_REALTIME);
}

void berth_sleep_ms(int64_t ms) {
  if (ms <= 0)
    return;
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}
