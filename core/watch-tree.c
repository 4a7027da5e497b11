/* berth watch: the table of known contents (against no-op saves) and the
 * directory watchers of each rule, on the loop thread. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "hash.h"
#include "watch-internal.h"

/* ---- the table of known contents ---- */

static uint64_t hash_str(const char *s) {
  return berth_fnv1a(BERTH_FNV_INIT, s, strlen(s));
}

static int grow(struct watch_rule *r) {
  size_t cap = r->tab_cap ? r->tab_cap * 2 : 1024;
  struct watch_entry *t = calloc(cap, sizeof(*t));
  if (!t)
    return -1;
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
  return 0;
}

/* NULL when absent (create: out of memory). */
struct watch_entry *berth__watch_lookup(struct watch_rule *r, const char *rel, bool create) {
  if (create && (r->tab_n + 1) * 2 > r->tab_cap && grow(r) < 0)
    return NULL;
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
  r->tab[i].hash = 0;
  r->tab[i].synced = false;
  r->tab_n++;
  return &r->tab[i];
}

/* Deleting from open addressing: re-insert the cluster after the slot. */
void berth__watch_forget(struct watch_rule *r, struct watch_entry *e) {
  free(e->rel);
  e->rel = NULL;
  r->tab_n--;
  size_t i = (size_t)(e - r->tab);
  for (size_t j = (i + 1) & (r->tab_cap - 1); r->tab[j].rel; j = (j + 1) & (r->tab_cap - 1)) {
    struct watch_entry moved = r->tab[j];
    r->tab[j].rel = NULL;
    size_t k = hash_str(moved.rel) & (r->tab_cap - 1);
    while (r->tab[k].rel)
      k = (k + 1) & (r->tab_cap - 1);
    r->tab[k] = moved;
  }
}

int berth__watch_hash_file(const char *path, uint64_t *ret) {
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

const char *berth__watch_rel(const struct watch_rule *r, const char *abs) {
  size_t n = strlen(r->root);
  if (strncmp(abs, r->root, n))
    return NULL;
  return abs[n] == '/' ? abs + n + 1 : abs[n] ? NULL : "";
}

bool berth__watch_ignored(const struct watch_rule *r, const char *rel) {
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

void berth__watch_close_dir(uv_handle_t *h) {
  struct watch_dir *dw = h->data;
  free(dw->path);
  free(dw);
}

static int nomem(berth_err *err, const char *what, const char *path) {
  return berth_err_set(err, BERTH_E_NOMEM, "out of memory %s %s", what, path);
}

static int add_pending(struct watch_rule *r, const char *abs, berth_err *err) {
  if (berth_strv_find(&r->pending, abs) >= 0)
    return 0;
  return berth_strv_push(&r->pending, abs) < 0 ? nomem(err, "noting a change to", abs) : 0;
}

/* Starts a watcher on dir. 1: started, 0: already watched or vanished. */
static int watch_dir(struct watch_rule *r, const char *dir, berth_err *err) {
  for (size_t i = 0; i < r->n_dirs; i++)
    if (!strcmp(r->dirs[i]->path, dir))
      return 0;
  struct watch_dir **dirs = realloc(r->dirs, (r->n_dirs + 1) * sizeof(*dirs));
  if (!dirs)
    return nomem(err, "watching", dir);
  r->dirs = dirs;
  struct watch_dir *dw = calloc(1, sizeof(*dw));
  if (!dw || !(dw->path = strdup(dir))) {
    free(dw);
    return nomem(err, "watching", dir);
  }
  dw->rule = r;
  dw->h.data = dw;
  uv_fs_event_init(&r->s->loop, &dw->h);
  int rc = uv_fs_event_start(&dw->h, on_fs_event, dir, 0);
  if (rc < 0) {
    uv_close((uv_handle_t *)&dw->h, berth__watch_close_dir);
    /* Gone again before it could be watched is no news; anything else
     * (the inotify limit) is said, and watching goes on without it. */
    if (rc != UV_ENOENT && rc != UV_ENOTDIR)
      berth__watch_emitf(r, "cannot watch %s: %s; changes below it are not seen", dir,
                         uv_strerror(rc));
    return 0;
  }
  r->dirs[r->n_dirs++] = dw;
  return 1;
}

/* One entry of a directory being watched: a subdirectory, or a file to
 * record (initial) or to send. */
static int watch_child(struct watch_rule *r, const char *dir, const char *name, bool initial,
                       berth_err *err) {
  _cleanup_free_ char *child = NULL;
  if (asprintf(&child, "%s/%s", dir, name) < 0)
    return nomem(err, "watching", dir);
  struct stat st;
  if (lstat(child, &st) < 0)
    return 0;
  const char *crel = berth__watch_rel(r, child);
  if (!crel || berth__watch_ignored(r, crel))
    return 0;
  if (S_ISDIR(st.st_mode))
    return berth__watch_tree(r, child, initial, err);
  if (!initial)
    return add_pending(r, child, err);
  uint64_t h;
  if (!S_ISREG(st.st_mode) || berth__watch_hash_file(child, &h) < 0)
    return 0;
  struct watch_entry *e = berth__watch_lookup(r, crel, true);
  if (!e)
    return nomem(err, "recording", child);
  e->hash = h;
  return 0;
}

int berth__watch_tree(struct watch_rule *r, const char *dir, bool initial, berth_err *err) {
  const char *rel = berth__watch_rel(r, dir);
  if (!rel || berth__watch_ignored(r, rel))
    return 0;
  int rc = watch_dir(r, dir, err);
  if (rc <= 0)
    return rc;
  DIR *d = opendir(dir);
  struct dirent *de;
  while (rc >= 0 && d && (de = readdir(d)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      rc = watch_child(r, dir, de->d_name, initial, err);
  if (d)
    closedir(d);
  return rc;
}

static bool unwatch_below(struct watch_rule *r, const char *dir) {
  size_t n = strlen(dir), keep = 0;
  bool any = false;
  for (size_t i = 0; i < r->n_dirs; i++) {
    struct watch_dir *dw = r->dirs[i];
    if (!strncmp(dw->path, dir, n) && (dw->path[n] == '/' || !dw->path[n])) {
      uv_fs_event_stop(&dw->h);
      uv_close((uv_handle_t *)&dw->h, berth__watch_close_dir);
      any = true;
    } else {
      r->dirs[keep++] = dw;
    }
  }
  r->n_dirs = keep;
  return any;
}

static void on_quiet(uv_timer_t *t) {
  struct watch_rule *r = t->data;
  berth_err err = NULL;
  if (berth__watch_hand_over(r, &err) < 0) {
    _cleanup_free_ char *msg = berth_err_string(err);
    berth__watch_emitf(r, "%s; the changes go with the next one", msg ? msg : "out of memory");
    berth_err_free(&err);
  }
}

/* 1 when the event is about a path the rule watches, 0 when not, < 0
 * out of memory. */
static int noticed(struct watch_rule *r, const char *abs, berth_err *err) {
  const char *rel = berth__watch_rel(r, abs);
  if (!rel || berth__watch_ignored(r, rel))
    return 0;
  int rc;
  struct stat st;
  if (lstat(abs, &st) == 0 && S_ISDIR(st.st_mode)) {
    rc = berth__watch_tree(r, abs, false, err); /* new (or moved-in): its files are changes */
  } else if (lstat(abs, &st) < 0 && unwatch_below(r, abs) &&
             berth_strv_find(&r->pending_gone, rel) < 0 &&
             berth_strv_push(&r->pending_gone, rel) < 0) {
    rc = nomem(err, "noting the removal of", abs); /* a directory went away */
  } else {
    rc = add_pending(r, abs, err);
  }
  return rc < 0 ? rc : 1;
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status) {
  struct watch_dir *dw = h->data;
  struct watch_rule *r = dw->rule;
  if (status < 0 || !filename)
    return;
  _cleanup_free_ char *abs = NULL;
  berth_err err = NULL;
  int rc = asprintf(&abs, "%s/%s", dw->path, filename) < 0
               ? nomem(&err, "noting a change in", dw->path)
               : noticed(r, abs, &err);
  if (rc < 0) {
    _cleanup_free_ char *msg = berth_err_string(err);
    berth__watch_emitf(r, "%s", msg ? msg : "out of memory");
    berth_err_free(&err);
  }
  if (!rc)
    return;
  /* The quiet period restarts with every event of a burst. */
  uv_timer_start(&r->timer, on_quiet, (uint64_t)r->s->quiet_ms, 0);
}
