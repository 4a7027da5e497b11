/* The model: freeing a project, names of its enums, the secret rule, and
 * the stable JSON of `berth config --json` (docs/config-json.md). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "berth/model.h"
#include "cleanup.h"
#include "infra/infra.h"

#define MASK "***"

/* ---- freeing --------------------------------------------------------- */

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
  free(p->seeds_json);
  free(p->namespaces_json);
  free(p);
  return NULL;
}

/* ---- lookups and names ----------------------------------------------- */

const struct berth_service *berth_project_service(const struct berth_project *p, const char *name) {
  if (!p || !name)
    return NULL;
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

static bool is_scheme_char(char c) {
  return isalnum((unsigned char)c) || c == '+' || c == '-' || c == '.';
}

/* A copy of value with the password of every URL's userinfo
 * (scheme://user:password@host) replaced by ***. The authority ends at
 * '/', '?', '#' or white space (RFC 3986); the userinfo at its last '@',
 * the user at the first ':'. NULL when out of memory. */
static char *mask_url_passwords(const char *value) {
  size_t len = strlen(value), ats = 0;
  for (const char *c = value; *c; c++)
    ats += *c == '@';
  /* Each replacement needs an '@' and grows the text by at most 2. */
  char *out = malloc(len + 2 * ats + 1), *o = out;
  if (!out)
    return NULL;
  const char *copied = value, *from = value, *sep;
  while ((sep = strstr(from, "://"))) {
    const char *scheme = sep;
    while (scheme > value && is_scheme_char(scheme[-1]))
      scheme--;
    const char *authority = sep + 3;
    const char *end = authority + strcspn(authority, "/?# \t\r\n");
    /* "a://u:p@h1,b://..." ends the first authority at b's "//": look for
     * the next "://" from its ':'. */
    from = end[-1] == ':' ? end - 1 : end;
    if (scheme == sep || !isalpha((unsigned char)*scheme))
      continue;
    const char *at = NULL;
    for (const char *c = authority; c < end; c++)
      if (*c == '@')
        at = c;
    const char *colon = at ? memchr(authority, ':', (size_t)(at - authority)) : NULL;
    if (!colon || colon + 1 == at)
      continue;
    memcpy(o, copied, (size_t)(colon + 1 - copied));
    o += colon + 1 - copied;
    memcpy(o, MASK, strlen(MASK));
    o += strlen(MASK);
    copied = at;
  }
  memcpy(o, copied, len - (size_t)(copied - value) + 1);
  return out;
}

/* ---- JSON ------------------------------------------------------------ */

/* Every builder returns NULL only when out of memory; put() and push()
 * take the item (freeing it when it cannot be added), so a chain of them
 * joined with || leaks nothing when one fails. */
static bool put(cJSON *obj, const char *key, cJSON *item) {
  if (!item)
    return false;
  if (!cJSON_AddItemToObject(obj, key, item)) {
    cJSON_Delete(item);
    return false;
  }
  return true;
}

static bool push(cJSON *arr, cJSON *item) {
  if (!item)
    return false;
  if (!cJSON_AddItemToArray(arr, item)) {
    cJSON_Delete(item);
    return false;
  }
  return true;
}

static cJSON *str_json(const char *s) {
  return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *num_json(int64_t n) {
  return cJSON_CreateNumber((double)n);
}

/* A count or size where 0 (or less) means "not set". */
static cJSON *positive_json(int64_t n) {
  return n > 0 ? num_json(n) : cJSON_CreateNull();
}

static cJSON *secret_json(const char *s, bool show) {
  return s && !show ? cJSON_CreateString(MASK) : str_json(s);
}

static cJSON *strv_json(const struct berth_strv *v) {
  _cleanup_json_ cJSON *a = cJSON_CreateArray();
  if (!a)
    return NULL;
  for (size_t i = 0; i < v->n; i++)
    if (!push(a, str_json(v->v[i])))
      return NULL;
  return TAKE_PTR(a);
}

/* An environment value as shown: masked when its name is secret, URL
 * passwords masked otherwise. */
static cJSON *env_value_json(const char *key, const char *value, bool show) {
  if (!value || show)
    return str_json(value);
  if (berth_is_secret_name(key))
    return cJSON_CreateString(MASK);
  _cleanup_free_ char *masked = mask_url_passwords(value);
  return masked ? cJSON_CreateString(masked) : NULL;
}

enum kv_mode { KV_PLAIN, KV_ENV };

static cJSON *kvv_json(const struct berth_kvv *v, enum kv_mode mode, bool show) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  for (size_t i = 0; i < v->n; i++) {
    const char *key = v->v[i].key ? v->v[i].key : "";
    cJSON *value =
        mode == KV_ENV ? env_value_json(key, v->v[i].value, show) : str_json(v->v[i].value);
    if (!put(o, key, value))
      return NULL;
  }
  return TAKE_PTR(o);
}

/* Stored JSON text parsed back; text that is not JSON stays a string.
 * cJSON cannot tell a syntax error from a failed allocation, so under
 * memory pressure valid text may come out as a string too. */
static cJSON *stored_json(const char *text) {
  if (!text)
    return cJSON_CreateNull();
  cJSON *j = cJSON_ParseWithOpts(text, NULL, true);
  return j ? j : cJSON_CreateString(text);
}

static cJSON *range_json(uint16_t start, uint16_t end) {
  char s[16];
  if (!start)
    return cJSON_CreateNull();
  if (!end || end == start)
    snprintf(s, sizeof(s), "%u", (unsigned)start);
  else
    snprintf(s, sizeof(s), "%u-%u", (unsigned)start, (unsigned)end);
  return cJSON_CreateString(s);
}

static cJSON *build_json(const struct berth_build *b, bool show) {
  if (!b)
    return cJSON_CreateNull();
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o || !put(o, "context", str_json(b->context)) ||
      !put(o, "dockerfile", str_json(b->dockerfile)) ||
      !put(o, "args", kvv_json(&b->args, KV_ENV, show)) || !put(o, "target", str_json(b->target)))
    return NULL;
  return TAKE_PTR(o);
}

static cJSON *ports_json(const struct berth_service *s) {
  _cleanup_json_ cJSON *a = cJSON_CreateArray();
  if (!a)
    return NULL;
  for (size_t i = 0; i < s->n_ports; i++) {
    const struct berth_port *pt = &s->ports[i];
    cJSON *o = cJSON_CreateObject();
    if (!push(a, o) || !put(o, "host_ip", str_json(pt->host_ip)) ||
        !put(o, "host_port", range_json(pt->host_start, pt->host_end)) ||
        !put(o, "container_port", range_json(pt->container_start, pt->container_end)) ||
        !put(o, "protocol", str_json(pt->protocol)))
      return NULL;
  }
  return TAKE_PTR(a);
}

static cJSON *mounts_json(const struct berth_service *s) {
  _cleanup_json_ cJSON *a = cJSON_CreateArray();
  if (!a)
    return NULL;
  for (size_t i = 0; i < s->n_mounts; i++) {
    const struct berth_mount *m = &s->mounts[i];
    cJSON *o = cJSON_CreateObject();
    if (!push(a, o) || !put(o, "type", cJSON_CreateString(mount_type_name(m->type))) ||
        !put(o, "source", str_json(m->source)) || !put(o, "target", str_json(m->target)) ||
        !put(o, "read_only", cJSON_CreateBool(m->read_only)) ||
        !put(o, "tmpfs_size", positive_json(m->tmpfs_size)))
      return NULL;
  }
  return TAKE_PTR(a);
}

static cJSON *deps_json(const struct berth_service *s) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  for (size_t i = 0; i < s->n_deps; i++) {
    const struct berth_dep *d = &s->deps[i];
    cJSON *dep = cJSON_CreateObject();
    if (!put(o, d->service ? d->service : "", dep) ||
        !put(dep, "condition", cJSON_CreateString(berth_condition_name(d->condition))) ||
        !put(dep, "restart", cJSON_CreateBool(d->restart)) ||
        !put(dep, "required", cJSON_CreateBool(d->required)))
      return NULL;
  }
  return TAKE_PTR(o);
}

static cJSON *probe_json(const struct berth_probe *pr) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o || !put(o, "kind", cJSON_CreateString(berth_probe_kind_name(pr->kind))) ||
      !put(o, "http_path", str_json(pr->http_path)) || !put(o, "port", positive_json(pr->port)) ||
      !put(o, "exec", strv_json(&pr->exec)) ||
      !put(o, "interval_ms", positive_json(pr->interval_ms)) ||
      !put(o, "timeout_ms", positive_json(pr->timeout_ms)) ||
      !put(o, "start_period_ms", positive_json(pr->start_period_ms)) ||
      !put(o, "retries", positive_json(pr->retries)))
    return NULL;
  return TAKE_PTR(o);
}

static cJSON *watch_json(const struct berth_service *s) {
  _cleanup_json_ cJSON *a = cJSON_CreateArray();
  if (!a)
    return NULL;
  for (size_t i = 0; i < s->n_watch; i++) {
    const struct berth_watch *w = &s->watch[i];
    cJSON *o = cJSON_CreateObject();
    if (!push(a, o) || !put(o, "path", str_json(w->path)) ||
        !put(o, "action", cJSON_CreateString(berth_watch_action_name(w->action))) ||
        !put(o, "target", str_json(w->target)) || !put(o, "ignore", strv_json(&w->ignore)) ||
        !put(o, "command", strv_json(&w->command)))
      return NULL;
  }
  return TAKE_PTR(a);
}

static cJSON *attachments_json(const struct berth_service *s) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  for (size_t i = 0; i < s->n_networks; i++) {
    const struct berth_net_attach *n = &s->networks[i];
    cJSON *net = cJSON_CreateObject();
    if (!put(o, n->network ? n->network : "", net) || !put(net, "aliases", strv_json(&n->aliases)))
      return NULL;
  }
  return TAKE_PTR(o);
}

static cJSON *file_refs_json(const struct berth_file_ref *refs, size_t n) {
  _cleanup_json_ cJSON *a = cJSON_CreateArray();
  if (!a)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    cJSON *o = cJSON_CreateObject();
    if (!push(a, o) || !put(o, "source", str_json(refs[i].source)) ||
        !put(o, "target", str_json(refs[i].target)))
      return NULL;
  }
  return TAKE_PTR(a);
}

static cJSON *uses_json(const struct berth_service *s) {
  _cleanup_json_ cJSON *a = cJSON_CreateArray();
  if (!a)
    return NULL;
  for (size_t i = 0; i < s->n_uses; i++) {
    const struct berth_use *u = &s->uses[i];
    cJSON *o = cJSON_CreateObject();
    if (!push(a, o) || !put(o, "infra", str_json(u->infra)) ||
        !put(o, "database", str_json(u->database)) || !put(o, "vhost", str_json(u->vhost)) ||
        !put(o, "as", str_json(u->as)))
      return NULL;
  }
  return TAKE_PTR(a);
}

static cJSON *extensions_json(const struct berth_kvv *v) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  for (size_t i = 0; i < v->n; i++)
    if (!put(o, v->v[i].key ? v->v[i].key : "", stored_json(v->v[i].value)))
      return NULL;
  return TAKE_PTR(o);
}

static cJSON *service_json(const struct berth_service *s, bool show) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  cJSON *res = NULL;
  if (!o || !put(o, "name", str_json(s->name)) || !put(o, "image", str_json(s->image)) ||
      !put(o, "build", build_json(s->build, show)) ||
      !put(o, "command", s->has_command ? strv_json(&s->command) : cJSON_CreateNull()) ||
      !put(o, "entrypoint", s->has_entrypoint ? strv_json(&s->entrypoint) : cJSON_CreateNull()) ||
      !put(o, "environment", kvv_json(&s->environment, KV_ENV, show)) ||
      !put(o, "env_files", strv_json(&s->env_files)) || !put(o, "ports", ports_json(s)) ||
      !put(o, "expose", strv_json(&s->expose)) || !put(o, "volumes", mounts_json(s)) ||
      !put(o, "depends_on", deps_json(s)) || !put(o, "probe", probe_json(&s->probe)) ||
      !put(o, "replicas", num_json(s->replicas)) ||
      !put(o, "resources", res = cJSON_CreateObject()) ||
      !put(res, "cpu_millis", positive_json(s->cpu_millis)) ||
      !put(res, "memory_bytes", positive_json(s->memory_bytes)) ||
      !put(o, "restart", str_json(s->restart)) || !put(o, "profiles", strv_json(&s->profiles)) ||
      !put(o, "labels", kvv_json(&s->labels, KV_PLAIN, show)) || !put(o, "watch", watch_json(s)) ||
      !put(o, "container_name", str_json(s->container_name)) ||
      !put(o, "hostname", str_json(s->hostname)) || !put(o, "user", str_json(s->user)) ||
      !put(o, "working_dir", str_json(s->working_dir)) ||
      !put(o, "stop_signal", str_json(s->stop_signal)) ||
      !put(o, "stop_grace_period_ms",
           s->stop_grace_ms >= 0 ? num_json(s->stop_grace_ms) : cJSON_CreateNull()) ||
      !put(o, "init", s->init < 0 ? cJSON_CreateNull() : cJSON_CreateBool(s->init != 0)) ||
      !put(o, "tmpfs", strv_json(&s->tmpfs)) ||
      !put(o, "extra_hosts", strv_json(&s->extra_hosts)) ||
      !put(o, "cap_add", strv_json(&s->cap_add)) || !put(o, "cap_drop", strv_json(&s->cap_drop)) ||
      !put(o, "networks", attachments_json(s)) ||
      !put(o, "secrets", file_refs_json(s->secrets, s->n_secrets)) ||
      !put(o, "configs", file_refs_json(s->configs, s->n_configs)) ||
      !put(o, "uses", uses_json(s)) || !put(o, "kind", str_json(s->kind)) ||
      !put(o, "extensions", extensions_json(&s->extensions)))
    return NULL;
  return TAKE_PTR(o);
}

static cJSON *databases_json(const struct berth_infra *in, bool show) {
  _cleanup_json_ cJSON *a = cJSON_CreateArray();
  if (!a)
    return NULL;
  for (size_t i = 0; i < in->n_databases; i++) {
    const struct berth_pg_database *d = &in->databases[i];
    cJSON *o = cJSON_CreateObject();
    if (!push(a, o) || !put(o, "name", str_json(d->name)) || !put(o, "owner", str_json(d->owner)) ||
        !put(o, "password", secret_json(d->password, show)) ||
        !put(o, "schemas", strv_json(&d->schemas)) ||
        !put(o, "extensions", strv_json(&d->extensions)))
      return NULL;
  }
  return TAKE_PTR(a);
}

static cJSON *permissions_json(const struct berth_mq_user *u) {
  _cleanup_json_ cJSON *a = cJSON_CreateArray();
  if (!a)
    return NULL;
  for (size_t i = 0; i < u->n_permissions; i++) {
    const struct berth_mq_permission *pm = &u->permissions[i];
    cJSON *o = cJSON_CreateObject();
    if (!push(a, o) || !put(o, "vhost", str_json(pm->vhost)) ||
        !put(o, "configure", str_json(pm->configure)) || !put(o, "write", str_json(pm->write)) ||
        !put(o, "read", str_json(pm->read)))
      return NULL;
  }
  return TAKE_PTR(a);
}

static cJSON *users_json(const struct berth_infra *in, bool show) {
  _cleanup_json_ cJSON *a = cJSON_CreateArray();
  if (!a)
    return NULL;
  for (size_t i = 0; i < in->n_users; i++) {
    const struct berth_mq_user *u = &in->users[i];
    cJSON *o = cJSON_CreateObject();
    if (!push(a, o) || !put(o, "name", str_json(u->name)) ||
        !put(o, "password", secret_json(u->password, show)) ||
        !put(o, "tags", strv_json(&u->tags)) || !put(o, "permissions", permissions_json(u)))
      return NULL;
  }
  return TAKE_PTR(a);
}

static cJSON *infra_json(const struct berth_infra *in, bool show) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o || !put(o, "name", str_json(in->name)) ||
      !put(o, "kind", cJSON_CreateString(berth_infra_kind_name(in->kind))) ||
      !put(o, "version", str_json(in->version)) || !put(o, "image", str_json(in->image)) ||
      !put(o, "databases", databases_json(in, show)) || !put(o, "vhosts", strv_json(&in->vhosts)) ||
      !put(o, "users", users_json(in, show)) ||
      !put(o, "management", cJSON_CreateBool(in->management)) ||
      !put(o, "password", secret_json(in->password, show)) ||
      !put(o, "persistence", str_json(in->persistence)))
    return NULL;
  return TAKE_PTR(o);
}

static cJSON *network_json(const struct berth_network *n) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o || !put(o, "name", str_json(n->name)) || !put(o, "driver", str_json(n->driver)) ||
      !put(o, "external", cJSON_CreateBool(n->external)) ||
      !put(o, "external_name", str_json(n->external_name)) ||
      !put(o, "internal", cJSON_CreateBool(n->internal)) ||
      !put(o, "labels", kvv_json(&n->labels, KV_PLAIN, true)))
    return NULL;
  return TAKE_PTR(o);
}

static cJSON *volume_json(const struct berth_volume *v) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o || !put(o, "name", str_json(v->name)) || !put(o, "driver", str_json(v->driver)) ||
      !put(o, "external", cJSON_CreateBool(v->external)) ||
      !put(o, "external_name", str_json(v->external_name)) ||
      !put(o, "labels", kvv_json(&v->labels, KV_PLAIN, true)))
    return NULL;
  return TAKE_PTR(o);
}

/* Inline content of a secret is itself secret; a config's is not. */
static cJSON *file_def_json(const struct berth_file_def *d, bool content_secret, bool show) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o || !put(o, "name", str_json(d->name)) || !put(o, "file", str_json(d->file)) ||
      !put(o, "environment", str_json(d->environment)) ||
      !put(o, "content", content_secret ? secret_json(d->content, show) : str_json(d->content)) ||
      !put(o, "external", cJSON_CreateBool(d->external)))
    return NULL;
  return TAKE_PTR(o);
}

#define NAME_KEY(x) ((x)->name ? (x)->name : "")

static cJSON *project_json(const struct berth_project *p, bool show) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  cJSON *services = NULL, *infra = NULL, *networks = NULL, *volumes = NULL, *secrets = NULL,
        *configs = NULL;
  if (!o || !put(o, "name", str_json(p->name)) || !put(o, "project_dir", str_json(p->dir)) ||
      !put(o, "files", strv_json(&p->files)) ||
      !put(o, "format",
           cJSON_CreateString(p->format == BERTH_FORMAT_COMPOSE ? "compose" : "berth")) ||
      !put(o, "profiles", strv_json(&p->active_profiles)) ||
      !put(o, "services", services = cJSON_CreateObject()) ||
      !put(o, "infra", infra = cJSON_CreateObject()) ||
      !put(o, "networks", networks = cJSON_CreateObject()) ||
      !put(o, "volumes", volumes = cJSON_CreateObject()) ||
      !put(o, "secrets", secrets = cJSON_CreateObject()) ||
      !put(o, "configs", configs = cJSON_CreateObject()) ||
      !put(o, "seeds", stored_json(p->seeds_json)) ||
      !put(o, "namespaces", stored_json(p->namespaces_json)))
    return NULL;
  for (size_t i = 0; i < p->n_services; i++)
    if (!put(services, NAME_KEY(&p->services[i]), service_json(&p->services[i], show)))
      return NULL;
  for (size_t i = 0; i < p->n_infra; i++)
    if (!put(infra, NAME_KEY(&p->infra[i]), infra_json(&p->infra[i], show)))
      return NULL;
  for (size_t i = 0; i < p->n_networks; i++)
    if (!put(networks, NAME_KEY(&p->networks[i]), network_json(&p->networks[i])))
      return NULL;
  for (size_t i = 0; i < p->n_volumes; i++)
    if (!put(volumes, NAME_KEY(&p->volumes[i]), volume_json(&p->volumes[i])))
      return NULL;
  for (size_t i = 0; i < p->n_secrets; i++)
    if (!put(secrets, NAME_KEY(&p->secrets[i]), file_def_json(&p->secrets[i], true, show)))
      return NULL;
  for (size_t i = 0; i < p->n_configs; i++)
    if (!put(configs, NAME_KEY(&p->configs[i]), file_def_json(&p->configs[i], false, show)))
      return NULL;
  return TAKE_PTR(o);
}

int berth_project_to_json(const struct berth_project *p, bool show_secrets, cJSON **ret,
                          berth_err *err) {
  if (!p)
    return berth_err_set(err, BERTH_E_INVALID, "no project to describe");
  cJSON *j = project_json(p, show_secrets);
  if (!j)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory describing project %s",
                         p->name ? p->name : "(unnamed)");
  *ret = j;
  return 0;
}
