"""api-gateway: the one entry point of the hockeyhub platform.

    /api/users, /api/users/...        -> user-service
    /api/messages, /api/messages/...  -> communication-service
    GET /health -> 200 {"status": "ok"} when both upstreams answer their
                   /health with 200, else 503 with what each one said

Requests are proxied as they are (method, path and query, body, headers but
the hop-by-hop ones); the upstream's status, headers (X-Cache, Location, ...)
and body come back unchanged. Each request carries an X-Request-Id (the
client's or a new one) that the services log too. An upstream that cannot be
reached gives 502, one that does not answer in time 504.

Environment: USER_SERVICE_URL (http://user-service:3001),
COMMUNICATION_SERVICE_URL (http://communication-service:3002), PORT (3000),
UPSTREAM_TIMEOUT (seconds, 10), LOG_HEALTH (1; 0 hides successful /health
requests from the log).

At start each upstream's /health is asked once: if one does not answer 200
the program exits 1 with a clear message instead of retrying (berth starts
the gateway only once both services are healthy).
"""

import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SERVICE = "api-gateway"
PORT = int(os.environ.get("PORT", "3000"))
UPSTREAM_TIMEOUT = float(os.environ.get("UPSTREAM_TIMEOUT", "10"))
HEALTH_TIMEOUT = 2.0
LOG_HEALTH = os.environ.get("LOG_HEALTH", "1") not in ("0", "false", "no")
MAX_BODY = 1 << 20

# RFC 9110 7.6.1 hop-by-hop fields, plus the ones this proxy sets itself.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
              "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
NOT_FORWARDED_REQUEST = HOP_BY_HOP | {"host", "content-length"}
NOT_FORWARDED_RESPONSE = HOP_BY_HOP | {"content-length", "server", "date"}


def log(msg, stream=sys.stdout):
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    print(f"{ts}Z {SERVICE} {msg}", file=stream, flush=True)


def fatal(msg):
    log(f"fatal: {msg}", sys.stderr)
    sys.exit(1)


class Upstream:
    def __init__(self, name, env, default):
        self.name = name
        self.url = os.environ.get(env) or default
        u = urlsplit(self.url)
        if u.scheme != "http" or not u.hostname:
            fatal(f"{env}={self.url!r} is not an http://host:port URL")
        self.host, self.port = u.hostname, u.port or 80
        self.base = u.path.rstrip("/")

    def request(self, method, path, body=None, headers=None, timeout=UPSTREAM_TIMEOUT):
        """(status, [(header, value)], body); raises OSError/HTTPException."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, self.base + path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def health(self):
        """None when healthy, else what went wrong."""
        try:
            status, _, body = self.request("GET", "/health", timeout=HEALTH_TIMEOUT)
        except (OSError, http.client.HTTPException) as e:
            return f"unreachable: {str(e) or type(e).__name__}"
        if status != 200:
            return f"answered {status}: {body.decode(errors='replace').strip()[:200]}"
        return None


UPSTREAMS = {}  # filled in main()
ROUTES = [("/api/users", "user-service"), ("/api/messages", "communication-service")]


def route(path):
    for prefix, name in ROUTES:
        if path == prefix or path.startswith(prefix + "/"):
            return UPSTREAMS[name]
    return None


class Handler(BaseHTTPRequestHandler):
    server_version = "hockeyhub-api-gateway/1.0"

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_OPTIONS(self):
        self.dispatch()

    # -- plumbing --

    def log_request(self, code="-", size="-"):
        pass  # dispatch() logs one line per request, with its duration

    def log_message(self, fmt, *args):
        log(f'{self.client_address[0]} error: {fmt % args}')

    def send(self, status, data, headers=()):
        self.status = status
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_json(self, status, body):
        data = json.dumps(body).encode() + b"\n"
        self.send(status, data, [("Content-Type", "application/json"),
                                 ("X-Request-Id", self.rid)])

    def dispatch(self):
        start = time.monotonic()
        self.status = None
        self.rid = self.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
        path = urlsplit(self.path).path
        target = None
        try:
            if path == "/health":
                self.health()
            else:
                target = route(path)
                if target is None:
                    self.send_json(404, {"error": f"no route for {path}"})
                else:
                    self.proxy(target)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:
            traceback.print_exc()
            sys.stderr.flush()
            if self.status is None:
                self.send_json(500, {"error": "internal error"})
        ms = (time.monotonic() - start) * 1000
        if path != "/health" or self.status != 200 or LOG_HEALTH:
            to = f" -> {target.name}" if target else ""
            log(f'{self.client_address[0]} "{self.command} {self.path}"{to} {self.status} '
                f"{ms:.1f}ms rid={self.rid}")

    # -- routes --

    def health(self):
        if self.command not in ("GET", "HEAD"):
            return self.send_json(405, {"error": "use GET /health"})
        results = {}

        def check(u):
            results[u.name] = u.health()

        threads = [threading.Thread(target=check, args=(u,)) for u in UPSTREAMS.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if all(v is None for v in results.values()):
            return self.send_json(200, {"status": "ok"})
        self.send_json(503, {"status": "unavailable",
                             "upstreams": {k: v or "ok" for k, v in results.items()}})

    def proxy(self, upstream):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.send_json(411, {"error": "send a Content-Length, not a chunked body"})
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return self.send_json(400, {"error": "bad Content-Length"})
        if n > MAX_BODY:
            return self.send_json(413, {"error": "body too large"})
        body = self.rfile.read(n) if n > 0 else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in NOT_FORWARDED_REQUEST}
        headers["X-Request-Id"] = self.rid
        headers["X-Forwarded-For"] = self.client_address[0]
        if self.headers.get("Host"):
            headers["X-Forwarded-Host"] = self.headers["Host"]
        try:
            status, resp_headers, data = upstream.request(self.command, self.path, body, headers)
        except socket.timeout:
            return self.send_json(504, {"error": f"{upstream.name} did not answer in time"})
        except (OSError, http.client.HTTPException) as e:
            log(f"{upstream.name} unreachable: {str(e) or type(e).__name__}", sys.stderr)
            return self.send_json(502, {"error": f"{upstream.name} is unreachable"})
        fwd = [(k, v) for k, v in resp_headers if k.lower() not in NOT_FORWARDED_RESPONSE]
        if not any(k.lower() == "x-request-id" for k, _ in fwd):
            fwd.append(("X-Request-Id", self.rid))
        self.send(status, data, fwd)


class Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default, 5, drops connections under bursts


def main():
    for name, env, default in (("user-service", "USER_SERVICE_URL", "http://user-service:3001"),
                               ("communication-service", "COMMUNICATION_SERVICE_URL",
                                "http://communication-service:3002")):
        UPSTREAMS[name] = Upstream(name, env, default)

    # One attempt each, no retry loop: see the module docstring.
    for u in UPSTREAMS.values():
        problem = u.health()
        if problem:
            fatal(f"{u.name} at {u.url} is not healthy: {problem}")
        log(f"{u.name} at {u.url} is healthy")

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


if __name__ == "__main__":
    main()
