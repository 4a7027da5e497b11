/* berth start: start services again and wait until they are ready. */
#include "project.h"

static int start(const struct berth_project *p, const struct berth_engine_opts *o, berth_err *err) {
  return berth_engine_up(p, o, NULL, err);
}

static int run(int argc, char **argv, const struct berth_globals *g) {
  return berth_cmd_lifecycle(argc, argv, g, &berth_cmd_start, start, false);
}

const struct berth_cmd berth_cmd_start = {
    .name = "start",
    .usage = "berth start [SERVICE...] [--timeout 5m]",
    .summary = "Start services (and what they need) and wait until they are ready",
    .run = run,
};
