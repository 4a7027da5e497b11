"""communication-service: messages between club members.

Messages live in PostgreSQL (schema `communication`); each new message is
published as a "message.created" event to RabbitMQ (the durable queue
`message-events` in this service's own vhost); message lists are cached in
Redis for a short time and the cache is invalidated on every new message.

    POST /api/messages               {"user_id": 1, "body": "..."} -> 201 the message
    GET  /api/messages[?user_id=N]   -> 200 [messages], oldest first;
                                        header X-Cache: hit | miss
    GET  /api/messages/{id}          -> 200 the message | 404
    GET  /api/messages/events/count  -> 200 {"queue": ..., "messages": N}: events
                                        waiting in the queue (passive declare)
    GET  /health                     -> 200 when PostgreSQL, Redis and RabbitMQ
                                        all answer, else 503

Environment: DATABASE_URL (postgres://user:pass@host:5432/db), REDIS_URL
(redis://:pass@host:6379/0), AMQP_URL (amqp://user:pass@host:5672/vhost),
PORT (3002), CACHE_TTL (seconds, 30), LOG_HEALTH (1; 0 hides successful
/health requests from the log).

Each first connection is tried once: if PostgreSQL, Redis or RabbitMQ is
unreachable at start the program exits 1 with a clear message instead of
retrying (berth starts it only once all three accept connections). Later
failures are per request (503) and connections are re-made on demand.
"""

import datetime
import json
import os
import re
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pika
import pika.exceptions
import psycopg2
import psycopg2.extras
import psycopg2.pool
import redis

SERVICE = "communication-service"
PORT = int(os.environ.get("PORT", "3002"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
AMQP_URL = os.environ.get("AMQP_URL", "")
CACHE_TTL = int(os.environ.get("CACHE_TTL", "30"))
LOG_HEALTH = os.environ.get("LOG_HEALTH", "1") not in ("0", "false", "no")
QUEUE = "message-events"
EVENT = "message.created"
CACHE_PREFIX = "communication:messages"
POOL_SIZE = 10
MAX_BODY = 1 << 20
MAX_LIMIT = 1000

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS communication.messages (
    id         serial PRIMARY KEY,
    user_id    integer NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS messages_user_id_idx ON communication.messages (user_id)
"""


def log(msg, stream=sys.stdout):
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    print(f"{ts}Z {SERVICE} {msg}", file=stream, flush=True)


def fatal(msg):
    log(f"fatal: {msg}", sys.stderr)
    sys.exit(1)


def redact(url):
    """The URL with its password replaced by ***, for messages."""
    try:
        u = urlsplit(url)
        if u.password is None:
            return url
        netloc = u.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        return u._replace(netloc=f"{user}:***@{netloc[1]}").geturl()
    except ValueError:
        return "<unparsable URL>"


def errtext(e):
    # pika's connection errors often have an empty str(); their args say why
    return (str(e).strip() or ", ".join(str(a).strip() or repr(a) for a in e.args)
            or type(e).__name__)


# ---- PostgreSQL ----

class Database:
    """A thread-safe pool; callers block while all connections are busy."""

    def __init__(self, url):
        self.pool = psycopg2.pool.ThreadedConnectionPool(
            1, POOL_SIZE, url, connect_timeout=5, application_name=SERVICE
        )
        self.slots = threading.BoundedSemaphore(POOL_SIZE)

    def run(self, fn):
        """Runs fn(cursor) in a transaction and returns its result."""
        with self.slots:
            conn = self.pool.getconn()
            broken = False
            try:
                with conn:  # commit on success, rollback on exception
                    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                        return fn(cur)
            except (psycopg2.OperationalError, psycopg2.InterfaceError):
                broken = True
                raise
            finally:
                self.pool.putconn(conn, close=broken or bool(conn.closed))

    def close(self):
        self.pool.closeall()


def init_schema(cur):
    # Checking first means a role that may not CREATE in the database still
    # starts when the schema was provisioned for it (berth does so).
    cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'communication'")
    if cur.fetchone() is None:
        cur.execute("CREATE SCHEMA IF NOT EXISTS communication")
    cur.execute(SCHEMA_SQL)


# ---- RabbitMQ ----

class Broker:
    """One pika BlockingConnection shared by all request threads.

    pika's blocking connection is not thread-safe, so every use holds a lock;
    a background thread services heartbeats while the service is idle. After
    a failure the next use reconnects (once per call)."""

    def __init__(self, url):
        self.params = pika.URLParameters(url)
        self.params.connection_attempts = 1
        self.params.socket_timeout = 5
        self.params.blocked_connection_timeout = 10
        self.lock = threading.Lock()
        self.conn = None
        self.chan = None
        self.stopping = False

    def _connect(self):
        self.conn = pika.BlockingConnection(self.params)
        self.chan = self.conn.channel()
        self.chan.confirm_delivery()  # publish returns once the broker has the message
        self.chan.queue_declare(queue=QUEUE, durable=True)

    def _drop(self):
        conn, self.conn, self.chan = self.conn, None, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def connect(self):
        with self.lock:
            self._connect()
        threading.Thread(target=self._heartbeats, name="amqp-heartbeats", daemon=True).start()

    def _call(self, fn):
        with self.lock:
            for attempt in (1, 2):
                try:
                    if self.conn is None or self.conn.is_closed:
                        self._drop()
                        self._connect()
                    return fn(self.chan)
                except (pika.exceptions.AMQPError, OSError) as e:
                    self._drop()
                    if attempt == 2:
                        raise
                    log(f"RabbitMQ: {errtext(e)}; reconnecting", sys.stderr)

    def publish(self, event):
        body = json.dumps(event).encode()
        props = pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                     type=EVENT, app_id=SERVICE,
                                     timestamp=int(time.time()))
        self._call(lambda ch: ch.basic_publish(exchange="", routing_key=QUEUE, body=body,
                                               properties=props, mandatory=True))

    def queue_count(self):
        return self._call(
            lambda ch: ch.queue_declare(queue=QUEUE, passive=True).method.message_count)

    def _heartbeats(self):
        while not self.stopping:
            time.sleep(5)
            with self.lock:
                if self.conn is not None and self.conn.is_open:
                    try:
                        self.conn.process_data_events(time_limit=0)
                    except Exception as e:
                        log(f"RabbitMQ: {errtext(e)}; will reconnect on next use", sys.stderr)
                        self._drop()

    def close(self):
        self.stopping = True
        if self.lock.acquire(timeout=2):
            try:
                self._drop()
            finally:
                self.lock.release()


# ---- JSON ----

def message_json(row):
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "body": row["body"],
        "created_at": row["created_at"].isoformat(),
    }


class HTTPError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class Handler(BaseHTTPRequestHandler):
    server_version = "hockeyhub-communication-service/1.0"
    db = cache = broker = None  # set in main()

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    # -- plumbing --

    def log_request(self, code="-", size="-"):
        pass  # dispatch() logs one line per request, with its duration

    def log_message(self, fmt, *args):
        log(f'{self.client_address[0]} error: {fmt % args}')

    def send_body(self, status, data, headers=None):
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_json(self, status, body, headers=None):
        self.send_body(status, json.dumps(body).encode() + b"\n", headers)

    def read_json(self):
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise HTTPError(400, "bad Content-Length")
        if n > MAX_BODY:
            raise HTTPError(413, "body too large")
        raw = self.rfile.read(n) if n > 0 else b""
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise HTTPError(400, "the body is not valid JSON")
        if not isinstance(body, dict):
            raise HTTPError(400, "expected a JSON object")
        return body

    def dispatch(self):
        start = time.monotonic()
        self.status = None
        parts = urlsplit(self.path)
        path = parts.path
        try:
            self.route(self.command, path, parse_qs(parts.query))
        except HTTPError as e:
            self.send_json(e.status, {"error": e.message})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            log(f"database unavailable: {errtext(e)}", sys.stderr)
            self.send_json(503, {"error": "database unavailable"})
        except (pika.exceptions.AMQPError, OSError) as e:
            log(f"RabbitMQ unavailable: {errtext(e)}", sys.stderr)
            if self.status is None:
                self.send_json(503, {"error": "message broker unavailable"})
        except Exception:
            traceback.print_exc()
            sys.stderr.flush()
            if self.status is None:
                self.send_json(500, {"error": "internal error"})
        ms = (time.monotonic() - start) * 1000
        if path != "/health" or self.status != 200 or LOG_HEALTH:
            rid = self.headers.get("X-Request-Id", "-")
            log(f'{self.client_address[0]} "{self.command} {self.path}" {self.status} '
                f"{ms:.1f}ms rid={rid}")

    # -- routes --

    def route(self, method, path, query):
        if path == "/health":
            return self.health(method)
        if path == "/api/messages":
            if method == "GET":
                return self.list_messages(query)
            if method == "POST":
                return self.create_message()
            raise HTTPError(405, f"{method} is not allowed on /api/messages")
        if path == "/api/messages/events/count":
            if method != "GET":
                raise HTTPError(405, f"{method} is not allowed on {path}")
            return self.send_json(200, {"queue": QUEUE, "messages": self.broker.queue_count()})
        m = re.fullmatch(r"/api/messages/([^/]+)", path)
        if m:
            if method != "GET":
                raise HTTPError(405, f"{method} is not allowed on {path}")
            return self.get_message(m.group(1))
        raise HTTPError(404, f"no route for {method} {path}")

    def health(self, method):
        if method != "GET":
            raise HTTPError(405, "use GET /health")
        checks = {}
        try:
            self.db.run(lambda cur: cur.execute("SELECT 1"))
            checks["postgres"] = "ok"
        except psycopg2.Error as e:
            checks["postgres"] = errtext(e)
        try:
            self.cache.ping()
            checks["redis"] = "ok"
        except redis.RedisError as e:
            checks["redis"] = errtext(e)
        try:
            self.broker.queue_count()
            checks["rabbitmq"] = "ok"
        except (pika.exceptions.AMQPError, OSError) as e:
            checks["rabbitmq"] = errtext(e)
        ok = all(v == "ok" for v in checks.values())
        self.send_json(200 if ok else 503,
                       {"status": "ok" if ok else "unavailable", "checks": checks})

    def list_messages(self, query):
        user_id = None
        if "user_id" in query:
            raw = query["user_id"][-1]
            if not (raw.isascii() and raw.isdigit()) or int(raw) > 2**31 - 1:
                raise HTTPError(400, "user_id must be a user id")
            user_id = int(raw)
        limit = 100
        if "limit" in query:
            raw = query["limit"][-1]
            if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
                raise HTTPError(400, f"limit must be between 1 and {MAX_LIMIT}")
            limit = int(raw)

        # Invalidation by generation: POST increments the generation, so every
        # key cached before it is never read again (and expires by its TTL).
        # Reading the generation before the database makes a list computed
        # concurrently with a POST land under the old generation, never
        # under the new one.
        key, cache_state = None, "miss"
        try:
            gen = int(self.cache.get(f"{CACHE_PREFIX}:generation") or 0)
            key = f"{CACHE_PREFIX}:list:g{gen}:u{user_id if user_id is not None else '*'}:l{limit}"
            cached = self.cache.get(key)
            if cached is not None:
                return self.send_body(200, cached, {"X-Cache": "hit"})
        except redis.RedisError as e:
            log(f"Redis unavailable, serving from PostgreSQL: {errtext(e)}", sys.stderr)
            key, cache_state = None, "bypass"

        def select(cur):
            if user_id is None:
                cur.execute("SELECT id, user_id, body, created_at FROM communication.messages "
                            "ORDER BY id LIMIT %s", (limit,))
            else:
                cur.execute("SELECT id, user_id, body, created_at FROM communication.messages "
                            "WHERE user_id = %s ORDER BY id LIMIT %s", (user_id, limit))
            return cur.fetchall()

        data = json.dumps([message_json(r) for r in self.db.run(select)]).encode() + b"\n"
        if key is not None:
            try:
                self.cache.set(key, data, ex=CACHE_TTL)
            except redis.RedisError as e:
                log(f"Redis unavailable, not caching: {errtext(e)}", sys.stderr)
        self.send_body(200, data, {"X-Cache": cache_state})

    def get_message(self, raw_id):
        if not (raw_id.isascii() and raw_id.isdigit()) or int(raw_id) > 2**31 - 1:
            raise HTTPError(404, f"no message {raw_id}")
        mid = int(raw_id)
        row = self.db.run(lambda cur: (
            cur.execute("SELECT id, user_id, body, created_at FROM communication.messages "
                        "WHERE id = %s", (mid,)),
            cur.fetchone())[1])
        if row is None:
            raise HTTPError(404, f"no message {mid}")
        self.send_json(200, message_json(row))

    def create_message(self):
        body = self.read_json()
        user_id, text = body.get("user_id"), body.get("body")
        if isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 < user_id < 2**31:
            raise HTTPError(400, "user_id is required (a user id, a positive integer)")
        if not isinstance(text, str) or not text.strip():
            raise HTTPError(400, "body is required (a non-empty string)")

        def insert(cur):
            cur.execute("INSERT INTO communication.messages (user_id, body) VALUES (%s, %s) "
                        "RETURNING id, user_id, body, created_at", (user_id, text))
            msg = message_json(cur.fetchone())
            # Publish inside the transaction: if the broker does not confirm,
            # the insert is rolled back and the client gets 503, so a stored
            # message always has its event.
            self.broker.publish({
                "event": EVENT,
                "occurred_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "message": msg,
            })
            return msg

        msg = self.db.run(insert)
        try:
            gen = self.cache.incr(f"{CACHE_PREFIX}:generation")
            # The lists cached before are unreachable now; drop them rather
            # than let them wait for their TTL.
            stale = list(self.cache.scan_iter(f"{CACHE_PREFIX}:list:g{gen - 1}:*", count=1000))
            if stale:
                self.cache.delete(*stale)
        except redis.RedisError as e:
            log(f"Redis unavailable, cache not invalidated (expires in {CACHE_TTL}s): "
                f"{errtext(e)}", sys.stderr)
        self.send_json(201, msg, {"Location": f"/api/messages/{msg['id']}"})


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default, 5, drops connections under bursts


def main():
    for name, value, example in (("DATABASE_URL", DATABASE_URL, "postgres://user:pass@host:5432/db"),
                                 ("REDIS_URL", REDIS_URL, "redis://:pass@host:6379/0"),
                                 ("AMQP_URL", AMQP_URL, "amqp://user:pass@host:5672/vhost")):
        if not value:
            fatal(f"{name} is not set ({example})")

    # One attempt each, no retry loop: see the module docstring.
    try:
        db = Database(DATABASE_URL)
        db.run(init_schema)
    except psycopg2.Error as e:
        fatal(f"cannot connect to PostgreSQL at {redact(DATABASE_URL)}: {errtext(e)}")
    log(f"connected to PostgreSQL at {redact(DATABASE_URL)}; schema communication ready")

    try:
        cache = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5, socket_timeout=5,
                                     health_check_interval=30)
        cache.ping()
    except (redis.RedisError, ValueError) as e:
        fatal(f"cannot connect to Redis at {redact(REDIS_URL)}: {errtext(e)}")
    log(f"connected to Redis at {redact(REDIS_URL)}")

    try:
        broker = Broker(AMQP_URL)
        broker.connect()
    except (pika.exceptions.AMQPError, OSError, ValueError) as e:
        fatal(f"cannot connect to RabbitMQ at {redact(AMQP_URL)}: {errtext(e)}")
    log(f"connected to RabbitMQ at {redact(AMQP_URL)}; queue {QUEUE} ready")

    Handler.db, Handler.cache, Handler.broker = db, cache, broker
    server = Server(("", PORT), Handler)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(f"listening on :{PORT}")
    try:
        server.serve_forever()
    except SystemExit:
        pass
    finally:
        log("stopping")
        server.server_close()
        broker.close()
        db.close()


if __name__ == "__main__":
    main()
