/* The table of kinds and what the kinds share: quoting and encoding of
 * what they write into URLs, SQL and shell, and their credentials. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "infra.h"
#include "manifest-internal.h"

/* Adding a kind: its file, and one line here (CONTRIBUTING.md). */
const struct berth__infra_kind *const berth__infra_kinds[] = {
    &berth__infra_postgres,
    &berth__infra_redis,
    &berth__infra_rabbitmq,
    NULL,
};

const struct berth__infra_kind *berth__infra_kind_find(const char *name) {
  for (size_t i = 0; name && berth__infra_kinds[i]; i++)
    if (!strcmp(berth__infra_kinds[i]->name, name))
      return berth__infra_kinds[i];
  return NULL;
}

const struct berth__infra_kind *berth__infra_kind_of(enum berth_infra_kind id) {
  for (size_t i = 0; berth__infra_kinds[i]; i++)
    if (berth__infra_kinds[i]->id == id)
      return berth__infra_kinds[i];
  return NULL;
}

const struct berth__infra_kind *berth__infra_kind_by_port(uint16_t port) {
  for (size_t i = 0; berth__infra_kinds[i]; i++)
    if (berth__infra_kinds[i]->port == port)
      return berth__infra_kinds[i];
  return NULL;
}

void berth__infra_container_release(struct berth__infra_container *c) {
  berth_strv_release(&c->env);
  berth_strv_release(&c->cmd);
  berth_strv_release(&c->exec_env);
  free(c->probe_password);
  free(c->provision);
  free(c->file);
  *c = (struct berth__infra_container){0};
}

char *berth__pct(const char *s) {
  char *out = malloc(strlen(s) * 3 + 1), *o = out;
  if (!out)
    return NULL;
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (isalnum(*c) || strchr("-._~", *c))
      *o++ = (char)*c;
    else
      o += sprintf(o, "%%%02X", *c);
  }
  *o = '\0';
  return out;
}

bool berth__safe_ident(const char *s) {
  if (!s || !*s || strlen(s) > 63 || !(isalpha((unsigned char)*s) || *s == '_'))
    return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
      return false;
  return true;
}

bool berth__env_name_ok(const char *s) {
  if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
    return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_')
      return false;
  return true;
}

static bool ident_ok(const char *s, enum berth__ident kind) {
  switch (kind) {
  case BERTH__IDENT_VHOST:
    return !strcmp(s, "/") || berth__safe_ident(s);
  case BERTH__IDENT_VAR:
    return berth__env_name_ok(s);
  case BERTH__IDENT_NAME:
    break;
  }
  return berth__safe_ident(s);
}

bool berth__check_ident(struct berth__reader *r, const struct berth_node *n, const char *path,
                        const char *what, enum berth__ident kind) {
  if (!berth__is_scalar(n) || ident_ok(n->value, kind))
    return true;
  static const char *const allowed[] = {
      [BERTH__IDENT_NAME] = "use letters, digits, _ and -, at most 63, not starting with a digit",
      [BERTH__IDENT_VHOST] =
          "use / or letters, digits, _ and -, at most 63, not starting with a digit",
      [BERTH__IDENT_VAR] = "use letters, digits and _, not starting with a digit",
  };
  /* A hostile name may be long: the message shows its start. */
  berth__error(r, n, path, "\"%.64s%s\" is not a valid %s: %s", n->value,
               strlen(n->value) > 64 ? "..." : "", what, allowed[kind]);
  return false;
}

void berth__check_idents(struct berth__reader *r, const struct berth_node *n, const char *path,
                         const char *what, enum berth__ident kind) {
  char p[BERTH__PATH_MAX];
  if (n && n->type == BERTH_NODE_SEQ)
    for (size_t i = 0; i < n->n; i++)
      berth__check_ident(r, n->items[i], berth__pathf(p, "%s[%zu]", path, i), what, kind);
  else
    berth__check_ident(r, n, path, what, kind);
}

char *berth__read_secret(struct berth__reader *r, const struct berth_node *n, const char *path) {
  char *s = berth__read_str(r, n, path);
  if (s && strlen(s) > BERTH__SECRET_MAX) {
    berth__error(r, n, path, "a password of %zu bytes is too long; use at most %d", strlen(s),
                 BERTH__SECRET_MAX);
    free(s);
    return NULL;
  }
  return s;
}

/* What a quoted value may grow to: far beyond any name or password the
 * manifest accepts (BERTH__SECRET_MAX), so only a bug reaches it. */
#define QUOTED_MAX (1 << 16)

static int quote(const char *s, char q, const char *escaped, char **ret, berth_err *err) {
  struct berth_buf b = BERTH_BUF_INIT(QUOTED_MAX);
  size_t len = strlen(s);
  int r = berth_buf_add(&b, &q, 1);
  for (const char *c = s; *c && r >= 0; c++)
    r = *c == q ? berth_buf_add(&b, escaped, strlen(escaped)) : berth_buf_add(&b, c, 1);
  if (r >= 0)
    r = berth_buf_add(&b, &q, 1);
  if (r < 0) {
    berth_buf_release(&b);
    /* Never a value cut short: its quote would stay open. */
    return r == -BERTH_E_TOO_BIG
               ? berth_err_set(err, BERTH_E_TOO_BIG,
                               "a value of %zu bytes is too long to quote (at most %d KiB quoted)",
                               len, QUOTED_MAX >> 10)
               : berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  }
  *ret = berth_buf_detach(&b);
  return 0;
}

int berth__sql_literal(const char *s, char **ret, berth_err *err) {
  return quote(s, '\'', "''", ret, err);
}

int berth__sh_quote(const char *s, char **ret, berth_err *err) {
  return quote(s, '\'', "'\\''", ret, err);
}

int berth__infra_secret(const struct berth__infra_ctx *c, const char *given, const char *key,
                        char **ret, berth_err *err) {
  if (given)
    return (*ret = strdup(given)) ? 0 : berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  return c->secret(c->ud, c->in->name, key, ret, err);
}
