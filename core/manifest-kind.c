/* Which Compose services are PostgreSQL, Redis or RabbitMQ, so that berth
 * waits for their protocol: the official image; a command or entrypoint
 * that runs the server (postgres, redis-server, rabbitmq-server); or a
 * healthcheck that asks it (pg_isready, redis-cli ping,
 * rabbitmq-diagnostics), unless that check names another host. And the
 * port the server listens on, from its flags or environment. x-berth-kind
 * says the kind outright; x-berth-wait: started keeps Compose's literal
 * meaning of a short depends_on (manifest-service.c reads both). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "manifest-internal.h"

#define MAX_TOKENS 256

const char *berth__kind_of_image(const char *image) {
  static const char *const kinds[] = {"postgres", "redis", "rabbitmq", NULL};
  /* The official image under any registry ("postgres", "docker.io/library/
   * postgres", "mirror:5000/library/redis"), or berth's local one; not
   * someone else's namespace (bitnami/redis). */
  const char *slash = strrchr(image, '/');
  const char *base = slash ? slash + 1 : image;
  if (slash) {
    size_t ns = (size_t)(slash - image);
    bool official =
        (ns >= 7 && !strncmp(slash - 7, "library", 7) && (ns == 7 || slash[-8] == '/')) ||
        (ns == 11 && !strncmp(image, "berth-local", 11));
    if (!official)
      return NULL;
  }
  size_t n = strcspn(base, ":@");
  for (const char *const *k = kinds; *k; k++)
    if (strlen(*k) == n && !strncmp(base, *k, n))
      return *k;
  return NULL;
}

/* The words of an argv, a shell string's words split out too ("sh -c
 * 'exec redis-server --port 6380'"), and shell operators as words of
 * their own. The words point into buf. */
struct tokens {
  char *buf;
  const char *v[MAX_TOKENS];
  size_t n;
};

static void tokenize(struct tokens *t, const struct berth_strv *a, const struct berth_strv *b) {
  size_t len = 1;
  for (size_t i = 0; a && i < a->n; i++)
    len += 2 * strlen(a->v[i]) + 2;
  for (size_t i = 0; b && i < b->n; i++)
    len += 2 * strlen(b->v[i]) + 2;
  if (!(t->buf = malloc(len)))
    return;
  char *w = t->buf;
  for (size_t k = 0; k < 2; k++) {
    const struct berth_strv *sv = k ? b : a;
    for (size_t i = 0; sv && i < sv->n; i++)
      for (const char *c = sv->v[i]; *c;) {
        c += strspn(c, " \t\n\"'");
        size_t op = strspn(c, ";&|()");
        size_t n = op ? op : strcspn(c, " \t\n\"';&|()");
        if (!n)
          continue;
        if (t->n < MAX_TOKENS) {
          memcpy(w, c, n);
          w[n] = '\0';
          t->v[t->n++] = w;
          w += n + 1;
        }
        c += n;
      }
  }
}

static const char *base_of(const char *s) {
  const char *slash = strrchr(s, '/');
  return slash ? slash + 1 : s;
}

/* Where a program starts: the first word, after an operator, or after
 * a launcher (exec, sh -c, the official images' entrypoint, tini). */
static bool program_at(const struct tokens *t, size_t i) {
  static const char *const before[] = {
      ";",    "&&",        "||",    "|", "(", "--", "exec", "-c", "docker-entrypoint.sh",
      "tini", "dumb-init", "nohup", NULL};
  if (i == 0)
    return true;
  for (const char *const *b = before; *b; b++)
    if (!strcmp(base_of(t->v[i - 1]), *b))
      return true;
  return false;
}

static const char *kind_of_command(const struct tokens *t) {
  for (size_t i = 0; i < t->n; i++) {
    const char *w = base_of(t->v[i]);
    if (!strcmp(w, "redis-server"))
      return "redis";
    if (!strcmp(w, "rabbitmq-server"))
      return "rabbitmq";
    if (!strcmp(w, "postgres") && program_at(t, i))
      return "postgres";
  }
  return NULL;
}

static bool local_host(const char *h, const struct berth_service *s) {
  return !strcmp(h, "localhost") || !strncmp(h, "127.", 4) || !strcmp(h, "::1") ||
         !strcmp(h, s->name) || (s->hostname && !strcmp(h, s->hostname)) ||
         !strncmp(h, "/", 1); /* a unix socket directory: its own server */
}

/* The value of a flag: "-p 5433", "-p5433", "--port=5433", "--port 5433". */
static const char *flag_value(const struct tokens *t, size_t i, const char *flag) {
  size_t n = strlen(flag);
  if (strncmp(t->v[i], flag, n))
    return NULL;
  if (t->v[i][n] == '\0')
    return i + 1 < t->n ? t->v[i + 1] : NULL;
  if (t->v[i][n] == '=' || (flag[1] != '-' && t->v[i][n] != '-'))
    return t->v[i] + n + (t->v[i][n] == '=');
  return NULL;
}

/* A check that asks its own server (not one that waits for another
 * service's, like `pg_isready -h db` in an app container). */
static const char *kind_of_check(const struct tokens *t, const struct berth_service *s) {
  const char *kind = NULL;
  bool ping = false;
  for (size_t i = 0; i < t->n; i++) {
    const char *w = base_of(t->v[i]);
    if (!strcmp(w, "pg_isready"))
      kind = "postgres";
    else if (!strcmp(w, "redis-cli"))
      kind = kind ? kind : "redis";
    else if (!strcmp(w, "rabbitmq-diagnostics"))
      kind = "rabbitmq";
    else if (!strcasecmp(w, "ping"))
      ping = true;
  }
  if (kind && !strcmp(kind, "redis") && !ping)
    return NULL;
  for (size_t i = 0; kind && i < t->n; i++) {
    const char *h = NULL;
    if (strcmp(kind, "rabbitmq")) {
      if (!(h = flag_value(t, i, "-h")))
        h = flag_value(t, i, "--host");
    } else if ((h = flag_value(t, i, "-n")) || (h = flag_value(t, i, "--node"))) {
      h = strchr(h, '@') ? strchr(h, '@') + 1 : NULL; /* rabbit@HOST */
    }
    if (h && !local_host(h, s))
      return NULL;
  }
  return kind;
}

static uint16_t port_of(const char *v) {
  char *end = NULL;
  long p = v ? strtol(v, &end, 10) : 0;
  return v && end != v && *end == '\0' && p > 0 && p < 65536 ? (uint16_t)p : 0;
}

static uint16_t port_flag(const struct tokens *t, const char *const *flags) {
  for (size_t i = 0; i < t->n; i++)
    for (const char *const *f = flags; *f; f++) {
      uint16_t p = port_of(flag_value(t, i, *f));
      if (p)
        return p;
    }
  return 0;
}

static const char *env_of(const struct berth_service *s, const char *key) {
  for (size_t i = 0; i < s->environment.n; i++)
    if (!strcmp(s->environment.v[i].key, key))
      return s->environment.v[i].value;
  return NULL;
}

/* The server's port when its flags or environment move it: postgres -p N
 * or -c port=N, PGPORT; redis-server --port N; RABBITMQ_NODE_PORT; else
 * what its own healthcheck asks (pg_isready -p, redis-cli -p). */
static uint16_t kind_port(const struct berth_service *s, const struct tokens *cmd,
                          const struct tokens *check) {
  static const char *const pg[] = {"-p", "--port", "port", NULL};
  static const char *const redis[] = {"--port", NULL};
  static const char *const cli[] = {"-p", "--port", NULL};
  uint16_t p = 0;
  if (!strcmp(s->kind, "postgres"))
    p = port_flag(cmd, pg) ? port_flag(cmd, pg) : port_of(env_of(s, "PGPORT"));
  else if (!strcmp(s->kind, "redis"))
    p = port_flag(cmd, redis);
  else
    p = port_of(env_of(s, "RABBITMQ_NODE_PORT"));
  return p ? p : strcmp(s->kind, "rabbitmq") ? port_flag(check, cli) : 0;
}

void berth__recognise_kind(struct berth__reader *r, struct berth_service *s) {
  struct tokens cmd = {0}, check = {0};
  tokenize(&cmd, &s->entrypoint, &s->command);
  tokenize(&check, s->probe.kind == BERTH_PROBE_EXEC ? &s->probe.exec : NULL, NULL);
  if (!cmd.buf || !check.buf) {
    r->oom = true;
  } else {
    const char *k = s->kind                                      ? NULL
                    : s->image && berth__kind_of_image(s->image) ? berth__kind_of_image(s->image)
                    : kind_of_command(&cmd)                      ? kind_of_command(&cmd)
                                                                 : kind_of_check(&check, s);
    if (k)
      s->kind = berth__strdup(r, k);
    if (s->kind)
      s->kind_port = kind_port(s, &cmd, &check);
  }
  free(cmd.buf);
  free(check.buf);
}
