/* Protocol probes over plain sockets, with a deadline per attempt. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "berth/clock.h"
#include "berth/probe.h"
#include "cleanup.h"

static void say(char *why, size_t n, const char *fmt, const char *arg)
    __attribute__((format(printf, 3, 0)));
static void say(char *why, size_t n, const char *fmt, const char *arg) {
  if (why && n) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(why, n, fmt, arg ? arg : "");
#pragma GCC diagnostic pop
  }
}

int berth_probe_postgres_answer(const unsigned char *b, size_t len, char *why, size_t n) {
  if (len < 1)
    return -1;
  /* 'R' authentication request (any method) or 'N'/'S' replies mean the
   * server runs its protocol; 'E' carries a SQLSTATE. */
  if (b[0] == 'R') {
    say(why, n, "answered with an authentication request%s", NULL);
    return 1;
  }
  if (b[0] != 'E') {
    say(why, n, "answered something that is not PostgreSQL%s", NULL);
    return 0;
  }
  if (len < 5)
    return -1;
  uint32_t msglen = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
  if (len < 1 + (size_t)msglen)
    return msglen > 65536 ? 0 : -1;
  /* Fields: type byte then NUL-terminated string; C is the SQLSTATE. */
  const char *code = NULL, *msg = NULL;
  for (size_t i = 5; i < 1 + (size_t)msglen && b[i];) {
    char type = (char)b[i++];
    const char *s = (const char *)b + i;
    size_t sl = strnlen(s, 1 + msglen - i);
    if (i + sl >= 1 + (size_t)msglen)
      break; /* a field without its NUL: malformed, read no further */
    if (type == 'C')
      code = s;
    if (type == 'M')
      msg = s;
    i += sl + 1;
  }
  /* 57P03 cannot_connect_now: starting up, shutting down, recovering. */
  if (code && !strcmp(code, "57P03")) {
    say(why, n, "not accepting connections yet: %s", msg ? msg : code);
    return 0;
  }
  say(why, n, "answered: %s", msg ? msg : "an error");
  return 1; /* e.g. a wrong role: the server is serving */
}

int berth_probe_redis_answer(const char *b, size_t len, char *why, size_t n) {
  const char *nl = memchr(b, '\n', len);
  if (!nl)
    return len > 4096 ? 0 : -1;
  int l = (int)(nl - b);
  char line[256];
  snprintf(line, sizeof(line), "%.*s", l > 200 ? 200 : l, b);
  line[strcspn(line, "\r")] = '\0';
  if (!strncmp(line, "+PONG", 5) || !strncmp(line, "+OK", 3)) {
    say(why, n, "answered %s", line);
    return 1;
  }
  if (!strncmp(line, "-NOAUTH", 7) || !strncmp(line, "-WRONGPASS", 10)) {
    say(why, n, "answered %s (serving, needs a password)", line);
    return 1;
  }
  say(why, n, "answered %s", line); /* -LOADING, -MASTERDOWN, ... */
  return 0;
}

int berth_probe_amqp_answer(const unsigned char *b, size_t len, char *why, size_t n) {
  /* A method frame: type 1, channel 0, size, then class 10 method 10
   * (Connection.Start). "AMQP" back means the version was refused. */
  if (len >= 4 && !memcmp(b, "AMQP", 4)) {
    say(why, n, "refused AMQP 0-9-1%s", NULL);
    return 0;
  }
  if (len < 11)
    return -1;
  if (b[0] == 1 && b[1] == 0 && b[2] == 0 && b[7] == 0 && b[8] == 10 && b[9] == 0 && b[10] == 10) {
    say(why, n, "answered Connection.Start%s", NULL);
    return 1;
  }
  say(why, n, "answered something that is not AMQP%s", NULL);
  return 0;
}

int berth_probe_http_answer(const char *b, size_t len, char *why, size_t n) {
  const char *nl = memchr(b, '\n', len);
  if (!nl)
    return len > 8192 ? 0 : -1;
  int status = 0;
  char line[128];
  int l = (int)(nl - b);
  snprintf(line, sizeof(line), "%.*s", l > 100 ? 100 : l, b);
  line[strcspn(line, "\r")] = '\0';
  if (sscanf(line, "HTTP/%*d.%*d %d", &status) != 1) {
    say(why, n, "answered something that is not HTTP%s", NULL);
    return 0;
  }
  say(why, n, "answered %s", line);
  return status >= 200 && status < 300;
}

/* Connects with a deadline; returns the socket or -1 with why filled. */
static int dial(const struct berth_probe_target *t, int64_t deadline, char *why, size_t n) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(t->port)};
  if (inet_pton(AF_INET, t->host, &a.sin_addr) != 1) {
    say(why, n, "bad address %s", t->host);
    return -1;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    say(why, n, "socket: %s", strerror(errno));
    return -1;
  }
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
    say(why, n, "connect: %s", strerror(errno));
    close(fd);
    return -1;
  }
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  int left = (int)(deadline - berth_now_ms());
  if (left <= 0 || poll(&p, 1, left) <= 0) {
    say(why, n, "connect: timed out%s", NULL);
    close(fd);
    return -1;
  }
  int soerr = 0;
  socklen_t sl = sizeof(soerr);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
  if (soerr) {
    say(why, n, "connect: %s", strerror(soerr));
    close(fd);
    return -1;
  }
  return fd;
}

static int send_all(int fd, const void *buf, size_t len, int64_t deadline) {
  const char *p = buf;
  while (len) {
    ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
    if (w < 0 && errno == EAGAIN) {
      struct pollfd pf = {.fd = fd, .events = POLLOUT};
      int left = (int)(deadline - berth_now_ms());
      if (left <= 0 || poll(&pf, 1, left) <= 0)
        return -1;
      continue;
    }
    if (w <= 0)
      return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int berth_probe_once(const struct berth_probe_target *t, char *why, size_t n) {
  if (!t->host || !t->port)
    return -BERTH_E_INVALID;
  int64_t deadline = berth_now_ms() + (t->timeout_ms > 0 ? t->timeout_ms : 1000);
  _cleanup_close_ int fd = dial(t, deadline, why, n);
  if (fd < 0)
    return 0;
  if (t->proto == BERTH_PROTO_TCP) {
    say(why, n, "accepted a connection%s", NULL);
    return 1;
  }
  unsigned char req[512];
  size_t rl = 0;
  switch (t->proto) {
  case BERTH_PROTO_POSTGRES: {
    /* StartupMessage v3.0 for user postgres: any answer but 57P03 is
     * the server serving. */
    static const char params[] = "user\0postgres\0database\0postgres\0";
    uint32_t len = 8 + sizeof(params); /* includes the final NUL */
    req[0] = (unsigned char)(len >> 24);
    req[1] = (unsigned char)(len >> 16);
    req[2] = (unsigned char)(len >> 8);
    req[3] = (unsigned char)len;
    req[4] = 0, req[5] = 3, req[6] = 0, req[7] = 0;
    memcpy(req + 8, params, sizeof(params));
    rl = len;
    break;
  }
  case BERTH_PROTO_REDIS:
    if (t->password && *t->password)
      rl = (size_t)snprintf((char *)req, sizeof(req), "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n",
                            strlen(t->password), t->password);
    else
      rl = (size_t)snprintf((char *)req, sizeof(req), "PING\r\n");
    break;
  case BERTH_PROTO_AMQP:
    memcpy(req, "AMQP\0\0\x09\x01", 8);
    rl = 8;
    break;
  case BERTH_PROTO_HTTP:
    rl = (size_t)snprintf((char *)req, sizeof(req),
                          "GET %s HTTP/1.0\r\nHost: %s:%u\r\nUser-Agent: berth-probe\r\n\r\n",
                          t->http_path ? t->http_path : "/", t->host, t->port);
    break;
  default:
    return -BERTH_E_INVALID;
  }
  if (rl >= sizeof(req) || send_all(fd, req, rl, deadline) < 0) {
    say(why, n, "closed the connection while berth was sending%s", NULL);
    return 0;
  }
  unsigned char buf[8192];
  size_t got = 0;
  for (;;) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int left = (int)(deadline - berth_now_ms());
    if (left <= 0 || poll(&pf, 1, left) <= 0) {
      say(why, n, "accepted a connection but did not answer in time%s", NULL);
      return 0;
    }
    ssize_t r = recv(fd, buf + got, sizeof(buf) - got - 1, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
      continue;
    if (r <= 0) {
      say(why, n,
          got ? "closed the connection mid-answer%s"
              : "closed the connection without "
                "answering%s",
          NULL);
      return 0;
    }
    got += (size_t)r;
    buf[got] = '\0';
    int v;
    switch (t->proto) {
    case BERTH_PROTO_POSTGRES:
      v = berth_probe_postgres_answer(buf, got, why, n);
      break;
    case BERTH_PROTO_REDIS:
      v = berth_probe_redis_answer((const char *)buf, got, why, n);
      break;
    case BERTH_PROTO_AMQP:
      v = berth_probe_amqp_answer(buf, got, why, n);
      break;
    default:
      v = berth_probe_http_answer((const char *)buf, got, why, n);
    }
    if (v >= 0)
      return v;
    if (got >= sizeof(buf) - 1)
      return 0;
  }
}
