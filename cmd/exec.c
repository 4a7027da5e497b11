/* berth exec: run a command in a service's container; its exit code is
 * berth's. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "berth/attach.h"
#include "berth/cleanup.h"
#include "project.h"

static int to_fds(enum berth_stream s, const char *data, size_t len, void *ud) {
  int fd = s == BERTH_STREAM_STDERR ? STDERR_FILENO : STDOUT_FILENO;
  while (len) {
    ssize_t w = write(fd, data, len);
    if (w <= 0)
      return 1;
    data += w;
    len -= (size_t)w;
  }
  return 0;
}

struct exec_opts {
  int replica;
  bool no_tty;
  const char *user, *workdir;
};

static const struct berth_flag exec_flags[] = {
    BERTH_FLAG("index", 0, BERTH_FLAG_INT, struct exec_opts, replica, .min = 1,
               .bad = "is not a replica number (1, 2, ...)"),
    BERTH_FLAG("no-tty", 'T', BERTH_FLAG_BOOL, struct exec_opts, no_tty),
    BERTH_FLAG("user", 'u', BERTH_FLAG_STRING, struct exec_opts, user),
    BERTH_FLAG("workdir", 'w', BERTH_FLAG_STRING, struct exec_opts, workdir),
};

/* Runs cmd in id with the terminal raw while a TTY is attached. */
static int exec_in(const char *id, const struct exec_opts *xo, const char *const *cmd) {
  bool tty = !xo->no_tty && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  struct termios saved;
  bool raw = false;
  if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
    struct termios t = saved;
    cfmakeraw(&t);
    raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
  }
  struct berth_exec_opts o = {.cmd = cmd,
                              .tty = tty,
                              .stdin_fd = STDIN_FILENO,
                              .user = xo->user,
                              .working_dir = xo->workdir};
  int exit_code = -1;
  berth_err err = NULL;
  int r = berth_attach_exec(id, &o, to_fds, NULL, &exit_code, &err);
  if (raw)
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  if (r < 0)
    return berth_report(&err, 1);
  return exit_code < 0 ? 1 : exit_code;
}

static const struct berth_flags exec_fl = BERTH_FLAGS(exec_flags, BERTH_FLAGS_IN_ORDER);

static int run(int argc_, char **argv_, const struct berth_globals *g) {
  struct exec_opts xo = {.replica = 1};
  _cleanup_free_ char **argv = NULL;
  int argc;
  int code = berth_cmd_flags(&berth_cmd_exec, &exec_fl, argc_, argv_, &xo, &argc, &argv);
  if (code)
    return code;
  /* SERVICE [--] COMMAND [ARG...] */
  int cmd_at = 1;
  if (cmd_at < argc && !strcmp(argv[cmd_at], "--"))
    cmd_at++;
  if (argc < 1 || cmd_at >= argc) {
    fprintf(stderr, "berth exec: name a service and a command\nusage: %s\n", berth_cmd_exec.usage);
    return 2;
  }
  struct berth_project *p = NULL;
  code = berth_cmd_load(g, &p);
  if (code)
    return code;
  _cleanup_free_ char *id = NULL;
  berth_err err = NULL;
  int r = berth_engine_container(p->name, argv[0], xo.replica, &id, &err);
  berth_project_free(p);
  if (r < 0)
    return berth_report(&err, 1);
  return exec_in(id, &xo, (const char *const *)argv + cmd_at);
}

const struct berth_cmd berth_cmd_exec = {
    .name = "exec",
    .usage = "berth exec [--index N] [-T] [-u USER] [-w DIR] SERVICE -- COMMAND [ARG...]",
    .summary = "Run a command in a running service; its exit code is berth's",
    .help = "A terminal is allocated when berth's stdin and stdout are terminals (-T turns\n"
            "it off); otherwise stdin is streamed in and stdout/stderr come back separately.\n",
    .run = run,
    .flags = &exec_fl,
};
