/* The infra section: each instance's kind, version and image; the options
 * of its kind are read by the kind (core/infra/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/images.h"
#include "cleanup.h"
#include "infra/infra.h"
#include "manifest-internal.h"

void berth__read_infra(struct berth__reader *r, const struct berth_node *k,
                       const struct berth_node *n, const struct berth_image_refs *images) {
  char path[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  berth__pathf(path, "infra.%s", k->value);
  /* The name becomes a container's and a host's name, a database role's
   * key and berth env's variable (<NAME>_DATABASE_URL): a plain one. The
   * instance is read all the same, so its uses do not repeat the error. */
  berth__check_ident(r, k, path, "infra instance name", BERTH__IDENT_NAME);
  const struct berth_node *m = n;
  if (!berth_node_is_null(n) && n->type != BERTH_NODE_MAP) {
    berth__error(r, n, path, "expected a mapping (kind, version, ...), found %s",
                 berth_node_type_name(n));
    return;
  }
  /* The generic keys and every kind's own: a key of another kind is
   * reported as such below, not as unknown. */
  const char *keys[32] = {"kind", "version", "image"};
  size_t nk = 3;
  for (size_t i = 0; berth__infra_kinds[i]; i++)
    for (const char *const *o = berth__infra_kinds[i]->keys; *o && nk + 1 < 32; o++)
      keys[nk++] = *o;
  keys[nk] = NULL;
  if (m)
    berth__check_keys(r, m, path, keys, NULL);
  _cleanup_free_ char *kind =
      berth__read_str(r, berth_node_get(m, "kind"), berth__pathf(q, "%s.kind", path));
  const char *kname = kind ? kind : k->value; /* infra: {postgres: {}} names its kind */
  const struct berth__infra_kind *kk = berth__infra_kind_find(kname);
  if (!kk) {
    char known[256] = "";
    size_t len = 0;
    for (size_t i = 0; berth__infra_kinds[i]; i++)
      len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s",
                              i == 0                      ? ""
                              : berth__infra_kinds[i + 1] ? ", "
                                                          : (kind ? " and " : " or "),
                              berth__infra_kinds[i]->name);
    berth__error(r, kind ? berth_node_get(m, "kind") : k, berth__pathf(q, "%s.kind", path),
                 kind ? "unknown kind \"%s\"; berth knows %s"
                      : "\"%s\" is not a kind; add kind: %s",
                 kname, known);
    return;
  }
  struct berth_project *p = r->p;
  struct berth_infra *in = berth__grow(r, &p->infra, &p->n_infra, sizeof(*in));
  if (!in)
    return;
  in->name = berth__strdup(r, k->value);
  in->kind = kk->id;
  in->pos = berth__pos_of(k);
  in->version =
      berth__read_str(r, berth_node_get(m, "version"), berth__pathf(q, "%s.version", path));
  if (!in->version)
    in->version = berth__strdup(r, kk->version);
  in->image = berth__read_str(r, berth_node_get(m, "image"), berth__pathf(q, "%s.image", path));
  if (!in->image) {
    /* The default image is the one images.env names for the kind; a
     * version other than the default names the official image. */
    if (!strcmp(in->version, kk->version) && berth_images_get(images, kk->image_key))
      in->image = berth__strdup(r, berth_images_get(images, kk->image_key));
    else if (asprintf(&in->image, "%s:%s", kname, in->version) < 0)
      r->oom = true;
  }
  for (size_t i = 0; berth__infra_kinds[i]; i++) {
    const struct berth__infra_kind *other = berth__infra_kinds[i];
    for (const char *const *o = other->keys; other != kk && *o; o++) {
      const struct berth_node *on = berth_node_get(m, *o);
      bool own = false;
      for (const char *const *mine = kk->keys; *mine; mine++)
        own |= !strcmp(*mine, *o);
      if (on && !own)
        berth__error(r, on, berth__pathf(q, "%s.%s", path, *o), "%s is for %s instances, not %s",
                     *o, other->name, kname);
    }
  }
  kk->read_options(r, in, m, path);
}
