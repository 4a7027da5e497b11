/* Global flags: accepted before the subcommand (berth -f x.yaml up) and
 * after it (berth up -f x.yaml), up to a "--". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth/cleanup.h"
#include "cmd.h"

/* Matches "-f VALUE", "-fVALUE", "--file VALUE", "--file=VALUE". On a
 * match stores the value and returns how many argv entries it used. */
static int take_value(int argc, char **argv, int i, const char *s, const char *l, const char **ret,
                      berth_err *err) {
  const char *a = argv[i];
  const char *v = NULL;
  int used = 1;
  size_t ln = l ? strlen(l) : 0;
  if ((s && !strcmp(a, s)) || (l && !strcmp(a, l))) {
    if (i + 1 >= argc)
      return berth_err_set(err, BERTH_E_INVALID, "%s needs a value", a);
    v = argv[i + 1];
    used = 2;
  } else if (l && !strncmp(a, l, ln) && a[ln] == '=') {
    v = a + ln + 1;
  } else if (s && !strncmp(a, s, 2) && a[2]) {
    v = a + 2;
  } else {
    return 0;
  }
  if (!*v)
    return berth_err_set(err, BERTH_E_INVALID, "%s needs a non-empty value", l ? l : s);
  *ret = v;
  return used;
}

int berth_globals_parse(int argc, char **argv, struct berth_globals *g, int *ret_argc,
                        char ***ret_rest, berth_err *err) {
  const char *no_color = getenv("NO_COLOR");
  *g = (struct berth_globals){.color = isatty(STDOUT_FILENO) && !(no_color && *no_color)};
  const char *term = getenv("TERM");
  if (term && !strcmp(term, "dumb"))
    g->color = false;
  _cleanup_free_ char **rest = calloc((size_t)argc + 1, sizeof(*rest));
  if (!rest)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int n = 0;
  for (int i = 0; i < argc;) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) {
      while (i < argc)
        rest[n++] = argv[i++];
      break;
    }
    const char *v = NULL;
    int used;
    if ((used = take_value(argc, argv, i, "-f", "--file", &v, err)) != 0) {
      if (used < 0)
        goto fail;
      const char **f = realloc(g->files, (g->n_files + 1) * sizeof(*f));
      if (!f) {
        berth_err_set(err, BERTH_E_NOMEM, "out of memory");
        goto fail;
      }
      g->files = f;
      g->files[g->n_files++] = v;
    } else if ((used = take_value(argc, argv, i, "-p", "--project-name", &g->project, err)) != 0) {
      if (used < 0)
        goto fail;
    } else if ((used = take_value(argc, argv, i, NULL, "--ns", &g->ns, err)) != 0) {
      if (used < 0)
        goto fail;
    } else if (!strcmp(a, "--json")) {
      g->json = true;
      used = 1;
    } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
      g->verbose++;
      used = 1;
    } else if (!strcmp(a, "--no-color")) {
      g->color = false;
      used = 1;
    } else {
      rest[n++] = argv[i];
      used = 1;
    }
    i += used;
  }
  rest[n] = NULL;
  *ret_argc = n;
  *ret_rest = TAKE_PTR(rest);
  return 0;
fail:
  berth_globals_release(g);
  return -berth_err_code(*err);
}

void berth_globals_release(struct berth_globals *g) {
  free(g->files);
  g->files = NULL;
  g->n_files = 0;
}

int berth_report(berth_err *err, int exit_code) {
  _cleanup_free_ char *msg = berth_err_string(*err);
  fprintf(stderr, "berth: %s\n", msg ? msg : "out of memory");
  berth_err_free(err);
  return exit_code;
}

const char *berth_sgr(const struct berth_globals *g, const char *code) {
  return g->color ? code : "";
}
