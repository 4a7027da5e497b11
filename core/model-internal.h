/* Shared by core/model*.c. */
#ifndef BERTH_MODEL_INTERNAL_H
#define BERTH_MODEL_INTERNAL_H

#include "berth/model.h"

/* "bind", "volume", "tmpfs" (model.c, beside the other names). */
const char *berth__mount_type_name(enum berth_mount_type t);

#endif
