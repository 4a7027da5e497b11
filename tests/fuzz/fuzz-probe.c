/* libFuzzer target: the probes' answer parsers (PostgreSQL, Redis, AMQP,
 * the HTTP status line), each fed the input as bytes a server sent, and
 * every prefix of it as the answer arrives in pieces. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth/probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_all(const unsigned char *b, size_t n) {
  char why[128] = "";
  int v[4] = {
      berth_probe_postgres_answer(b, n, why, sizeof(why)),
      berth_probe_redis_answer((const char *)b, n, why, sizeof(why)),
      berth_probe_amqp_answer(b, n, why, sizeof(why)),
      berth_probe_http_answer((const char *)b, n, why, sizeof(why)),
  };
  for (size_t i = 0; i < 4; i++)
    if (v[i] < -1 || v[i] > 1)
      abort();
  if (strnlen(why, sizeof(why)) == sizeof(why))
    abort(); /* why is always terminated */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* An exact-size copy: a read past the answer is caught by ASan. */
  unsigned char *b = malloc(size ? size : 1);
  if (!b)
    return 0;
  memcpy(b, data, size);
  parse_all(b, size);
  for (size_t cut = 0; cut < size && cut < 64; cut++)
    parse_all(b, cut);
  free(b);
  return 0;
}
