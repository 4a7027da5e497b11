/* The model: freeing a project, names of its enums and the secret rule;
 * the stable JSON of `berth config --json` is in model-json.c. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "berth/model.h"
#include "cleanup.h"
#include "infra/infra.h"
#include "model-internal.h"
#include "name-index.h"

/* ---- freeing --------------------------------------------------------- */

struct berth__service_index {
  struct berth__name_index names;
  const struct berth_service *services; /* the array indexed */
};

static void kvv_release(struct berth_kvv *v) {
  for (size_t i = 0; i < v->n; i++) {
    free(v->v[i].key);
    free(v->v[i].value);
  }
  free(v->v);
}

static void build_free(struct berth_build *b) {
  if (!b)
    return;
  free(b->context);
  free(b->dockerfile);
  kvv_release(&b->args);
  free(b->target);
  free(b);
}

static void watch_release(struct berth_watch *w) {
  free(w->path);
  free(w->target);
  berth_strv_release(&w->ignore);
  berth_strv_release(&w->command);
}

static void file_refs_free(struct berth_file_ref *refs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(refs[i].source);
    free(refs[i].target);
  }
  free(refs);
}

static void service_release(struct berth_service *s) {
  free(s->name);
  free(s->image);
  build_free(s->build);
  berth_strv_release(&s->command);
  berth_strv_release(&s->entrypoint);
  kvv_release(&s->environment);
  berth_strv_release(&s->env_files);
  for (size_t i = 0; i < s->n_ports; i++) {
    free(s->ports[i].host_ip);
    free(s->ports[i].protocol);
  }
  free(s->ports);
  berth_strv_release(&s->expose);
  for (size_t i = 0; i < s->n_mounts; i++) {
    free(s->mounts[i].source);
    free(s->mounts[i].target);
  }
  free(s->mounts);
  for (size_t i = 0; i < s->n_deps; i++)
    free(s->deps[i].service);
  free(s->deps);
  free(s->probe.http_path);
  berth_strv_release(&s->probe.exec);
  free(s->restart);
  berth_strv_release(&s->profiles);
  kvv_release(&s->labels);
  for (size_t i = 0; i < s->n_watch; i++)
    watch_release(&s->watch[i]);
  free(s->watch);
  free(s->container_name);
  free(s->hostname);
  free(s->user);
  free(s->working_dir);
  free(s->stop_signal);
  berth_strv_release(&s->tmpfs);
  berth_strv_release(&s->extra_hosts);
  berth_strv_release(&s->cap_add);
  berth_strv_release(&s->cap_drop);
  for (size_t i = 0; i < s->n_networks; i++) {
    free(s->networks[i].network);
    berth_strv_release(&s->networks[i].aliases);
  }
  free(s->networks);
  file_refs_free(s->secrets, s->n_secrets);
  file_refs_free(s->configs, s->n_configs);
  for (size_t i = 0; i < s->n_uses; i++) {
    free(s->uses[i].infra);
    free(s->uses[i].database);
    free(s->uses[i].vhost);
    free(s->uses[i].as);
  }
  free(s->uses);
  free(s->kind);
  kvv_release(&s->extensions);
}

static void mq_user_release(struct berth_mq_user *u) {
  free(u->name);
  free(u->password);
  berth_strv_release(&u->tags);
  for (size_t i = 0; i < u->n_permissions; i++) {
    free(u->permissions[i].vhost);
    free(u->permissions[i].configure);
    free(u->permissions[i].write);
    free(u->permissions[i].read);
  }
  free(u->permissions);
}

static void infra_release(struct berth_infra *in) {
  free(in->name);
  free(in->version);
  free(in->image);
  for (size_t i = 0; i < in->n_databases; i++) {
    struct berth_pg_database *d = &in->databases[i];
    free(d->name);
    free(d->owner);
    free(d->password);
    berth_strv_release(&d->schemas);
    berth_strv_release(&d->extensions);
  }
  free(in->databases);
  berth_strv_release(&in->vhosts);
  for (size_t i = 0; i < in->n_users; i++)
    mq_user_release(&in->users[i]);
  free(in->users);
  free(in->password);
  free(in->persistence);
  for (size_t i = 0; i < in->n_seeds; i++) {
    struct berth_seed *sd = &in->seeds[i];
    free(sd->file);
    free(sd->name);
    free(sd->table);
    free(sd->database);
    free(sd->vhost);
  }
  free(in->seeds);
}

static void file_defs_free(struct berth_file_def *defs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(defs[i].name);
    free(defs[i].file);
    free(defs[i].environment);
    free(defs[i].content);
  }
  free(defs);
}

/* pos.file is not owned by the element: it points at a file name the
 * project (files) or the reader keeps. */
struct berth_project *berth_project_free(struct berth_project *p) {
  if (!p)
    return NULL;
  free(p->name);
  free(p->dir);
  berth_strv_release(&p->files);
  berth_strv_release(&p->active_profiles);
  for (size_t i = 0; i < p->n_services; i++)
    service_release(&p->services[i]);
  free(p->services);
  for (size_t i = 0; i < p->n_infra; i++)
    infra_release(&p->infra[i]);
  free(p->infra);
  for (size_t i = 0; i < p->n_networks; i++) {
    free(p->networks[i].name);
    free(p->networks[i].driver);
    free(p->networks[i].external_name);
    kvv_release(&p->networks[i].labels);
  }
  free(p->networks);
  for (size_t i = 0; i < p->n_volumes; i++) {
    free(p->volumes[i].name);
    free(p->volumes[i].driver);
    free(p->volumes[i].external_name);
    kvv_release(&p->volumes[i].labels);
  }
  free(p->volumes);
  file_defs_free(p->secrets, p->n_secrets);
  file_defs_free(p->configs, p->n_configs);
  free(p->namespaces_json);
  if (p->service_index)
    berth__name_index_release(&p->service_index->names);
  free(p->service_index);
  free(p);
  return NULL;
}

/* ---- lookups and names ----------------------------------------------- */

static const char *service_name(const void *ctx, size_t pos) {
  return ((const struct berth_project *)ctx)->services[pos].name;
}

void berth_project_index(struct berth_project *p) {
  if (!p->service_index && !(p->service_index = calloc(1, sizeof(*p->service_index))))
    return;
  p->service_index->services = p->services;
  if (berth__name_index_build(&p->service_index->names, service_name, p, p->n_services) < 0)
    p->service_index->services = NULL;
}

const struct berth_service *berth_project_service(const struct berth_project *p, const char *name) {
  if (!p || !name)
    return NULL;
  const struct berth__service_index *ix = p->service_index;
  if (ix && ix->services == p->services && ix->names.n == p->n_services) {
    long i = berth__name_index_find(&ix->names, service_name, p, name);
    return i < 0 ? NULL : &p->services[i];
  }
  for (size_t i = 0; i < p->n_services; i++)
    if (p->services[i].name && !strcmp(p->services[i].name, name))
      return &p->services[i];
  return NULL;
}

const char *berth_condition_name(enum berth_condition c) {
  switch (c) {
  case BERTH_COND_STARTED:
    return "started";
  case BERTH_COND_HEALTHY:
    return "healthy";
  case BERTH_COND_COMPLETED:
    return "completed";
  }
  return "unknown";
}

const char *berth_probe_kind_name(enum berth_probe_kind k) {
  switch (k) {
  case BERTH_PROBE_NONE:
    return "none";
  case BERTH_PROBE_HTTP:
    return "http";
  case BERTH_PROBE_TCP:
    return "tcp";
  case BERTH_PROBE_EXEC:
    return "exec";
  case BERTH_PROBE_IMAGE:
    return "image";
  case BERTH_PROBE_DISABLED:
    return "disabled";
  }
  return "unknown";
}

const char *berth_watch_action_name(enum berth_watch_action a) {
  switch (a) {
  case BERTH_WATCH_SYNC:
    return "sync";
  case BERTH_WATCH_RESTART:
    return "restart";
  case BERTH_WATCH_SYNC_RESTART:
    return "sync+restart";
  case BERTH_WATCH_REBUILD:
    return "rebuild";
  case BERTH_WATCH_EXEC:
    return "exec";
  }
  return "unknown";
}

const char *berth_infra_kind_name(enum berth_infra_kind k) {
  const struct berth__infra_kind *kind = berth__infra_kind_of(k);
  return kind ? kind->name : "unknown";
}

const char *berth_seed_kind_name(enum berth_seed_kind k) {
  static const char *const names[] = {[BERTH_SEED_SQL] = "sql",
                                      [BERTH_SEED_CSV] = "csv",
                                      [BERTH_SEED_REDIS] = "redis",
                                      [BERTH_SEED_DEFINITIONS] = "definitions",
                                      [BERTH_SEED_MESSAGES] = "messages"};
  return (size_t)k < sizeof(names) / sizeof(*names) ? names[k] : "unknown";
}

static const char *mount_type_name(enum berth_mount_type t) {
  switch (t) {
  case BERTH_MOUNT_T_VOLUME:
    return "volume";
  case BERTH_MOUNT_T_BIND:
    return "bind";
  case BERTH_MOUNT_T_TMPFS:
    return "tmpfs";
  }
  return "unknown";
}

/* ---- secrets --------------------------------------------------------- */

/* True when word (upper case letters and digits) occurs in name, ignoring
 * case and any separators inside name: "PRIVATEKEY" matches PRIVATE_KEY,
 * private-key and privateKey. */
static bool contains_word(const char *name, const char *word) {
  for (const char *start = name; *start; start++) {
    if (!isalnum((unsigned char)*start))
      continue;
    const char *s = start, *w = word;
    while (*w && *s) {
      if (!isalnum((unsigned char)*s)) {
        s++;
        continue;
      }
      if (toupper((unsigned char)*s) != *w)
        break;
      s++, w++;
    }
    if (!*w)
      return true;
  }
  return false;
}

static bool part_is(const char *part, size_t len, const char *word) {
  return strlen(word) == len && !strncasecmp(part, word, len);
}

static bool part_ends_with(const char *part, size_t len, const char *word) {
  size_t wl = strlen(word);
  return len >= wl && !strncasecmp(part + len - wl, word, wl);
}

/* The rule (docs/config-json.md, "Secrets"): a name is secret when it
 * contains PASSWORD, PASSWD, PASSPHRASE, SECRET, CREDENTIAL, APIKEY,
 * PRIVATEKEY or AUTHKEY (case and separators ignored), or when one of its
 * parts (split at every character that is not a letter or digit) is PASS,
 * TOKEN, TOKENS or ends in TOKEN, or when its last part is AUTH. Parts keep
 * PASSENGER_COUNT, TOKENIZERS_PARALLELISM and AUTH_ENABLED visible. */
bool berth_is_secret_name(const char *name) {
  static const char *const anywhere[] = {"PASSWORD",   "PASSWD", "PASSPHRASE", "SECRET",
                                         "CREDENTIAL", "APIKEY", "PRIVATEKEY", "AUTHKEY"};
  if (!name)
    return false;
  /* POSTGRES_PASSWORD_FILE, SSL_KEY_PATH: where a secret is, not the
   * secret (the official images' *_FILE convention). */
  size_t n = strlen(name);
  if ((n > 5 && !strcasecmp(name + n - 5, "_FILE")) ||
      (n > 5 && !strcasecmp(name + n - 5, "_PATH")))
    return false;
  for (size_t i = 0; i < sizeof(anywhere) / sizeof(*anywhere); i++)
    if (contains_word(name, anywhere[i]))
      return true;
  const char *s = name;
  while (*s) {
    while (*s && !isalnum((unsigned char)*s))
      s++;
    const char *part = s;
    while (isalnum((unsigned char)*s))
      s++;
    size_t len = (size_t)(s - part);
    if (!len)
      break;
    if (part_is(part, len, "PASS") || part_is(part, len, "TOKENS") ||
        part_ends_with(part, len, "TOKEN"))
      return true;
    bool last = true;
    for (const char *t = s; *t; t++)
      if (isalnum((unsigned char)*t))
        last = false;
    if (last && part_is(part, len, "AUTH"))
      return true;
  }
  return false;
}

/* ---- shared with model-json.c ---- */

const char *berth__mount_type_name(enum berth_mount_type t) {
  return mount_type_name(t);
}
