/* Writing tar streams (POSIX pax, so long names and big files work) with
 * libarchive: build contexts and hot-reload batches for the archive API.
 * Deleting files in a container is the caller's business: a tar can only
 * add. */
#ifndef BERTH_TAR_H
#define BERTH_TAR_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "berth/err.h"

struct berth_tar;
struct berth_ignore;

/* Writes the archive to fd (not closed by berth_tar). */
int berth_tar_open_fd(struct berth_tar **ret, int fd, berth_err *err);
/* Adds the file, directory or symlink at path (lstat: mode, mtime, link
 * target kept) under the archive name name. File contents are streamed. */
int berth_tar_add_path(struct berth_tar *t, const char *path, const char *name, berth_err *err);
/* Adds a regular file with the given bytes. */
int berth_tar_add_data(struct berth_tar *t, const char *name, mode_t mode, time_t mtime,
                       const void *data, size_t len, berth_err *err);
/* Adds the tree below dir, names relative to it, skipping what ign
 * (may be NULL) excludes. Entries are sorted so the archive is stable. */
int berth_tar_add_tree(struct berth_tar *t, const char *dir, const struct berth_ignore *ign,
                       berth_err *err);
/* Writes the end of the archive. */
int berth_tar_close(struct berth_tar *t, berth_err *err);
/* Frees; accepts NULL; returns NULL. */
struct berth_tar *berth_tar_free(struct berth_tar *t);

#endif
