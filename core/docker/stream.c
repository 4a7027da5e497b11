/* Incremental parsers for the engine's streaming answers. They are fed
 * whatever chunks the socket delivers, keep at most one message, and never
 * see the whole stream at once. */
#include <string.h>

#include "cleanup.h"
#include "docker-internal.h"

void berth__json_stream_init(struct berth__json_stream *s, berth__json_msg_fn fn, void *ud) {
  berth_buf_init(&s->line, BERTH__MAX_MESSAGE);
  s->fn = fn;
  s->ud = ud;
}

void berth__json_stream_release(struct berth__json_stream *s) {
  berth_buf_release(&s->line);
}

static bool blank(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
      return false;
  return true;
}

static int emit(struct berth__json_stream *s, const char *p, size_t n, berth_err *err) {
  if (blank(p, n))
    return 0;
  _cleanup_json_ cJSON *msg = cJSON_ParseWithLength(p, n);
  if (!msg)
    return berth_err_set(err, BERTH_E_PROTOCOL,
                         "the engine sent a stream message that is not JSON: %.*s",
                         (int)(n < 80 ? n : 80), p);
  return s->fn(msg, s->ud, err);
}

int berth__json_stream_feed(struct berth__json_stream *s, const char *data, size_t len,
                            berth_err *err) {
  while (len) {
    const char *nl = memchr(data, '\n', len);
    size_t take = nl ? (size_t)(nl - data) : len;
    int r;
    if (s->line.len == 0 && nl && take <= s->line.max) {
      r = emit(s, data, take, err); /* whole message in this chunk: no copy */
    } else {
      r = berth_buf_add(&s->line, data, take);
      if (r < 0)
        return berth_err_set(err, -r, "a message of the engine's stream exceeds %zu bytes",
                             s->line.max);
      if (nl) {
        r = emit(s, s->line.data, s->line.len, err);
        berth_buf_reset(&s->line);
      }
    }
    if (r != 0)
      return r;
    if (!nl)
      break;
    data += take + 1;
    len -= take + 1;
  }
  return 0;
}

int berth__json_stream_finish(struct berth__json_stream *s, berth_err *err) {
  int r = emit(s, s->line.data ? s->line.data : "", s->line.len, err);
  berth_buf_reset(&s->line);
  return r;
}

void berth__demux_init(struct berth__demux *m, bool raw, berth_docker_output_fn fn, void *ud) {
  *m = (struct berth__demux){.raw = raw, .fn = fn, .ud = ud};
}

int berth__demux_feed(struct berth__demux *m, const char *data, size_t len, berth_err *err) {
  if (m->raw)
    return len ? (m->fn(BERTH_STDOUT, data, len, m->ud) ? 1 : 0) : 0;
  while (len) {
    if (m->remaining == 0) {
      size_t need = sizeof(m->hdr) - m->hdr_len;
      size_t take = len < need ? len : need;
      memcpy(m->hdr + m->hdr_len, data, take);
      m->hdr_len += take;
      data += take;
      len -= take;
      if (m->hdr_len < sizeof(m->hdr))
        return 0;
      m->hdr_len = 0;
      if (m->hdr[0] > BERTH_STDERR || m->hdr[1] || m->hdr[2] || m->hdr[3])
        return berth_err_set(err, BERTH_E_PROTOCOL,
                             "bad frame header in the engine's output stream (stream byte %u); "
                             "was the container created with a TTY?",
                             m->hdr[0]);
      m->stream = (enum berth_docker_stream)m->hdr[0];
      m->remaining = (uint32_t)m->hdr[4] << 24 | (uint32_t)m->hdr[5] << 16 |
                     (uint32_t)m->hdr[6] << 8 | (uint32_t)m->hdr[7];
      continue; /* an empty frame is legal */
    }
    size_t take = len < m->remaining ? len : m->remaining;
    m->remaining -= (uint32_t)take;
    if (m->fn(m->stream, data, take, m->ud))
      return 1;
    data += take;
    len -= take;
  }
  return 0;
}

int berth__demux_finish(struct berth__demux *m, berth_err *err) {
  if (!m->raw && (m->hdr_len || m->remaining))
    return berth_err_set(err, BERTH_E_PROTOCOL,
                         "the engine's output stream ended inside a frame (%u bytes missing)",
                         m->remaining ? m->remaining : (unsigned)(8 - m->hdr_len));
  return 0;
}

/* A JSON number as int64, 0 when absent or out of range (a converted
 * out-of-range double is undefined behaviour). */
static int64_t number(const cJSON *o, const char *key) {
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsNumber(n) || !(n->valuedouble >= -9.2e18 && n->valuedouble <= 9.2e18))
    return 0;
  return (int64_t)n->valuedouble;
}

int berth__progress_parse(const cJSON *msg, struct berth_docker_progress *p, berth_err *err) {
  *p = (struct berth_docker_progress){0};
  const cJSON *detail = cJSON_GetObjectItemCaseSensitive(msg, "errorDetail");
  const char *error = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "error"));
  if (!error)
    error = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(detail, "message"));
  if (error || detail) {
    /* Build errors end with a newline; messages read better without it. */
    if (!error)
      error = "the engine reported an error without a message";
    size_t n = strlen(error);
    while (n && (error[n - 1] == '\n' || error[n - 1] == '\r'))
      n--;
    return berth_err_set(err, BERTH_E_API, "%.*s", (int)n, error);
  }
  p->id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "id"));
  p->status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "status"));
  p->stream = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "stream"));
  const cJSON *pd = cJSON_GetObjectItemCaseSensitive(msg, "progressDetail");
  p->current = number(pd, "current");
  p->total = number(pd, "total");
  const cJSON *aux = cJSON_GetObjectItemCaseSensitive(msg, "aux");
  p->image_id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(aux, "ID"));
  return 0;
}
