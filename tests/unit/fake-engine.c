/* tests/unit/fake-engine.h */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake-engine.h"

static struct fake_engine *running; /* for fake_engine_teardown */

struct conn {
  struct fake_engine *f;
  int fd;
};

/* Waits for fd to be readable, waking every 50 ms to see whether the
 * server stops: false when it does. */
static bool wait_readable(struct fake_engine *f, int fd) {
  while (!atomic_load(&f->stop)) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, 50);
    if (r > 0)
      return true;
    if (r < 0 && errno != EINTR)
      return false;
  }
  return false;
}

static bool send_all(int fd, const char *s, size_t len) {
  while (len) {
    ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    s += n;
    len -= (size_t)n;
  }
  return true;
}

/* One request's head and body; false at the end of the connection. */
static bool read_request(struct fake_engine *f, int fd, char *buf, size_t size, size_t *have,
                         char *method, char *path) {
  char *end;
  while (!(end = memmem(buf, *have, "\r\n\r\n", 4))) {
    if (*have + 1 >= size || !wait_readable(f, fd))
      return false;
    ssize_t n = recv(fd, buf + *have, size - 1 - *have, 0);
    if (n <= 0)
      return false;
    *have += (size_t)n;
  }
  buf[*have] = '\0';
  size_t head = (size_t)(end + 4 - buf);
  if (sscanf(buf, "%15s %1023s", method, path) != 2)
    return false;
  const char *cl = strcasestr(buf, "\r\nContent-Length:");
  size_t want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
  bool chunked = strcasestr(buf, "\r\nTransfer-Encoding: chunked") != NULL;
  /* Drop the body: what is in the buffer, then the rest from the socket. */
  while (*have - head < want && !chunked) {
    if (!wait_readable(f, fd))
      return false;
    char sink[4096];
    ssize_t n = recv(fd, sink, sizeof(sink), 0);
    if (n <= 0)
      return false;
    want -= (size_t)n < want ? (size_t)n : want;
  }
  size_t used = head + (*have - head < want ? *have - head : want);
  memmove(buf, buf + used, *have - used);
  *have -= used;
  return true;
}

static const struct fake_route *route_of(const struct fake_engine *f, const char *method,
                                         const char *path) {
  for (const struct fake_route *r = f->routes; r->method; r++)
    if (!strcmp(r->method, method) && !strncmp(path, r->prefix, strlen(r->prefix)))
      return r;
  return NULL;
}

static bool answer(struct fake_engine *f, int fd, const struct fake_route *r) {
  static const struct fake_route missing = {
      .status = 404, .body = "{\"message\":\"the fake engine has no such route\"}"};
  if (!r)
    r = &missing;
  if (r->mode == FAKE_SILENT) {
    while (wait_readable(f, fd)) {
      char sink[4096];
      if (recv(fd, sink, sizeof(sink), 0) <= 0)
        return false;
    }
    return false;
  }
  const char *body = r->body ? r->body : "";
  char *msg = NULL;
  int n;
  if (r->mode == FAKE_HEAD_ONLY)
    n = asprintf(&msg,
                 "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n",
                 strlen(body), body);
  else
    n = asprintf(&msg,
                 "HTTP/1.1 %d X\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 r->status ? r->status : 200, strlen(body), body);
  if (n < 0)
    return false;
  if (r->mode == FAKE_HEAD_ONLY && !*body) /* a zero-size chunk would end it */
    n = (int)(strstr(msg, "\r\n\r\n") + 4 - msg);
  bool ok = true;
  if (r->mode == FAKE_TRICKLE) {
    int head = (int)(strstr(msg, "\r\n\r\n") + 4 - msg);
    ok = send_all(fd, msg, (size_t)head);
    for (int i = head; ok && i < n && !atomic_load(&f->stop); i++) {
      usleep((useconds_t)r->trickle_ms * 1000);
      ok = send_all(fd, msg + i, 1);
    }
  } else {
    ok = send_all(fd, msg, (size_t)n);
  }
  free(msg);
  if (r->mode == FAKE_HEAD_ONLY)
    while (wait_readable(f, fd)) { /* a stream that never says more */
      char sink[256];
      if (recv(fd, sink, sizeof(sink), 0) <= 0)
        return false;
    }
  return ok;
}

static void *serve(void *arg) {
  struct conn *c = arg;
  struct fake_engine *f = c->f;
  char buf[16384], method[16], path[1024];
  size_t have = 0;
  while (read_request(f, c->fd, buf, sizeof(buf), &have, method, path)) {
    /* Routes are written without the version prefix. */
    const char *p = path;
    if (!strncmp(p, "/v1.", 4) && strchr(p + 1, '/'))
      p = strchr(p + 1, '/');
    pthread_mutex_lock(&f->mu);
    if (f->n_log < FAKE_MAX_LOG && asprintf(&f->log[f->n_log], "%s %s", method, p) > 0)
      f->n_log++;
    pthread_mutex_unlock(&f->mu);
    if (!answer(f, c->fd, route_of(f, method, p)))
      break;
  }
  free(c);
  return NULL;
}

static void *accept_loop(void *arg) {
  struct fake_engine *f = arg;
  while (wait_readable(f, f->listen_fd)) {
    int fd = accept(f->listen_fd, NULL, NULL);
    if (fd < 0)
      continue;
    struct conn *c = malloc(sizeof(*c));
    pthread_mutex_lock(&f->mu);
    bool room = c && f->n_conns < FAKE_MAX_CONNS;
    if (room) {
      *c = (struct conn){f, fd};
      f->conn_fds[f->n_conns] = fd;
      room = pthread_create(&f->conn_threads[f->n_conns], NULL, serve, c) == 0;
      if (room)
        f->n_conns++;
    }
    pthread_mutex_unlock(&f->mu);
    if (!room) {
      free(c);
      close(fd);
    }
  }
  return NULL;
}

void fake_engine_start(struct fake_engine *f, const struct fake_route *routes) {
  *f = (struct fake_engine){.routes = routes, .listen_fd = -1};
  atomic_init(&f->stop, false);
  pthread_mutex_init(&f->mu, NULL);
  const char *tmp = getenv("TMPDIR");
  assert_true(asprintf(&f->dir, "%s/berth-fake-XXXXXX", tmp && *tmp ? tmp : "/tmp") > 0);
  assert_non_null(mkdtemp(f->dir));
  assert_true(asprintf(&f->sock, "%s/docker.sock", f->dir) > 0);
  assert_true(asprintf(&f->host, "unix://%s", f->sock) > 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  assert_true(strlen(f->sock) < sizeof(sa.sun_path));
  strcpy(sa.sun_path, f->sock);
  f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(f->listen_fd >= 0);
  assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(f->listen_fd, 16), 0);
  assert_int_equal(pthread_create(&f->thread, NULL, accept_loop, f), 0);
  running = f;
}

void fake_engine_stop(struct fake_engine *f) {
  running = NULL;
  atomic_store(&f->stop, true);
  pthread_join(f->thread, NULL);
  /* No new connection now: end the open ones and join their threads. */
  for (size_t i = 0; i < f->n_conns; i++)
    shutdown(f->conn_fds[i], SHUT_RDWR);
  for (size_t i = 0; i < f->n_conns; i++) {
    pthread_join(f->conn_threads[i], NULL);
    close(f->conn_fds[i]);
  }
  close(f->listen_fd);
  unlink(f->sock);
  rmdir(f->dir);
  for (size_t i = 0; i < f->n_log; i++)
    free(f->log[i]);
  pthread_mutex_destroy(&f->mu);
  free(f->dir);
  free(f->sock);
  free(f->host);
}

int fake_engine_teardown(void **state) {
  (void)state;
  if (running)
    fake_engine_stop(running);
  return 0;
}

size_t fake_engine_count(struct fake_engine *f, const char *method, const char *prefix) {
  size_t n = 0, ml = strlen(method);
  pthread_mutex_lock(&f->mu);
  for (size_t i = 0; i < f->n_log; i++)
    n += !strncmp(f->log[i], method, ml) && f->log[i][ml] == ' ' &&
         !strncmp(f->log[i] + ml + 1, prefix, strlen(prefix));
  pthread_mutex_unlock(&f->mu);
  return n;
}
