/* Images against the real engine: inspect, list, build (context with
 * .dockerignore, build errors), pull (no registry here: its error must be
 * clear), remove. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "harness.h"

static char ctx[] = "/tmp/berth-it-ctx-XXXXXX";

static void write_file(const char *rel, const char *content) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", ctx, rel);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(content, f);
  fclose(f);
}

static int setup(void **state) {
  if (!mkdtemp(ctx))
    return -1;
  char p[512];
  snprintf(p, sizeof(p), "%s/src", ctx);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/node_modules", ctx);
  mkdir(p, 0755);
  return 0;
}

static int teardown(void **state) {
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ctx);
  return system(cmd) == 0 ? 0 : -1;
}

static void test_inspect_and_missing(void **state) {
  berth_err err = NULL;
  _cleanup_json_ cJSON *img = NULL;
  it_ok(berth_docker_image_inspect(it.d, it.base_image, &img, &err), &err);
  assert_non_null(it_json_str(img, "Id", NULL));
  assert_int_equal(berth_docker_image_exists(it.d, it.base_image, &err), 1);
  assert_int_equal(berth_docker_image_exists(it.d, "berth-local/no-such-image:0", &err), 0);
  assert_true(berth_docker_image_inspect(it.d, "berth-local/no-such-image:0", &img, &err) < 0);
  assert_int_equal(berth_err_code(err), BERTH_E_NOT_FOUND);
  assert_non_null(strstr(berth_err_root_msg(err), "No such image"));
  berth_err_free(&err);
}

struct progress {
  int steps;
  char last[256];
};

static void on_progress(const struct berth_docker_progress *p, void *ud) {
  struct progress *pr = ud;
  if (p->stream && !strncmp(p->stream, "Step ", 5))
    pr->steps++;
  if (p->stream)
    snprintf(pr->last, sizeof(pr->last), "%s", p->stream);
}

static void test_build_with_dockerignore(void **state) {
  berth_err err = NULL;
  char dockerfile[512];
  snprintf(dockerfile, sizeof(dockerfile),
           "ARG BASE\nFROM ${BASE}\nARG GREETING\nCOPY . /ctx\n"
           "RUN echo \"$GREETING\" > /greeting\n");
  write_file("Dockerfile.dev", dockerfile);
  write_file(".dockerignore", "node_modules\n*.log\n!keep.log\nDockerfile.dev\n");
  write_file("src/app.py", "print('hi')\n");
  write_file("node_modules/big.js", "x\n");
  write_file("debug.log", "noise\n");
  write_file("keep.log", "kept\n");

  char base_arg[300], tag[160], label[160];
  snprintf(base_arg, sizeof(base_arg), "BASE=%s", it.base_image);
  snprintf(tag, sizeof(tag), "berth-it/%sbuild:1", it.prefix + strlen("berth-it-"));
  snprintf(label, sizeof(label), "%s", it.run_label);
  const char *args[] = {base_arg, "GREETING=hello from a build arg", NULL};
  const char *labels[] = {label, "berth.owner=tests", NULL};
  struct berth_docker_build_opts o = {.context_dir = ctx,
                                      .dockerfile = "Dockerfile.dev",
                                      .tag = tag,
                                      .buildargs = args,
                                      .labels = labels};
  struct progress pr = {0};
  _cleanup_free_ char *image_id = NULL;
  it_ok(berth_docker_image_build(it.d, &o, on_progress, &pr, &image_id, &err), &err);
  assert_non_null(image_id);
  assert_int_equal(strncmp(image_id, "sha256:", 7), 0);
  assert_true(pr.steps >= 5);

  /* The image is listed by its label and carries the tag. */
  const char *filter[] = {it.run_label, NULL};
  _cleanup_json_ cJSON *list = NULL;
  it_ok(berth_docker_image_list(it.d, filter, &list, &err), &err);
  assert_int_equal(cJSON_GetArraySize(list), 1);
  assert_string_equal(it_json_str(cJSON_GetArrayItem(list, 0), "Id", NULL), image_id);

  /* What the context held: ignored files are absent, the exception is
   * there. The Dockerfile was sent (the build ran) though ignored; the
   * engine's COPY applies .dockerignore again and leaves it out. */
  const char *cmd[] = {"sh", "-c", "cd /ctx && ls -A | sort | tr '\\n' ' '; cat /greeting", NULL};
  struct berth_docker_container_spec spec = {
      .name = it_name("built"), .image = tag, .cmd = cmd, .labels = it.labels};
  _cleanup_free_ char *id = NULL;
  int status = -1;
  it_ok(berth_docker_container_create(it.d, &spec, &id, &err), &err);
  it_ok(berth_docker_container_start(it.d, id, &err), &err);
  it_ok(berth_docker_container_wait(it.d, id, NULL, &status, &err), &err);
  assert_int_equal(status, 0);
  _cleanup_free_ char *out = it_logs(id);
  assert_string_equal(out, ".dockerignore keep.log src hello from a build arg\n");
}

static void test_build_error_surfaces(void **state) {
  berth_err err = NULL;
  char dockerfile[512];
  snprintf(dockerfile, sizeof(dockerfile), "FROM %s\nRUN echo about to fail && exit 42\n",
           it.base_image);
  write_file("Dockerfile", dockerfile);
  write_file(".dockerignore", "");
  const char *labels[] = {it.run_label, NULL};
  struct berth_docker_build_opts o = {.context_dir = ctx, .labels = labels};
  struct progress pr = {0};
  assert_true(berth_docker_image_build(it.d, &o, on_progress, &pr, NULL, &err) < 0);
  assert_int_equal(berth_err_code(err), BERTH_E_API);
  assert_non_null(strstr(berth_err_root_msg(err), "returned a non-zero code: 42"));
  berth_err_free(&err);

  /* Missing Dockerfile: said before anything is sent. */
  o.dockerfile = "Nope.dockerfile";
  assert_true(berth_docker_image_build(it.d, &o, NULL, NULL, NULL, &err) < 0);
  _cleanup_free_ char *msg = berth_err_string(err);
  assert_non_null(strstr(msg, "Nope.dockerfile"));
  berth_err_free(&err);
}

static void test_pull_without_registry(void **state) {
  berth_err err = NULL;
  /* No registry answers on this machine's network: the error names the
   * image and carries the engine's reason. */
  int r = berth_docker_image_pull(it.d, "127.0.0.1:1/berth-it/absent:1", NULL, NULL, &err);
  assert_true(r < 0);
  _cleanup_free_ char *msg = berth_err_string(err);
  assert_non_null(strstr(msg, "pulling 127.0.0.1:1/berth-it/absent:1"));
  assert_true(strstr(msg, "connection refused") || strstr(msg, "dial tcp"));
  berth_err_free(&err);
}

struct pull_seen {
  bool downloading, complete, digest;
  int64_t total;
};

static void on_pull(const struct berth_docker_progress *p, void *ud) {
  struct pull_seen *s = ud;
  if (!p->status)
    return;
  if (!strcmp(p->status, "Downloading") && p->total > 0) {
    s->downloading = true;
    s->total = p->total;
  }
  s->complete |= !strcmp(p->status, "Pull complete");
  s->digest |= !strncmp(p->status, "Digest: sha256:", 15);
}

/* Runs tests/integration/local-registry.sh VERB DIR [ARGS]. */
static int registry(const char *script, const char *verb, const char *dir, const char *args) {
  char cmd[2048];
  snprintf(cmd, sizeof(cmd), "'%s' %s '%s' %s >/dev/null", script, verb, dir, args ? args : "");
  return system(cmd);
}

static void test_pull_from_local_registry(void **state) {
  berth_err err = NULL;
  const char *data = getenv("BERTH_TEST_DATA");
  assert_non_null(data);
  char script[512], regdir[] = "/tmp/berth-it-registry-XXXXXX";
  snprintf(script, sizeof(script), "%s/integration/local-registry.sh", data);
  assert_non_null(mkdtemp(regdir));
  assert_int_equal(registry(script, "start", regdir, NULL), 0);

  /* An image with a layer of its own, pushed, then gone from the engine:
   * the pull must download it. */
  char dockerfile[512], src[160], remote[200], port[16] = "";
  snprintf(dockerfile, sizeof(dockerfile), "FROM %s\nRUN head -c 300000 /dev/urandom > /blob\n",
           it.base_image);
  write_file("Dockerfile", dockerfile);
  write_file(".dockerignore", "");
  snprintf(src, sizeof(src), "berth-it/%spull-src:1", it.prefix + strlen("berth-it-"));
  const char *labels[] = {it.run_label, NULL};
  struct berth_docker_build_opts o = {.context_dir = ctx, .tag = src, .labels = labels};
  it_ok(berth_docker_image_build(it.d, &o, NULL, NULL, NULL, &err), &err);
  char portfile[600];
  snprintf(portfile, sizeof(portfile), "%s/port", regdir);
  FILE *f = fopen(portfile, "r");
  assert_non_null(f);
  assert_non_null(fgets(port, sizeof(port), f));
  fclose(f);
  port[strcspn(port, "\n")] = '\0';
  char push_args[256];
  snprintf(push_args, sizeof(push_args), "'%s' berth-it/pull:1", src);
  assert_int_equal(registry(script, "push", regdir, push_args), 0);
  it_ok(berth_docker_image_remove(it.d, src, true, &err), &err);
  snprintf(remote, sizeof(remote), "127.0.0.1:%s/berth-it/pull:1", port);
  assert_int_equal(berth_docker_image_exists(it.d, remote, &err), 0);

  struct pull_seen seen = {0};
  int r = berth_docker_image_pull(it.d, remote, on_pull, &seen, &err);
  registry(script, "stop", regdir, NULL);
  it_ok(r, &err);
  assert_true(seen.downloading);
  assert_true(seen.total > 0);
  assert_true(seen.complete);
  assert_true(seen.digest);
  assert_int_equal(berth_docker_image_exists(it.d, remote, &err), 1);
  /* The pulled image carries the run's label (set at build), so cleanup
   * removes it; removing it here checks that too. */
  it_ok(berth_docker_image_remove(it.d, remote, true, &err), &err);
}

static void test_remove(void **state) {
  berth_err err = NULL;
  char dockerfile[512];
  snprintf(dockerfile, sizeof(dockerfile), "FROM %s\nLABEL purpose=remove-test\n", it.base_image);
  write_file("Dockerfile", dockerfile);
  char tag[160];
  snprintf(tag, sizeof(tag), "berth-it/%sremove:1", it.prefix + strlen("berth-it-"));
  const char *labels[] = {it.run_label, NULL};
  struct berth_docker_build_opts o = {.context_dir = ctx, .tag = tag, .labels = labels};
  it_ok(berth_docker_image_build(it.d, &o, NULL, NULL, NULL, &err), &err);
  assert_int_equal(berth_docker_image_exists(it.d, tag, &err), 1);
  it_ok(berth_docker_image_remove(it.d, tag, false, &err), &err);
  assert_int_equal(berth_docker_image_exists(it.d, tag, &err), 0);
  assert_true(berth_docker_image_remove(it.d, tag, false, &err) < 0);
  assert_int_equal(berth_err_code(err), BERTH_E_NOT_FOUND);
  berth_err_free(&err);
}

int main(void) {
  it_init("images");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_inspect_and_missing),
      cmocka_unit_test(test_build_with_dockerignore),
      cmocka_unit_test(test_build_error_surfaces),
      cmocka_unit_test(test_pull_without_registry),
      cmocka_unit_test(test_pull_from_local_registry),
      cmocka_unit_test(test_remove),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
