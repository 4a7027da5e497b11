/* Tar streams for the engine, written by libarchive (pax format). */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/ignore.h"
#include "berth/tar.h"
#include "cleanup.h"

struct berth_tar {
  struct archive *a;
  int fd;
};

static int tar_error(struct berth_tar *t, berth_err *err, const char *what) {
  return berth_err_set(err, BERTH_E_IO, "writing tar (%s): %s", what,
                       archive_error_string(t->a) ? archive_error_string(t->a) : "unknown error");
}

int berth_tar_open_fd(struct berth_tar **ret, int fd, berth_err *err) {
  struct berth_tar *t = calloc(1, sizeof(*t));
  if (!t || !(t->a = archive_write_new())) {
    free(t);
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  }
  t->fd = fd;
  /* pax_restricted: plain ustar headers unless a name or size needs pax. */
  if (archive_write_set_format_pax_restricted(t->a) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(t->a, 1) != ARCHIVE_OK ||
      archive_write_open_fd(t->a, fd) != ARCHIVE_OK) {
    int r = tar_error(t, err, "open");
    berth_tar_free(t);
    return r;
  }
  *ret = t;
  return 0;
}

struct berth_tar *berth_tar_free(struct berth_tar *t) {
  if (!t)
    return NULL;
  if (t->a)
    archive_write_free(t->a);
  free(t);
  return NULL;
}

int berth_tar_close(struct berth_tar *t, berth_err *err) {
  if (archive_write_close(t->a) != ARCHIVE_OK)
    return tar_error(t, err, "close");
  return 0;
}

static void archive_entry_freep(struct archive_entry **e) {
  if (*e)
    archive_entry_free(*e);
}

int berth_tar_add_data(struct berth_tar *t, const char *name, mode_t mode, time_t mtime,
                       const void *data, size_t len, berth_err *err) {
  __attribute__((cleanup(archive_entry_freep))) struct archive_entry *e = archive_entry_new();
  if (!e)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, mode & 07777);
  archive_entry_set_mtime(e, mtime, 0);
  archive_entry_set_size(e, (la_int64_t)len);
  if (archive_write_header(t->a, e) != ARCHIVE_OK)
    return tar_error(t, err, name);
  if (len && archive_write_data(t->a, data, len) != (la_ssize_t)len)
    return tar_error(t, err, name);
  return 0;
}

int berth_tar_add_path(struct berth_tar *t, const char *path, const char *name, berth_err *err) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return berth_err_errno(err, errno, "%s", path);
  __attribute__((cleanup(archive_entry_freep))) struct archive_entry *e = archive_entry_new();
  if (!e)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  archive_entry_copy_stat(e, &st);
  archive_entry_set_pathname(e, name);
  /* Owners on the laptop mean nothing in the container: root, as the
   * engine's own build context does. */
  archive_entry_set_uid(e, 0);
  archive_entry_set_gid(e, 0);
  _cleanup_close_ int fd = -1;
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
      return berth_err_errno(err, errno, "reading link %s", path);
    target[n] = '\0';
    archive_entry_set_symlink(e, target);
  } else if (S_ISREG(st.st_mode)) {
    /* Open before the header: a file that vanished must not leave a
     * header without its data. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
      return berth_err_errno(err, errno, "%s", path);
  } else if (!S_ISDIR(st.st_mode)) {
    return 0; /* sockets, fifos, devices: the engine's context skips them too */
  }
  if (archive_write_header(t->a, e) != ARCHIVE_OK)
    return tar_error(t, err, name);
  if (fd < 0)
    return 0;
  char buf[64 * 1024];
  off_t left = st.st_size;
  while (left > 0) {
    ssize_t n = read(fd, buf, sizeof(buf) < (size_t)left ? sizeof(buf) : (size_t)left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return berth_err_errno(err, errno, "reading %s", path);
    if (n == 0) {
      /* The file shrank while we read it: the archive cannot be finished
       * truthfully, so fail and let the caller retry. */
      return berth_err_set(err, BERTH_E_IO, "%s changed while it was being archived", path);
    }
    if (archive_write_data(t->a, buf, (size_t)n) != n)
      return tar_error(t, err, name);
    left -= n;
  }
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

static int add_dir(struct berth_tar *t, const char *root, const char *rel,
                   const struct berth_ignore *ign, berth_err *err) {
  _cleanup_free_ char *dirpath = NULL;
  if (asprintf(&dirpath, "%s%s%s", root, *rel ? "/" : "", rel) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  DIR *dir = opendir(dirpath);
  if (!dir)
    return berth_err_errno(err, errno, "%s", dirpath);
  char **names = NULL;
  size_t n = 0, cap = 0;
  int r = 0;
  struct dirent *de;
  while ((de = readdir(dir))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      char **p = realloc(names, cap * sizeof(*p));
      if (!p) {
        r = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
        break;
      }
      names = p;
    }
    if (!(names[n] = strdup(de->d_name))) {
      r = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
      break;
    }
    n++;
  }
  closedir(dir);
  if (r < 0) {
    free_names(names, n);
    return r;
  }
  if (n)
    qsort(names, n, sizeof(*names), cmp_names);
  for (size_t i = 0; i < n && r >= 0; i++) {
    _cleanup_free_ char *child = NULL, *path = NULL;
    if (asprintf(&child, "%s%s%s", rel, *rel ? "/" : "", names[i]) < 0 ||
        asprintf(&path, "%s/%s", root, child) < 0) {
      r = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
      break;
    }
    struct stat st;
    if (lstat(path, &st) < 0) {
      if (errno == ENOENT)
        continue; /* removed while we walk: not part of the context */
      r = berth_err_errno(err, errno, "%s", path);
      break;
    }
    bool excluded = berth_ignore_match(ign, child);
    if (S_ISDIR(st.st_mode)) {
      if (excluded && !berth_ignore_has_exceptions(ign))
        continue;
      if (!excluded)
        r = berth_tar_add_path(t, path, child, err);
      if (r >= 0)
        r = add_dir(t, root, child, ign, err);
    } else if (!excluded) {
      r = berth_tar_add_path(t, path, child, err);
    }
  }
  free_names(names, n);
  return r;
}

int berth_tar_add_tree(struct berth_tar *t, const char *dir, const struct berth_ignore *ign,
                       berth_err *err) {
  return add_dir(t, dir, "", ign, err);
}
