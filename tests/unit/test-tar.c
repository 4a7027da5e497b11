/* core/docker/tar.c: archives written by berth_tar, read back with
 * libarchive and checked entry by entry. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth/ignore.h"
#include "berth/tar.h"
#include "fixture.h"

#define MTIME ((time_t)1700000000) /* 2023-11-14 */
#define OWNER 4321                 /* a laptop user that means nothing in a container */

/* ---- reading an archive back ---- */

struct entry {
  char *name;
  mode_t mode; /* type and permissions */
  time_t mtime;
  int64_t uid, gid;
  char *symlink;
  char *data;
  size_t size;
};

struct entries {
  struct entry *v;
  size_t n;
};

static void entries_release(struct entries *e) {
  for (size_t i = 0; i < e->n; i++) {
    free(e->v[i].name);
    free(e->v[i].symlink);
    free(e->v[i].data);
  }
  free(e->v);
  *e = (struct entries){0};
}

static struct entries read_tar(int fd) {
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  struct archive *a = archive_read_new();
  assert_non_null(a);
  archive_read_support_format_all(a);
  assert_int_equal(archive_read_open_fd(a, fd, 10240), ARCHIVE_OK);
  struct entries out = {0};
  struct archive_entry *ae;
  int r;
  while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
    out.v = realloc(out.v, (out.n + 1) * sizeof(*out.v));
    assert_non_null(out.v);
    struct entry *e = &out.v[out.n++];
    *e = (struct entry){0};
    e->name = strdup(archive_entry_pathname(ae));
    e->mode = archive_entry_mode(ae);
    e->mtime = archive_entry_mtime(ae);
    e->uid = archive_entry_uid(ae);
    e->gid = archive_entry_gid(ae);
    if (archive_entry_symlink(ae))
      e->symlink = strdup(archive_entry_symlink(ae));
    e->size = (size_t)archive_entry_size(ae);
    e->data = malloc(e->size + 1);
    assert_non_null(e->data);
    size_t got = 0;
    while (got < e->size) {
      la_ssize_t n = archive_read_data(a, e->data + got, e->size - got);
      assert_true(n > 0);
      got += (size_t)n;
    }
    e->data[e->size] = '\0';
  }
  if (r != ARCHIVE_EOF)
    fail_msg("reading the archive: %s", archive_error_string(a));
  archive_read_free(a);
  return out;
}

/* Directory names may carry a trailing '/'; compare without it. */
static const struct entry *find(const struct entries *e, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < e->n; i++)
    if (!strncmp(e->v[i].name, name, n) &&
        (e->v[i].name[n] == '\0' || (e->v[i].name[n] == '/' && e->v[i].name[n + 1] == '\0')))
      return &e->v[i];
  return NULL;
}

static const struct entry *must_find(const struct entries *e, const char *name) {
  const struct entry *x = find(e, name);
  if (!x)
    fail_msg("\"%s\" is not in the archive", name);
  return x;
}

static char *entry_name(const struct entry *e) {
  char *s = strdup(e->name);
  size_t n = strlen(s);
  if (n > 1 && s[n - 1] == '/')
    s[n - 1] = '\0';
  return s;
}

/* ---- fixtures ---- */

/* The temp root, with a umask that leaves modes as the tests set them. */
static int setup(void **state) {
  if (fixture_setup(state) < 0)
    return -1;
  umask(022);
  return 0;
}

static void set_meta(const char *path, mode_t mode, bool is_link) {
  if (!is_link)
    assert_int_equal(chmod(path, mode), 0);
  struct timespec ts[2] = {{.tv_sec = MTIME, .tv_nsec = 0}, {.tv_sec = MTIME, .tv_nsec = 0}};
  assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
  if (geteuid() == 0) /* make the owner something other than root */
    assert_int_equal(lchown(path, OWNER, OWNER), 0);
}

static void mk_file(const char *dir, const char *rel, const char *content, mode_t mode) {
  char *p = fixture_path(dir, rel);
  FILE *f = fopen(p, "w");
  if (!f)
    fail_msg("creating %s: %s", p, strerror(errno));
  assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
  assert_int_equal(fclose(f), 0);
  set_meta(p, mode, false);
  free(p);
}

static void mk_dir(const char *dir, const char *rel) {
  char *p = fixture_path(dir, rel);
  if (mkdir(p, 0700) != 0)
    fail_msg("mkdir %s: %s", p, strerror(errno));
  free(p);
}

static void mk_link(const char *dir, const char *rel, const char *target) {
  char *p = fixture_path(dir, rel);
  assert_int_equal(symlink(target, p), 0);
  set_meta(p, 0, true);
  free(p);
}

/* Directory times change as entries are added: set them last. */
static void finish_dir(const char *dir, const char *rel, mode_t mode) {
  char *p = fixture_path(dir, rel);
  set_meta(p, mode, false);
  free(p);
}

static int open_tmp(void) {
  char *p = fixture_path(fixture_root, "out-XXXXXX");
  int fd = mkstemp(p);
  assert_true(fd >= 0);
  unlink(p);
  free(p);
  return fd;
}

static struct berth_tar *open_tar(int fd) {
  struct berth_tar *t = NULL;
  berth_err err = NULL;
  assert_int_equal(berth_tar_open_fd(&t, fd, &err), 0);
  assert_non_null(t);
  return t;
}

static void close_tar(struct berth_tar *t) {
  berth_err err = NULL;
  int r = berth_tar_close(t, &err);
  if (r < 0)
    fail_msg("berth_tar_close: %s", berth_err_root_msg(err));
  assert_null(berth_tar_free(t));
}

/* ---- add_data ---- */

static void test_add_data(void **state) {
  int fd = open_tmp();
  struct berth_tar *t = open_tar(fd);
  berth_err err = NULL;
  static const char script[] = "#!/bin/sh\nexec \"$@\"\n";
  assert_int_equal(berth_tar_add_data(t, "bin/entry.sh", 0755, MTIME, script, strlen(script), &err),
                   0);
  assert_int_equal(berth_tar_add_data(t, "etc/app.conf", 0644, MTIME + 1, "k=v\n", 4, &err), 0);
  assert_int_equal(berth_tar_add_data(t, "empty", 0600, 0, "", 0, &err), 0);
  /* Type bits in mode are ignored: add_data always writes a regular file. */
  assert_int_equal(berth_tar_add_data(t, "typed", S_IFDIR | 0640, MTIME, "x", 1, &err), 0);
  assert_null(err);
  close_tar(t);

  struct entries e = read_tar(fd);
  assert_int_equal(e.n, 4);
  assert_string_equal(e.v[0].name, "bin/entry.sh");
  assert_int_equal(e.v[0].mode, S_IFREG | 0755);
  assert_int_equal(e.v[0].mtime, MTIME);
  assert_int_equal(e.v[0].size, strlen(script));
  assert_string_equal(e.v[0].data, script);
  assert_int_equal(e.v[0].uid, 0);
  assert_int_equal(e.v[0].gid, 0);

  assert_string_equal(e.v[1].name, "etc/app.conf");
  assert_int_equal(e.v[1].mode, S_IFREG | 0644);
  assert_int_equal(e.v[1].mtime, MTIME + 1);
  assert_string_equal(e.v[1].data, "k=v\n");

  assert_string_equal(e.v[2].name, "empty");
  assert_int_equal(e.v[2].mode, S_IFREG | 0600);
  assert_int_equal(e.v[2].size, 0);

  assert_string_equal(e.v[3].name, "typed");
  assert_int_equal(e.v[3].mode, S_IFREG | 0640);
  entries_release(&e);
  close(fd);
}

static void test_add_data_binary_and_big(void **state) {
  size_t n = 3 * 1024 * 1024 + 17; /* not a multiple of the 512-byte block */
  unsigned char *big = malloc(n);
  assert_non_null(big);
  for (size_t i = 0; i < n; i++)
    big[i] = (unsigned char)(i * 7 + i / 511);
  int fd = open_tmp();
  struct berth_tar *t = open_tar(fd);
  berth_err err = NULL;
  assert_int_equal(berth_tar_add_data(t, "blob.bin", 0644, MTIME, big, n, &err), 0);
  assert_int_equal(berth_tar_add_data(t, "after", 0644, MTIME, "tail", 4, &err), 0);
  close_tar(t);
  struct entries e = read_tar(fd);
  assert_int_equal(e.n, 2);
  assert_int_equal(e.v[0].size, n);
  assert_memory_equal(e.v[0].data, big, n);
  assert_string_equal(e.v[1].data, "tail");
  entries_release(&e);
  free(big);
  close(fd);
}

static void test_long_names(void **state) {
  char name150[151], name300[301];
  /* One element longer than the 100-byte ustar name field. */
  memset(name150, 'n', 150);
  name150[150] = '\0';
  /* Nested beyond ustar's 155 + 100 split. */
  for (size_t i = 0; i < 300; i++)
    name300[i] = i % 50 == 49 ? '/' : (char)('a' + i % 26);
  name300[299] = 'z';
  name300[300] = '\0';
  int fd = open_tmp();
  struct berth_tar *t = open_tar(fd);
  berth_err err = NULL;
  assert_int_equal(berth_tar_add_data(t, name150, 0644, MTIME, "150", 3, &err), 0);
  assert_int_equal(berth_tar_add_data(t, name300, 0644, MTIME, "300", 3, &err), 0);
  close_tar(t);
  struct entries e = read_tar(fd);
  assert_int_equal(e.n, 2);
  assert_string_equal(e.v[0].name, name150);
  assert_string_equal(e.v[0].data, "150");
  assert_string_equal(e.v[1].name, name300);
  assert_string_equal(e.v[1].data, "300");
  entries_release(&e);
  close(fd);
}

/* ---- add_path ---- */

static void test_add_path_kinds(void **state) {
  char *src = fixture_path(fixture_root, "kinds");
  assert_int_equal(mkdir(src, 0755), 0);
  mk_file(src, "run.sh", "#!/bin/sh\necho hi\n", 0755);
  mk_file(src, "data.txt", "plain data\n", 0644);
  mk_link(src, "current", "data.txt");
  mk_dir(src, "conf.d");
  finish_dir(src, "conf.d", 0750);

  int fd = open_tmp();
  struct berth_tar *t = open_tar(fd);
  berth_err err = NULL;
  static const char *const names[][2] = {{"conf.d", "etc/conf.d"},
                                         {"run.sh", "usr/local/bin/run.sh"},
                                         {"data.txt", "srv/data.txt"},
                                         {"current", "srv/current"}};
  for (size_t i = 0; i < 4; i++) {
    char *p = fixture_path(src, names[i][0]);
    int r = berth_tar_add_path(t, p, names[i][1], &err);
    if (r < 0)
      fail_msg("add_path %s: %s", p, berth_err_root_msg(err));
    free(p);
  }
  close_tar(t);

  struct entries e = read_tar(fd);
  assert_int_equal(e.n, 4);
  const struct entry *d = must_find(&e, "etc/conf.d");
  assert_int_equal(d->mode, S_IFDIR | 0750);
  assert_int_equal(d->mtime, MTIME);
  assert_int_equal(d->size, 0);

  const struct entry *x = must_find(&e, "usr/local/bin/run.sh");
  assert_int_equal(x->mode, S_IFREG | 0755);
  assert_int_equal(x->mtime, MTIME);
  assert_string_equal(x->data, "#!/bin/sh\necho hi\n");

  const struct entry *f = must_find(&e, "srv/data.txt");
  assert_int_equal(f->mode, S_IFREG | 0644);
  assert_string_equal(f->data, "plain data\n");

  const struct entry *l = must_find(&e, "srv/current");
  assert_true(S_ISLNK(l->mode));
  assert_non_null(l->symlink);
  assert_string_equal(l->symlink, "data.txt");
  assert_int_equal(l->mtime, MTIME);
  assert_int_equal(l->size, 0);

  /* The laptop's owner is not carried into the container. */
  for (size_t i = 0; i < e.n; i++) {
    assert_int_equal(e.v[i].uid, 0);
    assert_int_equal(e.v[i].gid, 0);
  }
  entries_release(&e);
  close(fd);
  free(src);
}

static void test_add_path_long_link_target(void **state) {
  char *src = fixture_path(fixture_root, "longlink");
  assert_int_equal(mkdir(src, 0755), 0);
  char target[201];
  for (size_t i = 0; i < 200; i++)
    target[i] = i % 20 == 19 ? '/' : 't';
  target[200] = '\0';
  mk_link(src, "l", target); /* dangling: fine, it is archived as a link */
  int fd = open_tmp();
  struct berth_tar *t = open_tar(fd);
  berth_err err = NULL;
  char *p = fixture_path(src, "l");
  assert_int_equal(berth_tar_add_path(t, p, "l", &err), 0);
  close_tar(t);
  struct entries e = read_tar(fd);
  assert_int_equal(e.n, 1);
  assert_true(S_ISLNK(e.v[0].mode));
  assert_string_equal(e.v[0].symlink, target);
  entries_release(&e);
  close(fd);
  free(p);
  free(src);
}

static void test_add_path_missing(void **state) {
  int fd = open_tmp();
  struct berth_tar *t = open_tar(fd);
  berth_err err = NULL;
  char *p = fixture_path(fixture_root, "does-not-exist");
  int r = berth_tar_add_path(t, p, "x", &err);
  assert_int_equal(r, -BERTH_E_IO);
  assert_int_equal(berth_err_code(err), BERTH_E_IO);
  assert_non_null(strstr(berth_err_root_msg(err), p));
  assert_non_null(strstr(berth_err_root_msg(err), strerror(ENOENT)));
  berth_err_free(&err);
  close_tar(t);
  struct entries e = read_tar(fd);
  assert_int_equal(e.n, 0); /* no header without its data */
  entries_release(&e);
  free(p);
  close(fd);
}

static void test_add_path_fifo_skipped(void **state) {
  char *p = fixture_path(fixture_root, "fifo");
  assert_int_equal(mkfifo(p, 0644), 0);
  int fd = open_tmp();
  struct berth_tar *t = open_tar(fd);
  berth_err err = NULL;
  assert_int_equal(berth_tar_add_path(t, p, "fifo", &err), 0);
  assert_int_equal(berth_tar_add_data(t, "after", 0644, MTIME, "a", 1, &err), 0);
  close_tar(t);
  struct entries e = read_tar(fd);
  assert_int_equal(e.n, 1);
  assert_string_equal(e.v[0].name, "after");
  entries_release(&e);
  unlink(p);
  free(p);
  close(fd);
}

/* ---- add_tree ---- */

static char *deep_rel; /* a nested path of more than 255 bytes */
static char long_name[121];

/* The build context of a small project. */
static char *make_context(void) {
  char *root = fixture_path(fixture_root, "ctx");
  assert_int_equal(mkdir(root, 0755), 0);
  mk_file(root, "Dockerfile", "FROM scratch\n", 0644);
  mk_file(root, ".dockerignore", "*.log\n", 0644);
  mk_file(root, "app.py", "print('hi')\n", 0644);
  mk_file(root, "debug.log", "noise\n", 0644);
  mk_file(root, "keep.log", "kept\n", 0644);
  mk_link(root, "latest", "app.py");
  mk_dir(root, "bin");
  mk_file(root, "bin/start", "#!/bin/sh\n", 0755);
  finish_dir(root, "bin", 0755);
  mk_dir(root, "build");
  mk_file(root, "build/out.o", "obj", 0644);
  mk_file(root, "build/keep.txt", "keep me", 0644);
  finish_dir(root, "build", 0755);
  mk_dir(root, "node_modules");
  mk_file(root, "node_modules/left-pad.js", "x", 0644);
  finish_dir(root, "node_modules", 0755);
  mk_dir(root, "web");
  mk_file(root, "web/index.html", "<html>", 0644);
  mk_file(root, "web/trace.log", "deep log", 0644); /* *.log is anchored at the root */
  mk_dir(root, "web/node_modules");
  mk_file(root, "web/node_modules/react.js", "y", 0644);
  finish_dir(root, "web/node_modules", 0755);
  finish_dir(root, "web", 0755);

  memset(long_name, 'L', 120);
  long_name[120] = '\0';
  mk_file(root, long_name, "long", 0644);

  /* deep: 5 directories of 59 bytes, then a file. */
  free(deep_rel);
  deep_rel = NULL;
  char rel[400] = "";
  for (int i = 0; i < 5; i++) {
    char elem[60];
    memset(elem, 'a' + i, 59);
    elem[59] = '\0';
    if (i)
      strcat(rel, "/");
    strcat(rel, elem);
    mk_dir(root, rel);
  }
  strcat(rel, "/leaf.txt");
  mk_file(root, rel, "leaf", 0644);
  for (int i = 5; i > 0; i--) {
    char dir[400];
    snprintf(dir, sizeof(dir), "%.*s", i * 60 - 1, rel);
    finish_dir(root, dir, 0755);
  }
  deep_rel = strdup(rel);
  assert_true(strlen(deep_rel) > 255);
  finish_dir(root, ".", 0755);
  return root;
}

static struct entries tar_tree(const char *root, const char *const *ignore_lines) {
  struct berth_ignore *ign = NULL;
  berth_err err = NULL;
  if (ignore_lines) {
    assert_int_equal(berth_ignore_new(&ign, &err), 0);
    for (; *ignore_lines; ignore_lines++)
      assert_int_equal(berth_ignore_add(ign, *ignore_lines, &err), 0);
  }
  int fd = open_tmp();
  struct berth_tar *t = open_tar(fd);
  int r = berth_tar_add_tree(t, root, ign, &err);
  if (r < 0)
    fail_msg("add_tree: %s", berth_err_root_msg(err));
  close_tar(t);
  berth_ignore_free(ign);
  struct entries e = read_tar(fd);
  close(fd);
  return e;
}

static void test_tree_everything(void **state) {
  char *root = make_context();
  struct entries e = tar_tree(root, NULL);

  /* Names relative to the root, never absolute or "./"-prefixed. */
  for (size_t i = 0; i < e.n; i++) {
    assert_true(e.v[i].name[0] != '/');
    assert_true(strncmp(e.v[i].name, "./", 2) != 0);
    assert_int_equal(e.v[i].uid, 0);
    assert_int_equal(e.v[i].gid, 0);
    assert_int_equal(e.v[i].mtime, MTIME);
  }
  assert_null(find(&e, "."));
  assert_null(find(&e, ""));

  must_find(&e, "debug.log");
  must_find(&e, "build/out.o");
  must_find(&e, "web/node_modules/react.js");
  assert_int_equal(must_find(&e, "bin/start")->mode, S_IFREG | 0755);
  assert_int_equal(must_find(&e, "app.py")->mode, S_IFREG | 0644);
  assert_int_equal(must_find(&e, "bin")->mode, S_IFDIR | 0755);
  assert_string_equal(must_find(&e, "latest")->symlink, "app.py");
  assert_string_equal(must_find(&e, long_name)->data, "long");
  const struct entry *leaf = must_find(&e, deep_rel);
  assert_string_equal(leaf->data, "leaf");
  assert_int_equal(leaf->mode, S_IFREG | 0644);
  /* 14 files, 1 link, 5 directories of the project, 5 nested ones. */
  assert_int_equal(e.n, 14 + 1 + 5 + 5);
  entries_release(&e);
  free(root);
}

/* Orders paths the way a depth-first walk with each directory's entries
 * sorted bytewise does: element by element, a parent before its contents. */
static int path_cmp(const char *a, const char *b) {
  for (;;) {
    size_t an = strcspn(a, "/"), bn = strcspn(b, "/");
    size_t n = an < bn ? an : bn;
    int c = memcmp(a, b, n);
    if (c)
      return c;
    if (an != bn)
      return an < bn ? -1 : 1;
    if (!a[an] || !b[bn])
      return !a[an] && !b[bn] ? 0 : !a[an] ? -1 : 1;
    a += an + 1;
    b += bn + 1;
  }
}

static void test_path_cmp(void **state) {
  assert_true(path_cmp("a", "a/b") < 0);
  assert_true(path_cmp("a/b", "a.txt") < 0); /* bytewise '.' < '/', but a's contents follow a */
  assert_true(path_cmp("a.txt", "a") > 0);
  assert_true(path_cmp("B", "a") < 0);
  assert_int_equal(path_cmp("x/y", "x/y"), 0);
}

static void test_tree_sorted(void **state) {
  char *root = make_context();
  mk_file(root, "a", "", 0644);
  mk_dir(root, "a.d");
  mk_file(root, "a.d/z", "", 0644);
  mk_file(root, "a.d/Z", "", 0644);
  mk_file(root, "a.d/0", "", 0644);
  struct entries e = tar_tree(root, NULL);
  /* Depth first, each directory's entries in byte order, a directory
   * right before its contents: the same tree gives the same archive. */
  for (size_t i = 1; i < e.n; i++) {
    char *prev = entry_name(&e.v[i - 1]), *name = entry_name(&e.v[i]);
    if (path_cmp(prev, name) >= 0)
      fail_msg("\"%s\" comes after \"%s\"", name, prev);
    free(prev);
    free(name);
  }
  /* .dockerignore, Dockerfile, LLL..., a, a.d, then a.d's contents. */
  char *a0 = entry_name(&e.v[5]), *a1 = entry_name(&e.v[6]), *a2 = entry_name(&e.v[7]);
  assert_string_equal(a0, "a.d/0");
  assert_string_equal(a1, "a.d/Z");
  assert_string_equal(a2, "a.d/z");
  free(a0);
  free(a1);
  free(a2);

  /* The top level, in order. */
  char deep_top[60];
  memset(deep_top, 'a', 59);
  deep_top[59] = '\0';
  const char *const top[] = {".dockerignore", "Dockerfile", long_name,      "a",     "a.d",
                             deep_top,        "app.py",     "bin",          "build", "debug.log",
                             "keep.log",      "latest",     "node_modules", "web"};
  size_t k = 0;
  for (size_t i = 0; i < e.n; i++) {
    char *name = entry_name(&e.v[i]);
    if (!strchr(name, '/')) {
      assert_true(k < sizeof(top) / sizeof(*top));
      assert_string_equal(name, top[k]);
      k++;
    }
    free(name);
  }
  assert_int_equal(k, sizeof(top) / sizeof(*top));

  /* Two archives of the same tree are the same bytes. */
  entries_release(&e);
  int fd1 = open_tmp(), fd2 = open_tmp();
  berth_err err = NULL;
  struct berth_tar *t = open_tar(fd1);
  assert_int_equal(berth_tar_add_tree(t, root, NULL, &err), 0);
  close_tar(t);
  t = open_tar(fd2);
  assert_int_equal(berth_tar_add_tree(t, root, NULL, &err), 0);
  close_tar(t);
  off_t n1 = lseek(fd1, 0, SEEK_END), n2 = lseek(fd2, 0, SEEK_END);
  assert_int_equal(n1, n2);
  char *b1 = malloc((size_t)n1), *b2 = malloc((size_t)n2);
  assert_int_equal(pread(fd1, b1, (size_t)n1, 0), n1);
  assert_int_equal(pread(fd2, b2, (size_t)n2, 0), n2);
  assert_memory_equal(b1, b2, (size_t)n1);
  free(b1);
  free(b2);
  close(fd1);
  close(fd2);
  free(root);
}

static void test_tree_ignore(void **state) {
  char *root = make_context();
  static const char *const rules[] = {"*.log", "build/", "**/node_modules", NULL};
  struct entries e = tar_tree(root, rules);
  /* Excluded, with everything below excluded directories. */
  assert_null(find(&e, "debug.log"));
  assert_null(find(&e, "keep.log"));
  assert_null(find(&e, "build"));
  assert_null(find(&e, "build/out.o"));
  assert_null(find(&e, "build/keep.txt"));
  assert_null(find(&e, "node_modules"));
  assert_null(find(&e, "node_modules/left-pad.js"));
  assert_null(find(&e, "web/node_modules"));
  assert_null(find(&e, "web/node_modules/react.js"));
  /* Kept. */
  must_find(&e, "Dockerfile");
  must_find(&e, ".dockerignore");
  must_find(&e, "app.py");
  must_find(&e, "web");
  must_find(&e, "web/index.html");
  must_find(&e, "web/trace.log"); /* "*.log" does not reach into web/ */
  must_find(&e, deep_rel);
  for (size_t i = 0; i < e.n; i++)
    if (strstr(e.v[i].name, "node_modules") || strstr(e.v[i].name, "build"))
      fail_msg("\"%s\" should have been ignored", e.v[i].name);
  assert_int_equal(e.n, 14 + 1 + 5 + 5 - 9);
  entries_release(&e);
  free(root);
}

static void test_tree_ignore_exceptions(void **state) {
  char *root = make_context();
  static const char *const rules[] = {"*.log", "!keep.log", "build", "!build/keep.txt", NULL};
  struct entries e = tar_tree(root, rules);
  assert_null(find(&e, "debug.log"));
  must_find(&e, "keep.log");
  /* build/ is excluded but walked for its exception. */
  assert_null(find(&e, "build/out.o"));
  assert_string_equal(must_find(&e, "build/keep.txt")->data, "keep me");
  assert_null(find(&e, "build"));
  entries_release(&e);
  free(root);
}

/* Links are archived as links, never followed: a link to its own directory
 * does not make the walk loop. */
static void test_tree_links_not_followed(void **state) {
  char *root = fixture_path(fixture_root, "ctx");
  assert_int_equal(mkdir(root, 0755), 0);
  mk_dir(root, "sub");
  mk_file(root, "sub/file", "f", 0644);
  mk_link(root, "sub/self", ".");
  mk_link(root, "up", "sub");
  struct entries e = tar_tree(root, NULL);
  assert_int_equal(e.n, 4);
  assert_string_equal(must_find(&e, "sub/self")->symlink, ".");
  assert_true(S_ISLNK(must_find(&e, "up")->mode));
  assert_string_equal(must_find(&e, "up")->symlink, "sub");
  assert_null(find(&e, "up/file"));
  assert_null(find(&e, "sub/self/file"));
  entries_release(&e);
  free(root);
}

static void test_tree_missing_dir(void **state) {
  char *root = fixture_path(fixture_root, "no-such-context");
  int fd = open_tmp();
  struct berth_tar *t = open_tar(fd);
  berth_err err = NULL;
  int r = berth_tar_add_tree(t, root, NULL, &err);
  assert_int_equal(r, -BERTH_E_IO);
  assert_non_null(strstr(berth_err_root_msg(err), "no-such-context"));
  berth_err_free(&err);
  berth_tar_free(t); /* abandoned without close: must not leak */
  close(fd);
  free(root);
}

static void test_free_null(void **state) {
  assert_null(berth_tar_free(NULL));
}

static int teardown_all(void **state) {
  free(deep_rel);
  deep_rel = NULL;
  return fixture_teardown(state);
}

/* Each add_tree test builds its own context under a fresh directory. */
static int fresh(void **state) {
  char *cmd = NULL;
  if (asprintf(&cmd, "rm -rf '%s/ctx' '%s/kinds' '%s/longlink'", fixture_root, fixture_root,
               fixture_root) < 0)
    return -1;
  int r = system(cmd);
  free(cmd);
  return r == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_add_data, fresh),
      cmocka_unit_test_setup(test_add_data_binary_and_big, fresh),
      cmocka_unit_test_setup(test_long_names, fresh),
      cmocka_unit_test_setup(test_add_path_kinds, fresh),
      cmocka_unit_test_setup(test_add_path_long_link_target, fresh),
      cmocka_unit_test_setup(test_add_path_missing, fresh),
      cmocka_unit_test_setup(test_add_path_fifo_skipped, fresh),
      cmocka_unit_test_setup(test_tree_everything, fresh),
      cmocka_unit_test(test_path_cmp),
      cmocka_unit_test_setup(test_tree_sorted, fresh),
      cmocka_unit_test_setup(test_tree_ignore, fresh),
      cmocka_unit_test_setup(test_tree_ignore_exceptions, fresh),
      cmocka_unit_test_setup(test_tree_links_not_followed, fresh),
      cmocka_unit_test_setup(test_tree_missing_dir, fresh),
      cmocka_unit_test(test_free_null),
  };
  return cmocka_run_group_tests(tests, setup, teardown_all);
}
