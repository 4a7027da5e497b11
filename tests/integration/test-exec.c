/* Exec against the real engine: output streams, exit codes, and stdin
 * streamed from a file descriptor without holding it in memory. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/buf.h"
#include "cleanup.h"
#include "harness.h"

static char *sleeper_id;

static int setup(void **state) {
  sleeper_id = it_sleeper("exec", NULL, NULL);
  return 0;
}

static int teardown(void **state) {
  free(sleeper_id);
  return 0;
}

static void test_output_and_exit_code(void **state) {
  _cleanup_free_ char *out = NULL, *errs = NULL;
  const char *cmd[] = {"sh", "-c", "echo to-out; echo to-err >&2; exit 7", NULL};
  assert_int_equal(it_exec(sleeper_id, cmd, &out, &errs), 7);
  assert_string_equal(out, "to-out\n");
  assert_string_equal(errs, "to-err\n");
}

static int collect(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  return berth_buf_add(ud, data, len) < 0;
}

static void test_env_user_workdir_output(void **state) {
  berth_err err = NULL;
  const char *cmd[] = {"sh", "-c", "echo $X $(id -u) $(pwd)", NULL};
  const char *env[] = {"X=42", NULL};
  struct berth_docker_exec_opts o = {
      .cmd = cmd, .env = env, .user = "nobody", .working_dir = "/usr", .stdin_fd = -1};
  struct berth_buf out = BERTH_BUF_INIT(1 << 20);
  int code = -1;
  it_ok(berth_docker_exec(it.d, sleeper_id, &o, collect, &out, &code, &err), &err);
  assert_int_equal(code, 0);
  assert_string_equal(out.data, "42 65534 /usr\n");
  berth_buf_release(&out);
}

struct io {
  struct berth_buf out;
  size_t err_bytes;
};

static int split(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  struct io *io = ud;
  if (s == BERTH_STDERR)
    io->err_bytes += len;
  else if (berth_buf_add(&io->out, data, len) < 0)
    return 1;
  return 0;
}

static void test_stdin_streamed(void **state) {
  berth_err err = NULL;
  /* 48 MiB of input: more than any buffer in the path, so it must
   * stream both ways without deadlock. */
  char path[] = "/tmp/berth-it-stdin-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  char block[65536];
  for (size_t i = 0; i < sizeof(block); i++)
    block[i] = (char)('a' + i % 26);
  for (int i = 0; i < 768; i++)
    assert_int_equal(write(fd, block, sizeof(block)), sizeof(block));
  lseek(fd, 0, SEEK_SET);
  /* tee echoes it all back on stderr while reading: output and input
   * overlap. */
  const char *cmd[] = {"sh", "-c", "tee /dev/stderr | wc -c", NULL};
  struct berth_docker_exec_opts o = {.cmd = cmd, .stdin_fd = fd};
  struct io io = {.out = BERTH_BUF_INIT(1 << 20)};
  int code = -1;
  it_ok(berth_docker_exec(it.d, sleeper_id, &o, split, &io, &code, &err), &err);
  close(fd);
  assert_int_equal(code, 0);
  assert_string_equal(io.out.data, "50331648\n");
  assert_int_equal(io.err_bytes, 50331648);
  berth_buf_release(&io.out);
}

static void test_stdin_eof_closes(void **state) {
  berth_err err = NULL;
  int p[2];
  assert_int_equal(pipe(p), 0);
  assert_int_equal(write(p[1], "line1\nline2\n", 12), 12);
  close(p[1]);
  const char *cmd[] = {"sh", "-c", "cat; echo done", NULL};
  struct berth_docker_exec_opts o = {.cmd = cmd, .stdin_fd = p[0]};
  struct berth_buf out = BERTH_BUF_INIT(1 << 20);
  int code = -1;
  it_ok(berth_docker_exec(it.d, sleeper_id, &o, collect, &out, &code, &err), &err);
  close(p[0]);
  assert_int_equal(code, 0);
  assert_string_equal(out.data, "line1\nline2\ndone\n");
  berth_buf_release(&out);
}

static void test_tty(void **state) {
  berth_err err = NULL;
  const char *cmd[] = {"sh", "-c", "test -t 1 && echo tty", NULL};
  struct berth_docker_exec_opts o = {.cmd = cmd, .tty = true, .stdin_fd = -1};
  struct berth_buf out = BERTH_BUF_INIT(1 << 20);
  int code = -1;
  it_ok(berth_docker_exec(it.d, sleeper_id, &o, collect, &out, &code, &err), &err);
  assert_int_equal(code, 0);
  assert_string_equal(out.data, "tty\r\n");
  berth_buf_release(&out);
}

static void test_errors(void **state) {
  berth_err err = NULL;
  const char *cmd[] = {"no-such-binary", NULL};
  struct berth_docker_exec_opts o = {.cmd = cmd, .stdin_fd = -1};
  int code = 0;
  /* The engine reports a missing binary as exit code 126/127. */
  struct berth_buf out = BERTH_BUF_INIT(1 << 16);
  it_ok(berth_docker_exec(it.d, sleeper_id, &o, collect, &out, &code, &err), &err);
  berth_buf_release(&out);
  assert_true(code == 126 || code == 127);
  const char *ok[] = {"true", NULL};
  o.cmd = ok;
  assert_true(
      berth_docker_exec(it.d, "berth-it-no-such-container", &o, collect, NULL, &code, &err) < 0);
  assert_int_equal(berth_err_code(err), BERTH_E_NOT_FOUND);
  assert_non_null(strstr(berth_err_root_msg(err), "No such container"));
  berth_err_free(&err);
}

/* A check that never ends does not hold its caller: the run fails with a
 * timeout, and the same client runs the next command. */
static void test_run_timeout(void **state) {
  berth_err err = NULL;
  const char *cmd[] = {"sleep", "30", NULL};
  struct berth_docker_exec_opts o = {.cmd = cmd, .stdin_fd = -1, .timeout_ms = 300};
  int code = 0;
  assert_true(berth_docker_exec(it.d, sleeper_id, &o, collect, NULL, &code, &err) < 0);
  assert_int_equal(berth_err_code(err), BERTH_E_TIMEOUT);
  assert_non_null(strstr(berth_err_root_msg(err), "longer than 300 ms"));
  berth_err_free(&err);
  const char *ok[] = {"true", NULL};
  o.cmd = ok;
  it_ok(berth_docker_exec(it.d, sleeper_id, &o, collect, NULL, &code, &err), &err);
  assert_int_equal(code, 0);
}

int main(void) {
  it_init("exec");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_output_and_exit_code),
      cmocka_unit_test(test_env_user_workdir_output),
      cmocka_unit_test(test_stdin_streamed),
      cmocka_unit_test(test_stdin_eof_closes),
      cmocka_unit_test(test_tty),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_run_timeout),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
