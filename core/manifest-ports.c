/* A service's ports: the short form ("127.0.0.1:8080-8081:80-81/udp")
 * and the long one ({target, published, host_ip, protocol}). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "manifest-internal.h"

/* One mapping publishes at most this many ports: a range of 65,536 is a
 * typo or an attack, never a dev environment, and each port costs the
 * engine a proxy and iptables rules. */
#define MAX_RANGE 1000

/* A container range that is too large (each of its ports is published),
 * or a host range that starts at 0 (port 0 is "any free port", not the
 * first of a range): reported, false. A host range for one container
 * port ("8000-9000:80") publishes one port, the engine's pick: no cap. */
static bool range_ok(struct berth__reader *r, const struct berth_node *n, const char *path,
                     const char *what, const char *text, uint16_t lo, uint16_t hi) {
  if (hi > lo && lo == 0) {
    berth__error(r, n, path, "the %s range \"%s\" starts at 0; ranges start at 1", what, text);
    return false;
  }
  if (!strcmp(what, "container") && hi - lo + 1 > MAX_RANGE) {
    berth__error(r, n, path, "the %s range \"%s\" holds %d ports; write a range of at most %d",
                 what, text, hi - lo + 1, MAX_RANGE);
    return false;
  }
  return true;
}

static bool parse_range(const char *s, uint16_t *lo, uint16_t *hi) {
  char *end;
  errno = 0;
  long a = strtol(s, &end, 10);
  if (end == s || errno || a < 0 || a > 65535)
    return false;
  long b = a;
  if (*end == '-') {
    const char *t = end + 1;
    b = strtol(t, &end, 10);
    if (end == t || b < a || b > 65535)
      return false;
  }
  if (*end)
    return false;
  *lo = (uint16_t)a;
  *hi = (uint16_t)b;
  return true;
}

static void add_port(struct berth__reader *r, struct berth_service *s, const struct berth_node *n,
                     const char *ip, uint16_t hs, uint16_t he, uint16_t cs, uint16_t ce,
                     const char *proto) {
  struct berth_port *p = berth__grow(r, &s->ports, &s->n_ports, sizeof(*p));
  if (!p)
    return;
  p->host_ip = berth__strdup(r, ip && *ip ? ip : "127.0.0.1");
  p->host_start = hs;
  p->host_end = he;
  p->container_start = cs;
  p->container_end = ce;
  p->protocol = berth__strdup(r, proto && *proto ? proto : "tcp");
  p->pos = berth__pos_of(n);
}

static void read_port_short(struct berth__reader *r, struct berth_service *s,
                            const struct berth_node *n, const char *path) {
  _cleanup_free_ char *spec = strdup(n->value);
  if (!spec) {
    r->oom = true;
    return;
  }
  char *proto = strchr(spec, '/');
  if (proto)
    *proto++ = '\0';
  if (proto && strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp")) {
    berth__error(r, n, path, "unknown protocol \"%s\"; use tcp, udp or sctp", proto);
    return;
  }
  /* [ip:][host:]container; an IPv6 address is bracketed. */
  char *ip = NULL, *rest = spec;
  int colons = 0;
  for (const char *c = spec; *c; c++)
    colons += *c == ':';
  if (spec[0] != '[' && colons > 2) {
    /* An IPv6 address without brackets: "::1:6000:6000" — the last two
     * fields are the ports. */
    char *last = strrchr(spec, ':');
    *last = '\0';
    char *second = strrchr(spec, ':');
    *last = ':';
    *second = '\0';
    ip = spec;
    rest = second + 1;
  } else if (spec[0] == '[') {
    char *close = strchr(spec, ']');
    if (!close || close[1] != ':') {
      berth__error(r, n, path, "bad IPv6 address in \"%s\"; write [::1]:8080:80", n->value);
      return;
    }
    *close = '\0';
    ip = spec + 1;
    rest = close + 2;
  }
  /* Split on ':' keeping empty parts: "127.0.0.1::80" has no host port. */
  char *parts[3] = {0};
  int np = 0;
  for (char *t = rest;;) {
    char *colon = strchr(t, ':');
    if (np == 3) {
      np = 4;
      break;
    }
    parts[np++] = t;
    if (!colon)
      break;
    *colon = '\0';
    t = colon + 1;
  }
  if (np == 0 || np == 4 || (np == 3 && ip) || !*parts[np - 1]) {
    berth__error(r, n, path,
                 "\"%s\" is not a port mapping; write CONTAINER, HOST:CONTAINER or "
                 "IP:HOST:CONTAINER (ranges as 8000-8010)",
                 n->value);
    return;
  }
  const char *host = NULL, *cont = parts[np - 1];
  if (np == 2)
    host = parts[0];
  if (np == 3) {
    ip = parts[0];
    host = parts[1];
  }
  uint16_t hs = 0, he = 0, cs, ce;
  if (!parse_range(cont, &cs, &ce) || cs == 0) {
    berth__error(r, n, path, "\"%s\" is not a container port (1-65535, or a range 80-81)", cont);
    return;
  }
  if (host && *host && !parse_range(host, &hs, &he)) {
    berth__error(r, n, path, "\"%s\" is not a host port (1-65535, or a range 8000-8010)", host);
    return;
  }
  if (!range_ok(r, n, path, "container", cont, cs, ce) ||
      (host && *host && !range_ok(r, n, path, "host", host, hs, he)))
    return;
  if (hs && he - hs != ce - cs && he != hs && ce != cs) {
    berth__error(r, n, path, "the host range %s and the container range %s differ in size", host,
                 cont);
    return;
  }
  if (hs && he == hs && ce != cs) {
    /* "8080:80-81": the host range starts at 8080 and is as long. */
    if (hs + (ce - cs) > 65535) {
      berth__error(r, n, path,
                   "the host ports of \"%s\" would run from %u to %u, past 65535; start them "
                   "lower",
                   n->value, hs, hs + (ce - cs));
      return;
    }
    he = (uint16_t)(hs + (ce - cs));
  }
  add_port(r, s, n, ip, hs, he, cs, ce, proto);
}

/* ports: a list of short ("8080:80") or long ({target, published}) forms;
 * the long form's keys are read together (target decides the rest). */
void berth__read_ports(struct berth__reader *r, void *obj, const struct berth_node *n,
                       const char *path) {
  struct berth_service *s = ((struct berth__svc *)obj)->s;
  char p[BERTH__PATH_MAX], q[BERTH__PATH_MAX];
  if (berth_node_is_null(n))
    return;
  if (n->type != BERTH_NODE_SEQ) {
    berth__error(r, n, path, "expected a list of ports, found %s", berth_node_type_name(n));
    return;
  }
  static const struct berth__key long_keys[] = {{"target", NULL, 0},
                                                {"published", NULL, 0},
                                                {"host_ip", NULL, 0},
                                                {"protocol", NULL, 0},
                                                {"mode", NULL, BERTH__KEY_UNSUPPORTED},
                                                {"name", NULL, BERTH__KEY_UNSUPPORTED},
                                                {"app_protocol", NULL, BERTH__KEY_UNSUPPORTED},
                                                {0}};
  for (size_t i = 0; i < n->n; i++) {
    const struct berth_node *it = n->items[i];
    berth__pathf(p, "%s[%zu]", path, i);
    if (berth__is_scalar(it)) {
      read_port_short(r, s, it, p);
      continue;
    }
    if (it->type != BERTH_NODE_MAP) {
      berth__error(r, it, p,
                   "expected a port (\"8080:80\" or {target: 80, published: 8080}), found %s",
                   berth_node_type_name(it));
      continue;
    }
    berth__read_keys(r, it, p, long_keys, NULL);
    const struct berth_node *t = berth_node_get(it, "target");
    const struct berth_node *pub = berth_node_get(it, "published");
    uint16_t cs, ce, hs = 0, he = 0;
    if (!t || !berth__is_scalar(t) || !parse_range(t->value, &cs, &ce) || cs == 0 || ce != cs) {
      berth__error(r, t ? t : it, berth__pathf(q, "%s.target", p),
                   "expected the container port (1-65535)");
      continue;
    }
    if (pub && !berth_node_is_null(pub) &&
        (!berth__is_scalar(pub) || !parse_range(pub->value, &hs, &he))) {
      berth__error(r, pub, berth__pathf(q, "%s.published", p), "expected a host port or range");
      continue;
    }
    if (pub && berth__is_scalar(pub) &&
        !range_ok(r, pub, berth__pathf(q, "%s.published", p), "host", pub->value, hs, he))
      continue;
    _cleanup_free_ char *ip =
        berth__read_str(r, berth_node_get(it, "host_ip"), berth__pathf(q, "%s.host_ip", p));
    _cleanup_free_ char *proto =
        berth__read_str(r, berth_node_get(it, "protocol"), berth__pathf(q, "%s.protocol", p));
    add_port(r, s, it, ip, hs, he ? he : hs, cs, ce, proto);
  }
}
