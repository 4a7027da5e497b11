/* Internals shared by the files of core/docker/. Not installed. */
#ifndef BERTH_DOCKER_INTERNAL_H
#define BERTH_DOCKER_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "berth/buf.h"
#include "docker.h"

/* Bounds on what the engine may send us in one piece. */
#define BERTH__MAX_BODY (64u << 20) /* a buffered JSON answer (inspect, list) */
#define BERTH__MAX_ERROR_BODY (1u << 20)
#define BERTH__MAX_MESSAGE (4u << 20) /* one message of a JSON stream */

/* How long the engine may stay silent (docker.h): a call must answer,
 * byte after byte, within BERTH_ENGINE_TIMEOUT_MS; a transfer (pull,
 * build, archive) within BERTH_ENGINE_STALL_MS. */
#define BERTH__CALL_TIMEOUT_MS (60 * 1000)
#define BERTH__STALL_TIMEOUT_MS (15 * 60 * 1000)

struct berth_docker {
  char *socket_path;
  char *endpoint;      /* "unix://..." for messages */
  char api[16];        /* negotiated, "" until then */
  char engine_api[16]; /* the engine's, from its Api-Version header */
  CURL *curl;          /* reused so the connection stays open between calls */
  CURLM *multi;        /* runs curl, so a request wakes when its limit is due */
  /* When it points at nonzero, the call in progress ends (docker.h). */
  const atomic_int *cancel;
  char curl_error[CURL_ERROR_SIZE];
  /* berth_docker_interrupt, from another thread: the socket to shut down */
  pthread_mutex_t fd_mu;
  int fd;
  bool interrupted;
  /* silence allowed, in ms (0: none): of a call, and of a transfer */
  int64_t call_ms, stall_ms;
};

/* Receives body bytes of a 2xx answer. Returns 0 to go on, > 0 to stop
 * quietly, < 0 (with *err set) to fail. */
typedef int (*berth__data_fn)(const char *data, size_t len, void *ud, berth_err *err);

/* How long a request may go without a byte either way before it fails. */
enum berth__patience {
  BERTH__CALL,     /* an answer is due now: d->call_ms (+ extra_ms) */
  BERTH__TRANSFER, /* pull, build, archive: d->stall_ms between bytes */
  BERTH__QUIET,    /* events, logs -f, wait: silent for hours, never timed */
};

struct berth__req {
  const char *method;
  const char *path;  /* "/containers/json?all=1", without the version prefix */
  bool unversioned;  /* /_ping and /version are asked before negotiation */
  const cJSON *json; /* request body, or NULL */
  int body_fd;       /* stream the body from this fd (-1: none) */
  const char *content_type;
  berth__data_fn on_data; /* NULL: buffer the answer in resp->body */
  void *ud;
  enum berth__patience patience;
  int64_t extra_ms; /* a call that waits on purpose (stop?t=N) */
};

struct berth__resp {
  long status;
  struct berth_buf body;
};

/* Sends one request. On an HTTP status >= 400 fails with the engine's
 * message; 304 is returned as success with resp->status = 304. */
int berth__request(struct berth_docker *d, const struct berth__req *req, struct berth__resp *resp,
                   berth_err *err);
/* The common case: method + path (+ JSON body), answer parsed into *ret
 * when ret is non-NULL. Returns the HTTP status. */
int berth__call_json(struct berth_docker *d, const char *method, const char *path,
                     const cJSON *body, cJSON **ret, berth_err *err);
/* The same for a request set up by the caller (patience, extra_ms). */
int berth__call_req(struct berth_docker *d, const struct berth__req *req, cJSON **ret,
                    berth_err *err);
/* The error of a request the engine left silent for longer than ms;
 * got: whether any of its answer had arrived. Names the call. */
int berth__timeout_error(berth_err *err, const char *method, const char *path, int64_t ms, bool got,
                         bool call);

/* GET base (which may hold a query already) filtered by labels. */
int berth__list(struct berth_docker *d, const char *base, const char *const *labels, cJSON **ret,
                berth_err *err);

/* What a list answer must hold, so no caller meets a NULL where the
 * engine always sends a string: an array (NULL taken as empty) of objects
 * that each have the string keys (NULL-terminated). Fails naming the
 * call, the entry and what it lacks. what: "container", "network", ... */
int berth__check_list(const cJSON *list, const char *call, const char *what,
                      const char *const *keys, berth_err *err);

/* Maps an error answer to an error: code from status, message from the
 * body's "message" field (or the body itself). what names the operation. */
int berth__api_error(berth_err *err, long status, const char *body, size_t len);

/* JSON helpers: ["a","b"] and {"K":"V"} from NULL-terminated lists of
 * strings and of "K=V" strings. NULL on allocation failure. */
cJSON *berth__string_array(const char *const *v);
cJSON *berth__kv_object(const char *const *kv);

/* URL-escapes s into a new string. */
char *berth__escape(const char *s);
/* Appends "&name=" + escaped JSON {"label":[...],"type":[...]} or nothing
 * when both are empty. */
int berth__add_filters(struct berth_buf *q, const char *const *labels, const char *const *types);

/* ---- stream parsers (pure; unit-tested) ---- */

/* Splits a stream of JSON messages separated by newlines. */
typedef int (*berth__json_msg_fn)(const cJSON *msg, void *ud, berth_err *err);
struct berth__json_stream {
  struct berth_buf line;
  berth__json_msg_fn fn;
  void *ud;
};
void berth__json_stream_init(struct berth__json_stream *s, berth__json_msg_fn fn, void *ud);
/* Returns 0, > 0 when fn asked to stop, < 0 on error. */
int berth__json_stream_feed(struct berth__json_stream *s, const char *data, size_t len,
                            berth_err *err);
/* Parses what is left after the stream ended without a final newline. */
int berth__json_stream_finish(struct berth__json_stream *s, berth_err *err);
void berth__json_stream_release(struct berth__json_stream *s);

/* The 8-byte-header multiplexed stream of logs, attach and exec:
 * [stream, 0, 0, 0, size (big-endian u32)] then size bytes. */
struct berth__demux {
  unsigned char hdr[8];
  size_t hdr_len;
  uint32_t remaining;
  enum berth_docker_stream stream;
  bool raw; /* TTY: no headers, everything is stdout */
  berth_docker_output_fn fn;
  void *ud;
};
void berth__demux_init(struct berth__demux *m, bool raw, berth_docker_output_fn fn, void *ud);
/* Returns 0, > 0 when fn asked to stop, < 0 on a malformed header. */
int berth__demux_feed(struct berth__demux *m, const char *data, size_t len, berth_err *err);
/* Fails if the stream ended inside a frame. */
int berth__demux_finish(struct berth__demux *m, berth_err *err);

/* Reads one pull/build progress message. Fails with the engine's message
 * when the message reports an error. */
int berth__progress_parse(const cJSON *msg, struct berth_docker_progress *p, berth_err *err);

#endif
