/* The image list of templates/images.env, with environment overrides. */
#include <stdlib.h>
#include <string.h>

#include "berth/images.h"
#include "cleanup.h"

extern const char berth_tpl_images_env[];

void berth_images_release(struct berth_image_refs *refs) {
  for (size_t i = 0; i < refs->n; i++) {
    free(refs->items[i].key);
    free(refs->items[i].name);
    free(refs->items[i].default_name);
    free(refs->items[i].purpose);
  }
  free(refs->items);
  refs->items = NULL;
  refs->n = 0;
}

static char *trimmed(const char *s, size_t n) {
  while (n && (*s == ' ' || *s == '\t'))
    s++, n--;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
    n--;
  return strndup(s, n);
}

int berth_images_parse(const char *text, struct berth_image_refs *ret, berth_err *err) {
  struct berth_image_refs refs = {0};
  _cleanup_free_ char *comment = NULL;
  int lineno = 0;
  for (const char *line = text; *line;) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    lineno++;
    _cleanup_free_ char *l = trimmed(line, len);
    line += len + (nl ? 1 : 0);
    if (!l)
      goto oom;
    if (!*l) {
      free(TAKE_PTR(comment));
      continue;
    }
    if (l[0] == '#') {
      free(comment);
      if (!(comment = trimmed(l + 1, strlen(l + 1))))
        goto oom;
      continue;
    }
    char *eq = strchr(l, '=');
    if (!eq || eq == l) {
      berth_images_release(&refs);
      return berth_err_set(err, BERTH_E_INVALID, "images.env:%d: expected KEY=VALUE, got \"%s\"",
                           lineno, l);
    }
    *eq = '\0';
    struct berth_image_ref *items = realloc(refs.items, (refs.n + 1) * sizeof(*items));
    if (!items)
      goto oom;
    refs.items = items;
    struct berth_image_ref *r = &refs.items[refs.n++];
    const char *env = getenv(l);
    *r = (struct berth_image_ref){.key = strdup(l),
                                  .default_name = strdup(eq + 1),
                                  .name = strdup(env && *env ? env : eq + 1),
                                  .purpose = TAKE_PTR(comment)};
    if (!r->key || !r->default_name || !r->name)
      goto oom;
  }
  *ret = refs;
  return 0;
oom:
  berth_images_release(&refs);
  return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
}

int berth_images_load(struct berth_image_refs *ret, berth_err *err) {
  return berth_images_parse(berth_tpl_images_env, ret, err);
}

const char *berth_images_get(const struct berth_image_refs *refs, const char *key) {
  for (size_t i = 0; i < refs->n; i++)
    if (!strcmp(refs->items[i].key, key))
      return refs->items[i].name;
  return NULL;
}
