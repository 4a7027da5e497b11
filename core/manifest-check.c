/* Checks of the model once it is read: dependency cycles, paths and
 * references (validate), and the profiles that select services. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "berth/graph.h"
#include "cleanup.h"
#include "manifest-internal.h"
#include "name-index.h"

static struct berth_node pos_node(const struct berth_pos *p) {
  return (struct berth_node){.file = p->file, .line = p->line, .col = p->col};
}

/* The services' graph: an edge per dependency on a declared service, its
 * tag the dependency's index in deps. */
static int services_graph(const struct berth_project *p, struct berth_graph *g, berth_err *err) {
  for (size_t i = 0; i < p->n_services; i++)
    if (berth_graph_add(g, p->services[i].name, err) < 0)
      return -1;
  for (size_t i = 0; i < p->n_services; i++) {
    const struct berth_service *svc = &p->services[i];
    for (size_t k = 0; k < svc->n_deps; k++) {
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
 * dependencies are left out and the search runs again, on the same graph
 * (rebuilding it per cycle made 168 cycles in 50,000 services take 2 s). */
static void check_cycles(struct berth__reader *r) {
  const struct berth_project *p = r->p;
  if (!p->n_services)
    return;
  struct berth_graph g = BERTH_GRAPH_INIT;
  _cleanup_err_ berth_err err = NULL;
  int found = services_graph(p, &g, &err);
  while (found >= 0) {
    size_t *path = NULL, len = 0;
    found = berth_graph_cycle(&g, &path, &len, &err);
    if (found == 1) {
      report_cycle(r, &g, path, len);
      /* Left without out-edges: their arrays stay owned by the graph. */
      for (size_t k = 0; k < len; k++)
        g.n_out[path[k]] = 0;
    }
    free(path);
    if (found != 1)
      break;
  }
  if (found < 0)
    r->oom = true; /* the graph fails only for memory */
  berth_graph_release(&g);
}

static bool under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  if (n == 1 && dir[0] == '/')
    return true;
  return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

/* Name indexes over the lists validate looks names up in, once each per
 * dependency or service (scanning them made 25,000 dropped services take
 * 5 s). */
struct lookups {
  struct berth__name_index off, unusable, infra;
  const char **names; /* services then infra, for suggestions; made once */
  size_t n_suggested;
};

static const char *strv_name(const void *ctx, size_t pos) {
  return ((const struct berth_strv *)ctx)->v[pos];
}

static const char *infra_name(const void *ctx, size_t pos) {
  return ((const struct berth_project *)ctx)->infra[pos].name;
}

static void lookups_build(struct berth__reader *r, struct lookups *l) {
  if (berth__name_index_build(&l->off, strv_name, &r->off, r->off.n) < 0 ||
      berth__name_index_build(&l->unusable, strv_name, &r->unusable, r->unusable.n) < 0 ||
      berth__name_index_build(&l->infra, infra_name, r->p, r->p->n_infra) < 0)
    r->oom = true;
}

static void lookups_release(struct lookups *l) {
  berth__name_index_release(&l->off);
  berth__name_index_release(&l->unusable);
  berth__name_index_release(&l->infra);
  free(l->names);
}

/* Suggestions compare the name with every other: only the first ones
 * get one, so that many unknown names stay linear. */
#define MAX_SUGGESTIONS 64

static const char *suggest_dep(struct berth__reader *r, struct lookups *l, const char *name) {
  const struct berth_project *p = r->p;
  if (l->n_suggested++ >= MAX_SUGGESTIONS)
    return NULL;
  if (!l->names) {
    l->names = calloc(p->n_services + p->n_infra + 1, sizeof(char *));
    size_t nn = 0;
    for (size_t k = 0; l->names && k < p->n_services; k++)
      l->names[nn++] = p->services[k].name;
    for (size_t k = 0; l->names && k < p->n_infra; k++)
      l->names[nn++] = p->infra[k].name;
  }
  return l->names ? berth__suggest(name, l->names) : NULL;
}

static void check_deps(struct berth__reader *r, struct lookups *l, const struct berth_service *s) {
  const struct berth_project *p = r->p;
  char path[300];
  for (size_t d = 0; d < s->n_deps; d++) {
    const struct berth_dep *dep = &s->deps[d];
    bool known = berth_project_service(p, dep->service) != NULL ||
                 berth__name_index_find(&l->infra, infra_name, p, dep->service) >= 0;
    bool off = !known && berth__name_index_find(&l->off, strv_name, &r->off, dep->service) >= 0;
    if (off && !dep->required)
      continue; /* optional, and its profile is off: up skips it */
    if (known)
      continue;
    struct berth_node dat = pos_node(&dep->pos);
    snprintf(path, sizeof(path), "services.%s.depends_on.%s", s->name, dep->service);
    if (off) {
      berth__error(r, &dat, path,
                   "%s is not active: its profile was not selected; add --profile for it, or "
                   "mark this dependency required: false",
                   dep->service);
      continue;
    }
    const char *sug = suggest_dep(r, l, dep->service);
    berth__error(r, &dat, path, "no service or infra named \"%s\"%s%s%s", dep->service,
                 sug ? " (did you mean \"" : "", sug ? sug : "", sug ? "\"?)" : "");
  }
}

/* A published host port, for the duplicate check. */
struct host_port {
  const struct berth_port *port;
  size_t svc, order;            /* the service's index; the port's place over all */
  bool any;                     /* bound to 0.0.0.0: meets every address */
  const struct host_port *with; /* the earliest earlier port it collides with */
  const struct host_port *twin; /* the first port of this address and range */
};

static int cmp_start(const struct host_port *a, const struct host_port *b) {
  if (a->port->host_start != b->port->host_start)
    return a->port->host_start < b->port->host_start ? -1 : 1;
  if (a->port->host_end != b->port->host_end)
    return a->port->host_end < b->port->host_end ? -1 : 1;
  return a->order < b->order ? -1 : a->order > b->order;
}

/* By protocol, address, first and last port, then declaration order. */
static int by_address(const void *va, const void *vb) {
  const struct host_port *a = va, *b = vb;
  int c = strcmp(a->port->protocol, b->port->protocol);
  if (!c)
    c = strcmp(a->port->host_ip, b->port->host_ip);
  return c ? c : cmp_start(a, b);
}

/* Pointers, by protocol, range, then declaration order. */
static int by_range(const void *va, const void *vb) {
  const struct host_port *a = *(struct host_port *const *)va, *b = *(struct host_port *const *)vb;
  int c = strcmp(a->port->protocol, b->port->protocol);
  return c ? c : cmp_start(a, b);
}

/* The later of two colliding ports names the earlier one. */
static void collide(struct host_port *x, struct host_port *y) {
  struct host_port *later = x->order > y->order ? x : y, *earlier = later == x ? y : x;
  if (!later->with || earlier->order < later->with->order)
    later->with = earlier;
}

static bool same_range(const struct host_port *a, const struct host_port *b) {
  return a->port->host_start == b->port->host_start && a->port->host_end == b->port->host_end;
}

/* Same protocol and address: sweeps each group sorted by first port,
 * keeping the ranges still open. A port with the range of one open before
 * it (its twin) stays out of the open set: what collides with it collides
 * with the twin, so 50,000 copies of one port stay linear. */
static void sweep_same_address(struct host_port *hp, size_t n, struct host_port **open) {
  size_t n_open = 0;
  for (size_t i = 0; i < n; i++) {
    const struct berth_port *pi = hp[i].port;
    size_t keep = 0;
    for (size_t k = 0; k < n_open; k++) {
      const struct berth_port *pk = open[k]->port;
      if (strcmp(pk->protocol, pi->protocol) || strcmp(pk->host_ip, pi->host_ip) ||
          pk->host_end < pi->host_start)
        continue; /* closed for good: the ports come sorted */
      open[keep++] = open[k];
      collide(&hp[i], open[k]);
      if (same_range(open[k], &hp[i]))
        hp[i].twin = open[k];
    }
    n_open = keep;
    if (!hp[i].twin)
      open[n_open++] = &hp[i];
  }
}

/* The earliest of set[0..n) (one protocol, sorted by range, one per
 * range) overlapping x; maxlen: the longest range in the set. */
static struct host_port *earliest_overlap(struct host_port **set, size_t n, unsigned maxlen,
                                          const struct host_port *x) {
  unsigned from = x->port->host_start > maxlen ? x->port->host_start - maxlen : 0;
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (set[mid]->port->host_start < from)
      lo = mid + 1;
    else
      hi = mid;
  }
  struct host_port *best = NULL;
  for (size_t k = lo; k < n && set[k]->port->host_start <= x->port->host_end; k++)
    if (set[k]->port->host_end >= x->port->host_start && (!best || set[k]->order < best->order))
      best = set[k];
  return best;
}

/* 0.0.0.0 against the other addresses, one protocol (all[0..n), sorted by
 * range): each port is compared with the earliest of each range bound to
 * the other side, found by bisection, not with every port. */
static void cross_wildcard(struct host_port **all, size_t n, struct host_port **side) {
  struct host_port **any = side, **one = side + n;
  size_t n_any = 0, n_one = 0;
  unsigned len_any = 0, len_one = 0;
  for (size_t k = 0; k < n; k++) {
    struct host_port *h = all[k];
    unsigned len = h->port->host_end - h->port->host_start;
    if (h->any && (!n_any || !same_range(any[n_any - 1], h))) {
      any[n_any++] = h;
      len_any = len > len_any ? len : len_any;
    } else if (!h->any && (!n_one || !same_range(one[n_one - 1], h))) {
      one[n_one++] = h;
      len_one = len > len_one ? len : len_one;
    }
  }
  if (!n_any)
    return;
  for (size_t k = 0; k < n; k++) {
    struct host_port *o = all[k]->any ? earliest_overlap(one, n_one, len_one, all[k])
                                      : earliest_overlap(any, n_any, len_any, all[k]);
    if (o)
      collide(all[k], o);
  }
}

static void report_port(struct berth__reader *r, const struct host_port *h) {
  const struct berth_project *p = r->p;
  const struct berth_service *s = &p->services[h->svc];
  const struct berth_port *pa = h->port;
  struct berth_node pat = pos_node(&pa->pos);
  char path[300];
  snprintf(path, sizeof(path), "services.%s.ports[%zu]", s->name, (size_t)(pa - s->ports));
  berth__error(r, &pat, path,
               "host port %s:%u/%s is also published by services.%s (line %d); give "
               "one of them another host port",
               pa->host_ip, pa->host_start, pa->protocol, p->services[h->with->svc].name,
               h->with->port->pos.line);
}

/* Host ports: the same address and port published twice cannot work.
 * The engine picks 0; ranges are compared by overlap. Sorted, not
 * compared pairwise (50,000 services with a port each took 20 s). */
static void check_host_ports(struct berth__reader *r) {
  const struct berth_project *p = r->p;
  size_t n = 0, m = 0;
  for (size_t i = 0; i < p->n_services; i++)
    n += p->services[i].n_ports;
  _cleanup_free_ struct host_port *hp = calloc(n + 1, sizeof(*hp));
  _cleanup_free_ struct host_port **ptr = calloc(3 * n + 1, sizeof(*ptr));
  if (!hp || !ptr) {
    r->oom = true;
    return;
  }
  for (size_t i = 0; i < p->n_services; i++)
    for (size_t a = 0; a < p->services[i].n_ports; a++) {
      const struct berth_port *pa = &p->services[i].ports[a];
      if (!pa->host_start ||
          (pa->host_end > pa->host_start && pa->container_end == pa->container_start))
        continue; /* none, or the engine picks one port in a range */
      hp[m] = (struct host_port){
          .port = pa, .svc = i, .order = m, .any = !strcmp(pa->host_ip, "0.0.0.0")};
      m++;
    }
  qsort(hp, m, sizeof(*hp), by_address);
  sweep_same_address(hp, m, ptr);
  for (size_t k = 0; k < m; k++)
    ptr[k] = &hp[k];
  qsort(ptr, m, sizeof(*ptr), by_range);
  for (size_t k = 0, end; k < m; k = end) {
    for (end = k + 1; end < m && !strcmp(ptr[end]->port->protocol, ptr[k]->port->protocol);)
      end++;
    cross_wildcard(ptr + k, end - k, ptr + m);
  }
  /* A twin collides with its first and with what that one collides with:
   * the earliest is that one's, or the first itself (which comes before). */
  for (size_t k = 0; k < m; k++) {
    const struct host_port *t = hp[k].twin, *c = t ? (t->with ? t->with : t) : NULL;
    if (c && (!hp[k].with || c->order < hp[k].with->order))
      hp[k].with = c;
  }
  /* Reported in the services' order, as they are declared. */
  for (size_t k = 0; k < m; k++)
    ptr[hp[k].order] = &hp[k];
  for (size_t k = 0; k < m; k++)
    if (ptr[k]->with)
      report_port(r, ptr[k]);
}

void berth__validate(struct berth__reader *r) {
  struct berth_project *p = r->p;
  struct lookups l = {0};
  lookups_build(r, &l);
  for (size_t i = 0; i < p->n_services; i++) {
    struct berth_service *s = &p->services[i];
    struct berth_node at = pos_node(&s->pos);
    char path[300];
    snprintf(path, sizeof(path), "services.%s", s->name);
    if ((!s->image || !*s->image) && !s->build &&
        berth__name_index_find(&l.unusable, strv_name, &r->unusable, s->name) < 0)
      berth__error(r, &at, path, "has neither image nor build; add image: NAME or build: DIR");
    check_deps(r, &l, s);
    for (size_t w = 0; w < s->n_watch; w++)
      if (!under(s->watch[w].path, p->dir)) {
        struct berth_node wat = pos_node(&s->watch[w].pos);
        snprintf(path, sizeof(path), "services.%s.watch[%zu].path", s->name, w);
        berth__error(r, &wat, path,
                     "%s is outside the project directory %s; watch paths must be inside it",
                     s->watch[w].path, p->dir);
      }
  }
  lookups_release(&l);
  check_host_ports(r);
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

/* Profiles named in the message when one asked for selects nothing;
 * the others are counted. */
#define MAX_PROFILES_LISTED 20

/* A profile asked for that no service has: say which ones exist (each
 * once, looked up in an index of those seen: 25,000 profiles took 4 s). */
static void report_unused_profile(struct berth__reader *r, const char *want) {
  const struct berth_project *p = r->p;
  struct berth_buf known = BERTH_BUF_INIT(1 << 16);
  struct berth_strv seen = {0};
  struct berth__name_index ix = {0};
  for (size_t i = 0; i < p->n_services; i++)
    for (size_t k = 0; k < p->services[i].profiles.n; k++) {
      const char *pf = p->services[i].profiles.v[k];
      if (berth__name_index_find(&ix, strv_name, &seen, pf) >= 0)
        continue;
      if (berth_strv_push(&seen, pf) < 0 ||
          berth__name_index_add(&ix, strv_name, &seen, seen.n - 1) < 0)
        r->oom = true;
      else if (seen.n <= MAX_PROFILES_LISTED &&
               berth_buf_addf(&known, "%s%s", known.len ? ", " : "", pf) < 0)
        r->oom = true;
    }
  if (seen.n > MAX_PROFILES_LISTED &&
      berth_buf_addf(&known, " and %zu more", seen.n - MAX_PROFILES_LISTED) < 0)
    r->oom = true;
  if (known.len)
    berth__error(r, NULL, NULL,
                 "the profile \"%s\" selects no service; profiles in use are those listed "
                 "under the services' profiles: %s",
                 want, known.data);
  else
    berth__error(r, NULL, NULL, "the profile \"%s\" selects no service; no service has profiles",
                 want);
  berth_buf_release(&known);
  berth__name_index_release(&ix);
  berth_strv_release(&seen);
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
  struct berth__name_index infra = {0};
  if (berth__name_index_build(&infra, infra_name, p, p->n_infra) < 0)
    r->oom = true;
  for (size_t i = 0; i < p->n_services; i++) {
    struct berth_service *s = &p->services[i];
    for (size_t u = 0; u < s->n_uses; u++) {
      struct berth_use *use = &s->uses[u];
      struct berth_node at = {.file = use->pos.file, .line = use->pos.line, .col = use->pos.col};
      char path[BERTH__PATH_MAX];
      berth__pathf(path, "services.%s.uses.%s", s->name, use->infra);
      long at_infra = berth__name_index_find(&infra, infra_name, p, use->infra);
      const struct berth_infra *in = at_infra < 0 ? NULL : &p->infra[at_infra];
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
  berth__name_index_release(&infra);
}
