/* Time, the one way berth reads it: durations and deadlines from the
 * monotonic clock, timestamps for history from the wall clock. */
#ifndef BERTH_CLOCK_H
#define BERTH_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC: for elapsed times and deadlines. */
int64_t berth_now_ms(void);
/* Milliseconds since the Unix epoch: only for what is stored or shown
 * as a date. */
int64_t berth_unix_ms(void);
/* Sleeps ms milliseconds (restarting after signals). */
void berth_sleep_ms(int64_t ms);

#endif
