/* berth stop: stop services, keep their containers. */
#include "project.h"

static int run(int argc, char **argv, const struct berth_globals *g) {
  return berth_cmd_lifecycle(argc, argv, g, &berth_cmd_stop, berth_engine_stop, false);
}

const struct berth_cmd berth_cmd_stop = {
    .name = "stop",
    .usage = "berth stop [SERVICE...]",
    .summary = "Stop services (all when none is named), dependents first",
    .run = run,
};
