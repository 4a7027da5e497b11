/* The stable JSON of `berth config --json` (docs/config-json.md): every
 * part of the model, with secrets masked unless asked for. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "berth/buf.h"
#include "berth/model.h"
#include "cleanup.h"
#include "model-internal.h"

#define MASK "***"

static bool is_scheme_char(char c) {
  return isalnum((unsigned char)c) || c == '+' || c == '-' || c == '.';
}

/* A copy of value with the password of every URL's userinfo
 * (scheme://user:password@host) replaced by ***, and a userinfo without a
 * password (scheme://token@host, where tokens go) replaced whole. The
 * authority ends at '/', '?', '#' or white space (RFC 3986); the userinfo
 * at its last '@', the user at the first ':'. NULL when out of memory. */
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
    if (!at || at == authority)
      continue;
    const char *colon = memchr(authority, ':', (size_t)(at - authority));
    if (colon && colon + 1 == at)
      continue; /* "user:@host": no password to hide */
    const char *keep = colon ? colon + 1 : authority;
    memcpy(o, copied, (size_t)(keep - copied));
    o += keep - copied;
    memcpy(o, MASK, strlen(MASK));
    o += strlen(MASK);
    copied = at;
  }
  memcpy(o, copied, len - (size_t)(copied - value) + 1);
  return out;
}

/* A secret is often passed by a flag: `--requirepass pw`, `--masterauth
 * pw`, `--token t`. Such a flag's name is a secret name, or its last part
 * ends in PASS or AUTH. */
static bool is_secret_flag(const char *name, size_t len) {
  _cleanup_free_ char *n = strndup(name, len);
  if (!n)
    return true; /* out of memory: hide rather than show */
  if (berth_is_secret_name(n))
    return true;
  size_t end = len;
  while (end && !isalnum((unsigned char)n[end - 1]))
    end--;
  n[end] = '\0';
  return (end >= 4 && !strcasecmp(n + end - 4, "PASS")) ||
         (end >= 4 && !strcasecmp(n + end - 4, "AUTH"));
}

static bool is_quote(char c) {
  return c == '\'' || c == '"' || c == '`';
}

/* The masked text being built; failed once out of memory. */
struct masked {
  struct berth_buf b;
  bool failed;
  bool pending; /* the last word was a secret flag: mask the next one */
};

static void add(struct masked *m, const char *s, size_t n) {
  if (n && berth_buf_add(&m->b, s, n) < 0)
    m->failed = true;
}

/* $VAR, ${VAR}, $(cat /run/secrets/pw): where the secret comes from when
 * the command runs, not the secret. */
static bool is_reference(const char *s, const char *end) {
  return end - s >= 2 && s[0] == '$' &&
         (s[1] == '(' || s[1] == '{' || s[1] == '_' || isalpha((unsigned char)s[1]));
}

/* Adds *** for the span [from, to) of a word, keeping the quotes around
 * it so a shell line still reads as one, and a reference as it is. */
static void add_mask(struct masked *m, const char *from, const char *to) {
  const char *a = from, *z = to;
  while (a < z && is_quote(*a))
    a++;
  while (z > a && is_quote(z[-1]))
    z--;
  if (is_reference(a, z)) {
    add(m, from, (size_t)(to - from));
    return;
  }
  add(m, from, (size_t)(a - from));
  add(m, MASK, a < z ? strlen(MASK) : 0);
  add(m, z, (size_t)(to - z));
}

/* One word of a value or argument: NAME=VALUE with a secret NAME has its
 * VALUE masked; a secret flag (--password) masks the next word; a word
 * after one is masked whole. */
static void add_word(struct masked *m, const char *w, size_t len) {
  const char *eq = memchr(w, '=', len), *end = w + len;
  bool flag = len > 1 && w[0] == '-';
  if (m->pending && !flag) {
    m->pending = false;
    add_mask(m, w, end);
    return;
  }
  m->pending = false;
  if (eq && eq > w && eq + 1 < end) {
    _cleanup_free_ char *name = strndup(w, (size_t)(eq - w));
    if (!name || berth_is_secret_name(name) || (flag && is_secret_flag(name, strlen(name)))) {
      add(m, w, (size_t)(eq + 1 - w));
      add_mask(m, eq + 1, end);
      return;
    }
  } else if (!eq && flag) {
    m->pending = is_secret_flag(w, len);
  }
  add(m, w, len);
}

/* The words of a value are separated by white space, and by & ; , as in
 * a query string (?user=u&password=pw) or a list of options. */
#define WORD_SEPARATORS " \t\r\n&;,"

/* The length of the word at c. A quoted value is one word, spaces and
 * all: after '=' (--password="a b"), and after a secret flag. */
static size_t word_len(const char *c, bool pending) {
  size_t i = 0;
  if (pending && is_quote(c[0])) {
    const char *close = strchr(c + 1, c[0]);
    if (close)
      i = (size_t)(close - c) + 1;
  }
  while (c[i] && !strchr(WORD_SEPARATORS, c[i])) {
    const char *close = c[i] == '=' && is_quote(c[i + 1]) ? strchr(c + i + 2, c[i + 1]) : NULL;
    i = close ? (size_t)(close - c) + 1 : i + 1;
  }
  return i;
}

/* text as shown without --show-secrets: URL credentials masked, then each
 * word as add_word says. *pending carries a secret flag over to the next
 * argument of a command. NULL when out of memory. */
static char *mask_text(const char *text, bool *pending) {
  _cleanup_free_ char *u = mask_url_passwords(text);
  if (!u)
    return NULL;
  struct masked m = {.b = BERTH_BUF_INIT(SIZE_MAX), .pending = *pending};
  for (const char *c = u; *c;) {
    size_t sep = strspn(c, WORD_SEPARATORS);
    add(&m, c, sep);
    c += sep;
    size_t len = word_len(c, m.pending);
    if (len)
      add_word(&m, c, len);
    c += len;
  }
  *pending = m.pending;
  if (m.failed) {
    berth_buf_release(&m.b);
    return NULL;
  }
  return berth_buf_detach(&m.b);
}

char *berth_mask_secrets(const char *name, const char *value) {
  if (!value)
    return NULL;
  if (name && berth_is_secret_name(name))
    return strdup(MASK);
  bool pending = false;
  return mask_text(value, &pending);
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

/* A value as shown (berth_mask_secrets unless show); name may be NULL. */
static cJSON *value_json(const char *name, const char *value, bool show) {
  if (!value || show)
    return str_json(value);
  _cleanup_free_ char *masked = berth_mask_secrets(name, value);
  return masked ? cJSON_CreateString(masked) : NULL;
}

/* Environment, build arguments and labels: masked by name and value. */
static cJSON *kvv_json(const struct berth_kvv *v, bool show) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  for (size_t i = 0; i < v->n; i++) {
    const char *key = v->v[i].key ? v->v[i].key : "";
    if (!put(o, key, value_json(key, v->v[i].value, show)))
      return NULL;
  }
  return TAKE_PTR(o);
}

/* A command's arguments: a secret flag masks the argument after it. */
static cJSON *argv_json(const struct berth_strv *v, bool show) {
  if (show)
    return strv_json(v);
  _cleanup_json_ cJSON *a = cJSON_CreateArray();
  if (!a)
    return NULL;
  bool pending = false;
  for (size_t i = 0; i < v->n; i++) {
    _cleanup_free_ char *m = v->v[i] ? mask_text(v->v[i], &pending) : NULL;
    if ((v->v[i] && !m) || !push(a, str_json(m)))
      return NULL;
  }
  return TAKE_PTR(a);
}

/* Masks a parsed document in place: every scalar under a secret key
 * (x-db: {password: ...}), and every string as mask_text does, a list's
 * items as a command's arguments. False when out of memory. */
static bool mask_tree(cJSON *j, bool secret, bool *pending) {
  if (cJSON_IsString(j) && j->valuestring) {
    _cleanup_free_ char *m = secret ? strdup(MASK) : mask_text(j->valuestring, pending);
    return m && cJSON_SetValuestring(j, m);
  }
  if (cJSON_IsNumber(j) && secret) {
    cJSON *m = cJSON_CreateString(MASK);
    if (!m)
      return false;
    /* j becomes the masked value in its place: its parent's list links
     * stay, only the contents change. */
    cJSON_free(j->valuestring);
    j->type = cJSON_String;
    j->valuestring = m->valuestring;
    m->valuestring = NULL;
    cJSON_Delete(m);
    return true;
  }
  bool list_pending = false;
  cJSON *c;
  cJSON_ArrayForEach (c, j) {
    bool none = false;
    bool ok = cJSON_IsArray(j) ? mask_tree(c, secret, &list_pending)
                               : mask_tree(c, secret || berth_is_secret_name(c->string), &none);
    if (!ok)
      return false;
  }
  return true;
}

/* Stored JSON text parsed back, masked unless show; text that is not JSON
 * stays a string. cJSON cannot tell a syntax error from a failed
 * allocation, so under memory pressure valid text may come out as a
 * string too. */
static cJSON *stored_json(const char *text, bool show) {
  if (!text)
    return cJSON_CreateNull();
  _cleanup_json_ cJSON *j = cJSON_ParseWithOpts(text, NULL, true);
  if (!j && !(j = cJSON_CreateString(text)))
    return NULL;
  bool pending = false;
  if (!show && !mask_tree(j, false, &pending))
    return NULL;
  return TAKE_PTR(j);
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
      !put(o, "dockerfile", str_json(b->dockerfile)) || !put(o, "args", kvv_json(&b->args, show)) ||
      !put(o, "target", str_json(b->target)))
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
    if (!push(a, o) || !put(o, "type", cJSON_CreateString(berth__mount_type_name(m->type))) ||
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

static cJSON *probe_json(const struct berth_probe *pr, bool show) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o || !put(o, "kind", cJSON_CreateString(berth_probe_kind_name(pr->kind))) ||
      !put(o, "http_path", value_json(NULL, pr->http_path, show)) ||
      !put(o, "port", positive_json(pr->port)) || !put(o, "exec", argv_json(&pr->exec, show)) ||
      !put(o, "interval_ms", positive_json(pr->interval_ms)) ||
      !put(o, "timeout_ms", positive_json(pr->timeout_ms)) ||
      !put(o, "start_period_ms", positive_json(pr->start_period_ms)) ||
      !put(o, "retries", positive_json(pr->retries)))
    return NULL;
  return TAKE_PTR(o);
}

static cJSON *watch_json(const struct berth_service *s, bool show) {
  _cleanup_json_ cJSON *a = cJSON_CreateArray();
  if (!a)
    return NULL;
  for (size_t i = 0; i < s->n_watch; i++) {
    const struct berth_watch *w = &s->watch[i];
    cJSON *o = cJSON_CreateObject();
    if (!push(a, o) || !put(o, "path", str_json(w->path)) ||
        !put(o, "action", cJSON_CreateString(berth_watch_action_name(w->action))) ||
        !put(o, "target", str_json(w->target)) || !put(o, "ignore", strv_json(&w->ignore)) ||
        !put(o, "command", argv_json(&w->command, show)))
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

/* x-* keys: a secret name masks the whole extension (x-api-token). */
static cJSON *extensions_json(const struct berth_kvv *v, bool show) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o)
    return NULL;
  for (size_t i = 0; i < v->n; i++) {
    const char *key = v->v[i].key ? v->v[i].key : "";
    _cleanup_json_ cJSON *x = stored_json(v->v[i].value, show);
    bool none = false;
    if (!x || (!show && berth_is_secret_name(key) && !mask_tree(x, true, &none)) ||
        !put(o, key, TAKE_PTR(x)))
      return NULL;
  }
  return TAKE_PTR(o);
}

static cJSON *service_json(const struct berth_service *s, bool show) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  cJSON *res = NULL;
  if (!o || !put(o, "name", str_json(s->name)) || !put(o, "image", str_json(s->image)) ||
      !put(o, "build", build_json(s->build, show)) ||
      !put(o, "command", s->has_command ? argv_json(&s->command, show) : cJSON_CreateNull()) ||
      !put(o, "entrypoint",
           s->has_entrypoint ? argv_json(&s->entrypoint, show) : cJSON_CreateNull()) ||
      !put(o, "environment", kvv_json(&s->environment, show)) ||
      !put(o, "env_files", strv_json(&s->env_files)) || !put(o, "ports", ports_json(s)) ||
      !put(o, "expose", strv_json(&s->expose)) || !put(o, "volumes", mounts_json(s)) ||
      !put(o, "depends_on", deps_json(s)) || !put(o, "probe", probe_json(&s->probe, show)) ||
      !put(o, "replicas", num_json(s->replicas)) ||
      !put(o, "resources", res = cJSON_CreateObject()) ||
      !put(res, "cpu_millis", positive_json(s->cpu_millis)) ||
      !put(res, "memory_bytes", positive_json(s->memory_bytes)) ||
      !put(o, "restart", str_json(s->restart)) || !put(o, "profiles", strv_json(&s->profiles)) ||
      !put(o, "labels", kvv_json(&s->labels, show)) || !put(o, "watch", watch_json(s, show)) ||
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
      !put(o, "extensions", extensions_json(&s->extensions, show)))
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

static cJSON *seeds_json(const struct berth_infra *in) {
  _cleanup_json_ cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; a && i < in->n_seeds; i++) {
    const struct berth_seed *sd = &in->seeds[i];
    cJSON *o = cJSON_CreateObject();
    if (!push(a, o) || !put(o, "kind", cJSON_CreateString(berth_seed_kind_name(sd->kind))) ||
        !put(o, "file", str_json(sd->file)) || !put(o, "name", str_json(sd->name)) ||
        !put(o, "table", str_json(sd->table)) || !put(o, "database", str_json(sd->database)) ||
        !put(o, "vhost", str_json(sd->vhost)))
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
      !put(o, "persistence", str_json(in->persistence)) || !put(o, "seeds", seeds_json(in)))
    return NULL;
  return TAKE_PTR(o);
}

static cJSON *network_json(const struct berth_network *n, bool show) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o || !put(o, "name", str_json(n->name)) || !put(o, "driver", str_json(n->driver)) ||
      !put(o, "external", cJSON_CreateBool(n->external)) ||
      !put(o, "external_name", str_json(n->external_name)) ||
      !put(o, "internal", cJSON_CreateBool(n->internal)) ||
      !put(o, "labels", kvv_json(&n->labels, show)))
    return NULL;
  return TAKE_PTR(o);
}

static cJSON *volume_json(const struct berth_volume *v, bool show) {
  _cleanup_json_ cJSON *o = cJSON_CreateObject();
  if (!o || !put(o, "name", str_json(v->name)) || !put(o, "driver", str_json(v->driver)) ||
      !put(o, "external", cJSON_CreateBool(v->external)) ||
      !put(o, "external_name", str_json(v->external_name)) ||
      !put(o, "labels", kvv_json(&v->labels, show)))
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
      !put(o, "namespaces", stored_json(p->namespaces_json, show)))
    return NULL;
  for (size_t i = 0; i < p->n_services; i++)
    if (!put(services, NAME_KEY(&p->services[i]), service_json(&p->services[i], show)))
      return NULL;
  for (size_t i = 0; i < p->n_infra; i++)
    if (!put(infra, NAME_KEY(&p->infra[i]), infra_json(&p->infra[i], show)))
      return NULL;
  for (size_t i = 0; i < p->n_networks; i++)
    if (!put(networks, NAME_KEY(&p->networks[i]), network_json(&p->networks[i], show)))
      return NULL;
  for (size_t i = 0; i < p->n_volumes; i++)
    if (!put(volumes, NAME_KEY(&p->volumes[i]), volume_json(&p->volumes[i], show)))
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
