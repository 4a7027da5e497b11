/* What commands attach to in a running stack: a container's log and a
 * command run inside it. The engine is the only door to the Docker API;
 * commands reach containers through these calls, never the client. */
#ifndef BERTH_ATTACH_H
#define BERTH_ATTACH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "berth/err.h"

enum berth_stream { BERTH_STREAM_STDOUT = 1, BERTH_STREAM_STDERR = 2 };

/* Receives output chunks as they come (not split into lines), stdout and
 * stderr told apart (a TTY container's output is all stdout). Return
 * nonzero to stop. */
typedef int (*berth_output_fn)(enum berth_stream which, const char *data, size_t len, void *ud);

struct berth_logs_opts {
  bool follow;
  bool timestamps;
  int64_t since; /* unix seconds, 0: from the start */
  int tail;      /* lines from the end, -1: all */
  /* When *stop becomes nonzero the stream ends (within about a second,
   * even when the container is quiet) and the call returns 0. May be NULL. */
  const atomic_int *stop;
};

/* Streams the log of container id (as berth_engine_ps or
 * berth_engine_container name it) to fn until it ends, fn asks to stop,
 * or *o->stop is set. */
int berth_attach_logs(const char *id, const struct berth_logs_opts *o, berth_output_fn fn, void *ud,
                      berth_err *err);

struct berth_exec_opts {
  const char *const *cmd; /* NULL-terminated */
  const char *const *env; /* "K=V", NULL-terminated, or NULL */
  const char *user;
  const char *working_dir;
  bool tty;     /* one raw stream, all of it stdout */
  int stdin_fd; /* -1: no stdin; otherwise streamed until EOF */
};

/* Runs o->cmd in running container id; its output goes to fn and its
 * exit code to *ret_exit. */
int berth_attach_exec(const char *id, const struct berth_exec_opts *o, berth_output_fn fn, void *ud,
                      int *ret_exit, berth_err *err);

#endif
