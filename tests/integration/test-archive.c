/* Archive API against the real engine: a tar from berth_tar goes in, the
 * same files come back out. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/buf.h"
#include "berth/tar.h"
#include "cleanup.h"
#include "harness.h"

static int to_buf(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  return berth_buf_add(ud, data, len) < 0;
}

static int tar_fd_with(void) {
  berth_err err = NULL;
  int fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
  assert_true(fd >= 0);
  struct berth_tar *t = NULL;
  it_ok(berth_tar_open_fd(&t, fd, &err), &err);
  it_ok(berth_tar_add_data(t, "app/main.py", 0644, 1700000000, "print('v2')\n", 12, &err), &err);
  it_ok(berth_tar_add_data(t, "app/run.sh", 0755, 1700000000, "#!/bin/sh\necho run\n", 19, &err),
        &err);
  char longname[300];
  snprintf(longname, sizeof(longname), "app/%0200d/deep.txt", 0);
  it_ok(berth_tar_add_data(t, longname, 0600, 1700000000, "deep\n", 5, &err), &err);
  it_ok(berth_tar_close(t, &err), &err);
  berth_tar_free(t);
  lseek(fd, 0, SEEK_SET);
  return fd;
}

static void test_put_then_get(void **state) {
  berth_err err = NULL;
  _cleanup_free_ char *id = it_sleeper("archive", NULL, NULL);
  int fd = tar_fd_with();
  it_ok(berth_docker_archive_put(it.d, id, "/srv", fd, &err), &err);
  close(fd);

  /* Seen from inside: contents, modes and mtimes kept, long name intact. */
  _cleanup_free_ char *out = NULL;
  const char *cmd[] = {"sh", "-c",
                       "cat /srv/app/main.py; /srv/app/run.sh; stat -c '%a %Y' /srv/app/run.sh "
                       "/srv/app/main.py; cat /srv/app/*/deep.txt",
                       NULL};
  assert_int_equal(it_exec(id, cmd, &out, NULL), 0);
  assert_string_equal(out, "print('v2')\nrun\n755 1700000000\n644 1700000000\ndeep\n");

  /* And back out as a tar stream. */
  struct berth_buf tar = BERTH_BUF_INIT(16 << 20);
  it_ok(berth_docker_archive_get(it.d, id, "/srv/app", to_buf, &tar, &err), &err);
  struct archive *a = archive_read_new();
  archive_read_support_format_tar(a);
  assert_int_equal(archive_read_open_memory(a, tar.data, tar.len), ARCHIVE_OK);
  struct archive_entry *e;
  bool main_seen = false, deep_seen = false;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    const char *name = archive_entry_pathname(e);
    if (!strcmp(name, "app/main.py")) {
      char buf[64] = {0};
      assert_int_equal(archive_read_data(a, buf, sizeof(buf) - 1), 12);
      assert_string_equal(buf, "print('v2')\n");
      assert_int_equal(archive_entry_perm(e), 0644);
      main_seen = true;
    }
    if (strstr(name, "/deep.txt") && strlen(name) > 200)
      deep_seen = true;
  }
  archive_read_free(a);
  berth_buf_release(&tar);
  assert_true(main_seen);
  assert_true(deep_seen);
}

static void test_errors(void **state) {
  berth_err err = NULL;
  _cleanup_free_ char *id = it_sleeper("archive-err", NULL, NULL);
  int fd = tar_fd_with();
  /* The target directory must exist: the engine says so with 404. */
  assert_true(berth_docker_archive_put(it.d, id, "/no/such/dir", fd, &err) < 0);
  close(fd);
  assert_int_equal(berth_err_code(err), BERTH_E_NOT_FOUND);
  berth_err_free(&err);
  struct berth_buf tar = BERTH_BUF_INIT(1 << 20);
  assert_true(berth_docker_archive_get(it.d, id, "/no/such/file", to_buf, &tar, &err) < 0);
  assert_int_equal(berth_err_status(err), 404);
  berth_err_free(&err);
  berth_buf_release(&tar);
}

int main(void) {
  it_init("archive");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_then_get),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
