/* Pre-flight: what must hold before any container starts. Images are
 * there (built or pulled), which seals each unit's config hash with its
 * image's id; no other process holds a host port a unit publishes;
 * networks and named volumes exist; orphans are reported or removed. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "engine-internal.h"

/* Names the process listening on a TCP port, from /proc (best effort). */
static void port_holder(uint16_t port, char *out, size_t size) {
  snprintf(out, size, "another process");
  FILE *f = fopen("/proc/net/tcp", "re");
  if (!f)
    return;
  char line[512];
  unsigned long inode = 0;
  while (fgets(line, sizeof(line), f)) {
    unsigned lport, st;
    unsigned long ino;
    if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &lport, &st,
               &ino) == 3 &&
        lport == port && st == 0x0A) {
      inode = ino;
      break;
    }
  }
  fclose(f);
  if (!inode)
    return;
  char want[64];
  snprintf(want, sizeof(want), "socket:[%lu]", inode);
  DIR *proc = opendir("/proc");
  struct dirent *de;
  while (proc && (de = readdir(proc))) {
    char fddir[300];
    if (de->d_name[0] < '0' || de->d_name[0] > '9')
      continue;
    snprintf(fddir, sizeof(fddir), "/proc/%s/fd", de->d_name);
    DIR *fds = opendir(fddir);
    struct dirent *fe;
    bool hit = false;
    while (fds && !hit && (fe = readdir(fds))) {
      char link[600], target[128];
      snprintf(link, sizeof(link), "%s/%s", fddir, fe->d_name);
      ssize_t n = readlink(link, target, sizeof(target) - 1);
      if (n > 0) {
        target[n] = '\0';
        hit = !strcmp(target, want);
      }
    }
    if (fds)
      closedir(fds);
    if (hit) {
      char comm_path[300], comm[64] = "?";
      snprintf(comm_path, sizeof(comm_path), "/proc/%s/comm", de->d_name);
      FILE *c = fopen(comm_path, "re");
      if (c) {
        if (fgets(comm, sizeof(comm), c))
          comm[strcspn(comm, "\n")] = '\0';
        fclose(c);
      }
      snprintf(out, size, "process %s (pid %s)", comm, de->d_name);
      break;
    }
  }
  if (proc)
    closedir(proc);
}

/* Which running container publishes this host port, if any. */
static char *container_on_port(struct berth_docker *d, uint16_t port) {
  _cleanup_json_ cJSON *all = NULL;
  berth_err err = NULL;
  if (berth_docker_container_list(d, NULL, false, &all, &err) < 0) {
    berth_err_free(&err);
    return NULL;
  }
  const cJSON *c, *pt;
  cJSON_ArrayForEach (c, all) {
    cJSON_ArrayForEach (pt, cJSON_GetObjectItemCaseSensitive(c, "Ports")) {
      const cJSON *pub = cJSON_GetObjectItemCaseSensitive(pt, "PublicPort");
      if (cJSON_IsNumber(pub) && (uint16_t)pub->valueint == port) {
        const char *name = cJSON_GetStringValue(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "Names"), 0));
        return strdup(name ? (name[0] == '/' ? name + 1 : name) : "?");
      }
    }
  }
  return NULL;
}

static int check_ports(struct berth__engine *e, struct berth_docker *d, berth_err *err) {
  for (size_t i = 0; i < e->pl.n; i++) {
    struct berth__unit *u = &e->pl.u[i];
    if (!u->selected)
      continue;
    const cJSON *have = berth__existing(e, u->container);
    /* Our own container holding its ports, and staying as it is, is no
     * conflict; one about to be recreated still is (its new ports are
     * checked before the old container goes). */
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(have, "State"));
    const char *hash = berth__label_of(have, BERTH_LABEL_HASH);
    if (have && st && !strcmp(st, "running") && hash && !strcmp(hash, u->hash))
      continue;
    for (size_t k = 0; k < u->n_ports; k++) {
      const struct berth_docker_port *p = &u->ports[k];
      if (!p->host_port || p->host_port_end > p->host_port)
        continue; /* none, or the engine picks a free one in a range */
      bool udp = p->proto && !strcmp(p->proto, "udp");
      int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
      struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(p->host_port)};
      const char *ip = p->host_ip ? p->host_ip : "127.0.0.1";
      if (fd < 0 || inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
        if (fd >= 0)
          close(fd);
        continue; /* IPv6 and the like: the engine will say */
      }
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      int br = bind(fd, (struct sockaddr *)&a, sizeof(a));
      int berr = errno;
      close(fd);
      if (br == 0 || berr != EADDRINUSE)
        continue;
      _cleanup_free_ char *holder = container_on_port(d, p->host_port);
      if (holder && !strcmp(holder, u->container))
        continue; /* its own previous container: freed when it is recreated */
      char proc[300];
      if (!holder)
        port_holder(p->host_port, proc, sizeof(proc));
      return berth_err_set(err, BERTH_E_CONFLICT,
                           "%s: host port %s:%u is already in use by %s%s; stop it or publish "
                           "another port in the manifest",
                           u->name, ip, p->host_port, holder ? "container " : "",
                           holder ? holder : proc);
    }
  }
  return 0;
}

struct build_progress {
  struct berth__engine *e;
  struct berth__unit *u;
};

static void on_build(const struct berth_docker_progress *p, void *ud) {
  struct build_progress *b = ud;
  if (p->stream && !strncmp(p->stream, "Step ", 5)) {
    char line[200];
    snprintf(line, sizeof(line), "%s", p->stream);
    line[strcspn(line, "\n")] = '\0';
    berth__emit(b->e, b->u, BERTH_PHASE_BUILDING, "%s", line);
  }
}

static int ensure_image(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                        berth_err *err);

static int ensure_images(struct berth__engine *e, struct berth_docker *d, berth_err *err) {
  /* Two passes: builds first, so an image one service builds is there
   * before another that only names it would try to pull it. */
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < e->pl.n; i++) {
      struct berth__unit *u = &e->pl.u[i];
      if (!u->selected || (pass == 0) != (u->svc && u->svc->build))
        continue;
      int r = ensure_image(e, d, u, err);
      if (r < 0)
        return r;
    }
  return 0;
}

static int ensure_image(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                        berth_err *err) {
  size_t i = (size_t)(u - e->pl.u);
  {
    bool seen = false;
    for (size_t j = 0; j < i; j++)
      seen |= e->pl.u[j].selected && !strcmp(e->pl.u[j].image, u->image) &&
              (e->pl.u[j].svc && u->svc ? e->pl.u[j].svc == u->svc || !u->svc->build : true);
    if (seen)
      return 0;
    /* Its id, for the seal, unless a build or a pull changes it. */
    _cleanup_json_ cJSON *img = NULL;
    berth_err ie = NULL;
    int have = berth_docker_image_inspect(d, u->image, &img, &ie) >= 0;
    if (!have && berth_err_code(ie) != BERTH_E_NOT_FOUND) {
      *err = ie;
      return -1;
    }
    berth_err_free(&ie);
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(img, "Id"));
    if (id && !(u->image_id = strdup(id)))
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    if (u->svc && u->svc->build && (!have || e->o->build)) {
      const struct berth_build *b = u->svc->build;
      _cleanup_strv_ struct berth_strv argv = {0};
      for (size_t k = 0; k < b->args.n; k++)
        if (b->args.v[k].value &&
            berth_strv_pushf(&argv, "%s=%s", b->args.v[k].key, b->args.v[k].value) < 0)
          return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
      char label[300];
      snprintf(label, sizeof(label), BERTH_LABEL_PROJECT "=%s", e->p->name);
      const char *labels[] = {label, NULL};
      struct berth_docker_build_opts bo = {.context_dir = b->context,
                                           .dockerfile = b->dockerfile,
                                           .tag = u->image,
                                           .target = b->target,
                                           .buildargs = argv.n ? (const char *const *)argv.v : NULL,
                                           .labels = labels};
      berth__emit(e, u, BERTH_PHASE_BUILDING, "building %s", u->image);
      for (size_t j = 0; j < e->pl.n; j++) /* whoever saw the old id */
        if (!strcmp(e->pl.u[j].image, u->image)) {
          free(e->pl.u[j].image_id);
          e->pl.u[j].image_id = NULL;
        }
      struct build_progress bp = {e, u};
      if (berth_docker_image_build(d, &bo, on_build, &bp, NULL, err) < 0)
        return berth_err_wrap(err, "%s", u->name);
      return 0;
    }
    if (have)
      return 0;
    berth__emit(e, u, BERTH_PHASE_PULLING, "pulling %s", u->image);
    if (berth_docker_image_pull(d, u->image, NULL, NULL, err) < 0)
      return berth_err_wrap(err,
                            "%s: the image %s is not on this machine and could not be "
                            "pulled (is a registry reachable? build it, or set its name)",
                            u->name, u->image);
  }
  return 0;
}

static int ensure_networks_volumes(struct berth__engine *e, struct berth_docker *d,
                                   berth_err *err) {
  char label[300], buf[512];
  snprintf(label, sizeof(label), BERTH_LABEL_PROJECT "=%s", e->p->name);
  const char *labels[] = {label, BERTH_LABEL_OWNER "=berth", NULL};
  for (size_t i = 0; i < e->p->n_networks; i++) {
    const struct berth_network *n = &e->p->networks[i];
    const char *name = berth__network_name(e->p, n->name, buf, sizeof(buf));
    _cleanup_json_ cJSON *info = NULL;
    berth_err e2 = NULL;
    if (berth_docker_network_inspect(d, name, &info, &e2) >= 0)
      continue;
    if (strstr(berth_err_root_msg(e2), "matches found")) {
      /* Two networks of one name (two ups raced before berth locked):
       * keep the one in use, remove the empty duplicates of ours. */
      berth_err_free(&e2);
      _cleanup_json_ cJSON *all = NULL;
      if (berth_docker_network_list(d, labels, &all, err) < 0)
        return -1;
      /* Keep the one containers use (else the first); drop empty others. */
      const cJSON *nw;
      _cleanup_free_ char *keep = NULL;
      for (int pass = 0; pass < 2 && !keep; pass++)
        cJSON_ArrayForEach (nw, all) {
          const char *nm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(nw, "Name"));
          const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(nw, "Id"));
          if (keep || !nm || !id || strcmp(nm, name))
            continue;
          _cleanup_json_ cJSON *ni = NULL;
          berth_err ie = NULL;
          bool used = berth_docker_network_inspect(d, id, &ni, &ie) >= 0 &&
                      cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ni, "Containers")) > 0;
          berth_err_free(&ie);
          if ((used || pass == 1) && !(keep = strdup(id)))
            return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
        }
      cJSON_ArrayForEach (nw, all) {
        const char *nm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(nw, "Name"));
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(nw, "Id"));
        berth_err ie = NULL;
        if (nm && id && !strcmp(nm, name) && keep && strcmp(id, keep) &&
            berth_docker_network_remove(d, id, &ie) < 0)
          berth_err_free(&ie);
      }
      continue;
    }
    if (berth_err_code(e2) != BERTH_E_NOT_FOUND) {
      *err = e2;
      return -berth_err_code(*err);
    }
    berth_err_free(&e2);
    if (n->external)
      return berth_err_set(err, BERTH_E_NOT_FOUND,
                           "the external network %s does not exist; create it (docker network "
                           "create %s) or drop external: true",
                           name, name);
    struct berth_docker_network_spec s = {
        .name = name, .driver = n->driver, .internal = n->internal, .labels = labels};
    if (berth_docker_network_create(d, &s, NULL, &e2) < 0) {
      if (berth_err_code(e2) != BERTH_E_CONFLICT) { /* a racing up created it: fine */
        *err = e2;
        return -berth_err_code(*err);
      }
      berth_err_free(&e2);
    }
  }
  /* Named volumes: creating an existing volume is a no-op for the engine. */
  for (size_t i = 0; i < e->pl.n; i++)
    for (size_t k = 0; k < e->pl.u[i].n_mounts; k++) {
      const struct berth_docker_mount *m = &e->pl.u[i].mounts[k];
      if (!e->pl.u[i].selected || m->type != BERTH_MOUNT_VOLUME || !m->source)
        continue;
      bool external = false;
      for (size_t v = 0; v < e->p->n_volumes; v++)
        if (e->p->volumes[v].external &&
            !strcmp(berth__volume_name(e->p, e->p->volumes[v].name, buf, sizeof(buf)), m->source))
          external = true;
      _cleanup_json_ cJSON *info = NULL;
      if (external) {
        if (berth_docker_volume_inspect(d, m->source, &info, err) < 0)
          return berth_err_wrap(err, "the external volume %s", m->source);
        continue;
      }
      if (berth_docker_volume_create(d, m->source, labels, &info, err) < 0)
        return berth_err_wrap(err, "%s", e->pl.u[i].name);
    }
  return 0;
}

static int remove_orphans(struct berth__engine *e, struct berth_docker *d, berth_err *err) {
  const cJSON *c;
  cJSON_ArrayForEach (c, e->existing) {
    const char *svc = berth__label_of(c, BERTH_LABEL_SERVICE);
    const char *rep = berth__label_of(c, BERTH_LABEL_REPLICA);
    if (svc && berth__unit_index(&e->pl, svc, rep ? atoi(rep) : 1) >= 0)
      continue;
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "Id"));
    const char *name =
        cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "Names"), 0));
    struct berth__unit fake = {.name = (char *)(svc ? svc : "?"), .replica = rep ? atoi(rep) : 1};
    if (!e->o->remove_orphans) {
      berth__emit(e, &fake, BERTH_PHASE_WAITING,
                  "orphan container %s: no longer in the manifest; berth up --remove-orphans "
                  "removes it",
                  name ? name + 1 : "?");
      continue;
    }
    berth__emit(e, &fake, BERTH_PHASE_STOPPING, "removing orphan container");
    if (berth_docker_container_remove(d, id, true, false, err) < 0 &&
        berth_err_code(*err) != BERTH_E_NOT_FOUND)
      return -1;
    berth_err_free(err);
  }
  return 0;
}

/* The config hashes, once the images are there: one inspect per image,
 * none for an image whose id ensure_image saw (and nothing changed). */
static int seal(struct berth__engine *e, struct berth_docker *d, berth_err *err) {
  for (size_t i = 0; i < e->pl.n; i++) {
    struct berth__unit *u = &e->pl.u[i];
    if (!u->selected)
      continue;
    for (size_t j = 0; !u->image_id && j < i; j++)
      if (e->pl.u[j].selected && e->pl.u[j].image_id && !strcmp(e->pl.u[j].image, u->image) &&
          !(u->image_id = strdup(e->pl.u[j].image_id)))
        return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    if (!u->image_id) {
      _cleanup_json_ cJSON *img = NULL;
      if (berth_docker_image_inspect(d, u->image, &img, err) < 0)
        return berth_err_wrap(err, "%s", u->name);
      const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(img, "Id"));
      if (id && !(u->image_id = strdup(id)))
        return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    }
    int r = berth__unit_seal(u, u->image_id, err);
    if (r < 0)
      return r;
  }
  return 0;
}

int berth__preflight(struct berth__engine *e, berth_err *err) {
  char label[300];
  snprintf(label, sizeof(label), BERTH_LABEL_PROJECT "=%s", e->p->name);
  const char *labels[] = {label, NULL};
  int r = berth_docker_container_list(e->d, labels, true, &e->existing, err);
  if (r >= 0)
    r = remove_orphans(e, e->d, err);
  if (r >= 0)
    r = ensure_images(e, e->d, err);
  if (r >= 0)
    r = seal(e, e->d, err);
  if (r >= 0)
    r = check_ports(e, e->d, err);
  if (r >= 0)
    r = ensure_networks_volumes(e, e->d, err);
  return r;
}
