/* Images: inspect, list, remove, pull, build. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/ignore.h"
#include "berth/tar.h"
#include "cleanup.h"
#include "docker-internal.h"

/* {method} /images/{name}{suffix} */
static int image_call(struct berth_docker *d, const char *method, const char *name,
                      const char *suffix, cJSON **ret, berth_err *err) {
  _cleanup_free_ char *path = NULL;
  if (asprintf(&path, "/images/%s%s", name, suffix) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int r = berth__call_json(d, method, path, NULL, ret, err);
  return r < 0 ? r : 0;
}

int berth_docker_image_inspect(struct berth_docker *d, const char *name, cJSON **ret,
                               berth_err *err) {
  int r = image_call(d, "GET", name, "/json", ret, err);
  if (r >= 0 && ret && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(*ret, "Id"))) {
    *ret = (cJSON_Delete(*ret), NULL);
    return berth_err_set(err, BERTH_E_PROTOCOL,
                         "GET /images/%s/json: the engine's answer has no Id; is DOCKER_HOST a "
                         "Docker engine?",
                         name);
  }
  return r;
}

int berth_docker_image_exists(struct berth_docker *d, const char *name, berth_err *err) {
  _cleanup_json_ cJSON *j = NULL;
  berth_err e = NULL;
  int r = berth_docker_image_inspect(d, name, &j, &e);
  if (r >= 0)
    return 1;
  if (berth_err_code(e) == BERTH_E_NOT_FOUND) {
    berth_err_free(&e);
    return 0;
  }
  *err = e;
  return r;
}

int berth_docker_image_list(struct berth_docker *d, const char *const *labels, cJSON **ret,
                            berth_err *err) {
  static const char *const keys[] = {"Id", NULL};
  int r = berth__list(d, "/images/json", labels, ret, err);
  if (r >= 0 && (r = berth__check_list(*ret, "GET /images/json", "image", keys, err)) < 0)
    *ret = (cJSON_Delete(*ret), NULL);
  return r;
}

int berth_docker_image_remove(struct berth_docker *d, const char *name, bool force,
                              berth_err *err) {
  return image_call(d, "DELETE", name, force ? "?force=1" : "", NULL, err);
}

struct progress_ctx {
  struct berth__json_stream js;
  berth_docker_progress_fn fn;
  void *ud;
  char *image_id;
};

static int on_progress(const cJSON *msg, void *ud, berth_err *err) {
  struct progress_ctx *c = ud;
  struct berth_docker_progress p;
  int r = berth__progress_parse(msg, &p, err);
  if (r < 0)
    return r;
  if (p.image_id && !c->image_id && !(c->image_id = strdup(p.image_id)))
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  if (c->fn)
    c->fn(&p, c->ud);
  return 0;
}

static int on_progress_data(const char *data, size_t len, void *ud, berth_err *err) {
  struct progress_ctx *c = ud;
  return berth__json_stream_feed(&c->js, data, len, err);
}

/* Runs a request whose answer is a progress stream. */
static int progress_request(struct berth_docker *d, struct berth__req *req, struct progress_ctx *c,
                            berth_err *err) {
  berth__json_stream_init(&c->js, on_progress, c);
  req->on_data = on_progress_data;
  req->ud = c;
  /* A layer or a build step may take minutes without a message. */
  req->patience = BERTH__TRANSFER;
  struct berth__resp resp = {.body = BERTH_BUF_INIT(0)};
  int r = berth__request(d, req, &resp, err);
  if (r >= 0)
    r = berth__json_stream_finish(&c->js, err);
  berth__json_stream_release(&c->js);
  return r;
}

int berth_docker_image_pull(struct berth_docker *d, const char *image, berth_docker_progress_fn fn,
                            void *ud, berth_err *err) {
  /* Split "repo[:tag][@digest]" the way the engine expects: fromImage and
   * tag; a ':' before the last '/' is a registry port. */
  _cleanup_free_ char *repo = strdup(image);
  if (!repo)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  const char *tag = "latest";
  char *slash = strrchr(repo, '/');
  char *colon = strrchr(slash ? slash : repo, ':');
  if (strchr(repo, '@'))
    tag = NULL;
  else if (colon) {
    *colon = '\0';
    tag = colon + 1;
  }
  _cleanup_free_ char *erepo = berth__escape(repo);
  _cleanup_free_ char *etag = tag ? berth__escape(tag) : NULL;
  _cleanup_free_ char *path = NULL;
  if (!erepo || (tag && !etag) ||
      asprintf(&path, "/images/create?fromImage=%s%s%s", erepo, tag ? "&tag=" : "",
               tag ? etag : "") < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  struct progress_ctx c = {.fn = fn, .ud = ud};
  struct berth__req req = {.method = "POST", .path = path, .body_fd = -1};
  int r = progress_request(d, &req, &c, err);
  free(c.image_id);
  if (r < 0)
    return berth_err_wrap(err, "pulling %s", image);
  return 0;
}

/* Writes the build context (honouring .dockerignore) to an unlinked
 * temporary file: the upload then streams from disk with a known length. */
static int write_context(const struct berth_docker_build_opts *o, int *ret_fd, berth_err *err) {
  const char *dockerfile = o->dockerfile ? o->dockerfile : "Dockerfile";
  const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  _cleanup_close_ int fd = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    return berth_err_errno(err, errno, "creating a temporary file in %s", tmpdir);
  struct berth_ignore *ign = NULL;
  struct berth_tar *t = NULL;
  _cleanup_free_ char *ignore_path = NULL, *df_path = NULL;
  int r = berth_ignore_new(&ign, err);
  if (r >= 0 && (asprintf(&ignore_path, "%s/.dockerignore", o->context_dir) < 0 ||
                 asprintf(&df_path, "%s/%s", o->context_dir, dockerfile) < 0))
    r = berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  if (r >= 0)
    r = berth_ignore_load(ign, ignore_path, err);
  if (r >= 0 && access(df_path, R_OK) < 0)
    r = berth_err_errno(err, errno, "the Dockerfile %s", df_path);
  if (r >= 0)
    r = berth_tar_open_fd(&t, fd, err);
  if (r >= 0)
    r = berth_tar_add_tree(t, o->context_dir, ign, err);
  /* The engine needs the Dockerfile and .dockerignore even when the
   * ignore rules exclude them, as the docker CLI sends them. */
  if (r >= 0 && berth_ignore_match(ign, dockerfile))
    r = berth_tar_add_path(t, df_path, dockerfile, err);
  if (r >= 0 && berth_ignore_match(ign, ".dockerignore") && access(ignore_path, R_OK) == 0)
    r = berth_tar_add_path(t, ignore_path, ".dockerignore", err);
  if (r >= 0)
    r = berth_tar_close(t, err);
  berth_tar_free(t);
  berth_ignore_free(ign);
  if (r < 0)
    return berth_err_wrap(err, "packing the build context %s", o->context_dir);
  if (lseek(fd, 0, SEEK_SET) < 0)
    return berth_err_errno(err, errno, "rewinding the build context");
  *ret_fd = TAKE_FD(fd);
  return 0;
}

/* {"K":"V",...} from "K=V" strings, URL-escaped for a query. */
static char *kv_query_json(const char *const *kv) {
  _cleanup_json_ cJSON *o = berth__kv_object(kv);
  _cleanup_free_ char *s = o ? cJSON_PrintUnformatted(o) : NULL;
  return s ? berth__escape(s) : NULL;
}

int berth_docker_image_build(struct berth_docker *d, const struct berth_docker_build_opts *o,
                             berth_docker_progress_fn fn, void *ud, char **ret_id, berth_err *err) {
  struct berth_buf q = BERTH_BUF_INIT(1 << 20);
  _cleanup_free_ char *df = berth__escape(o->dockerfile ? o->dockerfile : "Dockerfile");
  _cleanup_free_ char *args = kv_query_json(o->buildargs);
  _cleanup_free_ char *labels = kv_query_json(o->labels);
  _cleanup_free_ char *tag = o->tag ? berth__escape(o->tag) : NULL;
  _cleanup_free_ char *target = o->target ? berth__escape(o->target) : NULL;
  int r = 0;
  if (!df || !args || !labels || (o->tag && !tag) || (o->target && !target))
    r = -BERTH_E_NOMEM;
  if (r >= 0)
    r = berth_buf_addf(&q, "/build?rm=1&forcerm=1&dockerfile=%s&buildargs=%s&labels=%s", df, args,
                       labels);
  if (r >= 0 && tag)
    r = berth_buf_addf(&q, "&t=%s", tag);
  if (r >= 0 && target)
    r = berth_buf_addf(&q, "&target=%s", target);
  if (r >= 0 && o->no_cache)
    r = berth_buf_addf(&q, "&nocache=1");
  if (r >= 0 && o->pull)
    r = berth_buf_addf(&q, "&pull=1");
  if (r < 0) {
    berth_buf_release(&q);
    return berth_err_set(err, -r, "building the build query");
  }
  _cleanup_close_ int fd = -1;
  r = write_context(o, &fd, err);
  if (r >= 0) {
    struct progress_ctx c = {.fn = fn, .ud = ud};
    struct berth__req req = {
        .method = "POST", .path = q.data, .body_fd = fd, .content_type = "application/x-tar"};
    r = progress_request(d, &req, &c, err);
    if (r >= 0 && !c.image_id)
      r = berth_err_set(err, BERTH_E_PROTOCOL, "the engine finished the build without an image id");
    if (r >= 0 && ret_id)
      *ret_id = TAKE_PTR(c.image_id);
    free(c.image_id);
  }
  berth_buf_release(&q);
  if (r < 0)
    return berth_err_wrap(err, "building %s", o->tag ? o->tag : o->context_dir);
  return 0;
}
