# The web front: answers GET /health with 200 on port 8080.
import http.server, signal, sys


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/health"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"ok\n" if ok else b"not found\n")

    def log_message(self, *args):
        pass


# PID 1 gets no default SIGTERM action: stop at once on `down`.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Health).serve_forever()
