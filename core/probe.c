/* Protocol probes with a deadline per attempt: PostgreSQL, Redis and AMQP
 * over a plain socket (a request, then the answer fed to its parser until
 * it decides), HTTP through libcurl, TCP as an accepted connection. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "berth/clock.h"
#include "berth/probe.h"
#include "cleanup.h"

/* The biggest answer a parser is given; an answer that does not decide
 * within it is not ready. */
#define ANSWER_MAX 8192

static void say(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t n, const char *fmt, ...) {
  if (!why || !n)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, n, fmt, ap);
  va_end(ap);
}

/* ---- the answer parsers: 1 ready, 0 not ready, -1 need more bytes ---- */

/* Reads the fields of an ErrorResponse body (type byte, NUL-terminated
 * string, ...): C is the SQLSTATE, M the message. */
static void pg_error_fields(const unsigned char *b, size_t end, const char **code,
                            const char **msg) {
  for (size_t i = 5; i < end && b[i];) {
    char type = (char)b[i++];
    const char *s = (const char *)b + i;
    size_t sl = strnlen(s, end - i);
    if (i + sl >= end)
      return; /* a field without its NUL: malformed, read no further */
    if (type == 'C')
      *code = s;
    if (type == 'M')
      *msg = s;
    i += sl + 1;
  }
}

int berth_probe_postgres_answer(const unsigned char *b, size_t len, char *why, size_t n) {
  if (len < 1)
    return -1;
  /* 'R' authentication request (any method) means the server runs its
   * protocol; 'E' carries a SQLSTATE. */
  if (b[0] == 'R') {
    say(why, n, "answered with an authentication request");
    return 1;
  }
  if (b[0] != 'E') {
    say(why, n, "answered something that is not PostgreSQL");
    return 0;
  }
  if (len < 5)
    return -1;
  uint32_t msglen = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
  if (msglen < 4 || msglen > 65536) {
    say(why, n, "answered an error message of impossible length %u", msglen);
    return 0;
  }
  if (len < 1 + (size_t)msglen)
    return -1;
  const char *code = NULL, *msg = NULL;
  pg_error_fields(b, 1 + (size_t)msglen, &code, &msg);
  /* 57P03 cannot_connect_now: starting up, shutting down, recovering. */
  if (code && !strcmp(code, "57P03")) {
    say(why, n, "not accepting connections yet: %s", msg ? msg : code);
    return 0;
  }
  say(why, n, "answered: %s", msg ? msg : "an error");
  return 1; /* e.g. a wrong role: the server is serving */
}

/* The first line of an answer, without its CR, at most 200 bytes; false
 * when no line is complete yet. */
static bool first_line(const char *b, size_t len, char *line, size_t size) {
  const char *nl = len ? memchr(b, '\n', len) : NULL;
  if (!nl)
    return false;
  int l = (int)(nl - b);
  snprintf(line, size, "%.*s", l > 200 ? 200 : l, b);
  line[strcspn(line, "\r")] = '\0';
  return true;
}

int berth_probe_redis_answer(const char *b, size_t len, char *why, size_t n) {
  char line[256];
  if (!first_line(b, len, line, sizeof(line)))
    return len > 4096 ? 0 : -1;
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
    say(why, n, "refused AMQP 0-9-1");
    return 0;
  }
  if (len < 11)
    return -1;
  if (b[0] == 1 && b[1] == 0 && b[2] == 0 && b[7] == 0 && b[8] == 10 && b[9] == 0 && b[10] == 10) {
    say(why, n, "answered Connection.Start");
    return 1;
  }
  say(why, n, "answered something that is not AMQP");
  return 0;
}

int berth_probe_http_answer(const char *b, size_t len, char *why, size_t n) {
  char line[256];
  if (!first_line(b, len, line, sizeof(line)))
    return len > ANSWER_MAX ? 0 : -1;
  /* HTTP/d.d SP ddd: parsed by hand, no sscanf overflow on odd input. */
  const char *p = line;
  bool ok = !strncmp(p, "HTTP/", 5);
  if (ok) {
    p += 5;
    while (*p >= '0' && *p <= '9')
      p++;
    if (*p == '.')
      p++;
    while (*p >= '0' && *p <= '9')
      p++;
    ok = p > line + 5 && *p == ' ' && p[1] >= '1' && p[1] <= '5' && p[2] >= '0' && p[2] <= '9' &&
         p[3] >= '0' && p[3] <= '9' && (!p[4] || p[4] == ' ');
  }
  if (!ok) {
    say(why, n, "answered something that is not HTTP");
    return 0;
  }
  say(why, n, "answered %s", line);
  return p[1] == '2';
}

/* ---- sockets ---- */

/* Waits for events on fd until the deadline; false on timeout. */
static bool wait_fd(int fd, short events, int64_t deadline) {
  struct pollfd p = {.fd = fd, .events = events};
  int left = (int)(deadline - berth_now_ms());
  return left > 0 && poll(&p, 1, left) > 0;
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
  if (!wait_fd(fd, POLLOUT, deadline)) {
    say(why, n, "connect: timed out");
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
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_fd(fd, POLLOUT, deadline))
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

/* ---- the protocols that speak first after a request ---- */

/* StartupMessage v3.0 for user postgres: any answer but 57P03 is the
 * server serving. */
static size_t postgres_request(const struct berth_probe_target *t, unsigned char *req,
                               size_t size) {
  static const char params[] = "user\0postgres\0database\0postgres\0";
  uint32_t len = 8 + sizeof(params); /* includes the final NUL */
  if (len > size)
    return 0;
  req[0] = (unsigned char)(len >> 24);
  req[1] = (unsigned char)(len >> 16);
  req[2] = (unsigned char)(len >> 8);
  req[3] = (unsigned char)len;
  req[4] = 0, req[5] = 3, req[6] = 0, req[7] = 0;
  memcpy(req + 8, params, sizeof(params));
  return len;
}

static size_t redis_request(const struct berth_probe_target *t, unsigned char *req, size_t size) {
  int l = t->password && *t->password
              ? snprintf((char *)req, size, "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n",
                         strlen(t->password), t->password)
              : snprintf((char *)req, size, "PING\r\n");
  return l > 0 && (size_t)l < size ? (size_t)l : 0;
}

static size_t amqp_request(const struct berth_probe_target *t, unsigned char *req, size_t size) {
  memcpy(req, "AMQP\0\0\x09\x01", 8);
  return 8;
}

static int postgres_parse(const unsigned char *b, size_t len, char *why, size_t n) {
  return berth_probe_postgres_answer(b, len, why, n);
}

static int redis_parse(const unsigned char *b, size_t len, char *why, size_t n) {
  return berth_probe_redis_answer((const char *)b, len, why, n);
}

struct dialogue {
  size_t (*request)(const struct berth_probe_target *t, unsigned char *req, size_t size);
  int (*parse)(const unsigned char *b, size_t len, char *why, size_t n);
};

static const struct dialogue dialogues[] = {
    [BERTH_PROTO_POSTGRES] = {postgres_request, postgres_parse},
    [BERTH_PROTO_REDIS] = {redis_request, redis_parse},
    [BERTH_PROTO_AMQP] = {amqp_request, berth_probe_amqp_answer},
};

/* Sends the request and reads the answer until the parser decides, the
 * peer closes, the buffer is full or the deadline passes. */
static int converse(int fd, const struct berth_probe_target *t, const struct dialogue *dg,
                    int64_t deadline, char *why, size_t n) {
  unsigned char req[512];
  size_t rl = dg->request(t, req, sizeof(req));
  if (!rl) {
    say(why, n, "the probe's request does not fit in %zu bytes", sizeof(req));
    return 0;
  }
  if (send_all(fd, req, rl, deadline) < 0) {
    say(why, n, "closed the connection while berth was sending");
    return 0;
  }
  unsigned char buf[ANSWER_MAX + 1];
  size_t got = 0;
  while (got < ANSWER_MAX) {
    if (!wait_fd(fd, POLLIN, deadline)) {
      say(why, n, "accepted a connection but did not answer in time");
      return 0;
    }
    ssize_t r = recv(fd, buf + got, ANSWER_MAX - got, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
      continue;
    if (r <= 0) {
      say(why, n,
          got ? "closed the connection mid-answer" : "closed the connection without answering");
      return 0;
    }
    got += (size_t)r;
    buf[got] = '\0';
    int v = dg->parse(buf, got, why, n);
    if (v >= 0)
      return v;
  }
  say(why, n, "answered %zu bytes without a complete answer", got);
  return 0;
}

/* ---- HTTP through libcurl ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void) {
  curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The status is all a probe needs: the transfer ends at the end of the
 * headers of the final answer (not a 1xx), so an endpoint that streams or
 * sends a large body still answers in time. */
struct http_seen {
  CURL *c;
  bool headers_done;
};

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud) {
  struct http_seen *h = ud;
  size_t len = size * nmemb;
  if (len <= 2 && (data[0] == '\r' || data[0] == '\n')) {
    long status = 0;
    curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200) {
      h->headers_done = true;
      return 0; /* stop here: the status is known */
    }
  }
  return len;
}

static size_t discard(char *data, size_t size, size_t nmemb, void *ud) {
  return size * nmemb;
}

/* Says why an attempt failed in the words the socket probes use. */
static void curl_why(CURL *c, CURLcode rc, const char *errbuf, char *why, size_t n) {
  long oserr = 0;
  double connected = 0;
  curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
  curl_easy_getinfo(c, CURLINFO_CONNECT_TIME, &connected);
  if (rc == CURLE_COULDNT_CONNECT && oserr)
    say(why, n, "connect: %s", strerror((int)oserr));
  else if (rc == CURLE_OPERATION_TIMEDOUT)
    say(why, n,
        connected > 0 ? "accepted a connection but did not answer in time" : "connect: timed out");
  else
    say(why, n, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
}

static int probe_http(const struct berth_probe_target *t, int timeout_ms, char *why, size_t n) {
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK) {
    say(why, n, "cannot initialise libcurl");
    return 0;
  }
  const char *path = t->http_path && *t->http_path ? t->http_path : "/";
  char url[1024];
  int ul = snprintf(url, sizeof(url), "http://%s:%u%s%s", t->host, t->port,
                    path[0] == '/' ? "" : "/", path);
  if (ul < 0 || (size_t)ul >= sizeof(url)) {
    say(why, n, "the probe's URL is too long");
    return 0;
  }
  _cleanup_curl_ CURL *c = curl_easy_init();
  if (!c) {
    say(why, n, "out of memory");
    return 0;
  }
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* the container, never through a proxy */
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "berth-probe");
  struct http_seen seen = {.c = c};
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &seen);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && seen.headers_done)) {
    curl_why(c, rc, errbuf, why, n);
    return 0;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  say(why, n, "answered HTTP %ld", status);
  return status >= 200 && status < 300;
}

int berth_probe_once(const struct berth_probe_target *t, char *why, size_t n) {
  if (!t || !t->host || !t->port)
    return -BERTH_E_INVALID;
  int timeout_ms = t->timeout_ms > 0 ? t->timeout_ms : 1000;
  if (t->proto == BERTH_PROTO_HTTP)
    return probe_http(t, timeout_ms, why, n);
  const struct dialogue *dg = NULL;
  if (t->proto != BERTH_PROTO_TCP) {
    if ((size_t)t->proto >= sizeof(dialogues) / sizeof(dialogues[0]) ||
        !dialogues[t->proto].request)
      return -BERTH_E_INVALID;
    dg = &dialogues[t->proto];
  }
  int64_t deadline = berth_now_ms() + timeout_ms;
  _cleanup_close_ int fd = dial(t, deadline, why, n);
  if (fd < 0)
    return 0;
  if (!dg) {
    say(why, n, "accepted a connection");
    return 1;
  }
  return converse(fd, t, dg, deadline, why, n);
}
