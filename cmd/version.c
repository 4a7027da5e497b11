/* berth version: berth's version, and with --json the libraries' and the
 * Docker API versions it speaks. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <uv.h>

#include "berth/cleanup.h"
#include "berth/doctor.h"
#include "cmd.h"
#include "flags.h"
#include "out.h"

static int run(int argc, char **argv, const struct berth_globals *g) {
  static const struct berth_flags fl = {.n = 0};
  _cleanup_free_ char **args = NULL;
  int n;
  int code = berth_cmd_flags(&berth_cmd_version, &fl, argc, argv, NULL, &n, &args);
  if (!code)
    code = berth_cmd_at_most(&berth_cmd_version, n, args, 0);
  if (code)
    return code;
  if (g->json) {
    const char *api_min, *api_max;
    berth_doctor_api_range(&api_min, &api_max);
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "version", BERTH_VERSION) &&
              cJSON_AddStringToObject(o, "libcurl", curl_version_info(CURLVERSION_NOW)->version) &&
              cJSON_AddStringToObject(o, "libuv", uv_version_string()) &&
              cJSON_AddStringToObject(o, "docker_api_min", api_min) &&
              cJSON_AddStringToObject(o, "docker_api_max", api_max);
    return berth_out_json(ok ? o : NULL);
  }
  printf("berth %s\n", BERTH_VERSION);
  return 0;
}

const struct berth_cmd berth_cmd_version = {
    .name = "version",
    .usage = "berth version [--json]",
    .summary = "Print berth's version",
    .run = run,
};
