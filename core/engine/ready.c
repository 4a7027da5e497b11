/* Readiness, for run.c's workers: what a started container must show
 * before its dependents may use it, at the least cost to it.
 *
 * - A recognised kind (postgres, redis, rabbitmq: an infra instance, or a
 *   Compose service by image, command or healthcheck) is ready when its
 *   protocol answers from the host; a healthcheck the user declared must
 *   pass as well.
 * - A healthcheck the engine runs often enough (plan.c: ENGINE_PACE_MS)
 *   is never run again by berth: the health_status event says when it
 *   passed. Any other exec check berth runs itself, one at a time, soon
 *   at first and then backing off towards its interval (at most 1 s
 *   apart), and resting at least half as long as its last run took, so a
 *   BEAM-sized check keeps to two thirds of one core (bench/probe-cost.sh:
 *   on two cores even back-to-back runs did not delay RabbitMQ's boot,
 *   while a longer rest made the passing run land seconds late).
 * - Without any probe, running counts once the container has stayed up
 *   SETTLE_MS, so a service that crashes at start fails `up`.
 * - An unchanged running container is ready without running anything
 *   when the engine says healthy (from the one listing `up` made), or when
 *   berth's last probe of this very start passed (the state remembers).
 * - A container that exits before it is ready fails `up` with its exit
 *   code and its last log lines, unless it is a job: exit 0, restart "no"
 *   and nobody waiting for it to run. A restart policy that brings it back
 *   gets its chance until the deadline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth/buf.h"
#include "cleanup.h"
#include "engine-internal.h"

#define PROBE_INTERVAL_MS 100
#define EXEC_BACKOFF_MAX_MS 1000
#define SETTLE_MS 1000
#define LOG_TAIL 20

static int on_log_tail(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  return berth_buf_add(ud, data, len) < 0 ? 1 : 0; /* full: the tail is long enough */
}

char *berth__log_tail(struct berth_docker *d, const char *id) {
  struct berth_buf b = BERTH_BUF_INIT(1 << 20);
  struct berth_docker_logs_opts o = {.tail = LOG_TAIL};
  berth_err err = NULL;
  if (berth_docker_container_logs(d, id, &o, on_log_tail, &b, &err) < 0) {
    berth_err_free(&err);
    berth_buf_release(&b);
    return strdup("    (no log)");
  }
  struct berth_buf out = BERTH_BUF_INIT(1 << 20);
  for (char *save = NULL, *l = b.data ? strtok_r(b.data, "\n", &save) : NULL; l;
       l = strtok_r(NULL, "\n", &save))
    if (berth_buf_addf(&out, "%s    %s", out.len ? "\n" : "", l) < 0)
      break;
  berth_buf_release(&b);
  return out.len ? berth_buf_detach(&out) : (berth_buf_release(&out), strdup("    (empty log)"));
}

static const char *container_ip(const cJSON *info, char *buf, size_t size) {
  const cJSON *nets = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(info, "NetworkSettings"), "Networks");
  const cJSON *n;
  cJSON_ArrayForEach (n, nets) {
    const char *ip = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(n, "IPAddress"));
    if (ip && *ip) {
      snprintf(buf, size, "%s", ip);
      return buf;
    }
  }
  return NULL;
}

static const char *str_at(const cJSON *o, const char *key) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

int berth__inspect(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                   struct berth__look *l, berth_err *err) {
  /* The count first: an event during the call makes the next wait return. */
  pthread_mutex_lock(&e->mu);
  l->seq = u->ev_seq;
  pthread_mutex_unlock(&e->mu);
  _cleanup_json_ cJSON *info = NULL;
  if (berth_docker_container_inspect(d, u->id, &info, err) < 0)
    return berth_err_wrap(err, "%s", u->name);
  const cJSON *state = cJSON_GetObjectItemCaseSensitive(info, "State");
  const cJSON *code = cJSON_GetObjectItemCaseSensitive(state, "ExitCode");
  const cJSON *health = cJSON_GetObjectItemCaseSensitive(state, "Health");
  const cJSON *hlog = cJSON_GetObjectItemCaseSensitive(health, "Log");
  const char *h = str_at(health, "Status"), *started = str_at(state, "StartedAt");
  const char *out = str_at(cJSON_GetArrayItem(hlog, cJSON_GetArraySize(hlog) - 1), "Output");
  l->restarting = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(state, "Restarting"));
  l->exited = l->restarting || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(state, "Running"));
  l->code = cJSON_IsNumber(code) ? code->valueint : -1;
  snprintf(l->health, sizeof(l->health), "%s", h ? h : "");
  snprintf(l->health_out, sizeof(l->health_out), "%s", out ? out : "");
  l->health_out[strcspn(l->health_out, "\n")] = '\0';
  snprintf(l->started_at, sizeof(l->started_at), "%s", started ? started : "");
  l->has_ip = container_ip(info, l->ip, sizeof(l->ip)) != NULL;
  return 0;
}

int berth__look_again(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                      struct berth__look *l, int64_t ms, berth_err *err) {
  int64_t now = berth_now_ms(), until = ms < 0 ? e->deadline : now + ms;
  pthread_mutex_lock(&e->mu);
  while (u->ev_seq == l->seq && !e->ev_lost && !e->err && (now = berth_now_ms()) < until &&
         now < e->deadline)
    berth__wait_locked(e, until - now);
  bool news = u->ev_seq != l->seq, lost = e->ev_lost;
  pthread_mutex_unlock(&e->mu);
  if (lost)
    berth_sleep_ms(PROBE_INTERVAL_MS);
  return news || lost || !l->has_ip ? berth__inspect(e, d, u, l, err) : 0;
}

static const char *probe_what(const struct berth__unit *u) {
  if (u->probe == UP_PROTO)
    return u->target.proto == BERTH_PROTO_POSTGRES ? "postgres"
           : u->target.proto == BERTH_PROTO_REDIS  ? "redis"
           : u->target.proto == BERTH_PROTO_AMQP   ? "amqp"
           : u->target.proto == BERTH_PROTO_HTTP   ? "http"
                                                   : "tcp";
  return u->probe == UP_EXEC     ? "its probe command"
         : u->probe == UP_HEALTH ? "its healthcheck"
                                 : "it to stay up";
}

static int null_output(enum berth_docker_stream s, const char *data, size_t len, void *ud) {
  berth_buf_add(ud, data, len); /* bounded: what does not fit is not shown */
  return 0;
}

/* One run of the exec check in the container: 1 passed, 0 not. */
static int run_check(struct berth_docker *d, struct berth__unit *u, char *why, size_t size) {
  struct berth_buf out = BERTH_BUF_INIT(4096);
  struct berth_docker_exec_opts xo = {.cmd = (const char *const *)u->probe_exec.v,
                                      .stdin_fd = -1,
                                      .timeout_ms = u->exec_timeout_ms};
  int code = -1, ready = 0;
  berth_err xe = NULL;
  if (berth_docker_exec(d, u->id, &xo, null_output, &out, &code, &xe) < 0) {
    snprintf(why, size, "%s", berth_err_root_msg(xe));
    berth_err_free(&xe);
  } else {
    ready = code == 0;
    snprintf(why, size, "the check exited with %d%s%.200s", code, out.len ? ": " : "",
             out.data ? out.data : "");
  }
  berth_buf_release(&out);
  return ready;
}

/* Where one wait for readiness stands. */
struct wait {
  bool proto_ok;
  int64_t t_start;   /* when this start of the container was first seen */
  int64_t next_exec; /* berth's own exec check: not before */
  int64_t backoff;
  char started_at[40];
  char why[512];
};

/* The part after the protocol: a declared check, or staying up. 1 ready,
 * 0 not yet; *wake_ms says when to look again (-1: on news). */
static int check_step(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                      const struct berth__look *l, struct wait *w, bool needed_ready,
                      int64_t *wake_ms) {
  int64_t now = berth_now_ms();
  bool exec_check = u->probe == UP_EXEC || (u->check_after && u->probe_exec.n);
  bool image_check = u->probe == UP_HEALTH || (u->check_after && !u->probe_exec.n) ||
                     (u->probe == UP_NONE && needed_ready && l->health[0]);
  if (exec_check || image_check) {
    if (!strcmp(l->health, "healthy") || (image_check && !l->health[0]))
      return 1;
    if (exec_check && !u->engine_runs) {
      if (now < w->next_exec) {
        *wake_ms = w->next_exec - now;
        return 0;
      }
      if (run_check(d, u, w->why, sizeof(w->why)) > 0)
        return 1;
      int64_t took = berth_now_ms() - now, gap = w->backoff > took / 2 ? w->backoff : took / 2;
      w->next_exec = berth_now_ms() + gap;
      int64_t cap =
          u->exec_interval_ms < EXEC_BACKOFF_MAX_MS ? u->exec_interval_ms : EXEC_BACKOFF_MAX_MS;
      w->backoff = 2 * w->backoff < cap ? 2 * w->backoff : cap > 0 ? cap : w->backoff;
      *wake_ms = gap;
      return 0;
    }
    snprintf(w->why, sizeof(w->why), "the engine reports %s%s%.200s",
             l->health[0] ? l->health : "no health yet", l->health_out[0] ? ": " : "",
             l->health_out);
    *wake_ms = -1;
    return 0;
  }
  if (u->probe == UP_PROTO || now - w->t_start >= SETTLE_MS)
    return 1;
  snprintf(w->why, sizeof(w->why), "it has run for %lld ms", (long long)(now - w->t_start));
  *wake_ms = SETTLE_MS - (now - w->t_start);
  return 0;
}

/* One look: 1 ready, 0 not yet (*wake_ms as above). */
static int ready_step(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                      const struct berth__look *l, struct wait *w, bool needed_ready,
                      int64_t *wake_ms) {
  if (strcmp(w->started_at, l->started_at)) { /* a new start: everything again */
    snprintf(w->started_at, sizeof(w->started_at), "%s", l->started_at);
    w->proto_ok = false;
    w->t_start = berth_now_ms();
    w->next_exec = w->t_start;
    w->backoff = PROBE_INTERVAL_MS;
  }
  if (u->probe == UP_PROTO && !w->proto_ok) {
    struct berth_probe_target t = u->target;
    t.host = l->has_ip ? l->ip : NULL;
    *wake_ms = PROBE_INTERVAL_MS;
    if (!t.host) {
      snprintf(w->why, sizeof(w->why), "it has no IP address on a network berth can reach");
      return 0;
    }
    if (!(w->proto_ok = berth_probe_once(&t, w->why, sizeof(w->why)) > 0))
      return 0;
  }
  return check_step(e, d, u, l, w, needed_ready, wake_ms);
}

/* From the one listing up made: healthy by the engine's word, or
 * running with no probe and no health to wait for. */
static bool listed_ready(const struct berth__engine *e, const struct berth__unit *u) {
  const cJSON *c = berth__existing(e, u->container);
  const char *state = str_at(c, "State"), *health = berth__listed_health(c);
  if (!state || strcmp(state, "running"))
    return false;
  if (health && !strcmp(health, "healthy"))
    return true;
  return (u->probe == UP_NONE || u->probe == UP_DISABLED) && !health;
}

static void ready_key(const struct berth__unit *u, const char *started_at, char *buf, size_t n) {
  snprintf(buf, n, "ready:%s:%s", u->id, started_at);
}

/* An unchanged running container that needs nothing run: 1, else 0 with
 * l looked at. */
static int still_ready(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                       struct berth__look *l, berth_err *err) {
  if (listed_ready(e, u))
    return 1;
  if (berth__inspect(e, d, u, l, err) < 0)
    return -1;
  if (l->exited || (l->health[0] && strcmp(l->health, "healthy")))
    return 0;
  if (!strcmp(l->health, "healthy") || u->probe == UP_NONE || u->probe == UP_DISABLED)
    return 1;
  if (!e->o->state)
    return 0;
  char key[256];
  ready_key(u, l->started_at, key, sizeof(key));
  berth_err se = NULL;
  int marked = berth_state_marked(e->o->state, e->p->name, key, &se);
  berth_err_free(&se);
  return marked > 0;
}

/* The end of a wait that did not end ready: exited, or out of time. */
static int not_ready(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                     const struct berth__look *l, const struct wait *w, berth_err *err) {
  _cleanup_free_ char *tail = berth__log_tail(d, u->id);
  if (l->exited)
    return berth_err_set(err, BERTH_E_FAILED,
                         "%s exited with code %d before it was ready; its last log lines:\n%s",
                         u->name, l->code, tail);
  return berth_err_set(err, BERTH_E_TIMEOUT,
                       "%s was not ready within %llds: last probe: %s; its last log lines:\n%s",
                       u->name, (long long)((e->deadline - e->t0) / 1000), w->why, tail);
}

int berth__await_ready(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                       const struct berth__ready_opts *o, berth_err *err) {
  struct berth__look l = {0};
  int r = o->unchanged ? still_ready(e, d, u, &l, err) : 0;
  if (r != 0) {
    pthread_mutex_lock(&e->mu);
    u->ready_seq = l.started_at[0] ? l.seq : u->ev_seq;
    pthread_mutex_unlock(&e->mu);
    snprintf(u->ready_started_at, sizeof(u->ready_started_at), "%s", l.started_at);
    return r < 0 ? r : BERTH__READY;
  }
  berth__emit(e, u, BERTH_PHASE_PROBING, "waiting for %s%s", probe_what(u),
              u->check_after ? " and its healthcheck" : "");
  struct wait w = {.why = "no answer yet"};
  bool restarts = u->svc && strcmp(u->svc->restart, "no");
  for (r = l.started_at[0] ? 0 : berth__inspect(e, d, u, &l, err); r >= 0;) {
    int64_t wake = PROBE_INTERVAL_MS;
    if (berth__failing(e))
      return BERTH__GAVE_UP;
    if (l.exited && !l.restarting && l.code == 0 && o->may_complete)
      return BERTH__COMPLETED;
    if (l.exited && !restarts)
      return not_ready(e, d, u, &l, &w, err);
    if (l.exited)
      snprintf(w.why, sizeof(w.why), "it exited with code %d; its restart policy (%s) restarts it",
               l.code, u->svc->restart);
    else if ((r = ready_step(e, d, u, &l, &w, o->needed_ready, &wake)) > 0)
      break;
    if (berth_now_ms() + (wake > 0 ? wake : 0) >= e->deadline)
      return not_ready(e, d, u, &l, &w, err);
    r = berth__look_again(e, d, u, &l, l.exited ? -1 : wake, err);
  }
  if (r < 0)
    return r;
  snprintf(u->ready_started_at, sizeof(u->ready_started_at), "%s", l.started_at);
  u->ready_seq = l.seq;
  if (e->o->state && u->probe != UP_NONE && u->probe != UP_DISABLED) {
    char key[256];
    ready_key(u, l.started_at, key, sizeof(key));
    berth_err se = NULL; /* best effort: the next up probes again */
    if (berth_state_mark(e->o->state, e->p->name, key, &se) < 0)
      berth_err_free(&se);
  }
  return BERTH__READY;
}

int berth__await_completion(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                            berth_err *err) {
  struct berth__look l = {0};
  int r = berth__inspect(e, d, u, &l, err);
  while (r >= 0 && !l.exited) {
    if (berth__failing(e))
      return BERTH__GAVE_UP;
    if (berth_now_ms() >= e->deadline) {
      _cleanup_free_ char *tail = berth__log_tail(d, u->id);
      return berth_err_set(err, BERTH_E_TIMEOUT,
                           "%s did not complete within %llds; its last log lines:\n%s", u->name,
                           (long long)((e->deadline - e->t0) / 1000), tail);
    }
    r = berth__look_again(e, d, u, &l, -1, err);
  }
  if (r < 0)
    return r;
  if (l.code != 0) {
    _cleanup_free_ char *tail = berth__log_tail(d, u->id);
    return berth_err_set(err, BERTH_E_FAILED, "%s exited with code %d; its last log lines:\n%s",
                         u->name, l.code, tail);
  }
  return 0;
}

int berth__recheck(struct berth__engine *e, struct berth_docker *d, struct berth__unit *u,
                   bool may_complete, berth_err *err) {
  pthread_mutex_lock(&e->mu);
  bool news = u->ev_seq != u->ready_seq;
  pthread_mutex_unlock(&e->mu);
  if (!news)
    return 0;
  struct berth__look l = {0};
  if (berth__inspect(e, d, u, &l, err) < 0)
    return -1;
  if (!l.exited && (!u->ready_started_at[0] || !strcmp(l.started_at, u->ready_started_at)))
    return 0;
  if (l.exited && !l.restarting && l.code == 0 && may_complete)
    return BERTH__COMPLETED;
  _cleanup_free_ char *tail = berth__log_tail(d, u->id);
  if (!l.exited)
    return berth_err_set(err, BERTH_E_FAILED,
                         "%s restarted after it was ready (its restart policy brought it back); "
                         "its last log lines:\n%s",
                         u->name, tail);
  return berth_err_set(err, BERTH_E_FAILED,
                       "%s exited with code %d after it was ready; its last log lines:\n%s",
                       u->name, l.code, tail);
}
