/* A fake Docker engine for unit tests: an HTTP/1.1 server on a unix
 * socket under $TMPDIR that answers from a table of routes, one thread
 * per connection (so a client's clones can talk to it at once), and can
 * misbehave on purpose: never answer, answer the head of a stream and
 * then nothing, or trickle an answer byte by byte. */
#ifndef BERTH_TESTS_UNIT_FAKE_ENGINE_H
#define BERTH_TESTS_UNIT_FAKE_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum fake_mode {
  FAKE_ANSWER,    /* status + body, Content-Length, keep-alive */
  FAKE_SILENT,    /* read the request, never answer */
  FAKE_HEAD_ONLY, /* a chunked 200 head (a stream), then body, then nothing */
  FAKE_TRICKLE,   /* the head, then the body one byte every trickle_ms */
};

struct fake_route {
  const char *method;
  const char *prefix; /* of the path, without the /v1.NN prefix */
  enum fake_mode mode;
  int status;       /* FAKE_ANSWER, FAKE_TRICKLE: 200 unless set */
  const char *body; /* JSON text; FAKE_HEAD_ONLY: sent as one chunk */
  int trickle_ms;
};

/* The ping every client sends first (it names the API version). */
#define FAKE_PING                                                                                  \
  { .method = "GET", .prefix = "/_ping", .body = "OK" }

#define FAKE_MAX_CONNS 32
#define FAKE_MAX_LOG 64

struct fake_engine {
  char *dir, *sock, *host; /* host: "unix://<sock>" for DOCKER_HOST */
  int listen_fd;
  const struct fake_route *routes; /* ends with {0} */
  pthread_t thread;
  atomic_bool stop;
  pthread_mutex_t mu;
  pthread_t conn_threads[FAKE_MAX_CONNS];
  int conn_fds[FAKE_MAX_CONNS];
  size_t n_conns;
  char *log[FAKE_MAX_LOG]; /* "METHOD /path?query" of each request */
  size_t n_log;
};

/* Starts serving routes (which must outlive the server); a request no
 * route matches gets a 404 with a message. Fails the test on error. f
 * must be static: its threads, and fake_engine_teardown after a failed
 * assertion, use it once the test's frame is gone. */
void fake_engine_start(struct fake_engine *f, const struct fake_route *routes);
/* Stops, joins every thread, removes the socket and its directory. */
void fake_engine_stop(struct fake_engine *f);
/* A cmocka teardown: stops the engine a failed test left running (its
 * assertion jumped over fake_engine_stop), so nothing stays behind. */
int fake_engine_teardown(void **state);
/* How many requests so far started with "METHOD prefix". */
size_t fake_engine_count(struct fake_engine *f, const char *method, const char *prefix);

#endif
