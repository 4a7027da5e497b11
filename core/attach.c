/* Logs and exec for commands: the Docker client behind one narrow door. */
#include <stdatomic.h>

#include "berth/attach.h"
#include "docker.h"

struct relay {
  berth_output_fn fn;
  void *ud;
};

static int relay(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  const struct relay *r = ud;
  return r->fn(s == BERTH_STDERR ? BERTH_STREAM_STDERR : BERTH_STREAM_STDOUT, data, len, r->ud);
}

int berth_attach_logs(const char *id, const struct berth_logs_opts *o, berth_output_fn fn, void *ud,
                      berth_err *err) {
  struct berth_docker *d = NULL;
  int r = berth_docker_open(&d, NULL, err);
  if (r < 0)
    return r;
  berth_docker_set_cancel(d, o->stop);
  struct berth_docker_logs_opts lo = {
      .follow = o->follow, .timestamps = o->timestamps, .since = o->since, .tail = o->tail};
  struct relay rl = {.fn = fn, .ud = ud};
  r = berth_docker_container_logs(d, id, &lo, relay, &rl, err);
  berth_docker_close(d);
  if (r < 0 && o->stop && atomic_load(o->stop)) {
    berth_err_free(err); /* cut short on purpose: whatever it said is moot */
    return 0;
  }
  return r;
}

int berth_attach_exec(const char *id, const struct berth_exec_opts *o, berth_output_fn fn, void *ud,
                      int *ret_exit, berth_err *err) {
  struct berth_docker *d = NULL;
  int r = berth_docker_open(&d, NULL, err);
  if (r < 0)
    return r;
  struct berth_docker_exec_opts xo = {.cmd = o->cmd,
                                      .env = o->env,
                                      .user = o->user,
                                      .working_dir = o->working_dir,
                                      .tty = o->tty,
                                      .stdin_fd = o->stdin_fd};
  struct relay rl = {.fn = fn, .ud = ud};
  r = berth_docker_exec(d, id, &xo, relay, &rl, ret_exit, err);
  berth_docker_close(d);
  return r;
}
