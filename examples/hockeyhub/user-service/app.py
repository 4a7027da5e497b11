"""user-service: the club's members, stored in PostgreSQL (schema `users`).

    POST /api/users        {"name": ..., "email": ...} -> 201 the user
    GET  /api/users        -> 200 [users], oldest first
    GET  /api/users/{id}   -> 200 the user | 404
    GET  /health           -> 200 when PostgreSQL answers SELECT 1, else 503

Environment: DATABASE_URL (postgres://user:pass@host:5432/db), PORT (3001),
LOG_HEALTH (1; 0 hides successful /health requests from the log).

The first connection is tried once: if PostgreSQL is unreachable at start the
program exits 1 with a clear message instead of retrying (berth starts it
only once PostgreSQL accepts connections). Later failures are per request
(503) and the connection pool reconnects by itself.
"""

import json
import os
import re
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import psycopg2
import psycopg2.errors
import psycopg2.extras
import psycopg2.pool

SERVICE = "user-service"
PORT = int(os.environ.get("PORT", "3001"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
LOG_HEALTH = os.environ.get("LOG_HEALTH", "1") not in ("0", "false", "no")
POOL_SIZE = 10
MAX_BODY = 1 << 20
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS users.users (
    id         serial PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
)
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
    cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'users'")
    if cur.fetchone() is None:
        cur.execute("CREATE SCHEMA IF NOT EXISTS users")
    cur.execute(SCHEMA_SQL)


def user_json(row):
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "created_at": row["created_at"].isoformat(),
    }


class HTTPError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class Handler(BaseHTTPRequestHandler):
    server_version = "hockeyhub-user-service/1.0"
    db = None  # set in main()

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

    def send_json(self, status, body, headers=None):
        data = json.dumps(body).encode() + b"\n"
        self.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

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
        path = self.path.split("?", 1)[0]
        try:
            self.route(self.command, path)
        except HTTPError as e:
            self.send_json(e.status, {"error": e.message})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            log(f"database unavailable: {str(e).strip()}", sys.stderr)
            self.send_json(503, {"error": "database unavailable"})
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

    def route(self, method, path):
        if path == "/health":
            return self.health(method)
        if path == "/api/users":
            if method == "GET":
                return self.list_users()
            if method == "POST":
                return self.create_user()
            raise HTTPError(405, f"{method} is not allowed on /api/users")
        m = re.fullmatch(r"/api/users/([^/]+)", path)
        if m:
            if method != "GET":
                raise HTTPError(405, f"{method} is not allowed on {path}")
            return self.get_user(m.group(1))
        raise HTTPError(404, f"no route for {method} {path}")

    def health(self, method):
        if method != "GET":
            raise HTTPError(405, "use GET /health")
        try:
            self.db.run(lambda cur: cur.execute("SELECT 1"))
            self.send_json(200, {"status": "ok", "checks": {"postgres": "ok"}})
        except psycopg2.Error as e:
            self.send_json(503, {"status": "unavailable",
                                 "checks": {"postgres": str(e).strip() or "error"}})

    def list_users(self):
        rows = self.db.run(lambda cur: (
            cur.execute("SELECT id, name, email, created_at FROM users.users ORDER BY id"),
            cur.fetchall())[1])
        self.send_json(200, [user_json(r) for r in rows])

    def get_user(self, raw_id):
        if not (raw_id.isascii() and raw_id.isdigit()) or int(raw_id) > 2**31 - 1:
            raise HTTPError(404, f"no user {raw_id}")
        uid = int(raw_id)
        row = self.db.run(lambda cur: (
            cur.execute("SELECT id, name, email, created_at FROM users.users WHERE id = %s",
                        (uid,)),
            cur.fetchone())[1])
        if row is None:
            raise HTTPError(404, f"no user {uid}")
        self.send_json(200, user_json(row))

    def create_user(self):
        body = self.read_json()
        name, email = body.get("name"), body.get("email")
        if not isinstance(name, str) or not name.strip():
            raise HTTPError(400, "name is required (a non-empty string)")
        if not isinstance(email, str) or not EMAIL_RE.match(email.strip()):
            raise HTTPError(400, "email is required (an address like ann@example.org)")
        name, email = name.strip(), email.strip()

        def insert(cur):
            cur.execute(
                "INSERT INTO users.users (name, email) VALUES (%s, %s) "
                "RETURNING id, name, email, created_at", (name, email))
            return cur.fetchone()

        try:
            row = self.db.run(insert)
        except psycopg2.errors.UniqueViolation:
            raise HTTPError(409, f"a user with email {email} already exists")
        self.send_json(201, user_json(row), {"Location": f"/api/users/{row['id']}"})


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default, 5, drops connections under bursts


def main():
    if not DATABASE_URL:
        fatal("DATABASE_URL is not set (postgres://user:pass@host:5432/db)")
    # One attempt, no retry loop: see the module docstring.
    try:
        db = Database(DATABASE_URL)
        db.run(init_schema)
    except psycopg2.Error as e:
        fatal(f"cannot connect to PostgreSQL at {redact(DATABASE_URL)}: {str(e).strip()}")
    log(f"connected to PostgreSQL at {redact(DATABASE_URL)}; schema users ready")

    Handler.db = db
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
        db.close()


if __name__ == "__main__":
    main()
