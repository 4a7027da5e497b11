/* berth restart: stop, then start and wait until ready. */
#include "project.h"

static int run(int argc, char **argv, const struct berth_globals *g) {
  return berth_cmd_lifecycle(argc, argv, g, &berth_cmd_restart, berth_engine_restart, false);
}

const struct berth_cmd berth_cmd_restart = {
    .name = "restart",
    .usage = "berth restart [SERVICE...] [--timeout 5m]",
    .summary = "Restart services and wait until they are ready again",
    .run = run,
};
