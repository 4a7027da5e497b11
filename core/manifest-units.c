/* The units a manifest writes values in (CPU, bytes, durations) and
 * paths resolved against the directory of the file that names them. */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "manifest-internal.h"

int berth_parse_cpu(const char *s, int64_t *ret) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || v < 0 || !isfinite(v))
    return -BERTH_E_INVALID;
  if (isspace((unsigned char)*s) || v > 1e12) /* a million cores is no laptop */
    return -BERTH_E_INVALID;
  if (!strcmp(end, "m")) {
    if (v != floor(v))
      return -BERTH_E_INVALID;
    *ret = (int64_t)v;
  } else if (!*end) {
    *ret = (int64_t)llround(v * 1000);
  } else {
    return -BERTH_E_INVALID;
  }
  return 0;
}

int berth_parse_bytes(const char *s, bool compose, int64_t *ret) {
  static const struct {
    const char *suffix;
    double k8s, compose; /* 0: not valid in that reading */
  } units[] = {
      {"", 1, 1},
      {"b", 0, 1},
      {"Ki", 1024.0, 0},
      {"Mi", 1048576.0, 0},
      {"Gi", 1073741824.0, 0},
      {"Ti", 1099511627776.0, 0},
      {"k", 1e3, 1024.0},
      {"M", 1e6, 1048576.0},
      {"G", 1e9, 1073741824.0},
      {"T", 1e12, 0},
      {"K", 0, 1024.0},
      {"kb", 0, 1024.0},
      {"KB", 0, 1024.0},
      {"m", 0, 1048576.0},
      {"mb", 0, 1048576.0},
      {"MB", 0, 1048576.0},
      {"g", 0, 1073741824.0},
      {"gb", 0, 1073741824.0},
      {"GB", 0, 1073741824.0},
  };
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || v < 0 || !isfinite(v) || isspace((unsigned char)*s))
    return -BERTH_E_INVALID;
  for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++) {
    double mul = compose ? units[i].compose : units[i].k8s;
    if (mul && !strcmp(end, units[i].suffix)) {
      double b = v * mul;
      if (b > 9.2e18)
        return -BERTH_E_INVALID;
      *ret = (int64_t)llround(b);
      return 0;
    }
  }
  return -BERTH_E_INVALID;
}

int berth_parse_duration_ms(const char *s, int64_t *ret) {
  static const struct {
    const char *unit;
    double ms;
  } units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"µs", 1e-3},  {"ms", 1},
               {"s", 1000},  {"m", 60000}, {"h", 3600000}};
  if (!*s)
    return -BERTH_E_INVALID;
  char *end;
  if (!isdigit((unsigned char)*s) && *s != '.')
    return -BERTH_E_INVALID; /* no sign, space, "inf" or hex */
  double v = strtod(s, &end);
  if (end != s && !*end && v >= 0) { /* a bare number: seconds */
    if (!isfinite(v) || v > 9.2e12 || strpbrk(s, "xX"))
      return -BERTH_E_INVALID;
    *ret = (int64_t)llround(v * 1000);
    return 0;
  }
  double total = 0;
  const char *p = s;
  while (*p) {
    if (!isdigit((unsigned char)*p) && *p != '.')
      return -BERTH_E_INVALID;
    v = strtod(p, &end);
    if (end == p)
      return -BERTH_E_INVALID;
    p = end;
    size_t best = 0;
    double mul = 0;
    for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++) {
      size_t n = strlen(units[i].unit);
      if (n > best && !strncmp(p, units[i].unit, n)) {
        best = n;
        mul = units[i].ms;
      }
    }
    if (!best)
      return -BERTH_E_INVALID;
    p += best;
    total += v * mul;
  }
  if (total > 9.2e15)
    return -BERTH_E_INVALID;
  *ret = (int64_t)llround(total);
  return 0;
}

/* ---- paths ---- */

char *berth__abspath(const char *dir, const char *rel) {
  _cleanup_free_ char *joined = NULL;
  const char *home = getenv("HOME");
  int n;
  if (rel[0] == '/')
    n = asprintf(&joined, "%s", rel);
  else if (rel[0] == '~' && (rel[1] == '/' || !rel[1]) && home)
    n = asprintf(&joined, "%s%s", home, rel + 1);
  else
    n = asprintf(&joined, "%s/%s", dir, rel);
  if (n < 0)
    return NULL;
  /* Lexical clean: collapse //, ., and .. */
  char *out = malloc(strlen(joined) + 2);
  if (!out)
    return NULL;
  size_t len = 0;
  for (char *save = NULL, *part = strtok_r(joined, "/", &save); part;
       part = strtok_r(NULL, "/", &save)) {
    if (!strcmp(part, "."))
      continue;
    if (!strcmp(part, "..")) {
      while (len > 0 && out[len - 1] != '/')
        len--;
      if (len > 0)
        len--;
      continue;
    }
    out[len++] = '/';
    size_t pl = strlen(part);
    memcpy(out + len, part, pl);
    len += pl;
  }
  if (len == 0)
    out[len++] = '/';
  out[len] = '\0';
  return out;
}

char *berth__dirname(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    return strdup(".");
  if (slash == path)
    return strdup("/");
  return strndup(path, (size_t)(slash - path));
}
