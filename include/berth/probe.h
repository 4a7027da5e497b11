/* Readiness probes that speak each server's own protocol, so "ready" means
 * the server answers, not that a process exists. One attempt per call;
 * the engine repeats them. */
#ifndef BERTH_PROBE_H
#define BERTH_PROBE_H

#include <stdint.h>

#include "berth/err.h"

enum berth_probe_proto {
  BERTH_PROTO_TCP,      /* a connection is accepted */
  BERTH_PROTO_HTTP,     /* GET path answers 2xx */
  BERTH_PROTO_POSTGRES, /* StartupMessage answered with an auth request or ReadyForQuery */
  BERTH_PROTO_REDIS,    /* PING answered (PONG, or NOAUTH: the server is serving) */
  BERTH_PROTO_AMQP,     /* AMQP 0-9-1 header answered with Connection.Start */
};

struct berth_probe_target {
  enum berth_probe_proto proto;
  const char *host; /* IPv4 address */
  uint16_t port;
  const char *http_path;
  const char *password; /* redis AUTH, when set */
  int timeout_ms;       /* per attempt */
};

/* Returns 1 when ready, 0 when not yet (what was seen goes to *ret_why,
 * a static or caller-provided buffer of why_size), < 0 only on bad
 * arguments. */
int berth_probe_once(const struct berth_probe_target *t, char *why, size_t why_size);

/* Pure parsers of the first bytes a server answers (unit-tested). Return
 * 1 ready, 0 not ready, -1 need more bytes. why as above. */
int berth_probe_postgres_answer(const unsigned char *buf, size_t len, char *why, size_t why_size);
int berth_probe_redis_answer(const char *buf, size_t len, char *why, size_t why_size);
int berth_probe_amqp_answer(const unsigned char *buf, size_t len, char *why, size_t why_size);
int berth_probe_http_answer(const char *buf, size_t len, char *why, size_t why_size);

#endif
