/* HTTP over the engine's unix socket, version negotiation, error mapping. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "berth/clock.h"
#include "cleanup.h"
#include "docker-internal.h"

/* A limit in milliseconds from the environment: unset or empty keeps def,
 * 0 turns it off. */
static int env_ms(const char *name, int64_t def, int64_t *ret, berth_err *err) {
  const char *v = getenv(name);
  *ret = def;
  if (!v || !*v)
    return 0;
  char *end;
  errno = 0;
  long long ms = strtoll(v, &end, 10);
  if (errno || end == v || *end || ms < 0 || ms > 30LL * 24 * 3600 * 1000)
    return berth_err_set(err, BERTH_E_INVALID,
                         "%s=%s is not a number of milliseconds; write e.g. %s=%lld (0: no limit)",
                         name, v, name, (long long)def);
  *ret = ms;
  return 0;
}

int berth_docker_open(struct berth_docker **ret, const char *host, berth_err *err) {
  if (!host)
    host = getenv("DOCKER_HOST");
  const char *path = BERTH_DOCKER_DEFAULT_SOCKET;
  if (host && *host) {
    if (strncmp(host, "unix://", 7) != 0)
      return berth_err_set(err, BERTH_E_UNSUPPORTED,
                           "DOCKER_HOST=%s is not supported yet: berth speaks to the engine over a "
                           "unix socket; set DOCKER_HOST=unix:///path/to/docker.sock",
                           host);
    path = host + 7;
    if (!*path)
      return berth_err_set(err, BERTH_E_INVALID, "DOCKER_HOST=%s names no socket path", host);
  }

  int64_t call_ms, stall_ms;
  if (env_ms("BERTH_ENGINE_TIMEOUT_MS", BERTH__CALL_TIMEOUT_MS, &call_ms, err) < 0 ||
      env_ms("BERTH_ENGINE_STALL_MS", BERTH__STALL_TIMEOUT_MS, &stall_ms, err) < 0)
    return -BERTH_E_INVALID;

  static bool curl_ready;
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return berth_err_set(err, BERTH_E_FAILED, "cannot initialise libcurl");
    curl_ready = true;
  }

  struct berth_docker *d = calloc(1, sizeof(*d));
  if (!d)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  pthread_mutex_init(&d->fd_mu, NULL);
  d->fd = -1;
  d->call_ms = call_ms;
  d->stall_ms = stall_ms;
  d->socket_path = strdup(path);
  d->curl = curl_easy_init();
  d->multi = curl_multi_init();
  if (!d->socket_path || !d->curl || !d->multi || asprintf(&d->endpoint, "unix://%s", path) < 0) {
    berth_docker_close(d);
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  }
  *ret = d;
  return 0;
}

struct berth_docker *berth_docker_close(struct berth_docker *d) {
  if (!d)
    return NULL;
  if (d->multi)
    curl_multi_cleanup(d->multi);
  if (d->curl)
    curl_easy_cleanup(d->curl);
  pthread_mutex_destroy(&d->fd_mu);
  free(d->socket_path);
  free(d->endpoint);
  free(d);
  return NULL;
}

void berth_docker_set_cancel(struct berth_docker *d, const atomic_int *flag) {
  d->cancel = flag;
}

int berth_docker_clone(const struct berth_docker *from, struct berth_docker **ret, berth_err *err) {
  _cleanup_free_ char *host = NULL;
  if (asprintf(&host, "unix://%s", from->socket_path) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  int r = berth_docker_open(ret, host, err);
  if (r >= 0) {
    memcpy((*ret)->api, from->api, sizeof(from->api));
    (*ret)->call_ms = from->call_ms;
    (*ret)->stall_ms = from->stall_ms;
  }
  return r;
}

/* One answer to "should this request end now?" for every hook below: an
 * interrupt from another thread, or the owner's cancel flag. */
static bool interrupted(struct berth_docker *d) {
  pthread_mutex_lock(&d->fd_mu);
  bool stop = d->interrupted;
  pthread_mutex_unlock(&d->fd_mu);
  return stop || (d->cancel && atomic_load(d->cancel));
}

/* The connection's socket, remembered for berth_docker_interrupt; the
 * lock keeps a closed number from being shut down after reuse. */
static int on_sockopt(void *ud, curl_socket_t fd, curlsocktype purpose) {
  struct berth_docker *d = ud;
  pthread_mutex_lock(&d->fd_mu);
  d->fd = fd;
  pthread_mutex_unlock(&d->fd_mu);
  return interrupted(d) ? CURL_SOCKOPT_ERROR : CURL_SOCKOPT_OK;
}

static int on_close_socket(void *ud, curl_socket_t fd) {
  struct berth_docker *d = ud;
  pthread_mutex_lock(&d->fd_mu);
  if (d->fd == fd)
    d->fd = -1;
  close(fd);
  pthread_mutex_unlock(&d->fd_mu);
  return 0;
}

/* After connecting (or reusing the connection), before sending: an
 * interrupt that came while the socket was not connected yet, when
 * shutdown has no effect, ends the request here. */
static int on_prereq(void *ud, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port) {
  return interrupted(ud) ? CURL_PREREQFUNC_ABORT : CURL_PREREQFUNC_OK;
}

void berth_docker_interrupt(struct berth_docker *d) {
  pthread_mutex_lock(&d->fd_mu);
  d->interrupted = true;
  if (d->fd >= 0)
    shutdown(d->fd, SHUT_RDWR);
  pthread_mutex_unlock(&d->fd_mu);
}

static void interruptible(CURL *c, struct berth_docker *d) {
  curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
  curl_easy_setopt(c, CURLOPT_SOCKOPTDATA, d);
  curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
  curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, d);
  curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, on_prereq);
  curl_easy_setopt(c, CURLOPT_PREREQDATA, d);
}

const char *berth_docker_endpoint(const struct berth_docker *d) {
  return d->endpoint;
}

int berth_docker_version_cmp(const char *a, const char *b) {
  unsigned amaj = 0, amin = 0, bmaj = 0, bmin = 0;
  int na = a ? sscanf(a, "%u.%u", &amaj, &amin) : 0;
  int nb = b ? sscanf(b, "%u.%u", &bmaj, &bmin) : 0;
  if (na != 2 || nb != 2)
    return (na == 2) - (nb == 2);
  if (amaj != bmaj)
    return amaj < bmaj ? -1 : 1;
  if (amin != bmin)
    return amin < bmin ? -1 : 1;
  return 0;
}

int berth_docker_negotiate(const char *engine_version, char *ret, size_t size, berth_err *err) {
  unsigned maj, min;
  char tail;
  if (!engine_version || sscanf(engine_version, "%u.%u%c", &maj, &min, &tail) != 2)
    return berth_err_set(err, BERTH_E_PROTOCOL, "the engine reports API version \"%s\", not 1.NN",
                         engine_version ? engine_version : "");
  if (berth_docker_version_cmp(engine_version, BERTH_DOCKER_API_MIN) < 0)
    return berth_err_set(err, BERTH_E_UNSUPPORTED,
                         "the engine speaks API %s but berth needs %s or newer (Docker 20.10+); "
                         "upgrade the Docker engine",
                         engine_version, BERTH_DOCKER_API_MIN);
  const char *pick = berth_docker_version_cmp(engine_version, BERTH_DOCKER_API_MAX) > 0
                         ? BERTH_DOCKER_API_MAX
                         : engine_version;
  if ((size_t)snprintf(ret, size, "%s", pick) >= size)
    return berth_err_set(err, BERTH_E_INVALID, "version buffer too small");
  return 0;
}

int berth_docker_api_version(struct berth_docker *d, const char **ret, berth_err *err) {
  if (!d->api[0]) {
    /* The engine names its API version in a header of every answer;
     * /_ping is the cheapest to ask (GET /version queries containerd and
     * takes tens of milliseconds). */
    struct berth__resp resp = {.body = BERTH_BUF_INIT(4096)};
    struct berth__req req = {.method = "GET", .path = "/_ping", .unversioned = true, .body_fd = -1};
    int r = berth__request(d, &req, &resp, err);
    berth_buf_release(&resp.body);
    if (r < 0)
      return r;
    r = berth_docker_negotiate(d->engine_api[0] ? d->engine_api : NULL, d->api, sizeof(d->api),
                               err);
    if (r < 0) {
      d->api[0] = '\0';
      return r;
    }
  }
  *ret = d->api;
  return 0;
}

cJSON *berth__string_array(const char *const *v) {
  cJSON *a = cJSON_CreateArray();
  for (; a && v && *v; v++)
    if (!cJSON_AddItemToArray(a, cJSON_CreateString(*v))) {
      cJSON_Delete(a);
      return NULL;
    }
  return a;
}

cJSON *berth__kv_object(const char *const *kv) {
  cJSON *o = cJSON_CreateObject();
  for (; o && kv && *kv; kv++) {
    const char *eq = strchr(*kv, '=');
    _cleanup_free_ char *k = strndup(*kv, eq ? (size_t)(eq - *kv) : strlen(*kv));
    if (!k || !cJSON_AddStringToObject(o, k, eq ? eq + 1 : "")) {
      cJSON_Delete(o);
      return NULL;
    }
  }
  return o;
}

char *berth__escape(const char *s) {
  /* curl_easy_escape needs no handle since 7.82 but accepts NULL anyway. */
  char *e = curl_easy_escape(NULL, s, 0);
  if (!e)
    return NULL;
  char *copy = strdup(e);
  curl_free(e);
  return copy;
}

static int add_filter_array(cJSON *filters, const char *key, const char *const *vals) {
  if (!vals || !vals[0])
    return 0;
  cJSON *arr = cJSON_AddArrayToObject(filters, key);
  if (!arr)
    return -BERTH_E_NOMEM;
  for (const char *const *v = vals; *v; v++)
    if (!cJSON_AddItemToArray(arr, cJSON_CreateString(*v)))
      return -BERTH_E_NOMEM;
  return 0;
}

int berth__add_filters(struct berth_buf *q, const char *const *labels, const char *const *types) {
  if ((!labels || !labels[0]) && (!types || !types[0]))
    return 0;
  _cleanup_json_ cJSON *f = cJSON_CreateObject();
  if (!f || add_filter_array(f, "label", labels) < 0 || add_filter_array(f, "type", types) < 0)
    return -BERTH_E_NOMEM;
  _cleanup_free_ char *s = cJSON_PrintUnformatted(f);
  _cleanup_free_ char *e = s ? berth__escape(s) : NULL;
  if (!e)
    return -BERTH_E_NOMEM;
  return berth_buf_addf(q, "%sfilters=%s", strchr(q->data ? q->data : "", '?') ? "&" : "?", e);
}

/* An entry's name for messages: Names[0] of a container, Name of the rest. */
static const char *entry_name(const cJSON *c) {
  const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "Name"));
  if (!n)
    n = cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "Names"), 0));
  return n && n[0] == '/' ? n + 1 : n;
}

int berth__check_list(const cJSON *list, const char *call, const char *what,
                      const char *const *keys, berth_err *err) {
  if (!list || cJSON_IsNull(list))
    return 0;
  if (!cJSON_IsArray(list))
    return berth_err_set(err, BERTH_E_PROTOCOL,
                         "%s: the engine's list of %ss is not a list; is DOCKER_HOST a Docker "
                         "engine?",
                         call, what);
  int i = 0, n = cJSON_GetArraySize(list);
  const cJSON *c;
  cJSON_ArrayForEach (c, list) {
    i++;
    for (const char *const *k = keys; *k; k++) {
      if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, *k)))
        continue;
      const char *name = entry_name(c);
      return berth_err_set(err, BERTH_E_PROTOCOL,
                           "%s: the engine listed a %s without %s %s (entry %d of %d%s%.200s); "
                           "is DOCKER_HOST a Docker engine? (docker info tells)",
                           call, what, strchr("AEIOU", **k) ? "an" : "a", *k, i, n,
                           name ? ", named " : "", name ? name : "");
    }
  }
  return 0;
}

int berth__api_error(berth_err *err, long status, const char *body, size_t len) {
  int code = status == 404 ? BERTH_E_NOT_FOUND : status == 409 ? BERTH_E_CONFLICT : BERTH_E_API;
  _cleanup_json_ cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
  const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "message"));
  _cleanup_free_ char *text = NULL;
  if (!msg && body && len) {
    /* Not JSON (a proxy, an old engine): use the text, trimmed. */
    text = strndup(body, len > 512 ? 512 : len);
    if (text) {
      size_t n = strlen(text);
      while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        text[--n] = '\0';
    }
    msg = text;
  }
  int r = berth_err_set(err, code, "%s (HTTP %ld)", msg && *msg ? msg : "no message", status);
  (*err)->status = (int)status;
  return r;
}

struct transfer {
  struct berth_docker *d;
  const struct berth__req *req;
  struct berth__resp *resp;
  berth_err cb_err; /* error raised inside a callback */
  bool stopped;     /* on_data asked to stop: not an error */
  struct berth_buf error_body;
  /* the stall detector: the engine's silence allowed (0: any), when a
   * byte last moved either way, the bytes counted so far */
  int64_t limit_ms, last_ms;
  curl_off_t moved;
  bool answered, timed_out;
};

static void saw_bytes(struct transfer *t) {
  t->last_ms = berth_now_ms();
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct transfer *t = ud;
  size_t n = size * nmemb;
  saw_bytes(t);
  t->answered = true;
  long status = 0;
  curl_easy_getinfo(t->d->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 400) {
    /* Keep what fits of an error body; its message is what the user needs. */
    (void)berth_buf_add(
        &t->error_body, ptr,
        n > t->error_body.max - t->error_body.len ? t->error_body.max - t->error_body.len : n);
    return n;
  }
  if (t->req->on_data) {
    int r = t->req->on_data(ptr, n, t->req->ud, &t->cb_err);
    if (r < 0)
      return CURL_WRITEFUNC_ERROR;
    if (r > 0) {
      t->stopped = true;
      return CURL_WRITEFUNC_ERROR;
    }
    return n;
  }
  int r = berth_buf_add(&t->resp->body, ptr, n);
  if (r < 0) {
    berth_err_set(&t->cb_err, -r,
                  r == -BERTH_E_TOO_BIG ? "the engine's answer is larger than %zu bytes"
                                        : "out of memory (answer of %zu bytes)",
                  t->resp->body.max);
    return CURL_WRITEFUNC_ERROR;
  }
  return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud) {
  struct transfer *t = ud;
  size_t n = size * nitems;
  saw_bytes(t);
  t->answered = true;
  if (n > 12 && !strncasecmp(buf, "Api-Version:", 12)) {
    const char *v = buf + 12;
    while (*v == ' ' && v < buf + n)
      v++;
    size_t len = (size_t)(buf + n - v);
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
      len--;
    if (len < sizeof(t->d->engine_api)) {
      memcpy(t->d->engine_api, v, len);
      t->d->engine_api[len] = '\0';
    }
  }
  return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud) {
  struct transfer *t = ud;
  ssize_t n;
  do
    n = read(t->req->body_fd, buf, size * nitems);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    berth_err_errno(&t->cb_err, errno, "reading the request body");
    return CURL_READFUNC_ABORT;
  }
  saw_bytes(t);
  return (size_t)n;
}

/* Called by libcurl about once a second, and on every transfer of data:
 * how a cancel flag ends a quiet stream (an interrupt shuts the socket),
 * and how a request the engine leaves silent for too long fails. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
  struct transfer *t = ud;
  if (interrupted(t->d)) {
    t->stopped = true;
    return 1;
  }
  if (dlnow + ulnow != t->moved) {
    t->moved = dlnow + ulnow;
    saw_bytes(t);
  }
  if (t->limit_ms && berth_now_ms() - t->last_ms >= t->limit_ms) {
    t->timed_out = true;
    return 1;
  }
  return 0;
}

/* "60 s", "15 min", "250 ms". */
static const char *span(char *buf, size_t size, int64_t ms) {
  if (ms % 1000)
    snprintf(buf, size, "%lld ms", (long long)ms);
  else if (ms >= 120000 && ms % 60000 == 0)
    snprintf(buf, size, "%lld min", (long long)(ms / 60000));
  else
    snprintf(buf, size, "%lld s", (long long)(ms / 1000));
  return buf;
}

int berth__timeout_error(berth_err *err, const char *method, const char *path, int64_t ms, bool got,
                         bool call) {
  char d[32];
  int len = (int)strcspn(path, "?"); /* the call, not its query */
  const char *var = call ? "BERTH_ENGINE_TIMEOUT_MS" : "BERTH_ENGINE_STALL_MS";
  if (!got)
    return berth_err_set(err, BERTH_E_TIMEOUT,
                         "the engine did not answer %s %.*s within %s; is it hung or overloaded? "
                         "(docker info tells; %s sets how long berth waits)",
                         method, len, path, span(d, sizeof(d), ms), var);
  return berth_err_set(err, BERTH_E_TIMEOUT,
                       "the engine sent nothing for %s in the middle of %s %.*s; is it hung or "
                       "overloaded? (docker info tells; %s sets how long berth waits)",
                       span(d, sizeof(d), ms), method, len, path, var);
}

static int unreachable(struct berth_docker *d, CURLcode rc, berth_err *err) {
  long os_errno = 0;
  curl_easy_getinfo(d->curl, CURLINFO_OS_ERRNO, &os_errno);
  const char *why = os_errno ? strerror((int)os_errno) : curl_easy_strerror(rc);
  if (os_errno == EACCES)
    return berth_err_set(err, BERTH_E_UNREACHABLE,
                         "cannot reach the Docker engine at %s: %s; run berth as root or add "
                         "your user to the docker group (sudo usermod -aG docker $USER)",
                         d->endpoint, why);
  return berth_err_set(err, BERTH_E_UNREACHABLE,
                       "cannot reach the Docker engine at %s: %s; start it (sudo systemctl start "
                       "docker, or sudo dockerd &) or set DOCKER_HOST=unix:///path/to/docker.sock",
                       d->endpoint, why);
}

/* curl_easy_perform, but waking when the request's silence is due to end
 * rather than at libcurl's next second, so a limit holds to the
 * millisecond. The connection stays in d->multi's cache between calls. */
static CURLcode perform(struct berth_docker *d, struct transfer *t) {
  if (curl_multi_add_handle(d->multi, d->curl) != CURLM_OK)
    return CURLE_OUT_OF_MEMORY;
  CURLcode rc = CURLE_OK;
  int running = 1;
  while (running) {
    if (curl_multi_perform(d->multi, &running) != CURLM_OK) {
      rc = CURLE_RECV_ERROR;
      break;
    }
    int wait_ms = 1000; /* the cancel flag is looked at every second */
    if (running && t->limit_ms) {
      int64_t left = t->last_ms + t->limit_ms - berth_now_ms();
      wait_ms = left < 1 ? 1 : left < wait_ms ? (int)left + 1 : wait_ms;
    }
    if (running && curl_multi_poll(d->multi, NULL, 0, wait_ms, NULL) != CURLM_OK) {
      rc = CURLE_RECV_ERROR;
      break;
    }
  }
  CURLMsg *m;
  int left;
  while ((m = curl_multi_info_read(d->multi, &left)))
    if (m->msg == CURLMSG_DONE && m->easy_handle == d->curl)
      rc = m->data.result;
  curl_multi_remove_handle(d->multi, d->curl);
  return rc;
}

/* Sets up the request's body (JSON, a streamed file descriptor, or none)
 * and returns its headers, NULL when out of memory. */
static struct curl_slist *request_body(CURL *c, const struct berth__req *req, const char *body,
                                       struct transfer *t) {
  struct curl_slist *headers = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
  const char *type = body                ? "application/json"
                     : req->content_type ? req->content_type
                                         : "application/x-tar";
  if (headers && (body || req->body_fd >= 0)) {
    char ct[160];
    snprintf(ct, sizeof(ct), "Content-Type: %s", type);
    struct curl_slist *more = curl_slist_append(headers, ct);
    if (!more) {
      curl_slist_free_all(headers);
      return NULL;
    }
    headers = more;
  }
  if (!headers)
    return NULL;
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
  } else if (req->body_fd >= 0) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, t);
    struct stat st;
    if (fstat(req->body_fd, &st) == 0 && S_ISREG(st.st_mode)) {
      off_t pos = lseek(req->body_fd, 0, SEEK_CUR);
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(st.st_size - (pos > 0 ? pos : 0)));
    }
    /* else: chunked transfer encoding */
  } else if (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
  } else if (strcmp(req->method, "HEAD") == 0) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  }
  return headers;
}

/* What a finished transfer means: 0, or the error of the callbacks, of
 * the connection or of the engine's answer. */
static int request_result(struct berth_docker *d, struct transfer *t, CURLcode rc, long status,
                          berth_err *err) {
  int r = 0;
  if (t->timed_out) {
    berth_err_free(&t->cb_err);
    r = berth__timeout_error(err, t->req->method, t->req->path, t->limit_ms, t->answered,
                             t->req->patience == BERTH__CALL);
  } else if (t->cb_err) {
    *err = TAKE_PTR(t->cb_err);
    r = -berth_err_code(*err);
    if (r == 0)
      r = -BERTH_E_FAILED;
  } else if (rc != CURLE_OK &&
             !(t->stopped && (rc == CURLE_WRITE_ERROR || rc == CURLE_ABORTED_BY_CALLBACK))) {
    if (rc == CURLE_COULDNT_CONNECT || (status == 0 && rc == CURLE_COULDNT_RESOLVE_HOST))
      r = unreachable(d, rc, err);
    else if (status >= 400)
      r = berth__api_error(err, status, t->error_body.data, t->error_body.len);
    else
      r = berth_err_set(err, BERTH_E_IO, "talking to the Docker engine at %s: %s", d->endpoint,
                        d->curl_error[0] ? d->curl_error : curl_easy_strerror(rc));
  } else if (status >= 400) {
    r = berth__api_error(err, status, t->error_body.data, t->error_body.len);
  }
  return r;
}

int berth__request(struct berth_docker *d, const struct berth__req *req, struct berth__resp *resp,
                   berth_err *err) {
  const char *api = NULL;
  if (!req->unversioned) {
    int r = berth_docker_api_version(d, &api, err);
    if (r < 0)
      return r;
  }
  _cleanup_free_ char *url = NULL;
  if (asprintf(&url, "http://docker%s%s%s", api ? "/v" : "", api ? api : "", req->path) < 0)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  _cleanup_free_ char *body = req->json ? cJSON_PrintUnformatted(req->json) : NULL;
  if (req->json && !body)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");

  int64_t limit = req->patience == BERTH__CALL       ? (d->call_ms ? d->call_ms + req->extra_ms : 0)
                  : req->patience == BERTH__TRANSFER ? d->stall_ms
                                                     : 0;
  struct transfer t = {.d = d,
                       .req = req,
                       .resp = resp,
                       .error_body = BERTH_BUF_INIT(BERTH__MAX_ERROR_BODY),
                       .limit_ms = limit,
                       .last_ms = berth_now_ms()};
  if (interrupted(d))
    return berth_err_set(err, BERTH_E_IO, "talking to the Docker engine at %s: interrupted",
                         d->endpoint);
  CURL *c = d->curl;
  curl_easy_reset(c);
  d->curl_error[0] = '\0';
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, d->curl_error);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 0L);
  /* No libcurl timeout: streams (logs -f, events) are idle for hours; the
   * progress hook measures each request's silence against its limit. */
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  interruptible(c, d);

  _cleanup_slist_ struct curl_slist *headers = request_body(c, req, body, &t);
  if (!headers)
    return berth_err_set(err, BERTH_E_NOMEM, "out of memory");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

  CURLcode rc = perform(d, &t);
  /* The request must not keep pointers into this frame. */
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  resp->status = status;

  int r = request_result(d, &t, rc, status, err);
  berth_buf_release(&t.error_body);
  if (r < 0 && !t.timed_out) /* a timeout names the call already */
    return berth_err_wrap(err, "%s %s", req->method, req->path);
  return r < 0 ? r : 0;
}

int berth__call_req(struct berth_docker *d, const struct berth__req *req, cJSON **ret,
                    berth_err *err) {
  struct berth__resp resp = {.body = BERTH_BUF_INIT(BERTH__MAX_BODY)};
  int r = berth__request(d, req, &resp, err);
  if (r >= 0 && ret) {
    *ret = resp.body.len ? cJSON_ParseWithLength(resp.body.data, resp.body.len) : NULL;
    if (!*ret)
      r = berth_err_set(err, BERTH_E_PROTOCOL, "%s %s: the engine's answer is not JSON",
                        req->method, req->path);
  }
  berth_buf_release(&resp.body);
  return r < 0 ? r : (int)resp.status;
}

int berth__call_json(struct berth_docker *d, const char *method, const char *path,
                     const cJSON *body, cJSON **ret, berth_err *err) {
  struct berth__req req = {.method = method, .path = path, .json = body, .body_fd = -1};
  return berth__call_req(d, &req, ret, err);
}

int berth__list(struct berth_docker *d, const char *base, const char *const *labels, cJSON **ret,
                berth_err *err) {
  struct berth_buf q = BERTH_BUF_INIT(1 << 16);
  int r = berth_buf_addf(&q, "%s", base);
  if (r >= 0)
    r = berth__add_filters(&q, labels, NULL);
  if (r < 0)
    r = berth_err_set(err, -r, "building the query of %s", base);
  else
    r = berth__call_json(d, "GET", q.data, NULL, ret, err);
  berth_buf_release(&q);
  return r < 0 ? r : 0;
}
