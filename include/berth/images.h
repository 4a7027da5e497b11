/* The container images berth's kinds, examples and tests use. Their names
 * are set in one place, templates/images.env (embedded in the binary),
 * and each can be overridden by an environment variable of the same
 * name. */
#ifndef BERTH_IMAGES_H
#define BERTH_IMAGES_H

#include <stddef.h>

#include "berth/err.h"

struct berth_image_ref {
  char *key;  /* "BERTH_POSTGRES_IMAGE" */
  char *name; /* what is in effect: the environment's, else the default */
  char *default_name;
  char *purpose; /* the comment line above the key in images.env */
};

struct berth_image_refs {
  struct berth_image_ref *items;
  size_t n;
};

/* Reads the embedded list. */
int berth_images_load(struct berth_image_refs *ret, berth_err *err);
/* Same, from any text in the images.env format (for tests). */
int berth_images_parse(const char *text, struct berth_image_refs *ret, berth_err *err);
/* The name in effect for key, or NULL. */
const char *berth_images_get(const struct berth_image_refs *refs, const char *key);
void berth_images_release(struct berth_image_refs *refs);

#endif
