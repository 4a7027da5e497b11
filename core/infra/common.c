/* The table of kinds and what the kinds share: quoting and encoding of
 * what they write into URLs, SQL and shell, and their credentials. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "infra.h"

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

static char *quote(const char *s, char q, const char *escaped) {
  struct berth_buf b = BERTH_BUF_INIT(1 << 16);
  int r = berth_buf_add(&b, &q, 1);
  for (; *s && r >= 0; s++)
    r = *s == q ? berth_buf_add(&b, escaped, strlen(escaped)) : berth_buf_add(&b, s, 1);
  if (r >= 0)
    r = berth_buf_add(&b, &q, 1);
  if (r < 0) {
    berth_buf_release(&b);
    return NULL;
  }
  return berth_buf_detach(&b);
}

char *berth__sql_literal(const char *s) {
  return quote(s, '\'', "''");
}

char *berth__sh_quote(const char *s) {
  return quote(s, '\'', "'\\''");
}

int berth__infra_secret(const struct berth__infra_ctx *c, const char *given, const char *key,
                        char **ret, berth_err *err) {
  if (given)
    return (*ret = strdup(given)) ? 0 : berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  return c->secret(c->ud, c->in->name, key, ret, err);
}
