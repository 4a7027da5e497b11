/* libFuzzer target: the parsers of the engine's streaming answers (the
 * multiplexed output stream and newline-separated JSON progress), fed in
 * chunks whose sizes come from the input itself. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "docker-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(enum berth_docker_stream s, const char *d, size_t len, void *ud) {
  *(size_t *)ud += len;
  return 0;
}

static int on_msg(const cJSON *msg, void *ud, berth_err *err) {
  struct berth_docker_progress p;
  int r = berth__progress_parse(msg, &p, err);
  if (r < 0)
    berth_err_free(err); /* an error message is a valid outcome */
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t chunk = (size_t)data[0] % 17 + 1;
  data++;
  size--;
  size_t total = 0;
  berth_err err = NULL;
  for (int raw = 0; raw < 2; raw++) {
    struct berth__demux m;
    berth__demux_init(&m, raw, sink, &total);
    int r = 0;
    for (size_t off = 0; off < size && r == 0; off += chunk)
      r = berth__demux_feed(&m, (const char *)data + off, size - off < chunk ? size - off : chunk,
                            &err);
    if (r == 0)
      r = berth__demux_finish(&m, &err);
    berth_err_free(&err);
  }
  struct berth__json_stream js;
  berth__json_stream_init(&js, on_msg, NULL);
  int r = 0;
  for (size_t off = 0; off < size && r == 0; off += chunk)
    r = berth__json_stream_feed(&js, (const char *)data + off,
                                size - off < chunk ? size - off : chunk, &err);
  if (r == 0)
    berth__json_stream_finish(&js, &err);
  berth_err_free(&err);
  berth__json_stream_release(&js);
  return 0;
}
