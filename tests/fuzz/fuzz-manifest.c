/* libFuzzer target: the whole manifest reader (YAML, aliases and merge
 * keys, interpolation, Compose merging, the model readers, validation,
 * and the JSON of `berth config`) on one file given as a memfd. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "berth/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = -1;
  if (fd < 0 && (fd = memfd_create("compose.yaml", 0)) < 0)
    abort();
  if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
    abort();
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  const char *files[] = {path};
  struct berth_load_opts o = {.files = files, .n_files = 1};
  struct berth_diags diags = {0};
  struct berth_project *p = NULL;
  berth_err err = NULL;
  if (berth_manifest_load(&o, &p, &diags, &err) >= 0) {
    cJSON *j = NULL;
    if (berth_project_to_json(p, false, &j, &err) >= 0)
      cJSON_Delete(j);
  }
  for (size_t i = 0; i < diags.n; i++)
    free(berth_diag_format(&diags.v[i]));
  berth_err_free(&err);
  berth_diags_release(&diags);
  berth_project_free(p);
  return 0;
}
