/* Cleanups of core's library types, on top of berth/cleanup.h. */
#ifndef BERTH_CLEANUP_H
#define BERTH_CLEANUP_H

#include <curl/curl.h>

#include "berth/cleanup.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all)

#define _cleanup_curl_ _cleanup_(curl_easy_cleanupp)
#define _cleanup_slist_ _cleanup_(curl_slist_free_allp)

#endif
