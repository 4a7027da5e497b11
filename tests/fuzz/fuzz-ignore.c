/* libFuzzer target: .dockerignore rules and matching. The input is rule
 * lines, then a NUL, then paths to match, one per line. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth/ignore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy: strndup() may read past an unterminated input
 * under ASan's strict string checks. */
static char *copy(const void *p, size_t n) {
  char *s = malloc(n + 1);
  if (s) {
    memcpy(s, p, n);
    s[n] = '\0';
  }
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = copy(data, size);
  if (!text)
    return 0;
  size_t rules_len = strlen(text);
  const char *paths = rules_len < size ? (const char *)data + rules_len + 1 : "";
  size_t paths_len = rules_len < size ? size - rules_len - 1 : 0;
  struct berth_ignore *ign = NULL;
  berth_err err = NULL;
  if (berth_ignore_new(&ign, &err) < 0)
    abort();
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save))
    if (berth_ignore_add(ign, line, &err) < 0)
      berth_err_free(&err);
  char *p = copy(paths, paths_len);
  for (char *save = NULL, *line = p ? strtok_r(p, "\n", &save) : NULL; line;
       line = strtok_r(NULL, "\n", &save))
    (void)berth_ignore_match(ign, line);
  free(p);
  berth_ignore_free(ign);
  free(text);
  return 0;
}
