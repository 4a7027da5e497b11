/* berth exec: run a command in a service's container; its exit code is
 * berth's. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "docker.h"
#include "project.h"

static int to_fds(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  int fd = s == BERTH_STDERR ? STDERR_FILENO : STDOUT_FILENO;
  while (len) {
    ssize_t w = write(fd, data, len);
    if (w <= 0)
      return 1;
    data += w;
    len -= (size_t)w;
  }
  return 0;
}

static int run(int argc, char **argv, const struct berth_globals *g) {
  static const struct option opts[] = {{"index", required_argument, NULL, 'i'},
                                       {"no-tty", no_argument, NULL, 'T'},
                                       {"user", required_argument, NULL, 'u'},
                                       {"workdir", required_argument, NULL, 'w'},
                                       {NULL, 0, NULL, 0}};
  int replica = 1;
  bool no_tty = false;
  const char *user = NULL, *workdir = NULL;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "+Tu:w:", opts, NULL)) != -1) {
    switch (c) {
    case 'i':
      replica = atoi(optarg);
      break;
    case 'T':
      no_tty = true;
      break;
    case 'u':
      user = optarg;
      break;
    case 'w':
      workdir = optarg;
      break;
    default:
      fprintf(stderr, "berth exec: unknown flag %s\nusage: %s\n", argv[optind - 1],
              berth_cmd_exec.usage);
      return 2;
    }
  }
  if (optind < argc && !strcmp(argv[optind], "--"))
    optind++;
  if (argc - optind < 2 || !strcmp(argv[optind + 1], "--")) {
    int cmd_at = optind + 1;
    if (cmd_at < argc && !strcmp(argv[cmd_at], "--"))
      cmd_at++;
    if (argc - optind < 1 || cmd_at >= argc) {
      fprintf(stderr, "berth exec: name a service and a command\nusage: %s\n",
              berth_cmd_exec.usage);
      return 2;
    }
  }
  const char *service = argv[optind];
  int cmd_at = optind + 1;
  if (!strcmp(argv[cmd_at], "--"))
    cmd_at++;
  struct berth_project *p = NULL;
  int code = berth_cmd_load(g, &p);
  if (code)
    return code;
  _cleanup_free_ char *id = NULL;
  berth_err err = NULL;
  if (berth_engine_container(p->name, service, replica, &id, &err) < 0) {
    berth_project_free(p);
    return berth_report(&err, 1);
  }
  berth_project_free(p);
  bool tty = !no_tty && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  struct termios saved;
  bool raw = false;
  if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
    struct termios t = saved;
    cfmakeraw(&t);
    raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
  }
  struct berth_docker *d = NULL;
  struct berth_docker_exec_opts xo = {.cmd = (const char *const *)argv + cmd_at,
                                      .tty = tty,
                                      .stdin_fd = STDIN_FILENO,
                                      .user = user,
                                      .working_dir = workdir};
  int exit_code = -1;
  int r = berth_docker_open(&d, NULL, &err);
  if (r >= 0)
    r = berth_docker_exec(d, id, &xo, to_fds, NULL, &exit_code, &err);
  if (raw)
    tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  berth_docker_close(d);
  if (r < 0)
    return berth_report(&err, 1);
  return exit_code < 0 ? 1 : exit_code;
}

const struct berth_cmd berth_cmd_exec = {
    .name = "exec",
    .usage = "berth exec [--index N] [-T] [-u USER] [-w DIR] SERVICE -- COMMAND [ARG...]",
    .summary = "Run a command in a running service; its exit code is berth's",
    .help = "A terminal is allocated when berth's stdin and stdout are terminals (-T turns\n"
            "it off); otherwise stdin is streamed in and stdout/stderr come back separately.\n",
    .run = run,
};
