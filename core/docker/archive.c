/* Archive: tar streams into and out of a container's filesystem. */
#include <stdio.h>
#include <stdlib.h>

#include "cleanup.h"
#include "docker-internal.h"

static char *archive_path(const char *id, const char *path) {
  _cleanup_free_ char *p = berth__escape(path);
  char *s = NULL;
  if (!p || asprintf(&s, "/containers/%s/archive?path=%s", id, p) < 0)
    return NULL;
  return s;
}

int berth_docker_archive_put(struct berth_docker *d, const char *id, const char *path, int tar_fd,
                             berth_err *err) {
  _cleanup_free_ char *url = archive_path(id, path);
  if (!url)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  struct berth__resp resp = {.body = BERTH_BUF_INIT(BERTH__MAX_ERROR_BODY)};
  struct berth__req req = {.method = "PUT",
                           .path = url,
                           .body_fd = tar_fd,
                           .content_type = "application/x-tar",
                           .patience = BERTH__TRANSFER};
  int r = berth__request(d, &req, &resp, err);
  berth_buf_release(&resp.body);
  if (r < 0)
    return berth_err_wrap(err, "copying into %s:%s", id, path);
  return 0;
}

struct get_ctx {
  berth_docker_output_fn fn;
  void *ud;
};

static int on_tar(const char *data, size_t len, void *ud, berth_err *err) {
  struct get_ctx *c = ud;
  return c->fn(BERTH_STDOUT, data, len, c->ud) ? 1 : 0;
}

int berth_docker_archive_get(struct berth_docker *d, const char *id, const char *path,
                             berth_docker_output_fn fn, void *ud, berth_err *err) {
  _cleanup_free_ char *url = archive_path(id, path);
  if (!url)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  struct get_ctx c = {.fn = fn, .ud = ud};
  struct berth__resp resp = {.body = BERTH_BUF_INIT(0)};
  struct berth__req req = {.method = "GET",
                           .path = url,
                           .body_fd = -1,
                           .on_data = on_tar,
                           .ud = &c,
                           .patience = BERTH__TRANSFER};
  int r = berth__request(d, &req, &resp, err);
  if (r < 0)
    return berth_err_wrap(err, "copying %s:%s", id, path);
  return 0;
}
