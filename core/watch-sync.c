/* berth watch: what reaches the container. Synced files are written
 * straight into the container's root through /proc/PID/root when berth may
 * (a few milliseconds), else sent as one tar through the archive API;
 * deletions are unlinks, or one rm exec. Runs on the rule's worker, with
 * the worker's Docker client. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "berth/buf.h"
#include "berth/tar.h"
#include "cleanup.h"
#include "watch-internal.h"

/* An exec's output, bounded: what does not fit is cut (the buffer says). */
static int collect(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  berth_buf_add(ud, data, len);
  return 0;
}

int berth__watch_exec(struct watch_rule *r, const char *id, const char *const *cmd,
                      struct berth_buf *out, int *ret_code, berth_err *err) {
  struct berth_docker_exec_opts xo = {.cmd = cmd, .stdin_fd = -1};
  return berth_docker_exec(r->wk->d, id, &xo, collect, out, ret_code, err);
}

/* ---- the direct path ---- */

/* Opens (creating) the directory dir below the container's root, one
 * component at a time, never following a symlink: the container's own
 * links could point anywhere on the host. -1 when that is not possible
 * (not root, a symlink on the way): the engine's archive API then does
 * the work. */
static int open_dir_in(int root_fd, const char *dir, bool create) {
  _cleanup_free_ char *copy = strdup(dir);
  int fd = copy ? dup(root_fd) : -1; /* no copy: not the root instead of dir */
  for (char *save = NULL, *c = fd >= 0 ? strtok_r(copy, "/", &save) : NULL; fd >= 0 && c;
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
  /* Unique per write: workers of several services may sync into one
   * shared (bind or volume) directory at once. */
  static atomic_uint serial;
  char tmp[64];
  snprintf(tmp, sizeof(tmp), ".berth-sync-%d-%u", (int)getpid(), atomic_fetch_add(&serial, 1));
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
 * API's tens. pid is the container's first process, from its target (no
 * engine call). Returns 0 when all was done, -1 to fall back. */
static int sync_direct(struct watch_rule *r, const char *id, int pid,
                       const struct berth_strv *files, const struct berth_strv *deleted) {
  if (pid <= 0)
    return -1;
  /* The engine's PID is a host PID only when berth shares its PID
   * namespace (not with an engine in a VM), and a kept PID may be another
   * process's by now: the process's cgroup must name the container. Both
   * are read through one /proc/PID descriptor, which fails rather than
   * follow the PID to a new process. */
  char path[64], cg[8192];
  snprintf(path, sizeof(path), "/proc/%d", pid);
  _cleanup_close_ int proc_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  _cleanup_close_ int cg_fd = proc_fd >= 0 ? openat(proc_fd, "cgroup", O_RDONLY | O_CLOEXEC) : -1;
  ssize_t cgn = cg_fd >= 0 ? read(cg_fd, cg, sizeof(cg) - 1) : -1;
  cg[cgn > 0 ? cgn : 0] = '\0';
  if (cgn <= 0 || !strstr(cg, id))
    return -1;
  _cleanup_close_ int root_fd = openat(proc_fd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0)
    return -1;
  for (size_t i = 0; i < files->n + deleted->n; i++) {
    bool del = i >= files->n;
    const char *rel = del ? deleted->v[i - files->n] : files->v[i];
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

/* One tar of the files, names carrying the target, extracted at /: the
 * engine creates the directories on the way, no mkdir round trip. */
static int send_archive(struct watch_rule *r, const char *id, const struct berth_strv *files,
                        berth_err *err) {
  const char *target = r->w->target + (r->w->target[0] == '/');
  _cleanup_close_ int fd = memfd_create("berth-sync", MFD_CLOEXEC);
  if (fd < 0)
    return berth_err_errno(err, errno, "creating the sync archive");
  struct berth_tar *t = NULL;
  int rc = berth_tar_open_fd(&t, fd, err);
  for (size_t i = 0; rc >= 0 && i < files->n; i++) {
    _cleanup_free_ char *abs = NULL, *name = NULL;
    if (asprintf(&abs, "%s/%s", r->root, files->v[i]) < 0 ||
        (r->only ? asprintf(&name, "%s", target) : asprintf(&name, "%s/%s", target, files->v[i])) <
            0)
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
  return berth_docker_archive_put(r->wk->d, id, "/", fd, err);
}

/* One rm -rf exec for every deleted path. */
static int remove_in(struct watch_rule *r, const char *id, const struct berth_strv *deleted,
                     berth_err *err) {
  struct berth_strv rm = {0};
  int rc = berth_strv_push(&rm, "rm");
  if (rc >= 0)
    rc = berth_strv_push(&rm, "-rf");
  if (rc >= 0)
    rc = berth_strv_push(&rm, "--");
  for (size_t i = 0; rc >= 0 && i < deleted->n; i++)
    rc = r->only ? berth_strv_push(&rm, r->w->target)
                 : berth_strv_pushf(&rm, "%s/%s", r->w->target, deleted->v[i]);
  if (rc < 0) {
    berth_strv_release(&rm);
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  }
  struct berth_buf out = BERTH_BUF_INIT(1 << 16);
  int code = 0;
  rc = berth__watch_exec(r, id, (const char *const *)rm.v, &out, &code, err);
  berth_buf_release(&out);
  berth_strv_release(&rm);
  return rc;
}

int berth__watch_sync(struct watch_rule *r, const char *id, int pid, const struct berth_strv *files,
                      const struct berth_strv *deleted, berth_err *err) {
  /* Files already written directly are simply written again by the
   * fallback: both ways are idempotent. */
  if (sync_direct(r, id, pid, files, deleted) == 0)
    return 0;
  int rc = files->n ? send_archive(r, id, files, err) : 0;
  if (rc >= 0 && deleted->n)
    rc = remove_in(r, id, deleted, err);
  return rc;
}
