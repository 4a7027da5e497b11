/* berth/probe.h: the answer parsers of PostgreSQL, Redis, AMQP and HTTP,
 * and berth_probe_once against a small server on 127.0.0.1 run in a
 * thread. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth/probe.h"

static char why[256];

#define PG(s)                                                                                      \
  berth_probe_postgres_answer((const unsigned char *)(s), sizeof(s) - 1, why, sizeof(why))
#define REDIS(s) berth_probe_redis_answer((s), sizeof(s) - 1, why, sizeof(why))
#define AMQP(s) berth_probe_amqp_answer((const unsigned char *)(s), sizeof(s) - 1, why, sizeof(why))
#define HTTP(s) berth_probe_http_answer((s), sizeof(s) - 1, why, sizeof(why))

/* An ErrorResponse as PostgreSQL 15 sends it while starting up. */
static const char pg_starting[] = "E\0\0\0\x68"
                                  "SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0"
                                  "Fpostmaster.c\0L2344\0RProcessStartupPacket\0\0";

static void test_postgres(void **state) {
  /* AuthenticationSASL: the server runs its protocol. */
  assert_int_equal(PG("R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0"), 1);
  assert_non_null(strstr(why, "authentication"));
  assert_int_equal(PG("R"), 1);
  assert_int_equal(berth_probe_postgres_answer((const unsigned char *)pg_starting,
                                               sizeof(pg_starting) - 1, why, sizeof(why)),
                   0);
  assert_non_null(strstr(why, "starting up"));
  /* A wrong role is a serving server. */
  assert_int_equal(PG("E\0\0\0\x33"
                      "SFATAL\0C28000\0Mrole \"postgres\" does not exist\0\0"),
                   1);
  assert_non_null(strstr(why, "does not exist"));
  /* Need more bytes: nothing, a header cut short, a body cut short. */
  assert_int_equal(berth_probe_postgres_answer((const unsigned char *)"", 0, why, sizeof(why)), -1);
  assert_int_equal(PG("E\0\0"), -1);
  assert_int_equal(
      berth_probe_postgres_answer((const unsigned char *)pg_starting, 40, why, sizeof(why)), -1);
  /* Garbage and impossible lengths are not ready, never a wait. */
  assert_int_equal(PG("HTTP/1.1 400 Bad Request\r\n"), 0);
  assert_non_null(strstr(why, "not PostgreSQL"));
  assert_int_equal(PG("E\xff\xff\xff\xff"), 0);
  assert_int_equal(PG("E\0\x10\0\0"), 0);
  assert_int_equal(PG("E\0\0\0\x02"), 0);
  /* A field without its NUL: read no further, still an answer. */
  assert_int_equal(PG("E\0\0\0\x0a"
                      "C57P03"),
                   1);
}

static void test_redis(void **state) {
  assert_int_equal(REDIS("+PONG\r\n"), 1);
  assert_int_equal(REDIS("+OK\r\n"), 1);
  assert_int_equal(REDIS("-NOAUTH Authentication required.\r\n"), 1);
  assert_non_null(strstr(why, "password"));
  assert_int_equal(REDIS("-WRONGPASS invalid username-password pair\r\n"), 1);
  assert_int_equal(REDIS("-LOADING Redis is loading the dataset in memory\r\n"), 0);
  assert_non_null(strstr(why, "LOADING"));
  assert_int_equal(REDIS("-MASTERDOWN Link with MASTER is down\r\n"), 0);
  assert_int_equal(REDIS("+PON"), -1);
  assert_int_equal(berth_probe_redis_answer("", 0, why, sizeof(why)), -1);
  assert_int_equal(REDIS("\x16\x03\x01\x02\0\n"), 0);
  /* A line that never ends is not ready once it is long. */
  char *big = malloc(5000);
  assert_non_null(big);
  memset(big, 'x', 5000);
  assert_int_equal(berth_probe_redis_answer(big, 5000, why, sizeof(why)), 0);
  assert_int_equal(berth_probe_redis_answer(big, 100, why, sizeof(why)), -1);
  /* A long first line is cut in why, not overflowed. */
  memset(big, 'y', 5000);
  big[0] = '-';
  big[4999] = '\n';
  assert_int_equal(berth_probe_redis_answer(big, 5000, why, sizeof(why)), 0);
  assert_true(strlen(why) < sizeof(why));
  free(big);
}

static void test_amqp(void **state) {
  /* RabbitMQ's Connection.Start frame, cut after the method id. */
  assert_int_equal(AMQP("\x01\x00\x00\x00\x00\x01\xfc\x00\x0a\x00\x0a\x00\x09"), 1);
  assert_non_null(strstr(why, "Connection.Start"));
  assert_int_equal(AMQP("AMQP\x00\x00\x09\x01"), 0);
  assert_non_null(strstr(why, "refused"));
  assert_int_equal(AMQP("\x01\x00\x00\x00\x00"), -1);
  assert_int_equal(berth_probe_amqp_answer((const unsigned char *)"", 0, why, sizeof(why)), -1);
  /* Connection.Close (10, 50) or another channel is not a start. */
  assert_int_equal(AMQP("\x01\x00\x00\x00\x00\x01\xfc\x00\x0a\x00\x32"), 0);
  assert_int_equal(AMQP("\x01\x00\x01\x00\x00\x01\xfc\x00\x0a\x00\x0a"), 0);
  assert_int_equal(AMQP("HTTP/1.1 400 Bad"), 0);
}

static void test_http_status_line(void **state) {
  assert_int_equal(HTTP("HTTP/1.1 200 OK\r\n"), 1);
  assert_int_equal(HTTP("HTTP/1.0 204\r\n"), 1);
  assert_int_equal(HTTP("HTTP/2 299 Fine\n"), 1);
  assert_int_equal(HTTP("HTTP/1.1 503 Service Unavailable\r\n"), 0);
  assert_non_null(strstr(why, "503"));
  assert_int_equal(HTTP("HTTP/1.1 301 Moved\r\n"), 0);
  assert_int_equal(HTTP("HTTP/1.1 200"), -1);
  assert_int_equal(HTTP("HTTP/1.1 99999999999999999999 Big\r\n"), 0);
  assert_int_equal(HTTP("HTTP/1.1 2000 OK\r\n"), 0);
  assert_int_equal(HTTP("SSH-2.0-OpenSSH_9.2\r\n"), 0);
  assert_int_equal(HTTP("HTTP/ 200 OK\r\n"), 0);
  assert_int_equal(berth_probe_http_answer("", 0, why, sizeof(why)), -1);
}

/* ---- berth_probe_once against a listener on 127.0.0.1 ---- */

struct server {
  int fd;
  uint16_t port;
  const char *answer; /* NULL: accept and close */
  bool hold;          /* after answering, keep the connection until the client closes it */
  pthread_t th;
  char request[2048];
};

static void *serve(void *arg) {
  struct server *sv = arg;
  int c = accept(sv->fd, NULL, NULL);
  if (c < 0)
    return NULL;
  size_t got = 0;
  if (sv->answer) {
    /* Reads until the request is whole (HTTP: a blank line), then answers. */
    while (got < sizeof(sv->request) - 1) {
      ssize_t r = recv(c, sv->request + got, sizeof(sv->request) - 1 - got, 0);
      if (r <= 0)
        break;
      got += (size_t)r;
      sv->request[got] = '\0';
      if (strncmp(sv->request, "GET ", 4) || strstr(sv->request, "\r\n\r\n"))
        break;
    }
    if (send(c, sv->answer, strlen(sv->answer), MSG_NOSIGNAL) < 0)
      perror("send");
    char sink[256];
    while (sv->hold && recv(c, sink, sizeof(sink), 0) > 0)
      ;
  }
  close(c);
  return NULL;
}

static void server_start_holding(struct server *sv, const char *answer, bool hold) {
  memset(sv, 0, sizeof(*sv));
  sv->answer = answer;
  sv->hold = hold;
  sv->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(sv->fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof(a);
  assert_int_equal(bind(sv->fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(sv->fd, 4), 0);
  assert_int_equal(getsockname(sv->fd, (struct sockaddr *)&a, &al), 0);
  sv->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&sv->th, NULL, serve, sv), 0);
}

static void server_start(struct server *sv, const char *answer) {
  server_start_holding(sv, answer, false);
}

static void server_stop(struct server *sv) {
  shutdown(sv->fd, SHUT_RDWR); /* wakes an accept that never came */
  pthread_join(sv->th, NULL);
  close(sv->fd);
}

static int probe(enum berth_probe_proto proto, uint16_t port, const char *path) {
  struct berth_probe_target t = {
      .proto = proto, .host = "127.0.0.1", .port = port, .http_path = path, .timeout_ms = 2000};
  return berth_probe_once(&t, why, sizeof(why));
}

static void test_once_http(void **state) {
  /* A proxy from the environment is never used for a container. */
  setenv("http_proxy", "http://127.0.0.1:9", 1);
  setenv("HTTP_PROXY", "http://127.0.0.1:9", 1);
  struct server sv;
  server_start(&sv, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  assert_int_equal(probe(BERTH_PROTO_HTTP, sv.port, "/health"), 1);
  server_stop(&sv);
  assert_non_null(strstr(why, "200"));
  assert_true(!strncmp(sv.request, "GET /health HTTP/1.", 19));

  server_start(&sv, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
  assert_int_equal(probe(BERTH_PROTO_HTTP, sv.port, NULL), 0);
  server_stop(&sv);
  assert_non_null(strstr(why, "503"));
  assert_true(!strncmp(sv.request, "GET / HTTP/1.", 13));

  /* A health endpoint that streams (or sends a large body slowly) is
   * ready once its status is 2xx: the probe does not wait for the body. */
  server_start_holding(&sv, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nstreaming...", true);
  assert_int_equal(probe(BERTH_PROTO_HTTP, sv.port, "/events"), 1);
  server_stop(&sv);
  assert_non_null(strstr(why, "200"));
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
}

static void test_once_tcp_and_protocols(void **state) {
  struct server sv;
  server_start(&sv, NULL);
  assert_int_equal(probe(BERTH_PROTO_TCP, sv.port, NULL), 1);
  server_stop(&sv);

  server_start(&sv, "-LOADING Redis is loading the dataset in memory\r\n");
  assert_int_equal(probe(BERTH_PROTO_REDIS, sv.port, NULL), 0);
  server_stop(&sv);
  assert_non_null(strstr(why, "LOADING"));
  assert_string_equal(sv.request, "PING\r\n");

  server_start(&sv, "+PONG\r\n");
  assert_int_equal(probe(BERTH_PROTO_REDIS, sv.port, NULL), 1);
  server_stop(&sv);

  /* Accepts and closes without answering. */
  server_start(&sv, "");
  assert_int_equal(probe(BERTH_PROTO_POSTGRES, sv.port, NULL), 0);
  server_stop(&sv);
  assert_non_null(strstr(why, "without answering"));
  assert_int_equal(sv.request[4], 0); /* the StartupMessage: protocol 3.0 */
  assert_int_equal(sv.request[5], 3);
}

/* A listener nobody accepts on: the kernel completes the handshake, no
 * one answers, the attempt ends at its timeout. */
static void test_once_silent(void **state) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof(a);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(fd, 4), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
  struct berth_probe_target t = {
      .proto = BERTH_PROTO_HTTP, .host = "127.0.0.1", .port = ntohs(a.sin_port), .timeout_ms = 300};
  assert_int_equal(berth_probe_once(&t, why, sizeof(why)), 0);
  assert_non_null(strstr(why, "did not answer in time"));
  t.proto = BERTH_PROTO_REDIS;
  assert_int_equal(berth_probe_once(&t, why, sizeof(why)), 0);
  assert_non_null(strstr(why, "did not answer in time"));
  close(fd);
}

static void test_once_refused(void **state) {
  /* A port that was just free: nobody listens on it. */
  struct server sv;
  server_start(&sv, NULL);
  uint16_t port = sv.port;
  server_stop(&sv);
  assert_int_equal(probe(BERTH_PROTO_TCP, port, NULL), 0);
  assert_non_null(strstr(why, "refused"));
  assert_int_equal(probe(BERTH_PROTO_HTTP, port, "/"), 0);
  assert_non_null(strstr(why, "refused"));
  assert_int_equal(probe(BERTH_PROTO_POSTGRES, port, NULL), 0);
  struct berth_probe_target bad = {.proto = BERTH_PROTO_TCP, .host = NULL, .port = 1};
  assert_true(berth_probe_once(&bad, why, sizeof(why)) < 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_postgres),    cmocka_unit_test(test_redis),
      cmocka_unit_test(test_amqp),        cmocka_unit_test(test_http_status_line),
      cmocka_unit_test(test_once_http),   cmocka_unit_test(test_once_tcp_and_protocols),
      cmocka_unit_test(test_once_silent), cmocka_unit_test(test_once_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
