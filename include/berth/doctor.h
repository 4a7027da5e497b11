/* berth doctor's checks: is this machine ready to run stacks? The checks
 * are run here and returned as data; the command only prints them. */
#ifndef BERTH_DOCTOR_H
#define BERTH_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "berth/err.h"

enum berth_check_status { BERTH_CHECK_OK, BERTH_CHECK_WARN, BERTH_CHECK_FAIL };

/* One line of the doctor's verdict. */
struct berth_check {
  char *name; /* "engine", "engine version", "storage driver", "image", ... */
  enum berth_check_status status;
  char *detail;  /* what was found: "reachable at unix:///var/run/docker.sock" */
  char *problem; /* when it is a problem: what is wrong, else NULL */
  char *fix;     /* when it is a problem: what to do, else NULL */
};

/* What was learned about the engine; strings are NULL until learned. */
struct berth_doctor_engine {
  char *endpoint; /* NULL: no client could be made (DOCKER_HOST unusable) */
  bool reachable;
  char *version, *api_version, *negotiated_api_version, *os, *arch, *kernel;
  char *storage_driver, *cgroup_driver, *root_dir;
};

struct berth_doctor_image {
  char *key, *name, *purpose;
  int present; /* 1, 0, or -1 when unknown (no engine) */
};

struct berth_doctor_report {
  struct berth_check *checks; /* in the order they ran */
  size_t n_checks;
  struct berth_doctor_engine engine;
  bool images_checked; /* the image list was looked at (the engine could be asked) */
  struct berth_doctor_image *images;
  size_t n_images;
  bool ready; /* no check failed */
};

/* Runs every check. Fails only when out of memory; a failed check is a
 * result, not an error. */
int berth_doctor_run(struct berth_doctor_report *ret, berth_err *err);
void berth_doctor_release(struct berth_doctor_report *r);

/* The Docker API versions berth speaks ("1.41", "1.43"). */
void berth_doctor_api_range(const char **ret_min, const char **ret_max);

#endif
