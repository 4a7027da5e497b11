#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <uv.h>

#include "berth/cleanup.h"
#include "cmd.h"
#include "docker.h"

static int run(int argc, char **argv, const struct berth_globals *g) {
  if (argc > 1) {
    fprintf(stderr, "berth version: unexpected argument %s\nusage: %s\n", argv[1],
            berth_cmd_version.usage);
    return 2;
  }
  if (g->json) {
    _cleanup_json_ cJSON *o = cJSON_CreateObject();
    _cleanup_free_ char *s = NULL;
    if (o && cJSON_AddStringToObject(o, "version", BERTH_VERSION) &&
        cJSON_AddStringToObject(o, "libcurl", curl_version_info(CURLVERSION_NOW)->version) &&
        cJSON_AddStringToObject(o, "libuv", uv_version_string()) &&
        cJSON_AddStringToObject(o, "docker_api_min", BERTH_DOCKER_API_MIN) &&
        cJSON_AddStringToObject(o, "docker_api_max", BERTH_DOCKER_API_MAX))
      s = cJSON_Print(o);
    if (!s)
      return 1;
    puts(s);
    return 0;
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
