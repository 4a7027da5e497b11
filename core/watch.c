/* berth watch: libuv directory watchers per rule, a quiet-period batch,
 * content hashes against no-op saves, and the rule's action through the
 * engine API. Runs on one thread: engine calls block the loop for the
 * length of an action, and inotify queues what happens meanwhile. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "berth/buf.h"
#include "berth/clock.h"
#include "berth/engine.h" /* labels, rebuild */
#include "berth/ignore.h"
#include "berth/tar.h"
#include "berth/watch.h"
#include "cleanup.h"
#include "docker.h"
#include "hash.h"

struct session;
struct rule;

/* One watched directory. Owned by its rule; freed in close_cb. */
struct dirwatch {
  uv_fs_event_t h;
  struct rule *rule;
  char *path;
};

/* Known file contents under a rule: path relative to the rule's root and
 * the FNV-1a hash of the content. Open addressing. */
struct entry {
  char *rel;
  uint64_t hash; /* content and mode: a chmod +x is a change too */
  bool synced;   /* sent to the container at least once: resent to a new one */
};

struct rule {
  struct session *s;
  const struct berth_service *svc;
  const struct berth_watch *w;
  char *root;
  struct berth_ignore *ign;
  struct dirwatch **dirs;
  size_t n_dirs;
  struct entry *tab;
  size_t tab_cap, tab_n;
  char **pending; /* absolute paths changed since the last batch */
  size_t n_pending;
  uv_timer_t timer;
  char *container; /* id the last batch went to */
  char *only;      /* the rule's path is a file: its name in root */
  /* What a failed action did not deliver, sent with the next batch, and
   * what was deleted since watching began (replayed on a new container). */
  char **retry;
  size_t n_retry;
  char **gone;
  size_t n_gone;
};

struct session {
  const struct berth_project *p;
  const struct berth_watch_opts *o;
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  uv_timer_t ticker;
  struct rule *rules;
  size_t n_rules;
  struct berth_docker *d;
  int quiet_ms;
};

static void emit(struct rule *r, enum berth_watch_what what, size_t files, size_t deleted,
                 int64_t ms, const char *detail) {
  if (!r->s->o->on_event)
    return;
  struct berth_watch_event ev = {.service = r->svc->name,
                                 .what = what,
                                 .files = files,
                                 .deleted = deleted,
                                 .ms = ms,
                                 .detail = detail};
  r->s->o->on_event(&ev, r->s->o->ud);
}

bool berth_watch_is_temp(const char *name) {
  const char *base = strrchr(name, '/');
  base = base ? base + 1 : name;
  size_t n = strlen(base);
  if (!n)
    return true;
  if (base[n - 1] == '~' || !strcmp(base, "4913") || !strncmp(base, ".#", 2) ||
      (base[0] == '#' && base[n - 1] == '#'))
    return true;
  const char *dot = strrchr(base, '.');
  return dot && (!strcmp(dot, ".swp") || !strcmp(dot, ".swx") || !strcmp(dot, ".swo") ||
                 !strcmp(dot, ".tmp") || !strcmp(dot, ".crswap"));
}

/* ---- the table of known contents ---- */

static uint64_t hash_str(const char *s) {
  return berth_fnv1a(BERTH_FNV_INIT, s, strlen(s));
}

static struct entry *lookup(struct rule *r, const char *rel, bool create) {
  if (create && (r->tab_n + 1) * 2 > r->tab_cap) {
    size_t cap = r->tab_cap ? r->tab_cap * 2 : 1024;
    struct entry *t = calloc(cap, sizeof(*t));
    if (!t)
      return NULL;
    for (size_t i = 0; i < r->tab_cap; i++)
      if (r->tab[i].rel) {
        size_t j = hash_str(r->tab[i].rel) & (cap - 1);
        while (t[j].rel)
          j = (j + 1) & (cap - 1);
        t[j] = r->tab[i];
      }
    free(r->tab);
    r->tab = t;
    r->tab_cap = cap;
  }
  if (!r->tab_cap)
    return NULL;
  size_t i = hash_str(rel) & (r->tab_cap - 1);
  while (r->tab[i].rel) {
    if (!strcmp(r->tab[i].rel, rel))
      return &r->tab[i];
    i = (i + 1) & (r->tab_cap - 1);
  }
  if (!create)
    return NULL;
  if (!(r->tab[i].rel = strdup(rel)))
    return NULL;
  r->tab_n++;
  return &r->tab[i];
}

/* Deleting from open addressing: re-insert the cluster after the slot. */
static void forget(struct rule *r, struct entry *e) {
  free(e->rel);
  e->rel = NULL;
  r->tab_n--;
  size_t i = (size_t)(e - r->tab);
  for (size_t j = (i + 1) & (r->tab_cap - 1); r->tab[j].rel; j = (j + 1) & (r->tab_cap - 1)) {
    struct entry moved = r->tab[j];
    r->tab[j].rel = NULL;
    size_t k = hash_str(moved.rel) & (r->tab_cap - 1);
    while (r->tab[k].rel)
      k = (k + 1) & (r->tab_cap - 1);
    r->tab[k] = moved;
  }
}

static int hash_file(const char *path, uint64_t *ret) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return -errno;
  struct stat st;
  uint64_t h = BERTH_FNV_INIT;
  if (fstat(fd, &st) == 0) {
    uint64_t mode = st.st_mode & 07777;
    h = berth_fnv1a(h, &mode, sizeof(mode));
  }
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    h = berth_fnv1a(h, buf, (size_t)n);
  int e = n < 0 ? -errno : 0;
  close(fd);
  *ret = h;
  return e;
}

static const char *rel_of(const struct rule *r, const char *abs) {
  size_t n = strlen(r->root);
  if (strncmp(abs, r->root, n))
    return NULL;
  return abs[n] == '/' ? abs + n + 1 : abs[n] ? NULL : "";
}

static bool ignored(const struct rule *r, const char *rel) {
  if (!*rel)
    return false;
  if (r->only)
    return strcmp(rel, r->only) != 0;
  if (berth_watch_is_temp(rel) || !strcmp(rel, ".git") || !strncmp(rel, ".git/", 5) ||
      strstr(rel, "/.git/"))
    return true;
  return berth_ignore_match(r->ign, rel);
}

/* ---- directory watchers ---- */

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status);
static void on_quiet(uv_timer_t *t);
static int current_container(struct rule *r, char **ret, berth_err *err);
static void run_batch(struct rule *r);

static void close_dir_cb(uv_handle_t *h) {
  struct dirwatch *dw = h->data;
  free(dw->path);
  free(dw);
}

static void add_pending(struct rule *r, const char *abs) {
  for (size_t i = 0; i < r->n_pending; i++)
    if (!strcmp(r->pending[i], abs))
      return;
  char **p = realloc(r->pending, (r->n_pending + 1) * sizeof(*p));
  if (!p)
    return;
  r->pending = p;
  if ((p[r->n_pending] = strdup(abs)))
    r->n_pending++;
}

/* Watches dir and everything below it. initial: record contents (at
 * start); else: every file found is a change (a directory created or
 * moved in). */
static void watch_tree(struct rule *r, const char *dir, bool initial) {
  const char *rel = rel_of(r, dir);
  if (!rel || ignored(r, rel))
    return;
  for (size_t i = 0; i < r->n_dirs; i++)
    if (!strcmp(r->dirs[i]->path, dir))
      return;
  struct dirwatch *dw = calloc(1, sizeof(*dw));
  struct dirwatch **dirs = dw ? realloc(r->dirs, (r->n_dirs + 1) * sizeof(*dirs)) : NULL;
  if (!dirs) {
    free(dw);
    return;
  }
  r->dirs = dirs;
  dw->rule = r;
  dw->path = strdup(dir);
  dw->h.data = dw;
  uv_fs_event_init(&r->s->loop, &dw->h);
  if (!dw->path || uv_fs_event_start(&dw->h, on_fs_event, dir, 0) < 0) {
    uv_close((uv_handle_t *)&dw->h, close_dir_cb);
    return;
  }
  r->dirs[r->n_dirs++] = dw;
  DIR *d = opendir(dir);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    _cleanup_free_ char *child = NULL;
    if (asprintf(&child, "%s/%s", dir, de->d_name) < 0)
      continue;
    struct stat st;
    if (lstat(child, &st) < 0)
      continue;
    const char *crel = rel_of(r, child);
    if (!crel || ignored(r, crel))
      continue;
    if (S_ISDIR(st.st_mode)) {
      watch_tree(r, child, initial);
    } else if (initial) {
      uint64_t h;
      if (S_ISREG(st.st_mode) && hash_file(child, &h) == 0) {
        struct entry *e = lookup(r, crel, true);
        if (e)
          e->hash = h;
      }
    } else {
      add_pending(r, child);
    }
  }
  if (d)
    closedir(d);
}

static bool unwatch_below(struct rule *r, const char *dir) {
  size_t n = strlen(dir), keep = 0;
  bool any = false;
  for (size_t i = 0; i < r->n_dirs; i++) {
    struct dirwatch *dw = r->dirs[i];
    if (!strncmp(dw->path, dir, n) && (dw->path[n] == '/' || !dw->path[n])) {
      uv_fs_event_stop(&dw->h);
      uv_close((uv_handle_t *)&dw->h, close_dir_cb);
      any = true;
    } else {
      r->dirs[keep++] = dw;
    }
  }
  r->n_dirs = keep;
  return any;
}

static void list_add(char ***v, size_t *n, const char *s) {
  for (size_t i = 0; i < *n; i++)
    if (!strcmp((*v)[i], s))
      return;
  char **p = realloc(*v, (*n + 1) * sizeof(*p));
  if (!p)
    return;
  *v = p;
  if ((p[*n] = strdup(s)))
    (*n)++;
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status) {
  struct dirwatch *dw = h->data;
  struct rule *r = dw->rule;
  if (status < 0 || !filename)
    return;
  _cleanup_free_ char *abs = NULL;
  if (asprintf(&abs, "%s/%s", dw->path, filename) < 0)
    return;
  const char *rel = rel_of(r, abs);
  if (!rel || ignored(r, rel))
    return;
  struct stat st;
  if (lstat(abs, &st) == 0 && S_ISDIR(st.st_mode)) {
    watch_tree(r, abs, false); /* new (or moved-in) directory: its files are changes */
  } else {
    if (lstat(abs, &st) < 0 && unwatch_below(r, abs) && rel_of(r, abs))
      list_add(&r->gone, &r->n_gone, rel_of(r, abs)); /* a directory went away */
    add_pending(r, abs);
  }
  /* The quiet period restarts with every event of a burst. */
  uv_timer_start(&r->timer, on_quiet, (uint64_t)r->s->quiet_ms, 0);
}

/* ---- actions ---- */

static int collect(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  berth_buf_add(ud, data, len);
  return 0;
}

static int exec_in(struct session *s, const char *id, const char *const *cmd, struct berth_buf *out,
                   int *ret_code, berth_err *err) {
  struct berth_docker_exec_opts xo = {.cmd = cmd, .stdin_fd = -1};
  return berth_docker_exec(s->d, id, &xo, collect, out, ret_code, err);
}

/* Which container of the service runs now (replica 1), asked with the
 * session's client: one list call. */
static int current_container(struct rule *r, char **ret, berth_err *err) {
  char l1[300], l2[300];
  snprintf(l1, sizeof(l1), BERTH_LABEL_PROJECT "=%s", r->s->p->name);
  snprintf(l2, sizeof(l2), BERTH_LABEL_SERVICE "=%s", r->svc->name);
  const char *labels[] = {l1, l2, BERTH_LABEL_REPLICA "=1", NULL};
  _cleanup_json_ cJSON *list = NULL;
  if (berth_docker_container_list(r->s->d, labels, false, &list, err) < 0)
    return -1;
  const char *id =
      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, 0), "Id"));
  if (!id)
    return berth_err_set(err, BERTH_E_NOT_FOUND,
                         "no running container (berth up %s starts it; changes are kept and "
                         "sent with the next one)",
                         r->svc->name);
  return (*ret = strdup(id)) ? 0 : berth_err_set(err, BERTH_E_NOMEM, "out of memory");
}

/* ---- the direct path ---- */

/* Opens (creating) the directory dir below the container's root, one
 * component at a time, never following a symlink: the container's own
 * links could point anywhere on the host. -1 when that is not possible
 * (not root, a symlink on the way): the engine's archive API then does
 * the work. */
static int open_dir_in(int root_fd, const char *dir, bool create) {
  int fd = dup(root_fd);
  _cleanup_free_ char *copy = strdup(dir);
  for (char *save = NULL, *c = copy ? strtok_r(copy, "/", &save) : NULL; fd >= 0 && c;
       c = strtok_r(NULL, "/", &save)) {
    if (!strcmp(c, ".") || !strcmp(c, "..")) {
      close(fd);
      return -1;
    }
    if (create && mkdirat(fd, c, 0755) < 0 && errno != EEXIST) {
      close(fd);
      return -1;
    }
    int next = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(fd);
    fd = next;
  }
  return copy ? fd : (fd >= 0 ? (close(fd), -1) : -1);
}

/* Writes src to name in dir_fd through a temporary name and a rename, so
 * the service never reads a half-written file; keeps mode and mtime. */
static int copy_into(int dir_fd, const char *name, const char *src) {
  struct stat st;
  int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0 || fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
    if (in >= 0)
      close(in);
    return -1;
  }
  /* O_PATH descriptors cannot create: reopen the directory for that. */
  int d = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  char tmp[64];
  snprintf(tmp, sizeof(tmp), ".berth-sync-%d", (int)getpid());
  int out = d >= 0 ? openat(d, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                            st.st_mode & 07777)
                   : -1;
  int rc = out < 0 ? -1 : 0;
  char buf[65536];
  ssize_t n;
  while (rc == 0 && (n = read(in, buf, sizeof(buf))) > 0)
    if (write(out, buf, (size_t)n) != n)
      rc = -1;
  if (rc == 0) {
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (fchmod(out, st.st_mode & 07777) < 0 || futimens(out, times) < 0 ||
        renameat(d, tmp, d, name) < 0)
      rc = -1;
  }
  if (out >= 0)
    close(out);
  if (rc < 0 && d >= 0)
    unlinkat(d, tmp, 0);
  if (d >= 0)
    close(d);
  close(in);
  return rc;
}

/* Syncs by writing into the container's root file system (as the engine
 * would), when berth may: a few milliseconds instead of the archive
 * API's tens. Returns 0 when all was done, -1 to fall back. */
static int sync_direct(struct rule *r, const char *id, char **files, size_t n_files, char **deleted,
                       size_t n_deleted) {
  _cleanup_json_ cJSON *info = NULL;
  berth_err err = NULL;
  if (berth_docker_container_inspect(r->s->d, id, &info, &err) < 0) {
    berth_err_free(&err);
    return -1;
  }
  const cJSON *pid =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(info, "State"), "Pid");
  if (!cJSON_IsNumber(pid) || pid->valueint <= 0)
    return -1;
  /* The engine's PID is a host PID only when berth shares its PID
   * namespace (not with an engine in a VM): the process's cgroup must
   * name the container. */
  char path[64], cg[8192];
  snprintf(path, sizeof(path), "/proc/%d/cgroup", pid->valueint);
  _cleanup_fclose_ FILE *cgf = fopen(path, "re");
  size_t cgn = cgf ? fread(cg, 1, sizeof(cg) - 1, cgf) : 0;
  cg[cgn] = '\0';
  if (!cgn || !strstr(cg, id))
    return -1;
  char root[64];
  snprintf(root, sizeof(root), "/proc/%d/root", pid->valueint);
  _cleanup_close_ int root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0)
    return -1;
  for (size_t i = 0; i < n_files + n_deleted; i++) {
    bool del = i >= n_files;
    const char *rel = del ? deleted[i - n_files] : files[i];
    _cleanup_free_ char *dest = NULL, *abs = NULL;
    if ((r->only ? asprintf(&dest, "%s", r->w->target)
                 : asprintf(&dest, "%s/%s", r->w->target, rel)) < 0 ||
        asprintf(&abs, "%s/%s", r->root, rel) < 0)
      return -1;
    char *slash = strrchr(dest, '/');
    *slash = '\0';
    int dir = open_dir_in(root_fd, dest, !del);
    if (dir < 0)
      return -1;
    int rc;
    if (del) {
      rc = 0;
      if (unlinkat(dir, slash + 1, 0) < 0 && errno != ENOENT)
        rc = errno == EISDIR && unlinkat(dir, slash + 1, AT_REMOVEDIR) == 0 ? 0 : -1;
    } else {
      struct stat st;
      rc = lstat(abs, &st) == 0 && S_ISREG(st.st_mode) ? copy_into(dir, slash + 1, abs) : -1;
    }
    close(dir);
    if (rc < 0)
      return -1; /* a directory, a symlink, permission: the archive API does it */
  }
  return 0;
}

static int sync_files(struct rule *r, const char *id, char **files, size_t n_files, char **deleted,
                      size_t n_deleted, berth_err *err) {
  const char *target = r->w->target;
  /* Files already written directly are simply written again by the
   * fallback: both ways are idempotent. */
  if (sync_direct(r, id, files, n_files, deleted, n_deleted) == 0)
    return 0;
  if (n_files) {
    _cleanup_close_ int fd = memfd_create("berth-sync", MFD_CLOEXEC);
    if (fd < 0)
      return berth_err_errno(err, errno, "creating the sync archive");
    struct berth_tar *t = NULL;
    int rc = berth_tar_open_fd(&t, fd, err);
    for (size_t i = 0; rc >= 0 && i < n_files; i++) {
      /* Names carry the target, extracted at /: the engine creates the
       * directories on the way, no mkdir round trip. */
      _cleanup_free_ char *abs = NULL, *name = NULL;
      if (asprintf(&abs, "%s/%s", r->root, files[i]) < 0 ||
          (r->only ? asprintf(&name, "%s", target + (target[0] == '/'))
                   : asprintf(&name, "%s/%s", target + (target[0] == '/'), files[i])) < 0)
        rc = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
      else
        rc = berth_tar_add_path(t, abs, name, err);
    }
    if (rc >= 0)
      rc = berth_tar_close(t, err);
    berth_tar_free(t);
    if (rc < 0)
      return rc;
    if (lseek(fd, 0, SEEK_SET) < 0)
      return berth_err_errno(err, errno, "rewinding the sync archive");
    if ((rc = berth_docker_archive_put(r->s->d, id, "/", fd, err)) < 0)
      return rc;
  }
  if (n_deleted) {
    const char **rm = calloc(n_deleted + 4, sizeof(char *));
    char **paths = calloc(n_deleted, sizeof(char *));
    if (!rm || !paths) {
      free(rm);
      free(paths);
      return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
    }
    rm[0] = "rm";
    rm[1] = "-rf";
    rm[2] = "--";
    for (size_t i = 0; i < n_deleted; i++)
      if ((r->only ? asprintf(&paths[i], "%s", target)
                   : asprintf(&paths[i], "%s/%s", target, deleted[i])) >= 0)
        rm[3 + i] = paths[i];
    struct berth_buf out = BERTH_BUF_INIT(1 << 16);
    int code = 0;
    int rc = exec_in(r->s, id, rm, &out, &code, err);
    berth_buf_release(&out);
    for (size_t i = 0; i < n_deleted; i++)
      free(paths[i]);
    free(paths);
    free(rm);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int deeper_first(const void *a, const void *b) {
  size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
  return la < lb ? 1 : la > lb ? -1 : 0;
}

static void free_list(char **v, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

static void run_batch(struct rule *r) {
  struct session *s = r->s;
  char **pending = r->pending;
  size_t n_pending = r->n_pending;
  r->pending = NULL;
  r->n_pending = 0;
  int64_t t0 = berth_now_ms();
  /* What really changed: content differs from what berth knows. */
  char **files = calloc(n_pending + 1, sizeof(char *));
  char **deleted = calloc(n_pending + 1, sizeof(char *));
  size_t n_files = 0, n_deleted = 0;
  for (size_t i = 0; files && deleted && i < n_pending; i++) {
    const char *rel = rel_of(r, pending[i]);
    if (!rel || !*rel || ignored(r, rel))
      continue;
    struct stat st;
    struct entry *e = lookup(r, rel, false);
    if (lstat(pending[i], &st) < 0) {
      if (e) {
        forget(r, e);
        deleted[n_deleted++] = strdup(rel);
      } else {
        /* A directory that went away: remove what was below it too. */
        bool any = false;
        for (size_t g = 0; g < r->n_gone && !any; g++)
          any = !strcmp(r->gone[g], rel);
        size_t rl = strlen(rel);
        for (size_t k = 0; k < r->tab_cap; k++)
          if (r->tab[k].rel && !strncmp(r->tab[k].rel, rel, rl) && r->tab[k].rel[rl] == '/') {
            forget(r, &r->tab[k]);
            k = (size_t)-1; /* the table moved: start again */
            any = true;
          }
        if (any)
          deleted[n_deleted++] = strdup(rel);
      }
      continue;
    }
    if (S_ISDIR(st.st_mode))
      continue;
    uint64_t h = 0;
    if (S_ISREG(st.st_mode) && hash_file(pending[i], &h) < 0)
      continue; /* vanished or unreadable between the event and now */
    if (e && e->hash == h && S_ISREG(st.st_mode))
      continue; /* saved without a change */
    if (!e)
      e = lookup(r, rel, true);
    if (e) {
      e->hash = h;
      e->synced = true;
    }
    files[n_files++] = strdup(rel);
  }
  free_list(pending, n_pending);
  /* What an earlier action could not deliver goes with this one. */
  for (size_t k = 0; files && deleted && k < r->n_retry; k++) {
    const char *rel = r->retry[k];
    bool dup = false;
    for (size_t f = 0; f < n_files && !dup; f++)
      dup = !strcmp(files[f], rel);
    for (size_t f = 0; f < n_deleted && !dup; f++)
      dup = !strcmp(deleted[f], rel);
    if (dup)
      continue;
    char **grown = lookup(r, rel, false) ? realloc(files, (n_files + 2) * sizeof(char *))
                                         : realloc(deleted, (n_deleted + 2) * sizeof(char *));
    if (!grown)
      continue;
    if (lookup(r, rel, false)) {
      files = grown;
      files[n_files++] = strdup(rel);
    } else {
      deleted = grown;
      deleted[n_deleted++] = strdup(rel);
    }
  }
  free_list(r->retry, r->n_retry);
  r->retry = NULL;
  r->n_retry = 0;
  for (size_t f = 0; deleted && f < n_deleted; f++)
    list_add(&r->gone, &r->n_gone, deleted[f]);
  if (deleted && n_deleted > 1)
    qsort(deleted, n_deleted, sizeof(*deleted), deeper_first);
  if (!n_files && !n_deleted) {
    free(files);
    free(deleted);
    return;
  }
  berth_err err = NULL;
  _cleanup_free_ char *id = NULL;
  int rc = 0;
  enum berth_watch_action a = r->w->action;
  char detail[512] = "";
  if (a == BERTH_WATCH_REBUILD) {
    struct berth_engine_opts eo = {.services = (const char *[]){r->svc->name},
                                   .n_services = 1,
                                   .build = true,
                                   .state = s->o->state};
    rc = berth_engine_up(s->p, &eo, NULL, &err);
    if (rc >= 0)
      emit(r, BERTH_WATCH_EV_REBUILT, n_files, n_deleted, berth_now_ms() - t0, NULL);
    goto done;
  }
  if ((rc = current_container(r, &id, &err)) < 0)
    goto done;
  if (!r->container || strcmp(r->container, id)) {
    /* A new container (recreated since): it has none of the files synced
     * before, so they go again. */
    if (r->container && r->w->target)
      for (size_t k = 0; k < r->tab_cap; k++)
        if (r->tab[k].rel && r->tab[k].synced) {
          bool have = false;
          for (size_t f = 0; f < n_files && !have; f++)
            have = !strcmp(files[f], r->tab[k].rel);
          char **nf = have ? files : realloc(files, (n_files + 2) * sizeof(char *));
          if (nf && !have) {
            files = nf;
            files[n_files++] = strdup(r->tab[k].rel);
          }
        }
    /* ...and what was deleted since watching began, as the image may
     * have it. */
    if (r->container && r->w->target)
      for (size_t g = 0; g < r->n_gone; g++) {
        char again[4096];
        struct stat ast;
        snprintf(again, sizeof(again), "%s/%s", r->root, r->gone[g]);
        bool have = lookup(r, r->gone[g], false) != NULL || lstat(again, &ast) == 0;
        for (size_t f = 0; f < n_deleted && !have; f++)
          have = !strcmp(deleted[f], r->gone[g]);
        char **nd = have ? deleted : realloc(deleted, (n_deleted + 2) * sizeof(char *));
        if (nd && !have) {
          deleted = nd;
          deleted[n_deleted++] = strdup(r->gone[g]);
        }
      }
    free(r->container);
    r->container = strdup(id);
  }
  if (r->w->target &&
      (a == BERTH_WATCH_SYNC || a == BERTH_WATCH_SYNC_RESTART || a == BERTH_WATCH_EXEC)) {
    if ((rc = sync_files(r, id, files, n_files, deleted, n_deleted, &err)) < 0)
      goto done;
    if (a == BERTH_WATCH_SYNC) {
      emit(r, BERTH_WATCH_EV_SYNCED, n_files, n_deleted, berth_now_ms() - t0, NULL);
      goto done;
    }
  }
  if (a == BERTH_WATCH_RESTART || a == BERTH_WATCH_SYNC_RESTART) {
    int grace = r->svc->stop_grace_ms > 0 ? (int)(r->svc->stop_grace_ms / 1000) : 10;
    if ((rc = berth_docker_container_restart(s->d, id, grace, &err)) < 0)
      goto done;
    emit(r, BERTH_WATCH_EV_RESTARTED, n_files, n_deleted, berth_now_ms() - t0, NULL);
  } else if (a == BERTH_WATCH_EXEC) {
    struct berth_buf out = BERTH_BUF_INIT(1 << 20);
    int code = -1;
    rc = exec_in(s, id, (const char *const *)r->w->command.v, &out, &code, &err);
    if (rc >= 0) {
      for (char *save = NULL, *l = out.data ? strtok_r(out.data, "\n", &save) : NULL; l;
           l = strtok_r(NULL, "\n", &save))
        emit(r, BERTH_WATCH_EV_OUTPUT, 0, 0, 0, l);
      snprintf(detail, sizeof(detail), "%s exited with %d", r->w->command.v[0], code);
      emit(r, code == 0 ? BERTH_WATCH_EV_EXECUTED : BERTH_WATCH_EV_ERROR, n_files, n_deleted,
           berth_now_ms() - t0, detail);
    }
    berth_buf_release(&out);
  }
done:
  if (rc < 0) {
    _cleanup_free_ char *msg = berth_err_string(err);
    /* Nothing is half-applied silently: say what did not reach the
     * container; it is sent again with the next change. */
    for (size_t f = 0; f < n_files; f++)
      list_add(&r->retry, &r->n_retry, files[f]);
    for (size_t f = 0; f < n_deleted; f++)
      list_add(&r->retry, &r->n_retry, deleted[f]);
    snprintf(detail, sizeof(detail), "%zu change%s not applied yet (retried): %s",
             n_files + n_deleted, n_files + n_deleted == 1 ? "" : "s", msg ? msg : "error");
    emit(r, BERTH_WATCH_EV_ERROR, n_files, n_deleted, berth_now_ms() - t0, detail);
    berth_err_free(&err);
  }
  free_list(files, n_files);
  free_list(deleted, n_deleted);
}

static void on_quiet(uv_timer_t *t) {
  run_batch(t->data);
}

static void on_signal(uv_signal_t *h, int signum) {
  uv_stop(h->loop);
}

static void on_tick(uv_timer_t *t) {
  struct session *s = t->data;
  if (s->o->stop && *s->o->stop)
    uv_stop(&s->loop);
  /* Changes an action could not deliver (container stopped or gone) are
   * retried once a second until it runs again. */
  static int ticks;
  if (++ticks % 10)
    return;
  for (size_t i = 0; i < s->n_rules; i++) {
    struct rule *r = &s->rules[i];
    /* A failed rebuild waits for the next change: its container still
     * runs, and building the same broken tree again helps no one. */
    if (!r->n_retry || r->w->action == BERTH_WATCH_REBUILD)
      continue;
    _cleanup_free_ char *id = NULL;
    berth_err err = NULL;
    if (current_container(r, &id, &err) < 0) {
      berth_err_free(&err);
      continue;
    }
    run_batch(r);
  }
}

static void close_cb(uv_handle_t *h) {}

static void walk_close(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h))
    uv_close(h, h->type == UV_FS_EVENT ? close_dir_cb : close_cb);
}

/* Adds the rules of an ignore file that lives in base to the rule's
 * matcher, which matches paths relative to the rule's root. git: the
 * .gitignore reading (a name without a slash matches at any depth, a
 * leading slash anchors); else .dockerignore's (anchored to base). */
static int add_ignore_file(struct rule *r, const char *file, const char *base, bool git,
                           berth_err *err) {
  size_t bl = strlen(base);
  if (strncmp(r->root, base, bl) || (r->root[bl] && r->root[bl] != '/'))
    return 0; /* the rule is not below that file's directory */
  const char *prefix = r->root[bl] ? r->root + bl + 1 : "";
  size_t pl = strlen(prefix);
  _cleanup_fclose_ FILE *f = fopen(file, "re");
  if (!f)
    return errno == ENOENT || errno == ENOTDIR ? 0 : berth_err_errno(err, errno, "%s", file);
  _cleanup_free_ char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) >= 0) {
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
      line[--n] = '\0';
    char *pat = line;
    if (!*pat || *pat == '#')
      continue;
    bool neg = *pat == '!';
    if (neg)
      pat++;
    size_t len = strlen(pat);
    while (len > 1 && pat[len - 1] == '/')
      pat[--len] = '\0';
    char buf[4096];
    if (git) {
      bool anchored = strchr(pat, '/') != NULL;
      while (*pat == '/')
        pat++;
      snprintf(buf, sizeof(buf), "%s%s", anchored ? "" : "**/", pat);
    } else {
      snprintf(buf, sizeof(buf), "%s", pat[0] == '/' ? pat + 1 : pat);
    }
    const char *rel = buf;
    if (pl && strncmp(buf, "**/", 3)) {
      if (strncmp(buf, prefix, pl) || buf[pl] != '/')
        continue; /* about a place outside the rule's root */
      rel = buf + pl + 1;
    }
    char rule_line[4200];
    snprintf(rule_line, sizeof(rule_line), "%s%s", neg ? "!" : "", rel);
    int rc = berth_ignore_add(r->ign, rule_line, err);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int load_ignores(struct rule *r, berth_err *err) {
  int rc = berth_ignore_new(&r->ign, err);
  for (size_t i = 0; rc >= 0 && i < r->w->ignore.n; i++)
    rc = berth_ignore_add(r->ign, r->w->ignore.v[i], err);
  /* .dockerignore of the build context, the .gitignore of the project and
   * of the rule's root, each read from where it lives. */
  _cleanup_free_ char *d1 = NULL, *g1 = NULL, *g2 = NULL;
  if (rc >= 0 && r->svc->build && asprintf(&d1, "%s/.dockerignore", r->svc->build->context) >= 0)
    rc = add_ignore_file(r, d1, r->svc->build->context, false, err);
  if (rc >= 0 && asprintf(&g2, "%s/.gitignore", r->s->p->dir) >= 0)
    rc = add_ignore_file(r, g2, r->s->p->dir, true, err);
  if (rc >= 0 && strcmp(r->root, r->s->p->dir) && asprintf(&g1, "%s/.gitignore", r->root) >= 0)
    rc = add_ignore_file(r, g1, r->root, true, err);
  return rc;
}

int berth_watch_run(const struct berth_project *p, const struct berth_watch_opts *o,
                    berth_err *err) {
  struct session s = {.p = p, .o = o};
  size_t n = 0;
  for (size_t i = 0; i < p->n_services; i++)
    n += p->services[i].n_watch;
  s.rules = calloc(n + 1, sizeof(*s.rules));
  if (!s.rules)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int rc = berth_docker_open(&s.d, NULL, err);
  if (rc >= 0 && (rc = uv_loop_init(&s.loop)) < 0)
    rc = berth_err_set(err, BERTH_E_FAILED, "starting the event loop: %s", uv_strerror(rc));
  if (rc < 0) {
    free(s.rules);
    berth_docker_close(s.d);
    return rc;
  }
  s.quiet_ms = o->quiet_ms > 0 ? o->quiet_ms : BERTH_WATCH_QUIET_MS;
  for (size_t i = 0; rc >= 0 && i < p->n_services; i++) {
    const struct berth_service *svc = &p->services[i];
    bool want = !o->n_services;
    for (size_t k = 0; k < o->n_services && !want; k++)
      want = !strcmp(o->services[k], svc->name);
    for (size_t w = 0; want && rc >= 0 && w < svc->n_watch; w++) {
      struct rule *r = &s.rules[s.n_rules++];
      r->s = &s;
      r->svc = svc;
      r->w = &svc->watch[w];
      r->root = strdup(r->w->path);
      struct stat fst;
      if (r->root && stat(r->root, &fst) == 0 && !S_ISDIR(fst.st_mode)) {
        /* A rule on one file watches its directory for that name. */
        char *slash = strrchr(r->root, '/');
        r->only = strdup(slash + 1);
        *slash = '\0';
      }
      if (!r->root)
        rc = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
      else
        rc = load_ignores(r, err);
      uv_timer_init(&s.loop, &r->timer);
      r->timer.data = r;
      if (rc >= 0) {
        struct stat st;
        if (stat(r->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
          char msg[600];
          snprintf(msg, sizeof(msg), "%s is not a directory; this rule waits for nothing", r->root);
          emit(r, BERTH_WATCH_EV_ERROR, 0, 0, 0, msg);
          continue;
        }
        watch_tree(r, r->root, true);
        char msg[700];
        snprintf(msg, sizeof(msg), "watching %s (%zu files, %s%s%s)", r->root, r->tab_n,
                 berth_watch_action_name(r->w->action), r->w->target ? " to " : "",
                 r->w->target ? r->w->target : "");
        emit(r, BERTH_WATCH_EV_WATCHING, 0, 0, 0, msg);
      }
    }
  }
  if (rc >= 0 && s.n_rules == 0)
    rc = berth_err_set(err, BERTH_E_INVALID,
                       "nothing to watch: no service%s has watch rules (watch: or develop.watch:)",
                       o->n_services ? " named" : "");
  if (rc >= 0) {
    uv_signal_init(&s.loop, &s.sigint);
    uv_signal_init(&s.loop, &s.sigterm);
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    uv_timer_init(&s.loop, &s.ticker);
    s.ticker.data = &s;
    uv_timer_start(&s.ticker, on_tick, 100, 100);
    uv_run(&s.loop, UV_RUN_DEFAULT);
  }
  /* Close every handle, then let the loop run their close callbacks. */
  uv_walk(&s.loop, walk_close, NULL);
  uv_run(&s.loop, UV_RUN_DEFAULT);
  uv_loop_close(&s.loop);
  for (size_t i = 0; i < s.n_rules; i++) {
    struct rule *r = &s.rules[i];
    free(r->root);
    berth_ignore_free(r->ign);
    free(r->dirs);
    for (size_t k = 0; k < r->tab_cap; k++)
      free(r->tab[k].rel);
    free(r->tab);
    free_list(r->pending, r->n_pending);
    free(r->container);
    free(r->only);
    free_list(r->retry, r->n_retry);
    free_list(r->gone, r->n_gone);
  }
  free(s.rules);
  berth_docker_close(s.d);
  return rc;
}
