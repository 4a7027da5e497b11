/* berth config: the normalized model, or every problem of the manifest. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "berth/cleanup.h"
#include "berth/manifest.h"
#include "project.h"

/* Quotes a YAML scalar when its plain form would read back differently. */
static void yaml_scalar(const char *s) {
  bool plain = *s && !strchr(":#{}[],&*!|>'\"%@`\n\t", s[0]) && !strstr(s, ": ") &&
               !strstr(s, " #") && s[strlen(s) - 1] != ' ' && s[0] != ' ' && s[0] != '-' &&
               s[0] != '?' && strcmp(s, "true") && strcmp(s, "false") && strcmp(s, "null") &&
               strcmp(s, "~") && strcmp(s, "no") && strcmp(s, "yes") && strcmp(s, "on") &&
               strcmp(s, "off") && !strchr(s, '\n');
  if (plain) {
    char *end;
    (void)strtod(s, &end);
    plain = *end != '\0';
  }
  if (plain) {
    fputs(s, stdout);
    return;
  }
  putchar('"');
  for (const char *c = s; *c; c++) {
    if (*c == '"' || *c == '\\')
      printf("\\%c", *c);
    else if (*c == '\n')
      fputs("\\n", stdout);
    else if (*c == '\t')
      fputs("\\t", stdout);
    else
      putchar(*c);
  }
  putchar('"');
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

static cJSON *diags_json(const struct berth_diags *d) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; a && i < d->n; i++) {
    const struct berth_diag *x = &d->v[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "severity", x->severity == BERTH_DIAG_ERROR ? "error" : "warning");
    if (x->file)
      cJSON_AddStringToObject(o, "file", x->file);
    else
      cJSON_AddNullToObject(o, "file");
    cJSON_AddNumberToObject(o, "line", x->line);
    cJSON_AddNumberToObject(o, "column", x->col);
    if (x->path)
      cJSON_AddStringToObject(o, "path", x->path);
    else
      cJSON_AddNullToObject(o, "path");
    cJSON_AddStringToObject(o, "message", x->message);
    cJSON_AddItemToArray(a, o);
  }
  return a;
}

static int run(int argc, char **argv, const struct berth_globals *g) {
  static const struct option opts[] = {{"profile", required_argument, NULL, 'P'},
                                       {"show-secrets", no_argument, NULL, 'S'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {NULL, 0, NULL, 0}};
  const char *profiles[64];
  size_t n_profiles = 0;
  bool show_secrets = false, quiet = false;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "+q", opts, NULL)) != -1) {
    switch (c) {
    case 'P':
      if (n_profiles == sizeof(profiles) / sizeof(*profiles)) {
        fprintf(stderr, "berth config: at most 64 --profile flags\n");
        return 2;
      }
      profiles[n_profiles++] = optarg;
      break;
    case 'S':
      show_secrets = true;
      break;
    case 'q':
      quiet = true;
      break;
    default:
      fprintf(stderr, "berth config: unknown flag %s\nusage: %s\n", argv[optind - 1],
              berth_cmd_config.usage);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "berth config: unexpected argument %s\nusage: %s\n", argv[optind],
            berth_cmd_config.usage);
    return 2;
  }
  struct berth_load_opts lo = {.files = g->files,
                               .n_files = g->n_files,
                               .project_name = g->project,
                               .profiles = profiles,
                               .n_profiles = n_profiles};
  struct berth_diags diags = {0};
  struct berth_project *p = NULL;
  berth_err err = NULL;
  int r = berth_manifest_load(&lo, &p, &diags, &err);
  berth_cmd_print_diags(g, &diags);
  if (r < 0) {
    int code = berth_err_code(err) == BERTH_E_INVALID ? 2 : 1;
    if (g->json && diags.errors) {
      _cleanup_json_ cJSON *o = cJSON_CreateObject();
      cJSON_AddBoolToObject(o, "valid", false);
      cJSON_AddItemToObject(o, "diagnostics", diags_json(&diags));
      _cleanup_free_ char *s = cJSON_Print(o);
      if (s)
        puts(s);
    }
    berth_diags_release(&diags);
    if (!diags.errors || code != 2)
      return berth_report(&err, code);
    fprintf(stderr, "berth: %s\n", berth_err_root_msg(err));
    berth_err_free(&err);
    return code;
  }
  berth_diags_release(&diags);
  int code = 0;
  if (!quiet) {
    _cleanup_json_ cJSON *j = NULL;
    if (berth_project_to_json(p, show_secrets, &j, &err) < 0) {
      code = berth_report(&err, 1);
    } else if (g->json) {
      _cleanup_free_ char *s = cJSON_Print(j);
      if (s)
        puts(s);
    } else {
      yaml_value(j, 0);
    }
  }
  berth_project_free(p);
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
