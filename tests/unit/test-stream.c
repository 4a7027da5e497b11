/* core/docker/stream.c: the JSON message stream, the stdout/stderr
 * demultiplexer and pull/build progress messages, fed the way a socket
 * delivers them: in arbitrary pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "docker-internal.h"

/* ---- helpers ---- */

/* Deterministic pseudo-random chunk sizes (xorshift32). */
static uint32_t next_rand(uint32_t *s) {
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

struct msgs {
  char **items; /* each message printed back with cJSON_PrintUnformatted */
  size_t n;
  size_t stop_after; /* return 1 after this many messages; 0 = never */
  size_t fail_after; /* fail after this many messages; 0 = never */
};

static int on_msg(const cJSON *msg, void *ud, berth_err *err) {
  struct msgs *m = ud;
  char *s = cJSON_PrintUnformatted(msg);
  assert_non_null(s);
  m->items = realloc(m->items, (m->n + 1) * sizeof(*m->items));
  assert_non_null(m->items);
  m->items[m->n++] = s;
  if (m->fail_after && m->n == m->fail_after)
    return berth_err_set(err, BERTH_E_INVALID, "callback refused message %zu", m->n);
  if (m->stop_after && m->n == m->stop_after)
    return 1;
  return 0;
}

static void msgs_release(struct msgs *m) {
  for (size_t i = 0; i < m->n; i++)
    free(m->items[i]);
  free(m->items);
  m->items = NULL;
  m->n = 0;
}

/* The messages of text, one per line, parsed one by one: what any
 * chunking of text must produce. */
static void expected_msgs(const char *text, struct msgs *out) {
  *out = (struct msgs){0};
  const char *p = text;
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    cJSON *j = cJSON_ParseWithLength(p, n);
    if (j) {
      berth_err err = NULL;
      assert_int_equal(on_msg(j, out, &err), 0);
      cJSON_Delete(j);
    }
    p += n + (nl ? 1 : 0);
  }
}

static void assert_same_msgs(const struct msgs *a, const struct msgs *b) {
  assert_int_equal(a->n, b->n);
  for (size_t i = 0; i < a->n; i++)
    assert_string_equal(a->items[i], b->items[i]);
}

/* Feeds text in chunks of the sizes given by step (0 = random sizes from
 * seed, up to 61 bytes) and finishes the stream. Returns the last result. */
static int feed_chunked(struct berth__json_stream *s, const char *text, size_t len, size_t step,
                        uint32_t seed, berth_err *err) {
  size_t off = 0;
  while (off < len) {
    size_t n = step ? step : 1 + next_rand(&seed) % 61;
    if (n > len - off)
      n = len - off;
    /* A copy of exactly n bytes, without a terminating NUL, as a socket
     * would deliver it. */
    char *chunk = malloc(n);
    assert_non_null(chunk);
    memcpy(chunk, text + off, n);
    int r = berth__json_stream_feed(s, chunk, n, err);
    free(chunk);
    if (r != 0)
      return r;
    off += n;
  }
  return berth__json_stream_finish(s, err);
}

/* A recorded `docker pull postgres:15` answer: the engine separates its
 * messages with "\r\n". */
static const char pull_stream[] =
    "{\"status\":\"Pulling from library/postgres\",\"id\":\"15\"}\r\n"
    "{\"status\":\"Pulling fs layer\",\"progressDetail\":{},\"id\":\"a2abf6c4d29d\"}\r\n"
    "{\"status\":\"Pulling fs layer\",\"progressDetail\":{},\"id\":\"e1769f49f910\"}\r\n"
    "{\"status\":\"Waiting\",\"progressDetail\":{},\"id\":\"e1769f49f910\"}\r\n"
    "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1,\"total\":2},"
    "\"progress\":\"[=========================>                         ]       1B/2B\","
    "\"id\":\"a2abf6c4d29d\"}\r\n"
    "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":540288,\"total\":31357311},"
    "\"progress\":\"[>                                                  ]  540.3kB/31.36MB\","
    "\"id\":\"e1769f49f910\"}\r\n"
    "{\"status\":\"Verifying Checksum\",\"progressDetail\":{},\"id\":\"a2abf6c4d29d\"}\r\n"
    "{\"status\":\"Download complete\",\"progressDetail\":{},\"id\":\"a2abf6c4d29d\"}\r\n"
    "{\"status\":\"Extracting\",\"progressDetail\":{\"current\":32768,\"total\":31357311},"
    "\"progress\":\"[>                                                  ]  32.77kB/31.36MB\","
    "\"id\":\"e1769f49f910\"}\r\n"
    "{\"status\":\"Pull complete\",\"progressDetail\":{},\"id\":\"a2abf6c4d29d\"}\r\n"
    "{\"status\":\"Digest: "
    "sha256:3c3d8d4fb3a1e9b1c0f1b8c5e7f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3\"}\r\n"
    "{\"status\":\"Status: Downloaded newer image for postgres:15\"}\r\n";

/* A recorded classic-builder answer: text with escaped newlines, UTF-8. */
static const char build_stream[] =
    "{\"stream\":\"Step 1/3 : FROM berth-local/debian:bookworm\"}\n"
    "{\"stream\":\"\\n\"}\n"
    "{\"stream\":\" ---\\u003e 5c9f7a1e2b3d\\n\"}\n"
    "{\"stream\":\"Step 2/3 : RUN echo 'h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93'\\n\"}\n"
    "{\"stream\":\"h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93\\n\"}\n"
    "{\"aux\":{\"ID\":\"sha256:"
    "9b2f7d8e6c5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c\"}}\n"
    "{\"stream\":\"Successfully built 9b2f7d8e6c5a\\n\"}\n";

/* ---- the JSON message stream ---- */

static void check_chunkings(const char *text) {
  struct msgs want;
  expected_msgs(text, &want);
  assert_true(want.n >= 7);
  size_t len = strlen(text);

  /* One chunk, byte by byte, and every fixed chunk size up to 80. */
  for (size_t step = 1; step <= 80; step++) {
    struct msgs got = {0};
    struct berth__json_stream s;
    berth__json_stream_init(&s, on_msg, &got);
    berth_err err = NULL;
    assert_int_equal(feed_chunked(&s, text, len, step, 0, &err), 0);
    assert_null(err);
    assert_same_msgs(&got, &want);
    berth__json_stream_release(&s);
    msgs_release(&got);
  }
  {
    struct msgs got = {0};
    struct berth__json_stream s;
    berth__json_stream_init(&s, on_msg, &got);
    berth_err err = NULL;
    assert_int_equal(feed_chunked(&s, text, len, len, 0, &err), 0);
    assert_same_msgs(&got, &want);
    berth__json_stream_release(&s);
    msgs_release(&got);
  }
  /* Random chunk sizes. */
  for (uint32_t seed = 1; seed <= 200; seed++) {
    struct msgs got = {0};
    struct berth__json_stream s;
    berth__json_stream_init(&s, on_msg, &got);
    berth_err err = NULL;
    assert_int_equal(feed_chunked(&s, text, len, 0, seed * 2654435761u, &err), 0);
    assert_same_msgs(&got, &want);
    berth__json_stream_release(&s);
    msgs_release(&got);
  }
  msgs_release(&want);
}

static void test_json_pull_stream_any_chunking(void **state) {
  check_chunkings(pull_stream);
}

static void test_json_build_stream_any_chunking(void **state) {
  check_chunkings(build_stream);
}

static void test_json_messages_content(void **state) {
  struct msgs got = {0};
  struct berth__json_stream s;
  berth__json_stream_init(&s, on_msg, &got);
  berth_err err = NULL;
  assert_int_equal(feed_chunked(&s, pull_stream, strlen(pull_stream), 1, 0, &err), 0);
  assert_int_equal(got.n, 12);
  assert_string_equal(got.items[0], "{\"status\":\"Pulling from library/postgres\",\"id\":\"15\"}");
  assert_string_equal(got.items[11],
                      "{\"status\":\"Status: Downloaded newer image for postgres:15\"}");
  berth__json_stream_release(&s);
  msgs_release(&got);
}

static void test_json_blank_lines(void **state) {
  static const char text[] = "\n\r\n{\"a\":1}\n   \n\t\r\n\n{\"b\":2}\r\n\n  {\"c\":3}  \n";
  struct msgs got = {0};
  struct berth__json_stream s;
  for (size_t step = 1; step <= sizeof(text); step++) {
    berth__json_stream_init(&s, on_msg, &got);
    berth_err err = NULL;
    assert_int_equal(feed_chunked(&s, text, strlen(text), step, 0, &err), 0);
    assert_int_equal(got.n, 3);
    assert_string_equal(got.items[0], "{\"a\":1}");
    assert_string_equal(got.items[1], "{\"b\":2}");
    assert_string_equal(got.items[2], "{\"c\":3}");
    berth__json_stream_release(&s);
    msgs_release(&got);
  }
}

static void test_json_finish_trailing_message(void **state) {
  struct msgs got = {0};
  struct berth__json_stream s;
  berth__json_stream_init(&s, on_msg, &got);
  berth_err err = NULL;
  assert_int_equal(berth__json_stream_feed(&s, "{\"a\":1}\n{\"b\":", 13, &err), 0);
  assert_int_equal(got.n, 1);
  assert_int_equal(berth__json_stream_feed(&s, "2}", 2, &err), 0);
  assert_int_equal(got.n, 1); /* no newline yet */
  assert_int_equal(berth__json_stream_finish(&s, &err), 0);
  assert_int_equal(got.n, 2);
  assert_string_equal(got.items[1], "{\"b\":2}");
  /* Finishing again finds nothing left. */
  assert_int_equal(berth__json_stream_finish(&s, &err), 0);
  assert_int_equal(got.n, 2);
  assert_null(err);
  berth__json_stream_release(&s);
  msgs_release(&got);
}

static void test_json_finish_empty(void **state) {
  struct msgs got = {0};
  struct berth__json_stream s;
  berth__json_stream_init(&s, on_msg, &got);
  berth_err err = NULL;
  assert_int_equal(berth__json_stream_finish(&s, &err), 0); /* nothing was fed */
  assert_int_equal(berth__json_stream_feed(&s, "{\"a\":1}\n  \r", 11, &err), 0);
  assert_int_equal(berth__json_stream_finish(&s, &err), 0);
  assert_int_equal(got.n, 1);
  assert_null(err);
  berth__json_stream_release(&s);
  msgs_release(&got);
}

static void test_json_finish_truncated(void **state) {
  struct msgs got = {0};
  struct berth__json_stream s;
  berth__json_stream_init(&s, on_msg, &got);
  berth_err err = NULL;
  assert_int_equal(berth__json_stream_feed(&s, "{\"status\":\"Down", 15, &err), 0);
  int r = berth__json_stream_finish(&s, &err);
  assert_int_equal(r, -BERTH_E_PROTOCOL);
  assert_int_equal(berth_err_code(err), BERTH_E_PROTOCOL);
  assert_int_equal(got.n, 0);
  berth_err_free(&err);
  berth__json_stream_release(&s);
}

static void test_json_not_json(void **state) {
  struct msgs got = {0};
  struct berth__json_stream s;
  berth__json_stream_init(&s, on_msg, &got);
  berth_err err = NULL;
  /* Delivered in two pieces, so the message is assembled in the buffer. */
  assert_int_equal(berth__json_stream_feed(&s, "{\"a\":1}\n<html>Bad Gat", 21, &err), 0);
  int r = berth__json_stream_feed(&s, "eway</html>\n{\"b\":2}\n", 20, &err);
  assert_int_equal(r, -BERTH_E_PROTOCOL);
  assert_int_equal(berth_err_code(err), BERTH_E_PROTOCOL);
  assert_string_equal(berth_err_root_msg(err), "the engine sent a stream message that is not JSON: "
                                               "<html>Bad Gateway</html>");
  assert_int_equal(got.n, 1); /* what came before was delivered, nothing after */
  berth_err_free(&err);
  berth__json_stream_release(&s);
  msgs_release(&got);
}

/* The message quoted in the error must be the bad line, not the bytes that
 * follow it in the chunk (or beyond the chunk: socket data carries no NUL). */
static void test_json_not_json_quotes_only_the_line(void **state) {
  struct msgs got = {0};
  struct berth__json_stream s;
  berth__json_stream_init(&s, on_msg, &got);
  berth_err err = NULL;
  static const char text[] = "oops\n{\"b\":2}\n";
  char *chunk = malloc(strlen(text)); /* exactly the bytes, no NUL after them */
  assert_non_null(chunk);
  memcpy(chunk, text, strlen(text));
  int r = berth__json_stream_feed(&s, chunk, strlen(text), &err);
  free(chunk);
  assert_int_equal(r, -BERTH_E_PROTOCOL);
  assert_int_equal(berth_err_code(err), BERTH_E_PROTOCOL);
  assert_string_equal(berth_err_root_msg(err),
                      "the engine sent a stream message that is not JSON: oops");
  assert_int_equal(got.n, 0);
  berth_err_free(&err);
  berth__json_stream_release(&s);
}

/* A message of exactly n bytes: {"stream":"aaaa...a"}. */
static char *message_of_size(size_t n) {
  static const char head[] = "{\"stream\":\"", tail[] = "\"}";
  char *m = malloc(n + 2);
  assert_non_null(m);
  memcpy(m, head, sizeof(head) - 1);
  memset(m + sizeof(head) - 1, 'a', n - (sizeof(head) - 1) - (sizeof(tail) - 1));
  memcpy(m + n - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
  m[n] = '\n';
  m[n + 1] = '\0';
  return m;
}

static void test_json_message_at_bound(void **state) {
  struct msgs got = {0};
  struct berth__json_stream s;
  berth__json_stream_init(&s, on_msg, &got);
  char *m = message_of_size(BERTH__MAX_MESSAGE);
  berth_err err = NULL;
  /* The message in 64 KiB pieces, then its newline alone. */
  for (size_t off = 0; off < BERTH__MAX_MESSAGE; off += 65536)
    assert_int_equal(berth__json_stream_feed(&s, m + off, 65536, &err), 0);
  assert_int_equal(got.n, 0);
  assert_int_equal(berth__json_stream_feed(&s, "\n", 1, &err), 0);
  assert_null(err);
  assert_int_equal(got.n, 1);
  assert_int_equal(strlen(got.items[0]), BERTH__MAX_MESSAGE);
  free(m);
  berth__json_stream_release(&s);
  msgs_release(&got);
}

static void test_json_message_over_bound_chunked(void **state) {
  struct msgs got = {0};
  struct berth__json_stream s;
  berth__json_stream_init(&s, on_msg, &got);
  size_t size = BERTH__MAX_MESSAGE + 1;
  char *m = message_of_size(size);
  berth_err err = NULL;
  int r = 0;
  size_t off = 0;
  while (off < size + 1 && r == 0) {
    size_t n = size + 1 - off < 65536 ? size + 1 - off : 65536;
    r = berth__json_stream_feed(&s, m + off, n, &err);
    off += n;
  }
  assert_int_equal(r, -BERTH_E_TOO_BIG);
  assert_int_equal(berth_err_code(err), BERTH_E_TOO_BIG);
  assert_non_null(strstr(berth_err_root_msg(err), "4194304"));
  assert_int_equal(got.n, 0);
  berth_err_free(&err);
  free(m);
  berth__json_stream_release(&s);
}

/* The bound does not depend on how the socket cut the stream. */
static void test_json_message_over_bound_one_chunk(void **state) {
  struct msgs got = {0};
  struct berth__json_stream s;
  berth__json_stream_init(&s, on_msg, &got);
  size_t size = BERTH__MAX_MESSAGE + 1;
  char *m = message_of_size(size);
  berth_err err = NULL;
  int r = berth__json_stream_feed(&s, m, size + 1, &err);
  assert_int_equal(r, -BERTH_E_TOO_BIG);
  assert_int_equal(berth_err_code(err), BERTH_E_TOO_BIG);
  assert_int_equal(got.n, 0);
  berth_err_free(&err);
  free(m);
  berth__json_stream_release(&s);
  msgs_release(&got);
}

static void test_json_callback_stops(void **state) {
  static const char text[] = "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n";
  /* All in one chunk, and byte by byte (the buffered path). */
  for (size_t step = 1; step <= sizeof(text); step += sizeof(text) - 1) {
    struct msgs got = {.stop_after = 2};
    struct berth__json_stream s;
    berth__json_stream_init(&s, on_msg, &got);
    berth_err err = NULL;
    int r = 0;
    size_t off = 0;
    while (off < strlen(text) && r == 0) {
      size_t n = strlen(text) - off < step ? strlen(text) - off : step;
      r = berth__json_stream_feed(&s, text + off, n, &err);
      off += n;
    }
    assert_int_equal(r, 1);
    assert_null(err);
    assert_int_equal(got.n, 2);
    assert_string_equal(got.items[1], "{\"n\":2}");
    berth__json_stream_release(&s);
    msgs_release(&got);
  }
}

static void test_json_callback_error(void **state) {
  struct msgs got = {.fail_after = 1};
  struct berth__json_stream s;
  berth__json_stream_init(&s, on_msg, &got);
  berth_err err = NULL;
  int r = berth__json_stream_feed(&s, "{\"n\":1}\n{\"n\":2}\n", 16, &err);
  assert_int_equal(r, -BERTH_E_INVALID);
  assert_int_equal(berth_err_code(err), BERTH_E_INVALID);
  assert_string_equal(berth_err_root_msg(err), "callback refused message 1");
  assert_int_equal(got.n, 1);
  berth_err_free(&err);
  berth__json_stream_release(&s);
  msgs_release(&got);
}

/* ---- the multiplexed output stream ---- */

struct output {
  struct berth_buf seq; /* "1:hello\n|2:oops|" ... consecutive same-stream data merged */
  int last_stream;
  size_t calls;
  size_t empty_calls;
  size_t stop_after; /* return 1 on this call; 0 = never */
};

static int on_output(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  struct output *o = ud;
  o->calls++;
  if (!len)
    o->empty_calls++;
  if ((int)s != o->last_stream) {
    char tag[8];
    int n = snprintf(tag, sizeof(tag), "%s%d:", o->last_stream ? "|" : "", (int)s);
    assert_int_equal(berth_buf_add(&o->seq, tag, (size_t)n), 0);
    o->last_stream = (int)s;
  }
  assert_int_equal(berth_buf_add(&o->seq, data, len), 0);
  return o->stop_after && o->calls == o->stop_after;
}

static void output_init(struct output *o) {
  *o = (struct output){.seq = BERTH_BUF_INIT(1 << 20)};
}

static const char *output_seq(struct output *o) {
  return o->seq.data ? o->seq.data : "";
}

/* Appends one frame to b. */
static void frame(struct berth_buf *b, unsigned char stream, const char *data, size_t len) {
  unsigned char h[8] = {stream,
                        0,
                        0,
                        0,
                        (unsigned char)(len >> 24),
                        (unsigned char)(len >> 16),
                        (unsigned char)(len >> 8),
                        (unsigned char)len};
  assert_int_equal(berth_buf_add(b, h, sizeof(h)), 0);
  assert_int_equal(berth_buf_add(b, data, len), 0);
}

static void sample_frames(struct berth_buf *b) {
  frame(b, BERTH_STDOUT, "hello\n", 6);
  frame(b, BERTH_STDERR, "oops", 4);
  frame(b, BERTH_STDOUT, "", 0); /* empty frames are legal */
  frame(b, BERTH_STDOUT, "world", 5);
  frame(b, BERTH_STDERR, "", 0);
  frame(b, BERTH_STDERR, "err2\n", 5);
}

static const char sample_seq[] = "1:hello\n|2:oops|1:world|2:err2\n";

/* Feeds data as an exact-size copy (no NUL after it). */
static int demux_feed_copy(struct berth__demux *m, const char *data, size_t len, berth_err *err) {
  char *copy = malloc(len ? len : 1);
  assert_non_null(copy);
  memcpy(copy, data, len);
  int r = berth__demux_feed(m, copy, len, err);
  free(copy);
  return r;
}

static void test_demux_whole(void **state) {
  struct berth_buf in = BERTH_BUF_INIT(4096);
  sample_frames(&in);
  struct output o;
  output_init(&o);
  struct berth__demux m;
  berth__demux_init(&m, false, on_output, &o);
  berth_err err = NULL;
  assert_int_equal(demux_feed_copy(&m, in.data, in.len, &err), 0);
  assert_int_equal(berth__demux_finish(&m, &err), 0);
  assert_null(err);
  assert_string_equal(output_seq(&o), sample_seq);
  assert_int_equal(o.empty_calls, 0);
  berth_buf_release(&o.seq);
  berth_buf_release(&in);
}

static void test_demux_split_everywhere(void **state) {
  struct berth_buf in = BERTH_BUF_INIT(4096);
  sample_frames(&in);
  /* Two pieces cut at every offset, including inside each 8-byte header. */
  for (size_t cut = 0; cut <= in.len; cut++) {
    struct output o;
    output_init(&o);
    struct berth__demux m;
    berth__demux_init(&m, false, on_output, &o);
    berth_err err = NULL;
    assert_int_equal(demux_feed_copy(&m, in.data, cut, &err), 0);
    assert_int_equal(demux_feed_copy(&m, in.data + cut, in.len - cut, &err), 0);
    assert_int_equal(berth__demux_finish(&m, &err), 0);
    assert_null(err);
    assert_string_equal(output_seq(&o), sample_seq);
    berth_buf_release(&o.seq);
  }
  /* Three pieces: every pair of cuts. */
  for (size_t a = 0; a <= in.len; a++)
    for (size_t b = a; b <= in.len; b++) {
      struct output o;
      output_init(&o);
      struct berth__demux m;
      berth__demux_init(&m, false, on_output, &o);
      berth_err err = NULL;
      assert_int_equal(demux_feed_copy(&m, in.data, a, &err), 0);
      assert_int_equal(demux_feed_copy(&m, in.data + a, b - a, &err), 0);
      assert_int_equal(demux_feed_copy(&m, in.data + b, in.len - b, &err), 0);
      assert_int_equal(berth__demux_finish(&m, &err), 0);
      assert_string_equal(output_seq(&o), sample_seq);
      berth_buf_release(&o.seq);
    }
  /* Byte by byte. */
  struct output o;
  output_init(&o);
  struct berth__demux m;
  berth__demux_init(&m, false, on_output, &o);
  berth_err err = NULL;
  for (size_t i = 0; i < in.len; i++)
    assert_int_equal(demux_feed_copy(&m, in.data + i, 1, &err), 0);
  assert_int_equal(berth__demux_finish(&m, &err), 0);
  assert_string_equal(output_seq(&o), sample_seq);
  assert_int_equal(o.empty_calls, 0);
  berth_buf_release(&o.seq);
  berth_buf_release(&in);
}

static void test_demux_big_endian_size(void **state) {
  /* 65538 = 0x00010002: a little-endian reader would see 0x02000100. */
  size_t n = 65538;
  char *payload = malloc(n);
  assert_non_null(payload);
  for (size_t i = 0; i < n; i++)
    payload[i] = (char)('a' + i % 26);
  struct berth_buf in = BERTH_BUF_INIT(1 << 20);
  frame(&in, BERTH_STDERR, payload, n);
  frame(&in, BERTH_STDOUT, "end", 3);
  struct output o;
  output_init(&o);
  struct berth__demux m;
  berth__demux_init(&m, false, on_output, &o);
  berth_err err = NULL;
  for (size_t off = 0; off < in.len; off += 4000) {
    size_t len = in.len - off < 4000 ? in.len - off : 4000;
    assert_int_equal(demux_feed_copy(&m, in.data + off, len, &err), 0);
  }
  assert_int_equal(berth__demux_finish(&m, &err), 0);
  assert_int_equal(o.seq.len, 2 + n + 1 + 2 + 3);
  assert_memory_equal(o.seq.data, "2:", 2);
  assert_memory_equal(o.seq.data + 2, payload, n);
  assert_string_equal(o.seq.data + 2 + n, "|1:end");
  free(payload);
  berth_buf_release(&o.seq);
  berth_buf_release(&in);
}

static void test_demux_only_empty_frames(void **state) {
  struct berth_buf in = BERTH_BUF_INIT(4096);
  frame(&in, BERTH_STDOUT, "", 0);
  frame(&in, BERTH_STDERR, "", 0);
  struct output o;
  output_init(&o);
  struct berth__demux m;
  berth__demux_init(&m, false, on_output, &o);
  berth_err err = NULL;
  assert_int_equal(demux_feed_copy(&m, in.data, in.len, &err), 0);
  assert_int_equal(berth__demux_finish(&m, &err), 0);
  assert_int_equal(o.calls, 0);
  berth_buf_release(&in);
}

static void test_demux_bad_stream_byte(void **state) {
  struct output o;
  output_init(&o);
  struct berth__demux m;
  berth__demux_init(&m, false, on_output, &o);
  berth_err err = NULL;
  static const char bad[] = {3, 0, 0, 0, 0, 0, 0, 1, 'x'};
  int r = demux_feed_copy(&m, bad, sizeof(bad), &err);
  assert_int_equal(r, -BERTH_E_PROTOCOL);
  assert_int_equal(berth_err_code(err), BERTH_E_PROTOCOL);
  assert_non_null(strstr(berth_err_root_msg(err), "stream byte 3"));
  assert_non_null(strstr(berth_err_root_msg(err), "TTY"));
  assert_int_equal(o.calls, 0);
  berth_err_free(&err);
}

static void test_demux_bad_padding_byte(void **state) {
  for (int i = 1; i <= 3; i++) {
    struct output o;
    output_init(&o);
    struct berth__demux m;
    berth__demux_init(&m, false, on_output, &o);
    berth_err err = NULL;
    struct berth_buf in = BERTH_BUF_INIT(64);
    frame(&in, BERTH_STDOUT, "ok", 2);
    char bad[] = {1, 0, 0, 0, 0, 0, 0, 1, 'x'};
    bad[i] = 1;
    berth_buf_add(&in, bad, sizeof(bad));
    int r = demux_feed_copy(&m, in.data, in.len, &err);
    assert_int_equal(r, -BERTH_E_PROTOCOL);
    assert_int_equal(berth_err_code(err), BERTH_E_PROTOCOL);
    assert_string_equal(output_seq(&o), "1:ok"); /* the good frame came through */
    berth_err_free(&err);
    berth_buf_release(&o.seq);
    berth_buf_release(&in);
  }
}

static void test_demux_tty_output_is_not_framed(void **state) {
  /* What a TTY container sends, read as if it were multiplexed. */
  struct output o;
  output_init(&o);
  struct berth__demux m;
  berth__demux_init(&m, false, on_output, &o);
  berth_err err = NULL;
  static const char text[] = "root@c0ffee:/# ls\n";
  int r = demux_feed_copy(&m, text, strlen(text), &err);
  assert_int_equal(r, -BERTH_E_PROTOCOL);
  assert_int_equal(o.calls, 0);
  berth_err_free(&err);
}

static void test_demux_raw(void **state) {
  struct berth_buf in = BERTH_BUF_INIT(4096);
  sample_frames(&in); /* in raw mode these are just bytes */
  struct output o;
  output_init(&o);
  struct berth__demux m;
  berth__demux_init(&m, true, on_output, &o);
  berth_err err = NULL;
  assert_int_equal(demux_feed_copy(&m, in.data, 5, &err), 0);
  assert_int_equal(demux_feed_copy(&m, in.data + 5, 0, &err), 0);
  assert_int_equal(demux_feed_copy(&m, in.data + 5, in.len - 5, &err), 0);
  /* A raw stream can end anywhere. */
  assert_int_equal(berth__demux_finish(&m, &err), 0);
  assert_null(err);
  assert_int_equal(o.seq.len, 2 + in.len);
  assert_memory_equal(o.seq.data, "1:", 2);
  assert_memory_equal(o.seq.data + 2, in.data, in.len);
  assert_int_equal(o.calls, 2); /* no call for the empty chunk */
  berth_buf_release(&o.seq);
  berth_buf_release(&in);
}

static void test_demux_raw_stop(void **state) {
  struct output o;
  output_init(&o);
  o.stop_after = 1;
  struct berth__demux m;
  berth__demux_init(&m, true, on_output, &o);
  berth_err err = NULL;
  assert_int_equal(demux_feed_copy(&m, "abc", 3, &err), 1);
  assert_null(err);
  berth_buf_release(&o.seq);
}

static void test_demux_finish_inside_header(void **state) {
  struct output o;
  output_init(&o);
  struct berth__demux m;
  berth__demux_init(&m, false, on_output, &o);
  berth_err err = NULL;
  static const char part[] = {1, 0, 0};
  assert_int_equal(demux_feed_copy(&m, part, sizeof(part), &err), 0);
  int r = berth__demux_finish(&m, &err);
  assert_int_equal(r, -BERTH_E_PROTOCOL);
  assert_int_equal(berth_err_code(err), BERTH_E_PROTOCOL);
  assert_non_null(strstr(berth_err_root_msg(err), "5 bytes missing"));
  berth_err_free(&err);
}

static void test_demux_finish_inside_payload(void **state) {
  struct output o;
  output_init(&o);
  struct berth__demux m;
  berth__demux_init(&m, false, on_output, &o);
  berth_err err = NULL;
  struct berth_buf in = BERTH_BUF_INIT(64);
  frame(&in, BERTH_STDOUT, "0123456789", 10);
  assert_int_equal(demux_feed_copy(&m, in.data, in.len - 3, &err), 0);
  assert_string_equal(output_seq(&o), "1:0123456");
  int r = berth__demux_finish(&m, &err);
  assert_int_equal(r, -BERTH_E_PROTOCOL);
  assert_non_null(strstr(berth_err_root_msg(err), "3 bytes missing"));
  berth_err_free(&err);
  berth_buf_release(&in);
  berth_buf_release(&o.seq);
}

static void test_demux_callback_stops(void **state) {
  struct berth_buf in = BERTH_BUF_INIT(4096);
  sample_frames(&in);
  struct output o;
  output_init(&o);
  o.stop_after = 2;
  struct berth__demux m;
  berth__demux_init(&m, false, on_output, &o);
  berth_err err = NULL;
  assert_int_equal(demux_feed_copy(&m, in.data, in.len, &err), 1);
  assert_null(err);
  assert_int_equal(o.calls, 2);
  assert_string_equal(output_seq(&o), "1:hello\n|2:oops");
  berth_buf_release(&o.seq);
  berth_buf_release(&in);
}

/* ---- progress messages ---- */

static cJSON *parse(const char *text) {
  cJSON *j = cJSON_Parse(text);
  assert_non_null(j);
  return j;
}

static void test_progress_pull(void **state) {
  cJSON *j = parse("{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1,\"total\":2},"
                   "\"progress\":\"[=>   ] 1B/2B\",\"id\":\"abc\"}");
  struct berth_docker_progress p;
  memset(&p, 0x5a, sizeof(p));
  berth_err err = NULL;
  assert_int_equal(berth__progress_parse(j, &p, &err), 0);
  assert_null(err);
  assert_string_equal(p.id, "abc");
  assert_string_equal(p.status, "Downloading");
  assert_null(p.stream);
  assert_null(p.image_id);
  assert_int_equal(p.current, 1);
  assert_int_equal(p.total, 2);
  cJSON_Delete(j);
}

static void test_progress_pull_large_numbers(void **state) {
  cJSON *j = parse("{\"status\":\"Extracting\",\"progressDetail\":{\"current\":5368709120,"
                   "\"total\":10737418240},\"id\":\"e1769f49f910\"}");
  struct berth_docker_progress p;
  berth_err err = NULL;
  assert_int_equal(berth__progress_parse(j, &p, &err), 0);
  assert_true(p.current == INT64_C(5368709120));
  assert_true(p.total == INT64_C(10737418240));
  cJSON_Delete(j);
}

static void test_progress_status_only(void **state) {
  cJSON *j = parse("{\"status\":\"Pull complete\",\"progressDetail\":{},\"id\":\"a2abf6c4d29d\"}");
  struct berth_docker_progress p;
  memset(&p, 0x5a, sizeof(p));
  berth_err err = NULL;
  assert_int_equal(berth__progress_parse(j, &p, &err), 0);
  assert_string_equal(p.status, "Pull complete");
  assert_string_equal(p.id, "a2abf6c4d29d");
  assert_int_equal(p.current, 0);
  assert_int_equal(p.total, 0);
  assert_null(p.stream);
  assert_null(p.image_id);
  cJSON_Delete(j);
}

static void test_progress_build_stream(void **state) {
  cJSON *j = parse("{\"stream\":\"Step 1/2 : FROM x\\n\"}");
  struct berth_docker_progress p;
  memset(&p, 0x5a, sizeof(p));
  berth_err err = NULL;
  assert_int_equal(berth__progress_parse(j, &p, &err), 0);
  assert_string_equal(p.stream, "Step 1/2 : FROM x\n");
  assert_null(p.status);
  assert_null(p.id);
  assert_null(p.image_id);
  assert_int_equal(p.current, 0);
  assert_int_equal(p.total, 0);
  cJSON_Delete(j);
}

static void test_progress_aux_id(void **state) {
  cJSON *j = parse("{\"aux\":{\"ID\":\"sha256:"
                   "9b2f7d8e6c5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c\"}}");
  struct berth_docker_progress p;
  berth_err err = NULL;
  assert_int_equal(berth__progress_parse(j, &p, &err), 0);
  assert_string_equal(p.image_id,
                      "sha256:9b2f7d8e6c5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c");
  assert_null(p.stream);
  assert_null(p.status);
  cJSON_Delete(j);
}

static void check_error(const char *json, const char *want) {
  cJSON *j = parse(json);
  struct berth_docker_progress p;
  berth_err err = NULL;
  int r = berth__progress_parse(j, &p, &err);
  assert_int_equal(r, -BERTH_E_API);
  assert_int_equal(berth_err_code(err), BERTH_E_API);
  assert_string_equal(berth_err_root_msg(err), want);
  berth_err_free(&err);
  cJSON_Delete(j);
}

static void test_progress_errors(void **state) {
  /* A failed RUN in the classic builder. */
  check_error("{\"errorDetail\":{\"code\":1,\"message\":\"The command '/bin/sh -c exit 3' "
              "returned a non-zero code: 3\"},\"error\":\"The command '/bin/sh -c exit 3' "
              "returned a non-zero code: 3\"}",
              "The command '/bin/sh -c exit 3' returned a non-zero code: 3");
  /* A pull of a tag that does not exist. */
  check_error("{\"errorDetail\":{\"message\":\"manifest for postgres:99 not found: manifest "
              "unknown: manifest unknown\\n\"},\"error\":\"manifest for postgres:99 not found: "
              "manifest unknown: manifest unknown\\n\"}",
              "manifest for postgres:99 not found: manifest unknown: manifest unknown");
  check_error("{\"error\":\"COPY failed: file not found in build context\\r\\n\"}",
              "COPY failed: file not found in build context");
  check_error("{\"errorDetail\":{\"message\":\"only the detail\\n\"}}", "only the detail");
}

/* An error without any text still reads as an error. */
static void test_progress_error_without_message(void **state) {
  check_error("{\"errorDetail\":{\"code\":1}}", "the engine reported an error without a message");
}

static void test_progress_resets_output(void **state) {
  cJSON *a = parse("{\"aux\":{\"ID\":\"sha256:1\"},\"id\":\"x\"}");
  cJSON *b = parse("{\"stream\":\"text\"}");
  struct berth_docker_progress p;
  berth_err err = NULL;
  assert_int_equal(berth__progress_parse(a, &p, &err), 0);
  assert_string_equal(p.image_id, "sha256:1");
  assert_int_equal(berth__progress_parse(b, &p, &err), 0);
  assert_null(p.image_id);
  assert_null(p.id);
  assert_string_equal(p.stream, "text");
  cJSON_Delete(a);
  cJSON_Delete(b);
}

/* The pull stream end to end: stream parser feeding the progress parser. */
struct pull_ctx {
  int downloading;
  int64_t last_total;
  int complete;
};

static int on_pull_msg(const cJSON *msg, void *ud, berth_err *err) {
  struct pull_ctx *c = ud;
  struct berth_docker_progress p;
  int r = berth__progress_parse(msg, &p, err);
  if (r < 0)
    return r;
  if (p.status && !strcmp(p.status, "Downloading")) {
    c->downloading++;
    c->last_total = p.total;
  }
  if (p.status && !strcmp(p.status, "Pull complete"))
    c->complete++;
  return 0;
}

static void test_progress_through_stream(void **state) {
  struct pull_ctx c = {0};
  struct berth__json_stream s;
  berth__json_stream_init(&s, on_pull_msg, &c);
  berth_err err = NULL;
  assert_int_equal(feed_chunked(&s, pull_stream, strlen(pull_stream), 0, 42, &err), 0);
  assert_int_equal(c.downloading, 2);
  assert_int_equal(c.last_total, 31357311);
  assert_int_equal(c.complete, 1);
  berth__json_stream_release(&s);

  /* An error in the middle of the stream stops it with the engine's text. */
  static const char failing[] =
      "{\"status\":\"Pulling from library/postgres\",\"id\":\"99\"}\r\n"
      "{\"errorDetail\":{\"message\":\"toomanyrequests: You have reached your pull rate "
      "limit.\"},\"error\":\"toomanyrequests: You have reached your pull rate limit.\"}\r\n"
      "{\"status\":\"never seen\"}\r\n";
  c = (struct pull_ctx){0};
  berth__json_stream_init(&s, on_pull_msg, &c);
  int r = feed_chunked(&s, failing, strlen(failing), 7, 0, &err);
  assert_int_equal(r, -BERTH_E_API);
  assert_string_equal(berth_err_root_msg(err),
                      "toomanyrequests: You have reached your pull rate limit.");
  berth_err_free(&err);
  berth__json_stream_release(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_pull_stream_any_chunking),
      cmocka_unit_test(test_json_build_stream_any_chunking),
      cmocka_unit_test(test_json_messages_content),
      cmocka_unit_test(test_json_blank_lines),
      cmocka_unit_test(test_json_finish_trailing_message),
      cmocka_unit_test(test_json_finish_empty),
      cmocka_unit_test(test_json_finish_truncated),
      cmocka_unit_test(test_json_not_json),
      cmocka_unit_test(test_json_not_json_quotes_only_the_line),
      cmocka_unit_test(test_json_message_at_bound),
      cmocka_unit_test(test_json_message_over_bound_chunked),
      cmocka_unit_test(test_json_message_over_bound_one_chunk),
      cmocka_unit_test(test_json_callback_stops),
      cmocka_unit_test(test_json_callback_error),
      cmocka_unit_test(test_demux_whole),
      cmocka_unit_test(test_demux_split_everywhere),
      cmocka_unit_test(test_demux_big_endian_size),
      cmocka_unit_test(test_demux_only_empty_frames),
      cmocka_unit_test(test_demux_bad_stream_byte),
      cmocka_unit_test(test_demux_bad_padding_byte),
      cmocka_unit_test(test_demux_tty_output_is_not_framed),
      cmocka_unit_test(test_demux_raw),
      cmocka_unit_test(test_demux_raw_stop),
      cmocka_unit_test(test_demux_finish_inside_header),
      cmocka_unit_test(test_demux_finish_inside_payload),
      cmocka_unit_test(test_demux_callback_stops),
      cmocka_unit_test(test_progress_pull),
      cmocka_unit_test(test_progress_pull_large_numbers),
      cmocka_unit_test(test_progress_status_only),
      cmocka_unit_test(test_progress_build_stream),
      cmocka_unit_test(test_progress_aux_id),
      cmocka_unit_test(test_progress_errors),
      cmocka_unit_test(test_progress_error_without_message),
      cmocka_unit_test(test_progress_resets_output),
      cmocka_unit_test(test_progress_through_stream),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
