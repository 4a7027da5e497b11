/* berth config: the normalized model, or every problem of the manifest. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/manifest.h"
#include "project.h"

/* Quotes a YAML scalar when its plain form would read back differently,
 * or when it holds a character a terminal would act on: the quoted form
 * writes those as escapes (\x1b, \u009b) that read back the same. */
static void yaml_scalar(const char *s) {
  _cleanup_free_ char *shown = berth_escape_controls(s, 0);
  bool plain = shown && !strcmp(shown, s) && *s && !strchr(":#{}[],&*!|>'\"%@`\n\t", s[0]) &&
               !strstr(s, ": ") && !strstr(s, " #") && s[strlen(s) - 1] != ' ' && s[0] != ' ' &&
               s[0] != '-' && s[0] != '?' && strcmp(s, "true") && strcmp(s, "false") &&
               strcmp(s, "null") && strcmp(s, "~") && strcmp(s, "no") && strcmp(s, "yes") &&
               strcmp(s, "on") && strcmp(s, "off");
  if (plain) {
    char *end;
    (void)strtod(s, &end);
    plain = *end != '\0';
  }
  if (plain) {
    fputs(s, stdout);
    return;
  }
  _cleanup_free_ char *quoted = berth_escape_controls(s, BERTH_ESCAPE_QUOTED);
  printf("\"%s\"", quoted ? quoted : "(out of memory)");
}

static bool empty(const cJSON *j) {
  return (cJSON_IsArray(j) || cJSON_IsObject(j)) && !j->child;
}

static void yaml_value(const cJSON *j, int indent);

static void yaml_inline(const cJSON *j) {
  if (cJSON_IsString(j))
    yaml_scalar(j->valuestring);
  else if (cJSON_IsBool(j))
    fputs(cJSON_IsTrue(j) ? "true" : "false", stdout);
  else if (cJSON_IsNull(j))
    fputs("null", stdout);
  else if (cJSON_IsNumber(j))
    printf("%.15g", j->valuedouble);
  else if (cJSON_IsArray(j))
    fputs("[]", stdout);
  else
    fputs("{}", stdout);
}

/* A negative indent: the first line continues the current one ("- "). */
static void yaml_value(const cJSON *j, int indent) {
  const cJSON *c;
  bool first_inline = indent < 0;
  if (indent < 0)
    indent = -indent;
  if (cJSON_IsObject(j) && !empty(j)) {
    cJSON_ArrayForEach (c, j) {
      if (!first_inline)
        printf("%*s", indent, "");
      first_inline = false;
      yaml_scalar(c->string);
      putchar(':');
      if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && !empty(c)) {
        putchar('\n');
        yaml_value(c, indent + 2);
      } else {
        putchar(' ');
        yaml_inline(c);
        putchar('\n');
      }
    }
  } else if (cJSON_IsArray(j) && !empty(j)) {
    cJSON_ArrayForEach (c, j) {
      printf("%*s-", indent, "");
      if (cJSON_IsObject(c) && !empty(c)) {
        /* "- first: x" then the other keys under it */
        putchar(' ');
        yaml_value(c, -(indent + 2));
      } else if (cJSON_IsArray(c) && !empty(c)) {
        putchar('\n');
        yaml_value(c, indent + 2);
      } else {
        putchar(' ');
        yaml_inline(c);
        putchar('\n');
      }
    }
  } else {
    printf("%*s", indent, "");
    yaml_inline(j);
    putchar('\n');
  }
}

struct config_opts {
  struct berth_strv profiles;
  bool show_secrets, quiet;
};

static const struct berth_flag config_flags[] = {
    BERTH_FLAG("profile", 0, BERTH_FLAG_LIST, struct config_opts, profiles),
    BERTH_FLAG("show-secrets", 0, BERTH_FLAG_BOOL, struct config_opts, show_secrets),
    BERTH_FLAG("quiet", 'q', BERTH_FLAG_BOOL, struct config_opts, quiet),
};

/* An invalid manifest: its problems (already on stderr), as JSON too. */
static int invalid(const struct berth_globals *g, struct berth_diags *diags, berth_err *err) {
  int code = berth_err_code(*err) == BERTH_E_INVALID ? 2 : 1;
  if (g->json && diags->errors) {
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    cJSON *d = berth_cmd_diags_json(diags);
    bool ok = o && d && cJSON_AddBoolToObject(o, "valid", false) &&
              cJSON_AddItemToObject(o, "diagnostics", d);
    if (!ok)
      cJSON_Delete(d);
    berth_out_json(ok ? o : NULL);
  }
  berth_diags_release(diags);
  return berth_report(err, code);
}

static int show(const struct berth_globals *g, const struct berth_project *p,
                const struct config_opts *co) {
  if (co->quiet)
    return 0;
  _cleanup_json_ cJSON *j = NULL;
  berth_err err = NULL;
  if (berth_project_to_json(p, co->show_secrets, &j, &err) < 0)
    return berth_report(&err, 1);
  if (g->json)
    return berth_out_json(j);
  yaml_value(j, 0);
  return 0;
}

static int run(int argc_, char **argv_, const struct berth_globals *g) {
  static const struct berth_flags fl = BERTH_FLAGS(config_flags, BERTH_FLAGS_IN_ORDER);
  struct config_opts co = {0};
  _cleanup_free_ char **argv = NULL;
  int argc;
  int code = berth_cmd_flags(&berth_cmd_config, &fl, argc_, argv_, &co, &argc, &argv);
  if (!code)
    code = berth_cmd_at_most(&berth_cmd_config, argc, argv, 0);
  if (code) {
    berth_strv_release(&co.profiles);
    return code;
  }
  struct berth_load_opts lo = {.files = (const char *const *)g->files,
                               .n_files = g->n_files,
                               .project_name = g->project,
                               .profiles = (const char *const *)co.profiles.v,
                               .n_profiles = co.profiles.n};
  struct berth_diags diags = {0};
  struct berth_project *p = NULL;
  berth_err err = NULL;
  int r = berth_manifest_load(&lo, &p, &diags, &err);
  berth_cmd_print_diags(g, &diags);
  if (r < 0) {
    code = invalid(g, &diags, &err);
  } else {
    berth_diags_release(&diags);
    code = show(g, p, &co);
    berth_project_free(p);
  }
  berth_strv_release(&co.profiles);
  return code;
}

const struct berth_cmd berth_cmd_config = {
    .name = "config",
    .usage = "berth [-f FILE]... config [--json] [--profile P]... [--show-secrets] [-q]",
    .summary = "Check the manifest and print the normalized model",
    .help = "Reads berth.yaml or a Compose file (compose.yaml, docker-compose.yml, ...; -f names\n"
            "any, several -f merge like Compose overrides), checks it, and prints the model with\n"
            "every default filled, paths absolute and variables interpolated. Passwords and\n"
            "secret-looking values print as *** unless --show-secrets.\n"
            "\n"
            "  --profile P      activate a profile (repeatable; default: COMPOSE_PROFILES)\n"
            "  --show-secrets   print secret values\n"
            "  -q, --quiet      only check; print nothing but problems\n"
            "\n"
            "Every problem of every file is reported as file:line:col with the path in the\n"
            "document. Exit status: 0 valid, 2 invalid manifest, 1 other failures.\n"
            "The --json form is documented in docs/config-json.md.\n",
    .run = run,
};
