/* Checks of the model once it is read: dependency cycles, paths and
 * references (validate), and the profiles that select services. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "berth/graph.h"
#include "cleanup.h"
#include "manifest-internal.h"

static struct berth_node pos_node(const struct berth_pos *p) {
  return (struct berth_node){.file = p->file, .line = p->line, .col = p->col};
}

/* The services' graph: an edge per dependency on a declared service, its
 * tag the dependency's index in deps. Services whose out-edges are
 * dropped (a cycle already reported) are left without them. */
static int services_graph(const struct berth_project *p, const bool *dropped, struct berth_graph *g,
                          berth_err *err) {
  for (size_t i = 0; i < p->n_services; i++)
    if (berth_graph_add(g, p->services[i].name, err) < 0)
      return -1;
  for (size_t i = 0; i < p->n_services; i++) {
    const struct berth_service *svc = &p->services[i];
    for (size_t k = 0; k < svc->n_deps && !dropped[i]; k++) {
      long t = berth_graph_find(g, svc->deps[k].service);
      if (t >= 0 && berth_graph_edge(g, i, (size_t)t, (int)k, err) < 0)
        return -1;
    }
  }
  return 0;
}

static void report_cycle(struct berth__reader *r, const struct berth_graph *g, const size_t *path,
                         size_t len) {
  const struct berth_project *p = r->p;
  struct berth_buf b = BERTH_BUF_INIT(1 << 16);
  for (size_t k = 0; k < len; k++)
    berth_buf_addf(&b, "%s -> ", g->names[path[k]]);
  berth_buf_addf(&b, "%s", g->names[path[0]]);
  /* The edge that closes it: the last node's dependency on the first. */
  const struct berth_service *last = &p->services[path[len - 1]];
  const struct berth_dep *d = NULL;
  for (size_t e = 0; e < g->n_out[path[len - 1]]; e++)
    if (g->out[path[len - 1]][e].to == path[0])
      d = &last->deps[g->out[path[len - 1]][e].tag];
  struct berth_node at = d ? pos_node(&d->pos) : (struct berth_node){0};
  char where[300];
  snprintf(where, sizeof(where), "services.%s.depends_on", last->name);
  if (!b.data)
    r->oom = true;
  berth__error(r, &at, where, "dependency cycle: %s; remove one of these dependencies",
               b.data ? b.data : "");
  berth_buf_release(&b);
}

/* Reports every cycle once: after one is reported, its services' own
 * dependencies are left out and the search runs again. */
static void check_cycles(struct berth__reader *r) {
  const struct berth_project *p = r->p;
  if (!p->n_services)
    return;
  _cleanup_free_ bool *dropped = calloc(p->n_services, sizeof(*dropped));
  if (!dropped) {
    r->oom = true;
    return;
  }
  for (;;) {
    struct berth_graph g = BERTH_GRAPH_INIT;
    _cleanup_err_ berth_err err = NULL;
    size_t *path = NULL, len = 0;
    int found = services_graph(p, dropped, &g, &err);
    if (found >= 0)
      found = berth_graph_cycle(&g, &path, &len, &err);
    if (found < 0)
      r->oom = true; /* the graph fails only for memory */
    if (found == 1) {
      report_cycle(r, &g, path, len);
      for (size_t k = 0; k < len; k++)
        dropped[path[k]] = true;
    }
    free(path);
    berth_graph_release(&g);
    if (found != 1)
      return;
  }
}

static bool under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  if (n == 1 && dir[0] == '/')
    return true;
  return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

void berth__validate(struct berth__reader *r) {
  struct berth_project *p = r->p;
  for (size_t i = 0; i < p->n_services; i++) {
    struct berth_service *s = &p->services[i];
    struct berth_node at = pos_node(&s->pos);
    char path[300];
    snprintf(path, sizeof(path), "services.%s", s->name);
    if ((!s->image || !*s->image) && !s->build && berth_strv_find(&r->unusable, s->name) < 0)
      berth__error(r, &at, path, "has neither image nor build; add image: NAME or build: DIR");
    for (size_t d = 0; d < s->n_deps; d++) {
      struct berth_dep *dep = &s->deps[d];
      bool known = berth_project_service(p, dep->service) != NULL;
      for (size_t k = 0; !known && k < p->n_infra; k++)
        known = !strcmp(p->infra[k].name, dep->service);
      bool off = false;
      for (size_t k = 0; !known && k < r->off.n; k++)
        off |= !strcmp(r->off.v[k], dep->service);
      if (off && !dep->required)
        continue; /* optional, and its profile is off: up skips it */
      if (off) {
        struct berth_node dat = pos_node(&dep->pos);
        snprintf(path, sizeof(path), "services.%s.depends_on.%s", s->name, dep->service);
        berth__error(r, &dat, path,
                     "%s is not active: its profile was not selected; add --profile for it, or "
                     "mark this dependency required: false",
                     dep->service);
        continue;
      }
      if (!known) {
        struct berth_node dat = pos_node(&dep->pos);
        snprintf(path, sizeof(path), "services.%s.depends_on.%s", s->name, dep->service);
        _cleanup_free_ const char **names = calloc(p->n_services + p->n_infra + 1, sizeof(char *));
        size_t nn = 0;
        for (size_t k = 0; names && k < p->n_services; k++)
          names[nn++] = p->services[k].name;
        for (size_t k = 0; names && k < p->n_infra; k++)
          names[nn++] = p->infra[k].name;
        const char *sug = names ? berth__suggest(dep->service, names) : NULL;
        berth__error(r, &dat, path, "no service or infra named \"%s\"%s%s%s", dep->service,
                     sug ? " (did you mean \"" : "", sug ? sug : "", sug ? "\"?)" : "");
      }
    }
    for (size_t w = 0; w < s->n_watch; w++)
      if (!under(s->watch[w].path, p->dir)) {
        struct berth_node wat = pos_node(&s->watch[w].pos);
        snprintf(path, sizeof(path), "services.%s.watch[%zu].path", s->name, w);
        berth__error(r, &wat, path,
                     "%s is outside the project directory %s; watch paths must be inside it",
                     s->watch[w].path, p->dir);
      }
    /* Host ports: the same address and port published twice cannot
     * work. The engine picks 0; ranges are compared by overlap. */
    for (size_t a = 0; a < s->n_ports; a++) {
      const struct berth_port *pa = &s->ports[a];
      if (!pa->host_start ||
          (pa->host_end > pa->host_start && pa->container_end == pa->container_start))
        continue; /* none, or the engine picks one port in a range */
      for (size_t j = 0; j <= i; j++) {
        const struct berth_service *o = &p->services[j];
        for (size_t b = 0; b < o->n_ports; b++) {
          const struct berth_port *pb = &o->ports[b];
          if (j == i && b >= a)
            break;
          if (!pb->host_start || strcmp(pa->protocol, pb->protocol) ||
              (pb->host_end > pb->host_start && pb->container_end == pb->container_start))
            continue;
          bool same_ip = !strcmp(pa->host_ip, pb->host_ip) || !strcmp(pa->host_ip, "0.0.0.0") ||
                         !strcmp(pb->host_ip, "0.0.0.0");
          if (same_ip && pa->host_start <= pb->host_end && pb->host_start <= pa->host_end) {
            struct berth_node pat = pos_node(&pa->pos);
            snprintf(path, sizeof(path), "services.%s.ports[%zu]", s->name, a);
            berth__error(r, &pat, path,
                         "host port %s:%u/%s is also published by services.%s (line %d); give "
                         "one of them another host port",
                         pa->host_ip, pa->host_start, pa->protocol, o->name, pb->pos.line);
          }
        }
      }
    }
  }
  check_cycles(r);
}

/* Keeps the services of the active profiles (and those without any), and
 * says when a requested profile selects nothing. */
/* COMPOSE_PROFILES split at commas (up to 63 names), trimmed; the names
 * point into *ret_copy. */
static size_t env_profiles(struct berth__reader *r, char **ret_copy, const char ***ret_list) {
  size_t n = 0;
  const char *env = getenv("COMPOSE_PROFILES");
  if (!env || !*env)
    return 0;
  char *copy = strdup(env);
  const char **list = calloc(64, sizeof(char *));
  if (!copy || !list) {
    free(copy);
    free(list);
    r->oom = true;
    return 0;
  }
  for (char *save = NULL, *t = strtok_r(copy, ",", &save); t && n < 63;
       t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ')
      t++;
    size_t tl = strlen(t);
    while (tl && t[tl - 1] == ' ')
      t[--tl] = '\0';
    if (*t)
      list[n++] = t;
  }
  *ret_copy = copy;
  *ret_list = list;
  return n;
}

/* A profile asked for that no service has: say which ones exist. */
static void report_unused_profile(struct berth__reader *r, const char *want) {
  const struct berth_project *p = r->p;
  struct berth_buf known = BERTH_BUF_INIT(1 << 16);
  for (size_t i = 0; i < p->n_services; i++)
    for (size_t k = 0; k < p->services[i].profiles.n; k++) {
      const char *pf = p->services[i].profiles.v[k];
      bool dup = false;
      for (size_t j = 0; j < i && !dup; j++)
        dup = berth_strv_find(&p->services[j].profiles, pf) >= 0;
      for (size_t m = 0; m < k && !dup; m++)
        dup = !strcmp(p->services[i].profiles.v[m], pf);
      if (!dup && berth_buf_addf(&known, "%s%s", known.len ? ", " : "", pf) < 0)
        r->oom = true;
    }
  if (known.len)
    berth__error(r, NULL, NULL,
                 "the profile \"%s\" selects no service; profiles in use are those listed "
                 "under the services' profiles: %s",
                 want, known.data);
  else
    berth__error(r, NULL, NULL, "the profile \"%s\" selects no service; no service has profiles",
                 want);
  berth_buf_release(&known);
}

/* Frees a service left out, by moving it into a scratch project; false
 * when that cannot be allocated (the service is then kept). */
static bool drop_service(struct berth__reader *r, struct berth_service *s) {
  if (berth_strv_push(&r->off, s->name) < 0)
    r->oom = true;
  struct berth_project *scratch = calloc(1, sizeof(*scratch));
  if (scratch)
    scratch->services = malloc(sizeof(*scratch->services));
  if (!scratch || !scratch->services) {
    free(scratch);
    r->oom = true;
    return false;
  }
  scratch->services[0] = *s;
  scratch->n_services = 1;
  berth_project_free(scratch);
  return true;
}

void berth__apply_profiles(struct berth__reader *r, const struct berth_load_opts *o) {
  struct berth_project *p = r->p;
  _cleanup_free_ char *env_copy = NULL;
  _cleanup_free_ const char **env_list = NULL;
  const char *const *want = o->profiles;
  size_t n_want = o->n_profiles;
  if (!n_want) {
    n_want = env_profiles(r, &env_copy, &env_list);
    want = env_list;
  }
  for (size_t w = 0; w < n_want; w++) {
    bool used = !strcmp(want[w], "*");
    for (size_t i = 0; i < p->n_services && !used; i++)
      used = berth_strv_find(&p->services[i].profiles, want[w]) >= 0;
    if (!used)
      report_unused_profile(r, want[w]);
    if (berth_strv_push(&p->active_profiles, want[w]) < 0) {
      r->oom = true;
      return;
    }
  }
  size_t keep = 0;
  for (size_t i = 0; i < p->n_services; i++) {
    struct berth_service *s = &p->services[i];
    bool on = s->profiles.n == 0;
    for (size_t k = 0; k < s->profiles.n && !on; k++)
      for (size_t w = 0; w < n_want && !on; w++)
        on = !strcmp(want[w], "*") || !strcmp(s->profiles.v[k], want[w]);
    if (on || !drop_service(r, s))
      p->services[keep++] = *s;
  }
  p->n_services = keep;
}

void berth__check_uses(struct berth__reader *r) {
  struct berth_project *p = r->p;
  for (size_t i = 0; i < p->n_services; i++) {
    struct berth_service *s = &p->services[i];
    for (size_t u = 0; u < s->n_uses; u++) {
      struct berth_use *use = &s->uses[u];
      struct berth_node at = {.file = use->pos.file, .line = use->pos.line, .col = use->pos.col};
      char path[BERTH__PATH_MAX];
      berth__pathf(path, "services.%s.uses.%s", s->name, use->infra);
      const struct berth_infra *in = NULL;
      for (size_t k = 0; k < p->n_infra; k++)
        if (!strcmp(p->infra[k].name, use->infra))
          in = &p->infra[k];
      if (!in) {
        berth__error(r, &at, path, "no infra instance named \"%s\"", use->infra);
        continue;
      }
      static const char *const dflt[] = {"DATABASE_URL", "REDIS_URL", "AMQP_URL"};
      if (!use->as)
        use->as = berth__strdup(r, dflt[in->kind]);
      if (use->database && in->kind != BERTH_INFRA_POSTGRES)
        berth__error(r, &at, path, "database is for postgres instances");
      if (use->vhost && in->kind != BERTH_INFRA_RABBITMQ)
        berth__error(r, &at, path, "vhost is for rabbitmq instances");
      if (use->database && in->n_databases) {
        bool ok = false;
        for (size_t d = 0; d < in->n_databases; d++)
          ok |= in->databases[d].name && !strcmp(in->databases[d].name, use->database);
        if (!ok)
          berth__error(r, &at, path, "\"%s\" is not among the databases of %s", use->database,
                       in->name);
      }
      if (use->vhost && in->vhosts.n) {
        bool ok = false;
        for (size_t v = 0; v < in->vhosts.n; v++)
          ok |= !strcmp(in->vhosts.v[v], use->vhost);
        if (!ok)
          berth__error(r, &at, path, "\"%s\" is not among the vhosts of %s", use->vhost, in->name);
      }
    }
  }
}
