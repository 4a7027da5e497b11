/* berth down: stop and remove the stack; volumes stay unless --volumes. */
#include "project.h"

static int run(int argc, char **argv, const struct berth_globals *g) {
  return berth_cmd_lifecycle(argc, argv, g, &berth_cmd_down, berth_engine_down, true);
}

const struct berth_cmd berth_cmd_down = {
    .name = "down",
    .usage = "berth down [--volumes] [--remove-orphans]",
    .summary = "Stop and remove the stack's containers and networks",
    .help = "Stops dependents before what they depend on, in parallel where independent,\n"
            "then removes the containers and networks labelled with the project. Named\n"
            "volumes (your databases) are kept unless --volumes.\n",
    .run = run,
};
