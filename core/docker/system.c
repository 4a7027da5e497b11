/* System endpoints: ping, version, info, events. */
#include <inttypes.h>
#include <string.h>

#include "cleanup.h"
#include "docker-internal.h"

int berth_docker_ping(struct berth_docker *d, berth_err *err) {
  struct berth__resp resp = {.body = BERTH_BUF_INIT(4096)};
  struct berth__req req = {.method = "GET", .path = "/_ping", .unversioned = true, .body_fd = -1};
  int r = berth__request(d, &req, &resp, err);
  bool ok = r >= 0 && resp.body.len >= 2 && memcmp(resp.body.data, "OK", 2) == 0;
  berth_buf_release(&resp.body);
  if (r < 0)
    return r;
  if (!ok)
    return berth_err_set(err, BERTH_E_PROTOCOL,
                         "%s answered the ping without OK: is it a Docker engine?", d->endpoint);
  return 0;
}

int berth_docker_version(struct berth_docker *d, cJSON **ret, berth_err *err) {
  int r = berth__call_json(d, "GET", "/version", NULL, ret, err);
  return r < 0 ? r : 0;
}

int berth_docker_info(struct berth_docker *d, cJSON **ret, berth_err *err) {
  int r = berth__call_json(d, "GET", "/info", NULL, ret, err);
  return r < 0 ? r : 0;
}

struct events_ctx {
  struct berth__json_stream js;
  berth_docker_event_fn fn;
  void *ud;
  bool stopped;
};

static int on_event(const cJSON *msg, void *ud, berth_err *err) {
  struct events_ctx *c = ud;
  if (c->fn(msg, c->ud))
    c->stopped = true;
  return c->stopped ? 1 : 0;
}

static int on_events_data(const char *data, size_t len, void *ud, berth_err *err) {
  struct events_ctx *c = ud;
  return berth__json_stream_feed(&c->js, data, len, err);
}

int berth_docker_events(struct berth_docker *d, const struct berth_docker_events_opts *opts,
                        berth_docker_event_fn fn, void *ud, berth_err *err) {
  struct berth_buf q = BERTH_BUF_INIT(1 << 16);
  int r = berth_buf_add(&q, "/events", 7);
  if (r >= 0 && opts->since)
    r = berth_buf_addf(&q, "%ssince=%" PRId64, strchr(q.data, '?') ? "&" : "?", opts->since);
  if (r >= 0 && opts->until)
    r = berth_buf_addf(&q, "%suntil=%" PRId64, strchr(q.data, '?') ? "&" : "?", opts->until);
  if (r >= 0)
    r = berth__add_filters(&q, opts->labels, opts->types);
  if (r < 0) {
    berth_buf_release(&q);
    return berth_err_set(err, -r, "building the events query");
  }
  struct events_ctx c = {.fn = fn, .ud = ud};
  berth__json_stream_init(&c.js, on_event, &c);
  struct berth__resp resp = {.body = BERTH_BUF_INIT(0)};
  struct berth__req req = {.method = "GET",
                           .path = q.data,
                           .body_fd = -1,
                           .on_data = on_events_data,
                           .ud = &c,
                           .patience = BERTH__QUIET /* silent while nothing happens */};
  r = berth__request(d, &req, &resp, err);
  if (r >= 0 && !c.stopped)
    r = berth__json_stream_finish(&c.js, err);
  berth__json_stream_release(&c.js);
  berth_buf_release(&q);
  return r < 0 ? r : 0;
}
