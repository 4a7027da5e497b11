/* Exec: create, then start on a hijacked connection so stdin can be
 * streamed in while stdout/stderr stream out, then inspect for the exit
 * code. The connection is libcurl's (CONNECT_ONLY); after the HTTP upgrade
 * it carries raw bytes both ways. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "berth/clock.h"
#include "cleanup.h"
#include "docker-internal.h"

#define IO_CHUNK (64 * 1024)
#define MAX_HEADER (16 * 1024)

static int exec_create(struct berth_docker *d, const char *id,
                       const struct berth_docker_exec_opts *o, char **ret_exec, berth_err *err) {
  _cleanup_json_ cJSON *body = cJSON_CreateObject(), *answer = NULL;
  cJSON *cmd = cJSON_CreateArray();
  bool ok = body && cmd && cJSON_AddItemToObject(body, "Cmd", cmd);
  if (!ok)
    cJSON_Delete(cmd);
  for (const char *const *a = o->cmd; ok && a && *a; a++)
    ok = cJSON_AddItemToArray(cmd, cJSON_CreateString(*a));
  if (ok && o->env) {
    cJSON *env = cJSON_AddArrayToObject(body, "Env");
    for (const char *const *e = o->env; ok && env && *e; e++)
      ok = cJSON_AddItemToArray(env, cJSON_CreateString(*e));
    ok = ok && env;
  }
  ok = ok && cJSON_AddBoolToObject(body, "AttachStdin", o->stdin_fd >= 0) &&
       cJSON_AddBoolToObject(body, "AttachStdout", true) &&
       cJSON_AddBoolToObject(body, "AttachStderr", true) &&
       cJSON_AddBoolToObject(body, "Tty", o->tty) &&
       (!o->user || cJSON_AddStringToObject(body, "User", o->user)) &&
       (!o->working_dir || cJSON_AddStringToObject(body, "WorkingDir", o->working_dir));
  if (!ok)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  _cleanup_free_ char *path = NULL;
  if (asprintf(&path, "/containers/%s/exec", id) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int r = berth__call_json(d, "POST", path, body, &answer, err);
  if (r < 0)
    return r;
  const char *eid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(answer, "Id"));
  if (!eid)
    return berth_err_set(err, BERTH_E_PROTOCOL, "the engine created an exec without an Id");
  return (*ret_exec = strdup(eid)) ? 0 : berth_err_set(err, BERTH_E_NOMEM, "out of memory");
}

/* Sends all of buf on the hijacked socket, waiting when it is full. */
static int send_all(CURL *c, curl_socket_t sock, const char *buf, size_t len, berth_err *err) {
  while (len) {
    size_t sent = 0;
    CURLcode rc = curl_easy_send(c, buf, len, &sent);
    if (rc == CURLE_AGAIN) {
      struct pollfd p = {.fd = sock, .events = POLLOUT};
      poll(&p, 1, 1000);
      continue;
    }
    if (rc != CURLE_OK)
      return berth_err_set(err, BERTH_E_IO, "sending to the engine: %s", curl_easy_strerror(rc));
    buf += sent;
    len -= sent;
  }
  return 0;
}

struct hijack {
  CURL *c;
  curl_socket_t sock;
  const char *path; /* of the start request, for a timeout */
  int64_t limit_ms; /* for the answer's head; the stream itself may be quiet */
  int64_t last_ms;  /* when a byte last came */
  int64_t until_ms; /* the caller's deadline for the whole run; 0: none */
  int64_t run_ms;   /* what the caller allowed, for the message */
  struct berth__demux demux;
  struct berth_buf header;
  bool header_done;
  bool stopped;
};

/* Feeds bytes read from the socket: first the HTTP answer head, then the
 * stream. Returns 0, 1 at EOF of a stop request, < 0 on error. */
static int on_received(struct hijack *h, const char *data, size_t len, berth_err *err) {
  if (!h->header_done) {
    if (berth_buf_add(&h->header, data, len) < 0)
      return berth_err_set(err, BERTH_E_TOO_BIG, "the engine's exec answer header is too large");
    char *end = strstr(h->header.data, "\r\n\r\n");
    if (!end)
      return 0;
    int status = 0;
    if (sscanf(h->header.data, "HTTP/1.%*d %d", &status) != 1)
      return berth_err_set(err, BERTH_E_PROTOCOL, "the engine's exec answer is not HTTP");
    size_t head = (size_t)(end + 4 - h->header.data);
    if (status != 101 && status != 200) {
      /* The body after the head holds the engine's message: wait for all
       * of it (Content-Length), the connection stays open. */
      const char *cl = strcasestr(h->header.data, "\r\nContent-Length:");
      size_t want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
      if (h->header.len - head < want)
        return 0;
      return berth__api_error(err, status, h->header.data + head, h->header.len - head);
    }
    h->header_done = true;
    int r = berth__demux_feed(&h->demux, h->header.data + head, h->header.len - head, err);
    berth_buf_release(&h->header);
    return r;
  }
  return berth__demux_feed(&h->demux, data, len, err);
}

/* How long poll may wait: until the answer's head is overdue, or for
 * ever once it came (an interactive shell is quiet for hours). Fails
 * when the head is overdue. */
static int poll_timeout(struct hijack *h, int *ret_ms, berth_err *err) {
  *ret_ms = -1;
  if (h->until_ms) {
    int64_t left = h->until_ms - berth_now_ms();
    if (left <= 0)
      return berth_err_set(err, BERTH_E_TIMEOUT, "the command ran for longer than %lld ms",
                           (long long)h->run_ms);
    *ret_ms = left > 1000 * 1000 ? 1000 * 1000 : (int)left;
  }
  if (h->header_done || !h->limit_ms)
    return 0;
  int64_t left = h->last_ms + h->limit_ms - berth_now_ms();
  if (left <= 0)
    return berth__timeout_error(err, "POST", h->path, h->limit_ms, h->header.len > 0, true);
  if (*ret_ms < 0 || left < *ret_ms)
    *ret_ms = left > 1000 * 1000 ? 1000 * 1000 : (int)left;
  return 0;
}

static int pump(struct hijack *h, int in_fd, berth_err *err) {
  char buf[IO_CHUNK];
  char *pending = NULL; /* stdin bytes read but not yet sent */
  size_t pending_len = 0;
  char inbuf[IO_CHUNK];
  bool in_open = in_fd >= 0;
  if (!in_open)
    shutdown(h->sock, SHUT_WR);
  for (;;) {
    struct pollfd p[2] = {{.fd = h->sock, .events = POLLIN}, {.fd = -1}};
    /* Input waits for the engine's 101 answer: bytes sent earlier can be
     * lost in the engine's HTTP reader when it hijacks the connection. */
    if (in_open && pending_len)
      p[0].events |= POLLOUT;
    else if (in_open && h->header_done)
      p[1] = (struct pollfd){.fd = in_fd, .events = POLLIN};
    int wait_ms;
    if (poll_timeout(h, &wait_ms, err) < 0)
      return -BERTH_E_TIMEOUT;
    if (poll(p, 2, wait_ms) < 0) {
      if (errno == EINTR)
        continue;
      return berth_err_errno(err, errno, "waiting for exec output");
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      size_t got = 0;
      CURLcode rc = curl_easy_recv(h->c, buf, sizeof(buf), &got);
      if (rc == CURLE_OK && got == 0)
        return h->header_done ? 0
                              : berth_err_set(err, BERTH_E_PROTOCOL,
                                              "the engine closed the exec connection early");
      if (rc == CURLE_OK) {
        h->last_ms = berth_now_ms();
        int r = on_received(h, buf, got, err);
        if (r != 0)
          return r;
      } else if (rc != CURLE_AGAIN) {
        return berth_err_set(err, BERTH_E_IO, "reading exec output: %s", curl_easy_strerror(rc));
      }
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(in_fd, inbuf, sizeof(inbuf));
      if (n < 0 && errno != EINTR && errno != EAGAIN)
        return berth_err_errno(err, errno, "reading exec input");
      if (n == 0) {
        in_open = false;
        /* Half-close: the engine closes the process's stdin. */
        shutdown(h->sock, SHUT_WR);
      } else if (n > 0) {
        pending = inbuf;
        pending_len = (size_t)n;
      }
    }
    if (pending_len && (p[0].revents & POLLOUT)) {
      size_t sent = 0;
      CURLcode rc = curl_easy_send(h->c, pending, pending_len, &sent);
      if (rc != CURLE_OK && rc != CURLE_AGAIN)
        return berth_err_set(err, BERTH_E_IO, "sending exec input: %s", curl_easy_strerror(rc));
      pending += sent;
      pending_len -= sent;
    }
  }
}

static int exec_start(struct berth_docker *d, const char *exec_id,
                      const struct berth_docker_exec_opts *o, berth_docker_output_fn fn, void *ud,
                      berth_err *err) {
  const char *api;
  int r = berth_docker_api_version(d, &api, err);
  if (r < 0)
    return r;
  _cleanup_curl_ CURL *c = curl_easy_init();
  if (!c)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
  curl_easy_setopt(c, CURLOPT_URL, "http://docker/");
  curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK)
    return berth_err_set(err, BERTH_E_UNREACHABLE, "cannot reach the Docker engine at %s: %s",
                         d->endpoint, curl_easy_strerror(rc));
  curl_socket_t sock;
  if (curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, &sock) != CURLE_OK || sock == CURL_SOCKET_BAD)
    return berth_err_set(err, BERTH_E_IO, "no socket for the exec connection");

  char body[64];
  snprintf(body, sizeof(body), "{\"Detach\":false,\"Tty\":%s}", o->tty ? "true" : "false");
  _cleanup_free_ char *head = NULL;
  int n = asprintf(&head,
                   "POST /v%s/exec/%s/start HTTP/1.1\r\nHost: docker\r\n"
                   "Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                   "Content-Length: %zu\r\n\r\n%s",
                   api, exec_id, strlen(body), body);
  if (n < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  r = send_all(c, sock, head, (size_t)n, err);
  if (r < 0)
    return r;
  char path[160];
  snprintf(path, sizeof(path), "/exec/%s/start", exec_id);
  struct hijack h = {.c = c,
                     .sock = sock,
                     .header = BERTH_BUF_INIT(MAX_HEADER),
                     .path = path,
                     .limit_ms = d->call_ms,
                     .last_ms = berth_now_ms(),
                     .until_ms = o->timeout_ms > 0 ? berth_now_ms() + o->timeout_ms : 0,
                     .run_ms = o->timeout_ms};
  berth__demux_init(&h.demux, o->tty, fn, ud);
  r = pump(&h, o->stdin_fd, err);
  berth_buf_release(&h.header);
  if (r == 0)
    r = berth__demux_finish(&h.demux, err);
  return r < 0 ? r : 0;
}

int berth_docker_exec(struct berth_docker *d, const char *id,
                      const struct berth_docker_exec_opts *o, berth_docker_output_fn fn, void *ud,
                      int *ret_exit, berth_err *err) {
  _cleanup_free_ char *exec_id = NULL, *path = NULL;
  int r = exec_create(d, id, o, &exec_id, err);
  if (r >= 0)
    r = exec_start(d, exec_id, o, fn, ud, err);
  if (r < 0)
    return berth_err_wrap(err, "running %s in container %s", o->cmd && o->cmd[0] ? o->cmd[0] : "?",
                          id);
  /* The stream ends when the process does; its exit code may trail by a
   * moment, so ask until Running is false. */
  if (asprintf(&path, "/exec/%s/json", exec_id) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  for (int i = 0; i < 500; i++) {
    _cleanup_json_ cJSON *info = NULL;
    r = berth__call_json(d, "GET", path, NULL, &info, err);
    if (r < 0)
      return berth_err_wrap(err, "reading the exit code of %s", o->cmd[0]);
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(info, "Running"))) {
      const cJSON *code = cJSON_GetObjectItemCaseSensitive(info, "ExitCode");
      if (ret_exit)
        *ret_exit = cJSON_IsNumber(code) ? code->valueint : -1;
      return 0;
    }
    usleep(10 * 1000);
  }
  return berth_err_set(err, BERTH_E_TIMEOUT,
                       "%s in container %s closed its output but is still running", o->cmd[0], id);
}
